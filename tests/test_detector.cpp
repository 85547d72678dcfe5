// tests/test_detector.cpp — the Detector API as a user meets it: option checks, scale parsing
// and input sizes, malformed pictures, pixel formats, workspaces (reuse, no allocation after
// warm-up, caller-provided memory), and the result caps and threshold.
#include "test_support.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

using facemask::DetectOptions;
using facemask::Detector;
using facemask::Error;
using facemask::Face;
using facemask::Faces;
using facemask::ImageView;
using facemask::PixelFormat;
using facemask::Scale;
using facemask::Status;
using facemask::Workspace;

TEST_SUITE_BEGIN("detector");

namespace {

// The network input size a detector would use, or the failure.
Status input_size(int pw, int ph, const Scale& s, int* w, int* h, long max_pixels = 4096L * 4096L) {
    Detector det;  // input_size needs no weights
    DetectOptions opt;
    opt.scale = s;
    opt.max_input_pixels = max_pixels;
    return det.input_size(pw, ph, opt, w, h);
}

}  // namespace

TEST_CASE("Scale::parse accepts the five forms") {
    Scale s = Scale::native();
    REQUIRE(s.parse("auto"));
    CHECK(s.mode == Scale::Mode::automatic);
    CHECK(DetectOptions().scale.mode == Scale::Mode::automatic);  // the default
    REQUIRE(s.parse("native"));
    CHECK(s.mode == Scale::Mode::native);
    REQUIRE(s.parse("long=640"));
    CHECK(s.mode == Scale::Mode::long_side);
    CHECK(s.long_side == 640);
    REQUIRE(s.parse("factor=0.5"));
    CHECK(s.mode == Scale::Mode::factor);
    CHECK(s.factor == 0.5f);
    REQUIRE(s.parse("640x480"));
    CHECK(s.mode == Scale::Mode::fixed);
    CHECK(s.width == 640);
    CHECK(s.height == 480);
    REQUIRE(s.parse("32X24"));
    CHECK(s.width == 32);
    CHECK(s.height == 24);
}

TEST_CASE("Scale::parse rejects malformed text and keeps the previous value") {
    for (const char* bad : {"", "long=", "long=0", "long=-3", "long=abc", "long=640px", "12", "0x5", "5x0", "factor=-1",
                            "factor=0", "factor=", "factor=1e9", "factor=1e-85" /* 0 as a float: fuzz_scale */, "640x", "x480", "640x480x3", "640*480", "Native",
                            "native ", "wide"}) {
        CAPTURE(std::string(bad));
        Scale s = Scale::fixed(11, 22);
        CHECK_FALSE(s.parse(bad));
        CHECK(s.mode == Scale::Mode::fixed);
        CHECK(s.width == 11);
        CHECK(s.height == 22);
    }
    Scale s;
    CHECK_FALSE(s.parse(nullptr));
}

TEST_CASE("input_size for each scale mode, rounding with floor(x + 0.5)") {
    int w = 0, h = 0;
    FM_CHECK_OK(input_size(3088, 2320, Scale::longest(640), &w, &h));
    CHECK(w == 640);
    CHECK(h == 481);  // 2320 * 640 / 3088 = 480.83
    FM_CHECK_OK(input_size(2320, 3088, Scale::longest(640), &w, &h));
    CHECK(w == 481);
    CHECK(h == 640);
    FM_CHECK_OK(input_size(500, 500, Scale::longest(640), &w, &h));
    CHECK(w == 640);
    CHECK(h == 640);
    FM_CHECK_OK(input_size(400, 225, Scale::longest(320), &w, &h));
    CHECK(w == 320);
    CHECK(h == 180);
    FM_CHECK_OK(input_size(601, 397, Scale::times(0.5f), &w, &h));
    CHECK(w == 301);  // 300.5 rounds up
    CHECK(h == 199);  // 198.5 rounds up
    FM_CHECK_OK(input_size(1000, 3, Scale::times(0.1f), &w, &h));
    CHECK(w == 100);
    CHECK(h == 1);  // 0.3 rounds to 0, and a side is at least 1
    FM_CHECK_OK(input_size(3088, 2320, Scale::native(), &w, &h));
    CHECK(w == 3088);
    CHECK(h == 2320);
    FM_CHECK_OK(input_size(3088, 2320, Scale::fixed(320, 240), &w, &h));
    CHECK(w == 320);
    CHECK(h == 240);
}

