// tests/test_kernels.cpp — the compute kernels.
//
// 1. The scalar kernels are the specification; they are checked against direct formulas
//    written here independently (dense arrays, explicit zero padding, no views).
// 2. Every SIMD kernel is checked against its scalar counterpart on shapes chosen to straddle
//    the vector width and the register tiles: odd channel counts, odd widths, heights of 1,
//    both strides, the three activation slopes, channel slices of wider tensors (as the SSH
//    concatenation writes them) and partial row ranges (as the thread split runs them).
//
// Tensors are laid out exactly as the graph does (graph.hpp: a one-pixel zero border). Input
// channels outside a view hold NaN, so a kernel that reads them poisons its result; output
// memory starts as a sentinel (or the previous content, for the accumulating upsample), and
// everything a kernel must not write — the border, other channels, other rows — is compared
// bit for bit afterwards. Buffers are exactly sized, so ASan catches any access past them.
#include "test_support.hpp"

#include <facemask/kernels/winograd.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstdio>

namespace K = facemask::kernels;
using K::View;

TEST_SUITE_BEGIN("kernels");

namespace {

using fmtest::Rng;

const float kSentinel = -98765.4375f;  // a value no kernel computes here
const float kNaN = std::nanf("");

// An activation tensor as the graph lays it out: (h + 2) x (w + 2) pixels of `px` floats, the
// outer ring being the zero border that 3x3 kernels read as padding.
struct Act {
    int h, w, px;
    std::vector<float> buf;
    Act(int h_, int w_, int px_, float fill) : h(h_), w(w_), px(px_), buf(size_t(h_ + 2) * size_t(w_ + 2) * size_t(px_), fill) {}
    float* pixel(int y, int x) { return buf.data() + (size_t(y + 1) * size_t(w + 2) + size_t(x + 1)) * size_t(px); }
    const float* pixel(int y, int x) const { return const_cast<Act*>(this)->pixel(y, x); }
    View view(int c0, int c) {
        View v;
        v.data = pixel(0, 0) + c0;
        v.h = h;
        v.w = w;
        v.c = c;
        v.px = px;
        v.row = ptrdiff_t(w + 2) * px;
        return v;
    }
};

// An input: channels [c0, c0 + c) from `dense` (h x w x c) inside and zero on the border,
// every other channel NaN.
Act make_input(const std::vector<float>& dense, int h, int w, int c, int c0, int px) {
    Act a(h, w, px, kNaN);
    for (int y = -1; y <= h; ++y)
        for (int x = -1; x <= w; ++x) {
            const bool border = y < 0 || x < 0 || y == h || x == w;
            float* p = a.pixel(y, x) + c0;
            for (int ch = 0; ch < c; ++ch) p[ch] = border ? 0.0f : dense[(size_t(y) * w + x) * c + ch];
        }
    return a;
}

// Values of the view [c0, c0 + c) of an Act as a dense h x w x c array.
std::vector<float> dense_of(const Act& a, int c0, int c) {
    std::vector<float> d(size_t(a.h) * a.w * c);
    for (int y = 0; y < a.h; ++y)
        for (int x = 0; x < a.w; ++x)
            for (int ch = 0; ch < c; ++ch) d[(size_t(y) * a.w + x) * c + ch] = a.pixel(y, x)[c0 + ch];
    return d;
}

bool close(float got, float want, float tol = 1e-4f) { return std::fabs(got - want) <= tol * (1.0f + std::fabs(want)); }

// Winograd F(4x4, 3x3) against the direct sum: its output transform multiplies the rounding
// errors of the 36 products by up to 8 x 8 (the corner output), and without FMA (SSE) each
// multiply-add rounds twice. Seen: at most 1.4e-4 absolute at 65 input channels on SSE2, 1e-4
// with FMA. One transform coefficient off by 1 % made errors of 4e-4 to 1.5e-2 here (checked).
const float kWinogradTolerance = 3e-4f;
bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// `got` and `want` started as copies of `before`. Inside the view [c0, c0 + c) and rows
// [y0, y1) they must agree within the tolerance; everywhere else both must still equal
// `before` bit for bit. Reports the first difference of each kind.
void check_written(const Act& got, const Act& want, const Act& before, int c0, int c, int y0, int y1,
                   const std::string& what, float tol = 1e-4f) {
    long mismatches = 0, stray = 0;
    std::string first_mismatch, first_stray;
    char buf[200];
    for (int y = -1; y <= got.h; ++y)
        for (int x = -1; x <= got.w; ++x)
            for (int ch = 0; ch < got.px; ++ch) {
                const float g = got.pixel(y, x)[ch], w = want.pixel(y, x)[ch], b = before.pixel(y, x)[ch];
                const bool inside = y >= y0 && y < y1 && x >= 0 && x < got.w && ch >= c0 && ch < c0 + c;
                if (inside) {
                    if (!close(g, w, tol)) {
                        if (!mismatches++) {
                            std::snprintf(buf, sizeof buf, "(%d,%d,%d): got %.9g, want %.9g", y, x, ch, double(g), double(w));
                            first_mismatch = buf;
                        }
                    }
                } else if (!same_bits(g, b) || !same_bits(w, b)) {
                    if (!stray++) {
                        std::snprintf(buf, sizeof buf, "(%d,%d,%d): got %.9g, reference %.9g, was %.9g", y, x, ch, double(g),
                                      double(w), double(b));
                        first_stray = buf;
                    }
                }
            }
    CHECK_MESSAGE(mismatches == 0, what, ": ", mismatches, " values differ, first at ", first_mismatch);
    CHECK_MESSAGE(stray == 0, what, ": ", stray, " values written outside the view/rows, first at ", first_stray);
}

// The epilogue written independently of kernels::activate: LeakyReLU family for 0 <= s <= 1.
float act(float x, float slope) { return x >= 0.0f ? x : x * slope; }

// ---- direct formulas (dense h x w x c arrays, explicit zero padding) ------------------------

std::vector<float> naive_conv3x3(const std::vector<float>& in, int h, int w, int cin, const std::vector<float>& wt,
                                 const std::vector<float>& b, int cout, int stride, float slope) {
    const int oh = (h - 1) / stride + 1, ow = (w - 1) / stride + 1;
    std::vector<float> out(size_t(oh) * ow * cout);
    for (int oy = 0; oy < oh; ++oy)
        for (int ox = 0; ox < ow; ++ox)
            for (int co = 0; co < cout; ++co) {
                double acc = b[co];
                for (int ky = 0; ky < 3; ++ky)
                    for (int kx = 0; kx < 3; ++kx) {
                        const int iy = oy * stride + ky - 1, ix = ox * stride + kx - 1;
                        if (iy < 0 || ix < 0 || iy >= h || ix >= w) continue;
                        for (int ci = 0; ci < cin; ++ci)
                            acc += double(in[(size_t(iy) * w + ix) * cin + ci]) * wt[((size_t(co) * 3 + ky) * 3 + kx) * cin + ci];
                    }
                out[(size_t(oy) * ow + ox) * cout + co] = act(float(acc), slope);
            }
    return out;
}

std::vector<float> naive_dwconv3x3(const std::vector<float>& in, int h, int w, int c, const std::vector<float>& wt,
                                   const std::vector<float>& b, int stride, float slope) {
    const int oh = (h - 1) / stride + 1, ow = (w - 1) / stride + 1;
    std::vector<float> out(size_t(oh) * ow * c);
    for (int oy = 0; oy < oh; ++oy)
        for (int ox = 0; ox < ow; ++ox)
            for (int ch = 0; ch < c; ++ch) {
                double acc = b[ch];
                for (int ky = 0; ky < 3; ++ky)
                    for (int kx = 0; kx < 3; ++kx) {
                        const int iy = oy * stride + ky - 1, ix = ox * stride + kx - 1;
                        if (iy >= 0 && ix >= 0 && iy < h && ix < w)
                            acc += double(in[(size_t(iy) * w + ix) * c + ch]) * wt[(ky * 3 + kx) * c + ch];
                    }
                out[(size_t(oy) * ow + ox) * c + ch] = act(float(acc), slope);
            }
    return out;
}

std::vector<float> naive_pwconv(const std::vector<float>& in, int h, int w, int cin, const std::vector<float>& wt,
                                const std::vector<float>& b, int cout, float slope) {
    std::vector<float> out(size_t(h) * w * cout);
    for (int p = 0; p < h * w; ++p)
        for (int co = 0; co < cout; ++co) {
            double acc = b[co];
            for (int ci = 0; ci < cin; ++ci) acc += double(in[size_t(p) * cin + ci]) * wt[size_t(co) * cin + ci];
            out[size_t(p) * cout + co] = act(float(acc), slope);
        }
    return out;
}

// fine + F.interpolate(coarse, size=(fh, fw), mode='nearest'): source = floor(dst * in / out).
std::vector<float> naive_upsample_add(const std::vector<float>& coarse, int ch_, int cw, const std::vector<float>& fine,
                                      int fh, int fw, int c) {
    std::vector<float> out = fine;
    for (int y = 0; y < fh; ++y)
        for (int x = 0; x < fw; ++x) {
            const int sy = std::min(int(std::floor(double(y) * ch_ / fh)), ch_ - 1);
            const int sx = std::min(int(std::floor(double(x) * cw / fw)), cw - 1);
            for (int k = 0; k < c; ++k) out[(size_t(y) * fw + x) * c + k] += coarse[(size_t(sy) * cw + sx) * c + k];
        }
    return out;
}

void check_dense(const std::vector<float>& got, const std::vector<float>& want, const std::string& what) {
    REQUIRE(got.size() == want.size());
    long bad = 0;
    size_t first = 0;
    for (size_t i = 0; i < got.size(); ++i)
        if (!close(got[i], want[i]) && !bad++) first = i;
    CHECK_MESSAGE(bad == 0, what, ": ", bad, " of ", got.size(), " values differ, first #", first, " got ",
                  bad ? got[first] : 0.0f, " want ", bad ? want[first] : 0.0f);
}

}  // namespace

