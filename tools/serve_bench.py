#!/usr/bin/python3
"""facemask_serve at full scale (issue 12): the figures the CI's small-scale tests do not give.

    python3 tools/serve_bench.py --build build --picture ../shared/images/ex_img.jpg
    python3 tools/serve_bench.py --quick          # a short smoke run of every part (~1 min)

Python standard library only; the load comes from tools' http_load (BUILD/http_load), on
loopback. One facemask_serve process (its default workers = the core count, --queue 16 unless
--queue) serves every part except the in-process timing. Parts:

1. Concurrency 1, 2, 8, 32 for two pictures: the demo picture as it is (JPEG) and a 640x480 PPM
   made from it (decode_image + nearest resize; made at run time, nothing is committed). Each run
   is --seconds long (after a short warm-up at that concurrency); http_load gives pictures/s
   (200 answers only), p50/p99 of the 200 answers, per-status counts, failures and how they
   failed. At 32 the queue is full most of the time: the table shows the 503s, and the part checks
   that a 503 has "Retry-After" and that no request failed (no HTTP answer).
   Note: http_load does not wait for Retry-After; its 32 clients send again at once, so most
   answers are 503 and their uploads (read whole, see the service) take CPU from the two workers.
   Pictures/s at 32 is therefore below the figure at 2 or 8; it is a worst case, not the capacity.

2. Service overhead at concurrency 1, interleaved with the in-process time for the same work.
   The same work = decode the same file, detect, classify, make the same JSON (no drawing):
   POST /v1/detect versus example_annotate --no-draw --json /dev/null --threads 1 over N copies
   of the file (symbolic links). example_annotate's per-picture time is (T(N) - T(1)) / (N - 1),
   which removes its start-up (loading and self-testing the models) and leaves the per-picture
   loop only. The service's is http_load's wall time over N requests divided by N (and its p50).
   Each of --rounds rounds runs both, alternately; the result is the ratio of the medians. The
   server's minor page faults per request are shown too: they count the decode buffers touched
   afresh (when requests at concurrency 1 alternated between the workers, 2,806 per demo
   picture; with the last idle worker woken first, 4 in a quiet run of this part alone but
   5,248 after the load part of a full run: whether glibc hands large blocks back to the system
   depends on what ran before).

3. --memory-requests requests in a row (default 10,000; the 640x480 picture, concurrency 2) in
   chunks of 1,000, with the server's resident memory (VmRSS) before, after each chunk and at the
   end.

4. Replicas (tests/serve/test_replicas.py's run_replicas): the 640x480 picture at concurrency 4
   through nginx, first with one replica (1 worker), then two (1 worker each), then two with one
   killed (SIGKILL) halfway through a run: requests sent, failed, retried by nginx.

The machine: the figures depend on what else runs. The header quotes the CPU, the core count and
the load average before and after; on a shared machine say so beside any figure quoted.
Output: a Markdown report on standard output; --json FILE writes every figure as JSON too.
Exit status 0 when the checks hold (0 failed requests, 503s with Retry-After at 32, RSS growth
under 16 MiB over the memory run), 1 otherwise.
"""
import argparse
import http.client
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "serve"))
from serve_util import Service, resized_ppm  # noqa: E402


def host_line():
    cpu = family = model = ""
    with open("/proc/cpuinfo") as f:
        text = f.read()
    m = re.search(r"model name\s*:\s*(.*)", text)
    cpu = m.group(1).strip() if m else platform.processor()
    m = re.search(r"cpu family\s*:\s*(\d+)", text)
    family = m.group(1) if m else "?"
    m = re.search(r"\nmodel\s*:\s*(\d+)", text)
    model = m.group(1) if m else "?"
    avx512 = "avx512f" in text
    return f"{cpu} (family {family} model {model}{', AVX-512' if avx512 else ''}), {os.cpu_count()} cores"


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def http_load(build, port, picture, concurrency, seconds=None, requests=None, path="/v1/detect"):
    cmd = [os.path.join(build, "http_load"), "--port", str(port), "--file", picture, "--path", path,
           "--concurrency", str(concurrency)]
    cmd += ["--seconds", str(seconds)] if seconds else ["--requests", str(requests)]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def in_process_seconds(build, folder, count):
    """Wall time of example_annotate over the first `count` links in folder (one thread, no drawing)."""
    files = sorted(os.listdir(folder))[:count]
    cmd = [os.path.join(build, "example_annotate"), "--no-draw", "--json", os.devnull, "--quiet", "--threads", "1"]
    t0 = time.perf_counter()
    subprocess.run(cmd + [os.path.join(folder, f) for f in files], check=True, capture_output=True)
    return time.perf_counter() - t0


