#!/bin/sh
# facemask_watch on a rendered video: argument and stream errors, then events checked against
# the ground truth the renderer wrote (ids stable while the picture pans and frames go missing,
# one alert per unmasked person, none for the masked one, counts), --frames and --output.
# usage: watch_test.sh FACEMASK_WATCH DECODE_IMAGE PICTURE OUTDIR SOURCE_DIR
set -u
watch=$1 decode=$2 picture=$3 out=$4 src=$5
rm -rf "$out" && mkdir -p "$out" || exit 1
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
expect 2 "no input" "$watch"
expect 1 "cannot read" "$watch" --raw 64x48 "$out/none.rgb"
head -c 1000 /dev/zero >"$out/short.rgb"
expect 1 "frame 0 is short" "$watch" --raw 64x48 "$out/short.rgb"

"$decode" "$picture" "$out/pic.ppm" || exit 1
python3 "$src/tools/render_video.py" "$out/pic.ppm" "$out/pan.rgb" --size 320x240 --frames 30 --speed 2 \
    --blank 11 --people 2 --masked 1 --not-masked 1 || exit 1
"$watch" --raw 320x240 --frames --events "$out/events.jsonl" --output "$out/annotated.rgb" "$out/pan.rgb" \
    2>"$out/e" || no "watch failed: $(cat "$out/e")"
[ "$(wc -c <"$out/annotated.rgb")" = "$(wc -c <"$out/pan.rgb")" ] || no "--output wrote $(wc -c <"$out/annotated.rgb") bytes"
cmp -s "$out/annotated.rgb" "$out/pan.rgb" && no "--output frames are not annotated"
python3 - "$out/events.jsonl" "$out/pan.rgb.json" <<'PY' || fails=$((fails + 1))
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
truth = json.load(open(sys.argv[2]))
ev = [l for l in lines if "event" in l]
fr = [l for l in lines if "frame" in l and "faces" in l]
summ = [l["summary"] for l in lines if "summary" in l]
bad = []
enters = [e for e in ev if e["event"] == "enter"]
alerts = [e for e in ev if e["event"] == "alert"]
if len(enters) != truth["people"]: bad.append("%d enter events, truth %d people" % (len(enters), truth["people"]))
if len(alerts) != truth["not_masked"]: bad.append("%d alerts, truth %d not masked" % (len(alerts), truth["not_masked"]))
if any(e["event"] == "leave" for e in ev): bad.append("a leave while everybody stays in view (id switch)")
if any(e["event"] == "masked" for e in ev): bad.append("a masked event, nobody put a mask on")
if len(fr) != truth["frames"]: bad.append("%d frame lines for %d frames" % (len(fr), truth["frames"]))
ids = {f["track"] for l in fr for f in l["faces"] if f["track"] > 0}
if ids != {e["track"] for e in enters}: bad.append("tracks in frames %s differ from entered %s" % (ids, enters))
for l in fr:
    for f in l["faces"]:
        if not {"box", "score", "landmarks", "mask", "label", "track"} <= set(f): bad.append("face fields %s" % sorted(f))
s = summ[0] if summ else {}
if (s.get("people"), s.get("masked"), s.get("not_masked")) != (truth["people"], truth["masked"], truth["not_masked"]):
    bad.append("summary %s, truth %s" % (s, truth))
for b in bad: print("FAIL:", b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
[ "$fails" = 0 ] && echo "watch: all checks passed"
exit "$fails"
