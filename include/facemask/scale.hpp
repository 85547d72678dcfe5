// facemask/scale.hpp — the scale policy: how a picture becomes the network input(s), and its
// text form ("auto", "native", "long=N", "factor=F", "WxH").
#pragma once
#include "image.hpp"

namespace facemask {

// How a picture is scaled to the network input.
//
// The anchors cover faces of about 16 to 512 input pixels, so small faces need a picture
// enlarged and close-ups need it shrunk. `automatic` (the default) does both for small
// pictures: pass A sees the picture at its own size (or with the long side brought down to
// 640), pass B sees pass A's input enlarged 3 times (its long side at most 1280); pass B
// contributes only faces smaller than 64 pixels in pass A's input that are not mostly inside a
// pass-A face, and the two lists are merged with NMS. Pictures whose long side is 640 or more
// get pass A only (measured on eval-dev, README: "Scale policy").
struct Scale {
    enum class Mode : uint8_t { automatic, native, long_side, factor, fixed };
    Mode mode = Mode::automatic;
    int long_side = 640;     // long_side: the longer side becomes this many pixels;
                             // automatic: pass A's long side limit and the two-pass limit
    float factor = 1.0f;     // factor: both sides multiplied
    int width = 0, height = 0;  // fixed: exactly this size (the aspect ratio may change)
    float small_face = 64.0f;   // automatic: pass B faces must be smaller than this (pass A pixels)
    float enlarge = 3.0f;       // automatic: pass B's input is pass A's times this, its long
                                // side capped at 2 * long_side (but never under 2 times pass A)

    static Scale automatic() { return Scale(); }
    static Scale native() { Scale s; s.mode = Mode::native; return s; }
    static Scale longest(int n) { Scale s; s.mode = Mode::long_side; s.long_side = n; return s; }
    static Scale times(float f) { Scale s; s.mode = Mode::factor; s.factor = f; return s; }
    static Scale fixed(int w, int h) { Scale s; s.mode = Mode::fixed; s.width = w; s.height = h; return s; }

    // Parses "auto", "native", "long=N", "factor=F" or "WxH"; false if the text is none of them.
    bool parse(const char* text) {
        if (!text) return false;
        char* end = nullptr;
        if (std::strcmp(text, "auto") == 0) {
            *this = automatic();
            return true;
        }
        if (std::strcmp(text, "native") == 0) {
            *this = native();
            return true;
        }
        if (std::strncmp(text, "long=", 5) == 0) {
            long n = std::strtol(text + 5, &end, 10);
            if (end == text + 5 || *end || n < 1 || n > 16384) return false;
            *this = longest(int(n));
            return true;
        }
        if (std::strncmp(text, "factor=", 7) == 0) {
            double f = std::strtod(text + 7, &end);
            // (the float must stay positive: "factor=1e-85" is 0 as a float; found by fuzzing)
            if (end == text + 7 || *end || !(float(f) > 0.0f && f <= 64.0)) return false;
            *this = times(float(f));
            return true;
        }
        long w = std::strtol(text, &end, 10);
        if (end == text || (*end != 'x' && *end != 'X')) return false;
        const char* h_text = end + 1;
        long h = std::strtol(h_text, &end, 10);
        if (end == h_text || *end || w < 1 || h < 1 || w > 16384 || h > 16384) return false;
        *this = fixed(int(w), int(h));
        return true;
    }
};

// The network input size of the (first) pass `s` gives for a picture, refusing inputs over
// max_pixels or beyond the resampler's range.
inline Status scale_input_size(int picture_w, int picture_h, const Scale& s, long max_pixels, int* w, int* h) {
    double fw = picture_w, fh = picture_h;
    switch (s.mode) {
        case Scale::Mode::automatic: {
            const double longest = fw > fh ? fw : fh;
            if (longest <= s.long_side) break;  // own size
            return scale_input_size(picture_w, picture_h, Scale::longest(s.long_side), max_pixels, w, h);
        }
        case Scale::Mode::native: break;
        case Scale::Mode::long_side: {
            const double f = double(s.long_side) / (fw > fh ? fw : fh);
            fw = picture_w >= picture_h ? s.long_side : std::floor(fw * f + 0.5);
            fh = picture_h > picture_w ? s.long_side : std::floor(fh * f + 0.5);
            break;
        }
        case Scale::Mode::factor:
            fw = std::floor(fw * s.factor + 0.5);
            fh = std::floor(fh * s.factor + 0.5);
            break;
        case Scale::Mode::fixed:
            fw = s.width;
            fh = s.height;
            break;
    }
    if (fw < 1) fw = 1;
    if (fh < 1) fh = 1;
    if (!(fw * fh <= double(max_pixels)) || fw > kMaxPictureSide || fh > kMaxPictureSide)
        return Status::fail(Error::too_large, "network input %.0fx%.0f exceeds the limit of %ld pixels", fw, fh, max_pixels);
    if (!resample_supported(picture_w, picture_h, int(fw), int(fh)))
        return Status::fail(Error::too_large, "scaling %dx%d down to %.0fx%.0f is beyond the resampler's range", picture_w,
                            picture_h, fw, fh);
    *w = int(fw);
    *h = int(fh);
    return Status();
}

// The automatic policy's parameters (the other modes are bounded by max_pixels).
inline Status check_scale(const Scale& s) {
    if (s.mode != Scale::Mode::automatic) return Status();
    if (s.long_side < 1 || s.long_side > kMaxPictureSide)
        return Status::fail(Error::invalid_argument, "automatic scale: long side %d is outside [1, %d]", s.long_side,
                            kMaxPictureSide);
    if (!(s.enlarge >= 1.0f && s.enlarge <= 16.0f))
        return Status::fail(Error::invalid_argument, "automatic scale: enlarge %g is outside [1, 16]", double(s.enlarge));
    if (!(s.small_face > 0.0f && s.small_face <= float(kMaxPictureSide)))
        return Status::fail(Error::invalid_argument, "automatic scale: small face %g px is not positive",
                            double(s.small_face));
    return Status();
}

// The network input sizes of every pass for a picture: 1 pass, or 2 (Scale::automatic on a
// picture whose long side is under the limit).
inline Status scale_passes(int picture_w, int picture_h, const Scale& s, long max_pixels, int* passes, int w[2],
                           int h[2]) {
    FACEMASK_TRY(check_scale(s));
    FACEMASK_TRY(scale_input_size(picture_w, picture_h, s, max_pixels, &w[0], &h[0]));
    *passes = 1;
    const int longest = picture_w > picture_h ? picture_w : picture_h;
    if (s.mode == Scale::Mode::automatic && longest < s.long_side) {
        const double longest_a = w[0] > h[0] ? w[0] : h[0];
        double f = s.enlarge;  // check_scale: in [1, 16]
        if (f * longest_a > 2.0 * s.long_side) f = 2.0 * s.long_side / longest_a;
        if (f < 2.0) f = 2.0;
        const Scale b = Scale::fixed(int(f * w[0] + 0.5), int(f * h[0] + 0.5));
        // Beyond max_pixels the enlarged pass is left out, not the picture refused.
        if (scale_input_size(picture_w, picture_h, b, max_pixels, &w[1], &h[1])) *passes = 2;
    }
    return Status();
}

}  // namespace facemask
