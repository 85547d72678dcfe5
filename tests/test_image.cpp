// tests/test_image.cpp — pictures: loading (and refusing) files, the EXIF orientation parser on
// hand-built bytes, orientation applied to a decoded JPEG, conversions between pixel formats.
#include "test_support.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

using facemask::Error;
using facemask::Image;
using facemask::Status;

TEST_SUITE_BEGIN("image");

namespace {

using Bytes = std::vector<unsigned char>;

void append(Bytes& out, std::initializer_list<int> bytes) {
    for (int b : bytes) out.push_back(static_cast<unsigned char>(b));
}

// A TIFF header + one IFD, as an EXIF APP1 segment carries it, little (II) or big (MM) endian.
// The IFD holds a "Make" entry first, so the parser has to walk past an entry.
Bytes tiff(bool le, int orientation, bool with_orientation = true) {
    auto u16 = [le](Bytes& b, int v) { le ? append(b, {v & 0xFF, v >> 8}) : append(b, {v >> 8, v & 0xFF}); };
    auto u32 = [le](Bytes& b, uint32_t v) {
        if (le)
            append(b, {int(v & 0xFF), int(v >> 8 & 0xFF), int(v >> 16 & 0xFF), int(v >> 24)});
        else
            append(b, {int(v >> 24), int(v >> 16 & 0xFF), int(v >> 8 & 0xFF), int(v & 0xFF)});
    };
    Bytes t;
    le ? append(t, {'I', 'I'}) : append(t, {'M', 'M'});
    u16(t, 42);
    u32(t, 8);  // first IFD right after the header
    u16(t, with_orientation ? 2 : 1);
    u16(t, 0x010F), u16(t, 2), u32(t, 4), append(t, {'A', 'C', 'M', 0});  // Make, ASCII, "ACM"
    if (with_orientation) u16(t, 0x0112), u16(t, 3), u32(t, 1), u16(t, orientation), u16(t, 0);  // SHORT, padded
    u32(t, 0);  // no next IFD
    return t;
}

// FF E1 <length> "Exif\0\0" <tiff>
Bytes app1(const Bytes& tiff_bytes, const char* ident = "Exif\0\0", size_t ident_len = 6) {
    Bytes s;
    const size_t len = 2 + ident_len + tiff_bytes.size();
    append(s, {0xFF, 0xE1, int(len >> 8), int(len & 0xFF)});
    s.insert(s.end(), ident, ident + ident_len);
    s.insert(s.end(), tiff_bytes.begin(), tiff_bytes.end());
    return s;
}

Bytes app0_jfif() {
    Bytes s;
    append(s, {0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0});
    return s;
}

// SOI, the given segments, then the start of scan (where the parser must stop).
Bytes jpeg_headers(std::initializer_list<Bytes> segments) {
    Bytes j;
    append(j, {0xFF, 0xD8});
    for (const Bytes& s : segments)
        for (unsigned char c : s) j.push_back(c);  // (insert() trips a GCC 12 -Warray-bounds false positive)
    append(j, {0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0});
    return j;
}

int orientation_of(const Bytes& b) { return Image::exif_orientation(b.data(), b.size()); }

#if FACEMASK_HAS_IO

// A 32x16 JPEG with four flat quadrants: red, green / blue, white (top row / bottom row).
// It is a file made once with PIL (quality 95, 4:4:4), not made here with stbi_write_jpg:
// stb_image_write's JPEG encoder shifts negative ints, which UBSan builds abort on (see the
// "image_save" suite).
const unsigned char kQuadrant[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}};
Bytes quadrant_jpeg() {
    Bytes out;
    const bool ok = fmtest::read_bytes(fmtest::data_path("quadrants_32x16.jpg"), &out);
    REQUIRE_MESSAGE(ok, "cannot read ", fmtest::data_path("quadrants_32x16.jpg"));
    return out;
}

// Which of the four quadrant colours a pixel is closest to (JPEG blurs a little).
int quadrant_at(const Image& img, int x, int y) {
    const uint8_t* p = img.row(y) + size_t(x) * 3;
    int best = -1, best_d = 1 << 30;
    for (int q = 0; q < 4; ++q) {
        int d = 0;
        for (int k = 0; k < 3; ++k) d += (p[k] - kQuadrant[q][k]) * (p[k] - kQuadrant[q][k]);
        if (d < best_d) best = q, best_d = d;
    }
    return best;
}

// Quadrant colours of an oriented picture, read at the centres of its quadrants: TL TR BL BR.
std::vector<int> quadrants(const Image& img) {
    const int w = img.width(), h = img.height();
    return {quadrant_at(img, w / 4, h / 4), quadrant_at(img, 3 * w / 4, h / 4), quadrant_at(img, w / 4, 3 * h / 4),
            quadrant_at(img, 3 * w / 4, 3 * h / 4)};
}

#endif  // FACEMASK_HAS_IO

}  // namespace

