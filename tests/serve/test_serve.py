"""facemask_serve under load and under bad clients (CI's 'serve' stage, small scale).

    FACEMASK_BUILD=build FACEMASK_PICTURE=../shared/images/ex_img.jpg python3 -m unittest tests/serve/test_serve.py

FACEMASK_SERVE_REQUESTS sets the memory test's request count (default 300; the benchmark,
tools/serve_bench.py, runs 10,000)."""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Service, cli_json, png_bytes, raw_exchange, read_one_response, resized_ppm, status_of  # noqa: E402

BUILD = os.path.abspath(os.environ.get("FACEMASK_BUILD", "build"))
PICTURE = os.path.abspath(os.environ.get("FACEMASK_PICTURE", "../shared/images/ex_img.jpg"))
WORK = tempfile.mkdtemp(prefix="facemask_serve_test_")


def post(svc, path, body, **kw):
    return svc.request("POST", path, body=body, headers={"Content-Type": "application/octet-stream"}, **kw)


def error_code(body):
    return json.loads(body)["error"]


class ServeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for exe in ("facemask_serve", "example_annotate", "decode_image", "http_load"):
            if not os.path.exists(os.path.join(BUILD, exe)):
                raise RuntimeError(f"{BUILD}/{exe} is missing (is libcpp-httplib-dev installed?)")
        with open(PICTURE, "rb") as f:
            cls.demo = f.read()
        cls.vga_path = resized_ppm(BUILD, PICTURE, 640, 480, os.path.join(WORK, "vga.ppm"))
        with open(cls.vga_path, "rb") as f:
            cls.vga = f.read()
        cls.svc = Service(BUILD, "--threads", "2", "--queue", "4", "--max-body", "4000000", "--quiet")

    @classmethod
    def tearDownClass(cls):
        cls.assertEqual(unittest.TestCase(), cls.svc.stop(), 0)

    def test_healthz_and_metrics(self):
        status, _, body = self.svc.request("GET", "/healthz")
        self.assertEqual((status, json.loads(body)["status"]), (200, "ok"))
        post(self.svc, "/v1/detect", self.vga)
        status, headers, body = self.svc.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain"))
        text = body.decode()
        for name in ('facemask_requests_total{endpoint="/v1/detect",status="200"}',
                     'facemask_request_duration_seconds_bucket{endpoint="/v1/detect",le="+Inf"}',
                     "facemask_in_flight ", "facemask_queue_length ", "facemask_pictures_total ",
                     "facemask_faces_total ", "# TYPE facemask_request_duration_seconds histogram"):
            self.assertIn(name, text)
        pictures = int(text.split("\nfacemask_pictures_total ")[1].split()[0])
        self.assertGreaterEqual(pictures, 1)

    def test_sequential_requests_stay_on_one_worker(self):
        # The last idle worker is woken first, so at concurrency 1 one worker (its caches and
        # buffers warm) runs every picture; waking them in turn cost +11 % at 640x480.
        def served():
            text = self.svc.request("GET", "/metrics")[2].decode()
            return [int(line.split()[-1]) for line in text.splitlines()
                    if line.startswith("facemask_worker_pictures_total{")]
        before = served()
        self.assertEqual(len(before), 2)
        for _ in range(12):
            self.assertEqual(post(self.svc, "/v1/detect?classify=false", self.vga)[0], 200)
        grown = sorted(b - a for a, b in zip(before, served()))
        self.assertEqual(grown, [0, 12])

    def test_detect_equals_cli(self):
        cases = [(self.demo, PICTURE, "", []),
                 (self.vga, self.vga_path, "", []),
                 (self.demo, PICTURE, "?conf=0.7&nms=0.3&mask_threshold=0.9&scale=long%3D640",
                  ["--conf", "0.7", "--nms", "0.3", "--mask-threshold", "0.9", "--scale", "long=640"]),
                 (self.vga, self.vga_path, "?classify=false&scale=native", ["--no-classify", "--scale", "native"])]
        for body, path, query, options in cases:
            with self.subTest(picture=path, query=query):
                expected = cli_json(BUILD, path, *options)
                del expected["image"]
                status, headers, answer = post(self.svc, "/v1/detect" + query, body)
                self.assertEqual(status, 200, answer)
                self.assertEqual(headers["Content-Type"], "application/json")
                self.assertEqual(json.loads(answer), expected)
        self.assertEqual(len(cli_json(BUILD, PICTURE)["faces"]), 2)

    def test_multipart_upload_names_the_picture(self):
        boundary = "facemaskboundary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"door.jpg\"\r\n"
                f"Content-Type: image/jpeg\r\n\r\n").encode() + self.demo + f"\r\n--{boundary}--\r\n".encode()
        status, _, answer = self.svc.request("POST", "/v1/detect", body=body,
                                             headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        self.assertEqual(status, 200, answer)
        expected = cli_json(BUILD, PICTURE)
        expected["image"] = "door.jpg"
        self.assertEqual(json.loads(answer), expected)
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--{boundary}--\r\n").encode()
        status, _, answer = self.svc.request("POST", "/v1/detect", body=body,
                                             headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        self.assertEqual((status, error_code(answer)), (400, "missing_image"))

    def test_annotate(self):
        status, headers, jpeg = post(self.svc, "/v1/annotate", self.vga)
        self.assertEqual((status, headers["Content-Type"]), (200, "image/jpeg"))
        self.assertEqual(jpeg[:3], b"\xff\xd8\xff")
        status, headers, png = post(self.svc, "/v1/annotate?format=png", self.vga)
        self.assertEqual((status, headers["Content-Type"]), (200, "image/png"))
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        self.assertEqual((int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")), (640, 480))
        # the drawing changed pixels: the answer is not the unannotated picture
        status, _, plain = post(self.svc, "/v1/annotate?format=png&conf=0.999", png_bytes(4, 4, [b"\x80" * 12] * 4))
        self.assertEqual(status, 200)

    def test_bad_clients(self):
        big = png_bytes(100000, 100000)
        cases = [("garbage", b"this is not a picture" * 10, "", 400, "bad_image"),
                 ("truncated JPEG", self.demo[: len(self.demo) // 8], "", 400, "bad_image"),
                 ("100000x100000 PNG header", big, "", 413, "too_many_pixels"),
                 ("empty body", b"", "", 400, "bad_image"),
                 ("conf out of range", self.vga, "?conf=2", 400, "bad_parameter"),
                 ("conf not a number", self.vga, "?conf=abc", 400, "bad_parameter"),
                 ("bad scale", self.vga, "?scale=huge", 400, "bad_parameter"),
                 ("bad classify", self.vga, "?classify=maybe", 400, "bad_parameter"),
                 ("unknown parameter", self.vga, "?colour=red", 400, "bad_parameter"),
                 ("bad format", self.vga, "?format=gif", 400, "bad_parameter")]
        for name, body, query, status, code in cases:
            with self.subTest(name):
                got, headers, answer = post(self.svc, "/v1/detect" + query if "format" not in query else
                                            "/v1/annotate" + query, body)
                self.assertEqual((got, error_code(answer)), (status, code), answer)
                self.assertEqual(headers["Content-Type"], "application/json")
                self.assertTrue(json.loads(answer)["message"])
        # a body over --max-body (4 MB): refused from its Content-Length, before it is read
        raw = raw_exchange(self.svc.port, b"POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n")
        self.assertEqual(status_of(raw), 413, raw)
        self.assertIn(b'"body_too_large"', raw)
        # no Content-Length (chunked): 411
        raw = raw_exchange(self.svc.port, b"POST /v1/detect HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                           b"5\r\nhello\r\n0\r\n\r\n")
        self.assertEqual(status_of(raw), 411, raw)
        # an upload cut short: the client says 100000 bytes, sends 1000 and closes its side
        raw = raw_exchange(self.svc.port, b"POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
                           + self.demo[:1000], shutdown_write=True)
        self.assertEqual(status_of(raw), 400, raw)
        # not HTTP at all, and a header line beyond cpp-httplib's limit
        self.assertEqual(status_of(raw_exchange(self.svc.port, b"\x00\x01garbage\r\n\r\n", shutdown_write=True)), 400)
        self.assertEqual(status_of(raw_exchange(self.svc.port, b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n",
                                                shutdown_write=True)), 414)
        status, _, answer = self.svc.request("GET", "/no/such/thing")
        self.assertEqual((status, error_code(answer)), (404, "not_found"))
        # and the service still answers
        self.assertEqual(post(self.svc, "/v1/detect", self.vga)[0], 200)

    def test_bad_parameter_leaves_keep_alive_connection_usable(self):
        # A request refused for its parameters still has its body on the connection: the server
        # must consume it, or the body is read as the next request on the same keep-alive socket.
        expected = cli_json(BUILD, self.vga_path)
        del expected["image"]
        boundary = "facemaskboundary"
        multipart = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"v.ppm\"\r\n"
                     f"Content-Type: image/x-portable-pixmap\r\n\r\n").encode() + self.vga + \
            f"\r\n--{boundary}--\r\n".encode()

        def request(path, body, content_type="application/octet-stream"):
            return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode() + body

        octet, form = "application/octet-stream", f"multipart/form-data; boundary={boundary}"
        bad = [("/v1/detect?conf=2", self.vga, octet, 400, "bad_parameter"),
               ("/v1/annotate?format=gif", self.vga, octet, 400, "bad_parameter"),
               ("/v1/detect?colour=red", multipart, form, 400, "bad_parameter"),
               ("/v1/no_such_endpoint", self.vga, octet, 404, "not_found")]
        for path, body, content_type, want_status, want_code in bad:
            for pipelined in (False, True):
                with self.subTest(path=path, pipelined=pipelined):
                    s = socket.create_connection(("127.0.0.1", self.svc.port), timeout=30)
                    answers = s.makefile("rb")
                    try:
                        first, second = request(path, body, content_type), request("/v1/detect", self.vga)
                        if pipelined:  # both requests at once, before any answer
                            s.sendall(first + second)
                        else:
                            s.sendall(first)
                        status, _, answer = read_one_response(answers)
                        self.assertEqual((status, error_code(answer)), (want_status, want_code), answer)
                        if not pipelined:
                            s.sendall(second)
                        status, headers, answer = read_one_response(answers)
                        self.assertEqual(status, 200, answer)
                        self.assertEqual(headers["content-type"], "application/json")
                        self.assertEqual(json.loads(answer), expected)
                    finally:
                        answers.close()
                        s.close()

    def test_get_root_serves_the_web_page(self):
        web = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "web")
        svc = Service(BUILD, "--threads", "1", "--quiet", "--web", web)
        try:
            for path, name, content_type in (("/", "index.html", "text/html"), ("/app.js", "app.js", "text/javascript"),
                                             ("/style.css", "style.css", "text/css")):
                with self.subTest(path):
                    status, headers, body = svc.request("GET", path)
                    self.assertEqual(status, 200, body[:200])
                    self.assertTrue(headers["Content-Type"].startswith(content_type), headers)
                    with open(os.path.join(web, name), "rb") as f:
                        self.assertEqual(body, f.read())
            status, headers, body = svc.request("GET", "/no_such_file.js")
            self.assertEqual((status, error_code(body)), (404, "not_found"))
            self.assertEqual(post(svc, "/v1/detect", self.vga)[0], 200)  # the API beside the page
        finally:
            self.assertEqual(svc.stop(), 0)
        # no such folder: the service still starts, says so, and GET / is a JSON 404
        svc = Service(BUILD, "--threads", "1", "--web", os.path.join(WORK, "no_such_folder"))
        try:
            status, _, body = svc.request("GET", "/")
            self.assertEqual((status, error_code(body)), (404, "not_found"))
            self.assertIn("no web page folder", svc.log_text())
        finally:
            self.assertEqual(svc.stop(), 0)

    def test_slow_client_gets_408_and_others_are_served(self):
        svc = Service(BUILD, "--threads", "1", "--timeout", "2", "--quiet")
        try:
            result = {}

            def slowloris():
                s = socket.create_connection(("127.0.0.1", svc.port), timeout=20)
                start = time.time()
                try:
                    for byte in b"POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n":
                        s.sendall(bytes([byte]))
                        time.sleep(0.5)  # two bytes a second: the request never completes in 2 s
                except (BrokenPipeError, ConnectionResetError):
                    pass
                try:
                    result["answer"] = s.recv(4096)
                except (ConnectionResetError, socket.timeout):
                    result["answer"] = b""
                result["seconds"] = time.time() - start
                s.close()

            t = threading.Thread(target=slowloris)
            t.start()
            time.sleep(0.3)
            status, _, _ = post(svc, "/v1/detect", self.vga)
            self.assertEqual(status, 200)  # served while the slow client holds its connection
            t.join(30)
            self.assertEqual(status_of(result["answer"]), 408, result)
            self.assertIn(b'"timeout"', result["answer"])
            self.assertLess(result["seconds"], 6)
            # a body that stops arriving also gets 408
            s = socket.create_connection(("127.0.0.1", svc.port), timeout=20)
            s.sendall(b"POST /v1/detect HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
            self.assertEqual(status_of(s.recv(4096)), 408)
            s.close()
        finally:
            self.assertEqual(svc.stop(), 0)

    def test_full_queue_answers_503_with_retry_after(self):
        svc = Service(BUILD, "--threads", "1", "--queue", "1", "--quiet")
        try:
            answers = []
            lock = threading.Lock()

            def one():
                got = post(svc, "/v1/detect", self.demo)
                with lock:
                    answers.append(got)

            threads = [threading.Thread(target=one) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            statuses = sorted(a[0] for a in answers)
            self.assertEqual(len(answers), 8)
            self.assertEqual(set(statuses), {200, 503}, statuses)
            for status, headers, body in answers:
                if status == 503:
                    self.assertEqual(headers.get("Retry-After"), "1")
                    self.assertEqual(error_code(body), "overloaded")
            # the load client at 8 connections: every request has an answer, none fails
            out = subprocess.run([os.path.join(BUILD, "http_load"), "--port", str(svc.port), "--file", self.vga_path,
                                  "--concurrency", "8", "--seconds", "2"], check=True, capture_output=True, text=True)
            load = json.loads(out.stdout)
            self.assertEqual(load["failed"], 0, load)
            self.assertGreater(load["status"].get("200", 0), 0, load)
            self.assertGreater(load["status"].get("503", 0), 0, load)
        finally:
            self.assertEqual(svc.stop(), 0)

    def test_keep_alive_answers_without_nagle_stall(self):
        # Without TCP_NODELAY on the accepted sockets, each kept-alive answer (head and body in two
        # writes) waited ~40 ms for the client's delayed ACK: 44 ms p50 for an 8x8 picture, 0.4 ms
        # with it. The bound leaves room for a loaded machine.
        tiny = os.path.join(WORK, "tiny.png")
        with open(tiny, "wb") as f:
            f.write(png_bytes(8, 8, [b"\x80" * 24] * 8))
        out = json.loads(subprocess.run([os.path.join(BUILD, "http_load"), "--port", str(self.svc.port), "--file", tiny,
                                         "--concurrency", "1", "--requests", "30"],
                                        check=True, capture_output=True, text=True).stdout)
        self.assertEqual((out["status"].get("200"), out["failed"]), (30, 0), out)
        self.assertLess(out["p50_ms"], 25, out)

    def test_listen_backlog_holds_a_burst_of_connections(self):
        # cpp-httplib listens with a backlog of 5; 32 clients connecting at once overflowed it and
        # the kernel reset some SYN-cookie connections (http_load: "send ECONNRESET (fresh)",
        # matching TcpExtSyncookiesFailed). The service widens it; ss shows a listener's backlog
        # as its Send-Q.
        out = subprocess.run(["ss", "-ltnH", f"sport = :{self.svc.port}"], check=True, capture_output=True,
                             text=True).stdout.split()
        self.assertEqual(out[0], "LISTEN", out)
        self.assertGreaterEqual(int(out[2]), 128, out)

    def test_memory_is_flat(self):
        n = int(os.environ.get("FACEMASK_SERVE_REQUESTS", "300"))
        load = [os.path.join(BUILD, "http_load"), "--port", str(self.svc.port), "--file", self.vga_path,
                "--concurrency", "2"]
        subprocess.run(load + ["--requests", "40"], check=True, capture_output=True)
        start = self.svc.rss_kib()
        out = json.loads(subprocess.run(load + ["--requests", str(n)], check=True, capture_output=True,
                                        text=True).stdout)
        end = self.svc.rss_kib()
        print(f"\n  {n} requests: RSS {start} -> {end} KiB; {out}", file=sys.stderr)
        self.assertEqual((out["status"].get("200"), out["failed"]), (n, 0), out)
        self.assertLess(end - start, 8 * 1024, (start, end))

    def test_sigterm_finishes_in_flight_requests(self):
        svc = Service(BUILD, "--threads", "1", "--quiet")
        answer = {}

        def one():
            answer["got"] = post(svc, "/v1/detect", self.demo)

        t = threading.Thread(target=one)
        t.start()
        time.sleep(0.15)
        svc.proc.send_signal(signal.SIGTERM)
        t.join(60)
        self.assertEqual(svc.proc.wait(30), 0)
        self.assertEqual(answer["got"][0], 200)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", svc.port), timeout=2)
        svc.stop()


if __name__ == "__main__":
    unittest.main()
