#!/bin/sh
# tests/cli_test.sh — drives example_annotate the way a user does: exit codes and messages for
# bad command lines and missing files, the JSON Lines schema, and the pictures it writes.
#
#   cli_test.sh EXAMPLE_ANNOTATE PICTURE WORKDIR WEIGHTS_DIR [DECODE_IMAGE]
#
# PICTURE is the shared ex_img.jpg (3088x2320, two faces). WORKDIR is emptied and used as the
# current folder (example_annotate writes <name>_annotated.<ext> there by default).
# DECODE_IMAGE (tools/decode_image) checks that written pictures decode; without it only
# their signature is checked. Exit status: 0 pass, 1 fail, 77 skipped (ctest SKIP_RETURN_CODE)
# when WEIGHTS_DIR lacks a blob example_annotate needs, after the checks that need none.
set -u

exe=$1
picture=$2
work=$3
weights=$4
decoder=${5:-}
py=/usr/bin/python3

rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
failures=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# run CODE WHAT ARGS...: runs example_annotate on the given weights, keeps stdout/stderr in
# out.txt/err.txt and checks the exit status.
run() {
    want=$1
    what=$2
    shift 2
    "$exe" --weights "$weights" "$@" >out.txt 2>err.txt
    rc=$?
    if [ "$rc" -ne "$want" ]; then
        fail "$what: exit status $rc, expected $want"
        sed 's/^/    stderr: /' err.txt
        return 1
    fi
    echo "ok: $what (exit $rc)"
    return 0
}
# stderr_says WHAT TEXT: the last run explained itself on stderr, mentioning TEXT.
stderr_says() {
    grep -q -F -- "$2" err.txt || {
        fail "$1: stderr does not mention '$2'"
        sed 's/^/    stderr: /' err.txt
    }
}

# ---- command lines that must be refused (exit 2), before any file is read ---------------------
if run 0 "--help" --help; then grep -q "usage:" out.txt || fail "--help: no usage text on stdout"; fi
run 2 "no picture" && stderr_says "no picture" "no picture"
run 2 "unknown flag" --bogus "$picture" && stderr_says "unknown flag" "--bogus"
run 2 "unknown short flag" -x "$picture" && stderr_says "unknown short flag" "-x"
run 2 "--conf 2" --conf 2 "$picture" && stderr_says "--conf 2" "--conf"
run 2 "--conf abc" --conf abc "$picture" && stderr_says "--conf abc" "abc"
run 2 "--scale 12" --scale 12 "$picture" && stderr_says "--scale 12" "--scale"
run 2 "--threads -1" --threads -1 "$picture" && stderr_says "--threads -1" "--threads"
run 2 "--nms 1.5" --nms 1.5 "$picture" && stderr_says "--nms 1.5" "--nms"
run 2 "missing value" "$picture" --conf && stderr_says "missing value" "needs a value"
# An option in the place of a value is a missing value, not a file called "--no-draw".
run 2 "option as a value" --json --no-draw "$picture" && stderr_says "option as a value" "--json needs a value"
[ -e ./--no-draw ] && fail "option as a value: a file '--no-draw' was written"
# Outputs that cannot be written are refused before the weights are even read.
run 2 "--output .gif" --detector "$work/none.fmb" --output annotated.gif "$picture" &&
    stderr_says "--output .gif" "unknown picture type"
# Two pictures of the same name from different folders would overwrite each other's output.
mkdir -p same_a same_b && cp "$picture" same_a/x.jpg && cp "$picture" same_b/x.jpg
run 2 "same names, one output folder" --output same_out/ same_a/x.jpg same_b/x.jpg &&
    stderr_says "same names, one output folder" "same_out/x_annotated.jpg"
[ -e same_out/x_annotated.jpg ] && fail "same names, one output folder: a picture was still written"
run 2 "same names, the current folder" same_a/x.jpg same_b/x.jpg && stderr_says "same names, the current folder" "same_b/x.jpg"

