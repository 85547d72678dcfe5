// tests/concurrency/test_concurrency.cpp — one Pipeline shared by several threads, each with its
// own Workspace, each decoding its pictures itself (good and bad ones) and running a mix of
// sizes and scale policies (automatic two-pass included) for many iterations. Every result must
// be bit-identical to the serial run, every bad picture must fail with its own message (stb's
// failure reason is per thread). Built as is (ctest: facemask.concurrency) and with
// ThreadSanitizer (tests/concurrency/tsan.sh, CI stage "tsan").
//   test_concurrency WEIGHTS_DIR PICTURE.jpg [THREADS [ITERATIONS]]
#define FACEMASK_STB_IMPLEMENTATION
#include <facemask/facemask.hpp>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Bytes = std::vector<unsigned char>;

// One unit of work: decode `bytes`, take a crop, run the pipeline with `opt`.
struct Job {
    const char* name;
    const Bytes* bytes;
    int x, y, w, h;  // crop (w == 0: the whole picture)
    facemask::PipelineOptions opt;
    bool bad;  // the picture must fail to decode
};

// What a job produced: the status and every face's fields, as raw bytes for exact comparison.
struct Result {
    facemask::Error code = facemask::Error::ok;
    std::string message;
    std::vector<facemask::Face> faces;

    bool operator==(const Result& o) const {
        return code == o.code && message == o.message && faces.size() == o.faces.size() &&
               (faces.empty() || std::memcmp(faces.data(), o.faces.data(), faces.size() * sizeof(facemask::Face)) == 0);
    }
};

