#!/usr/bin/env python3
"""Convert the public RetinaFace-mnet0.25 PyTorch checkpoints into facemask weight blobs.

    export_weights.py --source DIR_OR_FILE --out DIR [--family auto|pytorch-retinaface|face-detector-1mb]
    export_weights.py --check BLOB

Standard library only: the checkpoints are read without torch (both the legacy pickle format
these files use and the newer zip format), through an unpickler that builds nothing but
tensors, storages and OrderedDicts.  BatchNorm is folded into the preceding convolution in
double precision, tensors are transposed to the blob layouts (include/facemask/blob.hpp), and
a self-test computed by the pure-Python reference forward (fmblob.py) is stored with them.

Which settings a checkpoint needs (activation, anchors) depends on its family; see
../shared/weights/README.md.  Using the wrong family gives a blob that loads but finds nothing.
"""
import argparse
import hashlib
import io
import math
import os
import pickle
import struct
import sys
import time
import zipfile
from collections import OrderedDict, namedtuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmblob  # noqa: E402  (the sibling module; tools/ is not a package)

BN_EPS = 1e-5                       # not stored in the checkpoints (weights/README.md)
ANCHORS = 2
CHECKPOINT_NAME = "mobilenet0.25_Final.pth"

Family = namedtuple("Family", "activation slope min_sizes out_name sha256")
# Settings per checkpoint family, from ../shared/weights/README.md (sha256 values included).
FAMILIES = OrderedDict([
    ("pytorch-retinaface", Family(
        fmblob.ACT_LEAKY, 0.1, [[16, 32], [64, 128], [256, 512]], "retinaface_mnet025.fmb",
        "2979b33ffafda5d74b6948cd7a5b9a7a62f62b949cef24e95fd15d2883a65220")),
    ("face-detector-1mb", Family(
        fmblob.ACT_RELU, 0.0, [[10, 20], [32, 64], [128, 256]], "retinaface_mnet025_1mb.fmb",
        "ed6fa7d45a5179f03cb5ce82c73b0c6711372968e53782e88395acee88d319e1")),
])


class CheckpointError(ValueError):
    """The checkpoint cannot be read, or is not the network we expect."""


class ExportError(ValueError):
    """A problem with the command line request (paths, family)."""


# ---------------------------------------------------------------------------------------------
# Reading PyTorch checkpoints without torch
# ---------------------------------------------------------------------------------------------

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

# torch storage class -> (dtype name, struct code, bytes per element)
STORAGE_TYPES = {
    "FloatStorage": ("float32", "f", 4), "DoubleStorage": ("float64", "d", 8),
    "HalfStorage": ("float16", "e", 2), "BFloat16Storage": ("bfloat16", "H", 2),
    "LongStorage": ("int64", "q", 8), "IntStorage": ("int32", "i", 4),
    "ShortStorage": ("int16", "h", 2), "CharStorage": ("int8", "b", 1),
    "ByteStorage": ("uint8", "B", 1), "BoolStorage": ("bool", "?", 1),
}
FLOAT_DTYPES = ("float32", "float64", "float16", "bfloat16")
MAX_TENSOR_ELEMENTS = 1 << 26      # a guard against absurd shapes; the largest here is 65536

Tensor = namedtuple("Tensor", "shape dtype values")
Tensor.__doc__ = "A checkpoint tensor made contiguous: shape tuple, dtype name, flat values."


class _StorageType:
    """Stands in for torch.FloatStorage & co. while unpickling: only its element format matters."""

    def __init__(self, torch_name):
        self.torch_name = torch_name
        self.dtype, self.code, self.size = STORAGE_TYPES[torch_name]


class _Storage:
    """A storage named in the pickle; its values arrive later (legacy) or from the zip."""

    def __init__(self, stype, numel):
        self.stype, self.numel = stype, numel
        self.values = None


class _StorageView:
    """Legacy 'view_metadata': a window onto a root storage, offset in elements."""

    def __init__(self, root, offset):
        self.root, self.offset = root, offset


