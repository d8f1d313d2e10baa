"""Fused kernels against the unfused op sequences they replace, on random inputs.

Each case builds a small module of plain ops (conv or matmul, bias, residual,
activation; elementwise chains; scaled and masked softmax), runs it once as
written and once after the fusion passes, and compares the two programs'
outputs (the unfused program runs the ops' own dense kernels, one per op).
The test also checks that the fused program really has fewer instructions
and uses the fused kernel. Independent numpy references of the same kernels
are in `tests/ops/test_op_kernels_fused.py`.
"""
from __future__ import annotations

import numpy as np
import pytest

from compiler.ir.builder import Builder
from compiler.ir.core import Module
from compiler.ir.types import TensorType
from compiler.lower import lower
from compiler.passes import PassManager, parse_pipeline
from runtime.executor import Executable

FUSE = "fuse-patterns,fold-algebra,fuse-epilogues{sparse-density=0},fuse-elementwise"
ACTIVATIONS = [("nn.relu", {}), ("math.clip", {"min": 0.0, "max": 6.0}), ("nn.sigmoid", {}),
               ("math.tanh", {}), ("nn.gelu", {}), ("nn.gelu", {"approximate": "tanh"}),
               ("nn.swish", {"alpha": 1.0}), ("nn.hard_swish", {}),
               ("nn.leaky_relu", {"alpha": 0.1})]


def run_both(module: Module, feeds: dict, expect_kernel: str, pipeline: str = FUSE):
    """Outputs of the module as built and after `pipeline`; checks the fused one is shorter."""
    plain = Executable(lower(module.copy()))
    fused_module = module.copy()
    PassManager(parse_pipeline(pipeline)).run(fused_module)
    fused = Executable(lower(fused_module))
    kernels = [i.kernel for i in fused.program.instrs]
    assert expect_kernel in kernels, kernels
    assert len(kernels) < len(plain.program.instrs)
    return plain.run(feeds), fused.run(feeds)


def assert_close(want: dict, got: dict, tol: float = 1e-5) -> None:
    assert want.keys() == got.keys()
    for k in want:
        assert got[k].dtype == want[k].dtype and got[k].shape == want[k].shape
        np.testing.assert_allclose(got[k], want[k], rtol=tol, atol=tol, err_msg=k)


@pytest.mark.parametrize("act,attrs", ACTIVATIONS, ids=lambda a: str(a))
@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_conv_bias_residual_activation(act, attrs, dtype):
    rng = np.random.default_rng(0)
    np_dtype = np.float32 if dtype == "f32" else np.float64
    m = Module("conv")
    x = m.add_input("x", TensorType((2, 4, 9, 9), dtype))
    r = m.add_input("r", TensorType((2, 6, 5, 5), dtype))
    w = m.add_constant("w", rng.standard_normal((6, 2, 3, 3)).astype(np_dtype))
    b = m.add_constant("b", rng.standard_normal((1, 6, 1, 1)).astype(np_dtype))
    bld = Builder(m)
    y = bld.value("nn.conv2d", [x, w], {"strides": [2, 2], "pads": [1, 1, 2, 2],
                                        "groups": 2})
    y = bld.value("math.add", [y, b])
    y = bld.value("math.add", [r, y])
    m.outputs = {"y": bld.value(act, [y], attrs)}
    feeds = {"x": rng.standard_normal((2, 4, 9, 9)).astype(np_dtype),
             "r": rng.standard_normal((2, 6, 5, 5)).astype(np_dtype)}
    want, got = run_both(m, feeds, "fused.conv2d_epilogue")
    assert_close(want, got, 1e-5 if dtype == "f32" else 1e-12)


@pytest.mark.parametrize("shape,groups", [((1, 8, 12, 12), 8), ((3, 16, 7, 7), 1),
                                          ((2, 6, 10, 10), 3)])
