// facemask/workspace.hpp — per-thread state of the models: one block of memory and the plans
// that lay it out.
//
// The block has two regions. The results region at its start holds what a call returns (the
// faces); the work region after it holds whatever one model needs while it runs (activation
// bands, resampling coefficients, candidates). Models run one after another, so the
// classifier's work reuses the detector's: a pipeline needs results + the larger of the two,
// not their sum. Plans (buffer layouts for an input size) are cached, a few at a time, so a
// call with a size seen before plans nothing and allocates nothing.
//
// Give each thread its own Workspace; models are shared. Without a heap, hand it one static
// block with use_memory(), sized with Pipeline::workspace_bytes_for().
#pragma once
#include "executor.hpp"
#include "memory.hpp"
#include "status.hpp"

namespace facemask {

class Detector;
class Classifier;

class Workspace {
public:
    Workspace() = default;
    Workspace(const Workspace&) = delete;
    Workspace& operator=(const Workspace&) = delete;
    Workspace(Workspace&&) = default;
    Workspace& operator=(Workspace&&) = default;

    // Uses `bytes` bytes at `memory` instead of the heap (kept by the caller).
    void use_memory(void* memory, size_t bytes) {
        release();
        mem_.use_external(memory, bytes);
    }

    // Bytes held now.
    size_t bytes() const { return mem_.size(); }

    // Frees the memory and forgets the plans (the next call plans and allocates again).
    void release() {
        mem_.release();
        results_ = 0;
        for (Cached& c : plans_) c = Cached();
    }

private:
    friend class Detector;
    friend class Classifier;

    // A plan of model `owner` for an input size, band, thread count and passes: cached, or made now
    // (replacing the least recently used one).
    const graph::Plan& plan(uint32_t owner, const graph::Graph& g, int w, int h, int band, int threads, int passes = 1) {
        ++clock_;
        Cached* pick = &plans_[0];
        for (Cached& c : plans_) {
            if (c.owner == owner && c.plan.width == w && c.plan.height == h && c.plan.band == band &&
                c.plan.threads == threads && c.plan.passes == passes) {
                c.last_use = clock_;
                return c.plan;
            }
            if (c.last_use < pick->last_use) pick = &c;
        }
        pick->owner = owner;
        pick->last_use = clock_;
        pick->plan = graph::make_plan(g, w, h, band, threads, false, passes);
        return pick->plan;
    }

    // Makes the block hold `results` bytes of results and `work` bytes of work after them.
    // With keep_results the current results stay (and the results region keeps its size, at
    // least); otherwise its contents are undefined.
    Status reserve(size_t results, size_t work, bool keep_results) {
        if (keep_results && results < results_) results = results_;
        results = align_up(results);
        const size_t total = results + align_up(work);
        if (total > mem_.size()) {
            if (mem_.external())
                return Status::fail(Error::out_of_memory, "workspace memory of %zu bytes is too small: %zu more needed",
                                    mem_.size(), total - mem_.size());
            Buffer bigger;
            if (!bigger.reserve(total))
                return Status::fail(Error::out_of_memory, "cannot allocate a %zu-byte workspace", total);
            if (keep_results && results_) std::memcpy(bigger.data(), mem_.data(), results_);
            mem_ = static_cast<Buffer&&>(bigger);
        }
        results_ = results;
        return Status();
    }

    unsigned char* results() const { return mem_.data(); }
    unsigned char* work() const { return mem_.data() + results_; }

    struct Cached {
        uint32_t owner = 0;  // model (load) id; 0 = empty
        uint32_t last_use = 0;
        graph::Plan plan;
    };

    Buffer mem_;
    size_t results_ = 0;
    Cached plans_[FACEMASK_WORKSPACE_PLANS];  // default 4: the detector's two automatic passes, the classifier, one spare
    uint32_t clock_ = 0;
};

}  // namespace facemask
