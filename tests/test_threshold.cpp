// tests/test_threshold.cpp — one mask threshold decides every label (issue 11, defect 7): the
// threshold given to Pipeline::run (or, by default, the classifier blob's own) is applied once,
// and the face's label, the drawn colour and text, and the JSON of the front ends all follow it.
// Part of the "detector" suite (it needs both blobs and the shared demo picture).
#include "test_support.hpp"

#include "../examples/faces_json.hpp"

#include <cmath>
#include <string>
#include <vector>

using facemask::Face;
using facemask::Faces;
using facemask::Pipeline;
using facemask::PipelineOptions;
using facemask::Status;
using facemask::Workspace;

TEST_SUITE_BEGIN("detector");

#if FACEMASK_TEST_HAVE_BLOBS && FACEMASK_HAS_IO

namespace {

bool same(facemask::Color a, facemask::Color b) { return a.r == b.r && a.g == b.g && a.b == b.b; }

// The colour annotate() gives the left edge of a face's box, half-way down.
facemask::Color drawn(const facemask::Image& original, const Faces& faces, int i) {
    facemask::Image img;
    const Status st = img.assign(original.view());
    CHECK_MESSAGE(st.ok(), std::string(st.message()));
    if (!st) return facemask::Color{1, 2, 3};
    facemask::annotate(img, faces);
    const Face& f = faces[i];
    const int x = int(std::lround(f.box.x1)), y = int(std::lround(0.5f * (f.box.y1 + f.box.y2)));
    const uint8_t* p = img.row(y) + 3 * x;
    return facemask::Color{p[0], p[1], p[2]};
}

// Every place a label shows agrees with p(masked) > threshold.
void check_labels(const facemask::Image& img, const Faces& faces, float threshold) {
    const std::string json = facemask_examples::faces_json("x.jpg", img.width(), img.height(), faces);
    for (int i = 0; i < faces.size(); ++i) {
        const Face& f = faces[i];
        CAPTURE(i);
        CAPTURE(f.mask);
        CAPTURE(threshold);
        REQUIRE(f.classified());
        const bool want = f.mask > threshold;
        CHECK(f.masked() == want);
        CHECK(same(facemask::face_color(f), want ? facemask::colors::masked : facemask::colors::not_masked));
        CHECK(same(drawn(img, faces, i), facemask::face_color(f)));
        char label[48];
        facemask::face_label(f, label, sizeof label);
        CHECK(std::string(label).rfind(want ? "masked: " : "not masked: ", 0) == 0);
    }
    int masked = 0, not_masked = 0;
    for (const Face& f : faces) (f.mask > threshold ? masked : not_masked)++;
    auto count = [&](const char* what) {
        int n = 0;
        for (size_t at = json.find(what); at != std::string::npos; at = json.find(what, at + 1)) ++n;
        return n;
    };
    CHECK(count("\"label\": \"masked\"") == masked);
    CHECK(count("\"label\": \"not_masked\"") == not_masked);
}

}  // namespace

TEST_CASE("one mask threshold decides the label, the drawing and the JSON") {
    std::vector<unsigned char> det, cls;
    FM_REQUIRE(fmtest::read_bytes(fmtest::weights_path(fmtest::kDetectorBlob), &det));
    FM_REQUIRE(fmtest::read_bytes(fmtest::weights_path(fmtest::kClassifierBlob), &cls));
    const facemask::Image* img = fmtest::picture("images/ex_img.jpg");
    FM_REQUIRE(img != nullptr);
    Pipeline fm;
    FM_REQUIRE_OK(fm.load_memory(det.data(), det.size(), cls.data(), cls.size()));
    Workspace ws;
    Faces faces;
    PipelineOptions opt;
    opt.detect.scale = facemask::Scale::longest(640);
    FM_REQUIRE_OK(fm.run(ws, img->view(), opt, &faces));
    REQUIRE(faces.size() == 2);  // the demo picture: one masked, one not
    const float p_high = std::max(faces[0].mask, faces[1].mask), p_low = std::min(faces[0].mask, faces[1].mask);
    REQUIRE(p_high > 0.5f);
    REQUIRE(p_low < 0.5f);

    SUBCASE("the default is the classifier blob's threshold") {
        CHECK(fm.mask_threshold(opt) == fm.classifier().threshold());
        check_labels(*img, faces, fm.classifier().threshold());
    }
    SUBCASE("PipelineOptions::mask_threshold above both faces: both not masked, everywhere") {
        opt.mask_threshold = 0.5f * (p_high + 1.0f);
        FM_REQUIRE_OK(fm.run(ws, img->view(), opt, &faces));
        check_labels(*img, faces, opt.mask_threshold);
        for (const Face& f : faces) CHECK_FALSE(f.masked());
    }
    SUBCASE("below both faces: both masked") {
        opt.mask_threshold = 0.5f * p_low;
        FM_REQUIRE_OK(fm.run(ws, img->view(), opt, &faces));
        check_labels(*img, faces, opt.mask_threshold);
        for (const Face& f : faces) CHECK(f.masked());
    }
    SUBCASE("a blob whose own threshold is above both faces labels both not masked by default") {
        // The classifier config's threshold (blob.hpp: config offset 132), checksum fixed up.
        const float high = 0.5f * (p_high + 1.0f);
        std::memcpy(cls.data() + facemask::blob::kConfigOffset + 132, &high, 4);
        const uint32_t crc = facemask::blob::blob_checksum(cls.data(), cls.size());
        for (int i = 0; i < 4; ++i) cls[facemask::blob::kChecksumOffset + size_t(i)] = uint8_t(crc >> (8 * i));
        Pipeline strict;
        FM_REQUIRE_OK(strict.load_memory(det.data(), det.size(), cls.data(), cls.size()));
        CHECK(strict.classifier().threshold() == high);
        FM_REQUIRE_OK(strict.run(ws, img->view(), PipelineOptions(), &faces));
        REQUIRE(faces.size() == 2);
        check_labels(*img, faces, high);
        for (const Face& f : faces) CHECK_FALSE(f.masked());
    }
    SUBCASE("out of range is refused") {
        for (float t : {1.5f, -0.5f, std::nanf("")}) {
            opt.mask_threshold = t;
            CHECK(fm.run(ws, img->view(), opt, &faces).code() == facemask::Error::invalid_argument);
        }
    }
}

#endif  // FACEMASK_TEST_HAVE_BLOBS && FACEMASK_HAS_IO

TEST_SUITE_END();
