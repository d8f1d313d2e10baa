"""The Program: what the compiler hands the runtime, and its `.wafer` file format.

A Program is plain data: the input and output signature, the constant tensors
and a straight list of instructions (kernel name, input and output value
names, attributes, source location), plus a header of metadata and reports.
The runtime executes it (`runtime.executor`); the compiler produces it
(`compiler.lower`). The runtime never imports the compiler.

A `.wafer` file is one Program, safe to load from a stranger (no pickle, no
code, nothing evaluated). Its byte layout, specified in `docs/wafer-format.md`:

    magic "WSCWAFER" | u32 format version | u32 flags | u64 header length
    header: canonical JSON (UTF-8)        | zero padding to a 64-byte boundary
    tensor data (each tensor 64-byte aligned, raw little-endian, C order)
    SHA-256 of every byte above (32 bytes)

`encode_wafer` / `decode_wafer` are the pure halves; `write_wafer` writes
atomically and `read_wafer` validates the whole file before returning, raising
`ArtifactError` with a one-line reason and a hint for anything wrong with it.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import stat
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .dtypes import DTYPES, dtype_from_numpy
from .errors import ArtifactError

FORMAT_VERSION = 1
MAGIC = b"WSCWAFER"
ALIGN = 64                               # header padding and tensor offsets
PREAMBLE = struct.Struct("<8sIIQ")       # magic, format version, flags, header length
CHECKSUM_NBYTES = 32                     # SHA-256
MAX_NESTING = 100                        # lists/objects deep in `meta` and `attrs`

_FLOAT_TAG = "$float"                    # {"$float": "nan" | "inf" | "-inf"}
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}

_RECOMPILE_HINT = "recompile the model with `wsc compile` to get a fresh .wafer file"
_WRITER_HINT = "the Program is malformed: this is a bug in whatever built it (e.g. wsc's lowering)"


@dataclass
class TensorSpec:
    """A named tensor of the signature. Dims are ints or symbol names bound at run time.

    `value` names the program value that holds the tensor when it differs from
    `name` (an input's value receives the array passed as `name`; an output's
    value is returned as `name`)."""

    name: str
    dtype: str
    shape: list[int | str]
    value: str | None = None

    @property
    def source(self) -> str:
        return self.value or self.name


@dataclass
class Instr:
    """One kernel call: ``outputs = kernel(*inputs, **attrs)``."""

    kernel: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    op: str = ""      # the IR op it came from (for reports and errors)
    loc: str = ""     # source location, printed in errors and profiles


@dataclass
class Program:
    """A whole compiled model: signature, instructions in execution order, constants, metadata."""

    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    instrs: list[Instr]
    constants: dict[str, np.ndarray] = field(default_factory=dict)
    # Metadata written into the file header: producer, source hash, pipeline, reports...
    header: dict[str, Any] = field(default_factory=dict)


def format_type(spec: TensorSpec) -> str:
    """`f32[N, 784]`: a spec's type in the IR text syntax, for messages."""
    return f"{spec.dtype}[{', '.join(str(d) for d in spec.shape)}]"


