// kernel_bench — each compute kernel on the detector's real layer shapes, against this core's
// FMA peak.
//
//   kernel_bench [--size 640x480] [--runs 15] [--min-ms 20] [--only TYPE]
//   kernel_bench --peak        only the FMA peak, one line (tools/benchmark.py quotes it)
//
// 1. The FMA peak: a loop of independent FMAs on registers (no memory), one thread, as
//    GFLOP/s (2 flops per lane per FMA). It is what a kernel could reach if it did nothing but
//    multiply-add.
// 2. Every layer of RetinaFace mnet0.25 at the given input size (its body, FPN and SSH shapes),
//    each kernel called on all output rows of whole tensors with random data: GFLOP/s and % of
//    the peak per layer, then per layer type (flops of the type / time of the type). A layer's
//    time is the median of `runs` samples, each sample the mean of as many calls as fill
//    `min-ms`. Every dense 3x3 stride-1 layer is also timed through Winograd F(4x4, 3x3)
//    (SIMD builds); flops are the direct convolution's (2 * MACs) there too, so its figure is
//    an "effective" rate and can exceed 100 %. "all, winograd" is the sum with those layers
//    by Winograd.
//
// One thread, the kernels of this build (the SIMD set when there is one). The machine may be
// shared: compare figures of one run, not across runs.
#include <facemask/facemask.hpp>
#include <facemask/kernels/winograd.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

namespace K = facemask::kernels;
using K::View;
using Clock = std::chrono::steady_clock;

// ---- FMA peak --------------------------------------------------------------------------------

#if FACEMASK_SIMD
using B = K::simd::B;
constexpr int kLanes = K::simd::V;
// kChains independent accumulators: enough to cover the FMA latency on two pipes.
constexpr int kChains = K::simd::kVectorRegs == 32 ? 16 : 10;

__attribute__((noinline)) float fma_loop(long iters, float seed) {
    B acc[kChains];
    for (int i = 0; i < kChains; ++i) acc[i] = B(seed + float(i));
    const B a(0.999999f), b(1e-7f);
    for (long n = 0; n < iters; ++n) {
        // strict IEEE arithmetic: the compiler may neither merge nor drop the chains
        for (int i = 0; i < kChains; ++i) acc[i] = xsimd::fma(acc[i], a, b);
    }
    B s = acc[0];
    for (int i = 1; i < kChains; ++i) s = s + acc[i];
    return xsimd::hadd(s);
}
#else
constexpr int kLanes = 1;
constexpr int kChains = 8;
__attribute__((noinline)) float fma_loop(long iters, float seed) {
    float acc[kChains];
    for (int i = 0; i < kChains; ++i) acc[i] = seed + float(i);
    for (long n = 0; n < iters; ++n) {
        for (int i = 0; i < kChains; ++i) acc[i] = acc[i] * 0.999999f + 1e-7f;
    }
    float s = 0;
    for (int i = 0; i < kChains; ++i) s += acc[i];
    return s;
}
#endif

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

volatile float g_sink;

double fma_peak_gflops(int runs) {
    const long iters = 2000000;
    std::vector<double> g;
    for (int r = 0; r < runs; ++r) {
        const Clock::time_point t0 = Clock::now();
        g_sink = fma_loop(iters, float(r));
        const double ms = ms_since(t0);
        g.push_back(2.0 * kLanes * kChains * double(iters) / (ms * 1e6));
    }
    std::sort(g.begin(), g.end());
    return g[g.size() - 1 - g.size() / 4];  // upper quartile: the peak is a ceiling, load only lowers it
}

// ---- layers ----------------------------------------------------------------------------------

enum class Kind { conv_s1, conv_s2, dw_s1, dw_s2, pw, wino };
const char* kind_name(Kind k) {
    switch (k) {
        case Kind::conv_s1: return "dense 3x3 s1";
        case Kind::conv_s2: return "dense 3x3 s2";
        case Kind::dw_s1: return "depthwise 3x3 s1";
        case Kind::dw_s2: return "depthwise 3x3 s2";
        case Kind::pw: return "pointwise 1x1";
        case Kind::wino: return "winograd 3x3 s1";
    }
    return "?";
}

struct Layer {
    const char* name;
    Kind kind;
    int level;  // input resolution: the picture downsampled `level` times
    int cin, cout;
};