TEST_CASE("input sizes of Scale::automatic: own size plus a 3x pass (long side <= 1280) below the limit") {
    Detector det;  // input_sizes needs no weights
    DetectOptions opt;
    int passes = 0, w[2] = {}, h[2] = {};
    // A big picture: one pass, long side brought down to 640 (as Scale::longest(640)).
    FM_CHECK_OK(det.input_sizes(3088, 2320, opt, &passes, w, h));
    CHECK(passes == 1);
    CHECK(w[0] == 640);
    CHECK(h[0] == 481);
    // Long side exactly 640: its own size, one pass.
    FM_CHECK_OK(det.input_sizes(640, 480, opt, &passes, w, h));
    CHECK(passes == 1);
    CHECK(w[0] == 640);
    CHECK(h[0] == 480);
    // Smaller: its own size, then three times that.
    FM_CHECK_OK(det.input_sizes(400, 267, opt, &passes, w, h));
    CHECK(passes == 2);
    CHECK(w[0] == 400);
    CHECK(h[0] == 267);
    CHECK(w[1] == 1200);
    CHECK(h[1] == 801);
    // 3x would pass 1280: capped there (x2.56).
    FM_CHECK_OK(det.input_sizes(500, 300, opt, &passes, w, h));
    CHECK(passes == 2);
    CHECK(w[1] == 1280);
    CHECK(h[1] == 768);
    // The cap never takes pass B under twice pass A.
    FM_CHECK_OK(det.input_sizes(639, 1, opt, &passes, w, h));
    CHECK(passes == 2);
    CHECK(w[1] == 1280);
    CHECK(h[1] == 2);
    opt.scale.enlarge = 1.5f;
    FM_CHECK_OK(det.input_sizes(400, 267, opt, &passes, w, h));
    CHECK(w[1] == 800);
    CHECK(h[1] == 534);
    opt.scale = Scale::automatic();
    // input_size() gives the first pass.
    int w0 = 0, h0 = 0;
    FM_CHECK_OK(det.input_size(400, 267, opt, &w0, &h0));
    CHECK(w0 == 400);
    CHECK(h0 == 267);
    // Other modes have one pass.
    opt.scale = Scale::native();
    FM_CHECK_OK(det.input_sizes(400, 267, opt, &passes, w, h));
    CHECK(passes == 1);
}

TEST_CASE("a too large network input is refused with too_large") {
    int w = -1, h = -1;
    Status st = input_size(100, 100, Scale::fixed(5000, 5000), &w, &h);
    CHECK(st.code() == Error::too_large);
    CHECK(fmtest::contains(st.message(), "5000x5000"));
    CHECK(w == -1);  // untouched on failure
    CHECK(input_size(5000, 4000, Scale::native(), &w, &h).code() == Error::too_large);
    CHECK(input_size(40, 40, Scale::native(), &w, &h, 1000).code() == Error::too_large);
    CHECK(input_size(100, 100, Scale::times(64.0f), &w, &h).code() == Error::too_large);
    // Shrinking 3088 pixels to 4 needs more filter taps than the resampler has.
    st = input_size(3088, 2320, Scale::fixed(4, 4), &w, &h);
    CHECK(st.code() == Error::too_large);
    CHECK(fmtest::contains(st.message(), "resampler"));
}

#if FACEMASK_TEST_HAVE_BLOBS && FACEMASK_HAS_IO

namespace {

const char* const kCrowd = "data/eval-dev/andrewmvd-face-mask-detection/images/maksssksksss110.png";  // 400x267
const char* const kGroup = "data/eval-dev/andrewmvd-face-mask-detection/images/maksssksksss52.png";   // 400x225
const char* const kPortrait = "images/toon_masked.png";                                               // 500x200
const char* const kCloseUp = "data/eval-dev/tfm-mask-detect-webcam/images/45-photo.jpg";           // 240x240

std::vector<Face> run(const Detector& det, const ImageView& img, const DetectOptions& opt, Workspace& ws) {
    Faces faces;
    const Status st = det.detect(ws, img, opt, &faces);
    CHECK_MESSAGE(st.ok(), std::string(st.message()));
    return fmtest::copy_faces(faces);
}

std::vector<Face> run(const Detector& det, const ImageView& img, const DetectOptions& opt) {
    Workspace ws;
    return run(det, img, opt, ws);
}

DetectOptions with_scale(const Scale& s) {
    DetectOptions opt;
    opt.scale = s;
    return opt;
}

// A copy of an RGB picture in another pixel format, rows `pad` bytes longer than needed.
std::vector<uint8_t> convert(const facemask::Image& img, PixelFormat f, int pad) {
    const int n = facemask::channels_of(f), w = img.width(), h = img.height();
    const size_t stride = size_t(w) * n + size_t(pad);
    std::vector<uint8_t> out(stride * size_t(h), 0xEE);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            const uint8_t* p = img.row(y) + size_t(x) * 3;
            uint8_t* q = &out[size_t(y) * stride + size_t(x) * n];
            switch (f) {
                case PixelFormat::rgb: q[0] = p[0], q[1] = p[1], q[2] = p[2]; break;
                case PixelFormat::bgr: q[0] = p[2], q[1] = p[1], q[2] = p[0]; break;
                case PixelFormat::rgba: q[0] = p[0], q[1] = p[1], q[2] = p[2], q[3] = uint8_t(x * 7 + y); break;
                case PixelFormat::bgra: q[0] = p[2], q[1] = p[1], q[2] = p[0], q[3] = uint8_t(x + y * 3); break;
                case PixelFormat::gray: q[0] = uint8_t((p[0] * 3 + p[1] * 6 + p[2]) / 10); break;
                case PixelFormat::rgb565: {
                    const unsigned v = unsigned(p[0] >> 3) << 11 | unsigned(p[1] >> 2) << 5 | unsigned(p[2] >> 3);
                    q[0] = uint8_t(v & 0xFF), q[1] = uint8_t(v >> 8);  // little-endian
                    break;
                }
            }
        }
    return out;
}

}  // namespace

