// facemask/kernels/dispatch.hpp — kernel sets as tables of functions, for the x86-64 runtime
// dispatch (FACEMASK_DISPATCH).
//
// Header-only builds (the default, and always for the single header, wasm and
// microcontrollers) take their kernels from the compiler flags: kernels.hpp names them
// `kernels::active`. A program built with FACEMASK_DISPATCH instead links five kernel sets and
// picks one at start-up:
//
//   unit      compiled with                                    kernels (xsimd arch, lanes)
//   avx512    -mavx512f -mavx512cd -mavx512dq -mavx512bw        avx512bw, 16
//             -mavx512vl -mfma
//   avx2      -mavx2 -mfma                                      fma3+avx2, 8
//   sse41     -msse4.1                                          sse4.1, 4
//   sse2      no flags (x86-64 baseline); also holds scalar     sse2, 4 / scalar, 1
//             and the choice
//
// Each unit is one translation unit that defines FACEMASK_DISPATCH_UNIT=<unit> and includes
// kernels/dispatch_unit.hpp (CMake: the facemask::dispatch library does exactly that). The
// choice is the best set the CPU supports (CPUID, with the OS's register-state check), capped
// by the environment variable FACEMASK_ISA=avx512|avx2|sse41|sse2|scalar when it is set; it is
// made once, at the first kernel call or simd_name().
//
// Every kernel has the header-only kernels' contract (simd.hpp, scalar.hpp, winograd.hpp); the
// scalar set "packs" by copying, so the same Packer code serves all five.
#pragma once
#include "scalar.hpp"
#include "simd.hpp"
#include "winograd.hpp"

namespace facemask {
namespace kernels {

enum class Isa : int { scalar = 0, sse2 = 1, sse41 = 2, avx2 = 3, avx512 = 4 };
constexpr int kIsaCount = 5;

// The FACEMASK_ISA spelling of each set.
inline const char* isa_key(Isa isa) {
    switch (isa) {
        case Isa::scalar: return "scalar";
        case Isa::sse2: return "sse2";
        case Isa::sse41: return "sse41";
        case Isa::avx2: return "avx2";
        case Isa::avx512: return "avx512";
    }
    return "?";
}

using ConvKernel = void (*)(const View& in, const View& out, const float* wp, const float* bp, float slope, int y0,
                            int y1);
using WinoKernel = void (*)(const View& in, const View& out, const float* up, const float* wp, const float* bp,
                            float slope, int y0, int y1, float* scratch, int phase);

struct KernelTable {
    Isa isa;
    const char* name;  // xsimd's name of the unit's arch ("avx512bw", "fma3+avx2", ...) or "scalar"
    int lanes;         // floats per vector in that unit (1: scalar)
    ConvKernel conv3x3s1, conv3x3s2, dwconv3x3s1, dwconv3x3s2, pwconv1x1;
    void (*upsample_nearest_add)(const View& coarse, const View& fine, int y0, int y1);
    // packing (load time), as kernels::simd's functions of the same names
    size_t (*conv_packed_floats)(int cout, int taps, int cin);
    size_t (*conv_bias_floats)(int cout);
    void (*pack_conv)(const float* w, const float* b, int cout, int taps, int cin, float* wp, float* bp);
    size_t (*dw_packed_floats)(int c);
    size_t (*dw_bias_floats)(int c);
    void (*pack_dw)(const float* w, const float* b, int c, float* wp, float* bp);
    int (*conv_group)(int cout);  // output channels per packed weight group (scalar: cout)
    // Winograd F(4x4, 3x3) for dense 3x3 stride 1 (winograd.hpp)
    size_t (*wino_packed_floats)(int cout, int cin);
    void (*pack_wino)(const float* w, int cout, int cin, float* up);
    size_t (*wino_scratch_floats)(int cin, int cout);
    WinoKernel conv3x3s1_winograd;
};

namespace dispatch {

// Defined by the dispatch units (a program with FACEMASK_DISPATCH links them).
const KernelTable& table();         // the chosen set
const char* active_name();          // table().name
bool cpu_supports(Isa isa);         // CPUID and OS support
const KernelTable& table_for(Isa isa);  // any compiled set (run it only if cpu_supports)
// The set chosen for a cap: the best one <= cap the CPU supports. `cap` as FACEMASK_ISA spells
// it; nullptr or "" for no cap; false (and *isa the uncapped choice) when it is not a known key.
bool choose(const char* cap, Isa* isa);

}  // namespace dispatch

#if defined(FACEMASK_DISPATCH)
// The kernels of the chosen set, with the header-only kernels' names: the executor and the
// weight packer call kernels::active::... either way.
namespace active {
inline void conv3x3s1(const View& in, const View& out, const float* w, const float* b, float s, int y0, int y1) {
    dispatch::table().conv3x3s1(in, out, w, b, s, y0, y1);
}
inline void conv3x3s2(const View& in, const View& out, const float* w, const float* b, float s, int y0, int y1) {
    dispatch::table().conv3x3s2(in, out, w, b, s, y0, y1);
}
inline void dwconv3x3s1(const View& in, const View& out, const float* w, const float* b, float s, int y0, int y1) {
    dispatch::table().dwconv3x3s1(in, out, w, b, s, y0, y1);
}
inline void dwconv3x3s2(const View& in, const View& out, const float* w, const float* b, float s, int y0, int y1) {
    dispatch::table().dwconv3x3s2(in, out, w, b, s, y0, y1);
}
inline void pwconv1x1(const View& in, const View& out, const float* w, const float* b, float s, int y0, int y1) {
    dispatch::table().pwconv1x1(in, out, w, b, s, y0, y1);
}
inline void upsample_nearest_add(const View& coarse, const View& fine, int y0, int y1) {
    dispatch::table().upsample_nearest_add(coarse, fine, y0, y1);
}
inline size_t conv_packed_floats(int cout, int taps, int cin) { return dispatch::table().conv_packed_floats(cout, taps, cin); }
inline size_t conv_bias_floats(int cout) { return dispatch::table().conv_bias_floats(cout); }
inline void pack_conv(const float* w, const float* b, int cout, int taps, int cin, float* wp, float* bp) {
    dispatch::table().pack_conv(w, b, cout, taps, cin, wp, bp);
}
inline size_t dw_packed_floats(int c) { return dispatch::table().dw_packed_floats(c); }
inline size_t dw_bias_floats(int c) { return dispatch::table().dw_bias_floats(c); }
inline void pack_dw(const float* w, const float* b, int c, float* wp, float* bp) {
    dispatch::table().pack_dw(w, b, c, wp, bp);
}
inline size_t wino_packed_floats(int cout, int cin) { return dispatch::table().wino_packed_floats(cout, cin); }
inline void pack_wino(const float* w, int cout, int cin, float* up) { dispatch::table().pack_wino(w, cout, cin, up); }
inline size_t wino_scratch_floats(int cin, int cout) { return dispatch::table().wino_scratch_floats(cin, cout); }
inline void conv3x3s1_winograd(const View& in, const View& out, const float* up, const float* wp, const float* bp,
                               float s, int y0, int y1, float* scratch, int phase = 0) {
    dispatch::table().conv3x3s1_winograd(in, out, up, wp, bp, s, y0, y1, scratch, phase);
}
}  // namespace active
#endif

}  // namespace kernels
}  // namespace facemask
