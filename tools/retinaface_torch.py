"""Independent PyTorch reference of the facemask detector: RetinaFace, MobileNetV1-0.25 backbone.

Written from the documented architecture (../shared/weights/README.md), not copied from
biubug6/Pytorch_Retinaface; the module and parameter names follow the checkpoints so that they
load with a strict key match. The C++ engine implements the same specification on its own;
this file produces the numbers it is tested against (tools/reference.py), so it favours being
obviously right over being fast.

Run with Debian's /usr/bin/python3 (torch 1.13, numpy, Pillow).
"""
import math
import os
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

FAMILIES = ("pytorch-retinaface", "face-detector-1mb")

# Anchor sizes in input pixels for strides 8, 16, 32 (weights/README.md): the two checkpoint
# families were trained with different anchors, and the wrong ones give nonsense.
MIN_SIZES = {
    "pytorch-retinaface": ((16, 32), (64, 128), (256, 512)),
    "face-detector-1mb": ((10, 20), (32, 64), (128, 256)),
}
STEPS = (8, 16, 32)
VARIANCES = (0.1, 0.2)
MEAN_BGR = (104.0, 117.0, 123.0)
ANCHORS_PER_CELL = 2
BN_EPS = 1e-5

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SHARED = os.path.join(os.path.dirname(_REPO), "shared")


def checkpoint_path(family, shared=DEFAULT_SHARED):
    """Where the mobilenet0.25 checkpoint of a family lives in the shared folder."""
    return os.path.join(shared, "weights", family, "mobilenet0.25_Final.pth")


def activation(family):
    """The one activation a family uses after every conv+BN that has one."""
    if family == "pytorch-retinaface":
        return nn.LeakyReLU(0.1)
    if family == "face-detector-1mb":
        return nn.ReLU()
    raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")


# --- building blocks -------------------------------------------------------------------------
# Each block is an nn.Sequential so that parameter names come out as "<block>.<index>.weight",
# the layout the checkpoints were saved with (conv at 0, BN at 1, activation at 2, ...).

def conv_bn(cin, cout, family, kernel=3, stride=1, act=True):
    """kernel x kernel conv (no bias, 'same' padding) + BN, optionally followed by the activation."""
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False),
              nn.BatchNorm2d(cout, eps=BN_EPS)]
    if act:
        layers.append(activation(family))
    return nn.Sequential(*layers)


def conv_dw(cin, cout, stride, family):
    """Depthwise-separable block: dw3x3+BN+act, then pw1x1+BN+act (indices 0,1,2 and 3,4,5)."""
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
        nn.BatchNorm2d(cin, eps=BN_EPS),
        activation(family),
        nn.Conv2d(cin, cout, 1, 1, 0, bias=False),
        nn.BatchNorm2d(cout, eps=BN_EPS),
        activation(family),
    )


class MobileNetV1(nn.Module):
    """MobileNetV1 with width 0.25; the three stages give the strides 8, 16 and 32 maps."""

    def __init__(self, family):
        super().__init__()
        self.stage1 = nn.Sequential(
            conv_bn(3, 8, family, stride=2),
            conv_dw(8, 16, 1, family),
            conv_dw(16, 32, 2, family),
            conv_dw(32, 32, 1, family),
            conv_dw(32, 64, 2, family),
            conv_dw(64, 64, 1, family),
        )
        self.stage2 = nn.Sequential(
            conv_dw(64, 128, 2, family),
            *[conv_dw(128, 128, 1, family) for _ in range(5)],
        )
        self.stage3 = nn.Sequential(
            conv_dw(128, 256, 2, family),
            conv_dw(256, 256, 1, family),
        )

    def forward(self, x):
        x1 = self.stage1(x)
        x2 = self.stage2(x1)
        x3 = self.stage3(x2)
        return x1, x2, x3


class FPN(nn.Module):
    """Top-down pyramid: 1x1 laterals to 64 channels, nearest upsampling, 3x3 merges."""

    def __init__(self, family, in_channels=(64, 128, 256), out_channels=64):
        super().__init__()
        self.output1 = conv_bn(in_channels[0], out_channels, family, kernel=1)
        self.output2 = conv_bn(in_channels[1], out_channels, family, kernel=1)
        self.output3 = conv_bn(in_channels[2], out_channels, family, kernel=1)
        self.merge1 = conv_bn(out_channels, out_channels, family)
        self.merge2 = conv_bn(out_channels, out_channels, family)

    @staticmethod
    def upsample_to(coarse, fine):
        # Nearest to the exact size of the finer map: with odd input sizes it is not always 2x.
        return F.interpolate(coarse, size=[fine.size(2), fine.size(3)], mode="nearest")

    def forward(self, x1, x2, x3):
        o3 = self.output3(x3)
        o2 = self.output2(x2)
        o2 = self.merge2(o2 + self.upsample_to(o3, o2))
        o1 = self.output1(x1)
        o1 = self.merge1(o1 + self.upsample_to(o2, o1))
        return o1, o2, o3


