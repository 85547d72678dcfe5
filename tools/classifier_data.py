#!/usr/bin/python3
"""Training data for the mask classifier: faces found by facemask's own detector, real and
artificial masks, and the exact crop the engine classifies.

    /usr/bin/python3 tools/classifier_data.py [--shared ../shared] [--build build] [--work build/classifier-work]

(tools/train_classifier.py calls this itself; run it alone to inspect or refresh the cache.)

Steps, all deterministic (sorted file lists, per-item seeds from SHA-256 of names):

1. Detection.  Every picture under SHARED/data/classifier/<source>/<class>/ goes through
   example_annotate --json with --scale long=320 --conf 0.5 (and --no-draw --quiet
   --no-classify: detection only, independent of any earlier classifier).  Most of these pictures are tight
   face crops; at long=640 the detector splits a frame-filling face into extra boxes (19 % of
   the not_masked crops got two or more faces), at the pictures' own size it misses small
   masked crops (13 %); long=320 found a face in 99-100 % of a sample of each folder.
2. Faces kept per picture: the best-scoring face always (score > 0.5), plus any other face with
   score >= 0.9 whose box is at least half the best one's (whole photos with several people in
   masked/).  Faces under 20 px (short side of the box) are dropped.
3. Artificial masks, on every not_masked face whose landmarks are usable (all but 18): two
   variants per face.  The first is a MaskTheFace template, warped with a perspective
   transform (cv2.findHomography of its six masks.cfg anchor points) onto six points derived
   from the five landmarks (see mask_points: nose bridge, jaw at nose-tip height, jaw at
   lower-lip height, chin), its _left/_right variant used when the nose is off the eyes'
   midline by more than 0.12 eye distances.  The second is another MaskTheFace template (2 faces
   in 3) or a prajnasb template placed the original project's way (paste_prajnasb).  The
   template is chosen from the face's name, recoloured or shaded at random (seeded), and
   alpha-composited (premultiplied) on the whole picture in 8-bit RGB.
4. Context.  Each face keeps only the region its crops can reach (a square of 2.4x the box's
   long side around its centre, clipped to the picture); when the face box is longer than
   160 px the region is reduced (PIL BILINEAR, antialiased) so that the box is 160 px: a crop
   of a larger face would be reduced to 112 px anyway.  Contexts are stored as one uint8 file
   plus a JSON index under WORK (build/classifier-work by default; not committed).
   Augmentation (box jitter, rotation, lower resolution, colour, blur, noise, flips) happens
   at training time (train_classifier.py), each crop still cut by the engine's rule.

The crop (classifier.hpp, binding): the box around its centre, square (both sides = the longer
one) if crop_square, grown by crop_margin on every side, clipped to the picture (not shifted),
then resampled to 112x112 by PIL's Image.resize(..., BILINEAR, box=rect) on float "F" images,
one per channel -- the engine's resampler -- then BGR minus (104, 117, 123).  face_crop() and
crop_pixels() below are that definition.
"""
import argparse
import configparser
import hashlib
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
from PIL import Image, ImageOps

# cv2 is imported by the functions that use it (_warp, _prescale, paste_masktheface), so that
# tools/render_video.py can use mask_points and Templates without OpenCV.

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SHARED = os.path.join(os.path.dirname(REPO), "shared")
DEFAULT_BUILD = os.path.join(REPO, "build")
DEFAULT_WORK = os.path.join(REPO, "build", "classifier-work")

DETECT_SCALE = "long=320"
DETECT_CONF = 0.5
EXTRA_FACE_SCORE = 0.9          # other faces of a picture kept at this score or more ...
EXTRA_FACE_RATIO = 0.5          # ... if their box is at least this fraction of the best one
MIN_FACE = 20                   # faces smaller than this (short side, px) are dropped
CONTEXT_SIDE = 2.4              # context square side, times the box's long side
MAX_FACE = 160                  # faces longer than this are reduced to it in their context

