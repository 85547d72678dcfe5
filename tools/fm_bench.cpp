// fm_bench — times the facemask detector, for tools/benchmark.py and its peers.
//
//   fm_bench --size 640x480 --threads 1 --runs 30 --warmup 5 --what forward
//
// Prints one line "run <milliseconds>" per timed run on standard output, like the ONNX Runtime
// and OpenCV runners in tools/bench/, so one parser reads them all. Anything else goes to
// standard error. Exit codes: 0 done; 1 the weights or the picture could not be used; 2 bad
// command line.
//
// What is timed:
//   forward        Detector::forward on a prepared, already normalised input: the network
//                  alone, which is what the peers time.
//   detect         Detector::detect on an RGB picture that already is WxH (Scale::native):
//                  normalisation + network + decode + NMS.
//   detect_resize  Detector::detect on the full-size picture with Scale::fixed(W, H): the
//                  same plus the library's antialiased resampling.
// Decoding the picture, resizing it for `detect`, and the workspace's first allocation happen
// before the timed runs.
#define FACEMASK_STB_IMPLEMENTATION
#include <facemask/facemask.hpp>

#include "bench/forward_input.hpp"

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

const char* kUsage =
    "usage: fm_bench [options]\n"
    "Times the facemask detector; prints one line 'run <milliseconds>' per timed run.\n"
    "\n"
    "options:\n"
    "  --what MODE      forward | detect | detect_resize (default forward)\n"
    "                     forward:       the network on a prepared normalised input\n"
    "                     detect:        detect() on a picture already resized to WxH\n"
    "                     detect_resize: detect() on the full picture, resized inside detect()\n"
    "  --size WxH       network input size (default 640x480)\n"
    "  --threads N      threads (default 1; 0 = all cores)\n"
    "  --runs R         timed runs (default 30)\n"
    "  --warmup K       untimed runs first (default 5)\n"
    "  --weights BLOB   detector blob (default: the build's retinaface_mnet025.fmb)\n"
    "  --picture FILE   picture for detect/detect_resize (default: the shared ex_img.jpg)\n"
    "  --top-k N        detect modes: DetectOptions::top_k (default 5000)\n"
    "  --split-fpn      detect modes: DetectOptions::split_fpn (the small plan: the FPN's\n"
    "                   stride-8 branch in a second pass, the body to stride 8 computed twice)\n"
    "  --help           this text\n"
    "exit status: 0 success, 1 the weights or picture could not be used, 2 bad arguments\n";

enum class What { forward, detect, detect_resize };

struct Args {
    What what = What::forward;
    int width = 640, height = 480;
    int threads = 1;
    int runs = 30, warmup = 5;
    const char* weights = FACEMASK_DEFAULT_WEIGHTS_DIR "/retinaface_mnet025.fmb";
    const char* picture = FACEMASK_DEFAULT_PICTURE;
    int top_k = facemask::DetectOptions().top_k;
    bool split_fpn = false;
};

const char* what_name(What w) {
    switch (w) {
        case What::forward: return "forward";
        case What::detect: return "detect";
        case What::detect_resize: return "detect_resize";
    }
    return "?";
}

bool parse_what(const char* s, What* out) {
    for (What w : {What::forward, What::detect, What::detect_resize})
        if (std::strcmp(s, what_name(w)) == 0) {
            *out = w;
            return true;
        }
    return false;
}

bool parse_int(const char* s, int lo, int hi, int* out) {
    char* end = nullptr;
    const long v = std::strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi) return false;
    *out = int(v);
    return true;
}

// "WxH" with both sides in 1..8192 (a benchmark has no business with larger inputs).
bool parse_size(const char* s, int* w, int* h) {
    char* end = nullptr;
    const long a = std::strtol(s, &end, 10);
    if (end == s || (*end != 'x' && *end != 'X')) return false;
    const char* rest = end + 1;
    const long b = std::strtol(rest, &end, 10);
    if (end == rest || *end || a < 1 || b < 1 || a > 8192 || b > 8192) return false;
    *w = int(a);
    *h = int(b);
    return true;
}

