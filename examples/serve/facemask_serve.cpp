// facemask_serve — the facemask pipeline as an HTTP service (cpp-httplib).
//
//   facemask_serve [--host 127.0.0.1] [--port 8080] [--threads N] [--queue N] ...
//
//   POST /v1/detect      picture (raw body or multipart field "image") -> the CLI's JSON object
//   POST /v1/annotate    picture -> annotated JPEG (?format=png for PNG)
//   GET  /healthz        200 once the models are loaded, self-tested and every worker warmed
//   GET  /metrics        Prometheus text format
//   GET  /               the web page of examples/web (runs the service from a browser)
//
// Design: cpp-httplib's connection threads read requests (each request must arrive whole
// within --timeout, so a slow client gets 408 and holds one connection thread, never a
// worker); the pictures go to a fixed pool of --threads workers, each with its own Workspace
// (the models are loaded once and shared, read-only). At most --queue pictures wait for a
// worker: beyond that the answer is 503 with Retry-After. SIGTERM/SIGINT stop accepting,
// finish what is in flight and exit 0.
//
// This program uses exceptions only because cpp-httplib does; the facemask library does not.
#define FACEMASK_STB_IMPLEMENTATION
#include <facemask/facemask.hpp>

#include "../faces_json.hpp"

#include <httplib.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#ifndef FACEMASK_DEFAULT_WEIGHTS_DIR
#define FACEMASK_DEFAULT_WEIGHTS_DIR "weights"
#endif
#ifndef FACEMASK_WEB_DIR
#define FACEMASK_WEB_DIR ""
#endif

namespace {

using Clock = std::chrono::steady_clock;

const char* kUsage =
    "usage: facemask_serve [options]\n"
    "HTTP service: POST /v1/detect, POST /v1/annotate, GET /healthz, GET /metrics, GET /.\n"
    "\n"
    "  --host H            address to listen on (default 127.0.0.1)\n"
    "  --port N            port (default 8080; 0 = any free port, printed)\n"
    "  --threads N         inference workers, one Workspace each (default: the core count)\n"
    "  --queue N           pictures that may wait for a worker; more get 503 (default 16)\n"
    "  --connections N     connection threads (default 64)\n"
    "  --max-body BYTES    largest request body (default 20000000); larger: 413\n"
    "  --max-pixels N      largest picture in pixels (default 40000000); larger: 413\n"
    "  --timeout S         seconds a client has to send one whole request (default 10); then 408\n"
    "  --weights DIR       folder with the two blobs (default: " FACEMASK_DEFAULT_WEIGHTS_DIR ")\n"
    "  --web DIR           folder served at / (default: " FACEMASK_WEB_DIR ")\n"
    "  --quiet             no log line per request\n"
    "  --help              this text\n"
    "Query parameters: conf, nms, mask_threshold, scale, classify (true/false), format (jpeg/png).\n";

struct Config {
    std::string host = "127.0.0.1", weights = FACEMASK_DEFAULT_WEIGHTS_DIR, web = FACEMASK_WEB_DIR;
    int port = 8080, threads = 0, queue = 16, connections = 64, timeout = 10;
    long max_body = 20000000, max_pixels = 40000000;
    bool quiet = false;
};

bool parse_long(const char* s, long lo, long hi, long* out) {
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool parse_double(const std::string& s, double lo, double hi, double* out) {
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end || !(v >= lo && v <= hi)) return false;
    *out = v;
    return true;
}

// 0 ok, 1 help, 2 error.
int parse_args(int argc, char** argv, Config* c) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--help" || a == "-h") return 1;
        if (a == "--quiet") { c->quiet = true; continue; }
        if (i + 1 >= argc) { std::fprintf(stderr, "facemask_serve: '%s' needs a value (see --help)\n", a.c_str()); return 2; }
        const char* v = argv[++i];
        long n = 0;
        bool ok = true;
        if (a == "--host") c->host = v;
        else if (a == "--weights") c->weights = v;
        else if (a == "--web") c->web = v;
        else if (a == "--port") ok = parse_long(v, 0, 65535, &n) && (c->port = int(n), true);
        else if (a == "--threads") ok = parse_long(v, 0, 256, &n) && (c->threads = int(n), true);
        else if (a == "--queue") ok = parse_long(v, 0, 100000, &n) && (c->queue = int(n), true);
        else if (a == "--connections") ok = parse_long(v, 1, 4096, &n) && (c->connections = int(n), true);
        else if (a == "--timeout") ok = parse_long(v, 1, 3600, &n) && (c->timeout = int(n), true);
        else if (a == "--max-body") ok = parse_long(v, 1, 1L << 31, &c->max_body);
        else if (a == "--max-pixels") ok = parse_long(v, 1, 1L << 40, &c->max_pixels);
        else { std::fprintf(stderr, "facemask_serve: unknown option '%s' (see --help)\n", a.c_str()); return 2; }
        if (!ok) { std::fprintf(stderr, "facemask_serve: bad value '%s' for %s (see --help)\n", v, a.c_str()); return 2; }
    }
    if (c->threads == 0) c->threads = int(std::max(1u, std::thread::hardware_concurrency()));
    return 0;
}

