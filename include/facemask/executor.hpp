// facemask/executor.hpp — runs a graph in row bands: every tensor keeps only the rows its
// consumers still need.
//
// How bands flow. The input is produced a band of rows at a time (the caller's source: the
// resampler, or a copy). After each band every operator, in graph order, computes all the
// output rows its inputs now allow (a 3x3 stride-S convolution's row y needs input rows up to
// S*y+1; a pointwise one row y; the FPN's upsample the coarse row it repeats). Rows of output
// tensors go to the caller's sink (the detector decodes them into candidates, the classifier
// pools them) as soon as they exist. So a tensor lives in a ring of a few rows (View::ring:
// the kernels find each row with row_at, once per row, and never know). The coarse-to-fine FPN merge makes the stride-8 lateral wait for the stride-32 rows
// it adds; the plan measures that lag and sizes the ring for it.
//
// A plan may also split the graph in two passes (Branch: the first pass skips the deferred
// branch, the second recomputes the prefix and runs the deferred branch), so that a branch
// which would wait long for other rows reads them finished instead. A tensor the first pass
// writes and the second reads is kept whole; buffers used by one pass only share memory.
//
// The schedule depends only on the graph, the input size and the band, so it is walked twice:
// at planning time to measure every buffer (no buffer is ever resized while running), and when
// running. With several threads each thread walks the same schedule on its own copy of the
// counters and takes a share of every kernel call's columns; one barrier ends each call.
#pragma once
#include "graph.hpp"
#include "team.hpp"

