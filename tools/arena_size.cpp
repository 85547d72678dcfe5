// arena_size — how much memory facemask needs for a network input size, asked of the library
// itself (so a firmware's static arena can never drift from what the engine plans).
//
//   arena_size DETECTOR.fmb CLASSIFIER.fmb --header OUT.h WxH [--top-k N]
//       writes a header with the size of the one static block an MCU build hands to
//       Workspace::use_memory() for Pipeline::run on WxH pictures analysed at their own size
//       (Scale::native(), one thread, top_k candidates: examples/mcu/app.hpp's options):
//         FM_MCU_ARENA_BYTES = Pipeline::workspace_bytes_for(W, H, those options)
//       checked here to be the sum of the two models' parts, which the header names in a comment:
//         Detector::workspace_bytes(W, H, 0, top_k)
//         + Classifier::workspace_bytes(Classifier::scratch_bytes(W, H))  (the largest face crop)
//       Each part includes the 64 bytes use_memory() may lose aligning the block, so the block
//       needs no particular alignment.
//   arena_size DETECTOR.fmb CLASSIFIER.fmb --report [--top-k N] WxH...
//       prints, per input size, the whole-frame plan the engine uses today and what a row-band
//       (streaming) execution of the same graphs would need (see "Row bands" below), as Markdown.
//
// Built natively from the single header with the scalar configuration, like the firmware:
//   g++ -std=gnu++17 -O2 -DFACEMASK_NO_SIMD -DFACEMASK_NO_OPENMP -I single_include tools/arena_size.cpp
// The sizes do not depend on the host: every structure counted is made of floats and int32.
//
// Row bands. Today every tensor of the graph is a whole frame (with a one-pixel border) and the
// planner overlaps tensors whose lifetimes do not. A row-band executor would keep, for each
// tensor, only the rows between the oldest one a consumer still needs and the newest one
// produced. --report simulates that on the library's own graph (graph::Graph, the same ops and
// shapes the engine runs), one output row per step, always advancing the most downstream op that
// can run (so producers run only when consumers are starved), and reports:
//   peak    the largest sum over tensors of live rows x row bytes at any step (a lower bound);
//   rings   the sum over tensors of each tensor's own largest live row count x row bytes (what a
//           static implementation with one ring buffer per tensor needs).
// The detection heads are taken as decoded row by row (one live row), as is the classifier's
// last tensor (global average pooling accumulates row by row). "two passes" is the same with the
// stride-8 branch of the FPN split off so that no stride-8 row has to wait for the coarse levels
// (see two_pass()); "recomputed MFLOP" is the price of that. MFLOP counts 2 per multiply-add.
#ifndef FACEMASK_NO_SIMD
#define FACEMASK_NO_SIMD
#endif
#ifndef FACEMASK_NO_OPENMP
#define FACEMASK_NO_OPENMP
#endif
#include "facemask.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

using namespace facemask;

struct File {
    unsigned char* data = nullptr;
    size_t size = 0;
    ~File() { std::free(data); }
};

bool read_all(const char* path, File* f) {
    FILE* fp = std::fopen(path, "rb");
    if (!fp) return false;
    std::fseek(fp, 0, SEEK_END);
    long n = std::ftell(fp);
    std::fseek(fp, 0, SEEK_SET);
    if (n <= 0) return std::fclose(fp), false;
    f->data = static_cast<unsigned char*>(std::aligned_alloc(64, (size_t(n) + 63) / 64 * 64));
    f->size = size_t(n);
    bool ok = f->data && std::fread(f->data, 1, f->size, fp) == f->size;
    std::fclose(fp);
    return ok;
}

bool parse_size(const char* s, int* w, int* h) {
    char* end = nullptr;
    long a = std::strtol(s, &end, 10);
    if (end == s || (*end != 'x' && *end != 'X')) return false;
    const char* t = end + 1;
    long b = std::strtol(t, &end, 10);
    if (end == t || *end || a < 1 || b < 1 || a > 8192 || b > 8192) return false;
    *w = int(a), *h = int(b);
    return true;
}

