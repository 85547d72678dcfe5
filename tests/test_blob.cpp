// tests/test_blob.cpp — the weight blob reader must refuse every malformed blob with a message
// a user can act on, and never read outside the bytes it was given (ASan watches that).
//
// Most checks go through blob::Reader on one in-memory copy of the real blob (cheap: no copy
// per case); the ones that need the graph builder (missing tensor, wrong shape, self-test) go
// through Detector::load_memory.
#include "test_support.hpp"

#include <cstdio>

using facemask::Detector;
using facemask::Error;
using facemask::Ownership;
using facemask::Status;
using facemask::Workspace;
namespace blob = facemask::blob;

TEST_SUITE_BEGIN("blob");

TEST_CASE("a detector used before any load reports not_loaded and never crashes") {
    Detector det;
    Workspace ws;
    CHECK_FALSE(det.loaded());
    const uint8_t px[3 * 4 * 4] = {};
    facemask::Faces faces;
    faces.count = 7;  // detect must reset it even when it fails
    Status st = det.detect(ws, facemask::ImageView(px, 4, 4), facemask::DetectOptions(), &faces);
    CHECK(st.code() == Error::not_loaded);
    CHECK(std::strlen(st.message()) > 0);
    CHECK(faces.count == 0);
    CHECK(det.detect(ws, facemask::ImageView(px, 4, 4), facemask::DetectOptions(), nullptr).code() == Error::not_loaded);

    const float input[3 * 8 * 8] = {};
    facemask::HeadOutputs heads;
    CHECK(det.forward(ws, input, 8, 8, 1, &heads).code() == Error::not_loaded);
    CHECK(det.self_test(ws).code() == Error::not_loaded);
    CHECK(det.workspace_bytes(64, 64) == 0);
    CHECK(ws.bytes() == 0);  // nothing was planned or allocated for an unloaded model
}

#if FACEMASK_TEST_HAVE_BLOBS

namespace {

// The real blob in a mutable buffer, with helpers to poke fields at their documented offsets.
struct BlobBytes {
    std::vector<unsigned char> b;

    explicit BlobBytes(const char* name = fmtest::kDetectorBlob) {
        const bool ok = fmtest::read_bytes(fmtest::weights_path(name), &b);
        REQUIRE_MESSAGE(ok, "cannot read ", fmtest::weights_path(name));
        // (REQUIRE cannot stop the test here: keep the helpers in bounds if the read failed)
        if (b.size() < 8192) b.assign(8192, 0);
    }

    uint32_t u32(size_t off) const { return blob::detail::rd32(b.data() + off); }
    uint64_t u64(size_t off) const { return blob::detail::rd64(b.data() + off); }
    void put32(size_t off, uint32_t v) {
        for (int i = 0; i < 4; ++i) b[off + i] = uint8_t(v >> (8 * i));
    }
    void put64(size_t off, uint64_t v) {
        put32(off, uint32_t(v));
        put32(off + 4, uint32_t(v >> 32));
    }
    void putf(size_t off, float f) {
        uint32_t u;
        std::memcpy(&u, &f, 4);
        put32(off, u);
    }
    float getf(size_t off) const { return blob::detail::rdf32(b.data() + off); }

    // Makes the checksum right again, so the reader gets past it to the field under test.
    void reseal() { put32(blob::kChecksumOffset, blob::blob_checksum(b.data(), b.size())); }

    uint32_t tensor_count() const { return u32(40); }
    uint64_t data_offset() const { return u64(48); }
    uint64_t data_size() const { return u64(56); }
    static size_t entry(uint32_t i) { return blob::kTableOffset + size_t(i) * blob::kEntrySize; }
    uint32_t index_of(const char* name) const {
        for (uint32_t i = 0; i < tensor_count(); ++i)
            if (std::strcmp(reinterpret_cast<const char*>(b.data() + entry(i)), name) == 0) return i;
        FAIL("tensor ", name, " is not in the blob");
        return 0;
    }
    // Byte offset in the file of a tensor's first float.
    size_t tensor_data(const char* name) const { return size_t(data_offset() + u64(entry(index_of(name)) + 56)); }

    // Reader::open reads the bytes in place: vector storage is malloc-aligned (>= 4 bytes).
    Status open(size_t size) const {
        blob::Reader r;
        return r.open(b.data(), size);
    }
    Status open() const { return open(b.size()); }