std::string error_json(const char* code, const std::string& message) {
    std::string out = "{\"error\": \"";
    out += code;
    out += "\", \"message\": ";
    facemask_examples::append_json_string(&out, message);
    out += "}\n";
    return out;
}

// ---- metrics ---------------------------------------------------------------------------------
const double kBuckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
constexpr int kNumBuckets = int(sizeof kBuckets / sizeof kBuckets[0]);

struct Metrics {
    std::mutex m;
    std::map<std::pair<std::string, int>, long> requests;  // (endpoint, status) -> count
    std::map<std::string, std::vector<long>> hist;          // endpoint -> bucket counts (+Inf last)
    std::map<std::string, double> hist_sum;
    std::atomic<long> pictures{0}, faces{0}, in_flight{0}, queued{0}, busy{0}, rejected{0};

    static std::string endpoint(const std::string& path) {
        for (const char* p : {"/v1/detect", "/v1/annotate", "/healthz", "/metrics", "/"})
            if (path == p) return p;
        return "other";
    }
    void record(const std::string& path, int status, double seconds) {
        const std::string e = endpoint(path);
        std::lock_guard<std::mutex> lock(m);
        ++requests[{e, status}];
        std::vector<long>& h = hist[e];
        if (h.empty()) h.assign(kNumBuckets + 1, 0);
        int b = 0;
        while (b < kNumBuckets && seconds > kBuckets[b]) ++b;
        ++h[size_t(b)];
        hist_sum[e] += seconds;
    }
    std::string text(int workers, int queue_capacity) {
        std::ostringstream o;
        std::lock_guard<std::mutex> lock(m);
        o << "# HELP facemask_requests_total HTTP requests answered, by endpoint and status.\n"
             "# TYPE facemask_requests_total counter\n";
        for (const auto& r : requests)
            o << "facemask_requests_total{endpoint=\"" << r.first.first << "\",status=\"" << r.first.second << "\"} "
              << r.second << "\n";
        o << "# HELP facemask_request_duration_seconds Time from the request's first byte to its answer.\n"
             "# TYPE facemask_request_duration_seconds histogram\n";
        for (const auto& h : hist) {
            long cum = 0;
            for (int b = 0; b <= kNumBuckets; ++b) {
                cum += h.second[size_t(b)];
                o << "facemask_request_duration_seconds_bucket{endpoint=\"" << h.first << "\",le=\"";
                if (b < kNumBuckets) o << kBuckets[b]; else o << "+Inf";
                o << "\"} " << cum << "\n";
            }
            o << "facemask_request_duration_seconds_sum{endpoint=\"" << h.first << "\"} " << hist_sum[h.first] << "\n";
            o << "facemask_request_duration_seconds_count{endpoint=\"" << h.first << "\"} " << cum << "\n";
        }
        o << "# HELP facemask_in_flight HTTP requests being handled.\n# TYPE facemask_in_flight gauge\n"
          << "facemask_in_flight " << in_flight.load() << "\n"
          << "# HELP facemask_queue_length Pictures waiting for a worker.\n# TYPE facemask_queue_length gauge\n"
          << "facemask_queue_length " << queued.load() << "\n"
          << "# HELP facemask_queue_capacity Pictures that may wait before 503.\n# TYPE facemask_queue_capacity gauge\n"
          << "facemask_queue_capacity " << queue_capacity << "\n"
          << "# HELP facemask_workers Inference workers.\n# TYPE facemask_workers gauge\n"
          << "facemask_workers " << workers << "\n"
          << "# HELP facemask_workers_busy Workers running a picture.\n# TYPE facemask_workers_busy gauge\n"
          << "facemask_workers_busy " << busy.load() << "\n"
          << "# HELP facemask_rejected_total Requests answered 503 because the queue was full.\n"
             "# TYPE facemask_rejected_total counter\n"
          << "facemask_rejected_total " << rejected.load() << "\n"
          << "# HELP facemask_pictures_total Pictures processed.\n# TYPE facemask_pictures_total counter\n"
          << "facemask_pictures_total " << pictures.load() << "\n"
          << "# HELP facemask_faces_total Faces found.\n# TYPE facemask_faces_total counter\n"
          << "facemask_faces_total " << faces.load() << "\n";
        return o.str();
    }
};

// ---- the worker pool -------------------------------------------------------------------------
struct Job {
    const std::string* picture = nullptr;
    const char* name = nullptr;  // upload's file name, or null
    facemask::PipelineOptions opt;
    bool annotate = false, png = false;
    // results
    int status = 0;
    std::string body, content_type;
    bool done = false;
    std::mutex m;
    std::condition_variable cv;
};