def test_depthwise_grouped_and_1x1_convs(shape, groups):
    rng = np.random.default_rng(1)
    c = shape[1]
    for k, pads, strides in ((3, [1, 1, 1, 1], [1, 1]), (3, [0, 1, 2, 0], [2, 1]),
                             (1, [0, 0, 0, 0], [1, 1]), (1, [0, 0, 0, 0], [2, 2])):
        m = Module("dw")
        x = m.add_input("x", TensorType(shape, "f32"))
        w = m.add_constant("w", rng.standard_normal((c, c // groups, k, k)).astype(np.float32))
        bias = m.add_constant("b", rng.standard_normal(c).astype(np.float32))
        bld = Builder(m)
        y = bld.value("nn.conv2d", [x, w, bias], {"pads": pads, "strides": strides,
                                                   "groups": groups})
        m.outputs = {"y": bld.value("math.clip", [y], {"min": 0.0, "max": 6.0})}
        feeds = {"x": rng.standard_normal(shape).astype(np.float32)}
        want, got = run_both(m, feeds, "fused.conv2d_epilogue")
        assert_close(want, got, 1e-4)


def test_stem_pool_and_projection_shortcut():
    """conv-relu-maxpool as one kernel; a downsampling block's 1x1 shortcut conv inside the
    block's second conv."""
    rng = np.random.default_rng(7)
    m = Module("resnet_stem")
    x = m.add_input("x", TensorType((2, 3, 20, 20), "f32"))

    def const(name, shape):
        return m.add_constant(name, rng.standard_normal(shape).astype(np.float32))
    bld = Builder(m)
    h = bld.value("nn.conv2d", [x, const("w0", (8, 3, 7, 7)), const("b0", (8,))],
                  {"strides": [2, 2], "pads": [3, 3, 3, 3]})
    h = bld.value("nn.maxpool2d", [bld.value("nn.relu", [h])],
                  {"kernel": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]})
    a = bld.value("nn.relu", [bld.value("nn.conv2d", [h, const("w1", (16, 8, 3, 3)),
                                                      const("b1", (16,))],
                                        {"strides": [2, 2], "pads": [1, 1, 1, 1]})])
    a = bld.value("nn.conv2d", [a, const("w2", (16, 16, 3, 3)), const("b2", (16,))],
                  {"pads": [1, 1, 1, 1]})
    d = bld.value("nn.conv2d", [h, const("wd", (16, 8, 1, 1)), const("bd", (16,))],
                  {"strides": [2, 2]})
    m.outputs = {"y": bld.value("nn.relu", [bld.value("math.add", [a, d])])}
    feeds = {"x": rng.standard_normal((2, 3, 20, 20)).astype(np.float32)}
    want, got = run_both(m, feeds, "fused.conv2d_epilogue")
    assert_close(want, got, 1e-4)
    fused = m.copy()
    PassManager(parse_pipeline(FUSE)).run(fused)
    assert [op.name for op in fused.ops] == ["fused.conv2d_epilogue"] * 3
    assert fused.ops[0].attrs["pool_kernel"] == [3, 3] and fused.ops[2].attrs["shortcut"]


@pytest.mark.parametrize("act,attrs", ACTIVATIONS, ids=lambda a: str(a))
def test_matmul_bias_residual_activation(act, attrs):
    rng = np.random.default_rng(2)
    m = Module("mm")
    x = m.add_input("x", TensorType(("B", 5, 16), "f32"))
    w = m.add_constant("w", rng.standard_normal((16, 24)).astype(np.float32))
    b = m.add_constant("b", rng.standard_normal(24).astype(np.float32))
    r = m.add_input("r", TensorType(("B", 5, 24), "f32"))
    bld = Builder(m)
    y = bld.value("math.add", [b, bld.value("nn.matmul", [x, w])])
    y = bld.value("math.add", [y, r])
    m.outputs = {"y": bld.value(act, [y], attrs)}
    feeds = {"x": rng.standard_normal((3, 5, 16)).astype(np.float32),
             "r": rng.standard_normal((3, 5, 24)).astype(np.float32)}
    want, got = run_both(m, feeds, "fused.matmul_epilogue")
    assert_close(want, got)


def test_large_matmul_epilogue_runs_in_blocks():
    """More rows than one epilogue block: every block gets its bias and activation."""
    rng = np.random.default_rng(3)
    m = Module("big")
    x = m.add_input("x", TensorType((300, 64), "f32"))
    w = m.add_constant("w", rng.standard_normal((64, 200)).astype(np.float32))
    b = m.add_constant("b", rng.standard_normal(200).astype(np.float32))
    bld = Builder(m)
    m.outputs = {"y": bld.value("nn.gelu", [bld.value("math.add", [bld.value(
        "nn.matmul", [x, w]), b])])}
    feeds = {"x": rng.standard_normal((300, 64)).astype(np.float32)}
    want, got = run_both(m, feeds, "fused.matmul_epilogue")
    assert_close(want, got, 1e-4)


def test_matmul_broadcast_residual_then_gelu_adds_it_once():
    """A residual that broadcasts (a row) is added in one pass before the compiled GELU
    (regression: it was added a second time before the GELU)."""
    rng = np.random.default_rng(4)
    m = Module("bcast")
    x = m.add_input("x", TensorType((6, 16), "f32"))
    r = m.add_input("r", TensorType((1, 24), "f32"))
    w = m.add_constant("w", rng.standard_normal((16, 24)).astype(np.float32))
    bld = Builder(m)
    m.outputs = {"y": bld.value("nn.gelu", [bld.value("math.add", [bld.value(
        "nn.matmul", [x, w]), r])])}
    feeds = {"x": rng.standard_normal((6, 16)).astype(np.float32),
             "r": rng.standard_normal((1, 24)).astype(np.float32)}
    want, got = run_both(m, feeds, "fused.matmul_epilogue")
    assert_close(want, got, 1e-4)


CHAINS = [
    # (ops as (name, operand refs, attrs)), refs: "x"/"y" inputs, "c<k>" constants, int = step
    [("math.add", ["x", "c0"], {}), ("math.mul", [0, "c1"], {}), ("math.tanh", [1], {}),
     ("math.sub", [2, "y"], {})],
    [("nn.sigmoid", ["x"], {}), ("math.mul", ["x", 0], {}), ("math.exp", ["y"], {}),
     ("math.div", [1, 2], {}), ("math.tanh", [3], {})],
    [("math.abs", ["x"], {}), ("math.pow", [0, "c1"], {}), ("math.max", [1, "c2"], {}),
     ("math.min", [2, "y"], {}), ("nn.softplus", [3], {}), ("math.neg", [4], {})],
    [("math.erf", ["x"], {}), ("math.reciprocal", ["c0"], {}), ("math.mul", [0, "y"], {}),
     ("nn.leaky_relu", [2], {"alpha": 0.3}), ("nn.hard_sigmoid", [3], {}),
     ("math.add", [4, 1], {})],
]


@pytest.mark.parametrize("chain", CHAINS, ids=lambda c: "-".join(s[0] for s in c))
def test_elementwise_chains(chain):
    rng = np.random.default_rng(4)
    m = Module("chain")
    vals = {"x": m.add_input("x", TensorType((7, 33, 40), "f32")),
            "y": m.add_input("y", TensorType((33, 40), "f32")),
            "c0": m.add_constant("c0", rng.standard_normal(40).astype(np.float32)),
            "c1": m.add_constant("c1", np.array(2.0, np.float32)),
            "c2": m.add_constant("c2", np.array(0.25, np.float32))}
    bld = Builder(m)
    steps = []
    for name, refs, attrs in chain:
        steps.append(bld.value(name, [steps[r] if isinstance(r, int) else vals[r]
                                      for r in refs], attrs))
    m.outputs = {"z": steps[-1]}
    feeds = {"x": rng.standard_normal((7, 33, 40)).astype(np.float32),
             "y": rng.uniform(0.5, 2.0, (33, 40)).astype(np.float32)}
    want, got = run_both(m, feeds, "fused.elementwise")
    assert_close(want, got, 1e-5)


@pytest.mark.parametrize("mode", ["scale", "add", "where"])
def test_masked_softmax(mode):
    rng = np.random.default_rng(5)
    m = Module("sm")
    x = m.add_input("x", TensorType((2, 3, 6, 6), "f32"))
    bld = Builder(m)
    s = bld.value("math.div", [x, m.add_constant("d", np.array(1.7, np.float32))])
    feeds = {"x": rng.standard_normal((2, 3, 6, 6)).astype(np.float32)}
    if mode == "add":
        mask = m.add_input("mask", TensorType((2, 1, 1, 6), "f32"))
        s = bld.value("math.add", [s, mask])
        feeds["mask"] = np.where(rng.random((2, 1, 1, 6)) < 0.3, -1e9, 0).astype(np.float32)
    elif mode == "where":
        cond = m.add_input("cond", TensorType((1, 1, 6, 6), "bool"))
        s = bld.value("logic.where", [cond, s, m.add_constant("f", np.array(-3.0,
                                                                             np.float32))])
        feeds["cond"] = np.tril(np.ones((6, 6), bool))[None, None]
    m.outputs = {"p": bld.value("nn.softmax", [s], {"axis": -1})}
    want, got = run_both(m, feeds, "fused.masked_softmax")
    assert_close(want, got, 1e-6)


def test_attention_from_exported_pattern_matches_unfused():
    """BERT's head split, q k^T / sqrt(d) + mask, softmax, @ v, merge -> nn.attention."""
    rng = np.random.default_rng(6)
    b_, s_, h, d = 2, 7, 3, 4
    m = Module("attn")
    q = m.add_input("q", TensorType((b_, s_, h * d), "f32"))
    k = m.add_input("k", TensorType((b_, s_, h * d), "f32"))
    v = m.add_input("v", TensorType((b_, s_, h * d), "f32"))
    mask = m.add_input("mask", TensorType((b_, 1, 1, s_), "f32"))
    bld = Builder(m)

    def heads(t, perm):
        return bld.value("tensor.transpose", [bld.value("tensor.reshape", [t],
                                                        {"shape": [0, 0, h, d]})],
                         {"perm": perm})
    scores = bld.value("nn.matmul", [heads(q, [0, 2, 1, 3]), heads(k, [0, 2, 3, 1])])
    scores = bld.value("math.div", [scores, m.add_constant("sd", np.array(2.0, np.float32))])
    probs = bld.value("nn.softmax", [bld.value("math.add", [scores, mask])])
    out = bld.value("nn.matmul", [probs, heads(v, [0, 2, 1, 3])])
    out = bld.value("tensor.transpose", [out], {"perm": [0, 2, 1, 3]})
    m.outputs = {"y": bld.value("tensor.reshape", [out], {"shape": [0, 0, h * d]})}
    feeds = {n: rng.standard_normal((b_, s_, h * d)).astype(np.float32) for n in "qkv"}
    feeds["mask"] = np.where(rng.random((b_, 1, 1, s_)) < 0.3, -1e4, 0).astype(np.float32)
    want, got = run_both(m, feeds, "nn.attention")
    assert_close(want, got, 1e-5)


def test_fused_program_text_is_validated():
    from compiler.errors import TypeCheckError
    m = Module("bad")
    x = m.add_input("x", TensorType((3,), "f32"))
    for program, message in (("v0 = frob(x0)", "unknown function 'frob'"),
                             ("v0 = add(x0)", "add takes 2 arguments"),
                             ("v0 = neg(x1)", "uses x1, but there are 1 operands"),
                             ("v1 = neg(x0)", "is not 'v0 = fn(args)'"),
                             ("v0 = clip(x0, v0, 1.0)", "uses v0 before it is set")):
        with pytest.raises(TypeCheckError, match=message.replace("(", r"\(").replace(
                ")", r"\)")):
            Builder(m).value("fused.elementwise", [x], {"program": program})