// The graphs, rebuilt from the blobs with the library's own builders (scalar: weights in place).
struct Graphs {
    graph::Graph det, cls;
    int cls_w = 0, cls_h = 0;
    int body_ops = 0;  // the detector's first ops: the MobileNet body
};

Status build_graphs(const File& d, const File& c, Graphs* g) {
    blob::Reader rd, rc;
    FACEMASK_TRY(rd.open(d.data, d.size));
    FACEMASK_TRY(rc.open(c.data, c.size));
    graph::Packer pk;
    int head[detail::kRetinaLevels];
    FACEMASK_TRY(detail::build_retinaface(rd, g->det, pk, head));
    g->body_ops = 1 + 2 * (detail::kMobileNetBlocks - 1);  // b0, then a depthwise and a pointwise op per block
    // As Classifier::build does: the MobileNet body; its last tensor is the pooled output.
    const blob::Config& cc = rc.config();
    g->cls.input = g->cls.add_tensor(0, 3);
    detail::Backbone body;
    FACEMASK_TRY(detail::add_mobilenet(rc, g->cls, pk, g->cls.input, blob::epilogue_slope(cc.activation, cc.slope), &body));
    g->cls.tensors[body.out[detail::kMobileNetBlocks - 1]].is_output = true;
    g->cls_w = int(cc.input_width), g->cls_h = int(cc.input_height);
    return Status();
}

// ---- row-band simulation ------------------------------------------------------------------------

struct Stream {
    size_t peak = 0, rings = 0;
    int ring_rows[graph::kMaxTensors] = {};  // largest live row count of each tensor
};

// Input rows [lo, hi] op `o` reads to produce output row y.
void rows_needed(const graph::Op& o, const graph::Plan& p, int y, int* lo, int* hi) {
    const int hin = p.t[o.in].h, hout = p.t[o.out].h;
    switch (o.kind) {
        case graph::OpKind::conv3x3s1:
        case graph::OpKind::dwconv3x3s1: *lo = y - 1, *hi = y + 1; break;
        case graph::OpKind::conv3x3s2:
        case graph::OpKind::dwconv3x3s2: *lo = 2 * y - 1, *hi = 2 * y + 1; break;
        case graph::OpKind::pwconv1x1: *lo = *hi = y; break;
        case graph::OpKind::upsample_add: {
            int sy = int((int64_t(y) * hin) / hout);  // as kernels::upsample_nearest_add
            if (sy > hin - 1) sy = hin - 1;
            *lo = *hi = sy;
            break;
        }
    }
    if (*lo < 0) *lo = 0;
    if (*hi > hin - 1) *hi = hin - 1;
}