# ---- files that cannot be read (exit 1) -----------------------------------------------------------
run 1 "missing detector blob" --no-draw --detector "$work/none.fmb" "$picture" && stderr_says "missing detector blob" "none.fmb"

skip=0
for blob in retinaface_mnet025.fmb mask_classifier.fmb; do
    if [ ! -f "$weights/$blob" ]; then
        echo "SKIP: $weights/$blob is missing: the checks that run the models are skipped"
        skip=1
    fi
done

if [ "$skip" -eq 0 ]; then
    run 1 "missing picture" --no-draw "$work/no_such_picture.jpg" && stderr_says "missing picture" "no_such_picture.jpg"

    # A missing picture among good ones: exit 1, the good one is still done.
    run 1 "missing picture among good ones" --no-draw --json mixed.jsonl "$work/no_such_picture.jpg" "$picture"
    lines=$(cat mixed.jsonl 2>/dev/null | wc -l)
    [ "$lines" -eq 1 ] || fail "missing picture among good ones: expected 1 JSON line, got $lines"

    # ---- the JSON Lines schema ------------------------------------------------------------------
    run 0 "--json FILE --output PNG" --json faces.jsonl --output annotated.png "$picture"
    check_json() {  # FILE WHAT
        "$py" - "$1" "$picture" <<'EOF' || fail "$2: JSON does not follow the schema"
import json, math, sys
path, picture = sys.argv[1], sys.argv[2]
lines = [l for l in open(path).read().split("\n") if l]
assert len(lines) == 1, f"{len(lines)} lines, expected 1"
d = json.loads(lines[0])
assert list(d) == ["image", "width", "height", "faces"], f"keys {list(d)}"
assert d["image"] == picture, f"image {d['image']!r}, expected the path as given"
assert type(d["width"]) is int and type(d["height"]) is int, "width/height are not integers"
assert (d["width"], d["height"]) == (3088, 2320), f"size {d['width']}x{d['height']}"
faces = d["faces"]
assert type(faces) is list and len(faces) == 2, f"{len(faces)} faces, expected 2"

def number(v):
    return type(v) in (int, float) and math.isfinite(v)

for i, f in enumerate(faces):
    assert list(f) == ["box", "score", "landmarks", "mask", "label"], f"face {i} keys {list(f)}"
    box = f["box"]
    assert type(box) is list and len(box) == 4 and all(map(number, box)), f"face {i} box {box}"
    assert box[2] > box[0] and box[3] > box[1], f"face {i} box corners {box}"
    assert number(f["score"]) and 0.5 < f["score"] <= 1.0, f"face {i} score {f['score']}"
    lm = f["landmarks"]
    assert type(lm) is list and len(lm) == 5, f"face {i}: {len(lm)} landmarks"
    for p in lm:
        assert type(p) is list and len(p) == 2 and all(map(number, p)), f"face {i} landmark {p}"
    if f["mask"] is None:
        assert f["label"] is None, f"face {i}: a label without a mask probability"
    else:
        assert number(f["mask"]) and 0.0 <= f["mask"] <= 1.0, f"face {i} mask {f['mask']}"
        assert f["label"] == ("masked" if f["mask"] > 0.5 else "not_masked"), f"face {i} label {f['label']}"
assert faces[0]["score"] >= faces[1]["score"], "faces not best first"
# The demo picture: one person with a mask, one without.
labels = sorted(str(f["label"]) for f in faces)
assert labels == ["masked", "not_masked"], f"labels {labels}, expected one masked and one not_masked"
EOF
    }
    check_json faces.jsonl "--json FILE"
    grep -q "2 faces" out.txt || fail "--json FILE: the summary line does not say '2 faces': $(cat out.txt)"

    run 0 "--json -" --json - --no-draw "$picture"
    check_json out.txt "--json -"

    # The JSON results lost on a full disk are a failure, on standard output as in a file.
    "$exe" --weights "$weights" --json - --no-draw "$picture" >/dev/full 2>err.txt
    rc=$?
    [ "$rc" -eq 1 ] || fail "--json - >/dev/full: exit status $rc, expected 1"
    stderr_says "--json - >/dev/full" "cannot write the standard output"
    run 1 "--json /dev/full" --json /dev/full --no-draw "$picture" && stderr_says "--json /dev/full" "/dev/full"

    # A blob damaged after its checksum was made (one weight changed, CRC fixed up) passes every
    # format check; the self-test at load refuses it (exit 1), --no-verify skips that.
    mkdir -p damaged && cp "$weights/retinaface_mnet025.fmb" damaged/
    "$py" - "$weights/mask_classifier.fmb" damaged/mask_classifier.fmb <<'EOF2' || fail "could not make a damaged blob"
