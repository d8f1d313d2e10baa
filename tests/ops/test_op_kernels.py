"""Every op's dense runtime kernel against an independent numpy reference.

`CASES` maps each op name to its cases: seeded random inputs, attributes and a
reference written here in plain numpy (explicit loops for conv and pooling,
`math.erf` for gelu), usually in float64. For each case the test checks

- the kernel, called as the runtime calls it (all normalized attributes as
  keyword arguments), against the reference;
- that shape inference on the input types predicts the kernel's actual result
  shape and dtype;
- that the kernel leaves its inputs untouched.

`tests/ops/test_registry.py` imports the table and fails for any op without a case.
The other `test_op_kernels_*.py` files (one per op family) check their tables with
the same `run_case`, passing their own comparison where a family needs one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest

from compiler.ir.builder import infer_types
from compiler.ir.types import TensorType
from runtime.kernels import KERNELS

F32, F64 = np.float32, np.float64


@dataclass
class Case:
    """One kernel check: `ref(*inputs)` is the expected result."""

    id: str
    inputs: list[np.ndarray]
    ref: Callable[..., np.ndarray]
    attrs: dict = field(default_factory=dict)


def case(id: str, inputs: list[np.ndarray], ref: Callable[..., np.ndarray], **attrs) -> Case:
    return Case(id, inputs, ref, attrs)


_rng = np.random.default_rng(20240611)


def randn(*shape, dtype=F32) -> np.ndarray:
    return np.asarray(_rng.standard_normal(shape), dtype=dtype)


def uniform(lo, hi, *shape, dtype=F32) -> np.ndarray:
    return _rng.uniform(lo, hi, shape).astype(dtype)


def randint(lo, hi, *shape, dtype=np.int32) -> np.ndarray:
    return _rng.integers(lo, hi, shape).astype(dtype)


def f64(a) -> np.ndarray:
    return np.asarray(a, dtype=F64)


# -- references ----------------------------------------------------------------

def trunc_div_ref(a, b):
    """Integer division rounding toward zero, in Python ints."""
    def one(x, y):
        q = abs(int(x)) // abs(int(y))
        return q if (x < 0) == (y < 0) else -q
    return np.array([one(x, y) for x, y in zip(a.ravel(), b.ravel())]).reshape(a.shape)


def gelu_erf_ref(x):
    return np.vectorize(lambda v: 0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0))))(f64(x))


def gelu_tanh_ref(x):
    x = f64(x)
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def softmax_ref(x, axis):
    x = f64(x)
    # exp(x - logsumexp(x)): stable, and a different route from max-subtraction.
    return np.exp(x - np.logaddexp.reduce(x, axis=axis, keepdims=True))


def layernorm_ref(x, scale=None, bias=None, axis=-1, eps=1e-5):
    x = f64(x)
    axis %= x.ndim
    rows = x.reshape(int(np.prod(x.shape[:axis])), -1)
    mean = rows.mean(axis=1, keepdims=True)
    var = ((rows - mean) ** 2).mean(axis=1, keepdims=True)
    y = ((rows - mean) / np.sqrt(var + eps)).reshape(x.shape)
    if scale is not None:
        y = y * f64(scale)
    if bias is not None:
        y = y + f64(bias)
    return y


def conv2d_ref(x, w, b=None, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), groups=1):
    """Direct convolution: one dot product per output pixel and channel."""
    x, w = f64(x), f64(w)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    pt, pl, pb, pr = pads
    xp = np.zeros((n, c, h + pt + pb, wd + pl + pr))
    xp[:, :, pt:pt + h, pl:pl + wd] = x
    (sh, sw), (dh, dw) = strides, dilations
    ho = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    wo = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, o, ho, wo))
    per_group = o // groups
    for oc in range(o):
        g = oc // per_group
        for i in range(ho):
            for j in range(wo):
                for ki in range(kh):
                    for kj in range(kw):
                        pix = xp[:, g * cg:(g + 1) * cg, i * sh + ki * dh, j * sw + kj * dw]
                        out[:, oc, i, j] += pix @ w[oc, :, ki, kj]
        if b is not None:
            out[:, oc] += b[oc]
    return out


def pool_out_len(size, k, s, pb, pe, d, ceil_mode):
    extent = d * (k - 1) + 1
    frac = (size + pb + pe - extent) / s
    out = (math.ceil(frac) if ceil_mode else math.floor(frac)) + 1
    # A ceil-mode window must start inside the input or its begin padding.
    if ceil_mode and (out - 1) * s >= size + pb:
        out -= 1
    return out


def pool_ref(x, mode, kernel, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1),
             ceil_mode=False, count_include_pad=False):
    """Windowed max/mean by explicit loops over output pixels and window taps."""
    x = f64(x)
    n, c, h, w = x.shape
    pt, pl, pb, pr = pads
    ho = pool_out_len(h, kernel[0], strides[0], pt, pb, dilations[0], ceil_mode)
    wo = pool_out_len(w, kernel[1], strides[1], pl, pr, dilations[1], ceil_mode)
    out = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            vals, counted = [], 0
            for ki in range(kernel[0]):
                for kj in range(kernel[1]):
                    r = i * strides[0] - pt + ki * dilations[0]
                    q = j * strides[1] - pl + kj * dilations[1]
                    inside = 0 <= r < h and 0 <= q < w
                    in_explicit_pad = -pt <= r < h + pb and -pl <= q < w + pr
                    if inside:
                        vals.append(x[:, :, r, q])
                    if inside or (count_include_pad and in_explicit_pad):
                        counted += 1
            if mode == "max":
                out[:, :, i, j] = np.max(vals, axis=0)
            else:
                out[:, :, i, j] = np.sum(vals, axis=0) / counted
    return out


def reduce_ref(x, how, axes=(), keepdims=False):
    """Move the reduced axes last, flatten them, reduce the one axis."""
    x = f64(x) if x.dtype.kind == "f" else x.astype(np.int64)
    axes = sorted(a % x.ndim for a in axes) if axes else list(range(x.ndim))
    keep = [a for a in range(x.ndim) if a not in axes]
    moved = np.transpose(x, keep + axes).reshape([x.shape[a] for a in keep] + [-1])
    r = {"sum": moved.sum(-1), "mean": moved.mean(-1), "max": moved.max(-1)}[how]
    if keepdims:
        r = r.reshape([1 if a in axes else x.shape[a] for a in range(x.ndim)])
    return r


def matmul_ref(a, b):
    a, b = f64(a), f64(b)
    if a.ndim == 1 and b.ndim == 1:
        return np.einsum("k,k->", a, b)
    if a.ndim == 1:
        return np.einsum("k,...kn->...n", a, b)
    if b.ndim == 1:
        return np.einsum("...mk,k->...m", a, b)
    return np.einsum("...mk,...kn->...mn", a, b)


def concat_ref(axis):
    def ref(*xs):
        ax = axis % xs[0].ndim
        shape = list(xs[0].shape)
        shape[ax] = sum(x.shape[ax] for x in xs)
        out = np.zeros(shape, dtype=xs[0].dtype)
        at = 0
        for x in xs:
            index = [slice(None)] * x.ndim
            index[ax] = slice(at, at + x.shape[ax])
            out[tuple(index)] = x
            at += x.shape[ax]
        return out
    return ref


def take(index_lists):
    """Reference slice: pick explicit index lists (one per axis) with np.ix_."""
    index = [np.array(list(ix), dtype=np.intp) for ix in index_lists]
    return lambda x: x[np.ix_(*index)]


# -- the table -----------------------------------------------------------------

_x234 = randn(2, 3, 4)
_img = randn(2, 3, 7, 8)

CASES: dict[str, list[Case]] = {
    "math.add": [
        case("same-shape", [randn(3, 4), randn(3, 4)], lambda a, b: f64(a) + f64(b)),
        case("broadcast-size-1", [randn(2, 1, 4), randn(3, 1)],
             lambda a, b: f64(a) + f64(b)),
        case("scalar", [randn(2, 3), randn()], lambda a, b: f64(a) + f64(b)),
    ],
    "math.sub": [case("broadcast-row", [randn(3, 4), randn(4)], lambda a, b: f64(a) - f64(b))],
    "math.mul": [
        case("broadcast-both", [randn(4, 1), randn(1, 5)], lambda a, b: f64(a) * f64(b)),
        case("int32", [randint(-50, 50, 3, 4), randint(-50, 50, 3, 4)],
             lambda a, b: a.astype(np.int64) * b),
    ],
    "math.div": [
        case("float", [randn(3, 4), uniform(0.5, 2, 3, 4)], lambda a, b: f64(a) / f64(b)),
        case("int-truncates-toward-zero",
             [np.array([7, -7, 7, -7, 6, 0, 2**62 + 1], np.int64),
              np.array([2, 2, -2, -2, 3, 5, 3], np.int64)], trunc_div_ref),
    ],
    "math.pow": [case("positive-base", [uniform(0.5, 2, 3, 4), randn(3, 4)],
                      lambda a, b: f64(a) ** f64(b))],
    "math.neg": [
        case("float", [randn(3, 4)], lambda x: -f64(x)),
        case("int", [randint(-9, 9, 5)], lambda x: 0 - x.astype(np.int64)),
    ],
    "math.exp": [case("f32", [randn(3, 4)], lambda x: np.e ** f64(x))],
    "math.log": [case("positive", [uniform(0.1, 10, 3, 4)], lambda x: np.log(f64(x)))],
    "math.sqrt": [case("positive", [uniform(0, 10, 3, 4)], lambda x: f64(x) ** 0.5)],
    "math.tanh": [case("f32", [randn(3, 4)],
                       lambda x: (np.exp(2 * f64(x)) - 1) / (np.exp(2 * f64(x)) + 1))],
    "nn.relu": [
        case("float", [randn(3, 4)], lambda x: np.where(x > 0, f64(x), 0.0)),
        case("int", [randint(-9, 9, 6)], lambda x: np.where(x > 0, x, 0)),
    ],
    "nn.sigmoid": [case("large-magnitudes", [np.array([-100, -5, -0.5, 0, 0.5, 5, 100], F32)],
                        lambda x: 1 / (1 + np.exp(-f64(x))))],
    "nn.gelu": [
        case("erf", [randn(4, 5) * 3], gelu_erf_ref),
        case("tanh", [randn(4, 5) * 3], gelu_tanh_ref, approximate="tanh"),
    ],
    "nn.softmax": [
        case("last-axis", [randn(3, 5)], lambda x: softmax_ref(x, -1)),
        case("axis-1-of-3d", [_x234], lambda x: softmax_ref(x, 1), axis=1),
        case("large-values-stable", [np.array([[1000, 1001, 999], [-1000, 0, 1000]], F32)],
             lambda x: softmax_ref(x, -1)),
    ],
    "nn.layernorm": [
        case("scale-bias", [randn(3, 8), randn(8), randn(8)],
             lambda x, s, b: layernorm_ref(x, s, b)),
        case("no-affine", [randn(2, 6) * 5 + 3], lambda x: layernorm_ref(x)),
        case("axis-1-broadcast-scale", [randn(2, 3, 4), randn(4)],
             lambda x, s: layernorm_ref(x, s, axis=1, eps=1e-3), axis=1, eps=1e-3),
    ],
    "nn.matmul": [
        case("2d", [randn(3, 4), randn(4, 5)], matmul_ref),
        case("1d-left", [randn(4), randn(4, 5)], matmul_ref),
        case("1d-right", [randn(3, 4), randn(4)], matmul_ref),
        case("1d-both", [randn(4), randn(4)], matmul_ref),
        case("batch-broadcast", [randn(2, 1, 3, 4), randn(5, 4, 2)], matmul_ref),
        case("1d-left-batched-right", [randn(4), randn(2, 4, 3)], matmul_ref),
    ],
    "nn.conv2d": [
        case("3x3-bias", [randn(2, 3, 6, 5), randn(4, 3, 3, 3), randn(4)], conv2d_ref),
        case("stride2-pad1", [randn(1, 2, 7, 8), randn(3, 2, 3, 3)],
             lambda x, w: conv2d_ref(x, w, strides=(2, 2), pads=(1, 1, 1, 1)),
             strides=[2, 2], pads=[1, 1, 1, 1]),
        case("asymmetric-pad-stride", [randn(2, 2, 6, 7), randn(2, 2, 2, 3), randn(2)],
             lambda x, w, b: conv2d_ref(x, w, b, strides=(1, 2), pads=(0, 2, 1, 0)),
             strides=[1, 2], pads=[0, 2, 1, 0]),
        case("dilation2", [randn(1, 3, 9, 9), randn(2, 3, 3, 3)],
             lambda x, w: conv2d_ref(x, w, dilations=(2, 2), pads=(2, 2, 2, 2)),
             dilations=[2, 2], pads=[2, 2, 2, 2]),
        case("groups2", [randn(2, 4, 5, 5), randn(6, 2, 3, 3), randn(6)],
             lambda x, w, b: conv2d_ref(x, w, b, groups=2, pads=(1, 1, 1, 1)),
             groups=2, pads=[1, 1, 1, 1]),
        case("depthwise-stride2", [randn(1, 5, 8, 8), randn(5, 1, 3, 3)],
             lambda x, w: conv2d_ref(x, w, groups=5, strides=(2, 2), pads=(1, 1, 1, 1)),
             groups=5, strides=[2, 2], pads=[1, 1, 1, 1]),
        case("1x1", [randn(2, 6, 4, 3), randn(3, 6, 1, 1)], conv2d_ref),
        case("f64", [randn(1, 2, 5, 5, dtype=F64), randn(2, 2, 3, 3, dtype=F64)], conv2d_ref),
    ],
    "nn.maxpool2d": [
        case("2x2-stride2", [_img], lambda x: pool_ref(x, "max", (2, 2), (2, 2)),
             kernel=[2, 2], strides=[2, 2]),
        case("3x3-pad1-stride2", [_img],
             lambda x: pool_ref(x, "max", (3, 3), (2, 2), (1, 1, 1, 1)),
             kernel=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        case("ceil-mode", [_img],
             lambda x: pool_ref(x, "max", (3, 2), (2, 3), (1, 0, 0, 1), ceil_mode=True),
             kernel=[3, 2], strides=[2, 3], pads=[1, 0, 0, 1], ceil_mode=True),
        case("dilation2", [_img],
             lambda x: pool_ref(x, "max", (2, 2), (1, 2), dilations=(2, 2)),
             kernel=[2, 2], strides=[1, 2], dilations=[2, 2]),
        case("negative-values-with-padding", [-np.abs(randn(1, 2, 4, 4))],
             lambda x: pool_ref(x, "max", (2, 2), (2, 2), (1, 1, 1, 1)),
             kernel=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1]),
        case("int32", [randint(-100, 100, 1, 2, 5, 5)],
             lambda x: pool_ref(x, "max", (3, 3), (2, 2), (1, 1, 1, 1)),
             kernel=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    ],
    "nn.avgpool2d": [
        case("2x2-stride2", [_img], lambda x: pool_ref(x, "avg", (2, 2), (2, 2)),
             kernel=[2, 2], strides=[2, 2]),
        case("pad-exclude", [_img],
             lambda x: pool_ref(x, "avg", (3, 3), (2, 2), (1, 1, 1, 1)),
             kernel=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        case("pad-include", [_img],
             lambda x: pool_ref(x, "avg", (3, 3), (2, 2), (1, 1, 1, 1),
                                count_include_pad=True),
             kernel=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=True),
        case("ceil-mode-include-pad", [_img],
             lambda x: pool_ref(x, "avg", (3, 3), (2, 2), (1, 1, 1, 1), ceil_mode=True,
                                count_include_pad=True),
             kernel=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=True,
             count_include_pad=True),
        case("ceil-mode-exclude-pad", [_img],
             lambda x: pool_ref(x, "avg", (2, 3), (2, 2), (0, 1, 1, 0), ceil_mode=True),
             kernel=[2, 3], strides=[2, 2], pads=[0, 1, 1, 0], ceil_mode=True),
    ],
    "nn.global_avgpool": [
        case("nchw", [_img], lambda x: f64(x).sum(axis=(2, 3), keepdims=True) / (7 * 8)),
        case("ncl", [randn(2, 3, 5)], lambda x: f64(x).sum(axis=2, keepdims=True) / 5),
    ],
    "tensor.reshape": [
        case("minus-one-and-zero", [_x234], lambda x: np.array(x.ravel()).reshape(2, 2, 6),
             shape=[0, 2, -1]),
        case("to-1d", [_x234], lambda x: x.ravel(), shape=[-1]),
        # sizes from `like` (a flattened [B*S, 4] back to [B, S, 4]; like is [S, B])
        case("like", [randn(6, 4), randn(3, 2)],
             lambda x, like: np.array(x.ravel()).reshape(2, 3, 4),
             shape=[-1, -1, 4], like_dims=[1, 0, -1]),
        case("like-and-inferred", [randn(6, 4), randn(3, 2)],
             lambda x, like: np.array(x.ravel()).reshape(2, 12),
             shape=[-1, -1], like_dims=[1, -1]),
    ],
    "tensor.flatten": [
        case("axis1", [_img], lambda x: x.ravel().reshape(2, 3 * 7 * 8)),
        case("axis0", [_x234], lambda x: x.ravel().reshape(1, 24), axis=0),
        case("axis-neg1", [_x234], lambda x: x.ravel().reshape(6, 4), axis=-1),
        case("axis-rank", [_x234], lambda x: x.ravel().reshape(24, 1), axis=3),
    ],
    "tensor.transpose": [
        case("default-reverses", [_x234], lambda x: np.einsum("ijk->kji", x)),
        case("perm", [_img], lambda x: np.einsum("nchw->nhwc", x), perm=[0, 2, 3, 1]),
    ],
    "tensor.concat": [
        case("axis1-three-inputs", [randn(2, 1, 3), randn(2, 4, 3), randn(2, 2, 3)],
             concat_ref(1), axis=1),
        case("axis-neg1", [randn(3, 2), randn(3, 5)], concat_ref(-1), axis=-1),
        case("single-input", [randn(4)], concat_ref(0), axis=0),
        case("int64", [randint(0, 9, 2, 2, dtype=np.int64), randint(0, 9, 1, 2, dtype=np.int64)],
             concat_ref(0), axis=0),
    ],
    "tensor.slice": [
        case("basic", [randn(5, 6)], take([[1, 2], [0, 2, 4]]),
             starts=[1, 0], ends=[3, 6], steps=[1, 2]),
        case("negative-indices", [randn(5, 6)], take([[0, 1, 2, 3, 4], [3, 4]]),
             starts=[-3], ends=[-1], axes=[-1]),
        case("negative-step-reverses", [randn(5, 6)], take([[4, 3, 2, 1, 0], range(6)]),
             starts=[-1], ends=[-1000], axes=[0], steps=[-1]),
        case("negative-step-2", [randn(5, 6)], take([range(5), [5, 3]]),
             starts=[100], ends=[2], axes=[1], steps=[-2]),
        case("clamped-large-ends", [randn(5, 6)], take([[2, 3, 4], range(6)]),
             starts=[2], ends=[2**63 - 1]),
        case("start-below-zero-negative-step", [randn(5, 6)], take([[0], range(6)]),
             starts=[-10], ends=[-20], steps=[-1]),
        case("empty", [randn(5, 6)], take([range(5), []]),
             starts=[4], ends=[2], axes=[1]),
    ],
    "math.reduce_sum": [
        case("all", [_x234], lambda x: reduce_ref(x, "sum")),
        case("axis1-keepdims", [_x234], lambda x: reduce_ref(x, "sum", [1], True),
             axes=[1], keepdims=True),
        case("int32-two-axes", [randint(-9, 9, 3, 4, 5)],
             lambda x: reduce_ref(x, "sum", [-1, 0]), axes=[-1, 0]),
    ],
    "math.reduce_mean": [
        case("all-keepdims", [_x234], lambda x: reduce_ref(x, "mean", (), True), keepdims=True),
        case("axes-0-2", [_x234], lambda x: reduce_ref(x, "mean", [0, 2]), axes=[0, 2]),
    ],
    "math.reduce_max": [
        case("all", [_x234], lambda x: reduce_ref(x, "max")),
        case("last-axis-keepdims", [_x234], lambda x: reduce_ref(x, "max", [-1], True),
             axes=[-1], keepdims=True),
        case("int32", [randint(-99, 99, 4, 3)], lambda x: reduce_ref(x, "max", [0]), axes=[0]),
    ],
}


# -- the test ------------------------------------------------------------------

_TOLERANCE = {np.dtype(F32): dict(rtol=1e-5, atol=1e-6),
              np.dtype(F64): dict(rtol=1e-12, atol=1e-12),
              np.dtype(np.float16): dict(rtol=1e-3, atol=1e-3)}


def assert_matches(got: np.ndarray, want: np.ndarray) -> None:
    """Floats within the dtype's tolerance; integers and bools exactly (no float detour)."""
    if got.dtype.kind == "f":
        np.testing.assert_allclose(got, want, **_TOLERANCE[got.dtype])
    else:
        np.testing.assert_array_equal(got, want)