// 0 ok, 1 --help, 2 error (message printed).
int parse_args(int argc, char** argv, Args* a) {
    for (int i = 1; i < argc; ++i) {
        const char* arg = argv[i];
        if (!std::strcmp(arg, "--help") || !std::strcmp(arg, "-h")) return 1;
        if (std::strncmp(arg, "--", 2) != 0) {
            std::fprintf(stderr, "fm_bench: unexpected argument '%s' (see --help)\n", arg);
            return 2;
        }
        if (!std::strcmp(arg, "--split-fpn")) {  // the only option without a value
            a->split_fpn = true;
            continue;
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "fm_bench: %s needs a value (see --help)\n", arg);
            return 2;
        }
        const char* v = argv[++i];
        bool ok = true;
        if (!std::strcmp(arg, "--what"))
            ok = parse_what(v, &a->what);
        else if (!std::strcmp(arg, "--size"))
            ok = parse_size(v, &a->width, &a->height);
        else if (!std::strcmp(arg, "--threads"))
            ok = parse_int(v, 0, 256, &a->threads);
        else if (!std::strcmp(arg, "--runs"))
            ok = parse_int(v, 1, 1000000, &a->runs);
        else if (!std::strcmp(arg, "--warmup"))
            ok = parse_int(v, 0, 1000000, &a->warmup);
        else if (!std::strcmp(arg, "--weights"))
            a->weights = v;
        else if (!std::strcmp(arg, "--picture"))
            a->picture = v;
        else if (!std::strcmp(arg, "--top-k"))
            ok = parse_int(v, 1, 1000000, &a->top_k);
        else {
            std::fprintf(stderr, "fm_bench: unknown option '%s' (see --help)\n", arg);
            return 2;
        }
        if (!ok) {
            std::fprintf(stderr, "fm_bench: bad value '%s' for %s (see --help)\n", v, arg);
            return 2;
        }
    }
    return 0;
}

// Box-filter resize: every output pixel averages the source pixels its footprint covers (at
// least one). Crude next to the library's PIL-style filter, but it only has to give detect()
// a natural WxH picture with the same faces; it is never timed.
void box_resize(const facemask::Image& src, facemask::Image* dst) {
    const int sw = src.width(), sh = src.height(), dw = dst->width(), dh = dst->height();
    for (int y = 0; y < dh; ++y) {
        const int y0 = int(long(y) * sh / dh), y1 = std::max(y0 + 1, int(long(y + 1) * sh / dh));
        for (int x = 0; x < dw; ++x) {
            const int x0 = int(long(x) * sw / dw), x1 = std::max(x0 + 1, int(long(x + 1) * sw / dw));
            unsigned sum[3] = {0, 0, 0};
            for (int yy = y0; yy < y1; ++yy)
                for (int xx = x0; xx < x1; ++xx)
                    for (int k = 0; k < 3; ++k) sum[k] += src.row(yy)[xx * 3 + k];
            const unsigned n = unsigned((y1 - y0) * (x1 - x0));
            for (int k = 0; k < 3; ++k) dst->row(y)[x * 3 + k] = uint8_t((sum[k] + n / 2) / n);
        }
    }
}

using Clock = std::chrono::steady_clock;

// Runs `call` warmup + runs times and prints the timed ones. The times are kept and printed
// at the end so that no output happens between runs. 0 ok, 1 a call failed.
template <class Call>
int time_runs(const Args& a, Call call) {
    std::vector<double> ms(size_t(a.runs));
    for (int i = 0; i < a.warmup + a.runs; ++i) {
        const Clock::time_point t0 = Clock::now();
        const facemask::Status st = call();
        const Clock::time_point t1 = Clock::now();
        if (!st) {
            std::fprintf(stderr, "fm_bench: %s failed: %s\n", what_name(a.what), st.message());
            return 1;
        }
        if (i >= a.warmup) ms[size_t(i - a.warmup)] = std::chrono::duration<double, std::milli>(t1 - t0).count();
    }
    for (double t : ms) std::printf("run %.3f\n", t);
    return std::fflush(stdout) == 0 ? 0 : 1;
}