namespace facemask {
namespace graph {

// One tensor's buffer in the arena.
struct BufferPlan {
    int h = 0, w = 0, c = 0;  // the whole tensor
    int ring = 0;             // rows in the ring (tensor row y at ring row (y + 1) % ring)
    ptrdiff_t row = 0;        // values (act_t) per row (w + 2 pixels, zero borders left and right)
    size_t offset = 0, bytes = 0;
    bool shared = false;      // in the buffer the depthwise outputs share (detail_exec::may_share)
    bool pooled = false;      // its rows come from a row pool (no buffer of its own)
    int8_t pool_class = 0;    // pooled: which pool (0: the widest rows)
    int slot0 = 0;            // pooled: its first entry in the pool's table of ring rows
};

// Row pools of a plan: the widest rows (within 3/4 of the widest, so a block wastes little),
// then the widest of the rest, within 3/4 of those.
constexpr int kPoolClasses = 2;

// Where everything lives for one input size, band and thread count.
struct Plan {
    int width = 0, height = 0;
    int band = 1;     // input rows added per step
    int threads = 1;  // the walk splits rows for this many threads
    int passes = 1;   // 2: the deferred branch runs in a second pass (Branch)
    int level_h[kMaxLevels] = {}, level_w[kMaxLevels] = {};
    int step[kMaxOps] = {};  // output rows an op may add per step: its share of the band
    BufferPlan t[kMaxTensors];
    size_t scratch_offset = 0, scratch_bytes = 0;  // kernel scratch (Winograd): one block per thread
    // The row pools: rows of the pooled tensors take a block each as they are written and give
    // it back as soon as no reader needs them, so tensors that wait share memory with tensors
    // that run. One pool per class of row width (kPoolClasses): each pool's blocks, then one
    // zero block (border rows, as wide as the widest class), then per thread the table of ring
    // rows and each pool's free blocks.
    size_t pool_offset[kPoolClasses] = {}, pool_block[kPoolClasses] = {};  // bytes per block
    int pool_blocks[kPoolClasses] = {};
    int pool_slots = 0;
    size_t pool_zero_offset = 0;
    size_t pool_state_offset = 0, pool_state_bytes = 0;
    size_t arena_bytes = 0;  // all buffers and scratch, plus kArenaSlack
};

// The counters of one walk through the schedule.
struct WalkState {
    int done[kMaxOps];         // output rows each op has written
    int lo[kMaxTensors];       // the tensor row held at the top of its buffer (-1: the zero border)
    int written[kMaxTensors];  // rows written to the buffer so far (max over writers), borders included
    int sunk[kMaxTensors];     // rows of an output tensor handed to the sink
    bool zeroed[kMaxTensors];  // its bottom border row (row h) is written
    int source = 0;            // input rows produced
    int pass = 0;              // the pass being walked (0 or 1)
    // Change counters, so the walk re-examines only what may have changed (at one row a step,
    // most ops can do nothing most steps): wver[t] counts changes to what t's writers have
    // made (rows, its zero row), rver[t] to what its readers and the sink still need.
    // idle_in/idle_out[k]: wver of op k's input and output when k last found nothing to do.
    uint32_t wver[kMaxTensors], rver[kMaxTensors];
    uint32_t idle_in[kMaxOps], idle_out[kMaxOps];
};

// Whether op k runs in pass `pass` of plan p.
inline bool runs(const Graph& g, const Plan& p, int k, int pass) {
    if (p.passes == 1) return true;
    return pass == 0 ? g.ops[k].branch != Branch::deferred : g.ops[k].branch != Branch::main;
}

// How tensor t takes part in a pass: written in it (or the input), only read in it after an
// earlier pass wrote it (kept whole), or not there at all.
enum class Role : uint8_t { absent, written, given };

inline Role role(const Graph& g, const Plan& p, int t, int pass) {
    if (t == g.input) return Role::written;
    const TensorDef& d = g.tensors[t];
    bool written = false, earlier = false, read = false;
    for (int i = 0; i < d.n_writers; ++i) {
        written = written || runs(g, p, d.writers[i], pass);
        for (int q = 0; q < pass; ++q) earlier = earlier || runs(g, p, d.writers[i], q);
    }
    for (int i = 0; i < d.n_readers; ++i) read = read || runs(g, p, d.readers[i], pass);
    return written ? Role::written : (earlier && read) ? Role::given : Role::absent;
}

namespace detail_exec {

// Rows of `t` available to readers: all writers have written them.
inline int avail(const Graph& g, const Plan& p, const WalkState& s, int t, int before_op = kMaxOps) {
    if (t == g.input) return s.source;
    const TensorDef& d = g.tensors[t];
    int a = p.t[t].h;
    bool any = false;  // no writer in this pass: finished by an earlier one, or not there
    for (int i = 0; i < d.n_writers; ++i) {
        if (!runs(g, p, d.writers[i], s.pass)) continue;
        any = true;
        if (d.writers[i] < before_op && s.done[d.writers[i]] < a) a = s.done[d.writers[i]];
    }
    return any || role(g, p, t, s.pass) == Role::given ? a : 0;
}

// Output rows of op k its inputs allow now.
inline int producible(const Graph& g, const Plan& p, const WalkState& s, int k) {
    const Op& o = g.ops[k];
    const int out_h = p.t[o.out].h, in_h = p.t[o.in].h;
    const int a = avail(g, p, s, o.in);
    int n = out_h;
    switch (o.kind) {
        case OpKind::conv3x3s1:
        case OpKind::dwconv3x3s1:
        case OpKind::conv3x3s2:
        case OpKind::dwconv3x3s2: {
            const int S = (o.kind == OpKind::conv3x3s2 || o.kind == OpKind::dwconv3x3s2) ? 2 : 1;
            // row y reads input rows S*y-1 .. S*y+1; the last one may be the zero border row
            if (a < in_h || !s.zeroed[o.in]) n = a >= 2 ? (a - 2) / S + 1 : 0;
            break;
        }
        case OpKind::pwconv1x1: n = a; break;
        case OpKind::upsample_add:
            // row y adds coarse row floor(y * in_h / out_h); it also needs y written by earlier writers
            if (a < in_h) n = int((int64_t(a) * out_h + in_h - 1) / in_h);
            break;
    }
    // Writers of the same tensor go in graph order (upsample_add updates rows in place).
    const int earlier = avail(g, p, s, o.out, k);
    if (earlier < n) n = earlier;
    return n < out_h ? n : out_h;
}

// The first row of `t` that op k still reads, after `d` of its output rows.
inline int first_needed(const Graph& g, const Plan& p, int k, int t, int d, int pass) {
    const Op& o = g.ops[k];
    if (d >= p.t[o.out].h || !runs(g, p, k, pass)) return p.t[t].h + 1;  // finished or not run: needs nothing
    if (t == o.out) return d;                     // read-modify-write (upsample_add)
    switch (o.kind) {
        case OpKind::conv3x3s1:
        case OpKind::dwconv3x3s1: return d - 1;
        case OpKind::conv3x3s2:
        case OpKind::dwconv3x3s2: return 2 * d - 1;
        case OpKind::pwconv1x1: return d;
        case OpKind::upsample_add: return kernels::nearest_source(d, p.t[t].h, p.t[o.out].h);
    }
    return -1;
}

// The first row of `t` any reader (or the sink) still needs.
inline int keep_from(const Graph& g, const Plan& p, const WalkState& s, int t) {
    int keep = avail(g, p, s, t);
    const TensorDef& d = g.tensors[t];
    for (int i = 0; i < d.n_readers; ++i) {
        const int f = first_needed(g, p, d.readers[i], t, s.done[d.readers[i]], s.pass);
        if (f < keep) keep = f;
    }
    if (g.tensors[t].is_output && s.sunk[t] < keep) keep = s.sunk[t];
    return keep < -1 ? -1 : keep;
}

// Bytes planned per entry of a pool's table of ring rows: 8, whatever the pointer size, so a
// plan has the same size on every host (a firmware's arena is sized on the build machine).
constexpr size_t kPoolSlotBytes = 8;
static_assert(sizeof(void*) <= kPoolSlotBytes, "pool table entries hold a pointer");

// The row pool of one walk. The planning walk only counts (slot == nullptr); each running
// thread keeps its own table, changed identically, so no thread waits for another.
struct RowPool {
    kernels::act_t** slot = nullptr;  // p.pool_slots ring rows (pixel 0 of each)
    int32_t* free[kPoolClasses] = {};  // free block indices of each pool (stacks)
    unsigned char* arena = nullptr;
    int n_free[kPoolClasses] = {}, used[kPoolClasses] = {}, peak[kPoolClasses] = {};
    int lo[kMaxTensors], hi[kMaxTensors];  // a pooled tensor's rows [lo, hi) hold blocks
    // The change counters (WalkState) and hi[t] when t's rows were last given back: while all
    // three stay, keep_from(t) stays too and there is nothing more to give back.
    uint32_t seen_w[kMaxTensors], seen_r[kMaxTensors];
    int seen_hi[kMaxTensors];
};

inline kernels::act_t* pool_zero_row(const Plan& p, unsigned char* arena, int c) {
    return reinterpret_cast<kernels::act_t*>(arena + p.pool_zero_offset) + c;
}

// At the start of a pass: every block free, every ring row the zero row.
inline void pool_reset(const Graph& g, const Plan& p, RowPool& r, unsigned char* arena) {
    for (int c = 0; c < kPoolClasses; ++c) r.used[c] = 0;
    for (int t = 0; t < g.n_tensors; ++t) {
        r.lo[t] = r.hi[t] = 0;
        r.seen_w[t] = r.seen_r[t] = 0;  // the walk's counters start at 1: look again
        r.seen_hi[t] = -1;
    }
    if (!r.slot) return;
    for (int t = 0; t < g.n_tensors; ++t)
        if (p.t[t].pooled)
            for (int i = 0; i < p.t[t].ring; ++i) r.slot[p.t[t].slot0 + i] = pool_zero_row(p, arena, p.t[t].c);
    for (int c = 0; c < kPoolClasses; ++c) {
        r.n_free[c] = p.pool_blocks[c];
        for (int i = 0; i < p.pool_blocks[c]; ++i) r.free[c][i] = p.pool_blocks[c] - 1 - i;
    }
}

// Before rows up to `end` of t are written: blocks of rows no reader needs go back, then the
// new rows of t (if pooled) take blocks, their border pixels zeroed when `zero` is set.
inline void pool_room(const Graph& g, const Plan& p, const WalkState& s, RowPool& r, int t, int end, bool zero) {
    for (int u = 0; u < g.n_tensors; ++u) {
        if (!p.t[u].pooled || r.lo[u] >= r.hi[u]) continue;
        if (r.seen_w[u] == s.wver[u] && r.seen_r[u] == s.rver[u] && r.seen_hi[u] == r.hi[u]) continue;
        r.seen_w[u] = s.wver[u];
        r.seen_r[u] = s.rver[u];
        r.seen_hi[u] = r.hi[u];
        int keep = keep_from(g, p, s, u);
        if (keep > r.hi[u]) keep = r.hi[u];
        const BufferPlan& b = p.t[u];
        const int c = b.pool_class;
        for (; r.lo[u] < keep; ++r.lo[u], --r.used[c])
            if (r.slot) {
                const unsigned char* row = reinterpret_cast<const unsigned char*>(r.slot[b.slot0 + (r.lo[u] + 1) % b.ring] - b.c);
                r.free[c][r.n_free[c]++] = int32_t(size_t(row - (r.arena + p.pool_offset[c])) / p.pool_block[c]);
            }
    }
    const BufferPlan& b = p.t[t];
    if (!b.pooled) return;
    const int c = b.pool_class;
    const int stop = end < b.h ? end : b.h;  // row h is the zero row
    if (r.lo[t] > r.hi[t]) r.hi[t] = r.lo[t];
    for (; r.hi[t] < stop; ++r.hi[t]) {
        if (++r.used[c] > r.peak[c]) r.peak[c] = r.used[c];
        if (!r.slot) continue;
        FACEMASK_ASSERT(r.n_free[c] > 0);
        kernels::act_t* row = reinterpret_cast<kernels::act_t*>(r.arena + p.pool_offset[c] +
                                                                size_t(r.free[c][--r.n_free[c]]) * p.pool_block[c]);
        r.slot[b.slot0 + (r.hi[t] + 1) % b.ring] = row + b.c;
        if (zero) {
            std::memset(row, 0, size_t(b.c) * sizeof(kernels::act_t));
            std::memset(row + ptrdiff_t(b.w + 1) * b.c, 0, size_t(b.c) * sizeof(kernels::act_t));
        }
    }
}

}  // namespace detail_exec

// Walks the schedule, calling the hooks:
//   room(t, end, keep)  rows up to `end` (exclusive) of t are about to be written; rows before
//                       `keep` are no longer needed (the planner measures, the runner moves);
//   source(y0, y1)      produce input rows [y0, y1);
//   op(k, y0, y1)       run op k on output rows [y0, y1);
//   finished(t)         write t's zero bottom border row (row h): a reader needs it next;
//   sink(t, y0, y1)     rows [y0, y1) of output tensor t are ready.
// One pass (s.pass) at a time: the counters of tensors an earlier pass finished stay.
template <class Hooks>
inline void walk(const Graph& g, const Plan& p, WalkState& s, Hooks& hooks) {
    using namespace detail_exec;
    for (int k = 0; k < g.n_ops; ++k) {
        s.done[k] = 0;
        s.idle_in[k] = s.idle_out[k] = 0;
    }
    for (int t = 0; t < g.n_tensors; ++t) {
        s.wver[t] = s.rver[t] = 1;
        if (role(g, p, t, s.pass) == Role::given) continue;
        s.lo[t] = -1;
        s.written[t] = 0;  // the top border row is part of the buffer from the start
        s.sunk[t] = 0;
        s.zeroed[t] = false;
    }
    s.source = 0;
    const int H = p.t[g.input].h;
    for (bool more = true; more;) {
        more = false;
        if (s.source < H) {
            const int end = s.source + p.band < H ? s.source + p.band : H;
            hooks.room(g.input, end, keep_from(g, p, s, g.input));
            hooks.source(s.source, end);
            s.source = end;
            s.written[g.input] = end;
            ++s.wver[g.input];
            more = true;
        }
        for (int k = 0; k < g.n_ops; ++k) {
            if (!runs(g, p, k, s.pass)) continue;
            const Op& o = g.ops[k];
            // What k can do depends only on its input's and output's writers (producible, the
            // zero row below the input): unchanged since k last had nothing to do, it still has not.
            if (s.idle_in[k] == s.wver[o.in] && s.idle_out[k] == s.wver[o.out]) continue;
            const int d = s.done[k];
            // An op with row tiles (Winograd) waits for whole tiles, except at the tensor's end.
            auto whole_tiles = [&](int n) {
                if (n >= p.t[o.out].h) return n;
                const int f = tile_floor(o, n);
                return f > d ? f : d;
            };
            int n = whole_tiles(producible(g, p, s, k));
            if (n <= d && d < p.t[o.out].h && !s.zeroed[o.in] && avail(g, p, s, o.in) == p.t[o.in].h &&
                o.kind != OpKind::pwconv1x1 && o.kind != OpKind::upsample_add) {
                // A 3x3 kernel's last rows read the zero row below the input: written only now,
                // when its readers have taken all they could without it (one row less to keep).
                const int t = o.in, h = p.t[t].h;
                hooks.room(t, h + 1, keep_from(g, p, s, t));
                hooks.finished(t);
                s.zeroed[t] = true;
                s.written[t] = h + 1;
                ++s.wver[t];
                n = whole_tiles(producible(g, p, s, k));
            }
            if (n > d + p.step[k]) n = whole_tiles(d + p.step[k]);  // a step is at least a tile
            if (n <= d) {
                s.idle_in[k] = s.wver[o.in];
                s.idle_out[k] = s.wver[o.out];
                continue;
            }
            const int t = o.out;
            const int end = n > s.written[t] ? n : s.written[t];
            hooks.room(t, end, keep_from(g, p, s, t));
            hooks.op(k, d, n);
            s.done[k] = n;
            s.written[t] = end;
            ++s.wver[t];
            ++s.rver[o.in];
            ++s.rver[t];  // in place (upsample_add) it also reads its output
            more = true;
        }
        for (int t = 0; t < g.n_tensors; ++t) {
            if (!g.tensors[t].is_output || role(g, p, t, s.pass) != Role::written) continue;
            const int a = avail(g, p, s, t);
            if (a > s.sunk[t]) {
                hooks.sink(t, s.sunk[t], a);
                s.sunk[t] = a;
                ++s.rver[t];
                more = true;
            }
        }
    }
}

// Bytes after the last buffer that vector loads may touch.
constexpr size_t kArenaSlack = 256;

namespace detail_exec {

// A tensor whose rows its only reader, a pointwise convolution, takes as they come (the
// depthwise outputs of MobileNet blocks built unfused, FACEMASK_FUSE_BLOCKS=0; fused blocks
// have no such tensor): if it is always empty when anything else is written, it can share one
// buffer with the others of its kind. Each is a few rows wide, and there is one per block, so
// sharing saves about a sixth of the detector's memory.
inline bool may_share(const Graph& g, int t) {
    const TensorDef& d = g.tensors[t];
    return t != g.input && !d.is_output && d.n_writers == 1 && d.n_readers == 1 &&
           g.ops[d.readers[0]].kind == OpKind::pwconv1x1 && g.ops[d.writers[0]].kind != OpKind::upsample_add;
}

// The planning walk: the most rows each buffer must hold at once, and which of the tensors that
// may share are only ever written while the others are empty (shared[t] stays true).
struct Measure {
    int need[kMaxTensors] = {};
    bool shared[kMaxTensors] = {};
    const Graph* g = nullptr;
    const Plan* p = nullptr;
    WalkState* s = nullptr;
    RowPool pool;  // counts only
    void room(int t, int end, int keep) {
        pool_room(*g, *p, *s, pool, t, end, false);
        const int lo = keep < s->lo[t] ? s->lo[t] : keep;  // rows before keep can go
        if (end - lo > need[t]) need[t] = end - lo;
        s->lo[t] = lo;
        if (!shared[t]) return;  // only writes to the shared buffer can clobber it
        for (int u = 0; u < g->n_tensors; ++u)  // another sharer still holds rows: t keeps its own buffer
            if (u != t && shared[u] && s->written[u] > keep_from(*g, *p, *s, u)) shared[t] = false;
    }
    void source(int, int) {}
    void op(int, int, int) {}
    void finished(int) {}
    void sink(int, int, int) {}
};

}  // namespace detail_exec

// Plans the buffers for an input size. `band`: input rows per step (more rows per kernel call
// share threads better; fewer need less memory). `whole`: keep every tensor whole (no
// streaming; the reference the tests compare with). `passes`: 2 runs the deferred branch in a
// second pass (Branch), for less memory and more arithmetic.
inline Plan make_plan(const Graph& g, int width, int height, int band = 1, int threads = 1, bool whole = false,
                      int passes = 1) {
    Plan p;
    p.passes = passes == 2 ? 2 : 1;
    p.width = width;
    p.height = height;
    p.band = band < 1 ? 1 : band;
    p.threads = threads < 1 ? 1 : threads;
    p.level_h[0] = height;
    p.level_w[0] = width;
    for (int k = 1; k < kMaxLevels; ++k) {
        p.level_h[k] = kernels::conv_out(p.level_h[k - 1], 2);
        p.level_w[k] = kernels::conv_out(p.level_w[k - 1], 2);
    }
    for (int i = 0; i < g.n_tensors; ++i) {
        BufferPlan& t = p.t[i];
        t.h = p.level_h[g.tensors[i].level];
        t.w = p.level_w[g.tensors[i].level];
        t.c = g.tensors[i].channels;
        t.row = ptrdiff_t(t.w + 2) * t.c;
    }
    // Each op advances by its level's share of the band per step (at least a row per thread):
    // a burst of rows (the FPN's wait for the coarse levels, the end of the picture) then
    // drains a step at a time instead of passing whole through every later buffer.
    for (int k = 0; k < g.n_ops; ++k) {
        const int level = g.tensors[g.ops[k].out].level;
        const int share = p.band >> level;
        p.step[k] = share > p.threads ? share : p.threads;
        // ops with row tiles: whole tiles, at least one per thread
        const int tile = tile_rows(g.ops[k]);
        if (p.step[k] < tile * p.threads) p.step[k] = tile * p.threads;
        p.step[k] = (p.step[k] + tile - 1) / tile * tile;
    }
    WalkState s;
    detail_exec::Measure m;
    m.g = &g;
    m.p = &p;
    m.s = &s;
    for (int i = 0; i < g.n_tensors; ++i) m.shared[i] = !whole && detail_exec::may_share(g, i);
    // The pools take the rows of the tensors that stream (not the input, not those shared, not
    // those kept whole): pool 0 the widest (within 3/4 of the widest, so a block wastes little),
    // pool 1 the widest of the others, likewise.
    bool candidate[kMaxTensors] = {};
    for (int i = 0; i < g.n_tensors && !whole; ++i)
        candidate[i] = i != g.input && !m.shared[i] && (p.passes == 1 || role(g, p, i, 1) != Role::given);
    for (int c = 0; c < kPoolClasses; ++c) {
        size_t widest = 0;
        for (int i = 0; i < g.n_tensors; ++i) {
            const size_t bytes = size_t(p.t[i].row) * sizeof(kernels::act_t);
            if (candidate[i] && !p.t[i].pooled && bytes > widest) widest = bytes;
        }
        p.pool_block[c] = align_up(widest);
        for (int i = 0; i < g.n_tensors; ++i)
            if (candidate[i] && !p.t[i].pooled && 4 * size_t(p.t[i].row) * sizeof(kernels::act_t) >= 3 * widest) {
                p.t[i].pooled = true;
                p.t[i].pool_class = int8_t(c);
            }
    }
    for (int q = 0; q < p.passes; ++q) {
        s.pass = q;
        detail_exec::pool_reset(g, p, m.pool, nullptr);
        walk(g, p, s, m);
    }
    for (int c = 0; c < kPoolClasses; ++c) p.pool_blocks[c] = m.pool.peak[c];
    // Memory, in this order: the shared buffer; tensors of both passes; tensors the second
    // pass is given whole; then the tensors of the first pass only and, over the same bytes,
    // those of the second only.
    enum { kShared, kBoth, kGiven, kFirst, kSecond, kGroups };
    size_t group_bytes[kGroups] = {};
    int group[kMaxTensors] = {};
    for (int i = 0; i < g.n_tensors; ++i) {
        BufferPlan& t = p.t[i];
        const Role first = role(g, p, i, 0), second = p.passes == 2 ? role(g, p, i, 1) : Role::absent;
        group[i] = m.shared[i] ? kShared
                   : second == Role::given ? kGiven
                   : first != Role::absent && second != Role::absent ? kBoth
                   : second != Role::absent ? kSecond : kFirst;
        // need counts rows from the oldest still needed (perhaps the border row -1) to the end
        // written; a ring of exactly that many never overwrites a row someone still reads.
        const int whole_rows = t.h + 2;
        t.ring = (whole || group[i] == kGiven || m.need[i] >= whole_rows) ? whole_rows : m.need[i];
        if (t.ring < 1) t.ring = 1;  // a tensor no pass uses still gets a valid view
        t.bytes = align_up(size_t(t.ring) * size_t(t.row) * sizeof(kernels::act_t));
        t.shared = m.shared[i];
        if (t.pooled) {  // no buffer: its ring rows are pool blocks
            t.bytes = 0;
            t.slot0 = p.pool_slots;
            p.pool_slots += t.ring;
            group[i] = kShared;
        } else if (group[i] == kShared) {
            if (t.bytes > group_bytes[kShared]) group_bytes[kShared] = t.bytes;
        } else {
            t.offset = group_bytes[group[i]];
            group_bytes[group[i]] += t.bytes;
        }
    }
    const size_t both = group_bytes[kShared], given = both + group_bytes[kBoth], one = given + group_bytes[kGiven];
    const size_t base[kGroups] = {0, both, given, one, one};
    for (int i = 0; i < g.n_tensors; ++i) p.t[i].offset += base[group[i]];
    const size_t last = group_bytes[kFirst] > group_bytes[kSecond] ? group_bytes[kFirst] : group_bytes[kSecond];
    size_t end = one + last;
    if (p.pool_slots) {
        p.pool_state_bytes = align_up(size_t(p.pool_slots) * detail_exec::kPoolSlotBytes);
        for (int c = 0; c < kPoolClasses; ++c) {
            p.pool_offset[c] = end;
            end += size_t(p.pool_blocks[c]) * p.pool_block[c];
            p.pool_state_bytes += align_up(size_t(p.pool_blocks[c]) * sizeof(int32_t));
        }
        p.pool_zero_offset = end;
        end += p.pool_block[0];
        p.pool_state_offset = end;
        end += size_t(p.threads) * p.pool_state_bytes;
    }
    size_t scratch = 0;
    for (int k = 0; k < g.n_ops; ++k) {
        const size_t n = scratch_floats(g, g.ops[k], p.t[g.ops[k].out].w);
        if (n > scratch) scratch = n;
    }
    p.scratch_offset = end;
    p.scratch_bytes = align_up(scratch * sizeof(float));
    end += size_t(p.threads) * p.scratch_bytes;
    p.arena_bytes = end + kArenaSlack;
    return p;
}

// The view of tensor t: a ring of rows (View::row_at finds them).
inline View ring_view(const Plan& p, int t, unsigned char* arena) {
    const BufferPlan& b = p.t[t];
    View v;
    v.h = b.h;
    v.w = b.w;
    v.c = b.c;
    v.px = b.c;
    v.row = b.row;
    v.ring = b.ring;
    v.data = reinterpret_cast<kernels::act_t*>(arena + b.offset) + b.c;
    return v;
}

// Zeroes the left and right border pixels of every ring row and the top border row (row -1):
// what the kernels read as padding, for the tensors of one pass. Done at the start of each pass
// (another model, or the first pass, may have used the memory in between).
inline void clear_borders(const Graph& g, const Plan& p, unsigned char* arena, int pass) {
    for (int i = 0; i < g.n_tensors; ++i) {
        if (role(g, p, i, pass) == Role::absent || p.t[i].pooled) continue;  // pool rows: zeroed as taken
        const BufferPlan& b = p.t[i];
        using kernels::act_t;  // all bits zero is 0.0 in float32 and float16 alike
        act_t* base = reinterpret_cast<act_t*>(arena + b.offset);
        std::memset(base, 0, size_t(b.row) * sizeof(act_t));
        for (int r = 1; r < b.ring; ++r) {
            act_t* row = base + ptrdiff_t(r) * b.row;
            std::memset(row, 0, size_t(b.c) * sizeof(act_t));
            std::memset(row + ptrdiff_t(b.w + 1) * b.c, 0, size_t(b.c) * sizeof(act_t));
        }
    }
}

// Runs op k on output rows [y0, y1) of the given views; `scratch`: the thread's kernel scratch.
inline void run_op(const Op& o, const View& in, const View& full_out, int y0, int y1, float* scratch) {
    const View out = full_out.channels(o.out_offset, o.cout);
    if (o.kind == OpKind::upsample_add) {
        kernels::active::upsample_nearest_add(in, out, y0, y1);
        return;
    }
    if (o.then_pw) {
#if !FACEMASK_SIMD
        if (o.w.f16) {  // in place, either half of a fused block may be float16
            if (o.w2.f16) run_dw_then_pw(o, in, out, o.w.f16, o.w2.f16, y0, y1, scratch);
            else run_dw_then_pw(o, in, out, o.w.f16, o.w2.f32, y0, y1, scratch);
            return;
        }
        if (o.w2.f16) {
            run_dw_then_pw(o, in, out, o.w.f32, o.w2.f16, y0, y1, scratch);
            return;
        }
#endif
        run_dw_then_pw(o, in, out, o.w.f32, o.w2.f32, y0, y1, scratch);
        return;
    }
#if !FACEMASK_SIMD
    if (o.w.f16) {  // packed (SIMD) weights are always float32
        run_weighted(o, in, out, o.w.f16, y0, y1, scratch);
        return;
    }
#endif
    run_weighted(o, in, out, o.w.f32, y0, y1, scratch);
}

// Threads split a kernel call's columns in units of this many pixels (Runner::op): a Winograd
// tile for Winograd ops, else a pixel pair (the other kernels compute each pixel the same way
// wherever a slice starts, the AVX-512 ones that put two pixels in a vector included; pairs
// keep those vectors whole). Pairs, not tiles, where they do: the stride-32 rows, 20 pixels at
// 640x480, split 10/10 instead of 8/12 (fm_bench forward, 2 threads, Zen 4, medians of 200
// interleaved runs: 0.99x at 640x480, 0.99x at 320x240; small, but never worse).
constexpr int kColumnUnit = 4;
constexpr int kColumnPair = 2;

// The running walk of one thread. Source and Sink are the caller's:
//   source(const View& input, int y0, int y1, int part)  fills input rows [y0, y1) (thread
//       `part`'s share);
//   sink(int tensor, const View& v, int y0, int y1)  called on thread 0 only.
template <class Source, class Sink>
struct Runner {
    const Graph& g;
    const Plan& p;
    unsigned char* arena;
    Source& src;
    Sink& snk;
    WalkState s;
    int part = 0, parts = 1;
    detail_exec::RowPool pool;
    detail::Team* team = nullptr;  // FACEMASK_PTHREADS: the threads of this walk (null: OpenMP or one)

