// facemask/network.hpp — the model layer the detector and the classifier share: the blob bytes
// (or a borrowed pointer to them), the validated blob view, the graph of kernel calls, the
// weights packed for the kernels, the self-test lookup, and the two ways an input enters the
// executor (resampled picture rows, or a copy of a prepared float input).
#pragma once
#include "blob.hpp"
#include "executor.hpp"
#include "image.hpp"
#include <atomic>
#if FACEMASK_TEAM
#include <thread>  // hardware_concurrency
#endif

namespace facemask {

// What load_memory does with the caller's bytes.
enum class Ownership {
    copy,    // copy them: the caller may free its memory after the call
    borrow,  // use them in place (zero-copy, e.g. a const array in flash): they must outlive the model
};

// What a load checks beyond the format (every field, offsets, shapes, the checksum):
// Verify::self_test also runs the blob's self-test vector through the network and refuses the
// blob (Error::selftest, nothing stays loaded) when the answer differs, so a damaged blob whose
// checksum was made right again is never used silently. It costs one small forward pass.
enum class Verify {
    none,       // the library's default
    self_test,  // the tools' and the CLI's default
};

namespace detail {

// After a model's load: with Verify::self_test, runs the blob's self-test (in a WS workspace); a
// model failing it is unloaded (reset to a fresh one) and the failure names the file, if any.
template <class WS, class Model>
Status verified_load(Model& model, Status loaded, Verify verify, const char* path) {
    if (!loaded || verify == Verify::none) return loaded;
    WS ws;
    const Status st = model.self_test(ws);
    if (st) return st;
    model = Model();
    return path ? Status::fail(st.code(), "%s: %s", path, st.message()) : st;
}

}  // namespace detail

namespace detail {

// Blob files larger than this are refused before reading (memory safety).
constexpr size_t kMaxBlobBytes = size_t(1) << 30;

#ifndef FACEMASK_NO_STDIO
inline Status read_file(const char* path, Buffer* out, size_t* size, size_t max_bytes);
#endif

// A fresh number for every successful load, so a Workspace can tell which model (and which
// load of it) its plan belongs to.
inline uint32_t next_model_id() {
    static std::atomic<uint32_t> counter{0};
    return ++counter;
}

// The part of a model that is the same for the detector and the classifier.
class Network {
public:
    Network() = default;
    Network(const Network&) = delete;
    Network& operator=(const Network&) = delete;
    Network(Network&&) = default;
    Network& operator=(Network&&) = default;

    // Validates the blob and keeps (a copy of, or a pointer to) its bytes.
    Status open(const void* data, size_t size, Ownership own, blob::ModelKind kind) {
        loaded_ = false;
        if (own == Ownership::borrow) {
            if (reinterpret_cast<uintptr_t>(data) % 4 != 0)
                return Status::fail(Error::invalid_argument,
                                    "a borrowed blob must be at least 4-byte aligned (64 recommended)");
            storage_.release();
            return validate(data, size, kind);
        }
        if (!storage_.reserve(size ? size : 1))
            return Status::fail(Error::out_of_memory, "cannot allocate %zu bytes for the weight blob", size);
        if (size) std::memcpy(storage_.data(), data, size);
        return validate(storage_.data(), size, kind);
    }

    // Keeps a blob already read into an owned buffer (load_file).
    Status adopt(Buffer&& bytes, size_t size, blob::ModelKind kind) {
        loaded_ = false;
        storage_ = static_cast<Buffer&&>(bytes);
        return validate(storage_.data(), size, kind);
    }

