// facemask/kernels/kernels.hpp — picks the kernel set of this build at compile time.
// `kernels::active` is `kernels::simd` when xsimd found a SIMD ISA (and FACEMASK_NO_SIMD is not
// set), else `kernels::scalar`. Runtime dispatch is deliberately absent: in a header-only
// library each ISA would need its own translation unit (see the README).
#pragma once
#include "scalar.hpp"
#include "simd.hpp"

namespace facemask {
namespace kernels {

#if FACEMASK_SIMD
namespace active = simd;
constexpr bool kPackedWeights = true;
#else
namespace active = scalar;
constexpr bool kPackedWeights = false;
#endif

}  // namespace kernels
}  // namespace facemask