TEST_CASE("options out of range are refused with invalid_argument") {
    const Detector* det = fmtest::detector(fmtest::kDetectorBlob);
    FM_REQUIRE(det != nullptr);
    const facemask::Image* img = fmtest::picture(kGroup);
    FM_REQUIRE(img != nullptr);
    struct Bad { const char* what; DetectOptions opt; };
    std::vector<Bad> cases;
    auto add = [&](const char* what, auto change) {
        DetectOptions o;
        change(o);
        cases.push_back({what, o});
    };
    add("threshold -0.01", [](DetectOptions& o) { o.score_threshold = -0.01f; });
    add("threshold 1", [](DetectOptions& o) { o.score_threshold = 1.0f; });
    add("threshold NaN", [](DetectOptions& o) { o.score_threshold = std::nanf(""); });
    add("nms -0.1", [](DetectOptions& o) { o.nms_iou = -0.1f; });
    add("nms 1.5", [](DetectOptions& o) { o.nms_iou = 1.5f; });
    add("nms NaN", [](DetectOptions& o) { o.nms_iou = std::nanf(""); });
    add("top_k 0", [](DetectOptions& o) { o.top_k = 0; });
    add("top_k -5", [](DetectOptions& o) { o.top_k = -5; });
    add("max_faces 0", [](DetectOptions& o) { o.max_faces = 0; });
    add("threads -1", [](DetectOptions& o) { o.threads = -1; });
    add("max_input_pixels 0", [](DetectOptions& o) { o.max_input_pixels = 0; });
    add("auto enlarge NaN", [](DetectOptions& o) { o.scale.enlarge = std::nanf(""); });
    add("auto enlarge 0.5", [](DetectOptions& o) { o.scale.enlarge = 0.5f; });
    add("auto enlarge 100", [](DetectOptions& o) { o.scale.enlarge = 100.0f; });
    add("auto small_face 0", [](DetectOptions& o) { o.scale.small_face = 0.0f; });
    add("auto long_side 0", [](DetectOptions& o) { o.scale.long_side = 0; });
    add("auto long_side 1e9", [](DetectOptions& o) { o.scale.long_side = 1000000000; });
    Workspace ws;
    for (const Bad& b : cases) {
        CAPTURE(std::string(b.what));
        Faces faces;
        faces.count = 3;
        const Status st = det->detect(ws, img->view(), b.opt, &faces);
        CHECK(st.code() == Error::invalid_argument);
        CHECK(std::strlen(st.message()) > 0);
        CHECK(faces.count == 0);
    }
    // The edges of the valid ranges are accepted.
    DetectOptions edge;
    edge.score_threshold = 0.0f;
    edge.nms_iou = 1.0f;
    edge.threads = 0;  // all cores
    edge.top_k = 1;
    edge.max_faces = 1;
    Faces faces;
    FM_CHECK_OK(det->detect(ws, img->view(), edge, &faces));
    CHECK(faces.size() == 1);
    CHECK(det->detect(ws, img->view(), DetectOptions(), nullptr).code() == Error::invalid_argument);
}

TEST_CASE("malformed pictures are refused with bad_image / too_large") {
    const Detector* det = fmtest::detector(fmtest::kDetectorBlob);
    FM_REQUIRE(det != nullptr);
    static const uint8_t px[64 * 64 * 4] = {};
    Workspace ws;
    Faces faces;
    const DetectOptions opt;
    struct Bad { const char* what; ImageView v; Error code; };
    const Bad cases[] = {
        {"null data", ImageView(nullptr, 64, 64), Error::bad_image},
        {"zero width", ImageView(px, 0, 64), Error::bad_image},
        {"zero height", ImageView(px, 64, 0), Error::bad_image},
        {"negative width", ImageView(px, -4, 64), Error::bad_image},
        {"stride shorter than a row", ImageView(px, 64, 64, PixelFormat::rgba, 64 * 3), Error::bad_image},
        {"negative stride", ImageView(px, 8, 8, PixelFormat::rgb, -24), Error::bad_image},
        {"side beyond the limit", ImageView(px, facemask::kMaxPictureSide + 1, 1), Error::too_large},
    };
    for (const Bad& b : cases) {
        CAPTURE(std::string(b.what));
        const Status st = det->detect(ws, b.v, opt, &faces);
        CHECK_MESSAGE(st.code() == b.code, std::string(st.message()));
        CHECK(std::strlen(st.message()) > 0);
    }
    // A tiny but valid picture works: one pixel (its own size and 2x2 with the default scale).
    FM_CHECK_OK(det->detect(ws, ImageView(px, 1, 1), opt, &faces));
    FM_CHECK_OK(det->detect(ws, ImageView(px, 1, 1), with_scale(Scale::native()), &faces));
    CHECK(faces.empty());
    // forward() checks its own arguments.
    facemask::HeadOutputs heads;
    const float in[3] = {0, 0, 0};
    CHECK(det->forward(ws, nullptr, 1, 1, 1, &heads).code() == Error::invalid_argument);
    CHECK(det->forward(ws, in, 1, 1, 1, nullptr).code() == Error::invalid_argument);
    CHECK(det->forward(ws, in, 0, 1, 1, &heads).code() == Error::too_large);
}

TEST_CASE("a network input over max_input_pixels is refused by detect") {
    const Detector* det = fmtest::detector(fmtest::kDetectorBlob);
    FM_REQUIRE(det != nullptr);
    const facemask::Image* img = fmtest::picture(kGroup);
    FM_REQUIRE(img != nullptr);
    DetectOptions opt = with_scale(Scale::native());
    opt.max_input_pixels = 400L * 225L - 1;
    Workspace ws;
    Faces faces;
    CHECK(det->detect(ws, img->view(), opt, &faces).code() == Error::too_large);
    opt.max_input_pixels = 400L * 225L;
    FM_CHECK_OK(det->detect(ws, img->view(), opt, &faces));
    CHECK(det->detect(ws, img->view(), with_scale(Scale::fixed(5000, 5000)), &faces).code() == Error::too_large);
}

