#!/usr/bin/env python3
"""Evaluates example_annotate --json output on annotated pictures, the way the original
face-mask project did (detection matched at IoU > 0.5; the table "identified and classified
correctly / identified but classified wrongly / not identified"; TNR, FNR; ROC with missed faces
counted as "masked"), plus detector recall and AP per face size.

    example_annotate --no-draw --quiet --conf 0.02 --json pred.jsonl DATA/SOURCE/images
    tools/evaluate.py --data DATA/SOURCE --pred pred.jsonl --markdown --roc roc.png

--data    a folder in the eval-dev format (images/ + annotations.csv with the header
          image,x1,y1,x2,y2,label), or a folder whose sub-folders are; may be repeated.
--pred    JSON Lines written by example_annotate --json; may be repeated (e.g. one per source)
          or one file for everything. Each line's "image" is matched to an annotated picture by
          its real path, else by its trailing path components (SOURCE/images/FILE, then
          images/FILE, which must then be unique).

Definitions (all of them are printed under the tables too):

- Face size: the short side of the annotated box, min(x2 - x1, y2 - y1) in pixels. Buckets:
  < 16, 16-31, >= 32.
- IoU: continuous coordinates, area = (x2 - x1) * (y2 - y1), no "+1". A match needs IoU > 0.5
  (strictly; --iou).
- Matching, per picture, one-to-one and greedy by score: the predicted faces are taken in order
  of decreasing score (equal scores: in file order); each takes, among the annotated faces not
  yet taken, the one with the highest IoU (equal IoU: the first in annotations.csv) if that IoU
  is > 0.5; otherwise it is a false positive. When some annotated faces are "ignore" regions
  (see AP), a prediction first looks among the non-ignored faces and only if none qualifies
  among the ignored ones; a prediction matched to an ignored face is neither a true nor a false
  positive. A matched annotated face is never taken again.
- Operating point: predictions with score > --conf (default 0.5, the engine's default) are the
  "identified" faces for recall, false positives, the classification table, TNR, FNR and ROC.
  Run the engine with a low --conf (e.g. 0.02) so that AP sees the whole precision/recall
  curve; greedy matching in score order makes the operating-point result the same as a run at
  --conf 0.5 (the engine's NMS is greedy in score order too).
- AP: VOC all-point interpolated average precision over every prediction in the file (all
  scores), pooled over the pictures of a source: precision made monotone from the right, summed
  over the recall steps. For the AP of a size range (e.g. ">= 16"), annotated faces outside the
  range are ignore regions: predictions matching them count neither as TP nor as FP, and they
  are not in the number of positives. Unmatched predictions of any size are false positives.
  "AP (COCO-style)" differs in one point, as COCO's area ranges do: an unmatched prediction whose
  own box (short side) is outside the range is left out too, so detections of small unannotated
  faces do not lower the AP of ">= 16".
- Recall of a bucket: annotated faces of that size matched by an identified face (the matching
  with no ignore regions) / annotated faces of that size.
- Classification: an identified face is called masked when its "mask" probability p > the
  threshold (--threshold, default 0.5; the engine's rule). TNR = not_masked faces identified and
  called not masked / not_masked faces identified; FNR = masked faces identified and called not
  masked / masked faces identified (faces not identified are left out, as the original did).
  Faces labelled "incorrect" (mask under the nose) are reported apart: how many were called
  masked and not masked.
- ROC of p(masked) with masked as the positive class, over the masked and not_masked annotated
  faces; faces not identified count as p = 1 ("masked"), as the original did; predictions that
  match no annotated face are left out. AUC = P(p of a masked face > p of a not_masked face),
  ties counting one half. "AUC identified" is the same over identified faces only.

Python standard library only. Exit status: 0 done, 1 bad input (unreadable files, a picture
predicted twice, a path that matches no or several annotated pictures), 2 bad arguments.
"""
import argparse
import csv
import json
import math
import os
import struct
import sys
import zlib

BUCKETS = (("< 16", 0, 16), ("16-31", 16, 32), (">= 32", 32, math.inf))
# Size ranges for the detection table: the buckets, then the cumulative ranges.
RANGES = BUCKETS + ((">= 16", 16, math.inf), ("all", 0, math.inf))
CLASS_RANGES = ((">= 32", 32, math.inf), ("all", 0, math.inf))
LABELS = ("masked", "not_masked", "incorrect")
ALL = "all"  # name of the pooled source


