// facemask_watch — a video stream through the pipeline and the tracker: one JSON line per
// event (enter / alert / masked / leave), optionally one per frame, optionally the annotated
// frames as raw RGB for ffmpeg. Frames come as raw rgb24 (`ffmpeg -f rawvideo -pix_fmt rgb24`)
// from stdin, a file or a FIFO, or as a list / folder of pictures.
//
// Exit status: 0 the stream ended cleanly; 1 the weights, an input or an output failed (a short
// last frame included); 2 bad arguments.
#define FACEMASK_STB_IMPLEMENTATION
#include <facemask/facemask.hpp>

#include "../faces_json.hpp"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#ifndef FACEMASK_DEFAULT_WEIGHTS_DIR
#define FACEMASK_DEFAULT_WEIGHTS_DIR "weights"
#endif

namespace {

const char kUsage[] =
    "usage: facemask_watch [options] --raw WxH [FILE|-]     raw rgb24 frames (default stdin)\n"
    "       facemask_watch [options] PICTURE|FOLDER...       pictures as frames (a folder: sorted)\n"
    "  --events FILE         event JSON Lines to FILE (default stdout; needed with --output -)\n"
    "  --frames              also one JSON line per frame: {\"frame\": n, ..., \"faces\": [{..., \"track\": id}]}\n"
    "  --output FILE|-       annotated raw rgb24 frames (track id and label on each box)\n"
    "  --fps-limit F         the input runs at F frames/s: drop frames when behind (default 0: none)\n"
    "  --threads N           threads, 0 = all cores (default 1)\n"
    "  --weights DIR         folder with retinaface_mnet025.fmb and mask_classifier.fmb\n"
    "  --scale S             network input: auto | native | long=N | factor=F | WxH (default long=320)\n"
    "  --min-face PX         tracker: smallest face side tracked (default 16)\n"
    "  --confirm N           tracker: frames before a person enters (default 3)\n"
    "  --forget N            tracker: frames missed before a person leaves (default 10)\n"
    "  --alert-frames N      tracker: frames judged not masked before the alert (default 5)\n"
    "  --edge-margin F       tracker: a face nearer the frame's border than F x its size is not\n"
    "                        judged masked or not (a half face; default 0.02)\n"
    "  --quiet               no summary on stderr\n"
    "Exit status: 0 success; 1 weights, input or output failed; 2 bad arguments.\n";

struct Args {
    int raw_w = 0, raw_h = 0;
    std::vector<std::string> inputs;
    std::string events, output, weights = FACEMASK_DEFAULT_WEIGHTS_DIR;
    bool frames = false, quiet = false;
    double fps_limit = 0;
    facemask::PipelineOptions opt;
    facemask::TrackerSettings track;
};

int fail(const char* fmt, const char* v) {
    std::fprintf(stderr, "facemask_watch: ");
    std::fprintf(stderr, fmt, v);
    std::fprintf(stderr, " (see --help)\n");
    return 2;
}

bool number(const char* s, double lo, double hi, double* out) {
    char* end = nullptr;
    errno = 0;
    const double x = std::strtod(s, &end);
    if (end == s || *end || errno || !(x >= lo && x <= hi)) return false;
    *out = x;
    return true;
}

bool integer(const char* s, int lo, int hi, int* out) {
    double x;
    if (!number(s, lo, hi, &x) || x != double(int(x))) return false;
    *out = int(x);
    return true;
}

bool is_dir(const std::string& p) {
    struct stat st;
    return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool picture_name(const std::string& n) {
    const size_t dot = n.rfind('.');
    if (dot == std::string::npos) return false;
    std::string e = n.substr(dot + 1);
    for (char& c : e) c = char(std::tolower(static_cast<unsigned char>(c)));
    return e == "jpg" || e == "jpeg" || e == "png" || e == "bmp" || e == "ppm" || e == "pgm";
}

// 0 ok, 1 --help, 2 error.
int parse(int argc, char** argv, Args* a) {
    a->opt.detect.scale.parse("long=320");
    bool raw = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") return 1;
        if (arg == "--frames") { a->frames = true; continue; }
        if (arg == "--quiet") { a->quiet = true; continue; }
        if (arg.size() > 1 && arg[0] == '-' && arg != "-") {
            if (i + 1 >= argc) return fail("%s needs a value", arg.c_str());
            const char* v = argv[++i];
            int n;
            double x;
            if (arg == "--raw") {
                if (std::sscanf(v, "%dx%d", &a->raw_w, &a->raw_h) != 2 || a->raw_w < 1 || a->raw_h < 1 ||
                    a->raw_w > 16384 || a->raw_h > 16384 || std::strchr(v, 'x') != std::strrchr(v, 'x'))
                    return fail("--raw wants WxH (1..16384 each), not '%s'", v);
                raw = true;
            } else if (arg == "--events") a->events = v;
            else if (arg == "--output") a->output = v;
            else if (arg == "--weights") a->weights = v;
            else if (arg == "--fps-limit") {
                if (!number(v, 0, 1000, &x)) return fail("--fps-limit wants frames/s in 0..1000, not '%s'", v);
                a->fps_limit = x;
            } else if (arg == "--threads") {
                if (!integer(v, 0, 256, &n)) return fail("--threads wants a count 0..256, not '%s'", v);
                a->opt.detect.threads = n;
            } else if (arg == "--scale") {
                if (!a->opt.detect.scale.parse(v)) return fail("--scale wants auto, native, long=N, factor=F or WxH, not '%s'", v);
            } else if (arg == "--min-face") {
                if (!number(v, 0, 100000, &x)) return fail("--min-face wants pixels, not '%s'", v);
                a->track.min_face = float(x);
            } else if (arg == "--confirm") {
                if (!integer(v, 1, 1000, &n)) return fail("--confirm wants frames 1..1000, not '%s'", v);
                a->track.confirm_frames = n;
            } else if (arg == "--forget") {
                if (!integer(v, 0, 100000, &n)) return fail("--forget wants frames 0..100000, not '%s'", v);
                a->track.forget_frames = n;
            } else if (arg == "--edge-margin") {
                if (!number(v, 0, 10, &x)) return fail("--edge-margin wants a fraction of the face 0..10, not '%s'", v);
                a->track.edge_margin = float(x);
            } else if (arg == "--alert-frames") {
                if (!integer(v, 1, 100000, &n)) return fail("--alert-frames wants frames 1..100000, not '%s'", v);
                a->track.alert_frames = n;
            } else {
                return fail("unknown option '%s'", arg.c_str());
            }
            continue;
        }
        a->inputs.push_back(arg);
    }
    if (raw && a->inputs.size() > 1) return fail("--raw reads one stream, not %s inputs", "several");
    if (raw && a->inputs.empty()) a->inputs.push_back("-");
    if (!raw && a->inputs.empty()) return fail("%s", "no input: give --raw WxH or pictures");
    if (a->output == "-" && (a->events.empty() || a->events == "-"))
        return fail("%s", "--output - writes frames to stdout: give --events FILE");
    if (!raw) {  // expand folders
        std::vector<std::string> list;
        for (const std::string& in : a->inputs) {
            if (!is_dir(in)) { list.push_back(in); continue; }
            std::vector<std::string> names;
            if (DIR* d = opendir(in.c_str())) {
                while (dirent* e = readdir(d))
                    if (picture_name(e->d_name)) names.push_back(in + "/" + e->d_name);
                closedir(d);
            }
            std::sort(names.begin(), names.end());
            if (names.empty()) return fail("the folder '%s' holds no pictures", in.c_str());
            list.insert(list.end(), names.begin(), names.end());
        }
        a->inputs = list;
    }
    return 0;
}

using Clock = std::chrono::steady_clock;

double percentile(std::vector<double> v, double q) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[size_t(q * double(v.size() - 1) + 0.5)];
}