TEST_CASE("EXIF orientation: little- and big-endian TIFF headers") {
    for (int o = 1; o <= 8; ++o) {
        CAPTURE(o);
        CHECK(orientation_of(jpeg_headers({app1(tiff(true, o))})) == o);
        CHECK(orientation_of(jpeg_headers({app1(tiff(false, o))})) == o);
        // after a JFIF APP0 segment, as some writers put it
        CHECK(orientation_of(jpeg_headers({app0_jfif(), app1(tiff(false, o))})) == o);
    }
}

TEST_CASE("EXIF orientation: absent, invalid or damaged data gives 1") {
    CHECK(orientation_of(jpeg_headers({})) == 1);
    CHECK(orientation_of(jpeg_headers({app0_jfif()})) == 1);
    CHECK(orientation_of(jpeg_headers({app1(tiff(true, 6, false))})) == 1);  // no orientation entry
    CHECK(orientation_of(jpeg_headers({app1(tiff(true, 0))})) == 1);         // out of range values
    CHECK(orientation_of(jpeg_headers({app1(tiff(true, 9))})) == 1);
    CHECK(orientation_of(jpeg_headers({app1(tiff(false, 0x0600))})) == 1);   // 6 in the wrong byte order
    CHECK(orientation_of(jpeg_headers({app1(tiff(true, 6), "XMP\0\0\0", 6)})) == 1);  // not Exif
    {
        Bytes t = tiff(true, 6);
        t[0] = 'X';  // neither II nor MM
        CHECK(orientation_of(jpeg_headers({app1(t)})) == 1);
    }
    {
        Bytes t = tiff(true, 6);
        t[4] = 0xF0;  // IFD offset far beyond the segment
        CHECK(orientation_of(jpeg_headers({app1(t)})) == 1);
    }
    {
        Bytes t = tiff(true, 6);
        t[8] = 0xFF, t[9] = 0xFF;  // 65535 entries claimed; the walk must stop at the segment end
        const int o = orientation_of(jpeg_headers({app1(t)}));
        CHECK((o == 1 || o == 6));
    }
    {
        // A segment length running past the end of the bytes.
        Bytes j = jpeg_headers({app1(tiff(true, 6))});
        j[4] = 0x7F;
        CHECK(orientation_of(j) == 1);
    }
    // Not a JPEG at all, and too short.
    const Bytes png = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    CHECK(orientation_of(png) == 1);
    CHECK(Image::exif_orientation(png.data(), 0) == 1);
    CHECK(Image::exif_orientation(png.data(), 3) == 1);
}

TEST_CASE("EXIF orientation: every truncation of a valid header is safe") {
    // Exactly sized copies, so ASan sees any read past the end.
    for (bool le : {true, false}) {
        const Bytes full = jpeg_headers({app0_jfif(), app1(tiff(le, 6))});
        for (size_t n = 0; n <= full.size(); ++n) {
            const Bytes cut(full.begin(), full.begin() + long(n));
            const int o = orientation_of(cut);
            CAPTURE(n);
            CHECK((o == 1 || o == 6));
            if (n == full.size()) CHECK(o == 6);
        }
    }
    // Random bytes after a JPEG signature.
    uint32_t s = 12345;
    for (int trial = 0; trial < 500; ++trial) {
        Bytes b = {0xFF, 0xD8, 0xFF, 0xE1};
        const size_t n = 4 + trial % 60;
        for (size_t i = 4; i < n; ++i) {
            s = s * 1664525u + 1013904223u;
            b.push_back(uint8_t(s >> 24));
        }
        const int o = orientation_of(b);
        CHECK((o >= 1 && o <= 8));
    }
}

#if FACEMASK_HAS_IO

TEST_CASE("a JPEG with EXIF orientation is turned upright on load") {
    const Bytes plain = quadrant_jpeg();
    REQUIRE(plain.size() > 20);
    REQUIRE(plain[0] == 0xFF);
    REQUIRE(plain[1] == 0xD8);
    CHECK(orientation_of(plain) == 1);
    enum { red, green, blue, white };

    Image img;
    FM_REQUIRE_OK(img.load_memory(plain.data(), plain.size()));
    CHECK(img.width() == 32);
    CHECK(img.height() == 16);
    CHECK(quadrants(img) == std::vector<int>{red, green, blue, white});

    // Splices an APP1 Exif segment right after SOI, as cameras write it.
    auto with_orientation = [&](int o, bool le) {
        Bytes j = app1(tiff(le, o));
        j.insert(j.begin(), plain.begin(), plain.begin() + 2);  // SOI first
        j.insert(j.end(), plain.begin() + 2, plain.end());
        return j;
    };

    struct Expect { int orientation, w, h; std::vector<int> q; };
    // Orientation 6: the camera was turned clockwise; viewers rotate the picture 90° clockwise.
    // Each row: where the four source quadrants end up (TL TR BL BR of the upright picture).
    for (const Expect& e : {Expect{1, 32, 16, {red, green, blue, white}}, Expect{2, 32, 16, {green, red, white, blue}},
                            Expect{3, 32, 16, {white, blue, green, red}}, Expect{4, 32, 16, {blue, white, red, green}},
                            Expect{5, 16, 32, {red, blue, green, white}}, Expect{6, 16, 32, {blue, red, white, green}},
                            Expect{7, 16, 32, {white, green, blue, red}}, Expect{8, 16, 32, {green, white, red, blue}}}) {
        for (bool le : {true, false}) {
            CAPTURE(e.orientation);
            CAPTURE(le);
            const Bytes j = with_orientation(e.orientation, le);
            CHECK(orientation_of(j) == e.orientation);
            Image o;
            FM_REQUIRE_OK(o.load_memory(j.data(), j.size()));
            CHECK(o.width() == e.w);
            CHECK(o.height() == e.h);
            CHECK(quadrants(o) == e.q);
        }
    }

    // The same through a file.
    const std::string path = fmtest::temp_dir() + "/rotated.jpg";
    REQUIRE(fmtest::write_bytes(path, with_orientation(6, true)));
    Image f;
    FM_REQUIRE_OK(f.load(path.c_str()));
    CHECK(f.width() == 16);
    CHECK(f.height() == 32);
}

