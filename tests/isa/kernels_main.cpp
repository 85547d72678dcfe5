// tests/isa/kernels_main.cpp — doctest's main for the kernel tests alone (test_kernels.cpp and
// test_dispatch.cpp), as tests/isa/run.sh cross-builds them: aarch64 NEON under qemu-user and
// wasm SIMD128 under node. No pictures, no weights: allocations go straight to malloc.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "../test_support.hpp"

#include <cstdlib>

namespace fmtest {
void* counting_malloc(size_t bytes) { return std::malloc(bytes); }
void counting_free(void* p) { std::free(p); }
size_t allocation_count() { return 0; }
}  // namespace fmtest
