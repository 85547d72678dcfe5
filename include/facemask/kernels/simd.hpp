// facemask/kernels/simd.hpp — the xsimd kernels, for whichever ISA the compiler flags select
// (AVX-512, AVX2+FMA, SSE, NEON, wasm simd128 through emscripten's SSE emulation).
//
// Same contract as the scalar reference kernels (scalar.hpp), which they are tested against on
// shapes that straddle the vector width, except that dense and depthwise weights are first
// packed once at load time (pack_conv / pack_dw below).
//
// Dense and pointwise convolutions are register-blocked like a GEMM micro-kernel: a tile of
// MR output pixels x NR vectors of output channels stays in registers while the kernel walks
// taps and input channels, broadcasting one input value against NR weight vectors. NHWC makes
// that broadcast a plain scalar load, and the packed weights make the weight loads contiguous.
#pragma once
#include "view.hpp"

#if FACEMASK_SIMD

// GCC 12 reports the _mm512_undefined_ps() inside its own AVX-512 max/min and shuffle
// intrinsics as "(maybe) uninitialized" once they are inlined here; the value is never read.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace facemask {
namespace kernels {
namespace simd {

using B = xsimd::batch<float>;
constexpr int V = int(B::size);  // lanes

#if defined(__AVX512F__) || defined(__aarch64__)
constexpr int kVectorRegs = 32;
#else
constexpr int kVectorRegs = 16;
#endif

// Output-channel vectors per micro-tile, and output pixels per micro-tile: together they use
// about three quarters of the vector registers for accumulators.
constexpr int kMaxNR = kVectorRegs == 32 ? 4 : 2;
constexpr int kAccumulators = kVectorRegs == 32 ? 24 : 12;
constexpr int nr_for(int cout) { return (cout + V - 1) / V < kMaxNR ? (cout + V - 1) / V : kMaxNR; }
constexpr int mr_for(int nr) { return kAccumulators / nr; }
constexpr int round_up(int n, int m) { return (n + m - 1) / m * m; }

FACEMASK_INLINE void store_partial(float* dst, const B& v, int n) {
    alignas(64) float tmp[V];
    v.store_aligned(tmp);
    for (int i = 0; i < n; ++i) dst[i] = tmp[i];
}

FACEMASK_INLINE void store(float* dst, const B& v, int valid) {
    if (valid >= V)
        v.store_unaligned(dst);
    else if (valid > 0)
        store_partial(dst, v, valid);
}

FACEMASK_INLINE B activate(const B& x, const B& slope) { return xsimd::max(x, x * slope); }

// V bytes widened to V floats. xsimd 8.1 converts between types of different sizes one lane at
// a time, so the common ISAs get their widening instructions here.
FACEMASK_INLINE B load_bytes(const uint8_t* p) {
#if defined(__AVX512F__)
    if constexpr (V == 16) return B(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)))));
#elif defined(__AVX2__)
    if constexpr (V == 8) return B(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)))));
#elif defined(__SSE4_1__)
    if constexpr (V == 4) {
        int32_t v;
        std::memcpy(&v, p, 4);
        return B(_mm_cvtepi32_ps(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(v))));
    }
#elif defined(__SSE2__)
    if constexpr (V == 4) {
        int32_t v;
        std::memcpy(&v, p, 4);
        const __m128i zero = _mm_setzero_si128();
        return B(_mm_cvtepi32_ps(_mm_unpacklo_epi16(_mm_unpacklo_epi8(_mm_cvtsi32_si128(v), zero), zero)));
    }
#elif defined(__ARM_NEON)
    if constexpr (V == 4) {
        uint32_t v;
        std::memcpy(&v, p, 4);
        const uint16x8_t wide = vmovl_u8(vreinterpret_u8_u32(vdup_n_u32(v)));
        return B(vcvtq_f32_u32(vmovl_u16(vget_low_u16(wide))));
    }
#endif
    alignas(64) float tmp[V];
    for (int i = 0; i < V; ++i) tmp[i] = float(p[i]);
    return B::load_aligned(tmp);
}