    // Builds the graph with `build(reader, graph, packer)` twice: to measure the packed weights,
    // then to pack them into one allocation.
    template <class Build>
    Status build(Build&& build_graph) {
        graph::Packer measure;
        graph_ = graph::Graph();
        FACEMASK_TRY(build_graph(reader_, graph_, measure));
        if (measure.used) {
            if (!packed_.reserve(measure.used * sizeof(float)))
                return Status::fail(Error::out_of_memory, "cannot allocate %zu bytes for packed weights",
                                    measure.used * sizeof(float));
            Buffer scratch;  // float16 weights widened before packing; freed at the end of the load
            if (measure.scratch_used && !scratch.reserve(measure.scratch_used * sizeof(float)))
                return Status::fail(Error::out_of_memory, "cannot allocate %zu bytes to widen float16 weights",
                                    measure.scratch_used * sizeof(float));
            graph::Packer fill;
            fill.base = reinterpret_cast<float*>(packed_.data());
            fill.scratch = reinterpret_cast<float*>(scratch.data());
            fill.scratch_used = measure.scratch_used;
            graph_ = graph::Graph();
            FACEMASK_TRY(build_graph(reader_, graph_, fill));
        }
        if (graph_.overflow) return Status::fail(Error::bad_blob, "the network is larger than this build supports");
        graph_.assign_phases();
        if (!measure.borrows) keep_selftest_only();
        loaded_ = true;
        id_ = next_model_id();
        return Status();
    }

    // open() + build(): the whole load of a model from memory; on failure nothing stays loaded.
    template <class Build>
    Status load_memory(const void* data, size_t size, Ownership own, blob::ModelKind kind, Build&& build_graph) {
        Status st = open(data, size, own, kind);
        if (st) st = build(build_graph);
        if (!st) reset();
        return st;
    }

#ifndef FACEMASK_NO_STDIO
    // The same from a file; errors after reading name the file.
    template <class Build>
    Status load_file(const char* path, blob::ModelKind kind, Build&& build_graph) {
        Buffer bytes;
        size_t size = 0;
        Status st = read_file(path, &bytes, &size, kMaxBlobBytes);
        if (!st) {
            reset();
            return st;
        }
        st = adopt(static_cast<Buffer&&>(bytes), size, kind);
        if (st) st = build(build_graph);
        if (!st) {
            reset();
            return Status::fail(st.code(), "%s: %s", path, st.message());
        }
        return st;
    }
#endif

    bool loaded() const { return loaded_; }
    uint32_t id() const { return id_; }
    // Heap bytes the model holds: its copy of the blob (or the part kept) and the packed weights.
    size_t held_bytes() const { return (storage_.external() ? 0 : storage_.size()) + packed_.size(); }

private:
    // Once every weight is packed (SIMD builds) the graph reads nothing in the blob but its
    // self-test vector: an owned blob shrinks to a copy of that part (detector: 1.7 MB to
    // ~0.2 MB; peak memory is what a microcontroller-class or server host pays for). A borrowed
    // blob is the caller's memory and stays as it is; if the copy cannot be allocated the
    // whole blob stays (no failure).
    void keep_selftest_only() {
        if (!storage_.data()) return;
        const size_t n = reader_.write_subset("selftest.", nullptr);
        Buffer small;
        if (n == 0 || !small.reserve(n)) return;
        reader_.write_subset("selftest.", small.data());
        blob::Reader r;
        if (!r.open(small.data(), n)) return;
        reader_ = r;
        storage_ = static_cast<Buffer&&>(small);
    }