TEST_CASE("Image::load refuses what is not a picture, with a clear status") {
    Image img;
    SUBCASE("a missing file") {
        const Status st = img.load("/nonexistent/facemask/picture.jpg");
        CHECK(st.code() == Error::io);
        CHECK(fmtest::contains(st.message(), "/nonexistent/facemask/picture.jpg"));
    }
    SUBCASE("an empty file") {
        const std::string path = fmtest::temp_dir() + "/empty.jpg";
        REQUIRE(fmtest::write_bytes(path, nullptr, 0));
        const Status st = img.load(path.c_str());
        CHECK(st.code() == Error::bad_image);
        CHECK(fmtest::contains(st.message(), "empty"));
        CHECK(fmtest::contains(st.message(), "empty.jpg"));
    }
    SUBCASE("a text file") {
        const std::string path = fmtest::temp_dir() + "/notes.jpg";
        const char text[] = "these are not the pixels you are looking for\n";
        REQUIRE(fmtest::write_bytes(path, reinterpret_cast<const unsigned char*>(text), sizeof text - 1));
        const Status st = img.load(path.c_str());
        CHECK(st.code() == Error::bad_image);
        CHECK(std::strlen(st.message()) > 0);
    }
    SUBCASE("a folder") {
        const Status st = img.load(fmtest::temp_dir().c_str());
        CHECK_FALSE(st.ok());
        CHECK(std::strlen(st.message()) > 0);
    }
    SUBCASE("a null path and null memory") {
        const char* volatile no_path = nullptr;  // (volatile: keeps GCC from warning about the null %s it cannot rule out)
        CHECK(img.load(no_path).code() == Error::invalid_argument);
        CHECK(img.load_memory(nullptr, 10).code() == Error::bad_image);
    }
    SUBCASE("a picture beyond the pixel limit") {
        const Bytes j = quadrant_jpeg();
        const Status st = img.load_memory(j.data(), j.size(), 100);
        CHECK(st.code() == Error::too_large);
        CHECK(fmtest::contains(st.message(), "32x16"));
    }
    CHECK(img.empty());
}

namespace {

// The offset of the first segment with marker `m` in a JPEG (the FF byte), or 0.
size_t find_segment(const Bytes& j, int m) {
    size_t i = 2;
    while (i + 4 <= j.size() && j[i] == 0xFF) {
        if (j[i + 1] == m) return i;
        if (j[i + 1] == 0xDA) break;
        i += 2 + (size_t(j[i + 2]) << 8 | j[i + 3]);
    }
    return 0;
}

// A PNG that is only its signature and an IHDR claiming w x h (no pixel data).
Bytes png_header(uint32_t w, uint32_t h) {
    Bytes b = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    for (uint32_t v : {w, h})
        for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<unsigned char>(v >> s));
    append(b, {8, 2, 0, 0, 0, 0, 0, 0, 0});  // 8-bit RGB, (CRC not checked by stb)
    return b;
}

}  // namespace

TEST_CASE("a JPEG Huffman table with more than 256 codes is refused before stb builds it") {
    // stb_image 2.27 writes past its 257-entry size table for such a table (UBSan: index 257
    // out of bounds); the validator must stop the bytes first.
    Bytes j = quadrant_jpeg();
    const size_t dht = find_segment(j, 0xC4);
    REQUIRE(dht != 0);
    const size_t counts = dht + 5;  // FF C4 len(2) class/slot, then 16 counts
    for (int k = 0; k < 16; ++k) j[counts + size_t(k)] = 0;
    j[counts + 15] = 200, j[counts + 14] = 100;  // 300 codes of 15 and 16 bits
    Image img;
    Status st = img.load_memory(j.data(), j.size());
    CHECK(st.code() == Error::bad_image);
    CHECK(fmtest::contains(st.message(), "Huffman"));
    // Fewer codes but more of one length than the prefix code allows (3 codes of 1 bit).
    for (int k = 0; k < 16; ++k) j[counts + size_t(k)] = 0;
    j[counts] = 3;
    st = img.load_memory(j.data(), j.size());
    CHECK(st.code() == Error::bad_image);
    CHECK(fmtest::contains(st.message(), "Huffman"));
    CHECK(img.empty());
}

