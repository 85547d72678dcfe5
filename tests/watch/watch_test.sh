#!/bin/sh
# facemask_watch: argument and stream errors, then videos rendered by tools/render_video.py
# (faces from ../shared moving over a background, in OUTDIR only) checked against their ground
# truth by check_truth.py: one track per person and one person per track, enter / alert /
# masked / leave events, the summary's counts; every sprite found and labelled alone; --output;
# and that the check does catch id switches (a run with --forget 1 must fail it).
# usage: watch_test.sh FACEMASK_WATCH SHARED_DIR OUTDIR SOURCE_DIR [PYTHON] [full|quick]
# PYTHON (default /usr/bin/python3) needs numpy and PIL (Debian python3-numpy, python3-pil).
# quick (sanitized builds, ~0.5 s a frame there): the errors and the first 36 frames of 'gaps'
# (blank and blurred frames) with --output, instead of ~1200 frames.
set -u
watch=$1 shared=$2 out=$3 src=$4 py=${5:-/usr/bin/python3} mode=${6:-full}
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
# (RENDER: more options for render_video.py)
run() {
    size=$1 sc=$2; shift 2
    v="$out/$sc-$size.rgb"
    [ -f "$v" ] || "$py" "$src/tools/render_video.py" --shared "$shared" --size "$size" ${RENDER:-} "$sc" "$v" ||
        { no "render_video.py $sc $size failed"; return 1; }
    "$watch" --raw "$size" --frames --events "$v.jsonl" "$@" "$v" 2>"$out/e" || { no "watch $sc $size: $(cat "$out/e")"; return 1; }
    flag=
    [ "$sc" = sprites ] && flag=--sprites
    "$py" "$src/tests/watch/check_truth.py" "$v.jsonl" "$v.json" $flag
}
# check_output VIDEO: the annotated frames --output wrote to VIDEO.out
check_output() {
    [ "$(wc -c <"$1.out")" = "$(wc -c <"$1")" ] || no "--output wrote $(wc -c <"$1.out") bytes for $(wc -c <"$1")"
    cmp -s "$1.out" "$1" && no "--output frames are not annotated"
    "$py" - "$1.jsonl" <<'PY' || no "face fields in $1.jsonl"
import json, sys
faces = [f for l in map(json.loads, open(sys.argv[1])) if "faces" in l for f in l["faces"]]
bad = [sorted(f) for f in faces if not {"box", "score", "landmarks", "mask", "label", "track"} <= set(f)]
sys.exit(1 if bad or not faces else 0)
PY
}
if [ "$mode" = quick ]; then
    RENDER="--frames 36" run 320x240 gaps --output "$out/gaps-320x240.rgb.out" || no "gaps (36 frames) at 320x240"
    check_output "$out/gaps-320x240.rgb"
else
    run 320x240 sprites || no "sprites at 320x240"
    run 320x240 cross --output "$out/cross-320x240.rgb.out" || no "cross at 320x240"
    check_output "$out/cross-320x240.rgb"
    for sc in arrivals replace mask_on masked_only gaps edges busy; do
        run 320x240 $sc || no "$sc at 320x240"
    done
    for sc in cross mask_on edges; do  # the default scale long=320 halves these frames
        run 640x480 $sc || no "$sc at 640x480"
    done
    # The check must catch an id switch: forgetting after 1 missed frame splits the people of
    # 'gaps' (blank frames, a hidden face) into several tracks.
    run 320x240 gaps --forget 1 >/dev/null 2>"$out/switch" && no "check_truth passed 'gaps' with --forget 1"
    grep -q "has tracks" "$out/switch" || no "no id switch reported with --forget 1: $(cat "$out/switch")"
fi
[ "$fails" = 0 ] && echo "watch: all checks passed"
exit "$fails"
