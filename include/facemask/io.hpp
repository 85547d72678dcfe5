// facemask/io.hpp — pictures from and to files, through stb_image and stb_image_write.
//
// Available when file I/O is (no FACEMASK_NO_STDIO) and the stb headers are found
// (<stb/stb_image.h> as Debian installs them, or <stb_image.h>); FACEMASK_HAS_IO tells.
// Exactly one translation unit of a program defines FACEMASK_STB_IMPLEMENTATION before
// including facemask, to compile stb's implementation there (stb's own convention).
//
// Decoding: JPEG (baseline and progressive, 8 bit), PNG (8 and 16 bit: 16-bit is reduced to 8),
// BMP and binary 8-bit PNM (P5 grey / P6 colour) only (stb's other decoders are compiled out); grey and alpha are converted to RGB. A
// JPEG's EXIF orientation is applied (stb ignores it), so the picture is upright as viewers show it.
//
// Limits, checked from the file's header before anything is decoded (Error::too_large, the
// message names the limit): kMaxPictureSide (32768) pixels a side (also stb's
// STBI_MAX_DIMENSIONS) and a pixel budget, `max_pixels` of load()/load_memory() (default
// Image::kDefaultMaxPixels, 50 million). A JPEG's segments are validated before stb sees the
// bytes (Huffman and quantisation tables, frame and scan headers: stb 2.27 writes past its
// Huffman tables on a crafted DHT), so malformed ones are refused as bad_image.
// stb's failure reason is thread-local (several threads may decode at once) and its memory
// comes from FACEMASK_MALLOC / FACEMASK_FREE, as all of facemask's.
#pragma once
#include "image.hpp"

#if !defined(FACEMASK_NO_STDIO) && defined(__has_include)
#if __has_include(<stb/stb_image.h>) && __has_include(<stb/stb_image_write.h>)
#define FACEMASK_STB_IMAGE <stb/stb_image.h>
#define FACEMASK_STB_IMAGE_WRITE <stb/stb_image_write.h>
#elif __has_include(<stb_image.h>) && __has_include(<stb_image_write.h>)
#define FACEMASK_STB_IMAGE <stb_image.h>
#define FACEMASK_STB_IMAGE_WRITE <stb_image_write.h>
#endif
#endif

#ifdef FACEMASK_STB_IMAGE
#define FACEMASK_HAS_IO 1
#if defined(FACEMASK_STB_IMPLEMENTATION)
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#endif
// Only the formats the product needs, and no side beyond kMaxPictureSide.
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_PNM  // binary PPM/PGM: raw frames from tools and tests
#define STBI_NO_STDIO  // files are read by facemask (limits, folders), stb only sees memory
#define STBI_MAX_DIMENSIONS (1 << 15)
// Picture decoding and encoding allocate through facemask's hooks.
// While a picture decodes, no single stb allocation may exceed a bound from its size (set by
// Image::load_memory from the header: a 104-byte 4x3 PNG made stb 2.27's PNG reader ask for
// 1.7 GB, which took 40 s to release in the sanitized build; found by fuzz_image). 0: no bound.
namespace facemask {
namespace detail {
inline size_t& stb_alloc_limit() {
    static thread_local size_t limit = 0;
    return limit;
}
inline void* stb_malloc(size_t n) {
    const size_t limit = stb_alloc_limit();
    if (limit && n > limit) return nullptr;  // stb reports "outofmem": the picture is refused
    return FACEMASK_MALLOC(n ? n : 1);
}
inline void* stb_realloc(void* p, size_t old_size, size_t new_size) {
    void* q = stb_malloc(new_size);
    if (q && p) std::memcpy(q, p, old_size < new_size ? old_size : new_size);
    if (q && p) FACEMASK_FREE(p);
    return q;
}
}  // namespace detail
}  // namespace facemask
#define STBI_MALLOC(n) ::facemask::detail::stb_malloc(n)
#define STBI_FREE(p) FACEMASK_FREE(p)
#define STBI_REALLOC_SIZED(p, old_size, new_size) ::facemask::detail::stb_realloc(p, old_size, new_size)
#define STBIW_MALLOC(n) FACEMASK_MALLOC(n)
#define STBIW_FREE(p) FACEMASK_FREE(p)
#define STBIW_REALLOC_SIZED(p, old_size, new_size) ::facemask::detail::stb_realloc(p, old_size, new_size)
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wsign-compare"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#endif
#endif
// Included once only: a program may already have included stb (with its implementation).
#ifndef STBI_INCLUDE_STB_IMAGE_H
#include FACEMASK_STB_IMAGE
#endif
#ifndef INCLUDE_STB_IMAGE_WRITE_H
#include FACEMASK_STB_IMAGE_WRITE
#endif
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
#else
#define FACEMASK_HAS_IO 0
#endif