    Status load(Detector& det, Ownership own = Ownership::copy) const {
        return det.load_memory(b.data(), b.size(), own);
    }
};

// A rejected blob: not ok, a message, the expected code and (if given) a telling phrase.
void check_rejected(const Status& st, Error code, const char* phrase = nullptr) {
    CHECK_FALSE(st.ok());
    CHECK_MESSAGE(st.code() == code, "got '", std::string(facemask::error_name(st.code())), "': ", std::string(st.message()));
    CHECK(std::strlen(st.message()) > 0);
    if (phrase) CHECK_MESSAGE(fmtest::contains(st.message(), phrase), "message '", std::string(st.message()), "' lacks '", std::string(phrase), "'");
}

// The config section, at its documented offsets.
constexpr size_t kCfg = blob::kConfigOffset;

}  // namespace

TEST_CASE("both real blobs load, describe themselves and pass their self-test") {
    for (const char* name : {fmtest::kDetectorBlob, fmtest::kDetector1mbBlob}) {
        CAPTURE(std::string(name));
        BlobBytes bytes(name);
        blob::Reader r;
        FM_CHECK_OK(r.open(bytes.b.data(), bytes.b.size()));
        CHECK(r.kind() == blob::ModelKind::detector);
        CHECK(r.config().levels == 3);
        CHECK(r.config().anchors == 2);
        CHECK(r.config().width_x1000 == 250);
        CHECK(r.tensor_count() == bytes.tensor_count());

        Detector det;
        FM_CHECK_OK(det.load_file(fmtest::weights_path(name).c_str()));
        CHECK(det.loaded());
        Workspace ws;
        FM_CHECK_OK(det.self_test(ws));
    }
    Detector a, b;
    FM_CHECK_OK(a.load_file(fmtest::weights_path(fmtest::kDetectorBlob).c_str()));
    FM_CHECK_OK(b.load_file(fmtest::weights_path(fmtest::kDetector1mbBlob).c_str()));
    CHECK(std::string(a.config().family) == "pytorch-retinaface");
    CHECK(std::string(b.config().family) == "face-detector-1mb");
}

TEST_CASE("a blob cut short anywhere is refused with a message") {
    BlobBytes bytes;
    const size_t full = bytes.b.size();
    const size_t table_end = bytes.entry(bytes.tensor_count());
    int cuts = 0;
    // Every length through the header, config and tensor table ...
    for (size_t n = 0; n < table_end; ++n, ++cuts) {
        CAPTURE(n);
        const Status st = bytes.open(n);
        CHECK_FALSE(st.ok());
        CHECK(std::strlen(st.message()) > 0);
        CHECK((st.code() == Error::bad_blob || st.code() == Error::invalid_argument));
    }
    // ... and a spread through the data, including the very last byte.
    for (size_t k = 0; k <= 256; ++k, ++cuts) {
        const size_t n = table_end + (full - 1 - table_end) * k / 256;
        CAPTURE(n);
        const Status st = bytes.open(n);
        check_rejected(st, Error::bad_blob, "truncated");
    }
    CHECK(cuts > 200);
    check_rejected(bytes.open(127), Error::bad_blob, "truncated");  // smaller than the header
    FM_CHECK_OK(bytes.open(full));

    // The same through the public loader, both ways of owning the memory.
    for (size_t n : {size_t(0), size_t(1), size_t(64), size_t(127), size_t(128), size_t(384), table_end, full / 2, full - 1}) {
        CAPTURE(n);
        Detector det;
        Status st = det.load_memory(bytes.b.data(), n, Ownership::copy);
        CHECK_FALSE(st.ok());
        CHECK(std::strlen(st.message()) > 0);
        st = det.load_memory(bytes.b.data(), n, Ownership::borrow);
        CHECK_FALSE(st.ok());
        CHECK_FALSE(det.loaded());
    }
}

