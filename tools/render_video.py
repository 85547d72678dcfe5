#!/usr/bin/python3
"""Render a synthetic door-camera video (raw rgb24, for facemask_watch tests) with its ground truth.

Faces cut from real photos (the tight face crops of ../shared/data/classifier/chandrikadeb7-...)
move over a synthetic hall background at known speeds: people enter from a side, cross, stand,
leave; one can put a mask on (a MaskTheFace template warped onto the face by its landmarks, slid
up over MASK_ON_FRAMES frames); a face can be blurred or missing for a few frames, a whole frame
can be blank (camera dropout). The ground truth is written beside the video as OUT.json:

  {"scenario", "width", "height", "frames", "blank": [frames],
   "people": [{"id", "sprite", "masked" (at the start), "mask_on" (frame the mask is fully on,
               or null), "first", "last" (frames the face is drawn in, partly or whole),
               "speed": [vx, vy] (px/frame, largest), "blurred": [...], "hidden": [...],
               "boxes": {"frame": [x1, y1, x2, y2]} (the face crop's rectangle, clipped to the
               frame, where drawn), "whole": [frames where the face is whole, sharp and drawn]}],
   "expect": {"people", "masked", "not_masked", "masked_after_alert"}}

"expect" holds the counts facemask_watch's summary must give: masked = masked all along,
not_masked = unmasked at the start, masked_after_alert = people who put a mask on.

  /usr/bin/python3 tools/render_video.py SCENARIO OUT.rgb [--size 320x240] [--frames N] [--shared DIR]
  /usr/bin/python3 tools/render_video.py --list

SCENARIO is a built-in name (--list) or a JSON file in the same form as SCENARIOS below
(positions are fractions of the frame's width and height, sizes fractions of its height, so a
scenario renders at any size). Deterministic: the same arguments give the same bytes. Needs
numpy and PIL (Debian python3-numpy, python3-pil). The frames are copies of shared pictures:
render them into a build folder only, never commit them.
"""
import argparse
import json
import os
import sys

import numpy as np
from PIL import Image, ImageFilter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import classifier_data  # noqa: E402  (mask_points, Templates, _composite: the training data's mask placement)

FACES = os.path.join("data", "classifier", "chandrikadeb7-face-mask-detection")
MASK_ON_FRAMES = 3        # the mask slides up from below the chin over this many frames
MASK_TYPE = "surgical_blue"
FEATHER = 0.06            # sprite edges fade over this fraction of its side

# Face crops this project's pipeline finds and labels correctly on their own over the background,
# named by their path under FACES. Chosen from the crops of 100 px or more (aspect 0.75-1.25):
# those facemask_watch (default long=320) found as one face with the right label (p(masked)
# > 0.9 or < 0.1) at 10 places, sizes 0.20-0.30 of the height, at 320x240, 640x480 and
# 1280x720; most masked crops failed somewhere (the detector misses very tight masked faces).
# The 'sprites' scenario checks them again. "lm": the detector's five landmarks (eyes, nose,
# mouth corners) as fractions of the crop (example_annotate --json --scale long=320
# --no-classify on the crop itself), for the mask of a "mask_on" person; given for the crops
# whose masked copy passed the same check at sizes of 0.26 and more.
SPRITES = {
    "masked/0_0_6_copy_6.jpg": {},
    "masked/Screenshot__316_.png": {},
    "masked/Screenshot__323_.png": {},
    "masked/Screenshot__343_.png": {},
    "masked/Screenshot__365_.png": {},
    "masked/Screenshot__392_.png": {},
    "not_masked/0_0_zhangziyi_0037.jpg": {"lm": [[0.373, 0.405], [0.764, 0.378], [0.645, 0.611], [0.396, 0.745], [0.782, 0.723]]},
    "not_masked/1_0_xinzi_0070.jpg": {},
    "not_masked/1_0_qiqi_0077.jpg": {"lm": [[0.344, 0.361], [0.747, 0.43], [0.552, 0.648], [0.264, 0.692], [0.69, 0.752]]},
    "not_masked/0_0_ouhao_0049.jpg": {"lm": [[0.264, 0.408], [0.636, 0.42], [0.446, 0.601], [0.28, 0.749], [0.593, 0.76]]},
    "not_masked/0_0_zhangluyi_0087.jpg": {},
    "not_masked/1_0_fanyichen_0031.jpg": {"lm": [[0.295, 0.427], [0.681, 0.387], [0.5, 0.649], [0.358, 0.773], [0.681, 0.74]]},
}

