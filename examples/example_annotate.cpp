// example_annotate — finds the faces in pictures, says for each whether it wears a mask, draws
// the answer and writes JSON Lines. The tiny front end of facemask::Pipeline.
//
//   example_annotate [options] PICTURE|FOLDER...
//
// Exit status: 0 every picture done; 1 some picture (or the weights, or an output) could not
// be read or written — the other pictures are still done; 2 bad command line.
#define FACEMASK_STB_IMPLEMENTATION
#include <facemask/facemask.hpp>

#include "faces_json.hpp"

#include <dirent.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#ifndef FACEMASK_DEFAULT_WEIGHTS_DIR
#define FACEMASK_DEFAULT_WEIGHTS_DIR "weights"
#endif

namespace {

const char* kUsage =
    "usage: example_annotate [options] PICTURE|FOLDER...\n"
    "Finds the faces in each picture, classifies each as masked or not masked, draws the result\n"
    "and optionally writes one JSON object per picture (JSON Lines).\n"
    "\n"
    "  --output PATH         annotated picture (.jpg/.png/.bmp), or a folder for many pictures\n"
    "                        (default: <name>_annotated.<ext> in the current folder)\n"
    "  --no-draw             write no picture\n"
    "  --json FILE           JSON Lines results ('-' = standard output)\n"
    "  --conf X              face score threshold, score > X (default 0.5)\n"
    "  --nms X               NMS IoU threshold (default 0.4)\n"
    "  --mask-threshold X    p(masked) > X is masked (default: the classifier blob's, 0.5)\n"
    "  --scale S             network input: auto | native | long=N | factor=F | WxH (default auto:\n"
    "                        own size + 3x enlarged for small pictures, long side 640 for large)\n"
    "  --threads N           threads, 0 = all cores (default 1)\n"
    "  --weights DIR         folder with retinaface_mnet025.fmb and mask_classifier.fmb\n"
    "                        (default: " FACEMASK_DEFAULT_WEIGHTS_DIR ")\n"
    "  --detector FILE       detector blob (default: DIR/retinaface_mnet025.fmb)\n"
    "  --classifier FILE     classifier blob (default: DIR/mask_classifier.fmb)\n"
    "  --no-classify         detection only: no classifier needed, mask and label are null\n"
    "  --no-verify           skip the blobs' self-tests at load (by default a blob that fails\n"
    "                        its self-test is refused, exit 1)\n"
    "  --landmarks           also draw the five landmarks\n"
    "  --quiet               no per-picture lines, no progress\n"
    "  --version             the version, the kernels' instruction set and threads support\n"
    "  --help                this text\n"
    "Exit status: 0 success; 1 a picture, a folder without pictures, the weights or an output\n"
    "(also standard output) failed; 2 bad arguments, an --output type that cannot be written, or\n"
    "two pictures whose annotated copies would have the same name.\n";

struct Args {
    std::string output, json, weights = FACEMASK_DEFAULT_WEIGHTS_DIR, detector, classifier;
    bool draw = true, quiet = false, landmarks = false, verify = true;
    facemask::PipelineOptions opt;
    std::vector<std::string> inputs;
    std::vector<std::string> empty_folders;  // folders given that hold no picture
};

bool number(const char* s, double lo, double hi, double* out) {
    char* end = nullptr;
    const double v = std::strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) return false;
    *out = v;
    return true;
}