#include "network.hpp"  // detail::read_file

namespace facemask {
namespace detail {

// What a picture file's header says, read before any decoder runs.
struct PictureHeader {
    const char* format = "";  // "JPEG", "PNG", "BMP" or "PNM"
    long width = 0, height = 0;
};

inline uint32_t be16(const unsigned char* p) { return uint32_t(p[0]) << 8 | p[1]; }
inline uint32_t be32(const unsigned char* p) { return be16(p) << 16 | be16(p + 2); }
inline uint32_t le32(const unsigned char* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }

// One DHT segment's body: every table's class and slot in range, at most 256 codes, code
// lengths that form a prefix code, and the lengths adding up to the segment. Sets bit
// 4 x class + slot of `defined` for each table.
inline Status check_jpeg_dht(const unsigned char* s, size_t n, unsigned* defined) {
    size_t j = 0;
    while (j < n) {
        if (n - j < 17) return Status::fail(Error::bad_image, "JPEG: Huffman table header is cut short");
        const unsigned tc = s[j] >> 4, th = s[j] & 15;
        if (tc > 1 || th > 3) return Status::fail(Error::bad_image, "JPEG: Huffman table class %u slot %u", tc, th);
        size_t codes = 0, room = 1;  // room: free codes of the current length
        for (int len = 1; len <= 16; ++len) {
            const unsigned count = s[j + size_t(len)];
            room *= 2;
            if (count > room) return Status::fail(Error::bad_image, "JPEG: Huffman table has too many %d-bit codes", len);
            room -= count;
            codes += count;
        }
        if (codes > 256) return Status::fail(Error::bad_image, "JPEG: Huffman table with %zu codes (at most 256)", codes);
        j += 17;
        if (n - j < codes) return Status::fail(Error::bad_image, "JPEG: Huffman table values are cut short");
        j += codes;
        *defined |= 1u << (4 * tc + th);
    }
    return Status();
}

inline Status check_jpeg_dqt(const unsigned char* s, size_t n, unsigned* defined) {
    size_t j = 0;
    while (j < n) {
        const unsigned pq = s[j] >> 4, tq = s[j] & 15;
        if (pq > 1 || tq > 3) return Status::fail(Error::bad_image, "JPEG: quantisation table precision %u slot %u", pq, tq);
        const size_t bytes = 1 + 64 * (size_t(pq) + 1);
        if (n - j < bytes) return Status::fail(Error::bad_image, "JPEG: quantisation table is cut short");
        j += bytes;
        *defined |= 1u << tq;
    }
    return Status();
}

// Walks a JPEG's segments (and skips its entropy-coded data) and checks every header stb
// would parse; fills the frame size. Anything malformed is bad_image before stb sees it.
// A scan may only use tables defined before it: stb 2.27 decodes with a table slot that was
// never filled (uninitialised memory: reads 16 MB past its tables; found by fuzz_image).
inline Status check_jpeg(const unsigned char* p, size_t n, PictureHeader* out) {
    size_t i = 2;
    unsigned components = 0, huffman = 0, quant = 0;
    bool progressive = false;
    unsigned char ids[4] = {}, tables[4] = {};  // frame components: id, quantisation slot
    while (i < n) {
        if (p[i] != 0xFF) return Status::fail(Error::bad_image, "JPEG: no marker at byte %zu", i);
        while (i < n && p[i] == 0xFF) ++i;  // fill bytes
        if (i >= n) break;
        const unsigned m = p[i++];
        if (m == 0xD9) break;                                              // end of image
        if (m >= 0xD0 && m <= 0xD8) continue;                              // no length
        // stb knows no marker below 0xC0 (its "unknown marker"); refusing them here also keeps
        // this walk from reading a length where stb reads none.
        if (m < 0xC0) return Status::fail(Error::bad_image, "JPEG: unknown marker 0x%02X at byte %zu", m, i - 1);
        if (n - i < 2) return Status::fail(Error::bad_image, "JPEG: segment length is cut short");
        const size_t len = be16(p + i);
        if (len < 2) return Status::fail(Error::bad_image, "JPEG: segment 0x%02X with length %zu", m, len);
        if (len > n - i) {
            if (m >= 0xE0 || m == 0xFE) break;  // a cut metadata segment: no picture data follows
            return Status::fail(Error::bad_image, "JPEG: segment 0x%02X is cut short", m);
        }
        const unsigned char* s = p + i + 2;
        const size_t sn = len - 2;
        if (m == 0xC4) {
            FACEMASK_TRY(check_jpeg_dht(s, sn, &huffman));
        } else if (m == 0xDB) {
            FACEMASK_TRY(check_jpeg_dqt(s, sn, &quant));
        } else if (m == 0xC0 || m == 0xC1 || m == 0xC2) {
            if (components) return Status::fail(Error::bad_image, "JPEG: more than one frame header");
            if (sn < 6 || s[0] != 8) return Status::fail(Error::bad_image, "JPEG: frame header is not an 8-bit frame");
            out->height = long(be16(s + 1));
            out->width = long(be16(s + 3));
            components = s[5];
            progressive = m == 0xC2;
            if (out->width == 0 || out->height == 0)
                return Status::fail(Error::bad_image, "JPEG: frame of %ldx%ld pixels", out->width, out->height);
            if (components != 1 && components != 3 && components != 4)
                return Status::fail(Error::bad_image, "JPEG: %u colour components", components);
            if (sn != 6 + 3 * size_t(components)) return Status::fail(Error::bad_image, "JPEG: frame header length");
            for (unsigned c = 0; c < components; ++c) {
                const unsigned h = s[7 + 3 * c] >> 4, v = s[7 + 3 * c] & 15, tq = s[8 + 3 * c];
                if (h < 1 || h > 4 || v < 1 || v > 4 || tq > 3)
                    return Status::fail(Error::bad_image, "JPEG: component %u sampling %ux%u table %u", c, h, v, tq);
                ids[c] = s[6 + 3 * c];
                tables[c] = static_cast<unsigned char>(tq);
            }
        } else if ((m >= 0xC3 && m <= 0xCF) && m != 0xC4 && m != 0xC8 && m != 0xCC) {
            return Status::fail(Error::bad_image, "JPEG: unsupported coding (SOF 0x%02X: lossless, hierarchical "
                                "or arithmetic)", m);
        } else if (m == 0xDD) {
            if (sn != 2) return Status::fail(Error::bad_image, "JPEG: restart interval segment length");
        } else if (m == 0xDA) {
            if (!components) return Status::fail(Error::bad_image, "JPEG: scan before the frame header");
            const unsigned ns = sn ? s[0] : 0;
            if (ns < 1 || ns > components || sn != 4 + 2 * size_t(ns))
                return Status::fail(Error::bad_image, "JPEG: scan header with %u components", ns);
            // What the scan decodes with: DC tables unless it refines DC (progressive, Ss = 0,
            // Ah > 0), AC tables unless it is a DC scan (progressive, Ss = 0).
            const unsigned ss = s[1 + 2 * ns], ah = s[3 + 2 * ns] >> 4;
            const bool dc = !progressive || (ss == 0 && ah == 0), ac = !progressive || ss > 0;
            for (unsigned c = 0; c < ns; ++c) {
                const unsigned td = s[2 + 2 * c] >> 4, ta = s[2 + 2 * c] & 15;
                if (td > 3 || ta > 3) return Status::fail(Error::bad_image, "JPEG: scan uses Huffman table slot beyond 3");
                if ((dc && !(huffman >> td & 1)) || (ac && !(huffman >> (4 + ta) & 1)))
                    return Status::fail(Error::bad_image, "JPEG: scan uses a Huffman table that is not defined "
                                        "(DC %u, AC %u)", td, ta);
                unsigned f = 0;
                while (f < components && ids[f] != s[1 + 2 * c]) ++f;
                if (f == components)
                    return Status::fail(Error::bad_image, "JPEG: scan names component %u, not in the frame", s[1 + 2 * c]);
                if (!(quant >> tables[f] & 1))
                    return Status::fail(Error::bad_image, "JPEG: component %u uses quantisation table %u, not defined",
                                        s[1 + 2 * c], tables[f]);
            }
            // Entropy-coded data up to the next marker, read as stb's bit reader reads it: a run
            // of 0xFF is fill bytes, and what follows the run decides: 0x00 is a stuffed data
            // byte, a restart marker continues the scan, anything else ends it. (Stopping at the
            // first FF FF let "FF FF 00" be taken as a segment that hid a DHT from this check,
            // which stb then built past its tables: found by fuzz_image.)
            size_t k = i + len;
            for (;;) {
                while (k < n && p[k] != 0xFF) ++k;
                size_t q = k;
                while (q < n && p[q] == 0xFF) ++q;
                if (q >= n) break;
                if (p[q] == 0x00 || (p[q] >= 0xD0 && p[q] <= 0xD7)) {
                    k = q + 1;
                    continue;
                }
                break;
            }
            if (k + 1 >= n) break;  // cut short: stb decodes what is there
            i = k;
            continue;
        }
        i += len;
    }
    if (!components) return Status::fail(Error::bad_image, "JPEG: no frame header");
    return Status();
}

// The format and size a JPEG, PNG, BMP or PNM file declares; bad_image for anything else.
inline Status read_picture_header(const unsigned char* p, size_t n, PictureHeader* out) {
    static const unsigned char png[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) {
        out->format = "JPEG";
        return check_jpeg(p, n, out);
    }
    if (n >= 8 && std::memcmp(p, png, 8) == 0) {
        out->format = "PNG";
        if (n < 24 || std::memcmp(p + 12, "IHDR", 4) != 0) return Status::fail(Error::bad_image, "PNG: no IHDR header");
        out->width = long(be32(p + 16));
        out->height = long(be32(p + 20));
        // stb 2.27 copies a first IDAT of length 0 into a buffer it has not allocated yet
        // (memcpy to null, undefined behaviour; found by fuzz_image): refuse that file.
        for (size_t i = 8; i + 8 <= n;) {
            const size_t len = be32(p + i);
            if (std::memcmp(p + i + 4, "IDAT", 4) == 0) {
                if (len == 0) return Status::fail(Error::bad_image, "PNG: empty first IDAT chunk");
                break;
            }
            if (len > n - i - 8) break;  // cut short: stb reports it
            i += 12 + len;
        }
        return Status();
    }
    if (n >= 2 && p[0] == 'B' && p[1] == 'M') {
        out->format = "BMP";
        if (n < 26) return Status::fail(Error::bad_image, "BMP: header is cut short");
        if (le32(p + 14) == 12) {  // OS/2 header: 16-bit sizes
            out->width = long(p[18] | p[19] << 8);
            out->height = long(p[20] | p[21] << 8);
        } else {
            out->width = long(int32_t(le32(p + 18)));
            const long h = long(int32_t(le32(p + 22)));
            out->height = h < 0 ? -h : h;  // negative: top-down rows
        }
        return Status();
    }
    if (n >= 2 && p[0] == 'P' && (p[1] == '5' || p[1] == '6')) {
        out->format = "PNM";
        size_t i = 2;
        long v[3] = {0, 0, 0};  // width, height, largest sample value
        for (long& x : v) {
            while (i < n && (p[i] == ' ' || (p[i] >= '\t' && p[i] <= '\r') || p[i] == '#')) {
                if (p[i] == '#')  // a comment ends at CR or LF, as stb reads it
                    while (i < n && p[i] != '\n' && p[i] != '\r') ++i;
                else
                    ++i;
            }
            if (i >= n || p[i] < '0' || p[i] > '9') return Status::fail(Error::bad_image, "PNM: no picture size or maximum value");
            for (; i < n && p[i] >= '0' && p[i] <= '9'; ++i) x = x > (1L << 24) ? x : x * 10 + (p[i] - '0');
        }
        // 8-bit samples only. stb 2.27 reads these numbers into an int without a bound (UBSan:
        // signed overflow on a 10-digit maximum value), and its 16-bit PNM path reads past its
        // buffer when it narrows the samples (ASan); both found by fuzz_image.
        if (v[2] < 1 || v[2] > 255) return Status::fail(Error::bad_image, "PNM: maximum sample value is not 1..255 (8-bit)");
        out->width = v[0], out->height = v[1];
        return Status();
    }
    return Status::fail(Error::bad_image, "not a JPEG, PNG, BMP or PNM file");
}

}  // namespace detail

// An RGB picture that owns its pixels.
class Image {
public:
    Image() = default;
    Image(Image&&) = default;
    Image& operator=(Image&&) = default;

