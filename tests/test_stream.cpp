// tests/test_stream.cpp — the streaming executor (executor.hpp) against whole tensors.
//
// A small synthetic graph with every op kind and every way tensors connect in the real networks
// — stride-2 and stride-1 3x3 convolutions, depthwise + pointwise pairs, a tensor read by two
// ops, a coarse-to-fine upsample_add that makes a lateral wait, two ops writing channel slices
// of one output (the SSH concatenation), two output tensors — runs with random weights:
//   - planned whole (every tensor all rows, one kernel call per op: the plain executor), and
//   - in row bands of 1, 2, 3 and 7 input rows, on 1 and 2 threads (2 threads split each
//     kernel call's columns: a pixel's result must not depend on where a slice ends),
// on sizes chosen to be odd, tiny (1 row) and wider than tall. Banded outputs must equal the
// whole run bit for bit (the same kernels on the same rows), and each ring must be smaller
// than the tensor when the picture is tall.
#include "test_support.hpp"

#include <cstring>

namespace G = facemask::graph;

TEST_SUITE_BEGIN("stream");

namespace {

using fmtest::Rng;

// The synthetic network, its weights packed for the active kernels.
struct Net {
    G::Graph g;
    std::vector<std::vector<float>> raw;  // weights and biases, kept alive
    facemask::Buffer packed;
    int out_a = 0, out_b = 0, out_c = 0;
    int t2 = 0, t5d = 0, t7d = 0;  // depthwise outputs read only by a pointwise convolution
    int merged = 0;       // written by a 3x3 stride-1 convolution and read by one
    int deferred_from = 0, deferred_to = 0;  // ops of the branch a two-pass plan runs second
    bool fused = false;   // three of the depthwise + pointwise pairs (stride 1, 1, 2) as one op each (Op::then_pw)

    const float* make(size_t n, Rng& rng) {
        raw.emplace_back(n);
        for (float& x : raw.back()) x = rng.next() * 0.5f;
        return raw.back().data();
    }

    void build(G::Packer& pk, uint32_t seed) {
        Rng rng(seed);
        raw.clear();
        g = G::Graph();
        const float slope = 0.1f;
        auto conv = [&](G::OpKind kind, int in, int out, int cin, int cout, int taps, int offset = 0) {
            const float* w = make(size_t(cout) * taps * cin, rng);
            const float* b = make(size_t(cout), rng);
            G::Weights wp;
            const float* bp = nullptr;
            pk.conv(G::Weights{w, nullptr}, b, cout, taps, cin, &wp, &bp);
            const float* up = nullptr;
            if (kind == G::OpKind::conv3x3s1) pk.wino(G::Weights{w, nullptr}, cout, cin, &up);
            g.add_op(kind, in, out, wp, bp, slope, offset, cout);
            g.ops[g.n_ops - 1].wino = up;
        };
        auto dw = [&](G::OpKind kind, int in, int out, int c) {
            const float* w = make(size_t(9) * c, rng);
            const float* b = make(size_t(c), rng);
            G::Weights wp;
            const float* bp = nullptr;
            pk.dw(G::Weights{w, nullptr}, b, c, &wp, &bp);
            g.add_op(kind, in, out, wp, bp, slope);
        };
        // A depthwise + pointwise pair; fused: one op, the same weights drawn in the same order.
        auto dw_pw = [&](G::OpKind kind, int in, int* mid, int out, int c, int cout) {
            if (!fused) {
                *mid = g.add_tensor(g.tensors[out].level, c);
                dw(kind, in, *mid, c);
                conv(G::OpKind::pwconv1x1, *mid, out, c, cout, 1);
                return;
            }
            *mid = -1;
            dw(kind, in, out, c);
            const float* w = make(size_t(cout) * c, rng);
            const float* b = make(size_t(cout), rng);
            G::Weights wp;
            const float* bp = nullptr;
            pk.conv(G::Weights{w, nullptr}, b, cout, 1, c, &wp, &bp);
            g.fuse_pointwise(g.n_ops - 1, wp, bp, slope);
        };
        g.input = g.add_tensor(0, 3);
        const int t1 = g.add_tensor(1, 8);
        conv(G::OpKind::conv3x3s2, g.input, t1, 3, 8, 9);
        const int t3 = g.add_tensor(1, 12);
        dw_pw(G::OpKind::dwconv3x3s1, t1, &t2, t3, 8, 12);
        const int t4 = g.add_tensor(2, 12);
        dw(G::OpKind::dwconv3x3s2, t3, t4, 12);
        const int t5 = g.add_tensor(2, 16);
        conv(G::OpKind::pwconv1x1, t4, t5, 12, 16, 1);  // never fused: t4 has a second reader
        const int t5p = g.add_tensor(2, 16);  // a second pair: unfused, t2 and t5d share a buffer
        dw_pw(G::OpKind::dwconv3x3s1, t5, &t5d, t5p, 16, 16);
        const int t6 = g.add_tensor(3, 16);
        conv(G::OpKind::conv3x3s2, t5p, t6, 16, 16, 9);
        deferred_from = g.n_ops;  // a two-pass plan runs the rest of out_a's branch second
        const int lat = g.add_tensor(2, 16);  // t5p's lateral, plus t6 upsampled
        conv(G::OpKind::pwconv1x1, t5p, lat, 16, 16, 1);
        g.add_op(G::OpKind::upsample_add, t6, lat, G::Weights(), nullptr, 1.0f);
        merged = g.add_tensor(2, 16);  // two 3x3 stride-1 convolutions in a row (Winograd tiles line up)
        conv(G::OpKind::conv3x3s1, lat, merged, 16, 16, 9);
        out_a = g.add_tensor(2, 24, true);  // two writers: channel slices 0..15 and 16..23
        conv(G::OpKind::conv3x3s1, merged, out_a, 16, 16, 9, 0);
        conv(G::OpKind::conv3x3s1, t4, out_a, 12, 8, 9, 16);
        deferred_to = g.n_ops;
        out_b = g.add_tensor(3, 5, true);
        conv(G::OpKind::pwconv1x1, t6, out_b, 16, 5, 1);
        out_c = g.add_tensor(3, 8, true);  // a stride-2 pair into an output (fused: one op)
        dw_pw(G::OpKind::dwconv3x3s2, t5p, &t7d, out_c, 16, 8);
        // Two passes: t1..t4 computed again (the second pass reads t4), t5p and t6 kept whole.
        for (int k = 0; k <= g.tensors[t4].writers[0]; ++k) g.ops[k].branch = G::Branch::prefix;
        for (int k = deferred_from; k < deferred_to; ++k) g.ops[k].branch = G::Branch::deferred;
    }

