// arena_size — how much memory facemask needs for a network input size, asked of the library
// itself (so a firmware's static arena can never drift from what the engine plans).
//
//   arena_size DETECTOR.fmb CLASSIFIER.fmb --header OUT.h WxH [--top-k N]
//       writes a header with the size of the one static block an MCU build hands to
//       Workspace::use_memory() for Pipeline::run on WxH pictures analysed at their own size
//       (Scale::native(), one thread, top_k candidates, split_fpn: examples/mcu/app.hpp's options):
//         FM_MCU_ARENA_BYTES = Pipeline::workspace_bytes_for(W, H, those options)
//       It includes the 64 bytes use_memory() may lose aligning the block, so the block needs
//       no particular alignment. The header names the detector's and classifier's shares in a
//       comment (the classifier runs in the detector's work memory after it).
//   arena_size DETECTOR.fmb CLASSIFIER.fmb --report [--top-k N] [--split-fpn] WxH...
//       prints, per input size, the row-band plan: the pipeline's block, the detector's part,
//       the classifier's, and the biggest rings, as Markdown.
//   arena_size DETECTOR.fmb CLASSIFIER.fmb --tensors [--split-fpn] WxH
//       prints the detector's buffers for one input size (level, channels, ring rows, bytes),
//       largest first: where the memory goes.
//   --split-fpn: DetectOptions::split_fpn (the FPN's stride-8 branch in a second pass); the
//   header mode always uses it, as the firmware does. --threads N (--report, --tensors): the
//   plan for N threads (a build with OpenMP).
//
// Built natively from the single header with the scalar configuration, like the firmware:
//   g++ -std=gnu++17 -O2 -DFACEMASK_NO_SIMD -DFACEMASK_NO_OPENMP -I single_include tools/arena_size.cpp
// The sizes do not depend on the host: every structure counted is made of floats and int32.
// -DARENA_SIZE_NATIVE keeps the build's own kernel set (SIMD plans: Winograd scratch and tiles)
// and OpenMP, for the native figures:
//   g++ -std=gnu++17 -O2 -march=native -fopenmp -DARENA_SIZE_NATIVE -I single_include tools/arena_size.cpp
#ifndef ARENA_SIZE_NATIVE
#ifndef FACEMASK_NO_SIMD
#define FACEMASK_NO_SIMD
#endif
#ifndef FACEMASK_NO_OPENMP
#define FACEMASK_NO_OPENMP
#endif
#endif
#include "facemask.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

using namespace facemask;

struct File {
    unsigned char* data = nullptr;
    size_t size = 0;
    ~File() { std::free(data); }
};

bool read_all(const char* path, File* f) {
    FILE* fp = std::fopen(path, "rb");
    if (!fp) return false;
    std::fseek(fp, 0, SEEK_END);
    long n = std::ftell(fp);
    std::fseek(fp, 0, SEEK_SET);
    if (n <= 0) return std::fclose(fp), false;
    f->data = static_cast<unsigned char*>(std::aligned_alloc(64, (size_t(n) + 63) / 64 * 64));
    f->size = size_t(n);
    bool ok = f->data && std::fread(f->data, 1, f->size, fp) == f->size;
    std::fclose(fp);
    return ok;
}

bool parse_size(const char* s, int* w, int* h) {
    char* end = nullptr;
    long a = std::strtol(s, &end, 10);
    if (end == s || (*end != 'x' && *end != 'X')) return false;
    const char* t = end + 1;
    long b = std::strtol(t, &end, 10);
    if (end == t || *end || a < 1 || b < 1 || a > 8192 || b > 8192) return false;
    *w = int(a), *h = int(b);
    return true;
}

// The graphs, rebuilt from the blobs with the library's own builders (scalar: weights in place).
double kib(size_t b) { return double(b) / 1024.0; }

