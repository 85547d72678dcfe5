// app.hpp — the part of the Cortex-M example that is the same on the microcontroller (main.cpp)
// and in its native reference (host.cpp): detect the faces of a picture at its own size, classify
// each, and print them in a fixed text format. Include after "facemask.hpp".
//
// Output (one line each; the numbers are written here, not by printf, so both sides print the
// same digits for the same floats and newlib-nano's printf is not needed):
//   facemask-mcu 1 picture 320x240 faces 2
//   face 0 score 0.999812 box 151.2031 40.7712 190.4113 93.0122 landmarks 163.1 ... (10 values)
//        mask 0.012345                                                 (all on one line)
//   end
// Lines starting with '#' are diagnostics, not results; "# bits XXXXXXXX" is a digest of the exact
// float bits of all faces (equal digests: bit-identical results).
#ifndef FM_MCU_APP_HPP
#define FM_MCU_APP_HPP

#include <cstddef>
#include <cstdint>

namespace fm_mcu {

// Where text goes: write(1, ...) on the MCU, fwrite(stdout) natively.
typedef void (*Sink)(const char* text, size_t n);

// A line of text built without printf and without memory beyond its own buffer.
class Line {
public:
    explicit Line(Sink sink) : sink_(sink) {}
    Line& str(const char* s) {
        while (*s) put(*s++);
        return *this;
    }
    Line& num(long v) {
        if (v < 0) put('-'), v = -v;
        char d[24];
        int n = 0;
        do d[n++] = char('0' + v % 10), v /= 10;
        while (v);
        while (n) put(d[--n]);
        return *this;
    }
    // Fixed-point with `decimals` digits, rounded half away from zero (|v| < 1e12).
    Line& fix(double v, int decimals) {
        if (v != v) return str("nan");
        if (v < 0) put('-'), v = -v;
        if (v >= 1e12) return str("inf");
        uint64_t scale = 1;
        for (int i = 0; i < decimals; ++i) scale *= 10;
        const uint64_t q = uint64_t(v * double(scale) + 0.5);
        num(long(q / scale));
        if (decimals > 0) {
            put('.');
            uint64_t f = q % scale;
            char d[20];
            for (int i = decimals - 1; i >= 0; --i) d[i] = char('0' + f % 10), f /= 10;
            for (int i = 0; i < decimals; ++i) put(d[i]);
        }
        return *this;
    }
    Line& sp() { return put(' '); }
    void end() {
        put('\n');
        flush();
    }
    void flush() {
        if (n_) sink_(buf_, n_);
        n_ = 0;
    }

private:
    Line& put(char c) {
        if (n_ == sizeof buf_) flush();
        buf_[n_++] = c;
        return *this;
    }
    Sink sink_;
    char buf_[256];
    size_t n_ = 0;
};

constexpr int kScoreDecimals = 6;  // score and p(masked)
constexpr int kCoordDecimals = 4;  // pixels

// What the example asks of the engine: the faces of a picture found at its own size
// (Scale::native(), so no resampling), at most `top_k` candidates before NMS, one thread, the
// FPN in two passes (split_fpn: the least memory), and p(masked) for each. The firmware, its native reference and tools/arena_size (which sizes the
// arena with Pipeline::workspace_bytes_for) use the same options.
inline facemask::PipelineOptions options(int top_k) {
    facemask::PipelineOptions opt;
    opt.detect.scale = facemask::Scale::native();
    opt.detect.top_k = top_k;
    opt.detect.threads = 1;
    opt.detect.split_fpn = true;
    return opt;
}

// Detection and classification (Pipeline::run) in `ws`, which the caller has given its memory
// (Workspace::use_memory, at least Pipeline::workspace_bytes_for(picture size, options(top_k))
// bytes); prints the result. Returns 0, or 1 after printing the library's error.
inline int run(const facemask::Pipeline& fm, facemask::Workspace& ws, const facemask::ImageView& image, int top_k,
               Sink sink, facemask::Faces* result = nullptr) {
    using namespace facemask;
    Line out(sink);
    Faces faces;
    const Status st = fm.run(ws, image, options(top_k), &faces);
    if (!st) {
        out.str("# error: ").str(st.message()).end();
        return 1;
    }
    out.str("facemask-mcu 1 picture ").num(image.width).str("x").num(image.height).str(" faces ").num(faces.size()).end();
    for (int i = 0; i < faces.size(); ++i) {
        const Face& f = faces[i];
        out.str("face ").num(i).str(" score ").fix(f.score, kScoreDecimals).str(" box");
        const float b[4] = {f.box.x1, f.box.y1, f.box.x2, f.box.y2};
        for (float v : b) out.sp().fix(v, kCoordDecimals);
        out.str(" landmarks");
        for (const Point& p : f.landmarks) out.sp().fix(p.x, kCoordDecimals).sp().fix(p.y, kCoordDecimals);
        out.str(" mask ").fix(f.mask, kScoreDecimals).end();
    }
    out.str("end").end();
    // FNV-1a over the raw bits of every printed float: equal digests mean bit-identical results.
    uint32_t digest = 2166136261u;
    auto mix = [&digest](float v) {
        uint32_t u;
        __builtin_memcpy(&u, &v, 4);
        for (int k = 0; k < 4; ++k) digest = (digest ^ ((u >> (8 * k)) & 0xFFu)) * 16777619u;
    };
    for (const Face& f : faces) {
        mix(f.score), mix(f.box.x1), mix(f.box.y1), mix(f.box.x2), mix(f.box.y2), mix(f.mask);
        for (const Point& p : f.landmarks) mix(p.x), mix(p.y);
    }
    static const char hex[] = "0123456789abcdef";
    char d[9];
    for (int k = 0; k < 8; ++k) d[k] = hex[(digest >> (28 - 4 * k)) & 0xFu];
    d[8] = '\0';
    out.str("# bits ").str(d).end();
    if (result) *result = faces;
    return 0;
}

// A binary PPM (P6, maxval 255) in memory: its size and where the pixels start; false if not one.
// header_only: p holds the start of the file only (the pixels are not checked to be there).
inline bool parse_ppm(const unsigned char* p, size_t n, int* w, int* h, size_t* offset, bool header_only = false) {
    size_t i = 0;
    auto skip = [&]() {
        for (;;) {
            while (i < n && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t')) ++i;
            if (i < n && p[i] == '#')
                while (i < n && p[i] != '\n') ++i;
            else
                return;
        }
    };
    auto number = [&](long* v) {
        skip();
        if (i >= n || p[i] < '0' || p[i] > '9') return false;
        *v = 0;
        while (i < n && p[i] >= '0' && p[i] <= '9' && *v < 100000) *v = *v * 10 + (p[i++] - '0');
        return true;
    };
    if (n < 2 || p[0] != 'P' || p[1] != '6') return false;
    i = 2;
    long a, b, m;
    if (!number(&a) || !number(&b) || !number(&m) || m != 255 || a < 1 || b < 1) return false;
    if (i >= n) return false;
    ++i;  // the single whitespace after maxval
    if (size_t(a) * size_t(b) * 3 > n - i && !header_only) return false;
    *w = int(a), *h = int(b), *offset = i;
    return true;
}

// n RGB pixels as RGB565 (little-endian words), as a camera sensor would write them: the frame
// then takes 2 bytes a pixel of RAM instead of 3 (FM_MCU_RGB565, build.sh FM_FRAME=rgb565).
inline void pack_rgb565(const unsigned char* rgb, size_t n, unsigned char* out) {
    for (size_t i = 0; i < n; ++i, rgb += 3, out += 2) {
        const unsigned v = unsigned(rgb[0] >> 3) << 11 | unsigned(rgb[1] >> 2) << 5 | unsigned(rgb[2] >> 3);
        out[0] = (unsigned char)(v & 0xFFu);
        out[1] = (unsigned char)(v >> 8);
    }
}

}  // namespace fm_mcu

#endif
