// tests/test_classifier.cpp — the mask classifier: the committed blob, the engine against the
// PyTorch golden files (tests/golden/classifier/, written by tools/reference_classifier.py):
// the crop rect within 1e-3 px and p(masked) within 1e-4; and the API's behaviour (self-test,
// refused boxes, classifying a Faces list). The suite needs the committed
// weights/mask_classifier.fmb; the golden pictures come from the shared folder.
#include "test_support.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>

// The committed blob (weights/mask_classifier.fmb at the repository root); the build may pass
// another path.
#ifndef FACEMASK_TEST_CLASSIFIER_BLOB
#define FACEMASK_TEST_CLASSIFIER_BLOB FACEMASK_TEST_GOLDEN_DIR "/../../weights/mask_classifier.fmb"
#endif

using facemask::Box;
using facemask::Classifier;
using facemask::Error;
using facemask::Face;
using facemask::Rect;
using facemask::Status;
using facemask::Workspace;

TEST_SUITE_BEGIN("classifier_parity");

namespace {

constexpr double kProbTolerance = 1e-4;
constexpr double kRectTolerance = 1e-3;  // picture pixels

const Classifier* classifier() {
    static std::unique_ptr<Classifier> cls;
    static bool tried = false;
    if (!tried) {
        tried = true;
        cls = std::make_unique<Classifier>();
        const Status st = cls->load_file(FACEMASK_TEST_CLASSIFIER_BLOB);
        CHECK_MESSAGE(st.ok(), "loading ", FACEMASK_TEST_CLASSIFIER_BLOB, ": ", std::string(st.message()));
        if (!st.ok()) cls.reset();
    }
    return cls.get();
}

// The CRC-32 stored in a blob's header (the golden files name the blob they belong to by it).
uint32_t blob_crc(const std::string& path) {
    std::vector<unsigned char> b;
    if (!fmtest::read_bytes(path, &b) || b.size() < facemask::blob::kHeaderSize) return 0;
    return facemask::blob::detail::rd32(b.data() + facemask::blob::kChecksumOffset);
}

// One golden file (format: tools/reference_classifier.py).
struct Golden {
    std::string name, blob, image;
    unsigned crc = 0;
    int picture_w = 0, picture_h = 0;
    float box[4] = {}, crop[4] = {};
    double logit = 0, p = -1;
};

bool parse_golden(const std::string& path, Golden* g) {
    FILE* f = std::fopen(path.c_str(), "r");
    if (!f) return false;
    g->name = std::filesystem::path(path).stem().string();
    char line[1024], word[512];
    bool ok = true;
    int fields = 0;
    while (ok && std::fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        if (std::sscanf(line, "blob %511s crc32 %x", word, &g->crc) == 2)
            g->blob = word, fields |= 1;
        else if (std::sscanf(line, "image %511s", word) == 1)
            g->image = word, fields |= 2;
        else if (std::sscanf(line, "picture %d %d", &g->picture_w, &g->picture_h) == 2)
            fields |= 4;
        else if (std::sscanf(line, "box %f %f %f %f", &g->box[0], &g->box[1], &g->box[2], &g->box[3]) == 4)
            fields |= 8;
        else if (std::sscanf(line, "crop %f %f %f %f", &g->crop[0], &g->crop[1], &g->crop[2], &g->crop[3]) == 4)
            fields |= 16;
        else if (std::sscanf(line, "logit %lf", &g->logit) == 1)
            fields |= 32;
        else if (std::sscanf(line, "p %lf", &g->p) == 1)
            fields |= 64;
        else
            ok = false;  // an unknown line: the format changed, update this parser
    }
    std::fclose(f);
    return ok && fields == 127;
}

std::vector<std::string> golden_files() {
    std::vector<std::string> out;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(fmtest::golden_dir() + "/classifier", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
        if (it->path().extension() == ".txt") out.push_back(it->path().string());
    std::sort(out.begin(), out.end());
    return out;
}

// A deterministic RGB test picture (smooth gradients plus a pattern).
facemask::Image test_picture(int w, int h) {
    facemask::Image img;
    REQUIRE(img.create(w, h).ok());
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            uint8_t* p = img.row(y) + 3 * x;
            p[0] = uint8_t((x * 255) / (w > 1 ? w - 1 : 1));
            p[1] = uint8_t((y * 255) / (h > 1 ? h - 1 : 1));
            p[2] = uint8_t(((x / 4 + y / 4) & 1) ? 200 : 40);
        }
    return img;
}

}  // namespace

TEST_CASE("the committed classifier blob: configuration and self-test") {
    const Classifier* cls = classifier();
    FM_REQUIRE(cls != nullptr);
    const facemask::blob::Config& c = cls->config();
    CHECK(std::string(c.family) == "facemask");
    CHECK(std::string(c.variant).rfind("mask-classifier-mnet", 0) == 0);
    CHECK(cls->input_width() == 112);
    CHECK(cls->input_height() == 112);
    CHECK(c.hidden == 128);
    CHECK(c.crop_square <= 1);
    CHECK(c.crop_margin >= 0.0f);
    CHECK(cls->threshold() > 0.0f);
    CHECK(cls->threshold() < 1.0f);
    Workspace ws;
    FM_CHECK_OK(cls->self_test(ws));
    CHECK(cls->workspace_bytes() > 0);
}

