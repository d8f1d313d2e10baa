"""Kernels of the NN, reduction and recurrent ops added for ONNX, against numpy references.

Same contract as `tests/ops/test_op_kernels.py` (whose `Case` shape and
helpers this file reuses): every reference is written here in plain numpy,
mostly in float64 and by explicit loops (over output positions and window
taps for conv and pooling, over time steps and batch rows for the recurrent
layers), never through the code under test. Ops with several results return
a tuple from both the kernel and the reference.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from compiler.ir.builder import infer_types
from compiler.ir.types import TensorType
from runtime.kernels import KERNELS
from test_op_kernels import (F32, F64, case, f64, layernorm_ref, params, pool_out_len, randint,
                             randn, run_case, uniform)

F16 = np.float16


# -- windowed references ---------------------------------------------------------

def _padded(x, pads):
    nd = len(pads) // 2
    out = np.zeros(x.shape[:2] + tuple(s + pads[i] + pads[nd + i]
                                       for i, s in enumerate(x.shape[2:])))
    out[(slice(None), slice(None)) + tuple(slice(pads[i], pads[i] + s)
                                           for i, s in enumerate(x.shape[2:]))] = x
    return out


def conv_nd_ref(x, w, b=None, strides=None, pads=None, dilations=None, groups=1):
    """Direct convolution: for each output position and tap, a matrix product of channels."""
    x, w = f64(x), f64(w)
    nd = x.ndim - 2
    strides, dilations = strides or [1] * nd, dilations or [1] * nd
    pads = pads or [0] * (2 * nd)
    xp = _padded(x, pads)
    o, cg, ks = w.shape[0], w.shape[1], w.shape[2:]
    og = o // groups
    outs = [(xp.shape[2 + i] - dilations[i] * (ks[i] - 1) - 1) // strides[i] + 1
            for i in range(nd)]
    out = np.zeros((x.shape[0], o, *outs))
    for pos in np.ndindex(*outs):
        for tap in np.ndindex(*ks):
            at = tuple(p * s + t * d for p, s, t, d in zip(pos, strides, tap, dilations))
            for g in range(groups):
                pix = xp[(slice(None), slice(g * cg, (g + 1) * cg)) + at]       # [N, cg]
                out[(slice(None), slice(g * og, (g + 1) * og)) + pos] += \
                    pix @ w[(slice(g * og, (g + 1) * og), slice(None)) + tap].T
    if b is not None:
        out += f64(b).reshape((1, o) + (1,) * nd)
    return out


def conv_transpose_ref(x, w, b=None, strides=None, pads=None, dilations=None, groups=1,
                       output_padding=None):
    """Scatter definition: input pixel i sends x[i] * w[tap] to output position i*s + tap*d."""
    x, w = f64(x), f64(w)
    nd = x.ndim - 2
    strides, dilations = strides or [1] * nd, dilations or [1] * nd
    pads = pads or [0] * (2 * nd)
    output_padding = output_padding or [0] * nd
    n, c = x.shape[:2]
    cg, og, ks = c // groups, w.shape[1], w.shape[2:]
    full = [s * (i - 1) + d * (k - 1) + 1 + op for s, i, d, k, op in
            zip(strides, x.shape[2:], dilations, ks, output_padding)]
    # Room for negative pads on either side.
    lo = [max(0, -p) for p in pads[:nd]]
    hi = [max(0, -p) for p in pads[nd:]]
    big = np.zeros((n, og * groups, *(f + a + z for f, a, z in zip(full, lo, hi))))
    for pos in np.ndindex(*x.shape[2:]):
        for tap in np.ndindex(*ks):
            at = tuple(l + p * s + t * d for l, p, s, t, d in
                       zip(lo, pos, strides, tap, dilations))
            for g in range(groups):
                pix = x[(slice(None), slice(g * cg, (g + 1) * cg)) + pos]       # [N, cg]
                big[(slice(None), slice(g * og, (g + 1) * og)) + at] += \
                    pix @ w[(slice(g * cg, (g + 1) * cg), slice(None)) + tap]
    crop = tuple(slice(l + pb, l + f - pe) for l, f, pb, pe in
                 zip(lo, full, pads[:nd], pads[nd:]))
    out = big[(slice(None), slice(None)) + crop]
    if b is not None:
        out = out + f64(b).reshape((1, -1) + (1,) * nd)
    return out


def pool_nd_ref(x, mode, kernel, strides=None, pads=None, dilations=None, ceil_mode=False,
                count_include_pad=False, p=2.0):
    """max / avg / lp over each window by explicit loops over output positions and taps."""
    nd = len(kernel)
    x = f64(x) if x.dtype.kind == "f" else x.astype(np.int64)
    strides, dilations = strides or [1] * nd, dilations or [1] * nd
    pads = pads or [0] * (2 * nd)
    sizes = x.shape[2:]
    outs = [pool_out_len(sizes[i], kernel[i], strides[i], pads[i], pads[nd + i],
                         dilations[i], ceil_mode) for i in range(nd)]
    out = np.zeros(x.shape[:2] + tuple(outs), dtype=x.dtype)
    for pos in np.ndindex(*outs):
        vals, counted = [], 0
        for tap in np.ndindex(*kernel):
            at = [q * s - pb + t * d for q, s, pb, t, d in
                  zip(pos, strides, pads, tap, dilations)]
            inside = all(0 <= a < s for a, s in zip(at, sizes))
            explicit = all(-pads[i] <= at[i] < sizes[i] + pads[nd + i] for i in range(nd))
            if inside:
                vals.append(x[(slice(None), slice(None)) + tuple(at)])
            if inside or (count_include_pad and explicit):
                counted += 1
        idx = (slice(None), slice(None)) + pos
        if mode == "max":
            out[idx] = np.max(vals, axis=0)
        elif mode == "avg":
            out[idx] = np.sum(vals, axis=0) / counted
        else:
            out[idx] = np.sum(np.abs(vals) ** p, axis=0) ** (1 / p)
    return out


def maxpool_indices_ref(x, kernel, strides=None, pads=None, dilations=None, ceil_mode=False,
                        storage_order=0):
    """(max, flat index of its first occurrence in window order) per output element."""
    nd = len(kernel)
    strides, dilations = strides or [1] * nd, dilations or [1] * nd
    pads = pads or [0] * (2 * nd)
    n, c, sizes = x.shape[0], x.shape[1], x.shape[2:]
    outs = [pool_out_len(sizes[i], kernel[i], strides[i], pads[i], pads[nd + i],
                         dilations[i], ceil_mode) for i in range(nd)]
    vals = np.zeros((n, c, *outs), dtype=x.dtype)
    index = np.zeros((n, c, *outs), dtype=np.int64)
    # Strides of the flat index over the spatial dims, row- or column-major.
    dims = list(sizes) if storage_order == 0 else list(sizes)[::-1]
    steps = [int(np.prod(dims[i + 1:])) for i in range(nd)]
    if storage_order == 1:
        steps = steps[::-1]
    plane = int(np.prod(sizes))
    for b in range(n):
        for ch in range(c):
            for pos in np.ndindex(*outs):
                best, where = None, None
                for tap in np.ndindex(*kernel):
                    at = [q * s - pb + t * d for q, s, pb, t, d in
                          zip(pos, strides, pads, tap, dilations)]
                    if not all(0 <= a < s for a, s in zip(at, sizes)):
                        continue
                    v = x[(b, ch) + tuple(at)]
                    if best is None or v > best:
                        best, where = v, at
                vals[(b, ch) + pos] = best
                index[(b, ch) + pos] = (b * c + ch) * plane + sum(a * s for a, s in
                                                                  zip(where, steps))
    return vals, index


# -- normalization references -------------------------------------------------------

def rows(x, axis):
    """x as a matrix [prod(dims before axis), prod(dims from axis on)] in float64."""
    x = f64(x)
    axis %= x.ndim
    return x.reshape(int(np.prod(x.shape[:axis])), -1)


def log_softmax_ref(x, axis):
    x = f64(x)
    return x - np.logaddexp.reduce(x, axis=axis, keepdims=True)


def hardmax_ref(x, axis):
    moved = np.moveaxis(x, axis, -1)
    flat = moved.reshape(-1, moved.shape[-1])
    out = np.zeros_like(flat)
    for i, row in enumerate(flat):
        first = [j for j, v in enumerate(row) if v == row.max()][0]
        out[i, first] = 1
    return np.moveaxis(out.reshape(moved.shape), -1, axis)


def layernorm_stats_ref(x, axis, eps=1e-5):
    m = rows(x, axis)
    mean = m.mean(axis=1)
    inv = 1 / np.sqrt(((m - mean[:, None]) ** 2).mean(axis=1) + eps)
    shape = x.shape[:axis % x.ndim] + (1,) * (x.ndim - axis % x.ndim)
    return mean.reshape(shape), inv.reshape(shape)


def rmsnorm_ref(x, scale, axis=-1, eps=1e-5):
    m = rows(x, axis)
    y = m / np.sqrt((m ** 2).mean(axis=1, keepdims=True) + eps)
    return y.reshape(x.shape) * f64(scale)


def batchnorm_ref(x, scale, bias, mean, var, eps=1e-5):
    x = f64(x)
    out = np.empty_like(x)
    for ch in range(x.shape[1]):
        out[:, ch] = ((x[:, ch] - f64(mean)[ch]) / np.sqrt(f64(var)[ch] + eps)
                      * f64(scale)[ch] + f64(bias)[ch])
    return out


def groupnorm_ref(x, scale, bias, groups, eps=1e-5):
    x = f64(x)
    n, c = x.shape[:2]
    cg = c // groups
    out = np.empty_like(x)
    for b in range(n):
        for g in range(groups):
            part = x[b, g * cg:(g + 1) * cg]
            out[b, g * cg:(g + 1) * cg] = (part - part.mean()) / np.sqrt(part.var() + eps)
    for ch in range(c):
        out[:, ch] = out[:, ch] * f64(scale)[ch] + f64(bias)[ch]
    return out


def lrn_ref(x, size, alpha=1e-4, beta=0.75, bias=1.0):
    x = f64(x)
    c = x.shape[1]
    out = np.empty_like(x)
    for ch in range(c):
        lo, hi = max(0, ch - (size - 1) // 2), min(c - 1, ch + math.ceil((size - 1) / 2))
        square_sum = (x[:, lo:hi + 1] ** 2).sum(axis=1)
        out[:, ch] = x[:, ch] / (bias + alpha / size * square_sum) ** beta
    return out


# -- reduction references -------------------------------------------------------------

_IDENTITY = {"min": np.inf, "max": -np.inf, "prod": 1.0, "log_sum": -np.inf, "lse": -np.inf}


def reduce_ref(x, how, axes=(), keepdims=False):
    """Move the reduced axes last, flatten them, reduce each row in Python-level numpy."""
    src = x
    x = f64(x) if x.dtype.kind == "f" else x.astype(np.int64)
    axes = sorted(a % x.ndim for a in axes) if axes else list(range(x.ndim))
    keep = [a for a in range(x.ndim) if a not in axes]
    kept, reduced = [x.shape[a] for a in keep], int(np.prod([x.shape[a] for a in axes]))
    moved = np.transpose(x, keep + axes).reshape(kept + [reduced])
    flat = moved.reshape(int(np.prod(kept)), reduced)
    fns = {
        "min": lambda r: r.min(), "max": lambda r: r.max(), "prod": lambda r: np.prod(r),
        "sum_square": lambda r: (r * r).sum(), "l1": lambda r: np.abs(r).sum(),
        "l2": lambda r: np.sqrt((r * r).sum()), "log_sum": lambda r: np.log(r.sum()),
        "lse": lambda r: np.logaddexp.reduce(r),
    }
    res = [fns[how](r) if r.size else _IDENTITY.get(how, 0.0) for r in flat]
    r = np.array(res, dtype=np.float64).reshape(moved.shape[:-1])
    if keepdims:
        r = r.reshape([1 if a in axes else x.shape[a] for a in range(x.ndim)])
    if src.dtype.kind in "iub":
        if how in ("min", "max") and not src.size:
            info = np.iinfo(src.dtype) if src.dtype.kind != "b" else None
            fill = (how == "min") if info is None else (info.max if how == "min" else info.min)
            return np.full(r.shape, fill, dtype=src.dtype)
        return r.astype(src.dtype)
    return r


# -- recurrent references ---------------------------------------------------------------

def _sig(v):
    return 1 / (1 + np.exp(-v))


ACTS = {
    "sigmoid": lambda v, a, b: _sig(v), "tanh": lambda v, a, b: np.tanh(v),
    "relu": lambda v, a, b: np.maximum(v, 0),
    "hardsigmoid": lambda v, a, b: np.minimum(np.maximum(a * v + b, 0), 1),
    "softsign": lambda v, a, b: v / (1 + np.abs(v)),
    "leakyrelu": lambda v, a, b: np.where(v >= 0, v, a * v),
    "affine": lambda v, a, b: a * v + b,
}


def recurrent_ref(kind, x, w, r, bias, peep=None, h0=None, c0=None, lens=None,
                  direction="forward", acts=None, clip=0.0, lbr=False, input_forget=False):
    """One batch row and one direction at a time, in float64, straight from the ONNX formulas.

    `acts` is a list per direction of (name, alpha, beta)."""
    x, w, r, bias = f64(x), f64(w), f64(r), f64(bias)
    t_steps, batch, _ = x.shape
    d_count, h = w.shape[0], r.shape[2]
    y = np.zeros((t_steps, d_count, batch, h))
    y_h = np.zeros((d_count, batch, h))
    y_c = np.zeros((d_count, batch, h))

    def cl(v):
        return np.clip(v, -clip, clip) if clip > 0 else v

    for d in range(d_count):
        fn = [lambda v, n=n, a=a, b=b: ACTS[n](v, a, b) for n, a, b in acts[d]]
        reverse = direction == "reverse" or (direction == "bidirectional" and d == 1)
        wd, rd, wb, rb = w[d], r[d], bias[d, :bias.shape[1] // 2], bias[d, bias.shape[1] // 2:]
        for b in range(batch):
            length = t_steps if lens is None else int(lens[b])
            hs = np.zeros(h) if h0 is None else f64(h0)[d, b]
            cs = np.zeros(h) if c0 is None else f64(c0)[d, b]
            for t in (range(length - 1, -1, -1) if reverse else range(length)):
                xt = x[t, b]
                if kind == "rnn":
                    hs = fn[0](cl(wd @ xt + rd @ hs + wb + rb))
                elif kind == "gru":
                    g = lambda k: slice(k * h, (k + 1) * h)  # noqa: E731
                    z = fn[0](cl(wd[g(0)] @ xt + rd[g(0)] @ hs + wb[g(0)] + rb[g(0)]))
                    rr = fn[0](cl(wd[g(1)] @ xt + rd[g(1)] @ hs + wb[g(1)] + rb[g(1)]))
                    if lbr:
                        hh = fn[1](cl(wd[g(2)] @ xt + wb[g(2)] + rr * (rd[g(2)] @ hs + rb[g(2)])))
                    else:
                        hh = fn[1](cl(wd[g(2)] @ xt + rd[g(2)] @ (rr * hs) + rb[g(2)] + wb[g(2)]))
                    hs = (1 - z) * hh + z * hs
                else:
                    g = lambda k: slice(k * h, (k + 1) * h)  # noqa: E731
                    pd = np.zeros(3 * h) if peep is None else f64(peep)[d]
                    pre = [wd[g(k)] @ xt + rd[g(k)] @ hs + wb[g(k)] + rb[g(k)] for k in range(4)]
                    i = fn[0](cl(pre[0] + pd[g(0)] * cs))
                    f = 1 - i if input_forget else fn[0](cl(pre[2] + pd[g(2)] * cs))
                    cs = f * cs + i * fn[1](cl(pre[3]))
                    o = fn[0](cl(pre[1] + pd[g(1)] * cs))
                    hs = o * fn[2](cs)
                y[t, d, b] = hs
            y_h[d, b] = hs
            y_c[d, b] = cs
    return (y, y_h, y_c) if kind == "lstm" else (y, y_h)


def _defaults(kind, directions):
    one = {"rnn": [("tanh", 0, 0)], "gru": [("sigmoid", 0, 0), ("tanh", 0, 0)],
           "lstm": [("sigmoid", 0, 0), ("tanh", 0, 0), ("tanh", 0, 0)]}[kind]
    return [one] * directions


def rnn_inputs(kind, t, b, i, h, d, dtype=F32):
    g = {"rnn": 1, "gru": 3, "lstm": 4}[kind]
    return [randn(t, b, i, dtype=dtype), randn(d, g * h, i, dtype=dtype) * 0.5,
            randn(d, g * h, h, dtype=dtype) * 0.5, randn(d, 2 * g * h, dtype=dtype) * 0.5]


def rnn_case(id, kind, ins, direction="forward", acts=None, extra=(), ref_kw=None, **attrs):
    """An rnn or gru case; `extra` are the optional operands after bias (h0, lens)."""
    d = 2 if direction == "bidirectional" else 1
    acts = acts or _defaults(kind, d)
    ref_kw = dict(ref_kw or {})
    inputs = list(ins) + list(extra)
    names = ["h0", "lens"]

    def ref(*args):
        kw = dict(zip(names, args[4:]))
        return recurrent_ref(kind, *args[:4], direction=direction, acts=acts, **kw, **ref_kw)
    return case(id, inputs, ref, direction=direction, **attrs)


# -- the table -----------------------------------------------------------------

_vol = randn(2, 3, 5, 6, 4)
_img = randn(2, 3, 7, 8)
_x234 = randn(2, 3, 4)
_ties = randint(0, 3, 1, 2, 5, 6)


def _lstm_case(id, direction="forward", t=4, b=3, i=2, h=3, peep=False, h0=False, c0=False,
               lens=None, acts=None, attrs=None, ref_kw=None):
    d = 2 if direction == "bidirectional" else 1
    ins = rnn_inputs("lstm", t, b, i, h, d)
    ins.append(randn(d, 3 * h) if peep else np.zeros((d, 3 * h), F32))
    extra = []
    if h0 or c0 or lens is not None:
        extra.append(randn(d, b, h))
    if c0 or lens is not None:
        extra.append(randn(d, b, h))
    if lens is not None:
        extra.append(np.array(lens, np.int32))
    ref_kw = dict(ref_kw or {})

    def ref(x, w, r, bias, p, *rest):
        kw = dict(zip(["h0", "c0", "lens"], rest))
        return recurrent_ref("lstm", x, w, r, bias, peep=p, direction=direction,
                             acts=acts or _defaults("lstm", d), **kw, **ref_kw)
    return case(id, ins + extra, ref, direction=direction, **(attrs or {}))


CASES = {
    "nn.conv3d": [
        case("bias", [randn(2, 3, 4, 5, 4), randn(4, 3, 2, 3, 2), randn(4)], conv_nd_ref),
        case("stride-pad-dilation-groups", [randn(1, 4, 6, 5, 7), randn(6, 2, 2, 2, 3)],
             lambda x, w: conv_nd_ref(x, w, strides=[2, 1, 2], pads=[1, 0, 1, 0, 2, 1],
                                      dilations=[1, 2, 1], groups=2),
             strides=[2, 1, 2], pads=[1, 0, 1, 0, 2, 1], dilations=[1, 2, 1], groups=2),
        case("f16", [randn(1, 2, 3, 4, 4, dtype=F16), randn(2, 2, 2, 2, 2, dtype=F16)],
             conv_nd_ref),
    ],
    "nn.conv_transpose2d": [
        case("basic-bias", [randn(2, 3, 4, 5), randn(3, 2, 3, 3), randn(2)],
             conv_transpose_ref),
        case("stride2-pads-output-padding", [randn(1, 2, 3, 4), randn(2, 3, 3, 2)],
             lambda x, w: conv_transpose_ref(x, w, strides=[2, 3], pads=[1, 0, 0, 1],
                                             output_padding=[1, 2]),
             strides=[2, 3], pads=[1, 0, 0, 1], output_padding=[1, 2]),
        case("groups-dilation", [randn(2, 4, 3, 3), randn(4, 3, 2, 2), randn(6)],
             lambda x, w, b: conv_transpose_ref(x, w, b, groups=2, dilations=[2, 1],
                                                strides=[1, 2]),
             groups=2, dilations=[2, 1], strides=[1, 2]),
        case("negative-pads-extend", [randn(1, 1, 3, 3), randn(1, 2, 3, 3)],
             lambda x, w: conv_transpose_ref(x, w, strides=[3, 2], pads=[0, -1, -1, 0]),
             strides=[3, 2], pads=[0, -1, -1, 0]),
    ],
    "nn.conv_transpose3d": [
        case("stride2-bias", [randn(1, 2, 2, 3, 2), randn(2, 3, 2, 2, 3), randn(3)],
             lambda x, w, b: conv_transpose_ref(x, w, b, strides=[2, 2, 1],
                                                pads=[0, 1, 0, 1, 0, 0]),
             strides=[2, 2, 1], pads=[0, 1, 0, 1, 0, 0]),
    ],
    "nn.maxpool3d": [
        case("pad-stride", [_vol],
             lambda x: pool_nd_ref(x, "max", [3, 2, 2], [2, 2, 1], [1, 0, 1, 1, 1, 0]),
             kernel=[3, 2, 2], strides=[2, 2, 1], pads=[1, 0, 1, 1, 1, 0]),
        case("ceil-dilation", [_vol],
             lambda x: pool_nd_ref(x, "max", [2, 2, 2], [2, 2, 2], dilations=[2, 1, 2],
                                   ceil_mode=True),
             kernel=[2, 2, 2], strides=[2, 2, 2], dilations=[2, 1, 2], ceil_mode=True),
        case("int8", [randint(-128, 127, 1, 2, 3, 4, 3, dtype=np.int8)],
             lambda x: pool_nd_ref(x, "max", [2, 2, 2], pads=[1, 1, 1, 0, 0, 0]).astype(np.int8),
             kernel=[2, 2, 2], pads=[1, 1, 1, 0, 0, 0]),
    ],
    "nn.avgpool3d": [
        case("exclude-pad", [_vol],
             lambda x: pool_nd_ref(x, "avg", [3, 3, 2], [2, 2, 2], [1, 1, 0, 1, 1, 1]),
             kernel=[3, 3, 2], strides=[2, 2, 2], pads=[1, 1, 0, 1, 1, 1]),
        case("include-pad-ceil-dilation", [_vol],
             lambda x: pool_nd_ref(x, "avg", [2, 2, 2], [2, 3, 2], [1, 1, 1, 1, 1, 1],
                                   [2, 1, 1], ceil_mode=True, count_include_pad=True),
             kernel=[2, 2, 2], strides=[2, 3, 2], pads=[1, 1, 1, 1, 1, 1],
             dilations=[2, 1, 1], ceil_mode=True, count_include_pad=True),
    ],
    "nn.lppool2d": [
        case("p2-pads", [_img], lambda x: pool_nd_ref(x, "lp", [3, 2], [2, 1], [1, 1, 1, 0]),
             kernel=[3, 2], strides=[2, 1], pads=[1, 1, 1, 0]),
        case("p3-dilation-ceil", [_img],
             lambda x: pool_nd_ref(x, "lp", [2, 2], [2, 2], dilations=[2, 1], ceil_mode=True,
                                   p=3.0),
             kernel=[2, 2], strides=[2, 2], dilations=[2, 1], ceil_mode=True, p=3.0),
    ],
    "nn.lppool3d": [
        case("p1", [_vol], lambda x: pool_nd_ref(x, "lp", [2, 3, 2], p=1.0),
             kernel=[2, 3, 2], p=1.0),
    ],
    "nn.maxpool2d_indices": [
        case("row-major-pads", [randn(2, 3, 5, 6)],
             lambda x: maxpool_indices_ref(x, [3, 2], [2, 2], [1, 1, 1, 0]),
             kernel=[3, 2], strides=[2, 2], pads=[1, 1, 1, 0]),
        case("column-major-ceil", [randn(1, 2, 5, 5)],
             lambda x: maxpool_indices_ref(x, [2, 2], [2, 2], ceil_mode=True, storage_order=1),
             kernel=[2, 2], strides=[2, 2], ceil_mode=True, storage_order=1),
        case("ties-first-wins-int", [_ties],
             lambda x: maxpool_indices_ref(x, [2, 3], [1, 2], [1, 1, 0, 1], [1, 1]),
             kernel=[2, 3], strides=[1, 2], pads=[1, 1, 0, 1]),
        case("negative-with-padding", [-np.abs(randn(1, 1, 4, 4))],
             lambda x: maxpool_indices_ref(x, [3, 3], [2, 2], [1, 1, 1, 1], [1, 1]),
             kernel=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        case("int-min-values-beside-padding",
             [np.full((1, 1, 3, 3), np.iinfo(np.int32).min, np.int32)],
             lambda x: maxpool_indices_ref(x, [2, 2], [1, 1], [1, 1, 0, 0]),
             kernel=[2, 2], pads=[1, 1, 0, 0]),
    ],
    "nn.maxpool3d_indices": [
        case("column-major-dilation", [randn(1, 2, 4, 5, 4)],
             lambda x: maxpool_indices_ref(x, [2, 2, 2], [1, 2, 1], [0, 1, 0, 0, 0, 1],
                                           [2, 1, 1], storage_order=1),
             kernel=[2, 2, 2], strides=[1, 2, 1], pads=[0, 1, 0, 0, 0, 1], dilations=[2, 1, 1],
             storage_order=1),
        case("row-major", [randn(2, 1, 3, 4, 5)],
             lambda x: maxpool_indices_ref(x, [2, 3, 2], [1, 1, 2]),
             kernel=[2, 3, 2], strides=[1, 1, 2]),
    ],
    "nn.global_maxpool": [
        case("nchw", [_img], lambda x: f64(x).max(axis=3).max(axis=2)[:, :, None, None]),
        case("int-ncl", [randint(-50, 50, 2, 3, 5)],
             lambda x: np.array([[[max(row)] for row in chans] for chans in x], np.int32)),
    ],
    "nn.log_softmax": [
        case("last-axis", [randn(3, 5)], lambda x: log_softmax_ref(x, -1)),
        case("axis0-large", [np.array([[1000, -1000], [1001, 0], [999, 1000]], F32)],
             lambda x: log_softmax_ref(x, 0), axis=0),
        case("f64-axis1", [randn(2, 3, 4, dtype=F64)], lambda x: log_softmax_ref(x, 1), axis=1),
    ],
    "nn.hardmax": [
        case("last-axis", [randn(4, 5)], lambda x: hardmax_ref(x, -1)),
        case("ties-first-wins", [np.array([[1, 3, 3], [2, 2, 2], [0, -1, 5]], F32)],
             lambda x: hardmax_ref(x, 1), axis=1),
        case("axis0-3d", [_x234], lambda x: hardmax_ref(x, 0), axis=0),
    ],
    "nn.layernorm_with_stats": [
        case("axis1-scale-bias", [_x234, randn(3, 4), randn(4)],
             lambda x, s, b: (layernorm_ref(x, s, b, axis=1), *layernorm_stats_ref(x, 1)),
             axis=1),
        case("f16-in-f32-stats", [randn(3, 6, dtype=F16) * 4 + 1],
             lambda x: (layernorm_ref(x, eps=1e-3),
                        *(a.astype(F32) for a in layernorm_stats_ref(x, -1, 1e-3))),
             eps=1e-3),
        case("axis0-f64", [randn(2, 3, dtype=F64), randn(2, 3, dtype=F64)],
             lambda x, s: (layernorm_ref(x, s, axis=0), *layernorm_stats_ref(x, 0)),
             axis=0, stats_dtype="f64"),
    ],
    "nn.rmsnorm": [
        case("last-axis", [randn(3, 8), randn(8)], lambda x, s: rmsnorm_ref(x, s)),
        case("axis1-full-scale", [randn(2, 3, 4), randn(3, 4)],
             lambda x, s: rmsnorm_ref(x, s, axis=1, eps=1e-2), axis=1, eps=1e-2),
        case("f16", [randn(4, 6, dtype=F16), randn(6, dtype=F16)],
             lambda x, s: rmsnorm_ref(x, s)),
    ],
    "nn.batchnorm": [
        case("nchw", [_img, randn(3), randn(3), randn(3), uniform(0.5, 2, 3)],
             batchnorm_ref),
        case("nc-eps", [randn(4, 3), randn(3), randn(3), randn(3), uniform(0.5, 2, 3)],
             lambda *a: batchnorm_ref(*a, eps=0.1), eps=0.1),
        case("per-activation", [randn(2, 3, 2), randn(3, 2), randn(3, 2), randn(3, 2),
                                uniform(0.5, 2, 3, 2)],
             lambda x, s, b, m, v: (f64(x) - f64(m)) / np.sqrt(f64(v) + 1e-5) * f64(s)
             + f64(b)),
    ],
    "nn.groupnorm": [
        case("two-groups", [randn(2, 4, 3, 3), randn(4), randn(4)],
             lambda x, s, b: groupnorm_ref(x, s, b, 2), groups=2),
        case("instance", [randn(2, 3, 5), randn(3), randn(3)],
             lambda x, s, b: groupnorm_ref(x, s, b, 3, 1e-3), groups=3, eps=1e-3),
        case("one-group-3d", [randn(1, 6, 2, 2, 3), randn(6), randn(6)],
             lambda x, s, b: groupnorm_ref(x, s, b, 1), groups=1),
    ],
    "nn.lrn": [
        case("size3", [randn(2, 5, 3, 4)], lambda x: lrn_ref(x, 3), size=3),
        case("size4-params", [randn(1, 6, 2, 2)],
             lambda x: lrn_ref(x, 4, 0.01, 0.5, 2.0), size=4, alpha=0.01, beta=0.5, bias=2.0),
    ],
    "math.reduce_min": [
        case("axis1-keepdims", [_x234], lambda x: reduce_ref(x, "min", [1], True),
             axes=[1], keepdims=True),
        case("empty-set", [np.zeros((2, 0, 3), F32)], lambda x: reduce_ref(x, "min", [1]),
             axes=[1]),
        case("bool", [np.array([[True, False], [True, True]])],
             lambda x: np.array([all(r) for r in x]), axes=[1]),
        case("int-empty", [np.zeros((0, 2), np.int32)],
             lambda x: reduce_ref(x, "min", [0]), axes=[0]),
    ],
    "math.reduce_prod": [
        case("all", [uniform(0.5, 1.5, 2, 3)], lambda x: reduce_ref(x, "prod")),
        case("int-axis0", [randint(-3, 4, 3, 2)], lambda x: reduce_ref(x, "prod", [0]),
             axes=[0]),
        case("empty-set", [np.zeros((2, 0), F32)], lambda x: reduce_ref(x, "prod", [1], True),
             axes=[1], keepdims=True),
    ],
    "math.reduce_sum_square": [
        case("axes-0-2", [_x234], lambda x: reduce_ref(x, "sum_square", [0, 2]), axes=[0, 2]),
        case("int", [randint(-9, 9, 3, 4)], lambda x: reduce_ref(x, "sum_square", [-1]),
             axes=[-1]),
    ],
    "math.reduce_l1": [
        case("all-keepdims", [_x234], lambda x: reduce_ref(x, "l1", (), True), keepdims=True),
        case("int", [randint(-9, 9, 3, 4)], lambda x: reduce_ref(x, "l1", [1]), axes=[1]),
    ],
    "math.reduce_l2": [
        case("axis-neg1", [_x234], lambda x: reduce_ref(x, "l2", [-1]), axes=[-1]),
        case("empty-set", [np.zeros((0, 3), F32)], lambda x: reduce_ref(x, "l2", [0]),
             axes=[0]),
    ],
    "math.reduce_log_sum": [
        case("axis1", [uniform(0.1, 2, 2, 3, 4)], lambda x: reduce_ref(x, "log_sum", [1]),
             axes=[1]),
        case("empty-set", [np.zeros((2, 0), F32)], lambda x: reduce_ref(x, "log_sum", [1]),
             axes=[1]),
    ],
    "math.reduce_log_sum_exp": [
        case("large-values", [np.array([[1000, 1001, -5], [-1000, -1001, 3]], F32)],
             lambda x: reduce_ref(x, "lse", [1]), axes=[1]),
        case("all-keepdims", [_x234], lambda x: reduce_ref(x, "lse", (), True), keepdims=True),
        case("axes-0-2", [_x234], lambda x: reduce_ref(x, "lse", [0, 2]), axes=[0, 2]),
        case("minus-inf-row", [np.array([[-np.inf, -np.inf], [0, -np.inf]], F32)],
             lambda x: reduce_ref(x, "lse", [1]), axes=[1]),
        case("empty-set", [np.zeros((0, 3), F32)], lambda x: reduce_ref(x, "lse", [0]),
             axes=[0]),
    ],
    "rnn.rnn": [
        rnn_case("forward", "rnn", rnn_inputs("rnn", 5, 3, 4, 3, 1)),
        rnn_case("bidirectional-initial-lens", "rnn", rnn_inputs("rnn", 4, 3, 2, 3, 2),
                 "bidirectional", extra=[randn(2, 3, 3), np.array([4, 1, 2], np.int64)]),
        rnn_case("reverse-relu-clip", "rnn", rnn_inputs("rnn", 4, 2, 3, 2, 1), "reverse",
                 acts=[[("relu", 0, 0)]], ref_kw={"clip": 0.5}, activations="Relu",
                 clip=0.5),
    ],
    "rnn.gru": [
        rnn_case("forward", "gru", rnn_inputs("gru", 4, 3, 2, 3, 1)),
        rnn_case("linear-before-reset-reverse", "gru", rnn_inputs("gru", 4, 2, 3, 3, 1),
                 "reverse", extra=[randn(1, 2, 3)], ref_kw={"lbr": True},
                 linear_before_reset=True),
        rnn_case("bidirectional-lens-clip", "gru", rnn_inputs("gru", 5, 3, 2, 4, 2),
                 "bidirectional", extra=[randn(2, 3, 4), np.array([2, 5, 0], np.int32)],
                 ref_kw={"clip": 0.8}, clip=0.8),
        rnn_case("bidirectional-lbr", "gru", rnn_inputs("gru", 3, 2, 2, 3, 2),
                 "bidirectional", ref_kw={"lbr": True}, linear_before_reset=True),
    ],
    "rnn.lstm": [
        _lstm_case("forward"),
        _lstm_case("peepholes-initial-states", peep=True, h0=True, c0=True),
        _lstm_case("bidirectional-lens", "bidirectional", peep=True, lens=[3, 4, 1]),
        _lstm_case("reverse-input-forget-clip", "reverse", peep=True,
                   attrs={"input_forget": True, "clip": 0.7},
                   ref_kw={"input_forget": True, "clip": 0.7}),
        _lstm_case("activations-per-direction", "bidirectional",
                   acts=[[("hardsigmoid", 0.3, 0.4), ("tanh", 0, 0), ("softsign", 0, 0)],
                         [("sigmoid", 0, 0), ("leakyrelu", 0.2, 0), ("affine", 0.5, 0.1)]],
                   attrs={"activations": "HardSigmoid,Tanh,Softsign,Sigmoid,LeakyRelu,Affine",
                          "activation_alpha": [0.3, 0.2, 0.5],
                          "activation_beta": [0.4, 0.1]}),
        _lstm_case("one-step-unit-sizes", t=1, b=1, i=1, h=1),
    ],
}


# -- the test ------------------------------------------------------------------


@pytest.mark.parametrize("op,c", params(CASES))
def test_nn_kernel_matches_reference(op: str, c) -> None:
    run_case(op, c)


def test_reduce_max_of_empty_set_and_bool() -> None:
    """math.reduce_max's CASES live in test_op_kernels.py; the identities added here."""
    x = np.zeros((2, 0, 3), F32)
    got = KERNELS["math.reduce_max"](x, axes=[1], keepdims=True)
    np.testing.assert_array_equal(got, np.full((2, 1, 3), -np.inf, F32))
    b = np.zeros((2, 0), bool)
    got = KERNELS["math.reduce_max"](b, axes=[1], keepdims=False)
    assert got.dtype == np.bool_ and got.shape == (2,) and not got.any()
    _, _, (t,) = infer_types("math.reduce_max", [TensorType.of_array(b)],
                             {"axes": [1], "keepdims": False})
    assert t.dtype == "bool"


