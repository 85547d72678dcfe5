// facemask/image.hpp — pictures in memory, and turning one into a network input: resampling
// and normalisation in one pass, with no allocation (scratch memory comes from the caller).
//
// Resampling is the antialiased triangle ("bilinear") filter of PIL's Image.resize, applied
// horizontally then vertically: each output pixel averages the input pixels under a triangle
// as wide as the scale factor (at least one pixel), weights normalised to sum 1. When
// enlarging it is plain bilinear interpolation with half-pixel centres; when shrinking it
// averages instead of skipping pixels (no aliasing). The PyTorch reference resizes with PIL
// itself, so both sides see the same network input.
#pragma once
#include "blob.hpp"
#include "kernels/simd.hpp"
#include "kernels/view.hpp"
#include "memory.hpp"
#include "status.hpp"

namespace facemask {

// rgb565: one little-endian 16-bit word a pixel, red in the top 5 bits, green in the middle 6,
// blue in the low 5 (what camera sensors of microcontroller boards write: 2 bytes a pixel
// instead of 3); its components are widened to 8 bits by repeating their top bits.
enum class PixelFormat : uint8_t { rgb, bgr, rgba, bgra, gray, rgb565 };

// Bytes a pixel (rgb565: 2).
inline int channels_of(PixelFormat f) {
    return f == PixelFormat::gray ? 1 : f == PixelFormat::rgb565 ? 2 : (f == PixelFormat::rgba || f == PixelFormat::bgra) ? 4 : 3;
}

// A picture someone else owns: 8-bit pixels, rows `stride` bytes apart (0 = tightly packed).
struct ImageView {
    const uint8_t* data = nullptr;
    int width = 0, height = 0;
    PixelFormat format = PixelFormat::rgb;
    ptrdiff_t stride = 0;

    ImageView() = default;
    ImageView(const uint8_t* pixels, int w, int h, PixelFormat f = PixelFormat::rgb, ptrdiff_t row_bytes = 0)
        : data(pixels), width(w), height(h), format(f), stride(row_bytes) {}

