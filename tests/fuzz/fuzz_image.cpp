// tests/fuzz/fuzz_image.cpp — picture decoding (JPEG, PNG, BMP through the segment validator
// and stb_image) and the EXIF orientation parser, with a small pixel budget (256 K pixels) so
// that one run stays well under libFuzzer's 1 s limit in the sanitized build (a 4 M pixel
// budget took > 1 s there, decoding plus the harness's pixel walk).
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    facemask::Image img;
    const facemask::Status st = img.load_memory(data, size, 256L * 1024);
    if (st.ok()) {
        // Touch every pixel: a decoder that reports success must have written them.
        unsigned sum = 0;
        for (int y = 0; y < img.height(); ++y)
            for (int x = 0; x < img.width() * 3; ++x) sum += img.row(y)[x];
        if (img.width() < 1 || img.height() < 1) std::abort();
        (void)sum;
    } else if (!*st.message()) {
        std::abort();  // a failure must say why
    }
    const int o = facemask::Image::exif_orientation(data, size);
    if (o < 1 || o > 8) std::abort();
    return 0;
}
