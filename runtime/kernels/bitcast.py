"""Kernel of math.bitcast: the same bytes viewed as another dtype (wsc's dtypes are the
machine's native, little-endian on every supported platform)."""
from __future__ import annotations

import numpy as np

from ..dtypes import DTYPES
from .registry import kernel


@kernel("math.bitcast")
def bitcast(x, *, to):
    return np.ascontiguousarray(x).view(DTYPES[to]).reshape(x.shape)