TEST_CASE("JPEG segment checks: slots, frame and scan headers, unsupported codings") {
    const Bytes good = quadrant_jpeg();
    Image img;
    REQUIRE(img.load_memory(good.data(), good.size()).ok());
    const size_t dqt = find_segment(good, 0xDB), sof = find_segment(good, 0xC0), sos = find_segment(good, 0xDA);
    REQUIRE(dqt != 0);
    REQUIRE(sof != 0);
    REQUIRE(sos != 0);
    struct Edit {
        size_t at;
        unsigned char value;
        const char* says;
    };
    const Edit edits[] = {
        {dqt + 4, 0x27, "quantisation"},   // precision 2, slot 7
        {sof + 4, 12, "8-bit"},            // 12-bit samples
        {sof + 9, 2, "components"},        // 2 colour components
        {sof + 11, 0x51, "sampling"},      // horizontal sampling 5
        {sof + 1, 0xC3, "unsupported"},    // lossless coding
        // Tables a scan uses must be defined before it (stb 2.27 decodes with an unfilled slot:
        // a read 16 MB past its tables, found by fuzz_image).
        {sos + 8, 0x12, "not defined"},      // component 2: AC table slot 2, never defined
        {sos + 8, 0x31, "not defined"},      // component 2: DC table slot 3, never defined
        {sof + 15, 2, "quantisation table 2"},  // component 2 dequantised with slot 2, never defined
        {sos + 7, 9, "not in the frame"},    // the scan's second component is not a frame component
    };
    for (const Edit& e : edits) {
        CAPTURE(e.says);
        Bytes j = good;
        j[e.at] = e.value;
        img = Image();
        const Status st = img.load_memory(j.data(), j.size());
        CHECK(st.code() == Error::bad_image);
        CHECK(fmtest::contains(st.message(), e.says));
    }
}

TEST_CASE("picture limits: sides, the pixel budget, and only JPEG, PNG, BMP and PNM") {
    Image img;
    const Bytes huge = png_header(100000, 100000);
    Status st = img.load_memory(huge.data(), huge.size());
    CHECK(st.code() == Error::too_large);
    CHECK(fmtest::contains(st.message(), "100000x100000"));
    CHECK(fmtest::contains(st.message(), "a side"));
    const Bytes big = png_header(10000, 10000);  // 1e8 pixels: beyond the default budget
    st = img.load_memory(big.data(), big.size());
    CHECK(st.code() == Error::too_large);
    CHECK(fmtest::contains(st.message(), "pixel budget"));
    // A caller's larger budget lets the header through (then the missing pixels fail).
    st = img.load_memory(big.data(), big.size(), 200L * 1000 * 1000);
    CHECK(st.code() == Error::bad_image);
    CHECK(img.load_memory(big.data(), big.size(), 0).code() == Error::invalid_argument);
    // Binary PNM is kept (the HTTP service's tests send PPM); GIF, which stb could decode, is not.
    const char ppm[] = "P6\n# one pixel\n1 1\n255\n\x10\x20\x30";
    FM_CHECK_OK(img.load_memory(ppm, sizeof ppm - 1));
    CHECK(img.width() == 1);
    CHECK(img.row(0)[2] == 0x30);
    const char huge_pgm[] = "P5 40000 2 255\n";
    CHECK(img.load_memory(huge_pgm, sizeof huge_pgm - 1).code() == Error::too_large);
    // The maximum value is checked before stb reads it into an int (found by fuzz_image: a
    // 10-digit value is a signed overflow in stb 2.27), and 16-bit PNM, whose narrowing in
    // stb 2.27 reads past its buffer (ASan, found by CI's fuzz stage), is refused.
    for (const char* bad : {"P6 55 7 5555555555\n", "P6 1 1 0\n", "P5 1 1 256\n", "P6 1 1\n",
                            "P5 2 1 65535\n\x01\x02\x03\x04",
                            "P5 2 1 #\r555\n9\n\x01\x02\x03\x04"}) {  // stb: comment ends at CR, maximum 555
        CAPTURE(bad);
        st = img.load_memory(bad, std::strlen(bad));
        CHECK(st.code() == Error::bad_image);
        CHECK(fmtest::contains(st.message(), "maximum"));
    }
    img = Image();
    const Bytes gif = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 255, 255, 255,
                       0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 0x01, 0, 0x3B};
    st = img.load_memory(gif.data(), gif.size());
    CHECK(st.code() == Error::bad_image);
    CHECK(fmtest::contains(st.message(), "not a JPEG, PNG, BMP or PNM"));
    CHECK(img.empty());
}

TEST_CASE("picture decoding allocates through FACEMASK_MALLOC") {
    // The Image's own pixels are one allocation; stb's decoder needs several more (its
    // context, component buffers, output), which the program's hook must see.
    const Bytes j = quadrant_jpeg();
    Image img;
    const size_t before = fmtest::allocation_count();
    FM_REQUIRE_OK(img.load_memory(j.data(), j.size()));
    CHECK(fmtest::allocation_count() - before >= 3);
}

