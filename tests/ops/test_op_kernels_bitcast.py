"""Kernel of math.bitcast against references built with `struct` (bytes packed and unpacked
one value at a time), plus the width check of its shape inference."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from compiler.ir.builder import infer_types
from compiler.ir.types import TensorType
from test_op_kernels import F32, F64, assert_matches, case, params, randint, randn, run_case


def via_struct(src: str, dst: str, out_dtype):
    def ref(x):
        flat = [struct.unpack("<" + dst, struct.pack("<" + src, v))[0] for v in x.ravel().tolist()]
        return np.array(flat, dtype=out_dtype).reshape(x.shape)
    return ref


CASES = {
    "math.bitcast": [
        case("f32_to_i32", [randn(2, 3)], via_struct("f", "i", np.int32), to="i32"),
        case("i64_to_f64", [randint(-2**40, 2**40, 4, dtype=np.int64)],
             via_struct("q", "d", F64), to="f64"),
        case("u16_to_i16", [randint(0, 65536, 5, dtype=np.uint16)], via_struct("H", "h", np.int16),
             to="i16"),
        case("bool_to_u8", [randint(0, 2, 4).astype(bool)], via_struct("?", "B", np.uint8),
             to="u8"),
        case("scalar_i32_to_f32", [np.array(1065353216, np.int32)], via_struct("i", "f", F32),
             to="f32"),
    ],
}


def _same_bits(got: np.ndarray, want: np.ndarray) -> None:
    """Floats compared bit for bit (NaN payloads must survive too), the rest exactly."""
    if got.dtype.kind == "f":
        np.testing.assert_array_equal(got.view(f"u{got.itemsize}"), want.view(f"u{got.itemsize}"))
    else:
        assert_matches(got, want)


@pytest.mark.parametrize("op,c", params(CASES))
def test_kernel_matches_reference(op: str, c) -> None:
    run_case(op, c, _same_bits)


def test_bitcast_needs_equal_widths() -> None:
    from compiler.errors import TypeCheckError
    with pytest.raises(TypeCheckError, match="widths must match"):
        infer_types("math.bitcast", [TensorType((3,), "f32")], {"to": "i64"})
