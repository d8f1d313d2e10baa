"""The `.wafer` file format: byte layout, round trip, determinism, atomic writes, and
a clear `ArtifactError` for every kind of damaged or foreign file.

The helpers `split` / `pack` below re-implement the documented layout
(docs/wafer-format.md) independently of `runtime.program`, so the tests can
check the writer's bytes and craft files with a valid checksum but a bad header.
"""
from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import struct

import numpy as np
import pytest

from runtime.errors import ArtifactError
from runtime.program import (FORMAT_VERSION, Instr, Program, TensorSpec, decode_wafer,
                             encode_wafer, read_wafer, write_wafer)

PREAMBLE = struct.Struct("<8sIIQ")


def split(blob: bytes) -> tuple[dict, bytes]:
    """(header as JSON data, data section) of a .wafer file, per the documented layout."""
    magic, version, flags, hlen = PREAMBLE.unpack_from(blob)
    assert (magic, version, flags) == (b"WSCWAFER", 1, 0)
    start = -(-(PREAMBLE.size + hlen) // 64) * 64
    return json.loads(blob[PREAMBLE.size:PREAMBLE.size + hlen]), blob[start:-32]


def pack(header: dict | None, data: bytes, *, header_bytes: bytes | None = None,
         version: int = 1, pad: bytes = b"\0") -> bytes:
    """A .wafer file with a correct checksum around `header` (or raw `header_bytes`)."""
    if header_bytes is None:
        header_bytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    body = b"WSCWAFER" + struct.pack("<IIQ", version, 0, len(header_bytes)) + header_bytes
    body += pad * (-len(body) % 64) + data
    return body + hashlib.sha256(body).digest()


def mlp_program() -> Program:
    """y = relu(x @ w + b): a tiny valid program."""
    return Program(
        inputs=[TensorSpec("x", "f32", ["N", 4])],
        outputs=[TensorSpec("y", "f32", ["N", 3], value="h2")],
        instrs=[
            Instr("nn.matmul", ["x", "w"], ["h0"], op="nn.matmul", loc="mlp.wsl:3:7"),
            Instr("math.add", ["h0", "b"], ["h1"], op="math.add", loc="mlp.wsl:3:7"),
            Instr("nn.relu", ["h1"], ["h2"], op="nn.relu", loc="mlp.wsl:4:3"),
        ],
        constants={"w": np.arange(12, dtype=np.float32).reshape(4, 3) - 5,
                   "b": np.array([0.5, -1.0, 2.0], dtype=np.float32)},
        header={"producer": "wsc 0.1.0", "source": "mlp.wsl"},
    )


def rich_program() -> Program:
    rng = np.random.default_rng(0)
    constants = {
        "f16": rng.standard_normal((3, 5)).astype(np.float16),
        "f32": rng.standard_normal((7,)).astype(np.float32),
        "f64": rng.standard_normal((2, 2, 3)),
        "i64": np.array([[-(2 ** 62), 3], [7, 2 ** 40]], dtype=np.int64),
        "mask": rng.random((4, 4)) > 0.5,
        "u8": np.arange(200, 256, dtype=np.uint8),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "scalar": np.float64(2.5) * np.ones((), dtype=np.float64),
        "big_endian": np.array([1.5, -2.25, 1e30], dtype=">f4"),
        "strided": np.arange(20, dtype=np.int64).reshape(4, 5)[:, ::2],
    }
    attrs = {"eps": 1e-5, "lo": -math.inf, "hi": math.inf, "fill": math.nan,
             "nested": [1.0, math.nan, [math.inf, 3]], "$float": "not a tag",
             "$$two": {"$float": 1}, "mode": "same", "keepdims": True, "axes": [0, -1],
             "none": None, "neg_zero": -0.0, "tiny": 5e-324}
    return Program(
        inputs=[TensorSpec("x", "f32", ["N", 7]), TensorSpec("flags", "bool", [], value="flags_in")],
        outputs=[TensorSpec("y", "f32", ["N", 7], value="h0"), TensorSpec("w16", "f16", [3, 5], value="f16")],
        instrs=[Instr("math.add", ["x", "f32"], ["h0"], attrs=attrs, op="math.add", loc="r.wsl:1:1")],
        constants=constants,
        header={"producer": "wsc 0.1.0", "source_hash": "sha256:abc", "pipeline": "fuse,prune",
                "reports": {"prune": {"sparsity": 0.9, "worst": math.inf, "layers": ["fc1", "fc2"]}},
                "ir": "module @m {\n  # ünïcödé\n}\n", "count": 3},
    )


def assert_same_program(a: Program, b: Program) -> None:
    """Field-by-field equality (Program's dataclass == would compare arrays ambiguously)."""
    assert a.inputs == b.inputs
    assert a.outputs == b.outputs
    assert len(a.instrs) == len(b.instrs)
    for x, y in zip(a.instrs, b.instrs):
        assert (x.kernel, x.inputs, x.outputs, x.op, x.loc) == (y.kernel, y.inputs, y.outputs, y.op, y.loc)
        assert same_json(x.attrs, y.attrs)
    assert same_json(a.header, b.header)
    assert sorted(a.constants) == sorted(b.constants)
    for name, arr in a.constants.items():
        got = b.constants[name]
        assert got.dtype.newbyteorder("=") == np.asarray(arr).dtype.newbyteorder("=")
        assert got.shape == np.shape(arr)
        np.testing.assert_array_equal(got, arr)


def same_json(x, y) -> bool:
    """Equality that treats NaN as equal to NaN and tells -0.0 from 0.0."""
    if isinstance(x, float) and isinstance(y, float):
        if math.isnan(x) or math.isnan(y):
            return math.isnan(x) and math.isnan(y)
        return x == y and math.copysign(1, x) == math.copysign(1, y)
    if isinstance(x, (list, tuple)) and isinstance(y, list):
        return len(x) == len(y) and all(same_json(a, b) for a, b in zip(x, y))
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(same_json(x[k], y[k]) for k in x)
    return type(x) is type(y) and x == y


def error_of(blob: bytes, source: str = "<bytes>") -> ArtifactError:
    with pytest.raises(ArtifactError) as info:
        decode_wafer(blob, source)
    err = info.value
    assert "\n" not in err.message, "messages are one line"
    assert err.hint, "every artifact error carries a hint"
    assert err.where == source
    return err


# --------------------------------------------------------------------------
# Layout, round trip, determinism

def test_round_trip_keeps_every_dtype_shape_attr_and_header():
    program = rich_program()
    decoded = decode_wafer(encode_wafer(program))
    assert_same_program(program, decoded)
    assert decoded.constants["scalar"].shape == ()
    assert decoded.constants["empty"].shape == (0, 3)
    assert math.isnan(decoded.instrs[0].attrs["fill"])
    assert decoded.instrs[0].attrs["$float"] == "not a tag"
    assert decoded.instrs[0].attrs["$$two"] == {"$float": 1}


def test_tensors_are_read_only_views_of_the_file_bytes():
    blob = encode_wafer(rich_program())
    decoded = decode_wafer(blob)
    for name, arr in decoded.constants.items():
        assert not arr.flags.writeable, name
        assert not arr.flags.owndata, name
        with pytest.raises(ValueError):
            arr[...] = 0
    # The view points into `blob`: base chain ends at the bytes object itself.
    base = decoded.constants["f64"]
    while isinstance(base, np.ndarray):
        base = base.base
    assert base is blob


def test_bytes_follow_the_documented_layout():
    program = mlp_program()
    blob = encode_wafer(program)
    magic, version, flags, hlen = PREAMBLE.unpack_from(blob)
    assert (magic, version, flags) == (b"WSCWAFER", FORMAT_VERSION, 0)
    header_bytes = blob[24:24 + hlen]
    header = json.loads(header_bytes)
    # Canonical JSON: re-serialising with sorted keys and compact separators gives the same bytes.
    assert json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() == header_bytes
    start = -(-(24 + hlen) // 64) * 64
    assert start % 64 == 0 and not any(blob[24 + hlen:start])
    assert blob[-32:] == hashlib.sha256(blob[:-32]).digest()
    assert header["format_version"] == 1 and header["producer"] == "wsc 0.1.0"
    assert header["meta"] == {"producer": "wsc 0.1.0", "source": "mlp.wsl"}
    assert header["program"]["outputs"] == [{"name": "y", "dtype": "f32", "shape": ["N", 3], "value": "h2"}]
    assert header["program"]["instrs"][0] == {"kernel": "nn.matmul", "inputs": ["x", "w"], "outputs": ["h0"],
                                             "attrs": {}, "op": "nn.matmul", "loc": "mlp.wsl:3:7"}
    data = blob[start:-32]
    assert header["data_nbytes"] == len(data)
    assert list(header["tensors"]) == ["b", "w"]  # sorted names, in offset order
    for name, entry in header["tensors"].items():
        want = program.constants[name].astype("<f4").tobytes()
        assert entry["offset"] % 64 == 0 and entry["nbytes"] == len(want)
        assert data[entry["offset"]:entry["offset"] + entry["nbytes"]] == want
    assert pack(*split(blob)) == blob


def test_non_finite_floats_are_tagged_not_nan_literals():
    blob = encode_wafer(rich_program())
    header, _ = split(blob)  # json.loads would accept NaN literals; make sure there are none
    text = blob[24:24 + PREAMBLE.unpack_from(blob)[3]].decode()
    assert "NaN" not in text and "Infinity" not in text
    attrs = header["program"]["instrs"][0]["attrs"]
    assert attrs["fill"] == {"$float": "nan"}
    assert attrs["lo"] == {"$float": "-inf"} and attrs["hi"] == {"$float": "inf"}
    assert attrs["$$float"] == "not a tag" and attrs["$$$two"] == {"$$float": 1}
    assert header["meta"]["reports"]["prune"]["worst"] == {"$float": "inf"}


def test_encoding_is_deterministic_and_ignores_dict_order():
    a = rich_program()
    b = rich_program()
    b.constants = dict(reversed(list(b.constants.items())))
    b.instrs[0].attrs = dict(reversed(list(b.instrs[0].attrs.items())))
    b.header = dict(reversed(list(b.header.items())))
    assert encode_wafer(a) == encode_wafer(a)
    assert encode_wafer(a) == encode_wafer(b)


def test_empty_program_round_trips():
    program = Program(inputs=[TensorSpec("x", "i64", [])], outputs=[TensorSpec("x", "i64", [])], instrs=[])
    blob = encode_wafer(program)
    assert_same_program(program, decode_wafer(blob))
    assert split(blob)[0]["data_nbytes"] == 0


def test_write_and_read_a_file(tmp_path):
    path = tmp_path / "model.wafer"
    write_wafer(mlp_program(), path)
    assert path.read_bytes() == encode_wafer(mlp_program())
    assert_same_program(mlp_program(), read_wafer(path))
    assert sorted(os.listdir(tmp_path)) == ["model.wafer"]


# --------------------------------------------------------------------------
# Atomic writes

def test_failing_write_leaves_target_untouched_and_no_temp_files(tmp_path, monkeypatch):
    path = tmp_path / "model.wafer"
    path.write_bytes(b"previous contents")
    (tmp_path / "neighbour.txt").write_text("keep me")

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(ArtifactError) as info:
        write_wafer(mlp_program(), path)
    assert "No space left on device" in info.value.message
    assert info.value.where == str(path)
    assert path.read_bytes() == b"previous contents"
    assert sorted(os.listdir(tmp_path)) == ["model.wafer", "neighbour.txt"]


def test_failing_rename_removes_the_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "model.wafer"
    path.write_bytes(b"previous contents")

    def refuse(src, dst):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(ArtifactError, match="Permission denied"):
        write_wafer(mlp_program(), path)
    assert path.read_bytes() == b"previous contents"
    assert os.listdir(tmp_path) == ["model.wafer"]


def test_unencodable_program_touches_nothing(tmp_path):
    path = tmp_path / "model.wafer"
    path.write_bytes(b"previous contents")
    program = mlp_program()
    program.instrs[0].attrs["bad"] = {1, 2}
    with pytest.raises(ArtifactError, match=r"program.instrs\[0\].attrs.bad holds a set"):
        write_wafer(program, path)
    program = mlp_program()
    program.instrs[1].attrs["arr"] = np.zeros(3)
    with pytest.raises(ArtifactError) as info:
        write_wafer(program, path)
    assert "tolist" in info.value.hint
    assert path.read_bytes() == b"previous contents"
    assert os.listdir(tmp_path) == ["model.wafer"]


@pytest.mark.parametrize("mutate, fragment", [
    (lambda p: p.instrs.append(Instr("nn.relu", ["nowhere"], ["z"])), "uses value 'nowhere' before it is defined"),
    (lambda p: p.instrs.append(Instr("nn.relu", ["h0"], ["h1"])), "value 'h1' is defined twice"),
    (lambda p: p.outputs.append(TensorSpec("z", "f32", [3], value="ghost")), "'ghost', which is never defined"),
    (lambda p: p.inputs[0].shape.append(1.5), "program.inputs[0].shape[2]' must be an integer"),
    (lambda p: p.outputs[0].__setattr__("dtype", "f128"), "unknown dtype 'f128'"),
    (lambda p: p.constants.__setitem__("c", np.zeros(2, dtype=np.complex64)), "complex64"),
    (lambda p: p.header.__setitem__(3, "x"), "key 3 that is not a string"),
])
def test_writer_refuses_programs_the_reader_would_reject(mutate, fragment):
    program = mlp_program()
    mutate(program)
    with pytest.raises(ArtifactError) as info:
        encode_wafer(program)
    assert fragment in info.value.message
    assert "recompile" not in (info.value.hint or "")  # the writer's caller has a bug; no file exists yet


def test_writing_to_a_directory_or_missing_directory_fails_cleanly(tmp_path):
    with pytest.raises(ArtifactError, match="directory"):
        write_wafer(mlp_program(), tmp_path)
    with pytest.raises(ArtifactError) as info:
        write_wafer(mlp_program(), tmp_path / "no" / "such" / "dir.wafer")
    assert "writable" in info.value.hint
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------
# Damaged and foreign files

@pytest.fixture(scope="module")
def blob() -> bytes:
    return encode_wafer(mlp_program())


def test_truncation_anywhere_says_truncated(blob):
    hlen = PREAMBLE.unpack_from(blob)[3]
    data_start = -(-(24 + hlen) // 64) * 64
    cuts = {"inside magic": 5, "inside preamble": 16, "inside header": 24 + hlen // 2,
            "inside padding": 24 + hlen + 1, "inside data": data_start + 30,
            "inside checksum": len(blob) - 10, "last byte": len(blob) - 1}
    for where, cut in cuts.items():
        err = error_of(blob[:cut])
        assert "truncated" in err.message, where


def test_flipped_bytes_say_damaged(blob):
    hlen = PREAMBLE.unpack_from(blob)[3]
    for pos in (30, 24 + hlen - 2, len(blob) - 40, len(blob) - 1):
        bad = bytearray(blob)
        bad[pos] ^= 0x01
        err = error_of(bytes(bad))
        assert "damaged" in err.message and "checksum" in err.message
        assert "again" in err.hint


def test_appended_bytes_are_detected(blob):
    assert "damaged" in error_of(blob + b"\0" * 64).message


def test_wrong_magic(blob):
    err = error_of(b"WSCWAFEX" + blob[8:])
    assert "not a .wafer file" in err.message


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wafer"
    path.write_bytes(b"")
    with pytest.raises(ArtifactError, match="not a .wafer file: the file is empty"):
        read_wafer(path)


def test_onnx_model_is_recognised(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"], name="relu0")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    path = tmp_path / "model.onnx"
    onnx.save(helper.make_model(graph, producer_name="test"), str(path))
    for model in (helper.make_model(graph, producer_name="test"), helper.make_model(graph)):
        err = error_of(model.SerializeToString())  # recognised by content, not by name
        assert "looks like an ONNX model" in err.message
    with pytest.raises(ArtifactError) as info:
        read_wafer(path)
    assert "not a .wafer file" in info.value.message and "ONNX" in info.value.message
    assert "wsc compile model.onnx" in info.value.hint


def test_npz_and_npy_are_recognised(tmp_path):
    np.savez(tmp_path / "inputs.npz", x=np.ones(3))
    np.save(tmp_path / "x.npy", np.ones(3))
    with pytest.raises(ArtifactError) as info:
        read_wafer(tmp_path / "inputs.npz")
    assert "ZIP" in info.value.message and ".npz" in info.value.message
    assert "wsc compile" in info.value.hint
    with pytest.raises(ArtifactError, match=r"\.npy"):
        read_wafer(tmp_path / "x.npy")


def test_text_files_are_recognised(tmp_path):
    path = tmp_path / "mlp.wsl"
    path.write_text("let h = relu(x @ w1)\nreturn h\n")
    with pytest.raises(ArtifactError) as info:
        read_wafer(path)
    assert "text file" in info.value.message
    assert "compile it first with `wsc compile mlp.wsl" in info.value.hint
    ir = error_of(b"module @m {\n  func @main() -> () {\n  }\n}\n")
    assert "IR text" in ir.message


def test_unrecognised_binary(blob):
    assert "unrecognised binary data" in error_of(bytes(range(256)) * 2).message


def test_future_and_unknown_versions(blob):
    newer = blob[:8] + struct.pack("<I", 7) + blob[12:]
    err = error_of(newer)
    assert "version 7" in err.message and "newer" in err.message
    assert "upgrade wsc" in err.hint
    err = error_of(blob[:8] + struct.pack("<I", 0) + blob[12:])
    assert "unknown .wafer format version 0" in err.message
    err = error_of(blob[:12] + struct.pack("<I", 4) + blob[16:])
    assert "flags 0x4" in err.message


def test_reading_paths_that_are_not_files(tmp_path):
    with pytest.raises(ArtifactError, match="no such file"):
        read_wafer(tmp_path / "missing.wafer")
    with pytest.raises(ArtifactError, match="is a directory"):
        read_wafer(tmp_path)


def test_undecodable_headers(blob):
    header, data = split(blob)
    text = json.dumps(header, sort_keys=True, separators=(",", ":"))
    cases = {
        b"{not json": "not valid JSON",
        text.replace('"count"', '"x"').replace('"source":"mlp.wsl"', '"source":NaN').encode(): "not valid JSON",
        text.replace('"source":"mlp.wsl"', '"source":1e999').encode(): "not valid JSON",
        text.replace('"source":"mlp.wsl"', '"source":1,"source":2').encode(): "duplicate key",
        b'{"a":"\xff"}': "not valid UTF-8",
        b"[1, 2]": "must be an object",
    }
    for header_bytes, fragment in cases.items():
        err = error_of(pack(None, data, header_bytes=header_bytes))
        assert fragment in err.message, (header_bytes[:40], err.message)


def test_deeply_nested_values_are_refused_not_crashed_on(blob):
    header, data = split(blob)
    for depth in (300, 5000):  # beyond the format's limit, and beyond Python's recursion limit
        text = json.dumps(header, sort_keys=True, separators=(",", ":"))
        text = text.replace('"source":"mlp.wsl"', '"source":' + "[" * depth + "]" * depth)
        err = error_of(pack(None, data, header_bytes=text.encode()))
        assert "nests deeper than 100 levels" in err.message or "not valid JSON" in err.message
    program = mlp_program()
    nested: list = []
    for _ in range(150):
        nested = [nested]
    program.header["deep"] = nested
    with pytest.raises(ArtifactError, match="nests deeper than 100 levels"):
        encode_wafer(program)


def test_nonzero_header_padding(blob):
    header, data = split(blob)
    err = error_of(pack(header, data, pad=b"\x01"))
    assert "padding" in err.message


def _set(path: str, value):
    """A mutator setting header[path] (dotted, with [i] indices); value DELETE removes it."""
    def mutate(header):
        keys = [int(k) if k.isdigit() else k for k in path.replace("[", ".").replace("]", "").split(".")]
        node = header
        for k in keys[:-1]:
            node = node[k]
        if value is DELETE:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
    return mutate


DELETE = object()

SCHEMA_CASES = [
    (_set("program", DELETE), "field 'program' is missing"),
    (_set("extra", 1), "field 'extra' is not part of .wafer format version 1"),
    (_set("format_version", 2), "field 'format_version' is 2"),
    (_set("producer", None), "field 'producer' must be a string, got null"),
    (_set("meta", []), "field 'meta' must be an object"),
    (_set("program.inputs", {}), "field 'program.inputs' must be an array"),
    (_set("program.inputs[0].name", ""), "field 'program.inputs[0].name' must not be empty"),
    (_set("program.inputs[0].dtype", "float32"), "unknown dtype 'float32'"),
    (_set("program.inputs[0].shape", ["N", -4]), "field 'program.inputs[0].shape[1]' must not be negative"),
    (_set("program.inputs[0].shape", ["N", True]), "'program.inputs[0].shape[1]' must be an integer, got boolean"),
    (_set("program.inputs[0].shape", ["2N", 4]), "'program.inputs[0].shape[0]' must be a dim size or a symbol"),
    (_set("program.inputs[0].value", 3), "'program.inputs[0].value' must be a string"),
    (_set("program.outputs[0].shape", "N,3"), "'program.outputs[0].shape' must be an array"),
    (_set("program.instrs[1].kernel", 5), "field 'program.instrs[1].kernel' must be a string, got number 5"),
    (_set("program.instrs[1].inputs[0]", ["h0"]), "'program.instrs[1].inputs[0]' must be a string"),
    (_set("program.instrs[1].outputs", []), "'program.instrs[1].outputs' must name at least one value"),
    (_set("program.instrs[1].attrs", [1]), "'program.instrs[1].attrs' must be an object"),
    (_set("program.instrs[1].attrs", {"eps": {"$float": "zero"}}), "program.instrs[1].attrs.eps' must be {\"$float\""),
    (_set("program.instrs[1].attrs", {"$eps": 1}), "'program.instrs[1].attrs.$eps' uses a reserved key"),
    (_set("program.instrs[1].loc", None), "'program.instrs[1].loc' must be a string"),
    (_set("program.instrs[2].op", DELETE), "field 'program.instrs[2].op' is missing"),
    (_set("program.instrs[2].color", "red"), "'program.instrs[2].color' is not part of"),
    (_set("tensors", []), "field 'tensors' must be an object"),
    (_set("tensors.w.dtype", "f8"), "field 'tensors.w.dtype' has unknown dtype 'f8'"),
    (_set("tensors.w.shape", [4, 3.0]), "'tensors.w.shape[1]' must be an integer"),
    (_set("tensors.w.shape", [0, 2 ** 62, 4]), "'tensors.w.shape' describes an array larger than any machine"),
    (_set("tensors.w.nbytes", 47), "field 'tensors.w.nbytes' is 47 but f32[4, 3] takes 48 bytes"),
    (_set("tensors.w.offset", 8), "'tensors.w.offset' is 8, not a multiple of 64"),
    (_set("tensors.w.offset", 1024), "'tensors.w' extends past the end of the tensor data"),
    (_set("tensors.w.offset", 0), "'tensors.w' overlaps tensor 'b'"),
    (_set("data_nbytes", 4), "'data_nbytes' is 4 but the file holds 112 bytes"),
    (_set("program.instrs[1].kernel", "nn.fancy_sparse_add"),
     "this artifact needs kernel 'nn.fancy_sparse_add' which this runtime does not have (wsc "),
    (_set("program.instrs[1].inputs[0]", "h9"), "instr 1 (math.add at mlp.wsl:3:7) uses value 'h9' before it is defined"),
    (_set("program.instrs[1].inputs[0]", "h2"), "uses value 'h2' before it is defined"),
    (_set("program.instrs[1].outputs", ["h0"]), "value 'h0' is defined twice"),
    (_set("program.instrs[0].outputs", ["b"]), "value 'b' is defined twice (a constant and instr 0"),
    (_set("program.outputs[0].value", "h7"), "output 'y' refers to value 'h7', which is never defined"),
    (_set("program.inputs[0].value", "w"), "value 'w' is defined twice"),
]


@pytest.mark.parametrize("mutate, fragment", SCHEMA_CASES, ids=[c[1][:40] for c in SCHEMA_CASES])
def test_schema_errors_behind_a_valid_checksum(blob, mutate, fragment):
    header, data = split(blob)
    mutate(header)
    err = error_of(pack(header, data))
    assert fragment in err.message, err.message


def test_unknown_kernel_hint_names_the_producer(blob):
    header, data = split(blob)
    header["program"]["instrs"][0]["kernel"] = "sparse.csr_matmul_v9"
    err = error_of(pack(header, data))
    assert "wsc 0.1.0" in err.hint


def test_tensor_data_checks(blob):
    header, data = split(blob)
    header["tensors"]["flag"] = {"dtype": "bool", "shape": [2], "offset": 128, "nbytes": 2}
    header["data_nbytes"] = 130
    bad = pack(header, data + b"\0" * (128 - len(data)) + b"\x01\x02")
    assert "bool bytes other than 0 and 1" in error_of(bad).message
    good = pack(header, data + b"\0" * (128 - len(data)) + b"\x01\x00")
    np.testing.assert_array_equal(decode_wafer(good).constants["flag"], [True, False])


def test_random_header_edits_never_crash():
    """A stranger's file can hold anything behind a valid checksum: only ArtifactError may escape."""
    import copy
    import random

    header0, data = split(encode_wafer(rich_program()))

    def paths(node, prefix=()):
        yield prefix
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for k, v in children:
            yield from paths(v, prefix + (k,))

    all_paths = [p for p in paths(header0) if p]
    values = [None, True, 0, -1, 2 ** 70, 1.5, "", "N", "f32", "h0", "f16", "x", [], [1], ["N"],
              [0, 2 ** 62], {}, {"$float": "nan"}, {"$float": ["a"]}, {"$x": 1}, {"a": 1}, 64]
    rng = random.Random(7)
    outcomes = set()
    for _ in range(400):
        header = copy.deepcopy(header0)
        for path in rng.sample(all_paths, rng.randint(1, 3)):
            node = header
            try:
                for k in path[:-1]:
                    node = node[k]
                if isinstance(node, dict) and rng.random() < 0.15:
                    del node[path[-1]]
                elif isinstance(node, list) or isinstance(path[-1], str):
                    node[path[-1]] = copy.deepcopy(rng.choice(values))
            except (KeyError, IndexError, TypeError):
                pass  # an earlier edit removed this path
        try:
            decode_wafer(pack(header, data))
            outcomes.add("ok")
        except ArtifactError:
            outcomes.add("error")
    assert outcomes == {"ok", "error"}