TEST_CASE("a single flipped byte anywhere is caught") {
    BlobBytes bytes;
    const size_t n = bytes.b.size();
    // Header: every bit position is either a checked field or covered by the CRC.
    for (size_t pos = 0; pos < blob::kHeaderSize; ++pos) {
        const unsigned char bit = uint8_t(1u << (pos % 8));
        bytes.b[pos] ^= bit;
        CAPTURE(pos);
        const Status st = bytes.open();
        CHECK_FALSE(st.ok());
        CHECK(std::strlen(st.message()) > 0);
        bytes.b[pos] ^= bit;
    }
    // Config, table and data: only the checksum can notice most of these.
    int flips = 0;
    for (size_t k = 0; k < 300; ++k, ++flips) {
        const size_t pos = blob::kHeaderSize + (n - 1 - blob::kHeaderSize) * k / 299;
        bytes.b[pos] ^= 0xFF;
        CAPTURE(pos);
        check_rejected(bytes.open(), Error::checksum, "checksum");
        bytes.b[pos] ^= 0xFF;
    }
    CHECK(flips >= 300);
    FM_CHECK_OK(bytes.open());  // every flip was undone

    // A corrupted blob never becomes a loaded detector.
    bytes.b[n / 2] ^= 0x01;
    Detector det;
    check_rejected(bytes.load(det), Error::checksum, "corrupted");
    CHECK_FALSE(det.loaded());
}

TEST_CASE("header fields: each bad value gets its own message") {
    SUBCASE("bad magic") {
        BlobBytes bytes;
        bytes.b[0] = 'f';
        bytes.reseal();
        check_rejected(bytes.open(), Error::bad_blob, "magic");
    }
    SUBCASE("wrong format version names both versions") {
        BlobBytes bytes;
        bytes.put32(8, 7);
        bytes.reseal();
        const Status st = bytes.open();
        check_rejected(st, Error::blob_version, "version 7");
        CHECK(fmtest::contains(st.message(), "version 1"));
    }
    SUBCASE("big-endian tag") {
        BlobBytes bytes;
        bytes.put32(12, 0x04030201u);
        bytes.reseal();
        check_rejected(bytes.open(), Error::bad_blob, "endian");
    }
    SUBCASE("unknown model kind") {
        BlobBytes bytes;
        bytes.put32(20, 3);
        bytes.reseal();
        check_rejected(bytes.open(), Error::bad_blob, "kind 3");
    }
    SUBCASE("section offsets") {
        BlobBytes bytes;
        bytes.put32(16, 64);  // header size
        bytes.reseal();
        check_rejected(bytes.open(), Error::bad_blob, "offsets");
    }
    SUBCASE("file size smaller than the bytes: trailing data") {
        BlobBytes bytes;
        bytes.b.resize(bytes.b.size() + 64, 0);
        bytes.reseal();
        check_rejected(bytes.open(), Error::bad_blob, "trailing");
    }
    SUBCASE("reserved header bytes") {
        BlobBytes bytes;
        bytes.b[100] = 1;
        bytes.reseal();
        check_rejected(bytes.open(), Error::bad_blob, "reserved");
    }
    SUBCASE("tensor count 0 and beyond the limit") {
        BlobBytes bytes;
        bytes.put32(40, 0);
        bytes.reseal();
        check_rejected(bytes.open(), Error::bad_blob, "tensor count");
        bytes.put32(40, blob::kMaxTensors + 1);
        bytes.reseal();
        check_rejected(bytes.open(), Error::bad_blob, "tensor count");
    }
    SUBCASE("data section not where the header says") {
        BlobBytes bytes;
        bytes.put64(48, bytes.data_offset() + 64);  // offset moves, size does not
        bytes.reseal();
        check_rejected(bytes.open(), Error::bad_blob, "data section");
    }
    SUBCASE("a stale checksum") {
        BlobBytes bytes;
        bytes.put32(blob::kChecksumOffset, bytes.u32(blob::kChecksumOffset) + 1);
        check_rejected(bytes.open(), Error::checksum, "checksum");
    }
}