def minor_faults(pid):
    """The process's minor page faults so far (/proc/PID/stat field 10)."""
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[7])


def one_503_has_retry_after(port, picture, build):
    """Fills the queue with http_load at 32 in the background and sends one request of its own
    until it gets a 503; True if that answer carries Retry-After (None if no 503 came)."""
    bg = subprocess.Popen([os.path.join(build, "http_load"), "--port", str(port), "--file", picture,
                           "--concurrency", "32", "--seconds", "4"], stdout=subprocess.DEVNULL)
    try:
        with open(picture, "rb") as f:
            body = f.read()
        deadline = time.time() + 4
        time.sleep(0.5)
        while time.time() < deadline:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                c.request("POST", "/v1/detect", body=body, headers={"Content-Type": "application/octet-stream"})
                r = c.getresponse()
                r.read()
                if r.status == 503:
                    return r.getheader("Retry-After") is not None
            finally:
                c.close()
        return None
    finally:
        bg.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--picture", default=os.path.join(HERE, "..", "..", "shared", "images", "ex_img.jpg"))
    ap.add_argument("--seconds", type=float, default=10, help="length of each concurrency run (default 10)")
    ap.add_argument("--concurrency", default="1,2,8,32")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the overhead part (default 5)")
    ap.add_argument("--copies", type=int, default=30, help="pictures per overhead round, each side (default 30)")
    ap.add_argument("--memory-requests", type=int, default=10000)
    ap.add_argument("--queue", type=int, default=16)
    ap.add_argument("--replica-seconds", type=float, default=20, help="length of each replica run (default 20)")
    ap.add_argument("--quick", action="store_true", help="2 s runs, 2 rounds of 10, 1,000 memory requests")
    ap.add_argument("--skip", default="", help="comma-separated parts to leave out: load,overhead,memory,replicas")
    ap.add_argument("--json", help="also write the figures to this file")
    a = ap.parse_args()
    if a.quick:
        a.seconds, a.rounds, a.copies, a.memory_requests, a.replica_seconds = 2, 2, 10, 1000, 4
    build = os.path.abspath(a.build)
    picture = os.path.abspath(a.picture)
    skip = set(filter(None, a.skip.split(",")))
    work = tempfile.mkdtemp(prefix="serve_bench_")
    vga = resized_ppm(build, picture, 640, 480, os.path.join(work, "vga.ppm"))
    pictures = [("demo " + os.path.basename(picture), picture), ("640x480 PPM", vga)]
    report = {"host": host_line(), "load_average_start": load_average(), "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    ok = True
    out = []
    svc = Service(build, "--quiet", "--queue", str(a.queue))
    try:
        status, _, metrics = svc.request("GET", "/metrics")
        workers = int(re.search(rb"\nfacemask_workers (\d+)", metrics).group(1))
        report["server"] = f"facemask_serve, {workers} workers, queue {a.queue}"

        if "load" not in skip:
            rows = []
            for name, path in pictures:
                for c in [int(x) for x in a.concurrency.split(",")]:
                    http_load(build, svc.port, path, c, seconds=min(2.0, a.seconds))  # warm-up
                    r = http_load(build, svc.port, path, c, seconds=a.seconds)
                    r["picture"] = name
                    rows.append(r)
                    if r["failed"]:
                        ok = False
            report["load"] = rows
            retry = one_503_has_retry_after(svc.port, vga, build)
            report["retry_after_on_503"] = retry
            if retry is False:
                ok = False

        if "overhead" not in skip:
            over = []
            for name, path in pictures:
                folder = os.path.join(work, "copies_" + str(len(over)))
                os.makedirs(folder)
                ext = os.path.splitext(path)[1]
                for i in range(a.copies):
                    os.symlink(path, os.path.join(folder, f"p{i:04d}{ext}"))
                inproc, served, served_p50, faults = [], [], [], []
                http_load(build, svc.port, path, 1, requests=5)
                for _ in range(a.rounds):
                    t1 = in_process_seconds(build, folder, 1)
                    tn = in_process_seconds(build, folder, a.copies)
                    inproc.append((tn - t1) / (a.copies - 1) * 1000)
                    f0 = minor_faults(svc.proc.pid)
                    r = http_load(build, svc.port, path, 1, requests=a.copies)
                    faults.append((minor_faults(svc.proc.pid) - f0) / a.copies)
                    served.append(r["seconds"] / r["requests"] * 1000)
                    served_p50.append(r["p50_ms"])
                m_in, m_sv = statistics.median(inproc), statistics.median(served)
                over.append({"picture": name, "in_process_ms": inproc, "service_ms": served,
                             "service_p50_ms": served_p50, "median_in_process_ms": m_in,
                             "median_service_ms": m_sv, "overhead": m_sv / m_in - 1,
                             "service_minor_faults_per_request": statistics.median(faults)})
            report["overhead"] = over

        if "memory" not in skip:
            rss = [svc.rss_kib()]
            done = failed = 0
            t0 = time.time()
            while done < a.memory_requests:
                n = min(1000, a.memory_requests - done)
                r = http_load(build, svc.port, vga, 2, requests=n)
                failed += r["failed"] + sum(v for k, v in r["status"].items() if k != "200")
                done += n
                rss.append(svc.rss_kib())
            report["memory"] = {"requests": done, "not_200": failed, "rss_kib": rss, "seconds": time.time() - t0}
            if failed or rss[-1] - rss[0] > 16 * 1024:
                ok = False
    finally:
        code = svc.stop()
        report["server_exit"] = code
    if "replicas" not in skip:
        os.environ["FACEMASK_BUILD"] = build
        import test_replicas  # noqa: E402  (reads FACEMASK_BUILD when imported)
        f = test_replicas.run_replicas(vga, a.replica_seconds)
        report["replicas"] = f
        k = f["kill_one"]
        if k["failed"] or k["status"] != {"200": k["requests"]}:
            ok = False
    report["load_average_end"] = load_average()

    out.append(f"## facemask_serve benchmark, {report['started']}\n")
    out.append(f"Host: {report['host']}; load average {report['load_average_start']} at the start, "
               f"{report['load_average_end']} at the end (a shared machine: other work ran beside this).  ")
    out.append(f"Server: {report['server']}; client: tools' http_load on loopback, keep-alive.\n")
    def table(head, rows):
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "---|" * len(head))
        out.extend("| " + " | ".join(str(x) for x in row) + " |" for row in rows)

    if "load" in report:
        table(["picture", "concurrency", "pictures/s", "p50 ms", "p99 ms", "200", "503", "failed"],
              [[r["picture"], r["concurrency"], f"{r['pictures_per_s']:.1f}", f"{r['p50_ms']:.0f}", f"{r['p99_ms']:.0f}",
                r["status"].get("200", 0), r["status"].get("503", 0), r["failed"]] for r in report["load"]])
        out.append(f"\nA 503 under full load carries Retry-After: {report['retry_after_on_503']}. "
                   "At 32, http_load sends again at once after a 503 (it ignores Retry-After).\n")
    if "overhead" in report:
        table(["picture", "in-process ms/picture (median)", "service ms/picture at concurrency 1 (median)", "overhead",
               "server page faults/request"],
              [[o["picture"], f"{o['median_in_process_ms']:.1f}", f"{o['median_service_ms']:.1f}",
                f"{o['overhead'] * 100:+.1f} %", f"{o['service_minor_faults_per_request']:.0f}"] for o in report["overhead"]])
        out.append(f"\nIn-process: example_annotate --no-draw --json /dev/null --threads 1, (T({a.copies}) - T(1)) / "
                   f"{a.copies - 1}; service: POST /v1/detect, http_load wall time / {a.copies} requests; "
                   f"{a.rounds} interleaved rounds, ratio of medians.\n")
    if "memory" in report:
        m = report["memory"]
        out.append(f"{m['requests']} requests in a row (640x480, concurrency 2, {m['seconds']:.0f} s): "
                   f"{m['not_200']} not 200; RSS {m['rss_kib'][0]} KiB at the start, {m['rss_kib'][-1]} KiB at the end; "
                   f"after each 1,000: {', '.join(str(x) for x in m['rss_kib'][1:])} KiB.\n")
    if "replicas" in report:
        f = report["replicas"]
        table(["run (640x480, concurrency 4, nginx)", "requests", "200", "failed", "pictures/s", "p50 ms", "p99 ms"],
              [[name, f[key]["requests"], f[key]["status"].get("200", 0), f[key]["failed"],
                f"{f[key]['pictures_per_s']:.1f}", f"{f[key]['p50_ms']:.0f}", f"{f[key]['p99_ms']:.0f}"]
               for name, key in (("one replica", "one_replica"), ("two replicas", "two_replicas"),
                                 ("two, one killed halfway", "kill_one"))])
        out.append(f"\nTwo replicas / one: {f['two_vs_one']}x. Killed run: nginx logged {f['kill_one']['nginx_requests']} "
                   f"requests, {f['kill_one']['nginx_retried']} of them retried on the other replica.\n")
    out.append(f"Server exit status after SIGTERM: {report['server_exit']}. Checks: {'pass' if ok else 'FAIL'}.")
    print("\n".join(out))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0 if ok and report["server_exit"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