// A register tile's loops over its accumulators, unrolled whole: GCC otherwise keeps a tile
// of 24 accumulators as a loop over a stack array (kernel_bench b1.pw: 27 % of the peak).
#if defined(__clang__)
#define FACEMASK_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define FACEMASK_UNROLL _Pragma("GCC unroll 32")
#else
#define FACEMASK_UNROLL
#endif

// ---- weight packing (load time) ----------------------------------------------------------

// Dense KxK (taps = K*K) or pointwise (taps = 1) weights [cout][taps][cin] are packed as
// groups of NB = nr_for(cout) * V output channels: [group][tap][cin][NB], zero-padded.
inline size_t conv_packed_floats(int cout, int taps, int cin) {
    const int nb = nr_for(cout) * V;
    return size_t(round_up(cout, nb)) * size_t(taps) * size_t(cin);
}
inline size_t conv_bias_floats(int cout) { return size_t(round_up(cout, nr_for(cout) * V)); }

inline void pack_conv(const float* w, const float* b, int cout, int taps, int cin, float* wp, float* bp) {
    const int nb = nr_for(cout) * V;
    std::memset(wp, 0, conv_packed_floats(cout, taps, cin) * sizeof(float));
    std::memset(bp, 0, conv_bias_floats(cout) * sizeof(float));
    for (int co = 0; co < cout; ++co) {
        const int g = co / nb, j = co % nb;
        for (int t = 0; t < taps; ++t)
            for (int ci = 0; ci < cin; ++ci)
                wp[((size_t(g) * taps + t) * cin + ci) * nb + j] = w[(size_t(co) * taps + t) * cin + ci];
        bp[co] = b[co];
    }
}

// Depthwise weights [9][c] are padded to whole vectors: [9][round_up(c, V)].
inline size_t dw_packed_floats(int c) { return size_t(9) * size_t(round_up(c, V)); }
inline size_t dw_bias_floats(int c) { return size_t(round_up(c, V)); }

inline void pack_dw(const float* w, const float* b, int c, float* wp, float* bp) {
    const int cp = round_up(c, V);
    std::memset(wp, 0, dw_packed_floats(c) * sizeof(float));
    std::memset(bp, 0, dw_bias_floats(c) * sizeof(float));
    for (int t = 0; t < 9; ++t)
        for (int ch = 0; ch < c; ++ch) wp[t * cp + ch] = w[t * c + ch];
    for (int ch = 0; ch < c; ++ch) bp[ch] = b[ch];
}

// ---- dense / pointwise convolution -------------------------------------------------------

// One micro-tile: MR pixels of output row oy starting at ox, NR vectors of output channels
// starting at channel co0 (group weights wg, bias bg).
// rows[ky]: pixel 0 of input row oy * S + ky - K / 2; dst_row: pixel 0 of output row oy.
template <int MR, int NR, int K, int S>
FACEMASK_INLINE void conv_tile(const View& in, const View& out, const float* const* rows, float* dst_row,
                               const float* FACEMASK_RESTRICT wg, const float* FACEMASK_RESTRICT bg, const B& slope,
                               int ox, int co0) {
    constexpr int NB = NR * V;
    constexpr int P = K / 2;
    const int cin = in.c;
    const ptrdiff_t step = ptrdiff_t(S) * in.px;
    B acc[MR][NR];
    FACEMASK_UNROLL
    for (int r = 0; r < NR; ++r) {
        const B bias = B::load_aligned(bg + r * V);
        FACEMASK_UNROLL
        for (int m = 0; m < MR; ++m) acc[m][r] = bias;
    }
    const float* wt = wg;
    for (int ky = 0; ky < K; ++ky)
        for (int kx = 0; kx < K; ++kx) {
            const float* FACEMASK_RESTRICT src = rows[ky] + (ox * S + kx - P) * in.px;
            for (int ci = 0; ci < cin; ++ci, wt += NB) {
                B wv[NR];
                FACEMASK_UNROLL
                for (int r = 0; r < NR; ++r) wv[r] = B::load_aligned(wt + r * V);
                FACEMASK_UNROLL
                for (int m = 0; m < MR; ++m) {
                    const B x(src[m * step + ci]);
                    FACEMASK_UNROLL
                    for (int r = 0; r < NR; ++r) acc[m][r] = xsimd::fma(x, wv[r], acc[m][r]);
                }
            }
        }
    const int valid = out.c - co0;
    FACEMASK_UNROLL
    for (int m = 0; m < MR; ++m) {
        float* dst = dst_row + (ox + m) * out.px + co0;
        FACEMASK_UNROLL
        for (int r = 0; r < NR; ++r) store(dst + r * V, activate(acc[m][r], slope), valid - r * V);
    }
}

