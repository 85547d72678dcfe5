"""facemask weight blobs (.fmb, format version 1): writer, validating reader, reference forward.

The format is specified in include/facemask/blob.hpp; that comment is authoritative and this
module follows it field by field.  Everything here is Python 3 standard library only, so the
blobs can be produced and checked on a fresh machine with plain /usr/bin/python3.

The reference forward pass (detector and classifier) works directly on the folded tensors in
their blob layouts and computes in Python floats (double).  It is what produces the self-test
vectors stored in every blob, so it favours being obviously right; it is still quick enough for
the tiny self-test inputs (24x40 detector, 32x32 classifier) because the inner products run
in C through sum(map(operator.mul, ...)).
"""
import math
import os
import struct
import sys
import tempfile
import zlib
from array import array
from collections import namedtuple
from itertools import chain
from operator import add, mul

MAGIC = b"FACEMASK"
FORMAT_VERSION = 1
ENDIAN_TAG = 0x01020304
HEADER_SIZE = 128
CONFIG_OFFSET = 128
CONFIG_SIZE = 256
TABLE_OFFSET = CONFIG_OFFSET + CONFIG_SIZE        # 384
ENTRY_SIZE = 64
ALIGN = 64
CHECKSUM_OFFSET = 64
DTYPE_F32 = 1
DTYPE_F16 = 2                                     # IEEE binary16: convolution weights only
DTYPE_SIZES = {DTYPE_F32: 4, DTYPE_F16: 2}

KIND_DETECTOR = 1
KIND_CLASSIFIER = 2
KIND_NAMES = {KIND_DETECTOR: "detector", KIND_CLASSIFIER: "classifier"}

RGB, BGR = 0, 1
ACT_NONE, ACT_RELU, ACT_LEAKY = 0, 1, 2
ACT_NAMES = {ACT_NONE: "none", ACT_RELU: "ReLU", ACT_LEAKY: "LeakyReLU"}

MAX_LEVELS = 4
MAX_ANCHORS = 4
NAME_SIZE = 32

# Header: magic, version, endian tag, header size, kind, file size, config offset, config size,
# tensor count, table offset, data offset, data size, checksum, 60 reserved bytes.
_HEADER = struct.Struct("<8sIIIIQIIIIQQI60s")
# Common config part (bytes 0..119): variant, family, channel order, mean[3], scale[3], input
# width, input height, activation, negative slope, width x1000, tolerance, reserved.
_CONFIG_COMMON = struct.Struct("<32s32sI3f3fIIIfIfI")
# Detector part (120..255): levels, anchors, steps[4], min_sizes[4][4], variances[2],
# SSH activation, its slope, 32 reserved bytes.
_CONFIG_DETECTOR = struct.Struct("<II4I16f2fIf32s")
# Classifier part (120..255): hidden, crop mode, crop margin, threshold, 120 reserved bytes.
_CONFIG_CLASSIFIER = struct.Struct("<IIff120s")
# Tensor table entry: name, dtype, rank, shape[4], data offset (relative to the data section).
_ENTRY = struct.Struct("<32sII4IQ")

assert _HEADER.size == HEADER_SIZE and _ENTRY.size == ENTRY_SIZE
assert _CONFIG_COMMON.size + _CONFIG_DETECTOR.size == CONFIG_SIZE
assert _CONFIG_COMMON.size + _CONFIG_CLASSIFIER.size == CONFIG_SIZE

# MobileNetV1 at width 1.0: output channels of b0..b13 and the stride of each block.
MOBILENET_BASE_CHANNELS = (32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)
MOBILENET_STRIDES = (2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1)
FPN_INPUT_BLOCKS = (5, 11, 13)          # lateral k (1..3) reads the output of this block
FPN_CHANNELS = 64
SSH_BRANCHES = (("c3", 32, 64), ("c5a", 16, 64), ("c5b", 16, 16), ("c7a", 16, 16), ("c7b", 16, 16))
HEAD_CHANNELS_PER_ANCHOR = 16           # 2 class logits + 4 box offsets + 10 landmark offsets

DETECTOR_SELFTEST_HW = (24, 40)
CLASSIFIER_SELFTEST_HW = (32, 32)
DEFAULT_SEED = 20240229


class BlobError(ValueError):
    """A blob (or the data meant for one) breaks the format; the message says which rule."""


Blob = namedtuple("Blob", "kind config tensors file_size checksum dtypes")
Blob.__doc__ = """A parsed blob: kind (1/2), config dict, tensors {name: (shape, array('f'))}
in file order, file size in bytes and the stored CRC-32."""


# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------

def align_up(n, a=ALIGN):
    """Round n up to a multiple of a (the format aligns table end, tensors and data size)."""
    return (n + a - 1) // a * a


def numel(shape):
    """Element count of a shape (1 for the empty shape)."""
    n = 1
    for d in shape:
        n *= d
    return n


