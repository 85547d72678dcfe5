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

    bool classified() const { return mask >= 0; }
    // Masked at the given threshold (p > threshold). Only meaningful once classified.
    bool masked(float threshold = 0.5f) const { return mask > threshold; }
};

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
