"""Unit tests of the rewrite passes on modules built with the Builder.

Each test states what the module must look like afterwards in terms of op
names, operand identity and constant data, and checks numbers against numpy
formulas written here.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from compiler.errors import PassError
from compiler.ir.builder import Builder
from compiler.ir.core import Module
from compiler.ir.location import Location
from compiler.ir.types import SparseEncoding, TensorType
from compiler.ops import registry
from compiler.passes import (CommonSubexpressionElimination, DeadCodeElimination, FoldConstants,
                             InferShapes, PassContext)
from runtime.kernels import get_kernel

F32 = "f32"


def t(*shape, dtype=F32) -> TensorType:
    return TensorType(tuple(shape), dtype)


def run(p, module: Module, ctx: PassContext | None = None) -> dict:
    """Run one pass directly; return its statistics."""
    ctx = ctx or PassContext()
    ctx.begin(p)
    p.run(module, ctx)
    return ctx.report()[p.name]


def interpret(module: Module, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Evaluate a module op by op with the runtime's kernels (a tiny reference executor)."""
    env = {v: inputs[v.name] for v in module.inputs}
    env.update({c: c.data for c in module.constants.values()})
    for op in module.ops:
        out = get_kernel(op.name)(*[env[v] for v in op.operands], **op.attrs)
        outs = out if isinstance(out, tuple) else (out,)
        env.update(zip(op.results, outs))
    return {k: env[v] for k, v in module.outputs.items()}


def make_impure(monkeypatch, name: str) -> None:
    """Pretend `name` has side effects, for the duration of one test."""
    opdef = registry.OPS[name]
    monkeypatch.setitem(registry.OPS, name, dataclasses.replace(opdef, pure=False))


# ---------------------------------------------------------------------------
# infer-shapes

def _symbolic_module() -> Module:
    m = Module("sym")
    x = m.add_input("x", t("N", 6))
    w = m.add_constant("w", np.ones((6, 3), np.float32))
    b = Builder(m)
    h = b.value("nn.matmul", [x, w], result_name="h")
    r = b.value("tensor.reshape", [x], {"shape": [0, 2, 3]}, result_name="r")
    s = b.value("math.reduce_sum", [h], {"axes": [1]}, result_name="s")
    m.outputs.update(h=h, r=r, s=s)
    return m


def test_infer_shapes_binds_symbols_from_the_context():
    m = _symbolic_module()
    stats = run(InferShapes(), m, PassContext(symbols={"N": 5}))
    assert m.inputs[0].type == t(5, 6)
    assert [op.result.type for op in m.ops] == [t(5, 3), t(5, 2, 3), t(5)]
    assert m.outputs["s"].type == t(5)
    assert stats == {"inputs-bound": 1, "types-changed": 3}


def test_infer_shapes_bind_option_wins_over_the_context():
    m = _symbolic_module()
    run(InferShapes(bind="N=2"), m, PassContext(symbols={"N": 9}))
    assert m.outputs["r"].type == t(2, 2, 3)


def test_infer_shapes_without_bindings_changes_nothing():
    m = _symbolic_module()
    stats = run(InferShapes(), m)
    assert m.outputs["h"].type == t("N", 3)
    assert stats == {"inputs-bound": 0, "types-changed": 0}


def test_infer_shapes_keeps_a_sparse_encoding_on_a_result():
    m = _symbolic_module()
    enc = SparseEncoding("csr", 7)
    m.ops[0].result.type = m.ops[0].result.type.with_encoding(enc)
    run(InferShapes(bind="N=3"), m)
    assert m.ops[0].result.type == TensorType((3, 3), F32, enc)


def test_infer_shapes_rejects_a_symbol_no_input_has():
    m = _symbolic_module()
    with pytest.raises(PassError, match=r"no input has the symbolic dim 'M'.*symbolic dims of "
                                        r"the inputs: N"):
        run(InferShapes(bind="M=4"), m)


@pytest.mark.parametrize("bad", ["N", "N=x", "N=-1", "=3", "N=4;S=2"])
def test_infer_shapes_rejects_a_malformed_bind(bad):
    with pytest.raises(PassError, match="bad binding"):
        InferShapes(bind=bad)


