// tests/xnnpack/test_xnnpack.cpp — the XNNPACK benchmark peer computes the same network: its
// raw head outputs (class logits, box offsets, landmark offsets of every cell and anchor, all
// three levels) against facemask's Detector::forward on the same blob and input, at 640x480 and
// at an odd size (the cropped upsample), 1 and 2 threads. Detector::forward itself is held to
// the PyTorch goldens by test_parity.cpp, so this ties the peer to the reference.
//
//   test_xnnpack BLOB
#include "../../tools/bench/xnnpack_retinaface.hpp"

#include <facemask/facemask.hpp>

#include <cmath>
#include <cstdio>
#include <type_traits>
#include <vector>

namespace {

// 0 when every value is within tol * max(1, |facemask|).
int check(const facemask::Detector& det, const facemask::blob::Reader& reader, int w, int h, int threads, float tol) {
    static_assert(std::is_same<facemask::kernels::act_t, float>::value, "this test reads float activations");
    const std::vector<float> input = xnnrf::forward_input(w, h);
    facemask::Workspace ws;
    facemask::HeadOutputs ref;
    const facemask::Status st = det.forward(ws, input.data(), w, h, 1, &ref);
    if (!st) return std::fprintf(stderr, "FAIL Detector::forward: %s\n", st.message()), 1;
    xnnrf::Net net;
    std::vector<float> got[3];
    if (!xnnrf::build(reader, w, h, threads, net) || !xnnrf::run(net, input.data(), got))
        return std::fprintf(stderr, "FAIL xnnpack %dx%d: %s\n", w, h, net.error.c_str()), 1;
    double worst = 0;
    size_t compared = 0;
    for (int k = 0; k < 3; ++k) {
        const facemask::kernels::View& v = ref.level[k];
        if (size_t(v.h) != net.head_h[k] || size_t(v.w) != net.head_w[k] || size_t(v.c) != net.head_c)
            return std::fprintf(stderr, "FAIL level %d: xnnpack %zux%zux%zu, facemask %dx%dx%d\n", k, net.head_h[k],
                                net.head_w[k], net.head_c, v.h, v.w, v.c),
                   1;
        for (int y = 0; y < v.h; ++y)
            for (int x = 0; x < v.w; ++x)
                for (int c = 0; c < v.c; ++c) {
                    const float a = v.at(y, x)[c], b = got[k][(size_t(y) * v.w + x) * v.c + c];
                    const double d = std::fabs(double(a) - b) / std::fmax(1.0, std::fabs(a));
                    if (!(d <= tol)) {
                        std::fprintf(stderr, "FAIL %dx%d threads %d level %d y %d x %d c %d: facemask %g xnnpack %g\n",
                                     w, h, threads, k, y, x, c, double(a), double(b));
                        return 1;
                    }
                    worst = std::fmax(worst, d);
                    ++compared;
                }
    }
    std::printf("ok %dx%d threads %d: %zu head values, max relative |d| %.3g (tolerance %g)\n", w, h, threads, compared,
                worst, double(tol));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) return std::fprintf(stderr, "usage: test_xnnpack BLOB\n"), 2;
    facemask::Detector det;
    facemask::Status st = det.load_file(argv[1]);
    if (!st) return std::fprintf(stderr, "FAIL %s: %s\n", argv[1], st.message()), 1;
    std::vector<unsigned char> bytes;
    if (!xnnrf::read_bytes(argv[1], &bytes)) return std::fprintf(stderr, "FAIL cannot read %s\n", argv[1]), 1;
    facemask::blob::Reader reader;
    st = reader.open(bytes.data(), bytes.size());
    if (!st) return std::fprintf(stderr, "FAIL %s: %s\n", argv[1], st.message()), 1;
    const float tol = 1e-3f;
    int failed = 0;
    failed += check(det, reader, 640, 480, 1, tol);
    failed += check(det, reader, 640, 480, 2, tol);
    failed += check(det, reader, 333, 251, 1, tol);  // odd level sizes: the cropped upsample
    std::printf("%d passed, %d failed\n", 3 - failed, failed);
    return failed ? 1 : 0;
}
