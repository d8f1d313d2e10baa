"""The IR text format: exact printed text, parsing, and print(parse(print(m))) == print(m)."""
from __future__ import annotations

import base64
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.ir import DTYPES, Constant, Location, Module, SparseEncoding, TensorType
from compiler.ir.builder import Builder
from compiler.ir.parser import parse_module, parse_type
from compiler.ir.printer import assign_names, print_module, print_type
from compiler.ir.verifier import verify
from compiler.ops import registry


def roundtrip(m: Module, **kw) -> tuple[str, Module]:
    text = print_module(m, **kw)
    m2 = parse_module(text)
    assert print_module(m2, **kw) == text
    verify(m2)
    return text, m2


@pytest.fixture
def attrs_op(monkeypatch):
    """A test-only op with one attribute of every kind, registered for one test."""
    def infer(ins, attrs):
        return [ins[0]]
    opdef = registry.OpDef(
        name="testing.attrs", operands=("x",), infer=infer, flops=lambda i, o, a: 0,
        fusion="opaque", doc="identity with attributes",
        attrs=(registry.Attr("i", "int", 0), registry.Attr("f", "float", 1.0),
               registry.Attr("b", "bool", False), registry.Attr("s", "str", "same"),
               registry.Attr("ii", "ints", []), registry.Attr("ff", "floats", [1.5]),
               registry.Attr("dt", "dtype", "f32"), registry.Attr("sh", "shape", [1]),
               registry.Attr("req", "int")))
    monkeypatch.setitem(registry.OPS, opdef.name, opdef)
    monkeypatch.setitem(registry._SHORT, opdef.short_name, opdef.name)
    return opdef


def mlp() -> Module:
    m = Module("mlp")
    x = m.add_input("x", TensorType(("N", 4), "f32"))
    w = m.add_constant("fc1.weight", np.arange(24, dtype=np.float32).reshape(4, 6) / 8)
    b = m.add_constant("fc1.bias", np.array([0.1, -0.0, 2.5, -3.0, 1e20, 7.0], np.float32),
                       sparsity=0.5)
    bld = Builder(m)
    h = bld.value("nn.matmul", [x, w], loc=Location("mlp.wsl", 7, 8), result_name="h")
    h = bld.value("math.add", [h, b], loc=Location.fuse([Location("mlp.wsl", 8, 3),
                                                         Location(name="Add_1")]))
    y = bld.value("nn.relu", [h], loc=Location(name="Relu_2"), result_name="h")
    s = bld.value("math.reduce_sum", [y], {"axes": [-1], "keepdims": True})
    m.outputs = {"logits": y, "total": s}
    return m


MLP_TEXT = """\
module @mlp {
  const @fc1.weight : f32[4, 6] = dense<elided>
  const @fc1.bias : f32[6] sparsity(0.5) = dense<[0.1, -0.0, 2.5, -3.0, 1e+20, 7.0]>

  func @main(%x: f32[N, 4]) -> (logits: f32[N, 6], total: f32[N, 1]) {
    %h = nn.matmul(%x, @fc1.weight) : f32[N, 6] loc("mlp.wsl":7:8)
    %0 = math.add(%h, @fc1.bias) : f32[N, 6] loc(fused["mlp.wsl":8:3, "Add_1"])
    %1 = nn.relu(%0) : f32[N, 6] loc("Relu_2")
    %2 = math.reduce_sum(%1) {axes = [-1], keepdims = true} : f32[N, 1]
    return logits: %1, total: %2
  }
}
"""


def test_print_module_exact_text():
    assert print_module(mlp()) == MLP_TEXT


def test_print_without_locations():
    text = print_module(mlp(), locs=False)
    assert "loc(" not in text
    assert "    %0 = math.add(%h, @fc1.bias) : f32[N, 6]\n" in text


def test_full_mode_writes_resources_as_little_endian_base64():
    m = mlp()
    text = print_module(m, constants="full")
    assert "const @fc1.weight : f32[4, 6] = dense_resource<fc1.weight>" in text
    blob = re.search(r'fc1\.weight: "base64:([^"]*)"', text).group(1)
    expected = (np.arange(24, dtype="<f4") / np.float32(8)).astype("<f4").tobytes()
    assert base64.b64decode(blob) == expected
    assert text.endswith("}\n\nresources {\n  fc1.weight: \"base64:" + blob + "\"\n}\n")


