"""Converters for ONNX ops that are compositions of existing registry ops.

No new registry op is needed for these; each converter spells the ONNX
definition in ops wsc already has (so the fuser and the kernels see ordinary
elementwise, reduction and movement ops):

- Celu: alpha * elu(x / alpha);
- SwiGLU: swish(a, alpha) * b;
- LpNormalization: x / ||x||_p along an axis (0 where the norm is 0);
- MeanVarianceNormalization: (x - mean) / (std + 1e-9) over `axes`;
- CenterCropPad: a centered slice where a dim shrinks, a centered zero pad
  where it grows;
- Upsample (opset 7-9): a nearest/linear `tensor.resize` with asymmetric
  coordinates;
- AffineGrid: a constant base grid times theta^T;
- MaxUnpool: a scatter into zeros (as onnx's reference, a larger
  `output_shape` pads at the end; onnxruntime reads the indices differently);
- TensorScatter: a scatter_elements at write index + iota (mod the cache
  length when circular);
- Compress: a gather at the positions a compile-time condition selects;
  NonZero: a constant, of a compile-time input (the count is the result's
  shape: data-dependent shapes have no place in wsc's static graphs).
"""
from __future__ import annotations

import numpy as np

from .registry import converter


def _scalar(n, value, like, hint: str):
    return n.constant(np.asarray(value, dtype=like.type.np_dtype), hint)


@converter("Celu", since=12)
def celu(n):
    x = n.input(0)
    alpha = float(n.attr("alpha", 1.0))
    if alpha == 0:
        n.fail("alpha must be nonzero (Celu divides by it)")
    a = _scalar(n, alpha, x, "alpha")
    return n.op("math.mul", [n.op("nn.elu", [n.op("math.div", [x, a])]), a])


@converter("SwiGLU", since=28)
def swiglu(n):
    a, b = n.input(0), n.input(1)
    if a.type.shape != b.type.shape:
        n.fail(f"A {a.type} and B {b.type} must have the same shape (SwiGLU does not broadcast)")
    gate = n.op("nn.swish", [a], {"alpha": float(n.attr("alpha", 1.0))})
    return n.op("math.mul", [gate, b])


@converter("LpNormalization", since=1)
def lp_normalization(n):
    x = n.input(0)
    p = int(n.attr("p", 2))
    if p not in (1, 2):
        n.fail(f"p={p} is not supported (LpNormalization takes p = 1 or 2)")
    axis = int(n.attr("axis", -1))
    if not -x.type.rank <= axis < x.type.rank:
        n.fail(f"axis {axis} is out of range for {x.type}")
    reduce = "math.reduce_l1" if p == 1 else "math.reduce_l2"
    norm = n.op(reduce, [x], {"axes": [axis % x.type.rank], "keepdims": True})
    zero = _scalar(n, 0, x, "zero")
    is_zero = n.op("logic.equal", [norm, zero])
    safe = n.op("logic.where", [is_zero, _scalar(n, 1, x, "one"), norm])
    return n.op("logic.where", [is_zero, zero, n.op("math.div", [x, safe])])


@converter("MeanVarianceNormalization", since=9)
def mean_variance_normalization(n):
    x = n.input(0)
    axes = [int(a) for a in n.attr("axes", [0, 2, 3])]
    if any(not -x.type.rank <= a < x.type.rank for a in axes):
        n.fail(f"axes {axes} are out of range for {x.type}")
    axes = sorted(a % x.type.rank for a in axes)
    mean = n.op("math.reduce_mean", [x], {"axes": axes, "keepdims": True})
    mean_sq = n.op("math.reduce_mean", [n.op("math.mul", [x, x])],
                   {"axes": axes, "keepdims": True})
    var = n.op("math.sub", [mean_sq, n.op("math.mul", [mean, mean])])
    std = n.op("math.add", [n.op("math.sqrt", [var]), _scalar(n, 1e-9, x, "eps")])
    return n.op("math.div", [n.op("math.sub", [x, mean]), std])


