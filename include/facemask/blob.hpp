// facemask/blob.hpp — reading and validating weight blobs (format documented below).
#pragma once
// ---------------------------------------------------------------------------------------------
// facemask weight blob, format version 1  (".fmb")
//
// One file holds one network: its configuration, its tensors (BatchNorm already folded into
// the convolutions) and a small self-test.  Written by tools/export_weights.py (detector, from
// the public PyTorch checkpoints) and tools/train_classifier.py (mask classifier).  Read here
// with no allocation and no copy; every field is validated before anything is used.
//
// All integers and floats are little-endian; float tensors are IEEE-754 binary32.
//
// Header, 128 bytes at offset 0
//   off size  field
//     0   8   magic "FACEMASK"
//     8   4   u32 format version = 1
//    12   4   u32 endian tag 0x01020304 (bytes 04 03 02 01 on disk)
//    16   4   u32 header size = 128
//    20   4   u32 model kind: 1 = RetinaFace detector, 2 = mask classifier
//    24   8   u64 file size in bytes (the whole blob)
//    32   4   u32 config offset = 128
//    36   4   u32 config size = 256
//    40   4   u32 tensor count
//    44   4   u32 tensor table offset = 384
//    48   8   u64 data offset (multiple of 64, after the tensor table)
//    56   8   u64 data size (multiple of 64); data offset + data size = file size
//    64   4   u32 checksum: CRC-32 (IEEE 802.3, as zlib.crc32) of the whole file with these
//             four bytes read as zero
//    68  60   reserved, zero
//
// Config, 256 bytes at offset 128 (common part 0..119, kind-specific part 120..255)
//     0  32   char variant[32]   NUL-padded, e.g. "retinaface-mnet0.25"
//    32  32   char family[32]    NUL-padded, e.g. "pytorch-retinaface", "face-detector-1mb"
//    64   4   u32 channel order of the network input: 0 = RGB, 1 = BGR
//    68  12   f32 mean[3]    subtracted from 0..255 pixel values, in network channel order
//    80  12   f32 scale[3]   multiplied after the subtraction
//    92   4   u32 input width   (0 = any size)
//    96   4   u32 input height  (0 = any size)
//   100   4   u32 activation after every conv+BN that has one: 0 none, 1 ReLU, 2 LeakyReLU
//   104   4   f32 negative slope of that activation (0 for ReLU)
//   108   4   u32 backbone width multiplier x 1000 (250 = MobileNetV1-0.25)
//   112   4   f32 self-test tolerance t: |got - want| <= t * (1 + |want|) for every value
//   116   4   reserved, zero
//  detector (kind 1):
//   120   4   u32 number of pyramid levels (3)
//   124   4   u32 anchors per feature-map cell A (2), the same on every level
//   128  16   u32 steps[4]            stride of each level (8, 16, 32), unused = 0
//   144  64   f32 min_sizes[4][4]     anchor sizes in input pixels per level, unused = 0
//   208   8   f32 variances[2]        (0.1, 0.2)
//   216   4   u32 activation after the SSH concat (0 none, 1 ReLU, 2 LeakyReLU)
//   220   4   f32 its negative slope
//   224  32   reserved, zero
//  classifier (kind 2):
//   120   4   u32 hidden units of the first dense layer (128)
//   124   4   u32 crop: 1 = square crop around the box centre, 0 = the box as is
//   128   4   f32 crop margin, fraction of the box side added on each side
//   132   4   f32 default decision threshold on p(masked)
//   136 120   reserved, zero
//
// Tensor table: tensor count entries of 64 bytes at offset 384
//     0  32   char name[32]  NUL-terminated, NUL-padded, unique
//    32   4   u32 dtype: 1 = float32, 2 = float16 (IEEE binary16; only the convolution
//                 weights "*.w" of b*, fpn*, ssh*, head* may be float16 — halves the blob, e.g.
//                 for flash; the loader reads them as they are or widens them when it packs)
//    36   4   u32 rank 1..4
//    40  16   u32 shape[4]   (unused dimensions 0; used ones >= 1)
//    56   8   u64 offset of the data, relative to the data offset, multiple of 64
//   A tensor's bytes (product of shape x 4, or x 2 for float16) lie inside the data section.
//   Padding bytes are zero.
//
// Tensor layouts (NHWC activations; BN folded; "C" depends on the width multiplier):
//   b0.w  [Cout, 3, 3, Cin]     first 3x3 stride-2 convolution (OHWI), b0.b [Cout]
//   b<i>.dw.w [3, 3, C]         depthwise 3x3 of block i = 1..13 (HWC), b<i>.dw.b [C]
//   b<i>.pw.w [Cout, Cin]       pointwise 1x1 of block i, b<i>.pw.b [Cout]
//   Block strides: b0 2, b1 1, b2 2, b3 1, b4 2, b5 1, b6 2, b7..b11 1, b12 2, b13 1.
//  detector only:
//   fpn.lat<k>.w [64, Cin]      lateral 1x1 of level k = 1..3 (inputs: b5, b11, b13 outputs)
//   fpn.merge<k>.w [64,3,3,64]  3x3 merge of level k = 1, 2
//   ssh<k>.c3.w [32,3,3,64], ssh<k>.c5a.w [16,3,3,64], ssh<k>.c5b.w [16,3,3,16],
//   ssh<k>.c7a.w [16,3,3,16], ssh<k>.c7b.w [16,3,3,16]      (each with .b)
//   head<k>.w [16A, 64], head<k>.b [16A]: the three heads of level k as one 1x1 conv; output
//     channels: class logits 2A (anchor-major: a0c0 a0c1 a1c0 a1c1), then box offsets 4A
//     (a0: dx dy dw dh, a1: ...), then landmark offsets 10A (a0: x0 y0 ... x4 y4, a1: ...)
//   selftest.input  [H, W, 3]   a network input (already normalised), H, W small
//   selftest.head<k> [h_k, w_k, 16A]  the head outputs PyTorch-equivalent maths gives for it
//  classifier only:
//   fc1.w [hidden, C13], fc1.b [hidden]   after global average pooling, then ReLU
//   fc2.w [1, hidden], fc2.b [1]          logit of "masked"; p = sigmoid(logit)
//   selftest.input [H, W, 3], selftest.output [1] (the logit)
// ---------------------------------------------------------------------------------------------

