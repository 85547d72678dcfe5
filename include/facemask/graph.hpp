// facemask/graph.hpp — a network as a fixed list of kernel calls, and the packing of its
// weights for the active kernels.
//
// The graph is built once at load (no allocation: fixed-size arrays); executor.hpp plans its
// memory for an input size and runs it in row bands.
#pragma once
#include "kernels/kernels.hpp"
#include "kernels/winograd.hpp"
#include "memory.hpp"
#include "status.hpp"

#include <type_traits>

namespace facemask {
namespace graph {

using kernels::View;

enum class OpKind : uint8_t { conv3x3s1, conv3x3s2, dwconv3x3s1, dwconv3x3s2, pwconv1x1, upsample_add };

// Where an op runs when a plan splits the graph in two passes (make_plan's `passes` = 2), to
// spend arithmetic on memory: a deferred branch whose inputs would otherwise wait many rows
// (the FPN's stride-8 lateral, waiting for the stride-16/32 rows) runs in a second pass,
// after the first has finished what it waits for; the prefix it reads is computed again.
enum class Branch : uint8_t {
    main,      // the first pass
    prefix,    // both passes (recomputed in the second)
    deferred,  // the second pass
};
// Fixed capacities (the RetinaFace graph has 39 ops and 32 tensors, the classifier 14 and 14,
// with each depthwise-separable block one op; 52/45 and 27/27 with its two ops unfused):
// small, because a plan holds a record per tensor and a microcontroller keeps its plans in RAM.
constexpr int kMaxOps = 64;
constexpr int kMaxTensors = 48;
constexpr int kMaxLevels = 8;  // spatial resolutions: level k is the input downsampled k times

// A layer's weights as the blob stores them: float32, or float16 (scalar builds read those in
// place; SIMD builds widen them when they pack). At most one of the two is set.
struct Weights {
    const float* f32 = nullptr;
    const uint16_t* f16 = nullptr;
};

struct Op {
    OpKind kind = OpKind::pwconv1x1;
    int8_t in = -1, out = -1;   // tensor ids (upsample_add: in = coarse, out = fine, updated)
    int16_t out_offset = 0;     // first channel of `out` this op writes (concat in place)
    int16_t cout = 0;           // channels this op writes
    float slope = 1.0f;         // epilogue: y = max(x, x * slope)
    Branch branch = Branch::main;
    int8_t phase = 0;           // Winograd: its tiles start at rows 4k + phase (assign_phases)
    Weights w;                  // weights in the active kernels' layout
    const float* b = nullptr;
    const float* wino = nullptr;  // conv3x3s1 only, SIMD builds: Winograd weights (pack_wino);
                                  // the executor then calls it in whole 4-row tiles
    // A depthwise op followed by its block's pointwise convolution (then_pw): `out` is the
    // pointwise output. Each depthwise row goes to the thread's scratch and the pointwise
    // kernel takes it from there (run_dw_then_pw), so the intermediate tensor has no buffer, its
    // row never leaves L1, and a thread split needs one barrier for the pair instead of two.
    // The same kernels in the same order: bit for bit the two ops' result.
    bool then_pw = false;
    Weights w2;                   // the pointwise weights and bias, in the active layout
    const float* b2 = nullptr;
    float slope2 = 1.0f;
};

// Output rows an op computes best in multiples of (its calls start and end on tile boundaries).
inline int tile_rows(const Op& o) { return o.wino ? 4 : 1; }

// The last tile boundary of op o at or below row n (boundaries: 0, then phase + tile * k; the
// caller handles the tensor's end, which is one too).
inline int tile_floor(const Op& o, int n) {
    const int tile = tile_rows(o), ph = o.wino ? o.phase : 0;
    return n < ph ? 0 : ph + (n - ph) / tile * tile;
}

// The first tile boundary of op o above row y.
inline int tile_next(const Op& o, int y) {
    const int ph = o.wino ? o.phase : 0;
    return y < ph ? ph : tile_floor(o, y) + tile_rows(o);
}

constexpr int kMaxWriters = 4;  // ops writing one tensor (the SSH concatenation has 3)
constexpr int kMaxReaders = 4;  // ops reading one tensor

struct TensorDef {
    int8_t level = 0;
    int16_t channels = 0;
    bool is_output = false;     // its rows go to the caller's sink
    int8_t n_writers = 0, n_readers = 0;
    int8_t writers[kMaxWriters] = {};  // op indices, in graph order
    int8_t readers[kMaxReaders] = {};  // op indices reading it (upsample_add also reads its output)
};

struct Graph {
    Op ops[kMaxOps];
    int n_ops = 0;
    TensorDef tensors[kMaxTensors];
    int n_tensors = 0;
    int input = -1;
    bool overflow = false;      // a builder asked for more than the fixed capacity

    int add_tensor(int level, int channels, bool is_output = false) {
        if (n_tensors >= kMaxTensors || level >= kMaxLevels) {
            overflow = true;
            return 0;
        }
        TensorDef& t = tensors[n_tensors];
        t.level = int8_t(level);
        t.channels = int16_t(channels);
        t.is_output = is_output;
        return n_tensors++;
    }

