// tests/test_team.cpp — FACEMASK_PTHREADS: the Workspace's team of POSIX threads (team.hpp),
// the executor's threads where there is no OpenMP (emscripten's -pthread build). Built as its
// own program, facemask_pthread_tests (test_main.cpp + this file, -DFACEMASK_PTHREADS, no
// OpenMP): ctest facemask.pthreads, and under ThreadSanitizer in CI (tests/concurrency/tsan.sh).
//   - the team: every part runs once per job, the barrier holds all parts;
//   - the detector on 2 and 3 threads gives the faces and raw head outputs of 1 thread, bit
//     for bit, and really runs on that many threads;
//   - warm calls start no thread and allocate nothing; a refused thread means fewer threads
//     (same faces), never a failure; the Workspace joins its threads when it goes.
#include "test_support.hpp"

#include <atomic>
#include <cstring>
#include <vector>

#if !FACEMASK_TEAM || FACEMASK_OPENMP
#error "tests/test_team.cpp is built with -DFACEMASK_PTHREADS (and so without OpenMP)"
#endif

namespace fmtest {
namespace {
std::atomic<int> g_threads_started{0};
std::atomic<int> g_thread_budget{-1};  // threads create_thread still allows (-1: any)
}  // namespace

int create_thread(pthread_t* thread, const pthread_attr_t* attr, void* (*start)(void*), void* arg) {
    for (int left = g_thread_budget.load(); left >= 0;) {
        if (left == 0) return EAGAIN;
        if (g_thread_budget.compare_exchange_weak(left, left - 1)) break;
    }
    const int rc = pthread_create(thread, attr, start, arg);
    if (rc == 0) g_threads_started.fetch_add(1);
    return rc;
}
}  // namespace fmtest

using facemask::DetectOptions;
using facemask::Detector;
using facemask::Face;
using facemask::Faces;
using facemask::Scale;
using facemask::Workspace;
using facemask::detail::Team;

namespace {

// A job that checks the barrier: in every round each part writes its slot, waits, then reads
// everyone's slot, which must hold this round (and waits again before the next round writes).
struct BarrierJob {
    static constexpr int kRounds = 300;
    Team* team = nullptr;
    std::atomic<int> slot[8];
    std::atomic<int> calls[8];
    std::atomic<int> stale{0};
    std::atomic<int> parts_seen{0};

    BarrierJob() {
        for (int i = 0; i < 8; ++i) slot[i] = -1, calls[i] = 0;
    }
    static void run(void* self, int part, int parts) {
        BarrierJob& j = *static_cast<BarrierJob*>(self);
        j.calls[part].fetch_add(1);
        j.parts_seen.store(parts);
        for (int r = 0; r < kRounds; ++r) {
            j.slot[part].store(r, std::memory_order_relaxed);
            j.team->barrier();
            for (int q = 0; q < parts; ++q)
                if (j.slot[q].load(std::memory_order_relaxed) != r) j.stale.fetch_add(1, std::memory_order_relaxed);
            j.team->barrier();
        }
    }
};

std::vector<Face> faces_of(const Detector& det, Workspace& ws, const facemask::ImageView& img, DetectOptions opt,
                           int threads) {
    opt.threads = threads;
    Faces faces;
    const facemask::Status st = det.detect(ws, img, opt, &faces);
    CHECK_MESSAGE(st.ok(), std::string(st.message()));
    return fmtest::copy_faces(faces);
}

// The raw head outputs of forward() as bytes.
std::vector<unsigned char> heads_of(const Detector& det, Workspace& ws, const std::vector<float>& in, int w, int h,
                                    int threads) {
    facemask::HeadOutputs heads;
    const facemask::Status st = det.forward(ws, in.data(), w, h, threads, &heads);
    CHECK_MESSAGE(st.ok(), std::string(st.message()));
    std::vector<unsigned char> out;
    if (!st.ok()) return out;
    for (const facemask::kernels::View& v : heads.level) {
        const unsigned char* p = reinterpret_cast<const unsigned char*>(v.data);
        out.insert(out.end(), p, p + size_t(v.h) * size_t(v.row) * sizeof(facemask::kernels::act_t));
    }
    return out;
}

}  // namespace

TEST_SUITE_BEGIN("pthreads");

TEST_CASE("team: each part runs once per job, and the barrier holds every part") {
    CHECK(facemask::has_threads());
    CHECK(std::strcmp(facemask::threads_name(), "pthreads") == 0);
    Team team;
    CHECK(team.size() == 1);
    CHECK(team.grow(4) == 4);
    for (int parts : {1, 2, 3, 4}) {
        CAPTURE(parts);
        BarrierJob job;
        job.team = &team;
        team.run(parts, &BarrierJob::run, &job);
        CHECK(job.parts_seen.load() == parts);
        for (int q = 0; q < 8; ++q) CHECK(job.calls[q].load() == (q < parts ? 1 : 0));
        CHECK(job.stale.load() == 0);
    }
    // More parts asked than threads: the job runs on the threads there are.
    BarrierJob job;
    job.team = &team;
    team.run(7, &BarrierJob::run, &job);
    CHECK(job.parts_seen.load() == 4);
    CHECK(job.stale.load() == 0);
}

