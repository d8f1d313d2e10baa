"""Kernels of math.cumprod and math.det against numpy references written here.

Same contract as `tests/ops/test_op_kernels.py` (whose `Case` shape and
helpers this file reuses). The running product is a Python loop along the
axis; the determinant is the Leibniz sum over permutations (small matrices).
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from compiler.ir.builder import infer_types
from compiler.ir.types import TensorType
from test_op_kernels import F64, case, params, randint, randn, run_case, within


def cumprod_ref(axis, exclusive=False, reverse=False):
    def ref(x):
        moved = np.moveaxis(x, axis, -1)
        out = np.zeros_like(moved)
        for idx in np.ndindex(*moved.shape[:-1]):
            order = range(moved.shape[-1] - 1, -1, -1) if reverse else range(moved.shape[-1])
            acc = 1
            for j in order:
                if exclusive:
                    out[idx + (j,)] = acc
                    acc = acc * moved[idx + (j,)]
                else:
                    acc = acc * moved[idx + (j,)]
                    out[idx + (j,)] = acc
        return np.moveaxis(out, -1, axis)
    return ref


def _sign(perm) -> int:
    inversions = sum(1 for i in range(len(perm)) for j in range(i + 1, len(perm))
                     if perm[i] > perm[j])
    return -1 if inversions % 2 else 1


def det_ref(x):
    x = np.asarray(x, dtype=F64)
    m = x.shape[-1]
    out = np.zeros(x.shape[:-2])
    for idx in np.ndindex(*x.shape[:-2]):
        out[idx] = sum(_sign(p) * np.prod([x[idx + (i, p[i])] for i in range(m)])
                       for p in itertools.permutations(range(m)))
    return out


CASES = {
    "math.cumprod": [
        case("axis1", [randn(3, 4)], cumprod_ref(1), axis=1),
        case("exclusive_reverse_axis0", [randn(4, 2, dtype=F64)],
             cumprod_ref(0, True, True), axis=0, exclusive=True, reverse=True),
        case("int32_negative_axis", [randint(-3, 4, 2, 5)], cumprod_ref(-1), axis=-1),
    ],
    "math.det": [
        case("2x2", [randn(2, 2)], det_ref),
        case("batch_3x3_f64", [randn(4, 3, 3, dtype=F64)], det_ref),
        case("batch2_4x4", [randn(2, 3, 4, 4)], det_ref),
    ],
}


@pytest.mark.parametrize("op,c", params(CASES))
def test_kernel_matches_reference(op: str, c) -> None:
    run_case(op, c, within(rtol=1e-4, atol=1e-5) if op == "math.det" else None)


def test_det_needs_square_matrices() -> None:
    from compiler.errors import TypeCheckError
    with pytest.raises(TypeCheckError, match="square"):
        infer_types("math.det", [TensorType((2, 3, 4), "f32")], {})