@converter("CenterCropPad", since=18)
def center_crop_pad(n):
    x = n.input(0)
    rank = x.type.rank
    target = n.require_ints(1, "target shape")
    axes = [int(a) for a in n.attr("axes", list(range(rank)))]
    if len(axes) != len(target) or any(not -rank <= a < rank for a in axes):
        n.fail(f"the target shape {target} must give one size per axis of {axes} (dims of "
               f"{x.type})")
    starts, ends, cut_axes = [], [], []
    pads = [0] * (2 * rank)
    for a, want in zip((a % rank for a in axes), target):
        have = x.type.shape[a]
        if not isinstance(have, int):
            n.fail(f"dim {a} of {x.type} must be static to crop or pad it",
                   hint="fix the input dims with --input-shape")
        if want < have:      # crop: the extra element of an odd difference goes at the end
            begin = (have - want) // 2
            starts.append(begin)
            ends.append(begin + want)
            cut_axes.append(a)
        elif want > have:    # pad with zeros, centered the same way
            pads[a] = (want - have) // 2
            pads[rank + a] = want - have - pads[a]
    if cut_axes:
        x = n.op("tensor.slice", [x], {"starts": starts, "ends": ends, "axes": cut_axes})
    if any(pads):
        x = n.op("tensor.pad", [x], {"pads": pads})
    return x


@converter("Upsample", since=7)
def upsample(n):
    x = n.input(0)
    rank = x.type.rank
    if n.opset >= 9:
        scales = n.const(1)
        if scales is None:
            n.fail("the scales (input 1) must be known at compile time",
                   hint="make it an initializer or a Constant")
        scales = [float(s) for s in np.asarray(scales).reshape(-1)]
    else:
        scales = [float(s) for s in n.attr("scales")]
    if len(scales) != rank:
        n.fail(f"scales {scales} must have one entry per dim of {x.type}")
    mode = n.attr("mode", "nearest")
    if mode not in ("nearest", "linear", "bilinear"):
        n.fail(f"mode {mode!r} is not one of nearest, linear")
    sizes = []
    for d, s in zip(x.type.shape, scales):
        if s == 1.0:
            sizes.append(-1)
        elif isinstance(d, int):
            sizes.append(int(np.floor(d * s)))
        else:
            n.fail(f"upsampling the symbolic dim {d!r} of {x.type}",
                   hint="fix the input dims with --input-shape")
    return n.op("tensor.resize", [x], {
        "sizes": sizes, "scales": scales, "mode": "nearest" if mode == "nearest" else "linear",
        "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"})



@converter("AffineGrid", since=20)
def affine_grid(n):
    """grid[n, pixel] = theta[n] @ (x, y[, z], 1) of the pixel's normalized position: one
    matmul of a constant [pixels, k + 1] base grid by theta^T."""
    theta = n.input(0)
    size = n.require_ints(1, "size")
    k = len(size) - 2
    if k not in (2, 3) or theta.type.rank != 3 or theta.type.shape[1:] != (k, k + 1):
        n.fail(f"theta must be [N, {k}, {k + 1}] for a size of {len(size)} dims "
               f"(2-D or 3-D images), got {theta.type} and size {size}")
    spatial = size[2:]
    align = bool(n.attr("align_corners", 0))
    axes = []
    for d in spatial:   # pixel centers in [-1, 1]
        if align:
            axes.append(np.linspace(-1.0, 1.0, d) if d > 1 else np.zeros(1))
        else:
            axes.append((2 * np.arange(d) + 1) / d - 1)
    mesh = np.meshgrid(*axes, indexing="ij")       # D, H, W order
    coords = [m.reshape(-1) for m in reversed(mesh)]  # x (along W) first
    base = np.stack(coords + [np.ones_like(coords[0])], axis=1).astype(theta.type.np_dtype)
    theta_t = n.op("tensor.transpose", [theta], {"perm": [0, 2, 1]})
    grid = n.op("nn.matmul", [n.constant(base, "base_grid"), theta_t])   # [N, pixels, k]
    return n.op("tensor.reshape", [grid], {"shape": [size[0], *spatial, k]})