def wsc_version() -> str:
    """The installed wsc version, for messages ("unknown" when not installed)."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("wsc")
    except PackageNotFoundError:
        return "unknown"


# --------------------------------------------------------------------------
# Writing

def encode_wafer(program: Program) -> bytes:
    """The bytes of the `.wafer` file for `program`: deterministic, no timestamps.

    The program is checked with the reader's own checks first, so a file this
    writes is always one `decode_wafer` accepts (given the kernels exist).
    """
    where = "<program>"
    if not isinstance(program.header, dict):
        raise ArtifactError(f"cannot write the program: its header must be a dict, "
                            f"got {type(program.header).__name__}", where=where)
    table, blobs, data_nbytes = _layout_tensors(program.constants, where)
    meta = _to_json(program.header, "meta", where)
    header = {
        "format_version": FORMAT_VERSION,
        "producer": str(program.header.get("producer", "unknown")),
        "program": {
            "inputs": [_to_json(_spec_fields(s), f"program.inputs[{i}]", where)
                       for i, s in enumerate(program.inputs)],
            "outputs": [_to_json(_spec_fields(s), f"program.outputs[{i}]", where)
                        for i, s in enumerate(program.outputs)],
            "instrs": [_to_json(_instr_fields(ins), f"program.instrs[{i}]", where)
                       for i, ins in enumerate(program.instrs)],
        },
        "tensors": table,
        "data_nbytes": data_nbytes,
        "meta": meta,
    }
    skeleton = _HeaderChecker(where, "cannot write the program", _WRITER_HINT).program(header)
    skeleton.constants = dict(program.constants)
    check_program(skeleton, where, hint=_WRITER_HINT)

    try:
        header_bytes = json.dumps(header, sort_keys=True, separators=(",", ":"),
                                  ensure_ascii=False, allow_nan=False).encode("utf-8")
    except UnicodeEncodeError as e:
        raise ArtifactError(f"cannot write the program: a header string is not valid "
                            f"Unicode ({e.reason})", where=where) from None
    preamble = PREAMBLE.pack(MAGIC, FORMAT_VERSION, 0, len(header_bytes))
    head_end = PREAMBLE.size + len(header_bytes)
    out = bytearray(_align(head_end) + data_nbytes)
    out[:PREAMBLE.size] = preamble
    out[PREAMBLE.size:head_end] = header_bytes
    data_start = _align(head_end)
    for name, raw in blobs.items():
        offset = data_start + table[name]["offset"]
        out[offset:offset + len(raw)] = raw
    out += hashlib.sha256(out).digest()
    return bytes(out)


def write_wafer(program: Program, path: str | os.PathLike) -> None:
    """Write `program` to `path` atomically.

    The bytes go to a new temporary file in the same directory, which is
    fsynced and then renamed over `path`; on any failure the temporary file is
    removed and `path` is left as it was. Nothing but `path` is ever replaced.
    """
    data = encode_wafer(program)  # every check runs before anything touches the disk
    path = os.fspath(path)
    where = str(path)
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ArtifactError("cannot write the .wafer file: the path is a directory",
                            where=where, hint="give a file name, e.g. model.wafer")
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    try:
        # O_EXCL: never reuse (or clobber) an existing file; mode 0o666 lets the umask decide.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as e:
        raise ArtifactError(f"cannot write the .wafer file: {e.strerror}", where=where,
                            hint="check that the directory exists and is writable") from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise ArtifactError(f"cannot write the .wafer file: {e.strerror or e}", where=where,
                                hint="check free disk space and permissions; "
                                     "the previous file (if any) is unchanged") from e
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    """Make the rename durable (POSIX); best effort elsewhere."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _spec_fields(spec: TensorSpec) -> dict[str, Any]:
    return {"name": spec.name, "dtype": spec.dtype, "shape": spec.shape, "value": spec.value}


def _instr_fields(ins: Instr) -> dict[str, Any]:
    return {"kernel": ins.kernel, "inputs": ins.inputs, "outputs": ins.outputs,
            "attrs": ins.attrs, "op": ins.op, "loc": ins.loc}


def _layout_tensors(constants: dict[str, Any], where: str):
    """The tensor table and raw bytes of every constant, in sorted name order."""
    if not isinstance(constants, dict):
        raise ArtifactError(f"cannot write the program: constants must be a dict, "
                            f"got {type(constants).__name__}", where=where)
    bad = [k for k in constants if not isinstance(k, str)]
    if bad:
        raise ArtifactError(f"cannot write the program: constant name {bad[0]!r} is not a string",
                            where=where)
    table: dict[str, dict[str, Any]] = {}
    blobs: dict[str, bytes] = {}
    end = 0
    for name in sorted(constants):
        arr = np.asarray(constants[name])
        try:
            dtype = dtype_from_numpy(arr.dtype.newbyteorder("="))
        except (KeyError, TypeError):
            raise ArtifactError(
                f"cannot write the program: constant {name!r} has dtype {arr.dtype}, "
                f"which .wafer files cannot store", where=where,
                hint=f"supported dtypes: {', '.join(DTYPES)}") from None
        raw = np.ascontiguousarray(arr, dtype=DTYPES[dtype].newbyteorder("<")).tobytes()
        offset = _align(end)
        table[name] = {"dtype": dtype, "shape": [int(d) for d in arr.shape],
                       "offset": offset, "nbytes": len(raw)}
        blobs[name] = raw
        end = offset + len(raw)
    return table, blobs, end


