"""Tensor and indexing kernels (movement, shapes, gather/scatter, resize...) against references.

`CASES` (merged by `tests/ops/test_registry.py`) has an entry for every op that
the tensor and indexing families added beyond the first few in
`test_op_kernels.py`. References are written element by element: Python loops
over output positions with the op's defining formula (the ONNX spec's), so
they share no code path with the vectorized kernels. Each case checks the
kernel against its reference, shape inference against the kernel's actual
result(s), and that the inputs are left untouched.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from test_op_kernels import F32, F64, Case, case, params, randint, randn, run_case

from compiler.errors import TypeCheckError
from compiler.ir.builder import infer_types
from compiler.ir.types import TensorType
from runtime.kernels import KERNELS

I64 = np.int64


def each_index(shape):
    return itertools.product(*[range(d) for d in shape])


# -- references ----------------------------------------------------------------------

def reshaped(shape):
    """Reference for squeeze/unsqueeze: the same elements in C order, new shape."""
    return lambda x: np.array(x.ravel().tolist(), dtype=x.dtype).reshape(shape)


def expand_ref(target):
    def ref(x, like=None):
        t = [like.shape[j] if j >= 0 else d for d, j in target] if like is not None else target
        rank = max(x.ndim, len(t))
        xs = (1,) * (rank - x.ndim) + x.shape
        ts = (1,) * (rank - len(t)) + tuple(t)
        out_shape = tuple(max(a, b) for a, b in zip(xs, ts))
        xr = x.reshape(xs)
        out = np.empty(out_shape, x.dtype)
        for pos in each_index(out_shape):
            out[pos] = xr[tuple(p if d > 1 else 0 for p, d in zip(pos, xs))]
        return out
    return ref


def tile_ref(reps):
    def ref(x):
        out = np.empty([d * r for d, r in zip(x.shape, reps)], x.dtype)
        for pos in each_index(out.shape):
            out[pos] = x[tuple(p % d for p, d in zip(pos, x.shape))]
        return out
    return ref


def _source_index(i: int, size: int, mode: str) -> int | None:
    """Where padded position i (relative to the input's start) reads from; None = fill."""
    if 0 <= i < size:
        return i
    if mode == "constant":
        return None
    if mode == "edge":
        return min(max(i, 0), size - 1)
    if mode == "wrap":
        return i % size
    period = 2 * (size - 1)        # reflect: ... 2 1 [0 1 2 3] 2 1 0 1 ...
    j = i % period
    return j if j < size else period - j


def pad_ref(pads, mode="constant"):
    def ref(x, value=None):
        rank = x.ndim
        fill = 0 if value is None else value.reshape(-1)[0]
        begins, ends = pads[:rank], pads[rank:]
        out_shape = [d + b + e for d, b, e in zip(x.shape, begins, ends)]
        out = np.empty(out_shape, x.dtype)
        for pos in each_index(out_shape):
            src = [_source_index(p - b, d, mode) for p, b, d in zip(pos, begins, x.shape)]
            out[pos] = fill if None in src else x[tuple(src)]
        return out
    return ref


def depth_to_space_ref(bs, mode):
    def ref(x):
        n, c, h, w = x.shape
        oc = c // (bs * bs)
        out = np.empty((n, oc, h * bs, w * bs), x.dtype)
        for b, ch, y, xx in each_index(out.shape):
            i, j = y % bs, xx % bs
            src = (i * bs + j) * oc + ch if mode == "DCR" else ch * bs * bs + i * bs + j
            out[b, ch, y, xx] = x[b, src, y // bs, xx // bs]
        return out
    return ref


def space_to_depth_ref(bs, mode):
    def ref(x):
        n, c, h, w = x.shape
        out = np.empty((n, c * bs * bs, h // bs, w // bs), x.dtype)
        for b, ch, y, xx in each_index(x.shape):
            i, j = y % bs, xx % bs
            dst = (i * bs + j) * c + ch if mode == "DCR" else ch * bs * bs + i * bs + j
            out[b, dst, y // bs, xx // bs] = x[b, ch, y, xx]
        return out
    return ref


def reverse_sequence_ref(batch_axis, time_axis):
    def ref(x, lens):
        out = x.copy()
        for pos in each_index(x.shape):
            b, t = pos[batch_axis], pos[time_axis]
            if t < lens[b]:
                src = list(pos)
                src[time_axis] = lens[b] - 1 - t
                out[pos] = x[tuple(src)]
        return out
    return ref


# Resize: a scalar, per-output-element reading of the ONNX spec. Each result
# index maps to an input coordinate; the interpolation takes the n input
# positions nearest that coordinate (ties to the lower one), edge-clamped.

def _coordinate(y, mode, scale, in_size, out_size, roi):
    out_f = scale * in_size
    if mode == "half_pixel":
        return (y + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return -0.5 if out_f == 1 else (y + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        return in_size / 2 * (1 - out_size / out_f) + (y + 0.5) / scale - 0.5
    if mode == "align_corners":
        return 0.0 if out_f == 1 else y * (in_size - 1) / (out_f - 1)
    if mode == "asymmetric":
        return y / scale
    lo, hi = roi
    base = (hi - lo) * (in_size - 1) / 2 if out_f == 1 else \
        y * (hi - lo) * (in_size - 1) / (out_f - 1)
    return base + lo * (in_size - 1)


def _keys(d, a):
    d = abs(d)
    if d <= 1:
        return (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1
    if d < 2:
        return a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a
    return 0.0


def _resize_1d(row, out_size, scale, roi, attrs):
    in_size = len(row)
    out = []
    for y in range(out_size):
        x = _coordinate(y, attrs["coordinate_transformation_mode"], scale, in_size,
                        out_size, roi)
        if attrs["coordinate_transformation_mode"] == "tf_crop_and_resize" and \
                not 0 <= x <= in_size - 1:
            out.append(attrs["extrapolation_value"])
            continue
        clamp = lambda i: min(max(i, 0), in_size - 1)  # noqa: E731
        if attrs["mode"] == "nearest":
            lo = math.floor(x)
            frac = x - lo
            pick = {"round_prefer_floor": lo + 1 if frac > 0.5 else lo,
                    "round_prefer_ceil": lo + 1 if frac >= 0.5 else lo,
                    "floor": lo, "ceil": math.ceil(x)}[attrs["nearest_mode"]]
            out.append(row[clamp(pick)])
            continue
        s = min(scale, 1.0) if attrs["antialias"] else 1.0
        reach = (1 if attrs["mode"] == "linear" else 2) / s
        n = 2 * math.floor(reach) + (0 if reach == math.floor(reach) else 2) \
            if attrs["antialias"] else (2 if attrs["mode"] == "linear" else 4)
        # the n nearest integer positions, ties to the lower one
        near = sorted(sorted(range(math.floor(x) - n, math.floor(x) + n + 2),
                             key=lambda i: (abs(i - x), i))[:n])
        if attrs["mode"] == "linear":
            weights = [max(0.0, 1 - abs((i - x) * s)) for i in near]
        else:
            weights = [_keys((i - x) * s, attrs["cubic_coeff_a"]) for i in near]
        if attrs["exclude_outside"]:
            weights = [w if 0 <= i < in_size else 0.0 for w, i in zip(weights, near)]
        total = sum(weights)
        if attrs["antialias"] or attrs["exclude_outside"]:
            weights = [w / total for w in weights]
        out.append(sum(w * row[clamp(i)] for w, i in zip(weights, near)))
    return out


def resize_ref(sizes, scales, roi=(), **kw):
    attrs = dict(mode="nearest", coordinate_transformation_mode="half_pixel",
                 nearest_mode="round_prefer_floor", cubic_coeff_a=-0.75,
                 exclude_outside=False, extrapolation_value=0.0, antialias=False)
    attrs.update(kw)

    def ref(x):
        data = x.astype(F64)
        rank = x.ndim
        for axis in range(rank):
            if sizes[axis] == -1:
                continue
            axis_roi = (roi[axis], roi[rank + axis]) if roi else (0.0, 1.0)
            data = np.apply_along_axis(
                lambda r: np.array(_resize_1d(list(r), sizes[axis], scales[axis], axis_roi,
                                              attrs)), axis, data)
        return data
    return ref


def cumsum_ref(axis, exclusive=False, reverse=False):
    def ref(x):
        out = np.zeros(x.shape, x.dtype)
        n = x.shape[axis]
        for pos in each_index(x.shape):
            i = pos[axis]
            idx = range(i + 1, n) if reverse else range(i)
            if not exclusive:
                idx = list(idx) + [i]
            total = 0
            for j in idx:
                src = list(pos)
                src[axis] = j
                total += x[tuple(src)].item()
            out[pos] = total
        return out
    return ref


def gather_ref(axis):
    def ref(x, idx):
        out = np.empty(x.shape[:axis] + idx.shape + x.shape[axis + 1:], x.dtype)
        for pos in each_index(out.shape):
            before, mid, after = pos[:axis], pos[axis:axis + idx.ndim], pos[axis + idx.ndim:]
            i = int(idx[mid])
            out[pos] = x[before + (i % x.shape[axis],) + after]
        return out
    return ref


def gather_elements_ref(axis):
    def ref(x, idx):
        out = np.empty(idx.shape, x.dtype)
        for pos in each_index(idx.shape):
            src = list(pos)
            src[axis] = int(idx[pos]) % x.shape[axis]
            out[pos] = x[tuple(src)]
        return out
    return ref


def gather_nd_ref(batch_dims=0):
    def ref(x, idx):
        k = idx.shape[-1]
        out_shape = idx.shape[:-1] + x.shape[batch_dims + k:]
        out = np.empty(out_shape, x.dtype)
        for pos in each_index(idx.shape[:-1]):
            row = [int(v) for v in idx[pos]]
            src = pos[:batch_dims] + tuple(r % x.shape[batch_dims + j] for j, r in enumerate(row))
            out[pos] = x[src]
        return out
    return ref


_COMBINE = {"none": lambda a, b: b, "add": lambda a, b: a + b, "mul": lambda a, b: a * b,
            "max": max, "min": min}


def scatter_elements_ref(axis, reduction="none"):
    def ref(x, idx, upd):
        out = x.copy()
        for pos in each_index(idx.shape):      # in order: the last duplicate wins
            dst = list(pos)
            dst[axis] = int(idx[pos]) % x.shape[axis]
            dst = tuple(dst)
            out[dst] = _COMBINE[reduction](out[dst].item(), upd[pos].item())
        return out
    return ref


def scatter_nd_ref(reduction="none"):
    def ref(x, idx, upd):
        out = x.copy()
        k = idx.shape[-1]
        for pos in each_index(idx.shape[:-1]):
            row = tuple(int(v) % x.shape[j] for j, v in enumerate(idx[pos]))
            for rest in each_index(x.shape[k:]):
                dst = row + rest
                out[dst] = _COMBINE[reduction](out[dst].item(), upd[pos + rest].item())
        return out
    return ref


def one_hot_ref(depth, axis):
    def ref(idx, values):
        rank = idx.ndim + 1
        ax = axis % rank
        out_shape = idx.shape[:ax] + (depth,) + idx.shape[ax:]
        out = np.empty(out_shape, values.dtype)
        for pos in each_index(out_shape):
            i = int(idx[pos[:ax] + pos[ax + 1:]])
            i = i + depth if i < 0 else i
            out[pos] = values[1] if i == pos[ax] else values[0]
        return out
    return ref


def arg_ref(largest, axis, keepdims=True, last=False):
    def ref(x):
        ax = axis % x.ndim
        moved = np.moveaxis(x, ax, -1)
        out = np.empty(moved.shape[:-1], I64)
        for pos in each_index(moved.shape[:-1]):
            row = moved[pos].tolist()
            best = max(row) if largest else min(row)
            hits = [i for i, v in enumerate(row) if v == best]
            out[pos] = hits[-1] if last else hits[0]
        return np.expand_dims(out, ax) if keepdims else out
    return ref


def topk_ref(k, axis, largest=True):
    def ref(x):
        ax = axis % x.ndim
        moved = np.moveaxis(x, ax, -1)
        vals = np.empty(moved.shape[:-1] + (k,), x.dtype)
        idxs = np.empty(moved.shape[:-1] + (k,), I64)
        for pos in each_index(moved.shape[:-1]):
            row = moved[pos].tolist()
            sign = -1 if largest else 1
            order = sorted(range(len(row)), key=lambda i: (sign * row[i], i))[:k]
            vals[pos] = [row[i] for i in order]
            idxs[pos] = order
        return np.moveaxis(vals, -1, ax), np.moveaxis(idxs, -1, ax)
    return ref


def trilu_ref(upper, k=0):
    def ref(x, kk=None):
        diag = int(kk) if kk is not None else k
        out = np.zeros_like(x)
        for pos in each_index(x.shape):
            i, j = pos[-2], pos[-1]
            keep = j - i >= diag if upper else j - i <= diag
            if keep:
                out[pos] = x[pos]
        return out
    return ref


# -- the table ---------------------------------------------------------------------------

_img = randn(2, 8, 3, 4)
_u8 = randint(0, 256, 1, 1, 4, 5, dtype=np.uint8)

CASES: dict[str, list[Case]] = {
    "tensor.squeeze": [
        case("two-axes", [randn(1, 3, 1, 2)], reshaped((3, 2)), axes=[0, -2]),
        case("scalar-result", [randn(1)], reshaped(()), axes=[0]),
        case("no-axes", [randn(2, 1)], reshaped((2, 1)), axes=[]),
    ],
    "tensor.unsqueeze": [
        case("front-and-back", [randn(3, 2)], reshaped((1, 3, 2, 1)), axes=[0, -1]),
        case("unsorted-middle", [randint(0, 9, 2, 3)], reshaped((2, 1, 1, 3)), axes=[2, 1]),
        case("from-scalar", [np.array(5, I64)], reshaped((1,)), axes=[0]),
    ],
    "tensor.expand": [
        case("grow-rank-and-broadcast", [randn(3, 1)], expand_ref([2, 3, 4]), shape=[2, 1, 4]),
        case("target-smaller-than-x", [randn(2, 3)], expand_ref([3]), shape=[3]),
        case("scalar-bool", [np.array(True)], expand_ref([2, 2]), shape=[2, 2]),
        case("from-like", [randn(1, 1, 4), randn(3, 5, 7)],
             expand_ref([(-1, 0), (-1, 1), (4, -1)]), shape=[-1, -1, 4], like_dims=[0, 1, -1]),
    ],
    "tensor.tile": [
        case("2d", [randn(2, 3)], tile_ref([2, 3]), repeats=[2, 3]),
        case("int-with-zero-repeat", [randint(0, 9, 2, 2)], tile_ref([0, 1]), repeats=[0, 1]),
    ],
    "tensor.pad": [
        case("constant-default-zero", [randn(2, 3)], pad_ref([1, 0, 2, 2]), pads=[1, 0, 2, 2]),
        case("constant-value-operand", [randn(2, 3), np.array(7.5, F32)],
             pad_ref([0, 1, 1, 0]), pads=[0, 1, 1, 0]),
        case("negative-crops", [randn(4, 5)], pad_ref([-1, 2, 0, -2]), pads=[-1, 2, 0, -2]),
        case("reflect", [randint(0, 99, 3, 4)], pad_ref([2, 1, 1, 3], "reflect"),
             pads=[2, 1, 1, 3], mode="reflect"),
        case("edge", [randn(2, 3, 2)], pad_ref([1, 0, 2, 2, 2, 0], "edge"),
             pads=[1, 0, 2, 2, 2, 0], mode="edge"),
        case("wrap", [randint(0, 99, 3, 4)], pad_ref([1, 5, 2, 3], "wrap"),
             pads=[1, 5, 2, 3], mode="wrap"),
    ],
    "tensor.depth_to_space": [
        case("dcr", [_img], depth_to_space_ref(2, "DCR"), blocksize=2),
        case("crd", [_img], depth_to_space_ref(2, "CRD"), blocksize=2, mode="CRD"),
    ],
    "tensor.space_to_depth": [
        case("dcr", [randn(2, 3, 4, 6)], space_to_depth_ref(2, "DCR"), blocksize=2),
        case("crd", [randn(1, 2, 6, 3)], space_to_depth_ref(3, "CRD"), blocksize=3, mode="CRD"),
    ],
    "tensor.reverse_sequence": [
        case("time-major", [randn(4, 3, 2), np.array([4, 1, 2], I64)],
             reverse_sequence_ref(1, 0)),
        case("batch-major", [randint(0, 99, 3, 5), np.array([0, 5, 3], np.int32)],
             reverse_sequence_ref(0, 1), batch_axis=0, time_axis=1),
    ],
    "tensor.shape": [
        case("all", [randn(2, 3, 4)], lambda x: np.array([2, 3, 4], I64)),
        case("start-end-negative", [randn(2, 3, 4, 5)], lambda x: np.array([3, 4], I64),
             start=1, end=-1),
        case("clamped-and-empty", [randn(2, 3)], lambda x: np.array([], I64), start=5, end=-9),
    ],
    "tensor.size": [case("3d", [randn(2, 3, 4)], lambda x: np.array(24, I64))],
    "tensor.iota": [
        case("i64", [randn(2, 5)], lambda like: np.array(range(5), I64), axis=1),
        case("f32-negative-axis", [randn(3, 2)], lambda like: np.array([0.0, 1.0], F32),
             axis=-1, dtype="f32"),
    ],
    "tensor.resize": [
        case("nearest-upsample", [randn(1, 2, 3, 4)],
             resize_ref([-1, -1, 5, 9], [1, 1, 5 / 3, 9 / 4]),
             sizes=[-1, -1, 5, 9], scales=[1.0, 1.0, 5 / 3, 9 / 4]),
        case("nearest-ceil-asymmetric", [randn(1, 1, 6, 7)],
             resize_ref([-1, -1, 4, 3], [1, 1, 0.7, 0.5], mode="nearest", nearest_mode="ceil",
                        coordinate_transformation_mode="asymmetric"),
             sizes=[-1, -1, 4, 3], scales=[1.0, 1.0, 0.7, 0.5], nearest_mode="ceil",
             coordinate_transformation_mode="asymmetric"),
        case("nearest-round-prefer-ceil-exact-halves", [randn(1, 5)],
             resize_ref([-1, 10], [1, 2.0], nearest_mode="round_prefer_ceil",
                        coordinate_transformation_mode="asymmetric"),
             sizes=[-1, 10], scales=[1.0, 2.0], nearest_mode="round_prefer_ceil",
             coordinate_transformation_mode="asymmetric"),
        case("nearest-round-prefer-floor-exact-halves", [randn(5, 1)],
             resize_ref([10, -1], [2.0, 1], coordinate_transformation_mode="asymmetric"),
             sizes=[10, -1], scales=[2.0, 1.0], coordinate_transformation_mode="asymmetric"),
        case("linear-align-corners", [randn(2, 5, 4)],
             resize_ref([-1, 8, 3], [1, 1.6, 0.75], mode="linear",
                        coordinate_transformation_mode="align_corners"),
             sizes=[-1, 8, 3], scales=[1.0, 1.6, 0.75], mode="linear",
             coordinate_transformation_mode="align_corners"),
        case("cubic-exclude-outside", [randn(1, 1, 4, 4)],
             resize_ref([-1, -1, 7, 6], [1, 1, 1.75, 1.5], mode="cubic", exclude_outside=True,
                        cubic_coeff_a=-0.5),
             sizes=[-1, -1, 7, 6], scales=[1.0, 1.0, 1.75, 1.5], mode="cubic",
             exclude_outside=True, cubic_coeff_a=-0.5),
        case("linear-antialias-downsample", [randn(1, 1, 9, 8)],
             resize_ref([-1, -1, 4, 3], [1, 1, 4 / 9, 0.375], mode="linear", antialias=True),
             sizes=[-1, -1, 4, 3], scales=[1.0, 1.0, 4 / 9, 0.375], mode="linear",
             antialias=True),
        case("cubic-antialias-pytorch-half-pixel", [randn(1, 7, 5)],
             resize_ref([-1, 3, 1], [1, 3 / 7, 0.2], mode="cubic", antialias=True,
                        coordinate_transformation_mode="pytorch_half_pixel"),
             sizes=[-1, 3, 1], scales=[1.0, 3 / 7, 0.2], mode="cubic", antialias=True,
             coordinate_transformation_mode="pytorch_half_pixel"),
        case("tf-crop-extrapolate", [randn(1, 1, 4, 5)],
             resize_ref([1, 1, 3, 4], [1, 1, 0.75, 0.8], roi=(0, 0, 0.2, -0.1, 1, 1, 1.3, 0.9),
                        mode="linear", coordinate_transformation_mode="tf_crop_and_resize",
                        extrapolation_value=9.0),
             sizes=[1, 1, 3, 4], scales=[1.0, 1.0, 0.75, 0.8],
             roi=[0, 0, 0.2, -0.1, 1, 1, 1.3, 0.9],
             mode="linear", coordinate_transformation_mode="tf_crop_and_resize",
             extrapolation_value=9.0),
        case("uint8-rounds-and-saturates", [_u8],
             lambda x: np.clip(np.round(resize_ref([-1, -1, 7, 9], [1, 1, 1.75, 1.8],
                                                   mode="cubic")(x)), 0, 255),
             sizes=[-1, -1, 7, 9], scales=[1.0, 1.0, 1.75, 1.8], mode="cubic"),
        case("half-pixel-symmetric", [randn(1, 6, 3)],
             resize_ref([-1, 4, 5], [1, 0.7, 1.7], mode="linear",
                        coordinate_transformation_mode="half_pixel_symmetric"),
             sizes=[-1, 4, 5], scales=[1.0, 0.7, 1.7], mode="linear",
             coordinate_transformation_mode="half_pixel_symmetric"),
    ],
    "math.cumsum": [
        case("axis0", [randn(4, 3)], cumsum_ref(0), axis=0),
        case("exclusive-reverse", [randn(3, 5)], cumsum_ref(1, True, True), axis=-1,
             exclusive=True, reverse=True),
        case("int32-exclusive-keeps-dtype", [randint(-9, 9, 6, dtype=np.int32)],
             cumsum_ref(0, exclusive=True), axis=0, exclusive=True),
    ],
    "nn.einsum": [
        case("batch-matmul", [randn(2, 3, 4), randn(2, 4, 5)],
             lambda a, b: f64_matmul(a, b), equation="bij, bjk -> bik"),
        case("transpose", [randn(3, 4)], lambda x: x.T, equation="ij->ji"),
        case("implicit-output", [randn(3, 4), randn(4, 2)],
             lambda a, b: f64_matmul(a, b), equation="ij,jk"),
        case("batch-diagonal", [randn(2, 3, 3, dtype=F64)],
             lambda x: np.diagonal(x, axis1=1, axis2=2), equation="...ii->...i"),
        case("row-sum", [randn(3, 4, dtype=F64)], lambda x: x.sum(axis=1), equation="ij->i"),
        case("inner-product-to-scalar", [randn(5, dtype=F64), randn(5, dtype=F64)],
             lambda a, b: np.array(sum(p * q for p, q in zip(a, b))), equation="i,i"),
        case("scalar", [np.array(3.0, F64)], lambda x: x, equation="->"),
    ],
    "tensor.gather": [
        case("axis0-negative", [randn(5, 3), np.array([0, -1, 2], I64)], gather_ref(0)),
        case("axis1-2d-indices", [randn(2, 4, 3), np.array([[0, 3], [1, -4]], np.int32)],
             gather_ref(1), axis=1),
        case("scalar-index", [randint(0, 9, 4, dtype=I64), np.array(2, I64)], gather_ref(0)),
    ],
    "tensor.gather_elements": [
        case("axis1", [randn(3, 4), randint(-4, 4, 3, 2, dtype=I64)], gather_elements_ref(1),
             axis=1),
        case("axis0-bigger", [randn(2, 3), randint(-2, 2, 4, 3, dtype=np.int32)],
             gather_elements_ref(0)),
    ],
    "tensor.gather_nd": [
        case("full-index", [randn(2, 3), np.array([[0, 1], [1, -1]], I64)], gather_nd_ref()),
        case("slices", [randn(2, 3, 4), np.array([[[1], [0]]], I64)], gather_nd_ref()),
        case("batch-dims", [randint(0, 99, 2, 3, 4, dtype=np.int32),
                            np.array([[[1, 2]], [[2, 0]]], I64)],
             gather_nd_ref(1), batch_dims=1),
    ],
    "tensor.scatter_elements": [
        case("none-axis1", [randn(3, 4), np.array([[1, -1], [0, 2], [3, 3]], I64),
                            randn(3, 2)], scatter_elements_ref(1), axis=1),
        case("add-duplicates", [randn(2, 5), np.array([[1, 1, 4]], I64), randn(1, 3)],
             scatter_elements_ref(1, "add"), axis=1, reduction="add"),
        case("mul", [randn(3, 2), np.array([[0, 1], [0, 1]], I64), randn(2, 2)],
             scatter_elements_ref(0, "mul"), reduction="mul"),
        case("max-int", [randint(-9, 9, 4, dtype=np.int32), np.array([1, 1, 3], I64),
                         randint(-9, 9, 3, dtype=np.int32)],
             scatter_elements_ref(0, "max"), reduction="max"),
        case("min", [randn(4), np.array([2, 2, 0], I64), randn(3)],
             scatter_elements_ref(0, "min"), reduction="min"),
    ],
    "tensor.scatter_nd": [
        case("rows", [randn(4, 3), np.array([[1], [3]], I64), randn(2, 3)], scatter_nd_ref()),
        case("elements-add-duplicates", [randn(2, 3), np.array([[0, 1], [0, 1], [1, -1]], I64),
                                         randn(3)],
             scatter_nd_ref("add"), reduction="add"),
        case("mul", [randn(2, 2), np.array([[1, 0], [1, 0]], I64), randn(2)],
             scatter_nd_ref("mul"), reduction="mul"),
        case("max", [randn(3, 2), np.array([[2], [2]], I64), randn(2, 2)],
             scatter_nd_ref("max"), reduction="max"),
        case("min", [randn(3), np.array([[0], [0]], I64), randn(2)],
             scatter_nd_ref("min"), reduction="min"),
    ],
    "tensor.one_hot": [
        case("last-axis", [np.array([0, 2, -1, 5], I64), np.array([0, 1], np.int32)],
             one_hot_ref(3, -1), depth=3),
        case("axis1-float-indices", [np.array([[1.0, 3.9], [-2.0, 0.0]], F32),
                                     np.array([-1.5, 2.5], F32)],
             one_hot_ref(4, 1), depth=4, axis=1),
    ],
    "tensor.argmax": [
        case("axis1-ties", [np.array([[1, 3, 3], [2, 2, 0]], np.int32)],
             arg_ref(True, 1), axis=1),
        case("last-index-no-keepdims", [np.array([[1, 3, 3], [2, 2, 0]], F32)],
             arg_ref(True, -1, False, True), axis=-1, keepdims=False, select_last_index=True),
        case("axis0", [randn(4, 3)], arg_ref(True, 0)),
    ],
    "tensor.argmin": [
        case("axis0-ties", [np.array([[1, 0], [1, 0], [0, 5]], I64)], arg_ref(False, 0)),
        case("last-index", [np.array([[4, 1, 1, 4]], F32)], arg_ref(False, 1, True, True),
             axis=1, select_last_index=True),
    ],
    "tensor.trilu": [
        case("upper", [randn(3, 4)], trilu_ref(True)),
        case("lower-k-operand", [randn(2, 4, 3), np.array(-1, I64)], trilu_ref(False),
             upper=False),
        case("upper-k-beyond", [randint(0, 9, 3, 3), np.array(5, I64)], trilu_ref(True)),
    ],
    "tensor.topk": [
        case("largest-ties-low-index-first", [np.array([[3, 1, 3, 2, 3]], I64)],
             topk_ref(3, 1), k=3, axis=1),
        case("smallest-axis0", [randn(5, 3)], topk_ref(2, 0, False), k=2, axis=0,
             largest=False),
        case("uint64", [np.array([2**63 + 5, 7, 2**63 + 5, 0], np.uint64)], topk_ref(3, 0),
             k=3, axis=0),
        case("many-ties-long-rows", [randint(0, 3, 3, 70, dtype=np.int32)], topk_ref(40, 1),
             k=40, axis=1),
        case("many-ties-smallest", [randint(0, 3, 70, 2).astype(F32)], topk_ref(50, 0, False),
             k=50, axis=0, largest=False),
    ],
}


def f64_matmul(a, b):
    return np.asarray(a, F64) @ np.asarray(b, F64)


# -- the test ------------------------------------------------------------------------------


@pytest.mark.parametrize("op,c", params(CASES))
def test_kernel_matches_reference(op: str, c) -> None:
    run_case(op, c)


def test_reshape_allowzero_makes_zero_a_size() -> None:
    x = np.zeros((0, 3, 4), F32)
    full, attrs, (t,) = infer_types("tensor.reshape", [TensorType.of_array(x)],
                                    {"shape": [3, 4, 0], "allowzero": True})
    assert t.shape == (3, 4, 0)
    assert KERNELS[full](x, **attrs).shape == (3, 4, 0)
    # without allowzero the 0 copies dim 0 (itself 0 here), and 12 * 0 elements fit
    _, _, (t,) = infer_types("tensor.reshape", [TensorType.of_array(x)], {"shape": [0, 12]})
    assert t.shape == (0, 12)


def test_out_of_range_index_raises_index_error() -> None:
    with pytest.raises(IndexError, match="out of range"):
        KERNELS["tensor.gather"](randn(3), np.array([3]), axis=0)
    with pytest.raises(IndexError, match="out of range"):
        KERNELS["tensor.scatter_nd"](randn(3), np.array([[-4]]), randn(1), reduction="none")


def _types(*specs):
    return [TensorType(tuple(s), d) for s, d in specs]


@pytest.mark.parametrize("op,ins,attrs,want", [
    ("tensor.squeeze", [(("N", 1, 4), "f32")], {"axes": [1]}, ("N", 4)),
    ("tensor.unsqueeze", [(("N", "S"), "f32")], {"axes": [1, -1]}, ("N", 1, "S", 1)),
    ("tensor.expand", [((1, 64), "f32"), (("B", "S", 8), "f32")],
     {"shape": [-1, -1, 1], "like_dims": [0, 1, -1]}, ("B", "S", 64)),
    ("tensor.tile", [(("N", 3), "f32")], {"repeats": [1, 2]}, ("N", 6)),
    ("tensor.pad", [(("N", 3), "f32")], {"pads": [0, 1, 0, 1]}, ("N", 5)),
    ("tensor.gather", [(("N", 5, 7), "f32"), (("B", 2), "i64")], {"axis": 1},
     ("N", "B", 2, 7)),
    ("tensor.iota", [(("B", "S"), "f32")], {"axis": 1}, ("S",)),
    ("tensor.resize", [(("N", 3, 4, 4), "f32")],
     {"sizes": [-1, -1, 8, 8], "scales": [1.0, 1.0, 2.0, 2.0]}, ("N", 3, 8, 8)),
    ("nn.einsum", [(("N", 3, 4), "f32"), (("N", 4, 5), "f32")],
     {"equation": "bij,bjk->bik"}, ("N", 3, 5)),
    ("tensor.depth_to_space", [(("N", 8, 2, 3), "f32")], {"blocksize": 2}, ("N", 2, 4, 6)),
])
def test_symbolic_dims_pass_through(op, ins, attrs, want) -> None:
    _, _, outs = infer_types(op, _types(*ins), attrs)
    assert outs[0].shape == want


@pytest.mark.parametrize("op,ins,attrs,message", [
    ("tensor.squeeze", [((2, 3), "f32")], {"axes": [1]}, "has size 3, not 1"),
    ("tensor.squeeze", [(("N", 3), "f32")], {"axes": [0]}, "--input-shape"),
    ("tensor.tile", [(("N", 3), "f32")], {"repeats": [2, 1]}, "--input-shape"),
    ("tensor.expand", [((2, 3), "f32")], {"shape": [4, 3]}, "do not broadcast"),
    ("tensor.expand", [((2, 3), "f32")], {"shape": [-1, 3], "like_dims": [0, -1]},
     "none is given"),
    ("tensor.pad", [((2, 3), "f32")], {"pads": [1, 1]}, "must have 4 entries"),
    ("tensor.pad", [((2, 3), "f32")], {"pads": [-1, 0, 0, 0], "mode": "edge"},
     "need mode 'constant'"),
    ("tensor.gather", [((2, 3), "f32"), ((2,), "f32")], {}, "integer tensor"),
    ("tensor.gather_nd", [((2, 3), "f32"), ((2, 3), "i64")], {}, "last dim of indices"),
    ("tensor.scatter_nd", [((4, 3), "f32"), ((2, 1), "i64"), ((2, 4), "f32")], {},
     "differ"),
    ("tensor.topk", [((2, 3), "f32")], {"k": 4}, "must be in [0, 3]"),
    ("tensor.depth_to_space", [((1, 6, 2, 2), "f32")], {"blocksize": 2}, "not divisible"),
    ("tensor.resize", [(("N", 4), "f32")], {"sizes": [8, -1], "scales": [2.0, 1.0]},
     "--input-shape"),
    ("nn.einsum", [((2, 3), "f32"), ((4, 5), "f32")], {"equation": "ij,jk->ik"},
     "label 'j' has sizes 3 and 4"),
    ("nn.einsum", [((2, 3), "f32")], {"equation": "ijk->i"}, "does not fit"),
    ("tensor.one_hot", [((3,), "i64"), ((3,), "f32")], {"depth": 4}, "off_value, on_value"),
])
def test_bad_operands_are_clear_type_errors(op, ins, attrs, message) -> None:
    with pytest.raises(TypeCheckError) as e:
        infer_types(op, _types(*ins), attrs)
    assert message in str(e.value)