TEST_CASE("every pixel format finds the same faces as RGB") {
    const Detector* det = fmtest::detector(fmtest::kDetectorBlob);
    FM_REQUIRE(det != nullptr);
    const facemask::Image* img = fmtest::picture(kGroup);
    FM_REQUIRE(img != nullptr);
    const int w = img->width(), h = img->height();
    // Native size (no resampling) and a resampled size: both read pixels differently.
    for (const Scale& scale : {Scale::native(), Scale::longest(320)}) {
        CAPTURE(int(scale.mode));
        const DetectOptions opt = with_scale(scale);
        const std::vector<Face> want = run(*det, img->view(), opt);
        CHECK(want.size() >= 5);  // a picture with faces, or the comparison means little
        for (PixelFormat f : {PixelFormat::rgb, PixelFormat::bgr, PixelFormat::rgba, PixelFormat::bgra}) {
            for (int pad : {0, 13}) {
                CAPTURE(int(f));
                CAPTURE(pad);
                const std::vector<uint8_t> px = convert(*img, f, pad);
                const ptrdiff_t stride = pad ? ptrdiff_t(w) * facemask::channels_of(f) + pad : 0;
                CHECK(fmtest::same_faces(run(*det, ImageView(px.data(), w, h, f, stride), opt), want));
            }
        }
        // Grey: compared with the RGB picture whose three channels are that grey.
        const std::vector<uint8_t> grey = convert(*img, PixelFormat::gray, 0);
        std::vector<uint8_t> grey_rgb(size_t(w) * h * 3);
        for (size_t i = 0; i < grey.size(); ++i) grey_rgb[3 * i] = grey_rgb[3 * i + 1] = grey_rgb[3 * i + 2] = grey[i];
        const std::vector<Face> want_grey = run(*det, ImageView(grey_rgb.data(), w, h), opt);
        CHECK(want_grey.size() >= 3);
        CHECK(fmtest::same_faces(run(*det, ImageView(grey.data(), w, h, PixelFormat::gray), opt), want_grey));
        // RGB565: compared with the RGB picture of its components widened by bit replication
        // (5 bits abcde -> abcdeabc), with rows padded too.
        for (int pad : {0, 6}) {
            CAPTURE(pad);
            const std::vector<uint8_t> packed = convert(*img, PixelFormat::rgb565, pad);
            const ptrdiff_t stride = ptrdiff_t(w) * 2 + pad;
            std::vector<uint8_t> wide(size_t(w) * h * 3);
            for (int y = 0; y < h; ++y)
                for (int x = 0; x < w; ++x) {
                    const uint8_t* p = &packed[size_t(y) * stride + size_t(x) * 2];
                    const unsigned v = unsigned(p[0]) | unsigned(p[1]) << 8, r = v >> 11, g = (v >> 5) & 63, b = v & 31;
                    uint8_t* q = &wide[(size_t(y) * w + x) * 3];
                    q[0] = uint8_t(r << 3 | r >> 2), q[1] = uint8_t(g << 2 | g >> 4), q[2] = uint8_t(b << 3 | b >> 2);
                }
            const std::vector<Face> want_565 = run(*det, ImageView(wide.data(), w, h), opt);
            CHECK(want_565.size() >= 5);
            CHECK(fmtest::same_faces(run(*det, ImageView(packed.data(), w, h, PixelFormat::rgb565, stride), opt), want_565));
            facemask::Image copy;  // Image::assign widens the same way
            REQUIRE(copy.assign(ImageView(packed.data(), w, h, PixelFormat::rgb565, stride)).ok());
            CHECK(std::memcmp(copy.data(), wide.data(), wide.size()) == 0);
        }
    }
}

TEST_CASE("one workspace reused across sizes and models gives the results of fresh ones") {
    const Detector* a = fmtest::detector(fmtest::kDetectorBlob);
    const Detector* b = fmtest::detector(fmtest::kDetector1mbBlob);
    FM_REQUIRE(a != nullptr);
    FM_REQUIRE(b != nullptr);
    const facemask::Image* crowd = fmtest::picture(kCrowd);
    const facemask::Image* portrait = fmtest::picture(kPortrait);
    FM_REQUIRE(crowd != nullptr);
    FM_REQUIRE(portrait != nullptr);

    struct Call { const Detector* det; const facemask::Image* img; Scale scale; std::vector<Face> fresh; };
    std::vector<Call> calls = {
        {a, crowd, Scale::native(), {}},        {a, crowd, Scale::longest(640), {}},
        {b, crowd, Scale::native(), {}},        {a, portrait, Scale::native(), {}},
        {b, portrait, Scale::fixed(333, 157), {}}, {a, crowd, Scale::times(0.5f), {}},
    };
    for (Call& c : calls) {
        c.fresh = run(*c.det, c.img->view(), with_scale(c.scale));
        CHECK_FALSE(c.fresh.empty());
    }
    Workspace ws;
    const int order[] = {0, 1, 2, 3, 4, 5, 0, 2, 0, 5, 4, 3, 1, 1, 2};
    for (int i : order) {
        CAPTURE(i);
        const Call& c = calls[size_t(i)];
        CHECK(fmtest::same_faces(run(*c.det, c.img->view(), with_scale(c.scale), ws), c.fresh));
    }
    // forward() in between (another plan of the same size, no scratch) does not confuse detect.
    std::vector<float> zeros(size_t(crowd->width()) * crowd->height() * 3, 0.0f);
    facemask::HeadOutputs heads;
    FM_CHECK_OK(a->forward(ws, zeros.data(), crowd->width(), crowd->height(), 1, &heads));
    CHECK(fmtest::same_faces(run(*a, crowd->view(), with_scale(Scale::native()), ws), calls[0].fresh));
    // and after release() everything is planned again
    ws.release();
    CHECK(ws.bytes() == 0);
    CHECK(fmtest::same_faces(run(*b, crowd->view(), with_scale(Scale::native()), ws), calls[2].fresh));
}