M1, M2, M3, M4, M5, M6 = (k for k in SPRITES if k.startswith("masked/"))
U1, U2, U3, U4, U5, U6 = (k for k in SPRITES if k.startswith("not_masked/"))

# Each person: sprite, size (fraction of the height), path: [frame, x, y] keyframes of the face
# centre (fractions; linear in between; drawn from the first to the last keyframe), optional
# mask_on (frame the mask is fully on), blur / hide (frames). No two faces' boxes overlap
# (but in 'overlap').
SCENARIOS = {
    "cross": {"about": "two people cross the hall in opposite directions (one not masked), both leave",
              "frames": 60, "people": [
                  {"sprite": U2, "size": 0.28, "path": [[0, -0.1, 0.28], [40, 1.1, 0.28]]},
                  {"sprite": M1, "size": 0.28, "path": [[4, 1.1, 0.72], [44, -0.1, 0.72]]}]},
    "arrivals": {"about": "three people enter at different times from both sides and stay (one not masked)",
                 "frames": 70, "people": [
                     {"sprite": M2, "size": 0.28, "path": [[0, -0.1, 0.3], [12, 0.18, 0.3], [69, 0.18, 0.3]]},
                     {"sprite": U3, "size": 0.28, "path": [[15, 1.1, 0.45], [27, 0.82, 0.45], [69, 0.82, 0.45]]},
                     {"sprite": M4, "size": 0.28, "path": [[30, -0.1, 0.72], [48, 0.5, 0.72], [69, 0.5, 0.72]]}]},
    "replace": {"about": "one person (not masked) walks in, stands, leaves to the right; a new one (masked) "
                         "comes in from the right 3 frames later",
                "frames": 75, "people": [
                    {"sprite": U6, "size": 0.28, "path": [[0, -0.1, 0.4], [10, 0.45, 0.4], [25, 0.45, 0.4],
                                                          [35, 1.1, 0.4]]},
                    {"sprite": M5, "size": 0.28, "path": [[38, 1.1, 0.5], [50, 0.6, 0.5], [74, 0.6, 0.5]]}]},
    "mask_on": {"about": "a person without a mask walks in, stands and puts a mask on; a masked one stands by",
                "frames": 70, "people": [
                    {"sprite": U1, "size": 0.28, "path": [[0, -0.1, 0.4], [12, 0.3, 0.4], [69, 0.3, 0.4]],
                     "mask_on": 36},
                    {"sprite": M3, "size": 0.28, "path": [[0, 0.75, 0.5], [69, 0.75, 0.5]]}]},
    "masked_only": {"about": "three masked people: one stands, two cross (no alert)",
                    "frames": 60, "people": [
                        {"sprite": M6, "size": 0.28, "path": [[0, 0.5, 0.55], [59, 0.5, 0.55]]},
                        {"sprite": M1, "size": 0.28, "path": [[0, -0.1, 0.2], [40, 1.1, 0.2]]},
                        {"sprite": M4, "size": 0.28, "path": [[5, 1.1, 0.85], [45, -0.1, 0.85]]}]},
    "gaps": {"about": "a slow walker (not masked) blurred for 3 frames, a masked one hidden for 4, "
                      "blank frames 20, 21 and 45",
             "frames": 70, "blank": [20, 21, 45], "people": [
                 {"sprite": U5, "size": 0.28, "path": [[0, 0.1, 0.35], [69, 0.65, 0.35]], "blur": [30, 31, 32]},
                 {"sprite": M5, "size": 0.28, "path": [[0, 0.8, 0.7], [69, 0.8, 0.7]],
                  "hide": [50, 51, 52, 53]}]},
    "edges": {"about": "six masked people come in slowly from both sides (half faces for ~15 frames), "
                       "stand, and go out the same way (no alert)", "frames": 150, "people": [
                  {"sprite": m, "size": 0.25, "path": [[8 * i, x0, y], [8 * i + 40, x1, y], [8 * i + 55, x1, y],
                                                       [8 * i + 95, x0, y]]}
                  for i, (m, x0, x1, y) in enumerate([
                      (M1, -0.12, 0.3, 0.2), (M2, 1.12, 0.7, 0.5), (M3, -0.12, 0.3, 0.8),
                      (M4, 1.12, 0.7, 0.2), (M5, -0.12, 0.3, 0.5), (M6, 1.12, 0.7, 0.8)])]},
    "overlap": {"about": "two people cross at the same height, faces overlapping (not in the tests: "
                         "the tracker may swap their ids)", "frames": 60, "people": [
                    {"sprite": U2, "size": 0.28, "path": [[0, -0.1, 0.45], [40, 1.1, 0.45]]},
                    {"sprite": M1, "size": 0.28, "path": [[0, 1.1, 0.55], [40, -0.1, 0.55]]}]},
    "busy": {"about": "the benchmark video: six people, one standing, five crossing at different heights "
                      "and times, 150 frames", "frames": 150, "people": [
                 {"sprite": M3, "size": 0.25, "path": [[0, 0.5, 0.5], [149, 0.5, 0.5]]},
                 {"sprite": U1, "size": 0.25, "path": [[0, -0.1, 0.18], [60, 1.1, 0.18]]},
                 {"sprite": U1, "size": 0.25, "path": [[75, 1.1, 0.18], [135, -0.1, 0.18]]},
                 {"sprite": M2, "size": 0.25, "path": [[10, 1.1, 0.84], [70, -0.1, 0.84]]},
                 {"sprite": U4, "size": 0.25, "path": [[78, -0.1, 0.84], [149, 1.1, 0.84]]},
                 {"sprite": M6, "size": 0.2, "path": [[20, 1.1, 0.5], [60, 0.82, 0.5], [149, 0.82, 0.5]]}]},
}


