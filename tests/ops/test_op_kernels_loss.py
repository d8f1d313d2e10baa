"""Kernel of nn.nll_loss against a numpy reference written here.

Same contract as `tests/ops/test_op_kernels.py` (whose `Case` shape and
helpers this file reuses). The reference walks every entry of the target
with `np.ndindex`, adding up losses and weights in Python floats.
"""
from __future__ import annotations

import numpy as np
import pytest

from compiler.ir.builder import infer_types
from compiler.ir.types import TensorType
from runtime.kernels import KERNELS
from test_op_kernels import F64, case, params, randint, randn, run_case


def nll_ref(x, target, weight=None, reduction="mean", ignore=None):
    total, total_w = 0.0, 0.0
    losses = np.zeros(target.shape)
    for idx in np.ndindex(*target.shape):
        t = int(target[idx])
        if ignore is not None and t == ignore:
            continue
        w = 1.0 if weight is None else float(weight[t])
        value = -float(x[(idx[0], t) + idx[1:]]) * w
        losses[idx] = value
        total += value
        total_w += w
    if reduction == "none":
        return losses
    return np.array(total if reduction == "sum" else total / total_w)


def _nll(*, reduction="mean", ignore=None):
    def ref(x, target, weight=None):
        return nll_ref(x, target, weight, reduction, ignore)
    return ref


_x2, _t2 = randn(5, 4), randint(0, 4, 5, dtype=np.int64)
_x4, _t4 = randn(2, 3, 4, 5), randint(0, 3, 2, 4, 5, dtype=np.int32)
_w3 = np.abs(randn(3)) + 0.1
_t4_ii = _t4.copy()
_t4_ii[0, 0, :3] = -1

CASES = {
    "nn.nll_loss": [
        case("mean_2d", [_x2, _t2], _nll()),
        case("none_4d", [_x4, _t4], _nll(reduction="none"), reduction="none"),
        case("sum_weight", [_x4, _t4, _w3], _nll(reduction="sum"), reduction="sum"),
        case("mean_weight_ignore_negative", [_x4, _t4_ii, _w3], _nll(ignore=-1),
             ignore_index=[-1]),
        case("mean_ignore_no_weight", [_x4, _t4], _nll(ignore=1), ignore_index=[1]),
        case("none_ignore_out_of_range", [_x2, np.where(_t2 == 0, 10, _t2)],
             _nll(reduction="none", ignore=10), reduction="none", ignore_index=[10]),
        case("f64", [randn(3, 6, dtype=F64), randint(0, 6, 3)], _nll()),
    ],
}


@pytest.mark.parametrize("op,c", params(CASES))
def test_kernel_matches_reference(op: str, c) -> None:
    run_case(op, c)


def test_nll_loss_rejects_an_out_of_range_target() -> None:
    with pytest.raises(IndexError, match="out of range"):
        KERNELS["nn.nll_loss"](_x2, np.array([0, 1, 4, 0, 0]), reduction="mean",
                               ignore_index=[])


def test_nll_loss_checks_target_shape() -> None:
    from compiler.errors import TypeCheckError
    with pytest.raises(TypeCheckError, match="without its class dim"):
        infer_types("nn.nll_loss", [TensorType((2, 3, 4), "f32"), TensorType((2, 3), "i64")], {})
    _, _, (out,) = infer_types("nn.nll_loss", [TensorType(("N", 3), "f32"),
                                               TensorType(("N",), "i64")], {"reduction": "none"})
    assert out.shape == ("N",)
