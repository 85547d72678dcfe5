// pipeline_bench — times the whole product on one picture, stage by stage:
//   decode (JPEG bytes -> RGB) -> detect -> classify (every face) -> draw -> encode (JPEG)
// and the mask classifier per face. The picture is the demo picture brought to WxH (default
// 640x480, two faces) and encoded as a JPEG in memory once, before timing.
//
//   pipeline_bench [--weights DIR] [--picture FILE] [--size WxH] [--threads N] [--runs R] [--warmup K]
//
// Prints a table of per-stage medians with their share of the total, then
//   RESULT engine=facemask_pipeline size=WxH threads=N median_ms=X
//   RESULT engine=facemask_pipeline_<stage> size=WxH threads=N median_ms=X
//   RESULT engine=facemask_classifier_per_face size=112x112 threads=1 median_ms=X
// Exit codes: 0 done; 1 weights or picture unusable; 2 bad command line.
#define FACEMASK_STB_IMPLEMENTATION
#include <facemask/facemask.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#ifndef FACEMASK_DEFAULT_WEIGHTS_DIR
#define FACEMASK_DEFAULT_WEIGHTS_DIR "weights"
#endif
#ifndef FACEMASK_DEFAULT_PICTURE
#define FACEMASK_DEFAULT_PICTURE ""
#endif

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v[v.size() / 2];
}

void append_bytes(void* context, void* data, int size) {
    auto* out = static_cast<std::vector<unsigned char>*>(context);
    const auto* p = static_cast<const unsigned char*>(data);
    out->insert(out->end(), p, p + size);
}

// The picture at exactly w x h, as 8-bit RGB, using the library's own resampler.
bool resize_rgb(const facemask::Image& src, int w, int h, facemask::Image* dst) {
    std::vector<float> planes(size_t(w + 2) * size_t(h + 2) * 3 + 64, 0.0f);
    facemask::kernels::View v;
    v.w = w, v.h = h, v.c = 3, v.px = 3, v.row = ptrdiff_t(w + 2) * 3;
    v.data = planes.data() + v.row + v.px;
    facemask::Buffer scratch;
    if (!scratch.reserve(facemask::resample_scratch_bytes(src.width(), src.height(), w, h) + 64)) return false;
    facemask::detail::InputNorm identity = {{0, 1, 2}, {0, 0, 0}, {1, 1, 1}};
    facemask::preprocess(src.view(), identity, v, scratch.data());
    if (!dst->create(w, h)) return false;
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int k = 0; k < 3; ++k) {
                const float f = v.at(y, x)[k];
                dst->row(y)[3 * x + k] = uint8_t(f < 0 ? 0 : f > 255 ? 255 : int(f + 0.5f));
            }
    return true;
}

