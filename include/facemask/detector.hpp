// facemask/detector.hpp — the face detector: RetinaFace with a MobileNetV1-0.25 body.
//
//   facemask::Detector det;
//   facemask::Status st = det.load_file("retinaface_mnet025.fmb");
//   facemask::Workspace ws;                      // one per thread; reused across calls
//   facemask::Faces faces;
//   st = det.detect(ws, facemask::ImageView(rgb, w, h), facemask::DetectOptions(), &faces);
//
// A Detector is immutable after load and may be shared by threads; everything a call writes
// lives in the Workspace. The network runs in row bands (executor.hpp): head rows are decoded
// as they are produced, the best top_k candidates kept, then NMS. Data flows one way:
// picture -> scale -> resample (rows) -> graph (bands) -> decode -> top-k -> NMS -> merge.
#pragma once
#include "network.hpp"
#include "retinaface.hpp"
#include "scale.hpp"
#include "workspace.hpp"

namespace facemask {

struct DetectOptions {
    float score_threshold = 0.5f;  // keep faces with score > this (strict)
    float nms_iou = 0.4f;          // suppress a face overlapping a better one by IoU > this
    int top_k = 5000;              // candidates entering NMS, best first
    int max_faces = 750;           // faces kept after NMS
    Scale scale;                   // picture -> network input; default: automatic
    int threads = 1;               // threads (0 = all): OpenMP, or FACEMASK_PTHREADS; else ignored
    long max_input_pixels = 4096L * 4096L;  // refuse larger network inputs (time and memory)
    // Less memory for more arithmetic (microcontrollers): the stride-8 FPN branch runs in a
    // second pass over the picture, after the stride-16/32 levels are finished, instead of
    // holding ~22 rows of the stride-8 lateral while it waits for them; the body up to stride 8
    // is computed twice (+14 % multiply-adds). Same faces (bit for bit).
    bool split_fpn = false;
};

// Raw head outputs of one forward pass (views into the workspace, whole maps: forward() keeps
// them for tests and benchmarks): per level, 16 * anchors channels: class logits, box offsets,
// landmark offsets.
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
    Status load_memory(const void* data, size_t size, Ownership own = Ownership::copy, Verify verify = Verify::none) {
        return verified(net_.load_memory(data, size, own, blob::ModelKind::detector, Build{this}), verify, nullptr);
    }

#ifndef FACEMASK_NO_STDIO
    Status load_file(const char* path, Verify verify = Verify::none) {
        return verified(net_.load_file(path, blob::ModelKind::detector, Build{this}), verify, path);
    }
#endif

    bool loaded() const { return net_.loaded(); }
    // Heap bytes the loaded model holds (the blob's copy or the part of it still read, packed
    // weights); a borrowed blob is the caller's and is not counted.
    size_t model_bytes() const { return net_.held_bytes(); }
    const blob::Config& config() const { return net_.config(); }

    // The network input size of the (first) pass the options give for a picture.
    Status input_size(int picture_w, int picture_h, const DetectOptions& opt, int* w, int* h) const {
        return scale_input_size(picture_w, picture_h, opt.scale, opt.max_input_pixels, w, h);
    }

    // The network input sizes of every pass for a picture (1, or 2 for Scale::automatic).
    Status input_sizes(int picture_w, int picture_h, const DetectOptions& opt, int* passes, int w[2], int h[2]) const {
        return scale_passes(picture_w, picture_h, opt.scale, opt.max_input_pixels, passes, w, h);
    }

    // Finds the faces in a picture. `out` points into the workspace until its next use.
    Status detect(Workspace& ws, const ImageView& image, const DetectOptions& opt, Faces* out) const {
        return detect(ws, image, opt, out, 0);
    }

