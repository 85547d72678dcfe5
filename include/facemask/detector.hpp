// facemask/detector.hpp — the face detector: RetinaFace with a MobileNetV1-0.25 body.
//
//   facemask::Detector det;
//   facemask::Status st = det.load_file("retinaface_mnet025.fmb");
//   facemask::Workspace ws;                      // one per thread; reused across calls
//   facemask::Faces faces;
//   st = det.detect(ws, facemask::ImageView(rgb, w, h), facemask::DetectOptions(), &faces);
//
// A Detector is immutable after load and may be shared by threads; everything a call writes
// lives in the Workspace, which plans one arena per input size and then stops allocating.
#pragma once
#include "image.hpp"
#include "network.hpp"
#include "retinaface.hpp"
#include "workspace.hpp"

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

struct DetectOptions {
    float score_threshold = 0.5f;  // keep faces with score > this (strict)
    float nms_iou = 0.4f;          // suppress a face overlapping a better one by IoU > this
    int top_k = 5000;              // candidates entering NMS, best first
    int max_faces = 750;           // faces kept after NMS
    Scale scale;                   // picture -> network input; default: automatic
    int threads = 1;               // OpenMP threads (0 = all); ignored without OpenMP
    long max_input_pixels = 4096L * 4096L;  // refuse larger network inputs (time and memory)
};

// Raw head outputs of one forward pass (views into the workspace): per level, a map of
// 16 * anchors channels: class logits, box offsets, landmark offsets.
struct HeadOutputs {
    kernels::View level[detail::kRetinaLevels];
    int anchors = 0;
};

class Detector {
public:
    Detector() = default;
    Detector(Detector&&) = default;
    Detector& operator=(Detector&&) = default;

    // Loads a detector blob from memory. With Ownership::borrow the bytes are used in place
    // (they must outlive the detector); SIMD builds still pack a copy of the weights.
    Status load_memory(const void* data, size_t size, Ownership own = Ownership::copy) {
        return net_.load_memory(data, size, own, blob::ModelKind::detector, Build{this});
    }

#ifndef FACEMASK_NO_STDIO
    Status load_file(const char* path) { return net_.load_file(path, blob::ModelKind::detector, Build{this}); }
#endif

    bool loaded() const { return net_.loaded(); }
    const blob::Config& config() const { return net_.config(); }