def _to_json(v: Any, path: str, where: str, depth: int = 0) -> Any:
    """`v` as JSON data: tuples become lists, numpy scalars Python ones, non-finite
    floats `{"$float": "nan"}`, and dict keys starting with `$` get one more `$`."""
    if depth > MAX_NESTING:
        raise ArtifactError(f"cannot write the program: {path} nests deeper than "
                            f"{MAX_NESTING} levels", where=where)
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isfinite(f):
            return f
        return {_FLOAT_TAG: "nan" if math.isnan(f) else ("inf" if f > 0 else "-inf")}
    if isinstance(v, (list, tuple)):
        return [_to_json(x, f"{path}[{i}]", where, depth + 1) for i, x in enumerate(v)]
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if not isinstance(k, str):
                raise ArtifactError(f"cannot write the program: {path} has a key {k!r} "
                                    f"that is not a string", where=where)
            out["$" + k if k.startswith("$") else k] = _to_json(x, f"{path}.{k}", where, depth + 1)
        return out
    hint = ("store arrays as constant tensors, or convert them with .tolist()"
            if isinstance(v, np.ndarray) else
            "headers and attributes hold only JSON data: None, bools, numbers, "
            "strings, lists and dicts with string keys")
    raise ArtifactError(f"cannot write the program: {path} holds a {type(v).__name__}, "
                        f"which a .wafer header cannot store", where=where, hint=hint)


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


# --------------------------------------------------------------------------
# Reading

def read_wafer(path: str | os.PathLike) -> Program:
    """Load and fully validate the `.wafer` file at `path`; `ArtifactError` if anything is off."""
    where = os.fspath(path)
    where = where.decode(errors="replace") if isinstance(where, bytes) else where
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise ArtifactError("is a directory, not a .wafer file", where=where,
                                hint="give the path of a .wafer file produced by `wsc compile`")
        if not stat.S_ISREG(st.st_mode):
            raise ArtifactError("is not a regular file", where=where,
                                hint="give the path of a .wafer file produced by `wsc compile`")
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ArtifactError("no such file", where=where,
                            hint="check the path; `wsc compile MODEL -o model.wafer` "
                                 "produces a .wafer file") from None
    except PermissionError:
        raise ArtifactError("cannot read the file: permission denied", where=where,
                            hint="check the file's permissions") from None
    except OSError as e:
        raise ArtifactError(f"cannot read the file: {e.strerror or e}", where=where) from None
    return decode_wafer(data, where)


def decode_wafer(data: bytes, source: str = "<bytes>") -> Program:
    """Parse and validate a whole `.wafer` file held in memory.

    Tensors are zero-copy, read-only views of `data`. `source` names the file
    in error messages."""
    if not isinstance(data, bytes):
        data = bytes(data)  # a private immutable copy: the views must not change under us
    header, data_start = _check_container(data, source)
    checker = _HeaderChecker(source, "invalid header")
    program = checker.program(header)
    expected = len(data) - data_start - CHECKSUM_NBYTES
    if header["data_nbytes"] != expected:
        checker.fail("data_nbytes", f"is {header['data_nbytes']} but the file holds "
                                    f"{expected} bytes of tensor data")
    program.constants = _read_tensors(header["tensors"], data, data_start, checker)
    check_program(program, source)
    check_kernels(program, source)
    return program