INPUT_SIZE = 112
MEAN_BGR = (104.0, 117.0, 123.0)
DATA_VERSION = 4                # bump when anything below changes the prepared data

CLASSES = ("masked", "not_masked")


# ---------------------------------------------------------------------------------------------
# the engine's crop (include/facemask/classifier.hpp), and its pixels
# ---------------------------------------------------------------------------------------------

def f32(x):
    """x rounded to binary32 (the engine computes the box centre in double from float corners
    and returns the rect as floats)."""
    return float(np.float32(x))


def face_crop(box, pic_w, pic_h, square, margin):
    """classifier.hpp face_crop(): (x0, y0, x1, y1) as the engine's float Rect, or None."""
    x1, y1, x2, y2 = (f32(v) for v in box)
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)):
        return None
    margin = f32(margin)
    cx, cy = 0.5 * (x1 + x2), 0.5 * (y1 + y2)
    w, h = x2 - x1, y2 - y1
    if not (w > 0 and h > 0):
        return None
    if square:
        w = h = max(w, h)
    w *= 1.0 + 2.0 * margin
    h *= 1.0 + 2.0 * margin
    r0, r1, s0, s1 = cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2
    r0, s0 = max(r0, 0.0), max(s0, 0.0)
    r1, s1 = min(r1, float(pic_w)), min(s1, float(pic_h))
    if not (r1 - r0 >= 1.0 and s1 - s0 >= 1.0):
        return None
    return (f32(r0), f32(s0), f32(r1), f32(s1))


def channel_images(rgb):
    """uint8 or float HxWx3 RGB -> three PIL "F" images (one per channel)."""
    a = np.asarray(rgb, dtype=np.float32)
    return [Image.fromarray(np.ascontiguousarray(a[:, :, c]), "F") for c in range(3)]


def crop_pixels(channels, rect, size=INPUT_SIZE):
    """The rect of a picture (as channel_images) resampled to size x size: float32 HxWx3 RGB,
    the engine's resampler (PIL BILINEAR with a fractional box, per channel)."""
    out = [np.asarray(ch.resize((size, size), Image.BILINEAR, box=rect), dtype=np.float32)
           for ch in channels]
    return np.stack(out, axis=2)


def network_input(rgb112):
    """float RGB HxWx3 -> the network's normalised CHW input: BGR minus (104, 117, 123)."""
    bgr = rgb112[:, :, ::-1] - np.asarray(MEAN_BGR, dtype=np.float32)
    return np.ascontiguousarray(bgr.transpose(2, 0, 1), dtype=np.float32)


def load_rgb(path):
    """A picture as uint8 HxWx3 RGB, upright (JPEG EXIF orientation applied, as the engine)."""
    with Image.open(path) as im:
        if im.format == "JPEG":
            im = ImageOps.exif_transpose(im)
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def stable_seed(*parts):
    """A 64-bit seed from names: the same on every machine and run."""
    h = hashlib.sha256("\0".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:8], "little")


# ---------------------------------------------------------------------------------------------
# detection with facemask's own detector
# ---------------------------------------------------------------------------------------------

def training_pictures(shared):
    """[(path relative to the shared folder, class, source)] of every training picture, sorted."""
    base = os.path.join(shared, "data", "classifier")
    out = []
    for source in sorted(os.listdir(base)):
        for cls in CLASSES:
            folder = os.path.join(base, source, cls)
            if not os.path.isdir(folder):
                continue
            for name in sorted(os.listdir(folder)):
                if name.lower().endswith((".jpg", ".jpeg", ".png")):
                    out.append((os.path.join("data", "classifier", source, cls, name), cls, source))
    if not out:
        raise SystemExit(f"classifier_data: no training pictures under {base}")
    return out


def find_tool(build, name):
    path = os.path.join(build, name)
    if not os.access(path, os.X_OK):
        raise SystemExit(f"classifier_data: {path} not found; build it first "
                         f"(cmake --build {build} --target {name})")
    return path


