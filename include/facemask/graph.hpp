// facemask/graph.hpp — a network as a fixed list of kernel calls, the memory plan for one input
// size, and the executor.
//
// The graph is built once at load (no allocation: fixed-size arrays). For each input size a
// Plan gives every activation tensor its place in one arena: tensors whose lifetimes do not
// overlap share memory (greedy by size, as TFLite's planner does), so a forward pass never
// allocates. The executor splits each kernel's output rows across OpenMP threads inside one
// parallel region.
#pragma once
#include "kernels/kernels.hpp"
#include "memory.hpp"
#include "status.hpp"

namespace facemask {
namespace graph {

using kernels::View;

enum class OpKind : uint8_t { conv3x3s1, conv3x3s2, dwconv3x3s1, dwconv3x3s2, pwconv1x1, upsample_add };

constexpr int kMaxOps = 96;
constexpr int kMaxTensors = 64;
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
    bool first_write = false;   // this op is the first to write `out`: it zeroes the border
    float slope = 1.0f;         // epilogue: y = max(x, x * slope)
    Weights w;                  // weights in the active kernels' layout
    const float* b = nullptr;
};

struct TensorDef {
    int8_t level = 0;
    int16_t channels = 0;
    bool is_output = false;     // kept alive to the end of the pass
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
        o.kind = kind;
        o.in = int8_t(in);
        o.out = int8_t(out);
        o.w = w;
        o.b = b;
        o.slope = slope;
        o.out_offset = int16_t(out_offset);
        o.cout = int16_t(cout < 0 ? tensors[out].channels : cout);
        o.first_write = true;
        for (int i = 0; i < n_ops; ++i)
            if (ops[i].out == out) o.first_write = false;
        ++n_ops;
    }
};

struct TensorPlan {
    int h = 0, w = 0;
    size_t offset = 0, bytes = 0;
    int first = 0, last = 0;  // op indices of first write and last use
};

// Where every tensor lives for one input size.
struct Plan {
    int width = 0, height = 0;
    int level_h[kMaxLevels] = {}, level_w[kMaxLevels] = {};
    TensorPlan t[kMaxTensors];
    size_t arena_bytes = 0;
};

// Bytes after the last tensor that vector loads may touch.
constexpr size_t kArenaSlack = 256;

inline size_t tensor_bytes(int h, int w, int c) {
    return align_up(size_t(h + 2) * size_t(w + 2) * size_t(c) * sizeof(float));
}

inline Plan make_plan(const Graph& g, int width, int height) {
    Plan p;
    p.width = width;
    p.height = height;
    p.level_h[0] = height;
    p.level_w[0] = width;
    for (int k = 1; k < kMaxLevels; ++k) {
        p.level_h[k] = kernels::conv_out(p.level_h[k - 1], 2);
        p.level_w[k] = kernels::conv_out(p.level_w[k - 1], 2);
    }
    for (int i = 0; i < g.n_tensors; ++i) {
        TensorPlan& t = p.t[i];
        t.h = p.level_h[g.tensors[i].level];
        t.w = p.level_w[g.tensors[i].level];
        t.bytes = tensor_bytes(t.h, t.w, g.tensors[i].channels);
        t.first = i == g.input ? -1 : g.n_ops;
        t.last = g.tensors[i].is_output ? g.n_ops : -1;
    }
    for (int k = 0; k < g.n_ops; ++k) {
        const Op& o = g.ops[k];
        TensorPlan& out = p.t[o.out];
        if (k < out.first) out.first = k;
        if (k > out.last) out.last = k;
        if (k > p.t[o.in].last) p.t[o.in].last = k;
    }
    // Greedy by size: biggest first, each at the lowest offset free during its lifetime.
    int order[kMaxTensors];
    for (int i = 0; i < g.n_tensors; ++i) order[i] = i;
    for (int i = 1; i < g.n_tensors; ++i)
        for (int j = i; j > 0 && p.t[order[j]].bytes > p.t[order[j - 1]].bytes; --j) {
            int tmp = order[j];
            order[j] = order[j - 1];
            order[j - 1] = tmp;
        }
    size_t end = 0;
    for (int i = 0; i < g.n_tensors; ++i) {
        TensorPlan& t = p.t[order[i]];
        size_t offset = 0;
        for (bool moved = true; moved;) {  // bump past every live, overlapping placed tensor
            moved = false;
            for (int j = 0; j < i; ++j) {
                const TensorPlan& u = p.t[order[j]];
                bool live = t.first <= u.last && u.first <= t.last;
                bool overlap = offset < u.offset + u.bytes && u.offset < offset + t.bytes;
                if (live && overlap) {
                    offset = u.offset + u.bytes;
                    moved = true;
                }
            }
        }
        t.offset = offset;
        if (offset + t.bytes > end) end = offset + t.bytes;
    }
    p.arena_bytes = end + kArenaSlack;
    return p;
}