    void sync() const {
#if FACEMASK_OPENMP
        if (parts > 1) {
#pragma omp barrier
        }
#elif FACEMASK_TEAM
        if (parts > 1) team->barrier();
#endif
    }

    // This thread's share of rows [y0, y1), one row at a time or, for an op with row tiles, in
    // its whole tiles: from y0 (a tile boundary) to the next boundary, then `tile` rows each (the
    // first and the last may be short).
    void share(int y0, int y1, int* a, int* b, const Op* o = nullptr) const {
        const int tile = o ? tile_rows(*o) : 1;
        const int first = o ? tile_next(*o, y0) : y0 + 1;
        const int64_t n = first >= y1 ? 1 : 1 + (y1 - first + tile - 1) / tile;  // units
        auto start = [&](int64_t u) {
            const int64_t y = u == 0 ? y0 : first + (u - 1) * tile;
            return y < y1 ? int(y) : y1;
        };
        *a = start(n * part / parts);
        *b = start(n * (part + 1) / parts);
    }

    // The ring holds every row still needed: the planner sized it so (nothing moves). Pool
    // rows change hands here, in this thread's table (thread 0 zeroes their borders).
    void room(int t, int end, int keep) {
        (void)keep;
        FACEMASK_ASSERT(end - keep <= p.t[t].ring);
        if (p.pool_slots) detail_exec::pool_room(g, p, s, pool, t, end, part == 0);
    }

