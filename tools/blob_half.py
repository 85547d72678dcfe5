#!/usr/bin/env python3
"""Makes a float16 copy of a facemask blob: half the weight bytes, for flash-limited targets.

    python3 tools/blob_half.py IN.fmb OUT.fmb

The convolution weights ("*.w" of b*, fpn*, ssh*, head*) are rounded to IEEE binary16 (round
to nearest even) and stored as dtype 2; biases, the classifier's dense layers and the
self-test input stay float32. The self-test outputs are computed again by fmblob's reference
forward on the rounded weights, so the engine's self-test checks the float16 blob against what
it holds. Python 3 standard library only. Exit status: 0 written, 1 a bad input blob or a
weight beyond float16's range, 2 bad arguments.

The engine gives float16 weights exactly the values their float32 widening has, so a float16
blob runs the same on every target (SIMD builds widen them while packing; scalar builds, e.g.
microcontrollers, read them in place).
"""
import argparse
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmblob  # noqa: E402


def round_half(values):
    """Each value rounded to the nearest float16 (ties to even), as float."""
    n = len(values)
    return list(struct.unpack(f"<{n}e", struct.pack(f"<{n}e", *values)))


def halve(blob):
    """The tensor list (name, shape, values, dtype) of the float16 version of a parsed blob."""
    tensors = {}
    dtypes = {}
    for name, (shape, values) in blob.tensors.items():
        if fmblob.may_be_half(name):  # convolution weights
            try:
                tensors[name] = (shape, round_half(values))
            except (OverflowError, struct.error):
                raise fmblob.BlobError(f"tensor {name}: a value is out of float16's range") from None
            dtypes[name] = fmblob.DTYPE_F16
        else:
            tensors[name] = (shape, list(values))
            dtypes[name] = fmblob.DTYPE_F32
    # The self-test outputs of the rounded network on the blob's own self-test input, from the
    # same reference forward.
    shape, image = tensors["selftest.input"]
    h, w = shape[0], shape[1]
    if blob.kind == fmblob.KIND_DETECTOR:
        for k, (out_shape, values) in enumerate(fmblob.forward_detector(tensors, blob.config, h, w, image), 1):
            tensors[f"selftest.head{k}"] = (tuple(out_shape), list(values))
    else:
        tensors["selftest.output"] = ((1,), [fmblob.forward_classifier(tensors, blob.config, h, w, image)])
    return [(name, shape, values, dtypes[name]) for name, (shape, values) in tensors.items()]


def main(argv=None):
    ap = argparse.ArgumentParser(description="Write a float16 copy of a facemask blob.")
    ap.add_argument("input", help="a facemask blob (.fmb)")
    ap.add_argument("output", help="the float16 blob to write")
    args = ap.parse_args(argv)
    try:
        blob = fmblob.read_blob(args.input)
        if any(d != fmblob.DTYPE_F32 for d in blob.dtypes.values()):
            raise fmblob.BlobError(f"{args.input} already holds float16 tensors")
        tensors = halve(blob)
        data = fmblob.blob_bytes(blob.kind, blob.config, tensors)
        check = fmblob.run_selftest(fmblob.parse_blob(data))  # before anything is written
        if not check["ok"]:
            raise fmblob.BlobError(f"the float16 blob's self-test does not pass ({check})")
        fmblob.atomic_write(args.output, data)
        size = len(data)
    except fmblob.BlobError as e:
        print(f"blob_half: {e}", file=sys.stderr)
        return 1
    halves = sum(1 for t in tensors if t[3] == fmblob.DTYPE_F16)
    print(f"{args.output}: {size} bytes (from {blob.file_size}), {halves} of {len(tensors)} tensors float16")
    return 0


if __name__ == "__main__":
    sys.exit(main())