TEST_CASE("config fields out of range are refused") {
    SUBCASE("activation kind") {
        BlobBytes bytes;
        bytes.put32(kCfg + 100, 3);
        bytes.reseal();
        check_rejected(bytes.open(), Error::bad_blob, "activation 3");
    }
    SUBCASE("LeakyReLU slope of 1 or more") {
        BlobBytes bytes;
        REQUIRE(bytes.u32(kCfg + 100) == 2);  // the real blob uses LeakyReLU(0.1)
        bytes.putf(kCfg + 104, 1.5f);
        bytes.reseal();
        check_rejected(bytes.open(), Error::bad_blob, "slope");
    }
    SUBCASE("SSH activation kind") {
        BlobBytes bytes;
        bytes.put32(kCfg + 216, 9);
        bytes.reseal();
        check_rejected(bytes.open(), Error::bad_blob, "SSH activation 9");
    }
    SUBCASE("anchors per cell") {
        BlobBytes bytes;
        bytes.put32(kCfg + 124, 5);
        bytes.reseal();
        check_rejected(bytes.open(), Error::bad_blob, "anchors");
    }
    SUBCASE("a negative anchor size") {
        BlobBytes bytes;
        bytes.putf(kCfg + 144 + 4, -32.0f);  // level 1, anchor 2
        bytes.reseal();
        check_rejected(bytes.open(), Error::bad_blob, "anchor size");
    }
    SUBCASE("variance zero, huge or NaN") {
        for (float v : {0.0f, 20.0f, std::nanf("")}) {
            CAPTURE(v);
            BlobBytes bytes;
            bytes.putf(kCfg + 208, v);
            bytes.reseal();
            check_rejected(bytes.open(), Error::bad_blob, "variance");
        }
    }
    SUBCASE("channel order") {
        BlobBytes bytes;
        bytes.put32(kCfg + 64, 2);
        bytes.reseal();
        check_rejected(bytes.open(), Error::bad_blob, "channel order");
    }
    SUBCASE("a zero input scale") {
        BlobBytes bytes;
        bytes.putf(kCfg + 80, 0.0f);
        bytes.reseal();
        check_rejected(bytes.open(), Error::bad_blob, "scale");
    }
    SUBCASE("self-test tolerance") {
        BlobBytes bytes;
        bytes.putf(kCfg + 112, 0.0f);
        bytes.reseal();
        check_rejected(bytes.open(), Error::bad_blob, "tolerance");
    }
    SUBCASE("reserved config bytes, common and detector part") {
        for (size_t off : {kCfg + 116, kCfg + 224, kCfg + 255}) {
            CAPTURE(off);
            BlobBytes bytes;
            bytes.b[off] = 0x5A;
            bytes.reseal();
            check_rejected(bytes.open(), Error::bad_blob, "reserved");
        }
    }
    SUBCASE("a variant name without its NUL") {
        BlobBytes bytes;
        std::memset(bytes.b.data() + kCfg, 'v', 32);
        bytes.reseal();
        check_rejected(bytes.open(), Error::bad_blob, "variant");
    }
    SUBCASE("a detector of another architecture: strides") {
        BlobBytes bytes;
        bytes.put32(kCfg + 128, 4);  // step of level 1: valid for the reader, not for RetinaFace
        bytes.reseal();
        FM_CHECK_OK(bytes.open());
        Detector det;
        check_rejected(bytes.load(det), Error::bad_blob, "strides");
    }
}