    // The same, with the workspace's work region made at least `work_at_least` bytes (the
    // pipeline reserves the classifier's share at once, so nothing moves between the two).
    Status detect(Workspace& ws, const ImageView& image, const DetectOptions& opt, Faces* out,
                  size_t work_at_least) const {
        if (out) *out = Faces();
        FACEMASK_TRY(check_ready(opt));
        if (!out) return Status::fail(Error::invalid_argument, "detect: no output given");
        FACEMASK_TRY(check_image(image));
        int passes = 0, w[2] = {}, h[2] = {};
        FACEMASK_TRY(input_sizes(image.width, image.height, opt, &passes, w, h));
        const int threads = ws.threads(detail::thread_count(opt.threads));
        size_t work = work_at_least;
        const graph::Plan* plans[2] = {};
        for (int p = 0; p < passes; ++p) {
            plans[p] = &ws.plan(net_.id(), net_.graph(), w[p], h[p], band_for(threads), threads, passes_of(opt));
            const size_t need = pass_bytes(*plans[p], image.width, image.height, opt.top_k);
            if (need > work) work = need;
        }
        const size_t list = merge_list_bytes(opt);
        FACEMASK_TRY(ws.reserve(passes == 1 ? list : 3 * list, work, false));
        Face* merged = reinterpret_cast<Face*>(ws.results());
        if (passes == 1) {
            *out = Faces{merged, run_pass(ws, *plans[0], image, opt, merged)};
            return Status();
        }
        // Pass A's faces, then pass B's small ones, each sorted by score; merged, then NMS.
        Face* kept_a = merged + list / sizeof(Face);
        Face* kept_b = kept_a + list / sizeof(Face);
        const int na = run_pass(ws, *plans[0], image, opt, kept_a);
        const int found = run_pass(ws, *plans[1], image, opt, merged);
        // Pass B adds the small faces pass A cannot see: smaller than small_face pixels in pass
        // A's input, and not a part of a face pass A found (enlarged 3 times, an eye or an ear
        // of a close-up can pass for a small face).
        const float to_a = float(w[0]) / float(image.width);
        int nb = 0;
        for (int i = 0; i < found; ++i) {
            const Face& f = merged[i];
            const float side = f.box.width() < f.box.height() ? f.box.width() : f.box.height();
            if (side * to_a < opt.scale.small_face && !detail::inside_stronger(f, kept_a, na)) kept_b[nb++] = f;
        }
        int i = 0, j = 0, n = 0;  // pass A first on equal scores
        while (i < na || j < nb) merged[n++] = (j == nb || (i < na && kept_a[i].score >= kept_b[j].score)) ? kept_a[i++] : kept_b[j++];
        *out = Faces{merged, detail::nms(merged, n, opt.nms_iou, opt.max_faces)};
        return Status();
    }

    // Bytes of Workspace::use_memory() detect() needs for any picture of this size with these
    // options (both passes of Scale::automatic included), with `work_at_least` as in detect().
    size_t workspace_bytes_for(int picture_w, int picture_h, const DetectOptions& opt, size_t work_at_least = 0) const {
        int passes = 0, w[2] = {}, h[2] = {};
        if (!loaded() || !check_ready(opt) || !input_sizes(picture_w, picture_h, opt, &passes, w, h)) return 0;
        const int threads = detail::thread_count(opt.threads);
        size_t work = work_at_least;
        for (int p = 0; p < passes; ++p) {
            const graph::Plan plan =
                graph::make_plan(net_.graph(), w[p], h[p], band_for(threads), threads, false, passes_of(opt));
            const size_t need = pass_bytes(plan, picture_w, picture_h, opt.top_k);
            if (need > work) work = need;
        }
        const size_t list = merge_list_bytes(opt);
        return align_up(passes == 1 ? list : 3 * list) + align_up(work) + kAlign;
    }

    // Bytes of Workspace::use_memory() for one pass at a network input size (to size a static
    // arena): `scratch` resampling bytes (resample_scratch_bytes), one thread.
    size_t workspace_bytes(int w, int h, size_t scratch = 0, int top_k = 5000) const {
        if (!loaded()) return 0;
        DetectOptions opt;
        opt.top_k = top_k;
        const graph::Plan p = graph::make_plan(net_.graph(), w, h, band_for(1), 1);
        return align_up(merge_list_bytes(opt)) + align_up(layout(p, scratch, top_k).total) + kAlign;
    }