def test_infer_shapes_several_bindings():
    m = Module("two")
    x = m.add_input("x", t("B", "S"))
    y = m.add_input("y", t(1, "S"))
    b = Builder(m)
    m.outputs["z"] = b.value("math.add", [x, y])
    run(InferShapes(bind="B=2, S=7"), m)
    assert m.outputs["z"].type == t(2, 7)
    assert m.inputs[1].type == t(1, 7)


# ---------------------------------------------------------------------------
# fold-constants

def test_fold_replaces_a_constant_subgraph_by_one_constant():
    m = Module("f")
    x = m.add_input("x", t(2, 3))
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    c = np.full((3,), 0.5, np.float32)
    ca, cc = m.add_constant("a", a), m.add_constant("c", c)
    b = Builder(m)
    s = b.value("math.add", [ca, cc], result_name="s")
    e = b.value("math.exp", [s])
    y = b.value("math.mul", [x, e], result_name="y")
    m.outputs["y"] = y
    stats = run(FoldConstants(), m)

    assert [op.name for op in m.ops] == ["math.mul"]
    folded = m.ops[0].operands[1]
    assert folded.is_constant and folded.name == "math.exp.folded"
    np.testing.assert_allclose(folded.data, np.exp(a + 0.5), rtol=1e-6)
    assert folded.data.dtype == np.float32
    # The intermediate constant `s` and the operands a, c are gone: nothing uses them.
    assert list(m.constants) == ["math.exp.folded"]
    assert stats == {"folded": 2, "skipped-elided": 0, "skipped-too-large": 0,
                     "constants-removed": 3}


def test_fold_names_constants_after_the_result_hint_and_keeps_names_unique():
    m = Module("f")
    m.add_constant("h", np.ones(2, np.float32))
    c = m.add_constant("c", np.ones(2, np.float32))
    b = Builder(m)
    v = b.value("math.add", [c, c], result_name="h")  # "h" is taken by a constant
    w = b.value("math.neg", [c])
    m.outputs.update(v=v, w=w, keep=m.constants["h"])
    run(FoldConstants(), m)
    assert m.outputs["v"].name == "h.1"
    assert m.outputs["w"].name == "math.neg.folded"
    np.testing.assert_array_equal(m.outputs["v"].data, [2, 2])
    np.testing.assert_array_equal(m.outputs["w"].data, [-1, -1])
    assert m.ops == []


def test_fold_ignores_numbered_name_hints():
    m = Module("f")
    x = m.add_input("x", t(2))
    c = m.add_constant("c", np.ones(2, np.float32))
    b = Builder(m)
    n = b.value("math.neg", [c], result_name="0")  # parsed from `%0 = ...`
    m.outputs["y"] = b.value("math.mul", [x, n])
    run(FoldConstants(), m)
    assert list(m.constants) == ["math.neg.folded"]


def _one_add(m_input: str, hint: str) -> Module:
    m = Module("f")
    m.add_input(m_input, t(2))
    c = m.add_constant("c", np.ones(2, np.float32))
    m.outputs["y"] = Builder(m).value("math.add", [c, c], result_name=hint)
    return m


def test_fold_result_named_like_an_input_gets_a_suffix():
    m = _one_add("s", "s")
    run(FoldConstants(), m)
    assert list(m.constants) == ["s.1"]


def test_fold_does_not_touch_elided_constants():
    m = Module("f")
    x = m.add_input("x", t(4))
    e = m.add_constant("e", None, type=t(4))  # parsed from dense<elided>: no data
    c = m.add_constant("c", np.ones(4, np.float32))
    b = Builder(m)
    s = b.value("math.add", [e, c])
    m.outputs["y"] = b.value("math.mul", [x, s])
    stats = run(FoldConstants(), m)
    assert [op.name for op in m.ops] == ["math.add", "math.mul"]
    assert set(m.constants) == {"e", "c"}
    assert stats["folded"] == 0 and stats["skipped-elided"] == 1


