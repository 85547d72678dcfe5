// facemask/kernels/winograd.hpp — dense 3x3 stride-1 convolution by Winograd F(4x4, 3x3).
//
// A 4x4 block of output pixels ("tile") comes from a 6x6 input patch: the patch is transformed
// (V = Bt d B), multiplied element-wise by the transformed weights (U = G g Gt, once at load)
// and summed over input channels, and the 36 sums are transformed back (Y = At M A). That is
// 36 multiply-adds per input channel for 16 outputs instead of 144: 4x fewer, paid for by the
// transforms (adds only), which matter little once there are 16 or more channels.
//
// Row contract (the row-band executor): a call computes output rows [y0, y1). Rows inside
// whole tiles [4k + phase, 4k + phase + 4) — tiles aligned to multiples of 4 from row `phase`
// (0..3) of the tensor — go through Winograd; the others (the ends of the range, the first
// `phase` rows, the last rows of the tensor) through the direct kernel. So which rows use which
// method depends only on the rows a call covers, and an executor that calls from one tile
// boundary to another (0, phase, phase + 4, ...; executor.hpp does, for ops with Winograd
// weights) gets the same result whatever its band or thread split, bit for bit. The phase lets
// a chain of Winograd convolutions line its tiles up: a tile of rows [t, t + 4) needs input row
// t + 4, the first row of the producer's next tile unless the consumer's tiles start one row
// earlier, so each reader of a Winograd output takes phase - 1 and no tile waits for another.
//
// Columns: the last tile of a row may reach past the tensor's right border; those input
// columns read as zero and the outputs beyond the width are not stored.
//
// The scalar version is the reference (plain loops over the transform matrices, weights
// [36][cout][cin]); the SIMD version runs vectors along channels (NHWC), packs U as
// [36][group][cin][NB] like the direct kernel's groups, and works on blocks of up to
// kWinoTiles tiles of a 4-row strip at a time: input transform into scratch, 36 small GEMMs
// (the direct kernel's register tiling) whose products overwrite the inputs they are done
// with, output transform with bias and activation, so a block's transformed data stays in
// L1/L2. The scratch is the caller's (the executor plans it
// per thread: wino_scratch_floats). Like every kernel: no allocation, no threads, no failure.
#pragma once
#include "scalar.hpp"
#include "simd.hpp"