// The rest of a row after the full tiles: tiles of 8, 4, 2 and 1 pixels, so that only a few
// tile widths are instantiated (each is a fully unrolled block).
template <int MR, int NR, int K, int S>
FACEMASK_INLINE void conv_tail(int m, const View& in, const View& out, const float* const* rows, float* dst_row,
                               const float* wg, const float* bg, const B& slope, int ox, int co0) {
    if constexpr (MR > 0) {
        for (; m >= MR; m -= MR, ox += MR) conv_tile<MR, NR, K, S>(in, out, rows, dst_row, wg, bg, slope, ox, co0);
        conv_tail<MR / 2, NR, K, S>(m, in, out, rows, dst_row, wg, bg, slope, ox, co0);
    }
}

// A tile of exactly m pixels, LO <= m <= M, chosen at run time.
template <int M, int LO, int NR, int K, int S>
inline void conv_tile_m(int m, const View& in, const View& out, const float* const* rows, float* dst_row,
                        const float* wg, const float* bg, const B& slope, int ox, int co0) {
    if constexpr (M >= LO) {
        if (m == M) return conv_tile<M, NR, K, S>(in, out, rows, dst_row, wg, bg, slope, ox, co0);
        conv_tile_m<M - 1, LO, NR, K, S>(m, in, out, rows, dst_row, wg, bg, slope, ox, co0);
    }
}

// Why a row's last pixels are not simply the leftover tile: a tile keeps MR * NR accumulator
// chains, and one FMA waits for the one before it in its chain (latency 4 on the x86 cores
// here, 2 FMA units: 8 chains keep them busy). The network's widths are 320, 160, 80, 40, 20,
// so with MR = 6 every row ended in 2 or 4 pixels, done as one-pixel tiles at a quarter of the
// units. Instead the last full tile and the leftover are split into two tiles of about equal
// width, each with at least kChains / NR pixels where MR allows; every pixel's sums are the
// same, in the same order, whatever tile computes it.
constexpr int kChains = 8;
template <int MR, int NR>
constexpr int min_tile() {
    return (kChains + NR - 1) / NR < MR / 2 ? (kChains + NR - 1) / NR : MR / 2;
}

template <int MR, int NR, int K, int S>
FACEMASK_INLINE void conv_row_tiles(const View& in, const View& out, const float* const* rows, float* dst_row,
                                    const float* wg, const float* bg, const B& slope, int co0) {
    constexpr int LO = min_tile<MR, NR>();
    const int w = out.w;
    int full = w / MR, a = w % MR, b = 0;  // full tiles, then tiles of a and b pixels
    if (a > 0 && a < LO && full > 0) {
        full -= 1;
        b = (MR + a) / 2;
        a = MR + a - b;
    }
    int ox = 0;
    for (int t = 0; t < full; ++t, ox += MR) conv_tile<MR, NR, K, S>(in, out, rows, dst_row, wg, bg, slope, ox, co0);
    if (a >= LO) {
        conv_tile_m<MR, LO, NR, K, S>(a, in, out, rows, dst_row, wg, bg, slope, ox, co0);
    } else if (a > 0) {
        conv_tail<(LO > 1 ? LO / 2 : 1), NR, K, S>(a, in, out, rows, dst_row, wg, bg, slope, ox, co0);
    }
    ox += a;
    if (b > 0) conv_tile_m<MR, LO, NR, K, S>(b, in, out, rows, dst_row, wg, bg, slope, ox, co0);
}

