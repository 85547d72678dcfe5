// facemask/config.hpp — build configuration: version, the stb-style macros, SIMD and OpenMP
// detection. Every other facemask header includes this one first.
//
// Macros a user may define before including facemask:
//   FACEMASK_NO_SIMD     use the scalar kernels even when xsimd and a SIMD ISA are available
//   FACEMASK_DISPATCH    x86-64 only: choose the kernels at run time from CPUID (AVX-512,
//                        AVX2+FMA, SSE4.1, SSE2, scalar) instead of from the compiler flags;
//                        the program must link the per-ISA units (kernels/dispatch.hpp, CMake
//                        target facemask::dispatch). FACEMASK_ISA=avx512|avx2|sse41|sse2|scalar
//                        in the environment caps the choice.
//   FACEMASK_NO_OPENMP   never use OpenMP, even when compiled with -fopenmp (one thread)
//   FACEMASK_PTHREADS    threads without OpenMP: each Workspace keeps a team of POSIX threads
//                        (team.hpp), started on first use and joined when it is destroyed;
//                        for emscripten's -pthread builds (no OpenMP there), also native
//                        (-pthread). Takes the place of OpenMP when both are available. A
//                        thread the system refuses means fewer threads, not an error
//   FACEMASK_TEAM_SPIN   FACEMASK_PTHREADS: rounds a waiting thread spins before it sleeps
//                        (default 20000, ~0.1-1 ms)
//   FACEMASK_NO_STDIO    no file I/O at all: blobs load from memory, no picture files
//   FACEMASK_WORKSPACE_PLANS   memory plans a Workspace keeps (default 4: both passes of
//                        Scale::automatic, the classifier and one more); 2 suffices for one
//                        input size and the classifier (microcontrollers: ~2 KB each)
//   FACEMASK_BAND_ROWS_PER_THREAD  input rows a band holds per thread when several threads
//                        share a band (default 32; one thread always runs bands of 1 row).
//                        Fewer rows: less memory, more barriers (see Detector::band_for)
//   FACEMASK_FUSE_BLOCKS  1 (default): each MobileNet depthwise-separable block runs as one op,
//                        its depthwise rows handed to the pointwise kernel in scratch; 0: two
//                        ops with a tensor between them (A/B runs; the same results bit for bit)
//   FACEMASK_HALF_ACTIVATIONS  store activations as IEEE float16 (arithmetic stays float32):
//                        half the activation memory, for microcontrollers; needs the scalar
//                        kernels (FACEMASK_NO_SIMD or no SIMD ISA)
//   FACEMASK_ASSERT(x)   the assertion used by kernels (default: assert from <cassert>)
//   FACEMASK_MALLOC(n) / FACEMASK_FREE(p)   allocation hooks (define both or neither);
//                        facemask never uses new/delete or the standard containers
#pragma once

#define FACEMASK_VERSION_MAJOR 0
#define FACEMASK_VERSION_MINOR 1
#define FACEMASK_VERSION_PATCH 0
#define FACEMASK_VERSION_STRING "0.1.0"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <cmath>
#include <cstdio>   // snprintf only, unless file I/O is enabled
#include <cerrno>

#ifndef FACEMASK_WORKSPACE_PLANS
#define FACEMASK_WORKSPACE_PLANS 4
#endif
#if FACEMASK_WORKSPACE_PLANS < 1
#error "facemask: FACEMASK_WORKSPACE_PLANS must be at least 1"
#endif

#ifndef FACEMASK_BAND_ROWS_PER_THREAD
#define FACEMASK_BAND_ROWS_PER_THREAD 32
#endif
#if FACEMASK_BAND_ROWS_PER_THREAD < 1
#error "facemask: FACEMASK_BAND_ROWS_PER_THREAD must be at least 1"
#endif

#ifndef FACEMASK_FUSE_BLOCKS
#define FACEMASK_FUSE_BLOCKS 1
#endif

#ifndef FACEMASK_ASSERT
#include <cassert>
#define FACEMASK_ASSERT(x) assert(x)
#endif

#if defined(FACEMASK_MALLOC) != defined(FACEMASK_FREE)
#error "facemask: define both FACEMASK_MALLOC and FACEMASK_FREE, or neither"
#endif
#ifndef FACEMASK_MALLOC
#define FACEMASK_MALLOC(size) std::malloc(size)
#define FACEMASK_FREE(ptr) std::free(ptr)
#endif

