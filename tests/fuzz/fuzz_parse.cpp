// tests/fuzz/fuzz_parse.cpp — text parsers: Scale::parse, and example_annotate's command line
// (the input split at NUL bytes into argv).
#define main example_annotate_main
#include "../../examples/example_annotate.cpp"
#undef main

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    facemask::Scale s;
    if (s.parse(text.c_str())) {
        // A parsed scale is in range.
        if (s.mode == facemask::Scale::Mode::long_side && (s.long_side < 1 || s.long_side > 16384)) std::abort();
        if (s.mode == facemask::Scale::Mode::factor && !(s.factor > 0.0f && s.factor <= 64.0f)) std::abort();
    }
    std::vector<std::string> words(1, "example_annotate");
    size_t start = 0;
    for (size_t i = 0; i <= size; ++i)
        if (i == size || data[i] == 0) {
            words.emplace_back(text.substr(start, i - start));
            start = i + 1;
        }
    if (words.size() > 64) return 0;
    std::vector<char*> argv;
    for (std::string& w : words) argv.push_back(&w[0]);
    argv.push_back(nullptr);
    Args a;
    const int r = parse_args(int(words.size()), argv.data(), &a);
    if (r < 0 || r > 3) std::abort();  // 0 ok, 1 help, 2 error, 3 --version
    return 0;
}