    int channels() const { return channels_of(format); }
    ptrdiff_t row_bytes() const { return stride ? stride : ptrdiff_t(width) * channels(); }
    const uint8_t* row(int y) const { return data + y * row_bytes(); }
};

// Pictures larger than this on a side are refused (memory and int-overflow safety).
constexpr int kMaxPictureSide = 1 << 15;

inline Status check_image(const ImageView& img) {
    if (!img.data) return Status::fail(Error::bad_image, "image has no pixels (null data)");
    if (img.width <= 0 || img.height <= 0)
        return Status::fail(Error::bad_image, "image size %dx%d is empty", img.width, img.height);
    if (img.width > kMaxPictureSide || img.height > kMaxPictureSide)
        return Status::fail(Error::too_large, "image size %dx%d exceeds %d pixels on a side", img.width, img.height,
                            kMaxPictureSide);
    if (img.stride != 0 && img.stride < ptrdiff_t(img.width) * img.channels())
        return Status::fail(Error::bad_image, "image stride %td is smaller than a row (%d bytes)", img.stride,
                            img.width * img.channels());
    return Status();
}

namespace detail {

// For each network input channel: which component of an RGB triple feeds it, and its
// normalisation (v - mean) * scale, from the blob's config.
struct InputNorm {
    int component[3];
    float mean[3], scale[3];
};

inline InputNorm input_norm(const blob::Config& c) {
    InputNorm n;
    for (int k = 0; k < 3; ++k) {
        n.component[k] = c.channel_order == 1 ? 2 - k : k;  // BGR network: channel 0 is blue
        n.mean[k] = c.mean[k];
        n.scale[k] = c.scale[k];
    }
    return n;
}

// An RGB565 pixel as 8-bit R, G, B (0x1F -> 0xFF, 0x10 -> 0x84).
inline void rgb565_to_rgb(const uint8_t* p, uint8_t rgb[3]) {
    const unsigned v = unsigned(p[0]) | unsigned(p[1]) << 8;
    const unsigned r = v >> 11, g = (v >> 5) & 0x3Fu, b = v & 0x1Fu;
    rgb[0] = uint8_t(r << 3 | r >> 2);
    rgb[1] = uint8_t(g << 2 | g >> 4);
    rgb[2] = uint8_t(b << 3 | b >> 2);
}

// Byte offsets of R, G, B inside one pixel of the given format (rgb565: inside the 3 values
// rgb565_to_rgb gives).
inline void rgb_offsets(PixelFormat f, int off[3]) {
    switch (f) {
        case PixelFormat::bgr:
        case PixelFormat::bgra: off[0] = 2, off[1] = 1, off[2] = 0; break;
        case PixelFormat::gray: off[0] = off[1] = off[2] = 0; break;
        default: off[0] = 0, off[1] = 1, off[2] = 2; break;
    }
}

// Largest tap count resample_coefficients supports (its weight buffer): scale factors to 255.
constexpr int kMaxResampleTaps = 511;

// Filter taps per output pixel for `scale` input pixels per output pixel
// (PIL: ceil(support) * 2 + 1, support = max(scale, 1)).
inline int resample_taps(double scale) {
    const double support = scale > 1.0 ? scale : 1.0;
    return int(std::ceil(support)) * 2 + 1;
}

// For each output index: the first input index, the tap count and the normalised weights,
// resampling the input span [in0, in1) of an axis `in` pixels long to `out` pixels. Input
// pixels outside the span but inside the axis contribute at the edges, as in PIL.
inline void resample_coefficients(int in, double in0, double in1, int out, int taps, int* first, int* count,
                                  float* coef) {
    const double scale = (in1 - in0) / out;
    const double filter_scale = scale > 1.0 ? scale : 1.0;
    const double support = filter_scale;
    for (int o = 0; o < out; ++o) {
        const double center = in0 + (o + 0.5) * scale;
        int lo = int(center - support + 0.5);  // truncation toward zero, as PIL does
        if (lo < 0) lo = 0;
        int hi = int(center + support + 0.5);
        if (hi > in) hi = in;
        int n = hi - lo;
        if (n > taps) n = taps;
        if (n < 0) n = 0;
        double w[kMaxResampleTaps];
        double sum = 0;
        for (int t = 0; t < n; ++t) {
            const double d = std::fabs((t + lo - center + 0.5) / filter_scale);
            w[t] = d < 1.0 ? 1.0 - d : 0.0;
            sum += w[t];
        }
        float* c = coef + size_t(o) * taps;
        for (int t = 0; t < taps; ++t) c[t] = (t < n && sum != 0.0) ? float(w[t] / sum) : 0.0f;
        first[o] = lo;
        count[o] = n;
    }
}

}  // namespace detail

// A region of a picture in (fractional) pixel coordinates: [x0, x1) x [y0, y1).
struct Rect {
    float x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

inline Rect whole(const ImageView& img) { return Rect{0.0f, 0.0f, float(img.width), float(img.height)}; }

// Scratch bytes preprocess() / Resampler need to resample region r of a w x h picture to
// out_w x out_h with `threads` threads (0 for the whole picture at its own size).
inline size_t resample_scratch_bytes(int w, int h, const Rect& r, int out_w, int out_h, int threads = 1) {
    if (r.x0 == 0.0f && r.y0 == 0.0f && r.x1 == float(w) && r.y1 == float(h) && w == out_w && h == out_h) return 0;
    const int tx = detail::resample_taps(double(r.x1 - r.x0) / out_w), ty = detail::resample_taps(double(r.y1 - r.y0) / out_h);
    return align_up(size_t(out_w) * tx * sizeof(float)) + align_up(size_t(out_w) * 2 * sizeof(int)) +
           align_up(size_t(out_h) * ty * sizeof(float)) + align_up(size_t(out_h) * 2 * sizeof(int)) +
           size_t(threads < 1 ? 1 : threads) * align_up(size_t(w) * 4 * sizeof(float));
}
inline size_t resample_scratch_bytes(int w, int h, int out_w, int out_h, int threads = 1) {
    return resample_scratch_bytes(w, h, Rect{0.0f, 0.0f, float(w), float(h)}, out_w, out_h, threads);
}

// Whether resampling a span of `in` pixels to `out` is within the filter's limits.
inline bool resample_supported(double in, int out) { return detail::resample_taps(in / out) <= detail::kMaxResampleTaps; }
inline bool resample_supported(int w, int h, int out_w, int out_h) {
    return resample_supported(double(w), out_w) && resample_supported(double(h), out_h);
}

namespace detail {

// acc[j] = sum over t of c[t] * rows[t][j]: the vertical pass over whole rows of bytes, in the
// shape compilers vectorise (it does most of the arithmetic when a picture is shrunk).
// The same for an RGB565 picture: pixels [x0, x0 + pixels) widened to 3 values each.
inline void blend_rows_565(const ImageView& img, int y0, int n, const float* c, int x0, int pixels, float* acc) {
    for (int j = 0; j < 3 * pixels; ++j) acc[j] = 0.0f;
    for (int t = 0; t < n; ++t) {
        const uint8_t* p = img.row(y0 + t) + size_t(x0) * 2;
        const float w = c[t];
        for (int x = 0; x < pixels; ++x, p += 2) {
            uint8_t rgb[3];
            rgb565_to_rgb(p, rgb);
            for (int k = 0; k < 3; ++k) acc[3 * x + k] += w * float(rgb[k]);
        }
    }
}

inline void blend_rows(const ImageView& img, int y0, int n, const float* c, int byte0, int bytes, float* acc) {
    for (int j = 0; j < bytes; ++j) acc[j] = 0.0f;
    for (int t = 0; t < n; ++t) {
        const uint8_t* FACEMASK_RESTRICT p = img.row(y0 + t) + byte0;
        float* FACEMASK_RESTRICT a = acc;
        const float w = c[t];
        int j = 0;
#if FACEMASK_SIMD
        namespace S = kernels::simd;
        const S::B wv(w);
        for (; j + S::V <= bytes; j += S::V)
            xsimd::fma(wv, S::load_bytes(p + j), S::B::load_unaligned(a + j)).store_unaligned(a + j);
#endif
        for (; j < bytes; ++j) a[j] += w * float(p[j]);
    }
}

}  // namespace detail

// Resamples region `r` of `img` to an out_w x out_h network input and normalises it (3
// channels, network order), a band of output rows at a time: init() once (it computes the
// filter coefficients into `scratch`, resample_scratch_bytes(...) bytes, 64-byte aligned), then
// rows() for each band, from any of `threads` threads (`part` picks the thread's row buffer).
// The region must lie inside the picture and be at least a pixel wide and high.
//
// The filter is separable; this applies it vertically first (over contiguous bytes, cheap to
// vectorise) and then horizontally on one row of floats. PIL goes horizontally first; the two
// orders agree up to float rounding.
class Resampler {
public:
    void init(const ImageView& img, const Rect& r, const detail::InputNorm& norm, int out_w, int out_h,
              unsigned char* scratch) {
        img_ = img;
        norm_ = norm;
        ow_ = out_w;
        oh_ = out_h;
        detail::rgb_offsets(img.format, off_);
        identity_ = resample_scratch_bytes(img.width, img.height, r, out_w, out_h) == 0;
        if (identity_) return;
        tx_ = detail::resample_taps(double(r.x1 - r.x0) / ow_);
        ty_ = detail::resample_taps(double(r.y1 - r.y0) / oh_);
        unsigned char* s = scratch;
        xcoef_ = reinterpret_cast<float*>(s);
        s += align_up(size_t(ow_) * tx_ * sizeof(float));
        xfirst_ = reinterpret_cast<int*>(s);
        xcount_ = xfirst_ + ow_;
        s += align_up(size_t(ow_) * 2 * sizeof(int));
        ycoef_ = reinterpret_cast<float*>(s);
        s += align_up(size_t(oh_) * ty_ * sizeof(float));
        yfirst_ = reinterpret_cast<int*>(s);
        ycount_ = yfirst_ + oh_;
        s += align_up(size_t(oh_) * 2 * sizeof(int));
        rows_ = reinterpret_cast<float*>(s);  // per thread: one vertically resampled row
        row_floats_ = align_up(size_t(img.width) * 4 * sizeof(float)) / sizeof(float);
        detail::resample_coefficients(img.width, r.x0, r.x1, ow_, tx_, xfirst_, xcount_, xcoef_);
        detail::resample_coefficients(img.height, r.y0, r.y1, oh_, ty_, yfirst_, ycount_, ycoef_);
    }

