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
//
// With FACEMASK_PTHREADS the workspace also owns the threads a call with threads > 1 runs on
// (team.hpp): started by the first such call, joined by the destructor.
#pragma once
#include "executor.hpp"
#include "memory.hpp"
#include "status.hpp"
#include "team.hpp"

#if FACEMASK_TEAM
#include <new>
#endif

namespace facemask {

class Detector;
class Classifier;

namespace detail {

// The Workspace's thread team, made on first use (FACEMASK_PTHREADS; elsewhere always empty).
class TeamHolder {
public:
    TeamHolder() = default;
    TeamHolder(const TeamHolder&) = delete;
    TeamHolder& operator=(const TeamHolder&) = delete;
    TeamHolder(TeamHolder&& o) noexcept : team_(o.team_) { o.team_ = nullptr; }
    TeamHolder& operator=(TeamHolder&& o) noexcept {
        if (this != &o) {
            reset();
            team_ = o.team_;
            o.team_ = nullptr;
        }
        return *this;
    }
    ~TeamHolder() { reset(); }

    // Threads a call asking for `threads` gets: with a team, as many as it could start (its
    // workers start now if needed); with OpenMP or one thread, `threads` as given.
    int threads(int threads) {
#if FACEMASK_TEAM
        if (threads <= 1) return 1;
        if (!team_) {
            void* p = FACEMASK_MALLOC(sizeof(Team));
            if (!p) return 1;  // no memory for the team: one thread
            team_ = new (p) Team;
        }
        const int n = team_->grow(threads);
        return n < threads ? n : threads;
#else
        return threads;
#endif
    }

    Team* team() const { return team_; }

private:
    void reset() {
#if FACEMASK_TEAM
        if (team_) {
            team_->~Team();
            FACEMASK_FREE(team_);
        }
#endif
        team_ = nullptr;
    }

    Team* team_ = nullptr;
};

}  // namespace detail

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

    // Threads a call asking for `threads` runs on: with FACEMASK_PTHREADS its team's workers
    // start now if needed, and fewer come back when the system refuses threads; with OpenMP,
    // or one thread, `threads` itself. team(): the team graph::run gets (null until a call
    // with threads > 1 made it; always null without FACEMASK_PTHREADS).
    int threads(int threads) { return team_.threads(threads); }
    detail::Team* team() const { return team_.team(); }

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
    detail::TeamHolder team_;  // declared last: its threads are joined before the memory goes
};

}  // namespace facemask