// ============================================================================================
// Scalar kernels against the direct formulas
// ============================================================================================

TEST_CASE("scalar conv3x3 (both strides) equals the direct formula") {
    struct Shape { int h, w, cin, cout, stride; float slope; };
    for (const Shape s : {Shape{5, 7, 3, 5, 1, 0.1f}, Shape{6, 9, 4, 3, 2, 0.0f}, Shape{7, 5, 2, 6, 2, 1.0f},
                          Shape{1, 1, 3, 2, 1, 0.1f}, Shape{1, 4, 5, 3, 2, 0.0f}}) {
        CAPTURE(s.h);
        CAPTURE(s.w);
        CAPTURE(s.cin);
        CAPTURE(s.cout);
        CAPTURE(s.stride);
        Rng rng(uint32_t(s.h * 131 + s.w * 17 + s.cin));
        const auto in = rng.vec(size_t(s.h) * s.w * s.cin);
        const auto wt = rng.vec(size_t(s.cout) * 9 * s.cin);
        const auto b = rng.vec(size_t(s.cout));
        const int oh = K::conv_out(s.h, s.stride), ow = K::conv_out(s.w, s.stride);
        Act ia = make_input(in, s.h, s.w, s.cin, 0, s.cin);
        Act oa(oh, ow, s.cout, kSentinel);
        if (s.stride == 1)
            K::scalar::conv3x3s1(ia.view(0, s.cin), oa.view(0, s.cout), wt.data(), b.data(), s.slope, 0, oh);
        else
            K::scalar::conv3x3s2(ia.view(0, s.cin), oa.view(0, s.cout), wt.data(), b.data(), s.slope, 0, oh);
        check_dense(dense_of(oa, 0, s.cout), naive_conv3x3(in, s.h, s.w, s.cin, wt, b, s.cout, s.stride, s.slope), "conv3x3");
    }
    // conv_out is the PyTorch output size of a 3x3/pad-1 (or 1x1) convolution.
    CHECK(K::conv_out(1, 2) == 1);
    CHECK(K::conv_out(7, 2) == 4);
    CHECK(K::conv_out(8, 2) == 4);
    CHECK(K::conv_out(13, 1) == 13);
}

TEST_CASE("scalar depthwise conv3x3 equals the direct formula") {
    struct Shape { int h, w, c, stride; float slope; };
    for (const Shape s : {Shape{5, 6, 6, 1, 0.1f}, Shape{7, 9, 3, 2, 0.0f}, Shape{2, 1, 5, 2, 1.0f}, Shape{1, 3, 1, 1, 0.1f}}) {
        CAPTURE(s.h);
        CAPTURE(s.w);
        CAPTURE(s.c);
        CAPTURE(s.stride);
        Rng rng(uint32_t(s.h * 7 + s.w * 3 + s.c));
        const auto in = rng.vec(size_t(s.h) * s.w * s.c);
        const auto wt = rng.vec(size_t(9) * s.c);
        const auto b = rng.vec(size_t(s.c));
        const int oh = K::conv_out(s.h, s.stride), ow = K::conv_out(s.w, s.stride);
        Act ia = make_input(in, s.h, s.w, s.c, 0, s.c);
        Act oa(oh, ow, s.c, kSentinel);
        if (s.stride == 1)
            K::scalar::dwconv3x3s1(ia.view(0, s.c), oa.view(0, s.c), wt.data(), b.data(), s.slope, 0, oh);
        else
            K::scalar::dwconv3x3s2(ia.view(0, s.c), oa.view(0, s.c), wt.data(), b.data(), s.slope, 0, oh);
        check_dense(dense_of(oa, 0, s.c), naive_dwconv3x3(in, s.h, s.w, s.c, wt, b, s.stride, s.slope), "dwconv3x3");
    }
}

