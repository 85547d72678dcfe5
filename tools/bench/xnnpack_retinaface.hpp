// tools/bench/xnnpack_retinaface.hpp — RetinaFace-mnet0.25 built with XNNPACK's subgraph API
// from the same facemask blob the engine runs (folded BN, OHWI weights), for the benchmark peer
// (xnnpack_bench) and its parity test (tests/test_xnnpack.cpp).
//
// Written against Debian's libxnnpack-dev 0.0~git20220216, which has no concatenate node:
//   * SSH: the concatenation of the three branches feeds only the (linear) 1x1 head after an
//     elementwise ReLU, so each branch gets its ReLU and its slice of the head's input columns,
//     and the three partial heads are summed with add2 (bias on the first). Same multiply-adds as
//     concat + one head, plus two small adds.
//   * FPN nearest 2x upsample: a depthwise (groups = F) 2x2 stride-2 deconvolution of ones, the
//     bottom/right output row cropped by padding when the finer level is odd. Then add2.
// Head outputs: one NHWC tensor per level, 16 * anchors channels (class logits, box offsets,
// landmark offsets), the layout of facemask's HeadOutputs.
#pragma once
#include <facemask/blob.hpp>
#include <facemask/mobilenet.hpp>
#include <facemask/retinaface.hpp>
#include <xnnpack.h>

#include "forward_input.hpp"

#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace xnnrf {

struct Net {
    xnn_subgraph_t subgraph = nullptr;
    xnn_runtime_t runtime = nullptr;
    pthreadpool_t pool = nullptr;
    uint32_t input_id = 0;
    uint32_t head_id[3] = {};
    size_t head_h[3] = {}, head_w[3] = {}, head_c = 0;
    std::vector<std::unique_ptr<std::vector<float>>> owned;  // weights made here (slices, ones)
    std::string error;

    Net() = default;
    Net(const Net&) = delete;
    Net& operator=(const Net&) = delete;
    ~Net() {
        if (runtime) xnn_delete_runtime(runtime);
        if (subgraph) xnn_delete_subgraph(subgraph);
        if (pool) pthreadpool_destroy(pool);
    }
};

namespace detail {

constexpr float kInf = std::numeric_limits<float>::infinity();

struct Builder {
    const facemask::blob::Reader& r;
    Net& net;
    bool ok = true;

    bool fail(const std::string& what) {
        if (ok) net.error = what;
        ok = false;
        return false;
    }
    bool check(xnn_status s, const char* what) { return s == xnn_status_success || fail(std::string("xnnpack: ") + what); }

    uint32_t value(size_t h, size_t w, size_t c, uint32_t flags = 0, uint32_t ext = XNN_INVALID_VALUE_ID) {
        const size_t dims[4] = {1, h, w, c};
        uint32_t id = XNN_INVALID_VALUE_ID;
        check(xnn_define_tensor_value(net.subgraph, xnn_datatype_fp32, 4, dims, nullptr, ext, flags, &id), "tensor");
        return id;
    }
    uint32_t constant(const float* data, std::vector<size_t> dims) {
        uint32_t id = XNN_INVALID_VALUE_ID;
        check(xnn_define_tensor_value(net.subgraph, xnn_datatype_fp32, dims.size(), dims.data(), data,
                                      XNN_INVALID_VALUE_ID, 0, &id),
              "constant");
        return id;
    }
    const float* own(std::vector<float> v) {
        net.owned.push_back(std::make_unique<std::vector<float>>(std::move(v)));
        return net.owned.back()->data();
    }
    // The blob tensor by name, float32 only (a float16 blob is refused, not converted).
    facemask::blob::Tensor find(const std::string& name) {
        for (uint32_t i = 0; i < r.tensor_count(); ++i) {
            facemask::blob::Tensor t = r.tensor(i);
            if (name == t.name) {
                if (!t.data) fail("tensor '" + name + "' is not float32 (use a float32 blob)");
                return t;
            }
        }
        fail("tensor '" + name + "' is missing");
        return facemask::blob::Tensor();
    }
    // The epilogue: slope 1 identity, 0 ReLU (folded into the node's clamp), else leaky ReLU.
    uint32_t act(uint32_t x, size_t h, size_t w, size_t c, float slope) {
        if (slope == 1.0f || slope == 0.0f) return x;
        const uint32_t y = value(h, w, c);
        check(xnn_define_leaky_relu(net.subgraph, slope, x, y, 0), "leaky_relu");
        return y;
    }
    static float lo(float slope) { return slope == 0.0f ? 0.0f : -kInf; }

