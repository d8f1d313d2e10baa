"""Compiled loops behind dense kernels where numpy has no single fast call (numba, cached).

- `depthwise2d`: a depthwise 2-D convolution (one filter per channel), with
  its bias and a clamp (relu, relu6) applied in the same store. numpy would
  make one full pass over the image per kernel tap; here each output row is
  accumulated over the taps while the input rows are in cache, one (image,
  channel) plane per parallel task.
- `gelu_inplace`: the exact (erf) GELU in place, for the fused epilogues.

`runtime/kernels/sparse_numba.py` chooses numba's threading layer when it is
imported; importing it first keeps the two modules on the same layer.
"""
from __future__ import annotations

import math

from . import sparse_numba  # noqa: F401  (sets the threading layer before numba's first use)

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
        plane = out[b, ch]
        src = xp[b, ch]
        for y in range(ho):
            # 1-D row views: LLVM vectorizes these loops (4-D indexing it did not, 5x slower)
            orow = plane[y]
            for x in range(wo):
                orow[x] = b0
            for i in range(kh):
                xrow = src[y * sh + i * dh]
                for j in range(kw):
                    wt = w[ch, i, j]
                    c0 = j * dw
                    if sw == 1:
                        xs = xrow[c0:c0 + wo]
                        for x in range(wo):
                            orow[x] += wt * xs[x]
                    else:
                        for x in range(wo):
                            orow[x] += wt * xrow[c0 + x * sw]
            for x in range(wo):
                v = orow[x]
                if v < lo:
                    v = lo
                if v > hi:
                    v = hi
                orow[x] = v


@njit(parallel=True, cache=True, fastmath=_FAST)
def gelu_inplace(buf):
    """buf = 0.5 * buf * (1 + erf(buf / sqrt(2))) in place, over a C-contiguous array.

    scipy's erf ufunc measured ~15 ns per element, more than the matmul before it in a
    BERT FFN; libm's erf in a parallel compiled loop is ~4x faster at the same accuracy."""
    flat = buf.reshape(-1)
    half = flat.dtype.type(0.5)
    one = flat.dtype.type(1.0)
    scale = flat.dtype.type(0.7071067811865476)
    for i in prange(flat.size):
        v = flat[i]
        flat[i] = half * v * (one + math.erf(v * scale))