TEST_CASE("a tiny PNG cannot make the decoder allocate gigabytes (found by fuzz_image)") {
    // 104 bytes, 4x3 RGB, an IDAT claiming 0x6800002f bytes: stb 2.27 allocated that much before
    // finding the file shorter (40 s to free under ASan).
    // tests/fuzz/corpus/image/regress-png-1p7gb-alloc.png is the same file.
    static const unsigned char png[] = {
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
        0x00, 0x04, 0x00, 0x00, 0x00, 0x03, 0x08, 0x02, 0x00, 0x00, 0x00, 0x3b, 0x96, 0x39, 0x91, 0x68, 0x00, 0x00,
        0x2f, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60, 0x10, 0xd1, 0xd0, 0xb0, 0x09, 0x08, 0x48, 0xa9, 0xa8,
        0xe8, 0x59, 0xc0, 0x68, 0x13, 0x90, 0x92, 0x52, 0xd1, 0xd3, 0xb3, 0x40, 0xcb, 0x96, 0x13, 0x77, 0x58, 0x80,
        0x02, 0x0b, 0xb6, 0x9c, 0x33, 0x71, 0xe7, 0xc3, 0x07, 0x16, 0x09, 0x00, 0x1d, 0x54, 0x11, 0xb6, 0xd8, 0x51,
        0x6b, 0x57, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};
    static_assert(sizeof png == 104, "the fuzz-found file");
    Image img;
    fmtest::reset_largest_allocation();
    const Status st = img.load_memory(png, sizeof png);
    CHECK(st.code() == Error::bad_image);
    CHECK_MESSAGE(fmtest::largest_allocation() <= (size_t(2) << 20), "largest allocation ", fmtest::largest_allocation());
    // The same file with a first IDAT of length 0 (stb copied it to a null buffer) is refused.
    unsigned char empty_idat[sizeof png];
    std::memcpy(empty_idat, png, sizeof png);
    std::memset(empty_idat + 33, 0, 4);  // the IDAT's length (0x6800002f, past the file's end) -> 0
    const Status e = img.load_memory(empty_idat, sizeof empty_idat);
    CHECK(e.code() == Error::bad_image);
    CHECK(fmtest::contains(e.message(), "empty first IDAT"));
    // Good pictures still decode under the bound.
    const Bytes j = quadrant_jpeg();
    FM_CHECK_OK(img.load_memory(j.data(), j.size()));
}

TEST_CASE("a folder named like a picture is an I/O error, not a size") {
    const std::string dir = fmtest::temp_dir() + "/folder.jpg";
    const std::string cmd = "mkdir -p '" + dir + "'";
    REQUIRE(std::system(cmd.c_str()) == 0);
    Image img;
    const Status st = img.load(dir.c_str());
    CHECK(st.code() == Error::io);
    CHECK(fmtest::contains(st.message(), "folder.jpg"));
    CHECK_FALSE(fmtest::contains(st.message(), "9223372036854775807"));
}

TEST_CASE("every cut of a small JPEG and PNG loads or fails cleanly") {
    // stb decodes some truncated files (the missing part grey); either way: no crash, no
    // read past the bytes, and a failure says so.
    const Bytes jpg = quadrant_jpeg();
    for (size_t n = 0; n < jpg.size(); ++n) {
        const Bytes cut(jpg.begin(), jpg.begin() + long(n));
        Image img;
        const Status st = img.load_memory(cut.data(), cut.size());
        CAPTURE(n);
        if (st.ok()) {
            CHECK(img.width() == 32);
            CHECK(img.height() == 16);
        } else {
            CHECK(std::strlen(st.message()) > 0);
            CHECK((st.code() == Error::bad_image || st.code() == Error::too_large));
        }
    }
}

namespace {

// A PNG written by hand (zlib "stored" blocks, no compression), so that the test can make the
// kinds stb_image_write cannot: 16-bit samples, grey + alpha. `rows` are the raw scanlines
// without filter bytes (big-endian samples for 16 bit).
Bytes handmade_png(int w, int h, int color_type, int depth, const Bytes& rows) {
    auto crc32 = [](const unsigned char* p, size_t n, uint32_t c) {
        for (size_t i = 0; i < n; ++i) {
            c ^= p[i];
            for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
        }
        return c;
    };
    auto be32 = [](Bytes& b, uint32_t v) {
        for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<unsigned char>(v >> s));
    };
    Bytes out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    auto chunk = [&](const char* type, const Bytes& data) {
        be32(out, uint32_t(data.size()));
        Bytes typed(type, type + 4);
        typed.insert(typed.end(), data.begin(), data.end());
        out.insert(out.end(), typed.begin(), typed.end());
        be32(out, ~crc32(typed.data(), typed.size(), 0xFFFFFFFFu));
    };
    Bytes ihdr;
    be32(ihdr, uint32_t(w));
    be32(ihdr, uint32_t(h));
    ihdr.insert(ihdr.end(), {static_cast<unsigned char>(depth), static_cast<unsigned char>(color_type), 0, 0, 0});
    chunk("IHDR", ihdr);
    Bytes raw;  // each scanline: filter type 0, then the samples
    const size_t stride = rows.size() / size_t(h);
    for (int y = 0; y < h; ++y) {
        raw.push_back(0);
        raw.insert(raw.end(), rows.begin() + long(y * stride), rows.begin() + long((y + 1) * stride));
    }
    Bytes z = {0x78, 0x01, 1};  // zlib header, one final stored block (raw is small)
    z.insert(z.end(), {static_cast<unsigned char>(raw.size()), static_cast<unsigned char>(raw.size() >> 8),
                       static_cast<unsigned char>(~raw.size()), static_cast<unsigned char>(~raw.size() >> 8)});
    z.insert(z.end(), raw.begin(), raw.end());
    uint32_t a = 1, b = 0;  // Adler-32 of the uncompressed data
    for (unsigned char c : raw) a = (a + c) % 65521, b = (b + a) % 65521;
    be32(z, b << 16 | a);
    chunk("IDAT", z);
    chunk("IEND", Bytes());
    return out;
}

}  // namespace

