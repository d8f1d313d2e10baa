"""Reduction kernels (numpy)."""
from __future__ import annotations

import numpy as np

from .registry import kernel


def _axes(x, axes):
    return tuple(axes) if axes else None


@kernel("math.reduce_sum")
def reduce_sum(x, *, axes, keepdims):
    return np.sum(x, axis=_axes(x, axes), keepdims=keepdims).astype(x.dtype, copy=False)
