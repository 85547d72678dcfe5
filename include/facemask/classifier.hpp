// facemask/classifier.hpp — the mask classifier: p(masked) for a face box.
//
// MobileNetV1 body -> global average pooling -> dense + ReLU -> dense -> sigmoid, on a crop of
// the picture around the face, resampled to the network's input size (112x112).
//
// The crop (the training tool cuts exactly the same one):
//   1. the face box, centred at its centre; with "square" (blob config) both sides become the
//      longer one;
//   2. grown by the blob's margin m on every side: sides times (1 + 2m);
//   3. clipped to the picture (not shifted): at a border the crop is cut, then stretched;
//   4. resampled to the input size with the same antialiased bilinear filter as the detector
//      (PIL's BILINEAR with a fractional box), then normalised per the blob (mean, scale, order).
// A box that leaves less than one pixel inside the picture is refused (Error::invalid_argument).
#pragma once
#include "image.hpp"
#include "mobilenet.hpp"
#include "network.hpp"
#include "types.hpp"
#include "workspace.hpp"

namespace facemask {

// The picture region the classifier reads for a face box (steps 1-3 above); false when less
// than a pixel of it lies inside the picture.
inline bool face_crop(const Box& b, int picture_w, int picture_h, bool square, float margin, Rect* out) {
    if (!(std::isfinite(b.x1) && std::isfinite(b.y1) && std::isfinite(b.x2) && std::isfinite(b.y2))) return false;
    const double cx = 0.5 * (double(b.x1) + b.x2), cy = 0.5 * (double(b.y1) + b.y2);
    double w = double(b.x2) - b.x1, h = double(b.y2) - b.y1;
    if (!(w > 0 && h > 0)) return false;
    if (square) w = h = (w > h ? w : h);
    w *= 1.0 + 2.0 * margin;
    h *= 1.0 + 2.0 * margin;
    double x0 = cx - w / 2, x1 = cx + w / 2, y0 = cy - h / 2, y1 = cy + h / 2;
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > picture_w) x1 = picture_w;
    if (y1 > picture_h) y1 = picture_h;
    if (!(x1 - x0 >= 1.0 && y1 - y0 >= 1.0)) return false;
    *out = Rect{float(x0), float(y0), float(x1), float(y1)};
    return true;
}

class Classifier {
public:
    Classifier() = default;
    Classifier(Classifier&&) = default;
    Classifier& operator=(Classifier&&) = default;

    Status load_memory(const void* data, size_t size, Ownership own = Ownership::copy, Verify verify = Verify::none) {
        return verified(net_.load_memory(data, size, own, blob::ModelKind::classifier, Build{this}), verify, nullptr);
    }

#ifndef FACEMASK_NO_STDIO
    Status load_file(const char* path, Verify verify = Verify::none) {
        return verified(net_.load_file(path, blob::ModelKind::classifier, Build{this}), verify, path);
    }
#endif

    bool loaded() const { return net_.loaded(); }
    // Heap bytes the loaded model holds (the blob's copy or the part of it still read, packed
    // weights); a borrowed blob is the caller's and is not counted.
    size_t model_bytes() const { return net_.held_bytes(); }
    const blob::Config& config() const { return net_.config(); }
    // The blob's decision threshold on p(masked).
    float threshold() const { return config().threshold; }
    int input_width() const { return int(config().input_width); }
    int input_height() const { return int(config().input_height); }

    // The picture region classify() reads for a face box.
    bool crop(const Box& b, int picture_w, int picture_h, Rect* out) const {
        return face_crop(b, picture_w, picture_h, config().crop_square != 0, config().crop_margin, out);
    }

    // p(masked) of the face in `box`.
    Status classify(Workspace& ws, const ImageView& image, const Box& box, float* p_masked) const {
        if (!loaded()) return Status::fail(Error::not_loaded, "no classifier loaded");
        if (!p_masked) return Status::fail(Error::invalid_argument, "classify: no output given");
        FACEMASK_TRY(check_image(image));
        Rect r;
        if (!crop(box, image.width, image.height, &r))
            return Status::fail(Error::invalid_argument,
                                "face box (%.1f, %.1f)-(%.1f, %.1f) leaves no pixel of the %dx%d picture to classify",
                                double(box.x1), double(box.y1), double(box.x2), double(box.y2), image.width,
                                image.height);
        if (!resample_supported(double(r.x1 - r.x0), input_width()) || !resample_supported(double(r.y1 - r.y0), input_height()))
            return Status::fail(Error::too_large, "face crop of %.0fx%.0f pixels is too large to resample", double(r.x1 - r.x0),
                                double(r.y1 - r.y0));
        // Scratch for the largest face this picture can hold, so that later, larger faces of
        // pictures of this size need no more memory.
        const Layout l = layout(plan(ws), scratch_bytes(image.width, image.height));
        FACEMASK_TRY(ws.reserve(0, l.total, true));
        Resampler rs;
        rs.init(image, r, detail::input_norm(config()), input_width(), input_height(), ws.work() + l.scratch);
        detail::ResampleRows source{&rs};
        *p_masked = sigmoid(head(ws, plan(ws), l, source));
        return Status();
    }