TEST_CASE("a model reloaded into the same Detector invalidates workspace plans") {
    // Same object, other weights: a workspace planned for the first load must not reuse its
    // plan (or anchors) for the second.
    const facemask::Image* crowd = fmtest::picture(kCrowd);
    FM_REQUIRE(crowd != nullptr);
    const DetectOptions opt = with_scale(Scale::native());
    const std::vector<Face> want_b = run(*fmtest::detector(fmtest::kDetector1mbBlob), crowd->view(), opt);
    Detector det;
    FM_REQUIRE_OK(det.load_file(fmtest::weights_path(fmtest::kDetectorBlob).c_str()));
    Workspace ws;
    const std::vector<Face> first = run(det, crowd->view(), opt, ws);
    FM_REQUIRE_OK(det.load_file(fmtest::weights_path(fmtest::kDetector1mbBlob).c_str()));
    CHECK(fmtest::same_faces(run(det, crowd->view(), opt, ws), want_b));
    CHECK_FALSE(fmtest::same_faces(first, want_b));  // the two models do differ on this picture
}

TEST_CASE("a warmed-up workspace allocates nothing") {
    const Detector* det = fmtest::detector(fmtest::kDetectorBlob);
    FM_REQUIRE(det != nullptr);
    const facemask::Image* img = fmtest::picture(kCrowd);
    FM_REQUIRE(img != nullptr);
    Workspace ws;
    Faces faces;
    const DetectOptions big = with_scale(Scale::longest(640));
    FM_REQUIRE_OK(det->detect(ws, img->view(), big, &faces));  // warm-up: plans and allocates
    const size_t bytes = ws.bytes();
    CHECK(bytes > 0);
    // workspace_bytes() is what this call holds, plus the alignment slack a use_memory() block may lose.
    const size_t documented = det->workspace_bytes(640, 427, facemask::resample_scratch_bytes(400, 267, 640, 427));
    CHECK(bytes <= documented);
    CHECK(bytes + facemask::kAlign >= documented);

    const size_t before = fmtest::allocation_count();
    for (int i = 0; i < 3; ++i) FM_CHECK_OK(det->detect(ws, img->view(), big, &faces));
    CHECK(fmtest::allocation_count() == before);
    CHECK(ws.bytes() == bytes);

    // A smaller need (smaller input, forward) fits in the same block.
    FM_CHECK_OK(det->detect(ws, img->view(), with_scale(Scale::native()), &faces));
    FM_CHECK_OK(det->detect(ws, img->view(), with_scale(Scale::longest(320)), &faces));
    std::vector<float> zeros(size_t(400) * 267 * 3, 0.0f);
    facemask::HeadOutputs heads;
    FM_CHECK_OK(det->forward(ws, zeros.data(), 400, 267, 1, &heads));
    CHECK(fmtest::allocation_count() == before);
    CHECK(ws.bytes() == bytes);

    // A bigger input grows the block once, then stays.
    FM_CHECK_OK(det->detect(ws, img->view(), with_scale(Scale::longest(800)), &faces));
    CHECK(ws.bytes() > bytes);
    const size_t grown = fmtest::allocation_count();
    CHECK(grown > before);
    FM_CHECK_OK(det->detect(ws, img->view(), with_scale(Scale::longest(800)), &faces));
    CHECK(fmtest::allocation_count() == grown);

    // More threads run wider bands (more rows per kernel call to share): another plan, which
    // may need more memory once, and then none.
    DetectOptions two = big;
    two.threads = 2;
    FM_CHECK_OK(det->detect(ws, img->view(), two, &faces));
    const size_t two_warm = fmtest::allocation_count();
    FM_CHECK_OK(det->detect(ws, img->view(), two, &faces));
    CHECK(fmtest::allocation_count() == two_warm);
}

