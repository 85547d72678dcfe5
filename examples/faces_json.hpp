// faces_json.hpp — the JSON object of one picture's faces, shared by example_annotate (JSON
// Lines), facemask_serve (POST /v1/detect) and the Python module's tests, so that the three
// cannot drift apart. Not part of the library: it allocates (std::string).
//
//   {"image": "a.jpg", "width": 640, "height": 480, "faces": [{"box": [x1, y1, x2, y2],
//    "score": 0.999, "landmarks": [[x, y] x 5], "mask": 0.98, "label": "masked"}]}
//
// `image` is left out when the name is null; mask and label are null when not classified.
#pragma once
#include <facemask/types.hpp>

#include <cstdio>
#include <string>

namespace facemask_examples {

// Appends s as a JSON string (quotes, backslashes and control characters escaped).
inline void append_json_string(std::string* out, const std::string& s) {
    out->push_back('"');
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out->push_back('\\');
            out->push_back(char(c));
        } else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out->append(buf);
        } else {
            out->push_back(char(c));
        }
    }
    out->push_back('"');
}

// The object of one picture, without a trailing newline.
// tracks (optional, one per face): adds "track": id to each face (facemask_watch).
// The label is each face's own (Face::is_masked, decided by Pipeline::run's one threshold).
inline std::string faces_json(const char* image, int w, int h, const facemask::Faces& faces,
                              const int* tracks = nullptr) {
    std::string out = "{";
    if (image) {
        out += "\"image\": ";
        append_json_string(&out, image);
        out += ", ";
    }
    char buf[256];
    std::snprintf(buf, sizeof buf, "\"width\": %d, \"height\": %d, \"faces\": [", w, h);
    out += buf;
    for (int i = 0; i < faces.size(); ++i) {
        const facemask::Face& face = faces[i];
        std::snprintf(buf, sizeof buf, "%s{\"box\": [%.3f, %.3f, %.3f, %.3f], \"score\": %.6f, \"landmarks\": [",
                      i ? ", " : "", double(face.box.x1), double(face.box.y1), double(face.box.x2),
                      double(face.box.y2), double(face.score));
        out += buf;
        for (int j = 0; j < 5; ++j) {
            std::snprintf(buf, sizeof buf, "%s[%.3f, %.3f]", j ? ", " : "", double(face.landmarks[j].x),
                          double(face.landmarks[j].y));
            out += buf;
        }
        if (face.classified())
            std::snprintf(buf, sizeof buf, "], \"mask\": %.6f, \"label\": \"%s\"}", double(face.mask),
                          face.masked() ? "masked" : "not_masked");
        else
            std::snprintf(buf, sizeof buf, "], \"mask\": null, \"label\": null}");
        out += buf;
        if (tracks) {
            out.pop_back();
            std::snprintf(buf, sizeof buf, ", \"track\": %d}", tracks[i]);
            out += buf;
        }
    }
    out += "]}";
    return out;
}

}  // namespace facemask_examples