// RetinaFace mnet0.25 in graph order (body b0..b13, FPN, SSH, heads): input level of each op.
const Layer kLayers[] = {
    {"b0", Kind::conv_s2, 0, 3, 8},
    {"b1.dw", Kind::dw_s1, 1, 8, 8},      {"b1.pw", Kind::pw, 1, 8, 16},
    {"b2.dw", Kind::dw_s2, 1, 16, 16},    {"b2.pw", Kind::pw, 2, 16, 32},
    {"b3.dw", Kind::dw_s1, 2, 32, 32},    {"b3.pw", Kind::pw, 2, 32, 32},
    {"b4.dw", Kind::dw_s2, 2, 32, 32},    {"b4.pw", Kind::pw, 3, 32, 64},
    {"b5.dw", Kind::dw_s1, 3, 64, 64},    {"b5.pw", Kind::pw, 3, 64, 64},
    {"b6.dw", Kind::dw_s2, 3, 64, 64},    {"b6.pw", Kind::pw, 4, 64, 128},
    {"b7-11.dw (x5)", Kind::dw_s1, 4, 128, 128}, {"b7-11.pw (x5)", Kind::pw, 4, 128, 128},
    {"b12.dw", Kind::dw_s2, 4, 128, 128}, {"b12.pw", Kind::pw, 5, 128, 256},
    {"b13.dw", Kind::dw_s1, 5, 256, 256}, {"b13.pw", Kind::pw, 5, 256, 256},
    {"fpn.lat1", Kind::pw, 3, 64, 64},    {"fpn.lat2", Kind::pw, 4, 128, 64}, {"fpn.lat3", Kind::pw, 5, 256, 64},
    {"fpn.merge1", Kind::conv_s1, 3, 64, 64}, {"fpn.merge2", Kind::conv_s1, 4, 64, 64},
    {"ssh1.c3", Kind::conv_s1, 3, 64, 32},  {"ssh1.c5a", Kind::conv_s1, 3, 64, 16}, {"ssh1.c5b/c7a/c7b (x3)", Kind::conv_s1, 3, 16, 16},
    {"ssh2.c3", Kind::conv_s1, 4, 64, 32},  {"ssh2.c5a", Kind::conv_s1, 4, 64, 16}, {"ssh2.c5b/c7a/c7b (x3)", Kind::conv_s1, 4, 16, 16},
    {"ssh3.c3", Kind::conv_s1, 5, 64, 32},  {"ssh3.c5a", Kind::conv_s1, 5, 64, 16}, {"ssh3.c5b/c7a/c7b (x3)", Kind::conv_s1, 5, 16, 16},
    {"head1", Kind::pw, 3, 64, 32},       {"head2", Kind::pw, 4, 64, 32}, {"head3", Kind::pw, 5, 64, 32},
};

// How many times the network runs a layer of this row (the "(xN)" rows).
int repeats(const Layer& l) {
    const char* x = std::strstr(l.name, "(x");
    return x ? std::atoi(x + 2) : 1;
}

// A whole tensor with its one-pixel zero border (the graph's layout), 64-byte aligned.
struct Tensor {
    facemask::Buffer buf;
    View v;
    bool make(int h, int w, int c, uint32_t seed) {
        const size_t floats = size_t(h + 2) * size_t(w + 2) * size_t(c) + 64;
        if (!buf.reserve(floats * sizeof(float))) return false;
        float* base = reinterpret_cast<float*>(buf.data());
        std::memset(base, 0, floats * sizeof(float));
        v.h = h, v.w = w, v.c = c, v.px = c, v.row = ptrdiff_t(w + 2) * c;
        v.data = base + v.row + c;
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x)
                for (int k = 0; k < c; ++k) {
                    seed = seed * 1664525u + 1013904223u;
                    v.at(y, x)[k] = float(int(seed >> 9) % 2001 - 1000) / 1000.0f;
                }
        return true;
    }
};

struct Floats {
    facemask::Buffer buf;
    float* p = nullptr;
    bool make(size_t n, uint32_t seed) {
        if (!buf.reserve((n + 16) * sizeof(float))) return false;
        p = reinterpret_cast<float*>(buf.data());
        for (size_t i = 0; i < n + 16; ++i) {
            seed = seed * 1664525u + 1013904223u;
            p[i] = float(int(seed >> 9) % 2001 - 1000) / 4000.0f;
        }
        return true;
    }
};

struct Result {
    double ms = 0, gflop = 0;
};

// Times `call` (one kernel call on the whole tensor): median over `runs` samples.
template <class Call>
double time_call(int runs, double min_ms, Call call) {
    call();  // warm the caches and the weights
    int reps = 1;
    for (;;) {
        const Clock::time_point t0 = Clock::now();
        for (int i = 0; i < reps; ++i) call();
        const double ms = ms_since(t0);
        if (ms >= min_ms || reps >= (1 << 20)) break;
        reps = ms <= 0.01 ? reps * 16 : int(reps * (min_ms / ms) * 1.2) + 1;
    }
    std::vector<double> s;
    for (int r = 0; r < runs; ++r) {
        const Clock::time_point t0 = Clock::now();
        for (int i = 0; i < reps; ++i) call();
        s.push_back(ms_since(t0) / reps);
    }
    return median(s);
}

