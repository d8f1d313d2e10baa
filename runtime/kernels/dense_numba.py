"""Compiled loops behind dense kernels where numpy has no single fast call (numba, cached).

- `depthwise2d`: a depthwise 2-D convolution (one filter per channel), with
  its bias and a clamp (relu, relu6) applied in the same store. numpy would
  make one full pass over the image per kernel tap; here each output row is
  accumulated over the taps while the input rows are in cache, one (image,
  channel) plane per parallel task.

`runtime/kernels/sparse_numba.py` chooses numba's threading layer when it is
imported; importing it first keeps the two modules on the same layer.
"""
from __future__ import annotations

from . import sparse_numba  # noqa: F401  (sets the threading layer before numba's first use)

import numpy as np  # noqa: E402
from numba import njit, prange  # noqa: E402


# Reassociation and fused multiply-adds, but not the "no NaN / no inf" assumptions:
# NaN and inf must come out as numpy's kernels give them.
_FAST = {"contract", "reassoc", "nsz", "arcp"}


@njit(parallel=True, cache=True, fastmath=_FAST)
def depthwise2d(xp, w, bias, lo, hi, out, sh, sw, dh, dw):
    """out[n, c] = clamp(sum over taps (i, j) of w[c, i, j] * xp[n, c, y*sh + i*dh,
    x*sw + j*dw] + bias[c], lo, hi).

    xp is the already padded input [N, C, Hp, Wp], w [C, kh, kw], bias [C] or empty
    (none), out [N, C, Ho, Wo]. lo/hi clamp the result (-inf/inf: no clamp), which
    gives the relu and relu6 epilogues for free. Each output row is accumulated in
    place over the taps (a unit-stride loop the compiler vectorizes)."""
    n, c, ho, wo = out.shape
    kh, kw = w.shape[1], w.shape[2]
    has_bias = bias.shape[0] > 0
    for task in prange(n * c):
        b = task // c
        ch = task % c
        b0 = bias[ch] if has_bias else out.dtype.type(0)
        for y in range(ho):
            for x in range(wo):
                out[b, ch, y, x] = b0
            for i in range(kh):
                r = y * sh + i * dh
                for j in range(kw):
                    wt = w[ch, i, j]
                    c0 = j * dw
                    if sw == 1:
                        for x in range(wo):
                            out[b, ch, y, x] += wt * xp[b, ch, r, c0 + x]
                    else:
                        for x in range(wo):
                            out[b, ch, y, x] += wt * xp[b, ch, r, c0 + x * sw]
            for x in range(wo):
                v = out[b, ch, y, x]
                if v < lo:
                    v = lo
                if v > hi:
                    v = hi
                out[b, ch, y, x] = v