TEST_CASE("an unloaded classifier reports not_loaded") {
    Classifier cls;
    Workspace ws;
    CHECK_FALSE(cls.loaded());
    const uint8_t px[3 * 8 * 8] = {};
    float p = -2;
    CHECK(cls.classify(ws, facemask::ImageView(px, 8, 8), Box{1, 1, 6, 6}, &p).code() == Error::not_loaded);
    CHECK(cls.self_test(ws).code() == Error::not_loaded);
    CHECK(cls.workspace_bytes() == 0);
}

TEST_CASE("face_crop: square, margin and clipping as classifier.hpp documents") {
    Rect r;
    // 20 x 40 box centred at (20, 40): square makes it 40 x 40, margin 0.25 makes it 60 x 60.
    REQUIRE(facemask::face_crop(Box{10, 20, 30, 60}, 200, 200, true, 0.25f, &r));
    CHECK(r.x0 == 0.0f);  // 20 - 30 = -10 < 0: clipped, not shifted
    CHECK(r.y0 == 10.0f);
    CHECK(r.x1 == 50.0f);
    CHECK(r.y1 == 70.0f);
    // Not square, no margin: the box itself.
    REQUIRE(facemask::face_crop(Box{10.5f, 20.25f, 30.5f, 60.25f}, 200, 200, false, 0.0f, &r));
    CHECK(r.x0 == 10.5f);
    CHECK(r.y0 == 20.25f);
    CHECK(r.x1 == 30.5f);
    CHECK(r.y1 == 60.25f);
    // Clipped at the far borders.
    REQUIRE(facemask::face_crop(Box{180, 190, 220, 230}, 200, 200, true, 0.0f, &r));
    CHECK(r.x1 == 200.0f);
    CHECK(r.y1 == 200.0f);
    // Nothing (or less than a pixel) inside, empty or non-finite boxes: refused.
    CHECK_FALSE(facemask::face_crop(Box{250, 250, 260, 260}, 200, 200, true, 0.0f, &r));
    CHECK_FALSE(facemask::face_crop(Box{199.5f, 10, 230, 40}, 200, 200, false, 0.0f, &r));
    CHECK_FALSE(facemask::face_crop(Box{10, 10, 10, 30}, 200, 200, true, 0.1f, &r));
    CHECK_FALSE(facemask::face_crop(Box{30, 10, 10, 30}, 200, 200, true, 0.1f, &r));
    CHECK_FALSE(facemask::face_crop(Box{NAN, 10, 20, 30}, 200, 200, true, 0.1f, &r));
}

TEST_CASE("classify refuses zero-size and outside boxes with invalid_argument") {
    const Classifier* cls = classifier();
    FM_REQUIRE(cls != nullptr);
    const facemask::Image img = test_picture(64, 48);
    Workspace ws;
    float p = -2;
    const Box bad[] = {{10, 10, 10, 30}, {10, 10, 30, 10}, {30, 10, 10, 30}, {100, 100, 120, 120},
                       {-40, -40, -20, -20}, {NAN, 1, 20, 20}, {1, 1, INFINITY, 20}};
    for (const Box& b : bad) {
        CAPTURE(b.x1);
        CAPTURE(b.y1);
        CAPTURE(b.x2);
        CAPTURE(b.y2);
        const Status st = cls->classify(ws, img.view(), b, &p);
        CHECK(st.code() == Error::invalid_argument);
        CHECK(std::strlen(st.message()) > 0);
    }
    CHECK(cls->classify(ws, img.view(), Box{5, 5, 30, 30}, nullptr).code() == Error::invalid_argument);
    // Partly outside is fine (the crop is clipped, then stretched).
    FM_CHECK_OK(cls->classify(ws, img.view(), Box{-10, -10, 20, 25}, &p));
    CHECK(p >= 0.0f);
    CHECK(p <= 1.0f);
}