    Status validate(const void* bytes, size_t size, blob::ModelKind kind) {
        FACEMASK_TRY(reader_.open(bytes, size));
        if (reader_.kind() != kind)
            return Status::fail(Error::wrong_model, "this blob holds a %s, not a %s", blob::kind_name(reader_.kind()),
                                blob::kind_name(kind));
        return Status();
    }

public:
    const blob::Reader& reader() const { return reader_; }
    const blob::Config& config() const { return reader_.config(); }
    const graph::Graph& graph() const { return graph_; }
    void reset() { *this = Network(); }

private:
    Buffer storage_;
    Buffer packed_;
    blob::Reader reader_;
    graph::Graph graph_;
    bool loaded_ = false;
    uint32_t id_ = 0;
};

// Threads a call asks for: `requested`, or all (0); 1 without OpenMP or FACEMASK_PTHREADS.
// (With FACEMASK_PTHREADS the Workspace may give fewer: Workspace::threads.)
inline int thread_count(int requested) {
#if FACEMASK_OPENMP
    return requested > 0 ? requested : omp_get_max_threads();
#elif FACEMASK_TEAM
    const int all = int(std::thread::hardware_concurrency());
    const int n = requested > 0 ? requested : all > 0 ? all : 1;
    return n < kMaxTeam ? n : kMaxTeam;
#else
    (void)requested;
    return 1;
#endif
}

// The blob's self-test input: tensor "selftest.input" [H, W, 3] float32.
inline Status selftest_input(const blob::Reader& r, blob::Tensor* input) {
    for (uint32_t i = 0; i < r.tensor_count(); ++i) {
        const blob::Tensor t = r.tensor(i);
        if (std::strcmp(t.name, "selftest.input") != 0) continue;
        if (t.rank != 3 || t.shape[2] != 3 || !t.data) break;
        *input = t;
        return Status();
    }
    return Status::fail(Error::bad_blob, "self-test: tensor 'selftest.input' [H, W, 3] float32 is missing");
}

// Executor sources: input rows from the resampler, or copied from an h x w x 3 float array.
struct ResampleRows {
    const Resampler* rs;
    void operator()(const kernels::View& v, int y0, int y1, int part) const { rs->rows(v, y0, y1, part); }
};
struct CopyRows {
    const float* input;
    int w;
    void operator()(const kernels::View& v, int y0, int y1, int) const {
        for (int y = y0; y < y1; ++y) {
            kernels::act_t* row = v.at(y, 0);  // each row found once (a ring: row_at's modulo)
            const float* src = input + size_t(y) * size_t(w) * 3;
            if (sizeof(kernels::act_t) == sizeof(float) && v.px == 3) {  // packed pixels: one copy
                std::memcpy(static_cast<void*>(row), src, size_t(w) * 3 * sizeof(float));
                continue;
            }
            for (int x = 0; x < w; ++x)
                for (int k = 0; k < 3; ++k) row[ptrdiff_t(x) * v.px + k] = kernels::act_store(src[x * 3 + k]);
        }
    }
};

#ifndef FACEMASK_NO_STDIO
// Reads a whole file into a 64-byte aligned buffer.
inline Status read_file(const char* path, Buffer* out, size_t* size, size_t max_bytes) {
    if (!path || !*path) return Status::fail(Error::invalid_argument, "no file name given");
    FILE* f = std::fopen(path, "rb");
    if (!f) return Status::fail(Error::io, "cannot open '%s': %s", path, std::strerror(errno));
    Status st;
    long n = -1;
    // A folder opens but cannot be read (and seeks to LONG_MAX): try one byte first.
    const bool readable = !(std::fgetc(f) == EOF && std::ferror(f));
    if (readable && std::fseek(f, 0, SEEK_END) == 0) n = std::ftell(f);
    if (n < 0 || std::fseek(f, 0, SEEK_SET) != 0) {
        st = Status::fail(Error::io, "cannot read '%s' (not a regular file?)", path);
    } else if (size_t(n) > max_bytes) {
        st = Status::fail(Error::too_large, "'%s' is %ld bytes, more than the limit of %zu", path, n, max_bytes);
    } else if (!out->reserve(n ? size_t(n) : 1)) {
        st = Status::fail(Error::out_of_memory, "cannot allocate %ld bytes to read '%s'", n, path);
    } else if (n > 0 && std::fread(out->data(), 1, size_t(n), f) != size_t(n)) {
        st = Status::fail(Error::io, "cannot read '%s': short read", path);
    } else {
        *size = size_t(n);
    }
    std::fclose(f);
    return st;
}
#endif

}  // namespace detail
}  // namespace facemask