// The view of tensor `id` (all channels) in an arena laid out by `p`.
inline View tensor_view(const Graph& g, const Plan& p, int id, unsigned char* arena) {
    const TensorPlan& t = p.t[id];
    View v;
    v.h = t.h;
    v.w = t.w;
    v.c = g.tensors[id].channels;
    v.px = v.c;
    v.row = ptrdiff_t(t.w + 2) * v.c;
    v.data = reinterpret_cast<float*>(arena + t.offset) + v.row + v.px;
    return v;
}

inline void zero_border(const View& v) {
    const size_t px = size_t(v.px);
    std::memset(v.at(-1, -1), 0, size_t(v.w + 2) * px * sizeof(float));
    std::memset(v.at(v.h, -1), 0, size_t(v.w + 2) * px * sizeof(float));
    for (int y = 0; y < v.h; ++y) {
        std::memset(v.at(y, -1), 0, px * sizeof(float));
        std::memset(v.at(y, v.w), 0, px * sizeof(float));
    }
}

// One weighted kernel call of the active kernel set, for weights of type W.
template <class W>
inline void run_weighted(const Op& o, const View& in, const View& out, const W* w, int y0, int y1) {
    namespace K = kernels::active;
    switch (o.kind) {
        case OpKind::conv3x3s1: K::conv3x3s1(in, out, w, o.b, o.slope, y0, y1); break;
        case OpKind::conv3x3s2: K::conv3x3s2(in, out, w, o.b, o.slope, y0, y1); break;
        case OpKind::dwconv3x3s1: K::dwconv3x3s1(in, out, w, o.b, o.slope, y0, y1); break;
        case OpKind::dwconv3x3s2: K::dwconv3x3s2(in, out, w, o.b, o.slope, y0, y1); break;
        case OpKind::pwconv1x1: K::pwconv1x1(in, out, w, o.b, o.slope, y0, y1); break;
        case OpKind::upsample_add: break;
    }
}

// Runs op k on output rows [part * h / parts, (part + 1) * h / parts).
inline void run_op(const Graph& g, const Plan& p, unsigned char* arena, int k, int part, int parts) {
    const Op& o = g.ops[k];
    const View in = tensor_view(g, p, o.in, arena);
    const View full = tensor_view(g, p, o.out, arena);
    View out = full;
    out.data += o.out_offset;
    out.c = o.cout;
    if (o.first_write && part == 0) zero_border(full);
    const int y0 = int(int64_t(out.h) * part / parts), y1 = int(int64_t(out.h) * (part + 1) / parts);
    if (y0 >= y1) return;
    if (o.kind == OpKind::upsample_add) {
        kernels::active::upsample_nearest_add(in, out, y0, y1);
        return;
    }
#if !FACEMASK_SIMD
    if (o.w.f16) {  // packed (SIMD) weights are always float32
        run_weighted(o, in, out, o.w.f16, y0, y1);
        return;
    }
#endif
    run_weighted(o, in, out, o.w.f32, y0, y1);
}

// Runs the whole graph; the input tensor must already be filled (its border is zeroed here).
inline void run(const Graph& g, const Plan& p, unsigned char* arena, int threads) {
    zero_border(tensor_view(g, p, g.input, arena));
#if FACEMASK_OPENMP
    if (threads > 1) {
#pragma omp parallel num_threads(threads)
        {
            const int part = omp_get_thread_num(), parts = omp_get_num_threads();
            for (int k = 0; k < g.n_ops; ++k) {
                run_op(g, p, arena, k, part, parts);
#pragma omp barrier
            }
        }
        return;
    }
#else
    (void)threads;
#endif
    for (int k = 0; k < g.n_ops; ++k) run_op(g, p, arena, k, 0, 1);
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

    static size_t round16(size_t n) { return (n + 15) / 16 * 16; }  // keep 64-byte alignment

    void conv(Weights w, const float* b, int cout, int taps, int cin, Weights* wp, const float** bp) {
#if FACEMASK_SIMD
        const size_t nw = round16(kernels::simd::conv_packed_floats(cout, taps, cin));
        const size_t nb = round16(kernels::simd::conv_bias_floats(cout));
        if (base) {
            kernels::simd::pack_conv(widen(w, size_t(cout) * size_t(taps) * size_t(cin)), b, cout, taps, cin,
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
#endif
    }

    void dw(Weights w, const float* b, int c, Weights* wp, const float** bp) {
#if FACEMASK_SIMD
        const size_t nw = round16(kernels::simd::dw_packed_floats(c));
        const size_t nb = round16(kernels::simd::dw_bias_floats(c));
        if (base) {
            kernels::simd::pack_dw(widen(w, size_t(9) * size_t(c)), b, c, base + used, base + used + nw);
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