class _TensorRef:
    """What _rebuild_tensor_v2 returns: a strided view, resolved once the data are loaded."""

    def __init__(self, storage, offset, shape, stride):
        self.storage, self.offset = storage, offset
        self.shape, self.stride = tuple(shape), tuple(stride)


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored):
    """Replacement for torch._utils._rebuild_tensor(_v2): requires_grad, hooks and metadata
    do not matter for weights."""
    if not isinstance(storage, (_Storage, _StorageView)):
        raise CheckpointError("tensor rebuilt from something that is not a storage")
    ints = [storage_offset, *size, *stride]
    if not all(isinstance(n, int) and n >= 0 for n in ints) or len(size) != len(stride):
        raise CheckpointError(f"tensor with a malformed offset/size/stride: {ints}")
    if fmblob.numel(size) > MAX_TENSOR_ELEMENTS:
        raise CheckpointError(f"tensor of shape {tuple(size)} is far too large for this network")
    return _TensorRef(storage, storage_offset, size, stride)



def _rebuild_parameter(data, *_ignored):
    """Replacement for torch._utils._rebuild_parameter: an nn.Parameter is just its tensor."""
    return data


# (module, name) -> object: the only globals a checkpoint may name.
_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}
_ALLOWED_GLOBALS.update({("torch", n): _StorageType(n) for n in STORAGE_TYPES})


class _CheckpointUnpickler(pickle.Unpickler):
    """An unpickler that builds only tensors, storages and OrderedDicts.

    Unpickling runs code named by the file; a checkpoint only ever needs the handful of
    globals on the allow-list, so anything else is refused instead of imported."""

    def __init__(self, stream, storage_for):
        super().__init__(stream)
        self._storage_for = storage_for

    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise CheckpointError(
                f"refusing to unpickle {module}.{name}: a weights checkpoint only needs "
                "tensors, storages and OrderedDict (allow-list)") from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise CheckpointError(f"unexpected persistent id {pid!r:.80}")
        _, stype, key, _location, numel = pid[:5]
        storage = self._storage_for(stype, str(key), numel)
        view = pid[5] if len(pid) > 5 else None
        if view is not None:                  # legacy: (view_key, offset, view_size)
            _view_key, offset, _view_numel = view
            return _StorageView(storage, offset)
        return storage


def _decode(raw, stype, numel):
    """Raw little-endian storage bytes -> tuple of Python numbers."""
    if len(raw) != numel * stype.size:
        raise CheckpointError(f"storage holds {len(raw)} bytes, expected {numel} x {stype.size}")
    values = struct.unpack(f"<{numel}{stype.code}", raw)
    if stype.dtype == "bfloat16":         # the top half of a float32
        values = struct.unpack(f"<{numel}f", struct.pack(f"<{numel}I", *(v << 16 for v in values)))
    return values


def _load_legacy(data):
    """Legacy (pre-1.6) format: magic, protocol version, sys info, the object pickle, the list
    of storage keys, then per key an int64 element count and the raw little-endian data."""
    f = io.BytesIO(data)
    try:
        magic = _CheckpointUnpickler(f, None).load()
    except CheckpointError:
        raise
    except Exception:
        magic = None
    if magic != LEGACY_MAGIC:
        raise CheckpointError("not a PyTorch checkpoint (neither a zip archive nor the "
                              "legacy pickle format)")
    try:
        version = _CheckpointUnpickler(f, None).load()
        sys_info = _CheckpointUnpickler(f, None).load()
    except Exception as e:
        raise CheckpointError(f"corrupt checkpoint header ({e})") from None
    if version != LEGACY_PROTOCOL:
        raise CheckpointError(f"legacy protocol version {version}, only {LEGACY_PROTOCOL} is known")
    if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
        raise CheckpointError("big-endian checkpoints are not supported")

    storages = {}

    def storage_for(stype, key, numel):
        if key not in storages:
            storages[key] = _Storage(stype, numel)
        return storages[key]

    obj = _unpickle(f, storage_for)
    try:
        keys = _CheckpointUnpickler(f, None).load()
    except Exception as e:
        raise CheckpointError(f"corrupt checkpoint: no storage key list ({e})") from None
    if not isinstance(keys, list):
        raise CheckpointError("corrupt checkpoint: the storage key list is not a list")
    for key in keys:
        st = storages.get(str(key))
        head = f.read(8)
        if st is None or len(head) != 8:
            raise CheckpointError(f"storage {key} is unknown or its data is missing (truncated?)")
        (count,) = struct.unpack("<q", head)
        if count != st.numel:
            raise CheckpointError(f"storage {key}: {count} elements on disk, {st.numel} expected")
        raw = f.read(count * st.stype.size)
        if len(raw) != count * st.stype.size:
            raise CheckpointError(f"storage {key}: data truncated")
        st.values = _decode(raw, st.stype, count)
    return obj