    // winograd: the Packer's choice for the 3x3 stride-1 convolutions (1: Winograd in SIMD
    // builds, whose ops then run in 4-row tiles; 0: the direct kernel).
    explicit Net(int winograd = 1, bool fuse = false) {
        fused = fuse;
        G::Packer measure;
        measure.winograd = winograd;
        build(measure, 7);
        if (measure.used) {
            REQUIRE(packed.reserve(measure.used * sizeof(float)));
            G::Packer fill;
            fill.winograd = winograd;
            fill.base = reinterpret_cast<float*>(packed.data());
            build(fill, 7);
        }
        REQUIRE_FALSE(g.overflow);
        g.assign_phases();
    }
};

// Copies an input array in and every output row out, as the models' sources and sinks do.
struct Source {
    const std::vector<float>* in;
    int w;
    void operator()(const facemask::kernels::View& v, int y0, int y1, int) const {
        for (int y = y0; y < y1; ++y)
            for (int x = 0; x < w; ++x)
                for (int k = 0; k < 3; ++k) v.at(y, x)[k] = (*in)[(size_t(y) * w + x) * 3 + k];
    }
};
struct Sink {
    std::vector<float>* out[G::kMaxTensors];
    int rows_seen[G::kMaxTensors];
    void operator()(int t, const facemask::kernels::View& v, int y0, int y1) {
        CHECK(y0 == rows_seen[t]);  // rows arrive once, in order
        rows_seen[t] = y1;
        for (int y = y0; y < y1; ++y)
            std::memcpy(out[t]->data() + size_t(y) * v.w * v.c, v.at(y, 0), size_t(v.w) * v.c * sizeof(float));
    }
};

struct Result {
    std::vector<float> a, b, c;
};

Result run(const Net& net, const G::Plan& p, const std::vector<float>& input) {
    Result r;
    r.a.assign(size_t(p.t[net.out_a].h) * p.t[net.out_a].w * p.t[net.out_a].c, -1.0f);
    r.b.assign(size_t(p.t[net.out_b].h) * p.t[net.out_b].w * p.t[net.out_b].c, -1.0f);
    r.c.assign(size_t(p.t[net.out_c].h) * p.t[net.out_c].w * p.t[net.out_c].c, -1.0f);
    facemask::Buffer arena;
    REQUIRE(arena.reserve(p.arena_bytes));
    std::memset(arena.data(), 0x7f, p.arena_bytes);  // garbage the executor must not read
    Source src{&input, p.width};
    Sink sink{};
    sink.out[net.out_a] = &r.a;
    sink.out[net.out_b] = &r.b;
    sink.out[net.out_c] = &r.c;
    G::run(net.g, p, arena.data(), src, sink);
    CHECK(sink.rows_seen[net.out_a] == p.t[net.out_a].h);
    CHECK(sink.rows_seen[net.out_b] == p.t[net.out_b].h);
    CHECK(sink.rows_seen[net.out_c] == p.t[net.out_c].h);
    return r;
}

}  // namespace

