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

// Scratch bytes preprocess() needs to resample region r to out_w x out_h (0 for the whole
// picture at its own size).
inline size_t resample_scratch_bytes(int w, int h, const Rect& r, int out_w, int out_h) {
    if (r.x0 == 0.0f && r.y0 == 0.0f && r.x1 == float(w) && r.y1 == float(h) && w == out_w && h == out_h) return 0;
    const int tx = detail::resample_taps(double(r.x1 - r.x0) / out_w), ty = detail::resample_taps(double(r.y1 - r.y0) / out_h);
    return align_up(size_t(out_w) * tx * sizeof(float)) + align_up(size_t(out_w) * 2 * sizeof(int)) +
           align_up(size_t(out_h) * ty * sizeof(float)) + align_up(size_t(out_h) * 2 * sizeof(int)) +
           align_up(size_t(ty) * out_w * 3 * sizeof(float));
}
inline size_t resample_scratch_bytes(int w, int h, int out_w, int out_h) {
    return resample_scratch_bytes(w, h, Rect{0.0f, 0.0f, float(w), float(h)}, out_w, out_h);
}

// Whether resampling a span of `in` pixels to `out` is within the filter's limits.
inline bool resample_supported(double in, int out) { return detail::resample_taps(in / out) <= detail::kMaxResampleTaps; }
inline bool resample_supported(int w, int h, int out_w, int out_h) {
    return resample_supported(double(w), out_w) && resample_supported(double(h), out_h);
}

// Resamples region `r` of `img` to dst's size and normalises it into dst (3 channels, network
// order). `scratch` holds resample_scratch_bytes(...) bytes, 64-byte aligned. The region must
// lie inside the picture and be at least a pixel wide and high.
inline void preprocess(const ImageView& img, const Rect& r, const detail::InputNorm& norm, const kernels::View& dst,
                       unsigned char* scratch) {
    int off[3];
    detail::rgb_offsets(img.format, off);
    const int nch = img.channels();
    const int ow = dst.w, oh = dst.h;

    if (resample_scratch_bytes(img.width, img.height, r, ow, oh) == 0) {
        int src[3];  // byte offset in the picture's pixel of each network channel
        for (int k = 0; k < 3; ++k) src[k] = off[norm.component[k]];
        for (int y = 0; y < oh; ++y) {
            const uint8_t* p = img.row(y);
            float* q = dst.at(y, 0);
            for (int x = 0; x < ow; ++x, p += nch, q += dst.px)
                for (int k = 0; k < 3; ++k) q[k] = (float(p[src[k]]) - norm.mean[k]) * norm.scale[k];
        }
        return;
    }

    const int tx = detail::resample_taps(double(r.x1 - r.x0) / ow), ty = detail::resample_taps(double(r.y1 - r.y0) / oh);
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

    detail::resample_coefficients(img.width, r.x0, r.x1, ow, tx, xfirst, xcount, xcoef);
    detail::resample_coefficients(img.height, r.y0, r.y1, oh, ty, yfirst, ycount, ycoef);

    // Picture rows are resampled horizontally once each, into a ring of ty rows: row y sits at
    // slot y % ty. `next` is the first row not yet resampled.
    int next = 0;
    for (int oy = 0; oy < oh; ++oy) {
        const int y0 = yfirst[oy], yn = ycount[oy];
        if (next < y0) next = y0;
        for (; next < y0 + yn; ++next) {
            const uint8_t* p = img.row(next);
            float* row = ring + size_t(next % ty) * ow * 3;
            for (int ox = 0; ox < ow; ++ox) {
                const float* c = xcoef + size_t(ox) * tx;
                const uint8_t* q = p + size_t(xfirst[ox]) * nch;
                float a0 = 0, a1 = 0, a2 = 0;
                for (int t = 0; t < xcount[ox]; ++t, q += nch) {
                    a0 += float(q[off[0]]) * c[t];
                    a1 += float(q[off[1]]) * c[t];
                    a2 += float(q[off[2]]) * c[t];
                }
                row[3 * ox] = a0, row[3 * ox + 1] = a1, row[3 * ox + 2] = a2;
            }
        }
        const float* c = ycoef + size_t(oy) * ty;
        float* q = dst.at(oy, 0);
        for (int ox = 0; ox < ow; ++ox, q += dst.px) {
            float rgb[3] = {0, 0, 0};
            for (int t = 0; t < yn; ++t) {
                const float* v = ring + size_t((y0 + t) % ty) * ow * 3 + 3 * ox;
                rgb[0] += v[0] * c[t];
                rgb[1] += v[1] * c[t];
                rgb[2] += v[2] * c[t];
            }
            for (int k = 0; k < 3; ++k) q[k] = (rgb[norm.component[k]] - norm.mean[k]) * norm.scale[k];
        }
    }
}

// The whole picture, resampled to dst's size.
inline void preprocess(const ImageView& img, const detail::InputNorm& norm, const kernels::View& dst,
                       unsigned char* scratch) {
    preprocess(img, whole(img), norm, dst, scratch);
}

}  // namespace facemask
