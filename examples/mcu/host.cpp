// host.cpp — the native companion of the Cortex-M example, built from the same single header in
// the same configuration as the firmware (scalar kernels, one thread):
//
//   host picture IN.jpg OUT.ppm WxH
//       decodes a picture (stb) and resamples it to WxH with the engine's own resampler (PIL's
//       antialiased bilinear), rounded to 8 bits, as a binary PPM: the pixels the MCU reads.
//   host run DETECTOR.fmb CLASSIFIER.fmb PICTURE.ppm [--top-k N] [--offset B]
//       the reference: exactly what main.cpp does (app.hpp), printing the same text, in one
//       block of exactly Pipeline::workspace_bytes_for() bytes taken from the heap and started
//       B bytes past a 64-byte boundary (default 4: a 4-byte aligned block that use_memory()
//       must align itself, losing 60 bytes of it).
//
//   g++ -std=gnu++17 -O2 -DFACEMASK_NO_SIMD -DFACEMASK_NO_OPENMP -I single_include
//       -isystem /usr/include/stb examples/mcu/host.cpp -o host      (build.sh does this)
#define FACEMASK_STB_IMPLEMENTATION
#include "facemask.hpp"

#include "app.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

using namespace facemask;

void emit(const char* text, size_t n) { std::fwrite(text, 1, n, stdout); }

unsigned char* read_all(const char* path, size_t* size) {
    FILE* f = std::fopen(path, "rb");
    if (!f) return nullptr;
    std::fseek(f, 0, SEEK_END);
    const long n = std::ftell(f);
    std::fseek(f, 0, SEEK_SET);
    unsigned char* p = n > 0 ? static_cast<unsigned char*>(std::aligned_alloc(64, (size_t(n) + 63) / 64 * 64)) : nullptr;
    if (p && std::fread(p, 1, size_t(n), f) != size_t(n)) std::free(p), p = nullptr;
    std::fclose(f);
    *size = size_t(n);
    return p;
}

int picture(const char* in, const char* out, const char* size) {
#if defined(FACEMASK_HALF_ACTIVATIONS)
    // float16 would round the resampled 0..255 values before they become bytes: pictures are
    // made by the float32 host, so both configurations see the same pixels.
    (void)in, (void)out, (void)size;
    return std::fprintf(stderr, "host: built with FACEMASK_HALF_ACTIVATIONS; make pictures with the float32 host\n"), 2;
#else
    int W = 0, H = 0;
    if (std::sscanf(size, "%dx%d", &W, &H) != 2 || W < 1 || H < 1) return std::fprintf(stderr, "host: bad size '%s'\n", size), 2;
    Image img;
    Status st = img.load(in);
    if (!st) return std::fprintf(stderr, "host: %s\n", st.message()), 1;
    // Identity normalisation: the resampler's float output is the 0..255 pixel value.
    detail::InputNorm norm;
    for (int k = 0; k < 3; ++k) norm.component[k] = k, norm.mean[k] = 0.0f, norm.scale[k] = 1.0f;
    float* px = static_cast<float*>(std::malloc(size_t(W) * H * 3 * sizeof(float)));
    const size_t scratch_bytes = resample_scratch_bytes(img.width(), img.height(), W, H);
    unsigned char* scratch = static_cast<unsigned char*>(std::aligned_alloc(64, align_up(scratch_bytes ? scratch_bytes : 64)));
    kernels::View v;
    v.data = px, v.h = H, v.w = W, v.c = 3, v.px = 3, v.row = ptrdiff_t(W) * 3;
    preprocess(img.view(), norm, v, scratch);
    FILE* f = std::fopen(out, "wb");
    if (!f) return std::fprintf(stderr, "host: cannot write %s\n", out), 1;
    std::fprintf(f, "P6\n%d %d\n255\n", W, H);
    for (size_t i = 0; i < size_t(W) * H * 3; ++i) {
        float x = std::floor(px[i] + 0.5f);
        std::fputc(x < 0 ? 0 : x > 255 ? 255 : int(x), f);
    }
    std::free(px);
    std::free(scratch);
    if (std::fclose(f) != 0) return 1;
    std::fprintf(stderr, "host: %s (%dx%d) -> %s (%dx%d)\n", in, img.width(), img.height(), out, W, H);
    return 0;
#endif
}