    // Dense conv kxk (k 1 or 3, pad k/2) from "<prefix>.w" [cout, (k, k,) cin] / "<prefix>.b";
    // `w` may be given instead (a slice); `b` null gives no bias.
    uint32_t conv(uint32_t in, size_t& h, size_t& w, size_t cin, size_t cout, int k, int stride, const float* wt,
                  const float* b, float slope, uint32_t out_flags = 0, uint32_t ext = XNN_INVALID_VALUE_ID) {
        const uint32_t p = uint32_t(k / 2);
        const size_t oh = (h + 2 * p - size_t(k)) / size_t(stride) + 1, ow = (w + 2 * p - size_t(k)) / size_t(stride) + 1;
        const uint32_t fw = constant(wt, {cout, size_t(k), size_t(k), cin});
        const uint32_t fb = b ? constant(b, {cout}) : XNN_INVALID_VALUE_ID;
        const uint32_t y = value(oh, ow, cout, out_flags, ext);
        check(xnn_define_convolution_2d(net.subgraph, p, p, p, p, uint32_t(k), uint32_t(k), uint32_t(stride),
                                        uint32_t(stride), 1, 1, 1, cin, cout, lo(slope), kInf, in, fw, fb, y, 0),
              "convolution_2d");
        h = oh;
        w = ow;
        return act(y, h, w, cout, slope);
    }
    uint32_t conv_named(uint32_t in, size_t& h, size_t& w, size_t cin, size_t cout, int k, int stride,
                        const std::string& prefix, float slope) {
        const facemask::blob::Tensor wt = find(prefix + ".w"), b = find(prefix + ".b");
        if (!ok) return 0;
        if (wt.numel != cout * size_t(k * k) * cin || b.numel != cout) return fail("tensor '" + prefix + "' has a wrong shape"), 0;
        return conv(in, h, w, cin, cout, k, stride, wt.data, b.data, slope);
    }
    uint32_t dwconv(uint32_t in, size_t& h, size_t& w, size_t c, int stride, const std::string& prefix, float slope) {
        const facemask::blob::Tensor wt = find(prefix + ".w"), b = find(prefix + ".b");
        if (!ok) return 0;
        if (wt.numel != 9 * c || b.numel != c) return fail("tensor '" + prefix + "' has a wrong shape"), 0;
        const size_t oh = (h - 1) / size_t(stride) + 1, ow = (w - 1) / size_t(stride) + 1;
        const uint32_t fw = constant(wt.data, {1, 3, 3, c});  // the blob's [3, 3, c] is XNNPACK's [1, 3, 3, c]
        const uint32_t fb = constant(b.data, {c});
        const uint32_t y = value(oh, ow, c);
        check(xnn_define_depthwise_convolution_2d(net.subgraph, 1, 1, 1, 1, 3, 3, uint32_t(stride), uint32_t(stride),
                                                  1, 1, 1, c, lo(slope), kInf, in, fw, fb, y, 0),
              "depthwise_convolution_2d");
        h = oh;
        w = ow;
        return act(y, h, w, c, slope);
    }
    // Nearest upsample of `coarse` (ch x cw x c) to fh x fw, then + `fine`.
    uint32_t upsample_add(uint32_t coarse, size_t ch, size_t cw, uint32_t fine, size_t fh, size_t fw, size_t c) {
        if (2 * ch < fh || 2 * cw < fw || 2 * ch > fh + 1 || 2 * cw > fw + 1) return fail("FPN level sizes are not 2x"), 0;
        const float* ones = own(std::vector<float>(c * 4, 1.0f));
        const uint32_t fo = constant(ones, {c, 2, 2, 1});
        const uint32_t up = value(fh, fw, c);
        check(xnn_define_deconvolution_2d(net.subgraph, 0, uint32_t(2 * cw - fw), uint32_t(2 * ch - fh), 0, 0, 0, 2, 2,
                                          2, 2, 1, 1, uint32_t(c), 1, 1, -kInf, kInf, coarse, fo, XNN_INVALID_VALUE_ID,
                                          up, 0),
              "deconvolution_2d");
        const uint32_t y = value(fh, fw, c);
        check(xnn_define_add2(net.subgraph, -kInf, kInf, up, fine, y, 0), "add2");
        return y;
    }
};

}  // namespace detail

