// facemask_wasm.cpp — the C API the web page calls (built by examples/web/build.sh with
// emscripten, once with SIMD128 and once scalar). Uses only the single header, with no file
// I/O: both weight blobs come from JavaScript memory.
//
//   fm_create(det, det_size, cls, cls_size, self_test) -> handle (0: see fm_last_error())
//   fm_run(handle, rgba, w, h, conf, nms, mask_threshold, scale, flags) -> JSON text (0: error)
//   fm_pixels(handle)  -> the annotated RGBA pixels of the last fm_run with FM_DRAW (w*h*4)
//   fm_forward(handle, input, w, h) -> 0 / -1: the detector network alone on a normalised
//                                      h x w x 3 float input (for the benchmark)
//   fm_threads(handle, n) -> the threads fm_run and fm_forward use from now on: n, or fewer
//                            when the build has no threads (1) or the workers cannot start
//   fm_last_error(), fm_simd_name(), fm_destroy(handle)
//
// The tracker (facemask/tracker.hpp), for the page's live mode; independent of any engine, so
// faces from the wasm engine or from facemask_serve go through the same code:
//   fm_tracker_create(min_face, confirm, forget, alert, min_iou, max_distance, smoothing,
//                     masked_above, unmasked_below, edge_margin) -> handle (0: see
//                     fm_last_error()); a NaN argument keeps the library's default
//   fm_tracker_update(tracker, faces, count, width, height) -> JSON {"frame", "tracks",
//                     "events", "counts"}; faces: count x 6 floats (x1, y1, x2, y2, score,
//                     p(masked) or -1); width, height: the frame's size (0: unknown; for
//                     edge_margin)
//   fm_tracker_state(tracker) -> JSON {"frame", "settings", "counts", "tracks"}
//   fm_tracker_reset(tracker), fm_tracker_destroy(tracker)
//
// Pointers returned belong to the handle and stay valid until its next call (or destroy).
// Memory for the arguments comes from the module's exported malloc/free.
#define FACEMASK_NO_STDIO
#define FACEMASK_NO_OPENMP
// The -pthread build (facemask_mt) defines FACEMASK_PTHREADS: the Workspace's team of threads.
#include "facemask.hpp"

#include <emscripten/emscripten.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

namespace {

// A growable text buffer (no std::string: the library itself avoids the standard containers,
// and this keeps the module small).
struct Text {
    char* p = nullptr;
    size_t n = 0, cap = 0;

    ~Text() { std::free(p); }
    void clear() {
        n = 0;
        if (p) p[0] = '\0';
    }
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    bool add(const char* fmt, ...) {
        for (;;) {
            va_list args;
            va_start(args, fmt);
            const int k = std::vsnprintf(p ? p + n : nullptr, p ? cap - n : 0, fmt, args);
            va_end(args);
            if (k < 0) return false;
            if (p && n + size_t(k) < cap) {
                n += size_t(k);
                return true;
            }
            const size_t want = (n + size_t(k) + 1) * 2;
            char* q = static_cast<char*>(std::realloc(p, want));
            if (!q) return false;
            p = q;
            cap = want;
        }
    }
};

char g_error[512] = "";

void set_error(const char* fmt, ...) {
    va_list args;
    va_start(args, fmt);
    std::vsnprintf(g_error, sizeof g_error, fmt, args);
    va_end(args);
}

struct Engine {
    facemask::Pipeline fm;
    facemask::Workspace ws;
    facemask::Image canvas;   // RGB copy of the picture to draw on
    uint8_t* rgba = nullptr;  // annotated RGBA pixels
    size_t rgba_bytes = 0;
    Text json;
    int threads = 1;