def _load_zip(path):
    """Zip format (torch >= 1.6): <prefix>/data.pkl plus one raw file per storage key."""
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            pickles = sorted((n for n in names if n == "data.pkl" or n.endswith("/data.pkl")),
                             key=len)
            if not pickles:
                raise CheckpointError("zip archive without data.pkl: not a PyTorch checkpoint")
            prefix = pickles[0][:-len("data.pkl")]
            if prefix + "byteorder" in names and z.read(prefix + "byteorder").strip() != b"little":
                raise CheckpointError("big-endian checkpoints are not supported")

            def storage_for(stype, key, numel):
                st = _Storage(stype, numel)
                entry = f"{prefix}data/{key}"
                if entry not in names:
                    raise CheckpointError(f"storage {key} missing from the archive ({entry})")
                st.values = _decode(z.read(entry), stype, numel)
                return st

            return _unpickle(io.BytesIO(z.read(pickles[0])), storage_for)
    except (zipfile.BadZipFile, OSError) as e:
        raise CheckpointError(f"unreadable zip checkpoint ({e})") from None


def _unpickle(stream, storage_for):
    """Run the restricted unpickler, turning low-level failures into a CheckpointError."""
    try:
        return _CheckpointUnpickler(stream, storage_for).load()
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(f"corrupt checkpoint pickle ({type(e).__name__}: {e})") from None


def _contiguous(ref):
    """Resolve a strided view into a flat row-major list (storage offset and strides applied)."""
    storage, offset = ref.storage, ref.offset
    if isinstance(storage, _StorageView):
        offset += storage.offset
        storage = storage.root
    values = storage.values
    indices = [offset]
    for dim, step in zip(ref.shape, ref.stride):
        indices = [i + k * step for i in indices for k in range(dim)]
    if indices and (min(indices) < 0 or max(indices) >= len(values)):
        raise CheckpointError(f"tensor of shape {ref.shape} reaches outside its storage")
    first, n = indices[0] if indices else 0, len(indices)
    if indices == list(range(first, first + n)):      # already contiguous: one slice
        return Tensor(ref.shape, storage.stype.dtype, list(values[first:first + n]))
    return Tensor(ref.shape, storage.stype.dtype, [values[i] for i in indices])