def sprites_scenario():
    """Every sprite alone at three places and two sizes, a frame each; the mask_on sprites also masked."""
    people, f = [], 0
    places = [(0.25, 0.3, 0.26), (0.5, 0.55, 0.3), (0.75, 0.7, 0.28)]
    for name, info in SPRITES.items():
        for mask_on in ([None, 0] if info.get("lm") else [None]):
            for x, y, size in places:
                people.append({"sprite": name, "size": size, "path": [[f, x, y], [f, x, y]], "mask_on": mask_on})
                f += 1
    return {"about": "each sprite alone (the check that the pipeline finds and labels them)", "frames": f,
            "people": people}


SCENARIOS["sprites"] = sprites_scenario()


def parse_size(s):
    try:
        w, h = (int(v) for v in s.split("x"))
    except ValueError:
        raise SystemExit("render_video: --size wants WxH, not %r" % s)
    if not (16 <= w <= 4096 and 16 <= h <= 4096):
        raise SystemExit("render_video: --size %s out of range" % s)
    return w, h


def background(w, h, seed):
    """A hall: a wall with a vertical gradient and soft stains, a darker floor, a door frame."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    wall = rng.uniform(140, 200, size=3).astype(np.float32)
    img = np.broadcast_to(wall * (1.05 - 0.25 * y), (h, w, 3)).copy()
    floor = int(h * 0.82)
    img[floor:] = rng.uniform(60, 100, size=3).astype(np.float32)
    x0, x1, y0 = int(w * 0.38), int(w * 0.62), int(h * 0.12)
    t = max(2, w // 80)
    door = rng.uniform(50, 90, size=3).astype(np.float32)
    img[y0:floor, x0:x0 + t] = door
    img[y0:floor, x1 - t:x1] = door
    img[y0:y0 + t, x0:x1] = door
    img[y0 + t:floor, x0 + t:x1 - t] *= 0.8
    stains = Image.fromarray(rng.integers(0, 256, size=(h // 20 + 2, w // 20 + 2), dtype=np.uint8))
    stains = stains.resize((w, h), Image.BILINEAR).filter(ImageFilter.GaussianBlur(w / 50))
    img += 0.25 * (np.asarray(stains, dtype=np.float32)[:, :, None] - 128)
    pic = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    return np.asarray(pic.filter(ImageFilter.GaussianBlur(max(1, w // 320))), dtype=np.float32)


def feather_alpha(w, h):
    ramp = lambda n: np.clip((np.minimum(np.arange(n), np.arange(n)[::-1]) + 0.5) / max(1.0, FEATHER * n), 0, 1)
    return (ramp(h)[:, None] * ramp(w)[None, :]).astype(np.float32)[:, :, None]


def homography(src, dst):
    """3x3 H with dst ~ H src (least squares over the point pairs, h33 = 1)."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y]); rhs.append(u)
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y]); rhs.append(v)
    h = np.linalg.lstsq(np.asarray(rows, float), np.asarray(rhs, float), rcond=None)[0]
    return np.append(h, 1.0).reshape(3, 3)