TEST_CASE("caller-provided workspace memory: too small is out_of_memory, workspace_bytes() is enough") {
    const Detector* det = fmtest::detector(fmtest::kDetectorBlob);
    FM_REQUIRE(det != nullptr);
    const facemask::Image* img = fmtest::picture(kCrowd);
    FM_REQUIRE(img != nullptr);
    for (const Scale& scale : {Scale::native(), Scale::longest(320)}) {
        CAPTURE(int(scale.mode));
        const DetectOptions opt = with_scale(scale);
        int w = 0, h = 0;
        FM_REQUIRE_OK(det->input_size(img->width(), img->height(), opt, &w, &h));
        const size_t scratch = facemask::resample_scratch_bytes(img->width(), img->height(), w, h);
        const size_t need = det->workspace_bytes(w, h, scratch, opt.top_k);
        CHECK(need > 0);
        const std::vector<Face> want = run(*det, img->view(), opt);

        // Too small: the message gives the block's size and how much more is needed.
        const size_t small_bytes = need / 2;
        fmtest::AlignedBlock small(small_bytes);
        Workspace ws;
        ws.use_memory(small.data(), small_bytes);
        Faces faces;
        faces.count = 1;
        const Status st = det->detect(ws, img->view(), opt, &faces);
        CHECK(st.code() == Error::out_of_memory);
        CHECK_MESSAGE(fmtest::contains(st.message(), std::to_string(small_bytes).c_str()), std::string(st.message()));
        CHECK_MESSAGE(fmtest::contains(st.message(), std::to_string(need - small_bytes).c_str()), std::string(st.message()));
        CHECK(faces.empty());

        // Exactly workspace_bytes(), wherever the block starts (a static array is only as
        // aligned as its type): works, and never touches the heap.
        for (size_t misalign : {size_t(0), size_t(4), size_t(60)}) {
            CAPTURE(misalign);
            fmtest::AlignedBlock block(need + 64);
            Workspace fresh;
            fresh.use_memory(block.data() + misalign, need);
            const size_t before = fmtest::allocation_count();
            CHECK(fmtest::same_faces(run(*det, img->view(), opt, fresh), want));
            CHECK(fmtest::same_faces(run(*det, img->view(), opt, fresh), want));
            CHECK(fmtest::allocation_count() == before);
            CHECK(fresh.bytes() <= need);
        }
        fmtest::AlignedBlock exact(need);
        ws.use_memory(exact.data(), need);
        const size_t before = fmtest::allocation_count();
        CHECK(fmtest::same_faces(run(*det, img->view(), opt, ws), want));
        // A bigger input than the block was sized for fails cleanly instead of growing.
        const Status bigger = det->detect(ws, img->view(), with_scale(Scale::longest(1200)), &faces);
        CHECK(bigger.code() == Error::out_of_memory);
        CHECK(std::strlen(bigger.message()) > 0);
        // ... and the block still serves the size it was made for.
        CHECK(fmtest::same_faces(run(*det, img->view(), opt, ws), want));
        CHECK(fmtest::allocation_count() == before);
    }
}

TEST_CASE("max_faces and top_k cap the result") {
    const Detector* det = fmtest::detector(fmtest::kDetectorBlob);
    FM_REQUIRE(det != nullptr);
    const facemask::Image* img = fmtest::picture(kCrowd);
    FM_REQUIRE(img != nullptr);
    DetectOptions opt = with_scale(Scale::native());
    const std::vector<Face> all = run(*det, img->view(), opt);
    FM_REQUIRE(all.size() >= 10);
    for (size_t i = 1; i < all.size(); ++i) CHECK(all[i - 1].score >= all[i].score);  // best first

    for (int keep : {1, 5, int(all.size()) - 1, int(all.size()), int(all.size()) + 10}) {
        CAPTURE(keep);
        opt.max_faces = keep;
        const std::vector<Face> capped = run(*det, img->view(), opt);
        const size_t n = std::min(all.size(), size_t(keep));
        CHECK(fmtest::same_faces(capped, std::vector<Face>(all.begin(), all.begin() + long(n))));
    }
    opt.max_faces = 750;
    for (int k : {1, 3, 10}) {
        CAPTURE(k);
        opt.top_k = k;
        const std::vector<Face> top = run(*det, img->view(), opt);
        CHECK(top.size() >= 1);
        CHECK(top.size() <= size_t(k));
        CHECK(std::memcmp(&top[0], &all[0], sizeof(Face)) == 0);  // the best candidate always survives
        for (const Face& f : top) CHECK(f.score >= all[std::min(size_t(k), all.size()) - 1].score);
    }
}

TEST_CASE("the score threshold is strict: a face scoring exactly the threshold is dropped") {
    const Detector* det = fmtest::detector(fmtest::kDetectorBlob);
    FM_REQUIRE(det != nullptr);
    const facemask::Image* img = fmtest::picture(kCrowd);
    FM_REQUIRE(img != nullptr);
    DetectOptions opt = with_scale(Scale::native());
    const std::vector<Face> all = run(*det, img->view(), opt);
    FM_REQUIRE(all.size() >= 3);
    for (const Face& f : all) {
        CHECK(f.score > 0.5f);
        CHECK(f.score < 1.0f);
        CHECK(f.box.x2 > f.box.x1);
        CHECK(f.box.y2 > f.box.y1);
        CHECK(f.mask == -1.0f);  // not classified
    }
    // Candidates below a face never change the faces above it (greedy NMS runs best first), so
    // raising the threshold to a face's score must give exactly the faces scoring above it.
    for (size_t i : {all.size() - 1, all.size() / 2}) {
        const float s = all[i].score;
        CAPTURE(i);
        CAPTURE(s);
        size_t above = 0, at_least = 0;
        for (const Face& f : all) above += f.score > s, at_least += f.score >= s;
        opt.score_threshold = s;
        CHECK(fmtest::same_faces(run(*det, img->view(), opt), std::vector<Face>(all.begin(), all.begin() + long(above))));
        opt.score_threshold = std::nextafter(s, 0.0f);
        CHECK(fmtest::same_faces(run(*det, img->view(), opt), std::vector<Face>(all.begin(), all.begin() + long(at_least))));
    }
}