int run(const char* det_path, const char* cls_path, const char* pic_path, int top_k, int offset) {
    size_t nd = 0, nc = 0, np = 0;
    unsigned char* d = read_all(det_path, &nd);
    unsigned char* c = read_all(cls_path, &nc);
    unsigned char* p = read_all(pic_path, &np);
    if (!d || !c || !p) return std::fprintf(stderr, "host: cannot read the blobs or the picture\n"), 1;
    Pipeline fm;
    const Status st = fm.load_memory(d, nd, c, nc, Ownership::borrow);
    if (!st) return std::fprintf(stderr, "host: %s\n", st.message()), 1;
    int w = 0, h = 0;
    size_t offset_in_file = 0;
    if (!fm_mcu::parse_ppm(p, np, &w, &h, &offset_in_file))
        return std::fprintf(stderr, "host: %s is not a binary PPM\n", pic_path), 2;
#if defined(FM_MCU_RGB565)
    // The firmware's frame: the same pixels packed as RGB565.
    unsigned char* packed = static_cast<unsigned char*>(std::malloc(size_t(w) * h * 2));
    if (!packed) return std::fprintf(stderr, "host: cannot allocate the frame\n"), 1;
    fm_mcu::pack_rgb565(p + offset_in_file, size_t(w) * h, packed);
    const ImageView image(packed, w, h, PixelFormat::rgb565);
#else
    const ImageView image(p + offset_in_file, w, h, PixelFormat::rgb);
#endif
    const size_t bytes = fm.workspace_bytes_for(w, h, fm_mcu::options(top_k));
    unsigned char* storage = static_cast<unsigned char*>(std::aligned_alloc(64, align_up(size_t(offset) + bytes)));
    if (!storage) return std::fprintf(stderr, "host: cannot allocate %zu bytes\n", bytes), 1;
    std::printf("# facemask %s native reference, kernels: %s, arena %zu bytes at +%d from 64-byte alignment\n",
                FACEMASK_VERSION_STRING, simd_name(), bytes, offset);
    Workspace ws;
    ws.use_memory(storage + offset, bytes);
    const int rc = fm_mcu::run(fm, ws, image, top_k, emit);
    std::free(storage);
    std::free(d), std::free(c), std::free(p);
#if defined(FM_MCU_RGB565)
    std::free(packed);
#endif
    return rc;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 5 && !std::strcmp(argv[1], "picture")) return picture(argv[2], argv[3], argv[4]);
    if (argc >= 5 && !std::strcmp(argv[1], "run")) {
        int top_k = 5000, offset = 4;
        for (int i = 5; i < argc; i += 2) {
            if (i + 1 >= argc) return std::fprintf(stderr, "host: %s needs a value\n", argv[i]), 2;
            if (!std::strcmp(argv[i], "--top-k")) {
                if ((top_k = std::atoi(argv[i + 1])) < 1) return std::fprintf(stderr, "host: bad --top-k\n"), 2;
            } else if (!std::strcmp(argv[i], "--offset")) {
                if ((offset = std::atoi(argv[i + 1])) < 0 || offset > 63)
                    return std::fprintf(stderr, "host: bad --offset (0..63)\n"), 2;
            } else {
                return std::fprintf(stderr, "host: unknown option %s\n", argv[i]), 2;
            }
        }
        return run(argv[2], argv[3], argv[4], top_k, offset);
    }
    std::fprintf(stderr,
                 "usage: host picture IN OUT.ppm WxH\n"
                 "       host run DETECTOR.fmb CLASSIFIER.fmb PICTURE.ppm [--top-k N] [--offset B]\n");
    return 2;
}