namespace facemask {
namespace kernels {

namespace wino {

// F(4x4, 3x3) (Lavin & Gray): interpolation points 0, 1, -1, 2, -2 and infinity.
constexpr float kBt[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                             {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
constexpr float kG[6][3] = {{1.0f / 4, 0, 0},
                            {-1.0f / 6, -1.0f / 6, -1.0f / 6},
                            {-1.0f / 6, 1.0f / 6, -1.0f / 6},
                            {1.0f / 24, 1.0f / 12, 1.0f / 6},
                            {1.0f / 24, -1.0f / 12, 1.0f / 6},
                            {0, 0, 1}};
constexpr float kAt[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};

// U = G g Gt of one 3x3 kernel g (g[ky * 3 + kx], taps `stride` floats apart), in double.
template <class W>
inline void transform_kernel(const W* g, size_t stride, float u[36]) {
    double t[6][3];
    for (int i = 0; i < 6; ++i)
        for (int kx = 0; kx < 3; ++kx) {
            double s = 0;
            for (int ky = 0; ky < 3; ++ky) s += double(kG[i][ky]) * double(weight(g[(ky * 3 + kx) * stride]));
            t[i][kx] = s;
        }
    for (int i = 0; i < 6; ++i)
        for (int j = 0; j < 6; ++j) {
            double s = 0;
            for (int kx = 0; kx < 3; ++kx) s += t[i][kx] * double(kG[j][kx]);
            u[i * 6 + j] = float(s);
        }
}

// Rows [t0, t1) of [y0, y1) are whole tiles aligned to 4k + phase; t0 == t1 when there are none.
inline void tile_rows(int y0, int y1, int* t0, int* t1, int phase = 0) {
    *t0 = y0 <= phase ? phase : phase + (y0 - phase + 3) / 4 * 4;
    *t1 = y1 <= phase ? phase : phase + (y1 - phase) / 4 * 4;
    if (*t1 < *t0) *t1 = *t0;
}

}  // namespace wino

// ---- scalar reference ---------------------------------------------------------------------

namespace scalar {

// Winograd weights [36][cout][cin] from w [cout][3][3][cin] (OHWI).
inline size_t wino_weight_floats(int cout, int cin) { return size_t(36) * size_t(cout) * size_t(cin); }

template <class W>
inline void wino_transform_weights(const W* w, int cout, int cin, float* u) {
    float t[36];
    for (int co = 0; co < cout; ++co)
        for (int ci = 0; ci < cin; ++ci) {
            wino::transform_kernel(w + size_t(co) * 9 * cin + ci, size_t(cin), t);
            for (int p = 0; p < 36; ++p) u[(size_t(p) * cout + co) * cin + ci] = t[p];
        }
}

// Dense 3x3, padding 1, stride 1: u from wino_transform_weights, w/b the direct kernel's
// weights and bias (for the rows outside whole tiles); tiles start at rows 4k + phase.
template <class W>
inline void conv3x3s1_winograd(const View& in, const View& out, const float* u, const W* w, const float* b,
                               float slope, int y0, int y1, int phase = 0) {
    FACEMASK_ASSERT(out.h == in.h && out.w == in.w);
    FACEMASK_ASSERT(y0 >= 0 && y1 <= out.h && phase >= 0 && phase < 4);
    int t0, t1;
    wino::tile_rows(y0, y1, &t0, &t1, phase);
    if (y0 < t0) conv3x3s1(in, out, w, b, slope, y0, t0 < y1 ? t0 : y1);
    if (t1 < y1 && t1 >= t0) conv3x3s1(in, out, w, b, slope, t1 > y0 ? t1 : y0, y1);
    const int cin = in.c, cout = out.c;
    for (int ty = t0; ty < t1; ty += 4) {
        const act_t* rows[6];
        for (int r = 0; r < 6; ++r) rows[r] = in.row_at(ty - 1 + r);
        for (int tx = 0; tx * 4 < out.w; ++tx)
            for (int co = 0; co < cout; ++co) {
                float m[36] = {};
                for (int ci = 0; ci < cin; ++ci) {
                    float d[6][6], t[6][6];
                    for (int r = 0; r < 6; ++r)
                        for (int c = 0; c < 6; ++c) {
                            const int ix = tx * 4 - 1 + c;  // -1 .. in.w are the border and the inside
                            d[r][c] = ix <= in.w ? act_load(rows[r][ix * in.px + ci]) : 0.0f;
                        }
                    for (int i = 0; i < 6; ++i)
                        for (int c = 0; c < 6; ++c) {
                            float s = 0;
                            for (int r = 0; r < 6; ++r) s += wino::kBt[i][r] * d[r][c];
                            t[i][c] = s;
                        }
                    for (int i = 0; i < 6; ++i)
                        for (int j = 0; j < 6; ++j) {
                            float s = 0;
                            for (int c = 0; c < 6; ++c) s += t[i][c] * wino::kBt[j][c];
                            m[i * 6 + j] += s * u[(size_t(i * 6 + j) * cout + co) * cin + ci];
                        }
                }
                float a[4][6];
                for (int i = 0; i < 4; ++i)
                    for (int c = 0; c < 6; ++c) {
                        float s = 0;
                        for (int r = 0; r < 6; ++r) s += wino::kAt[i][r] * m[r * 6 + c];
                        a[i][c] = s;
                    }
                for (int i = 0; i < 4; ++i)
                    for (int j = 0; j < 4 && tx * 4 + j < out.w; ++j) {
                        float s = b[co];
                        for (int c = 0; c < 6; ++c) s += a[i][c] * wino::kAt[j][c];
                        out.at(ty + i, tx * 4 + j)[co] = act_store(activate(s, slope));
                    }
            }
    }
}

}  // namespace scalar

// ---- SIMD ---------------------------------------------------------------------------------

#if FACEMASK_SIMD
// As in simd.hpp: GCC 12's AVX-512 max/min intrinsics trip -Wmaybe-uninitialized when inlined.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
namespace simd {

// Tiles per block of a strip: a multiple of the GEMM's MR (6 for 64 output channels on
// AVX-512, AVX2, SSE and NEON; 12 for 32 on AVX-512). 12 runs as fast as 16 did (fm_bench
// detect 640x480, AVX-512) with 3/4 of the scratch (216 KiB a thread at 64 -> 64 channels);
// 8 and 6 were 1-3 % slower.
constexpr int kWinoTiles = 12;

// U packed as [36][group][cin][NB] (NB = nr_for(cout) * V, zero-padded): the direct kernel's
// groups, so its bias (conv_bias_floats) serves both.
inline size_t wino_packed_floats(int cout, int cin) {
    return size_t(36) * size_t(round_up(cout, nr_for(cout) * V)) * size_t(cin);
}

template <class W>
inline void pack_wino(const W* w, int cout, int cin, float* up) {
    const int nb = nr_for(cout) * V, cp = round_up(cout, nb), groups = cp / nb;
    std::memset(up, 0, wino_packed_floats(cout, cin) * sizeof(float));
    float t[36];
    for (int co = 0; co < cout; ++co)
        for (int ci = 0; ci < cin; ++ci) {
            wino::transform_kernel(w + size_t(co) * 9 * cin + ci, size_t(cin), t);
            const int g = co / nb, j = co % nb;
            for (int p = 0; p < 36; ++p) up[((size_t(p) * groups + g) * cin + ci) * nb + j] = t[p];
        }
}

// Floats of scratch one call needs (per thread): the transformed inputs of one block of tiles,
// which their products overwrite (36 x kWinoTiles rows of the wider of the two), and, with
// several channel groups, the products of one GEMM block before they do (gemm_block).
inline size_t wino_scratch_floats(int cin, int cout) {
    const int nb = nr_for(cout) * V;
    const size_t cin_p = size_t(round_up(cin, V)), cout_p = size_t(round_up(cout, nb));
    const size_t tmp = cout_p > size_t(nb) ? size_t(kWinoTiles) * cout_p : 0;
    return size_t(36) * kWinoTiles * (cin_p > cout_p ? cin_p : cout_p) + tmp;
}

namespace detail_wino {

// Bt applied to six vectors (one column or row of a patch), in place order d0..d5 -> v0..v5.
FACEMASK_INLINE void bt6(const B* d, ptrdiff_t ds, B* v, ptrdiff_t vs) {
    const B d0 = d[0], d1 = d[ds], d2 = d[2 * ds], d3 = d[3 * ds], d4 = d[4 * ds], d5 = d[5 * ds];
    const B four(4.0f), five(5.0f), two(2.0f);
    const B a = xsimd::fnma(four, d2, d4);  // d4 - 4 d2
    const B bb = xsimd::fnma(four, d1, d3); // d3 - 4 d1
    const B c = d4 - d2;
    const B e = two * (d3 - d1);
    v[0] = xsimd::fnma(five, d2, xsimd::fma(four, d0, d4));  // 4 d0 - 5 d2 + d4
    v[vs] = a + bb;                                           // -4 d1 - 4 d2 + d3 + d4
    v[2 * vs] = a - bb;                                       // 4 d1 - 4 d2 - d3 + d4
    v[3 * vs] = c + e;                                        // -2 d1 - d2 + 2 d3 + d4
    v[4 * vs] = c - e;                                        // 2 d1 - d2 - 2 d3 + d4
    v[5 * vs] = xsimd::fnma(five, d3, xsimd::fma(four, d1, d5));  // 4 d1 - 5 d3 + d5
}

// At applied to six vectors -> four.
FACEMASK_INLINE void at6(const B* m, ptrdiff_t ms, B* o, ptrdiff_t os) {
    const B m0 = m[0], m1 = m[ms], m2 = m[2 * ms], m3 = m[3 * ms], m4 = m[4 * ms], m5 = m[5 * ms];
    const B s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
    const B two(2.0f), four(4.0f), eight(8.0f);
    o[0] = m0 + s12 + s34;
    o[os] = xsimd::fma(two, d34, d12);
    o[2 * os] = xsimd::fma(four, s34, s12);
    o[3 * os] = xsimd::fma(eight, d34, d12) + m5;
}

// Input transform of tile tx of the strip whose input rows are rows[0..5], into
// v[(p * kWinoTiles + t) * stride + c0 ...] for every channel vector c0.
inline void input_tile(const View& in, const float* const* rows, int tx, int t, float* v, int stride) {
    const int cin = in.c;
    for (int c0 = 0; c0 < cin; c0 += V) {
        const int valid = cin - c0;
        alignas(64) B col[6], tmp[6][6];  // tmp[i][c]: Bt applied down column c
        for (int c = 0; c < 6; ++c) {
            const int ix = tx * 4 - 1 + c;
            for (int r = 0; r < 6; ++r) {
                if (ix > in.w)
                    col[r] = B(0.0f);
                else if (valid >= V)
                    col[r] = B::load_unaligned(rows[r] + ix * in.px + c0);
                else
                    col[r] = load_partial(rows[r] + ix * in.px + c0, valid);
            }
            bt6(col, 1, &tmp[0][c], 6);
        }
        for (int i = 0; i < 6; ++i) {
            B row[6];
            bt6(tmp[i], 1, row, 1);
            for (int j = 0; j < 6; ++j) row[j].store_aligned(v + (size_t(i * 6 + j) * kWinoTiles + t) * stride + c0);
        }
    }
}

// One GEMM micro-tile: MR tiles (rows of src, `stride` floats apart), NR vectors of output
// channels from co0 (weights ug), into rows of dst (dst_stride floats apart). dst may be src
// itself: every load of a row comes before the stores the products make to it.
template <int MR, int NR>
FACEMASK_INLINE void gemm_tile(const float* src, int stride, const float* FACEMASK_RESTRICT ug, float* dst,
                               int dst_stride, int cin, int co0) {
    constexpr int NB = NR * V;
    B acc[MR][NR];
    FACEMASK_UNROLL
    for (int m = 0; m < MR; ++m)
        FACEMASK_UNROLL
        for (int r = 0; r < NR; ++r) acc[m][r] = B(0.0f);
    for (int ci = 0; ci < cin; ++ci, ug += NB) {
        B wv[NR];
        FACEMASK_UNROLL
        for (int r = 0; r < NR; ++r) wv[r] = B::load_aligned(ug + r * V);
        FACEMASK_UNROLL
        for (int m = 0; m < MR; ++m) {
            const B x(src[m * stride + ci]);
            FACEMASK_UNROLL
            for (int r = 0; r < NR; ++r) acc[m][r] = xsimd::fma(x, wv[r], acc[m][r]);
        }
    }
    FACEMASK_UNROLL
    for (int m = 0; m < MR; ++m)
        FACEMASK_UNROLL
        for (int r = 0; r < NR; ++r) acc[m][r].store_aligned(dst + size_t(m) * dst_stride + co0 + r * V);
}

// Tiles [t, t + MR) of transform point p (its inputs vp, its weights up_p): the products
// over the inputs, which nothing reads any more. One channel group (every RetinaFace layer
// with 16-lane vectors) writes them there at once; several go through tmp, since each group
// reads all the inputs.
template <int MR, int NR>
FACEMASK_INLINE void gemm_block(float* vp, int stride, const float* up_p, int groups, int cin, int cout_p, int t,
                                float* tmp) {
    constexpr int NB = NR * V;
    float* rows = vp + size_t(t) * stride;
    if (groups == 1) return gemm_tile<MR, NR>(rows, stride, up_p, rows, stride, cin, 0);
    for (int g = 0; g < groups; ++g) gemm_tile<MR, NR>(rows, stride, up_p + size_t(g) * cin * NB, tmp, cout_p, cin, g * NB);
    for (int m = 0; m < MR; ++m)
        std::memcpy(rows + size_t(m) * stride, tmp + size_t(m) * cout_p, size_t(cout_p) * sizeof(float));
}

// A GEMM block of exactly m tiles, 1 <= m <= M, chosen at run time.
template <int M, int NR>
FACEMASK_INLINE void gemm_block_m(int m, float* vp, int stride, const float* up_p, int groups, int cin, int cout_p,
                                  int t, float* tmp) {
    if constexpr (M > 0) {
        if (m == M) return gemm_block<M, NR>(vp, stride, up_p, groups, cin, cout_p, t, tmp);
        gemm_block_m<M - 1, NR>(m, vp, stride, up_p, groups, cin, cout_p, t, tmp);
    }
}

// The n tiles of a block at one transform point, in as few GEMM blocks of at most MR tiles as
// there can be, of sizes that differ by one at most. Why not full MR blocks and then halves:
// a block keeps m * NR accumulator chains and needs about 8 to keep the FMA units busy (as
// conv_row_tiles says), and strips of the network's widths left blocks of one or two tiles
// (20 tiles at 80 pixels with 64 channels: 6 6 | 6 1 1, the ones at half speed). Each tile's
// sums are the same whatever block computes it.
template <int MR, int NR>
FACEMASK_INLINE void gemm_point(int n, float* vp, int stride, const float* up_p, int groups, int cin, int cout_p,
                                float* tmp) {
    constexpr int M = MR < kWinoTiles ? MR : kWinoTiles;
    const int blocks = (n + M - 1) / M;
    int t = 0;
    for (int k = 0; k < blocks; ++k) {
        const int m = (n - t) / (blocks - k);  // the rest shared out evenly (larger blocks last)
        gemm_block_m<M, NR>(m, vp, stride, up_p, groups, cin, cout_p, t, tmp);
        t += m;
    }
}

// Output transform of tile t (tile column tx) into output rows oy .. oy + 3.
inline void output_tile(const View& out, float* const* dst_rows, const float* mbuf, int stride, const float* bp,
                        const B& slope, int tx, int t) {
    const int cout = out.c;
    const int cols = out.w - tx * 4 < 4 ? out.w - tx * 4 : 4;
    for (int c0 = 0; c0 < cout; c0 += V) {
        const int valid = cout - c0;
        alignas(64) B col[6], tmp[4][6];  // tmp[i][c]: At applied down column c
        for (int c = 0; c < 6; ++c) {
            for (int r = 0; r < 6; ++r) col[r] = B::load_aligned(mbuf + (size_t(r * 6 + c) * kWinoTiles + t) * stride + c0);
            at6(col, 1, &tmp[0][c], 6);
        }
        const B bias = B::load_aligned(bp + c0);
        for (int i = 0; i < 4; ++i) {
            B o[4];
            at6(tmp[i], 1, o, 1);
            float* dst = dst_rows[i] + tx * 4 * out.px + c0;
            for (int j = 0; j < cols; ++j) store(dst + j * out.px, activate(o[j] + bias, slope), valid);
        }
    }
}

template <int NR>
inline void strip(const View& in, const View& out, const float* up, const float* bp, const B& slope, int oy,
                  float* scratch) {
    constexpr int MR = mr_for(NR);
    constexpr int NB = NR * V;
    const int cin = in.c, cin_p = round_up(cin, V);
    const int groups = (out.c + NB - 1) / NB, cout_p = groups * NB;
    const int stride = cin_p > cout_p ? cin_p : cout_p;
    float* buf = scratch;  // transformed inputs, then their products in place
    float* tmp = scratch + size_t(36) * kWinoTiles * stride;
    const float* rows[6];
    for (int r = 0; r < 6; ++r) rows[r] = in.row_at(oy - 1 + r);
    float* dst_rows[4];
    for (int i = 0; i < 4; ++i) dst_rows[i] = out.row_at(oy + i);
    // Blocks of at most kWinoTiles tiles, of even sizes (20 tiles: 10 + 10, not 12 + 8), so
    // that gemm_point can cut each into even GEMM blocks too.
    const int tiles = (out.w + 3) / 4, n_blocks = (tiles + kWinoTiles - 1) / kWinoTiles;
    for (int k = 0, tb = 0; k < n_blocks; ++k) {
        const int nt = (tiles - tb) / (n_blocks - k);
        for (int t = 0; t < nt; ++t) input_tile(in, rows, tb + t, t, buf, stride);
        for (int p = 0; p < 36; ++p)
            gemm_point<MR, NR>(nt, buf + size_t(p) * kWinoTiles * stride, stride,
                               up + size_t(p) * groups * size_t(cin) * NB, groups, cin, cout_p, tmp);
        for (int t = 0; t < nt; ++t) output_tile(out, dst_rows, buf, stride, bp, slope, tb + t, t);
        tb += nt;
    }
}

}  // namespace detail_wino

// Dense 3x3, padding 1, stride 1 by Winograd. up from pack_wino; wp/bp the direct kernel's
// (pack_conv, taps 9) for the rows outside whole tiles; scratch: wino_scratch_floats(in.c,
// out.c) floats, 64-byte aligned; tiles start at rows 4k + phase.
inline void conv3x3s1_winograd(const View& in, const View& out, const float* up, const float* wp, const float* bp,
                               float slope, int y0, int y1, float* scratch, int phase = 0) {
    FACEMASK_ASSERT(out.h == in.h && out.w == in.w);
    FACEMASK_ASSERT(y0 >= 0 && y1 <= out.h && phase >= 0 && phase < 4);
    int t0, t1;
    wino::tile_rows(y0, y1, &t0, &t1, phase);
    if (y0 < t0) conv3x3s1(in, out, wp, bp, slope, y0, t0 < y1 ? t0 : y1);
    if (t1 < y1 && t1 >= t0) conv3x3s1(in, out, wp, bp, slope, t1 > y0 ? t1 : y0, y1);
    if (t0 >= t1) return;
    FACEMASK_ASSERT(scratch != nullptr);
    const B s(slope);
    for (int oy = t0; oy < t1; oy += 4) {
        switch (nr_for(out.c)) {
            case 1: detail_wino::strip<1>(in, out, up, bp, s, oy, scratch); break;
            case 2: detail_wino::strip<2>(in, out, up, bp, s, oy, scratch); break;
#if defined(__AVX512F__) || defined(__aarch64__)
            case 3: detail_wino::strip<3>(in, out, up, bp, s, oy, scratch); break;
            case 4: detail_wino::strip<4>(in, out, up, bp, s, oy, scratch); break;
#endif
            default: FACEMASK_ASSERT(false);
        }
    }
}

}  // namespace simd
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif  // FACEMASK_SIMD

}  // namespace kernels
}  // namespace facemask
