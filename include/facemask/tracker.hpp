// facemask/tracker.hpp — people across video frames: each frame's faces are associated with
// tracks (IoU, or centre distance, against a constant-velocity prediction), each person keeps a
// stable id and a smoothed p(masked) with hysteresis, and the tracker emits events:
//   enter   a track seen in `confirm_frames` frames (it gets its id then)
//   alert   a confirmed track whose smoothed p(masked) stayed below `unmasked_below` for
//           `alert_frames` observed frames in a row, once
//   masked  an alerted track whose smoothed decision turned to masked
//   leave   a confirmed track not seen for more than `forget_frames` frames
// With the frame size known (set_frame_size), a face cut by the frame's border (its box nearer
// to it than `edge_margin` of its own size: the detector's box of a cut face reaches or passes
// the border) is tracked but its p(masked) is not used: a half face coming in at a door reads
// as not masked whatever it wears.
// Fixed capacity (template argument), no allocation, no exceptions: usable on the web page and
// on a microcontroller as well as in facemask_watch.
#pragma once
#include "config.hpp"
#include "status.hpp"
#include "types.hpp"

namespace facemask {

struct TrackerSettings {
    float min_face = 16;          // faces smaller than this (min of width, height, pixels) are ignored
    int confirm_frames = 3;       // frames a new track must be seen in before `enter` (>= 1)
    int forget_frames = 10;       // frames a track may be missed before `leave` (>= 0)
    int alert_frames = 5;         // observed frames in a row below unmasked_below before `alert` (>= 1)
    float min_iou = 0.2f;         // IoU with the predicted box to associate (0, 1]
    float max_distance = 0.8f;    // else: centre distance, in face sizes, to associate (>= 0)
    float smoothing = 0.4f;       // weight of a new p(masked) in the running average (0, 1]
    float masked_above = 0.65f;   // smoothed p(masked) above this: masked
    float unmasked_below = 0.35f; // below this: not masked; between: the decision stays
    float edge_margin = 0.02f;    // p(masked) of faces nearer the border than this x their size is not used (>= 0)

    Status validate() const {
        if (!(min_face >= 0 && min_face < 1e6f))
            return Status::fail(Error::invalid_argument, "tracker: min_face %g must be in [0, 1e6)", double(min_face));
        if (confirm_frames < 1 || confirm_frames > 1000)
            return Status::fail(Error::invalid_argument, "tracker: confirm_frames %d must be in [1, 1000]", confirm_frames);
        if (forget_frames < 0 || forget_frames > 100000)
            return Status::fail(Error::invalid_argument, "tracker: forget_frames %d must be in [0, 100000]", forget_frames);
        if (alert_frames < 1 || alert_frames > 100000)
            return Status::fail(Error::invalid_argument, "tracker: alert_frames %d must be in [1, 100000]", alert_frames);
        if (!(min_iou > 0 && min_iou <= 1))
            return Status::fail(Error::invalid_argument, "tracker: min_iou %g must be in (0, 1]", double(min_iou));
        if (!(max_distance >= 0 && max_distance <= 100))
            return Status::fail(Error::invalid_argument, "tracker: max_distance %g must be in [0, 100]", double(max_distance));
        if (!(smoothing > 0 && smoothing <= 1))
            return Status::fail(Error::invalid_argument, "tracker: smoothing %g must be in (0, 1]", double(smoothing));
        if (!(unmasked_below >= 0 && unmasked_below <= masked_above && masked_above <= 1))
            return Status::fail(Error::invalid_argument,
                                "tracker: thresholds must satisfy 0 <= unmasked_below (%g) <= masked_above (%g) <= 1",
                                double(unmasked_below), double(masked_above));
        if (!(edge_margin >= 0 && edge_margin <= 10))
            return Status::fail(Error::invalid_argument, "tracker: edge_margin %g must be in [0, 10]", double(edge_margin));
        return Status();
    }
};

enum class EventType { enter, alert, masked, leave };

inline const char* event_name(EventType t) {
    switch (t) {
        case EventType::enter: return "enter";
        case EventType::alert: return "alert";
        case EventType::masked: return "masked";
        case EventType::leave: return "leave";
    }
    return "unknown";
}

struct TrackEvent {
    EventType type = EventType::enter;
    int track = 0;       // the person's id (1, 2, ...)
    long frame = 0;      // frame number the event happened on (0-based, as given to update)
    Box box;             // last box seen
    float mask = -1;     // smoothed p(masked), -1 if never classified
    int frames_seen = 0; // frames the track was associated with a face
};

// Decisions: -1 not yet known, 0 not masked, 1 masked.
struct Track {
    int id = 0;            // 0 while tentative (not yet confirmed)
    Box box;               // last box seen (or predicted while missed)
    float vx = 0, vy = 0;  // centre velocity, pixels per frame
    int hits = 0;          // frames associated
    int missed = 0;        // frames since last associated
    float mask = -1;       // smoothed p(masked)
    int decision = -1;
    int unmasked_run = 0;  // consecutive observed frames with smoothed p(masked) < unmasked_below
    bool alerted = false;  // alert raised and not yet answered by `masked`
    bool ever_alerted = false;
    bool active = false;
};

struct TrackerCounts {
    int people = 0;       // confirmed tracks so far (enter events)
    int not_masked = 0;   // people alerted at least once
    int masked = 0;       // people who left (or are present) judged masked and were never alerted
    int masked_after_alert = 0;  // `masked` events
    int present = 0;      // confirmed tracks active now
    long dropped = 0;     // faces that found no free track slot
};

template <int Capacity = 32>
class BasicTracker {
    static_assert(Capacity >= 1 && Capacity <= 1024, "tracker capacity must be in [1, 1024]");

public:
    static constexpr int capacity = Capacity;
    static constexpr int max_faces = 4 * Capacity;       // faces per frame considered
    static constexpr int max_events = 3 * Capacity + 1;  // events one update can produce