    // Allocates a w x h RGB picture (contents undefined).
    Status create(int w, int h) {
        if (w <= 0 || h <= 0 || w > kMaxPictureSide || h > kMaxPictureSide)
            return Status::fail(Error::invalid_argument, "image size %dx%d is out of range", w, h);
        if (!px_.reserve(size_t(w) * size_t(h) * 3)) return Status::fail(Error::out_of_memory, "cannot allocate a %dx%d image", w, h);
        w_ = w;
        h_ = h;
        return Status();
    }

    // A copy of any ImageView, converted to RGB.
    Status assign(const ImageView& v) {
        FACEMASK_TRY(check_image(v));
        FACEMASK_TRY(create(v.width, v.height));
        int off[3];
        detail::rgb_offsets(v.format, off);
        const int n = v.channels();
        for (int y = 0; y < h_; ++y) {
            const uint8_t* p = v.row(y);
            uint8_t* q = row(y);
            for (int x = 0; x < w_; ++x, p += n, q += 3) {
                if (v.format == PixelFormat::rgb565) {
                    detail::rgb565_to_rgb(p, q);
                    continue;
                }
                q[0] = p[off[0]], q[1] = p[off[1]], q[2] = p[off[2]];
            }
        }
        return Status();
    }

    int width() const { return w_; }
    int height() const { return h_; }
    bool empty() const { return w_ == 0; }
    uint8_t* data() { return px_.data(); }
    const uint8_t* data() const { return px_.data(); }
    uint8_t* row(int y) { return px_.data() + size_t(y) * w_ * 3; }
    const uint8_t* row(int y) const { return px_.data() + size_t(y) * w_ * 3; }
    ImageView view() const { return ImageView(px_.data(), w_, h_, PixelFormat::rgb); }

#if FACEMASK_HAS_IO
    // Pictures with more pixels than this are refused before decoding (memory: a picture costs
    // 6 bytes a pixel while it is decoded). Callers may pass their own budget.
    static constexpr long kDefaultMaxPixels = 50L * 1000L * 1000L;

