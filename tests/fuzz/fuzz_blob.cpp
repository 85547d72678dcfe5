// tests/fuzz/fuzz_blob.cpp — weight blobs: loading and the self-test, both model kinds.
// The first byte picks a mode:
//   even: the rest is a whole blob (its CRC recomputed), loaded as a detector and a classifier;
//   odd:  the rest is a list of 5-byte patches (offset u32, value) applied to the committed
//         classifier blob (mode 1) or the detector blob (mode 3), CRC recomputed, then loaded
//         and self-tested: the mutants get past the checksum to the config and tensor checks.
#include "fuzz_common.hpp"

namespace {

const std::vector<unsigned char>& base(bool detector) {
    static const std::vector<unsigned char> cls = fuzz::read_env_file("FACEMASK_FUZZ_CLASSIFIER");
    static const std::vector<unsigned char> det = fuzz::read_env_file("FACEMASK_FUZZ_DETECTOR");
    return detector ? det : cls;
}

void load_and_test(const unsigned char* p, size_t n) {
    static facemask::Workspace ws;
    facemask::Detector det;
    if (det.load_memory(p, n, facemask::Ownership::borrow).ok()) (void)det.self_test(ws);
    facemask::Classifier cls;
    if (cls.load_memory(p, n, facemask::Ownership::borrow).ok()) (void)cls.self_test(ws);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    static facemask::Buffer buf;  // 64-byte aligned, as a borrowed blob must be
    if (data[0] % 2 == 0) {
        const size_t n = size - 1;
        if (!buf.reserve(n ? n : 1)) return 0;
        if (n) std::memcpy(buf.data(), data + 1, n);
        fuzz::fix_checksum(buf.data(), n);
        load_and_test(buf.data(), n);
        return 0;
    }
    const std::vector<unsigned char>& b = base(data[0] % 4 == 3);
    if (b.empty()) return 0;
    if (!buf.reserve(b.size())) return 0;
    std::memcpy(buf.data(), b.data(), b.size());
    for (size_t i = 1; i + 5 <= size; i += 5) {
        const uint32_t at = facemask::blob::detail::rd32(data + i);
        // Most patches land in the first 4 KiB (header, config, table): that is where the checks are.
        const size_t off = (at & 0x80000000u) ? at % b.size() : at % (b.size() < 4096 ? b.size() : 4096);
        buf.data()[off] = data[i + 4];
    }
    fuzz::fix_checksum(buf.data(), b.size());
    load_and_test(buf.data(), b.size());
    return 0;
}