def test_parse_builds_the_same_graph():
    m = parse_module(print_module(mlp(), constants="full"))
    assert m.name == "mlp"
    assert [v.name for v in m.inputs] == ["x"]
    assert m.inputs[0].type == TensorType(("N", 4), "f32")
    assert [op.name for op in m.ops] == ["nn.matmul", "math.add", "nn.relu", "math.reduce_sum"]
    mm, add, relu, red = m.ops
    assert mm.operands == [m.inputs[0], m.constants["fc1.weight"]]
    assert add.operands == [mm.result, m.constants["fc1.bias"]]
    assert relu.operands == [add.result] and red.operands == [relu.result]
    assert red.attrs == {"axes": [-1], "keepdims": True}
    assert mm.loc == Location("mlp.wsl", 7, 8)
    assert add.loc == Location(fused=(Location("mlp.wsl", 8, 3), Location(name="Add_1")))
    assert relu.loc == Location(name="Relu_2")
    assert red.loc == Location()
    assert m.outputs == {"logits": relu.result, "total": red.result}
    assert m.constants["fc1.bias"].sparsity == 0.5
    np.testing.assert_array_equal(m.constants["fc1.weight"].data,
                                  np.arange(24, dtype=np.float32).reshape(4, 6) / 8)
    assert m.constants["fc1.bias"].data.dtype == np.float32


def test_roundtrip_elided_and_full():
    for mode in ("elide", "full"):
        roundtrip(mlp(), constants=mode)
    _, m2 = roundtrip(mlp(), constants="elide")
    assert m2.constants["fc1.weight"].data is None  # elided: no data
    assert m2.constants["fc1.bias"].data is not None  # small: inline


def test_parse_fills_default_attributes_and_ignores_comments():
    text = """
    # a comment
    module @m {   # another
      const @c : f32[2, 2] = dense<[[1, 2], [3, 4.5]]>  # ints are fine for floats
      func @main(%x: f32[2, 2]) -> (y: f32[]) {
        %s = math.reduce_sum(%x) : f32[]   # axes defaults to all
        %t = math.add(%s, @c) : f32[2, 2] #csr(nnz=3)
        return y: %s
      }
    }
    """
    m = parse_module(text)
    assert m.ops[0].attrs == {"axes": [], "keepdims": False}
    np.testing.assert_array_equal(m.constants["c"].data, np.array([[1, 2], [3, 4.5]], np.float32))
    assert m.ops[1].result.type == TensorType((2, 2), "f32", SparseEncoding("csr", 3))


def test_splat_constants():
    m = Module()
    x = m.add_input("x", TensorType((3, 40), "f32"))
    z = m.add_constant("zeros", np.zeros((3, 40), np.float32))
    one = m.add_constant("ones", np.ones(5, np.int64))
    m.outputs = {"a": Builder(m).value("math.add", [x, z]), "o": one}
    text = print_module(m)
    assert "const @zeros : f32[3, 40] = dense<0.0>" in text
    assert "const @ones : i64[5] = dense<1>" in text
    _, m2 = roundtrip(m, constants="full")
    np.testing.assert_array_equal(m2.constants["zeros"].data, np.zeros((3, 40), np.float32))
    np.testing.assert_array_equal(m2.constants["ones"].data, np.ones(5, np.int64))


DTYPE_CASES = {
    "f16": np.array([0.1, -0.0, np.inf, -np.inf, 65504, 6e-8, np.nan, 1.0, 3.0], np.float16),
    "f32": np.array([0.1, -0.0, np.inf, np.nan, 1e-45, 3.4028235e38, 1 / 3], np.float32),
    "f64": np.array([0.1, -0.0, -np.inf, np.nan, 5e-324, 1.7976931348623157e308, 1 / 3]),
    "bool": np.array([[True, False, True], [False, False, True]]),
    "i8": np.array([-128, 127, 0], np.int8),
    "i64": np.array([-2**63, 2**63 - 1, 0, -1], np.int64),
    "u8": np.array([0, 255, 7], np.uint8),
    "u64": np.array([0, 2**64 - 1], np.uint64),
    "i32": np.array(-7, np.int32),
}


@pytest.mark.parametrize("dtype", sorted(DTYPE_CASES))
@pytest.mark.parametrize("repeat", [1, 7])  # small (inline) and large (resource) constants
def test_full_mode_is_bit_exact(dtype, repeat):
    data = DTYPE_CASES[dtype]
    if repeat > 1:
        data = np.concatenate([data.reshape(-1)] * repeat)
    m = Module()
    m.add_constant("c", data)
    m.outputs = {"c": m.constants["c"]}
    text, m2 = roundtrip(m, constants="full")
    back = m2.constants["c"].data
    assert back.dtype == data.dtype and back.shape == data.shape
    assert back.tobytes() == data.tobytes()
    assert ("dense_resource<c>" in text) == (data.size > 16)


