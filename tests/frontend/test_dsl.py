"""The DSL frontend builds the module its source describes: ops, names, locations,
constants and initializers. Numbers are checked against numpy computed here."""
from __future__ import annotations

import zlib

import numpy as np
import pytest

from compiler.frontend.dsl import load_dsl, parse_dsl
from compiler.ir.location import Location
from compiler.ir.types import TensorType
from compiler.ops import registry
from runtime.kernels import get_kernel

MLP = """\
# A two-layer perceptron.
model mlp(x: f32[N, 784]) -> (logits: f32[N, 10]) {
  param fc1.w: f32[784, 256] = normal(0, 0.05, seed=1) sparsity 0.9
  param fc1.b: f32[256] = zeros
  param fc2.w: f32[256, 10] = load("fc2_w.npy")
  let h = relu(x @ fc1.w + fc1.b)
  return logits = h @ fc2.w
}
"""


def run(module, **inputs):
    """Run every op's kernel in order; the module's outputs by name."""
    env = {v: inputs[v.name] for v in module.inputs}
    env.update({c: c.data for c in module.constants.values()})
    for op in module.ops:
        out = get_kernel(op.name)(*[env[v] for v in op.operands], **op.attrs)
        for r, a in zip(op.results, out if isinstance(out, tuple) else (out,)):
            env[r] = a
    return {name: env[v] for name, v in module.outputs.items()}


def model(body: str, sig: str = "x: f32[2, 3]", out: str = "y: f32[2, 3]", **kw):
    return parse_dsl(f"model m({sig}) -> ({out}) {{\n{body}\n}}\n", **kw)


@pytest.fixture
def fc2_w(tmp_path):
    w = np.arange(2560, dtype=np.float32).reshape(256, 10) / 1000
    np.save(tmp_path / "fc2_w.npy", w)
    return w


# -- the sketch from the brief ----------------------------------------------------------

def test_mlp_sketch_graph(tmp_path, fc2_w):
    (tmp_path / "mlp.wsl").write_text(MLP)
    m = load_dsl(tmp_path / "mlp.wsl")
    assert m.name == "mlp"
    (x,) = m.inputs
    assert x.name == "x" and x.type == TensorType(("N", 784), "f32")
    assert [op.name for op in m.ops] == ["nn.matmul", "math.add", "nn.relu", "nn.matmul"]
    mm1, add, relu, mm2 = m.ops
    assert mm1.operands == [x, m.constants["fc1.w"]]
    assert add.operands == [mm1.result, m.constants["fc1.b"]]
    assert relu.operands == [add.result] and relu.result.name == "h"
    assert mm2.operands == [relu.result, m.constants["fc2.w"]]
    assert list(m.outputs) == ["logits"] and m.outputs["logits"] is mm2.result
    assert mm2.result.name == "logits"
    assert mm2.result.type == TensorType(("N", 10), "f32")
    assert list(m.constants) == ["fc1.w", "fc1.b", "fc2.w"]
    assert m.constants["fc1.w"].sparsity == pytest.approx(0.9)
    assert m.constants["fc1.b"].sparsity is None
    np.testing.assert_array_equal(m.constants["fc2.w"].data, fc2_w)
    np.testing.assert_array_equal(m.constants["fc1.b"].data, np.zeros(256, np.float32))
    # Binary ops sit at their operator, calls at their name.
    path = str(tmp_path / "mlp.wsl")
    assert mm1.loc == Location(path, 6, 18)
    assert add.loc == Location(path, 6, 26)
    assert relu.loc == Location(path, 6, 11)
    assert mm2.loc == Location(path, 7, 21)


def test_parse_dsl_defaults_and_base_dir(tmp_path, fc2_w):
    m = parse_dsl(MLP, base_dir=tmp_path)
    assert m.ops[0].loc == Location("<string>", 6, 18)
    m2 = parse_dsl(MLP, filename="other.wsl", base_dir=str(tmp_path))
    assert m2.ops[0].loc.file == "other.wsl"


def test_mlp_sketch_numbers(tmp_path, fc2_w):
    m = parse_dsl(MLP, base_dir=tmp_path)
    x = np.random.default_rng(5).standard_normal((4, 784)).astype(np.float32)
    w1 = np.random.Generator(np.random.PCG64(1)).normal(0, 0.05, (784, 256)).astype(np.float32)
    want = np.maximum(x @ w1, 0) @ fc2_w
    np.testing.assert_allclose(run(m, x=x)["logits"], want, rtol=1e-5, atol=1e-5)


# -- expressions ---------------------------------------------------------------------------

A = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.5]], np.float32)
B = np.array([[2.0, 0.25, -1.0], [3.0, -0.5, 2.0]], np.float32)
C = np.array([[-1.0, 2.0, 0.5], [4.0, 1.0, -2.0]], np.float32)


@pytest.mark.parametrize("expr, ref", [
    ("a + b * c", lambda a, b, c: a + b * c),
    ("a * b + c", lambda a, b, c: a * b + c),
    ("(a + b) * c", lambda a, b, c: (a + b) * c),
    ("a - b - c", lambda a, b, c: (a - b) - c),
    ("a / b / c", lambda a, b, c: (a / b) / c),
    ("a - b * c / a", lambda a, b, c: a - (b * c) / a),
    ("-a * b", lambda a, b, c: (-a) * b),
    ("a - -b", lambda a, b, c: a - (-b)),
    ("-(a + b) - c", lambda a, b, c: -(a + b) - c),
    ("a * 2 + 1", lambda a, b, c: a * 2 + 1),
    ("1 - a / 4", lambda a, b, c: 1 - a / 4),
    ("a * -0.5", lambda a, b, c: a * -0.5),
    ("relu(a - b) * sqrt(c * c)", lambda a, b, c: np.maximum(a - b, 0) * np.abs(c)),
])
def test_arithmetic_precedence(expr, ref):
    m = model(f"return y = {expr}", sig="a: f32[2, 3], b: f32[2, 3], c: f32[2, 3]")
    got = run(m, a=A, b=B, c=C)["y"]
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref(A, B, C), rtol=1e-6)


def test_matmul_binds_like_multiplication():
    m = model("return y = -a @ w * 2 + b",
              sig="a: f32[2, 3], w: f32[3, 3], b: f32[2, 3]")
    assert [op.name for op in m.ops] == ["math.neg", "nn.matmul", "math.mul", "math.add"]
    w = np.arange(9, dtype=np.float32).reshape(3, 3)
    np.testing.assert_allclose(run(m, a=A, w=w, b=B)["y"], (-A) @ w * 2 + B, rtol=1e-6)


def test_numbers_fold_at_compile_time():
    m = model("""
  let n = 64 / 16          # exact: stays an integer
  let k = (2 * 3 + 1) / 2  # 3.5
  let h = reshape(x, shape=[n / 2, 3])
  return y = h * k - -1
""")
    assert [op.name for op in m.ops] == ["tensor.reshape", "math.mul", "math.sub"]
    assert m.ops[0].attrs["shape"] == [2, 3]
    scalars = {n: c for n, c in m.constants.items()}
    assert set(scalars) == {"lit.f32.3.5", "lit.f32.-1.0"}
    for c in scalars.values():
        assert c.type == TensorType((), "f32") and c.data.dtype == np.float32
    np.testing.assert_allclose(run(m, x=A)["y"], A * 3.5 + 1)


def test_number_literals_take_the_partner_dtype_and_are_shared():
    m = model("return y = x * 0.5 + z * 0.5", sig="x: f64[3], z: f64[3]", out="y: f64[3]")
    assert list(m.constants) == ["lit.f64.0.5"]
    assert m.constants["lit.f64.0.5"].data.dtype == np.float64
    assert m.ops[0].operands[1] is m.ops[1].operands[1]
    m = model("return y = x + 1", sig="x: i32[3]", out="y: i32[3]")
    (c,) = m.constants.values()
    assert c.type == TensorType((), "i32") and c.data == 1
    # A number with no tensor partner: a float is f32.
    m = model("return y = exp(1.0)", sig="x: f32[1]", out="y: f32[]")
    assert m.ops[0].operands[0].type == TensorType((), "f32")


def test_let_alias_keeps_the_first_name():
    m = model("let h = relu(x)\n  let g = h\n  return y = g")
    assert m.ops[0].result.name == "h" and m.outputs["y"] is m.ops[0].result


# -- calls ------------------------------------------------------------------------------------

def test_short_and_full_op_names_are_the_same_op():
    a = model("return y = relu(x)")
    b = model("return y = nn.relu(x)")
    assert a.ops[0].name == b.ops[0].name == "nn.relu"


def test_keyword_attributes_lists_and_booleans():
    m = model("""
  let s = reduce_sum(x, axes=[-1], keepdims=true)
  return y = x - s
""")
    assert m.ops[0].attrs == {"axes": [-1], "keepdims": True}
    np.testing.assert_allclose(run(m, x=A)["y"], A - A.sum(axis=-1, keepdims=True), rtol=1e-6)


def test_let_bound_lists_and_strings_as_attributes():
    m = model("""
  let perm = [1, 0]
  let mode = "tanh"
  return y = gelu(transpose(x, perm=perm), approximate=mode)
""", out="y: f32[3, 2]")
    assert m.ops[0].attrs["perm"] == [1, 0]
    assert m.ops[1].attrs["approximate"] == "tanh"