def test_fold_respects_max_bytes():
    m = Module("f")
    c = m.add_constant("c", np.ones((8, 8), np.float32))  # 256 bytes
    b = Builder(m)
    m.outputs["y"] = b.value("math.neg", [c])
    stats = run(FoldConstants(max_bytes=255), m)
    assert [op.name for op in m.ops] == ["math.neg"] and stats["skipped-too-large"] == 1
    stats = run(FoldConstants(max_bytes=256), m)
    assert m.ops == [] and stats["folded"] == 1


def test_fold_skips_impure_ops(monkeypatch):
    make_impure(monkeypatch, "math.neg")
    m = Module("f")
    c = m.add_constant("c", np.ones(3, np.float32))
    b = Builder(m)
    m.outputs["y"] = b.value("math.neg", [c])
    assert run(FoldConstants(), m)["folded"] == 0
    assert [op.name for op in m.ops] == ["math.neg"]


def test_fold_integer_division_truncates_like_the_runtime():
    m = Module("f")
    a = m.add_constant("a", np.array([7, -7, 9], np.int32))
    d = m.add_constant("d", np.array([2, 2, -4], np.int32))
    b = Builder(m)
    m.outputs["q"] = b.value("math.div", [a, d])
    run(FoldConstants(), m)
    q = m.outputs["q"].data
    assert q.dtype == np.int32
    np.testing.assert_array_equal(q, [3, -3, -2])  # toward zero, not floor


