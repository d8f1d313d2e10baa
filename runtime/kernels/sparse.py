"""Sparse kernels: matmul and 2-D convolution with a compressed weight that skip zero weights.

- ``sparse.matmul_csc(x, indptr, indices, data, bias?, residual?, *, k, n, activation,
  alpha, clip_min, clip_max, residual)`` is ``act(x @ W (+ bias) (+ r))`` for x[..., K]
  and W[K, N] given as the CSR of W^T.
- ``sparse.conv2d_csr(x, indptr, indices, data, bias?, residual?, *, out_channels,
  kernel_shape, strides, pads, dilations, groups, activation, ...)`` is ``nn.conv2d``
  with W[O, C/g, kh, kw] given as the CSR of its [O, C/g*kh*kw] view, computed as a
  direct convolution, with the same epilogue.

The epilogue is the fused ops' (`compiler/ops/fused.py`): an optional bias (one
value per output feature / channel), an optional residual (the attribute
``residual=True`` says the last operand is one; it broadcasts into the result)
and an activation of `fused.ACTIVATIONS`. Bias and relu are applied in the
compiled store; a residual or any other activation is applied in place on the
result right after, block by block (`fused._epilogue`). The weight's parts are
described in `runtime/sparse_format.py`; the compiled loops live in
`sparse_numba.py`; `docs/sparse-kernels.md` explains the design and the measurements.

Floating dtypes f32 and f64 run compiled; f16 runs in f32 and is rounded back;
any other dtype (integers) takes a slow but exact path through the dense weight. A weight's parts are
checked once per array object (an artifact's tensors are never trusted blindly:
the compiled loops do not bounds-check).
"""
from __future__ import annotations

import math
import weakref
from functools import lru_cache
from math import prod

import numpy as np

from ..errors import ExecutionError
from ..sparse_format import check_parts, from_csr
from . import sparse_numba as nb_kernels
from .fused import ACTIVATIONS, _epilogue
from .nn import conv2d as dense_conv2d
from .registry import kernel

_COMPILED = (np.dtype(np.float32), np.dtype(np.float64))
_L2_BUDGET = 512 * 1024        # bytes of packed activations kept hot per token group


# -- weights: checked once, with the forms the compiled loops want --------------------

class _Weight:
    """A checked sparse weight: int64 row pointers, and data in the compute dtype."""

    def __init__(self, indptr, indices, data, rows: int, cols: int, what: str) -> None:
        check_parts(indptr, indices, data, rows, cols, what=what)
        self.rows, self.cols = rows, cols
        self.indptr = indptr.astype(np.int64)
        self.indices = np.ascontiguousarray(indices)
        self.data = np.ascontiguousarray(data)
        self.nnz = indices.size
        self._data_as: dict[np.dtype, np.ndarray] = {}
        self._parts: dict[int, np.ndarray] = {}
        self._conv_offsets: dict[tuple, np.ndarray] = {}

    def dense(self) -> np.ndarray:
        """The densified [rows, cols] weight (for the dtypes that are not compiled)."""
        return from_csr(self.indptr, self.indices, self.data, (self.rows, self.cols))

    def data_as(self, dtype: np.dtype) -> np.ndarray:
        if self.data.dtype == dtype:
            return self.data
        if dtype not in self._data_as:
            self._data_as[dtype] = self.data.astype(dtype)
        return self._data_as[dtype]

    def conv_offsets(self, geometry: tuple) -> np.ndarray:
        """Where each nonzero's tap starts reading in the phase buffer (see spconv)."""
        if geometry not in self._conv_offsets:
            if len(self._conv_offsets) >= 8:          # many image sizes: keep memory bounded
                self._conv_offsets.clear()
            offs = np.empty(self.nnz, dtype=np.uint32)
            nb_kernels.conv_offsets(self.indptr, self.indices, *geometry, offs)
            self._conv_offsets[geometry] = offs
        return self._conv_offsets[geometry]

    def parts(self, count: int) -> np.ndarray:
        """`count` + 1 row boundaries splitting the rows into runs of about equal nnz."""
        if count not in self._parts:
            targets = np.linspace(0, self.nnz, count + 1)
            cuts = np.searchsorted(self.indptr, targets, side="left")
            cuts[0], cuts[-1] = 0, self.rows
            self._parts[count] = np.maximum.accumulate(cuts).astype(np.int64)
        return self._parts[count]


