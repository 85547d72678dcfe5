#!/usr/bin/env python3
"""What the original predict.ipynb did, with the facemask module: load the models once, find
the faces in a picture, say for each whether it wears a mask, and save the annotated picture.

    PYTHONPATH=build-python/python python3 examples/python/predict.py PICTURE [--weights DIR] [--out FILE]
"""
import argparse
import sys
import zlib
import struct

import facemask


def save_png(path, rgb):
    """A minimal PNG writer (the module decodes pictures; NumPy alone cannot encode them)."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\0" + rgb[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("picture")
    p.add_argument("--weights", default="build/weights")
    p.add_argument("--out", default="predicted.png", help="annotated picture (PNG)")
    p.add_argument("--conf", type=float, default=0.5)
    p.add_argument("--mask-threshold", type=float, default=None, help="default: the classifier blob's (0.5)")
    a = p.parse_args()
    try:
        fm = facemask.Pipeline(a.weights)
        rgb = facemask.load_image(a.picture)
        faces = fm.run(rgb, conf=a.conf, mask_threshold=a.mask_threshold)
    except (facemask.Error, ValueError) as e:
        print(f"predict.py: {e}", file=sys.stderr)
        return 1
    for i, f in enumerate(faces):
        x1, y1, x2, y2 = f["box"]
        print(f"face {i}: box ({x1:.0f}, {y1:.0f})-({x2:.0f}, {y2:.0f}) score {f['score']:.3f} "
              f"p(masked) {f['mask']:.3f} -> {f['label']}")
    save_png(a.out, facemask.annotate(rgb, faces))  # the labels run() decided at --mask-threshold
    print(f"{len(faces)} faces, {sum(f['label'] == 'masked' for f in faces)} masked; wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