def _check_container(data: bytes, where: str) -> tuple[dict, int]:
    """Magic, version, sizes, checksum and JSON; returns (header, data section start)."""
    n = len(data)
    if data[:len(MAGIC)] != MAGIC:
        if 0 < n < len(MAGIC) and MAGIC.startswith(data):
            _truncated(where, f"the file is only {n} bytes long")
        what, hint = _describe_foreign(data, where)
        raise ArtifactError(f"not a .wafer file: {what}", where=where, hint=hint)
    if n < PREAMBLE.size:
        _truncated(where, f"the file ends inside its {PREAMBLE.size}-byte preamble ({n} bytes)")
    _, version, flags, header_len = PREAMBLE.unpack_from(data)
    if version > FORMAT_VERSION:
        raise ArtifactError(
            f"the file has .wafer format version {version}, newer than this runtime reads "
            f"(version {FORMAT_VERSION}, wsc {wsc_version()})", where=where,
            hint="upgrade wsc, or compile the model again with this version of wsc")
    if version != FORMAT_VERSION:
        raise ArtifactError(f"unknown .wafer format version {version} (this runtime reads "
                            f"version {FORMAT_VERSION})", where=where, hint=_RECOMPILE_HINT)
    if flags != 0:
        raise ArtifactError(f"the file uses format flags {flags:#x}, which this runtime "
                            f"(wsc {wsc_version()}) does not know", where=where,
                            hint="upgrade wsc, or compile the model again with this version")
    head_end = PREAMBLE.size + header_len
    data_start = _align(head_end)
    if data_start + CHECKSUM_NBYTES > n:
        _truncated(where, f"its header declares {header_len} bytes but the file is "
                          f"only {n} bytes long")
    body_end = n - CHECKSUM_NBYTES
    if hashlib.sha256(memoryview(data)[:body_end]).digest() != data[body_end:]:
        declared = _declared_size(data[PREAMBLE.size:head_end], data_start)
        if declared is not None and declared > n:
            _truncated(where, f"it is {n} bytes long but its header declares {declared}")
        raise ArtifactError("the file is damaged: its SHA-256 checksum does not match "
                            "its contents", where=where,
                            hint="copy or download the file again, or " + _RECOMPILE_HINT)
    if any(data[head_end:data_start]):
        raise ArtifactError("invalid header: the padding after the header is not zero",
                            where=where, hint=_RECOMPILE_HINT)
    try:
        text = data[PREAMBLE.size:head_end].decode("utf-8")
    except UnicodeDecodeError as e:
        raise ArtifactError(f"invalid header: not valid UTF-8 (byte {e.start})", where=where,
                            hint=_RECOMPILE_HINT) from None
    try:
        header = _strict_json(text)
    except (ValueError, RecursionError) as e:
        raise ArtifactError(f"invalid header: not valid JSON ({e})", where=where,
                            hint=_RECOMPILE_HINT) from None
    return header, data_start


def _truncated(where: str, detail: str):
    raise ArtifactError(f"the file is truncated: {detail}", where=where,
                        hint="the copy or download was probably interrupted; copy it again, "
                             "or " + _RECOMPILE_HINT)


def _declared_size(header_bytes: bytes, data_start: int) -> int | None:
    """The file size a (possibly damaged) header declares, or None if it cannot tell."""
    try:
        header = _strict_json(header_bytes.decode("utf-8"))
    except (ValueError, RecursionError):
        return None
    size = header.get("data_nbytes") if isinstance(header, dict) else None
    if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
        return data_start + size + CHECKSUM_NBYTES
    return None


def _strict_json(text: str) -> Any:
    """json.loads that refuses NaN/Infinity literals, overflowing floats and duplicate keys."""
    def no_constant(name):
        raise ValueError(f"{name} is not allowed in a .wafer header")

    def finite_float(s):
        f = float(s)
        if not math.isfinite(f):
            raise ValueError(f"number {s} is out of range")
        return f

    def unique_keys(pairs):
        out = {}
        for k, v in pairs:
            if k in out:
                raise ValueError(f"duplicate key {k!r}")
            out[k] = v
        return out

    return json.loads(text, parse_constant=no_constant, parse_float=finite_float,
                      object_pairs_hook=unique_keys)


def _describe_foreign(data: bytes, where: str) -> tuple[str, str]:
    """(what the bytes look like, what to do) for a file without the .wafer magic."""
    def compile_hint(kind_ext: str) -> str:
        name = os.path.basename(where) if not where.startswith("<") else ""
        stem, ext = os.path.splitext(name)
        if not name or ext == ".wafer":  # a misnamed file: show the usual shape of the command
            name, stem = f"MODEL{kind_ext}", stem or "model"
        return f"compile it first with `wsc compile {name} -o {stem}.wafer`"

    not_a_program = "holds arrays (e.g. inputs for `wsc run`), not a program; " \
                    "pass the .wafer file produced by `wsc compile`"
    if not data:
        return "the file is empty", "an interrupted copy leaves empty files; " + _RECOMPILE_HINT
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "it looks like a ZIP archive (a NumPy .npz?)", f"an .npz file {not_a_program}"
    if data.startswith(b"\x93NUMPY"):
        return "it looks like a NumPy .npy array", f"a .npy file {not_a_program}"
    if data.startswith(b"\x1f\x8b"):
        return "it looks gzip-compressed", "decompress it first (gunzip)"
    if _looks_like_onnx(data) or where.lower().endswith(".onnx"):
        return "it looks like an ONNX model", compile_hint(".onnx")
    text = _as_text(data[:4096])
    if text is not None:
        if "module @" in text or "func @" in text:
            return "it looks like wsc IR text (.wir)", compile_hint(".wir")
        return "it looks like a text file (a .wsl or .wir source?)", compile_hint(".wsl")
    return "unrecognised binary data", "a .wafer file is produced by `wsc compile`"