    // The plan of one pass (buffers and their rows), for tools that report memory.
    graph::Plan memory_plan(int w, int h, int threads = 1, bool split_fpn = false) const {
        return graph::make_plan(net_.graph(), w, h, band_for(threads), threads, false, split_fpn ? 2 : 1);
    }

    // The network alone, on an already normalised input (h x w x 3 floats, network channel
    // order): for tests and benchmarks. The head maps are kept whole (extra workspace).
    Status forward(Workspace& ws, const float* input, int w, int h, int threads, HeadOutputs* out) const {
        DetectOptions opt;
        opt.threads = threads;
        FACEMASK_TRY(check_ready(opt));
        if (!input || !out) return Status::fail(Error::invalid_argument, "forward: null input or output");
        if (w < 1 || h < 1 || w > kMaxPictureSide || h > kMaxPictureSide || long(w) * h > opt.max_input_pixels)
            return Status::fail(Error::too_large, "forward: input size %dx%d is out of range", w, h);
        const int n = ws.threads(detail::thread_count(threads));
        const graph::Plan& p = ws.plan(net_.id(), net_.graph(), w, h, band_for(n), n);
        size_t heads = 0;
        for (int k = 0; k < detail::kRetinaLevels; ++k) heads += align_up(whole_bytes(p.t[head_[k]]));
        FACEMASK_TRY(ws.reserve(0, align_up(p.arena_bytes) + heads, false));
        unsigned char* keep = ws.work() + align_up(p.arena_bytes);
        for (int k = 0; k < detail::kRetinaLevels; ++k) {
            const graph::BufferPlan& b = p.t[head_[k]];
            kernels::View v;
            v.h = b.h;
            v.w = b.w;
            v.c = b.c;
            v.px = b.c;
            v.row = ptrdiff_t(b.w) * b.c;
            v.data = reinterpret_cast<kernels::act_t*>(keep);
            out->level[k] = v;
            keep += align_up(whole_bytes(b));
        }
        out->anchors = int(config().anchors);
        detail::CopyRows source{input, w};
        KeepHeads sink{this, out};
        graph::run(net_.graph(), p, ws.work(), source, sink, ws.team());
        return Status();
    }

    // Runs the blob's own self-test vector and compares with its stored answer.
    Status self_test(Workspace& ws) const {
        if (!loaded()) return Status::fail(Error::not_loaded, "self-test: no detector loaded");
        blob::Tensor input;
        FACEMASK_TRY(detail::selftest_input(net_.reader(), &input));
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
            FACEMASK_TRY(net_.reader().find(name, 3, shape, &want));
            for (int y = 0; y < v.h; ++y)
                for (int x = 0; x < v.w; ++x)
                    for (int c = 0; c < v.c; ++c) {
                        const float e = want.data[(size_t(y) * v.w + x) * v.c + c], got = kernels::act_load(v.at(y, x)[c]);
                        if (!(std::fabs(got - e) <= tol * (1.0f + std::fabs(e))))
                            return Status::fail(Error::selftest,
                                                "self-test failed: %s[%d][%d][%d] is %g, the blob expects %g", name, y,
                                                x, c, double(got), double(e));
                    }
        }
        return Status();
    }