TEST_CASE("tensor table entries are validated") {
    SUBCASE("offset outside the data section") {
        BlobBytes bytes;
        bytes.put64(bytes.entry(0) + 56, bytes.data_size());
        bytes.reseal();
        check_rejected(bytes.open(), Error::bad_blob, "outside the data");
    }
    SUBCASE("the last tensor running past the end") {
        BlobBytes bytes;
        const uint32_t last = bytes.tensor_count() - 1;
        bytes.put64(bytes.entry(last) + 56, bytes.data_size() - 64);
        bytes.reseal();
        check_rejected(bytes.open(), Error::bad_blob, "outside the data");
    }
    SUBCASE("offset not a multiple of 64") {
        BlobBytes bytes;
        bytes.put64(bytes.entry(1) + 56, bytes.u64(bytes.entry(1) + 56) + 4);
        bytes.reseal();
        check_rejected(bytes.open(), Error::bad_blob, "outside the data");
    }
    SUBCASE("a dtype that is neither float32 nor float16") {
        for (uint32_t dtype : {0u, 3u, 0x100u}) {
            CAPTURE(dtype);
            BlobBytes bytes;
            bytes.put32(bytes.entry(2) + 32, dtype);
            bytes.reseal();
            char phrase[24];
            std::snprintf(phrase, sizeof phrase, "dtype %u", dtype);
            check_rejected(bytes.open(), Error::bad_blob, phrase);
        }
    }
    SUBCASE("float16 where float32 is required: a bias") {
        BlobBytes bytes;
        bytes.put32(bytes.entry(bytes.index_of("b0.b")) + 32, blob::kDtypeF16);
        bytes.reseal();
        FM_CHECK_OK(bytes.open());  // a valid table: half the bytes of the tensor are read
        Detector det;
        const Status st = bytes.load(det);
        check_rejected(st, Error::bad_blob, "'b0.b' is float16");
        CHECK_FALSE(det.loaded());
    }
    SUBCASE("rank 0 and rank 5") {
        for (uint32_t rank : {0u, 5u}) {
            CAPTURE(rank);
            BlobBytes bytes;
            bytes.put32(bytes.entry(0) + 36, rank);
            bytes.reseal();
            char phrase[16];
            std::snprintf(phrase, sizeof phrase, "rank %u", rank);
            check_rejected(bytes.open(), Error::bad_blob, phrase);
        }
    }
    SUBCASE("an unused dimension that is not zero") {
        BlobBytes bytes;
        const uint32_t i = bytes.index_of("b0.b");  // rank 1
        bytes.put32(bytes.entry(i) + 44, 3);
        bytes.reseal();
        check_rejected(bytes.open(), Error::bad_blob, "dimension");
    }
    SUBCASE("a duplicate name") {
        BlobBytes bytes;
        std::memcpy(bytes.b.data() + bytes.entry(1), bytes.b.data() + bytes.entry(0), 32);
        bytes.reseal();
        check_rejected(bytes.open(), Error::bad_blob, "twice");
    }
    SUBCASE("a name that is not printable ASCII") {
        BlobBytes bytes;
        bytes.b[bytes.entry(3)] = 0x07;
        bytes.reseal();
        check_rejected(bytes.open(), Error::bad_blob, "name");
    }
    SUBCASE("a missing tensor (renamed) is named by the loader") {
        BlobBytes bytes;
        const uint32_t i = bytes.index_of("b3.pw.w");
        std::memcpy(bytes.b.data() + bytes.entry(i), "zz.pw.w", 8);  // same length, unused name
        bytes.reseal();
        FM_CHECK_OK(bytes.open());  // the table itself is fine
        Detector det;
        const Status st = bytes.load(det);
        check_rejected(st, Error::bad_blob, "'b3.pw.w'");
        CHECK(fmtest::contains(st.message(), "missing"));
        CHECK_FALSE(det.loaded());
    }
    SUBCASE("a wrong shape is named with both shapes") {
        BlobBytes bytes;
        const uint32_t i = bytes.index_of("b0.b");
        REQUIRE(bytes.u32(bytes.entry(i) + 40) == 8);
        bytes.put32(bytes.entry(i) + 40, 7);
        bytes.reseal();
        FM_CHECK_OK(bytes.open());
        Detector det;
        const Status st = bytes.load(det);
        check_rejected(st, Error::bad_blob, "'b0.b'");
        CHECK_MESSAGE(fmtest::contains(st.message(), "[7]"), std::string(st.message()));
        CHECK_MESSAGE(fmtest::contains(st.message(), "[8]"), std::string(st.message()));
    }
}

TEST_CASE("a blob of the other model kind is the wrong model") {
    BlobBytes bytes;
    facemask::Classifier cls;
    const Status st = cls.load_memory(bytes.b.data(), bytes.b.size());
    check_rejected(st, Error::wrong_model, "not a classifier");
    CHECK(fmtest::contains(st.message(), "detector"));
    CHECK_FALSE(cls.loaded());
    // The same check one level down, where the kind is a parameter.
    facemask::detail::Network net;
    check_rejected(net.open(bytes.b.data(), bytes.b.size(), Ownership::borrow, blob::ModelKind::classifier),
                   Error::wrong_model, "classifier");
    FM_CHECK_OK(net.open(bytes.b.data(), bytes.b.size(), Ownership::borrow, blob::ModelKind::detector));

    // The converse, and the classifier's own self-test, when the build has its blob.
    std::vector<unsigned char> c;
    if (!fmtest::read_bytes(fmtest::weights_path(fmtest::kClassifierBlob), &c)) {
        MESSAGE("no ", fmtest::weights_path(fmtest::kClassifierBlob), ": classifier-blob checks skipped");
        return;
    }
    Detector det;
    check_rejected(det.load_memory(c.data(), c.size()), Error::wrong_model, "not a detector");
    CHECK_FALSE(det.loaded());
    FM_REQUIRE_OK(cls.load_memory(c.data(), c.size()));
    Workspace ws;
    FM_CHECK_OK(cls.self_test(ws));
    // An altered expected logit (checksum fixed up) fails that self-test.
    blob::Reader r;
    FM_REQUIRE_OK(r.open(c.data(), c.size()));
    blob::Tensor want;
    const uint32_t one = 1;
    FM_REQUIRE_OK(r.find("selftest.output", 1, &one, &want));
    const size_t at = size_t(reinterpret_cast<const unsigned char*>(want.data) - c.data());
    const float altered = want.data[0] + 1.0f;
    std::memcpy(c.data() + at, &altered, 4);
    const uint32_t crc = blob::blob_checksum(c.data(), c.size());
    for (int i = 0; i < 4; ++i) c[blob::kChecksumOffset + size_t(i)] = uint8_t(crc >> (8 * i));
    FM_REQUIRE_OK(cls.load_memory(c.data(), c.size()));
    check_rejected(cls.self_test(ws), Error::selftest, "self-test failed");
}

