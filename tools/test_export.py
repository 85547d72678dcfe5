#!/usr/bin/env python3
"""Tests of tools/fmblob.py and tools/export_weights.py (standard library unittest only).

    FACEMASK_SHARED=../shared python3 tools/test_export.py

The tests that need the public checkpoints look in $FACEMASK_SHARED/weights (default: the
"shared" folder beside the repository) and are skipped when they are not there.
"""
import contextlib
import io
import math
import os
import pickle
import shutil
import struct
import sys
import tempfile
import unittest
import zipfile
import zlib
from array import array

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import blob_half  # noqa: E402
import export_weights as ew  # noqa: E402
import fmblob  # noqa: E402

SHARED = os.environ.get("FACEMASK_SHARED",
                        os.path.join(os.path.dirname(os.path.dirname(HERE)), "shared"))
WEIGHTS = os.path.join(SHARED, "weights")


def checkpoint(family):
    return os.path.join(WEIGHTS, family, ew.CHECKPOINT_NAME)


HAVE_CHECKPOINTS = all(os.path.isfile(checkpoint(f)) for f in ew.FAMILIES)
needs_checkpoints = unittest.skipUnless(HAVE_CHECKPOINTS, f"checkpoints not found in {WEIGHTS}")

# Known values, printed on 2026-11-29 by Debian's python3-torch 1.13 with
#   torch.load(path, map_location="cpu")["body.stage1.0.0.weight"].reshape(-1)[:4].tolist()
# and the same for ClassHead.2.conv1x1.bias[:2] and body.stage1.0.1.num_batches_tracked.
TORCH_VALUES = {
    "pytorch-retinaface": {
        "first_conv": [0.10497289150953293, -0.00853274017572403,
                       -0.05757106840610504, -0.12561427056789398],
        "class2_bias": [0.36178338527679443, -0.4031977951526642],
        "batches": 184795},
    "face-detector-1mb": {
        "first_conv": [-0.13596665859222412, -0.06887957453727722,
                       -0.007020126096904278, 0.1374189704656601],
        "class2_bias": [0.41448119282722473, -0.42970073223114014],
        "batches": 190840},
}
# Self-test head outputs for make_selftest_input(24, 40) (default seed), from a throwaway
# functional PyTorch model of the network built straight from the unfolded checkpoint
# (F.conv2d + F.batch_norm in float64, F.interpolate nearest, F.relu after the SSH concat):
# head1[0, 0, 0:4] and head3[0, 1, 28:32].  The pure-Python forward agreed to 1.3e-14 on the
# unrounded weights, and to 1.3e-6 on the float32 blob weights.
TORCH_HEADS = {
    "pytorch-retinaface": ([2.5725183366862656, -3.119908999670226, 3.7243773320838525,
                            -3.7226310396990168],
                           [-0.11337424415404554, 0.9627919307522241, 0.9253107340376787,
                            1.2883269829633603]),
    "face-detector-1mb": ([2.6218827708035533, -2.9085207708677285, 3.623998552152605,
                           -3.178180528826439],
                          [-0.27206804785021416, 1.096697702216089, 0.5414455261022049,
                           1.1610198509974474]),
}