#include "config.hpp"
#include "status.hpp"

namespace facemask {
namespace blob {

constexpr uint32_t kFormatVersion = 1;
constexpr uint32_t kHeaderSize = 128;
constexpr uint32_t kConfigOffset = 128;
constexpr uint32_t kConfigSize = 256;
constexpr uint32_t kTableOffset = 384;
constexpr uint32_t kEntrySize = 64;
constexpr uint32_t kMaxTensors = 1024;
constexpr uint32_t kEndianTag = 0x01020304u;
constexpr uint32_t kDtypeF32 = 1;
constexpr uint32_t kDtypeF16 = 2;
constexpr size_t kChecksumOffset = 64;

enum class ModelKind : uint32_t { detector = 1, classifier = 2 };
enum class Activation : uint32_t { none = 0, relu = 1, leaky_relu = 2 };

inline const char* kind_name(ModelKind k) {
    return k == ModelKind::detector ? "detector" : k == ModelKind::classifier ? "classifier" : "?";
}

// The decoded configuration section (see the format above).
struct Config {
    char variant[32] = {};
    char family[32] = {};
    uint32_t channel_order = 0;  // 0 RGB, 1 BGR
    float mean[3] = {0, 0, 0};
    float scale[3] = {1, 1, 1};
    uint32_t input_width = 0, input_height = 0;
    Activation activation = Activation::none;
    float slope = 0;
    uint32_t width_x1000 = 0;
    float selftest_tolerance = 0;
    // detector
    uint32_t levels = 0, anchors = 0;
    uint32_t steps[4] = {};
    float min_sizes[4][4] = {};
    float variances[2] = {};
    Activation ssh_activation = Activation::none;
    float ssh_slope = 0;
    // classifier
    uint32_t hidden = 0;
    uint32_t crop_square = 0;
    float crop_margin = 0;
    float threshold = 0;
};

// The epilogue slope that implements an activation as y = max(x, x * s): ReLU s = 0,
// LeakyReLU s = slope (< 1), none s = 1.
inline float epilogue_slope(Activation a, float slope) {
    return a == Activation::relu ? 0.0f : a == Activation::leaky_relu ? slope : 1.0f;
}

struct Tensor {
    const char* name = nullptr;  // points into the blob
    uint32_t rank = 0;
    uint32_t shape[4] = {};
    size_t numel = 0;
    uint32_t dtype = kDtypeF32;
    const float* data = nullptr;     // float32 tensors: points into the blob (else null)
    const uint16_t* half = nullptr;  // float16 tensors: points into the blob (else null)
};

namespace detail {

struct Crc32Table {
    uint32_t v[256];
    constexpr Crc32Table() : v() {
        for (uint32_t i = 0; i < 256; ++i) {
            uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            v[i] = c;
        }
    }
};
inline constexpr Crc32Table kCrcTable{};

inline uint32_t crc32_update(uint32_t crc, const unsigned char* p, size_t n) {
    for (size_t i = 0; i < n; ++i) crc = kCrcTable.v[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
    return crc;
}

inline uint32_t rd32(const unsigned char* p) {
    return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}
inline uint64_t rd64(const unsigned char* p) { return uint64_t(rd32(p)) | uint64_t(rd32(p + 4)) << 32; }
inline uint64_t dtype_bytes(uint32_t dtype) { return dtype == kDtypeF16 ? 2 : 4; }
inline uint64_t pad64(uint64_t n) { return (n + 63) / 64 * 64; }  // sections and tensors start at multiples of 64
inline void wr32(unsigned char* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
inline void wr64(unsigned char* p, uint64_t v) {
    wr32(p, uint32_t(v));
    wr32(p + 4, uint32_t(v >> 32));
}
inline float rdf32(const unsigned char* p) {
    uint32_t u = rd32(p);
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
inline bool all_zero(const unsigned char* p, size_t n) {
    for (size_t i = 0; i < n; ++i)
        if (p[i]) return false;
    return true;
}
inline bool host_is_little_endian() {
    const uint32_t one = 1;
    unsigned char b;
    std::memcpy(&b, &one, 1);
    return b == 1;
}
// A NUL-terminated, printable ASCII string filling a fixed field (NUL-padded).
inline bool read_name(const unsigned char* p, size_t n, char* out, bool allow_empty) {
    size_t len = 0;
    while (len < n && p[len]) ++len;
    if (len == n || (len == 0 && !allow_empty)) return false;
    for (size_t i = 0; i < len; ++i)
        if (p[i] < 0x20 || p[i] > 0x7E) return false;
    if (!all_zero(p + len, n - len)) return false;
    std::memcpy(out, p, len);
    out[len] = '\0';
    return true;
}
inline bool finite(float f) { return std::isfinite(f); }
inline bool activation_ok(uint32_t a, float slope) {
    if (a > 2 || !finite(slope)) return false;
    if (a == 2) return slope >= 0.0f && slope < 1.0f;
    return slope == 0.0f;
}

}  // namespace detail

// CRC-32 (IEEE, as zlib.crc32) of a whole blob with its checksum field taken as zero.
inline uint32_t blob_checksum(const unsigned char* p, size_t n) {
    static const unsigned char zeros[4] = {0, 0, 0, 0};
    uint32_t c = 0xFFFFFFFFu;
    c = detail::crc32_update(c, p, kChecksumOffset);
    c = detail::crc32_update(c, zeros, 4);
    c = detail::crc32_update(c, p + kChecksumOffset + 4, n - kChecksumOffset - 4);
    return c ^ 0xFFFFFFFFu;
}

// A validated, read-only view of a blob in memory. open() checks every field; afterwards the
// accessors cannot fail. The memory must outlive the Reader and the tensors taken from it.
class Reader {
public:
    Status open(const void* memory, size_t size) {
        base_ = static_cast<const unsigned char*>(memory);
        size_ = size;
        FACEMASK_TRY(check_header());
        FACEMASK_TRY(check_config());
        FACEMASK_TRY(check_table());
        return Status();
    }

    ModelKind kind() const { return kind_; }
    const Config& config() const { return config_; }
    uint32_t tensor_count() const { return count_; }

    // Tensor i of the table (i < tensor_count()).
    Tensor tensor(uint32_t i) const {
        const unsigned char* e = base_ + kTableOffset + size_t(i) * kEntrySize;
        Tensor t;
        t.name = reinterpret_cast<const char*>(e);
        t.rank = detail::rd32(e + 36);
        t.numel = 1;
        for (uint32_t d = 0; d < 4; ++d) {
            t.shape[d] = detail::rd32(e + 40 + 4 * d);
            if (d < t.rank) t.numel *= t.shape[d];
        }
        t.dtype = detail::rd32(e + 32);
        const unsigned char* p = base_ + data_offset_ + detail::rd64(e + 56);
        if (t.dtype == kDtypeF16)
            t.half = reinterpret_cast<const uint16_t*>(p);
        else
            t.data = reinterpret_cast<const float*>(p);
        return t;
    }

    // Looks up a tensor by name and checks its shape (the error names both) and its dtype:
    // float32, or also float16 when `half_ok` (convolution weights).
    Status find(const char* name, uint32_t rank, const uint32_t* shape, Tensor* out, bool half_ok = false) const {
        for (uint32_t i = 0; i < count_; ++i) {
            Tensor t = tensor(i);
            if (std::strcmp(t.name, name) != 0) continue;
            bool same = t.rank == rank;
            for (uint32_t d = 0; same && d < rank; ++d) same = t.shape[d] == shape[d];
            if (!same) {
                char want[64], got[64];
                shape_text(rank, shape, want, sizeof want);
                shape_text(t.rank, t.shape, got, sizeof got);
                return Status::fail(Error::bad_blob, "tensor '%s' has shape %s, expected %s", name, got,
                                    want);
            }
            if (t.dtype == kDtypeF16 && !half_ok)
                return Status::fail(Error::bad_blob, "tensor '%s' is float16; it must be float32 (only convolution "
                                    "weights may be float16)", name);
            *out = t;
            return Status();
        }
        return Status::fail(Error::bad_blob, "tensor '%s' is missing from the %s blob", name,
                            kind_name(kind_));
    }

    // A smaller valid blob holding only the tensors whose names start with `prefix` (header and
    // config unchanged, the checksum recomputed): the bytes a loaded model still reads once its
    // weights are packed (the self-test vector), so the whole file need not stay in memory.
    // Returns its size; writes it to `out` when given (the caller sizes `out` with a first call).
    // 0 when no tensor matches (a blob needs one).
    size_t write_subset(const char* prefix, unsigned char* out) const {
        const size_t plen = std::strlen(prefix);
        uint32_t n = 0;
        uint64_t data = 0;
        for (uint32_t i = 0; i < count_; ++i) {
            const Tensor t = tensor(i);
            if (std::strncmp(t.name, prefix, plen) != 0) continue;
            ++n;
            data += detail::pad64(t.numel * detail::dtype_bytes(t.dtype));
        }
        if (n == 0) return 0;
        const uint64_t data_offset = detail::pad64(uint64_t(kTableOffset) + uint64_t(n) * kEntrySize);
        const size_t total = size_t(data_offset + data);
        if (!out) return total;
        std::memset(out, 0, total);
        std::memcpy(out, base_, kTableOffset);  // header + config
        detail::wr64(out + 24, total);
        detail::wr32(out + 40, n);
        detail::wr64(out + 48, data_offset);
        detail::wr64(out + 56, data);
        uint32_t k = 0;
        uint64_t at = 0;
        for (uint32_t i = 0; i < count_; ++i) {
            const Tensor t = tensor(i);
            if (std::strncmp(t.name, prefix, plen) != 0) continue;
            unsigned char* e = out + kTableOffset + size_t(k++) * kEntrySize;
            std::memcpy(e, base_ + kTableOffset + size_t(i) * kEntrySize, kEntrySize);
            detail::wr64(e + 56, at);
            const size_t bytes = size_t(t.numel * detail::dtype_bytes(t.dtype));
            std::memcpy(out + data_offset + at, t.data ? static_cast<const void*>(t.data) : t.half, bytes);
            at += detail::pad64(bytes);
        }
        detail::wr32(out + kChecksumOffset, blob_checksum(out, total));
        return total;
    }

    static void shape_text(uint32_t rank, const uint32_t* shape, char* buf, size_t n) {
        size_t used = size_t(std::snprintf(buf, n, "["));
        for (uint32_t d = 0; d < rank && used < n; ++d)
            used += size_t(std::snprintf(buf + used, n - used, d ? ", %u" : "%u", unsigned(shape[d])));
        if (used < n) std::snprintf(buf + used, n - used, "]");
    }

private:
    Status check_header() {
        using namespace detail;
        if (!host_is_little_endian())
            return Status::fail(Error::bad_blob, "this build reads blobs on little-endian hosts only");
        if (!base_ && size_) return Status::fail(Error::invalid_argument, "blob memory is null");
        if (size_ < kHeaderSize)
            return Status::fail(Error::bad_blob, "blob truncated: %zu bytes, the header alone is %u", size_,
                                unsigned(kHeaderSize));
        if (std::memcmp(base_, "FACEMASK", 8) != 0)
            return Status::fail(Error::bad_blob, "not a facemask weight blob (bad magic)");
        uint32_t version = rd32(base_ + 8);
        uint32_t tag = rd32(base_ + 12);
        if (tag != kEndianTag)
            return Status::fail(Error::bad_blob, "blob endian tag is 0x%08x, expected 0x%08x (little-endian)",
                                unsigned(tag), unsigned(kEndianTag));
        if (version != kFormatVersion)
            return Status::fail(Error::blob_version, "blob format version %u; this build reads version %u",
                                unsigned(version), unsigned(kFormatVersion));
        if (reinterpret_cast<uintptr_t>(base_) % 4 != 0)
            return Status::fail(Error::invalid_argument, "blob memory must be at least 4-byte aligned");
        if (rd32(base_ + 16) != kHeaderSize || rd32(base_ + 32) != kConfigOffset ||
            rd32(base_ + 36) != kConfigSize || rd32(base_ + 44) != kTableOffset)
            return Status::fail(Error::bad_blob, "blob header has unexpected section offsets or sizes");
        uint32_t kind = rd32(base_ + 20);
        if (kind != 1 && kind != 2) return Status::fail(Error::bad_blob, "blob model kind %u is unknown", unsigned(kind));
        kind_ = ModelKind(kind);
        uint64_t file_size = rd64(base_ + 24);
        if (file_size > size_)
            return Status::fail(Error::bad_blob, "blob truncated: %zu bytes, its header says %llu", size_,
                                static_cast<unsigned long long>(file_size));
        if (file_size < size_)
            return Status::fail(Error::bad_blob, "blob has %zu bytes, its header says %llu (trailing data)", size_,
                                static_cast<unsigned long long>(file_size));
        if (!all_zero(base_ + 68, 60)) return Status::fail(Error::bad_blob, "blob header reserved bytes are not zero");
        count_ = rd32(base_ + 40);
        data_offset_ = rd64(base_ + 48);
        data_size_ = rd64(base_ + 56);
        if (count_ == 0 || count_ > kMaxTensors)
            return Status::fail(Error::bad_blob, "blob tensor count %u is out of range 1..%u", unsigned(count_),
                                unsigned(kMaxTensors));
        uint64_t table_end = uint64_t(kTableOffset) + uint64_t(count_) * kEntrySize;
        if (data_offset_ % 64 != 0 || data_offset_ < table_end || data_size_ % 64 != 0 ||
            data_offset_ > file_size || data_size_ != file_size - data_offset_)
            return Status::fail(Error::bad_blob, "blob data section (offset %llu, size %llu) does not fit the file",
                                static_cast<unsigned long long>(data_offset_),
                                static_cast<unsigned long long>(data_size_));
        uint32_t want = rd32(base_ + kChecksumOffset);
        uint32_t got = blob_checksum(base_, size_);
        if (want != got)
            return Status::fail(Error::checksum, "blob checksum mismatch: stored 0x%08x, computed 0x%08x (corrupted file)",
                                unsigned(want), unsigned(got));
        return Status();
    }

    Status check_config() {
        using namespace detail;
        const unsigned char* c = base_ + kConfigOffset;
        Config& k = config_;
        if (!read_name(c, 32, k.variant, false) || !read_name(c + 32, 32, k.family, true))
            return Status::fail(Error::bad_blob, "blob config: variant/family is not a NUL-terminated ASCII name");
        k.channel_order = rd32(c + 64);
        for (int i = 0; i < 3; ++i) {
            k.mean[i] = rdf32(c + 68 + 4 * i);
            k.scale[i] = rdf32(c + 80 + 4 * i);
        }
        k.input_width = rd32(c + 92);
        k.input_height = rd32(c + 96);
        uint32_t act = rd32(c + 100);
        k.slope = rdf32(c + 104);
        k.width_x1000 = rd32(c + 108);
        k.selftest_tolerance = rdf32(c + 112);
        if (k.channel_order > 1) return Status::fail(Error::bad_blob, "blob config: channel order %u is not 0 (RGB) or 1 (BGR)", unsigned(k.channel_order));
        for (int i = 0; i < 3; ++i)
            if (!finite(k.mean[i]) || !finite(k.scale[i]) || k.scale[i] == 0.0f)
                return Status::fail(Error::bad_blob, "blob config: input mean/scale must be finite, scale non-zero");
        if ((k.input_width == 0) != (k.input_height == 0) || k.input_width > 4096 || k.input_height > 4096)
            return Status::fail(Error::bad_blob, "blob config: input size %ux%u is invalid", unsigned(k.input_width),
                                unsigned(k.input_height));
        if (!activation_ok(act, k.slope))
            return Status::fail(Error::bad_blob, "blob config: activation %u with slope %g is invalid", unsigned(act), double(k.slope));
        k.activation = Activation(act);
        if (k.width_x1000 == 0 || k.width_x1000 > 4000)
            return Status::fail(Error::bad_blob, "blob config: width multiplier x1000 = %u is out of range", unsigned(k.width_x1000));
        if (!finite(k.selftest_tolerance) || k.selftest_tolerance <= 0.0f || k.selftest_tolerance > 1.0f)
            return Status::fail(Error::bad_blob, "blob config: self-test tolerance %g is out of range (0, 1]", double(k.selftest_tolerance));
        if (!all_zero(c + 116, 4)) return Status::fail(Error::bad_blob, "blob config: reserved bytes are not zero");
        return kind_ == ModelKind::detector ? check_detector_config(c) : check_classifier_config(c);
    }

    Status check_detector_config(const unsigned char* c) {
        using namespace detail;
        Config& k = config_;
        k.levels = rd32(c + 120);
        k.anchors = rd32(c + 124);
        if (k.levels < 1 || k.levels > 4 || k.anchors < 1 || k.anchors > 4)
            return Status::fail(Error::bad_blob, "blob config: %u levels / %u anchors per cell is out of range 1..4",
                                unsigned(k.levels), unsigned(k.anchors));
        for (uint32_t l = 0; l < 4; ++l) {
            k.steps[l] = rd32(c + 128 + 4 * l);
            bool used = l < k.levels;
            if (used ? (k.steps[l] < 1 || k.steps[l] > 1024) : k.steps[l] != 0)
                return Status::fail(Error::bad_blob, "blob config: step %u of level %u is invalid", unsigned(k.steps[l]), unsigned(l + 1));
            for (uint32_t a = 0; a < 4; ++a) {
                float s = rdf32(c + 144 + 16 * l + 4 * a);
                k.min_sizes[l][a] = s;
                bool used_a = used && a < k.anchors;
                if (used_a ? !(finite(s) && s > 0.0f && s < 1e5f) : s != 0.0f)
                    return Status::fail(Error::bad_blob, "blob config: anchor size %g (level %u, anchor %u) is invalid", double(s),
                                        unsigned(l + 1), unsigned(a + 1));
            }
        }
        for (int i = 0; i < 2; ++i) {
            k.variances[i] = rdf32(c + 208 + 4 * i);
            if (!(finite(k.variances[i]) && k.variances[i] > 0.0f && k.variances[i] < 10.0f))
                return Status::fail(Error::bad_blob, "blob config: variance %g is invalid", double(k.variances[i]));
        }
        uint32_t act = rd32(c + 216);
        k.ssh_slope = rdf32(c + 220);
        if (!activation_ok(act, k.ssh_slope))
            return Status::fail(Error::bad_blob, "blob config: SSH activation %u is invalid", unsigned(act));
        k.ssh_activation = Activation(act);
        if (!all_zero(c + 224, 32)) return Status::fail(Error::bad_blob, "blob config: reserved bytes are not zero");
        return Status();
    }

    Status check_classifier_config(const unsigned char* c) {
        using namespace detail;
        Config& k = config_;
        k.hidden = rd32(c + 120);
        k.crop_square = rd32(c + 124);
        k.crop_margin = rdf32(c + 128);
        k.threshold = rdf32(c + 132);
        if (k.hidden < 1 || k.hidden > 4096) return Status::fail(Error::bad_blob, "blob config: %u hidden units is out of range", unsigned(k.hidden));
        if (k.crop_square > 1) return Status::fail(Error::bad_blob, "blob config: crop mode %u is not 0 or 1", unsigned(k.crop_square));
        if (!(finite(k.crop_margin) && k.crop_margin >= 0.0f && k.crop_margin <= 1.0f))
            return Status::fail(Error::bad_blob, "blob config: crop margin %g is out of range [0, 1]", double(k.crop_margin));
        if (!(finite(k.threshold) && k.threshold >= 0.0f && k.threshold <= 1.0f))
            return Status::fail(Error::bad_blob, "blob config: threshold %g is out of range [0, 1]", double(k.threshold));
        if (k.input_width == 0) return Status::fail(Error::bad_blob, "blob config: a classifier needs a fixed input size");
        if (!all_zero(c + 136, 120)) return Status::fail(Error::bad_blob, "blob config: reserved bytes are not zero");
        return Status();
    }

    Status check_table() {
        using namespace detail;
        for (uint32_t i = 0; i < count_; ++i) {
            const unsigned char* e = base_ + kTableOffset + size_t(i) * kEntrySize;
            char name[32];
            if (!read_name(e, 32, name, false))
                return Status::fail(Error::bad_blob, "tensor #%u has no valid NUL-terminated ASCII name", unsigned(i));
            const uint32_t dtype = rd32(e + 32);
            if (dtype != kDtypeF32 && dtype != kDtypeF16)
                return Status::fail(Error::bad_blob, "tensor '%s' has dtype %u; 1 (float32) and 2 (float16) are defined",
                                    name, unsigned(dtype));
            const uint64_t esize = dtype_bytes(dtype);
            uint32_t rank = rd32(e + 36);
            if (rank < 1 || rank > 4) return Status::fail(Error::bad_blob, "tensor '%s' has rank %u (1..4 allowed)", name, unsigned(rank));
            uint64_t numel = 1;
            for (uint32_t d = 0; d < 4; ++d) {
                uint32_t n = rd32(e + 40 + 4 * d);
                if (d < rank ? (n == 0 || n > (1u << 24)) : n != 0)
                    return Status::fail(Error::bad_blob, "tensor '%s' has an invalid dimension %u", name, unsigned(n));
                if (d < rank) numel *= n;
                if (numel > data_size_) break;  // also guards the multiplication
            }
            uint64_t offset = rd64(e + 56);
            if (offset % 64 != 0 || numel > data_size_ / esize || offset > data_size_ || numel * esize > data_size_ - offset)
                return Status::fail(Error::bad_blob, "tensor '%s' lies outside the data section", name);
            for (uint32_t j = 0; j < i; ++j)
                if (std::strcmp(name, reinterpret_cast<const char*>(base_ + kTableOffset + size_t(j) * kEntrySize)) == 0)
                    return Status::fail(Error::bad_blob, "tensor name '%s' appears twice", name);
        }
        return Status();
    }

    const unsigned char* base_ = nullptr;
    size_t size_ = 0;
    ModelKind kind_ = ModelKind::detector;
    Config config_;
    uint32_t count_ = 0;
    uint64_t data_offset_ = 0, data_size_ = 0;
};

}  // namespace blob
}  // namespace facemask