def test_operands_by_keyword_match_positional():
    sig = "x: f32[2, 3], g: f32[3], b: f32[3]"
    pos = model("return y = layernorm(x, g, b, eps=0.001)", sig=sig)
    kw = model("return y = layernorm(x, scale=g, bias=b, eps=0.001)", sig=sig)
    assert [v.name for v in pos.ops[0].operands] == [v.name for v in kw.ops[0].operands]
    assert pos.ops[0].attrs == kw.ops[0].attrs
    g = np.array([1.0, 2.0, 0.5], np.float32)
    b = np.array([0.0, -1.0, 1.0], np.float32)
    mu = A.mean(-1, keepdims=True)
    want = (A - mu) / np.sqrt(A.var(-1, keepdims=True) + 0.001) * g + b
    np.testing.assert_allclose(run(kw, x=A, g=g, b=b)["y"], want, rtol=1e-5, atol=1e-6)


def _scale_infer(ins, attrs):
    return [ins[0]]


def _halves_infer(ins, attrs):
    (x,) = ins
    half = x.shape[-1] // 2
    return [x.with_shape(x.shape[:-1] + (half,))] * 2


@pytest.fixture
def extra_ops(monkeypatch):
    """Two ops the DSL has never heard of, registered only for one test."""
    scale = registry.OpDef("test.scale_by", ("x",), _scale_infer, lambda i, o, a: 0,
                           "elementwise", "x * factor",
                           (registry.Attr("factor", "float", registry.REQUIRED),
                            registry.Attr("flags", "ints", []),
                            registry.Attr("tag", "str", "a")))
    halves = registry.OpDef("test.halves", ("x",), _halves_infer, lambda i, o, a: 0,
                            "movement", "split the last dim in two", num_results=2)
    for op in (scale, halves):
        monkeypatch.setitem(registry.OPS, op.name, op)
        monkeypatch.setitem(registry._SHORT, op.short_name, op.name)


def test_new_registered_ops_need_no_dsl_change(extra_ops):
    m = model("""
  let a, b = halves(x)
  let s = scale_by(a, factor=2, flags=[1, 2], tag="t") + test.scale_by(b, factor=0.5)
  return y = s
""", sig="x: f32[2, 6]")
    assert [op.name for op in m.ops] == ["test.halves", "test.scale_by", "test.scale_by",
                                         "math.add"]
    halves = m.ops[0]
    assert [r.name for r in halves.results] == ["a", "b"]
    assert m.ops[1].attrs == {"factor": 2.0, "flags": [1, 2], "tag": "t"}
    assert m.ops[2].attrs == {"factor": 0.5, "flags": [], "tag": "a"}
    assert m.ops[1].operands == [halves.results[0]]
    assert m.ops[2].operands == [halves.results[1]]


# -- parameters and initializers ---------------------------------------------------------

def test_basic_initializers():
    m = model("""
  param z: f32[2, 3] = zeros
  param o: i32[4] = ones()
  param c: f64[2] = constant(-2.5)
  param b: bool[3] = constant(true)
  param s: f32[] = constant(7)
  return y = x + z
""")
    d = {n: c.data for n, c in m.constants.items()}
    np.testing.assert_array_equal(d["z"], np.zeros((2, 3), np.float32))
    assert d["o"].dtype == np.int32 and d["o"].tolist() == [1, 1, 1, 1]
    assert d["c"].dtype == np.float64 and d["c"].tolist() == [-2.5, -2.5]
    assert d["b"].dtype == np.bool_ and d["b"].all()
    assert d["s"].shape == () and d["s"] == 7.0
    for n, c in m.constants.items():
        assert c.type.shape == c.data.shape and c.data.dtype == c.type.np_dtype


def test_random_initializers_are_the_pcg64_streams():
    m = model("""
  param n: f32[3, 4] = normal(0.5, 2, seed=7)
  param u: f64[5] = uniform(-1, 3, seed=8)
  param k: f16[6] = normal(mean=0, std=1, seed=9)
  return y = x
""")
    d = {n: c.data for n, c in m.constants.items()}
    gen = lambda s: np.random.Generator(np.random.PCG64(s))  # noqa: E731
    np.testing.assert_array_equal(d["n"], gen(7).normal(0.5, 2.0, (3, 4)).astype(np.float32))
    np.testing.assert_array_equal(d["u"], gen(8).uniform(-1.0, 3.0, (5,)))
    np.testing.assert_array_equal(d["k"], gen(9).normal(0.0, 1.0, (6,)).astype(np.float16))
    assert d["n"].dtype == np.float32 and d["k"].dtype == np.float16


