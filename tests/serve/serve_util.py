"""Helpers shared by the facemask_serve tests and tools/serve_bench.py: start a service on a
free loopback port, talk HTTP to it, make test pictures at run time (nothing is committed)."""
import http.client
import json
import os
import re
import signal
import socket
import struct
import subprocess
import tempfile
import time
import zlib


class Service:
    """One facemask_serve process on 127.0.0.1 and a free port (read from its first line)."""

    def __init__(self, build, *args, port=0):
        self.log = tempfile.NamedTemporaryFile(prefix="facemask_serve_", suffix=".log", delete=False)
        self.proc = subprocess.Popen([os.path.join(build, "facemask_serve"), "--port", str(port), *args],
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        self.port = None
        deadline = time.time() + 60
        while time.time() < deadline and self.port is None:
            m = re.search(r"listening on http://[^:]+:(\d+)/", self.log_text())
            if m:
                self.port = int(m.group(1))
            elif self.proc.poll() is not None:
                raise RuntimeError("facemask_serve exited: " + self.log_text())
            else:
                time.sleep(0.05)
        if self.port is None:
            self.stop()
            raise RuntimeError("facemask_serve did not start: " + self.log_text())

    def log_text(self):
        with open(self.log.name, errors="replace") as f:
            return f.read()

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

    def request(self, method, path, body=None, headers=None, timeout=60):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            c.close()

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None
        finally:
            os.unlink(self.log.name)


def raw_exchange(port, data, shutdown_write=False, timeout=30):
    """Sends bytes on a fresh connection and returns everything the server answers."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        if shutdown_write:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


def read_one_response(stream):
    """Reads exactly one HTTP response (head + Content-Length body) from stream, a buffered
    reader of a socket (sock.makefile("rb")), leaving what follows for the next call. Returns
    (status, headers dict with lower-case names, body); ConnectionError if the server closes first."""
    status_line = stream.readline()
    if not status_line:
        raise ConnectionError("closed before a response")
    headers = {}
    while True:
        line = stream.readline()
        if not line:
            raise ConnectionError("closed in the middle of a response head")
        if line in (b"\r\n", b"\n"):
            break
        k, _, v = line.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    length = int(headers.get("content-length", "0"))
    body = stream.read(length)
    if len(body) < length:
        raise ConnectionError("closed in the middle of a response body")
    return status_of(status_line), headers, body


def status_of(raw):
    m = re.match(rb"HTTP/1\.[01] (\d+)", raw)
    return int(m.group(1)) if m else 0


def png_bytes(width, height, rgb_rows=None):
    """A PNG; with rgb_rows=None only a header (IHDR) claiming width x height and a tiny IDAT."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    if rgb_rows is None:
        idat = zlib.compress(b"\0" * 64)
    else:
        idat = zlib.compress(b"".join(b"\0" + row for row in rgb_rows), 6)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def resized_ppm(build, picture, width, height, out_path):
    """The picture decoded by the engine (tools' decode_image) and resized (nearest) to a PPM."""
    ppm = out_path + ".full.ppm"
    subprocess.run([os.path.join(build, "decode_image"), picture, ppm], check=True)
    with open(ppm, "rb") as f:
        data = f.read()
    os.unlink(ppm)
    m = re.match(rb"P6\s+(\d+)\s+(\d+)\s+255\s", data)
    w, h = int(m.group(1)), int(m.group(2))
    px = data[m.end():]
    rows = []
    for y in range(height):
        sy = y * h // height
        src = px[sy * w * 3:(sy + 1) * w * 3]
        rows.append(b"".join(src[(x * w // width) * 3:(x * w // width) * 3 + 3] for x in range(width)))
    with open(out_path, "wb") as f:
        f.write(b"P6\n%d %d\n255\n" % (width, height) + b"".join(rows))
    return out_path


def cli_json(build, picture, *options):
    """example_annotate --json - for one picture, as a dict."""
    out = subprocess.run([os.path.join(build, "example_annotate"), "--no-draw", "--json", "-", *options, picture],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)
