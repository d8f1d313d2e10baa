"""Kernels of the fused ops (`compiler/ops/fused.py`): one call, epilogues in place.

- ``fused.conv2d_epilogue`` / ``fused.matmul_epilogue``: the contraction writes a
  fresh result buffer; bias, residual and activation are then applied to it in
  place, block of rows by block of rows, so each block is still in cache when
  the next step touches it. The only other memory is one scratch block for the
  activations that need a second value (gelu, swish...).
- ``fused.elementwise``: the expression program runs over blocks of the result
  (leading dims), every step a numpy ufunc with ``out=`` into a per-block
  register buffer that is reused as soon as its value is dead.
- ``fused.masked_softmax``: scale, mask, softmax in one private buffer.

`ACTIVATIONS` (the names of `compiler/ops/fused.py`) and `activate` are shared
with other kernels that want the same epilogues.
"""
from __future__ import annotations

import math
from functools import lru_cache
from math import prod

import numpy as np
from scipy.special import erf as _erf
from scipy.special import expit as _expit

from .nn import conv2d_output, matmul_2d_weight, maxpool2d
from .registry import kernel

BLOCK = 1 << 15       # elements per block of an epilogue or an elementwise program
_SQRT_HALF = 1.0 / math.sqrt(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)

ACTIVATIONS = ("none", "relu", "leaky_relu", "clip", "sigmoid", "tanh", "gelu", "gelu_tanh",
               "swish", "hard_swish")


def _wide(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) if x.dtype == np.float16 else x


# -- activations in place ------------------------------------------------------------

def activate(buf: np.ndarray, activation: str, alpha: float = 1.0, clip_min: float = -math.inf,
             clip_max: float = math.inf, scratch: np.ndarray | None = None) -> None:
    """Apply `activation` to `buf` in place. `scratch` (same shape and dtype, or None to
    allocate) holds the second value that gelu, gelu_tanh, swish, leaky_relu and
    hard_swish need."""
    t = buf.dtype.type
    if activation == "none":
        return
    if activation in ("relu", "clip"):
        # np.clip with two scalar bounds is one SIMD pass (np.maximum alone measured 3x
        # slower); NaN stays NaN and the upper bound wins where min > max, as math.clip.
        with np.errstate(over="ignore"):
            lo, hi = (t(0), t(math.inf)) if activation == "relu" else (t(clip_min), t(clip_max))
        np.clip(buf, lo, hi, out=buf)
        return
    if activation == "sigmoid":
        _expit(buf, out=buf)
        return
    if activation == "tanh":
        np.tanh(buf, out=buf)
        return
    if scratch is None:
        scratch = np.empty_like(buf)
    if activation == "leaky_relu":
        np.multiply(buf, t(alpha), out=scratch)
        (np.maximum if alpha <= 1 else np.minimum)(buf, scratch, out=buf)
    elif activation == "gelu":
        np.multiply(buf, t(_SQRT_HALF), out=scratch)
        _erf(scratch, out=scratch)
        scratch += t(1)
        buf *= scratch
        buf *= t(0.5)
    elif activation == "gelu_tanh":
        np.multiply(buf, buf, out=scratch)
        scratch *= t(0.044715)
        scratch += t(1)
        scratch *= buf
        scratch *= t(_SQRT_2_OVER_PI)
        np.tanh(scratch, out=scratch)
        scratch += t(1)
        buf *= scratch
        buf *= t(0.5)
    elif activation == "swish":
        np.multiply(buf, t(alpha), out=scratch)
        _expit(scratch, out=scratch)
        buf *= scratch
    elif activation == "hard_swish":
        np.multiply(buf, t(1 / 6), out=scratch)
        scratch += t(0.5)
        np.clip(scratch, t(0), t(1), out=scratch)
        buf *= scratch
    else:
        raise ValueError(f"unknown activation {activation!r}; known: {', '.join(ACTIVATIONS)}")