// Reads exactly n bytes: 1 a frame, 0 clean end of stream, -1 a short frame or a read error.
int read_frame(FILE* in, uint8_t* p, size_t n) {
    const size_t got = std::fread(p, 1, n, in);
    if (got == n) return 1;
    return got == 0 && std::feof(in) ? 0 : -1;
}

void draw_track_labels(facemask::Image& img, const facemask::Faces& faces, const int* ids) {
    const int side = std::min(img.width(), img.height());
    const int scale = side >= 480 ? (side + 160) / 320 : 1;
    for (int i = 0; i < faces.size(); ++i) {
        if (ids[i] <= 0) continue;
        const facemask::Box& b = faces[i].box;
        if (!(std::fabs(b.x1) < 1e7f && std::fabs(b.y2) < 1e7f)) continue;
        char label[24];
        std::snprintf(label, sizeof label, "#%d", ids[i]);
        const int pad = scale, bh = facemask::font::kGlyphH * scale + 2 * pad;
        const int bw = facemask::font::text_width(label) * scale + 2 * pad;
        int x = std::max(0, std::min(int(b.x1), img.width() - bw));
        int y = int(b.y2);
        if (y + bh > img.height()) y = img.height() - bh;
        const facemask::Color c = facemask::face_color(faces[i]);
        facemask::fill_rect(img, x, y, x + bw, y + bh, c);
        facemask::draw_text(img, x + pad, y + pad, label, scale, facemask::colors::text);
    }
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    const int parsed = parse(argc, argv, &a);
    if (parsed == 1) {
        std::fputs(kUsage, stdout);
        return 0;
    }
    if (parsed != 0) return 2;
    facemask::Tracker tracker;
    facemask::Status st = tracker.configure(a.track);
    if (!st) {
        std::fprintf(stderr, "facemask_watch: %s\n", st.message());
        return 2;
    }
    facemask::Pipeline fm;
    const std::string det = a.weights + "/" + facemask::kDetectorFile;
    const std::string cls = a.weights + "/" + facemask::kClassifierFile;
    st = fm.load_files(det.c_str(), cls.c_str(), facemask::Verify::self_test);  // a damaged blob is never used
    if (!st) {
        std::fprintf(stderr, "facemask_watch: cannot load the weights: %s\n", st.message());
        return 1;
    }
    const bool raw = a.raw_w > 0;
    FILE* in = nullptr;
    if (raw) {
        in = a.inputs[0] == "-" ? stdin : std::fopen(a.inputs[0].c_str(), "rb");
        if (!in) {
            std::fprintf(stderr, "facemask_watch: cannot read '%s': %s\n", a.inputs[0].c_str(), std::strerror(errno));
            return 1;
        }
    }
    FILE* events = stdout;
    if (!a.events.empty() && a.events != "-") {
        events = std::fopen(a.events.c_str(), "w");
        if (!events) {
            std::fprintf(stderr, "facemask_watch: cannot write '%s': %s\n", a.events.c_str(), std::strerror(errno));
            return 1;
        }
    }
    FILE* out = nullptr;
    if (!a.output.empty()) {
        out = a.output == "-" ? stdout : std::fopen(a.output.c_str(), "wb");
        if (!out) {
            std::fprintf(stderr, "facemask_watch: cannot write '%s': %s\n", a.output.c_str(), std::strerror(errno));
            return 1;
        }
    }

    facemask::Workspace ws;
    facemask::Image img;
    if (raw && !(st = img.create(a.raw_w, a.raw_h))) {
        std::fprintf(stderr, "facemask_watch: %s\n", st.message());
        return 1;
    }
    const size_t frame_bytes = size_t(a.raw_w) * size_t(a.raw_h) * 3;
    std::vector<int> ids;
    std::vector<double> latency_ms;
    long frame = 0, done = 0, dropped = 0;
    int status = 0;
    const Clock::time_point start = Clock::now();
    for (size_t next = 0;; ++frame) {
        if (raw) {
            const int r = read_frame(in, img.data(), frame_bytes);
            if (r == 0) break;
            if (r < 0) {
                std::fprintf(stderr, "facemask_watch: frame %ld is short or unreadable (a frame is %dx%dx3 = %zu bytes)\n",
                             frame, a.raw_w, a.raw_h, frame_bytes);
                status = 1;
                break;
            }
        } else {
            if (next >= a.inputs.size()) break;
            const std::string& name = a.inputs[next++];
            if (!(st = img.load(name.c_str()))) {
                std::fprintf(stderr, "facemask_watch: %s\n", st.message());
                status = 1;
                continue;
            }
        }
        if (a.fps_limit > 0) {  // frame `frame` arrived at start + frame / fps: behind by a frame or more: drop
            const double due = double(frame + 1) / a.fps_limit;
            const double now = std::chrono::duration<double>(Clock::now() - start).count();
            if (now > due && done > 0) {
                ++dropped;
                continue;
            }
        }
        const Clock::time_point t0 = Clock::now();
        facemask::Faces faces;
        if (!(st = fm.run(ws, img.view(), a.opt, &faces))) {
            std::fprintf(stderr, "facemask_watch: frame %ld: %s\n", frame, st.message());
            status = 1;
            continue;
        }
        ids.assign(size_t(faces.size()) + 1, -1);
        tracker.set_frame_size(img.width(), img.height());
        tracker.update(faces.data, faces.size(), ids.data());
        for (int i = 0; i < tracker.event_count(); ++i) {
            const facemask::TrackEvent& e = tracker.events()[i];
            std::fprintf(events,
                         "{\"event\": \"%s\", \"track\": %d, \"frame\": %ld, \"box\": [%.1f, %.1f, %.1f, %.1f], "
                         "\"mask\": %.4f, \"frames_seen\": %d}\n",
                         facemask::event_name(e.type), e.track, frame, double(e.box.x1), double(e.box.y1),
                         double(e.box.x2), double(e.box.y2), double(e.mask), e.frames_seen);
        }
        if (a.frames) {
            const std::string js = facemask_examples::faces_json(nullptr, img.width(), img.height(), faces, ids.data());
            std::fprintf(events, "{\"frame\": %ld, %s\n", frame, js.c_str() + 1);
        }
        if (out) {
            facemask::AnnotateOptions look;
            facemask::annotate(img, faces, look);
            draw_track_labels(img, faces, ids.data());
            if (std::fwrite(img.data(), 1, size_t(img.width()) * img.height() * 3, out) !=
                size_t(img.width()) * img.height() * 3) {
                std::fprintf(stderr, "facemask_watch: cannot write the output frames\n");
                status = 1;
                break;
            }
            std::fflush(out);
        }
        std::fflush(events);
        ++done;
        latency_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    const facemask::TrackerCounts c = tracker.counts();
    std::fprintf(events, "{\"summary\": {\"frames\": %ld, \"processed\": %ld, \"dropped\": %ld, \"people\": %d, "
                         "\"not_masked\": %d, \"masked\": %d, \"masked_after_alert\": %d}}\n",
                 frame, done, dropped, c.people, c.not_masked, c.masked, c.masked_after_alert);
    if (!a.quiet)
        std::fprintf(stderr,
                     "facemask_watch: %ld frames, %ld processed, %ld dropped, %.1f frames/s; latency median %.1f ms, "
                     "p95 %.1f ms; %d people, %d not masked, %d masked\n",
                     frame, done, dropped, secs > 0 ? double(done) / secs : 0.0, percentile(latency_ms, 0.5),
                     percentile(latency_ms, 0.95), c.people, c.not_masked, c.masked);
    if (events != stdout && std::fclose(events) != 0) status = 1;
    if (out && out != stdout && std::fclose(out) != 0) status = 1;
    if (in && in != stdin) std::fclose(in);
    return status;
}