bool is_dir(const std::string& p) {
    struct stat st;
    return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool is_picture_name(const std::string& name) {
    const size_t dot = name.rfind('.');
    if (dot == std::string::npos || name[0] == '.') return false;
    std::string ext = name.substr(dot + 1);
    for (char& c : ext) c = char(c | 0x20);
    for (const char* e : {"jpg", "jpeg", "png", "bmp", "pnm", "ppm", "pgm"})  // the formats Image::load reads
        if (ext == e) return true;
    return false;
}

// Whether Image::save writes this file name (by its extension).
bool is_output_name(const std::string& name) {
    const size_t dot = name.rfind('.');
    const size_t slash = name.rfind('/');
    if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return false;
    std::string ext = name.substr(dot + 1);
    for (char& c : ext) c = char(c | 0x20);
    return ext == "jpg" || ext == "jpeg" || ext == "png" || ext == "bmp";
}

// Appends the pictures of a folder (not recursive), sorted by name; *count: how many.
bool add_folder(const std::string& dir, std::vector<std::string>* out, size_t* count) {
    DIR* d = opendir(dir.c_str());
    if (!d) return false;
    std::vector<std::string> names;
    while (dirent* e = readdir(d))
        if (is_picture_name(e->d_name)) names.push_back(e->d_name);
    closedir(d);
    std::sort(names.begin(), names.end());
    for (const std::string& n : names) out->push_back(dir + (dir.back() == '/' ? "" : "/") + n);
    *count = names.size();
    return true;
}

// 0 ok, 1 --help shown, 2 error (message printed), 3 --version.
int parse_args(int argc, char** argv, Args* a) {
    auto fail = [](const char* fmt, const char* x) {
        std::fprintf(stderr, "example_annotate: ");
        std::fprintf(stderr, fmt, x);
        std::fprintf(stderr, " (see --help)\n");
        return 2;
    };
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const bool has_value = i + 1 < argc;
        const char* v = has_value ? argv[i + 1] : nullptr;
        double x = 0;
        if (arg == "--help" || arg == "-h") return 1;
        if (arg == "--version") return 3;
        if (arg == "--no-draw") { a->draw = false; continue; }
        if (arg == "--quiet") { a->quiet = true; continue; }
        if (arg == "--landmarks") { a->landmarks = true; continue; }
        if (arg == "--no-classify") { a->opt.classify = false; continue; }
        if (arg == "--no-verify") { a->verify = false; continue; }
        if (arg.size() > 2 && arg[0] == '-' && arg[1] == '-') {
            if (!has_value) return fail("%s needs a value", arg.c_str());
            // "--json --no-draw x.png": the value is missing, not "--no-draw" (a value that
            // really starts with "--" can be given as ./--name).
            if (v[0] == '-' && v[1] == '-' && v[2]) {
                std::fprintf(stderr, "example_annotate: %s needs a value, not the option '%s' (see --help)\n", arg.c_str(), v);
                return 2;
            }
            ++i;
            if (arg == "--output") a->output = v;
            else if (arg == "--json") a->json = v;
            else if (arg == "--weights") a->weights = v;
            else if (arg == "--detector") a->detector = v;
            else if (arg == "--classifier") a->classifier = v;
            else if (arg == "--conf") {
                if (!number(v, 0, 0.999999, &x)) return fail("--conf wants a number in [0, 1), not '%s'", v);
                a->opt.detect.score_threshold = float(x);
            } else if (arg == "--nms") {
                if (!number(v, 0, 1, &x)) return fail("--nms wants a number in [0, 1], not '%s'", v);
                a->opt.detect.nms_iou = float(x);
            } else if (arg == "--mask-threshold") {
                if (!number(v, 0, 1, &x)) return fail("--mask-threshold wants a number in [0, 1], not '%s'", v);
                a->opt.mask_threshold = float(x);
            } else if (arg == "--scale") {
                if (!a->opt.detect.scale.parse(v)) return fail("--scale wants auto, native, long=N, factor=F or WxH, not '%s'", v);
            } else if (arg == "--threads") {
                if (!number(v, 0, 256, &x) || x != double(int(x))) return fail("--threads wants a count 0..256, not '%s'", v);
                a->opt.detect.threads = int(x);
            } else {
                return fail("unknown option '%s'", arg.c_str());
            }
            continue;
        }
        if (arg.size() > 1 && arg[0] == '-') return fail("unknown option '%s'", arg.c_str());
        if (is_dir(arg)) {
            size_t n = 0;
            if (!add_folder(arg, &a->inputs, &n)) return fail("cannot list the folder '%s'", arg.c_str());
            if (n == 0) a->empty_folders.push_back(arg);
        } else {
            a->inputs.push_back(arg);
        }
    }
    if (a->inputs.empty() && a->empty_folders.empty()) return fail("%s", "no picture given");
    return 0;
}

// Where the annotated picture of `input` goes.
std::string output_path(const Args& a, const std::string& input) {
    const size_t slash = input.rfind('/');
    std::string name = slash == std::string::npos ? input : input.substr(slash + 1);
    const size_t dot = name.rfind('.');
    std::string ext = dot == std::string::npos ? "" : name.substr(dot);
    for (char& c : ext) c = char(c | 0x20);
    if (ext != ".jpg" && ext != ".jpeg" && ext != ".png" && ext != ".bmp") ext = ".png";
    name = (dot == std::string::npos ? name : name.substr(0, dot)) + "_annotated" + ext;
    if (a.output.empty()) return name;
    const bool folder = a.inputs.size() > 1 || a.output.back() == '/' || is_dir(a.output);
    if (!folder) return a.output;
    return a.output + (a.output.back() == '/' ? "" : "/") + name;
}

