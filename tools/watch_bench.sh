#!/bin/bash
# facemask_watch's speed on a rendered door video (tools/render_video.py 'busy': 150 frames, six
# people): frames/s and per-frame latency (median, p95) as facemask_watch prints them at the
# end, for each frame size x threads x scale, REPEATS runs interleaved (the median run of each
# is shown), on stdin as from ffmpeg. A thread count ending in p (2p) runs with
# OMP_WAIT_POLICY=passive (libgomp's barriers sleep instead of spinning). The videos are
# rendered into BUILD/watch-bench (copies of shared pictures: never commit them).
#   tools/watch_bench.sh [BUILD] [SHARED] [REPEATS] [SIZES] [THREADS] [SCALES]
#   tools/watch_bench.sh build-video ../shared 5 "640x480 1280x720" "1 2 2p" "long=320 auto"
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build} shared=${2:-../shared} repeats=${3:-5}
sizes=${4:-640x480 1280x720} threads=${5:-1 2} scales=${6:-long=320}
py=/usr/bin/python3
watch="$build/facemask_watch"
[ -x "$watch" ] || { echo "watch_bench: no $watch (ninja -C $build facemask_watch)" >&2; exit 1; }
out="$build/watch-bench"
mkdir -p "$out"
for s in $sizes; do
    [ -f "$out/busy-$s.rgb" ] || "$py" tools/render_video.py --shared "$shared" --size "$s" busy "$out/busy-$s.rgb"
done
echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
: >"$out/runs.txt"
for r in $(seq "$repeats"); do
    for s in $sizes; do
        for t in $threads; do
            for sc in $scales; do
                policy=${OMP_WAIT_POLICY:-}
                [ "${t%p}" != "$t" ] && policy=passive
                line=$(env ${policy:+OMP_WAIT_POLICY=$policy} "$watch" --raw "$s" --threads "${t%p}" --scale "$sc" --events /dev/null - \
                       <"$out/busy-$s.rgb" 2>&1 >/dev/null | tail -1)
                echo "$s $t $sc $line" >>"$out/runs.txt"
            done
        done
    done
done
"$py" - "$out/runs.txt" <<'PY'
import re, sys, statistics
runs = {}
for line in open(sys.argv[1]):
    size, threads, scale, rest = line.split(" ", 3)
    m = re.search(r"([\d.]+) frames/s; latency median ([\d.]+) ms, p95 ([\d.]+) ms", rest)
    if not m:
        sys.exit("watch_bench: facemask_watch said: " + rest.strip())
    runs.setdefault((size, threads, scale), []).append(tuple(float(v) for v in m.groups()))
print("| frames | threads | scale | frames/s (median of %d) | latency median / p95 |" % len(next(iter(runs.values()))))
print("|---|---|---|---|---|")
for (size, threads, scale), v in runs.items():
    v.sort()
    fps, med, p95 = v[len(v) // 2]
    threads = threads[:-1] + " (passive)" if threads.endswith("p") else threads
    print("| %s | %s | %s | %.1f (%.1f-%.1f) | %.1f / %.1f ms |" % (size, threads, scale, fps, v[0][0], v[-1][0], med, p95))
PY
