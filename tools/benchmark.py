#!/usr/bin/python3
"""Times facemask against its speed peers on the same network, in one interleaved run.

    /usr/bin/python3 tools/benchmark.py --build build            # the default run, a few minutes
    /usr/bin/python3 tools/benchmark.py --rounds 20 --sizes 640x480 --threads 1 --markdown

For each of --rounds rounds, for each configuration (input size x thread count), every engine
runs once in its own process: --warmup untimed runs, then --runs timed ones, each printed as
"run <ms>". Interleaving matters on a shared VM: the machine's speed drifts over minutes (and
two threads may or may not share an L3), so engines are only comparable when their runs are
spread over the same period. Results are medians of all timed runs, and ratios of medians.

The engines (see ENGINES):
    facemask                 fm_bench --what forward: the network on a prepared input
    facemask_detect          fm_bench --what detect: detect() on a picture already WxH
    facemask_detect_resize   fm_bench --what detect_resize: detect() resizing the full picture
    onnxruntime              tools/bench/ort_bench.mjs (onnxruntime-node, CPU), network only
    opencv                   tools/bench/opencv_bench.py (cv2.dnn), network only
    xnnpack                  BUILD/xnnpack_bench (tools/bench/xnnpack_bench.cpp): XNNPACK, the
                             engine under TFLite and TF.js, network only; the graph built with
                             XNNPACK's subgraph API from the same blob as facemask (Debian's
                             libxnnpack-dev 0.0~git20220216 has no concatenate: the SSH concat
                             is three partial 1x1 heads summed, the FPN's nearest 2x upsample a
                             depthwise 2x2 stride-2 deconvolution of ones). Its raw head outputs
                             match Detector::forward within 1e-3 (ctest facemask.xnnpack)
    facemask_before          with --before FM_BENCH: an older build's forward (same blob, same run)

ONNX files are exported into BUILD/onnx with tools/export_onnx.py when missing or stale: one with
symbolic sizes for ONNX Runtime, one per size for OpenCV (which refuses symbolic sizes). An
engine that cannot run here (no fm_bench, no node_modules, no cv2, export failed) is skipped
with the reason; it never stops the others.

Output: the host (CPU model with its family and model numbers, cores, load average) and one
core's FMA peak measured by BUILD/kernel_bench --peak, so that figures from different hosts
can be read; a table (median ms, middle-half spread, forward ratios), then one line per engine and
configuration: "RESULT engine=<name> size=<W>x<H> threads=<n> median_ms=<x>". Then, unless
--no-pipeline, tools' pipeline_bench: the whole product on a 640x480 picture with two faces
(decode -> detect -> classify -> draw -> encode) with each stage's share, and the classifier's
time per face, with their own RESULT lines. Then, unless --no-web, and when BUILD/web holds
the WebAssembly build (examples/web/build.sh BUILD BUILD/web), tools/bench/web/web_bench.mjs:
facemask in headless Chromium (SIMD128 and scalar) next to onnxruntime-web on the same network
and to the native build, in one browser session.
Python standard library only.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable, List, Optional

TOOLS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TOOLS)
BENCH = os.path.join(TOOLS, "bench")
PYTHON = sys.executable or "/usr/bin/python3"
FAMILY = "pytorch-retinaface"  # the checkpoint behind the build's retinaface_mnet025.fmb
PROCESS_TIMEOUT_S = 300


# ---- context: what the engines need to know about this machine and build ----------------------

@dataclass
class Context:
    build: str            # the CMake build folder (fm_bench, weights/, onnx/)
    checkpoints: str      # folder with <family>/mobilenet0.25_Final.pth
    picture: Optional[str]  # --picture for the detect engines (None: fm_bench's default)
    runs: int
    warmup: int
    before: Optional[str] = None  # --before: another build's fm_bench (an older commit), same blob

    @property
    def fm_bench(self):
        return os.path.join(self.build, "fm_bench")

    @property
    def blob(self):
        return os.path.join(self.build, "weights", "retinaface_mnet025.fmb")

    @property
    def checkpoint(self):
        return os.path.join(self.checkpoints, FAMILY, "mobilenet0.25_Final.pth")

    def onnx(self, size=None):
        name = "retinaface_dynamic.onnx" if size is None else "retinaface_%dx%d.onnx" % size
        return os.path.join(self.build, "onnx", name)


def cmake_cache_value(build, key):
    """A variable from BUILD/CMakeCache.txt, or None: the benchmark then uses the same
    checkpoints the build made its blobs from."""
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return line.split("=", 1)[1].strip() or None
    except OSError:
        pass
    return None


# ---- ONNX export (cached in BUILD/onnx) --------------------------------------------------------

def export_inputs(ctx):
    return [ctx.checkpoint, os.path.join(TOOLS, "export_onnx.py"), os.path.join(TOOLS, "retinaface_torch.py")]


def is_fresh(path, inputs):
    """The file exists and is newer than everything it is made from."""
    if not os.path.exists(path):
        return False
    made = os.path.getmtime(path)
    return all(not os.path.exists(p) or os.path.getmtime(p) <= made for p in inputs)


def export_onnx(ctx, size=None):
    """Makes ctx.onnx(size) if needed; returns None, or why it could not."""
    out = ctx.onnx(size)
    if is_fresh(out, export_inputs(ctx)):
        return None
    if not os.path.exists(ctx.checkpoint):
        return "no checkpoint %s" % ctx.checkpoint
    shape = ["--dynamic"] if size is None else ["--size", "%dx%d" % size]
    cmd = [PYTHON, os.path.join(TOOLS, "export_onnx.py"), "--checkpoint", ctx.checkpoint,
           "--family", FAMILY, "--out", out] + shape
    log("exporting %s" % os.path.relpath(out))
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=PROCESS_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return "export of %s timed out" % out
    if p.returncode != 0:
        if os.path.exists(out):
            os.remove(out)  # a half-checked file must not count as fresh next time
        return "export of %s failed: %s" % (out, last_line(p.stderr))
    return None


# ---- engine descriptors ------------------------------------------------------------------------
#
# An engine is a name, what it measures, a check that it can run here (and makes its files),
# and the command of one timed process. To add one (a per-face classifier, the wasm build in
# node or a browser, onnxruntime-web, ...), write those functions and append it to ENGINES; its
# runner only has to print "run <ms>" per timed run.

@dataclass
class Engine:
    name: str
    measures: str                           # "forward" (network only) or "detect" (whole call)
    about: str                              # one line for the table's legend
    prepare: Callable[[Context, list], Optional[str]]  # (ctx, sizes) -> None, or why it is skipped
    command: Callable[[Context, tuple, int], List[str]]  # (ctx, (w, h), threads) -> argv


def prepare_fm_bench(ctx, sizes):
    if not os.access(ctx.fm_bench, os.X_OK):
        return "no %s (cmake --build %s --target fm_bench)" % (ctx.fm_bench, ctx.build)
    if not os.path.exists(ctx.blob):
        return "no detector blob %s (the build makes it from the checkpoints)" % ctx.blob
    return None


def fm_bench_command(what):
    def command(ctx, size, threads):
        cmd = [ctx.fm_bench, "--what", what, "--weights", ctx.blob]
        if ctx.picture and what != "forward":
            cmd += ["--picture", ctx.picture]
        return cmd + common_args(ctx, size, threads)
    return command


def prepare_before(ctx, sizes):
    if not ctx.before or not os.access(ctx.before, os.X_OK):
        return "no fm_bench given with --before"
    return prepare_fm_bench(ctx, sizes)


def before_command(ctx, size, threads):
    # The current build's blob: the format has not changed, so both binaries run the same weights.
    return [ctx.before, "--what", "forward", "--weights", ctx.blob] + common_args(ctx, size, threads)


def prepare_ort(ctx, sizes):
    if shutil.which("node") is None:
        return "node is not on PATH"
    if not os.path.isdir(os.path.join(BENCH, "node_modules", "onnxruntime-node")):
        return "no onnxruntime-node (cd tools/bench && npm install --no-audit --no-fund --ignore-scripts)"
    return export_onnx(ctx)  # one file with symbolic sizes serves every size


def ort_command(ctx, size, threads):
    return ["node", os.path.join(BENCH, "ort_bench.mjs"), "--model", ctx.onnx()] + common_args(ctx, size, threads)


def prepare_opencv(ctx, sizes):
    p = subprocess.run([PYTHON, "-c", "import cv2"], capture_output=True, text=True)
    if p.returncode != 0:
        return "%s cannot import cv2 (Debian: python3-opencv)" % PYTHON
    for size in sizes:  # OpenCV 4.6 needs one fixed-size file per input size
        why = export_onnx(ctx, size)
        if why:
            return why
    return None


def opencv_command(ctx, size, threads):
    return [PYTHON, os.path.join(BENCH, "opencv_bench.py"), "--model", ctx.onnx(size)] + common_args(ctx, size, threads)


def prepare_xnnpack(ctx, sizes):
    exe = os.path.join(ctx.build, "xnnpack_bench")
    if not os.access(exe, os.X_OK):
        return "no %s (Debian: libxnnpack-dev libpthreadpool-dev, then reconfigure the build)" % exe
    if not os.path.exists(ctx.blob):
        return "no detector blob %s (the build makes it from the checkpoints)" % ctx.blob
    return None


def xnnpack_command(ctx, size, threads):
    return [os.path.join(ctx.build, "xnnpack_bench"), "--weights", ctx.blob] + common_args(ctx, size, threads)


def common_args(ctx, size, threads):
    """The options every runner shares."""
    return ["--size", "%dx%d" % size, "--threads", str(threads), "--runs", str(ctx.runs), "--warmup", str(ctx.warmup)]


ENGINES = [
    Engine("facemask", "forward", "facemask network on a prepared input (fm_bench --what forward)",
           prepare_fm_bench, fm_bench_command("forward")),
    Engine("facemask_detect", "detect", "facemask detect() on a WxH picture: normalise, network, decode, NMS",
           prepare_fm_bench, fm_bench_command("detect")),
    Engine("facemask_detect_resize", "detect", "facemask detect() on the full picture, resized inside",
           prepare_fm_bench, fm_bench_command("detect_resize")),
    Engine("onnxruntime", "forward", "ONNX Runtime (onnxruntime-node, CPU), network only",
           prepare_ort, ort_command),
    Engine("opencv", "forward", "OpenCV DNN (cv2.dnn), network only",
           prepare_opencv, opencv_command),
    Engine("xnnpack", "forward", "XNNPACK subgraph (Debian libxnnpack-dev), same blob, network only",
           prepare_xnnpack, xnnpack_command),
]
# Only with --before FM_BENCH: an older build's network forward in the same interleaved run, so
# "no slower than before" is a same-run ratio on one host.
BEFORE = Engine("facemask_before", "forward", "the --before build's fm_bench --what forward (an older commit)",
                prepare_before, before_command)
BASELINE = "facemask"  # the forward ratios are its median over every other "forward" engine's


# ---- running -----------------------------------------------------------------------------------

def log(text):
    print(text, file=sys.stderr, flush=True)


def last_line(text):
    lines = [l for l in (text or "").strip().splitlines() if l.strip()]
    return lines[-1] if lines else "(no message)"


def run_once(cmd, expected_runs):
    """One process; returns (times in ms, None) or (None, why it failed)."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=PROCESS_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, str(e)
    times = [float(l.split()[1]) for l in p.stdout.splitlines() if l.startswith("run ")]
    if p.returncode != 0:
        return None, "exit %d: %s" % (p.returncode, last_line(p.stderr))
    if len(times) != expected_runs:
        return None, "printed %d times, expected %d" % (len(times), expected_runs)
    return times, None