    // The threshold a mask threshold option stands for: kBlobThreshold (any negative value)
    // is the blob's own.
    float threshold_for(float option) const { return option < 0.0f ? threshold() : option; }

    // Classifies every face of a picture: p(masked) (`mask`) and the label at `threshold`
    // (`is_masked`; kBlobThreshold: the blob's). A face whose crop has no pixel inside the
    // picture keeps mask = -1 (unclassified); other failures stop the loop.
    Status classify(Workspace& ws, const ImageView& image, Faces faces, float threshold = kBlobThreshold) const {
        if (!(threshold == kBlobThreshold || (threshold >= 0.0f && threshold <= 1.0f)))
            return Status::fail(Error::invalid_argument, "mask threshold %g is outside [0, 1]", double(threshold));
        threshold = threshold_for(threshold);
        if (loaded() && !faces.empty()) {
            // Grow the workspace once, before the loop; faces held in its results region
            // (a detector's output) move with it.
            const unsigned char* before = ws.results();
            const size_t at = size_t(reinterpret_cast<const unsigned char*>(faces.data) - before);
            const bool inside = before && reinterpret_cast<const unsigned char*>(faces.data) >= before &&
                                at < ws.bytes();
            FACEMASK_TRY(ws.reserve(0, layout(plan(ws), scratch_bytes(image.width, image.height)).total, true));
            if (inside) faces.data = reinterpret_cast<Face*>(ws.results() + at);
        }
        for (Face& f : faces) {
            f.set_mask(-1, 0);
            Rect r;
            if (loaded() && !crop(f.box, image.width, image.height, &r)) continue;
            float p = 0;
            FACEMASK_TRY(classify(ws, image, f.box, &p));
            f.set_mask(p, threshold);
        }
        return Status();
    }

    // The network alone on a normalised input (input_height x input_width x 3, network
    // channel order): the logit of "masked". For tests.
    Status classify_input(Workspace& ws, const float* input, int w, int h, float* logit) const {
        if (!loaded()) return Status::fail(Error::not_loaded, "no classifier loaded");
        if (!input || !logit) return Status::fail(Error::invalid_argument, "classify_input: null input or output");
        if (w < 1 || h < 1 || w > 4096 || h > 4096)
            return Status::fail(Error::invalid_argument, "classify_input: size %dx%d out of range", w, h);
        const graph::Plan& p = ws.plan(net_.id(), net_.graph(), w, h, kBand, 1);
        const Layout l = layout(p, 0);
        FACEMASK_TRY(ws.reserve(0, l.total, true));
        detail::CopyRows source{input, w};
        *logit = head(ws, p, l, source);
        return Status();
    }

    // Runs the blob's self-test (a small input and its expected logit).
    Status self_test(Workspace& ws) const {
        if (!loaded()) return Status::fail(Error::not_loaded, "self-test: no classifier loaded");
        const blob::Reader& r = net_.reader();
        blob::Tensor input, want;
        FACEMASK_TRY(detail::selftest_input(r, &input));
        const uint32_t one = 1;
        FACEMASK_TRY(r.find("selftest.output", 1, &one, &want));
        float logit = 0;
        FACEMASK_TRY(classify_input(ws, input.data, int(input.shape[1]), int(input.shape[0]), &logit));
        const float e = want.data[0];
        if (!(std::fabs(logit - e) <= config().selftest_tolerance * (1.0f + std::fabs(e))))
            return Status::fail(Error::selftest, "self-test failed: logit %g, the blob expects %g", double(logit), double(e));
        return Status();
    }

    // Bytes of Workspace::use_memory() for one classification at the blob's input size, plus
    // `scratch` resampling bytes and the up to 63 bytes lost aligning the block (its work
    // region: Pipeline counts it once with the detector's).
    size_t workspace_bytes(size_t scratch = 0) const {
        if (!loaded()) return 0;
        return align_up(layout(graph::make_plan(net_.graph(), input_width(), input_height(), kBand, 1), scratch).total) +
               kAlign;
    }