TEST_CASE("classify of a Faces list equals one-box classify, and skips boxes outside the picture") {
    const Classifier* cls = classifier();
    FM_REQUIRE(cls != nullptr);
    const facemask::Image img = test_picture(96, 80);
    Workspace ws;
    const Box boxes[3] = {{4, 6, 40, 50}, {50, 10, 90, 60}, {20, 30, 70, 79}};
    float single[3];
    for (int i = 0; i < 3; ++i) FM_REQUIRE_OK(cls->classify(ws, img.view(), boxes[i], &single[i]));

    Face faces[3];
    for (int i = 0; i < 3; ++i) faces[i].box = boxes[i];
    facemask::Faces list{faces, 3};
    FM_REQUIRE_OK(cls->classify(ws, img.view(), list));
    for (int i = 0; i < 3; ++i) {
        CHECK(faces[i].classified());
        CHECK(faces[i].mask == single[i]);  // the same computation, bit for bit
        CHECK(faces[i].masked() == (single[i] > cls->threshold()));  // the blob's threshold by default
    }
    // A threshold given decides the label; p(masked) is unchanged. Out of range is refused.
    for (float t : {0.0f, 1.0f, 0.5f * (single[0] + single[1])}) {
        CAPTURE(t);
        FM_REQUIRE_OK(cls->classify(ws, img.view(), list, t));
        for (int i = 0; i < 3; ++i) {
            CHECK(faces[i].mask == single[i]);
            CHECK(faces[i].masked() == (single[i] > t));
        }
    }
    CHECK(cls->classify(ws, img.view(), list, 1.5f).code() == Error::invalid_argument);

    // A face whose crop has no pixel in the picture (zero-size or outside box) is left
    // unclassified (mask = -1); the others are classified as before, and the call succeeds.
    faces[1].box = Box{50, 10, 50, 60};
    for (Face& f : faces) f.set_mask(0.5f, 0.2f);
    FM_CHECK_OK(cls->classify(ws, img.view(), list));
    CHECK(faces[0].mask == single[0]);
    CHECK(faces[1].mask == -1.0f);
    CHECK_FALSE(faces[1].classified());
    CHECK_FALSE(faces[1].masked());  // its old label is gone too
    CHECK(faces[2].mask == single[2]);
    faces[1].box = Box{200, 200, 240, 240};
    FM_CHECK_OK(cls->classify(ws, img.view(), list));
    CHECK(faces[1].mask == -1.0f);
    CHECK(faces[2].mask == single[2]);

    // An empty list is fine.
    FM_CHECK_OK(cls->classify(ws, img.view(), facemask::Faces{nullptr, 0}));
}

#if FACEMASK_HAS_IO

TEST_CASE("classifier parity: the engine against the PyTorch golden files") {
    const Classifier* cls = classifier();
    FM_REQUIRE(cls != nullptr);
    if (std::string(FACEMASK_TEST_SHARED_DIR).empty()) {
        MESSAGE("no shared folder in this build: the classifier golden pictures are not available");
        return;
    }
    const std::vector<std::string> files = golden_files();
    CHECK(files.size() >= 10);  // an empty folder must not pass silently
    const uint32_t crc = blob_crc(FACEMASK_TEST_CLASSIFIER_BLOB);

    Workspace ws;
    double worst_p = 0, worst_rect = 0;
    std::string worst_where;
    std::map<std::string, std::vector<Golden>> by_picture;
    for (const std::string& path : files) {
        CAPTURE(path);
        Golden g;
        const bool parsed = parse_golden(path, &g);
        CHECK_MESSAGE(parsed, "cannot parse ", path);
        if (!parsed) continue;
        CHECK_MESSAGE(g.crc == crc, g.name, " was written for another classifier blob (crc32 ", g.crc, ", the blob has ",
                      crc, "): regenerate with tools/reference_classifier.py");
        if (g.crc != crc) continue;
        const facemask::Image* img = fmtest::picture(g.image);
        if (!img) continue;
        CHECK(img->width() == g.picture_w);
        CHECK(img->height() == g.picture_h);
        const Box box{g.box[0], g.box[1], g.box[2], g.box[3]};

        Rect r;
        REQUIRE(cls->crop(box, img->width(), img->height(), &r));
        const float got[4] = {r.x0, r.y0, r.x1, r.y1};
        for (int k = 0; k < 4; ++k) {
            const double d = std::fabs(double(got[k]) - double(g.crop[k]));
            CHECK_MESSAGE(d <= kRectTolerance, g.name, ": crop[", k, "] ", got[k], " vs golden ", g.crop[k]);
            worst_rect = std::max(worst_rect, d);
        }

        float p = -1;
        FM_CHECK_OK(cls->classify(ws, img->view(), box, &p));
        const double d = std::fabs(double(p) - g.p);
        CHECK_MESSAGE(d <= kProbTolerance, g.name, ": p ", p, " vs golden ", g.p);
        if (d > worst_p) worst_p = d, worst_where = g.name;
        by_picture[g.image].push_back(g);
    }
    MESSAGE("classifier parity: max |dp| ", worst_p, " (", worst_where, "), max crop |d| ", worst_rect, " px");

    // Several boxes of one picture at once: classify(Faces) gives the golden values too.
    for (const auto& kv : by_picture) {
        if (kv.second.size() < 2) continue;
        const facemask::Image* img = fmtest::picture(kv.first);
        if (!img) continue;
        std::vector<Face> faces(kv.second.size());
        for (size_t i = 0; i < faces.size(); ++i) {
            const Golden& g = kv.second[i];
            faces[i].box = Box{g.box[0], g.box[1], g.box[2], g.box[3]};
        }
        FM_CHECK_OK(cls->classify(ws, img->view(), facemask::Faces{faces.data(), int(faces.size())}));
        for (size_t i = 0; i < faces.size(); ++i)
            CHECK_MESSAGE(std::fabs(double(faces[i].mask) - kv.second[i].p) <= kProbTolerance, kv.second[i].name);
    }
}

#endif  // FACEMASK_HAS_IO

TEST_SUITE_END();