def load_state_dict(path):
    """Read a checkpoint file into an OrderedDict {key: Tensor}, without torch."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CheckpointError(f"cannot read {path}: {e.strerror}") from None
    try:
        obj = _load_zip(path) if zipfile.is_zipfile(io.BytesIO(data)) else _load_legacy(data)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]           # training checkpoints wrap the weights
    if not isinstance(obj, dict) or not obj:
        raise CheckpointError(f"{path}: holds a {type(obj).__name__}, not a state dict")
    bad = [str(k) for k, v in obj.items() if not (isinstance(k, str) and isinstance(v, _TensorRef))]
    if bad:
        raise CheckpointError(f"{path}: entries that are not tensors: {_names(bad)}")
    keys = list(obj)
    if all(k.startswith("module.") for k in keys):     # saved from nn.DataParallel
        keys = [k[len("module."):] for k in keys]
    try:
        return OrderedDict((k, _contiguous(v)) for k, v in zip(keys, obj.values()))
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None


def _names(items, limit=8):
    """A short, readable list of names for error messages."""
    items = list(items)
    more = f" ... and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


# ---------------------------------------------------------------------------------------------
# The network: checkpoint keys -> blob tensors
# ---------------------------------------------------------------------------------------------

# One conv + BN pair of the checkpoint and the blob tensor it becomes.
Unit = namedtuple("Unit", "blob conv bn cout cin kernel layout")

SSH_SOURCES = (("conv3X3", "c3"), ("conv5X5_1", "c5a"), ("conv5X5_2", "c5b"),
               ("conv7X7_2", "c7a"), ("conv7x7_3", "c7b"))
HEAD_SOURCES = (("ClassHead", 2), ("BboxHead", 4), ("LandmarkHead", 10))   # channels per anchor


def _backbone_prefixes():
    """Checkpoint prefix of each MobileNet block b0..b13 (stage1 0..5, stage2 0..5, stage3 0..1)."""
    return ([f"body.stage1.{i}" for i in range(6)] + [f"body.stage2.{i}" for i in range(6)]
            + [f"body.stage3.{i}" for i in range(2)])


def detector_units(width_x1000=250):
    """Every conv+BN of the detector, in blob order, with the shape its conv weight must have."""
    ch = fmblob.backbone_channels(width_x1000)
    pre = _backbone_prefixes()
    units = [Unit("b0", pre[0] + ".0", pre[0] + ".1", ch[0], 3, 3, "ohwi")]
    for i in range(1, 14):
        p = pre[i]
        units.append(Unit(f"b{i}.dw", p + ".0", p + ".1", ch[i - 1], 1, 3, "hwc"))
        units.append(Unit(f"b{i}.pw", p + ".3", p + ".4", ch[i], ch[i - 1], 1, "oi"))
    f = fmblob.FPN_CHANNELS
    for k, blk in enumerate(fmblob.FPN_INPUT_BLOCKS, 1):
        units.append(Unit(f"fpn.lat{k}", f"fpn.output{k}.0", f"fpn.output{k}.1", f, ch[blk], 1, "oi"))
    for k in (1, 2):
        units.append(Unit(f"fpn.merge{k}", f"fpn.merge{k}.0", f"fpn.merge{k}.1", f, f, 3, "ohwi"))
    branch_io = {name: (cout, cin) for name, cout, cin in fmblob.SSH_BRANCHES}
    for k in (1, 2, 3):
        for src, dst in SSH_SOURCES:
            cout, cin = branch_io[dst]
            units.append(Unit(f"ssh{k}.{dst}", f"ssh{k}.{src}.0", f"ssh{k}.{src}.1",
                              cout, cin, 3, "ohwi"))
    return units


def expected_checkpoint(width_x1000=250):
    """{key: shape} of every checkpoint entry, plus the set of optional keys."""
    shapes, optional = OrderedDict(), set()
    for u in detector_units(width_x1000):
        shapes[u.conv + ".weight"] = (u.cout, u.cin, u.kernel, u.kernel)
        for field in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{u.bn}.{field}"] = (u.cout,)
        shapes[u.bn + ".num_batches_tracked"] = ()
        optional.add(u.bn + ".num_batches_tracked")
    for head, per_anchor in HEAD_SOURCES:
        for j in range(3):
            shapes[f"{head}.{j}.conv1x1.weight"] = (per_anchor * ANCHORS, fmblob.FPN_CHANNELS, 1, 1)
            shapes[f"{head}.{j}.conv1x1.bias"] = (per_anchor * ANCHORS,)
    return shapes, optional


def check_state_dict(sd):
    """Refuse a checkpoint that is not exactly RetinaFace-mnet0.25, naming what differs."""
    shapes, optional = expected_checkpoint()
    missing = [k for k in shapes if k not in sd and k not in optional]
    unexpected = [k for k in sd if k not in shapes]
    wrong = [f"{k} {sd[k].shape} (expected {shapes[k]})"
             for k in shapes if k in sd and tuple(sd[k].shape) != shapes[k]]
    not_float = [f"{k} ({sd[k].dtype})" for k in shapes
                 if k in sd and k not in optional and sd[k].dtype not in FLOAT_DTYPES]
    problems = []
    if missing:
        problems.append(f"missing keys: {_names(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_names(unexpected)}")
    if wrong:
        problems.append(f"unexpected shapes: {_names(wrong)}")
    if not_float:
        problems.append(f"non-float tensors: {_names(not_float)}")
    if problems:
        raise CheckpointError("not a RetinaFace-mnet0.25 checkpoint: " + "; ".join(problems))


def fold_bn(weight, gamma, beta, mean, var, eps=BN_EPS):
    """Fold an inference-mode BatchNorm into the bias-free conv before it.

    BN(conv(x)) = s * conv(x) + (beta - s * mean) with s = gamma / sqrt(var + eps), per output
    channel; so scaling that channel's weights by s and using the bias beta - s * mean gives the
    same result with one layer less.  weight is flat with the output channel outermost; all
    arithmetic is in double.  Returns (folded weight, bias)."""
    cout = len(gamma)
    per = len(weight) // cout
    folded, bias = [], []
    for o in range(cout):
        s = gamma[o] / math.sqrt(var[o] + eps)
        folded.extend(w * s for w in weight[o * per:(o + 1) * per])
        bias.append(beta[o] - mean[o] * s)
    return folded, bias


def to_blob_layout(weight, layout, cout, cin, kernel):
    """Reorder a flat OIHW conv weight into the blob layout.

    'ohwi': [O,I,3,3] -> [O,3,3,I]; 'hwc' (depthwise): [C,1,3,3] -> [3,3,C];
    'oi' (1x1): [O,I,1,1] -> [O,I], which is the same flat order."""
    taps = kernel * kernel
    if layout == "oi":
        return list(weight)
    if layout == "hwc":
        return [x for t in range(taps) for x in weight[t::taps]]
    if layout == "ohwi":
        out = []
        for o in range(cout):
            block = weight[o * cin * taps:(o + 1) * cin * taps]
            for t in range(taps):
                out.extend(block[t::taps])
        return out
    raise ValueError(f"unknown layout {layout}")


def blob_shape(u):
    """Shape of a unit's weight in the blob."""
    if u.layout == "ohwi":
        return (u.cout, u.kernel, u.kernel, u.cin)
    if u.layout == "hwc":
        return (u.kernel, u.kernel, u.cout)
    return (u.cout, u.cin)


