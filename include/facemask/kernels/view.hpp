// facemask/kernels/view.hpp — the activation tensor view every kernel takes.
//
// Activations are NHWC (one picture, channels innermost), stored as act_t: float32, or IEEE
// float16 with FACEMASK_HALF_ACTIVATIONS (kernels load them with act_load and store with
// act_store, and compute in float32 either way). Every tensor in the arena is
// stored with a one-pixel zero border, so 3x3 kernels with padding 1 read the border instead of
// testing coordinates: `at(-1, -1)` and `at(h, w)` are valid reads. A view may cover a slice of
// the channels of a wider tensor (`px` > `c`): that is how the SSH branches write their part of
// the concatenation in place, with no copy. Rows are reached through row_at(), never by adding
// `row` across rows: a streaming tensor keeps only a ring of rows.
#pragma once
#include "../config.hpp"

namespace facemask {
namespace kernels {

#if defined(FACEMASK_HALF_ACTIVATIONS)
using act_t = uint16_t;
#else
using act_t = float;
#endif

struct View {
    act_t* data = nullptr;  // pixel (0, 0) (ring: pixel 0 of ring row 0), first channel of the view
    int h = 0, w = 0, c = 0;
    ptrdiff_t px = 0;   // values from one pixel to the next
    ptrdiff_t row = 0;  // values from one row to the next
    int ring = 0;       // 0: rows follow each other; else a ring of this many rows, tensor row
                        // y (>= -1) at ring row (y + 1) % ring (the streaming executor's bands)
    act_t* const* rows = nullptr;  // with a ring: where each ring row is (the executor's row
                                   // pool hands rows out); null: ring rows follow each other
    ptrdiff_t first = 0;           // with rows: the view's first channel in each row (a slice)

    // Pixel 0 of row y. Kernels take it once per row (a ring costs one modulo a row). Always
    // inlined: a kernel unit compiled for AVX-512 must not leave its own copy of a function
    // outside its ISA namespace, which the linker could then pick for every unit.
    FACEMASK_INLINE act_t* row_at(int y) const {
        if (!ring) return data + ptrdiff_t(y) * row;
        const int r = (y + 1) % ring;
        return rows ? rows[r] + first : data + ptrdiff_t(r) * row;
    }
    FACEMASK_INLINE act_t* at(int y, int x) const { return row_at(y) + x * px; }

    // Pixels [x0, x0 + n) of every row: a column slice. Pixel -1 and pixel n of the slice are
    // the tensor's pixels x0 - 1 and x0 + n (its neighbours, or the zero borders at the ends),
    // so a 3x3 kernel on the slice computes exactly the slice's pixels of the whole row.
    View columns(int x0, int n) const {
        View v = *this;
        if (rows) v.first += x0 * px;
        else v.data += x0 * px;
        v.w = n;
        return v;
    }

    // Channels [c0, c0 + n) of this view (px stays: the pixels of the whole tensor).
    View channels(int c0, int n) const {
        View v = *this;
        if (rows) v.first += c0;
        else v.data += c0;
        v.c = n;
        return v;
    }
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

// IEEE binary16 -> float32, exactly (every half is a float). float16 weights are read through
// this, so a blob in flash can hold them at half the size. On Arm with the IEEE half format
// the compiler's conversion (one VCVTB on Cortex-M7/M55) is used; elsewhere the bits are moved.
FACEMASK_INLINE float half_to_float(uint16_t h) {
#if defined(__ARM_FP16_FORMAT_IEEE)
    __fp16 v;
    std::memcpy(&v, &h, sizeof v);
    return float(v);
#else
    const uint32_t sign = uint32_t(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu;
    uint32_t bits;
    if (exp == 0x1Fu) {
        bits = sign | 0x7F800000u | man << 13;  // infinity, NaN
    } else if (exp != 0) {
        bits = sign | (exp + 112u) << 23 | man << 13;  // normal: rebias 15 -> 127
    } else if (man == 0) {
        bits = sign;  // signed zero
    } else {  // subnormal: normalise the mantissa
        exp = 113;
        while (!(man & 0x400u)) {
            man <<= 1;
            --exp;
        }
        bits = sign | exp << 23 | (man & 0x3FFu) << 13;
    }
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
#endif
}

// float32 -> IEEE binary16, rounded to nearest, ties to even (as the hardware converts);
// beyond the half range: infinity; NaN stays NaN.
FACEMASK_INLINE uint16_t float_to_half(float f) {
#if defined(__ARM_FP16_FORMAT_IEEE)
    const __fp16 v = f;
    uint16_t h;
    std::memcpy(&h, &v, sizeof h);
    return h;
#else
    uint32_t x;
    std::memcpy(&x, &f, sizeof x);
    const uint16_t sign = uint16_t((x >> 16) & 0x8000u);
    const uint32_t a = x & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return uint16_t(sign | 0x7E00u);  // NaN
    if (a >= 0x477FF000u) return uint16_t(sign | 0x7C00u);  // >= 65520 rounds to infinity
    uint32_t m, shift;
    if (a >= 0x38800000u) {  // a normal half: rebias the exponent 127 -> 15, drop 13 bits
        m = a - 0x38000000u;
        shift = 13;
    } else {  // a subnormal half (units of 2^-24), or zero
        const uint32_t e = a >> 23;
        if (e < 102) return sign;  // below 2^-25: rounds to zero
        m = (a & 0x7FFFFFu) | 0x800000u;
        shift = 126 - e;
    }
    uint32_t h = m >> shift;
    const uint32_t rest = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rest > half || (rest == half && (h & 1u))) ++h;  // a carry into the exponent is right
    return uint16_t(sign | h);
#endif
}

// A weight as float, whatever the blob stores (kernels are templates over the weight type).
FACEMASK_INLINE float weight(float w) { return w; }
FACEMASK_INLINE float weight(uint16_t w) { return half_to_float(w); }

// An activation as float, and a float as an activation (act_t).
FACEMASK_INLINE float act_load(float v) { return v; }
FACEMASK_INLINE float act_load(uint16_t v) { return half_to_float(v); }
FACEMASK_INLINE act_t act_store(float v) {
#if defined(FACEMASK_HALF_ACTIVATIONS)
    return float_to_half(v);
#else
    return v;
#endif
}

}  // namespace kernels
}  // namespace facemask