def _looks_like_onnx(data: bytes) -> bool:
    # An ONNX ModelProto starts with ir_version (field 1, varint: 0x08 then a small
    # number), followed by a length-delimited field (producer, domain, graph...) or
    # model_version (field 5, varint).
    return (len(data) >= 3 and data[0] == 0x08 and 1 <= data[1] <= 0x20
            and data[2] in (0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42, 0x72))


def _as_text(head: bytes) -> str | None:
    if b"\x00" in head:
        return None
    for cut in range(4):  # the 4096-byte window may split a multi-byte character
        try:
            text = head[:len(head) - cut].decode("utf-8")
            break
        except UnicodeDecodeError:
            continue
    else:
        return None
    printable = sum(c.isprintable() or c in "\n\r\t" for c in text)
    return text if printable >= 0.95 * max(1, len(text)) else None


# --------------------------------------------------------------------------
# Validation

class _HeaderChecker:
    """Checks the decoded JSON header field by field; every error names the field path."""

    def __init__(self, where: str, prefix: str, hint: str = _RECOMPILE_HINT) -> None:
        self.where = where
        self.prefix = prefix
        self.hint = hint

    def fail(self, path: str, what: str):
        field_ = f"field '{path}'" if path else "the header"
        raise ArtifactError(f"{self.prefix}: {field_} {what}", where=self.where, hint=self.hint)

    # -- primitive checks ----------------------------------------------------
    def obj(self, v: Any, path: str, fields: tuple[str, ...]) -> dict:
        if not isinstance(v, dict):
            self.fail(path, f"must be an object, got {_json_kind(v)}")
        for k in fields:
            if k not in v:
                self.fail(_join(path, k), "is missing")
        extra = sorted(set(v) - set(fields))
        if extra:
            self.fail(_join(path, extra[0]), f"is not part of .wafer format version {FORMAT_VERSION}")
        return v

    def array(self, v: Any, path: str) -> list:
        if not isinstance(v, list):
            self.fail(path, f"must be an array, got {_json_kind(v)}")
        return v

    def string(self, v: Any, path: str, *, empty_ok: bool = False) -> str:
        if not isinstance(v, str):
            self.fail(path, f"must be a string, got {_json_kind(v)}")
        if not v and not empty_ok:
            self.fail(path, "must not be empty")
        return v

    def integer(self, v: Any, path: str) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            self.fail(path, f"must be an integer, got {_json_kind(v)}")
        if v < 0:
            self.fail(path, f"must not be negative, got {v}")
        return v

    def dtype(self, v: Any, path: str) -> str:
        self.string(v, path)
        if v not in DTYPES:
            self.fail(path, f"has unknown dtype {v!r} (known: {', '.join(DTYPES)})")
        return v

    def shape(self, v: Any, path: str, *, symbols: bool) -> list:
        self.array(v, path)
        for i, d in enumerate(v):
            if symbols and isinstance(d, str):
                # a symbol, or a product of symbols and sizes ("batch*seq", "4*batch")
                if not all(p.isidentifier() or p.isdigit() for p in d.split("*")):
                    self.fail(f"{path}[{i}]", f"must be a dim size or a symbol name, got {d!r}")
            else:
                self.integer(d, f"{path}[{i}]")
        return v

    # -- the header's parts --------------------------------------------------
    def program(self, header: Any) -> Program:
        """The Program described by the header (constants not yet attached)."""
        self.obj(header, "", ("format_version", "producer", "program", "tensors",
                              "data_nbytes", "meta"))
        if header["format_version"] != FORMAT_VERSION:
            self.fail("format_version", f"is {header['format_version']!r} but the file's "
                                        f"preamble says {FORMAT_VERSION}")
        self.string(header["producer"], "producer", empty_ok=True)
        self.integer(header["data_nbytes"], "data_nbytes")
        body = self.obj(header["program"], "program", ("inputs", "outputs", "instrs"))
        inputs = [self.spec(s, f"program.inputs[{i}]")
                  for i, s in enumerate(self.array(body["inputs"], "program.inputs"))]
        outputs = [self.spec(s, f"program.outputs[{i}]")
                   for i, s in enumerate(self.array(body["outputs"], "program.outputs"))]
        instrs = [self.instr(x, f"program.instrs[{i}]")
                  for i, x in enumerate(self.array(body["instrs"], "program.instrs"))]
        tensors = header["tensors"]
        if not isinstance(tensors, dict):
            self.fail("tensors", f"must be an object, got {_json_kind(tensors)}")
        for name, entry in tensors.items():
            self.tensor_entry(name, entry)
        if not isinstance(header["meta"], dict):
            self.fail("meta", f"must be an object, got {_json_kind(header['meta'])}")
        meta = self.from_json(header["meta"], "meta")
        return Program(inputs=inputs, outputs=outputs, instrs=instrs, header=meta)

    def spec(self, v: Any, path: str) -> TensorSpec:
        self.obj(v, path, ("name", "dtype", "shape", "value"))
        value = v["value"]
        if value is not None:
            self.string(value, f"{path}.value")
        return TensorSpec(name=self.string(v["name"], f"{path}.name"),
                          dtype=self.dtype(v["dtype"], f"{path}.dtype"),
                          shape=list(self.shape(v["shape"], f"{path}.shape", symbols=True)),
                          value=value)

    def instr(self, v: Any, path: str) -> Instr:
        self.obj(v, path, ("kernel", "inputs", "outputs", "attrs", "op", "loc"))
        names = {}
        for key in ("inputs", "outputs"):
            names[key] = [self.string(x, f"{path}.{key}[{i}]")
                          for i, x in enumerate(self.array(v[key], f"{path}.{key}"))]
        if not names["outputs"]:
            self.fail(f"{path}.outputs", "must name at least one value")
        if not isinstance(v["attrs"], dict):
            self.fail(f"{path}.attrs", f"must be an object, got {_json_kind(v['attrs'])}")
        return Instr(kernel=self.string(v["kernel"], f"{path}.kernel"),
                     inputs=names["inputs"], outputs=names["outputs"],
                     attrs=self.from_json(v["attrs"], f"{path}.attrs"),
                     op=self.string(v["op"], f"{path}.op", empty_ok=True),
                     loc=self.string(v["loc"], f"{path}.loc", empty_ok=True))

    def tensor_entry(self, name: str, v: Any) -> None:
        path = f"tensors.{name}"
        if not name:
            self.fail("tensors", "has a tensor with an empty name")
        self.obj(v, path, ("dtype", "shape", "offset", "nbytes"))
        dtype = self.dtype(v["dtype"], f"{path}.dtype")
        shape = self.shape(v["shape"], f"{path}.shape", symbols=False)
        offset = self.integer(v["offset"], f"{path}.offset")
        nbytes = self.integer(v["nbytes"], f"{path}.nbytes")
        # numpy's own limits: at most 64 dims, and a size (even with a 0 dim) below 2**63.
        if len(shape) > 64 or math.prod(max(d, 1) for d in shape) * DTYPES[dtype].itemsize >= 2 ** 63:
            self.fail(f"{path}.shape", "describes an array larger than any machine can hold")
        want = math.prod(shape) * DTYPES[dtype].itemsize
        if nbytes != want:
            self.fail(f"{path}.nbytes", f"is {nbytes} but {dtype}{list(shape)} takes {want} bytes")
        if offset % ALIGN:
            self.fail(f"{path}.offset", f"is {offset}, not a multiple of {ALIGN}")

    def from_json(self, v: Any, path: str, depth: int = 0) -> Any:
        """Undo `_to_json`: `{"$float": ...}` tags become floats and `$$key` becomes `$key`."""
        if depth > MAX_NESTING:
            self.fail(path, f"nests deeper than {MAX_NESTING} levels")
        if isinstance(v, list):
            return [self.from_json(x, f"{path}[{i}]", depth + 1) for i, x in enumerate(v)]
        if not isinstance(v, dict):
            return v
        if _FLOAT_TAG in v:
            tag = v[_FLOAT_TAG]
            if len(v) != 1 or not isinstance(tag, str) or tag not in _NON_FINITE:
                self.fail(path, f'must be {{"$float": "nan" | "inf" | "-inf"}}, got {json.dumps(v)}')
            return _NON_FINITE[tag]
        out = {}
        for k, x in v.items():
            if k.startswith("$") and not k.startswith("$$"):
                self.fail(_join(path, k), "uses a reserved key (keys starting with '$' "
                                          "are escaped as '$$')")
            out[k[1:] if k.startswith("$") else k] = self.from_json(x, _join(path, k), depth + 1)
        return out


