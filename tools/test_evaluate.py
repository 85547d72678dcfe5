#!/usr/bin/env python3
"""Unit tests of tools/evaluate.py on small synthetic cases. Run: python3 tools/test_evaluate.py"""
import contextlib
import io
import json
import os
import struct
import sys
import tempfile
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evaluate as ev  # noqa: E402


def dets(*items):
    """(box, score[, mask]) -> prediction dicts."""
    return [{"box": tuple(b), "score": s, "mask": m[0] if m else None} for b, s, *m in items]


def gts(*boxes):
    return [{"box": tuple(b), "label": "masked", "size": ev.face_size(b)} for b in boxes]


class IoU(unittest.TestCase):
    def test_values(self):
        self.assertEqual(ev.iou((0, 0, 10, 10), (0, 0, 10, 10)), 1.0)
        self.assertEqual(ev.iou((0, 0, 10, 10), (10, 0, 20, 10)), 0.0)  # touching edges
        self.assertEqual(ev.iou((0, 0, 10, 10), (20, 20, 30, 30)), 0.0)
        self.assertAlmostEqual(ev.iou((0, 0, 10, 10), (5, 0, 15, 10)), 50 / 150)
        self.assertEqual(ev.iou((0, 0, 10, 10), (5, 0, 15, 10)), ev.iou((5, 0, 15, 10), (0, 0, 10, 10)))
        self.assertEqual(ev.iou((0, 0, 0, 10), (0, 0, 0, 10)), 0.0)  # empty boxes

    def test_edge_is_strict(self):
        gt = gts((0, 0, 10, 20))
        at_half = dets(((0, 0, 10, 10), 0.9))  # IoU exactly 100 / 200
        self.assertEqual(ev.iou(at_half[0]["box"], gt[0]["box"]), 0.5)
        self.assertEqual(ev.match(at_half, gt)[0], [-1])  # IoU > 0.5 is needed
        above = dets(((0, 0, 10, 10.01), 0.9))
        self.assertEqual(ev.match(above, gt)[0], [0])

    def test_size_is_short_side(self):
        self.assertEqual(ev.face_size((3, 4, 23, 19)), 15)


class Matching(unittest.TestCase):
    def test_one_to_one_by_score(self):
        g = gts((0, 0, 10, 10))
        d = dets(((0, 0, 10, 10), 0.6), ((0, 0, 10, 10.5), 0.9))  # the lower one fits better
        det_gt, gt_det = ev.match(d, g)
        self.assertEqual(det_gt, [-1, 0])  # the higher score takes the face, the other is a FP
        self.assertEqual(gt_det, [1])

    def test_equal_scores_keep_file_order(self):
        g = gts((0, 0, 10, 10))
        d = dets(((0, 0, 10, 10.5), 0.7), ((0, 0, 10, 10), 0.7))
        self.assertEqual(ev.match(d, g)[0], [0, -1])

    def test_best_iou_among_free_faces(self):
        g = gts((0, 0, 10, 10), (2, 0, 12, 10))
        d = dets(((1.5, 0, 11.5, 10), 0.9), ((1.8, 0, 11.8, 10), 0.8))
        # the first prediction takes face 1 (IoU 0.90 > 0.74); the second's best face (face 1,
        # IoU 0.96) is taken, so it takes face 0, which it still overlaps by 0.69
        self.assertEqual(ev.match(d, g)[0], [1, 0])

    def test_ignored_faces(self):
        g = gts((0, 0, 10, 10), (0, 0, 10, 11))
        ignore = [True, False]
        d = dets(((0, 0, 10, 10), 0.9), ((0, 0, 10, 10), 0.8), ((50, 50, 60, 60), 0.7))
        det_gt, _ = ev.match(d, g, ignore)
        # a counted face is preferred to an ignored one even at a lower IoU
        self.assertEqual(det_gt, [1, 0, -1])


class AveragePrecision(unittest.TestCase):
    def test_known_curve(self):
        # 4 positives; ranking TP FP TP FP TP: precision 1, 2/3, 3/5 at recall 1/4, 2/4, 3/4
        scored = [(0.9, True), (0.8, False), (0.7, True), (0.6, False), (0.5, True)]
        self.assertAlmostEqual(ev.average_precision(scored, 4), 0.25 * (1 + 2 / 3 + 3 / 5))

    def test_interpolation_from_the_right(self):
        # FP TP TP, 2 positives: precision 1/2 at recall 1/2 is raised to the 2/3 reached later
        self.assertAlmostEqual(ev.average_precision([(0.9, False), (0.8, True), (0.7, True)], 2), 2 / 3)

    def test_order_is_by_score_not_by_list(self):
        self.assertAlmostEqual(ev.average_precision([(0.1, False), (0.9, True)], 1), 1.0)

    def test_edges(self):
        self.assertAlmostEqual(ev.average_precision([(0.9, True), (0.8, True)], 2), 1.0)
        self.assertEqual(ev.average_precision([], 3), 0.0)
        self.assertIsNone(ev.average_precision([(0.9, False)], 0))


