#!/usr/bin/python3
"""Writes the golden files the engine's mask classifier is tested against (tests/golden/classifier/).

    /usr/bin/python3 tools/reference_classifier.py --shared ../shared --decoder BUILD/decode_image \\
        [--classifier weights/mask_classifier.fmb] [--out tests/golden/classifier]

For each case (a face box on a real picture): the pixels as the engine decodes them
(decode_image, as tools/reference.py does), the crop rect of classifier.hpp (face_crop with the
blob's crop_square / crop_margin), the crop resampled to 112x112 by PIL itself
(Image.resize(..., BILINEAR, box=rect) on float "F" images, one per channel), normalised per the
blob, and the probability PyTorch computes for it: the blob's network (BatchNorm already folded)
rebuilt from torch.nn layers and run in float64.  Nothing of the engine but its decoder is used.

File format (one case per file; floats printed with %.9g):
    # comment lines
    blob <file name> crc32 <8 hex digits>     the blob the values belong to (its header checksum)
    image <picture path relative to the shared folder>
    picture <W> <H>
    box <x1> <y1> <x2> <y2>
    crop <x0> <y0> <x1> <y1>                  the rect the engine must read
    logit <logit>
    p <sigmoid(logit)>
"""
import argparse
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import classifier_data as cd  # noqa: E402
import fmblob  # noqa: E402
from reference import decode  # noqa: E402

WEBCAM = "data/eval-dev/tfm-mask-detect-webcam/images/"

# (case name, picture relative to the shared folder, box). The andrewmvd faces are picked from
# annotations.csv by rule (resolve_cases); the webcam boxes are annotations too; the demo boxes
# (face k of a detector golden file) are the detector's (tests/golden/pytorch-retinaface/),
# which are not clipped to the picture.
CASES = [
    ("andrewmvd_masked", None, None),
    ("andrewmvd_not_masked", None, None),
    ("andrewmvd_small_not_masked", None, None),
    ("andrewmvd_incorrect", None, None),
    ("andrewmvd_border_masked", None, None),
    ("andrewmvd_tiny_masked", None, None),
    ("webcam_12_not_masked", WEBCAM + "12-photo.jpg", (72, 63, 186, 229)),
    ("webcam_15_masked", WEBCAM + "15-photo.jpg", (68, 7, 189, 183)),
    ("toon_left_not_masked_detector_box", "images/toon_masked.png",
     "golden:pytorch-retinaface/toon_masked_native.txt#0"),
    ("toon_right_masked_detector_box", "images/toon_masked.png",
     "golden:pytorch-retinaface/toon_masked_native.txt#1"),
    ("not_masked_toon_detector_box", "images/not_masked_toon.jpg",
     "golden:pytorch-retinaface/not_masked_toon_long640.txt#0"),
    ("ex_img_not_masked_detector_box", "images/ex_img.jpg", "golden:pytorch-retinaface/ex_img_640x480.txt#0"),
    ("ex_img_masked_detector_box", "images/ex_img.jpg", "golden:pytorch-retinaface/ex_img_640x480.txt#1"),
]


def annotations(shared):
    import eval_classifier as ev
    return [r for r, _ in ev.annotated_faces(shared)]


def resolve_cases(shared):
    """Fills in the cases picked from the annotations (chosen by rule, so regenerating picks the
    same faces) and the detector boxes from the detector golden files."""
    rows = annotations(shared)
    andrew = [r for r in rows if r["source"] == "andrewmvd"]

    def first(pred):
        for r in andrew:
            if pred(r):
                return r
        raise SystemExit("reference_classifier: no annotation fits a case rule")

    picks = {
        "andrewmvd_masked": first(lambda r: r["label"] == "masked" and r["size"] >= 40),
        "andrewmvd_not_masked": first(lambda r: r["label"] == "not_masked" and r["size"] >= 48),
        "andrewmvd_small_not_masked": first(lambda r: r["label"] == "not_masked" and 16 <= r["size"] < 24),
        "andrewmvd_incorrect": first(lambda r: r["label"] == "incorrect" and r["size"] >= 32),
        "andrewmvd_border_masked": first(lambda r: r["label"] == "masked" and r["size"] >= 24 and r["box"][0] <= 1),
        "andrewmvd_tiny_masked": first(lambda r: r["label"] == "masked" and r["size"] < 12),
    }
    out = []
    for name, image, box in CASES:
        if name in picks:
            r = picks[name]
            image, box = r["image"], tuple(r["box"])
        elif isinstance(box, str):
            rel, k = box.split(":", 1)[1].split("#")
            with open(os.path.join(cd.REPO, "tests", "golden", rel)) as f:
                face = [line for line in f if line.startswith("face ")][int(k)]
            box = tuple(float(v) for v in face.split()[2:6])
        out.append((name, image, box))
    return out


