#!/usr/bin/python3
"""Trains facemask's mask classifier and exports it: the one command behind weights/mask_classifier.fmb.

    /usr/bin/python3 tools/train_classifier.py [--build build] [--shared ../shared]

does everything, deterministically (seed 20240229, 2 threads, fixed data order):
  1. brings example_annotate and classify_boxes up to date in the build folder (configures it
     if it is new);
  2. prepares the training data (tools/classifier_data.py; cached under build/classifier-work);
  3. trains MobileNetV1 -> global average pool -> dense 128 + ReLU -> dense 1 (logit of
     "masked") on 112x112 crops, with BatchNorm;
  4. folds BatchNorm into the convolutions and writes the blob (classifier kind, self-test
     computed by tools/fmblob.py's pure-Python forward);
  5. runs the ENGINE on the eval-dev faces (tools/eval_classifier.py via classify_boxes),
     chooses the decision threshold there (eval_classifier.choose_threshold), moves it into
     the output bias (fc2.b -= logit(threshold)) so that the blob's threshold is 0.5 -- the
     default of Face::masked() and PipelineOptions::mask_threshold -- and prints the
     evaluation table of the final blob.

Model options: --width 0.25 --init detector (default: body initialised from the detector's
MobileNetV1-0.25 backbone, ../shared/weights/pytorch-retinaface/mobilenet0.25_Final.pth,
LeakyReLU 0.1, BGR minus (104, 117, 123)), or --init scratch with --width 0.25/0.5/1.0.
Training never sees eval-dev. Eval-dev is used to monitor a run (AUC printed every --monitor
epochs), to choose the threshold, and it was used to choose these defaults by comparing runs
(epochs, crop settings; weights/README.md has the table).
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

# OpenMP threads that wait passively: on a shared machine, spinning workers slow training
# down several times (measured: 0.35 s instead of 2-5 s per batch with 2 threads under load).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("GOMP_SPINCOUNT", "0")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import classifier_data as cd  # noqa: E402
import eval_classifier as ev  # noqa: E402
import fmblob  # noqa: E402

SEED = 20240229
BASE_CHANNELS = fmblob.MOBILENET_BASE_CHANNELS
STRIDES = fmblob.MOBILENET_STRIDES
HIDDEN = 128
BN_EPS = 1e-5
SLOPE = 0.1
DETECTOR_CKPT = os.path.join("weights", "pytorch-retinaface", "mobilenet0.25_Final.pth")
# The detector's stage1/2/3 blocks in order are b0..b13.
DETECTOR_BLOCKS = ([("stage1", i) for i in range(6)] + [("stage2", i) for i in range(6)]
                   + [("stage3", i) for i in range(2)])


# ---------------------------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------------------------

def _act():
    return nn.LeakyReLU(SLOPE)


def conv_bn(cin, cout, stride):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout, eps=BN_EPS), _act())


def conv_dw(cin, cout, stride):
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin, eps=BN_EPS), _act(),
        nn.Conv2d(cin, cout, 1, 1, 0, bias=False), nn.BatchNorm2d(cout, eps=BN_EPS), _act())


class MaskNet(nn.Module):
    """MobileNetV1 body b0..b13 (the detector backbone's block structure), global average
    pooling, fc1 (hidden) + ReLU, fc2 -> logit of "masked". Input: N x 3 x 112 x 112, BGR minus
    the mean."""

    def __init__(self, width_x1000, hidden=HIDDEN, dropout=0.2):
        super().__init__()
        ch = fmblob.backbone_channels(width_x1000)
        self.width_x1000 = width_x1000
        self.channels = ch
        self.b0 = conv_bn(3, ch[0], STRIDES[0])
        for i in range(1, 14):
            setattr(self, f"b{i}", conv_dw(ch[i - 1], ch[i], STRIDES[i]))
        self.drop = nn.Dropout(dropout)
        self.fc1 = nn.Linear(ch[13], hidden)
        self.fc2 = nn.Linear(hidden, 1)

    def blocks(self):
        return [getattr(self, f"b{i}") for i in range(14)]

    def forward(self, x):
        for b in self.blocks():
            x = b(x)
        x = x.mean(dim=(2, 3))
        x = F.relu(self.fc1(self.drop(x)))
        return self.fc2(x).squeeze(1)


def init_from_detector(model, ckpt_path):
    """Copies the detector backbone (body.stageK.J.*) into b0..b13; returns the tensor count."""
    if model.width_x1000 != 250:
        raise SystemExit("train_classifier: --init detector needs --width 0.25")
    sd = torch.load(ckpt_path, map_location="cpu")
    own = model.state_dict()
    n = 0
    for i, (stage, j) in enumerate(DETECTOR_BLOCKS):
        prefix = f"body.{stage}.{j}."
        for k, v in sd.items():
            if k.startswith(prefix):
                name = f"b{i}." + k[len(prefix):]
                if name not in own or own[name].shape != v.shape:
                    raise SystemExit(f"train_classifier: {k} does not fit {name}")
                own[name] = v.clone()
                n += 1
    model.load_state_dict(own)
    return n


# ---------------------------------------------------------------------------------------------
# export: BatchNorm folded, blob layouts
# ---------------------------------------------------------------------------------------------

def _fold(conv, bn):
    """(weight, bias) of conv followed by inference BatchNorm, in float64."""
    w = conv.weight.detach().double().numpy()
    g, b = bn.weight.detach().double().numpy(), bn.bias.detach().double().numpy()
    m, v = bn.running_mean.double().numpy(), bn.running_var.double().numpy()
    s = g / np.sqrt(v + bn.eps)
    return w * s[:, None, None, None], b - m * s


def folded_tensors(model):
    """OrderedDict name -> (shape, float64 flat values) in the blob's layouts (blob.hpp)."""
    out = {}
    w, b = _fold(model.b0[0], model.b0[1])                  # [Cout, Cin, 3, 3] -> OHWI
    out["b0.w"] = (w.shape[0], 3, 3, w.shape[1]), w.transpose(0, 2, 3, 1)
    out["b0.b"] = (b.shape[0],), b
    for i in range(1, 14):
        blk = getattr(model, f"b{i}")
        w, b = _fold(blk[0], blk[1])                         # [C, 1, 3, 3] -> HWC
        out[f"b{i}.dw.w"] = (3, 3, w.shape[0]), w[:, 0].transpose(1, 2, 0)
        out[f"b{i}.dw.b"] = (b.shape[0],), b
        w, b = _fold(blk[3], blk[4])                         # [Cout, Cin, 1, 1] -> [Cout, Cin]
        out[f"b{i}.pw.w"] = (w.shape[0], w.shape[1]), w[:, :, 0, 0]
        out[f"b{i}.pw.b"] = (b.shape[0],), b
    out["fc1.w"] = tuple(model.fc1.weight.shape), model.fc1.weight.detach().double().numpy()
    out["fc1.b"] = tuple(model.fc1.bias.shape), model.fc1.bias.detach().double().numpy()
    out["fc2.w"] = tuple(model.fc2.weight.shape), model.fc2.weight.detach().double().numpy()
    out["fc2.b"] = tuple(model.fc2.bias.shape), model.fc2.bias.detach().double().numpy()
    return {k: (tuple(int(d) for d in s), np.ascontiguousarray(v, dtype=np.float64).reshape(-1))
            for k, (s, v) in out.items()}


def blob_config(width_x1000, square, margin, threshold):
    variant = "mask-classifier-mnet" + {250: "0.25", 500: "0.5", 750: "0.75", 1000: "1.0"}.get(
        width_x1000, str(width_x1000 / 1000))
    return {"variant": variant, "family": "facemask", "channel_order": fmblob.BGR,
            "mean": list(cd.MEAN_BGR), "scale": [1.0, 1.0, 1.0],
            "input_width": cd.INPUT_SIZE, "input_height": cd.INPUT_SIZE,
            "activation": fmblob.ACT_LEAKY, "negative_slope": SLOPE, "width_x1000": width_x1000,
            "tolerance": 1e-3, "hidden": HIDDEN, "crop_square": 1 if square else 0,
            "crop_margin": float(margin), "threshold": float(threshold)}


def blob_tensors(model):
    """[(name, shape, float32 array)] of the network (no self-test yet)."""
    return [(n, s, fmblob.to_f32_array(v.tolist(), n)) for n, (s, v) in folded_tensors(model).items()]


def shift_output_bias(tensors, threshold):
    """Moves a decision threshold on p into the output bias: fc2.b - logit(threshold), so that
    p > 0.5 afterwards exactly when p > threshold before.  Returns (tensors, shift)."""
    shift = -math.log(threshold / (1.0 - threshold))
    out = []
    for name, shape, values in tensors:
        if name == "fc2.b":
            values = fmblob.to_f32_array([float(values[0]) + shift], name)
        out.append((name, shape, values))
    return out, shift


def write_classifier_blob(path, tensors, config, selftest):
    config = fmblob.normalize_config(fmblob.KIND_CLASSIFIER, config)
    all_t = list(tensors) + list(selftest)
    fmblob.validate_network(fmblob.KIND_CLASSIFIER, config, all_t)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return fmblob.write_blob(path, fmblob.KIND_CLASSIFIER, config, all_t)


def make_selftest(tensors, config):
    config = fmblob.normalize_config(fmblob.KIND_CLASSIFIER, config)
    return fmblob.selftest_classifier(fmblob.as_tensor_dict(tensors), config)


def numpy_forward(tensors, x_hwc):
    """The folded network in numpy float64 on one normalised HWC input: the logit (a check of
    the folding and layouts against PyTorch)."""
    t = {n: (s, np.asarray(v, dtype=np.float64).reshape(s)) for n, s, v in tensors}

    def leaky(a):
        return np.where(a > 0, a, a * SLOPE)

    def pad(a):
        return np.pad(a, ((1, 1), (1, 1), (0, 0)))

    def conv3(a, w, b, stride, depthwise):
        h, wd = a.shape[:2]
        ho, wo = (h - 1) // stride + 1, (wd - 1) // stride + 1
        p = pad(a)
        out = np.zeros((ho, wo, w.shape[0] if not depthwise else a.shape[2]))
        for ky in range(3):
            for kx in range(3):
                patch = p[ky:ky + stride * (ho - 1) + 1:stride, kx:kx + stride * (wo - 1) + 1:stride]
                if depthwise:
                    out += patch * w[ky, kx]
                else:
                    out += patch @ w[:, ky, kx, :].T
        return out + b

    a = leaky(conv3(x_hwc, t["b0.w"][1], t["b0.b"][1], STRIDES[0], False))
    for i in range(1, 14):
        a = leaky(conv3(a, t[f"b{i}.dw.w"][1], t[f"b{i}.dw.b"][1], STRIDES[i], True))
        a = leaky(a @ t[f"b{i}.pw.w"][1].T + t[f"b{i}.pw.b"][1])
    pooled = a.mean(axis=(0, 1))
    hidden = np.maximum(t["fc1.w"][1] @ pooled + t["fc1.b"][1], 0)
    return float((t["fc2.w"][1] @ hidden + t["fc2.b"][1])[0])


# ---------------------------------------------------------------------------------------------
# samples and augmentation
# ---------------------------------------------------------------------------------------------

def _clipped_normal(rng, mean, sd, k=2.5):
    return mean + sd * float(np.clip(rng.standard_normal(), -k, k))


def jitter_box(box, rng):
    """A training box around a detector box: half the time detector-like (small jitter), half
    the time like the tighter eval-dev annotations (measured on eval-dev faces >= 16 px matched
    to long=640 detections: centre 0.125 box heights lower, 0.9x as high, as wide)."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    if rng.random() < 0.5:
        dx, dy = _clipped_normal(rng, 0, 0.04), _clipped_normal(rng, 0, 0.04)
        sw, sh = math.exp(_clipped_normal(rng, 0, 0.07)), math.exp(_clipped_normal(rng, 0, 0.07))
    else:
        dx, dy = _clipped_normal(rng, 0.01, 0.07), _clipped_normal(rng, 0.125, 0.06)
        sw, sh = math.exp(_clipped_normal(rng, 0.03, 0.12)), math.exp(_clipped_normal(rng, -0.10, 0.13))
    cx, cy, w, h = cx + dx * w, cy + dy * h, w * sw, h * sh
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def augment_context(ctx, box, rng, aug):
    """Geometric changes of the picture itself (the crop stays the engine's): rotation about
    the face, and lower resolution (small faces in crowd photos)."""
    h, w = ctx.shape[:2]
    box = list(box)
    if aug and rng.random() < 0.3:
        angle = _clipped_normal(rng, 0, 10)
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        m = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
        ctx = cv2.warpAffine(ctx, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    if aug and rng.random() < 0.4:
        short = min(box[2] - box[0], box[3] - box[1])
        target = math.exp(rng.uniform(math.log(12), math.log(56)))
        f = target / short
        if f < 0.9:
            nw, nh = max(2, int(round(w * f))), max(2, int(round(h * f)))
            ctx = np.asarray(Image.fromarray(ctx).resize((nw, nh), Image.BILINEAR), dtype=np.uint8)
            fx, fy = nw / w, nh / h
            box = [box[0] * fx, box[1] * fy, box[2] * fx, box[3] * fy]
    return ctx, box


def photometric(x, rng):
    """Colour, light, blur and noise on a float32 RGB crop (0..255)."""
    x = np.asarray(x, dtype=np.float32)
    if rng.random() < 0.8:
        x = x * np.float32(rng.uniform(0.7, 1.3))
        m = x.mean()
        x = (x - m) * np.float32(rng.uniform(0.7, 1.3)) + m
        g = x.mean(axis=2, keepdims=True)
        x = g + (x - g) * np.float32(rng.uniform(0.5, 1.4))
    if rng.random() < 0.1:
        x = np.repeat(x.mean(axis=2, keepdims=True), 3, axis=2)
    if rng.random() < 0.1:
        x = np.float32(255.0) * (np.clip(x, 0, 255) / np.float32(255.0)) ** np.float32(rng.uniform(1.2, 2.2)) \
            * np.float32(rng.uniform(0.4, 0.9))
    if rng.random() < 0.2:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.4, 1.2))
    if rng.random() < 0.25:
        x = x + rng.standard_normal(x.shape, dtype=np.float32) * np.float32(rng.uniform(2, 8))
    return np.clip(x, 0, 255)


def crop_window(img, rect, size=cd.INPUT_SIZE):
    """cd.crop_pixels(cd.channel_images(img), rect), faster: only the pixels the filter can
    reach (the rect plus its support and two pixels) are converted; the rect is shifted by the
    integer offset of that window, which leaves the filter taps the same (values agree to about
    1e-5 of 255: PIL computes the shifted positions in double)."""
    h, w = img.shape[:2]
    x0, y0, x1, y1 = rect
    sx, sy = max((x1 - x0) / size, 1.0), max((y1 - y0) / size, 1.0)
    c0, r0 = max(0, int(math.floor(x0 - sx)) - 2), max(0, int(math.floor(y0 - sy)) - 2)
    c1, r1 = min(w, int(math.ceil(x1 + sx)) + 2), min(h, int(math.ceil(y1 + sy)) + 2)
    if c0 == 0 and r0 == 0 and c1 == w and r1 == h:
        return cd.crop_pixels(cd.channel_images(img), rect, size)
    win = img[r0:r1, c0:c1]
    return cd.crop_pixels(cd.channel_images(win), (x0 - c0, y0 - r0, x1 - c0, y1 - r0), size)


def make_input(s, contexts, square, margin, rng, aug=True):
    """One training input (3x112x112 float32) from a sample, its crop cut the engine's way."""
    ctx = cd.context_image(contexts, s)
    ctx, box = augment_context(ctx, s["box"], rng, aug)
    h, w = ctx.shape[:2]
    rect = None
    if aug:
        rect = cd.face_crop(jitter_box(box, rng), w, h, square, margin)
    if rect is None:
        rect = cd.face_crop(box, w, h, square, margin)
    x = cd.crop_pixels(cd.channel_images(ctx), rect) if not aug else crop_window(ctx, rect)
    if aug:
        if rng.random() < 0.5:
            x = x[:, ::-1]
        x = photometric(x, rng)
    return cd.network_input(np.asarray(x, dtype=np.float32))


def epoch_samples(samples, epoch, seed):
    """The samples of one epoch, in order: every real face, and one of the two artificial
    variants of each not_masked face (alternating by epoch), shuffled with a fixed seed."""
    pick = []
    for i, s in enumerate(samples):
        if s["kind"] == "real" or s["kind"] == f"artificial{epoch % 2}":
            pick.append(i)
    rng = np.random.default_rng([seed, epoch, 7])
    return [pick[j] for j in rng.permutation(len(pick))]


def batch_inputs(samples, contexts, idx, epoch, seed, square, margin):
    """A batch: inputs N x 3 x 112 x 112 and labels; sample i of epoch e always gets the same
    random numbers (seeded by (seed, e, i)), whichever process makes it."""
    xs = [make_input(samples[i], contexts, square, margin, np.random.default_rng([seed, epoch, i]))
          for i in idx]
    ys = [float(samples[i]["label"]) for i in idx]
    return torch.from_numpy(np.stack(xs)), torch.tensor(ys)


class Batches(torch.utils.data.Dataset):
    """Every training batch of the run, in order (epoch-major); made in a worker process while
    the main process trains."""

    def __init__(self, samples, contexts, epochs, batch, seed, square, margin):
        self.samples, self.contexts = samples, contexts
        self.seed, self.square, self.margin = seed, square, margin
        self.items = []
        for e in range(epochs):
            order = epoch_samples(samples, e, seed)
            self.items += [(e, order[b * batch:(b + 1) * batch]) for b in range(len(order) // batch)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, k):
        e, idx = self.items[k]
        x, y = batch_inputs(self.samples, self.contexts, idx, e, self.seed, self.square, self.margin)
        return e, x, y


def _worker_init(_):
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


# ---------------------------------------------------------------------------------------------
# monitoring on eval-dev (PyTorch side; the reported numbers come from the engine)
# ---------------------------------------------------------------------------------------------

def eval_dev_inputs(shared, work, square, margin):
    """Network inputs of the annotated eval-dev faces (>= 16 px, masked / not_masked), cached."""
    path = os.path.join(work, f"evaldev_v{cd.DATA_VERSION}_sq{int(square)}_m{margin:g}.npz")
    if os.path.exists(path):
        z = np.load(path)
        return z["x"], z["y"], z["size"]
    xs, ys, sizes = [], [], []
    for row, img_path in ev.annotated_faces(shared):
        if row["label"] not in ("masked", "not_masked") or row["size"] < 16:
            continue
        img = cd.load_rgb(img_path)
        rect = cd.face_crop(row["box"], img.shape[1], img.shape[0], square, margin)
        xs.append(cd.network_input(cd.crop_pixels(cd.channel_images(img), rect)))
        ys.append(1 if row["label"] == "masked" else 0)
        sizes.append(row["size"])
    x, y, size = np.stack(xs), np.array(ys), np.array(sizes)
    np.savez(path, x=x, y=y, size=size)
    return x, y, size


def predict(model, x, batch=256):
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = torch.from_numpy(x[i:i + batch]).contiguous(memory_format=torch.channels_last)
            out.append(torch.sigmoid(model(xb)).numpy())
    return np.concatenate(out)


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------

def ensure_tools(build):
    """Configures the build folder if needed and brings example_annotate and classify_boxes up
    to date (a no-op when they are)."""
    if not os.path.exists(os.path.join(build, "CMakeCache.txt")):
        subprocess.run(["cmake", "-S", cd.REPO, "-B", build, "-DCMAKE_BUILD_TYPE=Release"], check=True)
    subprocess.run(["cmake", "--build", build, "--target", "example_annotate", "classify_boxes"], check=True,
                   stdout=subprocess.DEVNULL)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", default=cd.DEFAULT_SHARED)
    ap.add_argument("--build", default=cd.DEFAULT_BUILD, help="build folder (example_annotate, classify_boxes)")
    ap.add_argument("--work", default=cd.DEFAULT_WORK, help="cache folder (prepared data, logs)")
    ap.add_argument("--out", default=os.path.join(cd.REPO, "weights", "mask_classifier.fmb"))
    ap.add_argument("--width", type=float, default=0.25, choices=(0.25, 0.5, 1.0))
    ap.add_argument("--init", default="detector", choices=("detector", "scratch"))
    ap.add_argument("--epochs", type=int, default=None, help="default 4 (detector init) / 12 (scratch)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=None, help="peak learning rate (default 2e-3 / 3e-3)")
    ap.add_argument("--square", type=int, default=1, choices=(0, 1))
    ap.add_argument("--margin", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--monitor", type=int, default=4, help="eval-dev AUC every N epochs (0: never)")
    ap.add_argument("--no-eval", action="store_true", help="stop after writing the blob")
    a = ap.parse_args(argv)

    t_start = time.time()
    torch.manual_seed(a.seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(a.threads)
    cv2.setNumThreads(1)
    width_x1000 = int(round(a.width * 1000))
    epochs = a.epochs or (4 if a.init == "detector" else 12)
    lr = a.lr or (2e-3 if a.init == "detector" else 3e-3)

    ensure_tools(a.build)
    index, contexts = cd.prepare(a.shared, a.build, a.work)
    samples = index["samples"]
    t_data = time.time() - t_start

    model = MaskNet(width_x1000)
    if a.init == "detector":
        n = init_from_detector(model, os.path.join(a.shared, DETECTOR_CKPT))
        print(f"train: body initialised from the detector backbone ({n} tensors)")
    params = sum(p.numel() for p in model.parameters())
    print(f"train: width {a.width}, init {a.init}, {params} parameters, {epochs} epochs, batch {a.batch}, "
          f"lr {lr}, crop square {a.square} margin {a.margin}, seed {a.seed}")

    ex, ey, esize = eval_dev_inputs(a.shared, a.work, a.square, a.margin) if a.monitor else (None, None, None)
    data = Batches(samples, contexts, epochs, a.batch, a.seed, a.square, a.margin)
    loader = torch.utils.data.DataLoader(data, batch_size=None, shuffle=False, num_workers=1,
                                         worker_init_fn=_worker_init, prefetch_factor=8)
    steps = len(data)
    warm = steps // epochs
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    model = model.to(memory_format=torch.channels_last)

    def lr_at(step):
        if step < warm:
            return lr * (step + 1) / warm
        return 0.5 * lr * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm)))

    def pos_weight_of(epoch):
        order = epoch_samples(samples, epoch, a.seed)
        n_pos = sum(samples[i]["label"] for i in order)
        return torch.tensor((len(order) - n_pos) / n_pos)

    t_train = time.time()
    epoch, total, seen, te = 0, 0.0, 0, time.time()
    pos_weight = pos_weight_of(0)

    def end_of_epoch(epoch):
        msg = f"epoch {epoch + 1}/{epochs} loss {total / seen:.4f} ({time.time() - te:.0f} s)"
        if a.monitor and ((epoch + 1) % a.monitor == 0 or epoch + 1 == epochs):
            p = predict(model, ex)
            big = esize >= 32
            msg += (f"  eval-dev AUC >=32 {ev.roc_auc(p[big], ey[big]):.4f}"
                    f" 16-31 {ev.roc_auc(p[~big], ey[~big]):.4f}")
        print(msg, flush=True)

    model.train()
    for step, (e, x, y) in enumerate(loader):
        if e != epoch:
            end_of_epoch(epoch)
            model.train()
            epoch, total, seen, te = e, 0.0, 0, time.time()
            pos_weight = pos_weight_of(e)
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        loss = F.binary_cross_entropy_with_logits(model(x.contiguous(memory_format=torch.channels_last)), y,
                                                  pos_weight=pos_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += float(loss) * len(y)
        seen += len(y)
    end_of_epoch(epoch)
    t_train = time.time() - t_train

    # export
    model.eval()
    model = model.to(memory_format=torch.contiguous_format)
    tensors = blob_tensors(model)
    x0 = np.asarray(fmblob.make_selftest_input(32, 32), dtype=np.float64).reshape(32, 32, 3)
    with torch.no_grad():
        torch_logit = float(model.double()(torch.from_numpy(x0.transpose(2, 0, 1)[None].copy()))[0])
    model.float()
    np_logit = numpy_forward(tensors, x0)
    if abs(torch_logit - np_logit) > 1e-3 * (1 + abs(torch_logit)):
        raise SystemExit(f"train: BN folding check failed: PyTorch {torch_logit} vs folded {np_logit}")
    config = blob_config(width_x1000, a.square, a.margin, 0.5)
    selftest = make_selftest(tensors, config)
    size = write_classifier_blob(a.out, tensors, config, selftest)
    check = fmblob.run_selftest(fmblob.read_blob(a.out))
    print(f"train: wrote {a.out} ({size} bytes); folding check |PyTorch - folded| = {abs(torch_logit - np_logit):.2e}; "
          f"self-test ok={check['ok']} (max diff {check['max_abs_diff']:.2e})")
    if not check["ok"]:
        raise SystemExit("train: the blob's self-test failed")
    if a.no_eval:
        return 0

    # threshold on eval-dev (engine), moved into the output bias; final table
    classify = os.path.join(a.build, "classify_boxes")
    rows = ev.run_engine(classify, a.out, a.shared, a.work)
    threshold = ev.choose_threshold(rows)
    tensors, shift = shift_output_bias(tensors, threshold)
    config["threshold"] = 0.5
    selftest = make_selftest(tensors, config)
    size = write_classifier_blob(a.out, tensors, config, selftest)
    check = fmblob.run_selftest(fmblob.read_blob(a.out))
    if not check["ok"]:
        raise SystemExit("train: the final blob's self-test failed")
    rows = ev.run_engine(classify, a.out, a.shared, a.work)
    table = ev.report(rows, 0.5)
    ms = ev.time_per_face(classify, a.out, a.shared, a.work)
    wall = time.time() - t_start
    print(f"train: threshold {threshold:.4f} chosen on eval-dev (faces >= 16 px, both sources: best balanced "
          f"accuracy), moved into fc2.b ({shift:+.4f}): the blob decides at p > 0.5")
    print(table)
    print(f"train: blob {a.out} {size} bytes; engine {ms:.2f} ms per face (crop + network, 1 thread); "
          f"wall {wall / 60:.1f} min (data {t_data:.0f} s, training {t_train:.0f} s)")
    summary = {"width": a.width, "init": a.init, "epochs": epochs, "lr": lr, "batch": a.batch, "seed": a.seed,
               "square": a.square, "margin": a.margin, "threshold_chosen": threshold, "bias_shift": shift,
               "blob_bytes": size,
               "ms_per_face": ms, "wall_s": wall, "train_s": t_train, "params": params,
               "metrics": ev.metrics_table(rows, 0.5)}
    tag = os.path.splitext(os.path.basename(a.out))[0]
    with open(os.path.join(a.work, f"summary_{tag}.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
