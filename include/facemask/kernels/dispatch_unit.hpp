// facemask/kernels/dispatch_unit.hpp — the body of one runtime-dispatch unit (dispatch.hpp).
//
// A translation unit defines FACEMASK_DISPATCH_UNIT to avx512, avx2, sse41 or sse2, is compiled
// with that unit's flags (see dispatch.hpp), and includes this header, nothing else. It defines
// the unit's KernelTable as a constant (no code runs before the CPU was checked); the sse2 unit
// also defines the scalar table and the choice. Everything a unit instantiates lives in the
// inline namespace of its ISA (config.hpp: FACEMASK_ISA_TAG), so no two units share a symbol
// (tests/dispatch/check_units.sh verifies that on the object files).
#pragma once
#ifndef FACEMASK_DISPATCH_UNIT
#error "facemask: define FACEMASK_DISPATCH_UNIT (avx512, avx2, sse41 or sse2) before including dispatch_unit.hpp"
#endif
#ifndef FACEMASK_DISPATCH
#define FACEMASK_DISPATCH 1
#endif
#include "dispatch.hpp"

#if !FACEMASK_SIMD
#error "facemask: a dispatch unit needs xsimd and its ISA flags"
#endif

#define FACEMASK_DISPATCH_avx512 4
#define FACEMASK_DISPATCH_avx2 3
#define FACEMASK_DISPATCH_sse41 2
#define FACEMASK_DISPATCH_sse2 1
#define FACEMASK_DISPATCH_CAT2(a, b) a##b
#define FACEMASK_DISPATCH_CAT(a, b) FACEMASK_DISPATCH_CAT2(a, b)
#define FACEMASK_DISPATCH_ID FACEMASK_DISPATCH_CAT(FACEMASK_DISPATCH_, FACEMASK_DISPATCH_UNIT)

// The flags must give the unit its ISA (a unit built for less would claim more than it runs).
#if FACEMASK_DISPATCH_ID == 4 && !defined(__AVX512BW__)
#error "facemask: the avx512 dispatch unit needs -mavx512f -mavx512cd -mavx512dq -mavx512bw -mavx512vl -mfma"
#elif FACEMASK_DISPATCH_ID == 3 && (!defined(__AVX2__) || !defined(__FMA__) || defined(__AVX512F__))
#error "facemask: the avx2 dispatch unit needs -mavx2 -mfma (and no AVX-512)"
#elif FACEMASK_DISPATCH_ID == 2 && (!defined(__SSE4_1__) || defined(__AVX__))
#error "facemask: the sse41 dispatch unit needs -msse4.1 (and no AVX)"
#elif FACEMASK_DISPATCH_ID == 1 && (defined(__SSE3__) || !defined(__SSE2__))
#error "facemask: the sse2 dispatch unit is compiled for the x86-64 baseline (no -m flags)"
#endif

