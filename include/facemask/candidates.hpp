// facemask/candidates.hpp — what happens to scored anchors: the best k are kept as they
// stream out of the heads (a bounded heap, no allocation), then NMS.
#pragma once
#include "memory.hpp"
#include "types.hpp"

namespace facemask {
namespace detail {

struct Candidate {
    float score;
    int32_t index;  // prior index
};

// Score order: higher first, then lower prior index (a total, deterministic order).
inline bool candidate_before(const Candidate& a, const Candidate& b) {
    return a.score > b.score || (a.score == b.score && a.index < b.index);
}

// IoU with the original implementation's pixel convention (+1 on widths and heights).
inline float iou_plus1(const Box& a, const Box& b) {
    const float xx1 = a.x1 > b.x1 ? a.x1 : b.x1, yy1 = a.y1 > b.y1 ? a.y1 : b.y1;
    const float xx2 = a.x2 < b.x2 ? a.x2 : b.x2, yy2 = a.y2 < b.y2 ? a.y2 : b.y2;
    float w = xx2 - xx1 + 1.0f, h = yy2 - yy1 + 1.0f;
    if (w < 0) w = 0;
    if (h < 0) h = 0;
    const float inter = w * h;
    const float area_a = (a.x2 - a.x1 + 1.0f) * (a.y2 - a.y1 + 1.0f);
    const float area_b = (b.x2 - b.x1 + 1.0f) * (b.y2 - b.y1 + 1.0f);
    return inter / (area_a + area_b - inter);
}

// Greedy NMS over faces sorted by score, in place; keeps at most `keep`; returns the new count.
inline int nms(Face* faces, int n, float iou_threshold, int keep) {
    int kept = 0;
    for (int i = 0; i < n && kept < keep; ++i) {
        bool suppressed = false;
        for (int j = 0; j < kept && !suppressed; ++j) suppressed = iou_plus1(faces[j].box, faces[i].box) > iou_threshold;
        if (!suppressed) faces[kept++] = faces[i];
    }
    return kept;
}

// The best `capacity` candidates offered so far (by candidate_before) with their boxes and
// landmarks, in caller memory of bytes(capacity): 68 bytes a candidate (the score is kept once,
// in the heap entry; a Face would add 12 more: 60 KiB at the default top_k of 5000). A heap
// whose root is the worst kept candidate: an offer better than the root replaces it. finish()
// sorts them best first.
class BestK {
public:
    static size_t bytes(int capacity) {
        return align_up(size_t(capacity) * sizeof(Entry)) + align_up(size_t(capacity) * sizeof(Geometry));
    }

    void init(unsigned char* memory, int capacity) {
        entries_ = reinterpret_cast<Entry*>(memory);
        geometry_ = reinterpret_cast<Geometry*>(memory + align_up(size_t(capacity) * sizeof(Entry)));
        capacity_ = capacity;
        n_ = 0;
    }

    void offer(float score, int32_t index, const Face& f) {
        const Candidate c{score, index};
        if (n_ < capacity_) {
            geometry_[n_] = geometry_of(f);
            entries_[n_] = Entry{c, n_};
            sift_up(n_++);
        } else if (capacity_ > 0 && candidate_before(c, entries_[0].c)) {
            geometry_[entries_[0].slot] = geometry_of(f);
            entries_[0].c = c;
            sift_down(0, n_);
        }
    }

    // Sorts the kept candidates best first; returns their count (face(i) then reads them).
    int finish() {
        for (int end = n_ - 1; end > 0; --end) {  // move the worst to the back, one by one
            swap(0, end);
            sift_down(0, end);
        }
        return n_;
    }

    // The face of the i-th best candidate (after finish()), not yet classified.
    Face face(int i) const {
        const Geometry& g = geometry_[entries_[i].slot];
        Face f;
        f.box = g.box;
        f.score = entries_[i].c.score;
        for (int j = 0; j < 5; ++j) f.landmarks[j] = g.landmarks[j];
        f.mask = -1;
        return f;
    }

private:
    struct Entry {
        Candidate c;
        int32_t slot;  // where its box and landmarks are
    };
    struct Geometry {
        Box box;
        Point landmarks[5];
    };
    static Geometry geometry_of(const Face& f) {
        Geometry g;
        g.box = f.box;
        for (int j = 0; j < 5; ++j) g.landmarks[j] = f.landmarks[j];
        return g;
    }

    // a must sit above b in the heap: a is worse
    bool above(int a, int b) const { return candidate_before(entries_[b].c, entries_[a].c); }
    void swap(int a, int b) {
        const Entry t = entries_[a];
        entries_[a] = entries_[b];
        entries_[b] = t;
    }
    void sift_up(int i) {
        while (i > 0 && above(i, (i - 1) / 2)) {
            swap(i, (i - 1) / 2);
            i = (i - 1) / 2;
        }
    }
    void sift_down(int i, int end) {
        for (;;) {
            int worst = i;
            const int l = 2 * i + 1, r = l + 1;
            if (l < end && above(l, worst)) worst = l;
            if (r < end && above(r, worst)) worst = r;
            if (worst == i) return;
            swap(i, worst);
            i = worst;
        }
    }

    Entry* entries_ = nullptr;
    Geometry* geometry_ = nullptr;
    int capacity_ = 0, n_ = 0;
};

// Greedy NMS of the sorted candidates into `out`: at most `keep` faces; returns their count.
inline int nms(const BestK& c, int n, float iou_threshold, int keep, Face* out) {
    int kept = 0;
    for (int i = 0; i < n && kept < keep; ++i) {
        const Face f = c.face(i);
        bool suppressed = false;
        for (int j = 0; j < kept && !suppressed; ++j) suppressed = iou_plus1(out[j].box, f.box) > iou_threshold;
        if (!suppressed) out[kept++] = f;
    }
    return kept;
}

// True when at least 70 % of `f`'s box lies inside one of `faces` that scores at least as
// high: used to drop a part of a face (an eye, an ear) found again on an enlarged picture.
inline bool inside_stronger(const Face& f, const Face* faces, int n) {
    const Box& b = f.box;
    const float area = (b.x2 - b.x1) * (b.y2 - b.y1);
    for (int i = 0; i < n; ++i) {
        if (faces[i].score < f.score) continue;
        const Box& a = faces[i].box;
        const float w = (a.x2 < b.x2 ? a.x2 : b.x2) - (a.x1 > b.x1 ? a.x1 : b.x1);
        const float h = (a.y2 < b.y2 ? a.y2 : b.y2) - (a.y1 > b.y1 ? a.y1 : b.y1);
        if (w > 0 && h > 0 && w * h >= 0.7f * area) return true;
    }
    return false;
}

}  // namespace detail
}  // namespace facemask
