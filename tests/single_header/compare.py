#!/usr/bin/env python3
"""Compares two JSON Lines face lists: same faces in the same order, |d score| and |d mask|
<= 1e-4, every coordinate within 0.05 px (other bounds: --score, --mask, --coord). Prints the
largest differences; exit 1 on mismatch."""
import argparse
import json
import sys


def faces(path):
    with open(path) as f:
        return [face for line in f if line.strip() for face in json.loads(line)["faces"]]


def main(a_path, b_path, max_score=1e-4, max_mask=1e-4, max_coord=0.05):
    a, b = faces(a_path), faces(b_path)
    if len(a) != len(b):
        print(f"  {len(a)} faces in {a_path}, {len(b)} in {b_path}")
        return 1
    d_score = d_mask = d_xy = 0.0
    for fa, fb in zip(a, b):
        d_score = max(d_score, abs(fa["score"] - fb["score"]))
        if fa.get("mask") is not None and fb.get("mask") is not None:
            d_mask = max(d_mask, abs(fa["mask"] - fb["mask"]))
        xa = fa["box"] + [v for p in fa["landmarks"] for v in p]
        xb = fb["box"] + [v for p in fb["landmarks"] for v in p]
        d_xy = max(d_xy, max(abs(u - v) for u, v in zip(xa, xb)))
    ok = d_score <= max_score and d_mask <= max_mask and d_xy <= max_coord
    print(f"  {len(a)} faces, max |d score| {d_score:.2e}, |d mask| {d_mask:.2e}, |d coord| {d_xy:.4f} px")
    return 0 if ok else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--score", type=float, default=1e-4)
    ap.add_argument("--mask", type=float, default=1e-4)
    ap.add_argument("--coord", type=float, default=0.05)
    args = ap.parse_args()
    sys.exit(main(args.a, args.b, args.score, args.mask, args.coord))
