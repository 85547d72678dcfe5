// facemask/retinaface.hpp — the RetinaFace graph (MobileNetV1 body, FPN, SSH, heads), its
// anchors ("priors") and the decoding of head rows into faces.
#pragma once
#include "candidates.hpp"
#include "executor.hpp"
#include "mobilenet.hpp"

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
    // A two-pass plan recomputes the body up to the stride-8 tap for the stride-8 branch.
    for (int k = 0; k <= g.tensors[body.out[kRetinaBodyTap[0]]].writers[0]; ++k) g.ops[k].branch = graph::Branch::prefix;

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
        const int first_op = g.n_ops;
        lat[k] = g.add_tensor(kRetinaTensorLevel[k], F);
        FACEMASK_TRY(add_pwconv(r, g, pk, name, body.out[tap], lat[k], body.channels[tap], F, act));
        if (k < kRetinaLevels - 1) {
            g.add_op(graph::OpKind::upsample_add, lat[k + 1], lat[k], graph::Weights(), nullptr, 1.0f);
            const int merged = g.add_tensor(kRetinaTensorLevel[k], F);
            std::snprintf(name, sizeof name, "fpn.merge%d", k + 1);
            FACEMASK_TRY(add_conv3x3(r, g, pk, name, 1, lat[k], merged, F, F, act));
            // Winograd merges (SIMD builds): tiles from row 1 (4k + 1) at both levels line up
            // best with the rows the coarser level adds, 2 at a time: the stride-8 lateral
            // waits 27 rows instead of 31 at 640x480, and the SIMD workspace is 110 KiB smaller
            // (arena_size --tensors; also smaller at 1280x720 and 1920x1080).
            if (!g.overflow) g.ops[g.n_ops - 1].phase = 1;
            lat[k] = merged;
        }
        if (k == 0)
            for (int j = first_op; j < g.n_ops; ++j) g.ops[j].branch = graph::Branch::deferred;
    }

    // SSH context modules (branches write their slice of the concatenation) and the heads.
    for (int k = 0; k < kRetinaLevels; ++k) {
        const int first_op = g.n_ops;
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
        if (k == 0)
            for (int j = first_op; j < g.n_ops; ++j) g.ops[j].branch = graph::Branch::deferred;
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

// Anchor `a` of cell (x, y) at level k, as the original PriorBox computes it: in double,
// rounded once to float. The decoder computes anchors as head rows arrive (none are stored).
inline Prior prior_at(const blob::Config& c, int k, int x, int y, int a, double W, double H) {
    const double step = c.steps[k];
    const double s = c.min_sizes[k][a];
    return Prior{float((x + 0.5) * step / W), float((y + 0.5) * step / H), float(s / W), float(s / H)};
}

// Scores and decodes head rows [y0, y1) of level k (the view's channels: class logits 2A, box
// offsets 4A, landmark offsets 10A), offering every anchor that scores above `threshold` to
// `keep(score, prior_index, face)`; `index0` is the level's first prior index (priors are
// numbered level > y > x > anchor). Boxes are in picture pixels: W x H input pixels times (sx, sy).
template <class Keep>
inline void decode_rows(const blob::Config& c, int k, const kernels::View& v, int y0, int y1, int index0, int W, int H,
                        float sx, float sy, float threshold, Keep&& keep) {
    const int A = int(c.anchors);
    const float v0 = c.variances[0], v1 = c.variances[1];
    const float fw = float(W), fh = float(H);
    for (int y = y0; y < y1; ++y)
        for (int x = 0; x < v.w; ++x) {
            const kernels::act_t* row = v.at(y, x);
            const auto p = [row](int i) { return kernels::act_load(row[i]); };
            for (int a = 0; a < A; ++a) {
                // softmax over (background, face), as the reference computes it
                const float l0 = p(2 * a), l1 = p(2 * a + 1);
                const float m = l0 > l1 ? l0 : l1;
                const float e0 = std::exp(l0 - m), e1 = std::exp(l1 - m);
                const float score = e1 / (e0 + e1);
                if (!(score > threshold)) continue;
                const Prior pr = prior_at(c, k, x, y, a, W, H);
                const int box = 2 * A + 4 * a, lm = 6 * A + 10 * a;
                Face f;
                const float cx = pr.cx + p(box) * v0 * pr.w;
                const float cy = pr.cy + p(box + 1) * v0 * pr.h;
                const float bw = pr.w * std::exp(p(box + 2) * v1);
                const float bh = pr.h * std::exp(p(box + 3) * v1);
                f.box.x1 = (cx - bw / 2) * fw * sx;
                f.box.y1 = (cy - bh / 2) * fh * sy;
                f.box.x2 = (cx + bw / 2) * fw * sx;
                f.box.y2 = (cy + bh / 2) * fh * sy;
                for (int j = 0; j < 5; ++j) {
                    f.landmarks[j].x = (pr.cx + p(lm + 2 * j) * v0 * pr.w) * fw * sx;
                    f.landmarks[j].y = (pr.cy + p(lm + 2 * j + 1) * v0 * pr.h) * fh * sy;
                }
                f.score = score;
                f.mask = -1;
                keep(score, int32_t(index0 + (y * v.w + x) * A + a), f);
            }
        }
}

}  // namespace detail
}  // namespace facemask
