// The Python module `facemask` (pybind11): the pipeline on NumPy arrays.
//
//   import facemask
//   fm = facemask.Pipeline("build/weights")
//   rgb = facemask.load_image("door.jpg")           # uint8 (H, W, 3)
//   faces = fm.run(rgb, conf=0.5)                    # [{"box", "score", "landmarks", "mask", "label"}]
//   out = facemask.annotate(rgb, faces)              # a new (H, W, 3) array
//
// Errors raise facemask.Error (a RuntimeError) with the library's message; the C++ library
// itself stays exception-free (only this module is built with exceptions, as pybind11 needs).
// Pipeline.run releases the GIL; one Pipeline may be used by many Python threads at once: each
// call borrows a Workspace from the Pipeline's pool (one per thread running at the same time).
#define FACEMASK_STB_IMPLEMENTATION
#include <facemask/facemask.hpp>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace py = pybind11;

namespace {

using U8Array = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>;

PyObject* g_error = nullptr;  // facemask.Error

[[noreturn]] void raise(const facemask::Status& st) {
    PyErr_SetString(g_error, st.message());
    throw py::error_already_set();
}

// An ImageView over a C-contiguous uint8 array: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4).
facemask::ImageView view_of(const U8Array& a) {
    if (a.ndim() != 2 && a.ndim() != 3)
        throw py::value_error("facemask: a picture is a uint8 array of shape (H, W), (H, W, 3) or (H, W, 4)");
    const int channels = a.ndim() == 2 ? 1 : int(a.shape(2));
    facemask::PixelFormat f;
    if (channels == 1) f = facemask::PixelFormat::gray;
    else if (channels == 3) f = facemask::PixelFormat::rgb;
    else if (channels == 4) f = facemask::PixelFormat::rgba;
    else throw py::value_error("facemask: a picture has 1, 3 or 4 channels, not " + std::to_string(channels));
    if (a.shape(0) < 1 || a.shape(1) < 1 || a.shape(0) > facemask::kMaxPictureSide || a.shape(1) > facemask::kMaxPictureSide)
        throw py::value_error("facemask: picture size " + std::to_string(a.shape(1)) + "x" + std::to_string(a.shape(0)) +
                              " is out of range");
    return facemask::ImageView(a.data(), int(a.shape(1)), int(a.shape(0)), f);
}

U8Array to_array(const facemask::Image& img) {
    U8Array out({py::ssize_t(img.height()), py::ssize_t(img.width()), py::ssize_t(3)});
    std::memcpy(out.mutable_data(), img.data(), size_t(img.width()) * img.height() * 3);
    return out;
}

py::dict face_dict(const facemask::Face& f) {
    py::dict d;
    d["box"] = py::make_tuple(f.box.x1, f.box.y1, f.box.x2, f.box.y2);
    d["score"] = f.score;
    py::list marks;
    for (const facemask::Point& p : f.landmarks) marks.append(py::make_tuple(p.x, p.y));
    d["landmarks"] = marks;
    if (f.classified()) {
        d["mask"] = f.mask;
        d["label"] = f.masked() ? "masked" : "not_masked";
    } else {
        d["mask"] = py::none();
        d["label"] = py::none();
    }
    return d;
}

facemask::Face face_from(const py::handle& h) {
    const py::dict d = py::reinterpret_borrow<py::dict>(h);
    facemask::Face f;
    const auto box = d["box"].cast<std::vector<float>>();
    if (box.size() != 4) throw py::value_error("facemask: a face's box is (x1, y1, x2, y2)");
    f.box = {box[0], box[1], box[2], box[3]};
    f.score = d.contains("score") ? d["score"].cast<float>() : 1.0f;
    if (d.contains("landmarks") && !d["landmarks"].is_none()) {
        const auto marks = d["landmarks"].cast<std::vector<std::vector<float>>>();
        for (size_t i = 0; i < marks.size() && i < 5; ++i)
            if (marks[i].size() == 2) f.landmarks[i] = {marks[i][0], marks[i][1]};
    }
    // The label comes from Pipeline.run (its one mask threshold); a mask without it is refused.
    if (d.contains("mask") && !d["mask"].is_none()) {
        if (!d.contains("label") || d["label"].is_none())
            throw py::value_error("facemask: a face with a mask needs its label ('masked' / 'not_masked', from Pipeline.run)");
        const std::string label = d["label"].cast<std::string>();
        if (label != "masked" && label != "not_masked")
            throw py::value_error("facemask: a face's label is 'masked' or 'not_masked', not '" + label + "'");
        f.mask = d["mask"].cast<float>();
        f.is_masked = label == "masked";
    }
    return f;
}

class PyPipeline {
public:
    PyPipeline(const std::string& weights, const py::object& detector, const py::object& classifier, bool classify,
               bool verify) {
        const std::string det = detector.is_none() ? weights + "/" + facemask::kDetectorFile : detector.cast<std::string>();
        const std::string cls =
            classifier.is_none() ? weights + "/" + facemask::kClassifierFile : classifier.cast<std::string>();
        facemask::Status st = fm_.load_files(det.c_str(), classify ? cls.c_str() : nullptr,
                                             verify ? facemask::Verify::self_test : facemask::Verify::none);
        if (!st) raise(st);
    }

