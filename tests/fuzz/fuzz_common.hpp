// tests/fuzz/fuzz_common.hpp — what the libFuzzer harnesses share: facemask with stb's
// implementation, and the paths of the blobs they start from (environment, set by run.sh).
#pragma once
#define FACEMASK_STB_IMPLEMENTATION
#include <facemask/facemask.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace fuzz {

// The bytes of a file, or empty (the harness then skips what needs it).
inline std::vector<unsigned char> read_env_file(const char* env) {
    std::vector<unsigned char> out;
    const char* path = std::getenv(env);
    if (!path || !*path) return out;
    FILE* f = std::fopen(path, "rb");
    if (!f) {
        std::fprintf(stderr, "fuzz: cannot open %s=%s\n", env, path);
        std::abort();  // a misconfigured run must not quietly fuzz less
    }
    unsigned char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
    std::fclose(f);
    return out;
}

// Writes the blob's CRC-32 so that a mutated blob gets past the checksum to the checks behind it.
inline void fix_checksum(unsigned char* p, size_t n) {
    if (n < facemask::blob::kChecksumOffset + 4) return;
    const uint32_t c = facemask::blob::blob_checksum(p, n);
    for (int k = 0; k < 4; ++k) p[facemask::blob::kChecksumOffset + size_t(k)] = static_cast<unsigned char>(c >> (8 * k));
}

}  // namespace fuzz