TEST_CASE("scalar pointwise conv, upsample-add, average pool and dense equal the direct formulas") {
    Rng rng(42);
    {
        const int h = 3, w = 5, cin = 7, cout = 4;
        const auto in = rng.vec(size_t(h) * w * cin), wt = rng.vec(size_t(cout) * cin), b = rng.vec(cout);
        Act ia = make_input(in, h, w, cin, 0, cin);
        Act oa(h, w, cout, kSentinel);
        K::scalar::pwconv1x1(ia.view(0, cin), oa.view(0, cout), wt.data(), b.data(), 0.1f, 0, h);
        check_dense(dense_of(oa, 0, cout), naive_pwconv(in, h, w, cin, wt, b, cout, 0.1f), "pwconv1x1");
    }
    struct Up { int ch, cw, fh, fw, c; };
    for (const Up u : {Up{3, 4, 5, 7, 3}, Up{1, 1, 4, 4, 2}, Up{7, 2, 13, 3, 5}, Up{2, 3, 4, 6, 1}}) {
        CAPTURE(u.ch);
        CAPTURE(u.cw);
        CAPTURE(u.fh);
        CAPTURE(u.fw);
        const auto coarse = rng.vec(size_t(u.ch) * u.cw * u.c), fine = rng.vec(size_t(u.fh) * u.fw * u.c);
        Act ca = make_input(coarse, u.ch, u.cw, u.c, 0, u.c);
        Act fa = make_input(fine, u.fh, u.fw, u.c, 0, u.c);
        K::scalar::upsample_nearest_add(ca.view(0, u.c), fa.view(0, u.c), 0, u.fh);
        check_dense(dense_of(fa, 0, u.c), naive_upsample_add(coarse, u.ch, u.cw, fine, u.fh, u.fw, u.c), "upsample");
    }
    {
        const int h = 3, w = 4, c = 5;
        const auto in = rng.vec(size_t(h) * w * c);
        Act ia = make_input(in, h, w, c, 0, c);
        std::vector<float> got(c), want(c, 0.0f);
        K::scalar::global_avgpool(ia.view(0, c), got.data());
        for (int p = 0; p < h * w; ++p)
            for (int k = 0; k < c; ++k) want[k] += in[size_t(p) * c + k] / float(h * w);
        check_dense(got, want, "global_avgpool");
    }
    {
        const int nin = 9, nout = 4;
        const auto in = rng.vec(nin), wt = rng.vec(size_t(nin) * nout), b = rng.vec(nout);
        std::vector<float> got(nout);
        K::scalar::dense(in.data(), nin, got.data(), nout, wt.data(), b.data(), 0.0f);
        check_dense(got, naive_pwconv(in, 1, 1, nin, wt, b, nout, 0.0f), "dense");
    }
}

TEST_CASE("half_to_float widens IEEE binary16 exactly") {
    struct Case { uint16_t h; float f; };
    for (const Case c : {Case{0x0000, 0.0f}, Case{0x3C00, 1.0f}, Case{0xC000, -2.0f}, Case{0x3555, 0.333251953125f},
                         Case{0x7BFF, 65504.0f}, Case{0x0400, 6.103515625e-05f}, Case{0x0001, 5.9604644775390625e-08f},
                         Case{0x03FF, 6.09755516052246094e-05f}, Case{0x8001, -5.9604644775390625e-08f},
                         Case{0x2E66, 0.0999755859375f}}) {
        CAPTURE(c.h);
        CHECK(same_bits(K::half_to_float(c.h), c.f));
    }
    CHECK(std::signbit(K::half_to_float(0x8000)));
    CHECK(K::half_to_float(0x8000) == 0.0f);
    CHECK(std::isinf(K::half_to_float(0x7C00)));
    CHECK(K::half_to_float(0xFC00) < 0.0f);
    CHECK(std::isnan(K::half_to_float(0x7E00)));
    // Every finite half round-trips through float to the same value class and sign, and the
    // normal ones are exactly m * 2^(e - 25) (m the 11-bit significand).
    for (uint32_t h = 0; h < 0x7C00; h += 7) {
        const int e = int(h >> 10), m = int(h & 0x3FF);
        const double want = e ? std::ldexp(double(m | 0x400), e - 25) : std::ldexp(double(m), -24);
        CHECK(double(K::half_to_float(uint16_t(h))) == want);
        CHECK(double(K::half_to_float(uint16_t(h | 0x8000))) == -want);
    }
}

TEST_CASE("float_to_half rounds to the nearest half, ties to even (float16 activation storage)") {
    // Every finite half survives the round trip; the points halfway between neighbours go to
    // the even one, a hair above or below to the nearer one.
    for (uint32_t h = 0; h < 0x7C00; ++h) {
        CAPTURE(h);
        const float f = K::half_to_float(uint16_t(h));
        REQUIRE(K::float_to_half(f) == h);
        REQUIRE(K::float_to_half(-f) == (h | 0x8000u));
        if (h + 1 < 0x7C00) {
            const double mid = (double(f) + double(K::half_to_float(uint16_t(h + 1)))) / 2;  // exact in float
            const uint32_t even = (h & 1u) ? h + 1 : h;
            REQUIRE(K::float_to_half(float(mid)) == even);
            REQUIRE(K::float_to_half(std::nextafter(float(mid), 1e9f)) == h + 1);
            REQUIRE(K::float_to_half(std::nextafter(float(mid), -1e9f)) == h);
        }
    }
    CHECK(K::float_to_half(65519.99f) == 0x7BFF);  // below the midpoint to 65536: the largest half
    CHECK(K::float_to_half(65520.0f) == 0x7C00);   // at it: ties away from 0x7BFF (odd) to infinity
    CHECK(K::float_to_half(1e30f) == 0x7C00);
    CHECK(K::float_to_half(-1e30f) == 0xFC00);
    CHECK(K::float_to_half(1e-30f) == 0x0000);
    CHECK(K::float_to_half(std::ldexp(1.0f, -25)) == 0x0000);   // halfway to the smallest subnormal: even
    CHECK(K::float_to_half(std::ldexp(1.5f, -25)) == 0x0001);
    CHECK(std::isnan(K::half_to_float(K::float_to_half(std::nanf("")))));
    CHECK(K::float_to_half(std::numeric_limits<float>::infinity()) == 0x7C00);
}