TEST_CASE("loading from memory: copied, borrowed, and a misaligned borrow") {
    BlobBytes bytes;
    const size_t n = bytes.b.size();

    SUBCASE("a copy does not need the caller's bytes afterwards") {
        std::vector<unsigned char> tmp = bytes.b;
        Detector det;
        FM_REQUIRE_OK(det.load_memory(tmp.data(), n, Ownership::copy));
        std::memset(tmp.data(), 0xA5, n);  // the caller reuses its buffer
        tmp.clear();
        tmp.shrink_to_fit();
        Workspace ws;
        FM_CHECK_OK(det.self_test(ws));
    }
    SUBCASE("a borrowed, aligned block is used in place") {
        fmtest::AlignedBlock block(n);
        std::memcpy(block.data(), bytes.b.data(), n);
        Detector det;
        FM_REQUIRE_OK(det.load_memory(block.data(), n, Ownership::borrow));
        Workspace ws;
        FM_CHECK_OK(det.self_test(ws));
    }
    SUBCASE("a misaligned borrow is refused, a misaligned copy is fine") {
        fmtest::AlignedBlock block(n + 8);
        unsigned char* odd = block.data() + 1;
        std::memcpy(odd, bytes.b.data(), n);
        Detector det;
        check_rejected(det.load_memory(odd, n, Ownership::borrow), Error::invalid_argument, "aligned");
        CHECK_FALSE(det.loaded());
        FM_CHECK_OK(det.load_memory(odd, n, Ownership::copy));
        Workspace ws;
        FM_CHECK_OK(det.self_test(ws));
    }
    SUBCASE("null memory") {
        Detector det;
        CHECK_FALSE(det.load_memory(nullptr, 0).ok());
        CHECK_FALSE(det.load_memory(nullptr, n, Ownership::borrow).ok());
        CHECK_FALSE(det.loaded());
    }
    SUBCASE("a failed reload leaves the detector unloaded, not half-loaded") {
        Detector det;
        FM_REQUIRE_OK(det.load_memory(bytes.b.data(), n));
        CHECK(det.loaded());
        CHECK_FALSE(det.load_memory(bytes.b.data(), n - 1).ok());
        CHECK_FALSE(det.loaded());
        Workspace ws;
        const uint8_t px[3 * 8 * 8] = {};
        facemask::Faces faces;
        CHECK(det.detect(ws, facemask::ImageView(px, 8, 8), facemask::DetectOptions(), &faces).code() ==
              Error::not_loaded);
    }
    SUBCASE("load_file: a missing file and a file that is not a blob") {
        Detector det;
        const Status st = det.load_file("/nonexistent/facemask/weights.fmb");
        check_rejected(st, Error::io, "/nonexistent/facemask/weights.fmb");
        const std::string junk = fmtest::temp_dir() + "/junk.fmb";
        // Longer than a blob header, so that the magic is what gives it away.
        const char text[] = "this is not a weight blob, only text; it is longer than the 128-byte header of a "
                            "blob so that the reader gets as far as the magic and refuses it there";
        REQUIRE(fmtest::write_bytes(junk, reinterpret_cast<const unsigned char*>(text), sizeof text));
        const Status st2 = det.load_file(junk.c_str());
        check_rejected(st2, Error::bad_blob, "magic");
        CHECK(fmtest::contains(st2.message(), "junk.fmb"));  // the loader names the file
    }
}

