// example_annotate — finds the faces in pictures, draws them, and writes JSON Lines.
//
//   example_annotate [options] PICTURE...
//
// Exit codes: 0 every picture done; 1 a picture or the weights could not be read or written
// (the other pictures are still done); 2 bad command line.
#define FACEMASK_STB_IMPLEMENTATION
#include <facemask/facemask.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#ifndef FACEMASK_DEFAULT_WEIGHTS_DIR
#define FACEMASK_DEFAULT_WEIGHTS_DIR "weights"
#endif

namespace {

const char* kUsage =
    "usage: example_annotate [options] PICTURE...\n"
    "Finds the faces in each picture, draws boxes and landmarks, and optionally writes JSON Lines.\n"
    "\n"
    "options:\n"
    "  --output PATH      annotated picture (.png/.jpg); a folder when several pictures are given\n"
    "  --json FILE        one JSON object per picture (JSON Lines); '-' for standard output\n"
    "  --conf X           score threshold, faces with score > X are kept (default 0.5)\n"
    "  --nms X            NMS IoU threshold (default 0.4)\n"
    "  --scale S          network input: native | long=N | factor=F | WxH (default long=640)\n"
    "  --threads N        threads (default 1; 0 = all cores)\n"
    "  --weights DIR      folder with retinaface_mnet025.fmb (default: the build's weights)\n"
    "  --detector FILE    a detector blob to use instead\n"
    "  --help             this text\n"
    "exit status: 0 success, 1 a file could not be read or written, 2 bad arguments\n";

struct Args {
    const char* output = nullptr;
    const char* json = nullptr;
    const char* weights = FACEMASK_DEFAULT_WEIGHTS_DIR;
    const char* detector = nullptr;
    facemask::DetectOptions opt;
    const char** inputs = nullptr;
    int n_inputs = 0;
};

bool parse_float(const char* s, float lo, float hi, float* out) {
    char* end = nullptr;
    const double v = std::strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) return false;
    *out = float(v);
    return true;
}

bool parse_int(const char* s, int lo, int hi, int* out) {
    char* end = nullptr;
    const long v = std::strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi) return false;
    *out = int(v);
    return true;
}

// 0 ok, 1 --help, 2 error (message printed).
int parse_args(int argc, char** argv, Args* a) {
    a->inputs = const_cast<const char**>(argv + 1);
    for (int i = 1; i < argc; ++i) {
        const char* arg = argv[i];
        auto value = [&](const char** out) {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "example_annotate: %s needs a value\n", arg);
                return false;
            }
            *out = argv[++i];
            return true;
        };
        const char* v = nullptr;
        if (!std::strcmp(arg, "--help") || !std::strcmp(arg, "-h")) return 1;
        if (!std::strcmp(arg, "--output")) {
            if (!value(&a->output)) return 2;
        } else if (!std::strcmp(arg, "--json")) {
            if (!value(&a->json)) return 2;
        } else if (!std::strcmp(arg, "--weights")) {
            if (!value(&a->weights)) return 2;
        } else if (!std::strcmp(arg, "--detector")) {
            if (!value(&a->detector)) return 2;
        } else if (!std::strcmp(arg, "--conf")) {
            if (!value(&v)) return 2;
            if (!parse_float(v, 0.0f, 0.999999f, &a->opt.score_threshold)) {
                std::fprintf(stderr, "example_annotate: --conf wants a number in [0, 1), not '%s'\n", v);
                return 2;
            }
        } else if (!std::strcmp(arg, "--nms")) {
            if (!value(&v)) return 2;
            if (!parse_float(v, 0.0f, 1.0f, &a->opt.nms_iou)) {
                std::fprintf(stderr, "example_annotate: --nms wants a number in [0, 1], not '%s'\n", v);
                return 2;
            }
        } else if (!std::strcmp(arg, "--scale")) {
            if (!value(&v)) return 2;
            if (!a->opt.scale.parse(v)) {
                std::fprintf(stderr, "example_annotate: --scale wants native, long=N, factor=F or WxH, not '%s'\n", v);
                return 2;
            }
        } else if (!std::strcmp(arg, "--threads")) {
            if (!value(&v)) return 2;
            if (!parse_int(v, 0, 256, &a->opt.threads)) {
                std::fprintf(stderr, "example_annotate: --threads wants a count 0..256, not '%s'\n", v);
                return 2;
            }
        } else if (arg[0] == '-' && arg[1] != '\0') {
            std::fprintf(stderr, "example_annotate: unknown option '%s' (see --help)\n", arg);
            return 2;
        } else {
            a->inputs[a->n_inputs++] = arg;
        }
    }
    if (a->n_inputs == 0) {
        std::fprintf(stderr, "example_annotate: no picture given (see --help)\n");
        return 2;
    }
    return 0;
}

