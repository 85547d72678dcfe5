// tests/test_support.hpp — what every test file shares: the allocation-counting hook, the
// paths the build passes in, cached models and pictures, and a few assertion helpers.
//
// Every test translation unit includes this header first and nothing of facemask before it:
// facemask is header-only, so FACEMASK_MALLOC must expand to the same hook in every TU of the
// program (anything else would be two different definitions of the same inline functions).
#pragma once

#include <cstddef>
#include <cstdint>

namespace fmtest {
// FACEMASK_MALLOC / FACEMASK_FREE of the whole test program: plain malloc/free that count, so
// a test can assert that a warmed-up detect() allocates nothing.
void* counting_malloc(size_t bytes);
void counting_free(void* p);
// Allocations made through FACEMASK_MALLOC so far (all threads).
size_t allocation_count();
// The largest single allocation since the last reset_largest_allocation() (all threads).
size_t largest_allocation();
void reset_largest_allocation();
}  // namespace fmtest

#define FACEMASK_MALLOC(size) ::fmtest::counting_malloc(size)
#define FACEMASK_FREE(ptr) ::fmtest::counting_free(ptr)

#if defined(FACEMASK_PTHREADS)
// The pthreads test program (tests/test_team.cpp) starts the team's workers through this hook,
// which counts them and can refuse them (like a system out of threads).
#include <pthread.h>
namespace fmtest {
int create_thread(pthread_t* thread, const pthread_attr_t* attr, void* (*start)(void*), void* arg);
}  // namespace fmtest
#define FACEMASK_PTHREAD_CREATE(thread, attr, start, arg) ::fmtest::create_thread(thread, attr, start, arg)
#endif

#include <facemask/facemask.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

// Paths come from tests/CMakeLists.txt; empty when the build has no blobs / shared data.
#ifndef FACEMASK_TEST_WEIGHTS_DIR
#define FACEMASK_TEST_WEIGHTS_DIR ""
#endif
#ifndef FACEMASK_TEST_SHARED_DIR
#define FACEMASK_TEST_SHARED_DIR ""
#endif
#ifndef FACEMASK_TEST_GOLDEN_DIR
#define FACEMASK_TEST_GOLDEN_DIR ""
#endif
#ifndef FACEMASK_TEST_DATA_DIR
#define FACEMASK_TEST_DATA_DIR ""
#endif
#ifndef FACEMASK_TEST_HAVE_BLOBS
#define FACEMASK_TEST_HAVE_BLOBS 0
#endif

// The tests are built with -fno-exceptions, where doctest's REQUIRE cannot abort a test case:
// it reports and carries on. These stop the test case for real, so that a failed precondition
// cannot turn into a crash further down.
#define FM_REQUIRE(...)            \
    do {                           \
        REQUIRE(__VA_ARGS__);      \
        if (!(__VA_ARGS__)) return; \
    } while (0)

// A Status that must be ok; the failure shows the library's message.
#define FM_CHECK_OK(status_expr)                                 \
    do {                                                         \
        const ::facemask::Status fm_st_ = (status_expr);         \
        CHECK_MESSAGE(fm_st_.ok(), #status_expr ": ", std::string(fm_st_.message())); \
    } while (0)
#define FM_REQUIRE_OK(status_expr)                                 \
    do {                                                           \
        const ::facemask::Status fm_st_ = (status_expr);           \
        REQUIRE_MESSAGE(fm_st_.ok(), #status_expr ": ", std::string(fm_st_.message())); \
        if (!fm_st_.ok()) return;                                  \
    } while (0)

namespace fmtest {

// xorshift32: reproducible values in [-1, 1).
struct Rng {
    uint32_t s = 0x9E3779B9u;
    explicit Rng(uint32_t seed) : s(seed * 2654435761u + 1u) {}
    float next() {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        return float(s >> 8) / float(1 << 23) - 1.0f;
    }
    std::vector<float> vec(size_t n, float scale = 1.0f) {
        std::vector<float> v(n);
        for (float& x : v) x = next() * scale;
        return v;
    }
};


constexpr const char* kDetectorBlob = "retinaface_mnet025.fmb";         // pytorch-retinaface
constexpr const char* kDetector1mbBlob = "retinaface_mnet025_1mb.fmb";  // face-detector-1mb
constexpr const char* kClassifierBlob = "mask_classifier.fmb";          // optional in a build

std::string weights_path(const char* blob_name);
std::string shared_path(const std::string& relative);
std::string golden_dir();
std::string data_path(const char* name);  // tests/data/<name>

// A fresh, empty folder for this process's files (removed at exit).
const std::string& temp_dir();

bool read_bytes(const std::string& path, std::vector<unsigned char>* out);
bool write_bytes(const std::string& path, const unsigned char* data, size_t n);
inline bool write_bytes(const std::string& path, const std::vector<unsigned char>& v) {
    return write_bytes(path, v.data(), v.size());
}

// Models and pictures loaded once per process (loading the big JPEG takes a while under ASan).
// They return nullptr (after a failed CHECK) when loading fails.
const facemask::Detector* detector(const char* blob_name);
const facemask::Image* picture(const std::string& relative_to_shared);

// A 64-byte aligned heap block (for borrowed blobs and external workspaces), not counted.
class AlignedBlock {
public:
    explicit AlignedBlock(size_t bytes);
    ~AlignedBlock();
    AlignedBlock(const AlignedBlock&) = delete;
    AlignedBlock& operator=(const AlignedBlock&) = delete;
    unsigned char* data() const { return p_; }
    size_t size() const { return n_; }

private:
    unsigned char* p_ = nullptr;
    size_t n_ = 0;
};

// Faces copied out of a workspace (a Faces view dies with the workspace's next use).
std::vector<facemask::Face> copy_faces(const facemask::Faces& f);

// Bit-for-bit equality of two face lists: same count, same order, same floats.
bool same_faces(const std::vector<facemask::Face>& a, const std::vector<facemask::Face>& b);

// Whether `text` contains `part`.
inline bool contains(const char* text, const char* part) { return text && std::strstr(text, part) != nullptr; }

}  // namespace fmtest
