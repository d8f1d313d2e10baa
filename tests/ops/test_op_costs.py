"""FLOP counts of the ops against hand-counted formulas on concrete shapes."""
from __future__ import annotations

import pytest

from compiler.ir.builder import infer_types
from compiler.ir.types import TensorType
from compiler.ops import get_op


def T(*shape) -> TensorType:
    return TensorType(shape, "f32")


def flops(op: str, *ins: TensorType, **attrs) -> int:
    name, norm, outs = infer_types(op, list(ins), attrs)
    return get_op(name).flops(list(ins), outs, norm)


@pytest.mark.parametrize("op,ins,attrs,want", [
    # 2*M*N*K
    ("nn.matmul", [T(8, 16), T(16, 4)], {}, 2 * 8 * 4 * 16),
    ("nn.matmul", [T(16), T(3, 16, 4)], {}, 2 * 3 * 4 * 16),
    # 2 * N*O*Ho*Wo * C/g*kH*kW, plus one add per output for the bias
    ("nn.conv2d", [T(2, 3, 8, 8), T(4, 3, 3, 3)], {}, 2 * (2 * 4 * 6 * 6) * 27),
    ("nn.conv2d", [T(1, 8, 8, 8), T(8, 1, 3, 3), T(8)], {"groups": 8, "pads": [1, 1, 1, 1]},
     2 * (8 * 8 * 8) * 9 + 8 * 8 * 8),
    # one compare per window tap
    ("nn.maxpool2d", [T(1, 2, 8, 8)], {"kernel": [2, 2], "strides": [2, 2]}, 2 * 4 * 4 * 4),
    ("nn.avgpool2d", [T(1, 2, 8, 8)], {"kernel": [2, 2], "strides": [2, 2]}, 2 * 4 * 4 * 5),
    ("math.add", [T(4, 1), T(1, 5)], {}, 20),
    ("math.reduce_mean", [T(4, 5)], {"axes": [1]}, 20 + 4),
    ("tensor.transpose", [T(4, 5)], {}, 0),
])
def test_flops(op, ins, attrs, want) -> None:
    assert flops(op, *ins, **attrs) == want


def test_bytes_default_counts_every_operand_and_result_once() -> None:
    ins = [T(8, 16), T(16, 4)]
    name, attrs, outs = infer_types("nn.matmul", ins, {})
    assert get_op(name).cost_bytes(ins, outs, attrs) == 4 * (8 * 16 + 16 * 4 + 8 * 4)
