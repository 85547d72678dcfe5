// http_load — a small HTTP/1.1 load client for facemask_serve (loopback benchmarks and tests).
//
//   http_load --port N [--host 127.0.0.1] [--path /v1/detect] --file PICTURE
//             [--concurrency C] (--requests N | --seconds S) [--no-keepalive]
//
// C connections each POST the file again and again (keep-alive) until N requests in all have
// been answered or S seconds have passed. Prints one JSON object: requests, per-status counts,
// failed (no HTTP answer: refused, reset, timeout) with "failures" saying how each one failed
// (connect / send / recv, the errno or "timeout" / "closed", and whether the connection was
// fresh or had served requests before), pictures/s (status 200 only), and latency p50/p99 of
// the 200 answers in ms. Exit status 0; 2 bad arguments.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    std::string host = "127.0.0.1", path = "/v1/detect", file;
    int port = 0, concurrency = 1, timeout_ms = 60000;
    long requests = 0;
    double seconds = 0;
    bool keepalive = true;
};

struct Totals {
    std::mutex m;
    std::map<int, long> status;
    long failed = 0;
    std::map<std::string, long> failures;  // how they failed
    std::vector<double> ms;  // latencies of 200 answers
};

int connect_to(const Options& o) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(o.port));
    inet_pton(AF_INET, o.host.c_str(), &a.sin_addr);
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        const int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

const char* errno_name(int e) {
    switch (e) {
        case EPIPE: return "EPIPE";
        case ECONNRESET: return "ECONNRESET";
        case ECONNREFUSED: return "ECONNREFUSED";
        case ETIMEDOUT: return "ETIMEDOUT";
        case EAGAIN: return "EAGAIN";
        default: return "other";
    }
}

bool send_all(int fd, const std::string& s, std::string* why) {
    size_t off = 0;
    while (off < s.size()) {
        const ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            *why = std::string("send ") + (n == 0 ? "closed" : errno_name(errno));
            return false;
        }
        off += size_t(n);
    }
    return true;
}

