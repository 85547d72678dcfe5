"""Two facemask_serve replicas behind nginx on loopback: load through nginx, one replica killed
mid-run, no request lost (nginx retries on the other); throughput with one and two replicas.

    FACEMASK_BUILD=build FACEMASK_PICTURE=../shared/images/ex_img.jpg python3 -m unittest tests/serve/test_replicas.py

FACEMASK_REPLICA_SECONDS sets each load run's length (default 6). The throughput figures are
printed, not asserted: the machine is shared, so they are evidence for a benchmark, not a test.
Also used by tools/serve_bench.py (run_replicas)."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Service, resized_ppm  # noqa: E402

BUILD = os.path.abspath(os.environ.get("FACEMASK_BUILD", "build"))
PICTURE = os.path.abspath(os.environ.get("FACEMASK_PICTURE", "../shared/images/ex_img.jpg"))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    """nginx (the repository's examples/serve/nginx.conf, ports changed) in a scratch prefix."""

    def __init__(self, replica_ports):
        self.prefix = tempfile.mkdtemp(prefix="facemask_nginx_")
        os.makedirs(os.path.join(self.prefix, "logs"))
        self.port = free_port()
        with open(os.path.join(REPO, "examples", "serve", "nginx.conf")) as f:
            conf = f.read()
        servers = "".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;\n" for p in replica_ports)
        conf = re.sub(r"(        server 127\.0\.0\.1:808[12][^\n]*\n)+", servers, conf)
        conf = conf.replace("listen 127.0.0.1:8080;", f"listen 127.0.0.1:{self.port};")
        conf = conf.replace("worker_processes auto;", "worker_processes 1;")
        assert f"listen 127.0.0.1:{self.port}" in conf and all(f":{p} " in conf for p in replica_ports)
        self.conf = os.path.join(self.prefix, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.proc = subprocess.Popen([NGINX, "-p", self.prefix, "-c", self.conf, "-g",
                                      f"daemon off; pid {self.prefix}/nginx.pid;"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("nginx exited: " + self.proc.stderr.read().decode())
                time.sleep(0.05)
        raise RuntimeError("nginx did not start")

    def access_log(self):
        with open(os.path.join(self.prefix, "logs", "facemask_access.log")) as f:
            return f.read().splitlines()

    def wait_for_lines(self, n, timeout=5):
        """Waits (at most timeout s) until the access log has at least n lines."""
        deadline = time.time() + timeout
        while len(self.access_log()) < n and time.time() < deadline:
            time.sleep(0.02)

    def stop(self):
        self.proc.send_signal(signal.SIGQUIT)
        self.proc.stderr.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.prefix, ignore_errors=True)


def load(port, picture, concurrency, seconds):
    out = subprocess.run([os.path.join(BUILD, "http_load"), "--port", str(port), "--file", picture,
                          "--concurrency", str(concurrency), "--seconds", str(seconds)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def run_replicas(picture, seconds, concurrency=4, threads=1):
    """The replica experiment; returns a dict of figures (used by the test and serve_bench.py)."""
    figures = {}
    # one replica behind nginx
    a = Service(BUILD, "--threads", str(threads), "--quiet")
    ngx = Nginx([a.port])
    try:
        figures["one_replica"] = load(ngx.port, picture, concurrency, seconds)
    finally:
        ngx.stop()
        a.stop()
    # two replicas; then the same again with replica A killed halfway through
    a = Service(BUILD, "--threads", str(threads), "--quiet")
    b = Service(BUILD, "--threads", str(threads), "--quiet")
    ngx = Nginx([a.port, b.port])
    try:
        figures["two_replicas"] = load(ngx.port, picture, concurrency, seconds)
        # nginx writes a request's log line just after its answer: wait for the previous run's
        # lines, so that none of them is counted in the next run
        before = figures["two_replicas"]["requests"]
        ngx.wait_for_lines(before)
        killer = threading.Timer(seconds / 2, lambda: a.proc.send_signal(signal.SIGKILL))
        killer.start()
        figures["kill_one"] = load(ngx.port, picture, concurrency, seconds)
        killer.join()
        ngx.wait_for_lines(before + figures["kill_one"]["requests"])
        lines = ngx.access_log()[before:]
        figures["kill_one"]["nginx_requests"] = len(lines)
        figures["kill_one"]["nginx_retried"] = sum(1 for line in lines if re.search(r"upstream=\S+, ", line))
        figures["kill_one"]["replica_a_exit"] = a.proc.wait(10)
    finally:
        ngx.stop()
        a.stop()
        b.stop()
    figures["two_vs_one"] = round(figures["two_replicas"]["pictures_per_s"] /
                                  max(figures["one_replica"]["pictures_per_s"], 1e-9), 2)
    return figures


class ReplicaTest(unittest.TestCase):
    def test_no_request_lost_when_a_replica_dies(self):
        for exe in ("facemask_serve", "http_load", "decode_image"):
            self.assertTrue(os.path.exists(os.path.join(BUILD, exe)), exe)
        self.assertTrue(os.path.exists(NGINX), "nginx is missing (Debian: nginx)")
        work = tempfile.mkdtemp(prefix="facemask_replicas_")
        picture = resized_ppm(BUILD, PICTURE, 640, 480, os.path.join(work, "vga.ppm"))
        f = run_replicas(picture, float(os.environ.get("FACEMASK_REPLICA_SECONDS", "6")))
        print("\n  " + json.dumps(f), file=sys.stderr)
        killed = f["kill_one"]
        self.assertEqual(killed["replica_a_exit"], -signal.SIGKILL)
        self.assertEqual(killed["failed"], 0, killed)
        self.assertEqual(killed["status"], {"200": killed["requests"]}, killed)  # every request answered 200
        self.assertGreater(killed["nginx_retried"], 0, killed)  # ... some of them by the retry
        self.assertEqual(killed["nginx_requests"], killed["requests"])
        for run in ("one_replica", "two_replicas"):
            self.assertEqual((f[run]["failed"], list(f[run]["status"])), (0, ["200"]), f[run])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