TEST_CASE("scalar kernels read float16 weights as their float32 widening") {
    // Random halves of moderate size; the float32 weights are their exact widening, so both
    // kernel instantiations compute the same sums (equal up to the compiler's FMA contraction).
    Rng rng(77);
    auto halves = [&](size_t n) {
        std::vector<uint16_t> h(n);
        for (uint16_t& v : h) {
            const float r = rng.next();
            const uint32_t exp = 11 + uint32_t((r + 1.0f) * 3.0f);  // 2^-4 .. 2^1
            h[&v - h.data()] = uint16_t((r < 0 ? 0x8000u : 0u) | exp << 10 | (uint32_t(rng.next() * 1023.0f + 1023.0f) / 2));
        }
        return h;
    };
    auto widen = [](const std::vector<uint16_t>& h) {
        std::vector<float> f(h.size());
        for (size_t i = 0; i < h.size(); ++i) f[i] = K::half_to_float(h[i]);
        return f;
    };
    struct Shape { int h, w, cin, cout; };
    for (const Shape s : {Shape{5, 7, 3, 5}, Shape{4, 9, 8, 3}, Shape{1, 1, 17, 2}, Shape{6, 3, 1, 9}}) {
        CAPTURE(s.h);
        CAPTURE(s.w);
        CAPTURE(s.cin);
        const auto in = rng.vec(size_t(s.h) * s.w * s.cin);
        const auto b = rng.vec(size_t(s.cout));
        const auto bdw = rng.vec(size_t(s.cin));
        const auto w3 = halves(size_t(s.cout) * 9 * s.cin), wdw = halves(size_t(9) * s.cin), wpw = halves(size_t(s.cout) * s.cin);
        const auto w3f = widen(w3), wdwf = widen(wdw), wpwf = widen(wpw);
        Act ia = make_input(in, s.h, s.w, s.cin, 0, s.cin);
        for (int stride : {1, 2}) {
            CAPTURE(stride);
            const int oh = K::conv_out(s.h, stride), ow = K::conv_out(s.w, stride);
            Act a(oh, ow, s.cout, kSentinel), f(oh, ow, s.cout, kSentinel);
            Act da(oh, ow, s.cin, kSentinel), df(oh, ow, s.cin, kSentinel);
            if (stride == 1) {
                K::scalar::conv3x3s1(ia.view(0, s.cin), a.view(0, s.cout), w3.data(), b.data(), 0.1f, 0, oh);
                K::scalar::conv3x3s1(ia.view(0, s.cin), f.view(0, s.cout), w3f.data(), b.data(), 0.1f, 0, oh);
                K::scalar::dwconv3x3s1(ia.view(0, s.cin), da.view(0, s.cin), wdw.data(), bdw.data(), 0.0f, 0, oh);
                K::scalar::dwconv3x3s1(ia.view(0, s.cin), df.view(0, s.cin), wdwf.data(), bdw.data(), 0.0f, 0, oh);
            } else {
                K::scalar::conv3x3s2(ia.view(0, s.cin), a.view(0, s.cout), w3.data(), b.data(), 0.1f, 0, oh);
                K::scalar::conv3x3s2(ia.view(0, s.cin), f.view(0, s.cout), w3f.data(), b.data(), 0.1f, 0, oh);
                K::scalar::dwconv3x3s2(ia.view(0, s.cin), da.view(0, s.cin), wdw.data(), bdw.data(), 0.0f, 0, oh);
                K::scalar::dwconv3x3s2(ia.view(0, s.cin), df.view(0, s.cin), wdwf.data(), bdw.data(), 0.0f, 0, oh);
            }
            check_dense(dense_of(a, 0, s.cout), dense_of(f, 0, s.cout), "conv3x3 f16 vs f32");
            check_dense(dense_of(da, 0, s.cin), dense_of(df, 0, s.cin), "dwconv3x3 f16 vs f32");
            check_dense(dense_of(a, 0, s.cout), naive_conv3x3(in, s.h, s.w, s.cin, w3f, b, s.cout, stride, 0.1f), "conv3x3 f16");
            check_dense(dense_of(da, 0, s.cin), naive_dwconv3x3(in, s.h, s.w, s.cin, wdwf, bdw, stride, 0.0f), "dwconv3x3 f16");
        }
        Act p(s.h, s.w, s.cout, kSentinel), pf(s.h, s.w, s.cout, kSentinel);
        K::scalar::pwconv1x1(ia.view(0, s.cin), p.view(0, s.cout), wpw.data(), b.data(), 1.0f, 0, s.h);
        K::scalar::pwconv1x1(ia.view(0, s.cin), pf.view(0, s.cout), wpwf.data(), b.data(), 1.0f, 0, s.h);
        check_dense(dense_of(p, 0, s.cout), dense_of(pf, 0, s.cout), "pwconv1x1 f16 vs f32");
        check_dense(dense_of(p, 0, s.cout), naive_pwconv(in, s.h, s.w, s.cin, wpwf, b, s.cout, 1.0f), "pwconv1x1 f16");
    }
}

TEST_CASE("scalar Winograd conv3x3 s1 equals the direct formula, on any row range") {
    // Heights and widths around the 4x4 tile (tails in both directions), channel counts that
    // are not multiples of anything, and row ranges that start and end inside tiles, cover
    // less than a tile (1 row), or end on the tensor's last rows (never whole tiles).
    struct Shape { int h, w, cin, cout; float slope; };
    for (const Shape s : {Shape{8, 8, 3, 5, 0.1f}, Shape{9, 7, 5, 3, 0.0f}, Shape{5, 13, 2, 6, 1.0f}, Shape{4, 1, 3, 2, 0.1f},
                          Shape{1, 5, 4, 3, 0.0f}, Shape{13, 6, 1, 1, 0.1f}, Shape{12, 9, 7, 4, 0.1f}}) {
        CAPTURE(s.h);
        CAPTURE(s.w);
        CAPTURE(s.cin);
        CAPTURE(s.cout);
        Rng rng(uint32_t(s.h * 71 + s.w * 13 + s.cin * 3 + s.cout));
        const auto in = rng.vec(size_t(s.h) * s.w * s.cin);
        const auto wt = rng.vec(size_t(s.cout) * 9 * s.cin);
        const auto b = rng.vec(size_t(s.cout));
        std::vector<float> u(K::scalar::wino_weight_floats(s.cout, s.cin));
        K::scalar::wino_transform_weights(wt.data(), s.cout, s.cin, u.data());
        const auto want = naive_conv3x3(in, s.h, s.w, s.cin, wt, b, s.cout, 1, s.slope);
        Act ia = make_input(in, s.h, s.w, s.cin, 0, s.cin);
        struct Range { int y0, y1; };
        for (const Range r : {Range{0, s.h}, Range{1, s.h}, Range{0, 1}, Range{s.h / 2, s.h / 2 + 1}, Range{3, s.h},
                              Range{4, s.h < 8 ? s.h : 8}, Range{2, s.h - 1}}) {
            if (r.y0 < 0 || r.y1 > s.h || r.y0 >= r.y1) continue;
            CAPTURE(r.y0);
            CAPTURE(r.y1);
            for (int phase = 0; phase < 4; ++phase) {
                CAPTURE(phase);
                const Act before(s.h, s.w, s.cout, kSentinel);
                Act oa = before, ref = before;
                K::scalar::conv3x3s1_winograd(ia.view(0, s.cin), oa.view(0, s.cout), u.data(), wt.data(), b.data(),
                                              s.slope, r.y0, r.y1, phase);
                for (int y = r.y0; y < r.y1; ++y)
                    for (int x = 0; x < s.w; ++x)
                        for (int k = 0; k < s.cout; ++k) ref.pixel(y, x)[k] = want[(size_t(y) * s.w + x) * s.cout + k];
                check_written(oa, ref, before, 0, s.cout, r.y0, r.y1, "scalar winograd");
            }
        }
    }
    // Which rows are whole tiles: aligned to 4k + phase, inside the range.
    int t0 = -1, t1 = -1;
    K::wino::tile_rows(1, 11, &t0, &t1);
    CHECK(t0 == 4);
    CHECK(t1 == 8);
    K::wino::tile_rows(5, 7, &t0, &t1);
    CHECK(t0 == t1);
    K::wino::tile_rows(0, 8, &t0, &t1);
    CHECK(t0 == 0);
    CHECK(t1 == 8);
    K::wino::tile_rows(0, 8, &t0, &t1, 1);  // tiles [1, 5), [5, 9): one whole tile
    CHECK(t0 == 1);
    CHECK(t1 == 5);
    K::wino::tile_rows(0, 11, &t0, &t1, 3);  // [3, 7), [7, 11)
    CHECK(t0 == 3);
    CHECK(t1 == 11);
    K::wino::tile_rows(4, 9, &t0, &t1, 3);  // [7, 11) does not fit
    CHECK(t0 == t1);
    K::wino::tile_rows(0, 2, &t0, &t1, 2);
    CHECK(t0 == t1);
}