    View view(int t) const {
        View v = ring_view(p, t, arena);
        if (p.t[t].pooled) v.rows = pool.slot + p.t[t].slot0;
        return v;
    }

    void all_passes() {
        if (p.pool_slots) {
            unsigned char* mine = arena + p.pool_state_offset + size_t(part) * p.pool_state_bytes;
            pool.slot = reinterpret_cast<kernels::act_t**>(mine);
            mine += align_up(size_t(p.pool_slots) * detail_exec::kPoolSlotBytes);
            for (int c = 0; c < kPoolClasses; ++c) {
                pool.free[c] = reinterpret_cast<int32_t*>(mine);
                mine += align_up(size_t(p.pool_blocks[c]) * sizeof(int32_t));
            }
            pool.arena = arena;
        }
        for (int q = 0; q < p.passes; ++q) {
            if (part == 0) {
                clear_borders(g, p, arena, q);
                if (p.pool_slots) std::memset(detail_exec::pool_zero_row(p, arena, 0), 0, p.pool_block[0]);
            }
            if (p.pool_slots) detail_exec::pool_reset(g, p, pool, arena);
            sync();
            s.pass = q;
            walk(g, p, s, *this);
        }
    }

    void source(int y0, int y1) {
        int a, b;
        share(y0, y1, &a, &b);
        if (a < b) src(view(g.input), a, b, part);
        sync();
    }