def test_fold_keeps_the_model_outputs_equal():
    rng = np.random.default_rng(0)
    m = Module("mlp")
    x = m.add_input("x", t(3, 4))
    w1 = m.add_constant("w1", rng.standard_normal((4, 5)).astype(np.float32))
    s = m.add_constant("s", np.float32(0.5) * np.ones((5,), np.float32))
    w2 = m.add_constant("w2", rng.standard_normal((5, 2)).astype(np.float32))
    bias = m.add_constant("bias", rng.standard_normal((1, 2)).astype(np.float32))
    b = Builder(m)
    scaled = b.value("math.mul", [w2, b.value("tensor.reshape", [s], {"shape": [5, 1]})])
    h = b.value("nn.relu", [b.value("nn.matmul", [x, w1])])
    y = b.value("math.add", [b.value("nn.matmul", [h, scaled]), b.value("math.tanh", [bias])])
    m.outputs["y"] = y
    before = m.copy()
    inputs = {"x": rng.standard_normal((3, 4)).astype(np.float32)}

    stats = run(FoldConstants(), m)
    assert stats["folded"] == 3  # reshape, mul, tanh
    assert [op.name for op in m.ops] == ["nn.matmul", "nn.relu", "nn.matmul", "math.add"]
    got = interpret(m, inputs)["y"]
    np.testing.assert_array_equal(got, interpret(before, inputs)["y"])
    xv = inputs["x"]
    expect = np.maximum(xv @ w1.data, 0) @ (w2.data * 0.5) + np.tanh(bias.data)
    np.testing.assert_allclose(got, expect, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------
# dce

def test_dce_removes_dead_chains_and_unused_constants():
    m = Module("d")
    x = m.add_input("x", t(4))
    c = m.add_constant("c", np.ones(4, np.float32))
    m.add_constant("unused", np.zeros(2, np.float32))
    b = Builder(m)
    dead = b.value("math.exp", [b.value("math.add", [x, c])])
    b.value("math.neg", [dead])
    live = b.value("nn.relu", [x])
    m.outputs["y"] = live
    stats = run(DeadCodeElimination(), m)
    assert [op.name for op in m.ops] == ["nn.relu"]
    assert m.constants == {}
    assert stats == {"ops-removed": 3, "constants-removed": 2}


def test_dce_keeps_outputs_their_producers_and_inputs():
    m = Module("d")
    x = m.add_input("x", t(4))
    m.add_input("unused_input", t(2))
    b = Builder(m)
    e = b.value("math.exp", [x])
    n = b.value("math.neg", [e])
    m.outputs.update(a=e, b=n)
    stats = run(DeadCodeElimination(), m)
    assert [op.name for op in m.ops] == ["math.exp", "math.neg"]
    assert [v.name for v in m.inputs] == ["x", "unused_input"]
    assert stats["ops-removed"] == 0


def test_dce_keeps_impure_ops_and_what_they_use(monkeypatch):
    make_impure(monkeypatch, "math.neg")
    m = Module("d")
    x = m.add_input("x", t(4))
    b = Builder(m)
    b.value("math.neg", [b.value("math.exp", [x])])  # result unused, but has a side effect
    m.outputs["y"] = x
    run(DeadCodeElimination(), m)
    assert [op.name for op in m.ops] == ["math.exp", "math.neg"]


# ---------------------------------------------------------------------------
# cse

def test_cse_merges_identical_ops_and_fuses_their_locations():
    m = Module("c")
    x = m.add_input("x", t(4))
    b = Builder(m)
    l1, l2 = Location("a.wsl", 1, 5), Location("a.wsl", 2, 5)
    e1 = b.value("math.exp", [x], loc=l1)
    e2 = b.value("math.exp", [x], loc=l2)
    s = b.value("math.sub", [e1, e2])
    m.outputs.update(s=s, e2=e2)
    stats = run(CommonSubexpressionElimination(), m)
    assert [op.name for op in m.ops] == ["math.exp", "math.sub"]
    assert m.ops[1].operands == [e1, e1]
    assert m.outputs["e2"] is e1
    assert m.ops[0].loc == Location(fused=(l1, l2))
    assert stats == {"ops-merged": 1}


def test_cse_commutative_operands_merge_in_either_order():
    m = Module("c")
    x, y = m.add_input("x", t(4)), m.add_input("y", t(4))
    b = Builder(m)
    a1 = b.value("math.add", [x, y])
    a2 = b.value("math.add", [y, x])
    m.outputs["z"] = b.value("math.mul", [a1, a2])
    run(CommonSubexpressionElimination(), m)
    assert [op.name for op in m.ops] == ["math.add", "math.mul"]
    assert m.ops[1].operands == [a1, a1]


def test_cse_keeps_non_commutative_ops_with_swapped_operands():
    m = Module("c")
    x, y = m.add_input("x", t(4)), m.add_input("y", t(4))
    b = Builder(m)
    d1 = b.value("math.sub", [x, y])
    d2 = b.value("math.sub", [y, x])
    m.outputs["z"] = b.value("math.mul", [d1, d2])
    assert run(CommonSubexpressionElimination(), m) == {"ops-merged": 0}
    assert len(m.ops) == 3


def test_cse_keeps_ops_with_different_attributes():
    m = Module("c")
    x = m.add_input("x", t(2, 3))
    b = Builder(m)
    r0 = b.value("math.reduce_sum", [x], {"axes": [0], "keepdims": True})
    r1 = b.value("math.reduce_sum", [x], {"axes": [0], "keepdims": False})
    r2 = b.value("math.reduce_sum", [x], {"axes": [0], "keepdims": True})
    m.outputs.update(a=r0, b=r1, c=r2)
    assert run(CommonSubexpressionElimination(), m) == {"ops-merged": 1}
    assert m.outputs["c"] is r0 and m.outputs["b"] is r1


def test_cse_merges_transitively_in_one_run():
    m = Module("c")
    x = m.add_input("x", t(4))
    b = Builder(m)
    n1 = b.value("nn.relu", [b.value("math.exp", [x])])
    n2 = b.value("nn.relu", [b.value("math.exp", [x])])
    m.outputs.update(a=n1, b=n2)
    assert run(CommonSubexpressionElimination(), m) == {"ops-merged": 2}
    assert m.outputs["a"] is m.outputs["b"] is n1


def test_cse_leaves_impure_ops_alone(monkeypatch):
    make_impure(monkeypatch, "math.exp")
    m = Module("c")
    x = m.add_input("x", t(4))
    b = Builder(m)
    m.outputs.update(a=b.value("math.exp", [x]), b=b.value("math.exp", [x]))
    assert run(CommonSubexpressionElimination(), m) == {"ops-merged": 0}
