// facemask/kernels/kernels.hpp — picks the kernel set of this build at compile time.
// `kernels::active` is `kernels::simd` when xsimd found a SIMD ISA (and FACEMASK_NO_SIMD is not
// set), else `kernels::scalar`. With FACEMASK_DISPATCH (x86-64 programs that link the per-ISA
// units, dispatch.hpp) it is instead a set of forwarders to the kernels chosen at start-up.
#pragma once
#include "scalar.hpp"
#include "simd.hpp"
#if defined(FACEMASK_DISPATCH)
#include "dispatch.hpp"
#endif

namespace facemask {
namespace kernels {

#if defined(FACEMASK_DISPATCH)
constexpr bool kPackedWeights = true;  // the scalar set of the dispatch copies to float32
#elif FACEMASK_SIMD
namespace active = simd;
constexpr bool kPackedWeights = true;
#else
namespace active = scalar;
constexpr bool kPackedWeights = false;
#endif

}  // namespace kernels
}  // namespace facemask