class SSH(nn.Module):
    """Context module: 3x3, 5x5 (two 3x3) and 7x7 (three 3x3, sharing the first) branches."""

    def __init__(self, family, cin=64, cout=64):
        super().__init__()
        half, quarter = cout // 2, cout // 4
        self.conv3X3 = conv_bn(cin, half, family, act=False)
        self.conv5X5_1 = conv_bn(cin, quarter, family)
        self.conv5X5_2 = conv_bn(quarter, quarter, family, act=False)
        self.conv7X7_2 = conv_bn(quarter, quarter, family)
        self.conv7x7_3 = conv_bn(quarter, quarter, family, act=False)
        # ReLU after the concatenation for both families (the original applies F.relu here).
        self.out_act = nn.ReLU()

    def forward(self, x):
        c3 = self.conv3X3(x)
        c5_1 = self.conv5X5_1(x)
        c5 = self.conv5X5_2(c5_1)
        c7 = self.conv7x7_3(self.conv7X7_2(c5_1))
        return self.out_act(torch.cat([c3, c5, c7], dim=1))


class Head(nn.Module):
    """One 1x1 conv with bias; the attribute name gives the checkpoint key '<i>.conv1x1.*'."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv1x1 = nn.Conv2d(cin, cout, 1, 1, 0, bias=True)

    def forward(self, x):
        # NHWC, so that a flattened row is one anchor of one cell (level > y > x > anchor).
        return self.conv1x1(x).permute(0, 2, 3, 1).contiguous()


class RetinaFace(nn.Module):
    """The whole network. forward() returns the raw head maps per level, NHWC:
    [(class N,H,W,4), (box N,H,W,8), (landmarks N,H,W,20)] for levels 1..3."""

    def __init__(self, family):
        super().__init__()
        activation(family)  # reject unknown families early
        self.family = family
        self.body = MobileNetV1(family)
        self.fpn = FPN(family)
        self.ssh1 = SSH(family)
        self.ssh2 = SSH(family)
        self.ssh3 = SSH(family)
        a = ANCHORS_PER_CELL
        self.ClassHead = nn.ModuleList([Head(64, a * 2) for _ in STEPS])
        self.BboxHead = nn.ModuleList([Head(64, a * 4) for _ in STEPS])
        self.LandmarkHead = nn.ModuleList([Head(64, a * 10) for _ in STEPS])

    def forward(self, x):
        o1, o2, o3 = self.fpn(*self.body(x))
        features = (self.ssh1(o1), self.ssh2(o2), self.ssh3(o3))
        return [(self.ClassHead[i](f), self.BboxHead[i](f), self.LandmarkHead[i](f))
                for i, f in enumerate(features)]


def flatten_heads(levels):
    """Per-level NHWC maps -> (class N,P,2), (box N,P,4), (landmarks N,P,10), P = all anchors."""
    n = levels[0][0].size(0)
    cls = torch.cat([c.reshape(n, -1, 2) for c, _, _ in levels], dim=1)
    box = torch.cat([b.reshape(n, -1, 4) for _, b, _ in levels], dim=1)
    ldm = torch.cat([l.reshape(n, -1, 10) for _, _, l in levels], dim=1)
    return cls, box, ldm


def load(checkpoint, family):
    """Build the network of a family and load a checkpoint with a strict key match, eval mode."""
    net = RetinaFace(family)
    state = torch.load(checkpoint, map_location="cpu")
    net.load_state_dict(state, strict=True)
    net.eval()
    return net


# --- pre- and post-processing ----------------------------------------------------------------

def resize_rgb(picture, net_w, net_h):
    """Picture (H,W,3) uint8 RGB -> (net_h,net_w,3) float32.

    Each channel goes through Pillow as a float32 ("F") image, so the resize is Pillow's
    antialiased triangle filter without any rounding back to 8 bits; the engine does the same.
    """
    h, w = picture.shape[:2]
    if (net_w, net_h) == (w, h):
        return picture.astype(np.float32)
    channels = []
    for c in range(3):
        img = Image.fromarray(np.ascontiguousarray(picture[:, :, c], dtype=np.float32), mode="F")
        channels.append(np.asarray(img.resize((net_w, net_h), Image.BILINEAR), dtype=np.float32))
    return np.stack(channels, axis=2)


def network_input(rgb_float):
    """(H,W,3) float32 RGB -> (1,3,H,W) float32 BGR minus the mean, as the network was trained."""
    bgr = rgb_float[:, :, ::-1] - np.asarray(MEAN_BGR, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(bgr.transpose(2, 0, 1), dtype=np.float32))[None]


def feature_sizes(net_w, net_h):
    """(rows, cols) of the three levels: ceil(size/step), like the strided 3x3 convs give."""
    return [(math.ceil(net_h / s), math.ceil(net_w / s)) for s in STEPS]


def priors(family, net_w, net_h):
    """(P,4) float32 priors (cx, cy, w, h) relative to the input size, order level>y>x>size.

    Computed in double and stored as float32, as the original builds a torch tensor from a
    Python list of floats.
    """
    rows = []
    for (fh, fw), step, sizes in zip(feature_sizes(net_w, net_h), STEPS, MIN_SIZES[family]):
        for y in range(fh):
            for x in range(fw):
                for s in sizes:
                    rows.append(((x + 0.5) * step / net_w, (y + 0.5) * step / net_h,
                                 s / net_w, s / net_h))
    return torch.tensor(rows, dtype=torch.float32)


def decode_boxes(loc, pri):
    """Box offsets -> corners (x1,y1,x2,y2) relative to the input size, float32."""
    v0, v1 = VARIANCES
    centre = pri[:, :2] + loc[:, :2] * v0 * pri[:, 2:]
    size = pri[:, 2:] * torch.exp(loc[:, 2:] * v1)
    return torch.cat([centre - size / 2, centre + size / 2], dim=1)


def decode_landmarks(ldm, pri):
    """Landmark offsets -> 5 points (x,y interleaved) relative to the input size, float32."""
    v0 = VARIANCES[0]
    points = [pri[:, :2] + ldm[:, 2 * k:2 * k + 2] * v0 * pri[:, 2:] for k in range(5)]
    return torch.cat(points, dim=1)


def to_picture_pixels(coords, net_w, net_h, pic_w, pic_h):
    """Relative (x,y,x,y,...) -> picture pixels: first input pixels, then the resize ratio."""
    n = coords.size(1) // 2
    to_input = torch.tensor([net_w, net_h] * n, dtype=torch.float32)
    ratio = torch.tensor([pic_w / net_w, pic_h / net_h] * n, dtype=torch.float32)
    return coords * to_input * ratio


def greedy_nms(boxes, threshold):
    """Greedy NMS in the py_cpu_nms convention (+1 in widths, suppress IoU > threshold).

    `boxes` must already be sorted best first (that order is the visiting order); returns the
    kept row indices.
    Float64, like numpy does it on the original's float32 arrays promoted by the +1.
    """
    b = boxes.astype(np.float64)
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.arange(len(b))
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter)
        order = rest[iou <= threshold]
    return keep


@dataclass
class Face:
    score: float
    box: tuple          # x1, y1, x2, y2 in picture pixels
    landmarks: tuple    # lx0, ly0, ..., lx4, ly4 in picture pixels
    prior: int          # row in the flattened head outputs (level > y > x > anchor)


@dataclass
class Result:
    faces: list
    raw: list = field(default_factory=list)  # per level (class, box, landmarks) NHWC of batch 0
    net_w: int = 0
    net_h: int = 0


_NETS = {}


def _default_net(family):
    """Load a family's checkpoint from the shared folder once per process."""
    if family not in _NETS:
        _NETS[family] = load(checkpoint_path(family), family)
    return _NETS[family]