// `enabled[k]`: op k runs in this pass (null: all). A tensor read by an enabled op but written
// only by disabled ones was made whole by an earlier pass: it counts whole, all the time.
Stream simulate(const graph::Graph& g, const graph::Plan& p, size_t bytes_per_value, const bool* enabled = nullptr) {
    const int n = g.n_ops, nt = g.n_tensors;
    auto on = [&](int k) { return enabled == nullptr || enabled[k]; };
    bool preset[graph::kMaxTensors] = {};
    for (int k = 0; k < n; ++k) {
        if (!on(k) || g.ops[k].in == g.input) continue;
        bool written_here = false;
        for (int j = 0; j < n; ++j) written_here |= on(j) && g.ops[j].out == g.ops[k].in;
        if (!written_here) preset[g.ops[k].in] = true;
    }
    int done[graph::kMaxOps] = {};      // output rows produced by op k
    int read_pos[graph::kMaxOps] = {};  // output row op k works on (its input window)
    size_t ring_max[graph::kMaxTensors] = {};
    Stream s;
    auto row_bytes = [&](int t) { return size_t(p.t[t].w + 2) * size_t(g.tensors[t].channels) * bytes_per_value; };
    // Rows of tensor t every writer has finished (the input arrives row by row: all of it).
    auto complete = [&](int t) {
        if (t == g.input || preset[t]) return p.t[t].h;
        int c = p.t[t].h;
        for (int k = 0; k < n; ++k)
            if (on(k) && g.ops[k].out == t && done[k] < c) c = done[k];
        return c;
    };
    auto written = [&](int t) {
        if (preset[t]) return p.t[t].h;
        int c = 0;
        for (int k = 0; k < n; ++k)
            if (on(k) && g.ops[k].out == t && done[k] > c) c = done[k];
        return c;
    };
    int input_rows = 0;  // input rows made so far (preprocessed from the picture on demand)
    auto can_run = [&](int k) {
        const graph::Op& o = g.ops[k];
        if (!on(k) || done[k] >= p.t[o.out].h) return false;
        const int y = done[k];
        int lo, hi;
        rows_needed(o, p, y, &lo, &hi);
        const int have = o.in == g.input ? input_rows : complete(o.in);
        if (have <= hi) return false;
        // In-place updates (upsample_add) come after the op that first wrote the row.
        for (int j = 0; j < k; ++j)
            if (on(j) && g.ops[j].out == o.out && done[j] <= y) return false;
        return true;
    };
    auto measure = [&]() {
        size_t total = 0;
        for (int t = 0; t < nt; ++t) {
            int hi = t == g.input ? input_rows : written(t);
            int lo = preset[t] ? 0 : hi;
            bool consumed = false;
            for (int k = 0; k < n; ++k) {
                const graph::Op& o = g.ops[k];
                if (!on(k) || o.in != t || read_pos[k] >= p.t[o.out].h) continue;
                int a, b;
                rows_needed(o, p, read_pos[k], &a, &b);
                if (a < lo) lo = a;
                consumed = true;
            }
            // Writers still working on a concat/update target keep its unfinished rows alive.
            for (int k = 0; k < n; ++k)
                if (on(k) && g.ops[k].out == t && done[k] < lo) lo = done[k];
            if (!consumed && !preset[t] && hi > 0 && (g.tensors[t].is_output || t != g.input)) {
                bool has_reader = false;
                for (int k = 0; k < n; ++k) has_reader |= on(k) && g.ops[k].in == t;
                if (g.tensors[t].is_output || !has_reader) lo = hi - 1;  // decoded/pooled (or stored) row by row
            }
            const int live = hi > lo ? hi - lo : 0;
            const size_t b = size_t(live) * row_bytes(t);
            if (b > ring_max[t]) ring_max[t] = b;
            if (live > s.ring_rows[t]) s.ring_rows[t] = live;
            total += b;
        }
        if (total > s.peak) s.peak = total;
    };
    for (;;) {
        int pick = -1;
        for (int k = n - 1; k >= 0 && pick < 0; --k)
            if (can_run(k)) pick = k;
        if (pick < 0) {
            if (input_rows < p.t[g.input].h) {
                ++input_rows;
                measure();
                continue;
            }
            break;
        }
        ++done[pick];
        measure();  // the new row exists while the op still holds its input window
        read_pos[pick] = done[pick];
    }
    for (int k = 0; k < n; ++k)
        if (on(k) && done[k] != p.t[g.ops[k].out].h) std::fprintf(stderr, "arena_size: simulation stalled at op %d\n", k);
    for (int t = 0; t < nt; ++t) s.rings += ring_max[t];
    return s;
}

// Two passes over the picture, so that no stride-8 row waits for the coarse levels: pass 1 runs
// everything but the stride-8 FPN/SSH/head ops (the coarse levels are finished and their heads
// decoded; the merged stride-16 FPN tensor the stride-8 level adds is kept whole); pass 2 runs
// the body again up to stride 8 and then the stride-8 FPN/SSH/head. Costs the body's first
// blocks twice. The memory is the larger pass (ring buffers are reused between passes).
Stream two_pass(const graph::Graph& g, const graph::Plan& p, size_t bpv, int body_ops, int fine_level, double* extra_flops);

