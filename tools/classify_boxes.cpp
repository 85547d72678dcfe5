// classify_boxes — the mask classifier on given face boxes, for tools/eval_classifier.py and
// anyone with boxes from elsewhere (annotations, another detector).
//
//   classify_boxes --classifier BLOB [--csv FILE|-] [--root DIR] [--output FILE|-] [--timing]
//
// Input: CSV lines "image,x1,y1,x2,y2[,anything...]" (box corners in picture pixels; the image
// path is the first field, relative to --root when given and not absolute; no quoting, so paths
// cannot hold commas). A first line whose x1 is not a number is a header. Empty lines are
// skipped. Output: every input line as it was, with ",p_masked" appended (",p_masked" on the
// header); p_masked = Classifier::classify on the box (crop, resample, network), printed with
// %.9g. Each picture is decoded once (facemask::Image::load), however its lines are ordered.
//
// A line whose picture cannot be read, or whose box leaves no pixel of the picture, is written
// with ",nan" and reported on standard error with its line number.
// Exit codes: 0 every line classified; 1 some line could not be (see stderr), or a file could
// not be read or written; 2 bad command line or malformed CSV (nothing is written then).
#define FACEMASK_STB_IMPLEMENTATION
#include <facemask/facemask.hpp>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

const char* kUsage =
    "usage: classify_boxes --classifier BLOB [--csv FILE|-] [--root DIR] [--output FILE|-] [--timing]\n"
    "Reads CSV lines 'image,x1,y1,x2,y2[,...]' and writes them back with ',p_masked' appended.\n"
    "\n"
    "options:\n"
    "  --classifier BLOB  mask classifier blob (e.g. weights/mask_classifier.fmb)\n"
    "  --csv FILE         input CSV; '-' for standard input (default)\n"
    "  --root DIR         folder that relative image paths are relative to (default: current)\n"
    "  --output FILE      output CSV; '-' for standard output (default)\n"
    "  --timing           print the time spent in Classifier::classify per box (stderr)\n"
    "  --help             this text\n"
    "A first line whose x1 field is not a number is taken as a header.\n"
    "exit status: 0 success, 1 a picture, box or file could not be used, 2 bad arguments or CSV\n";

struct Args {
    const char* classifier = nullptr;
    const char* csv = "-";
    const char* root = nullptr;
    const char* output = "-";
    bool timing = false;
};

struct Row {
    std::string text;   // the line as read (no line ending)
    std::string image;  // first field
    facemask::Box box;
    bool header = false;
    long line = 0;
    float p = NAN;
};

// 0 ok, 1 --help, 2 error (message printed).
int parse_args(int argc, char** argv, Args* a) {
    for (int i = 1; i < argc; ++i) {
        const char* arg = argv[i];
        const char** target = nullptr;
        if (!std::strcmp(arg, "--help") || !std::strcmp(arg, "-h")) return 1;
        if (!std::strcmp(arg, "--timing")) {
            a->timing = true;
            continue;
        }
        if (!std::strcmp(arg, "--classifier"))
            target = &a->classifier;
        else if (!std::strcmp(arg, "--csv"))
            target = &a->csv;
        else if (!std::strcmp(arg, "--root"))
            target = &a->root;
        else if (!std::strcmp(arg, "--output"))
            target = &a->output;
        else {
            std::fprintf(stderr, "classify_boxes: unknown argument '%s' (see --help)\n", arg);
            return 2;
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "classify_boxes: %s needs a value\n", arg);
            return 2;
        }
        *target = argv[++i];
    }
    if (!a->classifier) {
        std::fprintf(stderr, "classify_boxes: --classifier BLOB is required (see --help)\n");
        return 2;
    }
    return 0;
}

// A whole field as a finite number.
bool parse_number(const std::string& s, float* out) {
    if (s.empty()) return false;
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(s.c_str(), &end);
    if (end == s.c_str() || *end != '\0' || errno == ERANGE || !std::isfinite(v)) return false;
    *out = float(v);
    return true;
}

std::vector<std::string> split(const std::string& line) {
    std::vector<std::string> f;
    size_t start = 0;
    for (;;) {
        const size_t comma = line.find(',', start);
        if (comma == std::string::npos) {
            f.push_back(line.substr(start));
            return f;
        }
        f.push_back(line.substr(start, comma - start));
        start = comma + 1;
    }
}