TEST_CASE("a packed detector keeps only its self-test vector of the blob; the classifier keeps its blob") {
    BlobBytes bytes;
    const size_t n = bytes.b.size();
    blob::Reader whole;
    FM_REQUIRE_OK(whole.open(bytes.b.data(), n));

    // The subset is a valid blob: same header fields and config, the selftest.* tensors alone,
    // byte for byte.
    const size_t m = whole.write_subset("selftest.", nullptr);
    REQUIRE(m > 0);
    CHECK(m < n / 4);
    fmtest::AlignedBlock small(m);
    CHECK(whole.write_subset("selftest.", small.data()) == m);
    blob::Reader part;
    FM_REQUIRE_OK(part.open(small.data(), m));
    CHECK(part.kind() == blob::ModelKind::detector);
    CHECK(std::memcmp(small.data() + kCfg, bytes.b.data() + kCfg, blob::kConfigSize) == 0);
    uint32_t selftests = 0;
    for (uint32_t i = 0; i < whole.tensor_count(); ++i) {
        const blob::Tensor t = whole.tensor(i);
        if (std::strncmp(t.name, "selftest.", 9) != 0) continue;
        ++selftests;
        blob::Tensor u;
        FM_REQUIRE_OK(part.find(t.name, t.rank, t.shape, &u));
        REQUIRE(u.data != nullptr);
        CHECK(std::memcmp(u.data, t.data, t.numel * 4) == 0);
    }
    CHECK(selftests >= 2);
    CHECK(part.tensor_count() == selftests);
    CHECK(whole.write_subset("no-such-prefix.", nullptr) == 0);

    // A copied blob: SIMD builds pack every weight, so the detector keeps the subset alone
    // (the borrowed load holds the packed weights only); scalar builds read the weights in the
    // blob and keep it whole. Both still pass the self-test (ASan: nothing reads freed bytes).
    Detector copied, borrowed;
    FM_REQUIRE_OK(copied.load_memory(bytes.b.data(), n, Ownership::copy, facemask::Verify::self_test));
    fmtest::AlignedBlock block(n);
    std::memcpy(block.data(), bytes.b.data(), n);
    FM_REQUIRE_OK(borrowed.load_memory(block.data(), n, Ownership::borrow));
    Workspace ws;
    FM_CHECK_OK(copied.self_test(ws));
#if FACEMASK_SIMD
    CHECK(copied.model_bytes() == borrowed.model_bytes() + m);
#else
    CHECK(borrowed.model_bytes() == 0);
    CHECK(copied.model_bytes() == n);
#endif
    Detector from_file;
    FM_REQUIRE_OK(from_file.load_file(fmtest::weights_path(fmtest::kDetectorBlob).c_str(), facemask::Verify::self_test));
    CHECK(from_file.model_bytes() == copied.model_bytes());

    // The classifier's dense layers read their weights in the blob: it stays whole.
    std::vector<unsigned char> cls;
    REQUIRE(fmtest::read_bytes(fmtest::weights_path(fmtest::kClassifierBlob), &cls));
    facemask::Classifier c;
    FM_REQUIRE_OK(c.load_memory(cls.data(), cls.size(), Ownership::copy, facemask::Verify::self_test));
    CHECK(c.model_bytes() >= cls.size());
    FM_CHECK_OK(c.self_test(ws));
}

TEST_CASE("an altered self-test answer makes the self-test fail") {
    for (const char* tensor : {"selftest.head1", "selftest.head3"}) {
        CAPTURE(std::string(tensor));
        BlobBytes bytes;
        const size_t at = bytes.tensor_data(tensor);
        bytes.putf(at, bytes.getf(at) + 0.5f);
        bytes.reseal();
        Detector det;
        FM_REQUIRE_OK(bytes.load(det));  // loading does not run the self-test ...
        Workspace ws;
        const Status st = det.self_test(ws);  // ... self_test() does
        check_rejected(st, Error::selftest, tensor);
    }
    // The input vector is part of the test too: changing it changes every answer.
    BlobBytes bytes;
    const size_t at = bytes.tensor_data("selftest.input");
    for (int i = 0; i < 3 * 40; ++i) bytes.putf(at + 4 * size_t(i), bytes.getf(at + 4 * size_t(i)) + 3.0f);
    bytes.reseal();
    Detector det;
    FM_REQUIRE_OK(bytes.load(det));
    Workspace ws;
    check_rejected(det.self_test(ws), Error::selftest, "self-test failed");
}

