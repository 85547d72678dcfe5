// decode_image: writes the pixels facemask decodes from a picture as a binary PPM (P6).
// Why: the PyTorch reference (tools/reference.py) must see exactly the pixels the engine sees;
// JPEG decoders differ by a grey level here and there, so the reference reads ours.
#define FACEMASK_STB_IMPLEMENTATION
#include <facemask/facemask.hpp>

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: decode_image PICTURE OUT.ppm\n");
        return 2;
    }
    facemask::Image img;
    facemask::Status st = img.load(argv[1]);
    if (!st) {
        std::fprintf(stderr, "decode_image: %s\n", st.message());
        return 1;
    }
    FILE* f = std::fopen(argv[2], "wb");
    if (!f) {
        std::fprintf(stderr, "decode_image: cannot write %s\n", argv[2]);
        return 1;
    }
    std::fprintf(f, "P6\n%d %d\n255\n", img.width(), img.height());
    const size_t bytes = size_t(img.width()) * size_t(img.height()) * 3;
    bool ok = std::fwrite(img.data(), 1, bytes, f) == bytes;
    ok = (std::fclose(f) == 0) && ok;
    return ok ? 0 : 1;
}