def cell_of_prior(prior, net_w, net_h):
    """Flattened prior row -> (level 1..3, y, x, anchor)."""
    for level, (fh, fw) in enumerate(feature_sizes(net_w, net_h), start=1):
        n = fh * fw * ANCHORS_PER_CELL
        if prior < n:
            cell, anchor = divmod(prior, ANCHORS_PER_CELL)
            return level, cell // fw, cell % fw, anchor
        prior -= n
    raise IndexError("prior index past the last level")


def detect(picture, family, net_w, net_h, conf=0.5, nms=0.4, top_k=5000, keep=750, net=None):
    """Run the documented pipeline on an (H,W,3) uint8 RGB picture; returns a Result.

    `net` defaults to the family's checkpoint in ../shared/weights.
    """
    net = net if net is not None else _default_net(family)
    if net.family != family:
        raise ValueError(f"network was built for {net.family}, not {family}")
    pic_h, pic_w = picture.shape[:2]
    x = network_input(resize_rgb(picture, net_w, net_h))
    with torch.no_grad():
        levels = net(x)
    cls, loc, ldm = (t[0] for t in flatten_heads(levels))

    scores = F.softmax(cls, dim=-1)[:, 1]
    candidates = torch.nonzero(scores > conf).flatten()  # strict threshold, prior order kept
    pri = priors(family, net_w, net_h)[candidates]
    boxes = to_picture_pixels(decode_boxes(loc[candidates], pri), net_w, net_h, pic_w, pic_h)
    points = to_picture_pixels(decode_landmarks(ldm[candidates], pri), net_w, net_h, pic_w, pic_h)
    scores = scores[candidates].numpy()

    # Stable sort on the negated score: ties keep the lower prior index first.
    order = np.argsort(-scores, kind="stable")[:top_k]
    boxes, points = boxes.numpy()[order], points.numpy()[order]
    kept = greedy_nms(boxes, nms)[:keep]

    faces = [Face(float(scores[order[k]]), tuple(float(v) for v in boxes[k]),
                  tuple(float(v) for v in points[k]), int(candidates[order[k]]))
             for k in kept]
    raw = [tuple(t[0] for t in level) for level in levels]
    return Result(faces, raw, net_w, net_h)