def detect_all(annotate, shared, rel_paths, out_jsonl, jobs=2, chunk=250):
    """Runs example_annotate over the pictures (jobs processes in parallel, one thread each,
    nothing drawn); writes the JSON lines in the order of rel_paths."""
    chunks = [rel_paths[i:i + chunk] for i in range(0, len(rel_paths), chunk)]
    parts = [out_jsonl + f".part{i}" for i in range(len(chunks))]
    running = []
    for i, names in enumerate(chunks):
        cmd = [annotate, "--json", parts[i], "--scale", DETECT_SCALE, "--conf", str(DETECT_CONF),
               "--threads", "1", "--no-draw", "--quiet", "--no-classify"] + names
        running.append(subprocess.Popen(cmd, cwd=shared, stdout=subprocess.DEVNULL))
        while len([p for p in running if p.poll() is None]) >= jobs:
            time.sleep(0.05)
    for p in running:
        if p.wait() != 0:
            raise SystemExit(f"classifier_data: example_annotate failed ({' '.join(p.args[:14])} ...)")
    by_image = {}
    for part in parts:
        with open(part) as f:
            for line in f:
                j = json.loads(line)
                by_image[j["image"]] = j
        os.unlink(part)
    missing = [p for p in rel_paths if p not in by_image]
    if missing:
        raise SystemExit(f"classifier_data: no detection result for {missing[:3]}")
    tmp = out_jsonl + ".tmp"
    with open(tmp, "w") as f:
        for p in rel_paths:
            f.write(json.dumps(by_image[p], sort_keys=True) + "\n")
    os.replace(tmp, out_jsonl)


def select_faces(faces):
    """The faces of a training picture that get its folder's label (see the module comment)."""
    faces = [f for f in faces if min(f["box"][2] - f["box"][0], f["box"][3] - f["box"][1]) >= MIN_FACE]
    if not faces:
        return []
    faces = sorted(faces, key=lambda f: -f["score"])
    best = faces[0]
    side = lambda f: max(f["box"][2] - f["box"][0], f["box"][3] - f["box"][1])  # noqa: E731
    keep = [best]
    for f in faces[1:]:
        if f["score"] >= EXTRA_FACE_SCORE and side(f) >= EXTRA_FACE_RATIO * side(best):
            keep.append(f)
    return keep


# ---------------------------------------------------------------------------------------------
# artificial masks
# ---------------------------------------------------------------------------------------------
# Geometry from the five landmarks.  A face frame: origin at the eyes' midpoint, x along the
# line from the left to the right eye (as seen), y perpendicular, pointing down; the unit is the
# eye distance.  Ratios come from a mean frontal 68-point face shape (OpenFace's alignment
# template): there the mouth centre lies 1.091 below the eyes, the nose tip 0.595, the middle of
# the nose bridge (mean of points 27-30) 0.287, the lower lip 1.349 and the chin 1.922; the jaw
# is 1.12 from the centre line at nose height (2.24 x the nose-to-eye offset) and 0.85 at lower
# lip height (1.89 x the mouth-centre-to-corner offset).  Scaling each side by the offset of
# that side's eye or mouth corner from the nose / mouth centre foreshortens the side the head
# turns away from, which is what a yawed face looks like.

EYE_MOUTH = 1.091
BRIDGE_MID, BRIDGE_QUARTER, NOSE_TIP = 0.287, 0.184, 0.595
LOWER_LIP, CHIN = 1.349, 1.922
JAW_AT_NOSE, JAW_AT_LIP = 2.24, 1.89
YAW_TURNED = 0.12               # |nose offset| / eye distance above which a _left/_right template


