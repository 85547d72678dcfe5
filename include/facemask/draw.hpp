// facemask/draw.hpp — drawing results onto an RGB picture: a box per face (green masked, blue
// not masked, as the original project drew them), a label such as "masked: 0.97" (the class
// and how probable it is) on a filled band, and optionally the landmarks. Sizes follow the
// picture's.
#pragma once
#include "font.hpp"
#include "io.hpp"
#include "types.hpp"

namespace facemask {

struct Color {
    uint8_t r = 0, g = 0, b = 0;
};

namespace colors {
constexpr Color masked{0x00, 0xb1, 0x89};      // the original project's green
constexpr Color not_masked{0x36, 0x5a, 0xbd};  // the original project's blue
constexpr Color unclassified{0xf5, 0xa6, 0x23};
constexpr Color landmark{0xff, 0x30, 0x30};
constexpr Color text{0xff, 0xff, 0xff};
}  // namespace colors

// Line thickness that reads well on a picture of this size.
inline int line_width(const Image& img) {
    const int side = img.width() < img.height() ? img.width() : img.height();
    const int t = (side + 150) / 300;
    return t < 1 ? 1 : t > 12 ? 12 : t;
}

// Fills [x0, x1) x [y0, y1), clipped to the picture.
inline void fill_rect(Image& img, int x0, int y0, int x1, int y1, Color c) {
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > img.width()) x1 = img.width();
    if (y1 > img.height()) y1 = img.height();
    for (int y = y0; y < y1; ++y) {
        uint8_t* p = img.row(y) + size_t(x0) * 3;
        for (int x = x0; x < x1; ++x, p += 3) p[0] = c.r, p[1] = c.g, p[2] = c.b;
    }
}

// A box outline `thickness` pixels wide, drawn inside the box's edges, clipped.
inline void draw_box(Image& img, const Box& b, Color c, int thickness) {
    auto clampi = [](float v, int lo, int hi) {
        if (!(v > float(lo))) return lo;  // also catches NaN
        if (v > float(hi)) return hi;
        return int(std::lround(v));
    };
    const int x0 = clampi(b.x1, -thickness, img.width() + thickness), x1 = clampi(b.x2, -thickness, img.width() + thickness);
    const int y0 = clampi(b.y1, -thickness, img.height() + thickness), y1 = clampi(b.y2, -thickness, img.height() + thickness);
    if (x1 <= x0 || y1 <= y0) return;
    fill_rect(img, x0, y0, x1, y0 + thickness, c);
    fill_rect(img, x0, y1 - thickness, x1, y1, c);
    fill_rect(img, x0, y0, x0 + thickness, y1, c);
    fill_rect(img, x1 - thickness, y0, x1, y1, c);
}

inline void draw_dot(Image& img, Point p, int radius, Color c) {
    if (!(std::fabs(p.x) < 1e7f && std::fabs(p.y) < 1e7f)) return;
    const int cx = int(std::lround(p.x)), cy = int(std::lround(p.y));
    for (int dy = -radius; dy <= radius; ++dy)
        for (int dx = -radius; dx <= radius; ++dx)
            if (dx * dx + dy * dy <= radius * radius) fill_rect(img, cx + dx, cy + dy, cx + dx + 1, cy + dy + 1, c);
}

// Draws text with its top-left corner at (x, y), each font pixel `scale` pixels wide; clipped.
inline void draw_text(Image& img, int x, int y, const char* text, int scale, Color c) {
    for (const char* p = text; *p; ++p, x += font::kAdvance * scale) {
        const font::Glyph& g = font::glyph(*p);
        for (int row = 0; row < font::kGlyphH; ++row)
            for (int col = 0; col < font::kGlyphW; ++col)
                if (g.rows[row][col] == '#')
                    fill_rect(img, x + col * scale, y + row * scale, x + (col + 1) * scale, y + (row + 1) * scale, c);
    }
}

// Colour of a face's box: green masked, blue not masked, orange not classified.
// The class is the face's own label (Face::is_masked), decided where it was classified.
inline Color face_color(const Face& f) {
    if (!f.classified()) return colors::unclassified;
    return f.masked() ? colors::masked : colors::not_masked;
}

struct AnnotateOptions {
    bool labels = true;           // "masked: 0.97" / "not masked: 0.98" (or the score if unclassified)
    bool landmarks = false;       // dots on eyes, nose and mouth corners
};

// The label of a face: its class and the probability of that class (p(masked) for "masked",
// 1 - p(masked) for "not masked", so the number always says how sure the label is), or
// "face: <score>" when not classified.
inline void face_label(const Face& f, char* buf, size_t n) {
    if (f.classified()) {
        const bool masked = f.masked();
        std::snprintf(buf, n, "%s: %.2f", masked ? "masked" : "not masked", double(masked ? f.mask : 1.0f - f.mask));
    } else {
        std::snprintf(buf, n, "face: %.2f", double(f.score));
    }
}

// Draws every face onto the picture.
inline void annotate(Image& img, const Faces& faces, const AnnotateOptions& opt = AnnotateOptions()) {
    if (img.empty()) return;
    const int t = line_width(img);
    const int side = img.width() < img.height() ? img.width() : img.height();
    const int scale = side >= 480 ? (side + 160) / 320 : 1;  // font pixels: ~3 % of the picture
    for (const Face& f : faces) {
        const Color c = face_color(f);
        draw_box(img, f.box, c, t);
        if (opt.landmarks)
            for (const Point& p : f.landmarks) draw_dot(img, p, t + 1, colors::landmark);
        if (!opt.labels || !(std::fabs(f.box.x1) < 1e7f && std::fabs(f.box.y1) < 1e7f)) continue;
        char label[48];
        face_label(f, label, sizeof label);
        const int pad = scale;
        const int band_h = font::kGlyphH * scale + 2 * pad;
        const int band_w = font::text_width(label) * scale + 2 * pad;
        int x = int(std::lround(f.box.x1));
        int y = int(std::lround(f.box.y1)) - band_h;  // above the box, or inside it at the top edge
        if (y < 0) y = int(std::lround(f.box.y1)) < 0 ? 0 : int(std::lround(f.box.y1));
        if (x + band_w > img.width()) x = img.width() - band_w;
        if (x < 0) x = 0;
        fill_rect(img, x, y, x + band_w, y + band_h, c);
        draw_text(img, x + pad, y + pad, label, scale, colors::text);
    }
}

}  // namespace facemask