    BasicTracker() { reset(); }

    Status configure(const TrackerSettings& s) {
        const Status st = s.validate();
        if (st.ok()) settings_ = s;
        return st;
    }
    const TrackerSettings& settings() const { return settings_; }

    // The frames' size in the faces' coordinates, for edge_margin; 0 (the default): unknown,
    // every face's p(masked) is used. Kept by reset().
    void set_frame_size(int width, int height) {
        frame_w_ = width > 0 && height > 0 ? width : 0;
        frame_h_ = width > 0 && height > 0 ? height : 0;
    }

    // Forgets every track (no events) and restarts ids and counters.
    void reset() {
        for (Track& t : tracks_) t = Track();
        next_id_ = 1;
        counts_ = TrackerCounts();
        n_events_ = 0;
        frame_ = -1;
    }

    // One frame's faces. track_of_face (optional, `count` entries) receives each face's track
    // id, 0 for a tentative track, -1 for a face ignored (too small, beyond max_faces, no slot).
    // The events of this frame are then in events()/event_count(), valid until the next update.
    int update(const Face* faces, int count, int* track_of_face = nullptr) {
        ++frame_;
        n_events_ = 0;
        if (count < 0 || !faces) count = 0;
        const int n = count < max_faces ? count : max_faces;
        int face_track[max_faces];  // slot of each face's track, -1 none
        bool usable[max_faces];
        for (int f = 0; f < n; ++f) {
            face_track[f] = -1;
            const Box& b = faces[f].box;
            const float side = b.width() < b.height() ? b.width() : b.height();
            usable[f] = side >= settings_.min_face && side > 0;
        }
        // Greedy association: best affinity first, among the predicted positions.
        bool matched[Capacity];
        for (int t = 0; t < Capacity; ++t) matched[t] = false;
        for (;;) {
            float best = 0;
            int bt = -1, bf = -1;
            for (int t = 0; t < Capacity; ++t) {
                if (!tracks_[t].active || matched[t]) continue;
                const Box pred = predicted(tracks_[t]);
                for (int f = 0; f < n; ++f) {
                    if (!usable[f] || face_track[f] >= 0) continue;
                    const float a = affinity(pred, faces[f].box);
                    if (a > best) best = a, bt = t, bf = f;
                }
            }
            if (bt < 0) break;
            matched[bt] = true;
            face_track[bf] = bt;
            observe(tracks_[bt], faces[bf]);
        }
        // Unmatched tracks: predicted forward, removed when forgotten.
        for (int t = 0; t < Capacity; ++t) {
            Track& tr = tracks_[t];
            if (!tr.active || matched[t]) continue;
            ++tr.missed;
            if (tr.id == 0) {  // a tentative track missed once is noise
                tr = Track();
                continue;
            }
            if (tr.missed > settings_.forget_frames) {
                emit(EventType::leave, tr);
                if (!tr.ever_alerted && tr.decision == 1) ++counts_.masked;
                --counts_.present;
                tr = Track();
            }
        }
        // Unmatched faces start tentative tracks.
        for (int f = 0; f < n; ++f) {
            if (!usable[f] || face_track[f] >= 0) continue;
            int slot = -1;
            for (int t = 0; t < Capacity && slot < 0; ++t)
                if (!tracks_[t].active) slot = t;
            if (slot < 0) {
                ++counts_.dropped;
                continue;
            }
            Track& tr = tracks_[slot];
            tr = Track();
            tr.active = true;
            tr.box = faces[f].box;
            matched[slot] = true;
            face_track[f] = slot;
            observe(tr, faces[f], true);
        }
        if (track_of_face) {
            for (int f = 0; f < count; ++f)
                track_of_face[f] = f < n && face_track[f] >= 0 ? tracks_[face_track[f]].id : -1;
        }
        return n_events_;
    }