    void add_op(OpKind kind, int in, int out, Weights w, const float* b, float slope, int out_offset = 0,
                int cout = -1) {
        if (n_ops >= kMaxOps) {
            overflow = true;
            return;
        }
        Op& o = ops[n_ops];
        o = Op();  // a slot an overflowing call left half written starts afresh too
        o.kind = kind;
        o.in = int8_t(in);
        o.out = int8_t(out);
        o.w = w;
        o.b = b;
        o.slope = slope;
        o.out_offset = int16_t(out_offset);
        o.cout = int16_t(cout < 0 ? tensors[out].channels : cout);
        TensorDef& src = tensors[in];
        TensorDef& dst = tensors[out];
        if (src.n_readers >= kMaxReaders || dst.n_writers >= kMaxWriters ||
            (kind == OpKind::upsample_add && dst.n_readers >= kMaxReaders)) {
            overflow = true;
            return;
        }
        src.readers[src.n_readers++] = int8_t(n_ops);
        if (kind == OpKind::upsample_add) dst.readers[dst.n_readers++] = int8_t(n_ops);
        dst.writers[dst.n_writers++] = int8_t(n_ops);
        ++n_ops;
    }

    // Makes depthwise op k a fused block (Op::then_pw): the pointwise convolution w, b, slope
    // follows it, and k's output tensor becomes the pointwise output. No-op when op k is not
    // there (the graph overflowed while adding it).
    void fuse_pointwise(int k, Weights w, const float* b, float slope) {
        if (k < 0 || k >= n_ops) return;
        Op& o = ops[k];
        o.then_pw = true;
        o.w2 = w;
        o.b2 = b;
        o.slope2 = slope;
    }

    // Lines up the tiles of chained Winograd convolutions (winograd.hpp): an op whose input
    // has one writer, a Winograd op at the same level, starts its tiles one row before that
    // writer's, so its next tile needs exactly the rows of the writer's last one (a row of each
    // tensor waits instead of up to four). The others keep the phase their builder gave (0
    // unless measured otherwise). Called once the ops are all there; the phases are part of
    // the graph, so every plan (band, threads) computes the same rows the same way.
    void assign_phases() {
        for (int k = 0; k < n_ops; ++k) {
            Op& o = ops[k];
            if (!o.wino) {
                o.phase = 0;
                continue;
            }
            const TensorDef& src = tensors[o.in];
            if (src.n_writers != 1) continue;
            const Op& w = ops[src.writers[0]];
            if (w.wino && tensors[w.out].level == tensors[o.out].level) o.phase = int8_t((w.phase + 3) % 4);
        }
    }
};

// Floats of per-thread scratch op o's kernel needs at an output width of `out_w` pixels:
// Winograd's transformed tiles, or a fused block's depthwise row (act_t values, and 64 more as
// slack, as the arena keeps after its last buffer).
inline size_t scratch_floats(const Graph& g, const Op& o, int out_w) {
    if (o.then_pw) {
        const size_t values = size_t(out_w) * size_t(g.tensors[o.in].channels) + 64;
        return (values * sizeof(kernels::act_t) + sizeof(float) - 1) / sizeof(float);
    }
#if FACEMASK_SIMD
    if (o.wino) return kernels::active::wino_scratch_floats(g.tensors[o.in].channels, o.cout);
#endif
    (void)g, (void)o, (void)out_w;
    return 0;
}

// One weighted kernel call of the active kernel set, for weights of type W. `scratch`: the
// calling thread's scratch_floats(o) floats.
template <class W>
inline void run_weighted(const Op& o, const View& in, const View& out, const W* w, int y0, int y1, float* scratch) {
    namespace K = kernels::active;
    (void)scratch;  // only Winograd (SIMD builds) uses it
    switch (o.kind) {
        case OpKind::conv3x3s1:
#if FACEMASK_SIMD
            if constexpr (std::is_same<W, float>::value)
                if (o.wino) {
                    K::conv3x3s1_winograd(in, out, o.wino, w, o.b, o.slope, y0, y1, scratch, o.phase);
                    break;
                }
#endif
            K::conv3x3s1(in, out, w, o.b, o.slope, y0, y1);
            break;
        case OpKind::conv3x3s2: K::conv3x3s2(in, out, w, o.b, o.slope, y0, y1); break;
        case OpKind::dwconv3x3s1: K::dwconv3x3s1(in, out, w, o.b, o.slope, y0, y1); break;
        case OpKind::dwconv3x3s2: K::dwconv3x3s2(in, out, w, o.b, o.slope, y0, y1); break;
        case OpKind::pwconv1x1: K::pwconv1x1(in, out, w, o.b, o.slope, y0, y1); break;
        case OpKind::upsample_add: break;
    }
}

// A fused block (Op::then_pw) on output rows [y0, y1): row by row, the depthwise row into
// `scratch` (a one-row view as wide as `out`), then the pointwise row from it. W: the
// depthwise weights' type, W2 the pointwise ones'.
template <class W, class W2>
inline void run_dw_then_pw(const Op& o, const View& in, const View& out, const W* w, const W2* w2, int y0, int y1,
                           float* scratch) {
    namespace K = kernels::active;
    View mid;
    mid.data = reinterpret_cast<kernels::act_t*>(scratch);
    mid.h = out.h;
    mid.w = out.w;
    mid.c = in.c;
    mid.px = in.c;
    mid.row = ptrdiff_t(out.w) * in.c;
    mid.ring = 1;  // every row y is the one row of scratch
    for (int y = y0; y < y1; ++y) {
        if (o.kind == OpKind::dwconv3x3s1)
            K::dwconv3x3s1(in, mid, w, o.b, o.slope, y, y + 1);
        else
            K::dwconv3x3s2(in, mid, w, o.b, o.slope, y, y + 1);
        K::pwconv1x1(mid, out, w2, o.b2, o.slope2, y, y + 1);
    }
}

// Packs weights for the active kernels. Used twice by a network builder: first to measure
// (base == nullptr), then to fill one allocation. Scalar builds use the blob in place, float16
// included; SIMD builds widen float16 weights into `scratch` (measured as `scratch_used`,
// needed only during the load) before packing them.
struct Packer {
    float* base = nullptr;
    size_t used = 0;  // floats
    float* scratch = nullptr;
    size_t scratch_used = 0;  // floats: the largest float16 tensor
    bool borrows = false;     // the graph points into the blob (scalar builds): it must stay loaded

