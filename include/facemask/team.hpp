// facemask/team.hpp — a fixed team of POSIX threads for the executor where OpenMP is not
// available (FACEMASK_PTHREADS: emscripten's pthreads in the browser; also native, for tests).
//
// The team belongs to one Workspace (per-thread state, like everything a call writes): its
// workers start on the first call that asks for them and live until the Workspace is
// destroyed, so a warm call starts no thread and allocates nothing. The caller's thread is
// part 0 of every job; workers are parts 1..n-1.
//
//   team.grow(n)               start workers until n threads can run; returns how many can
//                              (fewer when the system refuses a thread: the job then runs on
//                              fewer, never fails)
//   team.run(n, job, context)  job(context, part, parts) on parts = min(n, size()) threads;
//                              returns when every part has returned
//   team.barrier()             inside a job: waits until all `parts` threads have arrived
//
// Waiting spins on an atomic for FACEMASK_TEAM_SPIN rounds (a kernel call between two barriers
// takes tens of microseconds, less than a sleep and a wake-up cost), then sleeps on a condition
// variable. A browser's main thread may not sleep (Atomics.wait is refused there): it only spins.
// No exceptions, no allocation (the Workspace allocates the Team itself).
#pragma once
#include "config.hpp"

namespace facemask {
namespace detail {
class Team;  // defined with FACEMASK_PTHREADS; elsewhere only pointers to it exist (always null)
}  // namespace detail
}  // namespace facemask

#if FACEMASK_TEAM
#include <pthread.h>

#include <atomic>
#if defined(__EMSCRIPTEN__)
#include <emscripten/threading.h>
#endif

// How a worker is started (a test replaces it to make thread creation fail).
#ifndef FACEMASK_PTHREAD_CREATE
#define FACEMASK_PTHREAD_CREATE(thread, attr, start, arg) pthread_create(thread, attr, start, arg)
#endif

namespace facemask {
namespace detail {

// Threads a team holds at most (the caller included).
constexpr int kMaxTeam = 64;

inline void spin_pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
}

class Team {
public:
    using Job = void (*)(void* context, int part, int parts);

    Team() {
        ok_ = pthread_mutex_init(&mutex_, nullptr) == 0;
        if (ok_ && pthread_cond_init(&cond_, nullptr) != 0) {
            pthread_mutex_destroy(&mutex_);
            ok_ = false;
        }
    }
    Team(const Team&) = delete;
    Team& operator=(const Team&) = delete;

    ~Team() {
        if (workers_ > 0) {
            stopping_ = true;
            generation_.fetch_add(1);
            wake();
            for (int i = 0; i < workers_; ++i) pthread_join(worker_[i].thread, nullptr);
        }
        if (ok_) {
            pthread_cond_destroy(&cond_);
            pthread_mutex_destroy(&mutex_);
        }
    }

    // Threads a job can run on now, the caller included.
    int size() const { return workers_ + 1; }

    // Starts workers until n threads can run (at most kMaxTeam). Once the system refused a
    // thread, no more are tried. Call it between jobs only.
    int grow(int n) {
        if (n > kMaxTeam) n = kMaxTeam;
        while (ok_ && !refused_ && workers_ + 1 < n) {
            Worker& w = worker_[workers_];
            w.team = this;
            w.part = workers_ + 1;
            w.seen = generation_.load();
            if (FACEMASK_PTHREAD_CREATE(&w.thread, nullptr, &Team::main, &w) != 0) {
                refused_ = true;
                break;
            }
            ++workers_;
        }
        return size();
    }

    // Runs job(context, part, parts) on parts = min(n, size()) threads (the caller is part 0)
    // and returns when all have returned. Not reentrant: one job at a time.
    void run(int n, Job job, void* context) {
        parts_ = n < size() ? (n < 1 ? 1 : n) : size();
        job_ = job;
        context_ = context;
        done_.store(0);
        if (workers_ > 0) {
            generation_.fetch_add(1);  // publishes job_, context_, parts_
            wake();
        }
        job(context, 0, parts_);
        if (workers_ > 0) wait([this] { return done_.load() == workers_; });
    }

    // Inside a job: returns once all of its parts have called it (as often as each other).
    void barrier() {
        if (parts_ < 2) return;
        const unsigned phase = phase_.load();
        if (arrived_.fetch_add(1) + 1 == parts_) {
            arrived_.store(0);
            phase_.fetch_add(1);
            wake();
            return;
        }
        wait([this, phase] { return phase_.load() != phase; });
    }

private:
    struct Worker {
        Team* team = nullptr;
        int part = 0;
        unsigned seen = 0;  // the generation it last ran
        pthread_t thread;
    };

    static void* main(void* arg) {
        Worker& w = *static_cast<Worker*>(arg);
        Team& t = *w.team;
        for (;;) {
            t.wait([&] { return t.generation_.load() != w.seen; });
            w.seen = t.generation_.load();
            if (t.stopping_) return nullptr;
            if (w.part < t.parts_) t.job_(t.context_, w.part, t.parts_);
            t.done_.fetch_add(1);
            t.wake();
        }
    }

    // Spins, then sleeps until ready() holds. The sleeper count and the state ready() reads are
    // sequentially consistent: a waker that changed the state either sees the sleeper or the
    // sleeper sees the state (and the check and the sleep happen under the mutex).
    template <class Ready>
    void wait(Ready ready) {
        for (int i = 0; i < FACEMASK_TEAM_SPIN; ++i) {
            if (ready()) return;
            spin_pause();
        }
        if (!may_sleep()) {
            while (!ready()) spin_pause();
            return;
        }
        pthread_mutex_lock(&mutex_);
        sleepers_.fetch_add(1);
        while (!ready()) pthread_cond_wait(&cond_, &mutex_);
        sleepers_.fetch_sub(1);
        pthread_mutex_unlock(&mutex_);
    }

    void wake() {
        if (sleepers_.load() == 0) return;
        pthread_mutex_lock(&mutex_);
        pthread_cond_broadcast(&cond_);
        pthread_mutex_unlock(&mutex_);
    }

    static bool may_sleep() {
#if defined(__EMSCRIPTEN__)
        return !emscripten_is_main_browser_thread();
#else
        return true;
#endif
    }

    Worker worker_[kMaxTeam - 1];
    int workers_ = 0;
    bool ok_ = false, refused_ = false, stopping_ = false;
    // The job, written by the caller before generation_ changes.
    Job job_ = nullptr;
    void* context_ = nullptr;
    int parts_ = 1;
    std::atomic<unsigned> generation_{0};  // one more per job (and once to stop)
    std::atomic<int> done_{0};             // workers finished with the current job
    std::atomic<int> arrived_{0};          // at the current barrier
    std::atomic<unsigned> phase_{0};       // barriers passed
    std::atomic<int> sleepers_{0};
    pthread_mutex_t mutex_;
    pthread_cond_t cond_;
};

}  // namespace detail
}  // namespace facemask
#endif  // FACEMASK_TEAM
