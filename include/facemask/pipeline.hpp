// facemask/pipeline.hpp — the whole product in one object: find every face, say for each
// whether it wears a mask.
//
//   facemask::Pipeline fm;
//   if (!fm.load("weights")) ...                 // retinaface_mnet025.fmb + mask_classifier.fmb
//   facemask::Image img;  img.load("in.jpg");
//   facemask::Workspace ws;                      // one per thread
//   facemask::Faces faces;
//   fm.run(ws, img.view(), facemask::PipelineOptions(), &faces);
//   facemask::annotate(img, faces);
//   img.save("out.jpg");
//
// The Pipeline is immutable after load and can be shared by threads (each with its own
// Workspace). Faces point into the workspace until its next use.
#pragma once
#include "classifier.hpp"
#include "detector.hpp"

namespace facemask {

struct PipelineOptions {
    DetectOptions detect;          // thresholds, scale policy, threads
    // p(masked) > this is "masked": the one threshold, applied once in run() (Face::is_masked);
    // kBlobThreshold (default): the classifier blob's own (0.5 for the committed classifier).
    float mask_threshold = kBlobThreshold;
    bool classify = true;          // false: detection only (mask stays -1)
};

// File names load() looks for in a weights folder.
constexpr const char* kDetectorFile = "retinaface_mnet025.fmb";
constexpr const char* kClassifierFile = "mask_classifier.fmb";

class Pipeline {
public:
#ifndef FACEMASK_NO_STDIO
    // Loads <dir>/retinaface_mnet025.fmb and <dir>/mask_classifier.fmb (Verify::self_test: each
    // blob also passes its self-test, or nothing is used).
    Status load(const char* dir, Verify verify = Verify::none) {
        if (!dir) return Status::fail(Error::invalid_argument, "no weights folder given");
        char det[1024], cls[1024];
        std::snprintf(det, sizeof det, "%s/%s", dir, kDetectorFile);
        std::snprintf(cls, sizeof cls, "%s/%s", dir, kClassifierFile);
        return load_files(det, cls, verify);
    }

    // Loads the two blobs from files; classifier may be null for detection only.
    Status load_files(const char* detector, const char* classifier, Verify verify = Verify::none) {
        FACEMASK_TRY(detector_.load_file(detector, verify));
        if (classifier) FACEMASK_TRY(classifier_.load_file(classifier, verify));
        return Status();
    }
#endif

    // Loads the two blobs from memory (classifier may be null for detection only).
    Status load_memory(const void* detector, size_t detector_size, const void* classifier, size_t classifier_size,
                       Ownership own = Ownership::copy, Verify verify = Verify::none) {
        FACEMASK_TRY(detector_.load_memory(detector, detector_size, own, verify));
        if (classifier) FACEMASK_TRY(classifier_.load_memory(classifier, classifier_size, own, verify));
        return Status();
    }

    const Detector& detector() const { return detector_; }
    // The threshold run() applies for these options (the blob's when kBlobThreshold; 0.5
    // without a classifier).
    float mask_threshold(const PipelineOptions& opt) const {
        return classifier_.loaded() ? classifier_.threshold_for(opt.mask_threshold)
                                    : (opt.mask_threshold < 0.0f ? 0.5f : opt.mask_threshold);
    }
    const Classifier& classifier() const { return classifier_; }

    // Detects the faces and, if a classifier is loaded and opt.classify, their mask probability.
    Status run(Workspace& ws, const ImageView& image, const PipelineOptions& opt, Faces* out) const {
        if (!(opt.mask_threshold == kBlobThreshold || (opt.mask_threshold >= 0.0f && opt.mask_threshold <= 1.0f)))
            return Status::fail(Error::invalid_argument, "mask threshold %g is outside [0, 1]", double(opt.mask_threshold));
        const bool classify = opt.classify && classifier_.loaded();
        // The classifier's work reuses the detector's memory: reserve the larger at once.
        const size_t cls_work = classify ? classifier_.workspace_bytes(classifier_.scratch_bytes(image.width, image.height)) : 0;
        FACEMASK_TRY(detector_.detect(ws, image, opt.detect, out, cls_work));
        if (classify) {
            Status st = classifier_.classify(ws, image, *out, opt.mask_threshold);
            if (!st) {
                *out = Faces();
                return st;
            }
        }
        return Status();
    }

    // Bytes of Workspace::use_memory() that run() needs for any picture of this size: the
    // face lists, then the larger of the detector's and the classifier's work (one block, one
    // plan: the classifier runs in the detector's memory after it).
    size_t workspace_bytes_for(int picture_w, int picture_h, const PipelineOptions& opt) const {
        const bool classify = opt.classify && classifier_.loaded();
        const size_t cls_work = classify ? classifier_.workspace_bytes(classifier_.scratch_bytes(picture_w, picture_h)) : 0;
        return detector_.workspace_bytes_for(picture_w, picture_h, opt.detect, cls_work);
    }

private:
    Detector detector_;
    Classifier classifier_;
};

}  // namespace facemask