    // The network input size of the (first) pass the options give for a picture.
    Status input_size(int picture_w, int picture_h, const DetectOptions& opt, int* w, int* h) const {
        double fw = picture_w, fh = picture_h;
        const Scale& s = opt.scale;
        switch (s.mode) {
            case Scale::Mode::automatic: {
                const double longest = fw > fh ? fw : fh;
                if (longest <= s.long_side) break;  // own size
                Scale pass_a = Scale::longest(s.long_side);
                DetectOptions o = opt;
                o.scale = pass_a;
                return input_size(picture_w, picture_h, o, w, h);
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
        if (!(fw * fh <= double(opt.max_input_pixels)) || fw > kMaxPictureSide || fh > kMaxPictureSide)
            return Status::fail(Error::too_large, "network input %.0fx%.0f exceeds the limit of %ld pixels", fw, fh,
                                opt.max_input_pixels);
        if (!resample_supported(picture_w, picture_h, int(fw), int(fh)))
            return Status::fail(Error::too_large, "scaling %dx%d down to %.0fx%.0f is beyond the resampler's range",
                                picture_w, picture_h, fw, fh);
        *w = int(fw);
        *h = int(fh);
        return Status();
    }

    // The network input sizes of every pass for a picture: 1 pass, or 2 (Scale::automatic on
    // a picture whose long side is under the limit).
    Status input_sizes(int picture_w, int picture_h, const DetectOptions& opt, int* passes, int w[2], int h[2]) const {
        FACEMASK_TRY(check_scale(opt.scale));
        FACEMASK_TRY(input_size(picture_w, picture_h, opt, &w[0], &h[0]));
        *passes = 1;
        const int longest = picture_w > picture_h ? picture_w : picture_h;
        if (opt.scale.mode == Scale::Mode::automatic && longest < opt.scale.long_side) {
            DetectOptions o = opt;
            const double longest_a = w[0] > h[0] ? w[0] : h[0];
            double f = opt.scale.enlarge;  // check_scale: in [1, 16]
            if (f * longest_a > 2.0 * opt.scale.long_side) f = 2.0 * opt.scale.long_side / longest_a;
            if (f < 2.0) f = 2.0;
            o.scale = Scale::fixed(int(f * w[0] + 0.5), int(f * h[0] + 0.5));
            // Beyond max_input_pixels the enlarged pass is left out, not the picture refused.
            if (input_size(picture_w, picture_h, o, &w[1], &h[1])) *passes = 2;
        }
        return Status();
    }

    // Finds the faces in a picture. `out` points into the workspace until its next use.
    Status detect(Workspace& ws, const ImageView& image, const DetectOptions& opt, Faces* out) const {
        if (out) *out = Faces();
        FACEMASK_TRY(check_ready(opt));
        if (!out) return Status::fail(Error::invalid_argument, "detect: no output given");
        FACEMASK_TRY(check_image(image));
        int passes = 0, w[2] = {}, h[2] = {};
        FACEMASK_TRY(input_sizes(image.width, image.height, opt, &passes, w, h));
        detail::Slot* s = nullptr;
        if (passes == 1) {
            FACEMASK_TRY(prepare(ws, w[0], h[0], resample_scratch_bytes(image.width, image.height, w[0], h[0]),
                                 opt.top_k, 0, &s));
            *out = run_pass(*s, image, opt);
            return Status();
        }
        // Two passes share the slot: reserve for the larger one plus room to keep pass A's faces
        // and merge, before anything runs (so the memory does not move between the passes).
        const size_t merge_at = reserve_bytes(image, opt, passes, w, h);
        const size_t list = merge_list_bytes(opt);
        Face* kept_a = nullptr;
        Face* kept_b = nullptr;
        Face* merged = nullptr;
        int na = 0, nb = 0;
        for (int p = 0; p < 2; ++p) {
            FACEMASK_TRY(prepare(ws, w[p], h[p], resample_scratch_bytes(image.width, image.height, w[p], h[p]),
                                 opt.top_k, merge_at + 4 * list, &s));
            kept_a = reinterpret_cast<Face*>(s->mem.data() + merge_at);
            kept_b = reinterpret_cast<Face*>(s->mem.data() + merge_at + list);
            merged = reinterpret_cast<Face*>(s->mem.data() + merge_at + 2 * list);
            const Faces found = run_pass(*s, image, opt);
            if (p == 0) {
                for (const Face& f : found) kept_a[na++] = f;
            } else {
                // Pass B adds the small faces pass A cannot see: smaller than small_face pixels
                // in pass A's input, and not a part of a face pass A found (enlarged 3 times, an
                // eye or an ear of a close-up can pass for a small face).
                const float to_a = float(w[0]) / float(image.width);
                for (const Face& f : found) {
                    const float side = f.box.width() < f.box.height() ? f.box.width() : f.box.height();
                    if (side * to_a < opt.scale.small_face && !detail::inside_stronger(f, kept_a, na)) kept_b[nb++] = f;
                }
            }
        }
        // Both lists are sorted by score: merge them (pass A first on equal scores), then NMS.
        int i = 0, j = 0, n = 0;
        while (i < na || j < nb) merged[n++] = (j == nb || (i < na && kept_a[i].score >= kept_b[j].score)) ? kept_a[i++] : kept_b[j++];
        out->data = merged;
        out->count = detail::nms(merged, n, opt.nms_iou, opt.max_faces);
        return Status();
    }

    // Bytes of Workspace::use_memory() detect() needs for any picture of this size with these
    // options (both passes of Scale::automatic included).
    size_t workspace_bytes_for(int picture_w, int picture_h, const DetectOptions& opt) const {
        int passes = 0, w[2] = {}, h[2] = {};
        if (!loaded() || !input_sizes(picture_w, picture_h, opt, &passes, w, h)) return 0;
        ImageView shape(nullptr, picture_w, picture_h);
        if (passes == 1)
            return workspace_bytes(w[0], h[0], resample_scratch_bytes(picture_w, picture_h, w[0], h[0]), opt.top_k);
        return reserve_bytes(shape, opt, passes, w, h) + 4 * merge_list_bytes(opt) + kAlign;
    }

    // The network alone, on an already normalised input (h x w x 3 floats, network channel
    // order): for tests and benchmarks. `out` points into the workspace.
    Status forward(Workspace& ws, const float* input, int w, int h, int threads, HeadOutputs* out) const {
        DetectOptions opt;
        opt.threads = threads;
        FACEMASK_TRY(check_ready(opt));
        if (!input || !out) return Status::fail(Error::invalid_argument, "forward: null input or output");
        if (w < 1 || h < 1 || w > kMaxPictureSide || h > kMaxPictureSide || long(w) * h > opt.max_input_pixels)
            return Status::fail(Error::too_large, "forward: input size %dx%d is out of range", w, h);
        detail::Slot* s = nullptr;
        FACEMASK_TRY(prepare(ws, w, h, 0, 0, 0, &s));
        const graph::Graph& g = net_.graph();
        unsigned char* arena = s->mem.data();
        const kernels::View in = graph::tensor_view(g, s->plan, g.input, arena);
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x)
                for (int k = 0; k < 3; ++k) in.at(y, x)[k] = input[(size_t(y) * w + x) * 3 + k];
        graph::run(g, s->plan, arena, thread_count(threads));
        for (int k = 0; k < detail::kRetinaLevels; ++k) out->level[k] = graph::tensor_view(g, s->plan, head_[k], arena);
        out->anchors = int(config().anchors);
        return Status();
    }

    // Runs the blob's own self-test vector and compares with its stored answer.
    Status self_test(Workspace& ws) const {
        if (!loaded()) return Status::fail(Error::not_loaded, "self-test: no detector loaded");
        const blob::Reader& r = net_.reader();
        blob::Tensor input;
        bool found = false;
        for (uint32_t i = 0; i < r.tensor_count() && !found; ++i) {
            blob::Tensor t = r.tensor(i);
            if (std::strcmp(t.name, "selftest.input") == 0) input = t, found = true;
        }
        if (!found || input.rank != 3 || input.shape[2] != 3 || !input.data)
            return Status::fail(Error::bad_blob, "self-test: tensor 'selftest.input' [H, W, 3] float32 is missing");
        const int h = int(input.shape[0]), w = int(input.shape[1]);
        HeadOutputs heads;
        FACEMASK_TRY(forward(ws, input.data, w, h, 1, &heads));
        const float tol = config().selftest_tolerance;
        for (int k = 0; k < detail::kRetinaLevels; ++k) {
            const kernels::View& v = heads.level[k];
            char name[32];
            std::snprintf(name, sizeof name, "selftest.head%d", k + 1);
            const uint32_t shape[3] = {uint32_t(v.h), uint32_t(v.w), uint32_t(v.c)};
            blob::Tensor want;
            FACEMASK_TRY(r.find(name, 3, shape, &want));
            for (int y = 0; y < v.h; ++y)
                for (int x = 0; x < v.w; ++x)
                    for (int c = 0; c < v.c; ++c) {
                        const float e = want.data[(size_t(y) * v.w + x) * v.c + c], got = v.at(y, x)[c];
                        if (!(std::fabs(got - e) <= tol * (1.0f + std::fabs(e))))
                            return Status::fail(Error::selftest,
                                                "self-test failed: %s[%d][%d][%d] is %g, the blob expects %g", name, y,
                                                x, c, double(got), double(e));
                    }
        }
        return Status();
    }

    // Bytes of Workspace::use_memory() one call needs for a network input size (to size a
    // static arena), including `scratch` bytes of resampling scratch (resample_scratch_bytes)
    // and the up to 63 bytes lost aligning the block.
    size_t workspace_bytes(int w, int h, size_t scratch = 0, int top_k = 5000) const {
        if (!loaded()) return 0;
        const graph::Plan p = graph::make_plan(net_.graph(), w, h);
        return layout(p, scratch, top_k).total + kAlign;
    }

private:
    struct Layout {
        size_t priors, candidates, faces, scratch, total;
        int face_capacity;
    };

    Layout layout(const graph::Plan& p, size_t scratch, int top_k) const {
        const size_t n = detail::prior_count(config(), p);
        Layout l;
        l.priors = align_up(p.arena_bytes);
        l.candidates = l.priors + align_up(n * sizeof(detail::Prior));
        l.faces = l.candidates + align_up(n * sizeof(detail::Candidate));
        l.face_capacity = int(size_t(top_k) < n ? size_t(top_k) : n);
        l.scratch = l.faces + align_up(size_t(l.face_capacity) * sizeof(Face));
        l.total = l.scratch + align_up(scratch);
        return l;
    }

    // The graph builder Network::load_* calls (twice: to measure, then to pack).
    struct Build {
        Detector* self;
        Status operator()(const blob::Reader& r, graph::Graph& g, graph::Packer& pk) const { return detail::build_retinaface(r, g, pk, self->head_); }
    };

    Status check_ready(const DetectOptions& opt) const {
        if (!loaded()) return Status::fail(Error::not_loaded, "no detector loaded (load_file/load_memory failed or was not called)");
        if (!(opt.score_threshold >= 0.0f && opt.score_threshold < 1.0f))
            return Status::fail(Error::invalid_argument, "score threshold %g is outside [0, 1)", double(opt.score_threshold));
        if (!(opt.nms_iou >= 0.0f && opt.nms_iou <= 1.0f))
            return Status::fail(Error::invalid_argument, "NMS IoU %g is outside [0, 1]", double(opt.nms_iou));
        if (opt.top_k < 1 || opt.max_faces < 1)
            return Status::fail(Error::invalid_argument, "top-k (%d) and max faces (%d) must be at least 1", opt.top_k,
                                opt.max_faces);
        if (opt.threads < 0) return Status::fail(Error::invalid_argument, "thread count %d is negative", opt.threads);
        if (opt.max_input_pixels < 1) return Status::fail(Error::invalid_argument, "max input pixels must be positive");
        return check_scale(opt.scale);
    }

    // The automatic policy's parameters (the other modes are bounded by max_input_pixels).
    static Status check_scale(const Scale& s) {
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

    static int thread_count(int requested) {
#if FACEMASK_OPENMP
        return requested > 0 ? requested : omp_get_max_threads();
#else
        (void)requested;
        return 1;
#endif
    }

    // Sections of a detector slot after the activation arena.
    enum Section { kPriors, kCandidates, kFaces, kScratch };

    // Plans the workspace slot for an input size; allocates only when it must grow (to at least
    // `at_least` bytes, for callers that keep data after the layout).
    Status prepare(Workspace& ws, int w, int h, size_t scratch, int top_k, size_t at_least, detail::Slot** slot) const {
        detail::Slot& s = ws.slot_for(net_.id());
        const bool same_input = s.owner == net_.id() && s.plan.width == w && s.plan.height == h;
        if (!same_input) s.plan = graph::make_plan(net_.graph(), w, h);
        const Layout l = layout(s.plan, scratch, top_k > 0 ? top_k : 1);
        unsigned char* before = s.mem.data();
        s.owner = 0;
        FACEMASK_TRY(ws.reserve(s, l.total > at_least ? l.total : at_least));
        s.offsets[kCandidates] = l.candidates;
        s.offsets[kFaces] = l.faces;
        s.offsets[kScratch] = l.scratch;
        s.capacity = l.face_capacity;
        if (!same_input || before != s.mem.data() || s.offsets[kPriors] != l.priors) {
            s.offsets[kPriors] = l.priors;
            detail::make_priors(config(), s.plan, reinterpret_cast<detail::Prior*>(s.mem.data() + l.priors));
        }
        s.owner = net_.id();
        *slot = &s;
        return Status();
    }

    // One pass on a prepared slot: resample and normalise, run the network, decode.
    Faces run_pass(detail::Slot& s, const ImageView& image, const DetectOptions& opt) const {
        const graph::Graph& g = net_.graph();
        unsigned char* arena = s.mem.data();
        preprocess(image, detail::input_norm(config()), graph::tensor_view(g, s.plan, g.input, arena),
                   arena + s.offsets[kScratch]);
        graph::run(g, s.plan, arena, thread_count(opt.threads));
        return decode(s, float(image.width) / float(s.plan.width), float(image.height) / float(s.plan.height), opt);
    }

    // Bytes of one face list kept across passes: a pass returns at most min(top_k, max_faces).
    static size_t merge_list_bytes(const DetectOptions& opt) {
        const int n = opt.top_k < opt.max_faces ? opt.top_k : opt.max_faces;
        return align_up(size_t(n) * sizeof(Face));
    }

    // The largest layout of the passes: where data kept across passes can start.
    size_t reserve_bytes(const ImageView& image, const DetectOptions& opt, int passes, const int* w, const int* h) const {
        size_t most = 0;
        for (int p = 0; p < passes; ++p) {
            const graph::Plan plan = graph::make_plan(net_.graph(), w[p], h[p]);
            const size_t t = layout(plan, resample_scratch_bytes(image.width, image.height, w[p], h[p]), opt.top_k).total;
            if (t > most) most = t;
        }
        return align_up(most);
    }

    // Head outputs -> scored candidates -> top-k -> boxes in picture pixels -> NMS.
    Faces decode(const detail::Slot& s, float sx, float sy, const DetectOptions& opt) const {
        const blob::Config& c = config();
        const graph::Graph& g = net_.graph();
        unsigned char* arena = s.mem.data();
        const detail::Prior* priors = reinterpret_cast<const detail::Prior*>(arena + s.offsets[kPriors]);
        detail::Candidate* cand = reinterpret_cast<detail::Candidate*>(arena + s.offsets[kCandidates]);
        const int A = int(c.anchors);
        int n = 0, index = 0;
        for (int k = 0; k < detail::kRetinaLevels; ++k) {
            const kernels::View v = graph::tensor_view(g, s.plan, head_[k], arena);
            for (int y = 0; y < v.h; ++y)
                for (int x = 0; x < v.w; ++x) {
                    const float* p = v.at(y, x);
                    for (int a = 0; a < A; ++a, ++index) {
                        // softmax over (background, face), as the reference computes it
                        const float l0 = p[2 * a], l1 = p[2 * a + 1];
                        const float m = l0 > l1 ? l0 : l1;
                        const float e0 = std::exp(l0 - m), e1 = std::exp(l1 - m);
                        const float score = e1 / (e0 + e1);
                        if (score > opt.score_threshold) cand[n++] = detail::Candidate{score, index};
                    }
                }
        }
        detail::sort_candidates(cand, n);
        if (n > s.capacity) n = s.capacity;
        if (n > opt.top_k) n = opt.top_k;

        Face* faces = reinterpret_cast<Face*>(arena + s.offsets[kFaces]);
        const float W = float(s.plan.width), H = float(s.plan.height);
        const float v0 = c.variances[0], v1 = c.variances[1];
        for (int i = 0; i < n; ++i) {
            const int idx = cand[i].index;
            const detail::Prior& pr = priors[idx];
            const AnchorValues p = anchor_values(s, idx);
            Face& f = faces[i];
            const float cx = pr.cx + p.box[0] * v0 * pr.w;
            const float cy = pr.cy + p.box[1] * v0 * pr.h;
            const float bw = pr.w * std::exp(p.box[2] * v1);
            const float bh = pr.h * std::exp(p.box[3] * v1);
            f.box.x1 = (cx - bw / 2) * W * sx;
            f.box.y1 = (cy - bh / 2) * H * sy;
            f.box.x2 = (cx + bw / 2) * W * sx;
            f.box.y2 = (cy + bh / 2) * H * sy;
            for (int j = 0; j < 5; ++j) {
                f.landmarks[j].x = (pr.cx + p.landmarks[2 * j] * v0 * pr.w) * W * sx;
                f.landmarks[j].y = (pr.cy + p.landmarks[2 * j + 1] * v0 * pr.h) * H * sy;
            }
            f.score = cand[i].score;
            f.mask = -1;
        }
        Faces out;
        out.data = faces;
        out.count = detail::nms(faces, n, opt.nms_iou, opt.max_faces);
        return out;
    }

    struct AnchorValues {
        const float* box;        // dx dy dw dh
        const float* landmarks;  // x0 y0 ... x4 y4
    };

    // Where prior `idx`'s head outputs are: its level, cell and anchor.
    AnchorValues anchor_values(const detail::Slot& s, int idx) const {
        const int A = int(config().anchors);
        const graph::Graph& g = net_.graph();
        for (int k = 0; k < detail::kRetinaLevels; ++k) {
            const kernels::View v = graph::tensor_view(g, s.plan, head_[k], s.mem.data());
            const int count = v.h * v.w * A;
            if (idx < count) {
                const int cell = idx / A, a = idx % A;
                const float* p = v.at(cell / v.w, cell % v.w);
                return AnchorValues{p + 2 * A + 4 * a, p + 6 * A + 10 * a};
            }
            idx -= count;
        }
        FACEMASK_ASSERT(false);
        return AnchorValues{nullptr, nullptr};
    }

    detail::Network net_;
    int head_[detail::kRetinaLevels] = {};
};

}  // namespace facemask