def face_frame(lm):
    """(origin, x unit, y unit, eye distance) of the face frame, or None for unusable landmarks."""
    lm = np.asarray(lm, dtype=np.float64)
    le, re = lm[0], lm[1]
    d = float(np.linalg.norm(re - le))
    if d < 4.0:
        return None
    ex = (re - le) / d
    ey = np.array([-ex[1], ex[0]])
    return (le + re) / 2, ex, ey, d


def mask_points(lm):
    """Landmark-derived points (picture pixels) for mask placement, and the yaw ratio.

    Returns dict with a, b, c, d, e, f (MaskTheFace's six), bridge_quarter, chin, jaw_l, jaw_r,
    and 'yaw' (nose x offset over eye distance; < 0: nose towards the picture-left eye)."""
    fr = face_frame(lm)
    if fr is None:
        return None
    o, ex, ey, dist = fr
    lm = np.asarray(lm, dtype=np.float64)

    def to_frame(p):
        q = p - o
        return np.array([q @ ex, q @ ey]) / dist

    def to_pic(x, y):
        return o + (x * ex + y * ey) * dist

    nx, ny = to_frame(lm[2])
    mlx, mly = to_frame(lm[3])
    mrx, mry = to_frame(lm[4])
    mx, my = (mlx + mrx) / 2, (mly + mry) / 2
    if not (0.5 < my < 2.0 and 0.15 < ny < my and mrx - mlx > 0.2):
        return None
    if not (-0.45 < nx < 0.45):
        return None
    v = my / EYE_MOUTH                       # vertical unit (pitch shortens it)

    def nose_line(y):                         # x of the nose ridge at frame height y
        return nx * min(y / (NOSE_TIP * v), 1.0)

    y_nose = ny
    y_lip = my + (LOWER_LIP - EYE_MOUTH) * v
    y_chin = my + (CHIN - EYE_MOUTH) * v
    left_n, right_n = JAW_AT_NOSE * (nx + 0.5), JAW_AT_NOSE * (0.5 - nx)
    left_m, right_m = JAW_AT_LIP * (mx - mlx), JAW_AT_LIP * (mrx - mx)
    pts = {
        "a": to_pic(nx - left_n, y_nose),
        "b": to_pic(nose_line(BRIDGE_MID * v), BRIDGE_MID * v),
        "c": to_pic(nx + right_n, y_nose),
        "d": to_pic(mx - left_m, y_lip),
        "e": to_pic(mx, y_chin),
        "f": to_pic(mx + right_m, y_lip),
        "bridge_quarter": to_pic(nose_line(BRIDGE_QUARTER * v), BRIDGE_QUARTER * v),
        "chin": to_pic(mx, y_chin),
        "jaw_l": to_pic(nx - left_n, y_nose + 0.04 * v),
        "jaw_r": to_pic(nx + right_n, y_nose + 0.04 * v),
        "yaw": nx,
    }
    return pts


class Templates:
    """The mask templates: MaskTheFace (six anchor points each, masks.cfg) and prajnasb."""

    def __init__(self, shared):
        base = os.path.join(shared, "data", "mask-templates")
        cfg = configparser.ConfigParser()
        mtf = os.path.join(base, "masktheface")
        cfg.read(os.path.join(mtf, "masks.cfg"))
        self.mtf = {}
        for name in cfg.sections():
            if "template" not in cfg[name]:
                continue                      # 'empty' / 'inpaint' entries have no picture
            png = os.path.join(mtf, os.path.basename(cfg[name]["template"]))
            if not os.path.exists(png):
                continue
            pts = [[float(v) for v in cfg[name][f"mask_{k}"].split(",")] for k in "abcdef"]
            self.mtf[name] = (_premultiplied(np.asarray(Image.open(png).convert("RGBA"), dtype=np.uint8)),
                              np.asarray(pts, dtype=np.float64))
        self.types = sorted(n for n in self.mtf if not n.endswith(("_left", "_right")))
        pj = os.path.join(base, "prajnasb-observations")
        self.prajnasb = {n: _premultiplied(np.asarray(Image.open(os.path.join(pj, n)).convert("RGBA"), dtype=np.uint8))
                         for n in sorted(os.listdir(pj)) if n.endswith(".png")}
        if not self.types or not self.prajnasb:
            raise SystemExit(f"classifier_data: mask templates missing under {base}")


