// facemask/types.hpp — what the library returns: faces with a box, a score, five landmarks and,
// once classified, the probability of a mask.
#pragma once
#include "config.hpp"

namespace facemask {

struct Point {
    float x = 0, y = 0;
};

// Corners in picture pixels (x2, y2 exclusive in spirit; boxes are not clipped to the picture).
struct Box {
    float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
    float width() const { return x2 - x1; }
    float height() const { return y2 - y1; }
};

enum Landmark { left_eye = 0, right_eye = 1, nose = 2, mouth_left = 3, mouth_right = 4 };

struct Face {
    Box box;
    float score = 0;          // detector confidence in (0, 1)
    Point landmarks[5];       // as seen in the picture: left eye, right eye, nose, mouth corners
    float mask = -1;          // p(masked) in [0, 1] once classified, -1 before
    // The label, decided once where the face is classified (Pipeline::run with
    // PipelineOptions::mask_threshold, Classifier::classify with its threshold): p(masked) >
    // threshold. Drawing, JSON and every front end read it; none applies a threshold again.
    bool is_masked = false;
    unsigned char reserved_[3] = {};  // no padding: faces compare bit for bit (memcmp)

    bool classified() const { return mask >= 0; }
    bool masked() const { return classified() && is_masked; }
    // Sets p(masked) and the label it gets at `threshold`.
    void set_mask(float p, float threshold) {
        mask = p;
        is_masked = p > threshold;
    }
};

// A mask threshold that means "the classifier blob's own" (its config's threshold; 0.5 for the
// committed weights/mask_classifier.fmb).
constexpr float kBlobThreshold = -1.0f;

// A read-only list of faces; the memory belongs to the Workspace that produced it and stays
// valid until that workspace is used again.
struct Faces {
    Face* data = nullptr;
    int count = 0;

    int size() const { return count; }
    bool empty() const { return count == 0; }
    Face* begin() const { return data; }
    Face* end() const { return data + count; }
    Face& operator[](int i) const { return data[i]; }
};

}  // namespace facemask