namespace {

// IoU with the +1 pixel convention of the original RetinaFace code, written independently.
float iou_plus1(const facemask::Box& a, const facemask::Box& b) {
    const float w = std::min(a.x2, b.x2) - std::max(a.x1, b.x1) + 1.0f;
    const float h = std::min(a.y2, b.y2) - std::max(a.y1, b.y1) + 1.0f;
    const float inter = std::max(w, 0.0f) * std::max(h, 0.0f);
    const float area_a = (a.x2 - a.x1 + 1.0f) * (a.y2 - a.y1 + 1.0f), area_b = (b.x2 - b.x1 + 1.0f) * (b.y2 - b.y1 + 1.0f);
    return inter / (area_a + area_b - inter);
}

// Whether at least 70 % of `f`'s box is inside a face of `a` that scores at least as high.
bool part_of_a_face(const Face& f, const std::vector<Face>& a) {
    for (const Face& g : a) {
        const float w = std::min(g.box.x2, f.box.x2) - std::max(g.box.x1, f.box.x1);
        const float h = std::min(g.box.y2, f.box.y2) - std::max(g.box.y1, f.box.y1);
        if (g.score >= f.score && w > 0 && h > 0 && w * h >= 0.7f * f.box.width() * f.box.height()) return true;
    }
    return false;
}

// What Scale::automatic promises for a small picture, from two explicit passes: pass A at the
// picture's size, pass B enlarged, keeping faces under `small_face` pass-A pixels that are not
// a part of a pass-A face, merged by score (pass A first on ties), then greedy NMS.
std::vector<Face> two_pass_reference(const std::vector<Face>& a, const std::vector<Face>& b, float to_a,
                                     const DetectOptions& opt, int* dropped_parts) {
    std::vector<Face> small;
    for (const Face& f : b) {
        if (std::min(f.box.width(), f.box.height()) * to_a >= opt.scale.small_face) continue;
        if (part_of_a_face(f, a)) {
            ++*dropped_parts;
            continue;
        }
        small.push_back(f);
    }
    std::vector<Face> merged;
    size_t i = 0, j = 0;
    while (i < a.size() || j < small.size())
        merged.push_back(j == small.size() || (i < a.size() && a[i].score >= small[j].score) ? a[i++] : small[j++]);
    std::vector<Face> kept;
    for (const Face& f : merged) {
        if (int(kept.size()) >= opt.max_faces) break;
        bool suppressed = false;
        for (const Face& k : kept) suppressed = suppressed || iou_plus1(k.box, f.box) > opt.nms_iou;
        if (!suppressed) kept.push_back(f);
    }
    return kept;
}

}  // namespace

TEST_CASE("Scale::automatic is pass A plus the small faces of an enlarged pass, merged with NMS") {
    const Detector* det = fmtest::detector(fmtest::kDetectorBlob);
    FM_REQUIRE(det != nullptr);
    int gained = 0;  // pictures where pass B adds faces: the comparison must cover the merge
    int dropped_parts = 0;  // pass-B faces inside a pass-A face: the rule must be exercised
    // A group (more faces with pass B), a wide picture, and a webcam close-up whose pass B also
    // finds a part of the face.
    for (const char* name : {kGroup, kPortrait, kCloseUp}) {
        CAPTURE(std::string(name));
        const facemask::Image* img = fmtest::picture(name);
        FM_REQUIRE(img != nullptr);
        const int w = img->width(), h = img->height();
        const DetectOptions automatic;
        Workspace ws;
        const std::vector<Face> got = run(*det, img->view(), automatic, ws);
        const std::vector<Face> a = run(*det, img->view(), with_scale(Scale::fixed(w, h)));
        int passes = 0, pw[2] = {}, ph[2] = {};
        FM_CHECK_OK(det->input_sizes(w, h, automatic, &passes, pw, ph));
        CHECK(passes == 2);
        const std::vector<Face> b = run(*det, img->view(), with_scale(Scale::fixed(pw[1], ph[1])));
        const std::vector<Face> want = two_pass_reference(a, b, 1.0f, automatic, &dropped_parts);  // pass A: own size
        CHECK(fmtest::same_faces(got, want));
        gained += got.size() > a.size();
        // Once warmed up (both passes planned), it allocates nothing.
        const size_t before = fmtest::allocation_count();
        CHECK(fmtest::same_faces(run(*det, img->view(), automatic, ws), want));
        CHECK(fmtest::allocation_count() == before);
    }
    CHECK(gained >= 1);
    CHECK(dropped_parts >= 1);
    // A picture at or above the limit gets one pass, as Scale::longest(640).
    const facemask::Image* big = fmtest::picture("images/ex_img.jpg");
    FM_REQUIRE(big != nullptr);
    CHECK(fmtest::same_faces(run(*det, big->view(), DetectOptions()), run(*det, big->view(), with_scale(Scale::longest(640)))));
}