    ~Engine() { std::free(rgba); }
};

constexpr int kDraw = 1;        // draw the faces (fm_pixels)
constexpr int kLandmarks = 2;   // also draw the five landmarks
constexpr int kNoClassify = 4;  // detection only (mask null)

void json_face(Text& t, const facemask::Face& f, bool first) {
    t.add("%s{\"box\": [%.3f, %.3f, %.3f, %.3f], \"score\": %.6f, \"landmarks\": [", first ? "" : ", ",
          double(f.box.x1), double(f.box.y1), double(f.box.x2), double(f.box.y2), double(f.score));
    for (int j = 0; j < 5; ++j)
        t.add("%s[%.3f, %.3f]", j ? ", " : "", double(f.landmarks[j].x), double(f.landmarks[j].y));
    if (f.classified())
        t.add("], \"mask\": %.6f, \"label\": \"%s\"}", double(f.mask), f.masked() ? "masked" : "not_masked");
    else
        t.add("], \"mask\": null, \"label\": null}");
}

struct TrackerBox {
    facemask::Tracker tracker;
    facemask::Face faces[facemask::Tracker::max_faces];
    int ids[facemask::Tracker::max_faces];
    Text json;
};

void json_box(Text& t, const facemask::Box& b) {
    t.add("[%.2f, %.2f, %.2f, %.2f]", double(b.x1), double(b.y1), double(b.x2), double(b.y2));
}

// The counters under the names facemask_watch's summary line uses.
void json_counts(Text& t, const facemask::TrackerCounts& c) {
    t.add("{\"people\": %d, \"not_masked\": %d, \"masked\": %d, \"masked_after_alert\": %d, \"present\": %d, "
          "\"dropped\": %ld}",
          c.people, c.not_masked, c.masked, c.masked_after_alert, c.present, c.dropped);
}

}  // namespace