int fail(const char* what, const facemask::Status& st) {
    std::fprintf(stderr, "pipeline_bench: %s: %s\n", what, st.message());
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    const char* weights = FACEMASK_DEFAULT_WEIGHTS_DIR;
    const char* picture = FACEMASK_DEFAULT_PICTURE;
    int w = 640, h = 480, threads = 1, runs = 30, warmup = 5;
    for (int i = 1; i < argc; ++i) {
        const char* a = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
        if (!std::strcmp(a, "--help")) {
            std::puts("usage: pipeline_bench [--weights DIR] [--picture FILE] [--size WxH] [--threads N] [--runs R] [--warmup K]");
            return 0;
        }
        if (!v) {
            std::fprintf(stderr, "pipeline_bench: %s needs a value\n", a);
            return 2;
        }
        ++i;
        bool ok = true;
        if (!std::strcmp(a, "--weights")) weights = v;
        else if (!std::strcmp(a, "--picture")) picture = v;
        else if (!std::strcmp(a, "--size")) ok = std::sscanf(v, "%dx%d", &w, &h) == 2 && w > 0 && h > 0 && w <= 8192 && h <= 8192;
        else if (!std::strcmp(a, "--threads")) ok = (threads = std::atoi(v)) >= 0;
        else if (!std::strcmp(a, "--runs")) ok = (runs = std::atoi(v)) > 0;
        else if (!std::strcmp(a, "--warmup")) ok = (warmup = std::atoi(v)) >= 0;
        else ok = false;
        if (!ok) {
            std::fprintf(stderr, "pipeline_bench: bad option %s %s (see --help)\n", a, v);
            return 2;
        }
    }

    facemask::Pipeline fm;
    facemask::Status st = fm.load(weights);
    if (!st) return fail("weights", st);
    facemask::Image original, sized;
    st = original.load(picture);
    if (!st) return fail("picture", st);
    if (!resize_rgb(original, w, h, &sized)) return fail("resize", facemask::Status::fail(facemask::Error::out_of_memory, "no memory"));
    std::vector<unsigned char> jpeg;
    if (!stbi_write_jpg_to_func(append_bytes, &jpeg, w, h, 3, sized.data(), 92))
        return fail("encode", facemask::Status::fail(facemask::Error::io, "JPEG encoding failed"));

    facemask::PipelineOptions opt;
    opt.detect.threads = threads;
    facemask::Workspace ws;
    facemask::Image img;
    std::vector<unsigned char> out;
    const char* names[] = {"decode", "detect", "classify", "draw", "encode"};
    std::vector<double> stage[5], total, per_face;
    int faces_seen = 0;
    for (int r = 0; r < warmup + runs; ++r) {
        double t[5];
        auto t0 = Clock::now();
        st = img.load_memory(jpeg.data(), jpeg.size());
        t[0] = ms_since(t0);
        if (!st) return fail("decode", st);
        facemask::Faces faces;
        t0 = Clock::now();
        st = fm.detector().detect(ws, img.view(), opt.detect, &faces);
        t[1] = ms_since(t0);
        if (!st) return fail("detect", st);
        t0 = Clock::now();
        st = fm.classifier().classify(ws, img.view(), faces);
        t[2] = ms_since(t0);
        if (!st) return fail("classify", st);
        t0 = Clock::now();
        facemask::annotate(img, faces);
        t[3] = ms_since(t0);
        t0 = Clock::now();
        out.clear();
        if (!stbi_write_jpg_to_func(append_bytes, &out, img.width(), img.height(), 3, img.data(), 92))
            return fail("encode", facemask::Status::fail(facemask::Error::io, "JPEG encoding failed"));
        t[4] = ms_since(t0);
        faces_seen = faces.size();
        if (r < warmup) continue;
        double sum = 0;
        for (int k = 0; k < 5; ++k) stage[k].push_back(t[k]), sum += t[k];
        total.push_back(sum);
        if (faces.size() > 0) per_face.push_back(t[2] / faces.size());
    }

    const double med_total = median(total);
    std::printf("pipeline on a %dx%d JPEG with %d face%s, %d runs after %d warm-up, threads=%d, kernels=%s\n", w, h,
                faces_seen, faces_seen == 1 ? "" : "s", runs, warmup, threads, facemask::simd_name());
    std::printf("%-10s %10s %8s\n", "stage", "median ms", "share");
    double sum_medians = 0;
    for (int k = 0; k < 5; ++k) sum_medians += median(stage[k]);
    for (int k = 0; k < 5; ++k)
        std::printf("%-10s %10.3f %7.1f%%\n", names[k], median(stage[k]), 100.0 * median(stage[k]) / sum_medians);
    std::printf("%-10s %10.3f\n", "total", med_total);
    std::printf("RESULT engine=facemask_pipeline size=%dx%d threads=%d median_ms=%.3f\n", w, h, threads, med_total);
    for (int k = 0; k < 5; ++k)
        std::printf("RESULT engine=facemask_pipeline_%s size=%dx%d threads=%d median_ms=%.3f\n", names[k], w, h, threads,
                    median(stage[k]));
    if (!per_face.empty())
        std::printf("RESULT engine=facemask_classifier_per_face size=%dx%d threads=1 median_ms=%.3f\n",
                    fm.classifier().input_width(), fm.classifier().input_height(), median(per_face));
    return 0;
}
