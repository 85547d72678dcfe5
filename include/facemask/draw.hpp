// facemask/draw.hpp — drawing results onto an RGB picture: boxes and landmarks, sized to the
// picture. (Labels with text come with the pipeline's annotate().)
#pragma once
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

// Colour of a face's box: green masked, blue not masked, orange not classified.
inline Color face_color(const Face& f, float mask_threshold = 0.5f) {
    if (!f.classified()) return colors::unclassified;
    return f.masked(mask_threshold) ? colors::masked : colors::not_masked;
}

inline void draw_faces(Image& img, const Faces& faces, bool landmarks = true, float mask_threshold = 0.5f) {
    const int t = line_width(img);
    for (const Face& f : faces) {
        draw_box(img, f.box, face_color(f, mask_threshold), t);
        if (landmarks)
            for (const Point& p : f.landmarks) draw_dot(img, p, t + 1, colors::landmark);
    }
}

}  // namespace facemask