    const TrackEvent* events() const { return events_; }
    int event_count() const { return n_events_; }
    // Counters; `masked` also counts the masked people present now.
    TrackerCounts counts() const {
        TrackerCounts c = counts_;
        for (const Track& t : tracks_)
            if (t.active && t.id && !t.ever_alerted && t.decision == 1) ++c.masked;
        return c;
    }
    const Track* tracks() const { return tracks_; }  // Capacity slots; see Track::active
    long frame() const { return frame_; }

private:
    static float iou(const Box& a, const Box& b) {
        const float ix = (a.x2 < b.x2 ? a.x2 : b.x2) - (a.x1 > b.x1 ? a.x1 : b.x1);
        const float iy = (a.y2 < b.y2 ? a.y2 : b.y2) - (a.y1 > b.y1 ? a.y1 : b.y1);
        if (ix <= 0 || iy <= 0) return 0;
        const float inter = ix * iy;
        const float uni = a.width() * a.height() + b.width() * b.height() - inter;
        return uni > 0 ? inter / uni : 0;
    }

    static Box predicted(const Track& t) {
        const float k = float(t.missed + 1);
        Box b = t.box;
        b.x1 += t.vx * k, b.x2 += t.vx * k, b.y1 += t.vy * k, b.y2 += t.vy * k;
        return b;
    }

    // In (0, 1]: IoU when it reaches min_iou, else a value below min_iou that falls with the
    // centre distance; 0 when the sizes differ by more than 2x or nothing is close enough.
    float affinity(const Box& pred, const Box& face) const {
        const float sp = pred.width() + pred.height(), sf = face.width() + face.height();
        if (sp <= 0 || sf <= 0 || sp > 2 * sf || sf > 2 * sp) return 0;
        const float o = iou(pred, face);
        if (o >= settings_.min_iou) return o;
        const float dx = (pred.x1 + pred.x2 - face.x1 - face.x2) * 0.5f;
        const float dy = (pred.y1 + pred.y2 - face.y1 - face.y2) * 0.5f;
        const float d2 = dx * dx + dy * dy;
        const float size = 0.5f * sp;
        const float lim = settings_.max_distance * size;
        if (lim <= 0 || d2 >= lim * lim) return 0;
        const float ratio = d2 / (lim * lim);  // avoids sqrt; monotonic in distance
        return settings_.min_iou * 0.999f * (1 - ratio) + 1e-6f;
    }

    void observe(Track& t, const Face& f, bool fresh = false) {
        if (!fresh) {
            const float k = float(t.missed + 1);
            const float cx = (f.box.x1 + f.box.x2 - t.box.x1 - t.box.x2) * 0.5f / k;
            const float cy = (f.box.y1 + f.box.y2 - t.box.y1 - t.box.y2) * 0.5f / k;
            t.vx = t.hits > 1 ? 0.5f * t.vx + 0.5f * cx : cx;
            t.vy = t.hits > 1 ? 0.5f * t.vy + 0.5f * cy : cy;
        }
        t.box = f.box;
        t.missed = 0;
        ++t.hits;
        if (f.classified() && !at_edge(f.box)) {
            const float p = f.mask > 1 ? 1.f : f.mask;
            t.mask = t.mask < 0 ? p : t.mask + settings_.smoothing * (p - t.mask);
            if (t.mask > settings_.masked_above) t.decision = 1;
            else if (t.mask < settings_.unmasked_below) t.decision = 0;
            // Not the hysteresis decision: a face misjudged on its first frames keeps decision
            // 0 while its average climbs through the band towards masked.
            t.unmasked_run = t.mask < settings_.unmasked_below ? t.unmasked_run + 1 : 0;
        }
        if (t.id == 0 && t.hits >= settings_.confirm_frames) {
            t.id = next_id_++;
            ++counts_.people;
            ++counts_.present;
            emit(EventType::enter, t);
        }
        if (t.id == 0) return;
        if (!t.alerted && t.decision == 0 && t.unmasked_run >= settings_.alert_frames) {
            t.alerted = true;
            if (!t.ever_alerted) ++counts_.not_masked;
            t.ever_alerted = true;
            emit(EventType::alert, t);
        } else if (t.alerted && t.decision == 1) {
            t.alerted = false;
            ++counts_.masked_after_alert;
            emit(EventType::masked, t);
        }
    }

    bool at_edge(const Box& b) const {
        if (frame_w_ <= 0) return false;
        const float mx = settings_.edge_margin * b.width(), my = settings_.edge_margin * b.height();
        return b.x1 < mx || b.y1 < my || b.x2 > float(frame_w_) - mx || b.y2 > float(frame_h_) - my;
    }

    void emit(EventType type, const Track& t) {
        if (n_events_ >= max_events) return;
        TrackEvent& e = events_[n_events_++];
        e.type = type;
        e.track = t.id;
        e.frame = frame_;
        e.box = t.box;
        e.mask = t.mask;
        e.frames_seen = t.hits;
    }

    TrackerSettings settings_;
    Track tracks_[Capacity];
    TrackEvent events_[max_events];
    int n_events_ = 0;
    int next_id_ = 1;
    long frame_ = -1;
    int frame_w_ = 0, frame_h_ = 0;
    TrackerCounts counts_;
};

using Tracker = BasicTracker<32>;

}  // namespace facemask