_WEIGHTS: dict[tuple, tuple[tuple, _Weight]] = {}


def _weight(indptr, indices, data, rows: int, cols: int, what: str) -> _Weight:
    """The checked `_Weight` of these three arrays, made on first use."""
    arrays = (indptr, indices, data)
    key = tuple(id(a) for a in arrays) + (rows, cols)
    hit = _WEIGHTS.get(key)
    if hit is not None and all(ref() is a for ref, a in zip(hit[0], arrays)):
        return hit[1]
    w = _Weight(indptr, indices, data, rows, cols, what)
    try:
        refs = tuple(weakref.ref(a, lambda _, key=key: _WEIGHTS.pop(key, None)) for a in arrays)
    except TypeError:                       # not weak-referenceable: do not cache
        return w
    _WEIGHTS[key] = (refs, w)
    return w


# -- shared helpers --------------------------------------------------------------------

def _check_activation(activation: str) -> None:
    if activation not in ACTIVATIONS:
        raise ExecutionError(f"unknown activation {activation!r}",
                             hint=f"sparse kernels support: {', '.join(ACTIVATIONS)}")


def _split_operands(operands: tuple, residual: bool, what: str):
    """(bias or None, residual or None) from the operands after the weight's parts."""
    rest = list(operands)
    if len(rest) != 1 + residual and len(rest) != residual:
        expected = "a residual, after an optional bias" if residual else "an optional bias"
        raise ExecutionError(f"{what}: {len(rest)} operands after the weight, expected {expected}",
                             hint="this artifact does not match the kernel's contract; recompile it")
    res = np.asarray(rest.pop()) if residual else None
    bias = rest.pop() if rest else None
    return bias, res


def _finish_epilogue(out: np.ndarray, res, activation: str, alpha, clip_min, clip_max,
                     rows: int, what: str) -> None:
    """Residual and activation in place on `out` (seen as [rows, cols]), unless the
    compiled store already applied the activation (relu without a residual)."""
    if res is not None:
        try:
            fits = np.broadcast_shapes(res.shape, out.shape) == out.shape
        except ValueError:
            fits = False
        if not fits:
            raise ExecutionError(f"{what}: residual of shape {list(res.shape)} does not "
                                 f"broadcast into the result {list(out.shape)}",
                                 hint="the residual must broadcast into the result")
    elif activation in ("none", "relu"):
        return
    _epilogue(out, None, res, activation, alpha, clip_min, clip_max, rows, False)


def _compute_dtype(*arrays) -> np.dtype:
    """The dtype the result has (numpy's promotion of the operands)."""
    return np.result_type(*[a.dtype for a in arrays if a is not None])


def _bias_array(bias, length: int, dtype: np.dtype, what: str) -> np.ndarray:
    if bias is None:
        return np.empty(0, dtype=dtype)
    bias = np.asarray(bias)
    if bias.size != length:
        raise ExecutionError(f"{what}: bias has {bias.size} values, expected {length}",
                             hint="the bias must have one value per output feature")
    return np.ascontiguousarray(bias.reshape(length), dtype=dtype)


def _dense_activation(out: np.ndarray, activation: str, alpha, clip_min, clip_max):
    """The activation on a result of the slow exact path (integer dtypes)."""
    if activation == "relu":
        return np.maximum(out, 0)
    if activation == "clip":
        return np.clip(out, clip_min, clip_max).astype(out.dtype)
    if activation != "none":
        raise ExecutionError(f"activation {activation!r} on a {out.dtype} result",
                             hint="only none, relu and clip apply to integer results")
    return out


def _compiles(dtype: np.dtype) -> bool:
    """Whether the compiled loops handle this result dtype (f16 runs in f32)."""
    return dtype in _COMPILED or dtype == np.float16


def _finish(out: np.ndarray, result_dtype: np.dtype) -> np.ndarray:
    return out if out.dtype == result_dtype else out.astype(result_dtype)


# -- matmul ----------------------------------------------------------------------------