    py::list run(const U8Array& rgb, float conf, float nms, const py::object& mask_threshold_arg, const std::string& scale,
                 bool classify, int threads) {
        // None: the classifier blob's own threshold.
        const float mask_threshold = mask_threshold_arg.is_none() ? facemask::kBlobThreshold : mask_threshold_arg.cast<float>();
        facemask::PipelineOptions opt;
        opt.detect.score_threshold = conf;
        opt.detect.nms_iou = nms;
        opt.mask_threshold = mask_threshold;
        opt.classify = classify;
        opt.detect.threads = threads;
        if (!(conf >= 0 && conf < 1)) throw py::value_error("facemask: conf wants a number in [0, 1)");
        if (!(nms >= 0 && nms <= 1)) throw py::value_error("facemask: nms wants a number in [0, 1]");
        if (!mask_threshold_arg.is_none() && !(mask_threshold >= 0 && mask_threshold <= 1))
            throw py::value_error("facemask: mask_threshold wants a number in [0, 1]");
        if (!opt.detect.scale.parse(scale.c_str()))
            throw py::value_error("facemask: scale wants auto, native, long=N, factor=F or WxH, not '" + scale + "'");
        const facemask::ImageView view = view_of(rgb);
        std::unique_ptr<facemask::Workspace> ws = borrow();
        facemask::Faces faces;
        facemask::Status st;
        {
            py::gil_scoped_release unlocked;
            st = fm_.run(*ws, view, opt, &faces);
        }
        py::list out;
        if (st)
            for (const facemask::Face& f : faces) out.append(face_dict(f));
        give_back(std::move(ws));  // faces are copied into Python objects before the workspace is shared again
        if (!st) raise(st);
        return out;
    }

    size_t workspaces() {
        std::lock_guard<std::mutex> lock(m_);
        return created_;
    }

private:
    std::unique_ptr<facemask::Workspace> borrow() {
        std::lock_guard<std::mutex> lock(m_);
        if (free_.empty()) {
            ++created_;
            return std::unique_ptr<facemask::Workspace>(new facemask::Workspace());
        }
        std::unique_ptr<facemask::Workspace> ws = std::move(free_.back());
        free_.pop_back();
        return ws;
    }
    void give_back(std::unique_ptr<facemask::Workspace> ws) {
        std::lock_guard<std::mutex> lock(m_);
        free_.push_back(std::move(ws));
    }

    facemask::Pipeline fm_;
    std::mutex m_;
    std::vector<std::unique_ptr<facemask::Workspace>> free_;
    size_t created_ = 0;
};

U8Array load_image(const std::string& path, long max_pixels) {
    facemask::Image img;
    facemask::Status st;
    {
        py::gil_scoped_release unlocked;
        st = img.load(path.c_str(), max_pixels);
    }
    if (!st) raise(st);
    return to_array(img);
}

U8Array annotate(const U8Array& rgb, const py::iterable& faces, bool landmarks, bool labels) {
    facemask::Image img;
    facemask::Status st = img.assign(view_of(rgb));
    if (!st) raise(st);
    std::vector<facemask::Face> list;
    for (const py::handle& h : faces) list.push_back(face_from(h));
    facemask::AnnotateOptions look;
    look.landmarks = landmarks;
    look.labels = labels;
    facemask::Faces view;
    view.data = list.data();
    view.count = int(list.size());
    facemask::annotate(img, view, look);
    return to_array(img);
}

}  // namespace

PYBIND11_MODULE(facemask, m) {
    m.doc() = "facemask: face detection and mask classification (header-only C++ engine)";
    g_error = PyErr_NewException("facemask.Error", PyExc_RuntimeError, nullptr);
    m.attr("Error") = py::handle(g_error);
    m.attr("DETECTOR_FILE") = facemask::kDetectorFile;
    m.attr("CLASSIFIER_FILE") = facemask::kClassifierFile;

    py::class_<PyPipeline>(m, "Pipeline",
                           "Pipeline(weights='weights', detector=None, classifier=None, classify=True, verify=True):\n"
                           "loads <weights>/retinaface_mnet025.fmb and <weights>/mask_classifier.fmb once; verify runs\n"
                           "their self-tests and refuses a blob that fails one.")
        .def(py::init<const std::string&, const py::object&, const py::object&, bool, bool>(), py::arg("weights") = "weights",
             py::arg("detector") = py::none(), py::arg("classifier") = py::none(), py::arg("classify") = true,
             py::arg("verify") = true)
        .def("run", &PyPipeline::run, py::arg("rgb"), py::kw_only(), py::arg("conf") = 0.5f, py::arg("nms") = 0.4f,
             py::arg("mask_threshold") = py::none(), py::arg("scale") = "auto", py::arg("classify") = true,
             py::arg("threads") = 1,
             "Faces in a uint8 picture (H, W), (H, W, 3) RGB or (H, W, 4) RGBA, as a list of dicts with box,\n"
             "score, landmarks, mask and label. Releases the GIL while it runs.")
        .def_property_readonly("workspaces", &PyPipeline::workspaces,
                               "Workspaces made so far (one per thread that ran at the same time).");
    m.def("load_image", &load_image, py::arg("path"), py::arg("max_pixels") = facemask::Image::kDefaultMaxPixels,
          "Decodes a picture file (JPEG, PNG, BMP, ...) to a uint8 (H, W, 3) RGB array, EXIF orientation applied.");
    m.def("annotate", &annotate, py::arg("rgb"), py::arg("faces"), py::kw_only(), py::arg("landmarks") = false, py::arg("labels") = true,
          "A new (H, W, 3) array: the picture with the faces' boxes and labels drawn.");
}