def f32(x):
    """x rounded to the nearest binary32, as a Python float: what the blob will store."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def kind_code(kind):
    """Accept 1/2 or "detector"/"classifier" so callers can use either spelling."""
    if isinstance(kind, str):
        for code, name in KIND_NAMES.items():
            if name == kind:
                return code
    elif kind in KIND_NAMES:
        return kind
    raise BlobError(f"unknown model kind {kind!r}; expected 1/'detector' or 2/'classifier'")


def _cstr(raw, what):
    """Decode a NUL-terminated, NUL-padded char field; the padding must really be NULs."""
    end = raw.find(b"\0")
    if end < 0:
        raise BlobError(f"{what} is not NUL-terminated")
    if raw[end:].strip(b"\0"):
        raise BlobError(f"{what} has non-NUL bytes after its terminator")
    try:
        return raw[:end].decode("ascii")
    except UnicodeDecodeError:
        raise BlobError(f"{what} is not ASCII") from None


def _encode_cstr(text, what):
    """Encode a string for a char[32] field, leaving room for the terminating NUL."""
    raw = str(text).encode("ascii")
    if not raw or len(raw) >= NAME_SIZE or b"\0" in raw:
        raise BlobError(f"{what} {text!r} must be 1..{NAME_SIZE - 1} ASCII characters")
    return raw


def to_f32_array(values, what):
    """Pack values as float32 and refuse NaN/inf: a blob with those in it is never useful."""
    try:
        a = array("f", values)
    except (TypeError, OverflowError) as e:
        raise BlobError(f"{what}: cannot be stored as float32 ({e})") from None
    if not all(map(math.isfinite, a)):
        raise BlobError(f"{what}: contains NaN or infinity (after rounding to float32)")
    return a


# ---------------------------------------------------------------------------------------------
# config
# ---------------------------------------------------------------------------------------------

def pack_config(kind, config):
    """The 256 config bytes for a config dict (keys as returned by unpack_config)."""
    kind = kind_code(kind)
    try:
        return _pack_config(kind, config)
    except KeyError as e:
        raise BlobError(f"config has no {e.args[0]!r}") from None
    except (struct.error, TypeError) as e:
        raise BlobError(f"config value of the wrong type or count: {e}") from None


def _pack_config(kind, config):
    """pack_config without the translation of low-level errors."""
    c = config
    common = _CONFIG_COMMON.pack(
        _encode_cstr(c["variant"], "variant"), _encode_cstr(c["family"], "family"),
        c["channel_order"], *c["mean"], *c["scale"], c["input_width"], c["input_height"],
        c["activation"], c["negative_slope"], c["width_x1000"], c["tolerance"], 0)
    if kind == KIND_DETECTOR:
        levels, anchors = c["levels"], c["anchors"]
        if not (1 <= levels <= MAX_LEVELS and 1 <= anchors <= MAX_ANCHORS):
            raise BlobError(f"levels {levels} / anchors {anchors} out of range 1..4")
        if len(c["steps"]) != levels or len(c["min_sizes"]) != levels or \
                any(len(m) != anchors for m in c["min_sizes"]):
            raise BlobError("steps and min_sizes must have one entry per level, "
                            "and min_sizes one size per anchor")
        steps = list(c["steps"]) + [0] * (MAX_LEVELS - levels)
        sizes = []
        for lvl in range(MAX_LEVELS):
            row = list(c["min_sizes"][lvl]) if lvl < levels else []
            sizes += row + [0.0] * (MAX_ANCHORS - len(row))
        specific = _CONFIG_DETECTOR.pack(levels, anchors, *steps, *sizes, *c["variances"],
                                         c["ssh_activation"], c["ssh_slope"], bytes(32))
    else:
        specific = _CONFIG_CLASSIFIER.pack(c["hidden"], c["crop_square"], c["crop_margin"],
                                           c["threshold"], bytes(120))
    raw = common + specific
    unpack_config(kind, raw)            # one set of rules for writer and reader
    return raw


def unpack_config(kind, raw):
    """Parse and validate the 256 config bytes; floats come back rounded to binary32."""
    kind = kind_code(kind)
    if len(raw) != CONFIG_SIZE:
        raise BlobError(f"config is {len(raw)} bytes, expected {CONFIG_SIZE}")
    v = _CONFIG_COMMON.unpack_from(raw, 0)
    c = {"variant": _cstr(v[0], "config variant"), "family": _cstr(v[1], "config family"),
         "channel_order": v[2], "mean": list(v[3:6]), "scale": list(v[6:9]),
         "input_width": v[9], "input_height": v[10], "activation": v[11],
         "negative_slope": v[12], "width_x1000": v[13], "tolerance": v[14]}
    if v[15]:
        raise BlobError("config reserved field at 116 is not zero")
    if c["channel_order"] not in (RGB, BGR):
        raise BlobError(f"config channel order {c['channel_order']} is not 0 (RGB) or 1 (BGR)")
    _check_activation(c["activation"], c["negative_slope"], "config activation")
    if not all(map(math.isfinite, c["mean"] + c["scale"])):
        raise BlobError("config mean/scale are not finite")
    if c["width_x1000"] == 0:
        raise BlobError("config width multiplier is zero")
    if not (c["tolerance"] > 0 and math.isfinite(c["tolerance"])):
        raise BlobError(f"config self-test tolerance {c['tolerance']} must be > 0")
    if kind == KIND_DETECTOR:
        _unpack_detector_config(raw, c)
    else:
        _unpack_classifier_config(raw, c)
    return c


def _check_activation(code, slope, what):
    """Activation code 0/1/2; slope finite, and 0 unless it is a LeakyReLU."""
    if code not in ACT_NAMES:
        raise BlobError(f"{what} {code} is not 0 (none), 1 (ReLU) or 2 (LeakyReLU)")
    if not math.isfinite(slope) or (code != ACT_LEAKY and slope != 0.0):
        raise BlobError(f"{what}: negative slope {slope} must be 0 unless it is a LeakyReLU")


def _unpack_detector_config(raw, c):
    """Detector part of the config: used levels/anchors filled, unused entries zero."""
    v = _CONFIG_DETECTOR.unpack_from(raw, _CONFIG_COMMON.size)
    levels, anchors = v[0], v[1]
    if not (1 <= levels <= MAX_LEVELS and 1 <= anchors <= MAX_ANCHORS):
        raise BlobError(f"config levels {levels} / anchors {anchors} out of range 1..4")
    steps, sizes = v[2:6], v[6:22]
    for lvl in range(MAX_LEVELS):
        used = lvl < levels
        if (steps[lvl] > 0) != used:
            raise BlobError(f"config step of level {lvl} must be {'> 0' if used else '0'}")
        for a in range(MAX_ANCHORS):
            s = sizes[lvl * MAX_ANCHORS + a]
            if (used and a < anchors) != (s > 0) or not math.isfinite(s):
                raise BlobError(f"config min_sizes[{lvl}][{a}] = {s} breaks the used/unused rule")
    c["levels"], c["anchors"] = levels, anchors
    c["steps"] = list(steps[:levels])
    c["min_sizes"] = [list(sizes[l * MAX_ANCHORS:l * MAX_ANCHORS + anchors]) for l in range(levels)]
    c["variances"] = list(v[22:24])
    if not all(x > 0 and math.isfinite(x) for x in c["variances"]):
        raise BlobError(f"config variances {c['variances']} must be > 0")
    c["ssh_activation"], c["ssh_slope"] = v[24], v[25]
    _check_activation(c["ssh_activation"], c["ssh_slope"], "config SSH activation")
    if v[26].strip(b"\0"):
        raise BlobError("config detector reserved bytes 224..255 are not zero")


def _unpack_classifier_config(raw, c):
    """Classifier part of the config."""
    v = _CONFIG_CLASSIFIER.unpack_from(raw, _CONFIG_COMMON.size)
    c["hidden"], c["crop_square"], c["crop_margin"], c["threshold"] = v[0], v[1], v[2], v[3]
    if c["hidden"] == 0:
        raise BlobError("config hidden units is zero")
    if c["crop_square"] not in (0, 1):
        raise BlobError(f"config crop mode {c['crop_square']} is not 0 or 1")
    if not (0.0 <= c["crop_margin"] and math.isfinite(c["crop_margin"])):
        raise BlobError(f"config crop margin {c['crop_margin']} must be >= 0")
    if not (0.0 <= c["threshold"] <= 1.0):
        raise BlobError(f"config threshold {c['threshold']} is not a probability")
    if v[4].strip(b"\0"):
        raise BlobError("config classifier reserved bytes 136..255 are not zero")


def normalize_config(kind, config):
    """The config exactly as a reader will see it (validated, floats rounded to binary32).

    Computing the self-test with this, rather than the caller's doubles, makes the expected
    values those of the network the blob really describes."""
    return unpack_config(kind, pack_config(kind, config))


# ---------------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------------

def blob_bytes(kind, config, tensors):
    """The complete blob as bytes; tensors is a list of (name, shape, flat float values) or
    (name, shape, values, dtype) with dtype DTYPE_F32 (the default) or DTYPE_F16."""
    kind = kind_code(kind)
    config_raw = pack_config(kind, config)
    table_end = TABLE_OFFSET + ENTRY_SIZE * len(tensors)
    data_offset = align_up(table_end)
    entries, chunks, seen, pos = [], [], set(), 0
    for name, shape, values, *rest in tensors:
        dtype = rest[0] if rest else DTYPE_F32
        if dtype not in DTYPE_SIZES:
            raise BlobError(f"tensor {name}: dtype {dtype} is not 1 (float32) or 2 (float16)")
        raw_name = _encode_cstr(name, "tensor name")
        if name in seen:
            raise BlobError(f"tensor name {name!r} is used twice")
        seen.add(name)
        shape = tuple(int(d) for d in shape)
        if not (1 <= len(shape) <= 4) or min(shape) < 1:
            raise BlobError(f"tensor {name}: shape {shape} must have rank 1..4, dims >= 1")
        data = to_f32_array(values, f"tensor {name}")
        if len(data) != numel(shape):
            raise BlobError(f"tensor {name}: {len(data)} values for shape {shape}")
        if dtype == DTYPE_F16:
            try:
                payload = struct.pack(f"<{len(data)}e", *data)
            except (OverflowError, struct.error):
                raise BlobError(f"tensor {name}: a value is out of float16's range") from None
        else:
            if sys.byteorder == "big":
                data.byteswap()
            payload = data.tobytes()
        entries.append(_ENTRY.pack(raw_name, dtype, len(shape),
                                   *(shape + (0,) * (4 - len(shape))), pos))
        chunks.append(payload + bytes(align_up(len(payload)) - len(payload)))
        pos += len(chunks[-1])
    data_size = pos
    file_size = data_offset + data_size
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, ENDIAN_TAG, HEADER_SIZE, kind, file_size,
                          CONFIG_OFFSET, CONFIG_SIZE, len(tensors), TABLE_OFFSET, data_offset,
                          data_size, 0, bytes(60))
    blob = bytearray(b"".join([header, config_raw] + entries))
    blob += bytes(data_offset - len(blob))
    blob += b"".join(chunks)
    struct.pack_into("<I", blob, CHECKSUM_OFFSET, zlib.crc32(blob) & 0xFFFFFFFF)
    return bytes(blob)


def atomic_write(path, data):
    """Write a file so that readers see the old content or the new one, never half of it."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_blob(path, kind, config, tensors):
    """Validate and write a blob atomically; returns its size in bytes."""
    data = blob_bytes(kind, config, tensors)
    atomic_write(path, data)
    return len(data)


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------

