#!/usr/bin/env python3
"""Render a short synthetic raw rgb24 video (for facemask_watch tests) from one picture.

The picture (a binary PPM, as tools/decode_image writes it) is resized to WxH and panned
sideways by a known speed; every `--blank`-th frame is grey (a missing frame). The ground truth
(people, masked, not masked, as given) is written beside the video as JSON. Pure Python, no
dependencies; render into the build folder only (the frames are copies of shared pictures).

  render_video.py IN.ppm OUT.rgb --size 640x480 --frames 40 --speed 2 --blank 13 \
      --people 2 --masked 1 --not-masked 1
"""
import argparse
import json
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ppm")
    ap.add_argument("out")
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--speed", type=int, default=2, help="pixels per frame")
    ap.add_argument("--blank", type=int, default=0, help="every Nth frame grey (0: none)")
    ap.add_argument("--people", type=int, required=True)
    ap.add_argument("--masked", type=int, required=True)
    ap.add_argument("--not-masked", type=int, required=True)
    a = ap.parse_args()
    w, h = map(int, a.size.split("x"))
    data = open(a.ppm, "rb").read()
    parts = data.split(b"\n", 3)
    if parts[0] != b"P6" or parts[2] != b"255":
        sys.exit("render_video: %s is not a binary PPM with maxval 255" % a.ppm)
    sw, sh = map(int, parts[1].split())
    px = parts[3]
    cols = [min(sw - 1, x * sw // w) for x in range(w)]
    rows = []
    for y in range(h):
        sy = min(sh - 1, y * sh // h)
        src = px[sy * sw * 3:(sy + 1) * sw * 3]
        rows.append(b"".join(src[c * 3:c * 3 + 3] for c in cols))
    grey = bytes([128]) * (w * h * 3)
    with open(a.out, "wb") as f:
        for k in range(a.frames):
            if a.blank and k % a.blank == a.blank - 1:
                f.write(grey)
                continue
            s = (a.speed * k) % w * 3
            f.write(b"".join(r[-s:] + r[:-s] if s else r for r in rows))
    truth = {"width": w, "height": h, "frames": a.frames, "speed": a.speed, "blank_every": a.blank,
             "people": a.people, "masked": a.masked, "not_masked": a.not_masked}
    with open(a.out + ".json", "w") as f:
        json.dump(truth, f)


if __name__ == "__main__":
    main()