    static size_t round16(size_t n) { return (n + 15) / 16 * 16; }  // keep 64-byte alignment

    void conv(Weights w, const float* b, int cout, int taps, int cin, Weights* wp, const float** bp) {
#if FACEMASK_SIMD
        const size_t nw = round16(kernels::active::conv_packed_floats(cout, taps, cin));
        const size_t nb = round16(kernels::active::conv_bias_floats(cout));
        if (base) {
            kernels::active::pack_conv(widen(w, size_t(cout) * size_t(taps) * size_t(cin)), b, cout, taps, cin,
                                     base + used, base + used + nw);
            *wp = Weights{base + used, nullptr};
            *bp = base + used + nw;
        } else {
            note(w, size_t(cout) * size_t(taps) * size_t(cin));
        }
        used += nw + nb;
#else
        (void)cout, (void)taps, (void)cin;
        *wp = w;
        *bp = b;
        borrows = true;
#endif
    }

    // Winograd weights for a dense 3x3 stride-1 convolution w [cout][3][3][cin], when the
    // rule picks Winograd for it: *up (nullptr when not). The rule (tools/kernel_bench, Zen 4
    // AVX-512, 640x480): F(4x4, 3x3) beat the direct kernel on every RetinaFace layer, 16 to 64
    // channels, maps 80x60 down to 20x15 (2.2-4.4x on 64 input channels, 1.3-2.8x on 16);
    // fewer than 16 channels were not measured and stay direct. SIMD builds only (the scalar
    // and float16-in-place builds keep the blob's weights). `winograd`: -1 the rule, 0 never,
    // 1 always (tests, A/B runs).
    int winograd = -1;
    // Whether builders fuse each depthwise-separable block into one op (Op::then_pw).
    bool fuse_blocks = FACEMASK_FUSE_BLOCKS != 0;
    static bool winograd_pays(int cout, int cin) { return cin >= 16 && cout >= 16; }

    void wino(Weights w, int cout, int cin, const float** up) {
        *up = nullptr;
#if FACEMASK_SIMD
        if (winograd == 0 || (winograd < 0 && !winograd_pays(cout, cin))) return;
        const size_t n = round16(kernels::active::wino_packed_floats(cout, cin));
        if (base) {
            kernels::active::pack_wino(widen(w, size_t(cout) * 9 * size_t(cin)), cout, cin, base + used);
            *up = base + used;
        } else {
            note(w, size_t(cout) * 9 * size_t(cin));
        }
        used += n;
#else
        (void)w, (void)cout, (void)cin;
#endif
    }

    void dw(Weights w, const float* b, int c, Weights* wp, const float** bp) {
#if FACEMASK_SIMD
        const size_t nw = round16(kernels::active::dw_packed_floats(c));
        const size_t nb = round16(kernels::active::dw_bias_floats(c));
        if (base) {
            kernels::active::pack_dw(widen(w, size_t(9) * size_t(c)), b, c, base + used, base + used + nw);
            *wp = Weights{base + used, nullptr};
            *bp = base + used + nw;
        } else {
            note(w, size_t(9) * size_t(c));
        }
        used += nw + nb;
#else
        (void)c;
        *wp = w;
        *bp = b;
        borrows = true;
#endif
    }

private:
    void note(Weights w, size_t n) {
        if (w.f16 && n > scratch_used) scratch_used = n;
    }
    const float* widen(Weights w, size_t n) {
        if (!w.f16) return w.f32;
        FACEMASK_ASSERT(scratch != nullptr && n <= scratch_used);
        for (size_t i = 0; i < n; ++i) scratch[i] = kernels::half_to_float(w.f16[i]);
        return scratch;
    }
};

}  // namespace graph
}  // namespace facemask
