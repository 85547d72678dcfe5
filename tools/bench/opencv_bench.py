#!/usr/bin/python3
"""OpenCV DNN speed peer: times the forward pass of an exported RetinaFace on one input size.

    /usr/bin/python3 tools/bench/opencv_bench.py --model F_640x480.onnx --size 640x480 --threads 1 --runs 30 --warmup 5

OpenCV 4.6 refuses symbolic input sizes, so the model must be a fixed-size export
(tools/export_onnx.py --size WxH) of the same size. Prints one line "run <milliseconds>" per
timed run; the input blob is set before timing, so only forward() is measured.
"""
import argparse
import time

import cv2
import numpy as np

OUTPUTS = ["loc", "conf", "landms"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--size", default="640x480", help="WxH, the size the model was exported at")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))

    cv2.setNumThreads(args.threads)
    net = cv2.dnn.readNetFromONNX(args.model)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    # Same kind of data as the other peers: a fixed pseudo-random mean-subtracted picture.
    blob = np.random.default_rng(12345).uniform(-117, 138, (1, 3, h, w)).astype(np.float32)
    net.setInput(blob, "input")

    for _ in range(args.warmup):
        net.forward(OUTPUTS)
    for _ in range(args.runs):
        t0 = time.perf_counter_ns()
        net.forward(OUTPUTS)
        t1 = time.perf_counter_ns()
        print(f"run {(t1 - t0) / 1e6:.3f}", flush=True)


if __name__ == "__main__":
    main()