def _premultiplied(rgba):
    """uint8 RGBA -> float32 premultiplied RGBA (RGB * alpha / 255): resampling and warping a
    premultiplied template leaves no dark fringe where it turns transparent."""
    out = rgba.astype(np.float32)
    out[:, :, :3] *= out[:, :, 3:] / 255.0
    return out


def _tint(prem, rng, kind):
    """Colour variety on a premultiplied template: real masks come in every colour; the
    templates in a few.  Every change is linear in alpha, so it works premultiplied."""
    out = prem.copy()
    rgb, alpha = out[:, :, :3], out[:, :, 3:]
    r = rng.random()
    if kind != "gas" and r < 0.35:
        # a random fabric colour, keeping the template's shading (luminance)
        lum = rgb.mean(axis=2, keepdims=True) / 255.0
        rgb[:] = lum * rng.uniform(20, 255, size=3).astype(np.float32) * np.float32(rng.uniform(1.0, 1.4))
    elif r < 0.6:
        rgb *= rng.uniform(0.75, 1.1, size=3).astype(np.float32)
    rgb *= np.float32(rng.uniform(0.6, 1.05))                           # shade
    np.minimum(rgb, alpha, out=rgb)
    return out


def _composite(img, layer):
    """Blends a premultiplied float RGBA layer onto uint8 RGB img in place, inside the layer's
    non-transparent bounding box only."""
    ys, xs = np.nonzero(layer[:, :, 3] > 0)
    if len(ys) == 0:
        return
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    lay = layer[y0:y1, x0:x1]
    a = np.clip(lay[:, :, 3:] / 255.0, 0, 1)
    dst = img[y0:y1, x0:x1].astype(np.float32)
    img[y0:y1, x0:x1] = np.clip(np.rint(dst * (1 - a) + lay[:, :, :3]), 0, 255).astype(np.uint8)