class Network(torch.nn.Module):
    """The blob's network from torch.nn.functional ops, weights as the blob stores them."""

    def __init__(self, blob):
        super().__init__()
        t = {n: torch.tensor(np.asarray(v, dtype=np.float64).reshape(s)) for n, (s, v) in blob.tensors.items()}
        self.t = t
        c = blob.config
        self.slope = {fmblob.ACT_LEAKY: c["negative_slope"], fmblob.ACT_RELU: 0.0}.get(c["activation"], 1.0)

    def act(self, x):
        return torch.where(x > 0, x, x * self.slope)

    def forward(self, x):                                    # x: N x 3 x H x W, float64
        t = self.t
        x = self.act(F.conv2d(x, t["b0.w"].permute(0, 3, 1, 2), t["b0.b"], stride=fmblob.MOBILENET_STRIDES[0],
                              padding=1))
        for i in range(1, 14):
            dw = t[f"b{i}.dw.w"].permute(2, 0, 1).unsqueeze(1)       # HWC -> C x 1 x 3 x 3
            x = self.act(F.conv2d(x, dw, t[f"b{i}.dw.b"], stride=fmblob.MOBILENET_STRIDES[i], padding=1,
                                  groups=dw.shape[0]))
            pw = t[f"b{i}.pw.w"]
            x = self.act(F.conv2d(x, pw[:, :, None, None], t[f"b{i}.pw.b"]))
        x = x.mean(dim=(2, 3))
        x = F.relu(F.linear(x, t["fc1.w"], t["fc1.b"]))
        return F.linear(x, t["fc2.w"], t["fc2.b"])[:, 0]


def normalise(rgb, config):
    """float RGB HxWx3 -> CHW in network order, (v - mean) * scale per the blob."""
    x = rgb[:, :, ::-1] if config["channel_order"] == fmblob.BGR else rgb
    x = (x.astype(np.float64) - np.asarray(config["mean"])) * np.asarray(config["scale"])
    return x.transpose(2, 0, 1)


def blob_crc(path):
    with open(path, "rb") as f:
        head = f.read(fmblob.HEADER_SIZE)
    return struct.unpack_from("<I", head, fmblob.CHECKSUM_OFFSET)[0]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", default=cd.DEFAULT_SHARED)
    ap.add_argument("--decoder", required=True, help="BUILD/decode_image (the engine's picture decoder)")
    ap.add_argument("--classifier", default=os.path.join(cd.REPO, "weights", "mask_classifier.fmb"))
    ap.add_argument("--out", default=os.path.join(cd.REPO, "tests", "golden", "classifier"))
    a = ap.parse_args(argv)

    blob = fmblob.read_blob(a.classifier)
    c = blob.config
    net = Network(blob)
    crc = blob_crc(a.classifier)
    os.makedirs(a.out, exist_ok=True)
    cases = resolve_cases(a.shared)
    size = (c["input_width"], c["input_height"])
    for name, image, box in cases:
        pixels = decode(a.decoder, os.path.join(a.shared, image))
        h, w = pixels.shape[:2]
        rect = cd.face_crop(box, w, h, c["crop_square"], c["crop_margin"])
        chans = cd.channel_images(pixels)
        crop = np.stack([np.asarray(ch.resize(size, Image.BILINEAR, box=rect), dtype=np.float32) for ch in chans], 2)
        x = torch.from_numpy(normalise(crop, c)[None].copy())
        with torch.no_grad():
            logit = float(net(x)[0])
        p = 1.0 / (1.0 + np.exp(-logit))
        lines = [f"# facemask classifier golden v1: generated by tools/reference_classifier.py "
                 f"(PyTorch {torch.__version__}, float64); do not edit",
                 f"blob {os.path.basename(a.classifier)} crc32 {crc:08x}",
                 f"image {image}",
                 f"picture {w} {h}",
                 "box " + " ".join(f"{float(np.float32(v)):.9g}" for v in box),
                 "crop " + " ".join(f"{v:.9g}" for v in rect),
                 f"logit {logit:.9g}",
                 f"p {p:.9g}"]
        with open(os.path.join(a.out, name + ".txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
        print(f"{name}: {image} box {tuple(round(float(v), 2) for v in box)} p {p:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
