"""Compiled loops behind dense kernels where numpy has no single fast call (numba, cached).

- `depthwise2d`: a depthwise 2-D convolution (one filter per channel), with
  its bias and a clamp (relu, relu6) applied in the same store. numpy would
  make one full pass over the image per kernel tap; here each output row is
  accumulated over the taps while the input rows are in cache, one (image,
  channel) plane per parallel task.
- `im2col_rows`: the column matrix of a block of output rows for the dense
  convolution's im2col + GEMM, in parallel.
- `layernorm_rows`: LayerNorm over the last dim, one parallel task per row.
- `gemm_split`: a GEMM split over the threads, one BLAS call per part, for
  `runtime/threads.py`.
- `gelu_inplace`: the exact (erf) GELU in place, for the fused epilogues and
  ``nn.gelu``; in f32 with a vectorizable rational erf (error ~3 ulp).

`runtime/kernels/sparse_numba.py` chooses numba's threading layer when it is
imported; importing it first keeps the two modules on the same layer.
"""
from __future__ import annotations

import ctypes
import math

from . import sparse_numba  # noqa: F401  (sets the threading layer before numba's first use)

import numba  # noqa: E402
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
    hp, wp = xp.shape[2], xp.shape[3]
    wq = (wp + sw - 1) // sw
    has_bias = bias.shape[0] > 0
    for task in prange(n * c):
        b = task // c
        ch = task % c
        b0 = bias[ch] if has_bias else out.dtype.type(0)
        plane = out[b, ch]
        src = xp[b, ch]
        if sw > 1:
            # Column phases of the plane, phases[r, q, v] = src[q, v*sw + r]: every tap
            # then reads a contiguous run (a strided read does not vectorize; ~1.7x slower).
            phases = np.empty((sw, hp, wq), dtype=xp.dtype)
            for r in range(sw):
                full = (wp - r + sw - 1) // sw         # columns of phase r inside the row
                for q in range(hp):
                    srow = src[q]
                    prow = phases[r, q]
                    for v in range(full):
                        prow[v] = srow[v * sw + r]
                    for v in range(full, wq):
                        prow[v] = 0
        else:
            phases = np.empty((1, 1, 1), dtype=xp.dtype)
        if kh == 3 and kw == 3 and dw == 1 and sw <= 2:
            # The common 3x3 case: the nine taps of an output element in one loop over
            # the row (a pass per tap measured ~1.3x slower).
            w00, w01, w02 = w[ch, 0, 0], w[ch, 0, 1], w[ch, 0, 2]
            w10, w11, w12 = w[ch, 1, 0], w[ch, 1, 1], w[ch, 1, 2]
            w20, w21, w22 = w[ch, 2, 0], w[ch, 2, 1], w[ch, 2, 2]
            for y in range(ho):
                orow = plane[y]
                q0, q1, q2 = y * sh, y * sh + dh, y * sh + 2 * dh
                if sw == 1:
                    a0, a1, a2 = src[q0][0:wo], src[q0][1:1 + wo], src[q0][2:2 + wo]
                    b0r, b1r, b2r = src[q1][0:wo], src[q1][1:1 + wo], src[q1][2:2 + wo]
                    c0r, c1r, c2r = src[q2][0:wo], src[q2][1:1 + wo], src[q2][2:2 + wo]
                else:
                    a0, a1, a2 = phases[0, q0][0:wo], phases[1, q0][0:wo], phases[0, q0][1:1 + wo]
                    b0r, b1r, b2r = phases[0, q1][0:wo], phases[1, q1][0:wo], phases[0, q1][1:1 + wo]
                    c0r, c1r, c2r = phases[0, q2][0:wo], phases[1, q2][0:wo], phases[0, q2][1:1 + wo]
                for x in range(wo):
                    v = (b0 + (w00 * a0[x] + w01 * a1[x] + w02 * a2[x])
                         + (w10 * b0r[x] + w11 * b1r[x] + w12 * b2r[x])
                         + (w20 * c0r[x] + w21 * c1r[x] + w22 * c2r[x]))
                    if v < lo:
                        v = lo
                    if v > hi:
                        v = hi
                    orow[x] = v
            continue
        for y in range(ho):
            # 1-D row views: LLVM vectorizes these loops (4-D indexing it did not, 5x slower)
            orow = plane[y]
            for x in range(wo):
                orow[x] = b0
            for i in range(kh):
                for j in range(kw):
                    wt = w[ch, i, j]
                    c0 = j * dw
                    if sw == 1:
                        xs = src[y * sh + i * dh][c0:c0 + wo]
                    else:
                        xs = phases[c0 % sw, y * sh + i * dh][c0 // sw:c0 // sw + wo]
                    for x in range(wo):
                        orow[x] += wt * xs[x]
            for x in range(wo):
                v = orow[x]
                if v < lo:
                    v = lo
                if v > hi:
                    v = hi
                orow[x] = v


@njit(parallel=True, cache=True)
def im2col_rows(xg, r0, r, kh, kw, sh, sw, dh, dw, pt, pl, wo, cols):
    """cols[(c*kh + i)*kw + j, (y - r0)*wo + x] = xg[c, y*sh + i*dh - pt, x*sw + j*dw - pl]
    (0 where that reads the padding), for output rows y in [r0, r0 + r).

    xg is one image's [C, H, W] (one group's channels), cols a C-contiguous
    [C*kh*kw, >= r*wo] buffer. One parallel task per (channel, tap) row of cols:
    numpy needed a strided copy plus zero fills per tap, on one core."""
    c, h, wd = xg.shape
    for row in prange(c * kh * kw):
        ch = row // (kh * kw)
        i = (row // kw) % kh
        j = row % kw
        dst = cols[row]
        src = xg[ch]
        for yy in range(r):
            y = (r0 + yy) * sh + i * dh - pt
            base = yy * wo
            if y < 0 or y >= h:
                for x in range(wo):
                    dst[base + x] = 0
                continue
            srow = src[y]
            x0 = j * dw - pl
            for x in range(wo):
                xx = x0 + x * sw
                dst[base + x] = srow[xx] if xx >= 0 and xx < wd else 0


@njit(parallel=True, cache=True, fastmath=_FAST)
def layernorm_rows(x, scale, bias, eps, out):
    """out[r] = (x[r] - mean) / sqrt(var + eps) * scale + bias for each row r of the
    C-contiguous [rows, cols] x: two passes per row (mean, then the centered
    variance) with f64 sums; scale/bias are [cols] or empty (none)."""
    rows, cols = x.shape
    has_scale = scale.shape[0] > 0
    has_bias = bias.shape[0] > 0
    for r in prange(rows):
        xr = x[r]
        orow = out[r]
        s = 0.0
        for j in range(cols):
            s += xr[j]
        mean = s / cols
        v = 0.0
        for j in range(cols):
            d = xr[j] - mean
            v += d * d
        inv = 1.0 / np.sqrt(v / cols + eps)
        for j in range(cols):
            y = (xr[j] - mean) * inv
            if has_scale:
                y = y * scale[j]
            if has_bias:
                y = y + bias[j]
            orow[j] = y


def _blas_gemm(name: str):
    """BLAS's ?gemm from scipy (the library numba's own np.dot calls), as a ctypes function
    of 13 pointers: Fortran passes every argument by reference."""
    from numba.extending import get_cython_function_address
    ptr = ctypes.c_void_p
    return ctypes.CFUNCTYPE(None, *[ptr] * 13)(
        get_cython_function_address("scipy.linalg.cython_blas", name))


def _make_gemm_split(gemm):
    @njit(parallel=True)
    def gemm_split(a, b, out):
        """out = a @ b (C-ordered [M, K] @ [K, N]), split over numba's threads along
        the longer of M and N; each part is one BLAS call on its block in place,
        with the full leading dimensions (no copies)."""
        m, k = a.shape
        n = b.shape[1]
        by_cols = n >= m
        size = n if by_cols else m
        parts = min(size, numba.get_num_threads())
        step = (size + parts - 1) // parts
        for t in prange(parts):
            i0 = t * step
            i1 = min(size, i0 + step)
            if i0 >= i1:
                continue
            # Row-major C = A B is column-major C^T = B^T A^T: gemm("N", "N", N, M, K, ...)
            # with B as the first operand; a part is a column block of B and C, or a row
            # block of A and C.
            flags = np.empty(2, np.uint8)
            flags[0] = 78                                    # "N"
            flags[1] = 78
            dims = np.empty(6, np.int32)
            dims[0] = i1 - i0 if by_cols else n
            dims[1] = m if by_cols else i1 - i0
            dims[2] = k
            dims[3] = n                                      # ldb
            dims[4] = k                                      # lda
            dims[5] = n                                      # ldc
            scal = np.empty(2, out.dtype)
            scal[0] = 1
            scal[1] = 0
            if by_cols:
                gemm(flags[0:].ctypes, flags[1:].ctypes, dims[0:].ctypes, dims[1:].ctypes,
                     dims[2:].ctypes, scal[0:].ctypes, b[0:, i0:].ctypes, dims[3:].ctypes,
                     a.ctypes, dims[4:].ctypes, scal[1:].ctypes, out[0:, i0:].ctypes,
                     dims[5:].ctypes)
            else:
                gemm(flags[0:].ctypes, flags[1:].ctypes, dims[0:].ctypes, dims[1:].ctypes,
                     dims[2:].ctypes, scal[0:].ctypes, b.ctypes, dims[3:].ctypes,
                     a[i0:].ctypes, dims[4:].ctypes, scal[1:].ctypes, out[i0:].ctypes,
                     dims[5:].ctypes)
    return gemm_split


_GEMM_SPLIT: dict = {}


def gemm_split(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """out = a @ b for C-contiguous f32/f64 a [M, K], b [K, N], out [M, N], split over
    numba's threads (see `_make_gemm_split`). Compiled on first use per dtype (~1.7 s):
    numba cannot cache code that holds BLAS's function pointers on disk."""
    key = a.dtype.char
    if key not in _GEMM_SPLIT:
        _GEMM_SPLIT[key] = _make_gemm_split(_blas_gemm("sgemm" if key == "f" else "dgemm"))
    _GEMM_SPLIT[key](a, b, out)


# erf(x) ~= x * P(x^2) / Q(x^2) on |x| <= _ERF_CLAMP, +-1 beyond: a rational fit made for
# wsc (least squares on Chebyshev nodes, reweighted by 1/Q; the script is in
# docs/sparse-kernels.md). Max error 2.5e-8 in f64 arithmetic, 3.8e-7 (about 3 ulp
# near 1) evaluated in f32 — plain arithmetic, so LLVM vectorizes it, unlike libm's erf.
_ERF_CLAMP = 3.92
_ERF_P = (1.12837908e+00, 1.90426295e-01, 5.27689543e-02, 3.77269854e-03,
          2.86126483e-04, 2.06327195e-06)
_ERF_Q = (1.00000000e+00, 5.02093133e-01, 1.14134049e-01, 1.49805274e-02,
          1.16639374e-03, 3.82953340e-05)


@njit(inline="always", fastmath=_FAST)
def _poly5_f32(z, c):
    """c[0] + c[1] z + ... + c[5] z^5 in f32, Horner's rule."""
    t = np.float32
    return ((((t(c[5]) * z + t(c[4])) * z + t(c[3])) * z + t(c[2])) * z + t(c[1])) * z + t(c[0])


@njit(inline="always", fastmath=_FAST)
def _erf_f32(v):
    x = min(max(v, np.float32(-_ERF_CLAMP)), np.float32(_ERF_CLAMP))
    z = x * x
    return x * _poly5_f32(z, _ERF_P) / _poly5_f32(z, _ERF_Q)


@njit(parallel=True, cache=True, fastmath=_FAST)
def _gelu_f32(flat):
    half = np.float32(0.5)
    one = np.float32(1.0)
    scale = np.float32(0.7071067811865476)
    n = flat.size
    chunk = 4096
    for c in prange((n + chunk - 1) // chunk):
        # unsigned indices: numba's wraparound check on signed ones stops vectorization
        for i in range(np.uint64(c * chunk), np.uint64(min(n, (c + 1) * chunk))):
            v = flat[i]
            flat[i] = half * v * (one + _erf_f32(v * scale))


@njit(parallel=True, cache=True, fastmath=_FAST)
def _gelu_libm(flat):
    half = flat.dtype.type(0.5)
    one = flat.dtype.type(1.0)
    scale = flat.dtype.type(0.7071067811865476)
    for i in prange(flat.size):
        v = flat[i]
        flat[i] = half * v * (one + math.erf(v * scale))


def gelu_inplace(buf: np.ndarray) -> None:
    """buf = 0.5 * buf * (1 + erf(buf / sqrt(2))) in place, over a C-contiguous f32/f64 array.

    f32 uses the vectorized rational erf above (~0.1 ms for a BERT FFN's 128x3072, against
    ~1.7 ms for libm's erf in a parallel loop and ~6 ms for scipy's ufunc); f64 keeps
    libm's erf for its full precision."""
    flat = buf.reshape(-1)
    if flat.dtype == np.float32:
        _gelu_f32(flat)
    else:
        _gelu_libm(flat)
