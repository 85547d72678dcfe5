// tests/fuzz/fuzz_pipeline.cpp — the whole pipeline (detector + classifier from the blobs in
// FACEMASK_FUZZ_WEIGHTS) on small random pictures with random options. Byte 0-1: width and
// height (1..32), byte 2: scale mode, byte 3: score threshold and face cap, byte 4: pixel format; the rest
// are the pixels (repeated to fill the picture).
#include "fuzz_common.hpp"

#include <string>

namespace {

const facemask::Pipeline* pipeline() {
    static facemask::Pipeline p;
    static bool loaded = [] {
        const char* dir = std::getenv("FACEMASK_FUZZ_WEIGHTS");
        const facemask::Status st = p.load(dir ? dir : "");
        if (!st) std::fprintf(stderr, "fuzz_pipeline: %s (set FACEMASK_FUZZ_WEIGHTS)\n", st.message()), std::abort();
        return true;
    }();
    (void)loaded;
    return &p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 6) return 0;
    const facemask::Pipeline* fm = pipeline();
    static facemask::Workspace ws;
    // Network inputs stay under ~100x100 pixels: the sanitized build runs the detector at a few
    // frames a second at 200x200, beyond libFuzzer's 1 s limit with the classifier.
    const int w = 1 + data[0] % 32, h = 1 + data[1] % 32;
    facemask::PipelineOptions opt;
    switch (data[2] % 5) {
        case 0: opt.detect.scale = facemask::Scale::automatic(); break;
        case 1: opt.detect.scale = facemask::Scale::native(); break;
        case 2: opt.detect.scale = facemask::Scale::longest(16 + data[2] % 80); break;
        case 3: opt.detect.scale = facemask::Scale::times(0.25f + float(data[2] % 12) / 4); break;
        default: opt.detect.scale = facemask::Scale::fixed(8 + data[2] % 88, 8 + data[3] % 88); break;
    }
    // Thresholds from 0.3 up and at most 64 faces: a threshold near 0 keeps 750 faces, each then
    // classified, which takes seconds in a sanitized build (slow, not wrong).
    opt.detect.score_threshold = 0.3f + float(data[3]) / 256.0f * 0.69f;
    opt.detect.max_faces = 1 + data[3] % 64;
    const facemask::PixelFormat formats[] = {facemask::PixelFormat::rgb, facemask::PixelFormat::bgr,
                                             facemask::PixelFormat::rgba, facemask::PixelFormat::bgra,
                                             facemask::PixelFormat::gray};
    const facemask::PixelFormat fmt = formats[data[4] % 5];
    const int ch = facemask::channels_of(fmt);
    std::vector<uint8_t> px(size_t(w) * h * size_t(ch));
    for (size_t i = 0; i < px.size(); ++i) px[i] = data[5 + i % (size - 5)];
    facemask::Faces faces;
    const facemask::Status st = fm->run(ws, facemask::ImageView(px.data(), w, h, fmt), opt, &faces);
    if (!st && !*st.message()) std::abort();
    if (st)
        for (const facemask::Face& f : faces)
            if (!(f.score > opt.detect.score_threshold && f.score <= 1.0f)) std::abort();
    return 0;
}