TEST_CASE("grey, grey + alpha, RGBA and 16-bit PNGs load as RGB") {
    // Two pixels each; grey becomes (g, g, g), alpha is dropped, 16-bit keeps the high byte.
    struct Kind {
        const char* name;
        int color_type, depth;
        Bytes rows;
    };
    const Kind kinds[] = {
        {"grey 8", 0, 8, {7, 200}},
        {"grey + alpha 8", 4, 8, {7, 0, 200, 255}},
        {"RGB 8", 2, 8, {1, 2, 3, 250, 251, 252}},
        {"RGBA 8", 6, 8, {1, 2, 3, 0, 250, 251, 252, 128}},
        {"grey 16", 0, 16, {7, 0xFF, 200, 0x01}},
        {"RGB 16", 2, 16, {1, 0x80, 2, 0x7F, 3, 0, 250, 0xFF, 251, 1, 252, 0x10}},
        {"RGBA 16", 6, 16, {1, 0, 2, 0, 3, 0, 0, 0, 250, 0, 251, 0, 252, 0, 0xFF, 0xFF}},
    };
    const unsigned char want[2][3] = {{1, 2, 3}, {250, 251, 252}};
    const unsigned char want_grey[2] = {7, 200};
    for (const Kind& k : kinds) {
        CAPTURE(std::string(k.name));
        const Bytes png = handmade_png(2, 1, k.color_type, k.depth, k.rows);
        Image img;
        FM_REQUIRE_OK(img.load_memory(png.data(), png.size()));
        CHECK(img.width() == 2);
        CHECK(img.height() == 1);
        const bool grey = k.color_type == 0 || k.color_type == 4;
        for (int x = 0; x < 2; ++x)
            for (int c = 0; c < 3; ++c) CHECK(int(img.row(0)[x * 3 + c]) == int(grey ? want_grey[x] : want[x][c]));
    }
    // The same bytes through a file, as example_annotate reads them.
    const Bytes png16 = handmade_png(2, 1, 2, 16, kinds[5].rows);
    const std::string path = fmtest::temp_dir() + "/rgb16.png";
    REQUIRE(fmtest::write_bytes(path, png16));
    Image img;
    FM_REQUIRE_OK(img.load(path.c_str()));
    CHECK(int(img.row(0)[3]) == 250);
}

#if FACEMASK_TEST_HAVE_BLOBS
TEST_CASE("a real JPEG and PNG cut in half") {
    for (const char* name : {"images/ex_img.jpg", "images/toon_masked.png"}) {
        CAPTURE(std::string(name));
        Bytes bytes;
        REQUIRE(fmtest::read_bytes(fmtest::shared_path(name), &bytes));
        bytes.resize(bytes.size() / 2);
        const std::string ext = std::strrchr(name, '.');
        const std::string path = fmtest::temp_dir() + "/half_" + std::to_string(bytes.size()) + ext;
        REQUIRE(fmtest::write_bytes(path, bytes));
        Image img;
        const Status st = img.load(path.c_str());
        if (st.ok()) {
            MESSAGE(std::string(name), " cut in half still decodes (stb fills the rest): ", img.width(), "x", img.height());
            CHECK(img.width() > 0);
        } else {
            CHECK(st.code() == Error::bad_image);
            CHECK(fmtest::contains(st.message(), "half_"));
        }
    }
}
#endif

#endif  // FACEMASK_HAS_IO