    Status load(const char* path, long max_pixels = kDefaultMaxPixels) {
        Buffer bytes;
        size_t size = 0;
        FACEMASK_TRY(detail::read_file(path, &bytes, &size, size_t(1) << 30));
        Status st = load_memory(bytes.data(), size, max_pixels);
        if (!st) return Status::fail(st.code(), "%s: %s", path, st.message());
        return st;
    }

    Status load_memory(const void* data, size_t size, long max_pixels = kDefaultMaxPixels) {
        const stbi_uc* bytes = static_cast<const stbi_uc*>(data);
        if (!data || size == 0) return Status::fail(Error::bad_image, "empty file");
        if (max_pixels < 1) return Status::fail(Error::invalid_argument, "max_pixels must be positive, not %ld", max_pixels);
        if (size > size_t(INT32_MAX)) return Status::fail(Error::too_large, "file is larger than 2 GiB");
        detail::PictureHeader head;
        FACEMASK_TRY(detail::read_picture_header(bytes, size, &head));
        if (head.width > kMaxPictureSide || head.height > kMaxPictureSide)
            return Status::fail(Error::too_large, "%s of %ldx%ld pixels: beyond the limit of %d pixels a side",
                                head.format, head.width, head.height, kMaxPictureSide);
        if (double(head.width) * double(head.height) > double(max_pixels))
            return Status::fail(Error::too_large, "%s of %ldx%ld pixels: beyond the pixel budget of %ld (max_pixels)",
                                head.format, head.width, head.height, max_pixels);
        int w = 0, h = 0, n = 0;
        if (!stbi_info_from_memory(bytes, int(size), &w, &h, &n))
            return Status::fail(Error::bad_image, "cannot read the %s header (%s)", head.format, stbi_failure_reason());
        // stb's own reading of the header decides its path: a 16-bit PNM is refused even if
        // the header check above read it differently.
        if (std::strcmp(head.format, "PNM") == 0 && stbi_is_16_bit_from_memory(bytes, int(size)))
            return Status::fail(Error::bad_image, "PNM: 16-bit samples (only 8-bit PNM is read)");
        if (w <= 0 || h <= 0 || w > kMaxPictureSide || h > kMaxPictureSide || double(w) * h > double(max_pixels))
            return Status::fail(Error::too_large, "picture is %dx%d, beyond the limit of %ld pixels (%d a side)", w, h,
                                max_pixels, kMaxPictureSide);
        // Every buffer stb needs for this picture (compressed data, inflated rows, 16-bit
        // output, components) is below twice 8 bytes a pixel plus the file; more is refused.
        struct Bound {
            explicit Bound(size_t n) { detail::stb_alloc_limit() = n; }
            ~Bound() { detail::stb_alloc_limit() = 0; }
        } bound(2 * (size_t(w) * size_t(h) * 8 + size_t(h) * 8 + size) + (size_t(1) << 20));
        stbi_uc* px = stbi_load_from_memory(bytes, int(size), &w, &h, &n, 3);
        if (!px) return Status::fail(Error::bad_image, "cannot decode the %s (%s)", head.format, stbi_failure_reason());
        const int orientation = exif_orientation(bytes, size);
        Status st = orientation > 4 ? create(h, w) : create(w, h);
        if (st) apply_orientation(px, w, h, orientation);
        stbi_image_free(px);
        return st;
    }