@converter("MaxUnpool", since=9)
def max_unpool(n):
    """Scatter x to the flat positions MaxPool recorded in `indices` (positions in the
    unpooled size the pooling attributes give), zeros elsewhere; a larger `output_shape`
    adds zeros at the end of each dim."""
    x, idx = n.input(0), n.input(1)
    nd = x.type.rank - 2
    if nd < 1 or not x.type.is_static:
        n.fail(f"the input must be [N, C, spatial...] with static sizes, got {x.type}")
    kernel = [int(k) for k in n.attr("kernel_shape")]
    strides = [int(s) for s in n.attr("strides", [1] * nd)]
    pads = [int(p) for p in n.attr("pads", [0] * (2 * nd))]
    shape = list(x.type.shape[:2]) + [
        (x.type.shape[2 + i] - 1) * strides[i] - pads[i] - pads[nd + i] + kernel[i]
        for i in range(nd)]
    zeros = n.constant(np.zeros(int(np.prod(shape)), dtype=x.type.np_dtype), "unpooled")
    flat_idx = n.op("tensor.reshape", [idx], {"shape": [-1]})
    flat_x = n.op("tensor.reshape", [x], {"shape": [-1]})
    out = n.op("tensor.scatter_elements", [zeros, flat_idx, flat_x], {"axis": 0})
    out = n.op("tensor.reshape", [out], {"shape": shape})
    if n.has_input(2):
        want = n.require_ints(2, "output shape")
        if len(want) != len(shape) or any(w < s for w, s in zip(want, shape)):
            n.fail(f"output_shape {want} must be at least the unpooled shape {shape}")
        if want != shape:
            out = n.op("tensor.pad", [out], {"pads": [0] * len(shape) +
                                             [w - s for w, s in zip(want, shape)]})
    return out


@converter("TensorScatter", since=24)
def tensor_scatter(n):
    """Write `update` into the cache along `axis` at write_indices[b] + 0, 1, ... (modulo the
    cache length when circular): one scatter_elements with the positions built from the
    write indices and an iota."""
    past, update, where = n.input(0), n.input(1), n.optional_input(2)
    rank = past.type.rank
    axis = int(n.attr("axis", -2))
    if not -rank <= axis < rank or axis % rank == 0:
        n.fail(f"axis {axis} must be a dim of {past.type} other than the batch dim 0")
    axis %= rank
    mode = n.attr("mode", "linear")
    if mode not in ("linear", "circular"):
        n.fail(f"mode={mode!r} is not one of 'linear', 'circular'")
    if not update.type.is_static or not isinstance(past.type.shape[axis], int):
        n.fail(f"the update {update.type} and the cache length of {past.type} must be static",
               hint="fix the input dims with --input-shape")
    steps = np.arange(update.type.shape[axis], dtype=np.int64).reshape(
        [-1 if d == axis else 1 for d in range(rank)])
    pos = n.constant(steps, "positions")
    if where is not None:
        start = n.op("tensor.reshape", [n.op("math.cast", [where], {"to": "i64"})],
                     {"shape": [-1] + [1] * (rank - 1)})
        pos = n.op("math.add", [start, pos])
    if mode == "circular":
        length = n.constant(np.array(past.type.shape[axis], dtype=np.int64), "cache_length")
        pos = n.op("math.mod", [pos, length])
    pos = n.op("tensor.expand", [pos], {"shape": list(update.type.shape)})
    return n.op("tensor.scatter_elements", [past, pos, update], {"axis": axis})


@converter("Compress", since=9)
def compress(n):
    """The entries whose condition is true, along `axis` (or of the flattened input): a gather
    at the positions of a compile-time condition."""
    x = n.input(0)
    cond = n.const(1)
    if cond is None:
        n.fail("the condition (input 1) must be known at compile time (it decides the result's "
               "shape)", hint="make it a constant, or specialize the model for it")
    keep = np.flatnonzero(np.asarray(cond).reshape(-1).astype(bool)).astype(np.int64)
    if n.has_attr("axis"):
        axis = int(n.attr("axis"))
        if not -x.type.rank <= axis < x.type.rank:
            n.fail(f"axis {axis} is out of range for {x.type}")
        axis %= x.type.rank
    else:
        x, axis = n.op("tensor.reshape", [x], {"shape": [-1]}), 0
    dim = x.type.shape[axis]
    if keep.size and isinstance(dim, int) and keep[-1] >= dim:
        n.fail(f"the condition selects entry {keep[-1]} of a dim of size {dim}")
    return n.op("tensor.gather", [x, n.constant(keep, "kept")], {"axis": axis})


@converter("NonZero", since=9)
def non_zero(n):
    """The indices [rank, count] of the nonzero entries: only of a compile-time tensor, since
    the count is the result's shape."""
    data = n.const(0)
    if data is None:
        n.fail("the input (input 0) must be known at compile time (its number of nonzero "
               "entries is the result's shape)",
               hint="wsc compiles static shapes; specialize the model for this input")
    return n.constant(np.array(np.nonzero(np.asarray(data)), dtype=np.int64).reshape(
        np.ndim(data), -1))