    // Resampling scratch enough for any face of a picture_w x picture_h picture.
    size_t scratch_bytes(int picture_w, int picture_h) const {
        if (!loaded()) return 0;
        return resample_scratch_bytes(picture_w, picture_h, Rect{0.0f, 0.0f, float(picture_w), float(picture_h)},
                                      input_width(), input_height());
    }

    static float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

private:
    Status verified(Status loaded, Verify verify, const char* path) {
        return detail::verified_load<Workspace>(*this, loaded, verify, path);
    }

    // Input rows per band: the classifier runs alone on small crops.
    static constexpr int kBand = 1;

    // The work region: activation buffers, pooled features, hidden layer, resampling scratch.
    struct Layout {
        size_t pooled, hidden, scratch, total;
    };

    Layout layout(const graph::Plan& p, size_t scratch) const {
        Layout l;
        l.pooled = align_up(p.arena_bytes);
        l.hidden = l.pooled + align_up(size_t(channels_) * sizeof(float));
        l.scratch = l.hidden + align_up(size_t(config().hidden) * sizeof(float));
        l.total = l.scratch + align_up(scratch);
        return l;
    }

    const graph::Plan& plan(Workspace& ws) const {
        return ws.plan(net_.id(), net_.graph(), input_width(), input_height(), kBand, 1);
    }

    // The graph builder Network::load_* calls (twice: to measure, then to pack).
    struct Build {
        Classifier* self;
        Status operator()(const blob::Reader& r, graph::Graph& g, graph::Packer& pk) const { return self->build(r, g, pk); }
    };

    // The body as a graph; pooling and the dense layers run after it (they read the blob).
    Status build(const blob::Reader& r, graph::Graph& g, graph::Packer& pk) {
        const blob::Config& c = r.config();
        g.input = g.add_tensor(0, 3);
        detail::Backbone body;
        FACEMASK_TRY(detail::add_mobilenet(r, g, pk, g.input, blob::epilogue_slope(c.activation, c.slope), &body));
        body_out_ = body.out[detail::kMobileNetBlocks - 1];
        g.tensors[body_out_].is_output = true;
        channels_ = body.channels[detail::kMobileNetBlocks - 1];
        blob::Tensor t;
        FACEMASK_TRY(detail::find2(r, "fc1.w", c.hidden, uint32_t(channels_), &t));
        fc1_w_ = t.data;
        FACEMASK_TRY(detail::find1(r, "fc1.b", c.hidden, &t));
        fc1_b_ = t.data;
        FACEMASK_TRY(detail::find2(r, "fc2.w", 1, c.hidden, &t));
        fc2_w_ = t.data;
        FACEMASK_TRY(detail::find1(r, "fc2.b", 1, &t));
        fc2_b_ = t.data;
        pk.borrows = true;  // the dense layers read their weights in the blob
        return Status();
    }

    // The sink: sums of the body's output rows, for the global average pooling.
    struct Pool {
        float* sums;
        void operator()(int, const kernels::View& v, int y0, int y1) const {
            for (int y = y0; y < y1; ++y)
                for (int x = 0; x < v.w; ++x) {
                    const kernels::act_t* p = v.at(y, x);
                    for (int ch = 0; ch < v.c; ++ch) sums[ch] += kernels::act_load(p[ch]);
                }
        }
    };

    // Runs the body in bands from `source`, then pooling and the dense layers: the logit.
    template <class Source>
    float head(Workspace& ws, const graph::Plan& p, const Layout& l, Source& source) const {
        unsigned char* work = ws.work();
        float* pooled = reinterpret_cast<float*>(work + l.pooled);
        float* hidden = reinterpret_cast<float*>(work + l.hidden);
        for (int ch = 0; ch < channels_; ++ch) pooled[ch] = 0.0f;
        Pool sink{pooled};
        graph::run(net_.graph(), p, work, source, sink);  // a one-thread plan
        const graph::BufferPlan& out = p.t[body_out_];
        const float inv = 1.0f / float(out.h * out.w);
        for (int ch = 0; ch < channels_; ++ch) pooled[ch] *= inv;
        kernels::scalar::dense(pooled, channels_, hidden, int(config().hidden), fc1_w_, fc1_b_, 0.0f);
        float logit = 0;
        kernels::scalar::dense(hidden, int(config().hidden), &logit, 1, fc2_w_, fc2_b_, 1.0f);
        return logit;
    }

    detail::Network net_;
    int body_out_ = 0, channels_ = 0;
    const float *fc1_w_ = nullptr, *fc1_b_ = nullptr, *fc2_w_ = nullptr, *fc2_b_ = nullptr;
};

}  // namespace facemask