def read_blob(path):
    """Read a blob file and validate every field (see parse_blob)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise BlobError(f"cannot read {path}: {e.strerror}") from None
    try:
        return parse_blob(data)
    except BlobError as e:
        raise BlobError(f"{path}: {e}") from None


def parse_blob(data):
    """Parse blob bytes; raise BlobError naming the first rule broken.

    Order matters for useful messages: identity (magic, version) first, then sizes (so a
    truncated file says so), then the checksum, then the table."""
    n = len(data)
    if n < HEADER_SIZE:
        raise BlobError(f"file is {n} bytes, shorter than the {HEADER_SIZE}-byte header")
    (magic, version, endian, header_size, kind, file_size, config_offset, config_size, count,
     table_offset, data_offset, data_size, checksum, reserved) = _HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise BlobError(f"bad magic {magic!r}: not a facemask blob")
    if version != FORMAT_VERSION:
        raise BlobError(f"format version {version}, this reader knows {FORMAT_VERSION}")
    if endian != ENDIAN_TAG:
        raise BlobError(f"endian tag 0x{endian:08x}, expected 0x{ENDIAN_TAG:08x}")
    if header_size != HEADER_SIZE:
        raise BlobError(f"header size {header_size}, expected {HEADER_SIZE}")
    if kind not in KIND_NAMES:
        raise BlobError(f"model kind {kind} is not 1 (detector) or 2 (classifier)")
    if file_size != n:
        raise BlobError(f"header says {file_size} bytes, file has {n} "
                        f"({'truncated' if n < file_size else 'trailing bytes'})")
    if config_offset != CONFIG_OFFSET or config_size != CONFIG_SIZE:
        raise BlobError(f"config at {config_offset}+{config_size}, expected "
                        f"{CONFIG_OFFSET}+{CONFIG_SIZE}")
    if table_offset != TABLE_OFFSET:
        raise BlobError(f"tensor table offset {table_offset}, expected {TABLE_OFFSET}")
    table_end = TABLE_OFFSET + ENTRY_SIZE * count
    if data_offset % ALIGN or data_size % ALIGN or data_offset < table_end:
        raise BlobError(f"data section {data_offset}+{data_size} is misaligned or overlaps "
                        f"the tensor table (ends at {table_end})")
    if data_offset + data_size != file_size:
        raise BlobError(f"data offset {data_offset} + size {data_size} != file size {file_size}")
    zeroed = bytearray(data)
    zeroed[CHECKSUM_OFFSET:CHECKSUM_OFFSET + 4] = bytes(4)
    actual = zlib.crc32(zeroed) & 0xFFFFFFFF
    if actual != checksum:
        raise BlobError(f"checksum mismatch: stored 0x{checksum:08x}, computed 0x{actual:08x} "
                        "(file corrupted)")
    if reserved.strip(b"\0"):
        raise BlobError("header reserved bytes 68..127 are not zero")
    config = unpack_config(kind, bytes(data[CONFIG_OFFSET:CONFIG_OFFSET + CONFIG_SIZE]))
    tensors = _parse_table(data, count, data_offset, data_size)
    _check_padding(data, table_end, tensors)
    return Blob(kind, config, {k: (shape, vals) for k, (shape, vals, _, _) in tensors.items()},
                file_size, checksum, {k: dtype for k, (_, _, _, dtype) in tensors.items()})


def _parse_table(data, count, data_offset, data_size):
    """Tensor table entries -> {name: (shape, array('f'), (start, end) in the file, dtype)}."""
    tensors = {}
    for i in range(count):
        raw_name, dtype, rank, *dims, offset = _ENTRY.unpack_from(data, TABLE_OFFSET + ENTRY_SIZE * i)
        name = _cstr(raw_name, f"tensor {i} name")
        if not name:
            raise BlobError(f"tensor {i} has an empty name")
        if name in tensors:
            raise BlobError(f"tensor name {name!r} appears twice")
        if dtype not in DTYPE_SIZES:
            raise BlobError(f"tensor {name}: dtype {dtype}, only 1 (float32) and 2 (float16) are defined")
        if not 1 <= rank <= 4:
            raise BlobError(f"tensor {name}: rank {rank} not in 1..4")
        if min(dims[:rank]) < 1 or any(dims[rank:]):
            raise BlobError(f"tensor {name}: shape {dims} (rank {rank}) has a zero used "
                            "dimension or a non-zero unused one")
        shape = tuple(dims[:rank])
        nbytes = DTYPE_SIZES[dtype] * numel(shape)
        if offset % ALIGN or offset + nbytes > data_size:
            raise BlobError(f"tensor {name}: data at +{offset} ({nbytes} bytes) is misaligned "
                            f"or outside the {data_size}-byte data section")
        start = data_offset + offset
        if dtype == DTYPE_F16:
            values = array("f", struct.unpack_from(f"<{numel(shape)}e", data, start))
        else:
            values = array("f")
            values.frombytes(data[start:start + nbytes])
            if sys.byteorder == "big":
                values.byteswap()
        tensors[name] = (shape, values, (start, start + nbytes), dtype)
    return tensors


def _check_padding(data, table_end, tensors):
    """Tensors may not overlap, and every byte no tensor owns (padding) must be zero."""
    spans = sorted(span for _, _, span, _ in tensors.values())
    pos = table_end
    for start, end in spans:
        if start < pos:
            raise BlobError(f"tensor data overlaps at file offset {start}")
        if any(data[pos:start]):
            raise BlobError(f"padding bytes {pos}..{start} are not zero")
        pos = max(pos, end)
    if any(data[pos:]):
        raise BlobError(f"padding bytes after offset {pos} are not zero")


# ---------------------------------------------------------------------------------------------
# network structure
# ---------------------------------------------------------------------------------------------

def backbone_channels(width_x1000):
    """Output channels of b0..b13 for a width multiplier given x1000 (250 -> 8 ... 256)."""
    out = []
    for base in MOBILENET_BASE_CHANNELS:
        if base * width_x1000 % 1000:
            raise BlobError(f"width multiplier {width_x1000}/1000 does not divide {base} channels")
        out.append(base * width_x1000 // 1000)
    return out


def conv_out(size, stride):
    """Output size of a 3x3 conv with zero padding 1: floor((in + 2 - 3) / stride) + 1."""
    return (size + 2 - 3) // stride + 1


def level_sizes(h, w):
    """Feature-map sizes of the three detector levels (outputs of b5, b11, b13)."""
    sizes = []
    for i, s in enumerate(MOBILENET_STRIDES):
        h, w = conv_out(h, s), conv_out(w, s)
        if i in FPN_INPUT_BLOCKS:
            sizes.append((h, w))
    return sizes


def expected_shapes(kind, config, selftest_hw):
    """Every tensor a network of this kind/config must hold, with its shape, in blob order.

    selftest_hw is the (H, W) of selftest.input, which fixes the self-test output shapes."""
    kind = kind_code(kind)
    ch = backbone_channels(config["width_x1000"])
    shapes = {"b0.w": (ch[0], 3, 3, 3), "b0.b": (ch[0],)}
    for i in range(1, 14):
        shapes[f"b{i}.dw.w"] = (3, 3, ch[i - 1])
        shapes[f"b{i}.dw.b"] = (ch[i - 1],)
        shapes[f"b{i}.pw.w"] = (ch[i], ch[i - 1])
        shapes[f"b{i}.pw.b"] = (ch[i],)
    h, w = selftest_hw
    if kind == KIND_DETECTOR:
        head = HEAD_CHANNELS_PER_ANCHOR * config["anchors"]
        for k, blk in enumerate(FPN_INPUT_BLOCKS, 1):
            shapes[f"fpn.lat{k}.w"] = (FPN_CHANNELS, ch[blk])
            shapes[f"fpn.lat{k}.b"] = (FPN_CHANNELS,)
        for k in (1, 2):
            shapes[f"fpn.merge{k}.w"] = (FPN_CHANNELS, 3, 3, FPN_CHANNELS)
            shapes[f"fpn.merge{k}.b"] = (FPN_CHANNELS,)
        for k in (1, 2, 3):
            for branch, cout, cin in SSH_BRANCHES:
                shapes[f"ssh{k}.{branch}.w"] = (cout, 3, 3, cin)
                shapes[f"ssh{k}.{branch}.b"] = (cout,)
        for k in (1, 2, 3):
            shapes[f"head{k}.w"] = (head, FPN_CHANNELS)
            shapes[f"head{k}.b"] = (head,)
        shapes["selftest.input"] = (h, w, 3)
        for k, (hk, wk) in enumerate(level_sizes(h, w), 1):
            shapes[f"selftest.head{k}"] = (hk, wk, head)
    else:
        hidden = config["hidden"]
        shapes.update({"fc1.w": (hidden, ch[13]), "fc1.b": (hidden,),
                       "fc2.w": (1, hidden), "fc2.b": (1,),
                       "selftest.input": (h, w, 3), "selftest.output": (1,)})
    return shapes


def may_be_half(name):
    """Whether the engine accepts tensor `name` as float16: convolution weights only
    ("b3.pw.w", "fpn.lat1.w", "ssh2.c3.w", "head1.w"; not fc*, biases or the self-test)."""
    return name.endswith(".w") and name.startswith(("b", "fpn.", "ssh", "head"))


def validate_network(kind, config, tensors, dtypes=None):
    """Check that tensors ({name: (shape, values)}) are exactly the network blob.hpp lists,
    and, given their dtypes ({name: code}), that only convolution weights are float16."""
    tensors = as_tensor_dict(tensors)
    if dtypes:
        bad = [n for n, d in dtypes.items() if d == DTYPE_F16 and not may_be_half(n)]
        if bad:
            raise BlobError("float16 is allowed for convolution weights only, not: " + ", ".join(bad))
    if "selftest.input" not in tensors or len(tensors["selftest.input"][0]) != 3:
        raise BlobError("missing selftest.input [H, W, 3]")
    want = expected_shapes(kind, config, tensors["selftest.input"][0][:2])
    missing = [n for n in want if n not in tensors]
    extra = [n for n in tensors if n not in want]
    wrong = [f"{n} {tuple(tensors[n][0])} (expected {want[n]})"
             for n in want if n in tensors and tuple(tensors[n][0]) != want[n]]
    problems = []
    if missing:
        problems.append("missing tensors: " + ", ".join(missing))
    if extra:
        problems.append("unexpected tensors: " + ", ".join(extra))
    if wrong:
        problems.append("wrong shapes: " + "; ".join(wrong))
    if problems:
        raise BlobError("; ".join(problems))


def as_tensor_dict(tensors):
    """Accept {name: (shape, values)} or [(name, shape, values)] and return the dict form."""
    if isinstance(tensors, dict):
        return tensors
    return {name: (tuple(shape), values) for name, shape, values in tensors}


# ---------------------------------------------------------------------------------------------
# reference forward pass (NHWC, Python floats)
#
# A feature map is a list of H rows, each a list of W pixels, each a list of C floats.
# ---------------------------------------------------------------------------------------------

def _rows(values, n):
    """Split flat values into n equal rows of Python floats (one row per output channel)."""
    flat = list(values)
    k = len(flat) // n
    return [flat[i * k:(i + 1) * k] for i in range(n)]


def activation_fn(code, slope):
    """The per-pixel activation for a config code, or None for 'no activation'."""
    if code == ACT_NONE:
        return None
    if code == ACT_RELU:
        return lambda v: [x if x > 0.0 else 0.0 for x in v]
    if code == ACT_LEAKY:
        return lambda v: [x if x > 0.0 else x * slope for x in v]
    raise BlobError(f"unknown activation {code}")


def _padded(fm):
    """The feature map with a one-pixel border of zero vectors (padding 1 of a 3x3 conv)."""
    zero = [0.0] * len(fm[0][0])
    border = [zero] * (len(fm[0]) + 2)
    return [border] + [[zero] + row + [zero] for row in fm] + [border]


def conv3x3(fm, weight, bias, stride, act=None):
    """Dense 3x3 conv, zero padding 1; weight flat OHWI [Cout, 3, 3, Cin], so each output
    channel's row lines up with the 3x3 patch gathered in (ky, kx, ci) order."""
    w_rows, bias = _rows(weight, len(bias)), list(bias)
    ho, wo = conv_out(len(fm), stride), conv_out(len(fm[0]), stride)
    p = _padded(fm)
    out = []
    for oy in range(ho):
        r0, r1, r2 = p[oy * stride:oy * stride + 3]
        row = []
        for ox in range(wo):
            x = ox * stride
            patch = list(chain(r0[x], r0[x + 1], r0[x + 2], r1[x], r1[x + 1], r1[x + 2],
                               r2[x], r2[x + 1], r2[x + 2]))
            v = [b + sum(map(mul, wr, patch)) for wr, b in zip(w_rows, bias)]
            row.append(act(v) if act else v)
        out.append(row)
    return out


