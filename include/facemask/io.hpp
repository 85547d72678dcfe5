// facemask/io.hpp — pictures from and to files, through stb_image and stb_image_write.
//
// Available when file I/O is (no FACEMASK_NO_STDIO) and the stb headers are found
// (<stb/stb_image.h> as Debian installs them, or <stb_image.h>); FACEMASK_HAS_IO tells.
// Exactly one translation unit of a program defines FACEMASK_STB_IMPLEMENTATION before
// including facemask, to compile stb's implementation there (stb's own convention).
//
// Decoding: JPEG, PNG (8 and 16 bit: 16-bit is reduced to 8), BMP, TGA, GIF (first frame),
// PSD, PNM; grey and alpha are converted to RGB. A JPEG's EXIF orientation is applied (stb
// ignores it), so the picture is upright as viewers show it.
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
#define STBI_NO_THREAD_LOCALS  // thread_local breaks bare-metal section layouts
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
            for (int x = 0; x < w_; ++x, p += n, q += 3) q[0] = p[off[0]], q[1] = p[off[1]], q[2] = p[off[2]];
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
    // Pictures with more pixels than this are refused before decoding (memory safety).
    static constexpr long kDefaultMaxPixels = 100L * 1000L * 1000L;

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
        if (size > size_t(INT32_MAX)) return Status::fail(Error::too_large, "file is larger than 2 GiB");
        int w = 0, h = 0, n = 0;
        if (!stbi_info_from_memory(bytes, int(size), &w, &h, &n))
            return Status::fail(Error::bad_image, "not a picture stb_image can decode (%s)", stbi_failure_reason());
        if (w <= 0 || h <= 0 || w > kMaxPictureSide || h > kMaxPictureSide || double(w) * h > double(max_pixels))
            return Status::fail(Error::too_large, "picture is %dx%d, beyond the limit of %ld pixels (%d a side)", w, h,
                                max_pixels, kMaxPictureSide);
        stbi_uc* px = stbi_load_from_memory(bytes, int(size), &w, &h, &n, 3);
        if (!px) return Status::fail(Error::bad_image, "cannot decode the picture (%s)", stbi_failure_reason());
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