// The size a picture's header claims, for the formats whose header stb_image refuses to read
// when the size is huge (it then says "unknown image type", and the library bad_image): PNG,
// JPEG, BMP and GIF. False if the header says nothing readable. Used only to turn such a
// bad_image into 413, so a 100000x100000 header is "too many pixels", not "not a picture".
bool claimed_size(const std::string& b, long* w, long* h) {
    auto u8 = [&](size_t i) { return i < b.size() ? long(static_cast<unsigned char>(b[i])) : -1L; };
    auto be16 = [&](size_t i) { return u8(i) << 8 | u8(i + 1); };
    auto be32 = [&](size_t i) { return be16(i) << 16 | be16(i + 2); };
    auto le16 = [&](size_t i) { return u8(i) | u8(i + 1) << 8; };
    auto le32 = [&](size_t i) { return le16(i) | le16(i + 2) << 16; };
    if (b.size() >= 24 && b.compare(0, 8, "\x89PNG\r\n\x1a\n", 8) == 0 && b.compare(12, 4, "IHDR") == 0) {
        *w = be32(16), *h = be32(20);
    } else if (b.size() >= 10 && (b.compare(0, 6, "GIF87a") == 0 || b.compare(0, 6, "GIF89a") == 0)) {
        *w = le16(6), *h = le16(8);
    } else if (b.size() >= 26 && b[0] == 'B' && b[1] == 'M') {
        *w = le32(18), *h = std::labs(long(int32_t(uint32_t(le32(22)))));
    } else if (b.size() >= 4 && u8(0) == 0xFF && u8(1) == 0xD8) {
        for (size_t i = 2; i + 9 < b.size() && u8(i) == 0xFF;) {  // markers up to a start of frame
            const long m = u8(i + 1);
            if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
                *h = be16(i + 5), *w = be16(i + 7);
                return *w > 0 && *h > 0;
            }
            i += 2 + size_t(be16(i + 2));
        }
        return false;
    } else {
        return false;
    }
    return *w > 0 && *h > 0;
}

void write_to_string(void* ctx, void* data, int size) {
    static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), size_t(size));
}

// The worker pool. Idle workers wait in a stack and a new picture wakes the one that went idle
// last: at low concurrency the same worker (its Workspace, the picture buffers and the core's
// caches still warm) serves request after request. With one shared condition variable the
// wake-ups went round the workers, and at concurrency 1 every picture ran on a cold core:
// +11 % against example_annotate at 640x480 with 2 workers, none with 1 (tools/serve_bench.py).
class Workers {
public:
    Workers(const facemask::Pipeline& fm, Metrics& metrics, int threads, int capacity, long max_pixels)
        : fm_(fm), metrics_(metrics), capacity_(size_t(capacity)), max_pixels_(max_pixels),
          wake_(new std::condition_variable[size_t(threads)]), served_(new std::atomic<long>[size_t(threads)]) {
        for (int i = 0; i < threads; ++i) served_[i] = 0;
        idle_.reserve(size_t(threads));
        for (int i = 0; i < threads; ++i) threads_.emplace_back([this, i] { loop(i); });
    }
    ~Workers() { stop(); }

    // Waits until every worker has run the whole pipeline once on a blank picture (each warms
    // its own workspace first), so that /healthz is 200 only then. False if a worker failed.
    bool warm_up(std::string* message) {
        std::unique_lock<std::mutex> lock(m_);
        warmed_cv_.wait(lock, [this] { return warmed_ == threads_.size(); });
        if (!warm_ok_) *message = warm_message_;
        return warm_ok_;
    }

    // False when the queue is full (the caller answers 503).
    bool submit(Job* job) {
        std::lock_guard<std::mutex> lock(m_);
        if (q_.size() >= capacity_) return false;
        q_.push_back(job);
        metrics_.queued = long(q_.size());
        if (!idle_.empty()) {
            wake_[idle_.back()].notify_one();
            idle_.pop_back();
        }
        return true;
    }

    // Pictures each worker has run (GET /metrics), which shows the wake-up order at work.
    std::string served_text() const {
        std::ostringstream o;
        o << "# HELP facemask_worker_pictures_total Pictures run by each worker (the last idle worker is woken first).\n"
             "# TYPE facemask_worker_pictures_total counter\n";
        for (size_t i = 0; i < threads_.size(); ++i)
            o << "facemask_worker_pictures_total{worker=\"" << i << "\"} " << served_[i].load() << "\n";
        return o.str();
    }

    static void wait(Job* job) {
        std::unique_lock<std::mutex> lock(job->m);
        job->cv.wait(lock, [job] { return job->done; });
    }

