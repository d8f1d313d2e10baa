"""Element dtypes by their IR names (``f32``, ``i64``, ``bool``...): the one table.

Lives in the runtime so both the runtime (which must not import the compiler)
and the compiler's IR types use the same mapping.
"""
from __future__ import annotations

import numpy as np

DTYPES: dict[str, np.dtype] = {
    "f16": np.dtype(np.float16),
    "f32": np.dtype(np.float32),
    "f64": np.dtype(np.float64),
    "i8": np.dtype(np.int8),
    "i16": np.dtype(np.int16),
    "i32": np.dtype(np.int32),
    "i64": np.dtype(np.int64),
    "u8": np.dtype(np.uint8),
    "u16": np.dtype(np.uint16),
    "u32": np.dtype(np.uint32),
    "u64": np.dtype(np.uint64),
    "bool": np.dtype(np.bool_),
}
_NUMPY_TO_IR = {v: k for k, v in DTYPES.items()}

FLOAT_DTYPES = frozenset({"f16", "f32", "f64"})
INT_DTYPES = frozenset({"i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64"})


def dtype_from_numpy(dt) -> str:
    """IR dtype name of a numpy dtype; KeyError for unsupported ones."""
    return _NUMPY_TO_IR[np.dtype(dt)]


def random_array(rng: np.random.Generator, shape: tuple, dtype: str) -> np.ndarray:
    """Random values of an IR dtype: booleans at 50%, integers in [0, 10), floats
    standard normal (the `--random-inputs` and calibration inputs)."""
    dt = DTYPES[dtype]
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if np.issubdtype(dt, np.integer):
        return rng.integers(0, 10, size=shape).astype(dt)
    return rng.standard_normal(shape).astype(dt)