def test_nan_payloads_and_negative_nan_go_to_resources_in_full_mode():
    bits = np.array([0x7FC00000, 0xFFC00000, 0x7F800001, 0x3F800000], np.uint32)
    data = bits.view(np.float32)
    m = Module()
    m.add_constant("c", data)
    text, m2 = roundtrip(m, constants="full")
    assert "dense_resource<c>" in text
    assert m2.constants["c"].data.view(np.uint32).tolist() == bits.tolist()
    # For display (elide mode) they print as plain nan.
    assert "dense<[nan, nan, nan, 1.0]>" in print_module(m)


def test_shortest_float_repr_per_dtype():
    m = Module()
    m.add_constant("a", np.array([0.1, 1 / 3], np.float32))
    m.add_constant("b", np.array([0.1, 1 / 3], np.float16))
    m.add_constant("c", np.array([0.1, 1 / 3], np.float64))
    text = print_module(m)
    assert "@a : f32[2] = dense<[0.1, 0.33333334]>" in text
    assert "@b : f16[2] = dense<[0.1, 0.3333]>" in text
    assert "@c : f64[2] = dense<[0.1, 0.3333333333333333]>" in text


def test_scalar_empty_and_odd_named_constants():
    m = Module("my model")
    m.add_constant("s", np.array(0.5, np.float32))
    m.add_constant("empty", np.zeros((2, 0), np.float32))
    m.add_constant("onnx::MatMul_12", np.array([1, 2], np.int32))
    m.add_constant("w:", np.array([True]))
    m.add_constant("has space", np.zeros(20, np.float32) + np.arange(20, dtype=np.float32))
    text = print_module(m)
    assert 'module @"my model" {' in text
    assert "const @s : f32[] = dense<0.5>" in text
    assert "const @empty : f32[2, 0] = dense<[[], []]>" in text
    assert "const @onnx::MatMul_12 : i32[2] = dense<[1, 2]>" in text
    assert 'const @"w:" : bool[1] = dense<[true]>' in text
    assert 'const @"has space" : f32[20] = dense<elided>' in text
    full, m2 = roundtrip(m, constants="full")
    assert 'dense_resource<"has space">' in full and '  "has space": "base64:' in full
    assert m2.name == "my model"
    np.testing.assert_array_equal(m2.constants["has space"].data, np.arange(20, dtype=np.float32))
    assert m2.constants["empty"].data.shape == (2, 0)


def test_sparse_encodings_and_quoted_dims():
    t = TensorType(("batch size", 784), "f32", SparseEncoding("csr", 20070))
    assert print_type(t) == 'f32["batch size", 784] #csr(nnz=20070)'
    assert parse_type(print_type(t)) == t
    assert parse_type("f32[]") == TensorType((), "f32")
    assert parse_type("  i64[N, 3, seq_len]  ") == TensorType(("N", 3, "seq_len"), "i64")
    m = Module()
    x = m.add_input("x", TensorType((4, 4), "f32", SparseEncoding("coo", 5)))
    w = m.add_constant("w", np.eye(4, dtype=np.float32), type=TensorType((4, 4), "f32",
                                                                          SparseEncoding("csr", 4)))
    op = Builder(m).create("nn.matmul", [x, w])
    op.results[0].type = op.results[0].type.with_encoding(SparseEncoding("csr", 16))
    m.outputs = {"y": op.result}
    text, m2 = roundtrip(m, constants="full")
    assert "%0 = nn.matmul(%x, @w) : f32[4, 4] #csr(nnz=16)" in text
    assert m2.constants["w"].type.encoding == SparseEncoding("csr", 4)
    assert m2.inputs[0].type.encoding == SparseEncoding("coo", 5)