template <int NR, int K, int S>
inline void conv_rows(const View& in, const View& out, const float* wp, const float* bp, float slope, int y0,
                      int y1) {
    constexpr int MR = mr_for(NR);
    constexpr int NB = NR * V;
    constexpr int P = K / 2;
    const int groups = (out.c + NB - 1) / NB;
    const size_t group_floats = size_t(K * K) * size_t(in.c) * NB;
    const B s(slope);
    for (int oy = y0; oy < y1; ++oy) {
        const float* rows[K];
        for (int ky = 0; ky < K; ++ky) rows[ky] = in.row_at(oy * S + ky - P);
        float* dst_row = out.row_at(oy);
        for (int g = 0; g < groups; ++g)
            conv_row_tiles<MR, NR, K, S>(in, out, rows, dst_row, wp + g * group_floats, bp + g * NB, s, g * NB);
    }
}

#if defined(__AVX512F__)
// AVX-512, exactly 8 output channels in tight pixels (the first convolution, 3 -> 8 at stride
// 2: a tenth of the FMA peak through conv_tile, 15 % of the forward time at 640x480). The
// general tile fills half of each 16-lane vector and stores through a temporary; here one
// vector holds two neighbouring output pixels, lanes 0-7 and 8-15: the input values are
// broadcast into the two halves (one of them a masked broadcast), the 8 weights are repeated
// in both halves, and one store writes both pixels. MR2 pixel pairs a tile.
template <int MR2, int K, int S>
FACEMASK_INLINE void conv_tile_pairs(const View& in, const float* const* rows, float* dst_row,
                                     const float* FACEMASK_RESTRICT wg, const __m512 bias, const __m512 slope, int ox) {
    constexpr int NB = V;  // pack_conv's group for 8 channels: one vector, lanes 8-15 zero
    constexpr int P = K / 2;
    const int cin = in.c;
    const ptrdiff_t step = ptrdiff_t(S) * in.px;
    __m512 acc[MR2];
    for (int m = 0; m < MR2; ++m) acc[m] = bias;
    const float* wt = wg;
    for (int ky = 0; ky < K; ++ky)
        for (int kx = 0; kx < K; ++kx) {
            const float* FACEMASK_RESTRICT src = rows[ky] + (ox * S + kx - P) * in.px;
            for (int ci = 0; ci < cin; ++ci, wt += NB) {
                const __m512 w8 = _mm512_load_ps(wt);
                const __m512 w = _mm512_shuffle_f32x4(w8, w8, 0x44);  // 128-bit blocks 0 1 0 1
                for (int m = 0; m < MR2; ++m) {
                    const float* x0 = src + 2 * m * step + ci;
                    const __m512 x = _mm512_mask_broadcastss_ps(_mm512_set1_ps(x0[0]), 0xFF00, _mm_load_ss(x0 + step));
                    acc[m] = _mm512_fmadd_ps(x, w, acc[m]);
                }
            }
        }
    for (int m = 0; m < MR2; ++m)
        _mm512_storeu_ps(dst_row + (ox + 2 * m) * 8, _mm512_max_ps(acc[m], _mm512_mul_ps(acc[m], slope)));
}

template <int MR2, int K, int S>
FACEMASK_INLINE void conv_tail_pairs(int pairs, const View& in, const float* const* rows, float* dst_row,
                                     const float* wg, const __m512 bias, const __m512 slope, int ox) {
    if constexpr (MR2 > 0) {
        for (; pairs >= MR2; pairs -= MR2, ox += 2 * MR2)
            conv_tile_pairs<MR2, K, S>(in, rows, dst_row, wg, bias, slope, ox);
        conv_tail_pairs<MR2 / 2, K, S>(pairs, in, rows, dst_row, wg, bias, slope, ox);
    }
}