class Sprite:
    """One person's face at its size on screen: plain, blurred and (for mask_on) masked."""

    def __init__(self, shared, name, size_px, templates=None):
        path = os.path.join(shared, FACES, name)
        if name not in SPRITES:
            raise SystemExit("render_video: %s is not in SPRITES (checked sprites only)" % name)
        if not os.path.exists(path):
            raise SystemExit("render_video: no %s" % path)
        src = Image.open(path).convert("RGB")
        h = int(round(size_px))
        w = int(round(size_px * src.width / src.height))
        self.w, self.h = w, h
        self.masked = name.startswith("masked/")
        self.plain = np.asarray(src.resize((w, h), Image.BILINEAR), dtype=np.uint8)
        self.alpha = feather_alpha(w, h)
        self.blurred = np.asarray(Image.fromarray(self.plain).filter(ImageFilter.GaussianBlur(0.08 * h)),
                                  dtype=np.uint8)
        self.mask_layer = None
        if templates is not None:
            self.mask_layer = self._mask_layer(name, templates)

    def _mask_layer(self, name, templates):
        """The mask template warped onto this face (premultiplied float RGBA, sprite size)."""
        lm = SPRITES[name].get("lm")
        if not lm:
            raise SystemExit("render_video: %s has no landmarks for a mask_on person" % name)
        pts = classifier_data.mask_points([(x * self.w, y * self.h) for x, y in lm])
        if pts is None:
            raise SystemExit("render_video: %s: unusable landmarks" % name)
        prem, anchors = templates.mtf[MASK_TYPE]
        dst = np.array([pts[k] for k in "abcdef"], float)
        # shrink the template to about twice its width on the face first (no aliasing)
        f = min(1.0, 2.0 * max(8.0, float(np.linalg.norm(dst[2] - dst[0]))) / prem.shape[1])
        tw, th = max(2, int(round(prem.shape[1] * f))), max(2, int(round(prem.shape[0] * f)))
        small = [Image.fromarray(np.ascontiguousarray(prem[:, :, c]), "F").resize((tw, th), Image.BOX)
                 for c in range(4)]
        inv = homography(dst, anchors * [tw / prem.shape[1], th / prem.shape[0]])  # sprite -> template
        coeffs = (inv / inv[2, 2]).flatten()[:8]
        return np.stack([np.asarray(c.transform((self.w, self.h), Image.PERSPECTIVE, tuple(coeffs), Image.BILINEAR))
                         for c in small], axis=2)

    def pixels(self, blurred, mask_shift):
        """uint8 RGB face; mask_shift: None no mask, else the fraction of its height it is still low."""
        if mask_shift is None:
            return self.blurred if blurred else self.plain
        img = self.plain.copy()
        layer = self.mask_layer
        dy = int(round(mask_shift * self.h * 0.5))
        if dy:
            layer = np.zeros_like(layer)
            layer[dy:] = self.mask_layer[:-dy]
        classifier_data._composite(img, layer)
        if blurred:
            img = np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(0.08 * self.h)), dtype=np.uint8)
        return img


def position(path, f):
    """Face centre (fractions) at frame f, or None outside the path's frames."""
    if f < path[0][0] or f > path[-1][0]:
        return None
    for (f0, x0, y0), (f1, x1, y1) in zip(path, path[1:]):
        if f0 <= f <= f1:
            t = 0.0 if f1 == f0 else (f - f0) / (f1 - f0)
            return x0 + t * (x1 - x0), y0 + t * (y1 - y0)
    return tuple(path[-1][1:])