private:
    Status verified(Status loaded, Verify verify, const char* path) {
        return detail::verified_load<Workspace>(*this, loaded, verify, path);
    }

    // Input rows per band: one when alone (the least memory). With threads, every kernel call
    // of a band is shared out (by columns) and ends in a barrier, so thin bands cost barriers:
    // 2 threads at 640x480 took 7.5-7.8 ms with 16 rows a thread, 7.1-7.4 with 32 (Intel
    // AVX-512 host). Threads are asked for speed, so their bands are deep
    // (FACEMASK_BAND_ROWS_PER_THREAD, measured in the README); one thread is the small plan.
    static int band_for(int threads) { return threads > 1 ? FACEMASK_BAND_ROWS_PER_THREAD * threads : 1; }
    static int passes_of(const DetectOptions& opt) { return opt.split_fpn ? 2 : 1; }

    // The work region of one pass: activation buffers, resampling scratch, the best-k heap.
    struct Layout {
        size_t scratch, candidates, total;
        int capacity;
    };

    Layout layout(const graph::Plan& p, size_t scratch, int top_k) const {
        const size_t n = detail::prior_count(config(), p);
        Layout l;
        l.capacity = int(size_t(top_k) < n ? size_t(top_k) : n);
        l.scratch = align_up(p.arena_bytes);
        l.candidates = l.scratch + align_up(scratch);
        l.total = l.candidates + detail::BestK::bytes(l.capacity);
        return l;
    }

    size_t pass_bytes(const graph::Plan& p, int picture_w, int picture_h, int top_k) const {
        return layout(p, resample_scratch_bytes(picture_w, picture_h, p.width, p.height, p.threads), top_k).total;
    }

    static size_t whole_bytes(const graph::BufferPlan& b) {
        return size_t(b.h) * size_t(b.w) * size_t(b.c) * sizeof(kernels::act_t);
    }

    // The graph builder Network::load_* calls (twice: to measure, then to pack).
    struct Build {
        Detector* self;
        Status operator()(const blob::Reader& r, graph::Graph& g, graph::Packer& pk) const {
            return detail::build_retinaface(r, g, pk, self->head_);
        }
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

    // Bytes of one face list kept across passes: a pass returns at most min(top_k, max_faces).
    static size_t merge_list_bytes(const DetectOptions& opt) {
        const int n = opt.top_k < opt.max_faces ? opt.top_k : opt.max_faces;
        return align_up(size_t(n) * sizeof(Face));
    }

    // Which level a tensor is the head of (-1: none).
    int level_of(int tensor) const {
        for (int k = 0; k < detail::kRetinaLevels; ++k)
            if (head_[k] == tensor) return k;
        return -1;
    }

    // The sink of a detection pass: head rows -> scored, decoded candidates -> best k.
    struct Decode {
        const Detector* self;
        const graph::Plan* plan;
        detail::BestK* best;
        float sx, sy, threshold;
        void operator()(int t, const kernels::View& v, int y0, int y1) const {
            const int k = self->level_of(t);
            int index0 = 0;  // priors of the finer levels come first
            for (int j = 0; j < k; ++j) {
                const graph::BufferPlan& b = plan->t[self->head_[j]];
                index0 += b.h * b.w * int(self->config().anchors);
            }
            detail::decode_rows(self->config(), k, v, y0, y1, index0, plan->width, plan->height, sx, sy, threshold,
                                [this](float score, int32_t index, const Face& f) { best->offer(score, index, f); });
        }
    };

    // The sink of forward(): head rows copied into whole maps.
    struct KeepHeads {
        const Detector* self;
        HeadOutputs* out;
        void operator()(int t, const kernels::View& v, int y0, int y1) const {
            const kernels::View& dst = out->level[self->level_of(t)];
            for (int y = y0; y < y1; ++y)
                std::memcpy(dst.at(y, 0), v.at(y, 0), size_t(v.w) * size_t(v.c) * sizeof(kernels::act_t));
        }
    };

    // One pass on the work region: resample (rows), run the bands, decode, keep the best k,
    // NMS into `faces`; returns their count.
    int run_pass(Workspace& ws, const graph::Plan& p, const ImageView& image, const DetectOptions& opt,
                 Face* faces) const {
        unsigned char* work = ws.work();
        const Layout l = layout(p, resample_scratch_bytes(image.width, image.height, p.width, p.height, p.threads),
                                opt.top_k);
        Resampler rs;
        rs.init(image, whole(image), detail::input_norm(config()), p.width, p.height, work + l.scratch);
        detail::BestK best;
        best.init(work + l.candidates, l.capacity);
        detail::ResampleRows source{&rs};
        Decode sink{this, &p, &best, float(image.width) / float(p.width), float(image.height) / float(p.height),
                    opt.score_threshold};
        graph::run(net_.graph(), p, work, source, sink, ws.team());
        const int n = best.finish();
        return detail::nms(best, n, opt.nms_iou, opt.max_faces, faces);
    }

    detail::Network net_;
    int head_[detail::kRetinaLevels] = {};
};

}  // namespace facemask