def _warp(prem, matrix, out_w, out_h, perspective):
    """Warps a premultiplied template into picture coordinates (bilinear, transparent outside)."""
    import cv2
    if perspective:
        return cv2.warpPerspective(prem, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return cv2.warpAffine(prem, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=0)


def _prescale(prem, target_width):
    """Shrinks a premultiplied template (INTER_AREA) to about twice the width it will have on
    the face, so the warp does not alias; returns (template, factor)."""
    import cv2
    w = prem.shape[1]
    f = min(1.0, 2.0 * max(target_width, 8.0) / w)
    if f >= 1.0:
        return prem, 1.0
    nw, nh = max(2, int(round(w * f))), max(2, int(round(prem.shape[0] * f)))
    return cv2.resize(prem, (nw, nh), interpolation=cv2.INTER_AREA), nw / w


def paste_masktheface(img, pts, templates, mask_type, rng):
    """MaskTheFace placement: template variant by yaw, perspective warp of its six anchor points
    onto a..f.  Modifies img (uint8 RGB) in place; returns the template name used."""
    import cv2
    yaw = pts["yaw"]
    name = mask_type
    if yaw < -YAW_TURNED and mask_type + "_left" in templates.mtf:
        name = mask_type + "_left"
    elif yaw > YAW_TURNED and mask_type + "_right" in templates.mtf:
        name = mask_type + "_right"
    prem, src = templates.mtf[name]
    dst = np.array([pts[k] for k in "abcdef"], dtype=np.float64)
    width = float(np.linalg.norm(dst[2] - dst[0]))
    small, s = _prescale(prem, width)
    small = _tint(small, rng, mask_type)
    hmat, _ = cv2.findHomography(src * s, dst, 0)
    if hmat is None:
        return None
    h, w = img.shape[:2]
    _composite(img, _warp(small, hmat, w, h, True))
    return name


def paste_prajnasb(img, pts, templates, name, rng):
    """prajnasb placement (the original project's): the template cut into halves, both as high
    as bridge-quarter-to-chin, each 1.2x as wide as its jaw point's distance from the nose-chin
    line, turned to the nose-chin angle, centred between the two points."""
    top, chin = np.asarray(pts["bridge_quarter"]), np.asarray(pts["chin"])
    axis = chin - top
    height = float(np.linalg.norm(axis))
    if height < 4:
        return None
    u = axis / height                         # down the face
    v = np.array([u[1], -u[0]])               # to the picture-right

    def line_dist(p):
        q = np.asarray(p) - top
        return abs(q @ v)

    wl, wr = 1.2 * line_dist(pts["jaw_l"]), 1.2 * line_dist(pts["jaw_r"])
    small, s = _prescale(templates.prajnasb[name], wl + wr)
    small = _tint(small, rng, "surgical")
    th, tw = small.shape[:2]
    half = tw / 2.0
    centre = (top + chin) / 2
    h, w = img.shape[:2]
    for side, width, x0 in (("l", wl, 0.0), ("r", wr, half)):
        # template (tx, ty) -> origin + v * (tx - x0) * width / half + u * ty * height / th
        sx = width / half
        origin = centre + v * (-wl if side == "l" else 0.0) - u * height / 2
        m = np.array([[v[0] * sx, u[0] * height / th, 0.0], [v[1] * sx, u[1] * height / th, 0.0]])
        m[:, 2] = origin - m[:, 0] * x0
        part = np.zeros_like(small)
        lo, hi = (0, int(math.ceil(half))) if side == "l" else (int(math.floor(half)), tw)
        part[:, lo:hi] = small[:, lo:hi]
        _composite(img, _warp(part, m, w, h, False))
    return name


def artificial_variants(face_id, templates):
    """The two (kind, template) pairs a not_masked face gets, chosen from its name."""
    seed = stable_seed("artificial", face_id)
    t = templates.types
    first = t[seed % len(t)]
    if (seed >> 8) % 3 == 0:
        second = ("prajnasb", sorted(templates.prajnasb)[(seed >> 16) % len(templates.prajnasb)])
    else:
        other = [x for x in t if x != first]
        second = ("masktheface", other[(seed >> 16) % len(other)])
    return [("masktheface", first), second]


# ---------------------------------------------------------------------------------------------
# contexts
# ---------------------------------------------------------------------------------------------

def cut_context(img, box, lm):
    """The region of a picture a face's crops can reach, reduced if the face is large.

    Returns (uint8 context, box, landmarks) in the context's pixel coordinates."""
    h, w = img.shape[:2]
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1)
    half = CONTEXT_SIDE * side / 2
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    r0, s0 = max(0, int(math.floor(cx - half))), max(0, int(math.floor(cy - half)))
    r1, s1 = min(w, int(math.ceil(cx + half))), min(h, int(math.ceil(cy + half)))
    ctx = img[s0:s1, r0:r1]
    fx = fy = 1.0
    if side > MAX_FACE:
        f = MAX_FACE / side
        nw, nh = max(1, int(round((r1 - r0) * f))), max(1, int(round((s1 - s0) * f)))
        ctx = np.asarray(Image.fromarray(ctx).resize((nw, nh), Image.BILINEAR), dtype=np.uint8)
        fx, fy = nw / (r1 - r0), nh / (s1 - s0)
    nbox = [(x1 - r0) * fx, (y1 - s0) * fy, (x2 - r0) * fx, (y2 - s0) * fy]
    nlm = [[(x - r0) * fx, (y - s0) * fy] for x, y in lm]
    return np.ascontiguousarray(ctx), nbox, nlm


# ---------------------------------------------------------------------------------------------
# the whole preparation
# ---------------------------------------------------------------------------------------------

