// Built against the installed headers only: loads a detector blob and checks its self-test.
#include <facemask/facemask.hpp>

int main(int argc, char** argv) {
    if (argc != 2) return 2;
    facemask::Detector det;
    facemask::Status st = det.load_file(argv[1]);
    facemask::Workspace ws;
    if (st) st = det.self_test(ws);
    std::printf("%s\n", st ? "consumer: detector loaded, self-test passed" : st.message());
    return st ? 0 : 1;
}