// Builds and creates the runtime for a w x h x 3 input (the normalised input facemask's
// Detector::forward takes) with `threads` pthreadpool threads. False: net.error says why.
inline bool build(const facemask::blob::Reader& r, int width, int height, int threads, Net& net) {
    namespace fd = facemask::detail;
    const facemask::blob::Config& c = r.config();
    if (!fd::check_retinaface_config(c)) return net.error = "blob is not the RetinaFace this graph implements", false;
    if (xnn_initialize(nullptr) != xnn_status_success) return net.error = "xnn_initialize failed", false;
    if (xnn_create_subgraph(4, 0, &net.subgraph) != xnn_status_success) return net.error = "xnn_create_subgraph failed", false;
    detail::Builder b{r, net};
    const float act = facemask::blob::epilogue_slope(c.activation, c.slope);
    const float ssh_act = facemask::blob::epilogue_slope(c.ssh_activation, c.ssh_slope);
    const size_t A = c.anchors;

    size_t h = size_t(height), w = size_t(width);
    net.input_id = b.value(h, w, 3, XNN_VALUE_FLAG_EXTERNAL_INPUT, 0);
    uint32_t x = b.conv_named(net.input_id, h, w, 3, size_t(fd::mobilenet_channels(0, c.width_x1000)), 3, 2, "b0", act);
    uint32_t tap[14];
    size_t th[14], tw[14], tc[14];
    size_t cin = size_t(fd::mobilenet_channels(0, c.width_x1000));
    tap[0] = x, th[0] = h, tw[0] = w, tc[0] = cin;
    for (int i = 1; i < fd::kMobileNetBlocks && b.ok; ++i) {
        const size_t cout = size_t(fd::mobilenet_channels(i, c.width_x1000));
        const int stride = fd::kMobileNetStride[i];
        x = b.dwconv(x, h, w, cin, stride, "b" + std::to_string(i) + ".dw", act);
        x = b.conv_named(x, h, w, cin, cout, 1, 1, "b" + std::to_string(i) + ".pw", act);
        cin = cout;
        tap[i] = x, th[i] = h, tw[i] = w, tc[i] = cout;
    }
    if (!b.ok) return false;

    // FPN, coarse to fine.
    const facemask::blob::Tensor probe = b.find("fpn.lat3.w");
    if (!b.ok) return false;
    const size_t F = probe.shape[0];
    uint32_t lat[3];
    size_t lh[3], lw[3];
    for (int k = 2; k >= 0 && b.ok; --k) {
        const int t = fd::kRetinaBodyTap[k];
        lh[k] = th[t], lw[k] = tw[t];
        lat[k] = b.conv_named(tap[t], lh[k], lw[k], tc[t], F, 1, 1, "fpn.lat" + std::to_string(k + 1), act);
        if (k < 2) {
            const uint32_t sum = b.upsample_add(lat[k + 1], lh[k + 1], lw[k + 1], lat[k], lh[k], lw[k], F);
            lat[k] = b.conv_named(sum, lh[k], lw[k], F, F, 3, 1, "fpn.merge" + std::to_string(k + 1), act);
        }
    }
    if (!b.ok) return false;

    // SSH + heads, the concatenation replaced by partial heads (see the file comment).
    net.head_c = 16 * A;
    for (int k = 0; k < 3 && b.ok; ++k) {
        const std::string s = "ssh" + std::to_string(k + 1);
        size_t hh = lh[k], ww = lw[k];
        size_t h3 = hh, w3 = ww, h5 = hh, w5 = ww;
        const uint32_t c3 = b.conv_named(lat[k], h3, w3, F, F / 2, 3, 1, s + ".c3", ssh_act);
        const uint32_t a5 = b.conv_named(lat[k], h5, w5, F, F / 4, 3, 1, s + ".c5a", act);
        size_t hb = hh, wb = ww;
        const uint32_t c5 = b.conv_named(a5, hb, wb, F / 4, F / 4, 3, 1, s + ".c5b", ssh_act);
        hb = hh, wb = ww;
        const uint32_t a7 = b.conv_named(a5, hb, wb, F / 4, F / 4, 3, 1, s + ".c7a", act);
        hb = hh, wb = ww;
        const uint32_t c7 = b.conv_named(a7, hb, wb, F / 4, F / 4, 3, 1, s + ".c7b", ssh_act);
        const facemask::blob::Tensor hw = b.find("head" + std::to_string(k + 1) + ".w");
        const facemask::blob::Tensor hbias = b.find("head" + std::to_string(k + 1) + ".b");
        if (!b.ok) return false;
        if (hw.numel != net.head_c * F || hbias.numel != net.head_c) return net.error = "head has a wrong shape", false;
        // Column slices [c0, c0 + n) of the head's [16A, F] weights.
        auto slice = [&](size_t c0, size_t n) {
            std::vector<float> v(net.head_c * n);
            for (size_t o = 0; o < net.head_c; ++o) std::memcpy(&v[o * n], hw.data + o * F + c0, n * sizeof(float));
            return b.own(std::move(v));
        };
        size_t ph = hh, pw = ww;
        const uint32_t p3 = b.conv(c3, ph, pw, F / 2, net.head_c, 1, 1, slice(0, F / 2), hbias.data, 1.0f);
        ph = hh, pw = ww;
        const uint32_t p5 = b.conv(c5, ph, pw, F / 4, net.head_c, 1, 1, slice(F / 2, F / 4), nullptr, 1.0f);
        ph = hh, pw = ww;
        const uint32_t p7 = b.conv(c7, ph, pw, F / 4, net.head_c, 1, 1, slice(3 * F / 4, F / 4), nullptr, 1.0f);
        const uint32_t s35 = b.value(hh, ww, net.head_c);
        b.check(xnn_define_add2(net.subgraph, -detail::kInf, detail::kInf, p3, p5, s35, 0), "add2");
        net.head_id[k] = b.value(hh, ww, net.head_c, XNN_VALUE_FLAG_EXTERNAL_OUTPUT, uint32_t(1 + k));
        b.check(xnn_define_add2(net.subgraph, -detail::kInf, detail::kInf, s35, p7, net.head_id[k], 0), "add2");
        net.head_h[k] = hh, net.head_w[k] = ww;
    }
    if (!b.ok) return false;
    net.pool = threads > 1 ? pthreadpool_create(size_t(threads)) : nullptr;
    return b.check(xnn_create_runtime_v2(net.subgraph, net.pool, 0, &net.runtime), "create_runtime");
}

// fm_bench's --what forward input, the same data in every engine.
using fmbench::forward_input;

// The whole file (the blob); false when it cannot be read.
inline bool read_bytes(const char* path, std::vector<unsigned char>* out) {
    std::FILE* f = std::fopen(path, "rb");
    if (!f) return false;
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out->insert(out->end(), buf, buf + n);
    const bool ok = !std::ferror(f);
    std::fclose(f);
    return ok;
}

// Binds the input and the head buffers (resized here) and runs the graph once.
inline bool run(Net& net, const float* input, std::vector<float> heads[3]) {
    xnn_external_value ext[4];
    ext[0] = {net.input_id, const_cast<float*>(input)};
    for (int k = 0; k < 3; ++k) {
        heads[k].resize(net.head_h[k] * net.head_w[k] * net.head_c);
        ext[1 + k] = {net.head_id[k], heads[k].data()};
    }
    if (xnn_setup_runtime(net.runtime, 4, ext) != xnn_status_success) return net.error = "xnn_setup_runtime failed", false;
    if (xnn_invoke_runtime(net.runtime) != xnn_status_success) return net.error = "xnn_invoke_runtime failed", false;
    return true;
}

}  // namespace xnnrf