def depthwise3x3(fm, weight, bias, stride, act=None):
    """Depthwise 3x3 conv, zero padding 1; weight flat HWC [3, 3, C] (one tap row per (ky, kx))."""
    taps, bias = _rows(weight, 9), list(bias)
    ho, wo = conv_out(len(fm), stride), conv_out(len(fm[0]), stride)
    p = _padded(fm)
    out = []
    for oy in range(ho):
        rows = p[oy * stride:oy * stride + 3]
        row = []
        for ox in range(wo):
            x = ox * stride
            acc = bias
            for t, (ky, kx) in enumerate((a, b) for a in range(3) for b in range(3)):
                acc = list(map(add, acc, map(mul, taps[t], rows[ky][x + kx])))
            row.append(act(acc) if act else acc)
        out.append(row)
    return out


def pointwise(fm, weight, bias, act=None):
    """1x1 conv; weight flat [Cout, Cin]."""
    w_rows, bias = _rows(weight, len(bias)), list(bias)
    out = []
    for in_row in fm:
        row = []
        for v in in_row:
            o = [b + sum(map(mul, wr, v)) for wr, b in zip(w_rows, bias)]
            row.append(act(o) if act else o)
        out.append(row)
    return out


def upsample_nearest(fm, h, w):
    """Nearest upsampling to exactly h x w: source index min(floor(dst * in / out), in - 1)."""
    hi, wi = len(fm), len(fm[0])
    xs = [min(x * wi // w, wi - 1) for x in range(w)]
    return [[fm[min(y * hi // h, hi - 1)][sx] for sx in xs] for y in range(h)]


def add_maps(a, b):
    """Element-wise sum of two feature maps of the same size."""
    return [[list(map(add, pa, pb)) for pa, pb in zip(ra, rb)] for ra, rb in zip(a, b)]


def image_to_map(h, w, values):
    """HWC flat values -> feature map."""
    vals = [float(x) for x in values]
    if len(vals) != h * w * 3:
        raise BlobError(f"input has {len(vals)} values, expected {h}x{w}x3")
    return [[vals[(y * w + x) * 3:(y * w + x) * 3 + 3] for x in range(w)] for y in range(h)]


def map_to_flat(fm):
    """Feature map -> HWC flat list."""
    return [x for row in fm for px in row for x in px]


def backbone(t, fm, act):
    """b0..b13 of MobileNetV1; returns the outputs of every block (b5, b11, b13 feed the FPN)."""
    outs = [conv3x3(fm, t["b0.w"][1], t["b0.b"][1], MOBILENET_STRIDES[0], act)]
    for i in range(1, 14):
        x = depthwise3x3(outs[-1], t[f"b{i}.dw.w"][1], t[f"b{i}.dw.b"][1], MOBILENET_STRIDES[i], act)
        outs.append(pointwise(x, t[f"b{i}.pw.w"][1], t[f"b{i}.pw.b"][1], act))
    return outs


def ssh(t, k, fm, act, ssh_act):
    """SSH context module k: concat[c3, c5b(c5a), c7b(c7a(c5a))] then the SSH activation.
    c5a and c7a carry the main activation; c3, c5b and c7b have none before the concat."""
    def conv(branch, x, a):
        return conv3x3(x, t[f"ssh{k}.{branch}.w"][1], t[f"ssh{k}.{branch}.b"][1], 1, a)
    c3 = conv("c3", fm, None)
    c5a = conv("c5a", fm, act)
    c5b = conv("c5b", c5a, None)
    c7b = conv("c7b", conv("c7a", c5a, act), None)
    out = []
    for r3, r5, r7 in zip(c3, c5b, c7b):
        row = [p3 + p5 + p7 for p3, p5, p7 in zip(r3, r5, r7)]
        out.append([ssh_act(v) for v in row] if ssh_act else row)
    return out


def forward_detector(tensors, config, h, w, image):
    """Reference RetinaFace forward on a normalised HWC image; returns [(shape, flat)] of the
    three heads (strides 8, 16, 32), each [h_k, w_k, 16A] in blob channel order."""
    t = as_tensor_dict(tensors)
    act = activation_fn(config["activation"], config["negative_slope"])
    ssh_act = activation_fn(config["ssh_activation"], config["ssh_slope"])
    outs = backbone(t, image_to_map(h, w, image), act)
    x1, x2, x3 = (outs[b] for b in FPN_INPUT_BLOCKS)

    def lateral(k, x):
        return pointwise(x, t[f"fpn.lat{k}.w"][1], t[f"fpn.lat{k}.b"][1], act)

    def merge(k, x):
        return conv3x3(x, t[f"fpn.merge{k}.w"][1], t[f"fpn.merge{k}.b"][1], 1, act)

    o3 = lateral(3, x3)
    l2 = lateral(2, x2)
    o2 = merge(2, add_maps(l2, upsample_nearest(o3, len(l2), len(l2[0]))))
    l1 = lateral(1, x1)
    o1 = merge(1, add_maps(l1, upsample_nearest(o2, len(l1), len(l1[0]))))
    heads = []
    for k, o in enumerate((o1, o2, o3), 1):
        y = pointwise(ssh(t, k, o, act, ssh_act), t[f"head{k}.w"][1], t[f"head{k}.b"][1])
        heads.append(((len(y), len(y[0]), len(y[0][0])), map_to_flat(y)))
    return heads


def forward_classifier(tensors, config, h, w, image):
    """Reference mask classifier: backbone, global average pool, fc1 + ReLU, fc2 -> logit."""
    t = as_tensor_dict(tensors)
    act = activation_fn(config["activation"], config["negative_slope"])
    fm = backbone(t, image_to_map(h, w, image), act)[-1]
    pixels = [px for row in fm for px in row]
    pooled = [s / len(pixels) for s in map(sum, zip(*pixels))]
    hidden = pointwise([[pooled]], t["fc1.w"][1], t["fc1.b"][1], activation_fn(ACT_RELU, 0.0))
    return pointwise(hidden, t["fc2.w"][1], t["fc2.b"][1])[0][0][0]


# ---------------------------------------------------------------------------------------------
# self-test
# ---------------------------------------------------------------------------------------------

def make_selftest_input(h, w, seed=DEFAULT_SEED):
    """Deterministic HWC values in [-128, 128), exactly representable in float32.

    A 32-bit LCG (Numerical Recipes constants); each value is its top 24 bits / 65536 - 128,
    so every consumer (Python, C++, float32 or double) starts from the same numbers."""
    state = seed & 0xFFFFFFFF
    out = []
    for _ in range(h * w * 3):
        state = (state * 1664525 + 1013904223) & 0xFFFFFFFF
        out.append((state >> 8) / 65536.0 - 128.0)
    return out


def selftest_detector(tensors, config, h=DETECTOR_SELFTEST_HW[0], w=DETECTOR_SELFTEST_HW[1],
                      seed=DEFAULT_SEED):
    """Self-test tensors for a detector blob: [(name, shape, values)] for selftest.input and
    selftest.head1..3.  tensors should already be float32-rounded (as the blob stores them)."""
    image = make_selftest_input(h, w, seed)
    out = [("selftest.input", (h, w, 3), image)]
    for k, (shape, values) in enumerate(forward_detector(tensors, config, h, w, image), 1):
        out.append((f"selftest.head{k}", shape, values))
    return out


def selftest_classifier(tensors, config, h=CLASSIFIER_SELFTEST_HW[0],
                        w=CLASSIFIER_SELFTEST_HW[1], seed=DEFAULT_SEED):
    """Self-test tensors for a classifier blob: selftest.input and selftest.output (the logit)."""
    image = make_selftest_input(h, w, seed)
    logit = forward_classifier(tensors, config, h, w, image)
    return [("selftest.input", (h, w, 3), image), ("selftest.output", (1,), [logit])]


def run_selftest(blob):
    """Re-run a parsed blob's self-test; returns a summary dict with 'ok'.

    The rule is the one in blob.hpp: |got - want| <= t * (1 + |want|) for every value."""
    validate_network(blob.kind, blob.config, blob.tensors, blob.dtypes)
    shape, image = blob.tensors["selftest.input"]
    h, w = shape[0], shape[1]
    if blob.kind == KIND_DETECTOR:
        got = [vals for _, vals in forward_detector(blob.tensors, blob.config, h, w, image)]
        want = [blob.tensors[f"selftest.head{k}"][1] for k in (1, 2, 3)]
    else:
        got = [[forward_classifier(blob.tensors, blob.config, h, w, image)]]
        want = [blob.tensors["selftest.output"][1]]
    tol = blob.config["tolerance"]
    max_abs = max_ratio = 0.0
    count = 0
    for g_list, w_list in zip(got, want):
        for g, wv in zip(g_list, w_list):
            diff = abs(g - wv)
            max_abs = max(max_abs, diff)
            max_ratio = max(max_ratio, diff / (tol * (1.0 + abs(wv))))
            count += 1
    return {"ok": max_ratio <= 1.0, "values": count, "max_abs_diff": max_abs,
            "max_ratio": max_ratio, "tolerance": tol, "input_hw": (h, w)}