TEST_CASE("the scalar kernels honour channel slices and row ranges") {
    // conv3x3 writing channels [4, 4 + 3) of a 9-channel tensor, rows [1, 3) of 4, reading a
    // 2-channel slice at offset 1 of a 5-channel tensor.
    Rng rng(7);
    const int h = 4, w = 5, cin = 2, cout = 3;
    const auto in = rng.vec(size_t(h) * w * cin), wt = rng.vec(size_t(cout) * 9 * cin), b = rng.vec(cout);
    Act ia = make_input(in, h, w, cin, 1, 5);
    Act before(h, w, 9, kSentinel), oa(h, w, 9, kSentinel);
    K::scalar::conv3x3s1(ia.view(1, cin), oa.view(4, cout), wt.data(), b.data(), 0.1f, 1, 3);
    // The reference for the written rows comes from the direct formula.
    const auto want = naive_conv3x3(in, h, w, cin, wt, b, cout, 1, 0.1f);
    Act ref = before;
    for (int y = 1; y < 3; ++y)
        for (int x = 0; x < w; ++x)
            for (int k = 0; k < cout; ++k) ref.pixel(y, x)[4 + k] = want[(size_t(y) * w + x) * cout + k];
    check_written(oa, ref, before, 4, cout, 1, 3, "scalar conv3x3 slice");
}

// ============================================================================================
// SIMD kernels against the scalar reference
// ============================================================================================

#if FACEMASK_SIMD