double op_flops(const graph::Graph& g, const graph::Plan& p, int k) {
    const graph::Op& o = g.ops[k];
    const double hw = double(p.t[o.out].h) * p.t[o.out].w, cin = g.tensors[o.in].channels, cout = o.cout;
    switch (o.kind) {
        case graph::OpKind::conv3x3s1:
        case graph::OpKind::conv3x3s2: return 2.0 * 9.0 * cin * cout * hw;
        case graph::OpKind::dwconv3x3s1:
        case graph::OpKind::dwconv3x3s2: return 2.0 * 9.0 * cout * hw;
        case graph::OpKind::pwconv1x1: return 2.0 * cin * cout * hw;
        case graph::OpKind::upsample_add: return cout * hw;
    }
    return 0;
}

Stream two_pass(const graph::Graph& g, const graph::Plan& p, size_t bpv, int body_ops, int fine_level, double* extra_flops) {
    bool pass1[graph::kMaxOps], pass2[graph::kMaxOps];
    *extra_flops = 0;
    for (int k = 0; k < g.n_ops; ++k) {
        const int level = g.tensors[g.ops[k].out].level;
        const bool body = k < body_ops;
        pass1[k] = body || level != fine_level;
        pass2[k] = body ? level <= fine_level : level == fine_level;
        if (body && pass2[k]) *extra_flops += op_flops(g, p, k);
    }
    const Stream a = simulate(g, p, bpv, pass1), b = simulate(g, p, bpv, pass2);
    Stream s;
    s.peak = a.peak > b.peak ? a.peak : b.peak;
    s.rings = a.rings > b.rings ? a.rings : b.rings;
    return s;
}

// The largest sum of the bytes of the tensors alive at one op: no whole-frame plan can do better.
size_t live_bound(const graph::Graph& g, const graph::Plan& p) {
    size_t best = 0;
    for (int k = -1; k <= g.n_ops; ++k) {
        size_t sum = 0;
        for (int t = 0; t < g.n_tensors; ++t)
            if (p.t[t].first <= k && k <= p.t[t].last) sum += p.t[t].bytes;
        if (sum > best) best = sum;
    }
    return best;
}

// ---- output ------------------------------------------------------------------------------------

double kib(size_t b) { return double(b) / 1024.0; }

