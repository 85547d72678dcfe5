#!/bin/sh
# facemask_watch: argument and stream errors, then videos rendered by tools/render_video.py
# (faces from ../shared moving over a background, in OUTDIR only) checked against their ground
# truth by check_truth.py: one track per person and one person per track, enter / alert /
# masked / leave events, the summary's counts; every sprite found and labelled alone; --output;
# and that the check does catch id switches (a run with --forget 1 must fail it).
# usage: watch_test.sh FACEMASK_WATCH SHARED_DIR OUTDIR SOURCE_DIR [PYTHON]
# PYTHON (default /usr/bin/python3) needs numpy and PIL (Debian python3-numpy, python3-pil).
set -u
watch=$1 shared=$2 out=$3 src=$4 py=${5:-/usr/bin/python3}
rm -rf "$out" && mkdir -p "$out" || exit 1
"$py" -c "import numpy, PIL" || { echo "FAIL: $py cannot import numpy and PIL (python3-numpy, python3-pil)" >&2; exit 1; }
fails=0
no() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
expect() {  # expect STATUS MESSAGE-SUBSTRING command...
    want=$1 msg=$2; shift 2
    "$@" >"$out/o" 2>"$out/e" </dev/null; got=$?
    [ "$got" = "$want" ] || no "$* exited $got, wanted $want"
    grep -q -- "$msg" "$out/e" || no "$* said '$(cat "$out/e")', wanted '$msg'"
}
expect 2 "--raw wants WxH" "$watch" --raw 640 x
expect 2 "--threads wants" "$watch" --raw 64x48 --threads -1
expect 2 "give --events FILE" "$watch" --raw 64x48 --output -
expect 2 "unknown option" "$watch" --bogus 1
expect 2 "--edge-margin wants" "$watch" --raw 64x48 --edge-margin -1
expect 2 "no input" "$watch"
expect 1 "cannot read" "$watch" --raw 64x48 "$out/none.rgb"
head -c 1000 /dev/zero >"$out/short.rgb"
expect 1 "frame 0 is short" "$watch" --raw 64x48 "$out/short.rgb"

# run SIZE SCENARIO [watch options...]: render, watch with --frames, check against the truth
run() {
    size=$1 sc=$2; shift 2
    v="$out/$sc-$size.rgb"
    [ -f "$v" ] || "$py" "$src/tools/render_video.py" --shared "$shared" --size "$size" "$sc" "$v" ||
        { no "render_video.py $sc $size failed"; return 1; }
    "$watch" --raw "$size" --frames --events "$v.jsonl" "$@" "$v" 2>"$out/e" || { no "watch $sc $size: $(cat "$out/e")"; return 1; }
    flag=
    [ "$sc" = sprites ] && flag=--sprites
    "$py" "$src/tests/watch/check_truth.py" "$v.jsonl" "$v.json" $flag
}
run 320x240 sprites || no "sprites at 320x240"
for sc in cross arrivals replace mask_on masked_only gaps edges busy; do
    run 320x240 $sc || no "$sc at 320x240"
done
for sc in cross mask_on edges; do  # the default scale long=320 halves these frames
    run 640x480 $sc || no "$sc at 640x480"
done
# The check must catch an id switch: forgetting after 1 missed frame splits the people of
# 'gaps' (blank frames, a hidden face) into several tracks.
run 320x240 gaps --forget 1 >/dev/null 2>"$out/switch" && no "check_truth passed 'gaps' with --forget 1"
grep -q "has tracks" "$out/switch" || no "no id switch reported with --forget 1: $(cat "$out/switch")"

# --output: annotated frames, as many bytes as the input; the face fields of --frames
v="$out/cross-320x240.rgb"
"$watch" --raw 320x240 --frames --events "$out/events.jsonl" --output "$out/annotated.rgb" "$v" 2>"$out/e" ||
    no "watch --output failed: $(cat "$out/e")"
[ "$(wc -c <"$out/annotated.rgb")" = "$(wc -c <"$v")" ] || no "--output wrote $(wc -c <"$out/annotated.rgb") bytes"
cmp -s "$out/annotated.rgb" "$v" && no "--output frames are not annotated"
cmp -s "$out/events.jsonl" "$v.jsonl" || no "--output changed the JSON lines"
"$py" - "$out/events.jsonl" <<'PY' || no "face fields"
import json, sys
faces = [f for l in map(json.loads, open(sys.argv[1])) if "faces" in l for f in l["faces"]]
bad = [sorted(f) for f in faces if not {"box", "score", "landmarks", "mask", "label", "track"} <= set(f)]
sys.exit(1 if bad or not faces else 0)
PY
[ "$fails" = 0 ] && echo "watch: all checks passed"
exit "$fails"