TEST_CASE("row bands give the whole-tensor results bit for bit, on 1 and 2 threads") {
  // winograd 1: Winograd ops with their tiles from row 0; 2..4: from row 1..3 (phase), and the
  // convolution reading `merged` one row earlier still (Graph::assign_phases).
  for (int winograd : {0, 1, 2, 3, 4}) {
    CAPTURE(winograd);
    Net net(winograd ? 1 : 0);
    int wino_ops = 0;
    for (int k = 0; k < net.g.n_ops; ++k) wino_ops += net.g.ops[k].wino != nullptr;
    CHECK(wino_ops == (winograd && FACEMASK_SIMD ? 3 : 0));
    G::Op& first = net.g.ops[net.g.tensors[net.merged].writers[0]];
    const G::Op& second = net.g.ops[net.g.tensors[net.merged].readers[0]];
    if (winograd) first.phase = int8_t(winograd - 1);
    net.g.assign_phases();
    if (wino_ops) {
        CHECK(first.phase == winograd - 1);
        CHECK(second.phase == (winograd + 2) % 4);  // one row before the writer's tiles
    }
    const int sizes[][2] = {{37, 29}, {16, 1}, {5, 64}, {23, 97}, {64, 8}};
    for (const auto& sz : sizes) {
        const int w = sz[0], h = sz[1];
        Rng rng(uint32_t(w * 131 + h));
        std::vector<float> input(size_t(w) * h * 3);
        for (float& x : input) x = rng.next();
        // The reference: whole tensors, all input rows in one band (each op computes all it can
        // in one call; Winograd ops then cover most rows with whole tiles).
        const G::Plan whole = G::make_plan(net.g, w, h, h, 1, true);
        const Result want = run(net, whole, input);
        for (int band : {1, 2, 3, 7})
            for (int threads : {1, 2}) {
                CAPTURE(w);
                CAPTURE(h);
                CAPTURE(band);
                CAPTURE(threads);
                const G::Plan p = G::make_plan(net.g, w, h, band, threads);
                CHECK(p.scratch_offset <= whole.scratch_offset);  // the tensors (scratch is per thread)
                if (band == 1 && threads == 1 && h > 1) {  // one row at a time: the two take turns in one buffer
                    CHECK(p.t[net.t2].shared);
                    CHECK(p.t[net.t5d].shared);
                    CHECK(p.t[net.t2].offset == p.t[net.t5d].offset);
                }
                if (h > 8 && w > 8) {  // both row pools in use: 12-channel rows at level 1, 16 at level 2
                    CHECK(p.pool_blocks[0] > 0);
                    CHECK(p.pool_blocks[1] > 0);
                    CHECK(p.pool_block[1] < p.pool_block[0]);
                }
                const Result got = run(net, p, input);
                CHECK(std::memcmp(got.a.data(), want.a.data(), want.a.size() * sizeof(float)) == 0);
                CHECK(std::memcmp(got.b.data(), want.b.data(), want.b.size() * sizeof(float)) == 0);
            }
    }
  }
}

// All three outputs of `got` equal `want`'s, bit for bit.
static void check_same_outputs(const Result& got, const Result& want) {
    CHECK(std::memcmp(got.a.data(), want.a.data(), want.a.size() * sizeof(float)) == 0);
    CHECK(std::memcmp(got.b.data(), want.b.data(), want.b.size() * sizeof(float)) == 0);
    CHECK(std::memcmp(got.c.data(), want.c.data(), want.c.size() * sizeof(float)) == 0);
}