bool run_layer(const Layer& l, bool wino, int W, int H, int runs, double min_ms, Result* res) {
    int ih = H, iw = W;
    for (int i = 0; i < l.level; ++i) ih = K::conv_out(ih, 2), iw = K::conv_out(iw, 2);
    const int S = (l.kind == Kind::conv_s2 || l.kind == Kind::dw_s2) ? 2 : 1;
    const int oh = K::conv_out(ih, S), ow = K::conv_out(iw, S);
    const bool dw = l.kind == Kind::dw_s1 || l.kind == Kind::dw_s2;
    const int taps = l.kind == Kind::pw ? 1 : 9;
    Tensor in, out;
    if (!in.make(ih, iw, l.cin, 1u) || !out.make(oh, ow, l.cout, 2u)) return false;
    const size_t nw = dw ? size_t(9) * l.cin : size_t(l.cout) * taps * l.cin;
    Floats w, b;
    if (!w.make(nw, 3u) || !b.make(size_t(l.cout), 4u)) return false;
    const float slope = 0.1f;
    double ms = 0;
#if FACEMASK_SIMD
    namespace S_ = K::simd;
    Floats wp, bp;
    if (dw) {
        if (!wp.make(S_::dw_packed_floats(l.cin), 0) || !bp.make(S_::dw_bias_floats(l.cin), 0)) return false;
        S_::pack_dw(w.p, b.p, l.cin, wp.p, bp.p);
    } else {
        if (!wp.make(S_::conv_packed_floats(l.cout, taps, l.cin), 0) || !bp.make(S_::conv_bias_floats(l.cout), 0))
            return false;
        S_::pack_conv(w.p, b.p, l.cout, taps, l.cin, wp.p, bp.p);
    }
    const View iv = in.v, ov = out.v;
    if (wino) {
        Floats up, scratch;
        if (!up.make(S_::wino_packed_floats(l.cout, l.cin), 0) || !scratch.make(S_::wino_scratch_floats(l.cin, l.cout), 0))
            return false;
        S_::pack_wino(w.p, l.cout, l.cin, up.p);
        ms = time_call(runs, min_ms, [&] { S_::conv3x3s1_winograd(iv, ov, up.p, wp.p, bp.p, slope, 0, oh, scratch.p); });
    } else
    switch (l.kind) {
        case Kind::conv_s1: ms = time_call(runs, min_ms, [&] { S_::conv3x3s1(iv, ov, wp.p, bp.p, slope, 0, oh); }); break;
        case Kind::conv_s2: ms = time_call(runs, min_ms, [&] { S_::conv3x3s2(iv, ov, wp.p, bp.p, slope, 0, oh); }); break;
        case Kind::dw_s1: ms = time_call(runs, min_ms, [&] { S_::dwconv3x3s1(iv, ov, wp.p, bp.p, slope, 0, oh); }); break;
        case Kind::dw_s2: ms = time_call(runs, min_ms, [&] { S_::dwconv3x3s2(iv, ov, wp.p, bp.p, slope, 0, oh); }); break;
        case Kind::pw: ms = time_call(runs, min_ms, [&] { S_::pwconv1x1(iv, ov, wp.p, bp.p, slope, 0, oh); }); break;
        case Kind::wino: return false;
    }
#else
    namespace S_ = K::scalar;
    const View iv = in.v, ov = out.v;
    if (wino) return false;  // the scalar build does not use Winograd
    switch (l.kind) {
        case Kind::conv_s1: ms = time_call(runs, min_ms, [&] { S_::conv3x3s1(iv, ov, w.p, b.p, slope, 0, oh); }); break;
        case Kind::conv_s2: ms = time_call(runs, min_ms, [&] { S_::conv3x3s2(iv, ov, w.p, b.p, slope, 0, oh); }); break;
        case Kind::dw_s1: ms = time_call(runs, min_ms, [&] { S_::dwconv3x3s1(iv, ov, w.p, b.p, slope, 0, oh); }); break;
        case Kind::dw_s2: ms = time_call(runs, min_ms, [&] { S_::dwconv3x3s2(iv, ov, w.p, b.p, slope, 0, oh); }); break;
        case Kind::pw: ms = time_call(runs, min_ms, [&] { S_::pwconv1x1(iv, ov, w.p, b.p, slope, 0, oh); }); break;
        case Kind::wino: return false;
    }
#endif
    const double macs = double(oh) * ow * l.cout * (dw ? 9.0 : double(taps) * l.cin);
    res->ms = ms;
    res->gflop = 2.0 * macs / 1e9;
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    int W = 640, H = 480, runs = 15;
    double min_ms = 20;
    const char* only = nullptr;
    bool peak_only = false;
    for (int i = 1; i < argc; ++i) {
        const bool has_value = i + 1 < argc;
        if (!std::strcmp(argv[i], "--peak"))
            peak_only = true;
        else if (!std::strcmp(argv[i], "--size") && has_value && std::sscanf(argv[i + 1], "%dx%d", &W, &H) == 2 && W > 0 && H > 0)
            ++i;
        else if (!std::strcmp(argv[i], "--runs") && has_value && (runs = std::atoi(argv[i + 1])) > 0)
            ++i;
        else if (!std::strcmp(argv[i], "--min-ms") && has_value && (min_ms = std::atof(argv[i + 1])) > 0)
            ++i;
        else if (!std::strcmp(argv[i], "--only") && has_value)
            only = argv[++i];
        else {
            std::fprintf(stderr, "usage: kernel_bench [--size WxH] [--runs N] [--min-ms MS] [--only NAME-PREFIX] | --peak\n");
            return 2;
        }
    }
    const double peak = fma_peak_gflops(runs * 3);
    if (peak_only) {
        std::printf("FMA peak %.1f GFLOP/s, 1 thread, kernels %s (%d lanes, %d chains)\n", peak, facemask::simd_name(),
                    kLanes, kChains);
        return 0;
    }
    std::printf("kernel_bench: %dx%d, 1 thread, kernels %s (%d lanes)\n", W, H, facemask::simd_name(), kLanes);
    std::printf("FMA peak (register-only loop, %d chains): %.1f GFLOP/s\n\n", kChains, peak);
    std::printf("%-24s %-18s %9s %9s %9s %8s %7s\n", "layer", "type", "in", "cin>cout", "MFLOP", "us", "%peak");
    struct Sum {
        double ms = 0, gflop = 0;
    } sums[6];
    double total_ms = 0, total_gflop = 0;
    double wino_ms = 0;  // the network's time with Winograd for every dense 3x3 s1 layer
    for (int row = 0; row < 2 * int(sizeof kLayers / sizeof kLayers[0]); ++row) {
        const Layer& l = kLayers[row / 2];
        const bool wino = row % 2 == 1;
        if (only && std::strncmp(l.name, only, std::strlen(only)) != 0) continue;
        if (wino && (l.kind != Kind::conv_s1 || !FACEMASK_SIMD)) continue;
        Result r;
        if (!run_layer(l, wino, W, H, runs, min_ms, &r)) {
            std::fprintf(stderr, "kernel_bench: layer %s could not run (memory?)\n", l.name);
            return 1;
        }
        const int n = repeats(l);
        int ih = H, iw = W;
        for (int i = 0; i < l.level; ++i) ih = K::conv_out(ih, 2), iw = K::conv_out(iw, 2);
        char in[24], ch[24];
        std::snprintf(in, sizeof in, "%dx%d", iw, ih);
        std::snprintf(ch, sizeof ch, "%d>%d", l.cin, l.cout);
        const double gflops = r.gflop / (r.ms * 1e-3);
        const Kind kind = wino ? Kind::wino : l.kind;
        std::printf("%-24s %-18s %9s %9s %9.1f %8.1f %6.1f%%\n", l.name, kind_name(kind), in, ch, r.gflop * 1e3,
                    r.ms * 1e3, 100.0 * gflops / peak);
        sums[int(kind)].ms += n * r.ms;
        sums[int(kind)].gflop += n * r.gflop;
        if (wino) {
            wino_ms += n * r.ms;
            continue;
        }
        if (l.kind != Kind::conv_s1) wino_ms += n * r.ms;
        total_ms += n * r.ms;
        total_gflop += n * r.gflop;
    }
    std::printf("\n%-18s %9s %9s %9s %7s\n", "per type", "MFLOP", "ms", "GFLOP/s", "%peak");
    for (int k = 0; k < 6; ++k) {
        if (sums[k].ms <= 0) continue;
        const double g = sums[k].gflop / (sums[k].ms * 1e-3);
        std::printf("%-18s %9.1f %9.3f %9.1f %6.1f%%\n", kind_name(Kind(k)), sums[k].gflop * 1e3, sums[k].ms, g,
                    100.0 * g / peak);
    }
    if (total_ms <= 0) return 0;
    const double g = total_gflop / (total_ms * 1e-3);
    std::printf("%-18s %9.1f %9.3f %9.1f %6.1f%%\n", "all layers", total_gflop * 1e3, total_ms, g, 100.0 * g / peak);
    if (sums[int(Kind::wino)].ms > 0) {
        const double gw = total_gflop / (wino_ms * 1e-3);
        std::printf("%-18s %9.1f %9.3f %9.1f %6.1f%%  (dense 3x3 s1 by Winograd; effective)\n", "all, winograd",
                    total_gflop * 1e3, wino_ms, gw, 100.0 * gw / peak);
    }
    return 0;
}