def convert_detector(sd):
    """Checkpoint state dict -> {blob name: (shape, flat doubles)} for every network tensor."""
    check_state_dict(sd)
    out = OrderedDict()
    for u in detector_units():
        w, b = fold_bn(sd[u.conv + ".weight"].values,
                       *(sd[f"{u.bn}.{f}"].values
                         for f in ("weight", "bias", "running_mean", "running_var")))
        out[u.blob + ".w"] = (blob_shape(u), to_blob_layout(w, u.layout, u.cout, u.cin, u.kernel))
        out[u.blob + ".b"] = ((u.cout,), b)
    for k in (1, 2, 3):
        w, b = [], []
        for head, _ in HEAD_SOURCES:       # rows: class, then box, then landmarks
            w += sd[f"{head}.{k - 1}.conv1x1.weight"].values
            b += sd[f"{head}.{k - 1}.conv1x1.bias"].values
        out[f"head{k}.w"] = ((len(b), fmblob.FPN_CHANNELS), w)
        out[f"head{k}.b"] = ((len(b),), b)
    return out


def detector_config(family):
    """The blob config for a checkpoint family (weights/README.md, "Settings")."""
    fam = FAMILIES[family]
    return {
        "variant": "retinaface-mnet0.25", "family": family, "channel_order": fmblob.BGR,
        "mean": [104.0, 117.0, 123.0], "scale": [1.0, 1.0, 1.0],
        "input_width": 0, "input_height": 0,
        "activation": fam.activation, "negative_slope": fam.slope,
        "width_x1000": 250, "tolerance": 1e-3,
        "levels": 3, "anchors": ANCHORS, "steps": [8, 16, 32], "min_sizes": fam.min_sizes,
        "variances": [0.1, 0.2],
        # biubug6's SSH ends with F.relu(concat) in both repositories, whatever the family.
        "ssh_activation": fmblob.ACT_RELU, "ssh_slope": 0.0,
    }