template <int K, int S>
inline void conv_rows_pairs(const View& in, const View& out, const float* wp, const float* bp, float slope, int y0,
                            int y1) {
    constexpr int MR2 = kAccumulators;
    constexpr int P = K / 2;
    const __m512 b8 = _mm512_load_ps(bp);
    const __m512 bias = _mm512_shuffle_f32x4(b8, b8, 0x44);
    const __m512 s = _mm512_set1_ps(slope);
    const int pairs = out.w / 2;
    for (int oy = y0; oy < y1; ++oy) {
        const float* rows[K];
        for (int ky = 0; ky < K; ++ky) rows[ky] = in.row_at(oy * S + ky - P);
        float* dst_row = out.row_at(oy);
        int ox = 0, left = pairs;
        for (; left >= MR2; left -= MR2, ox += 2 * MR2) conv_tile_pairs<MR2, K, S>(in, rows, dst_row, wp, bias, s, ox);
        conv_tail_pairs<8, K, S>(left, in, rows, dst_row, wp, bias, s, ox);
        // An odd last pixel: the general one-pixel tile (a second pixel would read past the
        // input's one-pixel border).
        if (out.w % 2) conv_tile<1, 1, K, S>(in, out, rows, dst_row, wp, bp, B(slope), out.w - 1, 0);
    }
}
// AVX-512, the first convolution exactly: 3 -> 8 channels, 3x3, stride 2, tight pixels (the
// picture's RGB in, 8 channels out). conv_rows_pairs builds each input vector from two
// broadcasts (a shuffle-port blend per FMA: a quarter of the FMA peak). Here one FMA takes two
// taps at once: for output pixel x, input row ky holds its 9 values (pixels 2x-1 .. 2x+1,
// 3 channels) contiguously, and a 64-bit broadcast (a plain load, no shuffle) of values
// (2p, 2p+1) fills the lanes [a b a b ...]; the weights interleave to match, lane 2j channel j's
// weight for a, lane 2j+1 for b. Five pairs a row cover the 9 values, the last one (7, 8) with
// a's weight zero (so no load leaves the pixels the convolution reads), 15 FMAs a pixel for 27
// taps x 8 channels. Lanes 2j and 2j+1 are added at the end (bias in the even lane).
struct C3C8Weights {
    __m512 w[3][5];
    __m512 bias;  // [b0 0 b1 0 ...]
};

inline C3C8Weights c3c8_weights(const float* wp, const float* bp) {
    // pack_conv's layout for 8 channels: [tap = ky * 3 + kx][ci][16 lanes, 8 used]
    alignas(64) float lanes[16];
    C3C8Weights r;
    for (int ky = 0; ky < 3; ++ky)
        for (int pr = 0; pr < 5; ++pr) {
            for (int half = 0; half < 2; ++half) {
                const int e = pr < 4 ? 2 * pr + half : 7 + half;  // the value of the 9 (kx * 3 + ci)
                for (int j = 0; j < 8; ++j)
                    lanes[2 * j + half] = pr == 4 && half == 0 ? 0.0f : wp[(ky * 3 + e / 3) * 3 * 16 + (e % 3) * 16 + j];
            }
            r.w[ky][pr] = _mm512_load_ps(lanes);
        }
    for (int j = 0; j < 8; ++j) lanes[2 * j] = bp[j], lanes[2 * j + 1] = 0.0f;
    r.bias = _mm512_load_ps(lanes);
    return r;
}

FACEMASK_INLINE __m512 c3c8_pair(const float* p) {
    double d;
    std::memcpy(&d, p, sizeof d);
    return _mm512_castpd_ps(_mm512_set1_pd(d));
}

