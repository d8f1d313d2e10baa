"""Tensor types of the IR: element dtypes, shapes (static or symbolic) and encodings.

A shape is a tuple of dims; a dim is an `int` (static) or a `str` naming a
symbolic size (``"N"``, ``"batch"``) that the runtime binds from the inputs.
The text form is the same in the DSL and the IR: ``f32[N, 784]``, with an
optional encoding suffix for sparse tensors: ``f32[256, 784] #csr(nnz=20070)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np

from runtime.dtypes import DTYPES, FLOAT_DTYPES, INT_DTYPES, dtype_from_numpy  # noqa: F401

Dim = int | str
Shape = tuple[Dim, ...]


def to_numpy_dtype(name: str) -> np.dtype:
    return DTYPES[name]


@dataclass(frozen=True)
class SparseEncoding:
    """A tensor stored sparsely: its format (``csr``, ...) and number of nonzeros."""

    format: str
    nnz: int

    def __str__(self) -> str:
        return f"#{self.format}(nnz={self.nnz})"


@dataclass(frozen=True)
class TensorType:
    """Shape, element dtype and encoding (None = dense) of an IR value."""

    shape: Shape
    dtype: str
    encoding: SparseEncoding | None = None

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r}")
        object.__setattr__(self, "shape", tuple(self.shape))

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_static(self) -> bool:
        return all(isinstance(d, int) for d in self.shape)

    @property
    def numel(self) -> int | None:
        """Number of elements, or None when a dim is symbolic."""
        return prod(self.shape) if self.is_static else None

    @property
    def itemsize(self) -> int:
        return DTYPES[self.dtype].itemsize

    @property
    def np_dtype(self) -> np.dtype:
        return DTYPES[self.dtype]

    def nbytes(self, symbols: dict[str, int] | None = None) -> int | None:
        """Dense byte size; symbolic dims are taken from `symbols` (None if unbound)."""
        n = 1
        for d in self.shape:
            if isinstance(d, str):
                if not symbols or d not in symbols:
                    return None
                d = symbols[d]
            n *= d
        return n * self.itemsize

    def with_shape(self, shape) -> "TensorType":
        return TensorType(tuple(shape), self.dtype, self.encoding)

    def with_dtype(self, dtype: str) -> "TensorType":
        return TensorType(self.shape, dtype, self.encoding)

    def with_encoding(self, encoding: SparseEncoding | None) -> "TensorType":
        return TensorType(self.shape, self.dtype, encoding)

    def __str__(self) -> str:
        dims = ", ".join(str(d) for d in self.shape)
        s = f"{self.dtype}[{dims}]"
        if self.encoding is not None:
            s += f" {self.encoding}"
        return s

    @staticmethod
    def of_array(a: np.ndarray) -> "TensorType":
        return TensorType(tuple(int(d) for d in a.shape), dtype_from_numpy(a.dtype))