TEST_CASE("fused depthwise + pointwise blocks give the two ops' results bit for bit, in bands and threads") {
    const Net net;              // every pair two ops
    const Net fused(1, true);   // three of the pairs one op each
    int fused_ops = 0;
    for (int k = 0; k < fused.g.n_ops; ++k) fused_ops += fused.g.ops[k].then_pw;
    CHECK(fused_ops == 3);
    CHECK(fused.g.n_ops == net.g.n_ops - 3);
    CHECK(fused.g.n_tensors == net.g.n_tensors - 3);
    const int sizes[][2] = {{37, 29}, {16, 1}, {5, 64}, {23, 97}, {64, 8}, {3, 3}};
    for (const auto& sz : sizes) {
        const int w = sz[0], h = sz[1];
        Rng rng(uint32_t(w * 313 + h));
        std::vector<float> input(size_t(w) * h * 3);
        for (float& x : input) x = rng.next();
        const Result want = run(net, G::make_plan(net.g, w, h, h, 1, true), input);
        CAPTURE(w);
        CAPTURE(h);
        const G::Plan whole = G::make_plan(fused.g, w, h, h, 1, true);
        check_same_outputs(run(fused, whole, input), want);
        for (int band : {1, 2, 7})
            for (int threads : {1, 2})
                for (int passes : {1, 2}) {
                    CAPTURE(band);
                    CAPTURE(threads);
                    CAPTURE(passes);
                    const G::Plan p = G::make_plan(fused.g, w, h, band, threads, false, passes);
                    const G::Plan unfused = G::make_plan(net.g, w, h, band, threads, false, passes);
                    // no buffer for the fused intermediates: no more tensor bytes
                    CHECK(p.scratch_offset <= unfused.scratch_offset);
                    check_same_outputs(run(fused, p, input), want);
                }
    }
}

TEST_CASE("two passes (the deferred branch second, the prefix recomputed) give the same results bit for bit") {
    const Net net;
    const int sizes[][2] = {{37, 29}, {16, 1}, {5, 64}, {23, 97}, {64, 8}};
    for (const auto& sz : sizes) {
        const int w = sz[0], h = sz[1];
        Rng rng(uint32_t(w * 977 + h));
        std::vector<float> input(size_t(w) * h * 3);
        for (float& x : input) x = rng.next();
        const Result want = run(net, G::make_plan(net.g, w, h, 1, 1, true), input);
        for (int band : {1, 3})
            for (int threads : {1, 2}) {
                CAPTURE(w);
                CAPTURE(h);
                CAPTURE(band);
                CAPTURE(threads);
                const G::Plan p = G::make_plan(net.g, w, h, band, threads, false, 2);
                REQUIRE(p.passes == 2);
                for (int k = 0; k < net.g.n_ops; ++k) {  // which ops run where
                    const bool deferred = k >= net.deferred_from && k < net.deferred_to;
                    CHECK(G::runs(net.g, p, k, 0) == !deferred);
                    CHECK(G::runs(net.g, p, k, 1) == (deferred || net.g.ops[k].branch == G::Branch::prefix));
                }
                const Result got = run(net, p, input);
                CHECK(std::memcmp(got.a.data(), want.a.data(), want.a.size() * sizeof(float)) == 0);
                CHECK(std::memcmp(got.b.data(), want.b.data(), want.b.size() * sizeof(float)) == 0);
            }
    }
}

TEST_CASE("rings hold a few rows: a taller picture needs no more memory") {
    const Net net;
    // Heights alike modulo 8 (the coarsest level's stride): the last rows of a picture come in
    // a burst whose size depends on that remainder.
    const G::Plan short_plan = G::make_plan(net.g, 40, 104, 1, 1);
    const G::Plan tall_plan = G::make_plan(net.g, 40, 1000, 1, 1);
    for (int t = 0; t < net.g.n_tensors; ++t) {
        CAPTURE(t);
        CHECK(tall_plan.t[t].ring == short_plan.t[t].ring);
        CHECK(tall_plan.t[t].shared == short_plan.t[t].shared);
    }
    CHECK(tall_plan.arena_bytes == short_plan.arena_bytes);
    for (int t = 0; t < net.g.n_tensors; ++t) {
        CAPTURE(t);
        CHECK(tall_plan.t[t].ring < tall_plan.t[t].h);
    }
    // A wider one needs proportionally more.
    const G::Plan wide_plan = G::make_plan(net.g, 80, 1000, 1, 1);
    CHECK(wide_plan.arena_bytes > tall_plan.arena_bytes);
}

TEST_SUITE_END();