void json_string(FILE* f, const char* s) {
    std::fputc('"', f);
    for (; *s; ++s) {
        const unsigned char c = static_cast<unsigned char>(*s);
        if (c == '"' || c == '\\')
            std::fprintf(f, "\\%c", c);
        else if (c < 0x20)
            std::fprintf(f, "\\u%04x", c);
        else
            std::fputc(c, f);
    }
    std::fputc('"', f);
}

void json_line(FILE* f, const char* path, int w, int h, const facemask::Faces& faces) {
    std::fprintf(f, "{\"image\": ");
    json_string(f, path);
    std::fprintf(f, ", \"width\": %d, \"height\": %d, \"faces\": [", w, h);
    for (int i = 0; i < faces.size(); ++i) {
        const facemask::Face& face = faces[i];
        std::fprintf(f, "%s{\"box\": [%.3f, %.3f, %.3f, %.3f], \"score\": %.6f, \"landmarks\": [", i ? ", " : "",
                     double(face.box.x1), double(face.box.y1), double(face.box.x2), double(face.box.y2),
                     double(face.score));
        for (int j = 0; j < 5; ++j)
            std::fprintf(f, "%s[%.3f, %.3f]", j ? ", " : "", double(face.landmarks[j].x), double(face.landmarks[j].y));
        if (face.classified())
            std::fprintf(f, "], \"mask\": %.6f, \"label\": \"%s\"}", double(face.mask),
                         face.masked() ? "masked" : "not_masked");
        else
            std::fprintf(f, "], \"mask\": null, \"label\": null}");
    }
    std::fprintf(f, "]}\n");
}

// Output file for input i: the --output path itself, or a file named after the input inside
// the --output folder when several pictures are given.
void output_path(const Args& a, const char* input, char* buf, size_t n) {
    if (a.n_inputs == 1) {
        std::snprintf(buf, n, "%s", a.output);
        return;
    }
    const char* base = std::strrchr(input, '/');
    base = base ? base + 1 : input;
    char stem[512];
    std::snprintf(stem, sizeof stem, "%s", base);
    char* dot = std::strrchr(stem, '.');
    if (dot) *dot = '\0';
    std::snprintf(buf, n, "%s/%s_annotated.jpg", a.output, stem);
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    const int parsed = parse_args(argc, argv, &a);
    if (parsed == 1) {
        std::fputs(kUsage, stdout);
        return 0;
    }
    if (parsed != 0) return 2;

    char path[1024];
    if (a.detector)
        std::snprintf(path, sizeof path, "%s", a.detector);
    else
        std::snprintf(path, sizeof path, "%s/retinaface_mnet025.fmb", a.weights);
    facemask::Detector det;
    facemask::Status st = det.load_file(path);
    if (!st) {
        std::fprintf(stderr, "example_annotate: cannot load the detector: %s\n", st.message());
        return 1;
    }

    FILE* json = nullptr;
    if (a.json) {
        json = std::strcmp(a.json, "-") == 0 ? stdout : std::fopen(a.json, "w");
        if (!json) {
            std::fprintf(stderr, "example_annotate: cannot write '%s': %s\n", a.json, std::strerror(errno));
            return 1;
        }
    }

    int failures = 0;
    facemask::Workspace ws;
    facemask::Image img;
    for (int i = 0; i < a.n_inputs; ++i) {
        const char* input = a.inputs[i];
        facemask::Faces faces;
        st = img.load(input);
        if (st) st = det.detect(ws, img.view(), a.opt, &faces);
        if (!st) {
            std::fprintf(stderr, "example_annotate: %s\n", st.message());
            ++failures;
            continue;
        }
        if (json) json_line(json, input, img.width(), img.height(), faces);
        if (a.output) {
            facemask::draw_faces(img, faces);
            output_path(a, input, path, sizeof path);
            st = img.save(path);
            if (!st) {
                std::fprintf(stderr, "example_annotate: %s\n", st.message());
                ++failures;
                continue;
            }
        }
        if (!json || json != stdout) std::printf("%s: %d face%s\n", input, faces.size(), faces.size() == 1 ? "" : "s");
    }
    if (json && json != stdout && std::fclose(json) != 0) {
        std::fprintf(stderr, "example_annotate: cannot write '%s'\n", a.json);
        ++failures;
    }
    return failures ? 1 : 0;
}
