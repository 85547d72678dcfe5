#!/usr/bin/python3
"""Exports the reference network to ONNX so that other runtimes can be timed on the same network.

    /usr/bin/python3 tools/export_onnx.py --checkpoint ../shared/weights/pytorch-retinaface/mobilenet0.25_Final.pth \
        --family pytorch-retinaface --out build/onnx/retinaface_640x480.onnx --size 640x480

Input "input" [1,3,H,W] float32, already BGR minus the mean. Outputs "loc" [1,N,4], "conf" [1,N,2]
(softmaxed) and "landms" [1,N,10], with rows in the order level > y > x > anchor, as in the
original biubug6 export. Opset 11. OpenCV's DNN module needs a fixed size (--size); --dynamic
leaves H and W symbolic (ONNX Runtime accepts that).

After a fixed-size export the file is run once through cv2.dnn and compared with torch, and
the largest differences are printed.
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import retinaface_torch as rt  # noqa: E402

OUTPUTS = ("loc", "conf", "landms")


class Flattened(nn.Module):
    """The network with the heads flattened and the class logits softmaxed, like the original
    export; these tensors are what a timed peer returns."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        cls, loc, ldm = rt.flatten_heads(self.net(x))
        return loc, F.softmax(cls, dim=-1), ldm


def parse_size(text):
    w, h = (int(v) for v in text.lower().split("x"))
    return w, h


def check_input(w, h):
    """A real picture as the network sees it (falls back to noise when the demo is missing):
    differences on natural images are the ones that matter."""
    picture = os.path.join(rt.DEFAULT_SHARED, "images", "ex_img.jpg")
    if os.path.exists(picture):
        from PIL import Image
        rgb = np.asarray(Image.open(picture).convert("RGB"))
        return rt.network_input(rt.resize_rgb(rgb, w, h))
    gen = torch.Generator().manual_seed(0)
    return torch.rand(1, 3, h, w, generator=gen) * 255 - 117


def compare_with_opencv(path, model, x):
    """Runs the exported file through cv2.dnn and prints max |torch - opencv| per output. The
    file serves onnxruntime(-web) too, so without OpenCV the check is skipped, and says so."""
    try:
        import cv2
    except ImportError:
        print("cv2.dnn vs torch: not checked (no OpenCV for this Python: python3-opencv)")
        return
    dnn = cv2.dnn.readNetFromONNX(path)
    dnn.setInput(x.numpy(), "input")
    got = dnn.forward(list(OUTPUTS))
    with torch.no_grad():
        want = model(x)
    for name, g, w in zip(OUTPUTS, got, want):
        diff = np.abs(g.reshape(w.shape) - w.numpy()).max()
        print(f"cv2.dnn vs torch: {name:6s} {tuple(w.shape)} max |diff| {diff:.3g}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--family", required=True, choices=rt.FAMILIES)
    ap.add_argument("--out", required=True)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--size", type=parse_size, help="fixed input size WxH")
    mode.add_argument("--dynamic", action="store_true", help="symbolic input height and width")
    args = ap.parse_args()

    model = Flattened(rt.load(args.checkpoint, args.family)).eval()
    w, h = args.size or (640, 480)  # a dynamic export still traces one example size
    x = check_input(w, h)
    dynamic_axes = None
    if args.dynamic:
        dynamic_axes = {"input": {2: "height", 3: "width"}, **{n: {1: "anchors"} for n in OUTPUTS}}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.onnx.export(model, x, args.out, opset_version=11, input_names=["input"],
                      output_names=list(OUTPUTS), dynamic_axes=dynamic_axes,
                      do_constant_folding=True)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")
    if not args.dynamic:
        compare_with_opencv(args.out, model, x)


if __name__ == "__main__":
    main()