import struct, sys, zlib
b = bytearray(open(sys.argv[1], "rb").read())
count, data = struct.unpack_from("<I", b, 40)[0], struct.unpack_from("<Q", b, 48)[0]
for i in range(count):
    e = 384 + 64 * i
    if bytes(b[e:e + 32]).split(b"\0")[0] == b"b0.w":
        at = data + struct.unpack_from("<Q", b, e + 56)[0]
        for k in range(16):
            struct.pack_into("<f", b, at + 4 * k, struct.unpack_from("<f", b, at + 4 * k)[0] * 4 + 0.5)
struct.pack_into("<I", b, 64, 0)
struct.pack_into("<I", b, 64, zlib.crc32(b) & 0xFFFFFFFF)
open(sys.argv[2], "wb").write(b)
EOF2
    "$exe" --weights damaged --no-draw "$picture" >out.txt 2>err.txt
    rc=$?
    [ "$rc" -eq 1 ] || fail "damaged classifier blob: exit status $rc, expected 1"
    stderr_says "damaged classifier blob" "self-test failed"
    [ -s out.txt ] && fail "damaged classifier blob: results were printed: $(cat out.txt)"
    run 0 "damaged classifier blob, --no-verify" --weights damaged --no-draw --no-verify "$picture"

    # A folder without pictures is named as such; the other inputs are still done.
    mkdir -p empty_folder && touch empty_folder/notes.txt
    run 1 "empty folder" --no-draw empty_folder && stderr_says "empty folder" "'empty_folder' holds no picture"
    run 1 "empty folder beside a picture" --no-draw --json beside.jsonl empty_folder "$picture"
    lines=$(cat beside.jsonl 2>/dev/null | wc -l)
    [ "$lines" -eq 1 ] || fail "empty folder beside a picture: expected 1 JSON line, got $lines"

    # ---- the pictures it writes ------------------------------------------------------------------
    check_picture() {  # FILE WHAT
        if [ ! -s "$1" ]; then
            fail "$2: $1 was not written"
        elif [ -n "$decoder" ]; then
            if "$decoder" "$1" decoded.ppm 2>err.txt; then
                [ "$(head -c 15 decoded.ppm | tr '\n' ' ')" = "P6 3088 2320 25" ] || fail "$2: $1 decodes to $(head -c 15 decoded.ppm | tr '\n' ' ')"
            else
                fail "$2: $1 does not decode: $(cat err.txt)"
            fi
        else
            "$py" -c "import sys; b = open(sys.argv[1], 'rb').read(8); sys.exit(not (b.startswith(b'\x89PNG') or b.startswith(b'\xff\xd8')))" "$1" ||
                fail "$2: $1 is neither PNG nor JPEG"
        fi
    }
    check_picture annotated.png "--output PNG"
    run 0 "--output JPEG" --output annotated.jpg --quiet "$picture" && check_picture annotated.jpg "--output JPEG"
    [ -s out.txt ] && fail "--quiet printed: $(cat out.txt)"
    run 0 "default output name" "$picture" && check_picture ex_img_annotated.jpg "default output name"
fi

echo "$failures failure(s)"
[ "$failures" -eq 0 ] || exit 1
[ "$skip" -eq 0 ] || exit 77
exit 0