class InputError(Exception):
    pass


# ---- geometry and matching ---------------------------------------------------------------------

def iou(a, b):
    """IoU of two boxes (x1, y1, x2, y2) in continuous coordinates (no +1)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def face_size(box):
    return min(box[2] - box[0], box[3] - box[1])


def score_order(dets):
    """Indices of dets by decreasing score, equal scores in their given order."""
    return sorted(range(len(dets)), key=lambda i: -dets[i]["score"])


def overlaps(dets, gts, thr=0.5):
    """For each det, [(gt index, IoU)] of the gts it overlaps by IoU > thr, in gt order."""
    return [[(j, o) for j, o in ((j, iou(d["box"], g["box"])) for j, g in enumerate(gts)) if o > thr] for d in dets]


def match(dets, gts, ignore=None, thr=0.5, cand=None):
    """One-to-one greedy matching of one picture (see the module text).

    dets: [{"box", "score", ...}], gts: [{"box", ...}], ignore: [bool] per gt or None,
    cand: overlaps(dets, gts, thr) if already computed.
    Returns (det_gt, gt_det): det_gt[i] is the gt index of det i or -1 (false positive);
    gt_det[j] is the det index that took gt j or -1. A det whose gt is ignored has det_gt >= 0
    and ignore[det_gt[i]] true."""
    ignore = ignore or [False] * len(gts)
    if cand is None:
        cand = overlaps(dets, gts, thr)
    det_gt = [-1] * len(dets)
    gt_det = [-1] * len(gts)
    for i in score_order(dets):
        best = [(-1, thr), (-1, thr)]  # [not ignored, ignored]: (gt, iou)
        for j, o in cand[i]:
            if gt_det[j] >= 0:
                continue
            k = 1 if ignore[j] else 0
            if o > best[k][1]:
                best[k] = (j, o)
        j = best[0][0] if best[0][0] >= 0 else best[1][0]
        if j >= 0:
            det_gt[i] = j
            gt_det[j] = i
    return det_gt, gt_det


def average_precision(scored, npos):
    """VOC all-point interpolated AP. scored: [(score, is_tp)] for the counted predictions
    (ignored ones left out), npos: number of positives. Equal scores keep their given order.
    Returns None when npos == 0."""
    if npos <= 0:
        return None
    order = sorted(range(len(scored)), key=lambda i: -scored[i][0])
    tp = fp = 0
    rec, prec = [], []
    for i in order:
        if scored[i][1]:
            tp += 1
        else:
            fp += 1
        rec.append(tp / npos)
        prec.append(tp / (tp + fp))
    mrec = [0.0] + rec + [1.0]
    mpre = [0.0] + prec + [0.0]
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    return sum((mrec[i] - mrec[i - 1]) * mpre[i] for i in range(1, len(mrec)) if mrec[i] != mrec[i - 1])


def roc_auc(pos, neg):
    """P(a positive's score > a negative's), ties counting 1/2 (Mann-Whitney). None if a class
    is empty."""
    if not pos or not neg:
        return None
    items = sorted([(s, 1) for s in pos] + [(s, 0) for s in neg])
    rank_sum = 0.0
    i = 0
    while i < len(items):
        j = i
        while j < len(items) and items[j][0] == items[i][0]:
            j += 1
        mid_rank = (i + 1 + j) / 2.0  # ranks i+1..j
        rank_sum += mid_rank * sum(1 for k in range(i, j) if items[k][1])
        i = j
    n1, n0 = len(pos), len(neg)
    return (rank_sum - n1 * (n1 + 1) / 2.0) / (n1 * n0)


def roc_curve(pos, neg):
    """ROC points (fpr, tpr) from (0, 0) to (1, 1), one per distinct score, "positive" being
    score >= that score."""
    if not pos or not neg:
        return []
    items = sorted([(s, 1) for s in pos] + [(s, 0) for s in neg], key=lambda t: -t[0])
    pts = [(0.0, 0.0)]
    tp = fp = 0
    i = 0
    while i < len(items):
        j = i
        while j < len(items) and items[j][0] == items[i][0]:
            tp += items[j][1]
            fp += 1 - items[j][1]
            j += 1
        pts.append((fp / len(neg), tp / len(pos)))
        i = j
    return pts


# ---- input -------------------------------------------------------------------------------------

class Source:
    def __init__(self, folder):
        self.folder = os.path.abspath(folder)
        self.name = os.path.basename(self.folder.rstrip("/"))
        self.images = {}  # relative path -> [gt]
        self.order = []
        path = os.path.join(folder, "annotations.csv")
        try:
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f))
        except OSError as e:
            raise InputError("cannot read %s: %s" % (path, e.strerror))
        for n, r in enumerate(rows, 2):
            try:
                box = tuple(float(r[k]) for k in ("x1", "y1", "x2", "y2"))
                label = r["label"]
                image = r["image"]
            except (KeyError, TypeError, ValueError):
                raise InputError("%s:%d: expected image,x1,y1,x2,y2,label" % (path, n))
            if label not in LABELS:
                raise InputError("%s:%d: unknown label '%s'" % (path, n, label))
            if image not in self.images:
                self.images[image] = []
                self.order.append(image)
            self.images[image].append({"box": box, "label": label, "size": face_size(box)})


def find_sources(folder):
    """A source folder, or the source folders inside a folder (sorted by name)."""
    if os.path.isfile(os.path.join(folder, "annotations.csv")):
        return [Source(folder)]
    try:
        subs = sorted(d for d in os.listdir(folder) if os.path.isfile(os.path.join(folder, d, "annotations.csv")))
    except OSError as e:
        raise InputError("cannot list %s: %s" % (folder, e.strerror))
    if not subs:
        raise InputError("%s holds no annotations.csv, nor do its sub-folders" % folder)
    return [Source(os.path.join(folder, d)) for d in subs]


def read_predictions(paths):
    """[(file, line number, record)] of every JSON line."""
    out = []
    for path in paths:
        try:
            f = sys.stdin if path == "-" else open(path)
        except OSError as e:
            raise InputError("cannot read %s: %s" % (path, e.strerror))
        with f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                    faces = []
                    for face in rec["faces"]:
                        box = tuple(float(v) for v in face["box"])
                        if len(box) != 4:
                            raise ValueError
                        mask = face.get("mask")
                        faces.append({"box": box, "score": float(face["score"]),
                                      "mask": None if mask is None else float(mask)})
                    out.append((path, n, {"image": str(rec["image"]), "faces": faces}))
                except (ValueError, KeyError, TypeError):
                    raise InputError("%s:%d: not an example_annotate --json line" % (path, n))
    return out


def locate(sources, records):
    """Assigns the prediction records to (source, image). Returns ({(source name, image): faces},
    [warnings])."""
    by_real, by_suffix = {}, {}
    for s in sources:
        for image in s.images:
            key = (s.name, image)
            by_real[os.path.realpath(os.path.join(s.folder, image))] = key
            parts = tuple(p for p in image.replace("\\", "/").split("/") if p and p != ".")
            by_suffix.setdefault(parts, []).append(key)
            by_suffix.setdefault((s.name,) + parts, []).append(key)
    preds, unknown = {}, []
    for path, n, rec in records:
        key = by_real.get(os.path.realpath(rec["image"])) if os.path.exists(rec["image"]) else None
        if key is None:
            parts = tuple(p for p in rec["image"].replace("\\", "/").split("/") if p and p != ".")
            for k in range(min(len(parts), 3), 0, -1):  # SOURCE/images/FILE first
                hits = by_suffix.get(parts[-k:])
                if hits and len(hits) == 1:
                    key = hits[0]
                    break
                if hits:
                    raise InputError("%s:%d: '%s' matches several annotated pictures (%s); give paths that exist"
                                     % (path, n, rec["image"], ", ".join("/".join(h) for h in hits)))
        if key is None:
            unknown.append(rec["image"])
            continue
        if key in preds:
            raise InputError("%s:%d: '%s' was already predicted" % (path, n, "/".join(key)))
        preds[key] = rec["faces"]
    warnings = []
    if unknown:
        warnings.append("%d predicted picture(s) are not annotated and were left out, e.g. %s"
                        % (len(unknown), unknown[0]))
    return preds, warnings


# ---- evaluation --------------------------------------------------------------------------------

def in_range(size, lo, hi):
    return lo <= size < hi


class Counter:
    """Numbers of one source (or the pool): everything the tables need."""

    def __init__(self, name):
        self.name = name
        self.pictures = 0
        self.missing = 0           # annotated pictures without a prediction line
        self.detections = 0        # identified faces (score > conf)
        self.false_positives = 0   # identified faces matching no annotated face
        self.min_score = math.inf
        self.faces = {r[0]: 0 for r in RANGES}
        self.found = {r[0]: 0 for r in RANGES}
        self.ap_scored = {r[0]: [] for r in RANGES}  # [(score, is_tp)]
        self.ap_scored_coco = {r[0]: [] for r in RANGES}  # same, unmatched predictions outside the range left out
        self.ap_npos = {r[0]: 0 for r in RANGES}
        # per class range, per label: faces, identified, called masked, called not masked,
        # identified without a probability
        self.cls = {c[0]: {l: [0, 0, 0, 0, 0] for l in LABELS} for c in CLASS_RANGES}
        self.roc = {c[0]: ([], [], [], []) for c in CLASS_RANGES}  # pos, neg, pos identified, neg identified
        self.operating = {c[0]: None for c in CLASS_RANGES}

    def add(self, other):
        self.pictures += other.pictures
        self.missing += other.missing
        self.detections += other.detections
        self.false_positives += other.false_positives
        self.min_score = min(self.min_score, other.min_score)
        for r in self.faces:
            self.faces[r] += other.faces[r]
            self.found[r] += other.found[r]
            self.ap_scored[r] += other.ap_scored[r]
            self.ap_scored_coco[r] += other.ap_scored_coco[r]
            self.ap_npos[r] += other.ap_npos[r]
        for c in self.cls:
            for l in LABELS:
                self.cls[c][l] = [a + b for a, b in zip(self.cls[c][l], other.cls[c][l])]
            for k in range(4):
                self.roc[c][k].extend(other.roc[c][k])

    # derived numbers
    def ap(self, r, coco=False):
        return average_precision((self.ap_scored_coco if coco else self.ap_scored)[r], self.ap_npos[r])

    def recall(self, r):
        return self.found[r] / self.faces[r] if self.faces[r] else None

    def classified(self):
        return any(v[1] > v[4] for c in self.cls.values() for v in c.values())

    def tnr(self, c):
        v = self.cls[c]["not_masked"]
        n = v[2] + v[3]
        return v[3] / n if n else None

    def fnr(self, c):
        v = self.cls[c]["masked"]
        n = v[2] + v[3]
        return v[3] / n if n else None

    def auc(self, c, identified_only=False):
        pos, neg, pos_id, neg_id = self.roc[c]
        return roc_auc(pos_id, neg_id) if identified_only else roc_auc(pos, neg)


def evaluate_picture(cnt, gts, dets, conf, threshold, iou_thr):
    cnt.pictures += 1
    if dets is None:
        cnt.missing += 1
        dets = []
    for d in dets:
        cnt.min_score = min(cnt.min_score, d["score"])
    # AP per size range: everything in the file, faces outside the range ignored
    cand = overlaps(dets, gts, iou_thr)
    for name, lo, hi in RANGES:
        ignore = [not in_range(g["size"], lo, hi) for g in gts]
        cnt.ap_npos[name] += ignore.count(False)
        det_gt, _ = match(dets, gts, ignore, iou_thr, cand)
        for d, j in zip(dets, det_gt):
            if j < 0 or not ignore[j]:
                cnt.ap_scored[name].append((d["score"], j >= 0))
                if j >= 0 or in_range(face_size(d["box"]), lo, hi):
                    cnt.ap_scored_coco[name].append((d["score"], j >= 0))
    # operating point: identified faces only, no ignore regions
    keep = [i for i, d in enumerate(dets) if d["score"] > conf]
    ident = [dets[i] for i in keep]
    cnt.detections += len(ident)
    det_gt, gt_det = match(ident, gts, None, iou_thr, [cand[i] for i in keep])
    cnt.false_positives += det_gt.count(-1)
    for g, i in zip(gts, gt_det):
        for name, lo, hi in RANGES:
            if in_range(g["size"], lo, hi):
                cnt.faces[name] += 1
                cnt.found[name] += i >= 0
        p = ident[i]["mask"] if i >= 0 else None
        for name, lo, hi in CLASS_RANGES:
            if not in_range(g["size"], lo, hi):
                continue
            v = cnt.cls[name][g["label"]]
            v[0] += 1
            if i >= 0:
                v[1] += 1
                if p is None:
                    v[4] += 1
                elif p > threshold:
                    v[2] += 1
                else:
                    v[3] += 1
            if g["label"] == "incorrect" or (i >= 0 and p is None):
                continue
            k = 0 if g["label"] == "masked" else 1
            cnt.roc[name][k].append(1.0 if i < 0 else p)
            if i >= 0:
                cnt.roc[name][k + 2].append(p)


def evaluate(sources, preds, conf=0.5, threshold=0.5, iou_thr=0.5):
    """Returns ([Counter per source with predictions] + [pooled Counter if several], warnings)."""
    out, warnings = [], []
    for s in sources:
        if not any((s.name, image) in preds for image in s.images):
            warnings.append("no predictions for %s: left out" % s.name)
            continue
        cnt = Counter(s.name)
        for image in s.order:
            evaluate_picture(cnt, s.images[image], preds.get((s.name, image)), conf, threshold, iou_thr)
        if cnt.missing:
            warnings.append("%s: %d of %d annotated pictures have no prediction line; they count as pictures "
                            "with no face found" % (s.name, cnt.missing, cnt.pictures))
        out.append(cnt)
    if len(out) > 1:
        pool = Counter(ALL)
        for c in out:
            pool.add(c)
        out.append(pool)
    return out, warnings


# ---- report ------------------------------------------------------------------------------------

def pct(x, digits=1):
    return "-" if x is None else "%.*f" % (digits, 100.0 * x)


def num3(x):
    return "-" if x is None else "%.3f" % x


def table(header, rows, markdown):
    rows = [[str(c) for c in r] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " if i == 0 else " ---: "
                                                              for i in range(len(header))) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([fmt(header), "  ".join("-" * w for w in widths)] + [fmt(r) for r in rows])


def report(counters, conf, threshold, iou_thr, markdown=False):
    h = (lambda t: "### " + t) if markdown else (lambda t: t + "\n" + "=" * len(t))
    low = min((c.min_score for c in counters), default=math.inf)
    out = []
    out.append(h("Detection (IoU > %g, identified = score > %g)" % (iou_thr, conf)))
    rows = []
    for c in counters:
        for name, _, _ in RANGES:
            if c.faces[name]:
                rows.append([c.name, name, c.faces[name], c.found[name], pct(c.recall(name)), pct(c.ap(name)),
                             pct(c.ap(name, True))])
    out.append(table(["source", "face size (px)", "faces", "identified", "recall %", "AP %", "AP % (COCO-style)"],
                     rows, markdown))
    out.append("")
    rows = [[c.name, c.pictures, c.detections, c.false_positives, "%.2f" % (c.false_positives / c.pictures)]
            for c in counters]
    out.append(table(["source", "pictures", "identified faces", "false positives", "false positives / picture"],
                     rows, markdown))
    out.append("")
    out.append("Face size = short side of the annotated box. AP: VOC all-point interpolated, over every "
               "prediction in the file (lowest score %s); for a size range, annotated faces outside it are "
               "ignore regions (a prediction matching one counts neither as TP nor FP). COCO-style AP also "
               "leaves out the unmatched predictions whose own short side is outside the range. False "
               "positives: identified faces matching no annotated face (unannotated crowd faces count here too)."
               % ("%.3g" % low if low < math.inf else "-"))
    out.append("")
    if not any(c.classified() for c in counters):
        out.append("(no mask probabilities in the predictions: classification not evaluated)")
        return "\n".join(out)
    out.append(h("Mask classification (threshold p(masked) > %g)" % threshold))
    rows = []
    for c in counters:
        for cr, _, _ in CLASS_RANGES:
            for label, text in (("masked", "masked faces"), ("not_masked", "not masked faces")):
                v = c.cls[cr][label]
                correct = v[2] if label == "masked" else v[3]
                wrong = v[3] if label == "masked" else v[2]
                rows.append([c.name, cr, text, v[0], correct, wrong, v[0] - v[1]])
    out.append(table(["source", "face size (px)", "ground truth", "faces", "identified and classified correctly",
                      "identified but classified wrongly", "not identified"], rows, markdown))
    out.append("")
    rows = []
    for c in counters:
        for cr, _, _ in CLASS_RANGES:
            v = c.cls[cr]["incorrect"]
            if v[0]:
                rows.append([c.name, cr, v[0], v[1], v[2], v[3], v[0] - v[1]])
    if rows:
        out.append(table(["source", "face size (px)", "mask worn incorrectly", "identified", "called masked",
                          "called not masked", "not identified"], rows, markdown))
        out.append("")
    rows = []
    for c in counters:
        for cr, _, _ in CLASS_RANGES:
            rows.append([c.name, cr, pct(c.tnr(cr)), pct(c.fnr(cr)), num3(c.auc(cr)), num3(c.auc(cr, True))])
    out.append(table(["source", "face size (px)", "TNR %", "FNR %", "ROC AUC (missed = masked)",
                      "ROC AUC (identified only)"], rows, markdown))
    out.append("")
    out.append("TNR = not masked faces identified and called not masked / not masked faces identified; FNR = "
               "masked faces identified and called not masked / masked faces identified (faces not identified "
               "are left out, as in the original). ROC: p(masked), masked = positive, faces not identified "
               "count as p = 1, false positives left out.")
    unclassified = sum(c.cls["all"][l][4] for c in counters[:1 if len(counters) == 1 else -1] for l in LABELS)
    if unclassified:
        out.append("%d identified annotated faces had no mask probability and are left out of the "
                   "classification numbers." % unclassified)
    return "\n".join(out)


# ---- ROC picture -------------------------------------------------------------------------------

def write_png(path, width, height, rgb):
    """Writes 8-bit RGB pixels (bytes, row after row) as a PNG."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    stride = width * 3
    raw = b"".join(b"\x00" + bytes(rgb[y * stride:(y + 1) * stride]) for y in range(height))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


