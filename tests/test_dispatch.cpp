// tests/test_dispatch.cpp — which kernels run (suite "dispatch").
//
// In a portable x86-64 build (FACEMASK_DISPATCH) ctest runs the kernel and parity suites once
// per instruction set, each with FACEMASK_ISA=<isa> and FACEMASK_EXPECT_ISA=<isa>, and this
// suite with them: the set that actually runs must be exactly the one asked for, with the
// lanes and xsimd arch of its unit, so a silent fallback (to scalar, or to a narrower set)
// fails. The CPU's features are checked against /proc/cpuinfo, a source independent of the
// CPUID code under test. On a CPU without the set asked for, the test says "this CPU has no
// ..." and ctest counts it as skipped.
#include "test_support.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

TEST_SUITE_BEGIN("dispatch");

#if defined(FACEMASK_DISPATCH)

namespace {

namespace K = facemask::kernels;

struct Expected {
    K::Isa isa;
    const char* name;  // xsimd's arch name in that unit
    int lanes;
    std::vector<const char*> flags;  // /proc/cpuinfo flags it needs
};

const Expected kExpected[] = {
    {K::Isa::scalar, "scalar", 1, {}},
    {K::Isa::sse2, "sse2", 4, {"sse2"}},
    {K::Isa::sse41, "sse4.1", 4, {"sse4_1"}},
    {K::Isa::avx2, "fma3+avx2", 8, {"avx2", "fma"}},
    {K::Isa::avx512, "avx512bw", 16, {"avx512f", "avx512cd", "avx512dq", "avx512bw", "avx512vl", "fma"}},
};

std::set<std::string> cpuinfo_flags() {
    std::ifstream f("/proc/cpuinfo");
    std::string line;
    std::set<std::string> flags;
    while (std::getline(f, line))
        if (line.rfind("flags", 0) == 0) {
            std::istringstream words(line.substr(line.find(':') + 1));
            std::string w;
            while (words >> w) flags.insert(w);
            break;
        }
    return flags;
}

const char* env(const char* name) {
    const char* v = std::getenv(name);
    return v && *v ? v : nullptr;
}

}  // namespace

TEST_CASE("dispatch: CPUID agrees with /proc/cpuinfo") {
    const auto flags = cpuinfo_flags();
    REQUIRE_MESSAGE(!flags.empty(), "no flags line in /proc/cpuinfo");
    for (const Expected& e : kExpected) {
        bool has = true;
        for (const char* f : e.flags) has = has && flags.count(f);
        CHECK_MESSAGE(K::dispatch::cpu_supports(e.isa) == has, K::isa_key(e.isa));
    }
}

TEST_CASE("dispatch: every unit is compiled for its instruction set") {
    for (const Expected& e : kExpected) {
        const K::KernelTable& t = K::dispatch::table_for(e.isa);
        CHECK(t.isa == e.isa);
        CHECK(std::string(t.name) == std::string(e.name));
        CHECK(t.lanes == e.lanes);
    }
}

TEST_CASE("dispatch: the cap picks the best set up to it") {
    K::Isa isa;
    int best = 0;
    for (int i = 0; i < K::kIsaCount; ++i)
        if (K::dispatch::cpu_supports(K::Isa(i))) best = i;
    CHECK(K::dispatch::choose(nullptr, &isa));
    CHECK(int(isa) == best);
    CHECK(K::dispatch::choose("", &isa));
    CHECK(int(isa) == best);
    CHECK(K::dispatch::choose("scalar", &isa));
    CHECK(isa == K::Isa::scalar);
    CHECK(K::dispatch::choose("sse2", &isa));
    CHECK(isa == K::Isa::sse2);  // every x86-64 has SSE2
    CHECK_FALSE(K::dispatch::choose("avx-512", &isa));
    CHECK(int(isa) == best);
}

TEST_CASE("dispatch: the kernels that run are the ones asked for") {
    const K::KernelTable& t = K::dispatch::table();
    const char* cap = env("FACEMASK_ISA");
    const char* expect = env("FACEMASK_EXPECT_ISA");
    MESSAGE("FACEMASK_ISA=", cap ? cap : "(unset)", ": running ", K::isa_key(t.isa), " (", t.name, ", ", t.lanes,
            " lanes)");
    CHECK(std::string(facemask::simd_name()) == t.name);
    K::Isa chosen;
    CHECK(K::dispatch::choose(cap, &chosen));
    CHECK(t.isa == chosen);
    if (expect) {
        const Expected* e = nullptr;
        for (const Expected& x : kExpected)
            if (std::string(expect) == K::isa_key(x.isa)) e = &x;
        REQUIRE_MESSAGE(e != nullptr, "FACEMASK_EXPECT_ISA=", expect, " is not a set");
        if (!K::dispatch::cpu_supports(e->isa)) {
            std::printf("facemask: this CPU has no %s: skipped\n", expect);
            return;
        }
        CHECK(t.isa == e->isa);
        CHECK(std::string(t.name) == std::string(e->name));
        CHECK(t.lanes == e->lanes);
    }
}

#else

// Builds whose kernels the compiler flags fix (tests/isa/run.sh: aarch64 NEON, wasm SIMD128)
// say which they expect: a build that silently fell back to scalar kernels fails here.
TEST_CASE("dispatch: kernels fixed by the compiler flags") {
    MESSAGE("no runtime dispatch in this build: kernels ", std::string(facemask::simd_name()));
#if defined(FACEMASK_TEST_EXPECT_SIMD)
    CHECK(std::string(facemask::simd_name()) == FACEMASK_TEST_EXPECT_SIMD);
    REQUIRE(FACEMASK_SIMD == 1);
#if FACEMASK_SIMD
    CHECK(facemask::kernels::simd::V == FACEMASK_TEST_EXPECT_LANES);
#endif
#endif
}

#endif

TEST_SUITE_END();
