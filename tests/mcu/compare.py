#!/usr/bin/env python3
"""compare.py - compares the faces a Cortex-M run printed with a native reference.

    compare.py MCU.txt REFERENCE [--name LABEL] [--fp16]

MCU.txt is the text examples/mcu/main.cpp prints (see examples/mcu/app.hpp). REFERENCE is
either the same text (examples/mcu/host.cpp run) or the JSON Lines of example_annotate --json
(its first line). Faces are paired greedily by the distance of their boxes (so two faces with
nearly equal scores may come in either order) and must agree within:
    |d score| <= 1e-4, |d coordinate| <= 0.05 px (box and landmarks), |d p(masked)| <= 1e-4,
with the same number of faces; with --fp16 (float16 activations against a float32 reference)
    |d score| <= 1e-2, |d coordinate| <= 1 px, |d p(masked)| <= 1e-2.
Prints one summary line; exit 0 if they agree, 1 if not, 2 if an
input cannot be read.
"""
import json
import sys

TOL_SCORE = 1e-4
TOL_COORD = 0.05
TOL_MASK = 1e-4
BITS = {}  # path -> digest of the exact float bits ("# bits" line of the text format)


def read_text(path):
    faces, header, ended = [], None, False
    with open(path) as f:
        for line in f:
            w = line.split()
            if len(w) == 3 and w[:2] == ["#", "bits"]:
                BITS[path] = w[2]
            if not w or w[0].startswith("#"):
                continue
            if w[0] == "facemask-mcu":
                header = {"size": w[3], "count": int(w[5])}
            elif w[0] == "face":
                i = w.index
                box = [float(v) for v in w[i("box") + 1:i("box") + 5]]
                lm = [float(v) for v in w[i("landmarks") + 1:i("landmarks") + 11]]
                faces.append({"score": float(w[i("score") + 1]), "coords": box + lm, "mask": float(w[i("mask") + 1])})
            elif w[0] == "end":
                ended = True
    if header is None or not ended or header["count"] != len(faces):
        raise ValueError(f"{path}: incomplete output (no header, no 'end' or a wrong face count)")
    return faces


def read_json(path):
    with open(path) as f:
        doc = json.loads(f.readline())
    faces = []
    for face in doc["faces"]:
        coords = list(face["box"]) + [v for p in face["landmarks"] for v in p]
        mask = face["mask"] if face["mask"] is not None else -1.0
        faces.append({"score": face["score"], "coords": coords, "mask": mask})
    return faces


def read_any(path):
    with open(path) as f:
        first = f.read(1)
    return read_json(path) if first == "{" else read_text(path)


def main(argv):
    global TOL_SCORE, TOL_COORD, TOL_MASK
    name = "mcu"
    if "--fp16" in argv:
        argv = [a for a in argv if a != "--fp16"]
        TOL_SCORE, TOL_COORD, TOL_MASK = 1e-2, 1.0, 1e-2
    if "--name" in argv:
        k = argv.index("--name")
        name = argv[k + 1]
        argv = argv[:k] + argv[k + 2:]
    if len(argv) != 3:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    try:
        got, want = read_any(argv[1]), read_any(argv[2])
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
        print(f"{name}: FAIL cannot read the outputs: {e}")
        return 2
    if len(got) != len(want):
        print(f"{name}: FAIL {len(got)} faces, the reference has {len(want)}")
        return 1
    left = list(range(len(want)))
    ds = dc = dm = 0.0
    for g in got:
        j = min(left, key=lambda k: max(abs(a - b) for a, b in zip(g["coords"][:4], want[k]["coords"][:4])))
        left.remove(j)
        w = want[j]
        ds = max(ds, abs(g["score"] - w["score"]))
        dc = max(dc, max(abs(a - b) for a, b in zip(g["coords"], w["coords"])))
        dm = max(dm, abs(g["mask"] - w["mask"]))
    ok = ds <= TOL_SCORE and dc <= TOL_COORD and dm <= TOL_MASK
    bits = ""
    if argv[1] in BITS and argv[2] in BITS:
        bits = "; bit-identical" if BITS[argv[1]] == BITS[argv[2]] else "; not bit-identical"
    print(f"{name}: {'ok  ' if ok else 'FAIL'} {len(got)} faces; max |d score| {ds:.2e} (<= {TOL_SCORE:g}), "
          f"|d coord| {dc:.4f} px (<= {TOL_COORD:g}), |d mask| {dm:.2e} (<= {TOL_MASK:g}){bits}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