namespace {

#if defined(FACEMASK_DISPATCH)
// A portable build: the kernels chosen at start-up (FACEMASK_ISA caps them; ctest runs this
// suite once per instruction set, tests/CMakeLists.txt), through the dispatch's table.
namespace S = K::active;
int lanes() { return K::dispatch::table().lanes; }
int group_of(int cout) { return K::dispatch::table().conv_group(cout); }
#else
namespace S = K::simd;
int lanes() { return S::V; }
int group_of(int cout) { return S::nr_for(cout) * S::V; }
#endif

const int kChannels[] = {1, 3, 5, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65};
const int kWidths[] = {1, 2, 3, 5, 7, 13, 17, 25, 31, 33};
const int kHeights[] = {1, 2, 3, 5, 7};
const float kSlopes[] = {0.0f, 0.1f, 1.0f};

// Weights packed for the SIMD kernels (64-byte aligned: they are loaded with aligned loads).
struct Packed {
    facemask::Buffer w, b;
    const float* wp() const { return reinterpret_cast<const float*>(w.data()); }
    const float* bp() const { return reinterpret_cast<const float*>(b.data()); }
};

Packed pack_conv(const std::vector<float>& w, const std::vector<float>& b, int cout, int taps, int cin) {
    Packed p;
    REQUIRE(p.w.reserve(S::conv_packed_floats(cout, taps, cin) * sizeof(float)));
    REQUIRE(p.b.reserve(S::conv_bias_floats(cout) * sizeof(float)));
    S::pack_conv(w.data(), b.data(), cout, taps, cin, reinterpret_cast<float*>(p.w.data()),
                 reinterpret_cast<float*>(p.b.data()));
    return p;
}

Packed pack_dw(const std::vector<float>& w, const std::vector<float>& b, int c) {
    Packed p;
    REQUIRE(p.w.reserve(S::dw_packed_floats(c) * sizeof(float)));
    REQUIRE(p.b.reserve(S::dw_bias_floats(c) * sizeof(float)));
    S::pack_dw(w.data(), b.data(), c, reinterpret_cast<float*>(p.w.data()), reinterpret_cast<float*>(p.b.data()));
    return p;
}

enum class Op { conv3x3, dwconv3x3, pwconv1x1 };

// One kernel call: input view [in_c0, in_c0 + cin) of an in_px-channel tensor, output view
// [out_c0, out_c0 + cout) of an out_px-channel tensor, output rows [y0, y1) (y1 < 0: all).
struct Case {
    Op op = Op::conv3x3;
    int h = 1, w = 1, cin = 1, cout = 1, stride = 1;
    float slope = 0.0f;
    int in_c0 = 0, in_extra = 0, out_c0 = 0, out_extra = 0;
    int y0 = 0, y1 = -1;
    int phase = 0;  // Winograd: tiles start at rows 4k + phase
};

std::string describe(const Case& c) {
    static const char* names[] = {"conv3x3", "dwconv3x3", "pwconv1x1"};
    char buf[200];
    std::snprintf(buf, sizeof buf, "%s s%d %dx%d cin %d cout %d slope %g in[%d of %d] out[%d of %d] rows [%d,%d)",
                  names[int(c.op)], c.stride, c.h, c.w, c.cin, c.cout, double(c.slope), c.in_c0, c.in_c0 + c.cin + c.in_extra,
                  c.out_c0, c.out_c0 + c.cout + c.out_extra, c.y0, c.y1);
    return buf;
}

// Runs the SIMD kernel and the scalar one on identical tensors and compares everything.
void run_case(Case c) {
    if (c.op == Op::dwconv3x3) c.cout = c.cin;
    if (c.op == Op::pwconv1x1) c.stride = 1;
    const int oh = K::conv_out(c.h, c.stride), ow = K::conv_out(c.w, c.stride);
    if (c.y1 < 0 || c.y1 > oh) c.y1 = oh;
    if (c.y0 >= c.y1) c.y0 = 0;
    const int taps = c.op == Op::pwconv1x1 ? 1 : 9;
    Rng rng(uint32_t(c.h * 1000003 + c.w * 10007 + c.cin * 101 + c.cout * 7 + c.stride + int(c.op) * 31));
    const auto in = rng.vec(size_t(c.h) * c.w * c.cin);
    const auto w = rng.vec(c.op == Op::dwconv3x3 ? size_t(9) * c.cin : size_t(c.cout) * taps * c.cin, 0.5f);
    const auto b = rng.vec(size_t(c.cout));

    Act ia = make_input(in, c.h, c.w, c.cin, c.in_c0, c.in_c0 + c.cin + c.in_extra);
    const Act ia_before = ia;
    const int out_px = c.out_c0 + c.cout + c.out_extra;
    const Act before(oh, ow, out_px, kSentinel);
    Act got = before, want = before;
    const View iv = ia.view(c.in_c0, c.cin);
    const View gv = got.view(c.out_c0, c.cout), wv = want.view(c.out_c0, c.cout);

    switch (c.op) {
        case Op::conv3x3: {
            const Packed p = pack_conv(w, b, c.cout, 9, c.cin);
            if (c.stride == 1) {
                S::conv3x3s1(iv, gv, p.wp(), p.bp(), c.slope, c.y0, c.y1);
                K::scalar::conv3x3s1(iv, wv, w.data(), b.data(), c.slope, c.y0, c.y1);
            } else {
                S::conv3x3s2(iv, gv, p.wp(), p.bp(), c.slope, c.y0, c.y1);
                K::scalar::conv3x3s2(iv, wv, w.data(), b.data(), c.slope, c.y0, c.y1);
            }
            break;
        }
        case Op::dwconv3x3: {
            const Packed p = pack_dw(w, b, c.cin);
            if (c.stride == 1) {
                S::dwconv3x3s1(iv, gv, p.wp(), p.bp(), c.slope, c.y0, c.y1);
                K::scalar::dwconv3x3s1(iv, wv, w.data(), b.data(), c.slope, c.y0, c.y1);
            } else {
                S::dwconv3x3s2(iv, gv, p.wp(), p.bp(), c.slope, c.y0, c.y1);
                K::scalar::dwconv3x3s2(iv, wv, w.data(), b.data(), c.slope, c.y0, c.y1);
            }
            break;
        }
        case Op::pwconv1x1: {
            const Packed p = pack_conv(w, b, c.cout, 1, c.cin);
            S::pwconv1x1(iv, gv, p.wp(), p.bp(), c.slope, c.y0, c.y1);
            K::scalar::pwconv1x1(iv, wv, w.data(), b.data(), c.slope, c.y0, c.y1);
            break;
        }
    }
    const std::string what = describe(c);
    check_written(got, want, before, c.out_c0, c.cout, c.y0, c.y1, what);
    // Inputs are read-only (bitwise, NaNs included).
    CHECK_MESSAGE(std::memcmp(ia.buf.data(), ia_before.buf.data(), ia.buf.size() * sizeof(float)) == 0, what,
                  ": the input was modified");
}

// Varies the layout details with a case counter so that every combination gets some of them.
void vary_layout(Case& c, int k) {
    switch (k % 4) {
        case 0: break;                                                // tight tensors
        case 1: c.out_c0 = 5, c.out_extra = 3; break;                 // a slice, as SSH concat writes
        case 2: c.in_c0 = 3, c.in_extra = 2, c.out_c0 = 1; break;     // slice in and out
        case 3: c.out_c0 = 16, c.out_extra = 0; break;                // the last slice of a tensor
    }
    switch (k % 3) {
        case 0: break;                                                // all rows
        case 1: c.y0 = 1, c.y1 = 1 << 20; break;                      // all but the first row
        case 2: c.y0 = c.h / 4, c.y1 = (c.h + 3) / 4 + 1; break;      // a band in the middle
    }
    c.slope = kSlopes[k % 3 == 2 ? (k / 3) % 3 : k % 3];
}

// Winograd (SIMD) against the scalar direct kernel, with run_case's layout checks.
void run_wino_case(Case c) {
    const int oh = c.h, ow = c.w;
    if (c.y1 < 0 || c.y1 > oh) c.y1 = oh;
    if (c.y0 >= c.y1) c.y0 = 0;
    Rng rng(uint32_t(c.h * 1000003 + c.w * 10007 + c.cin * 101 + c.cout * 7 + 5));
    const auto in = rng.vec(size_t(c.h) * c.w * c.cin);
    const auto w = rng.vec(size_t(c.cout) * 9 * c.cin, 0.5f);
    const auto b = rng.vec(size_t(c.cout));
    Act ia = make_input(in, c.h, c.w, c.cin, c.in_c0, c.in_c0 + c.cin + c.in_extra);
    const Act ia_before = ia;
    const int out_px = c.out_c0 + c.cout + c.out_extra;
    const Act before(oh, ow, out_px, kSentinel);
    Act got = before, want = before;
    const View iv = ia.view(c.in_c0, c.cin);
    const View gv = got.view(c.out_c0, c.cout), wv = want.view(c.out_c0, c.cout);
    const Packed p = pack_conv(w, b, c.cout, 9, c.cin);
    facemask::Buffer up, scratch;
    REQUIRE(up.reserve(S::wino_packed_floats(c.cout, c.cin) * sizeof(float)));
    REQUIRE(scratch.reserve(S::wino_scratch_floats(c.cin, c.cout) * sizeof(float)));
    S::pack_wino(w.data(), c.cout, c.cin, reinterpret_cast<float*>(up.data()));
    S::conv3x3s1_winograd(iv, gv, reinterpret_cast<const float*>(up.data()), p.wp(), p.bp(), c.slope, c.y0, c.y1,
                          reinterpret_cast<float*>(scratch.data()), c.phase);
    K::scalar::conv3x3s1(iv, wv, w.data(), b.data(), c.slope, c.y0, c.y1);
    char what[240];
    std::snprintf(what, sizeof what,
                  "winograd %dx%d cin %d cout %d slope %g in[%d of %d] out[%d of %d] rows [%d,%d) phase %d", c.h, c.w,
                  c.cin, c.cout, double(c.slope), c.in_c0, c.in_c0 + c.cin + c.in_extra, c.out_c0, out_px, c.y0, c.y1,
                  c.phase);
    check_written(got, want, before, c.out_c0, c.cout, c.y0, c.y1, what, kWinogradTolerance);
    CHECK_MESSAGE(std::memcmp(ia.buf.data(), ia_before.buf.data(), ia.buf.size() * sizeof(float)) == 0, what,
                  ": the input was modified");
}

}  // namespace

