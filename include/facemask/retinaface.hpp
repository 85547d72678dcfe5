// facemask/retinaface.hpp — the RetinaFace graph (MobileNetV1 body, FPN, SSH, heads), its
// anchors ("priors") and the decoding of head outputs into faces, with NMS.
#pragma once
#include "mobilenet.hpp"
#include "types.hpp"

namespace facemask {
namespace detail {

constexpr int kRetinaLevels = 3;
constexpr int kRetinaTensorLevel[kRetinaLevels] = {3, 4, 5};  // strides 8, 16, 32
constexpr int kRetinaBodyTap[kRetinaLevels] = {5, 11, 13};     // blocks feeding the FPN

// Checks that the blob's configuration is the architecture this graph implements.
inline Status check_retinaface_config(const blob::Config& c) {
    if (c.levels != 3 || c.steps[0] != 8 || c.steps[1] != 16 || c.steps[2] != 32)
        return Status::fail(Error::bad_blob, "detector blob: this engine implements 3 levels at strides 8/16/32");
    if (c.input_width != 0 || c.input_height != 0)
        return Status::fail(Error::bad_blob, "detector blob: the detector takes any input size (config says %ux%u)",
                            unsigned(c.input_width), unsigned(c.input_height));
    return Status();
}

// Builds the detector; head[k] receives the tensor id of level k's head output, whose channels
// are class logits (2A), box offsets (4A) and landmark offsets (10A).
inline Status build_retinaface(const blob::Reader& r, graph::Graph& g, graph::Packer& pk, int head[kRetinaLevels]) {
    const blob::Config& c = r.config();
    FACEMASK_TRY(check_retinaface_config(c));
    const float act = blob::epilogue_slope(c.activation, c.slope);
    const float ssh_act = blob::epilogue_slope(c.ssh_activation, c.ssh_slope);
    const int A = int(c.anchors);
    g.input = g.add_tensor(0, 3);
    Backbone body;
    FACEMASK_TRY(add_mobilenet(r, g, pk, g.input, act, &body));

    // FPN: laterals to F channels, coarse-to-fine nearest upsampling + add, 3x3 merges.
    blob::Tensor probe;
    {
        // F is the lateral width; read it from the blob so the error names a wrong one.
        const uint32_t cin = uint32_t(body.channels[kRetinaBodyTap[2]]);
        bool found = false;
        for (uint32_t i = 0; i < r.tensor_count() && !found; ++i) {
            blob::Tensor t = r.tensor(i);
            if (std::strcmp(t.name, "fpn.lat3.w") == 0 && t.rank == 2 && t.shape[1] == cin) probe = t, found = true;
        }
        if (!found) return Status::fail(Error::bad_blob, "tensor 'fpn.lat3.w' is missing or not [F, %u]", unsigned(cin));
    }
    const int F = int(probe.shape[0]);
    if (F % 4 != 0 || F > 1024) return Status::fail(Error::bad_blob, "FPN width %d is not a multiple of 4", F);
    int lat[kRetinaLevels];
    for (int k = kRetinaLevels - 1; k >= 0; --k) {
        char name[32];
        std::snprintf(name, sizeof name, "fpn.lat%d", k + 1);
        const int tap = kRetinaBodyTap[k];
        lat[k] = g.add_tensor(kRetinaTensorLevel[k], F);
        FACEMASK_TRY(add_pwconv(r, g, pk, name, body.out[tap], lat[k], body.channels[tap], F, act));
        if (k < kRetinaLevels - 1) {
            g.add_op(graph::OpKind::upsample_add, lat[k + 1], lat[k], graph::Weights(), nullptr, 1.0f);
            const int merged = g.add_tensor(kRetinaTensorLevel[k], F);
            std::snprintf(name, sizeof name, "fpn.merge%d", k + 1);
            FACEMASK_TRY(add_conv3x3(r, g, pk, name, 1, lat[k], merged, F, F, act));
            lat[k] = merged;
        }
    }

    // SSH context modules (branches write their slice of the concatenation) and the heads.
    for (int k = 0; k < kRetinaLevels; ++k) {
        const int lv = kRetinaTensorLevel[k];
        const int ssh = g.add_tensor(lv, F);
        const int a5 = g.add_tensor(lv, F / 4);
        const int a7 = g.add_tensor(lv, F / 4);
        char name[32];
        std::snprintf(name, sizeof name, "ssh%d.c3", k + 1);
        FACEMASK_TRY(add_conv3x3(r, g, pk, name, 1, lat[k], ssh, F, F / 2, ssh_act, 0));
        std::snprintf(name, sizeof name, "ssh%d.c5a", k + 1);
        FACEMASK_TRY(add_conv3x3(r, g, pk, name, 1, lat[k], a5, F, F / 4, act));
        std::snprintf(name, sizeof name, "ssh%d.c5b", k + 1);
        FACEMASK_TRY(add_conv3x3(r, g, pk, name, 1, a5, ssh, F / 4, F / 4, ssh_act, F / 2));
        std::snprintf(name, sizeof name, "ssh%d.c7a", k + 1);
        FACEMASK_TRY(add_conv3x3(r, g, pk, name, 1, a5, a7, F / 4, F / 4, act));
        std::snprintf(name, sizeof name, "ssh%d.c7b", k + 1);
        FACEMASK_TRY(add_conv3x3(r, g, pk, name, 1, a7, ssh, F / 4, F / 4, ssh_act, 3 * F / 4));
        head[k] = g.add_tensor(lv, 16 * A, true);
        std::snprintf(name, sizeof name, "head%d", k + 1);
        FACEMASK_TRY(add_pwconv(r, g, pk, name, ssh, head[k], F, 16 * A, 1.0f));
    }
    return Status();
}

struct Prior {
    float cx, cy, w, h;  // fractions of the input size
};

// Number of anchors for an input size: sum over levels of ceil(h/step) * ceil(w/step) * A.
inline size_t prior_count(const blob::Config& c, const graph::Plan& p) {
    size_t n = 0;
    for (int k = 0; k < kRetinaLevels; ++k)
        n += size_t(p.level_h[kRetinaTensorLevel[k]]) * size_t(p.level_w[kRetinaTensorLevel[k]]) * c.anchors;
    return n;
}

// Anchors in head-output order: level > y > x > anchor. Computed in double and rounded once,
// as the original PriorBox does.
inline void make_priors(const blob::Config& c, const graph::Plan& p, Prior* out) {
    const double W = p.width, H = p.height;
    for (int k = 0; k < kRetinaLevels; ++k) {
        const int fh = p.level_h[kRetinaTensorLevel[k]], fw = p.level_w[kRetinaTensorLevel[k]];
        const double step = c.steps[k];
        for (int y = 0; y < fh; ++y)
            for (int x = 0; x < fw; ++x)
                for (uint32_t a = 0; a < c.anchors; ++a) {
                    const double s = c.min_sizes[k][a];
                    *out++ = Prior{float((x + 0.5) * step / W), float((y + 0.5) * step / H), float(s / W), float(s / H)};
                }
    }
}

struct Candidate {
    float score;
    int32_t index;  // prior index
};

// Score order: higher first, then lower prior index (a total, deterministic order).
inline bool candidate_before(const Candidate& a, const Candidate& b) {
    return a.score > b.score || (a.score == b.score && a.index < b.index);
}

inline void sort_candidates(Candidate* c, int n) {
    // Insertion sort for short lists, heap sort otherwise: in place, no allocation, O(n log n).
    if (n < 32) {
        for (int i = 1; i < n; ++i)
            for (int j = i; j > 0 && candidate_before(c[j], c[j - 1]); --j) {
                Candidate t = c[j];
                c[j] = c[j - 1];
                c[j - 1] = t;
            }
        return;
    }
    auto sift = [c](int root, int end) {
        for (;;) {
            int child = 2 * root + 1;
            if (child >= end) return;
            if (child + 1 < end && candidate_before(c[child + 1], c[child])) ++child;  // heap of "worst first"
            if (!candidate_before(c[child], c[root])) return;
            Candidate t = c[root];
            c[root] = c[child];
            c[child] = t;
            root = child;
        }
    };
    // Build a heap whose root is the last in order, then move roots to the back.
    for (int i = n / 2 - 1; i >= 0; --i) sift(i, n);
    for (int end = n - 1; end > 0; --end) {
        Candidate t = c[0];
        c[0] = c[end];
        c[end] = t;
        sift(0, end);
    }
    // The heap put the best at the back: reverse.
    for (int i = 0, j = n - 1; i < j; ++i, --j) {
        Candidate t = c[i];
        c[i] = c[j];
        c[j] = t;
    }
}

// IoU with the original implementation's pixel convention (+1 on widths and heights).
inline float iou_plus1(const Box& a, const Box& b) {
    const float xx1 = a.x1 > b.x1 ? a.x1 : b.x1, yy1 = a.y1 > b.y1 ? a.y1 : b.y1;
    const float xx2 = a.x2 < b.x2 ? a.x2 : b.x2, yy2 = a.y2 < b.y2 ? a.y2 : b.y2;
    float w = xx2 - xx1 + 1.0f, h = yy2 - yy1 + 1.0f;
    if (w < 0) w = 0;
    if (h < 0) h = 0;
    const float inter = w * h;
    const float area_a = (a.x2 - a.x1 + 1.0f) * (a.y2 - a.y1 + 1.0f);
    const float area_b = (b.x2 - b.x1 + 1.0f) * (b.y2 - b.y1 + 1.0f);
    return inter / (area_a + area_b - inter);
}

// Greedy NMS over faces sorted by score; keeps at most `keep`; returns the new count.
inline int nms(Face* faces, int n, float iou_threshold, int keep) {
    int kept = 0;
    for (int i = 0; i < n && kept < keep; ++i) {
        bool suppressed = false;
        for (int j = 0; j < kept && !suppressed; ++j) suppressed = iou_plus1(faces[j].box, faces[i].box) > iou_threshold;
        if (!suppressed) faces[kept++] = faces[i];
    }
    return kept;
}

// True when at least 70 % of `f`'s box lies inside one of `faces` that scores at least as
// high: used to drop a part of a face (an eye, an ear) found again on an enlarged picture.
inline bool inside_stronger(const Face& f, const Face* faces, int n) {
    const Box& b = f.box;
    const float area = (b.x2 - b.x1) * (b.y2 - b.y1);
    for (int i = 0; i < n; ++i) {
        if (faces[i].score < f.score) continue;
        const Box& a = faces[i].box;
        const float w = (a.x2 < b.x2 ? a.x2 : b.x2) - (a.x1 > b.x1 ? a.x1 : b.x1);
        const float h = (a.y2 < b.y2 ? a.y2 : b.y2) - (a.y1 > b.y1 ? a.y1 : b.y1);
        if (w > 0 && h > 0 && w * h >= 0.7f * area) return true;
    }
    return false;
}

}  // namespace detail
}  // namespace facemask