int bench_forward(const Args& a, const facemask::Detector& det) {
    const std::vector<float> input = fmbench::forward_input(a.width, a.height);
    facemask::Workspace ws;
    facemask::HeadOutputs heads;
    return time_runs(a, [&] { return det.forward(ws, input.data(), a.width, a.height, a.threads, &heads); });
}

int bench_detect(const Args& a, const facemask::Detector& det) {
#if FACEMASK_HAS_IO
    if (!a.picture[0]) {
        std::fprintf(stderr, "fm_bench: no default picture in this build; give --picture FILE\n");
        return 1;
    }
    facemask::Image full;
    facemask::Status st = full.load(a.picture);
    if (!st) {
        std::fprintf(stderr, "fm_bench: %s\n", st.message());
        return 1;
    }
    facemask::DetectOptions opt;
    opt.threads = a.threads;
    opt.top_k = a.top_k;
    opt.split_fpn = a.split_fpn;
    facemask::Image sized;
    const facemask::Image* picture = &full;
    if (a.what == What::detect) {
        st = sized.create(a.width, a.height);
        if (!st) {
            std::fprintf(stderr, "fm_bench: %s\n", st.message());
            return 1;
        }
        box_resize(full, &sized);
        picture = &sized;
        opt.scale = facemask::Scale::native();
    } else {
        opt.scale = facemask::Scale::fixed(a.width, a.height);
    }
    facemask::Workspace ws;
    facemask::Faces faces;
    const int rc = time_runs(a, [&] { return det.detect(ws, picture->view(), opt, &faces); });
    // The face count tells whether detect() did comparable work in both modes.
    if (rc == 0)
        std::fprintf(stderr, "fm_bench: %s %dx%d picture -> %d face%s\n", what_name(a.what), picture->width(),
                     picture->height(), faces.size(), faces.size() == 1 ? "" : "s");
    return rc;
#else
    (void)det;
    std::fprintf(stderr, "fm_bench: --what %s needs picture decoding, and this build has no stb headers\n",
                 what_name(a.what));
    return 1;
#endif
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    const int parsed = parse_args(argc, argv, &a);
    if (parsed == 1) {
        std::fputs(kUsage, stdout);
        return 0;
    }
    if (parsed != 0) return 2;
    if (a.what == What::forward && (a.split_fpn || a.top_k != facemask::DetectOptions().top_k)) {
        std::fprintf(stderr, "fm_bench: --top-k and --split-fpn are detect() options (--what detect or detect_resize)\n");
        return 2;
    }
    if (a.threads != 1 && !facemask::has_threads())
        std::fprintf(stderr, "fm_bench: warning: built without OpenMP, --threads %d runs on one thread\n", a.threads);

    facemask::Detector det;
    const facemask::Status st = det.load_file(a.weights);
    if (!st) {
        std::fprintf(stderr, "fm_bench: cannot load the detector: %s\n", st.message());
        return 1;
    }
#if defined(FACEMASK_DISPATCH)
    const char* chosen = "start-up";  // from the CPU, capped by FACEMASK_ISA
#else
    const char* chosen = "flags";
#endif
    std::fprintf(stderr, "fm_bench: %s %dx%d threads=%d simd=%s (chosen by: %s) openmp=%s\n", what_name(a.what), a.width,
                 a.height, a.threads, facemask::simd_name(), chosen, facemask::has_threads() ? "yes" : "no");
    return a.what == What::forward ? bench_forward(a, det) : bench_detect(a, det);
}