def rotated(items, k):
    """The list started at position k: each round a different engine goes first, so no engine
    always inherits the caches, clocks or page cache its predecessor left."""
    k %= len(items)
    return items[k:] + items[:k]


def benchmark(ctx, engines, configs, rounds):
    """Interleaved rounds; returns {(engine, size, threads): [ms, ...]} and failures."""
    times = {(e.name, s, t): [] for e in engines for s, t in configs}
    failed = {}
    start = time.monotonic()
    for r in range(rounds):
        for size, threads in configs:
            for e in rotated(engines, r):
                key = (e.name, size, threads)
                if key in failed:
                    continue  # a configuration that failed once is not retried
                got, why = run_once(e.command(ctx, size, threads), ctx.runs)
                if got is None:
                    failed[key] = why
                    log("  %s %dx%d threads=%d failed: %s" % (e.name, size[0], size[1], threads, why))
                else:
                    times[key].extend(got)
        log("round %d/%d done (%.0f s)" % (r + 1, rounds, time.monotonic() - start))
    return times, failed


# ---- reporting ---------------------------------------------------------------------------------

def quartiles(values):
    q = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else values * 3
    return q[0], q[2]


def size_text(size):
    return "%dx%d" % size


def result_rows(engines, configs, times):
    """(size, threads, engine, median, p25, p75, n), in table order; engines without times are left out."""
    rows = []
    for size, threads in configs:
        for e in engines:
            v = times.get((e.name, size, threads))
            if v:
                lo, hi = quartiles(v)
                rows.append((size, threads, e.name, statistics.median(v), lo, hi, len(v)))
    return rows


