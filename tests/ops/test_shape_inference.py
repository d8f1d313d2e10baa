"""Shape inference with symbolic dims, and the errors a user sees for bad ops.

All checks go through `compiler.ir.builder.infer_types`, the entry point the
frontends and passes use; errors must be located `TypeCheckError`s whose
message says what is wrong and what to do.
"""
from __future__ import annotations

import pytest

from compiler.errors import TypeCheckError
from compiler.ir.builder import infer_types
from compiler.ir.location import Location
from compiler.ir.types import TensorType


def T(*shape, dtype="f32") -> TensorType:
    return TensorType(tuple(shape), dtype)


def infer(op: str, *types: TensorType, **attrs) -> TensorType:
    (out,) = infer_types(op, list(types), attrs)[2]
    return out


def error(op: str, *types: TensorType, **attrs) -> str:
    with pytest.raises(TypeCheckError) as e:
        infer_types(op, list(types), attrs)
    return e.value.message


# -- symbolic dims pass through --------------------------------------------------

SYMBOLIC = [
    ("math.add", [T("N", 1, 4), T(3, 1)], {}, T("N", 3, 4)),
    ("math.add", [T("N", 4), T("N", 1)], {}, T("N", 4)),
    ("math.mul", [T(1, "S"), T("B", 1)], {}, T("B", "S")),
    ("nn.relu", [T("N", "S", dtype="i32")], {}, T("N", "S", dtype="i32")),
    ("nn.gelu", [T("N", 8)], {"approximate": "tanh"}, T("N", 8)),
    ("nn.matmul", [T("N", 784), T(784, 256)], {}, T("N", 256)),
    ("nn.matmul", [T("B", "S", 64), T(64, 10)], {}, T("B", "S", 10)),
    ("nn.matmul", [T("B", 1, "S", 8), T(4, 8, 2)], {}, T("B", 4, "S", 2)),
    ("nn.matmul", [T(8), T("B", 8, 3)], {}, T("B", 3)),
    ("nn.matmul", [T("N", 8), T(8)], {}, T("N")),
    ("nn.matmul", [T(8), T(8)], {}, T()),
    ("nn.conv2d", [T("N", 3, 224, 224), T(64, 3, 7, 7), T(64)],
     {"strides": [2, 2], "pads": [3, 3, 3, 3]}, T("N", 64, 112, 112)),
    ("nn.conv2d", [T("N", 8, 10, 10), T(8, 1, 3, 3)],
     {"groups": 8, "dilations": [2, 2]}, T("N", 8, 6, 6)),
    ("nn.maxpool2d", [T("N", "C", 112, 112)],
     {"kernel": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, T("N", "C", 56, 56)),
    ("nn.avgpool2d", [T("N", 4, 7, 7)],
     {"kernel": [2, 2], "strides": [2, 2], "ceil_mode": True}, T("N", 4, 4, 4)),
    ("nn.global_avgpool", [T("N", 512, "H", "W")], {}, T("N", 512, 1, 1)),
    ("nn.softmax", [T("N", "S", 10)], {"axis": 1}, T("N", "S", 10)),
    ("nn.layernorm", [T("B", "S", 64), T(64), T(64)], {}, T("B", "S", 64)),
    ("math.reduce_sum", [T("N", "S", 8)], {}, T()),
    ("math.reduce_mean", [T("N", "S", 8)], {"axes": [-1]}, T("N", "S")),
    ("math.reduce_max", [T("N", "S", 8)], {"axes": [1], "keepdims": True}, T("N", 1, 8)),
    ("tensor.reshape", [T("N", 3, 4)], {"shape": [0, -1]}, T("N", 12)),
    ("tensor.reshape", [T("N", 12)], {"shape": [-1, 3, 4]}, T("N", 3, 4)),
    ("tensor.flatten", [T("N", 3, 4)], {}, T("N", 12)),
    ("tensor.flatten", [T(2, 3, "S")], {"axis": 2}, T(6, "S")),
    ("tensor.flatten", [T("N")], {"axis": 0}, T(1, "N")),
    # products of symbols are one dim in canonical form: static factor, then sorted names
    ("tensor.flatten", [T("N", 3, 4)], {"axis": 2}, T("3*N", 4)),
    ("tensor.reshape", [T("S", "B", 64)], {"shape": [-1, 64]}, T("B*S", 64)),
    ("tensor.reshape", [T("B", "S", 32), T("B", "S")],
     {"shape": [-1, -1, 4, 8], "like_dims": [0, 1, -1, -1]}, T("B", "S", 4, 8)),
    ("tensor.reshape", [T("B*S", 96), T("S", "B")],
     {"shape": [-1, 96, -1], "like_dims": [1, -1, 0]}, T("B", 96, "S")),
    ("tensor.reshape", [T("S", "4*B", 8)], {"shape": [0, -1, 4, 8]}, T("S", "B", 4, 8)),
    ("tensor.transpose", [T("N", "S", 8)], {"perm": [1, 0, 2]}, T("S", "N", 8)),
    ("tensor.transpose", [T("N", "S", 8)], {}, T(8, "S", "N")),
    ("tensor.concat", [T("N", 3), T("N", 5), T("N", 1)], {"axis": 1}, T("N", 9)),
    ("tensor.concat", [T("N", 3)], {"axis": 0}, T("N", 3)),
    ("tensor.slice", [T("N", 10)], {"starts": [2], "ends": [-1], "axes": [1]}, T("N", 7)),
    ("tensor.slice", [T("N", 10)], {"starts": [0, 9], "ends": [2**63 - 1, -100],
                                    "steps": [1, -3]}, T("N", 4)),
    ("tensor.slice", [T("N", 4)], {"starts": [-1], "ends": [-2**63], "steps": [-1]},
     T("N", 4)),
]


@pytest.mark.parametrize("op,ins,attrs,want", SYMBOLIC,
                         ids=[f"{op}-{i}" for i, (op, *_) in enumerate(SYMBOLIC)])
def test_symbolic_inference(op, ins, attrs, want) -> None:
    assert infer(op, *ins, **attrs) == want


# -- static edge cases -------------------------------------------------------------

def test_pool_ceil_mode_drops_a_window_starting_in_the_end_padding() -> None:
    # floor: (5+1+1-2)/2+1 = 3; ceil gives 4, but window 4 would start at 6 >= 5+1.
    assert infer("nn.maxpool2d", T(1, 1, 5, 5), kernel=[2, 2], strides=[2, 2],
                 pads=[1, 1, 1, 1], ceil_mode=True).shape == (1, 1, 3, 3)
    assert infer("nn.maxpool2d", T(1, 1, 6, 6), kernel=[3, 3], strides=[2, 2],
                 ceil_mode=True).shape == (1, 1, 3, 3)


def test_slice_clamps_like_onnx() -> None:
    x = T(5, 6)
    assert infer("tensor.slice", x, starts=[-10], ends=[-20], steps=[-1]).shape == (1, 6)
    assert infer("tensor.slice", x, starts=[4], ends=[2], axes=[1]).shape == (5, 0)
    assert infer("tensor.slice", x, starts=[100], ends=[-100], axes=[1],
                 steps=[-4]).shape == (5, 2)


# -- errors ------------------------------------------------------------------------

def test_bad_broadcast() -> None:
    msg = error("math.add", T(3, 4), T(5, 4))
    assert "[3, 4] and [5, 4] do not broadcast" in msg and "3, 5" in msg
    assert "do not broadcast" in error("math.add", T("N", 4), T("M", 4))


def test_dtype_mismatch_suggests_a_cast() -> None:
    msg = error("math.add", T(3), T(3, dtype="i32"))
    assert "f32, i32" in msg and "cast" in msg


def test_bad_matmul_dims() -> None:
    msg = error("nn.matmul", T(3, 4), T(5, 6))
    assert "contraction dims differ" in msg and "[3, 4] @ [5, 6]" in msg and "4 vs 5" in msg
    msg = error("nn.matmul", T(2, 3, 4), T(3, 4, 5))
    assert "batch dims [2] and [3] do not broadcast" in msg
    assert "rank >= 1" in error("nn.matmul", T(), T(3))


def test_conv_channel_mismatch() -> None:
    msg = error("nn.conv2d", T("N", 4, 8, 8), T(2, 3, 3, 3))
    assert "has 4 channels" in msg and "expects 3" in msg
    msg = error("nn.conv2d", T(1, 4, 8, 8), T(6, 1, 3, 3), groups=2)
    assert "expects 2 (1 per group x groups=2)" in msg
    msg = error("nn.conv2d", T(1, 3, 8, 8), T(2, 3, 3, 3), T(3))
    assert "bias must have shape [2]" in msg
    assert "must have rank 4" in error("nn.conv2d", T(3, 8, 8), T(2, 3, 3, 3))
    assert "do not divide into groups=2" in error("nn.conv2d", T(1, 4, 8, 8), T(3, 2, 3, 3), groups=2)


def test_conv_and_pool_need_static_spatial_dims() -> None:
    msg = error("nn.conv2d", T("N", 3, "H", 32), T(8, 3, 3, 3))
    assert "input height must be static" in msg and "'H'" in msg and "--input-shape" in msg
    msg = error("nn.avgpool2d", T(1, 3, 32, "W"), kernel=[2, 2])
    assert "input width must be static" in msg


def test_window_larger_than_input() -> None:
    msg = error("nn.conv2d", T(1, 3, 2, 8), T(8, 3, 3, 3))
    assert "height" in msg and "spans 3" in msg and "only 2" in msg
    msg = error("nn.maxpool2d", T(1, 3, 8, 8), kernel=[2, 2], pads=[2, 0, 0, 0])
    assert "padding" in msg and "smaller than the window" in msg


def test_bad_window_attributes() -> None:
    assert "'strides' must have 2 entries" in error("nn.conv2d", T(1, 3, 8, 8), T(8, 3, 3, 3),
                                                     strides=[1, 1, 1])
    assert "'strides' entries must be >= 1" in error("nn.maxpool2d", T(1, 3, 8, 8),
                                                       kernel=[2, 2], strides=[0, 1])
    assert "requires attribute 'kernel'" in error("nn.maxpool2d", T(1, 3, 8, 8))


def test_unknown_attribute_suggests_the_right_one() -> None:
    msg = error("nn.softmax", T(2, 3), axsi=1)
    assert "no attribute 'axsi'" in msg and "did you mean 'axis'" in msg
    msg = error("nn.conv2d", T(1, 3, 8, 8), T(8, 3, 3, 3), stride=[2, 2])
    assert "did you mean 'strides'" in msg


def test_attribute_choices_and_kinds() -> None:
    assert "must be one of 'none', 'tanh'" in error("nn.gelu", T(3), approximate="fast")
    assert "must be an integer" in error("nn.softmax", T(3), axis="last")


def test_unknown_op_and_arity() -> None:
    with pytest.raises(TypeCheckError, match="did you mean 'nn.softmax'"):
        infer_types("nn.sofmax", [T(3)], {})
    assert "takes 2 to 3 operands" in error("nn.conv2d", T(1, 3, 8, 8))
    assert "takes 1 or more operands" in error("tensor.concat", axis=0)


def test_axis_errors() -> None:
    assert "axis 2 is out of range for a rank-2 tensor" in error("nn.softmax", T(2, 3), axis=2)
    assert "out of range" in error("math.reduce_max", T(2, 3), axes=[-3])
    assert "repeated axes" in error("math.reduce_sum", T(2, 3), axes=[1, -1])
    assert "valid: [-2, 2]" in error("tensor.flatten", T(2, 3), axis=3)


def test_movement_errors() -> None:
    msg = error("tensor.concat", T("N", 3), T(2, 3), axis=0)
    assert "symbolic" in msg and "--input-shape" in msg
    msg = error("tensor.concat", T(2, 3), T(2, 4), axis=0)
    assert "differ in dim 1" in msg
    assert "same rank" in error("tensor.concat", T(2, 3), T(2, 3, 1), axis=0)
    assert "not a permutation" in error("tensor.transpose", T(2, 3, 4), perm=[0, 0, 1])
    msg = error("tensor.reshape", T("N", 12), shape=[-1, 5])
    assert "cannot reshape [N, 12] into [-1, 5]" in msg
    msg = error("tensor.reshape", T("B*S", 96), T("B", "T"), shape=[-1, -1, 96],
                like_dims=[0, 1, -1])
    assert "'T' not in the input" in msg
    msg = error("tensor.reshape", T("N", 12), shape=[-1, -1, 96], like_dims=[0, 1, -1])
    assert "none is given" in msg
    msg = error("tensor.slice", T("N", 4), starts=[1], ends=[3])
    assert "must be static" in msg and "'N'" in msg
    assert "nonzero" in error("tensor.slice", T(4), starts=[0], ends=[3], steps=[0])
    assert "same length" in error("tensor.slice", T(4, 4), starts=[0, 1], ends=[3])
    assert "same axis twice" in error("tensor.slice", T(4, 4), starts=[0, 1], ends=[3, 3],
                                      axes=[1, -1])


def test_dtype_rules() -> None:
    assert "floating-point" in error("nn.softmax", T(3, dtype="i32"))
    assert "floating-point" in error("math.reduce_mean", T(3, dtype="i64"))
    assert "floating-point" in error("nn.conv2d", T(1, 1, 3, 3, dtype="i8"),
                                     T(1, 1, 1, 1, dtype="i8"))
    assert "numeric" in error("math.neg", T(3, dtype="bool"))
    msg = error("nn.layernorm", T(2, 8), T(4))
    assert "scale [4] must broadcast to the normalized shape [8]" in msg


def test_errors_carry_the_location() -> None:
    with pytest.raises(TypeCheckError) as e:
        infer_types("nn.matmul", [T(3, 4), T(5, 6)], {}, Location(name="MatMul_7"))
    assert e.value.where == "MatMul_7"
    assert str(e.value).startswith("MatMul_7: matmul contraction dims differ")


def test_product_dims_have_one_canonical_spelling() -> None:
    from compiler.ops.shapes import dim_factors, dims_product, divide_dim, make_dim
    assert dims_product(("S", 4, "B", 3)) == "12*B*S" == dims_product(("12*S", "B"))
    assert dims_product((2, 3)) == 6 and dims_product(("N", 1)) == "N"
    assert dim_factors("12*B*S") == (12, ("B", "S")) and dim_factors(7) == (7, ())
    assert make_dim(1, ["S", "B"]) == "B*S" and make_dim(0, ["B"]) == 0
    assert divide_dim("12*B*S", "4*S") == "3*B" and divide_dim("B*S", "B*S") == 1
    assert divide_dim("B*S", "T") is None and divide_dim("3*B", 2) is None