def render(scenario, name, w, h, shared, out_path, frames=None):
    n = int(frames or scenario["frames"])
    people = scenario["people"]
    templates = classifier_data.Templates(shared) if any(p.get("mask_on") is not None for p in people) else None
    sprites = [Sprite(shared, p["sprite"], p["size"] * h, templates if p.get("mask_on") is not None else None)
               for p in people]
    bg = background(w, h, scenario.get("seed", 1))
    rng = np.random.default_rng(scenario.get("seed", 1) + 1000)
    noise = [rng.normal(0, 2.0, size=(h, w, 3)).astype(np.float32) for _ in range(4)]
    blank = set(scenario.get("blank", []))
    truth = [{"id": i + 1, "sprite": p["sprite"], "masked": sprites[i].masked, "mask_on": p.get("mask_on"),
              "first": None, "last": None, "speed": [0.0, 0.0], "blurred": [], "hidden": [], "boxes": {},
              "whole": []} for i, p in enumerate(people)]
    for t, p in zip(truth, people):
        for (f0, x0, y0), (f1, x1, y1) in zip(p["path"], p["path"][1:]):
            if f1 > f0 and abs(x1 - x0) * w / (f1 - f0) + abs(y1 - y0) * h / (f1 - f0) > sum(map(abs, t["speed"])):
                t["speed"] = [round((x1 - x0) * w / (f1 - f0), 2), round((y1 - y0) * h / (f1 - f0), 2)]
    with open(out_path, "wb") as out:
        for f in range(n):
            if f in blank:
                out.write(np.full((h, w, 3), 40, np.uint8).tobytes())
                continue
            img = bg + noise[f % len(noise)]
            for p, s, t in zip(people, sprites, truth):
                c = position(p["path"], f)
                if c is None:
                    continue
                if f in p.get("hide", []):
                    t["hidden"].append(f)
                    continue
                x1, y1 = int(round(c[0] * w - s.w / 2)), int(round(c[1] * h - s.h / 2))
                cx1, cy1, cx2, cy2 = max(0, x1), max(0, y1), min(w, x1 + s.w), min(h, y1 + s.h)
                if cx2 <= cx1 or cy2 <= cy1:
                    continue
                blurred = f in p.get("blur", [])
                shift = None
                if p.get("mask_on") is not None and f > p["mask_on"] - MASK_ON_FRAMES:
                    shift = max(0, p["mask_on"] - f) / MASK_ON_FRAMES
                face = s.pixels(blurred, shift)[cy1 - y1:cy2 - y1, cx1 - x1:cx2 - x1].astype(np.float32)
                a = s.alpha[cy1 - y1:cy2 - y1, cx1 - x1:cx2 - x1]
                img[cy1:cy2, cx1:cx2] = img[cy1:cy2, cx1:cx2] * (1 - a) + face * a
                t["first"] = f if t["first"] is None else t["first"]
                t["last"] = f
                t["boxes"][str(f)] = [cx1, cy1, cx2, cy2]
                if blurred:
                    t["blurred"].append(f)
                elif (cx1, cy1, cx2, cy2) == (x1, y1, x1 + s.w, y1 + s.h):
                    t["whole"].append(f)
            out.write(np.clip(img + 0.5, 0, 255).astype(np.uint8).tobytes())
    masked = sum(1 for t in truth if t["masked"])
    mask_on = sum(1 for t in truth if t["mask_on"] is not None)
    return {"scenario": name, "width": w, "height": h, "frames": n, "blank": sorted(b for b in blank if b < n),
            "mask_on_frames": MASK_ON_FRAMES, "people": truth,
            "expect": {"people": len(truth), "masked": masked, "not_masked": len(truth) - masked,
                       "masked_after_alert": mask_on}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scenario", nargs="?")
    ap.add_argument("out", nargs="?")
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--frames", type=int, help="render this many frames instead of the scenario's")
    ap.add_argument("--shared", default=classifier_data.DEFAULT_SHARED)
    ap.add_argument("--list", action="store_true", help="the built-in scenarios")
    a = ap.parse_args()
    if a.list:
        for k in sorted(SCENARIOS):
            print(k, "-", SCENARIOS[k].get("about", ""))
        return
    if not a.scenario or not a.out:
        ap.error("give SCENARIO and OUT.rgb (or --list)")
    if a.scenario in SCENARIOS:
        sc = SCENARIOS[a.scenario]
    elif os.path.exists(a.scenario):
        with open(a.scenario) as f:
            sc = json.load(f)
    else:
        raise SystemExit("render_video: no scenario %r (built in: %s)" % (a.scenario, ", ".join(sorted(SCENARIOS))))
    w, h = parse_size(a.size)
    truth = render(sc, os.path.basename(a.scenario), w, h, a.shared, a.out, a.frames)
    with open(a.out + ".json", "w") as f:
        json.dump(truth, f)


if __name__ == "__main__":
    main()