def forward_peers(engines):
    """The engines the baseline's network time is compared with: same work, other runtimes."""
    return [e.name for e in engines if e.measures == "forward" and e.name != BASELINE]


def ratio_rows(configs, rows, peers):
    """Per configuration: median(baseline) / median(peer) for each peer (None when missing)."""
    med = {(r[0], r[1], r[2]): r[3] for r in rows}
    out = []
    for size, threads in configs:
        base = med.get((size, threads, BASELINE))
        ratios = [base / med[(size, threads, p)] if base and (size, threads, p) in med else None for p in peers]
        out.append((size, threads, ratios))
    return out


def print_table(header, body, align, markdown):
    """align: one letter per column, "l" for text, "r" for numbers."""
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---:" if a == "r" else "---" for a in align) + "|")
        for line in body:
            print("| " + " | ".join(line) + " |")
        return
    widths = [max(len(x) for x in col) for col in zip(header, *body)]
    for line in [header] + body:
        print("  ".join(x.rjust(w) if a == "r" else x.ljust(w) for x, w, a in zip(line, widths, align)).rstrip())


def report(ctx, engines, skipped, failed, configs, times, rounds, load, markdown):
    rows = result_rows(engines, configs, times)
    print()
    print("facemask benchmark: %d rounds x %d timed runs (%d warm-up) per engine and configuration, interleaved"
          % (rounds, ctx.runs, ctx.warmup))
    after = load_average()
    cores = os.cpu_count() or 1
    print("machine: %s, %d cores; load average %s before, %s after" % (cpu_model(), cores, load, after))
    print("core: %s" % fma_peak(ctx))
    # The benchmark itself keeps up to --threads cores busy; more load than the cores
    # means other processes competed, which hits multi-threaded runs hardest.
    if any(x != "?" and float(x) > cores for x in (load, after)):
        print("note: the load exceeded the core count: other processes competed, multi-threaded times are unreliable")
    for e in engines:
        print("  %-24s %s" % (e.name, e.about))
    for name, why in skipped:
        print("  %-24s skipped: %s" % (name, why))
    for (name, size, threads), why in failed.items():
        print("  %-24s failed at %s threads=%d: %s" % (name, size_text(size), threads, why))
    print()
    print_table(["size", "threads", "engine", "median ms", "p25-p75 ms", "runs"],
                [[size_text(s), str(t), n, "%.2f" % m, "%.2f-%.2f" % (lo, hi), str(k)]
                 for s, t, n, m, lo, hi, k in rows], "lrlrrr", markdown)
    peers = forward_peers(engines)
    if peers:
        print()
        print("forward pass, ratio of medians (< 1: %s is faster)" % BASELINE)
        print()
        print_table(["size", "threads"] + ["%s/%s" % (BASELINE, p) for p in peers],
                    [[size_text(s), str(t)] + ["%.2f" % x if x is not None else "-" for x in ratios]
                     for s, t, ratios in ratio_rows(configs, rows, peers)], "lr" + "r" * len(peers), markdown)
    print()
    for s, t, n, m, _, _, _ in rows:
        print("RESULT engine=%s size=%s threads=%d median_ms=%.3f" % (n, size_text(s), t, m))


