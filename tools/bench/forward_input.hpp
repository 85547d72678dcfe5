// tools/bench/forward_input.hpp — the input every forward-pass benchmark times (fm_bench,
// xnnpack_bench and its test; tools/bench/ort_bench.mjs makes the same data in JavaScript):
// values in the range of a mean-subtracted picture, so no zero or denormal shortcut can flatter
// anyone. h x w x 3, NHWC.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace fmbench {

inline std::vector<float> forward_input(int w, int h) {
    std::vector<float> data(size_t(w) * size_t(h) * 3);
    uint32_t state = 12345;
    for (float& v : data) {
        state = state * 1103515245u + 12345u;
        v = float(double(state) / 4294967296.0 * 255.0 - 117.0);
    }
    return data;
}

}  // namespace fmbench