    // Finishes the queued jobs, then joins the threads.
    void stop() {
        {
            std::lock_guard<std::mutex> lock(m_);
            stopping_ = true;
            for (size_t i = 0; i < threads_.size(); ++i) wake_[i].notify_all();
        }
        for (std::thread& t : threads_)
            if (t.joinable()) t.join();
    }

private:
    void warm(facemask::Workspace& ws, facemask::Image& img) {
        facemask::Image blank;
        Job j;
        std::string png;
        if (blank.create(640, 480)) {
            std::memset(blank.data(), 128, size_t(640) * 480 * 3);
            stbi_write_png_to_func(write_to_string, &png, 640, 480, 3, blank.data(), 640 * 3);
            j.picture = &png;
            run(ws, img, &j);
        } else {
            j.body = "cannot make the warm-up picture";
        }
        std::lock_guard<std::mutex> lock(m_);
        if (j.status != 200) warm_ok_ = false, warm_message_ = j.body;
        ++warmed_;
        warmed_cv_.notify_all();
    }

    void loop(int me) {
        facemask::Workspace ws;
        facemask::Image img;
        warm(ws, img);
        for (;;) {
            Job* job = nullptr;
            {
                std::unique_lock<std::mutex> lock(m_);
                while (!stopping_ && q_.empty()) {
                    idle_.push_back(me);
                    wake_[me].wait(lock);
                    // submit() takes a worker off the stack before waking it; a spurious
                    // wake-up leaves it there, so it is taken off here before it waits again.
                    const auto at = std::find(idle_.begin(), idle_.end(), me);
                    if (at != idle_.end()) idle_.erase(at);
                }
                if (q_.empty()) return;
                job = q_.front();
                q_.pop_front();
                metrics_.queued = long(q_.size());
            }
            ++metrics_.busy;
            run(ws, img, job);
            --metrics_.busy;
            ++served_[me];
            std::lock_guard<std::mutex> lock(job->m);
            job->done = true;
            job->cv.notify_one();
        }
    }

    void fail(Job* job, int status, const char* code, const char* message) {
        job->status = status;
        job->body = error_json(code, message);
        job->content_type = "application/json";
    }

    void run(facemask::Workspace& ws, facemask::Image& img, Job* job) {
        facemask::Status st = img.load_memory(job->picture->data(), job->picture->size(), max_pixels_);
        if (!st) {
            if (st.code() == facemask::Error::too_large) return fail(job, 413, "too_many_pixels", st.message());
            if (st.code() == facemask::Error::out_of_memory) return fail(job, 503, "out_of_memory", st.message());
            long w = 0, h = 0;
            if (claimed_size(*job->picture, &w, &h) &&
                (w > facemask::kMaxPictureSide || h > facemask::kMaxPictureSide || double(w) * double(h) > double(max_pixels_))) {
                char message[160];
                std::snprintf(message, sizeof message, "the picture's header says %ldx%ld, beyond the limit of %ld pixels",
                              w, h, max_pixels_);
                return fail(job, 413, "too_many_pixels", message);
            }
            return fail(job, 400, "bad_image", st.message());
        }
        facemask::Faces faces;
        st = fm_.run(ws, img.view(), job->opt, &faces);
        if (!st) {
            if (st.code() == facemask::Error::too_large) return fail(job, 413, "too_many_pixels", st.message());
            if (st.code() == facemask::Error::invalid_argument) return fail(job, 400, "bad_parameter", st.message());
            return fail(job, 500, "internal", st.message());
        }
        ++metrics_.pictures;
        metrics_.faces += faces.size();
        job->status = 200;
        if (!job->annotate) {
            job->body = facemask_examples::faces_json(job->name, img.width(), img.height(), faces);
            job->body += '\n';
            job->content_type = "application/json";
            return;
        }
        facemask::AnnotateOptions look;
        facemask::annotate(img, faces, look);
        job->body.clear();
        const int ok = job->png ? stbi_write_png_to_func(write_to_string, &job->body, img.width(), img.height(), 3,
                                                         img.data(), img.width() * 3)
                                : stbi_write_jpg_to_func(write_to_string, &job->body, img.width(), img.height(), 3,
                                                         img.data(), 90);
        if (!ok) return fail(job, 500, "internal", "cannot encode the annotated picture");
        job->content_type = job->png ? "image/png" : "image/jpeg";
    }

    const facemask::Pipeline& fm_;
    Metrics& metrics_;
    const size_t capacity_;
    const long max_pixels_;
    std::mutex m_;
    std::unique_ptr<std::condition_variable[]> wake_;  // one per worker
    std::unique_ptr<std::atomic<long>[]> served_;      // pictures run, per worker
    std::vector<int> idle_;                            // waiting workers, the last idle on top
    std::deque<Job*> q_;
    bool stopping_ = false;
    size_t warmed_ = 0;
    bool warm_ok_ = true;
    std::string warm_message_;
    std::condition_variable warmed_cv_;
    std::vector<std::thread> threads_;
};

