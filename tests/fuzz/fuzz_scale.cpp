// tests/fuzz/fuzz_scale.cpp — Scale::parse on any text: never reads past it, and what it
// accepts is in range (fuzz_parse does the same inside the whole command line, far slower).
#include "fuzz_common.hpp"

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    facemask::Scale s;
    if (!s.parse(text.c_str())) return 0;
    using M = facemask::Scale::Mode;
    if (s.mode == M::long_side && (s.long_side < 1 || s.long_side > 16384)) std::abort();
    if (s.mode == M::factor && !(s.factor > 0.0f && s.factor <= 64.0f)) std::abort();
    if (s.mode == M::fixed && (s.width < 1 || s.height < 1 || s.width > 16384 || s.height > 16384)) std::abort();
    return 0;
}