TEST_CASE("Image::assign converts every pixel format to RGB") {
    // 3x2 pixels, rows padded to 16 bytes to exercise the stride.
    const int w = 3, h = 2;
    const unsigned char rgb[h][w][3] = {{{1, 2, 3}, {4, 5, 6}, {7, 8, 9}}, {{10, 11, 12}, {13, 14, 15}, {16, 17, 18}}};
    for (facemask::PixelFormat f : {facemask::PixelFormat::rgb, facemask::PixelFormat::bgr, facemask::PixelFormat::rgba,
                                    facemask::PixelFormat::bgra}) {
        const int n = facemask::channels_of(f);
        const bool bgr = f == facemask::PixelFormat::bgr || f == facemask::PixelFormat::bgra;
        unsigned char buf[h][16] = {};
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) {
                for (int k = 0; k < 3; ++k) buf[y][x * n + k] = rgb[y][x][bgr ? 2 - k : k];
                if (n == 4) buf[y][x * n + 3] = 200;
            }
        Image img;
        FM_REQUIRE_OK(img.assign(facemask::ImageView(&buf[0][0], w, h, f, 16)));
        CAPTURE(int(f));
        CHECK(std::memcmp(img.data(), rgb, sizeof rgb) == 0);
    }
    const unsigned char grey[2][3] = {{9, 99, 199}, {0, 128, 255}};
    Image img;
    FM_REQUIRE_OK(img.assign(facemask::ImageView(&grey[0][0], 3, 2, facemask::PixelFormat::gray)));
    for (int y = 0; y < 2; ++y)
        for (int x = 0; x < 3; ++x)
            for (int k = 0; k < 3; ++k) CHECK(img.row(y)[x * 3 + k] == grey[y][x]);
    CHECK(img.assign(facemask::ImageView(&grey[0][0], 3, 2, facemask::PixelFormat::rgb, 4)).code() == Error::bad_image);
}

TEST_CASE("labels say the class and how probable it is") {
    char buf[48];
    facemask::Face f;
    f.score = 0.987f;
    facemask::face_label(f, buf, sizeof buf);
    CHECK(std::string(buf) == "face: 0.99");  // not classified: the detector's score
    f.set_mask(0.97f, 0.5f);
    facemask::face_label(f, buf, sizeof buf);
    CHECK(std::string(buf) == "masked: 0.97");
    f.set_mask(0.03f, 0.5f);
    facemask::face_label(f, buf, sizeof buf);
    CHECK(std::string(buf) == "not masked: 0.97");
    f.set_mask(0.6f, 0.7f);  // the threshold it was classified with decides the class
    facemask::face_label(f, buf, sizeof buf);
    CHECK(std::string(buf) == "not masked: 0.40");
}

TEST_CASE("annotate draws coloured boxes and labelled bands, and nothing else") {
    const int w = 300, h = 200;
    std::vector<unsigned char> grey(size_t(w) * h * 3, 128);
    Image img;
    FM_REQUIRE_OK(img.assign(facemask::ImageView(grey.data(), w, h)));
    facemask::Face faces[4];
    faces[0].box = {20, 60, 100, 150};  // masked
    faces[0].set_mask(0.9f, 0.5f);
    faces[0].landmarks[0] = {60, 100};
    faces[1].box = {150, 60, 250, 150};  // not masked
    faces[1].set_mask(0.1f, 0.5f);
    faces[2].box = {260, 10, 290, 40};  // not classified
    faces[2].score = 0.88f;
    faces[3].box = {std::nanf(""), 5, 1e30f, 9};  // garbage coordinates: skipped safely
    faces[3].set_mask(0.5f, 0.5f);
    auto px = [&](int x, int y) {
        const uint8_t* p = img.row(y) + 3 * x;
        return facemask::Color{p[0], p[1], p[2]};
    };
    auto is = [](facemask::Color a, facemask::Color b) { return a.r == b.r && a.g == b.g && a.b == b.b; };
    const facemask::Color bg{128, 128, 128};
    facemask::annotate(img, facemask::Faces{faces, 4});
    // Boxes: 1 px lines on a 300x200 picture (line_width), in the original project's colours.
    CHECK(facemask::line_width(img) == 1);
    CHECK(is(px(20, 100), facemask::colors::masked));
    CHECK(is(px(99, 100), facemask::colors::masked));
    CHECK(is(px(150, 100), facemask::colors::not_masked));
    CHECK(is(px(200, 149), facemask::colors::not_masked));
    CHECK(is(px(260, 25), facemask::colors::unclassified));
    CHECK(is(px(21, 100), bg));  // inside the box: untouched
    CHECK(is(px(60, 100), bg));  // landmarks are off by default
    CHECK(is(px(5, 190), bg));   // far from every face
    // The label band sits on the box's top edge: 9-px glyphs + 1 px padding above and below.
    const int band_top = 60 - (facemask::font::kGlyphH + 2);
    CHECK(is(px(20, band_top), facemask::colors::masked));
    CHECK(is(px(20, band_top - 1), bg));
    int white = 0;
    for (int y = band_top; y < 60; ++y)
        for (int x = 20; x < 100; ++x) white += is(px(x, y), facemask::colors::text);
    CHECK(white > 40);  // "masked: 0.90" was written
    // Landmarks on request: a dot in the landmark colour; no labels when they are off.
    FM_REQUIRE_OK(img.assign(facemask::ImageView(grey.data(), w, h)));
    facemask::AnnotateOptions opt;
    opt.landmarks = true;
    opt.labels = false;
    facemask::annotate(img, facemask::Faces{faces, 1}, opt);
    CHECK(is(px(60, 100), facemask::colors::landmark));
    CHECK(is(px(20, band_top), bg));
}