def _read_tensors(table: dict, data: bytes, data_start: int,
                  checker: _HeaderChecker) -> dict[str, np.ndarray]:
    """Read-only zero-copy arrays over the data section, after bounds and overlap checks."""
    data_nbytes = len(data) - data_start - CHECKSUM_NBYTES
    spans = []
    for name, e in table.items():
        if e["offset"] + e["nbytes"] > data_nbytes:
            checker.fail(f"tensors.{name}", f"extends past the end of the tensor data "
                                           f"(bytes {e['offset']}..{e['offset'] + e['nbytes']} "
                                           f"of {data_nbytes})")
        if e["nbytes"]:
            spans.append((e["offset"], e["offset"] + e["nbytes"], name))
    spans.sort()
    for (_, end_a, a), (start_b, _, b) in zip(spans, spans[1:]):
        if start_b < end_a:
            checker.fail(f"tensors.{b}", f"overlaps tensor {a!r} in the data section")
    arrays = {}
    for name in sorted(table):
        e = table[name]
        dtype = DTYPES[e["dtype"]].newbyteorder("<")
        count = math.prod(e["shape"])
        arr = np.frombuffer(data, dtype=dtype, count=count, offset=data_start + e["offset"])
        if e["dtype"] == "bool" and count and arr.view(np.uint8).max() > 1:
            checker.fail(f"tensors.{name}", "holds bool bytes other than 0 and 1")
        arr = arr.reshape(e["shape"])
        arr.flags.writeable = False
        arrays[name] = arr
    return arrays