namespace facemask {
namespace kernels {

namespace simd {
namespace unit {  // (inside the ISA's inline namespace)
inline int conv_group(int cout) { return nr_for(cout) * V; }
inline void pack_wino_f32(const float* w, int cout, int cin, float* up) { simd::pack_wino(w, cout, cin, up); }
constexpr KernelTable make_table(Isa isa) {
    return KernelTable{isa,
                       xsimd::default_arch::name(),
                       V,
                       &simd::conv3x3s1,
                       &simd::conv3x3s2,
                       &simd::dwconv3x3s1,
                       &simd::dwconv3x3s2,
                       &simd::pwconv1x1,
                       &simd::upsample_nearest_add,
                       &simd::conv_packed_floats,
                       &simd::conv_bias_floats,
                       &simd::pack_conv,
                       &simd::dw_packed_floats,
                       &simd::dw_bias_floats,
                       &simd::pack_dw,
                       &conv_group,
                       &simd::wino_packed_floats,
                       &pack_wino_f32,
                       &simd::wino_scratch_floats,
                       &simd::conv3x3s1_winograd};
}
}  // namespace unit
}  // namespace simd

namespace dispatch {
extern const KernelTable FACEMASK_DISPATCH_CAT(kTable_, FACEMASK_DISPATCH_UNIT);
const KernelTable FACEMASK_DISPATCH_CAT(kTable_, FACEMASK_DISPATCH_UNIT) =
    simd::unit::make_table(Isa(FACEMASK_DISPATCH_ID));
}  // namespace dispatch

#if FACEMASK_DISPATCH_ID == 1
// ---- the scalar set, and the choice (x86-64 baseline code) -------------------------------

namespace scalar {
namespace unit {
// The scalar kernels read weights in the blob's layouts: "packing" is a float32 copy.
inline size_t conv_floats(int cout, int taps, int cin) { return size_t(cout) * size_t(taps) * size_t(cin); }
inline size_t bias_floats(int cout) { return size_t(cout); }
inline void copy_conv(const float* w, const float* b, int cout, int taps, int cin, float* wp, float* bp) {
    std::memcpy(wp, w, conv_floats(cout, taps, cin) * sizeof(float));
    std::memcpy(bp, b, size_t(cout) * sizeof(float));
}
inline size_t dw_floats(int c) { return size_t(9) * size_t(c); }
inline void copy_dw(const float* w, const float* b, int c, float* wp, float* bp) {
    std::memcpy(wp, w, dw_floats(c) * sizeof(float));
    std::memcpy(bp, b, size_t(c) * sizeof(float));
}
inline int conv_group(int cout) { return cout; }
inline void wino_weights(const float* w, int cout, int cin, float* u) { scalar::wino_transform_weights(w, cout, cin, u); }
inline size_t no_scratch(int, int) { return 0; }
inline void winograd(const View& in, const View& out, const float* u, const float* w, const float* b, float slope,
                     int y0, int y1, float*, int phase) {
    scalar::conv3x3s1_winograd(in, out, u, w, b, slope, y0, y1, phase);
}
constexpr KernelTable make_table() {
    return KernelTable{Isa::scalar,
                       "scalar",
                       1,
                       &scalar::conv3x3s1<float>,
                       &scalar::conv3x3s2<float>,
                       &scalar::dwconv3x3s1<float>,
                       &scalar::dwconv3x3s2<float>,
                       &scalar::pwconv1x1<float>,
                       &scalar::upsample_nearest_add,
                       &conv_floats,
                       &bias_floats,
                       &copy_conv,
                       &dw_floats,
                       &bias_floats,
                       &copy_dw,
                       &conv_group,
                       &scalar::wino_weight_floats,
                       &wino_weights,
                       &no_scratch,
                       &winograd};
}
}  // namespace unit
}  // namespace scalar

namespace dispatch {

extern const KernelTable kTable_scalar;
const KernelTable kTable_scalar = scalar::unit::make_table();
extern const KernelTable kTable_sse41;
extern const KernelTable kTable_avx2;
extern const KernelTable kTable_avx512;

bool cpu_supports(Isa isa) {
    __builtin_cpu_init();
    switch (isa) {
        case Isa::scalar: return true;
        case Isa::sse2: return __builtin_cpu_supports("sse2");
        case Isa::sse41: return __builtin_cpu_supports("sse4.1");
        case Isa::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        case Isa::avx512:
            return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
                   __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
                   __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
    }
    return false;
}

const KernelTable& table_for(Isa isa) {
    switch (isa) {
        case Isa::scalar: return kTable_scalar;
        case Isa::sse2: return kTable_sse2;
        case Isa::sse41: return kTable_sse41;
        case Isa::avx2: return kTable_avx2;
        case Isa::avx512: return kTable_avx512;
    }
    return kTable_scalar;
}

bool choose(const char* cap, Isa* isa) {
    int top = kIsaCount - 1;
    bool known = true;
    if (cap && *cap) {
        known = false;
        for (int i = 0; i < kIsaCount; ++i)
            if (std::strcmp(cap, isa_key(Isa(i))) == 0) top = i, known = true;
    }
    int best = 0;
    for (int i = 1; i <= top; ++i)
        if (cpu_supports(Isa(i))) best = i;
    *isa = Isa(best);
    return known;
}

const KernelTable& table() {
    static const KernelTable* const chosen = [] {
        const char* cap = std::getenv("FACEMASK_ISA");
        Isa isa;
        if (!choose(cap, &isa))
            std::fprintf(stderr, "facemask: FACEMASK_ISA=%s is not one of avx512, avx2, sse41, sse2, scalar; using %s\n",
                         cap, isa_key(isa));
        return &table_for(isa);
    }();
    return *chosen;
}

const char* active_name() { return table().name; }

}  // namespace dispatch
#endif  // sse2 unit

}  // namespace kernels
}  // namespace facemask