Result run_job(const facemask::Pipeline& fm, facemask::Workspace& ws, const Job& job) {
    Result r;
    facemask::Image img;
    facemask::Status st = img.load_memory(job.bytes->data(), job.bytes->size());
    if (st) {
        facemask::ImageView v = img.view();
        if (job.w) {
            v = facemask::ImageView(img.row(job.y) + size_t(job.x) * 3, job.w, job.h, facemask::PixelFormat::rgb,
                                    ptrdiff_t(img.width()) * 3);
        }
        facemask::Faces faces;
        st = fm.run(ws, v, job.opt, &faces);
        if (st) r.faces.assign(faces.begin(), faces.end());
    }
    r.code = st.code();
    r.message = st.message();
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: test_concurrency WEIGHTS_DIR PICTURE.jpg [THREADS [ITERATIONS]]\n");
        return 2;
    }
    const int threads = argc > 3 ? std::atoi(argv[3]) : 4;
    const int iterations = argc > 4 ? std::atoi(argv[4]) : 3;
    facemask::Pipeline fm;
    facemask::Status st = fm.load(argv[1]);
    if (!st) return std::fprintf(stderr, "test_concurrency: %s\n", st.message()), 1;
    // The picture brought down to 640 pixels wide (nearest pixel) and encoded again as JPEG, so
    // that every job decodes a JPEG of a size a ThreadSanitizer build handles quickly.
    Bytes jpeg;
    {
        facemask::Image big, small;
        st = big.load(argv[2]);
        if (!st) return std::fprintf(stderr, "test_concurrency: %s\n", st.message()), 1;
        const int w = 640, h = int(long(big.height()) * w / big.width());
        if (!small.create(w, h)) return 1;
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x)
                std::memcpy(small.row(y) + x * 3, big.row(int(long(y) * big.height() / h)) + size_t(long(x) * big.width() / w) * 3, 3);
        auto append = [](void* ctx, void* data, int n) {
            Bytes* out = static_cast<Bytes*>(ctx);
            out->insert(out->end(), static_cast<unsigned char*>(data), static_cast<unsigned char*>(data) + n);
        };
        if (!stbi_write_jpg_to_func(append, &jpeg, w, h, 3, small.data(), 90)) return 1;
    }

    // Bad pictures, each failing at a different place: the validator, stb's PNG decoder, stb's JPEG decoder.
    Bytes bad_dht = jpeg, bad_png, cut_jpeg(jpeg.begin(), jpeg.begin() + long(jpeg.size() / 2)), text = {'n', 'o', 't', ' ', 'a'};
    for (size_t i = 2; i + 4 < bad_dht.size(); i += 2 + (size_t(bad_dht[i + 2]) << 8 | bad_dht[i + 3]))
        if (bad_dht[i + 1] == 0xC4) {
            bad_dht[i + 5 + 15] = 255, bad_dht[i + 5 + 14] = 255;  // > 256 codes
            break;
        }
    const unsigned char png_head[] = {0x89, 'P', 'N', 'G', 13, 10, 26, 10, 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                      0, 0, 0, 8, 0, 0, 0, 8, 8, 2, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 5, 'I', 'D', 'A', 'T', 1, 2, 3, 4, 5, 6, 7, 8, 9};
    bad_png.assign(png_head, png_head + sizeof png_head);

    auto with = [](facemask::Scale s) {
        facemask::PipelineOptions o;
        o.detect.scale = s;
        return o;
    };
    const std::vector<Job> jobs = {
        {"whole, long=320", &jpeg, 0, 0, 0, 0, with(facemask::Scale::longest(320)), false},
        {"crop 200x150, automatic (two passes)", &jpeg, 150, 50, 200, 150, with(facemask::Scale::automatic()), false},
        {"crop 200x240, native", &jpeg, 280, 40, 200, 240, with(facemask::Scale::native()), false},
        {"crop 160x170, fixed 160x128", &jpeg, 140, 60, 160, 170, with(facemask::Scale::fixed(160, 128)), false},
        {"whole, factor 0.5, no classifier", &jpeg, 0, 0, 0, 0, [&] {
             facemask::PipelineOptions o = with(facemask::Scale::times(0.5f));
             o.classify = false;
             return o;
         }(), false},
        {"JPEG with a bad Huffman table", &bad_dht, 0, 0, 0, 0, facemask::PipelineOptions(), true},
        {"PNG with broken data", &bad_png, 0, 0, 0, 0, facemask::PipelineOptions(), true},
        {"JPEG cut in half", &cut_jpeg, 0, 0, 0, 0, facemask::PipelineOptions(), true},
        {"text", &text, 0, 0, 0, 0, facemask::PipelineOptions(), true},
    };

    // The serial reference.
    std::vector<Result> want;
    facemask::Workspace ws0;
    size_t faces = 0;
    for (const Job& j : jobs) {
        want.push_back(run_job(fm, ws0, j));
        faces += want.back().faces.size();
        if (j.bad != (want.back().code != facemask::Error::ok)) {
            std::fprintf(stderr, "test_concurrency: %s: %s (%s)\n", j.name, j.bad ? "decoded" : "failed",
                         want.back().message.c_str());
            return 1;
        }
    }
    if (faces < 6) return std::fprintf(stderr, "test_concurrency: only %zu faces in the serial run\n", faces), 1;

    // The same jobs from several threads at once, each thread in its own order.
    std::atomic<int> mismatches{0}, runs{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            facemask::Workspace ws;
            for (int it = 0; it < iterations; ++it)
                for (size_t k = 0; k < jobs.size(); ++k) {
                    const size_t j = (k * 5 + size_t(t) * 3 + size_t(it)) % jobs.size();
                    const Result r = run_job(fm, ws, jobs[j]);
                    runs.fetch_add(1);
                    if (!(r == want[j])) {
                        mismatches.fetch_add(1);
                        std::fprintf(stderr, "test_concurrency: thread %d, %s: differs from the serial run (%s)\n", t,
                                     jobs[j].name, r.message.c_str());
                    }
                }
        });
    for (std::thread& th : pool) th.join();
    std::printf("test_concurrency: %d threads x %d iterations x %zu jobs = %d runs, %zu faces a round, %d differ\n",
                threads, iterations, jobs.size(), runs.load(), faces, mismatches.load());
    return mismatches.load() == 0 && runs.load() == threads * iterations * int(jobs.size()) ? 0 : 1;
}