def build_detector_blob(sd, family):
    """(config, [(name, shape, values)]) of a complete detector blob, self-test included.

    The self-test runs on the float32-rounded weights and config: the network the blob
    really holds, not the double-precision one it was folded from."""
    config = fmblob.normalize_config(fmblob.KIND_DETECTOR, detector_config(family))
    rounded = OrderedDict((name, (shape, fmblob.to_f32_array(values, name)))
                          for name, (shape, values) in convert_detector(sd).items())
    tensors = [(n, s, v) for n, (s, v) in rounded.items()]
    tensors += fmblob.selftest_detector(rounded, config)
    fmblob.validate_network(fmblob.KIND_DETECTOR, config, tensors)
    return config, tensors


# ---------------------------------------------------------------------------------------------
# Families and sources
# ---------------------------------------------------------------------------------------------

def sha256_of(path):
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def detect_family(path, requested="auto"):
    """The family of a checkpoint: as requested, else its folder name, else its sha256."""
    if requested != "auto":
        if requested not in FAMILIES:
            raise ExportError(f"unknown family {requested!r}; known: {', '.join(FAMILIES)}")
        return requested
    folder = os.path.basename(os.path.dirname(os.path.abspath(path)))
    digest = sha256_of(path)
    by_hash = [name for name, fam in FAMILIES.items() if fam.sha256 == digest]
    if folder in FAMILIES:
        if by_hash and by_hash[0] != folder:
            print(f"warning: {path} sits in a {folder}/ folder but its sha256 is that of the "
                  f"{by_hash[0]} checkpoint; using {folder} (pass --family to choose)",
                  file=sys.stderr)
        return folder
    if by_hash:
        return by_hash[0]
    raise ExportError(f"{path}: cannot tell its checkpoint family (folder {folder!r} and "
                      f"sha256 {digest[:16]}... are not known ones); pass --family "
                      f"{' or --family '.join(FAMILIES)}")


def find_sources(source, requested="auto"):
    """[(checkpoint path, family)] to export for --source (a file, a family folder, or a
    folder holding family folders such as ../shared/weights)."""
    if requested != "auto" and requested not in FAMILIES:
        raise ExportError(f"unknown family {requested!r}; known: {', '.join(FAMILIES)}")
    if os.path.isfile(source):
        return [(source, detect_family(source, requested))]
    if not os.path.isdir(source):
        raise ExportError(f"--source {source}: no such file or folder")
    found = []
    direct = os.path.join(source, CHECKPOINT_NAME)
    if os.path.isfile(direct):
        found.append((direct, detect_family(direct, requested)))
    for name in FAMILIES:
        path = os.path.join(source, name, CHECKPOINT_NAME)
        if os.path.isfile(path) and requested in ("auto", name):
            found.append((path, name))
    if not found:
        wanted = list(FAMILIES) if requested == "auto" else [requested]
        looked = ", ".join([CHECKPOINT_NAME] + [f"{n}/{CHECKPOINT_NAME}" for n in wanted])
        raise ExportError(f"--source {source}: no checkpoint found (looked for {looked})")
    families = [fam for _, fam in found]
    if len(set(families)) != len(families):
        raise ExportError(f"--source {source}: two checkpoints of the same family: "
                          + ", ".join(p for p, _ in found))
    return found


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

