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
#include "kernels/view.hpp"
#include "memory.hpp"
#include "status.hpp"

namespace facemask {

enum class PixelFormat : uint8_t { rgb, bgr, rgba, bgra, gray };

inline int channels_of(PixelFormat f) {
    return f == PixelFormat::gray ? 1 : (f == PixelFormat::rgba || f == PixelFormat::bgra) ? 4 : 3;
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

// Byte offsets of R, G, B inside one pixel of the given format.
inline void rgb_offsets(PixelFormat f, int off[3]) {
    switch (f) {
        case PixelFormat::bgr:
        case PixelFormat::bgra: off[0] = 2, off[1] = 1, off[2] = 0; break;
        case PixelFormat::gray: off[0] = off[1] = off[2] = 0; break;
        default: off[0] = 0, off[1] = 1, off[2] = 2; break;
    }
}

// Filter taps per output pixel (PIL: ceil(support) * 2 + 1, support = max(in/out, 1)).
inline int resample_taps(int in, int out) {
    const double scale = double(in) / out;
    const double support = scale > 1.0 ? scale : 1.0;
    return int(std::ceil(support)) * 2 + 1;
}

// First input index and tap count of every output index, and the normalised weights.
inline void resample_coefficients(int in, int out, int taps, int* first, int* count, float* coef) {
    const double scale = double(in) / out;
    const double filter_scale = scale > 1.0 ? scale : 1.0;
    const double support = filter_scale;
    for (int o = 0; o < out; ++o) {
        const double center = (o + 0.5) * scale;
        int lo = int(center - support + 0.5);  // truncation toward zero, as PIL does
        if (lo < 0) lo = 0;
        int hi = int(center + support + 0.5);
        if (hi > in) hi = in;
        const int n = hi - lo;
        double w[512];
        double sum = 0;
        for (int t = 0; t < n && t < taps; ++t) {
            const double d = std::fabs((t + lo - center + 0.5) / filter_scale);
            w[t] = d < 1.0 ? 1.0 - d : 0.0;
            sum += w[t];
        }
        float* c = coef + size_t(o) * taps;
        for (int t = 0; t < taps; ++t) c[t] = (t < n && sum != 0.0) ? float(w[t] / sum) : 0.0f;
        first[o] = lo;
        count[o] = n < taps ? n : taps;
    }
}

// Largest scale factor resample_coefficients supports (its weight buffer).
constexpr int kMaxResampleTaps = 511;

}  // namespace detail

// Scratch bytes preprocess() needs to resample a w x h picture to out_w x out_h (0 when equal).
inline size_t resample_scratch_bytes(int w, int h, int out_w, int out_h) {
    if (w == out_w && h == out_h) return 0;
    const int tx = detail::resample_taps(w, out_w), ty = detail::resample_taps(h, out_h);
    return align_up(size_t(out_w) * tx * sizeof(float)) + align_up(size_t(out_w) * 2 * sizeof(int)) +
           align_up(size_t(out_h) * ty * sizeof(float)) + align_up(size_t(out_h) * 2 * sizeof(int)) +
           align_up(size_t(ty) * out_w * 3 * sizeof(float));
}

// Whether a resize from w x h to out_w x out_h is within the filter's limits.
inline bool resample_supported(int w, int h, int out_w, int out_h) {
    return detail::resample_taps(w, out_w) <= detail::kMaxResampleTaps &&
           detail::resample_taps(h, out_h) <= detail::kMaxResampleTaps;
}

// Resamples `img` to dst's size and normalises it into dst (3 channels, network order).
// `scratch` holds resample_scratch_bytes(...) bytes, 64-byte aligned.
inline void preprocess(const ImageView& img, const detail::InputNorm& norm, const kernels::View& dst,
                       unsigned char* scratch) {
    int off[3];
    detail::rgb_offsets(img.format, off);
    const int nch = img.channels();
    int src[3];  // byte offset in the picture's pixel of each network channel
    for (int k = 0; k < 3; ++k) src[k] = off[norm.component[k]];

    if (img.width == dst.w && img.height == dst.h) {
        for (int y = 0; y < dst.h; ++y) {
            const uint8_t* p = img.row(y);
            float* q = dst.at(y, 0);
            for (int x = 0; x < dst.w; ++x, p += nch, q += dst.px)
                for (int k = 0; k < 3; ++k) q[k] = (float(p[src[k]]) - norm.mean[k]) * norm.scale[k];
        }
        return;
    }

    const int ow = dst.w, oh = dst.h;
    const int tx = detail::resample_taps(img.width, ow), ty = detail::resample_taps(img.height, oh);
    unsigned char* s = scratch;
    float* xcoef = reinterpret_cast<float*>(s);
    s += align_up(size_t(ow) * tx * sizeof(float));
    int* xfirst = reinterpret_cast<int*>(s);
    int* xcount = xfirst + ow;
    s += align_up(size_t(ow) * 2 * sizeof(int));
    float* ycoef = reinterpret_cast<float*>(s);
    s += align_up(size_t(oh) * ty * sizeof(float));
    int* yfirst = reinterpret_cast<int*>(s);
    int* ycount = yfirst + oh;
    s += align_up(size_t(oh) * 2 * sizeof(int));
    float* ring = reinterpret_cast<float*>(s);  // ty horizontally resampled rows, 3 floats a pixel

    detail::resample_coefficients(img.width, ow, tx, xfirst, xcount, xcoef);
    detail::resample_coefficients(img.height, oh, ty, yfirst, ycount, ycoef);

    // Rows [lo, hi) of the picture are in the ring, row r at slot r % ty.
    int hi = 0;
    for (int oy = 0; oy < oh; ++oy) {
        const int y0 = yfirst[oy], yn = ycount[oy];
        if (hi < y0) hi = y0;
        for (; hi < y0 + yn; ++hi) {
            const uint8_t* p = img.row(hi);
            float* r = ring + size_t(hi % ty) * ow * 3;
            for (int ox = 0; ox < ow; ++ox) {
                const float* c = xcoef + size_t(ox) * tx;
                const uint8_t* q = p + size_t(xfirst[ox]) * nch;
                float a0 = 0, a1 = 0, a2 = 0;
                for (int t = 0; t < xcount[ox]; ++t, q += nch) {
                    a0 += float(q[off[0]]) * c[t];
                    a1 += float(q[off[1]]) * c[t];
                    a2 += float(q[off[2]]) * c[t];
                }
                r[3 * ox] = a0, r[3 * ox + 1] = a1, r[3 * ox + 2] = a2;
            }
        }
        const float* c = ycoef + size_t(oy) * ty;
        float* q = dst.at(oy, 0);
        for (int ox = 0; ox < ow; ++ox, q += dst.px) {
            float rgb[3] = {0, 0, 0};
            for (int t = 0; t < yn; ++t) {
                const float* r = ring + size_t((y0 + t) % ty) * ow * 3 + 3 * ox;
                rgb[0] += r[0] * c[t];
                rgb[1] += r[1] * c[t];
                rgb[2] += r[2] * c[t];
            }
            for (int k = 0; k < 3; ++k) q[k] = (rgb[norm.component[k]] - norm.mean[k]) * norm.scale[k];
        }
    }
}

}  // namespace facemask