    // Writes PNG (.png), JPEG (.jpg/.jpeg, `quality` 1..100) or BMP (.bmp), chosen by extension.
    Status save(const char* path, int quality = 92) const {
        if (empty()) return Status::fail(Error::invalid_argument, "cannot save an empty image");
        const char* dot = path ? std::strrchr(path, '.') : nullptr;
        int ok = 0;
        if (dot && ext_is(dot, ".png"))
            ok = stbi_write_png(path, w_, h_, 3, px_.data(), w_ * 3);
        else if (dot && (ext_is(dot, ".jpg") || ext_is(dot, ".jpeg")))
            ok = stbi_write_jpg(path, w_, h_, 3, px_.data(), quality < 1 ? 1 : quality > 100 ? 100 : quality);
        else if (dot && ext_is(dot, ".bmp"))
            ok = stbi_write_bmp(path, w_, h_, 3, px_.data());
        else
            return Status::fail(Error::invalid_argument, "'%s': unknown picture type; use .png, .jpg or .bmp",
                                path ? path : "");
        if (!ok) return Status::fail(Error::io, "cannot write '%s'", path);
        return Status();
    }
#endif

    // EXIF orientation (1..8) of a JPEG in memory; 1 when absent or unreadable.
    static int exif_orientation(const unsigned char* p, size_t n) {
        if (n < 4 || p[0] != 0xFF || p[1] != 0xD8) return 1;
        size_t i = 2;
        while (i + 4 <= n && p[i] == 0xFF) {
            const unsigned marker = p[i + 1];
            const size_t len = size_t(p[i + 2]) << 8 | p[i + 3];
            if (marker == 0xDA || marker == 0xD9 || len < 2 || i + 2 + len > n) break;  // image data: no more headers
            if (marker == 0xE1 && len >= 16 && std::memcmp(p + i + 4, "Exif\0\0", 6) == 0)
                return tiff_orientation(p + i + 10, len - 8);
            i += 2 + len;
        }
        return 1;
    }

private:
    static bool ext_is(const char* dot, const char* ext) {
        for (; *dot && *ext; ++dot, ++ext)
            if ((*dot | 0x20) != *ext) return false;
        return !*dot && !*ext;
    }