def load_average():
    """The 1-minute load average: above ~0.5 before a run, something else competes for the cores."""
    try:
        return "%.2f" % os.getloadavg()[0]
    except OSError:
        return "?"


def cpu_model():
    """The model name with its family and model numbers (a VM's name alone may not tell Zen 4 from Zen 5)."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "cpu family", "model") and key not in fields:
                    fields[key] = value.strip()
                if not line.strip() and fields:
                    break
    except OSError:
        pass
    name = fields.get("model name", "unknown CPU")
    if "cpu family" in fields and "model" in fields:
        name += " (family %s model %s)" % (fields["cpu family"], fields["model"])
    return name


def fma_peak(ctx):
    """One core's FMA peak as BUILD/kernel_bench --peak measures it (a register-only FMA loop), so
    figures from different hosts can be read against what each core can do."""
    exe = os.path.join(ctx.build, "kernel_bench")
    if not os.path.exists(exe):
        return "FMA peak not measured (no %s)" % exe
    try:
        p = subprocess.run([exe, "--peak"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "FMA peak not measured (%s)" % e
    line = p.stdout.strip().splitlines()[-1] if p.returncode == 0 and p.stdout.strip() else ""
    return line or "FMA peak not measured (kernel_bench --peak exited with %d)" % p.returncode


# ---- command line ------------------------------------------------------------------------------

def parse_sizes(text):
    try:
        sizes = [tuple(int(v) for v in item.lower().split("x")) for item in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or any(len(s) != 2 or min(s) < 1 for s in sizes):
        raise argparse.ArgumentTypeError("sizes are WxH[,WxH...], e.g. 640x480,320x240")
    return sizes


def parse_counts(text):
    try:
        counts = [int(v) for v in text.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("thread counts are N[,N...], each at least 1")
    return counts


def parse_engines(text):
    known = {e.name: e for e in ENGINES}
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        raise argparse.ArgumentTypeError("unknown engine(s) %s; known: %s"
                                         % (", ".join(unknown) or "(none)", ", ".join(known)))
    return [known[n] for n in names]


def positive(text):
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return v


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(REPO, "build"),
                    help="CMake build folder with fm_bench and weights/ (default: build in the repository)")
    ap.add_argument("--rounds", type=positive, default=10, help="interleaved rounds (default 10)")
    ap.add_argument("--runs", type=positive, default=5, help="timed runs per process (default 5)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed runs per process first (default 3)")
    ap.add_argument("--sizes", type=parse_sizes, default=parse_sizes("640x480,320x240"),
                    help="input sizes WxH, comma-separated (default 640x480,320x240)")
    ap.add_argument("--threads", type=parse_counts, default=parse_counts("1,2"),
                    help="thread counts, comma-separated (default 1,2)")
    ap.add_argument("--engines", type=parse_engines, default=list(ENGINES),
                    help="comma-separated subset of: " + ", ".join(e.name for e in ENGINES) + " (default: all)")
    ap.add_argument("--picture", help="picture for the detect engines (default: fm_bench's, the shared ex_img.jpg)")
    ap.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    ap.add_argument("--no-pipeline", action="store_true", help="skip the pipeline/classifier benchmark")
    ap.add_argument("--no-web", action="store_true", help="skip the in-browser benchmark")
    ap.add_argument("--before", help="fm_bench of another build (an older commit) to run as engine facemask_before")
    args = ap.parse_args(argv)
    if args.before:
        args.engines = list(args.engines) + [BEFORE]
    if args.warmup < 0:
        ap.error("--warmup must be 0 or more")
    return args


def main(argv=None):
    args = parse_args(argv)
    build = os.path.abspath(args.build)
    checkpoints = (cmake_cache_value(build, "FACEMASK_WEIGHTS_SOURCE")
                   or os.path.join(os.path.dirname(REPO), "shared", "weights"))
    ctx = Context(build=build, checkpoints=checkpoints, picture=args.picture and os.path.abspath(args.picture),
                  runs=args.runs, warmup=args.warmup, before=args.before and os.path.abspath(args.before))
    configs = [(s, t) for s in args.sizes for t in args.threads]

    engines, skipped = [], []
    for e in args.engines:
        why = e.prepare(ctx, args.sizes)
        if why:
            log("skipping %s: %s" % (e.name, why))
            skipped.append((e.name, why))
        else:
            engines.append(e)
    if not engines:
        log("benchmark: no engine can run here")
        return 1

    load = load_average()
    times, failed = benchmark(ctx, engines, configs, args.rounds)
    report(ctx, engines, skipped, failed, configs, times, args.rounds, load, args.markdown)
    if not args.no_pipeline:
        pipeline(ctx, args.rounds * args.runs)
    if not args.no_web:
        web(ctx)
    return 0


def web(ctx):
    """Runs tools/bench/web/web_bench.mjs on BUILD/web (skipped with the reason when it cannot)."""
    web_dir = os.path.join(ctx.build, "web")
    script = os.path.join(BENCH, "web", "web_bench.mjs")
    if not os.path.exists(os.path.join(web_dir, "facemask.js")):
        log("skipping the browser benchmark: no %s (examples/web/build.sh %s %s)" % (web_dir, ctx.build, web_dir))
        return
    if not os.path.isdir(os.path.join(BENCH, "web", "node_modules", "onnxruntime-web")):
        log("skipping the browser benchmark: run npm install --no-audit --no-fund --ignore-scripts in tools/bench/web")
        return
    env = dict(os.environ, NODE_PATH="/usr/share/nodejs")
    print()
    try:
        p = subprocess.run(["node", script, "--web", web_dir, "--native", ctx.build], capture_output=True, text=True,
                           timeout=PROCESS_TIMEOUT_S, env=env)
    except (OSError, subprocess.TimeoutExpired) as e:
        log("the browser benchmark did not run: %s" % e)
        return
    sys.stdout.write(p.stdout)
    if p.returncode != 0:
        log("the browser benchmark failed: %s" % last_line(p.stderr))


def pipeline(ctx, runs):
    """Runs BUILD/pipeline_bench (stage medians, shares, classifier per face) and prints it."""
    exe = os.path.join(ctx.build, "pipeline_bench")
    if not os.path.exists(exe):
        log("skipping the pipeline benchmark: no %s" % exe)
        return
    cmd = [exe, "--runs", str(max(runs, 30)), "--warmup", str(max(ctx.warmup, 3))]
    if ctx.picture:
        cmd += ["--picture", ctx.picture]
    print()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=PROCESS_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        log("the pipeline benchmark timed out")
        return
    sys.stdout.write(p.stdout)
    if p.returncode != 0:
        log("the pipeline benchmark failed: %s" % last_line(p.stderr))


if __name__ == "__main__":
    sys.exit(main())
