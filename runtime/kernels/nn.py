"""Dense NN kernels (numpy): matmul, convolution, pooling, normalization, softmax.

Layouts follow the ops (`compiler/ops/nn.py`): NCHW / NCDHW activations, OIHW
conv weights, IOHW transposed-conv weights, pads [all begins, all ends].
Every windowed kernel here works for any number of spatial dims; the 2-D and
3-D ops share them.

- Convolution is im2col: a strided view of every window (no copy), one copy
  into a [groups, N*outputs, C/g*kernel] matrix and one batched matmul.
- Transposed convolution is the reverse: one batched matmul gives every
  input pixel's contribution to every kernel tap, then one strided add per
  tap scatters them into the output.
- Pooling loops over the window taps (never over pixels), each tap a strided
  slice of the whole batch.

f16 inputs are computed in f32 where a reduction or an exponential would lose
too much, and the result cast back.
"""
from __future__ import annotations

import itertools
from math import prod
from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..threads import matmul_into, pool
from .registry import kernel


def _wide(x: np.ndarray) -> np.ndarray:
    """The array in a dtype fit for accumulating (f16 -> f32)."""
    return x.astype(np.float32) if x.dtype == np.float16 else x


@kernel("nn.matmul")
def matmul(a, b):
    return matmul_2d_weight(a, b)


