// tools/bench/xnnpack_bench.cpp — XNNPACK as a speed peer in tools/benchmark.py: the same
// RetinaFace-mnet0.25, built from the same facemask blob with XNNPACK's subgraph API (see
// xnnpack_retinaface.hpp for the two ops Debian's XNNPACK lacks and what stands in for them).
//
//   xnnpack_bench --size 640x480 --threads 1 --runs 30 --warmup 5 [--weights BLOB]
//
// Times xnn_invoke_runtime on the same deterministic input as fm_bench --what forward (the
// runtime is set up once, outside the timing); prints one line "run <milliseconds>" per run.
#include "xnnpack_retinaface.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#ifndef FACEMASK_DEFAULT_WEIGHTS_DIR
#define FACEMASK_DEFAULT_WEIGHTS_DIR "weights"
#endif

namespace {

const char* kUsage =
    "usage: xnnpack_bench [--size WxH] [--threads N] [--runs R] [--warmup K] [--weights BLOB]\n"
    "Times RetinaFace-mnet0.25 under XNNPACK (same blob as facemask); prints 'run <ms>' lines.\n"
    "defaults: 640x480, 1 thread (0 = all cores), 30 runs, 5 warm-up, the build's blob.\n";

bool parse_int(const char* s, long lo, long hi, int* out) {
    char* end = nullptr;
    const long v = std::strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi) return false;
    *out = int(v);
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    int width = 640, height = 480, threads = 1, runs = 30, warmup = 5;
    std::string weights = std::string(FACEMASK_DEFAULT_WEIGHTS_DIR) + "/retinaface_mnet025.fmb";
    for (int i = 1; i < argc; ++i) {
        const char* arg = argv[i];
        if (!std::strcmp(arg, "--help") || !std::strcmp(arg, "-h")) return std::fputs(kUsage, stdout), 0;
        if (i + 1 >= argc) return std::fprintf(stderr, "xnnpack_bench: %s needs a value\n%s", arg, kUsage), 2;
        const char* v = argv[++i];
        bool ok = true;
        if (!std::strcmp(arg, "--size")) {
            char* end = nullptr;
            const long a = std::strtol(v, &end, 10);
            ok = end != v && (*end == 'x' || *end == 'X');
            if (ok) {
                const char* rest = end + 1;
                const long b = std::strtol(rest, &end, 10);
                ok = end != rest && !*end && a >= 32 && b >= 32 && a <= 8192 && b <= 8192;
                width = int(a), height = int(b);
            }
        } else if (!std::strcmp(arg, "--threads"))
            ok = parse_int(v, 0, 256, &threads);
        else if (!std::strcmp(arg, "--runs"))
            ok = parse_int(v, 1, 1000000, &runs);
        else if (!std::strcmp(arg, "--warmup"))
            ok = parse_int(v, 0, 1000000, &warmup);
        else if (!std::strcmp(arg, "--weights"))
            weights = v;
        else
            return std::fprintf(stderr, "xnnpack_bench: unknown option '%s'\n%s", arg, kUsage), 2;
        if (!ok) return std::fprintf(stderr, "xnnpack_bench: bad value '%s' for %s\n", v, arg), 2;
    }
    if (threads == 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));

    std::vector<unsigned char> bytes;
    if (!xnnrf::read_bytes(weights.c_str(), &bytes))
        return std::fprintf(stderr, "xnnpack_bench: cannot read %s\n", weights.c_str()), 1;
    facemask::blob::Reader reader;
    const facemask::Status st = reader.open(bytes.data(), bytes.size());
    if (!st) return std::fprintf(stderr, "xnnpack_bench: %s: %s\n", weights.c_str(), st.message()), 1;
    xnnrf::Net net;
    if (!xnnrf::build(reader, width, height, threads, net))
        return std::fprintf(stderr, "xnnpack_bench: %s\n", net.error.c_str()), 1;

    const std::vector<float> input = xnnrf::forward_input(width, height);
    std::vector<float> heads[3];
    if (!xnnrf::run(net, input.data(), heads)) return std::fprintf(stderr, "xnnpack_bench: %s\n", net.error.c_str()), 1;
    std::vector<double> ms(static_cast<size_t>(runs));
    for (int i = 0; i < warmup + runs; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        const bool ok = xnn_invoke_runtime(net.runtime) == xnn_status_success;
        const auto t1 = std::chrono::steady_clock::now();
        if (!ok) return std::fprintf(stderr, "xnnpack_bench: xnn_invoke_runtime failed\n"), 1;
        if (i >= warmup) ms[size_t(i - warmup)] = std::chrono::duration<double, std::milli>(t1 - t0).count();
    }
    for (double t : ms) std::printf("run %.3f\n", t);
    return std::fflush(stdout) == 0 ? 0 : 1;
}
