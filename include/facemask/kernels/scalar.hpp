// facemask/kernels/scalar.hpp — the reference kernels: plain loops, one output value at a time.
//
// They are the specification the SIMD kernels are tested against, and the kernels of builds
// without SIMD (microcontrollers, wasm without simd128, FACEMASK_NO_SIMD). They read the
// weights in the blob's own layouts and types (W = float, or uint16_t for float16 weights), so a
// scalar build uses a blob in place (zero-copy, e.g. from flash). Like every kernel: no
// allocation, no threads, no failure — callers validate.
//
// Each kernel computes output rows [y0, y1), so the caller can split rows across threads.
#pragma once
#include "view.hpp"

namespace facemask {
namespace kernels {
namespace scalar {

// Dense 3x3 convolution, padding 1, stride S, bias and activation fused.
// w: [cout][3][3][cin] (OHWI), b: [cout].
template <int S, class W>
inline void conv3x3(const View& in, const View& out, const W* w, const float* b, float slope, int y0, int y1) {
    FACEMASK_ASSERT(out.h == conv_out(in.h, S) && out.w == conv_out(in.w, S));
    FACEMASK_ASSERT(y0 >= 0 && y1 <= out.h);
    const int cin = in.c;
    for (int oy = y0; oy < y1; ++oy) {
        const act_t* rows[3] = {in.row_at(oy * S - 1), in.row_at(oy * S), in.row_at(oy * S + 1)};
        for (int ox = 0; ox < out.w; ++ox) {
            act_t* dst = out.at(oy, ox);
            for (int co = 0; co < out.c; ++co) {
                const W* wk = w + size_t(co) * 9 * cin;
                float acc = b[co];
                for (int ky = 0; ky < 3; ++ky)
                    for (int kx = 0; kx < 3; ++kx) {
                        const act_t* p = rows[ky] + (ox * S - 1 + kx) * in.px;
                        const W* q = wk + (ky * 3 + kx) * cin;
                        for (int ci = 0; ci < cin; ++ci) acc += act_load(p[ci]) * weight(q[ci]);
                    }
                dst[co] = act_store(activate(acc, slope));
            }
        }
    }
}

template <class W>
inline void conv3x3s1(const View& in, const View& out, const W* w, const float* b, float slope, int y0, int y1) {
    conv3x3<1>(in, out, w, b, slope, y0, y1);
}
template <class W>
inline void conv3x3s2(const View& in, const View& out, const W* w, const float* b, float slope, int y0, int y1) {
    conv3x3<2>(in, out, w, b, slope, y0, y1);
}

// Depthwise 3x3 convolution, padding 1, stride S. w: [3][3][c] (HWC), b: [c].
template <int S, class W>
inline void dwconv3x3(const View& in, const View& out, const W* w, const float* b, float slope, int y0, int y1) {
    FACEMASK_ASSERT(in.c == out.c);
    FACEMASK_ASSERT(out.h == conv_out(in.h, S) && out.w == conv_out(in.w, S));
    const int c = in.c;
    for (int oy = y0; oy < y1; ++oy) {
        const act_t* rows[3] = {in.row_at(oy * S - 1), in.row_at(oy * S), in.row_at(oy * S + 1)};
        for (int ox = 0; ox < out.w; ++ox) {
            act_t* dst = out.at(oy, ox);
            for (int ch = 0; ch < c; ++ch) {
                float acc = b[ch];
                for (int ky = 0; ky < 3; ++ky)
                    for (int kx = 0; kx < 3; ++kx)
                        acc += act_load(rows[ky][(ox * S - 1 + kx) * in.px + ch]) * weight(w[(ky * 3 + kx) * c + ch]);
                dst[ch] = act_store(activate(acc, slope));
            }
        }
    }
}

template <class W>
inline void dwconv3x3s1(const View& in, const View& out, const W* w, const float* b, float slope, int y0, int y1) {
    dwconv3x3<1>(in, out, w, b, slope, y0, y1);
}
template <class W>
inline void dwconv3x3s2(const View& in, const View& out, const W* w, const float* b, float slope, int y0, int y1) {
    dwconv3x3<2>(in, out, w, b, slope, y0, y1);
}

// Pointwise (1x1, stride 1) convolution. w: [cout][cin], b: [cout].
template <class W>
inline void pwconv1x1(const View& in, const View& out, const W* w, const float* b, float slope, int y0, int y1) {
    FACEMASK_ASSERT(in.h == out.h && in.w == out.w);
    const int cin = in.c;
    for (int y = y0; y < y1; ++y) {
        const act_t* src_row = in.row_at(y);
        act_t* dst_row = out.row_at(y);
        for (int x = 0; x < out.w; ++x) {
            const act_t* src = src_row + x * in.px;
            act_t* dst = dst_row + x * out.px;
            for (int co = 0; co < out.c; ++co) {
                const W* q = w + size_t(co) * cin;
                float acc = b[co];
                for (int ci = 0; ci < cin; ++ci) acc += act_load(src[ci]) * weight(q[ci]);
                dst[co] = act_store(activate(acc, slope));
            }
        }
    }
}

// fine += nearest-neighbour upsampling of coarse to fine's exact size (not always 2x):
// source index min(floor(dst * in / out), in - 1), as PyTorch's F.interpolate(mode='nearest').
inline void upsample_nearest_add(const View& coarse, const View& fine, int y0, int y1) {
    FACEMASK_ASSERT(coarse.c == fine.c);
    for (int y = y0; y < y1; ++y) {
        const act_t* src_row = coarse.row_at(nearest_source(y, coarse.h, fine.h));
        act_t* dst_row = fine.row_at(y);
        for (int x = 0; x < fine.w; ++x) {
            const act_t* src = src_row + nearest_source(x, coarse.w, fine.w) * coarse.px;
            act_t* dst = dst_row + x * fine.px;
            for (int ch = 0; ch < fine.c; ++ch) dst[ch] = act_store(act_load(dst[ch]) + act_load(src[ch]));
        }
    }
}

// Mean over all pixels of each channel: out[c].
inline void global_avgpool(const View& in, float* out) {
    for (int ch = 0; ch < in.c; ++ch) out[ch] = 0.0f;
    for (int y = 0; y < in.h; ++y)
        for (int x = 0; x < in.w; ++x) {
            const act_t* p = in.at(y, x);
            for (int ch = 0; ch < in.c; ++ch) out[ch] += act_load(p[ch]);
        }
    const float inv = 1.0f / float(in.h * in.w);
    for (int ch = 0; ch < in.c; ++ch) out[ch] *= inv;
}

// Fully connected layer: out[o] = act(b[o] + sum_i w[o][i] * in[i]). w: [nout][nin].
inline void dense(const float* in, int nin, float* out, int nout, const float* w, const float* b, float slope) {
    for (int o = 0; o < nout; ++o) {
        const float* q = w + size_t(o) * nin;
        float acc = b[o];
        for (int i = 0; i < nin; ++i) acc += in[i] * q[i];
        out[o] = activate(acc, slope);
    }
}

}  // namespace scalar
}  // namespace kernels
}  // namespace facemask