// ---- connections -----------------------------------------------------------------------------
// The state of the request a connection thread is reading (thread-local: the error handler and
// the logger only see the Request).
struct RequestState {
    Clock::time_point start;
    bool started = false, expired = false, answered = false, close = false;
};
thread_local RequestState* t_request = nullptr;
// Set while the accepting thread itself answers a connection beyond the backlog with 503.
thread_local bool t_reject_connection = false;

// A socket stream whose reads stop at a deadline for the whole request (a client sending one
// byte a second cannot hold the connection longer than --timeout).
class DeadlineStream : public httplib::Stream {
public:
    DeadlineStream(int fd, int timeout_s, RequestState* state) : fd_(fd), timeout_s_(timeout_s), state_(state) {}

    void begin_request() {
        *state_ = RequestState();
        deadline_ = Clock::now() + std::chrono::seconds(timeout_s_);
    }
    bool is_readable() const override { return wait_for(POLLIN, deadline_) > 0; }
    bool is_writable() const override { return wait_for(POLLOUT, Clock::now() + std::chrono::seconds(timeout_s_)) > 0; }

    ssize_t read(char* ptr, size_t size) override {
        if (Clock::now() >= deadline_ || wait_for(POLLIN, deadline_) <= 0) {
            state_->expired = true;
            return -1;
        }
        const ssize_t n = ::recv(fd_, ptr, size, 0);
        if (n > 0 && !state_->started) state_->started = true, state_->start = Clock::now();
        return n;
    }
    ssize_t write(const char* ptr, size_t size) override {
        size_t sent = 0;
        while (sent < size) {
            if (wait_for(POLLOUT, Clock::now() + std::chrono::seconds(timeout_s_)) <= 0) return -1;
            const ssize_t n = ::send(fd_, ptr + sent, size - sent, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return -1;
            sent += size_t(n);
        }
        state_->answered = true;
        return ssize_t(size);
    }
    void get_remote_ip_and_port(std::string& ip, int& port) const override { address(false, ip, port); }
    void get_local_ip_and_port(std::string& ip, int& port) const override { address(true, ip, port); }
    socket_t socket() const override { return fd_; }

private:
    int wait_for(short events, Clock::time_point until) const {
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
            if (left <= 0) return 0;
            pollfd p{fd_, events, 0};
            const int r = ::poll(&p, 1, int(left));
            if (r < 0 && errno == EINTR) continue;
            return r;
        }
    }
    void address(bool local, std::string& ip, int& port) const {
        sockaddr_storage a{};
        socklen_t len = sizeof a;
        char host[NI_MAXHOST] = "";
        char serv[NI_MAXSERV] = "";
        port = 0;
        if ((local ? getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len)
                   : getpeername(fd_, reinterpret_cast<sockaddr*>(&a), &len)) == 0 &&
            getnameinfo(reinterpret_cast<sockaddr*>(&a), len, host, sizeof host, serv, sizeof serv,
                        NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
            ip = host;
            port = std::atoi(serv);
        }
    }

    int fd_, timeout_s_;
    RequestState* state_;
    Clock::time_point deadline_;
};

class Server : public httplib::Server {
public:
    Server(int timeout_s, Metrics& metrics, bool quiet) : timeout_s_(timeout_s), metrics_(metrics), quiet_(quiet) {}
    std::atomic<bool> stopping{false};