    // Op k on output rows [y0, y1). Threads split a weighted op's call by columns, in units of
    // kColumnUnit pixels for Winograd ops (a tile), kColumnPair for the others (every other
    // kernel computes a pixel the same way wherever its row slice starts), so a pixel's result
    // is bit for bit the one-thread one. Columns, not rows: a step's call has a few rows at the
    // coarse levels (one Winograd tile, or one row, at strides 16 and 32), but always the whole
    // width, and each thread reads mostly the columns it wrote. The upsampling, whose source
    // pixel depends on the whole tensor's size, splits rows.
    void op(int k, int y0, int y1) {
        const Op& o = g.ops[k];
        float* scratch = reinterpret_cast<float*>(arena + p.scratch_offset + size_t(part) * p.scratch_bytes);
        if (parts == 1) {
            run_op(o, view(o.in), view(o.out), y0, y1, scratch);
        } else if (o.kind == OpKind::upsample_add) {
            int a, b;
            share(y0, y1, &a, &b, &o);
            if (a < b) run_op(o, view(o.in), view(o.out), a, b, scratch);
        } else {
            const int unit = o.wino ? kColumnUnit : kColumnPair;
            const int w = p.t[o.out].w, units = (w + unit - 1) / unit;
            const int x0 = units * part / parts * unit;
            const int end = units * (part + 1) / parts * unit, x1 = end < w ? end : w;
            if (x0 < x1) {
                const int stride = o.kind == OpKind::conv3x3s2 || o.kind == OpKind::dwconv3x3s2 ? 2 : 1;
                const int in_n = x1 == w ? p.t[o.in].w - stride * x0 : stride * (x1 - x0);  // the last slice: to the edge
                run_op(o, view(o.in).columns(stride * x0, in_n), view(o.out).columns(x0, x1 - x0), y0, y1, scratch);
            }
        }
        sync();
    }