def check_program(program: Program, where: str, *, hint: str = _RECOMPILE_HINT) -> None:
    """The program's dataflow: every value defined once, before use; outputs defined.

    Raises `ArtifactError` naming the instruction and value."""
    def fail(what: str):
        raise ArtifactError(f"invalid program: {what}", where=where, hint=hint)

    defined: dict[str, str] = {}

    def define(name: str, by: str):
        if name in defined:
            fail(f"value {name!r} is defined twice ({defined[name]} and {by})")
        defined[name] = by

    for kind, specs in (("input", program.inputs), ("output", program.outputs)):
        seen = set()
        for spec in specs:
            if spec.name in seen:
                fail(f"two {kind}s are named {spec.name!r}")
            seen.add(spec.name)
    for spec in program.inputs:
        define(spec.source, f"input {spec.name!r}")
    for name in program.constants:
        define(name, "a constant")
    for i, ins in enumerate(program.instrs):
        label = _instr_label(i, ins)
        for v in ins.inputs:
            if v not in defined:
                fail(f"{label} uses value {v!r} before it is defined")
        for v in ins.outputs:
            define(v, label)
    for spec in program.outputs:
        if spec.source not in defined:
            fail(f"output {spec.name!r} refers to value {spec.source!r}, which is never defined")


def check_kernels(program: Program, where: str) -> None:
    """Every instruction's kernel exists in this runtime's `KERNELS`."""
    from .kernels import KERNELS

    for i, ins in enumerate(program.instrs):
        if ins.kernel not in KERNELS:
            producer = program.header.get("producer") if isinstance(program.header, dict) else None
            made_by = f" (it was made by {producer})" if producer else ""
            raise ArtifactError(
                f"this artifact needs kernel {ins.kernel!r} which this runtime does not have "
                f"(wsc {wsc_version()}); used by {_instr_label(i, ins)}", where=where,
                hint=f"run it with the wsc version that compiled it{made_by}, "
                     f"or compile the model again with this one")


def _instr_label(i: int, ins: Instr) -> str:
    label = f"instr {i} ({ins.op or ins.kernel}"
    return label + (f" at {ins.loc})" if ins.loc else ")")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _json_kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return f"boolean {str(v).lower()}"
    if isinstance(v, (int, float)):
        return f"number {v}"
    if isinstance(v, str):
        return f"string {v!r}" if len(v) <= 40 else "a string"
    return {list: "an array", dict: "an object"}.get(type(v), type(v).__name__)