def matmul_2d_weight(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """np.matmul(a, b); when b is a 2-D matrix and a has rank >= 2 (a layer's
    activations times its weight), as one [M, K] @ [K, N] product that
    `threads.matmul_into` may split over the runtime's threads."""
    if b.ndim != 2 or a.ndim < 2 or a.dtype != b.dtype or a.dtype not in (np.float32, np.float64):
        return np.matmul(a, b)
    lead = a.shape[:-1]
    out = np.empty(lead + (b.shape[1],), dtype=a.dtype)
    matmul_into(np.ascontiguousarray(a).reshape(-1, a.shape[-1]), np.ascontiguousarray(b),
                out.reshape(-1, b.shape[1]))
    return out


# -- shared window geometry ------------------------------------------------------

def _pad_spatial(x: np.ndarray, begins, ends, value=0) -> np.ndarray:
    """Pad the dims after N and C by `begins` / `ends` (one entry per spatial dim)."""
    if not (any(begins) or any(ends)):
        return x
    widths = [(0, 0), (0, 0)] + list(zip(begins, ends))
    return np.pad(x, widths, constant_values=value)


def _spatial_slice(start: int, count: int, step: int) -> slice:
    return slice(start, start + step * (count - 1) + 1, step)


def _taps(xp: np.ndarray, kernel, strides, dilations, outs):
    """Yield, per window tap (row-major over the kernel), the [..., *outs] slice it reads."""
    lead = (Ellipsis,)
    for tap in itertools.product(*(range(k) for k in kernel)):
        yield xp[lead + tuple(_spatial_slice(t * d, o, s)
                              for t, d, o, s in zip(tap, dilations, outs, strides))]


def _pool_out(size: int, k: int, s: int, pb: int, pe: int, d: int, ceil_mode: bool) -> int:
    """Output length along one dim (the same rule as the op's shape inference)."""
    span = size + pb + pe - (d * (k - 1) + 1)
    if not ceil_mode:
        return span // s + 1
    out = -(-span // s) + 1
    return out - 1 if (out - 1) * s >= size + pb else out


def _pool_geometry(x, kernel, strides, pads, dilations, ceil_mode):
    """(outs, extra_ends): output sizes and the padding ceil_mode adds past the explicit pads."""
    nd = len(kernel)
    outs, extra = [], []
    for i in range(nd):
        size, pb, pe = x.shape[2 + i], pads[i], pads[nd + i]
        o = _pool_out(size, kernel[i], strides[i], pb, pe, dilations[i], ceil_mode)
        need = (o - 1) * strides[i] + dilations[i] * (kernel[i] - 1) + 1
        outs.append(o)
        extra.append(max(0, need - (size + pb + pe)))
    return outs, extra


def _lowest(dtype: np.dtype):
    return -np.inf if np.issubdtype(dtype, np.floating) else np.iinfo(dtype).min


# -- convolution ---------------------------------------------------------------

def _conv(x, w, bias, strides, pads, dilations, groups):
    nd = w.ndim - 2
    n = x.shape[0]
    o, cg = w.shape[0], w.shape[1]
    ks = w.shape[2:]
    xp = _pad_spatial(_wide(x), pads[:nd], pads[nd:])
    # [N, C, *outs, *kernel] view: every window, dilated taps picked by the last slices.
    extents = tuple(d * (k - 1) + 1 for k, d in zip(ks, dilations))
    win = sliding_window_view(xp, extents, axis=tuple(range(2, 2 + nd)))
    win = win[(slice(None), slice(None)) + tuple(slice(None, None, s) for s in strides)
              + tuple(slice(None, None, d) for d in dilations)]
    outs = win.shape[2:2 + nd]
    g, og = groups, o // groups
    # [G, N*outputs, C/g*kernel]: axes (g, n, *outs, cg, *kernel).
    order = (1, 0, *range(3, 3 + nd), 2, *range(3 + nd, 3 + 2 * nd))
    cols = (win.reshape(n, g, cg, *outs, *ks).transpose(order)
               .reshape(g, n * prod(outs), cg * prod(ks)))
    wmat = _wide(w).reshape(g, og, cg * prod(ks)).transpose(0, 2, 1)
    out = np.matmul(cols, wmat)                                  # [G, N*outputs, O/G]
    out = out.reshape(g, n, prod(outs), og).transpose(1, 0, 3, 2).reshape(n, o, *outs)
    out = np.ascontiguousarray(out)
    if bias is not None:
        out += bias.reshape((1, o) + (1,) * nd)
    return out.astype(x.dtype, copy=False)


# -- 2-D convolution: the fast paths ------------------------------------------------
#
# Results are written straight into an NCHW buffer, block by block: a 1x1
# convolution is one GEMM per image (no copy of x at stride 1), a depthwise one
# is a compiled tap loop (`dense_numba.depthwise2d`), any other is im2col in
# blocks of output rows (at most `_COLS_BUDGET` bytes of columns at a time, so the
# column buffer stays small and hot in cache) with W[O, C/g*kh*kw] @ cols written
# into the result rows. Each finished block gets the bias and then the caller's
# epilogue while it is still in cache.

_COLS_BUDGET = 1 << 22
_BLOCK_BYTES = 1 << 18          # output bytes per epilogue block of a 1x1 convolution

Epilogue = Callable[[np.ndarray, int, int, int], None]


def conv2d_output(x: np.ndarray, w: np.ndarray, strides, pads, dilations, groups,
                  bias: np.ndarray | None = None, epilogue: Epilogue | None = None,
                  clamp: tuple[float, float] | None = None) -> np.ndarray:
    """The convolution of x [N, C, H, W] with w [O, C/g, kh, kw] (+ bias [O]): a new
    C-contiguous [N, O, Ho, Wo] array in the compute dtype (f16 computes in f32).

    `epilogue(block, n, c0, p0)` is called on every finished block, the 2-D view
    ``out[n, c0:c0 + rows, p0:p0 + cols]`` of output channels by flattened output
    positions, after the bias. `clamp` = (lo, hi), when given, must be equivalent to
    the epilogue: the depthwise path then applies it in its own store instead.

    It alternates numba's parallel loops (im2col) with GEMMs, so it always runs in
    the runtime's one-pool regime (`threads.pool`), also when called outside a run:
    with BLAS's threads and numba's both spinning it measured 5-9x slower."""
    with pool():
        return _conv2d_output(x, w, strides, pads, dilations, groups, bias, epilogue, clamp)


def _conv2d_output(x, w, strides, pads, dilations, groups, bias, epilogue, clamp):
    xw, ww = _wide(x), _wide(w)
    if ww.dtype != xw.dtype:
        ww = ww.astype(xw.dtype)
    b = None if bias is None else _wide(bias).astype(xw.dtype, copy=False).reshape(-1, 1)
    n, c, h, wd = xw.shape
    o, cg, kh, kw = ww.shape
    (sh, sw), (dh, dw) = strides, dilations
    ho = (h + pads[0] + pads[2] - dh * (kh - 1) - 1) // sh + 1
    wo = (wd + pads[1] + pads[3] - dw * (kw - 1) - 1) // sw + 1
    out = np.empty((n, o, ho, wo), dtype=xw.dtype)
    flat = out.reshape(n, o, ho * wo)

    def finish(block: np.ndarray, img: int, c0: int, p0: int) -> None:
        if b is not None:
            block += b[c0:c0 + block.shape[0]]
        if epilogue is not None:
            epilogue(block, img, c0, p0)

    if out.size == 0:
        return out
    if groups == 1 and kh == kw == 1 and not any(pads):
        xs = xw[:, :, ::sh, ::sw] if (sh, sw) != (1, 1) else xw
        xs = xs[:, :, :ho, :wo].reshape(n, c, ho * wo)
        w2 = ww.reshape(o, c)
        # One GEMM per image (GEMMs into column blocks of the result measured slower), then
        # the epilogue over blocks of whole channel rows, which are contiguous.
        rows = max(1, _BLOCK_BYTES // (ho * wo * xw.itemsize))
        for img in range(n):
            matmul_into(w2, xs[img], flat[img])
            for c0 in range(0, o, rows):
                finish(flat[img, c0:c0 + rows], img, c0, 0)
        return out
    if groups == c and cg == 1 and o == c and xw.dtype in (np.float32, np.float64):
        from .dense_numba import depthwise2d
        xp = _pad_spatial(xw, pads[:2], pads[2:])
        lo, hi = clamp if clamp is not None else (-np.inf, np.inf)
        depthwise2d(np.ascontiguousarray(xp), np.ascontiguousarray(ww.reshape(o, kh, kw)),
                    np.zeros(0, xw.dtype) if b is None else np.ascontiguousarray(b[:, 0]),
                    xw.dtype.type(lo), xw.dtype.type(hi), out, sh, sw, dh, dw)
        if clamp is None and epilogue is not None:
            for img in range(n):
                epilogue(flat[img], img, 0, 0)
        return out
    og, kk = o // groups, cg * kh * kw
    wmat = ww.reshape(groups, og, kk)
    rows = max(1, min(ho, _COLS_BUDGET // max(1, kk * wo * xw.itemsize)))
    cols_buf = np.empty(kk * rows * wo, dtype=xw.dtype)   # a shorter last block reuses it
    # Per kernel column j, the output columns whose input column is inside x (the rest
    # read the zero padding): no padded copy of x is made.
    xcols = [_valid_range(j * dw - pads[1], sw, wo, wd) for j in range(kw)]
    compiled = xw.dtype in (np.float32, np.float64)
    if compiled:
        from .dense_numba import im2col_rows
    for img in range(n):
        for g in range(groups):
            xg = xw[img, g * cg:(g + 1) * cg]
            if compiled:
                xg = np.ascontiguousarray(xg)
            for r0 in range(0, ho, rows):
                r = min(rows, ho - r0)
                if compiled:
                    block_cols = cols_buf[:kk * r * wo].reshape(kk, r * wo)
                    im2col_rows(xg, r0, r, kh, kw, sh, sw, dh, dw, pads[0], pads[1], wo,
                                block_cols)
                    block = flat[img, g * og:(g + 1) * og, r0 * wo:(r0 + r) * wo]
                    matmul_into(wmat[g], block_cols, block)
                    finish(block, img, g * og, r0 * wo)
                    continue
                cols = cols_buf[:kk * r * wo].reshape(cg, kh, kw, r, wo)
                for i in range(kh):
                    ya, yb = _valid_range((r0 * sh) + i * dh - pads[0], sh, r, h)
                    for j in range(kw):
                        xa, xb = xcols[j]
                        tap = cols[:, i, j]
                        if ya >= yb or xa >= xb:
                            tap[:, :r] = 0
                            continue
                        tap[:, :ya] = 0
                        tap[:, yb:r] = 0
                        tap[:, ya:yb, :xa] = 0
                        tap[:, ya:yb, xb:] = 0
                        y0 = (r0 + ya) * sh + i * dh - pads[0]
                        x0 = xa * sw + j * dw - pads[1]
                        tap[:, ya:yb, xa:xb] = xg[:, y0:y0 + sh * (yb - ya - 1) + 1:sh,
                                                  x0:x0 + sw * (xb - xa - 1) + 1:sw]
                block_cols = cols.reshape(kk, r * wo)
                block = flat[img, g * og:(g + 1) * og, r0 * wo:(r0 + r) * wo]
                np.matmul(wmat[g], block_cols, out=block)
                finish(block, img, g * og, r0 * wo)
    return out


def _valid_range(start: int, step: int, count: int, size: int) -> tuple[int, int]:
    """[a, b): the k in [0, count) with 0 <= start + k*step < size (empty: a >= b)."""
    a = 0 if start >= 0 else (-start + step - 1) // step
    b = (size - 1 - start) // step + 1 if size - 1 - start >= 0 else 0
    return min(a, count), max(0, min(b, count))


@kernel("nn.conv2d")
def conv2d(x, w, bias=None, *, strides, pads, dilations, groups):
    out = conv2d_output(x, w, strides, pads, dilations, groups, bias=bias)
    return out.astype(x.dtype, copy=False)


@kernel("nn.conv3d")
def conv3d(x, w, bias=None, *, strides, pads, dilations, groups):
    return _conv(x, w, bias, strides, pads, dilations, groups)


def _conv_transpose(x, w, bias, strides, pads, dilations, groups, output_padding):
    nd = w.ndim - 2
    n, c = x.shape[0], x.shape[1]
    ins = x.shape[2:]
    og, ks = w.shape[1], w.shape[2:]
    g, cg = groups, c // groups
    o = og * g
    # Every input pixel's contribution to every (output channel, tap): [G, N*inputs, O/G*K].
    cols = _wide(x).reshape(n, g, cg, prod(ins)).transpose(1, 0, 3, 2).reshape(g, -1, cg)
    contrib = np.matmul(cols, _wide(w).reshape(g, cg, og * prod(ks)))
    # -> [N, O, *kernel, *inputs], so that each tap is a block [N, O, *inputs].
    contrib = (contrib.reshape(g, n, *ins, og, *ks)
                      .transpose(1, 0, 2 + nd, *range(3 + nd, 3 + 2 * nd), *range(2, 2 + nd))
                      .reshape(n, o, *ks, *ins))
    full = [s * (i - 1) + d * (k - 1) + 1 for s, i, d, k in zip(strides, ins, dilations, ks)]
    sizes = [f + op - pb - pe for f, op, pb, pe in
             zip(full, output_padding, pads[:nd], pads[nd:])]
    # The buffer spans the full result and the requested window of it (pads may be negative).
    lo = [min(0, pb) for pb in pads[:nd]]
    hi = [max(f, pb + s) for f, pb, s in zip(full, pads[:nd], sizes)]
    buf = np.zeros((n, o, *(h - l for h, l in zip(hi, lo))), dtype=contrib.dtype)
    for tap in itertools.product(*(range(k) for k in ks)):
        where = tuple(_spatial_slice(t * d - l, i, s)
                      for t, d, l, i, s in zip(tap, dilations, lo, ins, strides))
        buf[(slice(None), slice(None)) + where] += contrib[(slice(None), slice(None)) + tap]
    crop = tuple(slice(pb - l, pb - l + s) for pb, l, s in zip(pads[:nd], lo, sizes))
    out = np.ascontiguousarray(buf[(slice(None), slice(None)) + crop])
    if bias is not None:
        out += bias.reshape((1, o) + (1,) * nd)
    return out.astype(x.dtype, copy=False)


@kernel("nn.conv_transpose2d")
def conv_transpose2d(x, w, bias=None, *, strides, pads, dilations, groups, output_padding):
    return _conv_transpose(x, w, bias, strides, pads, dilations, groups, output_padding)


@kernel("nn.conv_transpose3d")
def conv_transpose3d(x, w, bias=None, *, strides, pads, dilations, groups, output_padding):
    return _conv_transpose(x, w, bias, strides, pads, dilations, groups, output_padding)


# -- pooling -------------------------------------------------------------------

def _maxpool(x, kernel, strides, pads, dilations, ceil_mode):
    nd = len(kernel)
    outs, extra = _pool_geometry(x, kernel, strides, pads, dilations, ceil_mode)
    ends = [p + e for p, e in zip(pads[nd:], extra)]
    xp = _pad_spatial(x, pads[:nd], ends, _lowest(x.dtype))
    # Max is separable: pool one spatial dim at a time (sum of the kernel sizes passes
    # instead of their product; ResNet's 3x3/2 stem pool measured 1.7x faster).
    out = xp
    for d in range(nd):
        axis = 2 + d
        lead = (slice(None),) * axis
        pooled = None
        for t in range(kernel[d]):
            tap = out[lead + (_spatial_slice(t * dilations[d], outs[d], strides[d]),)]
            pooled = tap.copy() if pooled is None else np.maximum(pooled, tap, out=pooled)
        out = pooled
    return out


def _window_sum(x, kernel, strides, pads, dilations, ceil_mode, include_pad: bool):
    """(sum over each window of x zero-padded, number of cells each window counts)."""
    nd = len(kernel)
    outs, extra = _pool_geometry(x, kernel, strides, pads, dilations, ceil_mode)
    ends = [p + e for p, e in zip(pads[nd:], extra)]
    xp = _pad_spatial(x, pads[:nd], ends)
    # A 0/1 mask of the padded space marks the cells a window counts.
    sizes = x.shape[2:]
    mask = np.zeros(xp.shape[2:], dtype=np.float64)
    if include_pad:
        mask[tuple(slice(0, s + pb + pe) for s, pb, pe in zip(sizes, pads[:nd], pads[nd:]))] = 1
    else:
        mask[tuple(slice(pb, pb + s) for s, pb in zip(sizes, pads[:nd]))] = 1
    total = np.zeros(x.shape[:2] + tuple(outs), dtype=xp.dtype)
    count = np.zeros(outs)
    for tap, mtap in zip(_taps(xp, kernel, strides, dilations, outs),
                         _taps(mask, kernel, strides, dilations, outs)):
        total += tap
        count += mtap
    return total, count


def _avgpool(x, kernel, strides, pads, dilations, ceil_mode, count_include_pad):
    total, count = _window_sum(_wide(x), kernel, strides, pads, dilations, ceil_mode,
                               count_include_pad)
    return (total / np.maximum(count, 1).astype(total.dtype)).astype(x.dtype, copy=False)


def _lppool(x, kernel, strides, pads, dilations, ceil_mode, p):
    xf = _wide(x)
    powered = np.abs(xf) ** xf.dtype.type(p)
    total, _ = _window_sum(powered, kernel, strides, pads, dilations, ceil_mode, False)
    return (total ** xf.dtype.type(1.0 / p)).astype(x.dtype, copy=False)


def _maxpool_indices(x, kernel, strides, pads, dilations, ceil_mode, storage_order):
    """Max and the flat index of the first maximal input element of every window."""
    nd = len(kernel)
    sizes = x.shape[2:]
    outs, extra = _pool_geometry(x, kernel, strides, pads, dilations, ceil_mode)
    ends = [p + e for p, e in zip(pads[nd:], extra)]
    xp = _pad_spatial(x, pads[:nd], ends, _lowest(x.dtype))
    # Input coordinate that tap t of output position j reads, per spatial dim.
    base = [np.arange(o) * s - pb for o, s, pb in zip(outs, strides, pads[:nd])]
    best = np.zeros(x.shape[:2] + tuple(outs), dtype=x.dtype)
    index = np.zeros(best.shape, dtype=np.int64)
    found = np.zeros(tuple(outs), dtype=bool)
    order = "F" if storage_order == 1 else "C"
    for tap, vals in zip(itertools.product(*(range(k) for k in kernel)),
                         _taps(xp, kernel, strides, dilations, outs)):
        coords = [b + t * d for b, t, d in zip(base, tap, dilations)]
        grids = np.meshgrid(*coords, indexing="ij")
        valid = np.ones(tuple(outs), dtype=bool)
        for grid, size in zip(grids, sizes):
            valid &= (grid >= 0) & (grid < size)
        flat = np.ravel_multi_index([np.clip(gr, 0, s - 1) for gr, s in zip(grids, sizes)],
                                    sizes, order=order)
        better = valid & (~found | (vals > best))     # strict: the first maximum wins
        best = np.where(better, vals, best)
        index = np.where(better, flat, index)
        found |= valid
    plane = prod(sizes)
    offsets = np.arange(x.shape[0] * x.shape[1], dtype=np.int64).reshape(x.shape[:2]) * plane
    return best, index + offsets.reshape(x.shape[:2] + (1,) * nd)


@kernel("nn.maxpool2d")
def maxpool2d(x, *, kernel, strides, pads, dilations, ceil_mode):
    return _maxpool(x, kernel, strides, pads, dilations, ceil_mode)


@kernel("nn.maxpool3d")
def maxpool3d(x, *, kernel, strides, pads, dilations, ceil_mode):
    return _maxpool(x, kernel, strides, pads, dilations, ceil_mode)


@kernel("nn.avgpool2d")
def avgpool2d(x, *, kernel, strides, pads, dilations, ceil_mode, count_include_pad):
    return _avgpool(x, kernel, strides, pads, dilations, ceil_mode, count_include_pad)


@kernel("nn.avgpool3d")
def avgpool3d(x, *, kernel, strides, pads, dilations, ceil_mode, count_include_pad):
    return _avgpool(x, kernel, strides, pads, dilations, ceil_mode, count_include_pad)


@kernel("nn.lppool2d")
def lppool2d(x, *, kernel, strides, pads, dilations, ceil_mode, p):
    return _lppool(x, kernel, strides, pads, dilations, ceil_mode, p)


@kernel("nn.lppool3d")
def lppool3d(x, *, kernel, strides, pads, dilations, ceil_mode, p):
    return _lppool(x, kernel, strides, pads, dilations, ceil_mode, p)


@kernel("nn.maxpool2d_indices")
def maxpool2d_indices(x, *, kernel, strides, pads, dilations, ceil_mode, storage_order):
    return _maxpool_indices(x, kernel, strides, pads, dilations, ceil_mode, storage_order)


@kernel("nn.maxpool3d_indices")
def maxpool3d_indices(x, *, kernel, strides, pads, dilations, ceil_mode, storage_order):
    return _maxpool_indices(x, kernel, strides, pads, dilations, ceil_mode, storage_order)


@kernel("nn.global_avgpool")
def global_avgpool(x):
    axes = tuple(range(2, x.ndim))
    return np.mean(_wide(x), axis=axes, keepdims=True).astype(x.dtype, copy=False)


@kernel("nn.global_maxpool")
def global_maxpool(x):
    return np.max(x, axis=tuple(range(2, x.ndim)), keepdims=True)


# -- softmax and friends ---------------------------------------------------------

@kernel("nn.softmax")
def softmax(x, *, axis):
    xf = _wide(x)
    e = np.exp(xf - np.max(xf, axis=axis, keepdims=True))
    e /= np.sum(e, axis=axis, keepdims=True)
    return e.astype(x.dtype, copy=False)


@kernel("nn.log_softmax")
def log_softmax(x, *, axis):
    xf = _wide(x)
    shifted = xf - np.max(xf, axis=axis, keepdims=True)
    out = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    return out.astype(x.dtype, copy=False)


@kernel("nn.hardmax")
def hardmax(x, *, axis):
    first = np.expand_dims(np.argmax(x, axis=axis), axis)
    out = np.zeros_like(x)
    np.put_along_axis(out, first, 1, axis=axis)
    return out


# -- normalizations --------------------------------------------------------------

@kernel("nn.layernorm")
def layernorm(x, scale=None, bias=None, *, axis, eps):
    xf = _wide(x)
    axes = tuple(range(axis % x.ndim, x.ndim))
    cols = prod(x.shape[a] for a in axes)
    vectors = all(p is None or (p.size == cols and p.ndim <= len(axes)) for p in (scale, bias))
    if xf.dtype in (np.float32, np.float64) and vectors and cols and xf.size:
        # the common case (per-feature scale and bias): one compiled pass per row
        from .dense_numba import layernorm_rows
        x2 = np.ascontiguousarray(xf).reshape(-1, cols)
        out = np.empty_like(x2)
        param = [np.empty(0, xf.dtype) if p is None else
                 np.ascontiguousarray(_wide(p), dtype=xf.dtype).reshape(cols) for p in (scale, bias)]
        layernorm_rows(x2, param[0], param[1], float(eps), out)
        return out.reshape(x.shape).astype(x.dtype, copy=False)
    centered = xf - np.mean(xf, axis=axes, keepdims=True)
    var = np.mean(centered * centered, axis=axes, keepdims=True)
    # scale and bias broadcast against the trailing (normalized) dims, as numpy aligns them.
    y = centered / np.sqrt(var + xf.dtype.type(eps))
    if scale is not None:
        y = y * scale
    if bias is not None:
        y = y + bias
    return y.astype(x.dtype, copy=False)


@kernel("nn.layernorm_with_stats")
def layernorm_with_stats(x, scale=None, bias=None, *, axis, eps, stats_dtype):
    stats = np.dtype({"f16": np.float16, "f32": np.float32, "f64": np.float64}[stats_dtype])
    xf = x.astype(np.promote_types(stats, np.float32))
    axes = tuple(range(axis % x.ndim, x.ndim))
    mean = np.mean(xf, axis=axes, keepdims=True)
    centered = xf - mean
    var = np.mean(centered * centered, axis=axes, keepdims=True)
    inv_std = 1 / np.sqrt(var + xf.dtype.type(eps))
    y = centered * inv_std
    if scale is not None:
        y = y * scale
    if bias is not None:
        y = y + bias
    return (y.astype(x.dtype, copy=False), mean.astype(stats, copy=False),
            inv_std.astype(stats, copy=False))


@kernel("nn.rmsnorm")
def rmsnorm(x, scale, *, axis, eps):
    xf = _wide(x)
    axes = tuple(range(axis % x.ndim, x.ndim))
    mean_square = np.mean(xf * xf, axis=axes, keepdims=True)
    y = xf / np.sqrt(mean_square + xf.dtype.type(eps)) * scale
    return y.astype(x.dtype, copy=False)


@kernel("nn.batchnorm")
def batchnorm(x, scale, bias, mean, var, *, eps):
    xf = _wide(x)

    def per_channel(p):  # [C, ...] -> broadcastable against [N, C, ...]
        return _wide(p).reshape(p.shape + (1,) * (x.ndim - 1 - p.ndim))

    factor = per_channel(scale) / np.sqrt(per_channel(var) + xf.dtype.type(eps))
    y = (xf - per_channel(mean)) * factor + per_channel(bias)
    return y.astype(x.dtype, copy=False)


@kernel("nn.groupnorm")
def groupnorm(x, scale, bias, *, groups, eps):
    xf = _wide(x)
    n, c = x.shape[0], x.shape[1]
    grouped = xf.reshape(n, groups, -1)
    mean = grouped.mean(axis=2, keepdims=True)
    centered = grouped - mean
    var = np.mean(centered * centered, axis=2, keepdims=True)
    y = (centered / np.sqrt(var + xf.dtype.type(eps))).reshape(x.shape)
    per_channel = (1, c) + (1,) * (x.ndim - 2)
    y = y * _wide(scale).reshape(per_channel) + _wide(bias).reshape(per_channel)
    return y.astype(x.dtype, copy=False)


@kernel("nn.lrn")
def lrn(x, *, size, alpha, beta, bias):
    xf = _wide(x)
    c = x.shape[1]
    before, after = (size - 1) // 2, size // 2   # channels c-before .. c+after
    squares = xf * xf
    window = np.zeros_like(squares)
    for off in range(-before, after + 1):   # `size` shifted adds, each over all channels
        lo, hi = max(0, -off), min(c, c - off)
        if lo < hi:
            window[:, lo:hi] += squares[:, lo + off:hi + off]
    one = xf.dtype.type
    y = xf / (one(bias) + one(alpha / size) * window) ** one(beta)
    return y.astype(x.dtype, copy=False)
