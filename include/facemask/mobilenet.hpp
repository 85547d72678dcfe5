// facemask/mobilenet.hpp — the MobileNetV1 body shared by the detector and the classifier:
// a 3x3 stride-2 convolution, then 13 depthwise-separable blocks (blob tensors b0 .. b13).
#pragma once
#include "blob.hpp"
#include "graph.hpp"

namespace facemask {
namespace detail {

constexpr int kMobileNetBlocks = 14;  // b0 (dense) + b1..b13 (depthwise separable)
// Output channels of each block at width 1.0, and each block's stride.
constexpr int kMobileNetChannels[kMobileNetBlocks] = {32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024};
constexpr int kMobileNetStride[kMobileNetBlocks] = {2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1};

// Tensor lookups by rank; `half_ok` lets convolution weights be float16.
inline Status find2(const blob::Reader& r, const char* name, uint32_t d0, uint32_t d1, blob::Tensor* t,
                    bool half_ok = false) {
    const uint32_t shape[2] = {d0, d1};
    return r.find(name, 2, shape, t, half_ok);
}
inline Status find1(const blob::Reader& r, const char* name, uint32_t d0, blob::Tensor* t) {
    return r.find(name, 1, &d0, t);
}
inline Status find3(const blob::Reader& r, const char* name, uint32_t d0, uint32_t d1, uint32_t d2, blob::Tensor* t,
                    bool half_ok = false) {
    const uint32_t shape[3] = {d0, d1, d2};
    return r.find(name, 3, shape, t, half_ok);
}
inline Status find4(const blob::Reader& r, const char* name, uint32_t d0, uint32_t d1, uint32_t d2, uint32_t d3,
                    blob::Tensor* t, bool half_ok = false) {
    const uint32_t shape[4] = {d0, d1, d2, d3};
    return r.find(name, 4, shape, t, half_ok);
}
inline graph::Weights weights_of(const blob::Tensor& t) { return graph::Weights{t.data, t.half}; }

// Adds "<prefix>.w" [cout, 3, 3, cin] / "<prefix>.b" as a dense 3x3 convolution.
inline Status add_conv3x3(const blob::Reader& r, graph::Graph& g, graph::Packer& pk, const char* prefix, int stride,
                          int in, int out, int cin, int cout, float slope, int out_offset = 0) {
    char name[40];
    blob::Tensor w, b;
    std::snprintf(name, sizeof name, "%s.w", prefix);
    FACEMASK_TRY(find4(r, name, uint32_t(cout), 3, 3, uint32_t(cin), &w, true));
    std::snprintf(name, sizeof name, "%s.b", prefix);
    FACEMASK_TRY(find1(r, name, uint32_t(cout), &b));
    graph::Weights wp;
    const float* bp = nullptr;
    pk.conv(weights_of(w), b.data, cout, 9, cin, &wp, &bp);
    const float* up = nullptr;
    if (stride == 1) pk.wino(weights_of(w), cout, cin, &up);
    const int k = g.n_ops;
    g.add_op(stride == 1 ? graph::OpKind::conv3x3s1 : graph::OpKind::conv3x3s2, in, out, wp, bp, slope, out_offset,
             cout);
    if (g.n_ops > k) g.ops[k].wino = up;
    return Status();
}

// Finds and packs "<prefix>.w" [cout, cin] / "<prefix>.b", a pointwise convolution.
inline Status pack_pwconv(const blob::Reader& r, graph::Packer& pk, const char* prefix, int cin, int cout,
                          graph::Weights* wp, const float** bp) {
    char name[40];
    blob::Tensor w, b;
    std::snprintf(name, sizeof name, "%s.w", prefix);
    FACEMASK_TRY(find2(r, name, uint32_t(cout), uint32_t(cin), &w, true));
    std::snprintf(name, sizeof name, "%s.b", prefix);
    FACEMASK_TRY(find1(r, name, uint32_t(cout), &b));
    pk.conv(weights_of(w), b.data, cout, 1, cin, wp, bp);
    return Status();
}

// Adds "<prefix>.w" [cout, cin] / "<prefix>.b" as a pointwise convolution.
inline Status add_pwconv(const blob::Reader& r, graph::Graph& g, graph::Packer& pk, const char* prefix, int in, int out,
                         int cin, int cout, float slope) {
    graph::Weights wp;
    const float* bp = nullptr;
    FACEMASK_TRY(pack_pwconv(r, pk, prefix, cin, cout, &wp, &bp));
    g.add_op(graph::OpKind::pwconv1x1, in, out, wp, bp, slope);
    return Status();
}

inline Status add_dwconv(const blob::Reader& r, graph::Graph& g, graph::Packer& pk, const char* prefix, int stride,
                         int in, int out, int c, float slope) {
    char name[40];
    blob::Tensor w, b;
    std::snprintf(name, sizeof name, "%s.w", prefix);
    FACEMASK_TRY(find3(r, name, 3, 3, uint32_t(c), &w, true));
    std::snprintf(name, sizeof name, "%s.b", prefix);
    FACEMASK_TRY(find1(r, name, uint32_t(c), &b));
    graph::Weights wp;
    const float* bp = nullptr;
    pk.dw(weights_of(w), b.data, c, &wp, &bp);
    g.add_op(stride == 1 ? graph::OpKind::dwconv3x3s1 : graph::OpKind::dwconv3x3s2, in, out, wp, bp, slope);
    return Status();
}

// The output tensors of the body a head can use, and their channel counts.
struct Backbone {
    int out[kMobileNetBlocks] = {};       // tensor id of each block's output
    int channels[kMobileNetBlocks] = {};
};

// Channels of block i at the blob's width multiplier (0 when not a whole number).
inline int mobilenet_channels(int block, uint32_t width_x1000) {
    const uint32_t scaled = uint32_t(kMobileNetChannels[block]) * width_x1000;
    return scaled % 1000 ? 0 : int(scaled / 1000);
}

// Adds b0 .. b13 reading from tensor `input` (3 channels at level 0).
inline Status add_mobilenet(const blob::Reader& r, graph::Graph& g, graph::Packer& pk, int input, float slope,
                            Backbone* body) {
    const uint32_t width = r.config().width_x1000;
    int level = 0, prev = input, cin = 3;
    char prefix[24];
    for (int i = 0; i < kMobileNetBlocks; ++i) {
        const int cout = mobilenet_channels(i, width);
        if (cout <= 0)
            return Status::fail(Error::bad_blob, "width multiplier %u/1000 gives a fractional channel count",
                                unsigned(width));
        const int stride = kMobileNetStride[i];
        if (stride == 2) ++level;
        if (i == 0) {
            const int out = g.add_tensor(level, cout);
            FACEMASK_TRY(add_conv3x3(r, g, pk, "b0", 2, prev, out, cin, cout, slope));
            prev = out;
        } else if (pk.fuse_blocks) {  // one op: the depthwise rows go to the pointwise kernel in scratch
            const int out = g.add_tensor(level, cout);
            const int k = g.n_ops;
            std::snprintf(prefix, sizeof prefix, "b%d.dw", i);
            FACEMASK_TRY(add_dwconv(r, g, pk, prefix, stride, prev, out, cin, slope));
            graph::Weights wp;
            const float* bp = nullptr;
            std::snprintf(prefix, sizeof prefix, "b%d.pw", i);
            FACEMASK_TRY(pack_pwconv(r, pk, prefix, cin, cout, &wp, &bp));
            g.fuse_pointwise(k, wp, bp, slope);
            prev = out;
        } else {
            const int mid = g.add_tensor(level, cin);
            const int out = g.add_tensor(level, cout);
            std::snprintf(prefix, sizeof prefix, "b%d.dw", i);
            FACEMASK_TRY(add_dwconv(r, g, pk, prefix, stride, prev, mid, cin, slope));
            std::snprintf(prefix, sizeof prefix, "b%d.pw", i);
            FACEMASK_TRY(add_pwconv(r, g, pk, prefix, mid, out, cin, cout, slope));
            prev = out;
        }
        body->out[i] = prev;
        body->channels[i] = cout;
        cin = cout;
    }
    return Status();
}

}  // namespace detail
}  // namespace facemask