def test_conv2d_and_pool2d_share_the_nd_kernels_with_1x_unit_dims() -> None:
    """A 3-D conv/pool over a unit depth equals the 2-D op on the squeezed input."""
    x, w = randn(1, 2, 1, 5, 6), randn(3, 2, 1, 3, 2)
    c3 = KERNELS["nn.conv3d"](x, w, strides=[1, 2, 1], pads=[0, 1, 0, 0, 1, 1],
                              dilations=[1, 1, 2], groups=1)
    np.testing.assert_allclose(c3[:, :, 0], conv_nd_ref(x[:, :, 0], w[:, :, 0], strides=[2, 1],
                                                        pads=[1, 0, 1, 1], dilations=[1, 2]),
                               rtol=1e-5, atol=1e-5)


def test_recurrent_ops_reject_bad_shapes_with_a_hint() -> None:
    ins = rnn_inputs("gru", 3, 2, 4, 5, 1)
    types = [TensorType.of_array(a) for a in ins]
    with pytest.raises(Exception, match="bidirectional"):
        infer_types("rnn.gru", types, {"direction": "bidirectional"})
    bad = types[:3] + [TensorType((1, 7), "f32")]
    with pytest.raises(Exception, match="bias must have shape"):
        infer_types("rnn.gru", bad, {})
    with pytest.raises(Exception, match="unknown activation"):
        infer_types("rnn.gru", types, {"activations": "Sigmoid,Bogus"})