# 5x7 glyphs, one string of 7 rows of 5 bits each; text is drawn in capitals.
_FONT = {
    "A": "01110 10001 10001 11111 10001 10001 10001", "B": "11110 10001 10001 11110 10001 10001 11110",
    "C": "01110 10001 10000 10000 10000 10001 01110", "D": "11100 10010 10001 10001 10001 10010 11100",
    "E": "11111 10000 10000 11110 10000 10000 11111", "F": "11111 10000 10000 11110 10000 10000 10000",
    "G": "01110 10001 10000 10111 10001 10001 01111", "H": "10001 10001 10001 11111 10001 10001 10001",
    "I": "01110 00100 00100 00100 00100 00100 01110", "J": "00111 00010 00010 00010 00010 10010 01100",
    "K": "10001 10010 10100 11000 10100 10010 10001", "L": "10000 10000 10000 10000 10000 10000 11111",
    "M": "10001 11011 10101 10101 10001 10001 10001", "N": "10001 10001 11001 10101 10011 10001 10001",
    "O": "01110 10001 10001 10001 10001 10001 01110", "P": "11110 10001 10001 11110 10000 10000 10000",
    "Q": "01110 10001 10001 10001 10101 10010 01101", "R": "11110 10001 10001 11110 10100 10010 10001",
    "S": "01111 10000 10000 01110 00001 00001 11110", "T": "11111 00100 00100 00100 00100 00100 00100",
    "U": "10001 10001 10001 10001 10001 10001 01110", "V": "10001 10001 10001 10001 10001 01010 00100",
    "W": "10001 10001 10001 10101 10101 10101 01010", "X": "10001 10001 01010 00100 01010 10001 10001",
    "Y": "10001 10001 10001 01010 00100 00100 00100", "Z": "11111 00001 00010 00100 01000 10000 11111",
    "0": "01110 10001 10011 10101 11001 10001 01110", "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111", "3": "11111 00010 00100 00010 00001 10001 01110",
    "4": "00010 00110 01010 10010 11111 00010 00010", "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110", "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110", "9": "01110 10001 10001 01111 00001 00010 01100",
    ".": "00000 00000 00000 00000 00000 01100 01100", "-": "00000 00000 00000 11111 00000 00000 00000",
    "=": "00000 00000 11111 00000 11111 00000 00000", "(": "00010 00100 01000 01000 01000 00100 00010",
    ")": "01000 00100 00010 00010 00010 00100 01000", ":": "00000 01100 01100 00000 01100 01100 00000",
    "/": "00000 00001 00010 00100 01000 10000 00000", "%": "11000 11001 00010 00100 01000 10011 00011",
    ">": "01000 00100 00010 00001 00010 00100 01000", "<": "00010 00100 01000 10000 01000 00100 00010",
    ",": "00000 00000 00000 00000 01100 00100 01000", "_": "00000 00000 00000 00000 00000 00000 11111",
    "+": "00000 00100 00100 11111 00100 00100 00000", " ": "00000 00000 00000 00000 00000 00000 00000",
}