int usage() {
    std::fprintf(stderr,
                 "usage: arena_size DETECTOR.fmb CLASSIFIER.fmb --header OUT.h WxH [--top-k N]\n"
                 "       arena_size DETECTOR.fmb CLASSIFIER.fmb --report [--top-k N] [--split-fpn] [--threads N] WxH...\n"
                 "       arena_size DETECTOR.fmb CLASSIFIER.fmb --tensors [--top-k N] [--split-fpn] [--threads N] WxH\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 5) return usage();
    File fd, fc;
    if (!read_all(argv[1], &fd)) return std::fprintf(stderr, "arena_size: cannot read %s\n", argv[1]), 1;
    if (!read_all(argv[2], &fc)) return std::fprintf(stderr, "arena_size: cannot read %s\n", argv[2]), 1;
    Pipeline fm;
    Status st = fm.load_memory(fd.data, fd.size, fc.data, fc.size, Ownership::borrow);
    if (!st) return std::fprintf(stderr, "arena_size: %s\n", st.message()), 1;
    const Detector& det = fm.detector();
    const Classifier& cls = fm.classifier();

    const char* header = nullptr;
    bool report = false, tensors = false, split = false;
    int top_k = 5000, threads = 1;
    int sizes[16][2];
    int n_sizes = 0;
    for (int i = 3; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--header") && i + 1 < argc) header = argv[++i];
        else if (!std::strcmp(argv[i], "--report")) report = true;
        else if (!std::strcmp(argv[i], "--tensors")) tensors = true;
        else if (!std::strcmp(argv[i], "--split-fpn")) split = true;
        else if (!std::strcmp(argv[i], "--top-k") && i + 1 < argc) top_k = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
        else if (n_sizes < 16 && parse_size(argv[i], &sizes[n_sizes][0], &sizes[n_sizes][1])) ++n_sizes;
        else return usage();
    }
    if (top_k < 1 || threads < 1 || n_sizes == 0 || (header != nullptr) + report + tensors != 1 || ((header || tensors) && n_sizes != 1))
        return usage();

    const int cw = cls.input_width(), ch = cls.input_height();
    if (header) {
        const int W = sizes[0][0], H = sizes[0][1];
        PipelineOptions opt;  // as examples/mcu/app.hpp's fm_mcu::options(top_k)
        opt.detect.scale = Scale::native();
        opt.detect.top_k = top_k;
        opt.detect.threads = 1;
        opt.detect.split_fpn = true;
        const size_t total = fm.workspace_bytes_for(W, H, opt);
        opt.classify = false;
        const size_t det_bytes = fm.workspace_bytes_for(W, H, opt);
        const size_t cls_bytes = cls.workspace_bytes(cls.scratch_bytes(W, H));
        if (total == 0 || det_bytes == 0 || cls_bytes == 0 || total < det_bytes || total < cls_bytes)
            return std::fprintf(stderr, "arena_size: no workspace size for %dx%d (%zu, %zu, %zu)\n", W, H, total,
                                det_bytes, cls_bytes), 1;
        FILE* f = std::fopen(header, "w");
        if (!f) return std::fprintf(stderr, "arena_size: cannot write %s\n", header), 1;
        std::fprintf(f,
                     "/* GENERATED by tools/arena_size from %s and %s: do not edit, do not commit. */\n"
                     "#ifndef FM_MCU_ARENA_H\n#define FM_MCU_ARENA_H\n"
                     "#define FM_MCU_WIDTH %d\n#define FM_MCU_HEIGHT %d\n#define FM_MCU_TOP_K %d\n"
                     "/* Pipeline::workspace_bytes_for(%d, %d, native scale, top-k %d): the one use_memory() block;\n"
                     "   detection alone needs %zu, one classification %zu (it reuses the detector's work memory) */\n"
                     "#define FM_MCU_ARENA_BYTES %zuu\n#endif\n",
                     argv[1], argv[2], W, H, top_k, W, H, top_k, det_bytes, cls_bytes, total);
        if (std::fclose(f) != 0) return 1;
        std::printf("arena_size: %dx%d top-k %d: detector %zu, classifier %zu, arena %zu bytes -> %s\n", W, H, top_k,
                    det_bytes, cls_bytes, total, header);
        return 0;
    }

    if (tensors) {
        const int W = sizes[0][0], H = sizes[0][1];
        const graph::Plan p = det.memory_plan(W, H, threads, split);
        int order[graph::kMaxTensors];
        int n = 0;
        for (int i = 0; i < graph::kMaxTensors; ++i)
            if (p.t[i].bytes) order[n++] = i;
        for (int i = 1; i < n; ++i)  // largest first
            for (int j = i; j > 0 && p.t[order[j]].bytes > p.t[order[j - 1]].bytes; --j) std::swap(order[j], order[j - 1]);
        size_t sum = 0, pool = 0;
        std::printf("| tensor | size (h x w x c) | ring rows | KiB |\n|---|---|---|---|\n");
        for (int i = 0; i < n; ++i) {
            const graph::BufferPlan& b = p.t[order[i]];
            if (b.shared) pool = b.bytes > pool ? b.bytes : pool;
            else sum += b.bytes;
            std::printf("| %d | %d x %d x %d | %d | %.1f%s |\n", order[i], b.h, b.w, b.c, b.ring, kib(b.bytes),
                        b.shared ? " (shared)" : "");
        }
        for (int i = 0; i < graph::kMaxTensors; ++i)
            if (p.t[i].pooled)
                std::printf("| %d | %d x %d x %d | %d | pool %d |\n", i, p.t[i].h, p.t[i].w, p.t[i].c, p.t[i].ring,
                            p.t[i].pool_class);
        for (int c = 0; c < graph::kPoolClasses; ++c)
            std::printf("| pool %d | %d blocks of %zu B | | %.1f |\n", c, p.pool_blocks[c], p.pool_block[c],
                        kib(size_t(p.pool_blocks[c]) * p.pool_block[c]));
        std::printf("| zero block | | | %.1f |\n", kib(p.pool_slots ? p.pool_block[0] : 0));
        std::printf("| pool tables | %d threads x %zu B | | %.1f |\n", p.threads, p.pool_state_bytes,
                    kib(size_t(p.threads) * p.pool_state_bytes));
        std::printf("| kernel scratch | %d threads x %zu B | | %.1f |\n", p.threads, p.scratch_bytes,
                    kib(size_t(p.threads) * p.scratch_bytes));
        std::printf("| all | | | %.1f + %.1f shared (plan %.1f) |\n", kib(sum), kib(pool), kib(p.arena_bytes));
        PipelineOptions opt;
        opt.detect.scale = Scale::native();
        opt.detect.top_k = top_k;
        opt.detect.threads = threads;
        opt.detect.split_fpn = split;
        opt.classify = false;
        const size_t det_bytes = fm.workspace_bytes_for(W, H, opt);
        std::printf("| detection workspace (top-k %d) | | | %.1f (plan + resampling, candidates, faces) |\n", top_k,
                    kib(det_bytes));
        return 0;
    }

    std::printf("| input | Pipeline::workspace_bytes_for | detection alone | classifier (%dx%d) | largest ring |\n", cw, ch);
    std::printf("|---|---|---|---|---|\n");
    for (int i = 0; i < n_sizes; ++i) {
        const int W = sizes[i][0], H = sizes[i][1];
        PipelineOptions opt;
        opt.detect.scale = Scale::native();
        opt.detect.top_k = top_k;
        opt.detect.threads = threads;
        opt.detect.split_fpn = split;
        const size_t total = fm.workspace_bytes_for(W, H, opt);
        opt.classify = false;
        const size_t det_bytes = fm.workspace_bytes_for(W, H, opt);
        const graph::Plan p = det.memory_plan(W, H, threads, split);
        size_t biggest = 0;
        int rows = 0;
        for (const graph::BufferPlan& b : p.t)
            if (b.bytes > biggest) biggest = b.bytes, rows = b.ring;
        std::printf("| %dx%d | %zu (%.1f KiB) | %.1f KiB | %.1f KiB | %.1f KiB (%d rows) |\n", W, H, total, kib(total),
                    kib(det_bytes), kib(cls.workspace_bytes(cls.scratch_bytes(W, H))), kib(biggest), rows);
    }
    return 0;
}
