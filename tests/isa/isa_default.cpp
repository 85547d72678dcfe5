// tests/isa/isa_default.cpp — built by check.sh without any ISA flag: says which kernels the
// build uses and runs the detector blob's self-test (every kernel of the network) with them.
#include <facemask/facemask.hpp>

#include <cstdio>

int main(int argc, char** argv) {
    if (argc != 2) return 2;
    facemask::Detector det;
    facemask::Workspace ws;
    facemask::Status st = det.load_file(argv[1]);
    if (st) st = det.self_test(ws);
    if (!st) {
        std::fprintf(stderr, "%s\n", st.message());
        return 1;
    }
    std::printf("%s\n", facemask::simd_name());
    return 0;
}
