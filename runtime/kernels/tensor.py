"""Data-movement kernels (numpy): reshape, transpose, concat, slice, flatten."""
from __future__ import annotations

import numpy as np

from .registry import kernel


@kernel("tensor.reshape")
def reshape(x, *, shape):
    # 0 copies the input dim (ONNX convention); numpy handles -1.
    target = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return np.reshape(x, target)