def run_cli(argv):
    """Run export_weights.main, returning (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = ew.main(argv)
        except SystemExit as e:          # argparse usage errors
            code = e.code
    return code, out.getvalue(), err.getvalue()


def lcg_values(n, seed):
    """n small deterministic weights in [-0.5, 0.5) for synthetic networks."""
    return [v / 256.0 for v in fmblob.make_selftest_input(1, n, seed)[:n]]


def synthetic_network(kind, config, hw):
    """Every network tensor of a kind, filled with small deterministic values."""
    shapes = fmblob.expected_shapes(kind, config, hw)
    tensors = {}
    for i, (name, shape) in enumerate(shapes.items()):
        if not name.startswith("selftest."):
            vals = lcg_values(fmblob.numel(shape), i + 1)
            tensors[name] = (shape, fmblob.to_f32_array(vals, name))
    return tensors


def classifier_config():
    return {"variant": "mask-mnet0.25", "family": "test", "channel_order": fmblob.RGB,
            "mean": [127.5] * 3, "scale": [1 / 127.5] * 3, "input_width": 32,
            "input_height": 32, "activation": fmblob.ACT_RELU, "negative_slope": 0.0,
            "width_x1000": 250, "tolerance": 1e-3, "hidden": 8, "crop_square": 1,
            "crop_margin": 0.1, "threshold": 0.5}


def rewrite_crc(data):
    """Bytes with a fresh checksum, to test the checks that come after it."""
    data = bytearray(data)
    data[64:68] = bytes(4)
    struct.pack_into("<I", data, 64, zlib.crc32(data) & 0xFFFFFFFF)
    return bytes(data)


# ---------------------------------------------------------------------------------------------

class BlobFormatTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.config = ew.detector_config("pytorch-retinaface")
        self.tensors = [("a", (2, 3), [0.1 * i for i in range(6)]),
                        ("bb", (17,), [-1.5] * 17),
                        ("c", (1, 2, 3, 4), list(range(24)))]
        self.path = os.path.join(self.tmp, "t.fmb")
        fmblob.write_blob(self.path, "detector", self.config, self.tensors)
        with open(self.path, "rb") as f:
            self.data = f.read()

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_round_trip(self):
        blob = fmblob.read_blob(self.path)
        self.assertEqual(blob.kind, fmblob.KIND_DETECTOR)
        self.assertEqual(blob.config, fmblob.normalize_config(1, self.config))
        self.assertEqual(blob.config["min_sizes"], [[16, 32], [64, 128], [256, 512]])
        self.assertAlmostEqual(blob.config["negative_slope"], 0.1, places=7)
        self.assertEqual(list(blob.tensors), ["a", "bb", "c"])
        for name, shape, values in self.tensors:
            got_shape, got = blob.tensors[name]
            self.assertEqual(got_shape, shape)
            self.assertEqual(list(got), [fmblob.f32(v) for v in values])
        again = fmblob.blob_bytes(blob.kind, blob.config,
                                  [(n, s, v) for n, (s, v) in blob.tensors.items()])
        self.assertEqual(again, self.data)

    def test_layout_rules(self):
        h = struct.unpack_from("<8sIIIIQIIIIQQI", self.data)
        self.assertEqual(h[:5], (b"FACEMASK", 1, 0x01020304, 128, 1))
        self.assertEqual(self.data[12:16], bytes([4, 3, 2, 1]))
        self.assertEqual(h[5], len(self.data))
        self.assertEqual(h[6:10], (128, 256, 3, 384))
        data_offset, data_size = h[10], h[11]
        self.assertEqual(data_offset % 64, 0)
        self.assertGreaterEqual(data_offset, 384 + 3 * 64)
        self.assertEqual(data_size % 64, 0)
        self.assertEqual(data_offset + data_size, len(self.data))
        for i in range(3):
            entry = struct.unpack_from("<32sII4IQ", self.data, 384 + 64 * i)
            self.assertEqual(entry[-1] % 64, 0)

    def test_classifier_config_round_trip(self):
        cfg = classifier_config()
        path = os.path.join(self.tmp, "c.fmb")
        fmblob.write_blob(path, "classifier", cfg, [("x", (1,), [1.0])])
        blob = fmblob.read_blob(path)
        self.assertEqual(blob.kind, fmblob.KIND_CLASSIFIER)
        self.assertEqual(blob.config["hidden"], 8)
        self.assertAlmostEqual(blob.config["crop_margin"], 0.1, places=7)

    def test_flipped_byte_detected(self):
        for pos in (70, 130, 300, 400, len(self.data) - 100, len(self.data) - 1):
            bad = bytearray(self.data)
            bad[pos] ^= 0x10
            with self.assertRaisesRegex(fmblob.BlobError, "checksum", msg=f"byte {pos}"):
                fmblob.parse_blob(bytes(bad))

    def test_truncated_or_extended_rejected(self):
        for n in (0, 7, 64, 127, 128, 384, 500, len(self.data) - 64, len(self.data) - 1):
            with self.assertRaises(fmblob.BlobError, msg=f"{n} bytes"):
                fmblob.parse_blob(self.data[:n])
        with self.assertRaisesRegex(fmblob.BlobError, "trailing"):
            fmblob.parse_blob(self.data + b"\0")

    def test_identity_fields(self):
        for pos, value, message in ((0, b"X", "magic"), (8, b"\2", "version"),
                                    (12, b"\5", "endian"), (20, b"\3", "kind")):
            bad = bytearray(self.data)
            bad[pos:pos + 1] = value
            with self.assertRaisesRegex(fmblob.BlobError, message):
                fmblob.parse_blob(rewrite_crc(bad))

    def test_nonzero_padding_rejected(self):
        bad = bytearray(self.data)
        data_offset = struct.unpack_from("<Q", self.data, 48)[0]
        bad[data_offset + 6 * 4] = 1          # just after tensor "a" (6 floats)
        with self.assertRaisesRegex(fmblob.BlobError, "padding"):
            fmblob.parse_blob(rewrite_crc(bad))

    def test_writer_refuses_bad_tensors(self):
        cases = [([("a", (1,), [1.0]), ("a", (1,), [1.0])], "twice"),
                 ([("a", (2,), [1.0])], "values for shape"),
                 ([("a", (1,), [float("nan")])], "NaN"),
                 ([("x" * 32, (1,), [1.0])], "1..31"),
                 ([("a", (1, 1, 1, 1, 1), [1.0])], "rank")]
        for tensors, message in cases:
            with self.assertRaisesRegex(fmblob.BlobError, message):
                fmblob.blob_bytes(1, self.config, tensors)
        with self.assertRaisesRegex(fmblob.BlobError, "min_sizes"):
            fmblob.blob_bytes(1, dict(self.config, min_sizes=[[1, 2]] * 2), [])

    def test_failed_write_leaves_old_file(self):
        with self.assertRaises(fmblob.BlobError):
            fmblob.write_blob(self.path, 1, self.config, [("a", (1,), [float("inf")])])
        with open(self.path, "rb") as f:
            self.assertEqual(f.read(), self.data)
        self.assertEqual(os.listdir(self.tmp), ["t.fmb"])


class ForwardTest(unittest.TestCase):
    def test_selftest_input(self):
        vals = fmblob.make_selftest_input(24, 40)
        self.assertEqual(len(vals), 24 * 40 * 3)
        self.assertEqual(vals, fmblob.make_selftest_input(24, 40))
        self.assertNotEqual(vals[:10], fmblob.make_selftest_input(24, 40, seed=7)[:10])
        self.assertTrue(all(-128.0 <= v < 128.0 for v in vals))
        self.assertEqual([fmblob.f32(v) for v in vals], vals)
        self.assertEqual(vals[:4], [-29.198715209960938, -62.302154541015625,
                                    -115.22940063476562, -27.998199462890625])

    def test_sizes(self):
        self.assertEqual([fmblob.conv_out(n, 2) for n in (1, 2, 3, 24, 25)], [1, 1, 2, 12, 13])
        self.assertEqual(fmblob.level_sizes(24, 40), [(3, 5), (2, 3), (1, 2)])
        self.assertEqual(fmblob.level_sizes(480, 640), [(60, 80), (30, 40), (15, 20)])

    def test_upsample_exact_size(self):
        fm = [[[10.0 * y + x] for x in range(3)] for y in range(2)]
        up = fmblob.upsample_nearest(fm, 3, 5)
        # rows: floor(y * 2 / 3) = 0, 0, 1; columns: floor(x * 3 / 5) = 0, 0, 1, 1, 2
        self.assertEqual([[p[0] for p in row] for row in up],
                         [[0, 0, 1, 1, 2], [0, 0, 1, 1, 2], [10, 10, 11, 11, 12]])

    def test_conv3x3_by_hand(self):
        fm = [[[1.0, 10.0], [2.0, 20.0]], [[3.0, 30.0], [4.0, 40.0]]]     # 2x2, 2 channels
        # out channel 0 sums channel 0 over the window; out channel 1 takes the centre of ch 1
        w0 = [1.0, 0.0] * 9
        w1 = [0.0] * 18
        w1[4 * 2 + 1] = 1.0
        out = fmblob.conv3x3(fm, w0 + w1, [0.5, 0.0], 1)
        self.assertEqual([[p[0] for p in row] for row in out], [[10.5, 10.5], [10.5, 10.5]])
        self.assertEqual([[p[1] for p in row] for row in out], [[10.0, 20.0], [30.0, 40.0]])
        strided = fmblob.conv3x3(fm, w0 + w1, [0.0, 0.0], 2)
        self.assertEqual(strided, [[[10.0, 10.0]]])
        leaky = fmblob.conv3x3(fm, [-1.0, 0.0] * 9, [0.0], 1, fmblob.activation_fn(2, 0.1))
        self.assertAlmostEqual(leaky[0][0][0], -1.0)

    def test_depthwise_and_pointwise_by_hand(self):
        fm = [[[1.0, 2.0]] * 3] * 3
        taps = [1.0, 10.0] * 9                     # [3, 3, C]
        out = fmblob.depthwise3x3(fm, taps, [0.0, 1.0], 1)
        self.assertEqual(out[1][1], [9.0, 181.0])  # full window
        self.assertEqual(out[0][0], [4.0, 81.0])   # corner: 4 taps inside
        pw = fmblob.pointwise([[[1.0, 2.0]]], [1.0, 1.0, 2.0, -1.0, 0.0, 3.0], [0.0, 1.0, -7.0],
                              fmblob.activation_fn(1, 0.0))
        self.assertEqual(pw, [[[3.0, 1.0, 0.0]]])

    def test_synthetic_detector_blob(self):
        config = fmblob.normalize_config(1, ew.detector_config("face-detector-1mb"))
        tensors = synthetic_network(1, config, (24, 40))
        entries = [(n, s, v) for n, (s, v) in tensors.items()]
        entries += fmblob.selftest_detector(tensors, config)
        self.assertEqual([e[1] for e in entries[-3:]], [(3, 5, 32), (2, 3, 32), (1, 2, 32)])
        blob = fmblob.parse_blob(fmblob.blob_bytes(1, config, entries))
        self.assertTrue(fmblob.run_selftest(blob)["ok"])
        shape, w = blob.tensors["head2.b"]
        w[5] += 1.0                               # a wrong weight must fail the self-test
        self.assertFalse(fmblob.run_selftest(blob)["ok"])

    def test_synthetic_classifier_blob(self):
        config = fmblob.normalize_config(2, classifier_config())
        tensors = synthetic_network(2, config, (32, 32))
        entries = [(n, s, v) for n, (s, v) in tensors.items()]
        entries += fmblob.selftest_classifier(tensors, config)
        blob = fmblob.parse_blob(fmblob.blob_bytes(2, config, entries))
        result = fmblob.run_selftest(blob)
        self.assertTrue(result["ok"])
        self.assertEqual(result["values"], 1)
        fmblob.validate_network(2, config, blob.tensors)
        del blob.tensors["fc2.b"]
        with self.assertRaisesRegex(fmblob.BlobError, "missing tensors: fc2.b"):
            fmblob.validate_network(2, config, blob.tensors)


class HalfBlobTest(unittest.TestCase):
    """tools/blob_half.py and the float16 dtype of the format."""

    def test_float16_tensor_round_trip(self):
        config = ew.detector_config("pytorch-retinaface")
        values = [0.1, -2.5, 65504.0, 1e-7, 0.0, 1.0 / 3.0]
        data = fmblob.blob_bytes(1, config, [("a.w", (6,), values, fmblob.DTYPE_F16), ("a.b", (2,), [1.0, 2.0])])
        blob = fmblob.parse_blob(data)
        self.assertEqual(blob.dtypes, {"a.w": fmblob.DTYPE_F16, "a.b": fmblob.DTYPE_F32})
        # Each value is the nearest half: 0.1 -> 0.0999755859375, 1e-7 -> the subnormal 2^-23.
        self.assertEqual(list(blob.tensors["a.w"][1]),
                         [0.0999755859375, -2.5, 65504.0, 2.0 ** -23, 0.0, 0.333251953125])
        entry = struct.unpack_from("<32sII4IQ", data, fmblob.TABLE_OFFSET)
        self.assertEqual(entry[1], 2)                      # dtype
        with self.assertRaisesRegex(fmblob.BlobError, "out of float16's range"):
            fmblob.blob_bytes(1, config, [("a.w", (1,), [70000.0], fmblob.DTYPE_F16)])
        with self.assertRaisesRegex(fmblob.BlobError, "dtype 3"):
            fmblob.blob_bytes(1, config, [("a.w", (1,), [1.0], 3)])

    def test_halve_synthetic_networks(self):
        for kind, config, hw in ((1, fmblob.normalize_config(1, ew.detector_config("face-detector-1mb")), (24, 40)),
                                 (2, fmblob.normalize_config(2, classifier_config()), (32, 32))):
            with self.subTest(kind=kind):
                tensors = synthetic_network(kind, config, hw)
                entries = [(n, s, v) for n, (s, v) in tensors.items()]
                entries += (fmblob.selftest_detector if kind == 1 else fmblob.selftest_classifier)(tensors, config)
                blob = fmblob.parse_blob(fmblob.blob_bytes(kind, config, entries))
                half = fmblob.parse_blob(fmblob.blob_bytes(kind, config, blob_half.halve(blob)))
                self.assertTrue(fmblob.run_selftest(half)["ok"])
                for name, dtype in half.dtypes.items():
                    want = fmblob.may_be_half(name)
                    self.assertEqual(dtype == fmblob.DTYPE_F16, want, name)
                    self.assertEqual(want, name.endswith(".w") and not name.startswith("fc"), name)
                # Only convolution weights may be float16: a float16 bias fails validation.
                wrong = dict(half.dtypes, **{"b0.b": fmblob.DTYPE_F16})
                with self.assertRaisesRegex(fmblob.BlobError, "convolution weights only, not: b0.b"):
                    fmblob.validate_network(kind, config, half.tensors, wrong)
                # The weights are the rounded originals; the self-test was recomputed from them.
                self.assertEqual(list(half.tensors["b0.w"][1]), blob_half.round_half(blob.tensors["b0.w"][1]))
                self.assertEqual(half.tensors["selftest.input"], blob.tensors["selftest.input"])

    def test_command_line(self):
        tmp = tempfile.mkdtemp()
        try:
            src, dst = os.path.join(tmp, "in.fmb"), os.path.join(tmp, "out.fmb")
            config = fmblob.normalize_config(2, classifier_config())
            tensors = synthetic_network(2, config, (32, 32))
            entries = [(n, s, v) for n, (s, v) in tensors.items()] + fmblob.selftest_classifier(tensors, config)
            fmblob.write_blob(src, 2, config, entries)
            with contextlib.redirect_stdout(io.StringIO()):
                self.assertEqual(blob_half.main([src, dst]), 0)
            self.assertLess(os.path.getsize(dst), os.path.getsize(src))
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                self.assertEqual(blob_half.main([dst, os.path.join(tmp, "again.fmb")]), 1)
                self.assertEqual(blob_half.main([os.path.join(tmp, "none.fmb"), dst]), 1)
            self.assertIn("already holds float16", err.getvalue())
        finally:
            shutil.rmtree(tmp)


# ---------------------------------------------------------------------------------------------
# Hand-made checkpoints: the pickle opcodes torch writes, so no torch is needed to make them.

def _text(s):
    raw = s.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw          # BINUNICODE


def _int(n):
    return b"J" + struct.pack("<i", n)                       # BININT


def _ints(seq):
    return b"(" + b"".join(_int(n) for n in seq) + b"t"      # MARK ... TUPLE


def _state_dict_pickle(entries, legacy, rebuild=b"torch._utils\n_rebuild_tensor_v2\n"):
    """Protocol-2 pickle of an OrderedDict of tensors; entries are (name, storage key, storage
    numel, offset, shape, stride[, legacy view (view key, offset, numel)])."""
    out = b"\x80\x02" + b"ccollections\nOrderedDict\n)R("
    for name, key, numel, offset, shape, stride, *view in entries:
        pid = _text("storage") + b"ctorch\nFloatStorage\n" + _text(key) + _text("cpu") + _int(numel)
        if legacy:
            pid += b"(" + _text(view[0][0]) + _int(view[0][1]) + _int(view[0][2]) + b"t" if view else b"N"
        pid = b"(" + pid + b"tQ"                              # tuple, BINPERSID
        args = pid + _int(offset) + _ints(shape) + _ints(stride) + b"\x89" \
            + b"ccollections\nOrderedDict\n)R"
        out += _text(name) + b"c" + rebuild + b"(" + args + b"tR"
    return out + b"u."


STORAGE = [0.25 * i for i in range(12)]
ENTRIES = [("view", "0", 12, 2, (2, 3), (1, 2)),            # transposed view with an offset
           ("flat", "0", 12, 0, (12,), (1,)),
           ("scalar", "1", 1, 0, (), ())]
EXPECTED = {"view": [STORAGE[2 + i + 2 * j] for i in range(2) for j in range(3)],
            "flat": STORAGE, "scalar": [42.0]}


def write_legacy(path, entries=ENTRIES, **kw):
    body = _state_dict_pickle(entries, True, **kw)
    with open(path, "wb") as f:
        for obj in (ew.LEGACY_MAGIC, ew.LEGACY_PROTOCOL,
                    {"protocol_version": 1001, "little_endian": True,
                     "type_sizes": {"short": 2, "int": 4, "long": 4}}):
            f.write(pickle.dumps(obj, protocol=2))
        f.write(body)
        f.write(pickle.dumps(["0", "1"], protocol=2))
        for values in (STORAGE, [42.0]):
            f.write(struct.pack("<q", len(values)) + array("f", values).tobytes())


def write_zip(path):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", _state_dict_pickle(ENTRIES, False))
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/data/0", array("f", STORAGE).tobytes())
        z.writestr("archive/data/1", array("f", [42.0]).tobytes())
        z.writestr("archive/version", "3\n")


class CheckpointReaderTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def check_expected(self, sd):
        self.assertEqual(list(sd), ["view", "flat", "scalar"])
        self.assertEqual(sd["view"].shape, (2, 3))
        self.assertEqual(sd["scalar"].shape, ())
        for name, values in EXPECTED.items():
            self.assertEqual(sd[name].values, values, name)
            self.assertEqual(sd[name].dtype, "float32")

    def test_legacy_format(self):
        write_legacy(self.path("a.pth"))
        self.check_expected(ew.load_state_dict(self.path("a.pth")))

    def test_legacy_storage_view(self):
        # an old-style view: the tensor's storage starts 5 elements into storage "0"
        entries = [("v", "0", 12, 1, (3,), (2,), ("v0", 5, 7)), ("scalar", "1", 1, 0, (), ())]
        write_legacy(self.path("v.pth"), entries)
        self.assertEqual(ew.load_state_dict(self.path("v.pth"))["v"].values,
                         [STORAGE[6], STORAGE[8], STORAGE[10]])

    def test_zip_format(self):
        write_zip(self.path("z.pth"))
        self.check_expected(ew.load_state_dict(self.path("z.pth")))

    def test_refuses_classes_off_the_allow_list(self):
        write_legacy(self.path("evil.pth"), rebuild=b"os\nsystem\n")
        with self.assertRaisesRegex(ew.CheckpointError, r"refusing to unpickle os\.system"):
            ew.load_state_dict(self.path("evil.pth"))

    def test_not_a_checkpoint(self):
        for name, content in (("empty.pth", b""), ("text.pth", b"hello\n"),
                              ("pickle.pth", pickle.dumps({"a": 1})),
                              ("zip.pth", None)):
            if content is None:
                with zipfile.ZipFile(self.path(name), "w") as z:
                    z.writestr("readme.txt", "no")
            else:
                with open(self.path(name), "wb") as f:
                    f.write(content)
            with self.assertRaisesRegex(ew.CheckpointError, "not a PyTorch checkpoint", msg=name):
                ew.load_state_dict(self.path(name))
        with self.assertRaisesRegex(ew.CheckpointError, "cannot read"):
            ew.load_state_dict(self.path("missing.pth"))

    def test_truncated_checkpoint(self):
        write_legacy(self.path("a.pth"))
        with open(self.path("a.pth"), "rb") as f:
            data = f.read()
        for n in (len(data) - 1, len(data) - 60, len(data) // 2, 40):
            with open(self.path("t.pth"), "wb") as f:
                f.write(data[:n])
            with self.assertRaises(ew.CheckpointError, msg=f"{n} bytes"):
                ew.load_state_dict(self.path("t.pth"))

    def test_wrong_network_named(self):
        write_legacy(self.path("a.pth"))
        with self.assertRaisesRegex(ew.CheckpointError,
                                    r"missing keys: body\.stage1\.0\.0\.weight.*"
                                    r"unexpected keys: view, flat, scalar"):
            ew.check_state_dict(ew.load_state_dict(self.path("a.pth")))

    @needs_checkpoints
    def test_real_checkpoints_match_torch(self):
        for family, known in TORCH_VALUES.items():
            sd = ew.load_state_dict(checkpoint(family))
            self.assertEqual(len(sd), 300)
            w = sd["body.stage1.0.0.weight"]
            self.assertEqual((w.shape, w.dtype, len(w.values)), ((8, 3, 3, 3), "float32", 216))
            self.assertEqual(w.values[:4], known["first_conv"])
            self.assertEqual(sd["ClassHead.2.conv1x1.bias"].values[:2], known["class2_bias"])
            batches = sd["body.stage1.0.1.num_batches_tracked"]
            self.assertEqual((batches.shape, batches.dtype, batches.values),
                             ((), "int64", [known["batches"]]))
            ew.check_state_dict(sd)


class FoldingTest(unittest.TestCase):
    def test_fold_bn_by_hand(self):
        # conv weight [2 out, 1 in, 1, 2] (flat OIHW), BN over the 2 output channels
        weight = [1.0, -2.0, 0.5, 4.0]
        gamma, beta, mean, var = [2.0, 0.5], [1.0, -1.0], [0.5, 2.0], [3.0, 0.25]
        w, b = ew.fold_bn(weight, gamma, beta, mean, var)
        s0, s1 = 2.0 / math.sqrt(3.0 + 1e-5), 0.5 / math.sqrt(0.25 + 1e-5)
        self.assertEqual(w, [1.0 * s0, -2.0 * s0, 0.5 * s1, 4.0 * s1])
        self.assertEqual(b, [1.0 - 0.5 * s0, -1.0 - 2.0 * s1])
        # and it computes the same thing as conv followed by BN
        x = [3.0, -1.5]
        for o in range(2):
            conv = weight[2 * o] * x[0] + weight[2 * o + 1] * x[1]
            bn = (conv - mean[o]) / math.sqrt(var[o] + 1e-5) * gamma[o] + beta[o]
            self.assertAlmostEqual(w[2 * o] * x[0] + w[2 * o + 1] * x[1] + b[o], bn, places=12)

    def test_layouts(self):
        o, i = 2, 3
        oihw = list(range(o * i * 9))
        ohwi = ew.to_blob_layout(oihw, "ohwi", o, i, 3)
        for oc in range(o):
            for y in range(3):
                for x in range(3):
                    for ic in range(i):
                        self.assertEqual(ohwi[((oc * 3 + y) * 3 + x) * i + ic],
                                         oihw[((oc * i + ic) * 3 + y) * 3 + x])
        dw = list(range(4 * 9))                       # [C=4, 1, 3, 3]
        hwc = ew.to_blob_layout(dw, "hwc", 4, 1, 3)
        self.assertEqual(hwc[(1 * 3 + 2) * 4 + 3], dw[3 * 9 + 1 * 3 + 2])
        self.assertEqual(ew.to_blob_layout([1, 2, 3, 4], "oi", 2, 2, 1), [1, 2, 3, 4])

    def test_unit_table(self):
        units = {u.blob: u for u in ew.detector_units()}
        self.assertEqual(len(units), 1 + 26 + 3 + 2 + 15)
        self.assertEqual((units["b6.dw"].conv, units["b6.pw"].bn), ("body.stage2.0.0", "body.stage2.0.4"))
        self.assertEqual(units["b13.pw"].conv, "body.stage3.1.3")
        self.assertEqual(units["fpn.lat3"].conv, "fpn.output3.0")
        self.assertEqual(units["ssh2.c7b"].conv, "ssh2.conv7x7_3.0")
        shapes, optional = ew.expected_checkpoint()
        self.assertEqual(len(shapes), 300)


@needs_checkpoints
class ExportTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp()
        cls.code, cls.out, cls.err = run_cli(["--source", WEIGHTS, "--out", cls.tmp])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def blob_path(self, family):
        return os.path.join(self.tmp, ew.FAMILIES[family].out_name)

    def test_exports_both_families(self):
        self.assertEqual(self.code, 0, self.err)
        self.assertEqual(sorted(os.listdir(self.tmp)),
                         ["retinaface_mnet025.fmb", "retinaface_mnet025_1mb.fmb"])

    def test_configs(self):
        for family, act, slope, sizes in (("pytorch-retinaface", 2, 0.1, [[16, 32], [64, 128], [256, 512]]),
                                          ("face-detector-1mb", 1, 0.0, [[10, 20], [32, 64], [128, 256]])):
            c = fmblob.read_blob(self.blob_path(family)).config
            self.assertEqual((c["family"], c["variant"], c["activation"], c["min_sizes"]),
                             (family, "retinaface-mnet0.25", act, sizes))
            self.assertAlmostEqual(c["negative_slope"], slope, places=7)
            self.assertEqual((c["channel_order"], c["mean"], c["scale"]), (1, [104, 117, 123], [1, 1, 1]))
            self.assertEqual((c["input_width"], c["input_height"], c["width_x1000"]), (0, 0, 250))
            self.assertEqual((c["steps"], c["ssh_activation"], c["ssh_slope"]), ([8, 16, 32], 1, 0.0))
            self.assertEqual([round(v, 6) for v in c["variances"] + [c["tolerance"]]], [0.1, 0.2, 0.001])

    def test_selftest_matches_torch(self):
        for family, (head1, head3) in TORCH_HEADS.items():
            t = fmblob.read_blob(self.blob_path(family)).tensors
            shape, vals = t["selftest.head1"]
            self.assertEqual(shape, (3, 5, 32))
            for got, want in zip(vals[:4], head1):
                self.assertAlmostEqual(got, want, delta=1e-4)
            shape, vals = t["selftest.head3"]
            start = (0 * 2 + 1) * 32 + 28
            for got, want in zip(vals[start:start + 4], head3):
                self.assertAlmostEqual(got, want, delta=1e-4)

    def test_check_passes_and_detects_damage(self):
        for family in ew.FAMILIES:
            code, out, err = run_cli(["--check", self.blob_path(family)])
            self.assertEqual(code, 0, err)
            self.assertIn("PASS", out)
        with open(self.blob_path("face-detector-1mb"), "rb") as f:
            data = bytearray(f.read())
        bad = os.path.join(self.tmp, "bad.fmb.tmp")
        data_offset = struct.unpack_from("<Q", data, 48)[0]
        data[data_offset + 3] ^= 0x40            # sign/exponent byte of b0.w[0]
        with open(bad, "wb") as f:
            f.write(data)
        try:
            code, out, err = run_cli(["--check", bad])
            self.assertEqual(code, 1)
            self.assertIn("checksum", err)
            with open(bad, "wb") as f:      # damaged but re-checksummed: the self-test catches it
                f.write(rewrite_crc(data))
            code, out, err = run_cli(["--check", bad])
            self.assertEqual(code, 1)
            self.assertIn("FAIL", out)
        finally:
            os.unlink(bad)

    def test_family_detection(self):
        self.assertEqual(ew.detect_family(checkpoint("face-detector-1mb")), "face-detector-1mb")
        with tempfile.TemporaryDirectory() as d:
            neutral = os.path.join(d, "x.pth")
            shutil.copyfile(checkpoint("pytorch-retinaface"), neutral)
            self.assertEqual(ew.detect_family(neutral), "pytorch-retinaface")    # by sha256
            self.assertEqual(ew.detect_family(neutral, "face-detector-1mb"), "face-detector-1mb")
            with open(neutral, "ab") as f:
                f.write(b"\0")
            with self.assertRaisesRegex(ew.ExportError, "--family"):
                ew.detect_family(neutral)

    def test_cli_errors(self):
        cases = [(["--source", os.path.join(self.tmp, "nope"), "--out", self.tmp], "no such file"),
                 (["--source", os.path.join(WEIGHTS, "README.md"), "--out", self.tmp,
                   "--family", "face-detector-1mb"], "not a PyTorch checkpoint"),
                 (["--check", os.path.join(WEIGHTS, "README.md")], "bad magic")]
        slim = os.path.join(WEIGHTS, "face-detector-1mb", "slim_Final.pth")
        if os.path.isfile(slim):
            cases.append((["--source", slim, "--out", self.tmp], "unexpected keys: conv1"))
        for argv, message in cases:
            code, out, err = run_cli(argv)
            self.assertEqual(code, 1, argv)
            self.assertIn(message, err)
        code, out, err = run_cli(["--source", WEIGHTS])
        self.assertEqual(code, 2)
        self.assertEqual(sorted(os.listdir(self.tmp)),
                         ["retinaface_mnet025.fmb", "retinaface_mnet025_1mb.fmb"])


if __name__ == "__main__":
    unittest.main()
