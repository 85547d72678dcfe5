// tests/test_main.cpp — doctest's main, stb's implementation, and the shared test helpers.
#define FACEMASK_STB_IMPLEMENTATION
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "test_support.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>

#include <unistd.h>

namespace fmtest {

namespace {
std::atomic<size_t> g_allocations{0};
}

std::atomic<size_t> g_largest{0};
void* counting_malloc(size_t bytes) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    for (size_t seen = g_largest.load(); bytes > seen && !g_largest.compare_exchange_weak(seen, bytes);) {
    }
    return std::malloc(bytes);
}
void counting_free(void* p) { std::free(p); }
size_t allocation_count() { return g_allocations.load(std::memory_order_relaxed); }
size_t largest_allocation() { return g_largest.load(); }
void reset_largest_allocation() { g_largest.store(0); }

std::string weights_path(const char* blob_name) { return std::string(FACEMASK_TEST_WEIGHTS_DIR) + "/" + blob_name; }
std::string shared_path(const std::string& relative) { return std::string(FACEMASK_TEST_SHARED_DIR) + "/" + relative; }
std::string golden_dir() { return FACEMASK_TEST_GOLDEN_DIR; }
std::string data_path(const char* name) { return std::string(FACEMASK_TEST_DATA_DIR) + "/" + name; }

namespace {
struct TempDir {
    std::string path;
    TempDir() {
        const char* base = std::getenv("TMPDIR");
        std::string templ = std::string(base && *base ? base : "/tmp") + "/facemask_tests.XXXXXX";
        std::vector<char> buf(templ.begin(), templ.end());
        buf.push_back('\0');
        if (mkdtemp(buf.data())) path = buf.data();
    }
    ~TempDir() {
        if (path.empty()) return;
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};
}  // namespace

const std::string& temp_dir() {
    static TempDir dir;
    REQUIRE_MESSAGE(!dir.path.empty(), "cannot create a temporary folder");
    return dir.path;
}

bool read_bytes(const std::string& path, std::vector<unsigned char>* out) {
    out->clear();
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return false;
    unsigned char chunk[1 << 16];
    size_t n;
    while ((n = std::fread(chunk, 1, sizeof chunk, f)) > 0) out->insert(out->end(), chunk, chunk + n);
    const bool ok = !std::ferror(f);
    std::fclose(f);
    return ok;
}

bool write_bytes(const std::string& path, const unsigned char* data, size_t n) {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return false;
    bool ok = n == 0 || std::fwrite(data, 1, n, f) == n;
    ok = std::fclose(f) == 0 && ok;
    return ok;
}

const facemask::Detector* detector(const char* blob_name) {
    static std::map<std::string, std::unique_ptr<facemask::Detector>> cache;
    auto it = cache.find(blob_name);
    if (it == cache.end()) {
        auto det = std::make_unique<facemask::Detector>();
        const std::string path = weights_path(blob_name);
        const facemask::Status st = det->load_file(path.c_str());
        CHECK_MESSAGE(st.ok(), "loading ", path, ": ", std::string(st.message()));
        if (!st.ok()) det.reset();
        it = cache.emplace(blob_name, std::move(det)).first;
    }
    return it->second.get();
}

const facemask::Image* picture(const std::string& relative_to_shared) {
#if FACEMASK_HAS_IO
    static std::map<std::string, std::unique_ptr<facemask::Image>> cache;
    auto it = cache.find(relative_to_shared);
    if (it == cache.end()) {
        auto img = std::make_unique<facemask::Image>();
        const std::string path = shared_path(relative_to_shared);
        const facemask::Status st = img->load(path.c_str());
        CHECK_MESSAGE(st.ok(), "loading ", path, ": ", std::string(st.message()));
        if (!st.ok()) img.reset();
        it = cache.emplace(relative_to_shared, std::move(img)).first;
    }
    return it->second.get();
#else
    (void)relative_to_shared;
    FAIL("this build has no picture decoder (stb not found)");
    return nullptr;
#endif
}

AlignedBlock::AlignedBlock(size_t bytes) : n_(bytes) {
    p_ = static_cast<unsigned char*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64 + 64));
    REQUIRE(p_ != nullptr);
}
AlignedBlock::~AlignedBlock() { std::free(p_); }

std::vector<facemask::Face> copy_faces(const facemask::Faces& f) { return std::vector<facemask::Face>(f.begin(), f.end()); }

bool same_faces(const std::vector<facemask::Face>& a, const std::vector<facemask::Face>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (std::memcmp(&a[i], &b[i], sizeof(facemask::Face)) != 0) return false;
    return true;
}

}  // namespace fmtest