TEST_CASE("simd kernels: instruction set in use") {
    MESSAGE("SIMD kernels for ", std::string(facemask::simd_name()), " with ", lanes(), " float lanes");
#if defined(FACEMASK_DISPATCH)
    CHECK(lanes() >= (K::dispatch::table().isa == K::Isa::scalar ? 1 : 4));  // the scalar set: FACEMASK_ISA=scalar
#else
    CHECK(S::V >= 4);
#endif
}

TEST_CASE("simd conv3x3 equals scalar: every channel pair, both strides") {
    int k = 0;
    for (int cin : kChannels)
        for (int cout : kChannels)
            for (int stride : {1, 2}) {
                Case c;
                c.op = Op::conv3x3;
                c.cin = cin, c.cout = cout, c.stride = stride;
                c.h = kHeights[k % 5];
                c.w = kWidths[(k * 3 + k / 10) % 10];
                vary_layout(c, k++);
                run_case(c);
            }
}

TEST_CASE("simd conv3x3 equals scalar: every width and height") {
    int k = 0;
    for (int w : kWidths)
        for (int h : kHeights)
            for (int cout : {1, 8, 17, 33, 65})
                for (int stride : {1, 2}) {
                    Case c;
                    c.op = Op::conv3x3;
                    c.cin = (w + h) % 2 ? 5 : 16;
                    c.cout = cout, c.stride = stride, c.h = h, c.w = w;
                    vary_layout(c, k++);
                    run_case(c);
                }
}

TEST_CASE("simd conv with 8 output channels equals scalar across whole tiles (AVX-512: two pixels a vector)") {
    // 8 channels in tight pixels take their own path on AVX-512 (conv_rows_pairs): pairs of
    // pixels in tiles of 24 pairs, then 8, 4, 2, 1 pairs and an odd last pixel. Widths around
    // those sizes, up to the real layer's 320; layouts that are slices take the general path.
    int k = 0;
    for (int w : {1, 2, 3, 4, 11, 12, 13, 14, 15, 16, 17, 23, 24, 25, 47, 48, 49, 50, 63, 95, 97, 320, 321})
        for (int stride : {1, 2})
            for (int cin : {3, 8}) {
                Case c;
                c.op = Op::conv3x3;
                c.cin = cin, c.cout = 8, c.stride = stride;
                c.h = kHeights[k % 5];
                c.w = w;
                for (int varied : {0, 1}) {
                    if (varied) vary_layout(c, k);  // slices, row ranges and slopes
                    c.op = Op::conv3x3;
                    run_case(c);
                    c.op = Op::pwconv1x1;
                    run_case(c);
                }
                ++k;
            }
}

TEST_CASE("simd pointwise conv equals scalar") {
    int k = 0;
    for (int cin : kChannels)
        for (int cout : kChannels) {
            Case c;
            c.op = Op::pwconv1x1;
            c.cin = cin, c.cout = cout;
            c.h = kHeights[(k / 3) % 5];
            c.w = kWidths[(k * 7) % 10];
            vary_layout(c, k++);
            run_case(c);
        }
    for (int w : kWidths)
        for (int h : kHeights)
            for (int cout : {3, 16, 31, 64, 65}) {
                Case c;
                c.op = Op::pwconv1x1;
                c.cin = 9, c.cout = cout, c.h = h, c.w = w;
                vary_layout(c, k++);
                run_case(c);
            }
}

TEST_CASE("simd depthwise conv3x3 equals scalar") {
    int k = 0;
    for (int ch : kChannels)
        for (int w : kWidths)
            for (int stride : {1, 2}) {
                Case c;
                c.op = Op::dwconv3x3;
                c.cin = ch, c.stride = stride, c.w = w;
                c.h = kHeights[(k / 2) % 5];
                vary_layout(c, k++);
                run_case(c);
            }
    // Channel counts that divide the vector width take a packed-pixels path (stride 1, dense
    // tensors): every width, so that the pixel groups end everywhere.
    for (int ch : {1, 2, 4, 8})
        for (int w : kWidths)
            for (int h : {1, 3}) {
                Case c;
                c.op = Op::dwconv3x3;
                c.cin = ch, c.stride = 1, c.w = w, c.h = h;
                c.slope = kSlopes[(w + ch) % 3];
                if (w % 3 == 0) c.y0 = h / 2;  // also a row range
                run_case(c);
            }
    for (int h : kHeights)
        for (int ch : {1, 16, 17, 33}) {
            Case c;
            c.op = Op::dwconv3x3;
            c.cin = ch, c.h = h, c.w = 13, c.stride = 2;
            vary_layout(c, k++);
            run_case(c);
        }
}

TEST_CASE("simd Winograd conv3x3 s1 equals the scalar direct kernel") {
    // Every channel pair (vector tails, register-tile groups), heights and widths around the
    // 4x4 tile and the tile blocks (kWinoTiles tiles = 48 columns), slices, row ranges, the
    // four tile phases.
    const int heights[] = {4, 5, 8, 9, 1, 7, 12};
    const int widths[] = {4, 1, 7, 13, 17, 33, 47, 49, 63, 65, 70};
#if !defined(FACEMASK_DISPATCH)
    static_assert(S::kWinoTiles * 4 == 48, "the widths straddle a block of tiles");
#endif
    int k = 0;
    for (int cin : kChannels)
        for (int cout : kChannels) {
            Case c;
            c.cin = cin, c.cout = cout;
            c.h = heights[k % 7];
            c.w = widths[(k * 5 + k / 11) % 11];
            c.phase = (k / 2) % 4;
            vary_layout(c, k++);
            run_wino_case(c);
        }
    // Rows of several blocks, as the network's strips have (80 columns: 20 tiles, two blocks
    // of 10; 100: three of 8, 8 and 9), each cut into GEMM blocks of even sizes.
    const int wide[] = {80, 100};
    for (int w : wide)
        for (int cout : {16, 32, 64, 65}) {
            Case c;
            c.cin = cout == 32 ? 64 : 16;
            c.cout = cout, c.h = 9, c.w = w;
            vary_layout(c, k++);
            c.phase = k % 4;
            run_wino_case(c);
        }
    for (int w : widths)
        for (int h : heights)
            for (int cout : {16, 32, 64}) {
                Case c;
                c.cin = (w + h) % 2 ? 16 : 64;
                c.cout = cout, c.h = h, c.w = w;
                vary_layout(c, k++);
                if (k % 5 == 0) c.y0 = 4, c.y1 = 8;  // exactly one tile row
                if (k % 7 == 0) c.y0 = h - 1;        // one row, never a tile
                c.phase = (k / 3) % 4;
                run_wino_case(c);
            }
}