TEST_CASE("a run of 0xFF in a JPEG scan cannot hide a segment from the header check (found by fuzz_image)") {
    // 910 bytes: in the scan, "FF FF ... FF 00" (fill bytes, then a stuffed data byte for stb)
    // was taken by the check as a segment with a length, which skipped a later "FF FF C4" DHT
    // claiming 256 bytes; stb 2.27 then built that table past its arrays (UBSan: index 257).
    const std::string path = std::string(FACEMASK_TEST_DATA_DIR) + "/../fuzz/corpus/image/regress-jpeg-ff-run-hides-dht.jpg";
    std::vector<unsigned char> bytes;
    REQUIRE_MESSAGE(fmtest::read_bytes(path, &bytes), "missing ", path);
    REQUIRE(bytes.size() == 910);
    Image img;
    const Status st = img.load_memory(bytes.data(), bytes.size());
    CHECK(st.code() == Error::bad_image);
    CHECK_MESSAGE(fmtest::contains(st.message(), "cut short"), st.message());
    // A marker byte below 0xC0 outside a scan is refused as stb refuses it.
    const Bytes j = quadrant_jpeg();
    std::vector<unsigned char> odd(j.begin(), j.end());
    const unsigned char app[] = {0xFF, 0x05, 0x00, 0x04, 0x00, 0x00};
    odd.insert(odd.begin() + 2, app, app + sizeof app);
    const Status u = img.load_memory(odd.data(), odd.size());
    CHECK(u.code() == Error::bad_image);
    CHECK_MESSAGE(fmtest::contains(u.message(), "unknown marker"), u.message());
    FM_CHECK_OK(img.load_memory(j.data(), j.size()));
}

TEST_SUITE_END();

// ---- writing pictures ------------------------------------------------------------------------
// A suite of its own: Image::save(".jpg") runs stb_image_write's JPEG encoder, which shifts
// negative ints (stb_image_write.h, stbiw__jpg_writeBits: `bitBuf <<= 8`), undefined behaviour
// to UBSan; the sanitized build therefore leaves out -fsanitize=shift-base (CMakeLists.txt), and
// this suite runs there too.
TEST_SUITE_BEGIN("image_save");

#if FACEMASK_HAS_IO

namespace {

// A 40x24 picture of smooth gradients (which JPEG keeps close).
Image gradient() {
    Image img;
    REQUIRE(img.create(40, 24).ok());
    for (int y = 0; y < img.height(); ++y)
        for (int x = 0; x < img.width(); ++x)
            for (int k = 0; k < 3; ++k) img.row(y)[x * 3 + k] = uint8_t(y * 8 + x * 4 + k * 20);
    return img;
}

}  // namespace

TEST_CASE("PNG and BMP round trips are lossless") {
    const Image img = gradient();
    for (const char* ext : {".png", ".bmp", ".PNG"}) {
        CAPTURE(std::string(ext));
        const std::string path = fmtest::temp_dir() + "/roundtrip" + ext;
        FM_REQUIRE_OK(img.save(path.c_str()));
        Image back;
        FM_REQUIRE_OK(back.load(path.c_str()));
        REQUIRE(back.width() == img.width());
        REQUIRE(back.height() == img.height());
        CHECK(std::memcmp(back.data(), img.data(), size_t(img.width()) * img.height() * 3) == 0);
    }
}

TEST_CASE("JPEG output decodes to the same picture, within JPEG's loss") {
    const Image img = gradient();
    for (const char* ext : {".jpg", ".jpeg"}) {
        CAPTURE(std::string(ext));
        const std::string path = fmtest::temp_dir() + "/lossy" + ext;
        FM_REQUIRE_OK(img.save(path.c_str(), 95));
        Image back;
        FM_REQUIRE_OK(back.load(path.c_str()));
        REQUIRE(back.width() == img.width());
        REQUIRE(back.height() == img.height());
        const size_t n = size_t(img.width()) * img.height() * 3;
        long total = 0;
        int worst = 0;
        for (size_t i = 0; i < n; ++i) {
            const int d = std::abs(int(back.data()[i]) - int(img.data()[i]));
            total += d;
            worst = std::max(worst, d);
        }
        CHECK(double(total) / double(n) <= 3.0);  // a broken encoder is off by far more
        CHECK(worst <= 40);
    }
}

TEST_CASE("saving refuses unknown types, unwritable paths and empty pictures") {
    const Image img = gradient();
    CHECK(img.save((fmtest::temp_dir() + "/picture.gif").c_str()).code() == Error::invalid_argument);
    CHECK(img.save((fmtest::temp_dir() + "/no_extension").c_str()).code() == Error::invalid_argument);
    CHECK(img.save("/nonexistent/facemask/out.png").code() == Error::io);
    CHECK(Image().save((fmtest::temp_dir() + "/empty.png").c_str()).code() == Error::invalid_argument);
}

#endif  // FACEMASK_HAS_IO

TEST_SUITE_END();