def test_attributes_of_every_kind(attrs_op):
    m = Module()
    x = m.add_input("x", TensorType((2,), "f32"))
    bld = Builder(m)
    a = bld.value("testing.attrs", [x], {"req": 3})
    b = bld.value("testing.attrs", [a], {"req": -1, "i": 5, "f": 2, "b": True, "s": 'a "q"\n',
                                         "ii": [0, -2, 1], "ff": [1e-05, float("inf"), -0.0],
                                         "dt": "i64", "sh": [2, 3]})
    c = bld.value("testing.attrs", [b], {"req": 0, "f": float("nan"), "ff": [], "sh": []})
    m.outputs = {"y": c}
    text, m2 = roundtrip(m)
    lines = text.splitlines()
    assert lines[2] == "    %0 = testing.attrs(%x) {req = 3} : f32[2]"
    assert lines[3] == ('    %1 = testing.attrs(%0) {i = 5, f = 2.0, b = true, s = "a \\"q\\"\\n", '
                        'ii = [0, -2, 1], ff = [1e-05, inf, -0.0], dt = "i64", sh = [2, 3], '
                        'req = -1} : f32[2]')
    assert lines[4] == "    %2 = testing.attrs(%1) {f = nan, ff = [], sh = [], req = 0} : f32[2]"
    attrs = m2.ops[1].attrs
    assert attrs["f"] == 2.0 and isinstance(attrs["f"], float)
    assert attrs["s"] == 'a "q"\n' and attrs["ff"][2] == 0.0 and str(attrs["ff"][2]) == "-0.0"
    assert m2.ops[0].attrs == {"i": 0, "f": 1.0, "b": False, "s": "same", "ii": [],
                               "ff": [1.5], "dt": "f32", "sh": [1], "req": 3}


def test_locations_of_every_form():
    m = Module()
    x = m.add_input("x", TensorType((2,), "f32"))
    locs = [Location("a.wsl", 3, 5), Location("a.wsl", 3), Location("a.wsl"),
            Location(name="Conv_1"), Location("m.onnx", 2, 1, name="Conv_2"),
            Location(fused=(Location("a.wsl", 1, 2), Location(name="R"),
                            Location("b.wsl", 4, name="n"))),
            Location(), Location(name='odd "name"')]
    v = x
    for loc in locs:
        v = Builder(m).value("nn.relu", [v], loc=loc)
    m.outputs = {"y": v}
    text, m2 = roundtrip(m)
    assert [op.loc for op in m2.ops] == locs
    assert 'loc("m.onnx":2:1)' not in text and 'loc("Conv_2"("m.onnx":2:1))' in text
    assert 'loc("a.wsl":0)' in text  # a file without a known line


def test_values_and_outputs_with_odd_names():
    m = Module()
    x = m.add_input("in.0", TensorType((2,), "f32"))
    bld = Builder(m)
    a = bld.value("nn.relu", [x], result_name="conv/out:0")
    b = bld.value("nn.relu", [a], result_name="in.0")   # clashes with the input
    c = bld.value("nn.relu", [b], result_name="5")      # numbers are the printer's
    m.outputs = {"return": c, "out put": a, "0": b}
    text, m2 = roundtrip(m)
    assert "%conv_out_0 = nn.relu(%in.0)" in text
    assert "%0 = nn.relu(%conv_out_0)" in text
    assert "%1 = nn.relu(%0)" in text
    assert 'return return: %1, "out put": %conv_out_0, "0": %0' in text
    assert list(m2.outputs) == ["return", "out put", "0"]


def test_assign_names_scheme():
    m = Module()
    x = m.add_input("x", TensorType((2,), "f32"))
    zero = m.add_input("0", TensorType((2,), "f32"))
    w = m.add_constant("w", np.ones(2, np.float32))
    bld = Builder(m)
    r = [bld.value("math.add", [x, zero], result_name=n)
         for n in [None, "h", "h", "w", "x", "1", "a b", None, "a_b"]]
    names = assign_names(m)
    assert names[x] == "x" and names[zero] == "0" and names[w] == "w"
    assert [names[v] for v in r] == ["1", "h", "2", "3", "4", "5", "a_b", "6", "7"]
    assert len(set(names.values())) == len(names)
    assert all(re.fullmatch(r"[A-Za-z0-9_.]+", n) for n in names.values())
    assert assign_names(m) == names  # deterministic


def test_printing_is_deterministic_and_idempotent_after_edits():
    m = mlp()
    m2 = parse_module(print_module(m))
    # A pass inserts an unnamed value: numbers follow the order of definition.
    relu = m2.ops[2]
    new = Builder(m2, at=3).value("nn.relu", [relu.result])
    m2.outputs["extra"] = new
    text = print_module(m2)
    assert "    %2 = nn.relu(%1) : f32[N, 6]\n    %3 = math.reduce_sum(%1)" in text
    assert "return logits: %1, total: %3, extra: %2" in text
    roundtrip(m2)