def test_default_seed_comes_from_the_parameter_name():
    m = model("""
  param a.w: f32[8] = normal(0, 1)
  param b.w: f32[8] = normal(0, 1)
  return y = x
""")
    for name in ("a.w", "b.w"):
        want = np.random.Generator(np.random.PCG64(zlib.crc32(name.encode()))).normal(0, 1, 8)
        np.testing.assert_array_equal(m.constants[name].data, want.astype(np.float32))
    assert not np.array_equal(m.constants["a.w"].data, m.constants["b.w"].data)


def test_same_source_same_bits():
    src = "param w: f32[16, 16] = uniform(-1, 1, seed=3) sparsity 0.5\n  return y = x @ w"
    a = model(src, sig="x: f32[2, 16]", out="y: f32[2, 16]")
    b = model(src, sig="x: f32[2, 16]", out="y: f32[2, 16]")
    assert a.constants["w"].data.tobytes() == b.constants["w"].data.tobytes()
    assert a.constants["w"].sparsity == 0.5


def test_load_npy_and_npz(tmp_path):
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([1, 2, 3], np.int64)
    np.save(tmp_path / "w.npy", w)
    np.savez(tmp_path / "all.npz", **{"fc.w": w * 2, "other": b})
    (tmp_path / "sub").mkdir()
    np.save(tmp_path / "sub" / "b.npy", b)
    src = """model m(x: f32[2, 3]) -> (y: f32[2, 3]) {
  param w: f32[2, 3] = load("w.npy")
  param fc.w: f32[2, 3] = load("all.npz")
  param k: i64[3] = load("all.npz", "other")
  param kk: i64[3] = load(file="sub/b.npy")
  return y = x + w + fc.w
}"""
    (tmp_path / "m.wsl").write_text(src)
    m = load_dsl(tmp_path / "m.wsl")
    d = {n: c.data for n, c in m.constants.items()}
    np.testing.assert_array_equal(d["w"], w)
    np.testing.assert_array_equal(d["fc.w"], w * 2)
    np.testing.assert_array_equal(d["k"], b)
    np.testing.assert_array_equal(d["kk"], b)


# -- syntax odds and ends ------------------------------------------------------------------

def test_comments_layout_and_trailing_commas():
    m = parse_dsl("""# leading comment
model m(  # the inputs
    x: f32[N, 3],
    z: f32[N, 3],   # trailing comma next
) -> (
    y: f32[N, 3],
    w: f32[N, 3],
) {
  # A comment line.
  let s = reduce_sum(x,
                     axes=[1,],   # list trailing comma
                     keepdims=true,
  )  # after
  let p = "has # no comment"
  return w = z, y = x
    - s  # continues across lines
}  # done
""")
    assert [v.name for v in m.inputs] == ["x", "z"]
    assert list(m.outputs) == ["y", "w"]        # signature order, not return order
    assert m.outputs["w"] is m.inputs[1]
    assert m.outputs["y"].type == TensorType(("N", 3), "f32")
    x = A
    z = B
    got = run(m, x=x, z=z)
    np.testing.assert_allclose(got["y"], x - x.sum(1, keepdims=True), rtol=1e-6)


def test_positional_return_in_signature_order():
    m = model("return relu(x), -x", out="p: f32[2, 3], n: f32[2, 3]")
    assert list(m.outputs) == ["p", "n"]
    assert m.outputs["p"].producer.name == "nn.relu"
    assert m.outputs["n"].producer.name == "math.neg"
    assert m.outputs["p"].name == "p" and m.outputs["n"].name == "n"


def test_single_output_without_parentheses_and_no_inputs():
    m = parse_dsl("model c() -> y: f32[2] {\n param k: f32[2] = ones\n return y = k * 3\n}")
    assert m.inputs == [] and list(m.outputs) == ["y"]
    np.testing.assert_array_equal(run(m)["y"], [3.0, 3.0])


def test_symbolic_dims_are_shared_between_inputs():
    m = model("return y = x + z", sig="x: f32[B, 3], z: f32[B, 3]", out="y: f32[B, 3]")
    assert m.outputs["y"].type.shape == ("B", 3)


def test_keywords_may_start_names():
    m = model("param model.w: f32[3] = ones\n  let lets = x * model.w\n  return y = lets")
    assert "model.w" in m.constants and m.ops[0].result.name == "lets"


def test_the_module_verifies():
    verifier = pytest.importorskip("compiler.ir.verifier")
    verifier.verify(model("param w: f32[3, 3] = ones sparsity 0.5\n  return y = relu(x @ w) + 1"))