TEST_CASE("Scale::automatic in caller-provided memory of workspace_bytes_for()") {
    const Detector* det = fmtest::detector(fmtest::kDetectorBlob);
    FM_REQUIRE(det != nullptr);
    const facemask::Image* img = fmtest::picture(kCrowd);
    FM_REQUIRE(img != nullptr);
    const DetectOptions opt;
    const std::vector<Face> want = run(*det, img->view(), opt);
    const size_t need = det->workspace_bytes_for(img->width(), img->height(), opt);
    CHECK(need > 0);
    for (size_t misalign : {size_t(0), size_t(4)}) {
        CAPTURE(misalign);
        fmtest::AlignedBlock block(need + 64);
        Workspace ws;
        ws.use_memory(block.data() + misalign, need);
        const size_t before = fmtest::allocation_count();
        CHECK(fmtest::same_faces(run(*det, img->view(), opt, ws), want));
        CHECK(fmtest::same_faces(run(*det, img->view(), opt, ws), want));
        CHECK(fmtest::allocation_count() == before);
    }
    // An aligned block loses no alignment slack, so it needs kAlign bytes less; one more
    // kAlign less is too little.
    fmtest::AlignedBlock block(need);
    Workspace ws;
    ws.use_memory(block.data(), need - 2 * facemask::kAlign);
    Faces faces;
    CHECK(det->detect(ws, img->view(), opt, &faces).code() == Error::out_of_memory);
}

TEST_CASE("split_fpn: the same faces bit for bit in less memory, on 1 and 2 threads, in a block of workspace_bytes_for()") {
    const Detector* det = fmtest::detector(fmtest::kDetectorBlob);
    FM_REQUIRE(det != nullptr);
    for (const char* name : {kCrowd, kPortrait}) {
        CAPTURE(name);
        const facemask::Image* img = fmtest::picture(name);
        FM_REQUIRE(img != nullptr);
        for (int threads : {1, 2}) {
            CAPTURE(threads);
            DetectOptions opt = with_scale(Scale::native());
            opt.threads = threads;
            const std::vector<Face> want = run(*det, img->view(), opt);
            const size_t one_pass = det->workspace_bytes_for(img->width(), img->height(), opt);
            opt.split_fpn = true;
            const size_t two_pass = det->workspace_bytes_for(img->width(), img->height(), opt);
            CHECK(two_pass < one_pass);
            fmtest::AlignedBlock block(two_pass);
            Workspace ws;
            ws.use_memory(block.data(), two_pass);
            const std::vector<Face> got = run(*det, img->view(), opt, ws);
            CHECK(!want.empty());
            CHECK(fmtest::same_faces(got, want));
            REQUIRE(got.size() == want.size());
            CHECK(std::memcmp(got.data(), want.data(), want.size() * sizeof(Face)) == 0);
        }
    }
}

TEST_CASE("threads give identical results") {
    const Detector* det = fmtest::detector(fmtest::kDetector1mbBlob);
    FM_REQUIRE(det != nullptr);
    const facemask::Image* img = fmtest::picture(kCrowd);
    FM_REQUIRE(img != nullptr);
    DetectOptions opt = with_scale(Scale::longest(640));
    const std::vector<Face> one = run(*det, img->view(), opt);
    for (int t : {0, 2, 3, 7}) {
        CAPTURE(t);
        opt.threads = t;
        CHECK(fmtest::same_faces(run(*det, img->view(), opt), one));
    }
}

TEST_CASE("float16 blobs (tools/blob_half.py) pass their self-test and find the float32 faces") {
    const Detector* full = fmtest::detector(fmtest::kDetectorBlob);
    const Detector* half = fmtest::detector("retinaface_mnet025_f16.fmb");
    FM_REQUIRE(full != nullptr);
    FM_REQUIRE(half != nullptr);
    Workspace ws;
    FM_CHECK_OK(half->self_test(ws));
    facemask::Classifier cls_full, cls_half;
    FM_REQUIRE_OK(cls_full.load_file(fmtest::weights_path(fmtest::kClassifierBlob).c_str()));
    FM_REQUIRE_OK(cls_half.load_file(fmtest::weights_path("mask_classifier_f16.fmb").c_str()));
    FM_CHECK_OK(cls_half.self_test(ws));
    double d_score = 0, d_box = 0, d_mask = 0;
    size_t faces = 0;
    for (const char* name : {kGroup, "images/ex_img.jpg"}) {
        CAPTURE(std::string(name));
        const facemask::Image* img = fmtest::picture(name);
        FM_REQUIRE(img != nullptr);
        const DetectOptions opt = with_scale(Scale::longest(640));
        const std::vector<Face> a = run(*full, img->view(), opt), b = run(*half, img->view(), opt);
        REQUIRE(a.size() == b.size());
        faces += a.size();
        for (size_t i = 0; i < a.size(); ++i) {
            d_score = std::max(d_score, double(std::fabs(a[i].score - b[i].score)));
            const float da[4] = {a[i].box.x1 - b[i].box.x1, a[i].box.y1 - b[i].box.y1, a[i].box.x2 - b[i].box.x2,
                                 a[i].box.y2 - b[i].box.y2};
            for (float d : da) d_box = std::max(d_box, double(std::fabs(d)) / double(a[i].box.width()));
            float pa = 0, pb = 0;
            FM_CHECK_OK(cls_full.classify(ws, img->view(), a[i].box, &pa));
            FM_CHECK_OK(cls_half.classify(ws, img->view(), a[i].box, &pb));
            d_mask = std::max(d_mask, double(std::fabs(pa - pb)));
        }
    }
    MESSAGE("float16 vs float32 over ", faces, " faces: max |d score| ", d_score, ", max |d box| / box width ", d_box,
            ", max |d p(masked)| ", d_mask);
    CHECK(faces >= 10);
    CHECK(d_score <= 5e-3);
    CHECK(d_box <= 5e-3);
    CHECK(d_mask <= 1e-2);
}

#endif  // FACEMASK_TEST_HAVE_BLOBS && FACEMASK_HAS_IO

TEST_SUITE_END();