class Roc(unittest.TestCase):
    def test_known_ranking(self):
        pos, neg = [0.9, 0.8, 0.4], [0.7, 0.3]
        self.assertAlmostEqual(ev.roc_auc(pos, neg), 5 / 6)  # 5 of the 6 pairs are ordered right
        self.assertAlmostEqual(ev.roc_auc(neg, pos), 1 / 6)

    def test_ties_count_half(self):
        self.assertAlmostEqual(ev.roc_auc([0.5], [0.5]), 0.5)
        self.assertAlmostEqual(ev.roc_auc([1.0, 1.0, 0.2], [1.0, 0.1]), (1 + 0.5 + 0.5 + 1 + 1 + 0) / 6)

    def test_curve_area_equals_auc(self):
        pos, neg = [1.0, 1.0, 0.7, 0.6, 0.2], [1.0, 0.65, 0.3, 0.1]
        pts = ev.roc_curve(pos, neg)
        self.assertEqual(pts[0], (0.0, 0.0))
        self.assertEqual(pts[-1], (1.0, 1.0))
        area = sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(pts, pts[1:]))
        self.assertAlmostEqual(area, ev.roc_auc(pos, neg))

    def test_empty_class(self):
        self.assertIsNone(ev.roc_auc([0.3], []))


class EndToEnd(unittest.TestCase):
    """A source of two pictures, predictions as example_annotate writes them."""

    ROWS = [
        "image,x1,y1,x2,y2,label",
        "images/a.png,0,0,40,40,masked",        # found, p 0.9: correct
        "images/a.png,100,0,140,40,not_masked",  # found, p 0.2: correct
        "images/a.png,200,0,210,10,masked",     # < 16 px, missed
        "images/b.png,0,0,20,20,not_masked",    # 16-31 px, found, p 0.8: wrong
        "images/b.png,50,50,90,90,masked",      # missed (score 0.4 only)
        "images/b.png,100,100,140,140,incorrect",  # found, p 0.7: called masked
    ]

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.src = os.path.join(self.tmp.name, "toy")
        os.makedirs(os.path.join(self.src, "images"))
        with open(os.path.join(self.src, "annotations.csv"), "w") as f:
            f.write("\n".join(self.ROWS) + "\n")
        face = lambda box, score, p: {"box": box, "score": score, "landmarks": [], "mask": p,
                                      "label": None if p is None else ("masked" if p > 0.5 else "not_masked")}
        self.lines = [
            {"image": "elsewhere/toy/images/a.png", "width": 300, "height": 100, "faces": [
                face([0, 0, 40, 41], 0.99, 0.9), face([101, 0, 140, 40], 0.95, 0.2), face([0, 0, 40, 40], 0.9, 0.5),
                face([300, 0, 330, 30], 0.6, 0.1)]},
            {"image": "images/b.png", "width": 200, "height": 200, "faces": [
                face([0, 0, 20, 21], 0.98, 0.8), face([50, 50, 90, 90], 0.4, 0.1),
                face([100, 100, 140, 140], 0.97, 0.7)]},
        ]
        self.pred = os.path.join(self.tmp.name, "pred.jsonl")
        with open(self.pred, "w") as f:
            f.write("".join(json.dumps(l) + "\n" for l in self.lines))

    def tearDown(self):
        self.tmp.cleanup()

    def run_eval(self, conf=0.5):
        sources = ev.find_sources(self.tmp.name)
        preds, warnings = ev.locate(sources, ev.read_predictions([self.pred]))
        counters, more = ev.evaluate(sources, preds, conf=conf)
        self.assertEqual(warnings + more, [])
        self.assertEqual(len(counters), 1)
        return counters[0]

    def test_numbers(self):
        c = self.run_eval()
        self.assertEqual((c.pictures, c.detections, c.false_positives), (2, 6, 2))
        self.assertEqual((c.faces["< 16"], c.found["< 16"]), (1, 0))
        self.assertEqual((c.faces["16-31"], c.found["16-31"]), (1, 1))
        self.assertEqual((c.faces[">= 32"], c.found[">= 32"]), (4, 3))
        self.assertEqual(c.recall("all"), 4 / 6)
        # faces, identified, called masked, called not masked, without p
        self.assertEqual(c.cls["all"]["masked"], [3, 1, 1, 0, 0])
        self.assertEqual(c.cls["all"]["not_masked"], [2, 2, 1, 1, 0])
        self.assertEqual(c.cls["all"]["incorrect"], [1, 1, 1, 0, 0])
        self.assertEqual(c.tnr("all"), 0.5)
        self.assertEqual(c.fnr("all"), 0.0)
        # masked: p 0.9, missed 1, missed 1; not masked: p 0.2, 0.8 -> pairs 1+1, 1+1, 1+1 of 6
        self.assertAlmostEqual(c.auc("all"), 1.0)
        self.assertAlmostEqual(c.auc("all", identified_only=True), 1.0)
        self.assertEqual(c.roc["all"][0], [0.9, 1.0, 1.0])

    def test_ap_sees_low_scores_and_ignores(self):
        c = self.run_eval()
        # all faces, 6 positives: ranking 0.99 T, 0.98 T, 0.97 T, 0.95 T, 0.9 F, 0.6 F, 0.4 T
        want = (4 * 1.0 + 5 / 7) / 6
        self.assertAlmostEqual(c.ap("all"), want)
        # >= 16: the 10 px face is ignored (nothing matched it, so only npos changes)
        self.assertEqual(c.ap_npos[">= 16"], 5)
        self.assertAlmostEqual(c.ap(">= 16"), (4 + 5 / 7) / 5)
        # >= 32: the 20 px face becomes an ignore region, its prediction drops out of the ranking;
        # COCO-style also drops the unmatched 30 px prediction
        self.assertAlmostEqual(c.ap(">= 32"), (3 + 4 / 6) / 4)
        self.assertAlmostEqual(c.ap(">= 32", coco=True), (3 + 4 / 5) / 4)

    def test_conf_changes_operating_point_only(self):
        c = self.run_eval(conf=0.3)
        self.assertEqual(c.found["all"], 5)
        self.assertAlmostEqual(c.ap("all"), self.run_eval().ap("all"))

    def test_cli_and_picture(self):
        png = os.path.join(self.tmp.name, "roc.png")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = ev.main(["--data", self.src, "--pred", self.pred, "--markdown", "--roc", png])
        self.assertEqual(rc, 0)
        self.assertIn("| toy | all | 6 | 4 | 66.7 |", out.getvalue())
        self.assertIn("identified and classified correctly", out.getvalue())
        with open(png, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")

    def test_duplicate_and_ambiguous(self):
        with open(self.pred, "a") as f:
            f.write(json.dumps(self.lines[1]) + "\n")
        with self.assertRaises(ev.InputError):
            ev.locate(ev.find_sources(self.tmp.name), ev.read_predictions([self.pred]))

    def test_missing_picture_counts_as_nothing_found(self):
        with open(self.pred, "w") as f:
            f.write(json.dumps(self.lines[0]) + "\n")
        sources = ev.find_sources(self.tmp.name)
        preds, _ = ev.locate(sources, ev.read_predictions([self.pred]))
        counters, warnings = ev.evaluate(sources, preds)
        self.assertEqual(counters[0].missing, 1)
        self.assertEqual(counters[0].found["all"], 2)
        self.assertEqual(len(warnings), 1)


class Png(unittest.TestCase):
    def test_write_png(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "x.png")
            rgb = bytes([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9])  # 2x2
            ev.write_png(path, 2, 2, rgb)
            data = open(path, "rb").read()
        self.assertEqual(data[:8], b"\x89PNG\r\n\x1a\n")
        pos, chunks = 8, {}
        while pos < len(data):
            n, = struct.unpack(">I", data[pos:pos + 4])
            kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
            crc, = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
            self.assertEqual(crc, zlib.crc32(kind + body) & 0xFFFFFFFF)
            chunks[kind] = body
            pos += 12 + n
        self.assertEqual(struct.unpack(">IIBBBBB", chunks[b"IHDR"]), (2, 2, 8, 2, 0, 0, 0))
        self.assertEqual(zlib.decompress(chunks[b"IDAT"]), b"\x00" + rgb[:6] + b"\x00" + rgb[6:])
        self.assertIn(b"IEND", chunks)


if __name__ == "__main__":
    unittest.main()
