"""The registry cannot drift: every op is complete, every dense kernel has an op.

For each registered op: shape inference exists and runs on the op's first
kernel test case, its cost is a non-negative int there, its fusion class is
known, the runtime has a kernel of the same name that accepts every attribute
as a keyword, and a `CASES` table has at least one case for it. The tables
live in `tests/ops/test_op_kernels*.py` (one file per op family, each with its
own `CASES` dict); this test merges them all.
"""
from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pytest

from compiler.ir.builder import infer_types
from compiler.ir.types import TensorType
from compiler.ops import OPS, all_ops
from compiler.ops.registry import FUSION_CLASSES
from runtime.kernels import KERNELS


def _all_cases() -> dict:
    merged: dict = {}
    for path in sorted(Path(__file__).parent.glob("test_op_kernels*.py")):
        module = importlib.import_module(path.stem)
        for name, cases in module.CASES.items():
            assert name not in merged, f"{name} has CASES in two files ({path.name})"
            merged[name] = cases
    return merged


CASES = _all_cases()

# Kernels that implement no op of their own name (sparse formats, fused
# epilogues) and are chosen by kernel selection. Add each one here by name.
SPECIALISED_KERNELS: set[str] = {"sparse.matmul_csc", "sparse.conv2d_csr", "sparse.rnn",
                                  "sparse.gru", "sparse.lstm"}

_OP_NAMES = [op.name for op in all_ops()]


@pytest.mark.parametrize("name", _OP_NAMES)
def test_op_is_complete(name: str) -> None:
    op = OPS[name]
    assert callable(op.infer), f"{name} has no shape inference"
    assert callable(op.flops), f"{name} has no cost function"
    assert op.fusion in FUSION_CLASSES, f"{name} has an unknown fusion class {op.fusion!r}"
    assert op.doc, f"{name} has no doc"
    for a in op.attrs:
        assert a.doc, f"{name}: attribute {a.name!r} has no doc"

    assert name in KERNELS, f"{name} has no runtime kernel of the same name"
    params = inspect.signature(KERNELS[name]).parameters
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    for a in op.attrs:
        assert takes_kwargs or a.name in params, \
            f"kernel {name} does not accept the attribute {a.name!r} as a keyword"

    assert CASES.get(name), f"{name} has no case in any tests/ops/test_op_kernels*.py CASES"
    sample = CASES[name][0]
    ins = [TensorType.of_array(a) for a in sample.inputs]
    _, attrs, outs = infer_types(name, ins, sample.attrs)
    flops = op.flops(ins, outs, attrs)
    assert isinstance(flops, int) and not isinstance(flops, bool) and flops >= 0, \
        f"{name}: cost on {[str(t) for t in ins]} is {flops!r}, not a non-negative int"
    assert op.cost_bytes(ins, outs, attrs) >= 0


def test_every_kernel_has_an_op() -> None:
    orphans = sorted(k for k in KERNELS if k not in OPS and k not in SPECIALISED_KERNELS)
    assert not orphans, (f"runtime kernels with no op of the same name: {orphans} "
                         f"(register the op, or list the kernel in SPECIALISED_KERNELS)")


def test_cases_name_only_registered_ops() -> None:
    stray = sorted(k for k in CASES if k not in OPS)
    assert not stray, f"CASES has entries for ops that are not registered: {stray}"