def export(path, family, out_dir):
    """Convert one checkpoint and write its blob; returns (blob path, size, tensor count)."""
    sd = load_state_dict(path)
    try:
        config, tensors = build_detector_blob(sd, family)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, FAMILIES[family].out_name)
    size = fmblob.write_blob(out, fmblob.KIND_DETECTOR, config, tensors)
    fmblob.read_blob(out)                 # what a reader sees: same rules, same checksum
    return out, size, len(tensors)


def check(path):
    """Validate a blob and re-run its self-test; print a summary, return True if it passes."""
    blob = fmblob.read_blob(path)
    c = blob.config
    params = sum(fmblob.numel(s) for n, (s, _) in blob.tensors.items()
                 if not n.startswith("selftest."))
    print(f"{path}: {fmblob.KIND_NAMES[blob.kind]} blob, format {fmblob.FORMAT_VERSION}, "
          f"{blob.file_size} bytes, crc32 0x{blob.checksum:08x}")
    print(f"  variant {c['variant']}, family {c['family']}, {len(blob.tensors)} tensors, "
          f"{params} parameters")
    act = fmblob.ACT_NAMES[c["activation"]]
    if c["activation"] == fmblob.ACT_LEAKY:
        act += f"({c['negative_slope']:g})"
    order = "BGR" if c["channel_order"] == fmblob.BGR else "RGB"
    print(f"  input {order}, mean {[round(m, 4) for m in c['mean']]}, scale "
          f"{[round(s, 4) for s in c['scale']]}, activation {act}, width x{c['width_x1000']}/1000")
    if blob.kind == fmblob.KIND_DETECTOR:
        sizes = [[round(s, 4) for s in m] for m in c["min_sizes"]]
        print(f"  steps {c['steps']}, min sizes {sizes}, variances "
              f"{[round(v, 4) for v in c['variances']]}, SSH activation "
              f"{fmblob.ACT_NAMES[c['ssh_activation']]}")
    result = fmblob.run_selftest(blob)
    h, w = result["input_hw"]
    verdict = "PASS" if result["ok"] else "FAIL"
    print(f"  self-test {h}x{w}: {result['values']} values, max |diff| "
          f"{result['max_abs_diff']:.3g}, worst {result['max_ratio']:.3g} of the tolerance "
          f"{result['tolerance']:g}: {verdict}")
    return result["ok"]


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Convert RetinaFace-mnet0.25 PyTorch checkpoints into facemask blobs "
                    "(standard library only), or check a blob.")
    ap.add_argument("--source", help="a checkpoint file, a family folder, or a folder holding "
                                     "family folders (e.g. ../shared/weights)")
    ap.add_argument("--out", help="output folder for the .fmb files")
    ap.add_argument("--family", default="auto", choices=["auto"] + list(FAMILIES),
                    help="checkpoint family (default: from the folder name or the sha256)")
    ap.add_argument("--check", metavar="BLOB", help="validate a blob and re-run its self-test")
    args = ap.parse_args(argv)
    if (args.source is None) != (args.out is None):
        ap.error("--source and --out go together")
    if args.source is None and args.check is None:
        ap.error("give --source and --out to export, and/or --check BLOB")
    ok = True
    try:
        if args.source is not None:
            for path, family in find_sources(args.source, args.family):
                t0 = time.perf_counter()
                out, size, count = export(path, family, args.out)
                print(f"{out}: {family} from {path}, {size} bytes, {count} tensors, "
                      f"{time.perf_counter() - t0:.1f} s")
        if args.check is not None:
            ok = check(args.check)
    except (CheckpointError, ExportError, fmblob.BlobError, OSError) as e:
        print(f"export_weights: error: {e}", file=sys.stderr)
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