// The sums of lanes (2j, 2j+1) of two pixels' accumulators, as [pixel p's 8, pixel q's 8],
// activated.
FACEMASK_INLINE __m512 c3c8_finish(__m512 p, __m512 q, __m512 slope) {
    const __m512 even = _mm512_shuffle_ps(p, q, _MM_SHUFFLE(2, 0, 2, 0));
    const __m512 odd = _mm512_shuffle_ps(p, q, _MM_SHUFFLE(3, 1, 3, 1));
    // per 128-bit block k: [p ch 2k, p ch 2k+1, q ch 2k, q ch 2k+1]
    const __m512i order = _mm512_setr_epi32(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
    const __m512 sum = _mm512_permutexvar_ps(order, _mm512_add_ps(even, odd));
    return _mm512_max_ps(sum, _mm512_mul_ps(sum, slope));
}

// M output pixels from ox (M even, or 1: the last pixel of an odd row, stored alone).
template <int M>
FACEMASK_INLINE void c3c8_tile(const float* const* rows, float* dst_row, const C3C8Weights& w, __m512 slope, int ox) {
    __m512 acc[M];
    for (int m = 0; m < M; ++m) acc[m] = w.bias;
    for (int ky = 0; ky < 3; ++ky) {
        const float* src = rows[ky] + (2 * ox - 1) * 3;
        for (int pr = 0; pr < 5; ++pr)
            for (int m = 0; m < M; ++m) acc[m] = _mm512_fmadd_ps(c3c8_pair(src + 6 * m + (pr < 4 ? 2 * pr : 7)), w.w[ky][pr], acc[m]);
    }
    if constexpr (M == 1) {
        _mm256_storeu_ps(dst_row + ox * 8, _mm512_castps512_ps256(c3c8_finish(acc[0], acc[0], slope)));
    } else {
        for (int m = 0; m < M; m += 2) _mm512_storeu_ps(dst_row + (ox + m) * 8, c3c8_finish(acc[m], acc[m + 1], slope));
    }
}

inline void conv3x3s2_c3c8_avx512(const View& in, const View& out, const float* wp, const float* bp, float slope, int y0,
                                  int y1) {
    constexpr int M = 12;  // 12 accumulators + 15 weights + temporaries in 32 registers
    const C3C8Weights w = c3c8_weights(wp, bp);
    const __m512 s = _mm512_set1_ps(slope);
    for (int oy = y0; oy < y1; ++oy) {
        const float* rows[3];
        for (int ky = 0; ky < 3; ++ky) rows[ky] = in.row_at(2 * oy + ky - 1);
        float* dst_row = out.row_at(oy);
        int ox = 0;
        for (; ox + M <= out.w; ox += M) c3c8_tile<M>(rows, dst_row, w, s, ox);
        for (; ox + 2 <= out.w; ox += 2) c3c8_tile<2>(rows, dst_row, w, s, ox);
        if (ox < out.w) c3c8_tile<1>(rows, dst_row, w, s, ox);
    }
}
#endif

template <int K, int S>
inline void conv(const View& in, const View& out, const float* wp, const float* bp, float slope, int y0, int y1) {
    FACEMASK_ASSERT(out.h == conv_out(in.h, S) && out.w == conv_out(in.w, S));
    FACEMASK_ASSERT(y0 >= 0 && y1 <= out.h);
#if defined(__AVX512F__)
    if constexpr (V == 16) {
        if (K == 3 && S == 2 && in.c == 3 && in.px == 3 && out.c == 8 && out.px == 8)
            return conv3x3s2_c3c8_avx512(in, out, wp, bp, slope, y0, y1);
        if (out.c == 8 && out.px == 8) return conv_rows_pairs<K, S>(in, out, wp, bp, slope, y0, y1);
    }
#endif
    switch (nr_for(out.c)) {
        case 1: conv_rows<1, K, S>(in, out, wp, bp, slope, y0, y1); break;
        case 2: conv_rows<2, K, S>(in, out, wp, bp, slope, y0, y1); break;
#if FACEMASK_SIMD && (defined(__AVX512F__) || defined(__aarch64__))
        case 3: conv_rows<3, K, S>(in, out, wp, bp, slope, y0, y1); break;
        case 4: conv_rows<4, K, S>(in, out, wp, bp, slope, y0, y1); break;
#endif
        default: FACEMASK_ASSERT(false);
    }
}

// Dense 3x3, padding 1. wp/bp from pack_conv(w [cout][3][3][cin], taps 9).
inline void conv3x3s1(const View& in, const View& out, const float* wp, const float* bp, float slope, int y0, int y1) {
    conv<3, 1>(in, out, wp, bp, slope, y0, y1);
}
inline void conv3x3s2(const View& in, const View& out, const float* wp, const float* bp, float slope, int y0, int y1) {
    conv<3, 2>(in, out, wp, bp, slope, y0, y1);
}
// Pointwise 1x1. wp/bp from pack_conv(w [cout][cin], taps 1).
inline void pwconv1x1(const View& in, const View& out, const float* wp, const float* bp, float slope, int y0, int y1) {
    conv<1, 1>(in, out, wp, bp, slope, y0, y1);
}

// Lambdas on a kernel's hot path: GCC may otherwise keep them as calls.
#if defined(__GNUC__) || defined(__clang__)
#define FACEMASK_LAMBDA_INLINE __attribute__((always_inline))
#else
#define FACEMASK_LAMBDA_INLINE
#endif

// ---- depthwise 3x3 -----------------------------------------------------------------------

// Vectors run along the channels. A channel tail (c not a multiple of V, e.g. 8 channels in
// 16 lanes) goes through a zero-filled copy so no load reaches past the pixel.
FACEMASK_INLINE B load_partial(const float* src, int n) {
    alignas(64) float tmp[V] = {};
    for (int i = 0; i < n; ++i) tmp[i] = src[i];
    return B::load_aligned(tmp);
}

template <bool Full>
FACEMASK_INLINE B load_channels(const float* src, int valid) {
    if constexpr (Full)
        return B::load_unaligned(src);
    else
        return load_partial(src, valid);
}

template <int S, bool Full>
FACEMASK_INLINE void dw_row(const View& in, const View& out, const B* w, const B& bias, const B& s, int oy, int c0) {
    const ptrdiff_t step = ptrdiff_t(S) * in.px;
    const float* r0 = in.at(oy * S - 1, -1) + c0;
    const float* r1 = in.at(oy * S, -1) + c0;
    const float* r2 = in.at(oy * S + 1, -1) + c0;
    float* dst = out.at(oy, 0) + c0;
    const int valid = in.c - c0;
    const ptrdiff_t p1 = in.px, p2 = 2 * in.px;
    for (int ox = 0; ox < out.w; ++ox, r0 += step, r1 += step, r2 += step, dst += out.px) {
        B acc = xsimd::fma(load_channels<Full>(r0, valid), w[0], bias);
        acc = xsimd::fma(load_channels<Full>(r0 + p1, valid), w[1], acc);
        acc = xsimd::fma(load_channels<Full>(r0 + p2, valid), w[2], acc);
        acc = xsimd::fma(load_channels<Full>(r1, valid), w[3], acc);
        acc = xsimd::fma(load_channels<Full>(r1 + p1, valid), w[4], acc);
        acc = xsimd::fma(load_channels<Full>(r1 + p2, valid), w[5], acc);
        acc = xsimd::fma(load_channels<Full>(r2, valid), w[6], acc);
        acc = xsimd::fma(load_channels<Full>(r2 + p1, valid), w[7], acc);
        acc = xsimd::fma(load_channels<Full>(r2 + p2, valid), w[8], acc);
        store(dst, activate(acc, s), valid);
    }
}

// Few channels (c divides V, e.g. 8 channels in 16 lanes), stride 1, dense pixels: one vector
// holds P = V / c neighbouring pixels, so no lane is wasted. Weights are repeated P times.
inline void dw_row_pixels(const View& in, const View& out, const float* wp, const float* bp, float slope, int oy) {
    const int c = in.c, cp = round_up(c, V), P = V / c;
    const B s(slope);
    alignas(64) float rep[10][V];
    for (int t = 0; t < 10; ++t)
        for (int i = 0; i < V; ++i) rep[t][i] = t < 9 ? wp[t * cp + i % c] : bp[i % c];
    B w[9];
    for (int t = 0; t < 9; ++t) w[t] = B::load_aligned(rep[t]);
    const B bias = B::load_aligned(rep[9]);
    const float* r0 = in.at(oy - 1, -1);
    const float* r1 = in.at(oy, -1);
    const float* r2 = in.at(oy + 1, -1);
    float* dst = out.at(oy, 0);
    // The last pixels (fewer than P) take the same vector arithmetic through zero-filled
    // copies: a pixel's result must not depend on where a row, or a column slice of it, ends.
    auto pixels = [&](auto load, int n) FACEMASK_LAMBDA_INLINE {
        B acc = xsimd::fma(load(r0), w[0], bias);
        acc = xsimd::fma(load(r0 + c), w[1], acc);
        acc = xsimd::fma(load(r0 + 2 * c), w[2], acc);
        acc = xsimd::fma(load(r1), w[3], acc);
        acc = xsimd::fma(load(r1 + c), w[4], acc);
        acc = xsimd::fma(load(r1 + 2 * c), w[5], acc);
        acc = xsimd::fma(load(r2), w[6], acc);
        acc = xsimd::fma(load(r2 + c), w[7], acc);
        acc = xsimd::fma(load(r2 + 2 * c), w[8], acc);
        store(dst, activate(acc, s), n);
    };
    int ox = 0;
    for (; ox + P <= out.w; ox += P, r0 += V, r1 += V, r2 += V, dst += V)
        pixels([](const float* p) FACEMASK_LAMBDA_INLINE { return B::load_unaligned(p); }, V);
    if (ox < out.w) {
        const int n = (out.w - ox) * c;
        pixels([n](const float* p) FACEMASK_LAMBDA_INLINE { return load_partial(p, n); }, n);
    }
}

template <int S>
inline void dwconv3x3(const View& in, const View& out, const float* wp, const float* bp, float slope, int y0, int y1) {
    FACEMASK_ASSERT(in.c == out.c);
    FACEMASK_ASSERT(out.h == conv_out(in.h, S) && out.w == conv_out(in.w, S));
    const int c = in.c, cp = round_up(c, V);
    const B s(slope);
    if (S == 1 && c < V && V % c == 0 && in.px == c && out.px == c) {
        for (int oy = y0; oy < y1; ++oy) dw_row_pixels(in, out, wp, bp, slope, oy);
        return;
    }
    for (int oy = y0; oy < y1; ++oy)
        for (int c0 = 0; c0 < c; c0 += V) {
            B w[9];
            for (int t = 0; t < 9; ++t) w[t] = B::load_aligned(wp + t * cp + c0);
            const B bias = B::load_aligned(bp + c0);
            if (c - c0 >= V)
                dw_row<S, true>(in, out, w, bias, s, oy, c0);
            else
                dw_row<S, false>(in, out, w, bias, s, oy, c0);
        }
}

inline void dwconv3x3s1(const View& in, const View& out, const float* wp, const float* bp, float slope, int y0, int y1) {
    dwconv3x3<1>(in, out, wp, bp, slope, y0, y1);
}
inline void dwconv3x3s2(const View& in, const View& out, const float* wp, const float* bp, float slope, int y0, int y1) {
    dwconv3x3<2>(in, out, wp, bp, slope, y0, y1);
}

// ---- FPN upsampling ----------------------------------------------------------------------

inline void upsample_nearest_add(const View& coarse, const View& fine, int y0, int y1) {
    FACEMASK_ASSERT(coarse.c == fine.c);
    const int c = fine.c;
    for (int y = y0; y < y1; ++y) {
        const float* src_row = coarse.row_at(nearest_source(y, coarse.h, fine.h));
        float* dst_row = fine.row_at(y);
        for (int x = 0; x < fine.w; ++x) {
            const float* src = src_row + nearest_source(x, coarse.w, fine.w) * coarse.px;
            float* dst = dst_row + x * fine.px;
            int ch = 0;
            for (; ch + V <= c; ch += V) (B::load_unaligned(dst + ch) + B::load_unaligned(src + ch)).store_unaligned(dst + ch);
            for (; ch < c; ++ch) dst[ch] += src[ch];
        }
    }
}

}  // namespace simd
}  // namespace kernels
}  // namespace facemask

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#endif  // FACEMASK_SIMD