def input_digest(shared, pictures, annotate):
    """What the cached data depends on: the picture list and sizes, the templates, this
    module's settings, and the detector blob."""
    h = hashlib.sha256()
    h.update(f"v{DATA_VERSION} {DETECT_SCALE} {DETECT_CONF} {EXTRA_FACE_SCORE} {EXTRA_FACE_RATIO} "
             f"{MIN_FACE} {CONTEXT_SIDE} {MAX_FACE}".encode())
    for rel, cls, src in pictures:
        st = os.stat(os.path.join(shared, rel))
        h.update(f"{rel} {st.st_size}\n".encode())
    tdir = os.path.join(shared, "data", "mask-templates")
    for root, _, files in sorted(os.walk(tdir)):
        for name in sorted(files):
            with open(os.path.join(root, name), "rb") as f:
                h.update(hashlib.sha256(f.read()).digest())
    with open(__file__, "rb") as f:
        h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()


def prepare(shared=DEFAULT_SHARED, build=DEFAULT_BUILD, work=DEFAULT_WORK, force=False, log=print):
    """Prepares (or reuses) the training data; returns (index dict, contexts uint8 array)."""
    os.makedirs(work, exist_ok=True)
    shared = os.path.abspath(shared)
    annotate = find_tool(build, "example_annotate")
    pictures = training_pictures(shared)
    digest = input_digest(shared, pictures, annotate)
    index_path = os.path.join(work, "samples.json")
    blob_path = os.path.join(work, "contexts.u8")
    if not force and os.path.exists(index_path) and os.path.exists(blob_path):
        with open(index_path) as f:
            index = json.load(f)
        if index.get("digest") == digest:
            log(f"classifier_data: reusing {index_path} ({len(index['samples'])} samples)")
            return index, np.fromfile(blob_path, dtype=np.uint8)

    t0 = time.time()
    det_path = os.path.join(work, "detections.jsonl")
    rel = [p for p, _, _ in pictures]
    det_key = hashlib.sha256(f"{DETECT_SCALE} {DETECT_CONF}\n{chr(10).join(rel)}".encode()).hexdigest()
    stamp = det_path + ".key"
    if force or not os.path.exists(stamp) or open(stamp).read() != det_key:
        log(f"classifier_data: detecting faces in {len(rel)} pictures ({DETECT_SCALE}, conf {DETECT_CONF})")
        detect_all(annotate, shared, rel, det_path)
        with open(stamp, "w") as f:
            f.write(det_key)
    dets = {}
    with open(det_path) as f:
        for line in f:
            j = json.loads(line)
            dets[j["image"]] = j
    log(f"classifier_data: detection took {time.time() - t0:.0f} s")

    templates = Templates(shared)
    samples, chunks, offset = [], [], 0
    stats = {"pictures": len(rel), "no_face": 0, "faces": 0, "artificial": 0, "artificial_skipped": 0}

    def add(ctx, box, lm, label, kind, source, image, face_id, template=None):
        nonlocal offset
        samples.append({"image": image, "source": source, "label": label, "kind": kind, "face": face_id,
                        "template": template, "offset": offset, "h": int(ctx.shape[0]), "w": int(ctx.shape[1]),
                        "box": [round(float(v), 4) for v in box],
                        "landmarks": [[round(float(x), 4), round(float(y), 4)] for x, y in lm]})
        chunks.append(ctx.reshape(-1))
        offset += ctx.size

    for rel_path, cls, source in pictures:
        j = dets[rel_path]
        faces = select_faces(j["faces"])
        if not faces:
            stats["no_face"] += 1
            continue
        img = load_rgb(os.path.join(shared, rel_path))
        if img.shape[1] != j["width"] or img.shape[0] != j["height"]:
            raise SystemExit(f"classifier_data: {rel_path}: decoded {img.shape[1]}x{img.shape[0]}, "
                             f"the engine saw {j['width']}x{j['height']}")
        for k, face in enumerate(faces):
            face_id = f"{rel_path}#{k}"
            ctx, box, lm = cut_context(img, face["box"], face["landmarks"])
            add(ctx, box, lm, 1 if cls == "masked" else 0, "real", source, rel_path, face_id)
            stats["faces"] += 1
            if cls != "not_masked":
                continue
            pts = mask_points(face["landmarks"])
            if pts is None:
                stats["artificial_skipped"] += 1
                continue
            for v, (family, tname) in enumerate(artificial_variants(face_id, templates)):
                rng = np.random.default_rng(stable_seed("paste", face_id, v))
                art = img.copy()
                if family == "masktheface":
                    used = paste_masktheface(art, pts, templates, tname, rng)
                else:
                    used = paste_prajnasb(art, pts, templates, tname, rng)
                if used is None:
                    continue
                ctx, box, lm = cut_context(art, face["box"], face["landmarks"])
                add(ctx, box, lm, 1, f"artificial{v}", source, rel_path, face_id, used)
                stats["artificial"] += 1

    contexts = np.concatenate(chunks) if chunks else np.zeros(0, np.uint8)
    tmp = blob_path + ".tmp"
    contexts.tofile(tmp)
    os.replace(tmp, blob_path)
    index = {"digest": digest, "version": DATA_VERSION, "detect_scale": DETECT_SCALE,
             "detect_conf": DETECT_CONF, "stats": stats, "samples": samples}
    tmp = index_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(index, f)
    os.replace(tmp, index_path)
    log(f"classifier_data: {stats}; contexts {contexts.size / 2**20:.0f} MiB; {time.time() - t0:.0f} s")
    return index, contexts