    void finished(int t) {
        if (p.t[t].pooled) {  // row h: the zero block, in every thread's table
            pool.slot[p.t[t].slot0 + (p.t[t].h + 1) % p.t[t].ring] = detail_exec::pool_zero_row(p, arena, p.t[t].c);
            return;
        }
        if (part == 0) {
            const View v = view(t);
            std::memset(v.at(v.h, 0), 0, size_t(v.w) * size_t(v.px) * sizeof(kernels::act_t));
        }
        sync();
    }

    void sink(int t, int y0, int y1) {
        if (part == 0) snk(t, view(t), y0, y1);
        sync();  // the other threads may overwrite those ring rows next
    }
};

// Thread `part` of `parts` walks the whole plan (every thread the same schedule).
template <class Source, class Sink>
inline void run_part(const Graph& g, const Plan& p, unsigned char* arena, Source& src, Sink& snk, int part, int parts,
                     detail::Team* team) {
    Runner<Source, Sink> r{g, p, arena, src, snk, WalkState(), part, parts, detail_exec::RowPool(), team};
    r.all_passes();
}

// Runs plan p: with OpenMP on p.threads threads; with FACEMASK_PTHREADS on `team` (the
// Workspace's; null or p.threads == 1: the calling thread alone), as many of its threads as it
// has, up to p.threads (a plan for more threads runs on fewer, with the same results).
template <class Source, class Sink>
inline void run(const Graph& g, const Plan& p, unsigned char* arena, Source& src, Sink& snk,
                detail::Team* team = nullptr) {
#if FACEMASK_TEAM
    if (p.threads > 1 && team && team->size() > 1) {
        struct Context {
            const Graph* g;
            const Plan* p;
            unsigned char* arena;
            Source* src;
            Sink* snk;
            detail::Team* team;
        } c{&g, &p, arena, &src, &snk, team};
        team->run(p.threads, [](void* v, int part, int parts) {
            const Context& x = *static_cast<const Context*>(v);
            run_part(*x.g, *x.p, x.arena, *x.src, *x.snk, part, parts, x.team);
        }, &c);
        return;
    }
#else
    (void)team;
#endif
#if FACEMASK_OPENMP
    if (p.threads > 1) {
#pragma omp parallel num_threads(p.threads)
        run_part(g, p, arena, src, snk, omp_get_thread_num(), omp_get_num_threads(), nullptr);
        return;
    }
#endif
    run_part(g, p, arena, src, snk, 0, 1, nullptr);
}

}  // namespace graph
}  // namespace facemask
