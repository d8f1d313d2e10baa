"""Compiled loops behind dense kernels where numpy has no single fast call (numba, cached).

- `depthwise2d`: a depthwise 2-D convolution (one filter per channel). numpy
  would make one full pass over the image per kernel tap; here each output
  row is accumulated over the taps while the input rows are in cache, one
  (image, channel) plane per parallel task.

`runtime/kernels/sparse_numba.py` chooses numba's threading layer when it is
imported; importing it first keeps the two modules on the same layer.
"""
from __future__ import annotations

from . import sparse_numba  # noqa: F401  (sets the threading layer before numba's first use)

import numpy as np  # noqa: E402
from numba import njit, prange  # noqa: E402


@njit(parallel=True, cache=True, fastmath=False)
def depthwise2d(xp, w, out, sh, sw, dh, dw):
    """out[n, c] = sum over taps (i, j) of w[c, i, j] * xp[n, c, y*sh + i*dh, x*sw + j*dw].

    xp is the already padded input [N, C, Hp, Wp], w [C, kh, kw], out [N, C, Ho, Wo]."""
    n, c, ho, wo = out.shape
    kh, kw = w.shape[1], w.shape[2]
    for task in prange(n * c):
        b = task // c
        ch = task % c
        acc = np.zeros(wo, dtype=out.dtype)
        for y in range(ho):
            acc[:] = 0
            for i in range(kh):
                row = y * sh + i * dh
                for j in range(kw):
                    wt = w[ch, i, j]
                    col = j * dw
                    for x in range(wo):
                        acc[x] += wt * xp[b, ch, row, col + x * sw]
            for x in range(wo):
                out[b, ch, y, x] = acc[x]