def test_empty_module():
    text, m = roundtrip(Module())
    assert text == "module @main {\n  func @main() -> () {\n    return\n  }\n}\n"


# --------------------------------------------------------------------------
# Property: random small graphs round-trip.

UNARY = ["nn.relu", "math.neg", "math.exp", "math.tanh"]
BINARY = ["math.add", "math.mul", "math.sub"]
NAMES = st.one_of(st.none(), st.sampled_from(["h", "x", "w", "0", "7", "a.b", "y y", "h2"]))


@st.composite
def graphs(draw):
    m = Module(draw(st.sampled_from(["main", "net", "a-b"])))
    dtype = draw(st.sampled_from(["f32", "f16", "f64"]))
    shape = tuple(draw(st.lists(st.sampled_from([1, 2, 5, "N"]), max_size=3)))
    values = [m.add_input("x", TensorType(shape, dtype))]
    static = tuple(1 if isinstance(d, str) else d for d in shape)
    numel = int(np.prod(static))
    floats = st.floats(width=16 if dtype == "f16" else 32)
    for i in range(draw(st.integers(0, 2))):
        if draw(st.booleans()):
            items = draw(st.lists(floats, min_size=numel, max_size=numel))
        else:
            items = [draw(floats)] * numel  # a splat
        data = np.array(items, dtype=DTYPES[dtype]).reshape(static)
        values.append(m.add_constant(f"c{i}", data,
                                     sparsity=draw(st.one_of(st.none(), st.floats(0, 0.99)))))
    bld = Builder(m)
    for _ in range(draw(st.integers(0, 6))):
        loc = draw(st.sampled_from([Location(), Location("g.wsl", 1, 2), Location(name="n")]))
        if draw(st.booleans()):
            v = bld.value(draw(st.sampled_from(UNARY)), [draw(st.sampled_from(values))],
                          loc=loc, result_name=draw(NAMES))
        else:
            a, b = draw(st.sampled_from(values)), draw(st.sampled_from(values))
            v = bld.value(draw(st.sampled_from(BINARY)), [a, b], loc=loc,
                          result_name=draw(NAMES))
        values.append(v)
    if len(shape) and draw(st.booleans()):
        values.append(bld.value("math.reduce_sum", [values[-1]],
                                {"axes": [0], "keepdims": draw(st.booleans())}))
    outs = draw(st.lists(st.sampled_from(values), min_size=1, max_size=3))
    m.outputs = {f"out{i}": v for i, v in enumerate(outs)}
    return m


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_random_graphs_roundtrip(m):
    verify(m)
    for mode in ("elide", "full"):
        text, m2 = roundtrip(m, constants=mode)
    for name, c in m.constants.items():
        assert m2.constants[name].data.tobytes() == c.data.tobytes()
        assert m2.constants[name].sparsity == c.sparsity
    assert len(m2.ops) == len(m.ops)
    for a, b in zip(m.ops, m2.ops):
        assert (a.name, a.attrs, a.loc) == (b.name, b.attrs, b.loc)
        assert [r.type for r in a.results] == [r.type for r in b.results]


def test_the_example_in_docs_ir_md_parses_and_prints_back():
    from pathlib import Path
    doc = (Path(__file__).resolve().parents[2] / "docs" / "ir.md").read_text(encoding="utf-8")
    example = doc.split("```\n", 2)[1]
    m = parse_module(example, "ir.md")
    verify(m)
    without_comment = "".join(line for line in example.splitlines(keepends=True)
                              if not line.startswith("#"))
    assert print_module(m, constants="full") == without_comment
    np.testing.assert_array_equal(m.constants["fc1.weight"].data,
                                  (np.arange(18, dtype=np.float32).reshape(3, 6) - 9) / 4)


def test_printer_does_not_fail_on_broken_modules():
    from compiler.ir import Op, Value
    m = Module()
    x = m.add_input("x", TensorType((2,), "f32"))
    ghost = Value(TensorType((2,), "f32"), "gh ost")
    stray = Constant(TensorType((2,), "f32"), "stray", None)
    op = Op("no.such_op", [ghost, stray, x], {"k": (1, 2), "n": np.int64(3)}, [])
    op.results = [Value(TensorType((2,), "f32"), None, op)]
    m.ops.append(op)
    m.outputs = {"y": ghost}
    text = print_module(m)
    assert '%0 = no.such_op(%?gh_ost, @stray, %x) {k = [1, 2], n = 3} : f32[2]' in text
    assert "return y: %?gh_ost" in text
