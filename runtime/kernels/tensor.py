"""Data-movement and shape kernels (numpy): reshape, transpose, concat, slice, pad, resize...
plus the two arithmetic kernels of the ONNX tensor family (cumsum, einsum).

Results may be views of their input; kernels never write into their inputs.
Kernels of ops with a `like` operand read the sizes that `like_dims` names from
its actual shape (see `compiler/ops/tensor.py`).
"""
from __future__ import annotations

from math import prod

import numpy as np

from ..dtypes import DTYPES
from .registry import kernel


@kernel("tensor.reshape")
def reshape(x, like=None, *, shape, allowzero, like_dims):
    # Sizes named by like_dims come from `like`; 0 copies the input dim (ONNX
    # convention) unless allowzero; numpy handles the one inferred -1.
    target = [like.shape[j] if like_dims and j >= 0 else
              (x.shape[i] if d == 0 and not allowzero else d)
              for i, (d, j) in enumerate(zip(shape, like_dims or [-1] * len(shape)))]
    return np.reshape(x, target)


@kernel("tensor.flatten")
def flatten(x, *, axis):
    axis = axis + x.ndim if axis < 0 else axis
    # Explicit sizes, not -1: a zero-size outer part would make -1 ambiguous.
    return np.reshape(x, (prod(x.shape[:axis]), prod(x.shape[axis:])))


@kernel("tensor.transpose")
def transpose(x, *, perm):
    return np.transpose(x, perm or None)


@kernel("tensor.concat")
def concat(*inputs, axis):
    return np.concatenate(inputs, axis=axis)


def _onnx_slice(dim: int, start: int, end: int, step: int) -> slice:
    """ONNX Slice bounds for one dim as a Python slice.

    Negative indices count from the end once and are then clamped (to [0, dim]
    going forward, to [0, dim-1] for the start and [-1, dim-1] for the end going
    backward). Python's own slice clamps differently for negative steps, and
    its end -1 would mean the last element, so "through index 0" becomes None.
    """
    if start < 0:
        start += dim
    if end < 0:
        end += dim
    if step > 0:
        return slice(min(max(start, 0), dim), min(max(end, 0), dim), step)
    start = min(max(start, 0), dim - 1)
    end = min(max(end, -1), dim - 1)
    return slice(start, None if end < 0 else end, step)


@kernel("tensor.slice")
def slice_(x, *, starts, ends, axes, steps):
    axes = axes or range(len(starts))
    steps = steps or [1] * len(starts)
    index = [slice(None)] * x.ndim
    for a, s, e, st in zip(axes, starts, ends, steps):
        index[a] = _onnx_slice(x.shape[a], s, e, st)
    return x[tuple(index)]


# -- squeeze / unsqueeze / expand / tile --------------------------------------------------

@kernel("tensor.squeeze")
def squeeze(x, *, axes):
    return np.squeeze(x, axis=tuple(axes)) if axes else x


@kernel("tensor.unsqueeze")
def unsqueeze(x, *, axes):
    return np.expand_dims(x, tuple(axes)) if axes else x


def _like_target(shape, like_dims, like) -> list[int]:
    if not like_dims:
        return list(shape)
    return [like.shape[j] if j >= 0 else d for d, j in zip(shape, like_dims)]


@kernel("tensor.expand")
def expand(x, like=None, *, shape, like_dims):
    target = _like_target(shape, like_dims, like)
    return np.broadcast_to(x, np.broadcast_shapes(x.shape, tuple(target)))


@kernel("tensor.tile")
def tile(x, *, repeats):
    return np.tile(x, repeats)


# -- pad ------------------------------------------------------------------------------------

@kernel("tensor.pad")
def pad(x, value=None, *, pads, mode):
    rank = x.ndim
    begins, ends = pads[:rank], pads[rank:]
    # Negative pads crop first (numpy.pad only grows).
    crop = tuple(slice(-b if b < 0 else 0, x.shape[i] + e if e < 0 else None)
                 for i, (b, e) in enumerate(zip(begins, ends)))
    x = x[crop]
    width = [(max(b, 0), max(e, 0)) for b, e in zip(begins, ends)]
    if mode == "constant":
        fill = 0 if value is None else np.asarray(value).reshape(-1)[0]
        return np.pad(x, width, mode="constant", constant_values=fill)
    return np.pad(x, width, mode=mode)  # numpy's reflect/edge/wrap are ONNX's