    // cpp-httplib 0.11 listens with a backlog of 5: when more clients connect at once (32 load
    // connections, nginx opening its upstream connections), the accept queue overflows, the
    // kernel answers with SYN cookies, and a connection whose handshake ACK was dropped while
    // the queue was full is reset when its first data arrives (the client's send: ECONNRESET).
    // listen() again on the bound socket only changes the backlog (the kernel caps it at
    // net.core.somaxconn).
    bool widen_backlog(int backlog) { return ::listen(svr_sock_, backlog) == 0; }

private:
    // Replaces cpp-httplib's keep-alive loop with one whose reads have a per-request deadline
    // and which closes idle connections when the server stops.
    bool process_and_close_socket(socket_t sock) override {
        // Answers go out in two writes (head, then body): with Nagle on, the body waited for the
        // client's delayed ACK of the head, ~40 ms per kept-alive request on loopback. cpp-httplib
        // 0.11 sets its tcp_nodelay / socket options on the listening socket only; set it here on
        // every accepted one, whatever the listener passed on.
        const int one = 1;
        ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        RequestState state;
        t_request = &state;
        DeadlineStream strm(sock, timeout_s_, &state);
        if (t_reject_connection) {  // the accepting thread itself: answer at once, read nothing
            const std::string body = error_json("overloaded", "too many connections; retry later");
            char head[200];
            std::snprintf(head, sizeof head,
                          "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                          "Content-Length: %zu\r\nRetry-After: 1\r\nConnection: close\r\n\r\n",
                          body.size());
            ++metrics_.rejected;
            metrics_.record("other", 503, 0.0);
            strm.write(head, std::strlen(head));
            strm.write(body.data(), body.size());
            ::shutdown(sock, SHUT_WR);
            char sink[4096];
            pollfd p{sock, POLLIN, 0};
            for (int i = 0; i < 5 && ::poll(&p, 1, 20) > 0 && ::recv(sock, sink, sizeof sink, 0) > 0; ++i) {
            }
            ::close(sock);
            t_request = nullptr;
            return true;
        }
        bool ok = true;
        for (size_t count = keep_alive_max_count_; count > 0 && ok; --count) {
            if (!wait_idle(sock)) break;
            strm.begin_request();
            bool closed = false;
            const bool close = count == 1 || stopping;
            ok = process_request(strm, close, closed, nullptr) && !closed && !state.close;
            if (!state.answered && state.started) {  // cut off before cpp-httplib could answer
                const bool late = state.expired;
                const std::string body = late ? error_json("timeout", "the request did not arrive within the time limit")
                                              : error_json("bad_request", "malformed request");
                char head[160];
                std::snprintf(head, sizeof head,
                              "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                              "Connection: close\r\n\r\n",
                              late ? 408 : 400, late ? "Request Timeout" : "Bad Request", body.size());
                strm.write(head, std::strlen(head));
                strm.write(body.data(), body.size());
                log_line("-", "-", late ? 408 : 400);
                break;
            }
        }
        t_request = nullptr;
        ::shutdown(sock, SHUT_RDWR);
        ::close(sock);
        return ok;
    }

    // Waits for the next request on a kept-alive connection; false on timeout, close or stop.
    bool wait_idle(socket_t sock) {
        for (int waited = 0; waited < int(keep_alive_timeout_sec_) * 1000; waited += 100) {
            if (stopping) return false;
            pollfd p{sock, POLLIN, 0};
            const int r = ::poll(&p, 1, 100);
            if (r > 0) {
                char c;
                return ::recv(sock, &c, 1, MSG_PEEK) > 0;
            }
            if (r < 0 && errno != EINTR) return false;
        }
        return false;
    }

public:
    void log_line(const std::string& method, const std::string& path, int status) {
        const double s = t_request && t_request->started
                             ? std::chrono::duration<double>(Clock::now() - t_request->start).count()
                             : 0.0;
        metrics_.record(path, status, s);
        if (!quiet_) std::fprintf(stderr, "%s %s %d %.1f ms\n", method.c_str(), path.c_str(), status, s * 1000);
    }

private:
    int timeout_s_;
    Metrics& metrics_;
    bool quiet_;
};

// A fixed pool of connection threads with a bounded backlog (ConnectionPool below).

class ConnectionPool : public httplib::TaskQueue {
public:
    ConnectionPool(int threads, size_t backlog) : backlog_(backlog) {
        for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { loop(); });
    }
    void enqueue(std::function<void()> fn) override {
        {
            std::lock_guard<std::mutex> lock(m_);
            if (q_.size() < backlog_) {
                q_.push_back(std::move(fn));
                cv_.notify_one();
                return;
            }
        }
        t_reject_connection = true;
        fn();
        t_reject_connection = false;
    }
    void shutdown() override {
        {
            std::lock_guard<std::mutex> lock(m_);
            stop_ = true;
            cv_.notify_all();
        }
        for (std::thread& t : threads_) t.join();
    }

private:
    void loop() {
        for (;;) {
            std::function<void()> fn;
            {
                std::unique_lock<std::mutex> lock(m_);
                cv_.wait(lock, [this] { return stop_ || !q_.empty(); });
                if (q_.empty()) return;
                fn = std::move(q_.front());
                q_.pop_front();
            }
            fn();
        }
    }
    size_t backlog_;
    std::mutex m_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> q_;
    bool stop_ = false;
    std::vector<std::thread> threads_;
};