TEST_CASE("detector on 2 and 3 pthreads: the faces and head outputs of 1 thread, bit for bit") {
    const Detector* det = fmtest::detector(fmtest::kDetectorBlob);
    FM_REQUIRE(det != nullptr);
    const facemask::Image* img = fmtest::picture("images/ex_img.jpg");
    FM_REQUIRE(img != nullptr);
    DetectOptions opt;  // Scale::automatic: two passes on this picture
    Workspace one, two, three;
    const std::vector<Face> want = faces_of(*det, one, img->view(), opt, 1);
    CHECK(want.size() >= 2);
    CHECK(one.team() == nullptr);  // one thread starts no team
    CHECK(fmtest::same_faces(faces_of(*det, two, img->view(), opt, 2), want));
    FM_REQUIRE(two.team() != nullptr);
    CHECK(two.team()->size() == 2);
    CHECK(fmtest::same_faces(faces_of(*det, three, img->view(), opt, 3), want));
    CHECK(three.team()->size() == 3);
    // Other plans: one input size, the FPN in two passes.
    for (bool split : {false, true}) {
        CAPTURE(split);
        DetectOptions o = opt;
        o.scale = Scale::longest(640);
        o.split_fpn = split;
        const std::vector<Face> w1 = faces_of(*det, one, img->view(), o, 1);
        CHECK(fmtest::same_faces(faces_of(*det, two, img->view(), o, 2), w1));
    }
    // The network alone, on a deterministic input of odd sizes.
    const int w = 641, h = 479;
    fmtest::Rng rng{7};
    const std::vector<float> in = rng.vec(size_t(w) * h * 3, 100.0f);
    const std::vector<unsigned char> h1 = heads_of(*det, one, in, w, h, 1);
    CHECK(!h1.empty());
    CHECK(heads_of(*det, two, in, w, h, 2) == h1);
    CHECK(heads_of(*det, three, in, w, h, 3) == h1);
}

TEST_CASE("pthreads: warm calls start no thread and allocate nothing") {
    const Detector* det = fmtest::detector(fmtest::kDetectorBlob);
    FM_REQUIRE(det != nullptr);
    const facemask::Image* img = fmtest::picture("images/ex_img.jpg");
    FM_REQUIRE(img != nullptr);
    DetectOptions opt;
    opt.scale = Scale::longest(640);
    opt.threads = 2;
    Workspace ws;
    Faces faces;
    const int started = fmtest::g_threads_started.load();
    FM_CHECK_OK(det->detect(ws, img->view(), opt, &faces));
    CHECK(fmtest::g_threads_started.load() == started + 1);  // one worker beside the caller
    const size_t allocations = fmtest::allocation_count();
    for (int i = 0; i < 3; ++i) FM_CHECK_OK(det->detect(ws, img->view(), opt, &faces));
    CHECK(fmtest::allocation_count() == allocations);
    CHECK(fmtest::g_threads_started.load() == started + 1);
    // Moved, the workspace keeps its team (and its threads).
    Workspace moved(static_cast<Workspace&&>(ws));
    FM_CHECK_OK(det->detect(moved, img->view(), opt, &faces));
    CHECK(moved.team() != nullptr);
    CHECK(ws.team() == nullptr);
    CHECK(fmtest::g_threads_started.load() == started + 1);
}

TEST_CASE("pthreads: a refused thread means fewer threads and the same faces, never a failure") {
    const Detector* det = fmtest::detector(fmtest::kDetectorBlob);
    FM_REQUIRE(det != nullptr);
    const facemask::Image* img = fmtest::picture("images/ex_img.jpg");
    FM_REQUIRE(img != nullptr);
    DetectOptions opt;
    opt.scale = Scale::longest(480);
    Workspace ref;
    const std::vector<Face> want = faces_of(*det, ref, img->view(), opt, 1);
    for (int budget : {0, 1, 2}) {
        CAPTURE(budget);
        fmtest::g_thread_budget.store(budget);
        Workspace ws;
        const std::vector<Face> got = faces_of(*det, ws, img->view(), opt, 4);
        fmtest::g_thread_budget.store(-1);
        CHECK(fmtest::same_faces(got, want));
        FM_REQUIRE(ws.team() != nullptr);
        CHECK(ws.team()->size() == budget + 1);
        // Refused once, the team does not try again on the next call.
        const int started = fmtest::g_threads_started.load();
        CHECK(fmtest::same_faces(faces_of(*det, ws, img->view(), opt, 4), want));
        CHECK(fmtest::g_threads_started.load() == started);
        CHECK(ws.threads(4) == budget + 1);
    }
}

TEST_SUITE_END();
