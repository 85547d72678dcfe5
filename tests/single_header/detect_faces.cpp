// detect_faces: the smallest program built against single_include/facemask.hpp alone. It prints
// the faces of a picture in example_annotate's JSON Lines schema, so check.sh can compare the
// single header, built several ways, with the main build.
#define FACEMASK_STB_IMPLEMENTATION
#include "facemask.hpp"

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: detect_faces DETECTOR.fmb CLASSIFIER.fmb PICTURE SCALE\n");
        return 2;
    }
    facemask::Pipeline fm;
    facemask::Status st = fm.load_files(argv[1], argv[2]);
    facemask::Image img;
    if (st) st = img.load(argv[3]);
    facemask::PipelineOptions opt;
    if (st && !opt.detect.scale.parse(argv[4])) st = facemask::Status::fail(facemask::Error::invalid_argument, "bad scale");
    facemask::Workspace ws;
    facemask::Faces faces;
    if (st) st = fm.run(ws, img.view(), opt, &faces);
    if (!st) {
        std::fprintf(stderr, "detect_faces: %s\n", st.message());
        return 1;
    }
    std::printf("{\"image\": \"%s\", \"width\": %d, \"height\": %d, \"kernels\": \"%s\", \"faces\": [", argv[3],
                img.width(), img.height(), facemask::simd_name());
    for (int i = 0; i < faces.size(); ++i) {
        const facemask::Face& f = faces[i];
        std::printf("%s{\"box\": [%.3f, %.3f, %.3f, %.3f], \"score\": %.6f, \"landmarks\": [", i ? ", " : "",
                    double(f.box.x1), double(f.box.y1), double(f.box.x2), double(f.box.y2), double(f.score));
        for (int j = 0; j < 5; ++j)
            std::printf("%s[%.3f, %.3f]", j ? ", " : "", double(f.landmarks[j].x), double(f.landmarks[j].y));
        std::printf("], \"mask\": %.6f}", double(f.mask));
    }
    std::printf("]}\n");
    return 0;
}