int usage() {
    std::fprintf(stderr,
                 "usage: arena_size DETECTOR.fmb CLASSIFIER.fmb --header OUT.h WxH [--top-k N]\n"
                 "       arena_size DETECTOR.fmb CLASSIFIER.fmb --report [--top-k N] WxH...\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 5) return usage();
    File fd, fc;
    if (!read_all(argv[1], &fd)) return std::fprintf(stderr, "arena_size: cannot read %s\n", argv[1]), 1;
    if (!read_all(argv[2], &fc)) return std::fprintf(stderr, "arena_size: cannot read %s\n", argv[2]), 1;
    Pipeline fm;
    Status st = fm.load_memory(fd.data, fd.size, fc.data, fc.size, Ownership::borrow);
    if (!st) return std::fprintf(stderr, "arena_size: %s\n", st.message()), 1;
    const Detector& det = fm.detector();
    const Classifier& cls = fm.classifier();

    const char* header = nullptr;
    bool report = false;
    int top_k = 5000;
    int sizes[16][2];
    int n_sizes = 0;
    for (int i = 3; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--header") && i + 1 < argc) header = argv[++i];
        else if (!std::strcmp(argv[i], "--report")) report = true;
        else if (!std::strcmp(argv[i], "--top-k") && i + 1 < argc) top_k = std::atoi(argv[++i]);
        else if (n_sizes < 16 && parse_size(argv[i], &sizes[n_sizes][0], &sizes[n_sizes][1])) ++n_sizes;
        else return usage();
    }
    if (top_k < 1 || n_sizes == 0 || (header != nullptr) == report || (header && n_sizes != 1)) return usage();

    const int cw = cls.input_width(), ch = cls.input_height();
    if (header) {
        const int W = sizes[0][0], H = sizes[0][1];
        PipelineOptions opt;  // as examples/mcu/app.hpp's fm_mcu::options(top_k)
        opt.detect.scale = Scale::native();
        opt.detect.top_k = top_k;
        opt.detect.threads = 1;
        const size_t total = fm.workspace_bytes_for(W, H, opt);
        const size_t det_bytes = det.workspace_bytes(W, H, resample_scratch_bytes(W, H, W, H), top_k);
        const size_t cls_scratch = cls.scratch_bytes(W, H);
        const size_t cls_bytes = cls.workspace_bytes(cls_scratch);
        if (total == 0 || total != det_bytes + cls_bytes)
            return std::fprintf(stderr, "arena_size: Pipeline::workspace_bytes_for (%zu) is not the models' %zu + %zu\n", total,
                                det_bytes, cls_bytes), 1;
        FILE* f = std::fopen(header, "w");
        if (!f) return std::fprintf(stderr, "arena_size: cannot write %s\n", header), 1;
        std::fprintf(f,
                     "/* GENERATED by tools/arena_size from %s and %s: do not edit, do not commit. */\n"
                     "#ifndef FM_MCU_ARENA_H\n#define FM_MCU_ARENA_H\n"
                     "#define FM_MCU_WIDTH %d\n#define FM_MCU_HEIGHT %d\n#define FM_MCU_TOP_K %d\n"
                     "/* Pipeline::workspace_bytes_for(%d, %d, native scale, top-k %d): the one use_memory() block =\n"
                     "   Detector::workspace_bytes(%d, %d, 0, %d) %zu\n"
                     "   + Classifier::workspace_bytes(Classifier::scratch_bytes(%d, %d) = %zu) %zu */\n"
                     "#define FM_MCU_ARENA_BYTES %zuu\n#endif\n",
                     argv[1], argv[2], W, H, top_k, W, H, top_k, W, H, top_k, det_bytes, W, H, cls_scratch, cls_bytes,
                     total);
        if (std::fclose(f) != 0) return 1;
        std::printf("arena_size: %dx%d top-k %d: detector %zu + classifier %zu = arena %zu bytes -> %s\n", W, H, top_k,
                    det_bytes, cls_bytes, total, header);
        return 0;
    }

    Graphs g;
    st = build_graphs(fd, fc, &g);
    if (!st) return std::fprintf(stderr, "arena_size: %s\n", st.message()), 1;
    const graph::Plan pc = graph::make_plan(g.cls, cw, ch);
    const size_t cls_scratch_max = resample_scratch_bytes(4 * cw, 4 * ch, Rect{0, 0, float(4 * cw), float(4 * ch)}, cw, ch);
    const Stream sc32 = simulate(g.cls, pc, 4), sc16 = simulate(g.cls, pc, 2);

    std::printf("## Whole-frame plan (the engine today), fp32 activations, top-k %d\n\n", top_k);
    std::printf("| input | detector arena | live-set bound | + priors, candidates, faces | Detector::workspace_bytes "
                "| classifier (%dx%d) arena | Classifier::workspace_bytes | Pipeline total |\n", cw, ch);
    std::printf("|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < n_sizes; ++i) {
        const int W = sizes[i][0], H = sizes[i][1];
        const graph::Plan pd = graph::make_plan(g.det, W, H);
        const size_t dws = det.workspace_bytes(W, H, 0, top_k);
        const size_t cls_scratch = resample_scratch_bytes(W, H, Rect{0.0f, 0.0f, float(W), float(H)}, cw, ch);
        const size_t cws = cls.workspace_bytes(cls_scratch);
        std::printf("| %dx%d | %.1f KiB | %.1f KiB | %.1f KiB | %zu (%.1f KiB) | %.1f KiB | %zu (%.1f KiB) | %.1f KiB |\n", W, H,
                    kib(pd.arena_bytes), kib(live_bound(g.det, pd)), kib(dws - align_up(pd.arena_bytes)), dws, kib(dws),
                    kib(pc.arena_bytes), cws, kib(cws), kib(fm.workspace_bytes(W, H, 0, cls_scratch, top_k)));
    }
    std::printf("\n## Row-band execution (simulated on the same graphs; see tools/arena_size.cpp)\n\n");
    std::printf("| input | detector MFLOP | one pass: fp32 peak / rings | fp16 peak / rings | two passes: fp32 peak / rings "
                "| fp16 peak / rings | recomputed MFLOP | whole-frame fp32 arena |\n");
    std::printf("|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < n_sizes; ++i) {
        const int W = sizes[i][0], H = sizes[i][1];
        const graph::Plan pd = graph::make_plan(g.det, W, H);
        double flops = 0, extra = 0;
        for (int k = 0; k < g.det.n_ops; ++k) flops += op_flops(g.det, pd, k);
        const Stream s32 = simulate(g.det, pd, 4), s16 = simulate(g.det, pd, 2);
        const Stream t32 = two_pass(g.det, pd, 4, g.body_ops, detail::kRetinaTensorLevel[0], &extra);
        const Stream t16 = two_pass(g.det, pd, 2, g.body_ops, detail::kRetinaTensorLevel[0], &extra);
        std::printf("| %dx%d | %.0f | %.1f / %.1f KiB | %.1f / %.1f KiB | %.1f / %.1f KiB | %.1f / %.1f KiB | %.0f | %.1f KiB |\n",
                    W, H, flops / 1e6, kib(s32.peak), kib(s32.rings), kib(s16.peak), kib(s16.rings), kib(t32.peak),
                    kib(t32.rings), kib(t16.peak), kib(t16.rings), extra / 1e6, kib(pd.arena_bytes));
    }
    double cflops = 0;
    for (int k = 0; k < g.cls.n_ops; ++k) cflops += op_flops(g.cls, pc, k);
    std::printf("\nclassifier %dx%d (%.0f MFLOP a face): whole-frame arena %.1f KiB; row bands fp32 peak %.1f KiB, rings %.1f KiB; "
                "fp16 peak %.1f KiB, rings %.1f KiB (resample scratch up to %.1f KiB for a crop 4x the input)\n",
                cw, ch, cflops / 1e6, kib(pc.arena_bytes), kib(sc32.peak), kib(sc32.rings), kib(sc16.peak), kib(sc16.rings),
                kib(cls_scratch_max));

    // Per-tensor detail at the first size: where the whole-frame arena goes.
    {
        const int W = sizes[0][0], H = sizes[0][1];
        const graph::Plan pd = graph::make_plan(g.det, W, H);
        std::printf("\n## Detector tensors at %dx%d (whole frame, fp32, with the one-pixel border)\n\n", W, H);
        const Stream s32 = simulate(g.det, pd, 4);
        std::printf("| tensor | level (stride) | HxWxC | KiB | live ops | row-band ring rows | ring KiB (fp32) |\n"
                    "|---|---|---|---|---|---|---|\n");
        for (int t = 0; t < g.det.n_tensors; ++t)
            std::printf("| %d%s | %d (%d) | %dx%dx%d | %.1f | %d..%d | %d | %.1f |\n", t, t == g.det.input ? " (input)" : "",
                        g.det.tensors[t].level, 1 << g.det.tensors[t].level, pd.t[t].h, pd.t[t].w,
                        g.det.tensors[t].channels, kib(pd.t[t].bytes), pd.t[t].first, pd.t[t].last, s32.ring_rows[t],
                        kib(size_t(s32.ring_rows[t]) * size_t(pd.t[t].w + 2) * size_t(g.det.tensors[t].channels) * 4));
    }
    return 0;
}