// Reads and parses every line; false (message printed) on a malformed line or a read error.
bool read_rows(FILE* in, const char* name, std::vector<Row>* rows) {
    std::string line;
    long number = 0;
    bool eof = false;
    while (!eof) {
        line.clear();
        int c;
        while ((c = std::fgetc(in)) != EOF && c != '\n') line.push_back(char(c));
        if (c == EOF) {
            if (std::ferror(in)) {
                std::fprintf(stderr, "classify_boxes: cannot read %s: %s\n", name, std::strerror(errno));
                return false;
            }
            eof = true;
            if (line.empty()) break;
        }
        ++number;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        Row r;
        r.text = line;
        r.line = number;
        const std::vector<std::string> f = split(line);
        float v[4] = {};
        if (number == 1 && f.size() >= 5 && !parse_number(f[1], &v[0])) {  // header
            r.header = true;
            rows->push_back(r);
            continue;
        }
        if (f.size() < 5) {
            std::fprintf(stderr, "classify_boxes: %s:%ld: expected 'image,x1,y1,x2,y2[,...]', got %zu field%s\n", name,
                         number, f.size(), f.size() == 1 ? "" : "s");
            return false;
        }
        for (int k = 0; k < 4; ++k)
            if (!parse_number(f[1 + k], &v[k])) {
                std::fprintf(stderr, "classify_boxes: %s:%ld: field %d ('%s') is not a number\n", name, number, k + 2,
                             f[1 + k].c_str());
                return false;
            }
        if (f[0].empty()) {
            std::fprintf(stderr, "classify_boxes: %s:%ld: empty image path\n", name, number);
            return false;
        }
        r.image = f[0];
        r.box = facemask::Box{v[0], v[1], v[2], v[3]};
        rows->push_back(r);
    }
    return true;
}

std::string resolve(const char* root, const std::string& image) {
    if (!root || !*root || image[0] == '/') return image;
    std::string p = root;
    if (p.back() != '/') p.push_back('/');
    return p + image;
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

    facemask::Classifier cls;
    facemask::Status st = cls.load_file(a.classifier, facemask::Verify::self_test);
    if (!st) {
        std::fprintf(stderr, "classify_boxes: cannot load the classifier: %s\n", st.message());
        return 1;
    }

    const bool from_stdin = std::strcmp(a.csv, "-") == 0;
    FILE* in = from_stdin ? stdin : std::fopen(a.csv, "rb");
    if (!in) {
        std::fprintf(stderr, "classify_boxes: cannot open '%s': %s\n", a.csv, std::strerror(errno));
        return 1;
    }
    std::vector<Row> rows;
    const bool read_ok = read_rows(in, from_stdin ? "<stdin>" : a.csv, &rows);
    if (!from_stdin) std::fclose(in);
    if (!read_ok) return 2;

    // Lines grouped by picture (first appearance order), so that each picture is decoded once.
    std::map<std::string, std::vector<size_t>> by_image;
    std::vector<std::string> order;
    for (size_t i = 0; i < rows.size(); ++i) {
        if (rows[i].header) continue;
        auto it = by_image.find(rows[i].image);
        if (it == by_image.end()) {
            order.push_back(rows[i].image);
            it = by_image.emplace(rows[i].image, std::vector<size_t>()).first;
        }
        it->second.push_back(i);
    }

    int failures = 0;
    long classified = 0;
    double seconds = 0;
    facemask::Workspace ws;
    facemask::Image img;
    for (const std::string& image : order) {
        const std::vector<size_t>& idx = by_image[image];
        st = img.load(resolve(a.root, image).c_str());
        if (!st) {
            for (size_t i : idx) std::fprintf(stderr, "classify_boxes: line %ld: %s\n", rows[i].line, st.message());
            failures += int(idx.size());
            continue;
        }
        for (size_t i : idx) {
            const auto t0 = std::chrono::steady_clock::now();
            st = cls.classify(ws, img.view(), rows[i].box, &rows[i].p);
            seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            if (st) ++classified;
            if (!st) {
                rows[i].p = NAN;
                std::fprintf(stderr, "classify_boxes: line %ld (%s): %s\n", rows[i].line, image.c_str(), st.message());
                ++failures;
            }
        }
    }

    if (a.timing && classified)
        std::fprintf(stderr, "classify_boxes: %ld boxes, %.4f ms per box (Classifier::classify: crop, resample, network)\n",
                     classified, 1e3 * seconds / double(classified));

    const bool to_stdout = std::strcmp(a.output, "-") == 0;
    FILE* out = to_stdout ? stdout : std::fopen(a.output, "w");
    if (!out) {
        std::fprintf(stderr, "classify_boxes: cannot write '%s': %s\n", a.output, std::strerror(errno));
        return 1;
    }
    for (const Row& r : rows) {
        if (r.header)
            std::fprintf(out, "%s,p_masked\n", r.text.c_str());
        else if (std::isnan(r.p))
            std::fprintf(out, "%s,nan\n", r.text.c_str());
        else
            std::fprintf(out, "%s,%.9g\n", r.text.c_str(), double(r.p));
    }
    if (std::fflush(out) != 0 || (!to_stdout && std::fclose(out) != 0)) {
        std::fprintf(stderr, "classify_boxes: cannot write '%s'\n", a.output);
        return 1;
    }
    return failures ? 1 : 0;
}