// Reads one response; returns its status (0 on failure); *keep says whether the connection
// may be reused.
int read_response(int fd, int timeout_ms, bool* keep, std::string* why) {
    std::string buf;
    char tmp[65536];
    size_t header_end = std::string::npos;
    long length = -1;
    int status = 0;
    for (;;) {
        if (header_end == std::string::npos) {
            header_end = buf.find("\r\n\r\n");
            if (header_end != std::string::npos) {
                if (std::sscanf(buf.c_str(), "HTTP/1.%*d %d", &status) != 1) return *why = "recv not HTTP", 0;
                std::string head = buf.substr(0, header_end);
                for (char& c : head) c = char(std::tolower(static_cast<unsigned char>(c)));
                const size_t cl = head.find("\r\ncontent-length:");
                length = cl == std::string::npos ? 0 : std::atol(head.c_str() + cl + 17);
                *keep = head.find("\r\nconnection: close") == std::string::npos;
            }
        }
        if (header_end != std::string::npos && buf.size() >= header_end + 4 + size_t(length)) return status;
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, timeout_ms) <= 0) return *why = "recv timeout", 0;
        const ssize_t n = recv(fd, tmp, sizeof tmp, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return *why = std::string("recv ") + (n == 0 ? "closed" : errno_name(errno)), 0;
        buf.append(tmp, size_t(n));
    }
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
        if (a == "--no-keepalive") { o.keepalive = false; continue; }
        if (!v) { std::fprintf(stderr, "http_load: %s needs a value\n", a.c_str()); return 2; }
        ++i;
        if (a == "--host") o.host = v;
        else if (a == "--port") o.port = std::atoi(v);
        else if (a == "--path") o.path = v;
        else if (a == "--file") o.file = v;
        else if (a == "--concurrency") o.concurrency = std::atoi(v);
        else if (a == "--requests") o.requests = std::atol(v);
        else if (a == "--seconds") o.seconds = std::atof(v);
        else if (a == "--timeout-ms") o.timeout_ms = std::atoi(v);
        else { std::fprintf(stderr, "http_load: unknown option %s\n", a.c_str()); return 2; }
    }
    if (o.port <= 0 || o.file.empty() || o.concurrency < 1 || (o.requests <= 0 && o.seconds <= 0)) {
        std::fprintf(stderr, "usage: http_load --port N --file PICTURE [--concurrency C] (--requests N | --seconds S)\n");
        return 2;
    }
    FILE* f = std::fopen(o.file.c_str(), "rb");
    if (!f) { std::fprintf(stderr, "http_load: cannot read %s\n", o.file.c_str()); return 2; }
    std::string body;
    char tmp[65536];
    for (size_t n; (n = std::fread(tmp, 1, sizeof tmp, f)) > 0;) body.append(tmp, n);
    std::fclose(f);
    const std::string request = "POST " + o.path + " HTTP/1.1\r\nHost: " + o.host +
                                "\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                                std::to_string(body.size()) + (o.keepalive ? "" : "\r\nConnection: close") + "\r\n\r\n" + body;

    Totals totals;
    std::atomic<long> issued{0};
    const auto start = Clock::now();
    const auto until = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
    auto more = [&] {
        if (o.seconds > 0 && Clock::now() >= until) return false;
        return o.requests <= 0 || issued.fetch_add(1) < o.requests;
    };
    std::vector<std::thread> threads;
    for (int t = 0; t < o.concurrency; ++t)
        threads.emplace_back([&] {
            int fd = -1;
            long served = 0;  // answers on this connection so far
            while (more()) {
                if (fd < 0) fd = connect_to(o), served = 0;
                const auto t0 = Clock::now();
                bool keep = false;
                std::string why = fd < 0 ? std::string("connect ") + errno_name(errno) : "";
                const int status = fd >= 0 && send_all(fd, request, &why) ? read_response(fd, o.timeout_ms, &keep, &why) : 0;
                if (status) ++served;
                const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
                {
                    std::lock_guard<std::mutex> lock(totals.m);
                    if (status == 0) ++totals.failed, ++totals.failures[why + (served ? " (reused)" : " (fresh)")];
                    else ++totals.status[status];
                    if (status == 200) totals.ms.push_back(ms);
                }
                if (status == 0 || !keep || !o.keepalive) {
                    if (fd >= 0) close(fd);
                    fd = -1;
                }
                if (status == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
            if (fd >= 0) close(fd);
        });
    for (std::thread& t : threads) t.join();
    const double wall = std::chrono::duration<double>(Clock::now() - start).count();
    std::sort(totals.ms.begin(), totals.ms.end());
    auto pct = [&](double p) {
        if (totals.ms.empty()) return 0.0;
        return totals.ms[std::min(totals.ms.size() - 1, size_t(p * double(totals.ms.size())))];
    };
    long total = totals.failed;
    std::string statuses;
    for (const auto& s : totals.status) {
        total += s.second;
        statuses += (statuses.empty() ? "" : ", ") + std::string("\"") + std::to_string(s.first) + "\": " + std::to_string(s.second);
    }
    std::string failures;
    for (const auto& f : totals.failures)
        failures += (failures.empty() ? "\"" : ", \"") + f.first + "\": " + std::to_string(f.second);
    std::printf("{\"concurrency\": %d, \"requests\": %ld, \"status\": {%s}, \"failed\": %ld, \"failures\": {%s}, "
                "\"seconds\": %.3f, \"pictures_per_s\": %.2f, \"p50_ms\": %.2f, \"p99_ms\": %.2f}\n",
                o.concurrency, total, statuses.c_str(), totals.failed, failures.c_str(), wall, double(totals.ms.size()) / wall, pct(0.5),
                pct(0.99));
    return 0;
}