class Canvas:
    def __init__(self, w, h, bg=(255, 255, 255)):
        self.w, self.h = w, h
        self.px = bytearray(bytes(bg) * (w * h))

    def dot(self, x, y, c):
        if 0 <= x < self.w and 0 <= y < self.h:
            k = (y * self.w + x) * 3
            self.px[k:k + 3] = bytes(c)

    def rect(self, x0, y0, x1, y1, c):
        for y in range(max(0, y0), min(self.h, y1)):
            for x in range(max(0, x0), min(self.w, x1)):
                k = (y * self.w + x) * 3
                self.px[k:k + 3] = bytes(c)

    def line(self, x0, y0, x1, y1, c, width=1, dash=0):
        n = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        r0 = -(width // 2)
        for i in range(n + 1):
            if dash and (i // dash) % 2:
                continue
            t = i / n
            x = int(round(x0 + (x1 - x0) * t))
            y = int(round(y0 + (y1 - y0) * t))
            self.rect(x + r0, y + r0, x + r0 + width, y + r0 + width, c)

    def text(self, x, y, s, c, scale=2):
        for ch in s.upper():
            rows = _FONT.get(ch, _FONT[" "]).split()
            for r, bits in enumerate(rows):
                for b, bit in enumerate(bits):
                    if bit == "1":
                        self.rect(x + b * scale, y + r * scale, x + (b + 1) * scale, y + (r + 1) * scale, c)
            x += 6 * scale

    @staticmethod
    def text_width(s, scale=2):
        return len(s) * 6 * scale


COLOURS = [(0x36, 0x5a, 0xbd), (0xe0, 0x7b, 0x00), (0xb0, 0x30, 0x60), (0x70, 0x40, 0xa0)]
POOL_COLOUR = (0x00, 0xb1, 0x89)


def plot_roc(path, counters, threshold, size_range="all"):
    """One ROC curve per source (and the pool), missed faces counted as p = 1, with the point of
    the threshold marked."""
    W, H = 720, 730 + 20 * len(counters)
    left, top, side = 90, 40, 600
    cv = Canvas(W, H)
    X = lambda fpr: left + int(round(fpr * side))
    Y = lambda tpr: top + side - int(round(tpr * side))
    for k in range(11):
        cv.line(X(k / 10), top, X(k / 10), top + side, (225, 225, 225))
        cv.line(left, Y(k / 10), left + side, Y(k / 10), (225, 225, 225))
    cv.line(left, top + side, left + side, top, (160, 160, 160), 1, dash=6)
    cv.line(left, top, left, top + side, (0, 0, 0))
    cv.line(left, top + side, left + side, top + side, (0, 0, 0))
    cv.line(left + side, top, left + side, top + side, (0, 0, 0))
    cv.line(left, top, left + side, top, (0, 0, 0))
    for k in range(0, 11, 2):
        t = "%.1f" % (k / 10)
        cv.text(X(k / 10) - Canvas.text_width(t) // 2, top + side + 8, t, (0, 0, 0))
        cv.text(left - 8 - Canvas.text_width(t), Y(k / 10) - 7, t, (0, 0, 0))
    xl = "FPR: NOT MASKED CALLED MASKED"
    cv.text(left + (side - Canvas.text_width(xl)) // 2, top + side + 30, xl, (0, 0, 0))
    yl = "TPR: MASKED CALLED MASKED"
    for i, ch in enumerate(yl):  # vertical, one letter under the other
        cv.text(14, top + (side - 16 * len(yl)) // 2 + 16 * i, ch, (0, 0, 0))
    cv.text(left, 12, "ROC, P(MASKED), MISSED FACES = MASKED", (0, 0, 0))
    legend_y = top + side + 60
    sources = [c for c in counters if c.name != ALL]
    colours = {c.name: POOL_COLOUR if c.name == ALL else COLOURS[n % len(COLOURS)] for n, c in enumerate(counters)}
    for c in sorted(counters, key=lambda c: c.name != ALL):  # the pool first, under the sources
        pos, neg = c.roc[size_range][0], c.roc[size_range][1]
        pts = roc_curve(pos, neg)
        if not pts:
            continue
        colour = colours[c.name]
        width = 3 if c.name == ALL or len(sources) == 1 else 2
        for (a, b), (p, q) in zip(pts, pts[1:]):
            cv.line(X(a), Y(b), X(p), Y(q), colour, width)
        fpr = sum(1 for s in neg if s > threshold) / len(neg)
        tpr = sum(1 for s in pos if s > threshold) / len(pos)
        cv.rect(X(fpr) - 5, Y(tpr) - 5, X(fpr) + 6, Y(tpr) + 6, (0, 0, 0))
        cv.rect(X(fpr) - 3, Y(tpr) - 3, X(fpr) + 4, Y(tpr) + 4, colour)
        label = "%s  AUC %.3f" % (c.name, roc_auc(pos, neg))
        cv.rect(left, legend_y + 3, left + 24, legend_y + 9, colour)
        cv.text(left + 34, legend_y, label, (0, 0, 0))
        legend_y += 20
    cv.text(left, legend_y + 4, "SQUARES: THRESHOLD %g" % threshold, (90, 90, 90))
    write_png(path, W, H, cv.px)


# ---- command line ------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--data", action="append", required=True, metavar="DIR",
                    help="eval-dev format folder (images/ + annotations.csv), or a folder of them; repeatable")
    ap.add_argument("--pred", action="append", required=True, metavar="FILE",
                    help="example_annotate --json output ('-' = standard input); repeatable")
    ap.add_argument("--threshold", type=float, default=0.5, help="masked when p(masked) > this (default 0.5)")
    ap.add_argument("--conf", type=float, default=0.5,
                    help="identified when score > this (default 0.5, the engine's default)")
    ap.add_argument("--iou", type=float, default=0.5, help="match when IoU > this (default 0.5)")
    ap.add_argument("--roc", metavar="PNG", help="write the ROC curves (all face sizes) to this PNG")
    ap.add_argument("--markdown", action="store_true", help="print Markdown tables")
    a = ap.parse_args(argv)
    for name in ("threshold", "conf", "iou"):
        if not 0.0 <= getattr(a, name) <= 1.0:
            ap.error("--%s must be in [0, 1]" % name)
    try:
        sources = []
        for d in a.data:
            sources += find_sources(d)
        names = [s.name for s in sources]
        if len(set(names)) != len(names):
            raise InputError("two sources share a folder name: %s" % ", ".join(names))
        preds, warnings = locate(sources, read_predictions(a.pred))
        counters, more = evaluate(sources, preds, a.conf, a.threshold, a.iou)
        warnings += more
        if not counters:
            raise InputError("no prediction matches an annotated picture")
    except InputError as e:
        print("evaluate.py: %s" % e, file=sys.stderr)
        return 1
    low = min(c.min_score for c in counters)
    if low > 0.1 and low < math.inf:
        warnings.append("the lowest prediction score is %.3g: AP only sees the curve above it (run example_annotate "
                        "with --conf 0.02 for the whole curve)" % low)
    for w in warnings:
        print("evaluate.py: warning: %s" % w, file=sys.stderr)
    print(report(counters, a.conf, a.threshold, a.iou, a.markdown))
    if a.roc:
        if any(c.classified() for c in counters):
            try:
                plot_roc(a.roc, counters, a.threshold)
            except OSError as e:
                print("evaluate.py: cannot write %s: %s" % (a.roc, e.strerror), file=sys.stderr)
                return 1
        else:
            print("evaluate.py: warning: no mask probabilities, no ROC picture written", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