// Reads the query parameters into opt; false with a message on a bad one.
bool read_params(const httplib::Request& req, bool annotate, facemask::PipelineOptions* opt, bool* png,
                 std::string* message) {
    for (const auto& p : req.params) {
        const std::string& k = p.first;
        const std::string& v = p.second;
        double x = 0;
        if (k == "conf") {
            if (!parse_double(v, 0, 0.999999, &x)) return *message = "conf wants a number in [0, 1), not '" + v + "'", false;
            opt->detect.score_threshold = float(x);
        } else if (k == "nms") {
            if (!parse_double(v, 0, 1, &x)) return *message = "nms wants a number in [0, 1], not '" + v + "'", false;
            opt->detect.nms_iou = float(x);
        } else if (k == "mask_threshold") {
            if (!parse_double(v, 0, 1, &x))
                return *message = "mask_threshold wants a number in [0, 1], not '" + v + "'", false;
            opt->mask_threshold = float(x);
        } else if (k == "scale") {
            if (!opt->detect.scale.parse(v.c_str()))
                return *message = "scale wants auto, native, long=N, factor=F or WxH, not '" + v + "'", false;
        } else if (k == "classify") {
            if (v == "true" || v == "1") opt->classify = true;
            else if (v == "false" || v == "0") opt->classify = false;
            else return *message = "classify wants true or false, not '" + v + "'", false;
        } else if (k == "format" && annotate) {
            if (v == "png") *png = true;
            else if (v == "jpeg" || v == "jpg") *png = false;
            else return *message = "format wants jpeg or png, not '" + v + "'", false;
        } else {
            return *message = "unknown parameter '" + k + "'", false;
        }
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    Config cfg;
    const int parsed = parse_args(argc, argv, &cfg);
    if (parsed == 1) {
        std::fputs(kUsage, stdout);
        return 0;
    }
    if (parsed) return 2;

    // Signals are taken by one thread with sigwait; every other thread blocks them.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGUSR1);  // main's wake-up call to the signal thread
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
    signal(SIGPIPE, SIG_IGN);

    facemask::Pipeline fm;
    facemask::Status st = fm.load(cfg.weights.c_str(), facemask::Verify::self_test);  // a damaged blob is never used
    if (!st) {
        std::fprintf(stderr, "facemask_serve: cannot load the weights: %s\n", st.message());
        return 1;
    }
    Metrics metrics;
    Workers workers(fm, metrics, cfg.threads, cfg.queue, cfg.max_pixels);
    std::string warm_message;
    if (!workers.warm_up(&warm_message)) {
        std::fprintf(stderr, "facemask_serve: the self-test run failed: %s", warm_message.c_str());
        return 1;
    }
    std::atomic<bool> ready{true};

    Server svr(cfg.timeout, metrics, cfg.quiet);
    svr.new_task_queue = [&cfg] { return new ConnectionPool(cfg.connections, size_t(cfg.connections)); };
    svr.set_tcp_nodelay(true);  // the listening socket; accepted ones: process_and_close_socket
    svr.set_payload_max_length(size_t(cfg.max_body));
    svr.set_keep_alive_max_count(100);
    svr.set_keep_alive_timeout(5);
    svr.set_read_timeout(cfg.timeout);
    svr.set_write_timeout(cfg.timeout);

    // Before any body is read: a POST must say its length, and that length must be in the limit
    // (chunked bodies are refused: cpp-httplib 0.11 would not bound them). The connection is
    // then closed, since its body is left unread.
    svr.set_pre_routing_handler([&](const httplib::Request& req, httplib::Response& res) {
        if (req.method != "POST") return httplib::Server::HandlerResponse::Unhandled;
        const std::string te = req.get_header_value("Transfer-Encoding");
        const std::string len = req.get_header_value("Content-Length");
        long n = -1;
        if (!te.empty() || len.empty() || !parse_long(len.c_str(), 0, LONG_MAX, &n)) {
            res.status = 411;
            res.set_content(error_json("length_required", "send the picture with a Content-Length (no chunked bodies)"),
                            "application/json");
        } else if (n > cfg.max_body) {
            res.status = 413;
            res.set_content(error_json("body_too_large", "the body is " + len + " bytes, beyond the limit of " +
                                                             std::to_string(cfg.max_body)),
                            "application/json");
        } else {
            return httplib::Server::HandlerResponse::Unhandled;
        }
        res.set_header("Connection", "close");
        if (t_request) t_request->close = true;
        return httplib::Server::HandlerResponse::Handled;
    });

    // The body is read here, not by cpp-httplib (which would parse a curl --data-binary upload,
    // sent as application/x-www-form-urlencoded, as a form): raw, or the multipart field "image".
    auto picture_handler = [&](bool annotate) {
        return [&, annotate](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
            ++metrics.in_flight;
            struct Done {
                Metrics& m;
                ~Done() { --m.in_flight; }
            } done{metrics};
            auto answer_error = [&](int status, const char* code, const std::string& message) {
                res.status = status;
                res.set_content(error_json(code, message), "application/json");
            };
            // The whole body is read before anything else is checked, whatever the answer: a
            // body left unread would be parsed as the next request on a kept-alive connection.
            Job job;
            job.annotate = annotate;
            std::string body, field, filename;
            bool in_image = false, have_image = false;
            bool read_ok = false;
            if (req.is_multipart_form_data()) {
                read_ok = reader(
                    [&](const httplib::MultipartFormData& f) {
                        in_image = f.name == "image" && !have_image;
                        if (in_image) have_image = true, filename = f.filename;
                        return true;
                    },
                    [&](const char* data, size_t n) {
                        if (in_image) body.append(data, n);
                        return true;
                    });
                if (read_ok && !have_image)
                    return answer_error(400, "missing_image", "the multipart form has no field 'image'");
                if (!filename.empty()) job.name = filename.c_str();
            } else {
                body.reserve(size_t(std::max<long>(0, std::atol(req.get_header_value("Content-Length").c_str()))));
                read_ok = reader([&](const char* data, size_t n) {
                    body.append(data, n);
                    return true;
                });
            }
            if (!read_ok) {
                if (t_request) t_request->close = true;
                if (t_request && t_request->expired)
                    return answer_error(408, "timeout", "the request did not arrive within the time limit");
                return answer_error(400, "bad_request", "the body could not be read (truncated or malformed)");
            }
            std::string message;
            if (!read_params(req, annotate, &job.opt, &job.png, &message))
                return answer_error(400, "bad_parameter", message);
            job.picture = &body;
            if (!workers.submit(&job)) {
                ++metrics.rejected;
                res.set_header("Retry-After", "1");
                return answer_error(503, "overloaded", "all workers are busy and the queue is full; retry later");
            }
            Workers::wait(&job);
            res.status = job.status;
            res.set_content(job.body, job.content_type.c_str());
        };
    };
    svr.Post("/v1/detect", picture_handler(false));
    svr.Post("/v1/annotate", picture_handler(true));
    svr.Get("/healthz", [&](const httplib::Request&, httplib::Response& res) {
        if (ready && !svr.stopping) {
            res.set_content("{\"status\": \"ok\"}\n", "application/json");
        } else {
            res.status = 503;
            res.set_content(error_json("not_ready", svr.stopping ? "shutting down" : "loading"), "application/json");
        }
    });
    svr.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
        res.set_content(metrics.text(cfg.threads, cfg.queue) + workers.served_text(), "text/plain; version=0.0.4");
    });
    // The web page (examples/web, best the folder its build.sh made, with the wasm and blobs).
    // COOP + COEP make the page cross-origin isolated, so its WebAssembly engine may use threads
    // (SharedArrayBuffer); everything it loads comes from here, so require-corp blocks nothing.
    const httplib::Headers isolation = {{"Cross-Origin-Opener-Policy", "same-origin"},
                                        {"Cross-Origin-Embedder-Policy", "require-corp"}};
    if (!cfg.web.empty() && !svr.set_mount_point("/", cfg.web, isolation))
        std::fprintf(stderr, "facemask_serve: no web page folder '%s'; GET / is 404\n", cfg.web.c_str());
    svr.set_error_handler([&](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty() && res.get_header_value("Content-Type") == "application/json") return;
        if (t_request && t_request->expired) res.status = 408;
        const char* code = res.status == 408   ? "timeout"
                           : res.status == 413 ? "body_too_large"
                           : res.status == 404 ? "not_found"
                           : res.status == 414 ? "uri_too_long"
                           : res.status >= 500 ? "internal"
                                               : "bad_request";
        std::string message = res.status == 408   ? "the request did not arrive within the time limit"
                              : res.status == 413 ? "the body is larger than the limit of " + std::to_string(cfg.max_body) + " bytes"
                              : res.status == 404 ? "no such endpoint"
                                                  : "malformed request";
        res.set_content(error_json(code, message), "application/json");
    });
    svr.set_logger([&](const httplib::Request& req, const httplib::Response& res) {
        svr.log_line(req.method, req.path, res.status);
    });

    int port = cfg.port;
    if (port == 0) {
        port = svr.bind_to_any_port(cfg.host);
        if (port < 0) {
            std::fprintf(stderr, "facemask_serve: cannot listen on %s\n", cfg.host.c_str());
            return 1;
        }
    } else if (!svr.bind_to_port(cfg.host, port)) {
        std::fprintf(stderr, "facemask_serve: cannot listen on %s:%d: %s\n", cfg.host.c_str(), port, std::strerror(errno));
        return 1;
    }
    if (!svr.widen_backlog(1024))
        std::fprintf(stderr, "facemask_serve: cannot widen the listen backlog: %s\n", std::strerror(errno));
    std::thread signals([&] {
        int sig = 0;
        sigwait(&sigs, &sig);
        if (sig == SIGUSR1) return;  // main's own wake-up: the server ended by itself
        std::fprintf(stderr, "facemask_serve: signal %d: finishing the requests in flight\n", sig);
        svr.stopping = true;
        svr.stop();
    });
    std::fprintf(stderr, "facemask_serve: listening on http://%s:%d/ (%d workers, queue %d)\n", cfg.host.c_str(), port,
                 cfg.threads, cfg.queue);
    std::fflush(stderr);
    const bool listened = svr.listen_after_bind();  // returns once stopped and the connections are done
    if (!svr.stopping) {  // ended without a signal: wake the signal thread
        pthread_kill(signals.native_handle(), SIGUSR1);
    }
    signals.join();
    workers.stop();
    (void)listened;
    std::fprintf(stderr, "facemask_serve: stopped\n");
    return 0;
}