    // Output rows [y0, y1) into dst (dst.at(y, x) addresses output row y).
    void rows(const kernels::View& dst, int y0, int y1, int part = 0) const {
        const bool packed = img_.format == PixelFormat::rgb565;
        const int nch = packed ? 3 : img_.channels();  // values a pixel in the row buffer
        if (identity_) {
            int src[3];  // byte offset in the picture's pixel of each network channel
            for (int k = 0; k < 3; ++k) src[k] = off_[norm_.component[k]];
            for (int y = y0; y < y1; ++y) {
                const uint8_t* p = img_.row(y);
                kernels::act_t* q = dst.at(y, 0);
                for (int x = 0; x < ow_; ++x, p += img_.channels(), q += dst.px) {
                    uint8_t rgb[3];
                    const uint8_t* v = p;
                    if (packed) detail::rgb565_to_rgb(p, rgb), v = rgb;
                    for (int k = 0; k < 3; ++k)
                        q[k] = kernels::act_store((float(v[src[k]]) - norm_.mean[k]) * norm_.scale[k]);
                }
            }
            return;
        }
        float* row = rows_ + size_t(part) * row_floats_;
        const int x_lo = xfirst_[0];  // columns the horizontal pass reads
        const int x_hi = xfirst_[ow_ - 1] + xcount_[ow_ - 1];
        for (int oy = y0; oy < y1; ++oy) {
            if (packed)
                detail::blend_rows_565(img_, yfirst_[oy], ycount_[oy], ycoef_ + size_t(oy) * ty_, x_lo, x_hi - x_lo, row);
            else
                detail::blend_rows(img_, yfirst_[oy], ycount_[oy], ycoef_ + size_t(oy) * ty_, x_lo * nch,
                                   (x_hi - x_lo) * nch, row);
            kernels::act_t* q = dst.at(oy, 0);
            for (int ox = 0; ox < ow_; ++ox, q += dst.px) {
                const float* c = xcoef_ + size_t(ox) * tx_;
                const float* v = row + size_t(xfirst_[ox] - x_lo) * nch;
                float rgb[3] = {0, 0, 0};
                for (int t = 0; t < xcount_[ox]; ++t, v += nch) {
                    rgb[0] += v[off_[0]] * c[t];
                    rgb[1] += v[off_[1]] * c[t];
                    rgb[2] += v[off_[2]] * c[t];
                }
                for (int k = 0; k < 3; ++k) q[k] = kernels::act_store((rgb[norm_.component[k]] - norm_.mean[k]) * norm_.scale[k]);
            }
        }
    }

private:
    ImageView img_;
    detail::InputNorm norm_;
    int ow_ = 0, oh_ = 0, tx_ = 0, ty_ = 0;
    int off_[3] = {};
    bool identity_ = true;
    float *xcoef_ = nullptr, *ycoef_ = nullptr, *rows_ = nullptr;
    int *xfirst_ = nullptr, *xcount_ = nullptr, *yfirst_ = nullptr, *ycount_ = nullptr;
    size_t row_floats_ = 0;
};

// The whole of region r resampled into dst (its size is the output size) in one call.
inline void preprocess(const ImageView& img, const Rect& r, const detail::InputNorm& norm, const kernels::View& dst,
                       unsigned char* scratch) {
    Resampler rs;
    rs.init(img, r, norm, dst.w, dst.h, scratch);
    rs.rows(dst, 0, dst.h);
}

// The whole picture, resampled to dst's size.
inline void preprocess(const ImageView& img, const detail::InputNorm& norm, const kernels::View& dst,
                       unsigned char* scratch) {
    preprocess(img, whole(img), norm, dst, scratch);
}

}  // namespace facemask