@lru_cache(maxsize=256)
def _tile_plan(m: int, k: int, itemsize: int):
    """Token tiles for m tokens: (m0, width, offset in the packed buffer), the group
    boundaries (tiles whose packed bytes fit the L2 budget), and the buffer length."""
    full, rest = divmod(m, nb_kernels.TILE)
    widths = [nb_kernels.TILE] * full
    if rest > nb_kernels.TILE // 2:
        widths.append(nb_kernels.TILE)
    elif rest:
        widths += [nb_kernels.SMALL_TILE] * -(-rest // nb_kernels.SMALL_TILE)
    m0 = np.cumsum([0] + widths[:-1]).astype(np.int64)
    base = (m0 * k).astype(np.int64)      # tiles are stored back to back, [K, width] each
    groups, used = [0], 0
    for t, w in enumerate(widths):
        size = w * k * itemsize
        if used and used + size > _L2_BUDGET:
            groups.append(t)
            used = 0
        used += size
    groups.append(len(widths))
    plan = (m0, np.array(widths, dtype=np.int64), base, np.array(groups, dtype=np.int64),
            int(sum(widths)) * k)
    for a in plan[:4]:
        a.flags.writeable = False
    return plan


@kernel("sparse.matmul_csc")
def matmul_csc(x, indptr, indices, data, *operands, k: int, n: int, activation: str = "none",
               alpha: float = 1.0, clip_min: float = -math.inf, clip_max: float = math.inf,
               residual: bool = False):
    """``act(x @ W (+ bias) (+ r))``, W[k, n] given as the CSR of W^T; see the module docstring."""
    _check_activation(activation)
    x = np.asarray(x)
    what = "sparse.matmul_csc"
    bias, res = _split_operands(operands, residual, what)
    relu = activation == "relu" and res is None
    if x.ndim < 1 or x.shape[-1] != k:
        raise ExecutionError(f"{what}: x has shape {list(x.shape)}, expected [..., {k}]",
                             hint="the activation's last dim must be the weight's K")
    w = _weight(indptr, indices, data, n, k, what)
    result_dtype = _compute_dtype(x, w.data, None if bias is None else np.asarray(bias))
    lead = x.shape[:-1]
    m = prod(lead)
    x2d = x.reshape(m, k)

    if not _compiles(result_dtype):
        out = np.matmul(x, w.dense().T)
        if bias is not None:
            out = out + np.asarray(bias).reshape(n)
        if res is not None:
            out = out + res
        return _dense_activation(out, activation, alpha, clip_min, clip_max)

    dtype = result_dtype if result_dtype in _COMPILED else np.dtype(np.float32)
    b = _bias_array(bias, n, dtype, what)
    out = np.empty((m, n), dtype=dtype)
    if m and n:
        if w.nnz == 0 or k == 0:
            out[...] = b if b.size else 0
            if relu:
                np.maximum(out, 0, out=out)
        else:
            _matmul_compiled(x2d, w, b, relu, dtype, out)
    out = out.reshape(lead + (n,))
    _finish_epilogue(out, res, activation, alpha, clip_min, clip_max, m, what)
    return _finish(out, result_dtype)


def _matmul_compiled(x2d, w: _Weight, b, relu: bool, dtype, out) -> None:
    m, k = x2d.shape
    data = w.data_as(dtype)
    parts = w.parts(nb_kernels.num_threads())
    xflat = np.ascontiguousarray(x2d, dtype=dtype).reshape(-1)
    if m == 1:
        nb_kernels.spmv(xflat, w.indptr, w.indices, data, parts, b, b.size > 0, relu,
                        out.reshape(-1))
        return
    m0, widths, base, groups, length = _tile_plan(m, k, dtype.itemsize)
    xt = np.empty(length, dtype=dtype)
    nb_kernels.pack_tiles(xflat, k, m0, widths, base, xt)
    scratch = np.empty((parts.size - 1) * nb_kernels.ROW_BLOCK * nb_kernels.TILE, dtype=dtype)
    nb_kernels.spmm(xt, m0, widths, base, groups, w.indptr, w.indices, data, parts,
                    b, b.size > 0, relu, m, w.rows, scratch, out.reshape(-1))


# -- conv2d ----------------------------------------------------------------------------

def _conv_geometry(x, out_channels, kernel_shape, strides, pads, dilations, groups, what):
    if x.ndim != 4:
        raise ExecutionError(f"{what}: x has shape {list(x.shape)}, expected [N, C, H, W]",
                             hint="sparse.conv2d_csr takes NCHW activations")
    n, c, h, wd = x.shape
    kh, kw = (int(v) for v in kernel_shape)
    sh, sw = (int(v) for v in strides)
    pt, pl, pb, pr = (int(v) for v in pads)
    dh, dw = (int(v) for v in dilations)
    if groups < 1 or c % groups or out_channels % groups:
        raise ExecutionError(f"{what}: {c} input and {out_channels} output channels do not "
                             f"split into {groups} groups",
                             hint="both channel counts must be multiples of groups")
    if min(kh, kw, sh, sw, dh, dw) < 1 or min(pt, pl, pb, pr) < 0:
        raise ExecutionError(f"{what}: bad geometry kernel={kernel_shape} strides={strides} "
                             f"pads={pads} dilations={dilations}",
                             hint="kernel, strides and dilations must be >= 1, pads >= 0")
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    return n, c, h, wd, kh, kw, sh, sw, pt, pl, dh, dw, max(oh, 0), max(ow, 0)


@kernel("sparse.conv2d_csr")
def conv2d_csr(x, indptr, indices, data, *operands, out_channels: int, kernel_shape,
               strides, pads, dilations, groups: int, activation: str = "none",
               alpha: float = 1.0, clip_min: float = -math.inf, clip_max: float = math.inf,
               residual: bool = False):
    """``act(nn.conv2d(x, W, bias) (+ r))`` with W given as CSR parts; a direct sparse
    convolution."""
    _check_activation(activation)
    what = "sparse.conv2d_csr"
    bias, res = _split_operands(operands, residual, what)
    relu = activation == "relu" and res is None
    x = np.asarray(x)
    n, c, h, wd, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow = _conv_geometry(
        x, out_channels, kernel_shape, strides, pads, dilations, groups, what)
    o = out_channels
    cg = c // groups
    w = _weight(indptr, indices, data, o, cg * kh * kw, what)
    result_dtype = _compute_dtype(x, w.data, None if bias is None else np.asarray(bias))
    if not _compiles(result_dtype):
        out = dense_conv2d(x, w.dense().reshape(o, cg, kh, kw), bias, strides=strides, pads=pads,
                           dilations=dilations, groups=groups)
        if res is not None:
            out = out + res
        return _dense_activation(out, activation, alpha, clip_min, clip_max)
    dtype = result_dtype if result_dtype in _COMPILED else np.dtype(np.float32)
    b = _bias_array(bias, o, dtype, what)
    out = np.empty((n, o, oh, ow), dtype=dtype)
    if out.size:
        if w.nnz == 0:
            out[...] = b.reshape(1, o, 1, 1) if b.size else 0
            if relu:
                np.maximum(out, 0, out=out)
        else:
            _conv_compiled(x, w, b, relu, dtype, out, (n, c, h, wd, kh, kw, sh, sw, pt, pl,
                                                       dh, dw, oh, ow, o // groups, cg))
    _finish_epilogue(out, res, activation, alpha, clip_min, clip_max, n * o, what)
    return _finish(out, result_dtype)


def _conv_compiled(x, w: _Weight, b, relu: bool, dtype, out, geometry) -> None:
    n, c, h, wd, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow, og, cg = geometry
    tile = nb_kernels.TILE
    # Stride phases of the padded input: each tap then reads a contiguous run.
    hu = oh + (kh - 1) * dh // sh
    wv = ow + (kw - 1) * dw // sw
    plane = hu * wv
    img_stride = c * sh * sw * plane
    if img_stride >= 1 << 32:
        raise ExecutionError("sparse.conv2d_csr: one image is too large for this kernel "
                             f"({img_stride} padded values per image)",
                             hint="use the dense nn.conv2d kernel for such large images")
    slack = (kw - 1) * dw // sw + tile        # garbage lanes past the last image read here
    xph = np.empty(n * img_stride + slack, dtype=dtype)
    xph[n * img_stride:] = 0
    xflat = np.ascontiguousarray(x, dtype=dtype).reshape(-1)
    nb_kernels.pack_phases(xflat, n, c, h, wd, pt, pl, sh, sw, hu, wv, img_stride, xph)
    offs = w.conv_offsets((og, cg, kh, kw, dh, dw, sh, sw, plane, wv))

    ntiles = -(-(oh * wv) // tile)
    # Enough work items for every thread: split the output channels when tiles are few.
    threads = nb_kernels.num_threads()
    nop = min(w.rows, max(1, -(-2 * threads // (n * ntiles))))
    oparts = w.parts(nop)
    scratch = np.empty(n * ntiles * nop * tile, dtype=dtype)
    nb_kernels.spconv(xph, n, img_stride, offs, w.indptr, w.data_as(dtype), ntiles, oparts,
                      oh, ow, wv, b, b.size > 0, relu, scratch, out.reshape(-1))