TEST_CASE("the classifier config's fields are checked at load (issue 11, defect 9)") {
    // Each field of the classifier part (blob.hpp, config offsets 120..255) set out of range,
    // checksum made right again: bad_blob, naming the field.
    struct Case {
        const char* what;
        size_t at;
        uint32_t bits;  // the new 32-bit value (floats by their bits)
        const char* phrase;
    };
    auto f32 = [](float f) {
        uint32_t u;
        std::memcpy(&u, &f, 4);
        return u;
    };
    const Case cases[] = {
        {"no hidden units", 120, 0, "hidden units"},
        {"4097 hidden units", 120, 4097, "hidden units"},
        {"crop mode 2", 124, 2, "crop mode 2"},
        {"negative crop margin", 128, f32(-0.1f), "crop margin"},
        {"crop margin above 1", 128, f32(1.5f), "crop margin"},
        {"NaN crop margin", 128, f32(std::nanf("")), "crop margin"},
        {"threshold above 1", 132, f32(1.01f), "threshold"},
        {"negative threshold", 132, f32(-0.01f), "threshold"},
        {"infinite threshold", 132, f32(INFINITY), "threshold"},
        {"NaN threshold", 132, f32(std::nanf("")), "threshold"},
        {"reserved byte set", 200, 1, "reserved bytes"},
        {"last reserved byte set", 252, 1u << 24, "reserved bytes"},
    };
    for (const Case& c : cases) {
        CAPTURE(std::string(c.what));
        BlobBytes bytes(fmtest::kClassifierBlob);
        bytes.put32(kCfg + c.at, c.bits);
        bytes.reseal();
        facemask::Classifier cls;
        check_rejected(cls.load_memory(bytes.b.data(), bytes.b.size()), Error::bad_blob, c.phrase);
        CHECK_FALSE(cls.loaded());
    }
    // The limits themselves load.
    for (const Case& c : {Case{"threshold 0", 132, f32(0.0f), ""}, Case{"threshold 1", 132, f32(1.0f), ""},
                          Case{"margin 0", 128, f32(0.0f), ""}, Case{"margin 1", 128, f32(1.0f), ""}}) {
        CAPTURE(std::string(c.what));
        BlobBytes bytes(fmtest::kClassifierBlob);
        bytes.put32(kCfg + c.at, c.bits);
        bytes.reseal();
        facemask::Classifier cls;
        FM_CHECK_OK(cls.load_memory(bytes.b.data(), bytes.b.size()));
    }
}

TEST_CASE("Verify::self_test refuses a damaged blob whose checksum was fixed up (issue 11, defect 9)") {
    // One weight changed and the checksum made right again: every format check passes, so
    // without verification the damaged network loads and is used; with it, the self-test fails
    // and nothing stays loaded.
    for (const char* name : {fmtest::kDetectorBlob, fmtest::kClassifierBlob}) {
        CAPTURE(std::string(name));
        const bool is_detector = std::strcmp(name, fmtest::kDetectorBlob) == 0;
        BlobBytes good(name), bad(name);
        const size_t at = bad.tensor_data("b0.w");
        for (int i = 0; i < 16; ++i) bad.putf(at + 4 * size_t(i), bad.getf(at + 4 * size_t(i)) * 4.0f + 0.5f);
        bad.reseal();
        auto load = [&](BlobBytes& b, facemask::Verify v, bool* loaded) {
            if (is_detector) {
                Detector m;
                const Status st = m.load_memory(b.b.data(), b.b.size(), Ownership::copy, v);
                *loaded = m.loaded();
                return st;
            }
            facemask::Classifier m;
            const Status st = m.load_memory(b.b.data(), b.b.size(), Ownership::copy, v);
            *loaded = m.loaded();
            return st;
        };
        bool loaded = false;
        FM_CHECK_OK(load(bad, facemask::Verify::none, &loaded));  // the format alone cannot tell
        CHECK(loaded);
        check_rejected(load(bad, facemask::Verify::self_test, &loaded), Error::selftest, "self-test failed");
        CHECK_FALSE(loaded);
        FM_CHECK_OK(load(good, facemask::Verify::self_test, &loaded));
        CHECK(loaded);
        // From a file, the message names it.
        const std::string path = fmtest::temp_dir() + "/damaged_" + name;
        REQUIRE(fmtest::write_bytes(path, bad.b));
        facemask::Pipeline fm;
        const Status st = is_detector ? fm.load_files(path.c_str(), nullptr, facemask::Verify::self_test)
                                      : fm.load_files(fmtest::weights_path(fmtest::kDetectorBlob).c_str(), path.c_str(),
                                                      facemask::Verify::self_test);
        check_rejected(st, Error::selftest, path.c_str());
        CHECK_FALSE((is_detector ? fm.detector().loaded() : fm.classifier().loaded()));
    }
}

#endif  // FACEMASK_TEST_HAVE_BLOBS

TEST_SUITE_END();
