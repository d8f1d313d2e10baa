"""The liveness-based memory plan: lifetimes, views, non-overlapping placement, its report."""
from __future__ import annotations

import numpy as np

from compiler.ir.builder import Builder
from compiler.ir.core import Module
from compiler.ir.types import TensorType
from compiler.lower import lower
from compiler.memory_plan import measure_peak, plan_memory
from runtime.executor import Executable


def chain_module(n: int = 6) -> Module:
    """x -> relu -> ... (n ops), each f32[4, 256] (4 KiB)."""
    m = Module("chain")
    v = m.add_input("x", TensorType((4, 256), "f32"))
    b = Builder(m)
    for _ in range(n):
        v = b.value("nn.relu", [v])
    m.outputs = {"y": v}
    return m


def test_chain_needs_two_buffers():
    plan = plan_memory(chain_module())
    assert plan.largest_live_set == 2 * 4096       # an op's operand and its result
    assert plan.arena_bytes == 2 * 4096 and plan.ratio == 1.0
    assert plan.report()["sum_of_buffers"] == 6 * 4096


def test_views_share_their_base_and_keep_it_alive():
    m = Module("views")
    x = m.add_input("x", TensorType((8, 16), "f32"))
    b = Builder(m)
    a = b.value("nn.relu", [x])                                      # 512 B
    r = b.value("tensor.reshape", [a], {"shape": [16, 8]})           # view of a
    t = b.value("tensor.transpose", [r], {"perm": [1, 0]})           # view of a
    c = b.value("tensor.reshape", [t], {"shape": [128]})             # copy: t is strided
    e = b.value("math.exp", [x])
    m.outputs = {"y": b.value("math.add", [c, b.value("tensor.reshape", [e], {"shape": [128]})])}
    plan = plan_memory(m)
    assert len(plan.buffers) == 4     # a, the copy of its strided view, e (reshaped: a view), sum
    base = next(buf for buf in plan.buffers if len(buf.views) == 2)
    assert base.end == 3                            # a lives until the copy reads its view
    offsets = plan.offsets
    assert offsets[base.views[0]] == offsets[base.value]


def test_placement_never_overlaps_and_peak_is_the_live_set_bound():
    rng = np.random.default_rng(0)
    m = Module("dag")
    x = m.add_input("x", TensorType((2, 64), "f32"))
    b = Builder(m)
    values = [x]
    for i in range(40):      # a random DAG of binary ops over random earlier values
        u, v = (values[j] for j in rng.integers(max(0, len(values) - 6), len(values), 2))
        values.append(b.value("math.add" if i % 2 else "math.mul", [u, v]))
    m.outputs = {"y": values[-1], "z": values[20]}
    plan = plan_memory(m)
    for p in plan.buffers:
        for q in plan.buffers:
            if p is q or p.end < q.start or q.end < p.start:
                continue
            assert p.offset + p.size <= q.offset or q.offset + q.size <= p.offset
    # the lower bound recomputed here: bytes of values live at each op
    last = {}
    for i, op in enumerate(m.ops):
        for v in op.operands:
            last[v] = i
    for v in m.outputs.values():
        last[v] = len(m.ops)
    live = [sum(512 for op2 in m.ops[:i + 1] for r in op2.results if last.get(r, -1) >= i)
            for i in range(len(m.ops))]
    assert plan.largest_live_set == max(live)
    assert plan.largest_live_set <= plan.arena_bytes <= 1.5 * plan.largest_live_set


def test_symbolic_dims_bound_and_measured_peak():
    m = chain_module()
    m.inputs[0].type = TensorType(("N", 256), "f32")
    for op in m.ops:
        op.results[0].type = TensorType(("N", 256), "f32")
    assert plan_memory(m, {"N": 8}).largest_live_set == 2 * 8 * 1024
    exe = Executable(lower(chain_module(20)))
    feeds = {"x": np.ones((4, 256), np.float32)}
    peak = measure_peak(lambda: exe.run(feeds))
    assert 4096 <= peak <= 8 * 4096
