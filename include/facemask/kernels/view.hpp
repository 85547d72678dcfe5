// facemask/kernels/view.hpp — the activation tensor view every kernel takes.
//
// Activations are NHWC float32 (one picture, channels innermost). Every tensor in the arena is
// stored with a one-pixel zero border, so 3x3 kernels with padding 1 read the border instead of
// testing coordinates: `at(-1, -1)` and `at(h, w)` are valid reads. A view may cover a slice of
// the channels of a wider tensor (`px` > `c`): that is how the SSH branches write their part of
// the concatenation in place, with no copy.
#pragma once
#include "../config.hpp"

namespace facemask {
namespace kernels {

struct View {
    float* data = nullptr;  // pixel (0, 0), first channel of the view
    int h = 0, w = 0, c = 0;
    ptrdiff_t px = 0;   // floats from one pixel to the next
    ptrdiff_t row = 0;  // floats from one row to the next

    float* at(int y, int x) const { return data + y * row + x * px; }
};

// y = max(x, x * s): ReLU for s = 0, LeakyReLU for 0 < s < 1, identity for s = 1. One
// branch-free epilogue for every activation the networks use.
FACEMASK_INLINE float activate(float x, float s) {
    float y = x * s;
    return x > y ? x : y;
}

// Source index of nearest-neighbour upsampling from `in` to `out` pixels, as PyTorch's
// F.interpolate(mode='nearest'): min(floor(dst * in / out), in - 1).
constexpr int nearest_source(int dst, int in, int out) {
    const int s = int((int64_t(dst) * in) / out);
    return s < in - 1 ? s : in - 1;
}

// Output size of a 3x3 convolution with padding 1, or of a 1x1 one, for a given stride.
constexpr int conv_out(int in, int stride) { return (in - 1) / stride + 1; }

}  // namespace kernels
}  // namespace facemask