def _epilogue(out: np.ndarray, bias, residual, activation, alpha, clip_min, clip_max,
              rows: int, bias_rows: bool) -> None:
    """Bias, residual and activation on `out` in place.

    `out` is C-contiguous and seen as [rows, cols]. A bias is either per column
    (broadcast along rows: a matmul bias [N]) or, with `bias_rows`, per row (a
    conv bias repeated over the images). A residual of the result's shape is
    sliced with the blocks; one that broadcasts is added in one pass first."""
    if out.size == 0:
        return
    cols = out.size // rows
    o2 = out.reshape(rows, cols)
    b2 = None
    if bias is not None:
        b2 = bias.reshape(-1, 1) if bias_rows else bias.reshape(1, -1)
        if b2.shape[0] != 1 and b2.shape[0] != rows or b2.shape[1] not in (1, cols):
            out += bias   # an unusual broadcast: one pass
            b2 = None
    r2 = None
    if residual is not None:
        if residual.shape == out.shape:
            r2 = residual.reshape(rows, cols)
        else:
            out += residual
    if activation == "gelu" and out.dtype in (np.float32, np.float64) \
            and out.flags.c_contiguous:
        # the compiled GELU runs over the whole buffer after the adds (see dense_numba);
        # adds already made above as one broadcast pass are not repeated
        _epilogue(out, bias if b2 is not None else None, residual if r2 is not None else None,
                  "none", alpha, clip_min, clip_max, rows, bias_rows)
        from .dense_numba import gelu_inplace
        gelu_inplace(out)
        return
    step = max(1, BLOCK // max(1, cols))
    scratch = None
    if activation not in ("none", "relu", "clip", "sigmoid", "tanh"):
        scratch = np.empty((min(step, rows), cols), dtype=out.dtype)
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        blk = o2[r0:r1]
        if b2 is not None:
            blk += b2 if b2.shape[0] == 1 else b2[r0:r1]
        if r2 is not None:
            blk += r2[r0:r1]
        activate(blk, activation, alpha, clip_min, clip_max,
                 None if scratch is None else scratch[:r1 - r0])


def _split_epilogue(operands, has_bias: bool, residual: bool):
    rest = list(operands)
    bias = rest.pop(0) if has_bias else None
    res = rest.pop(0) if residual else None
    return bias, res


@kernel("fused.conv2d_epilogue")
def conv2d_epilogue(x, w, *operands, strides, pads, dilations, groups, activation, alpha,
                    clip_min, clip_max, has_bias, residual, shortcut, shortcut_has_bias,
                    shortcut_strides, shortcut_pads, shortcut_dilations, shortcut_groups,
                    pool_kernel, pool_strides, pool_pads, pool_ceil_mode):
    rest = list(operands)
    bias = rest.pop(0) if has_bias else None
    res = rest.pop(0) if residual else None
    sc_cols = None
    if shortcut:
        sx, sw = rest.pop(0), rest.pop(0)
        sbias = rest.pop(0) if shortcut_has_bias else None
        if sw.shape[2:] == (1, 1) and shortcut_groups == 1 and not any(shortcut_pads):
            # a 1x1 shortcut (ResNet's projection) is computed block by block in the
            # epilogue: W_s[rows] @ x_s[:, positions], never as a whole temporary
            ssh, ssw = shortcut_strides
            xs = _wide(sx)[:, :, ::ssh, ::ssw]
            sc_cols = xs.reshape(xs.shape[0], xs.shape[1], -1)
            sc_w = _wide(sw).reshape(sw.shape[0], sw.shape[1]).astype(sc_cols.dtype, copy=False)
            sc_b = None if sbias is None else _wide(sbias).reshape(-1, 1)
        else:   # any other shortcut: the second convolution whole, added like a residual
            res = conv2d_output(sx, sw, shortcut_strides, shortcut_pads, shortcut_dilations,
                                shortcut_groups, bias=sbias)
    flat_res = None
    if res is not None:
        res = _wide(res)
        full = res.ndim == 4 and res.shape[:2] == (x.shape[0], w.shape[0])
        flat_res = res.reshape(res.shape[0], res.shape[1], -1) if full else None
    clamp = None
    if res is None and sc_cols is None and activation in ("none", "relu", "clip"):
        clamp = {"none": (-math.inf, math.inf), "relu": (0.0, math.inf),
                 "clip": (clip_min, clip_max)}[activation]
    scratch: dict[tuple, np.ndarray] = {}

    def epilogue(block: np.ndarray, img: int, c0: int, p0: int) -> None:
        rows, cols = block.shape
        if flat_res is not None:
            block += flat_res[img, c0:c0 + rows, p0:p0 + cols]
        if sc_cols is not None:
            key = ("shortcut", rows, cols)
            if key not in scratch:
                scratch[key] = np.empty((rows, cols), dtype=block.dtype)
            tmp = scratch[key]
            np.matmul(sc_w[c0:c0 + rows], sc_cols[img, :, p0:p0 + cols], out=tmp)
            block += tmp
            if sc_b is not None:
                block += sc_b[c0:c0 + rows]
        if activation != "none":
            if block.shape not in scratch and activation not in ("relu", "clip", "sigmoid",
                                                                 "tanh"):
                scratch[block.shape] = np.empty(block.shape, dtype=block.dtype)
            activate(block, activation, alpha, clip_min, clip_max, scratch.get(block.shape))

    needs_block = (flat_res is not None or sc_cols is not None or activation != "none") and \
        (res is None or flat_res is not None)
    out = conv2d_output(x, w, strides, pads, dilations, groups, bias=bias,
                        epilogue=epilogue if needs_block else None, clamp=clamp)
    if res is not None and flat_res is None:      # a residual that broadcasts: after
        out += res
        activate(out, activation, alpha, clip_min, clip_max)
    if pool_kernel:
        out = maxpool2d(out, kernel=pool_kernel, strides=pool_strides, pads=pool_pads,
                        dilations=[1, 1], ceil_mode=pool_ceil_mode)
    return out.astype(x.dtype, copy=False)


@kernel("fused.matmul_epilogue")
def matmul_epilogue(a, b, *operands, activation, alpha, clip_min, clip_max, has_bias,
                    residual):
    bias, res = _split_epilogue(operands, has_bias, residual)
    result = np.asarray(matmul_2d_weight(_wide(a), _wide(b)))
    out = result.reshape(1) if result.ndim == 0 else result   # a 1-D @ 1-D dot product
    if bias is not None:
        bias = _wide(bias)
        per_column = bias.size == out.shape[-1] and all(d == 1 for d in bias.shape[:-1])
        if not per_column:
            out += bias      # any other broadcast: one pass
            bias = None
    if res is not None:
        res = _wide(res)
        if res.size == out.size:
            res = res.reshape(out.shape)
    rows = prod(out.shape[:-1]) if out.ndim > 1 else 1
    _epilogue(out, bias, res, activation, alpha, clip_min, clip_max, rows, False)
    return out.reshape(result.shape).astype(a.dtype, copy=False)


# -- fused.elementwise ---------------------------------------------------------------

def _binary(ufunc):
    return lambda args, out, params, scratch: ufunc(args[0], args[1], out=out)


def _unary(fn):
    return lambda args, out, params, scratch: fn(args[0], out=out)


def _activation_fn(name):
    def run(args, out, params, scratch):
        if out is not args[0]:
            np.copyto(out, args[0])
        if name == "leaky_relu":
            activate(out, name, alpha=params[0], scratch=scratch)
        elif name == "swish":
            activate(out, name, alpha=params[0], scratch=scratch)
        elif name == "clip":
            activate(out, name, clip_min=params[0], clip_max=params[1])
        else:
            activate(out, name, scratch=scratch)
    return run


def _relu(args, out, params, scratch):
    np.clip(args[0], out.dtype.type(0), out.dtype.type(math.inf), out=out)


def _reciprocal(args, out, params, scratch):
    np.divide(out.dtype.type(1), args[0], out=out)


def _softplus(args, out, params, scratch):
    np.logaddexp(out.dtype.type(0), args[0], out=out)


def _hard_sigmoid(args, out, params, scratch):
    t = out.dtype.type
    np.multiply(args[0], t(params[0]), out=out)
    out += t(params[1])
    np.maximum(out, t(0), out=out)
    np.minimum(out, t(1), out=out)


# Each entry runs one program step: fn(tensor args, out buffer, literal params, scratch).
_STEP_FNS = {
    "add": _binary(np.add), "sub": _binary(np.subtract), "mul": _binary(np.multiply),
    "div": _binary(np.divide), "max": _binary(np.maximum), "min": _binary(np.minimum),
    "pow": _binary(np.power),
    "neg": _unary(np.negative), "abs": _unary(np.absolute), "exp": _unary(np.exp),
    "log": _unary(np.log), "sqrt": _unary(np.sqrt), "erf": _unary(_erf), "tanh": _unary(np.tanh),
    "sin": _unary(np.sin), "cos": _unary(np.cos), "sigmoid": _unary(_expit),
    "relu": _relu, "reciprocal": _reciprocal, "softplus": _softplus,
    "hard_sigmoid": _hard_sigmoid,
    "gelu": _activation_fn("gelu"), "gelu_tanh": _activation_fn("gelu_tanh"),
    "swish": _activation_fn("swish"), "hard_swish": _activation_fn("hard_swish"),
    "leaky_relu": _activation_fn("leaky_relu"), "clip": _activation_fn("clip"),
}
_TENSOR_ARGS = {"add": 2, "sub": 2, "mul": 2, "div": 2, "max": 2, "min": 2, "pow": 2}
_NEEDS_SCRATCH = {"gelu", "gelu_tanh", "swish", "hard_swish", "leaky_relu"}


@lru_cache(maxsize=256)
def _compile(program: str):
    """(steps, last use of each step's value): steps are (fn, tensor args, params)."""
    steps = []
    for i, part in enumerate(p for p in program.split(";") if p.strip()):
        lhs, rhs = part.split("=", 1)
        fn, rest = rhs.strip().split("(", 1)
        fn = fn.strip()
        raw = [a.strip() for a in rest.rsplit(")", 1)[0].split(",") if a.strip()]
        ntensor = _TENSOR_ARGS.get(fn, 1)
        args = []
        for a in raw[:ntensor]:
            if a[0] in "xv" and a[1:].isdigit():
                args.append((a[0], int(a[1:])))
            else:
                args.append(("lit", float(a)))
        params = tuple(float(a) for a in raw[ntensor:])
        if fn not in _STEP_FNS:
            raise ValueError(f"unknown function {fn!r} in elementwise program")
        steps.append((fn, tuple(args), params))
    last = {}
    for i, (_, args, _) in enumerate(steps):
        for kind, k in args:
            if kind == "v":
                last[k] = i
    return steps, last


def _blocking(out_shape, shapes):
    """(k, rows): split the result into blocks over its first k dims (flattened to `rows`),
    or k = 0 when some operand is neither full nor all ones over those dims."""
    nd = len(out_shape)
    padded = [(1,) * (nd - len(s)) + tuple(s) for s in shapes]
    for k in range(nd - 1, 0, -1):
        lead = tuple(out_shape[:k])
        if all(p[:k] == lead or all(d == 1 for d in p[:k]) for p in padded):
            return k, prod(lead), padded
    return 0, 1, padded


@kernel("fused.elementwise")
def elementwise(*inputs, program):
    steps, last = _compile(program)
    dtype = np.dtype(np.float32) if inputs[0].dtype == np.float16 else inputs[0].dtype
    xs = [np.asarray(x, dtype=dtype) if x.dtype != dtype else x for x in inputs]
    out_shape = np.broadcast_shapes(*(x.shape for x in xs))
    out = np.empty(out_shape, dtype=dtype)
    k, rows, padded = _blocking(out_shape, [x.shape for x in xs])
    inner = out_shape[k:]
    step = max(1, BLOCK // max(1, prod(inner))) if k else rows
    if k:
        views = [x.reshape((rows if p[:k] == tuple(out_shape[:k]) else 1,) + p[k:])
                 for x, p in zip(xs, padded)]
        o2 = out.reshape((rows,) + tuple(inner))
    else:
        views, o2 = xs, out
    for r0 in range(0, rows, step):
        r1 = min(rows, r0 + step)
        if k:
            ins = [v[r0:r1] if v.shape[0] == rows and rows > 1 else v for v in views]
            dst = o2[r0:r1]
        else:
            ins, dst = views, o2
        _run_program(steps, last, ins, dst)
    return out.astype(inputs[0].dtype, copy=False)


def _run_program(steps, last, ins, dst) -> None:
    """Evaluate `steps` on the block operands `ins`, the last step into `dst`."""
    dtype = dst.dtype
    regs: dict[int, np.ndarray] = {}
    free: dict[tuple, list[np.ndarray]] = {}
    owned: set[int] = set()     # ids of buffers this block allocated (never an input)
    scratches: dict[tuple, np.ndarray] = {}
    final = len(steps) - 1
    for i, (fn, args, params) in enumerate(steps):
        vals = []
        for kind, k in args:
            if kind == "x":
                vals.append(ins[k])
            elif kind == "v":
                vals.append(regs[k])
            else:
                vals.append(dtype.type(k))
        shape = np.broadcast_shapes(*(np.shape(v) for v in vals))
        # values whose last use is this step give their buffers back first
        for kind, k in args:
            if kind == "v" and last.get(k) == i and k in regs:
                buf = regs.pop(k)
                if id(buf) in owned:
                    free.setdefault(buf.shape, []).append(buf)
        if i == final and shape == dst.shape:
            out = dst
        elif free.get(shape):
            out = free[shape].pop()
        else:
            out = np.empty(shape, dtype=dtype)
            owned.add(id(out))
        scratch = None
        if fn in _NEEDS_SCRATCH:
            if shape not in scratches:
                scratches[shape] = np.empty(shape, dtype=dtype)
            scratch = scratches[shape]
        with np.errstate(all="ignore"):
            _STEP_FNS[fn](vals, out, params, scratch)
        regs[i] = out
    if regs[final] is not dst:
        np.copyto(dst, regs[final])


# -- fused.masked_softmax ------------------------------------------------------------

@kernel("fused.masked_softmax")
def masked_softmax(x, mask=None, *, axis, scale, mask_mode, fill):
    xf = _wide(x)
    t = xf.dtype.type
    out = np.multiply(xf, t(scale)) if scale != 1.0 else xf.copy()
    if mask_mode == "add":
        out += _wide(mask)
    elif mask_mode == "select":
        np.copyto(out, t(fill), where=~mask)
    with np.errstate(invalid="ignore", over="ignore"):
        out -= np.max(out, axis=axis, keepdims=True)
        np.exp(out, out=out)
        out /= np.sum(out, axis=axis, keepdims=True)
    return out.astype(x.dtype, copy=False)