// Refuses, before any work, outputs that could not be written or would overwrite each other.
bool check_outputs(const Args& a) {
    if (!a.draw || a.inputs.empty()) return true;
    if (!a.output.empty() && a.inputs.size() == 1 && a.output.back() != '/' && !is_dir(a.output) &&
        !is_output_name(a.output)) {
        std::fprintf(stderr,
                     "example_annotate: --output '%s': unknown picture type; use .jpg, .png or .bmp (or a folder "
                     "ending in '/') (see --help)\n",
                     a.output.c_str());
        return false;
    }
    std::map<std::string, const std::string*> written;  // output path -> the input it is for
    for (const std::string& input : a.inputs) {
        auto at = written.emplace(output_path(a, input), &input);
        if (!at.second && *at.first->second != input) {
            std::fprintf(stderr,
                         "example_annotate: '%s' and '%s' would both be written to '%s'; annotate them in separate "
                         "runs with different --output folders (see --help)\n",
                         at.first->second->c_str(), input.c_str(), at.first->first.c_str());
            return false;
        }
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
#if defined(__GLIBC__)
    // glibc raises its mmap threshold to the size of the largest block freed (here the weight
    // file, once the detector has packed it), so the picture and its file that follow land on
    // the heap, whose top is not given back: 1.7 MB more peak memory at 640x480. A fixed
    // threshold keeps every large block mapped on its own and returned when freed.
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
    Args a;
    const int parsed = parse_args(argc, argv, &a);
    if (parsed == 1) {
        std::fputs(kUsage, stdout);
        return 0;
    }
    if (parsed == 3) {
        // The kernels: chosen at start-up from the CPU (and FACEMASK_ISA) in a portable build,
        // else the ones the compiler flags selected.
        std::printf("example_annotate (facemask %s)\nkernels: %s (%s)\nthreads: %s\n", FACEMASK_VERSION_STRING,
                    facemask::simd_name(),
#if defined(FACEMASK_DISPATCH)
                    "chosen at start-up from the CPU; FACEMASK_ISA=avx512|avx2|sse41|sse2|scalar caps it",
#else
                    "fixed by the compiler flags",
#endif
                    facemask::threads_name());
        return 0;
    }
    if (parsed != 0 || !check_outputs(a)) return 2;

    facemask::Pipeline fm;
    const std::string det = a.detector.empty() ? a.weights + "/" + facemask::kDetectorFile : a.detector;
    const std::string cls = a.classifier.empty() ? a.weights + "/" + facemask::kClassifierFile : a.classifier;
    facemask::Status st = fm.load_files(det.c_str(), a.opt.classify ? cls.c_str() : nullptr,
                                        a.verify ? facemask::Verify::self_test : facemask::Verify::none);
    if (!st) {
        std::fprintf(stderr, "example_annotate: cannot load the weights: %s\n", st.message());
        return 1;
    }
    if (a.draw && !a.output.empty() && (a.inputs.size() > 1 || a.output.back() == '/') && !is_dir(a.output) &&
        mkdir(a.output.c_str(), 0777) != 0) {
        std::fprintf(stderr, "example_annotate: cannot create the folder '%s': %s\n", a.output.c_str(), std::strerror(errno));
        return 1;
    }
    FILE* json = nullptr;
    if (!a.json.empty()) {
        json = a.json == "-" ? stdout : std::fopen(a.json.c_str(), "w");
        if (!json) {
            std::fprintf(stderr, "example_annotate: cannot write '%s': %s\n", a.json.c_str(), std::strerror(errno));
            return 1;
        }
    }
    const bool progress = !a.quiet && a.inputs.size() > 1 && json != stdout;
    facemask::AnnotateOptions look;
    look.landmarks = a.landmarks;

    int failures = 0;
    for (const std::string& dir : a.empty_folders) {
        std::fprintf(stderr, "example_annotate: the folder '%s' holds no picture (.jpg, .jpeg, .png, .bmp, .ppm, .pgm, .pnm)\n",
                     dir.c_str());
        ++failures;
    }
    facemask::Workspace ws;
    facemask::Image img;
    for (size_t i = 0; i < a.inputs.size(); ++i) {
        const std::string& input = a.inputs[i];
        if (progress) std::fprintf(stderr, "\r[%zu/%zu] %s\033[K", i + 1, a.inputs.size(), input.c_str());
        facemask::Faces faces;
        st = img.load(input.c_str());
        if (st) st = fm.run(ws, img.view(), a.opt, &faces);
        if (!st) {
            std::fprintf(stderr, "%sexample_annotate: %s\n", progress ? "\n" : "", st.message());
            ++failures;
            continue;
        }
        if (json)
            std::fprintf(json, "%s\n",
                         facemask_examples::faces_json(input.c_str(), img.width(), img.height(), faces).c_str());
        if (a.draw) {
            facemask::annotate(img, faces, look);
            const std::string out = output_path(a, input);
            st = img.save(out.c_str());
            if (!st) {
                std::fprintf(stderr, "%sexample_annotate: %s\n", progress ? "\n" : "", st.message());
                ++failures;
                continue;
            }
        }
        if (!a.quiet && !progress && json != stdout) {
            int masked = 0;
            for (const facemask::Face& f : faces) masked += f.masked();
            std::printf("%s: %d face%s, %d masked\n", input.c_str(), faces.size(), faces.size() == 1 ? "" : "s", masked);
        }
    }
    if (progress) std::fprintf(stderr, "\n");
    // A full disk shows only when the buffers are written: check both streams' errors.
    if (json && json != stdout) {
        const bool bad = std::ferror(json) != 0;
        if ((std::fclose(json) != 0) | bad) {
            std::fprintf(stderr, "example_annotate: cannot write '%s': %s\n", a.json.c_str(), std::strerror(errno));
            ++failures;
        }
    }
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
        std::fprintf(stderr, "example_annotate: cannot write the standard output%s: %s\n",
                     json == stdout ? " (the JSON results)" : "", std::strerror(errno));
        ++failures;
    }
    return failures ? 1 : 0;
}