    static int tiff_orientation(const unsigned char* t, size_t n) {
        if (n < 8) return 1;
        const bool le = t[0] == 'I' && t[1] == 'I';
        if (!le && !(t[0] == 'M' && t[1] == 'M')) return 1;
        auto u16 = [&](size_t o) { return le ? unsigned(t[o] | t[o + 1] << 8) : unsigned(t[o] << 8 | t[o + 1]); };
        auto u32 = [&](size_t o) {
            return le ? uint32_t(t[o]) | uint32_t(t[o + 1]) << 8 | uint32_t(t[o + 2]) << 16 | uint32_t(t[o + 3]) << 24
                      : uint32_t(t[o]) << 24 | uint32_t(t[o + 1]) << 16 | uint32_t(t[o + 2]) << 8 | uint32_t(t[o + 3]);
        };
        const uint32_t ifd = u32(4);
        if (ifd > n - 2) return 1;
        const unsigned count = u16(ifd);
        for (unsigned e = 0; e < count; ++e) {
            const size_t o = ifd + 2 + size_t(e) * 12;
            if (o + 12 > n) break;
            if (u16(o) == 0x0112) {  // Orientation, SHORT
                const unsigned v = u16(o + 8);
                return v >= 1 && v <= 8 ? int(v) : 1;
            }
        }
        return 1;
    }

    // Copies decoded pixels (w x h) into this image, turned upright per EXIF orientation.
    void apply_orientation(const uint8_t* src, int w, int h, int orientation) {
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) {
                int dx = x, dy = y;  // destination of source pixel (x, y)
                switch (orientation) {
                    case 2: dx = w - 1 - x; break;
                    case 3: dx = w - 1 - x, dy = h - 1 - y; break;
                    case 4: dy = h - 1 - y; break;
                    case 5: dx = y, dy = x; break;
                    case 6: dx = h - 1 - y, dy = x; break;
                    case 7: dx = h - 1 - y, dy = w - 1 - x; break;
                    case 8: dx = y, dy = w - 1 - x; break;
                    default: break;
                }
                const uint8_t* s = src + (size_t(y) * w + x) * 3;
                uint8_t* d = row(dy) + size_t(dx) * 3;
                d[0] = s[0], d[1] = s[1], d[2] = s[2];
            }
    }

    Buffer px_;
    int w_ = 0, h_ = 0;
};

}  // namespace facemask
