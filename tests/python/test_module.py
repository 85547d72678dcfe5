"""The Python module against the CLI (CI's 'python' stage).

    PYTHONPATH=build-python/python FACEMASK_WEIGHTS=build-python/weights FACEMASK_CLI=build/example_annotate \
    FACEMASK_PICTURE=../shared/images/ex_img.jpg python3 -m unittest tests/python/test_module.py
"""
import json
import os
import subprocess
import threading
import unittest

import numpy as np

import facemask

WEIGHTS = os.environ.get("FACEMASK_WEIGHTS", "build/weights")
CLI = os.environ.get("FACEMASK_CLI", "build/example_annotate")
PICTURE = os.environ.get("FACEMASK_PICTURE", "../shared/images/ex_img.jpg")


def cli_faces(picture, *options):
    out = subprocess.run([CLI, "--no-draw", "--json", "-", *options, picture], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)["faces"]


def rounded(faces):
    """The module's faces printed as the CLI prints them (3 decimals for pixels, 6 for scores)."""
    out = []
    for f in faces:
        out.append({"box": [round(v, 3) for v in f["box"]], "score": round(f["score"], 6),
                    "landmarks": [[round(x, 3), round(y, 3)] for x, y in f["landmarks"]],
                    "mask": None if f["mask"] is None else round(f["mask"], 6), "label": f["label"]})
    return out


class ModuleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fm = facemask.Pipeline(WEIGHTS)
        cls.rgb = facemask.load_image(PICTURE)

    def assertSameFaces(self, got, expected):
        got = rounded(got)
        self.assertEqual(len(got), len(expected))
        for g, e in zip(got, expected):
            self.assertEqual(g["label"], e["label"])
            np.testing.assert_allclose(g["box"], e["box"], atol=1.5e-3)
            np.testing.assert_allclose(np.array(g["landmarks"]), np.array(e["landmarks"]), atol=1.5e-3)
            self.assertAlmostEqual(g["score"], e["score"], delta=1.5e-6)
            if e["mask"] is None:
                self.assertIsNone(g["mask"])
            else:
                self.assertAlmostEqual(g["mask"], e["mask"], delta=1.5e-6)

    def test_demo_picture_equals_cli(self):
        self.assertEqual(self.rgb.shape, (2320, 3088, 3))
        self.assertEqual(self.rgb.dtype, np.uint8)
        faces = self.fm.run(self.rgb)
        self.assertEqual(sorted(f["label"] for f in faces), ["masked", "not_masked"])
        self.assertSameFaces(faces, cli_faces(PICTURE))

    def test_options_as_keywords(self):
        faces = self.fm.run(self.rgb, conf=0.7, nms=0.3, mask_threshold=0.9, scale="long=640", classify=False)
        self.assertSameFaces(faces, cli_faces(PICTURE, "--conf", "0.7", "--nms", "0.3", "--mask-threshold", "0.9",
                                              "--scale", "long=640", "--no-classify"))
        self.assertTrue(all(f["mask"] is None and f["label"] is None for f in faces))

    def test_rgba_and_grey(self):
        rgba = np.dstack([self.rgb, np.full(self.rgb.shape[:2], 255, np.uint8)])
        self.assertEqual(rounded(self.fm.run(rgba)), rounded(self.fm.run(self.rgb)))
        grey = np.ascontiguousarray(self.rgb[:, :, 1])
        self.assertEqual(len(self.fm.run(grey)), 2)
        # a non-contiguous view is accepted (copied)
        self.assertEqual(rounded(self.fm.run(self.rgb[::2, ::2])), rounded(self.fm.run(self.rgb[::2, ::2].copy())))

    def test_annotate_returns_a_new_array(self):
        small = self.rgb[::4, ::4].copy()
        before = small.copy()
        faces = self.fm.run(small)
        out = facemask.annotate(small, faces)
        self.assertEqual(out.shape, small.shape)
        self.assertTrue((small == before).all())  # the input is untouched
        changed = (out != small).any(axis=2)
        self.assertGreater(changed.sum(), 100)
        x1, y1, x2, y2 = faces[0]["box"]
        self.assertTrue(changed[int(y1):int(y2) + 8, int(x1):int(x2) + 8].any())
        self.assertFalse(changed[:20, :20].any())  # far from every face: nothing drawn
        self.assertTrue((facemask.annotate(small, []) == small).all())

    def test_errors_raise_with_the_library_message(self):
        with self.assertRaisesRegex(facemask.Error, "no_such_file.jpg"):
            facemask.load_image("no_such_file.jpg")
        with self.assertRaisesRegex(facemask.Error, "blob|open"):
            facemask.Pipeline("/nonexistent_folder")
        with self.assertRaises(ValueError):
            self.fm.run(self.rgb, conf=1.5)
        with self.assertRaisesRegex(ValueError, "scale"):
            self.fm.run(self.rgb, scale="huge")
        with self.assertRaisesRegex(ValueError, "channels"):
            self.fm.run(np.zeros((10, 10, 2), np.uint8))
        with self.assertRaises(ValueError):
            self.fm.run(np.zeros((10,), np.uint8))
        with self.assertRaises(TypeError):
            self.fm.run(self.rgb, 0.5)  # options are keyword-only

    def test_threads_share_one_pipeline(self):
        pictures = [self.rgb[::2, ::2].copy(), self.rgb[::3, ::3].copy(), self.rgb[::5, ::5].copy()]
        expected = [rounded(self.fm.run(p)) for p in pictures]
        results, errors = {}, []

        def worker(t):
            try:
                for i in range(6):
                    k = (t + i) % len(pictures)
                    results.setdefault(t, []).append((k, rounded(self.fm.run(pictures[k]))))
            except Exception as e:  # noqa: BLE001 -- reported below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        for t in range(4):
            for k, faces in results[t]:
                self.assertEqual(faces, expected[k])
        self.assertGreaterEqual(self.fm.workspaces, 2)  # calls ran at the same time, each with its own
        self.assertLessEqual(self.fm.workspaces, 5)

    def test_gil_is_released_while_running(self):
        ticks = []
        stop = threading.Event()

        def ticker():
            while not stop.is_set():
                ticks.append(1)
                stop.wait(0.005)

        t = threading.Thread(target=ticker)
        t.start()
        for _ in range(3):
            self.fm.run(self.rgb)
        stop.set()
        t.join()
        self.assertGreater(len(ticks), 10)  # the other thread ran during inference

    def test_predict_example(self):
        import sys
        import tempfile
        out = os.path.join(tempfile.mkdtemp(), "predicted.png")
        script = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "python", "predict.py")
        r = subprocess.run([sys.executable, script, PICTURE, "--weights", WEIGHTS, "--out", out],
                           check=True, capture_output=True, text=True)
        self.assertIn("2 faces, 1 masked", r.stdout)
        with open(out, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")


if __name__ == "__main__":
    unittest.main()