def params(*tables: dict[str, list[Case]]) -> list:
    """pytest parameters (op, case) of the given CASES tables, with readable ids."""
    return [pytest.param(op, c, id=f"{op}-{c.id}")
            for table in tables for op, cases in table.items() for c in cases]


Compare = Callable[[np.ndarray, np.ndarray], None]


def run_case(op: str, c: Case, compare: Compare | None = None) -> None:
    """The check every kernel table makes: the kernel, called as the runtime calls it,
    gives each result the shape and dtype that inference predicts, the shape of the
    reference and values `compare(got, want)` accepts (default `assert_matches`, the
    reference cast to an integer or bool result's dtype), and leaves its inputs alone."""
    types = [TensorType.of_array(a) for a in c.inputs]
    full, attrs, out_types = infer_types(op, types, c.attrs)
    before = [a.copy() for a in c.inputs]
    got = KERNELS[full](*c.inputs, **attrs)
    got = [np.asarray(g) for g in (got if isinstance(got, (tuple, list)) else (got,))]
    want = c.ref(*c.inputs)
    want = [np.asarray(w) for w in (want if isinstance(want, (tuple, list)) else (want,))]
    assert len(got) == len(out_types) == len(want)
    for k, (g, t, w) in enumerate(zip(got, out_types, want)):
        assert g.shape == t.shape, f"result {k}: inference said {t}, kernel gave {g.shape}"
        assert g.dtype == t.np_dtype, f"result {k}: inference said {t}, kernel gave {g.dtype}"
        assert w.shape == g.shape, f"result {k}: reference shape {w.shape} != {g.shape}"
        if compare is not None:
            compare(g, w)
        else:
            assert_matches(g, w.astype(g.dtype) if g.dtype.kind in "iub" else w)
    for a, b in zip(c.inputs, before):
        np.testing.assert_array_equal(a, b, err_msg="the kernel modified its input")


def within(rtol: float, atol: float, dtypes=(np.dtype(F32),)) -> Compare:
    """A comparison with its own float tolerance for `dtypes`, `assert_matches` otherwise."""
    def compare(got: np.ndarray, want: np.ndarray) -> None:
        if got.dtype in dtypes:
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
        else:
            assert_matches(got, want)
    return compare


@pytest.mark.parametrize("op,c", params(CASES))
def test_kernel_matches_reference(op: str, c: Case) -> None:
    run_case(op, c)


def test_float16_kernels_keep_dtype_and_accuracy() -> None:
    x = randn(2, 3, 6, 6).astype(np.float16)
    w = randn(4, 3, 3, 3).astype(np.float16)
    got = KERNELS["nn.conv2d"](x, w, strides=[1, 1], pads=[1, 1, 1, 1], dilations=[1, 1],
                               groups=1)
    assert got.dtype == np.float16
    np.testing.assert_allclose(got, conv2d_ref(x, w, pads=(1, 1, 1, 1)), rtol=1e-2, atol=2e-2)
    sm = KERNELS["nn.softmax"](x, axis=1)
    assert sm.dtype == np.float16
    np.testing.assert_allclose(sm, softmax_ref(x, 1), rtol=1e-2, atol=1e-3)