// SIMD: xsimd picks the widest ISA the compiler targets (-mavx512bw, -mavx2 -mfma, -msse4.1,
// NEON, or emscripten's -msimd128 -msse4.1). Deliberately that includes an architecture's
// baseline: a build without ISA flags uses the SSE2 kernels on x86-64 (every x86-64 compiler
// targets SSE2, every x86-64 CPU has it) and NEON on AArch64 (tests/isa/check.sh). Where xsimd
// has no batch type (Cortex-M, wasm without -msimd128), or with FACEMASK_NO_SIMD, the scalar
// kernels are used.
#if !defined(FACEMASK_NO_SIMD) && defined(__has_include)
#if __has_include(<xsimd/xsimd.hpp>)
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#endif
#include <xsimd/xsimd.hpp>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
#if !defined(XSIMD_NO_SUPPORTED_ARCHITECTURE)
#define FACEMASK_SIMD 1
#endif
#endif
#endif
#ifndef FACEMASK_SIMD
#define FACEMASK_SIMD 0
#endif
#if defined(FACEMASK_HALF_ACTIVATIONS) && FACEMASK_SIMD
#error "facemask: FACEMASK_HALF_ACTIVATIONS needs the scalar kernels: define FACEMASK_NO_SIMD too"
#endif

// The kernels' namespaces (kernels::simd, scalar, wino) live in an inline namespace named after
// the instruction set of this translation unit. Users never see it, but a program that links
// translation units compiled for different ISAs (the runtime dispatch) then has distinct symbols
// for each ISA's copy of every kernel: otherwise the linker would keep one copy of each inline
// function, perhaps the AVX-512 one, for all of them.
#if defined(FACEMASK_ISA_TAG)
#elif !FACEMASK_SIMD
#define FACEMASK_ISA_TAG isa_scalar
#elif defined(__wasm_simd128__)
#define FACEMASK_ISA_TAG isa_wasm_simd128
#elif defined(__AVX512BW__)
#define FACEMASK_ISA_TAG isa_avx512bw
#elif defined(__AVX512F__)
#define FACEMASK_ISA_TAG isa_avx512f
#elif defined(__AVX2__) && defined(__FMA__)
#define FACEMASK_ISA_TAG isa_fma3_avx2
#elif defined(__AVX2__)
#define FACEMASK_ISA_TAG isa_avx2
#elif defined(__AVX__)
#define FACEMASK_ISA_TAG isa_avx
#elif defined(__SSE4_2__)
#define FACEMASK_ISA_TAG isa_sse4_2
#elif defined(__SSE4_1__)
#define FACEMASK_ISA_TAG isa_sse4_1
#elif defined(__SSSE3__)
#define FACEMASK_ISA_TAG isa_ssse3
#elif defined(__SSE3__)
#define FACEMASK_ISA_TAG isa_sse3
#elif defined(__SSE2__)
#define FACEMASK_ISA_TAG isa_sse2
#elif defined(__aarch64__)
#define FACEMASK_ISA_TAG isa_neon64
#elif defined(__ARM_NEON)
#define FACEMASK_ISA_TAG isa_neon
#else
#define FACEMASK_ISA_TAG isa_simd
#endif
namespace facemask {
namespace kernels {
inline namespace FACEMASK_ISA_TAG {
namespace scalar {}
namespace simd {}
namespace wino {}
}  // namespace FACEMASK_ISA_TAG
}  // namespace kernels
}  // namespace facemask

#if defined(FACEMASK_DISPATCH)
#if !(defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)))
#error "facemask: FACEMASK_DISPATCH (runtime choice of kernels) is for x86-64 with g++ or clang++"
#endif
namespace facemask {
namespace kernels {
namespace dispatch {
const char* active_name();  // defined by the dispatch units (kernels/dispatch.hpp)
}  // namespace dispatch
}  // namespace kernels
}  // namespace facemask
#endif

#if defined(FACEMASK_PTHREADS)
#define FACEMASK_TEAM 1
#else
#define FACEMASK_TEAM 0
#endif
#ifndef FACEMASK_TEAM_SPIN
#define FACEMASK_TEAM_SPIN 20000
#endif

#if defined(_OPENMP) && !defined(FACEMASK_NO_OPENMP) && !FACEMASK_TEAM
#include <omp.h>
#define FACEMASK_OPENMP 1
#else
#define FACEMASK_OPENMP 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FACEMASK_RESTRICT __restrict__
#define FACEMASK_INLINE inline __attribute__((always_inline))
#else
#define FACEMASK_RESTRICT
#define FACEMASK_INLINE inline
#endif

namespace facemask {

// The instruction set of the kernels, e.g. "avx512bw", "fma3<avx2>", "sse4.1", "scalar": the
// one the compiler flags selected, or with FACEMASK_DISPATCH the one chosen at start-up.
inline const char* simd_name() {
#if defined(FACEMASK_DISPATCH)
    return kernels::dispatch::active_name();
#elif FACEMASK_SIMD
    return xsimd::default_arch::name();
#else
    return "scalar";
#endif
}

// Whether this build can use several threads (OpenMP, or FACEMASK_PTHREADS).
constexpr bool has_threads() { return FACEMASK_OPENMP != 0 || FACEMASK_TEAM != 0; }

// How: "OpenMP", "pthreads" (FACEMASK_PTHREADS) or "one" (no threads).
constexpr const char* threads_name() { return FACEMASK_OPENMP ? "OpenMP" : FACEMASK_TEAM ? "pthreads" : "one"; }

}  // namespace facemask