def context_image(contexts, s):
    """The uint8 HxWx3 context of a sample (a view into the contexts array)."""
    n = s["h"] * s["w"] * 3
    return contexts[s["offset"]:s["offset"] + n].reshape(s["h"], s["w"], 3)


def contact_sheet(index, contexts, path, kinds=None, count=64, seed=1, square=True, margin=0.0):
    """Debug: a grid of crops (detector boxes) of random samples, written as PNG."""
    rng = np.random.default_rng(seed)
    ss = [s for s in index["samples"] if kinds is None or s["kind"] in kinds]
    pick = rng.choice(len(ss), size=min(count, len(ss)), replace=False)
    cols = 8
    rows = (len(pick) + cols - 1) // cols
    sheet = np.zeros((rows * INPUT_SIZE, cols * INPUT_SIZE, 3), np.uint8)
    for i, p in enumerate(pick):
        s = ss[p]
        ctx = context_image(contexts, s)
        rect = face_crop(s["box"], s["w"], s["h"], square, margin)
        crop = crop_pixels(channel_images(ctx), rect)
        r, c = divmod(i, cols)
        sheet[r * INPUT_SIZE:(r + 1) * INPUT_SIZE, c * INPUT_SIZE:(c + 1) * INPUT_SIZE] = np.clip(np.rint(crop), 0, 255)
    Image.fromarray(sheet).save(path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", default=DEFAULT_SHARED, help="the shared folder (data/, weights/)")
    ap.add_argument("--build", default=DEFAULT_BUILD, help="build folder with example_annotate")
    ap.add_argument("--work", default=DEFAULT_WORK, help="cache folder for the prepared data")
    ap.add_argument("--force", action="store_true", help="prepare again even if the cache is current")
    ap.add_argument("--sheet", metavar="PNG", help="also write a contact sheet of crops")
    ap.add_argument("--sheet-kinds", default=None, help="comma-separated kinds for --sheet (real, artificial0, ...)")
    a = ap.parse_args(argv)
    index, contexts = prepare(a.shared, a.build, a.work, force=a.force)
    if a.sheet:
        contact_sheet(index, contexts, a.sheet, a.sheet_kinds.split(",") if a.sheet_kinds else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