TEST_CASE("simd Winograd weights: the layout and the transform") {
    if (lanes() == 1) {  // the dispatch's scalar set keeps the blob's layouts (copies)
        MESSAGE("scalar kernels: no packed layout to check");
        return;
    }
    // U = G g Gt: for a kernel whose only tap is the centre, U is the outer product of G's
    // middle column with itself; packed at [p][group][ci][nb], zero beyond cout.
    const int cout = 17, cin = 2;
    std::vector<float> w(size_t(cout) * 9 * cin, 0.0f);
    w[(size_t(16) * 9 + 4) * cin + 1] = 1.0f;  // co 16, centre tap, ci 1
    facemask::Buffer up;
    REQUIRE(up.reserve(S::wino_packed_floats(cout, cin) * sizeof(float)));
    S::pack_wino(w.data(), cout, cin, reinterpret_cast<float*>(up.data()));
    const float* u = reinterpret_cast<const float*>(up.data());
    const int nb = group_of(cout), groups = (cout + nb - 1) / nb;
    const float gmid[6] = {0.0f, -1.0f / 6, 1.0f / 6, 1.0f / 12, -1.0f / 12, 0.0f};
    long bad = 0, nonzero_elsewhere = 0;
    for (int p = 0; p < 36; ++p)
        for (int g = 0; g < groups; ++g)
            for (int ci = 0; ci < cin; ++ci)
                for (int j = 0; j < nb; ++j) {
                    const float v = u[((size_t(p) * groups + g) * cin + ci) * nb + j];
                    if (g * nb + j == 16 && ci == 1)
                        bad += std::fabs(v - gmid[p / 6] * gmid[p % 6]) > 1e-7f;
                    else
                        nonzero_elsewhere += v != 0.0f;
                }
    CHECK(bad == 0);
    CHECK(nonzero_elsewhere == 0);
}

TEST_CASE("simd upsample_nearest_add equals scalar, also for sizes that are not 2x") {
    // (coarse, fine) side pairs: the FPN gives ceil(fine / 2), which is not always half.
    struct Pair { int coarse, fine; };
    const Pair pairs[] = {{1, 1}, {1, 4}, {3, 5}, {7, 13}, {4, 8}, {2, 3}, {5, 10}, {13, 25}, {1, 2}};
    int k = 0;
    for (const Pair ph : pairs)
        for (const Pair pw : pairs) {
            const int c = kChannels[k % 14];
            const int c0 = k % 2 ? 3 : 0, extra = k % 3 ? 2 : 0;  // slices of wider tensors
            const int px = c0 + c + extra;
            int y0 = 0, y1 = ph.fine;
            if (k % 3 == 1) y0 = ph.fine / 2;
            if (k % 5 == 2) y1 = (ph.fine + 1) / 2;
            ++k;
            Rng rng(uint32_t(k * 977));
            const auto coarse = rng.vec(size_t(ph.coarse) * pw.coarse * c);
            const auto fine = rng.vec(size_t(ph.fine) * pw.fine * c);
            Act ca = make_input(coarse, ph.coarse, pw.coarse, c, c0, px);
            // The fine tensor's other channels and border hold the sentinel, not NaN: they are
            // compared bit for bit after the call.
            Act before(ph.fine, pw.fine, px, kSentinel);
            for (int y = 0; y < ph.fine; ++y)
                for (int x = 0; x < pw.fine; ++x)
                    for (int ch = 0; ch < c; ++ch) before.pixel(y, x)[c0 + ch] = fine[(size_t(y) * pw.fine + x) * c + ch];
            Act got = before, want = before;
            S::upsample_nearest_add(ca.view(c0, c), got.view(c0, c), y0, y1);
            K::scalar::upsample_nearest_add(ca.view(c0, c), want.view(c0, c), y0, y1);
            char what[120];
            std::snprintf(what, sizeof what, "upsample %dx%d -> %dx%d, %d channels at %d of %d, rows [%d,%d)", ph.coarse,
                          pw.coarse, ph.fine, pw.fine, c, c0, px, y0, y1);
            check_written(got, want, before, c0, c, y0, y1, what);
            // and the scalar one against the formula, on the rows it was asked to do
            const auto ref = naive_upsample_add(coarse, ph.coarse, pw.coarse, fine, ph.fine, pw.fine, c);
            const auto dense = dense_of(want, c0, c);
            long bad = 0;
            for (int y = y0; y < y1; ++y)
                for (int i = 0; i < pw.fine * c; ++i)
                    bad += !close(dense[size_t(y) * pw.fine * c + i], ref[size_t(y) * pw.fine * c + i]);
            CHECK_MESSAGE(bad == 0, what, ": scalar differs from the formula");
        }
}

TEST_CASE("packed weights: zero padding up to whole vectors") {
    if (lanes() == 1) {  // the dispatch's scalar set keeps the blob's layouts (copies)
        MESSAGE("scalar kernels: no packed layout to check");
        return;
    }
    // The SIMD kernels load whole vectors of weights and bias: the padding must be zero so the
    // lanes beyond cout compute nothing that could leak into a store.
    Rng rng(5);
    const int cout = 17, cin = 3;
    const auto w = rng.vec(size_t(cout) * 9 * cin), b = rng.vec(cout);
    const Packed p = pack_conv(w, b, cout, 9, cin);
    const int nb = group_of(cout);
    const size_t n = S::conv_packed_floats(cout, 9, cin);
    CHECK(n % size_t(nb) == 0);
    long nonzero_padding = 0;
    for (size_t i = 0; i < n; ++i) {
        const int j = int(i % size_t(nb)), g = int(i / (size_t(9) * cin * nb));
        if (g * nb + j >= cout) nonzero_padding += p.wp()[i] != 0.0f;
    }
    CHECK(nonzero_padding == 0);
    for (size_t i = size_t(cout); i < S::conv_bias_floats(cout); ++i) CHECK(p.bp()[i] == 0.0f);
    // One weight traced through the layout: [group][tap][cin][nb].
    const int co = 16, tap = 4, ci = 2;
    const int g = co / nb, j = co % nb;
    CHECK(p.wp()[((size_t(g) * 9 + tap) * cin + ci) * nb + j] == w[(size_t(co) * 9 + tap) * cin + ci]);
}

#else  // !FACEMASK_SIMD

TEST_CASE("simd kernels: not in this build") {
    MESSAGE("built without SIMD kernels (", std::string(facemask::simd_name()), "): the SIMD-vs-scalar comparisons are skipped");
}

#endif  // FACEMASK_SIMD

TEST_SUITE_END();