# -- depth_to_space / space_to_depth / reverse_sequence ----------------------------------------

@kernel("tensor.depth_to_space")
def depth_to_space(x, *, blocksize, mode):
    n, c, h, w = x.shape
    bs = blocksize
    if mode == "DCR":   # channel = (row-in-block, col-in-block, depth)
        t = x.reshape(n, bs, bs, c // (bs * bs), h, w).transpose(0, 3, 4, 1, 5, 2)
    else:               # CRD: channel = (depth, row-in-block, col-in-block)
        t = x.reshape(n, c // (bs * bs), bs, bs, h, w).transpose(0, 1, 4, 2, 5, 3)
    return t.reshape(n, c // (bs * bs), h * bs, w * bs)


@kernel("tensor.space_to_depth")
def space_to_depth(x, *, blocksize, mode):
    n, c, h, w = x.shape
    bs = blocksize
    t = x.reshape(n, c, h // bs, bs, w // bs, bs)
    if mode == "DCR":
        t = t.transpose(0, 3, 5, 1, 2, 4)
    else:
        t = t.transpose(0, 1, 3, 5, 2, 4)
    return t.reshape(n, c * bs * bs, h // bs, w // bs)


@kernel("tensor.reverse_sequence")
def reverse_sequence(x, lens, *, batch_axis, time_axis):
    xt = np.moveaxis(x, (time_axis, batch_axis), (0, 1))   # [T, B, ...]
    steps, batch = xt.shape[:2]
    t = np.arange(steps)[:, None]
    n = np.asarray(lens).astype(np.int64)[None, :]
    source = np.where(t < n, n - 1 - t, t)                 # [T, B]: the step to read
    out = xt[source, np.arange(batch)[None, :]]
    return np.moveaxis(out, (0, 1), (time_axis, batch_axis))


# -- shape, size, iota ------------------------------------------------------------------------

@kernel("tensor.shape")
def shape(x, *, start, end):
    rank = x.ndim
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    return np.array(x.shape[start:max(start, end)], dtype=np.int64)


@kernel("tensor.size")
def size(x):
    return np.array(x.size, dtype=np.int64)


@kernel("tensor.iota")
def iota(like, *, axis, dtype):
    return np.arange(like.shape[axis], dtype=DTYPES[dtype])


# -- resize -------------------------------------------------------------------------------------

def _resize_coords(mode: str, out_size: int, in_size: int, scale: float, roi: tuple):
    """Input coordinate of every result index along one dim (ONNX Resize's mapping)."""
    y = np.arange(out_size, dtype=np.float64)
    out_f = scale * in_size  # the unrounded result length the formulas use
    if mode == "half_pixel":
        return (y + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        offset = in_size / 2 * (1 - out_size / out_f)
        return offset + (y + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return np.full(out_size, -0.5) if out_f == 1 else (y + 0.5) / scale - 0.5
    if mode == "align_corners":
        return np.zeros(out_size) if out_f == 1 else y * (in_size - 1) / (out_f - 1)
    if mode == "asymmetric":
        return y / scale
    # tf_crop_and_resize: roi = (start, end) as fractions of the input
    lo, hi = roi
    if out_f == 1:
        x = np.full(out_size, (hi - lo) * (in_size - 1) / 2)
    else:
        x = y * (hi - lo) * (in_size - 1) / (out_f - 1)
    return x + lo * (in_size - 1)


def _cubic(d: np.ndarray, a: float) -> np.ndarray:
    """Keys' cubic convolution kernel at distances d."""
    d = np.abs(d)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


def _resize_taps(x_in: np.ndarray, in_size: int, scale: float, attrs: dict):
    """(indices [out, n], weights [out, n]) of the taps along one dim.

    The window of a coordinate x starts right of ``base = ceil(x) - 1``, so an
    exact integer x sits at the window's right half (ONNX's ratio in (0, 1]).
    """
    base = np.ceil(x_in) - 1
    ratio = x_in - base
    mode = attrs["mode"]
    if mode == "nearest":
        rule = attrs["nearest_mode"]
        right = {"round_prefer_floor": ratio > 0.5, "round_prefer_ceil": ratio >= 0.5,
                 "floor": ratio == 1, "ceil": np.ones_like(ratio, dtype=bool)}[rule]
        idx = (base + right).astype(np.int64)[:, None]
        return np.clip(idx, 0, in_size - 1), np.ones(idx.shape)
    # Linear and cubic: a kernel evaluated at the tap distances. Antialiasing
    # (downsampling only) stretches the kernel by 1/scale and normalizes it.
    reach = 1 if mode == "linear" else 2
    s = min(scale, 1.0) if attrs["antialias"] else 1.0
    first = int(np.floor(-reach / s)) + 1     # window offset from base
    n = 2 - 2 * first
    idx = base[:, None].astype(np.int64) + first + np.arange(n)[None, :]
    dist = (idx - x_in[:, None]) * s
    if mode == "linear":
        w = np.clip(1 - np.abs(dist), 0, None)
    else:
        w = _cubic(dist, attrs["cubic_coeff_a"])
    if attrs["antialias"]:
        w = w / w.sum(axis=1, keepdims=True)
    if attrs["exclude_outside"]:
        w = np.where((idx < 0) | (idx >= in_size), 0.0, w)
        total = w.sum(axis=1, keepdims=True)
        w = w / np.where(total == 0, 1.0, total)
    return np.clip(idx, 0, in_size - 1), w


@kernel("tensor.resize")
def resize(x, *, sizes, scales, roi, mode, coordinate_transformation_mode, nearest_mode,
           cubic_coeff_a, exclude_outside, extrapolation_value, antialias):
    attrs = dict(mode=mode, nearest_mode=nearest_mode, cubic_coeff_a=cubic_coeff_a,
                 exclude_outside=exclude_outside, antialias=antialias)
    rank = x.ndim
    crop = coordinate_transformation_mode == "tf_crop_and_resize"
    out = x.astype(np.float64) if mode != "nearest" else x
    for axis in range(rank):
        in_size, out_size, scale = x.shape[axis], sizes[axis], scales[axis]
        axis_roi = (roi[axis], roi[rank + axis]) if roi else (0.0, 1.0)
        if out_size == -1 or (out_size == in_size and scale == 1.0 and
                              (not crop or axis_roi == (0.0, 1.0))):
            continue  # an identity along this dim
        coords = _resize_coords(coordinate_transformation_mode, out_size, in_size, scale,
                                axis_roi)
        idx, w = _resize_taps(coords, in_size, scale, attrs)
        if mode == "nearest":
            out = np.take(out, idx[:, 0], axis=axis)
        else:
            shape = (1,) * axis + (out_size,) + (1,) * (rank - axis - 1)
            out = sum(np.take(out, idx[:, j], axis=axis) * w[:, j].reshape(shape)
                      for j in range(idx.shape[1]))
        if crop:
            outside = (coords < 0) | (coords > in_size - 1)
            if outside.any():
                shape = (1,) * axis + (out_size,) + (1,) * (rank - axis - 1)
                out = np.where(outside.reshape(shape), extrapolation_value, out)
    if out.dtype == x.dtype:
        return out
    if x.dtype.kind in "iu":  # round and saturate, as ONNX's reference does
        info = np.iinfo(x.dtype)
        return np.clip(np.round(out), info.min, info.max).astype(x.dtype)
    return out.astype(x.dtype)


# -- cumsum, einsum ----------------------------------------------------------------------------

@kernel("math.cumsum")
def cumsum(x, *, axis, exclusive, reverse):
    axis %= x.ndim
    data = np.flip(x, axis) if reverse else x
    out = np.cumsum(data, axis=axis, dtype=x.dtype)
    if exclusive and x.shape[axis]:
        # Shift by one so each sum leaves out its own element (no subtraction: exact).
        first = np.zeros_like(np.take(out, [0], axis=axis))
        out = np.concatenate([first, np.take(out, np.arange(x.shape[axis] - 1), axis=axis)],
                             axis=axis)
    return np.flip(out, axis) if reverse else out


@kernel("nn.einsum")
def einsum(*inputs, equation):
    eq = equation.replace(" ", "")
    out = np.einsum(eq, *inputs, optimize=len(inputs) > 1)
    return np.asarray(out, dtype=inputs[0].dtype)