extern "C" {

EMSCRIPTEN_KEEPALIVE const char* fm_last_error() { return g_error; }

// "sse4.1" for the SIMD128 build, "scalar" for the fallback.
EMSCRIPTEN_KEEPALIVE const char* fm_simd_name() { return facemask::simd_name(); }

// Loads the detector (required) and the classifier (cls_size 0: detection only). The blobs are
// copied: the caller may free them afterwards. self_test != 0 also runs the blobs' self-tests.
EMSCRIPTEN_KEEPALIVE Engine* fm_create(const uint8_t* det, int det_size, const uint8_t* cls, int cls_size,
                                       int self_test) {
    g_error[0] = '\0';
    if (!det || det_size <= 0) {
        set_error("no detector blob given");
        return nullptr;
    }
    Engine* e = new (std::nothrow) Engine;
    if (!e) {
        set_error("out of memory");
        return nullptr;
    }
    facemask::Status st = e->fm.load_memory(det, size_t(det_size), cls_size > 0 ? cls : nullptr,
                                            cls_size > 0 ? size_t(cls_size) : 0);
    if (!st) {
        set_error("cannot load the weights: %s", st.message());
        delete e;
        return nullptr;
    }
    if (self_test) {
        st = e->fm.detector().self_test(e->ws);
        if (st && e->fm.classifier().loaded()) st = e->fm.classifier().self_test(e->ws);
        if (!st) {
            set_error("%s", st.message());
            delete e;
            return nullptr;
        }
    }
    return e;
}

EMSCRIPTEN_KEEPALIVE void fm_destroy(Engine* e) { delete e; }

// Asks for n threads (the pthreads build: the workspace's workers start now, from the pool the
// page preloaded; a single-thread build always gives 1). Returns the count in force.
EMSCRIPTEN_KEEPALIVE int fm_threads(Engine* e, int n) {
    if (!e) return 0;
    e->threads = facemask::has_threads() ? e->ws.threads(n < 1 ? 1 : n) : 1;
    return e->threads;
}

// Finds and classifies the faces of a w x h RGBA picture (alpha ignored). scale: "native",
// "long=N", "factor=F" or "WxH" (null or empty: long=640). Returns the faces as one JSON object
// (the schema of example_annotate --json, without "image"), or null with fm_last_error() set.
EMSCRIPTEN_KEEPALIVE const char* fm_run(Engine* e, const uint8_t* rgba, int w, int h, float conf, float nms,
                                        float mask_threshold, const char* scale, int flags) {
    g_error[0] = '\0';
    if (!e) {
        set_error("no engine (create failed or it was destroyed)");
        return nullptr;
    }
    facemask::PipelineOptions opt;
    opt.detect.score_threshold = conf;
    opt.detect.nms_iou = nms;
    opt.mask_threshold = mask_threshold;
    opt.classify = !(flags & kNoClassify);
    opt.detect.threads = e->threads;
    if (scale && *scale && !opt.detect.scale.parse(scale)) {
        set_error("scale '%s' is not auto, native, long=N, factor=F or WxH", scale);
        return nullptr;
    }
    const facemask::ImageView view(rgba, w, h, facemask::PixelFormat::rgba);
    facemask::Faces faces;
    facemask::Status st = e->fm.run(e->ws, view, opt, &faces);
    if (!st) {
        set_error("%s", st.message());
        return nullptr;
    }
    Text& t = e->json;
    t.clear();
    t.add("{\"width\": %d, \"height\": %d, \"faces\": [", w, h);
    for (int i = 0; i < faces.size(); ++i) json_face(t, faces[i], i == 0);
    if (!t.add("]}")) {
        set_error("out of memory for the JSON text");
        return nullptr;
    }
    if (flags & kDraw) {
        st = e->canvas.assign(view);
        if (!st) {
            set_error("%s", st.message());
            return nullptr;
        }
        facemask::AnnotateOptions look;
        look.landmarks = (flags & kLandmarks) != 0;
        facemask::annotate(e->canvas, faces, look);
        const size_t bytes = size_t(w) * size_t(h) * 4;
        if (bytes > e->rgba_bytes) {
            uint8_t* p = static_cast<uint8_t*>(std::realloc(e->rgba, bytes));
            if (!p) {
                set_error("cannot allocate %zu bytes for the annotated picture", bytes);
                return nullptr;
            }
            e->rgba = p;
            e->rgba_bytes = bytes;
        }
        for (int y = 0; y < h; ++y) {
            const uint8_t* s = e->canvas.row(y);
            const uint8_t* a = rgba + size_t(y) * size_t(w) * 4;
            uint8_t* d = e->rgba + size_t(y) * size_t(w) * 4;
            for (int x = 0; x < w; ++x, s += 3, a += 4, d += 4) d[0] = s[0], d[1] = s[1], d[2] = s[2], d[3] = a[3];
        }
    }
    return t.p;
}

// The annotated RGBA pixels of the last fm_run with the draw flag.
EMSCRIPTEN_KEEPALIVE uint8_t* fm_pixels(Engine* e) { return e ? e->rgba : nullptr; }

// The detector network alone on a normalised h x w x 3 float input: what the benchmark times
// (as tools/fm_bench --what forward does natively). 0 ok, -1 error (fm_last_error()).
EMSCRIPTEN_KEEPALIVE int fm_forward(Engine* e, const float* input, int w, int h) {
    if (!e) {
        set_error("no engine");
        return -1;
    }
    facemask::HeadOutputs heads;
    const facemask::Status st = e->fm.detector().forward(e->ws, input, w, h, e->threads, &heads);
    if (!st) {
        set_error("%s", st.message());
        return -1;
    }
    return 0;
}

EMSCRIPTEN_KEEPALIVE TrackerBox* fm_tracker_create(double min_face, double confirm, double forget, double alert,
                                                 double min_iou, double max_distance, double smoothing,
                                                 double masked_above, double unmasked_below, double edge_margin) {
    g_error[0] = '\0';
    facemask::TrackerSettings s;
    auto set_f = [](float* out, double v) { if (v == v) *out = float(v); };  // NaN: the default
    auto set_i = [](int* out, double v) {
        if (v == v) *out = v >= 2e9 ? 2000000000 : v <= -2e9 ? -2000000000 : int(v);
    };
    set_f(&s.min_face, min_face);
    set_i(&s.confirm_frames, confirm);
    set_i(&s.forget_frames, forget);
    set_i(&s.alert_frames, alert);
    set_f(&s.min_iou, min_iou);
    set_f(&s.max_distance, max_distance);
    set_f(&s.smoothing, smoothing);
    set_f(&s.masked_above, masked_above);
    set_f(&s.unmasked_below, unmasked_below);
    set_f(&s.edge_margin, edge_margin);
    TrackerBox* t = new (std::nothrow) TrackerBox;
    if (!t) {
        set_error("out of memory");
        return nullptr;
    }
    const facemask::Status st = t->tracker.configure(s);
    if (!st) {
        set_error("%s", st.message());
        delete t;
        return nullptr;
    }
    return t;
}

EMSCRIPTEN_KEEPALIVE void fm_tracker_destroy(TrackerBox* t) { delete t; }

EMSCRIPTEN_KEEPALIVE void fm_tracker_reset(TrackerBox* t) {
    if (t) t->tracker.reset();
}

// One frame's faces (count x 6 floats: box, score, p(masked) or a negative value when not
// classified) on a width x height frame (0 x 0: unknown). Faces beyond Tracker::max_faces get
// track -1, as ignored faces do.
EMSCRIPTEN_KEEPALIVE const char* fm_tracker_update(TrackerBox* t, const float* faces, int count, int width,
                                                   int height) {
    g_error[0] = '\0';
    if (!t) {
        set_error("no tracker (create failed or it was destroyed)");
        return nullptr;
    }
    if (count < 0 || (count > 0 && !faces)) {
        set_error("tracker update: %d faces at %p", count, static_cast<const void*>(faces));
        return nullptr;
    }
    const int n = count < facemask::Tracker::max_faces ? count : facemask::Tracker::max_faces;
    for (int i = 0; i < n; ++i) {
        const float* v = faces + size_t(i) * 6;
        facemask::Face& f = t->faces[i];
        f = facemask::Face();
        f.box = facemask::Box{v[0], v[1], v[2], v[3]};
        f.score = v[4];
        f.mask = v[5] >= 0 ? v[5] : -1.0f;
    }
    t->tracker.set_frame_size(width, height);
    const int n_events = t->tracker.update(t->faces, n, t->ids);
    Text& j = t->json;
    j.clear();
    j.add("{\"frame\": %ld, \"tracks\": [", t->tracker.frame());
    for (int i = 0; i < count; ++i) j.add("%s%d", i ? ", " : "", i < n ? t->ids[i] : -1);
    j.add("], \"events\": [");
    for (int i = 0; i < n_events; ++i) {
        const facemask::TrackEvent& e = t->tracker.events()[i];
        j.add("%s{\"event\": \"%s\", \"track\": %d, \"frame\": %ld, \"box\": ", i ? ", " : "",
              facemask::event_name(e.type), e.track, e.frame);
        json_box(j, e.box);
        j.add(", \"mask\": %.4f, \"frames_seen\": %d}", double(e.mask), e.frames_seen);
    }
    j.add("], \"counts\": ");
    json_counts(j, t->tracker.counts());
    if (!j.add("}")) {
        set_error("out of memory for the JSON text");
        return nullptr;
    }
    return j.p;
}

// The settings in force, the counters and the confirmed tracks present now.
EMSCRIPTEN_KEEPALIVE const char* fm_tracker_state(TrackerBox* t) {
    g_error[0] = '\0';
    if (!t) {
        set_error("no tracker (create failed or it was destroyed)");
        return nullptr;
    }
    const facemask::TrackerSettings& s = t->tracker.settings();
    Text& j = t->json;
    j.clear();
    j.add("{\"frame\": %ld, \"settings\": {\"min_face\": %g, \"confirm_frames\": %d, \"forget_frames\": %d, "
          "\"alert_frames\": %d, \"min_iou\": %g, \"max_distance\": %g, \"smoothing\": %g, \"masked_above\": %g, "
          "\"unmasked_below\": %g, \"edge_margin\": %g}, \"counts\": ",
          t->tracker.frame(), double(s.min_face), s.confirm_frames, s.forget_frames, s.alert_frames, double(s.min_iou),
          double(s.max_distance), double(s.smoothing), double(s.masked_above), double(s.unmasked_below),
          double(s.edge_margin));
    json_counts(j, t->tracker.counts());
    j.add(", \"tracks\": [");
    bool first = true;
    for (int i = 0; i < facemask::Tracker::capacity; ++i) {
        const facemask::Track& tr = t->tracker.tracks()[i];
        if (!tr.active || !tr.id) continue;
        j.add("%s{\"track\": %d, \"box\": ", first ? "" : ", ", tr.id);
        json_box(j, tr.box);
        j.add(", \"mask\": %.4f, \"decision\": %d, \"alerted\": %s, \"missed\": %d, \"frames_seen\": %d}",
              double(tr.mask), tr.decision, tr.alerted ? "true" : "false", tr.missed, tr.hits);
        first = false;
    }
    if (!j.add("]}")) {
        set_error("out of memory for the JSON text");
        return nullptr;
    }
    return j.p;
}

}  // extern "C"
