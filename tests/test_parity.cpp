// tests/test_parity.cpp — the engine against the PyTorch reference (tests/golden/, see its
// README): the same faces in the same order within |Δscore| <= 1e-4 and |Δ| <= 0.05 px, and
// the raw head outputs of chosen cells within 1e-3, for both checkpoint families. Every case
// also runs with two threads, which must give bit-identical results (the thread split only
// divides output rows; no sum changes order), except with FACEMASK_PARITY_ONE_PASS=1.
#include "test_support.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

TEST_SUITE_BEGIN("parity");

#if FACEMASK_TEST_HAVE_BLOBS && FACEMASK_HAS_IO

namespace {

constexpr float kScoreTolerance = 1e-4f;
constexpr float kCoordTolerance = 0.05f;  // picture pixels
constexpr float kRawTolerance = 1e-3f;    // absolute, on logits and offsets

struct RawCell {
    int level = 0, y = 0, x = 0;
    std::vector<float> values;  // 16 * anchors head outputs
};

// One golden file (format: tests/golden/README.md).
struct Golden {
    std::string name, family, image;
    int picture_w = 0, picture_h = 0, input_w = 0, input_h = 0;
    float conf = 0, nms = 0;
    int top_k = 0, keep = 0;
    std::vector<RawCell> raw;
    std::vector<std::vector<float>> faces;  // score x1 y1 x2 y2 lx0 ly0 ... lx4 ly4
};

std::vector<float> floats_after(const char* p) {
    std::vector<float> v;
    for (char* end = nullptr;; p = end) {
        const float f = std::strtof(p, &end);
        if (end == p) break;
        v.push_back(f);
    }
    return v;
}

bool parse_golden(const std::string& path, Golden* g) {
    FILE* f = std::fopen(path.c_str(), "r");
    if (!f) return false;
    g->name = std::filesystem::path(path).parent_path().filename().string() + "/" +
              std::filesystem::path(path).stem().string();
    char line[4096], word[256];
    bool ok = true;
    while (ok && std::fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        int n = 0;
        if (std::sscanf(line, "family %255s", word) == 1) {
            g->family = word;
        } else if (std::sscanf(line, "image %255s", word) == 1) {
            g->image = word;
        } else if (std::sscanf(line, "picture %d %d", &g->picture_w, &g->picture_h) == 2) {
        } else if (std::sscanf(line, "input %d %d", &g->input_w, &g->input_h) == 2) {
        } else if (std::sscanf(line, "params conf %f nms %f top_k %d keep %d", &g->conf, &g->nms, &g->top_k, &g->keep) == 4) {
        } else if (RawCell r; std::sscanf(line, "raw %d %d %d%n", &r.level, &r.y, &r.x, &n) == 3) {
            r.values = floats_after(line + n);
            g->raw.push_back(r);
        } else if (std::strncmp(line, "face ", 5) == 0) {
            g->faces.push_back(floats_after(line + 5));
            ok = g->faces.back().size() == 15;
        } else {
            ok = false;  // an unknown line: the format changed, update this parser
        }
    }
    std::fclose(f);
    return ok && !g->family.empty() && !g->image.empty() && g->input_w > 0 && g->top_k > 0;
}

std::vector<std::string> golden_files(const std::string& family) {
    std::vector<std::string> out;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(fmtest::golden_dir() + "/" + family, ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
        if (it->path().extension() == ".txt") out.push_back(it->path().string());
    std::sort(out.begin(), out.end());
    return out;
}

// The largest differences seen, and where, for the summary the lead quotes.
struct Worst {
    float value = 0;
    std::string where;
    void see(float d, const std::string& at) {
        if (d > value) value = d, where = at;
    }
};

// The network input exactly as detect() makes it: preprocess() into a bordered tensor (as the
// graph keeps its input), then the interior as the tight h x w x 3 array forward() takes.
std::vector<float> network_input(const facemask::Detector& det, const facemask::Image& img, int w, int h) {
    std::vector<float> bordered(size_t(h + 2) * size_t(w + 2) * 3, 0.0f);
    facemask::kernels::View v;
    v.h = h, v.w = w, v.c = 3, v.px = 3, v.row = ptrdiff_t(w + 2) * 3;
    v.data = bordered.data() + v.row + v.px;
    const size_t scratch_bytes = facemask::resample_scratch_bytes(img.width(), img.height(), w, h);
    fmtest::AlignedBlock scratch(scratch_bytes + 64);
    facemask::preprocess(img.view(), facemask::detail::input_norm(det.config()), v, scratch.data());
    std::vector<float> tight(size_t(w) * h * 3);
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int k = 0; k < 3; ++k) tight[(size_t(y) * w + x) * 3 + k] = v.at(y, x)[k];
    return tight;
}

// All head outputs of a forward pass, copied out of the workspace.
std::vector<float> copy_heads(const facemask::HeadOutputs& heads) {
    std::vector<float> out;
    for (const facemask::kernels::View& v : heads.level)
        for (int y = 0; y < v.h; ++y)
            for (int x = 0; x < v.w; ++x) out.insert(out.end(), v.at(y, x), v.at(y, x) + v.c);
    return out;
}

void check_family(const char* family, const char* blob_name) {
    const facemask::Detector* det = fmtest::detector(blob_name);
    FM_REQUIRE(det != nullptr);
    CHECK(std::string(det->config().family) == family);
    const std::vector<std::string> files = golden_files(family);
    CHECK(files.size() >= 10);  // the README's cases; an empty folder must not pass silently

    // FACEMASK_PARITY_ONE_PASS=1 (ctest's entries for the instruction sets other than the
    // widest, tests/CMakeLists.txt): every comparison with PyTorch, but not the repeated runs
    // that check threads=2 and native scale against them (those test the executor, not the
    // kernels, and run in the widest set's entry).
    const char* one_pass_env = std::getenv("FACEMASK_PARITY_ONE_PASS");
    const bool one_pass = one_pass_env && std::strcmp(one_pass_env, "1") == 0;
    Worst score, coord, raw;
    int faces_compared = 0, cells_compared = 0;
    for (const std::string& path : files) {
        Golden g;
        CAPTURE(path);
        const bool parsed = parse_golden(path, &g);
        CHECK_MESSAGE(parsed, "cannot parse ", path);
        if (!parsed) continue;
        CHECK(g.family == family);
        const facemask::Image* img = fmtest::picture(g.image);
        if (!img) continue;
        CHECK(img->width() == g.picture_w);
        CHECK(img->height() == g.picture_h);

        // ---- detections --------------------------------------------------------------------
        facemask::DetectOptions opt;
        opt.score_threshold = g.conf;
        opt.nms_iou = g.nms;
        opt.top_k = g.top_k;
        opt.max_faces = g.keep;
        opt.scale = facemask::Scale::fixed(g.input_w, g.input_h);
        opt.threads = 1;
        facemask::Workspace ws;
        facemask::Faces faces;
        FM_CHECK_OK(det->detect(ws, img->view(), opt, &faces));
        const std::vector<facemask::Face> one = fmtest::copy_faces(faces);
        if (!one_pass) {
            opt.threads = 2;
            FM_CHECK_OK(det->detect(ws, img->view(), opt, &faces));
            CHECK_MESSAGE(fmtest::same_faces(one, fmtest::copy_faces(faces)), "threads=2 differs from threads=1");
        }
        if (!one_pass && g.input_w == g.picture_w && g.input_h == g.picture_h) {
            opt.scale = facemask::Scale::native();
            FM_CHECK_OK(det->detect(ws, img->view(), opt, &faces));
            CHECK_MESSAGE(fmtest::same_faces(one, fmtest::copy_faces(faces)), "native differs from fixed(picture size)");
        }

        CHECK_MESSAGE(one.size() == g.faces.size(), g.name, ": ", one.size(), " faces, PyTorch finds ", g.faces.size());
        const size_t n = std::min(one.size(), g.faces.size());
        for (size_t i = 0; i < n; ++i) {
            const facemask::Face& f = one[i];
            const std::vector<float>& want = g.faces[i];
            const float got[15] = {f.score,          f.box.x1,         f.box.y1,         f.box.x2,         f.box.y2,
                                   f.landmarks[0].x, f.landmarks[0].y, f.landmarks[1].x, f.landmarks[1].y, f.landmarks[2].x,
                                   f.landmarks[2].y, f.landmarks[3].x, f.landmarks[3].y, f.landmarks[4].x, f.landmarks[4].y};
            const std::string at = g.name + " face " + std::to_string(i);
            const float ds = std::fabs(got[0] - want[0]);
            score.see(ds, at);
            CHECK_MESSAGE(ds <= kScoreTolerance, at, ": score ", got[0], " vs ", want[0]);
            for (int k = 1; k < 15; ++k) {
                const float d = std::fabs(got[k] - want[k]);
                coord.see(d, at + " value " + std::to_string(k));
                CHECK_MESSAGE(d <= kCoordTolerance, at, " value ", k, ": ", got[k], " vs ", want[k]);
            }
            ++faces_compared;
        }

        // ---- raw head outputs --------------------------------------------------------------
        const std::vector<float> input = network_input(*det, *img, g.input_w, g.input_h);
        facemask::Workspace fws;
        facemask::HeadOutputs heads;
        if (!one_pass) {
            FM_CHECK_OK(det->forward(fws, input.data(), g.input_w, g.input_h, 2, &heads));
            const std::vector<float> two_threads = copy_heads(heads);
            FM_CHECK_OK(det->forward(fws, input.data(), g.input_w, g.input_h, 1, &heads));
            CHECK_MESSAGE(copy_heads(heads) == two_threads, "forward: threads=2 differs from threads=1");
        } else {
            FM_CHECK_OK(det->forward(fws, input.data(), g.input_w, g.input_h, 1, &heads));
        }
        CHECK(heads.anchors == 2);
        CHECK_FALSE(g.raw.empty());
        for (const RawCell& r : g.raw) {
            CAPTURE(r.level);
            CAPTURE(r.y);
            CAPTURE(r.x);
            REQUIRE(r.level >= 1);
            REQUIRE(r.level <= 3);
            const facemask::kernels::View& v = heads.level[r.level - 1];
            const bool inside = r.y >= 0 && r.y < v.h && r.x >= 0 && r.x < v.w;
            CHECK_MESSAGE(inside, "cell outside the ", v.h, "x", v.w, " head map");
            CHECK(int(r.values.size()) == v.c);
            if (!inside || int(r.values.size()) != v.c) continue;
            const float* p = v.at(r.y, r.x);
            for (int k = 0; k < v.c; ++k) {
                const float d = std::fabs(p[k] - r.values[size_t(k)]);
                const std::string at = g.name + " raw " + std::to_string(r.level) + " " + std::to_string(r.y) + " " +
                                       std::to_string(r.x) + " [" + std::to_string(k) + "]";
                raw.see(d, at);
                CHECK_MESSAGE(d <= kRawTolerance, at, ": ", p[k], " vs ", r.values[size_t(k)]);
            }
            ++cells_compared;
        }
    }
    MESSAGE(std::string(family), ": ", files.size(), " golden cases, ", faces_compared, " faces, ", cells_compared,
            " raw cells; max |dscore| ", score.value, " (", score.where, "), max |dcoord| ", coord.value, " px (",
            coord.where, "), max |draw| ", raw.value, " (", raw.where, ")");
    std::printf("parity %s: max |dscore| %.3g (%s), max |dcoord| %.3g px (%s), max |draw| %.3g (%s)\n", family,
                double(score.value), score.where.c_str(), double(coord.value), coord.where.c_str(), double(raw.value),
                raw.where.c_str());
}

}  // namespace

TEST_CASE("parity with PyTorch: pytorch-retinaface (retinaface_mnet025.fmb)") {
    check_family("pytorch-retinaface", fmtest::kDetectorBlob);
}

TEST_CASE("parity with PyTorch: face-detector-1mb (retinaface_mnet025_1mb.fmb)") {
    check_family("face-detector-1mb", fmtest::kDetector1mbBlob);
}

#endif  // FACEMASK_TEST_HAVE_BLOBS && FACEMASK_HAS_IO

TEST_SUITE_END();
