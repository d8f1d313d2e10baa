"""Sparse kernels equal the dense computation on the densified weight.

References are written here with plain numpy (a matmul on the dense weight; a
convolution as a sum over kernel taps of strided slices), never with the code
under test. The compiled loops are specialised per (dtype, index dtype): the
cases stick to f32/uint16, f64/uint16 and one f32/uint32 case so that a cold
numba cache compiles few variants.
"""
from __future__ import annotations

import numpy as np
import pytest

from runtime.errors import ExecutionError
from runtime.kernels import KERNELS
from runtime.sparse_format import (check_parts, conv_weight_parts, from_csr, index_dtype,
                                   indptr_dtype, matmul_weight_parts, to_csc, to_csr)

matmul_csc = KERNELS["sparse.matmul_csc"]
conv2d_csr = KERNELS["sparse.conv2d_csr"]


def sparse_weight(rng, shape, sparsity, dtype=np.float32):
    w = rng.standard_normal(shape).astype(dtype)
    w[rng.random(shape) < sparsity] = 0
    return w


def close(actual, expected, dtype):
    assert actual.shape == expected.shape
    assert actual.dtype == np.dtype(dtype)
    tol = 1e-4 if np.dtype(dtype) == np.float32 else 1e-10
    scale = max(1.0, float(np.abs(expected).max(initial=0)))
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale)


# -- the sparse format -------------------------------------------------------------------

def test_to_csr_round_trips_with_narrow_dtypes():
    rng = np.random.default_rng(0)
    w = sparse_weight(rng, (7, 13), 0.6)
    w[3] = 0                                              # an empty row
    indptr, indices, data = to_csr(w)
    assert indptr.dtype == np.int32 and indices.dtype == np.uint16 and data.dtype == np.float32
    assert indptr[0] == 0 and indptr[-1] == np.count_nonzero(w) == indices.size
    for r in range(7):
        cols = indices[indptr[r]:indptr[r + 1]]
        assert np.all(np.diff(cols.astype(np.int64)) > 0)  # ascending within a row
        np.testing.assert_array_equal(cols, np.flatnonzero(w[r]))
    np.testing.assert_array_equal(from_csr(indptr, indices, data, w.shape), w)


def test_csc_and_weight_parts_layouts():
    rng = np.random.default_rng(1)
    w = sparse_weight(rng, (5, 9), 0.5)
    indptr, indices, data = to_csc(w)                   # one compressed row per column
    np.testing.assert_array_equal(from_csr(indptr, indices, data, (9, 5)), w.T)
    for got, want in zip(matmul_weight_parts(w), (indptr, indices, data)):
        np.testing.assert_array_equal(got, want)
    wc = sparse_weight(rng, (4, 3, 2, 2), 0.5)
    indptr, indices, data = conv_weight_parts(wc)
    np.testing.assert_array_equal(from_csr(indptr, indices, data, (4, 12)), wc.reshape(4, 12))


def test_index_dtypes_widen_at_the_limits():
    assert index_dtype(65536) == np.uint16 and index_dtype(65537) == np.uint32
    assert indptr_dtype(2**31 - 1) == np.int32 and indptr_dtype(2**31) == np.int64


@pytest.mark.parametrize("damage, message", [
    (lambda p: (p[0][:-1], p[1], p[2]), "indptr has"),
    (lambda p: (p[0], p[1], p[2][:-1]), "data has"),
    (lambda p: (p[0], np.where(p[1] == p[1].max(), 99, p[1]).astype(np.uint16), p[2]), "column index"),
    (lambda p: (p[0][::-1].copy(), p[1], p[2]), "indptr must run"),
    (lambda p: (p[0].astype(np.float32), p[1], p[2]), "int32 or int64"),
    (lambda p: (p[0], p[1].astype(np.int64), p[2]), "uint16 or uint32"),
])
def test_check_parts_rejects_damaged_parts(damage, message):
    rng = np.random.default_rng(2)
    parts = to_csr(sparse_weight(rng, (6, 8), 0.5))
    check_parts(*parts, 6, 8)
    with pytest.raises(ExecutionError, match=message):
        check_parts(*damage(parts), 6, 8)


def test_check_parts_rejects_a_decreasing_indptr():
    indptr = np.array([0, 2, 1, 3], dtype=np.int32)
    with pytest.raises(ExecutionError, match="decreases"):
        check_parts(indptr, np.zeros(3, np.uint16), np.ones(3, np.float32), 3, 4)


# -- matmul ------------------------------------------------------------------------------

def run_matmul(x, w, bias=None, activation="none"):
    k, n = w.shape
    return matmul_csc(x, *matmul_weight_parts(w), bias, k=k, n=n, activation=activation)


def ref_matmul(x, w, bias=None, activation="none"):
    out = x.astype(np.float64) @ w.astype(np.float64)
    if bias is not None:
        out = out + bias
    return np.maximum(out, 0) if activation == "relu" else out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m", [1, 2, 17, 64, 65, 100, 130])
@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9, 0.99])
def test_matmul_random(dtype, m, sparsity):
    rng = np.random.default_rng(m + int(100 * sparsity))
    k, n = 70, 45
    w = sparse_weight(rng, (k, n), sparsity, dtype)
    x = rng.standard_normal((m, k)).astype(dtype)
    close(run_matmul(x, w), ref_matmul(x, w), dtype)


@pytest.mark.parametrize("m", [1, 5, 130])
def test_matmul_bias_and_relu(m):
    rng = np.random.default_rng(3)
    w = sparse_weight(rng, (33, 21), 0.8)
    x = rng.standard_normal((m, 33)).astype(np.float32)
    bias = rng.standard_normal(21).astype(np.float32)
    got = run_matmul(x, w, bias, "relu")
    close(got, ref_matmul(x, w, bias, "relu"), np.float32)
    assert (got >= 0).all() and (got == 0).any()
    close(run_matmul(x, w, bias), ref_matmul(x, w, bias), np.float32)


@pytest.mark.parametrize("m", [1, 40, 70])
def test_matmul_empty_rows_all_zero_and_single_nonzero(m):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((m, 30)).astype(np.float32)
    w = sparse_weight(rng, (30, 24), 0.7)
    w[:, ::3] = 0                                       # output features with no weight
    close(run_matmul(x, w), ref_matmul(x, w), np.float32)
    zero = np.zeros((30, 24), np.float32)
    bias = np.arange(24, dtype=np.float32) - 12
    close(run_matmul(x, zero), np.zeros((m, 24)), np.float32)
    close(run_matmul(x, zero, bias, "relu"), np.broadcast_to(np.maximum(bias, 0), (m, 24)), np.float32)
    one = np.zeros((30, 24), np.float32)
    one[17, 5] = 2.5
    close(run_matmul(x, one), ref_matmul(x, one), np.float32)


@pytest.mark.parametrize("m", [1, 3])
def test_matmul_wide_k_uses_uint32_indices(m):
    rng = np.random.default_rng(5)
    k, n = 70_000, 6
    w = np.zeros((k, n), np.float32)
    rows = rng.choice(k, 400, replace=False)
    w[rows, rng.integers(0, n, 400)] = rng.standard_normal(400)
    w[k - 1, 0] = 1.5                                   # a column index above 65535
    indptr, indices, data = matmul_weight_parts(w)
    assert indices.dtype == np.uint32
    x = rng.standard_normal((m, k)).astype(np.float32)
    got = matmul_csc(x, indptr, indices, data, k=k, n=n)
    close(got, ref_matmul(x, w), np.float32)


def test_matmul_leading_dims_and_non_contiguous_inputs():
    rng = np.random.default_rng(6)
    w = sparse_weight(rng, (40, 19), 0.6)
    x3 = rng.standard_normal((2, 3, 40)).astype(np.float32)
    got = run_matmul(x3, w)
    assert got.shape == (2, 3, 19)
    close(got, ref_matmul(x3, w), np.float32)
    xt = rng.standard_normal((40, 80)).astype(np.float32).T     # [80, 40], Fortran order
    close(run_matmul(xt, w), ref_matmul(xt, w), np.float32)
    xs = rng.standard_normal((90, 80)).astype(np.float32)[::3, ::2]  # strided [30, 40]
    close(run_matmul(xs, w), ref_matmul(xs, w), np.float32)
    x1 = rng.standard_normal(40).astype(np.float32)              # a single vector
    got = run_matmul(x1, w)
    assert got.shape == (19,)
    close(got, ref_matmul(x1, w), np.float32)


def test_matmul_tiny_odd_and_empty_sizes():
    rng = np.random.default_rng(7)
    for m, k, n in [(1, 1, 1), (3, 1, 2), (2, 5, 1), (67, 3, 3), (0, 4, 3)]:
        w = sparse_weight(rng, (k, n), 0.3)
        x = rng.standard_normal((m, k)).astype(np.float32)
        close(run_matmul(x, w), ref_matmul(x, w), np.float32)


def test_matmul_other_dtypes():
    rng = np.random.default_rng(8)
    w = sparse_weight(rng, (12, 7), 0.5)
    x = rng.standard_normal((5, 12))
    got = run_matmul(x.astype(np.float16), w.astype(np.float16))
    assert got.dtype == np.float16
    np.testing.assert_allclose(got, ref_matmul(x.astype(np.float16), w.astype(np.float16)),
                               rtol=1e-2, atol=1e-2)
    wi = rng.integers(-3, 4, (12, 7)).astype(np.int32)
    xi = rng.integers(-5, 6, (5, 12)).astype(np.int32)
    got = run_matmul(xi, wi, activation="relu")
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, np.maximum(xi @ wi, 0))


def test_matmul_reuses_checked_weights_and_sees_new_ones():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((8, 16)).astype(np.float32)
    for _ in range(3):                                  # new arrays each time, maybe same ids
        w = sparse_weight(rng, (16, 10), 0.5)
        parts = matmul_weight_parts(w)
        for _ in range(2):
            close(matmul_csc(x, *parts, k=16, n=10), ref_matmul(x, w), np.float32)


def test_matmul_errors():
    rng = np.random.default_rng(10)
    w = sparse_weight(rng, (16, 10), 0.5)
    parts = matmul_weight_parts(w)
    x = rng.standard_normal((4, 16)).astype(np.float32)
    with pytest.raises(ExecutionError, match="expected \\[..., 15\\]"):
        matmul_csc(x, *parts, k=15, n=10)
    with pytest.raises(ExecutionError, match="unknown activation"):
        matmul_csc(x, *parts, k=16, n=10, activation="softsign")
    with pytest.raises(ExecutionError, match="indptr has"):
        matmul_csc(x, *parts, k=16, n=11)
    with pytest.raises(ExecutionError, match="bias has 3 values"):
        matmul_csc(x, *parts, np.ones(3, np.float32), k=16, n=10)
    bad = parts[1].copy()
    bad[0] = 16
    with pytest.raises(ExecutionError, match="column index"):
        matmul_csc(x, parts[0], bad, parts[2], k=16, n=10)


# -- conv2d ------------------------------------------------------------------------------

def ref_conv(x, w, bias, strides, pads, dilations, groups):
    """Sum over kernel taps of strided slices of the padded input (float64)."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (sh, sw), (dh, dw) = strides, dilations
    pt, pl, pb, pr = pads
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    og = o // groups
    out = np.zeros((n, o, oh, ow))
    for g in range(groups):
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, g * cg:(g + 1) * cg,
                           i * dh:i * dh + sh * (oh - 1) + 1:sh,
                           j * dw:j * dw + sw * (ow - 1) + 1:sw]
                out[:, g * og:(g + 1) * og] += np.einsum("ncyx,oc->noyx", patch,
                                                         w[g * og:(g + 1) * og, :, i, j])
    if bias is not None:
        out += bias.reshape(1, o, 1, 1)
    return out


def run_conv(x, w, bias=None, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), groups=1,
             activation="none"):
    return conv2d_csr(x, *conv_weight_parts(w), bias, out_channels=w.shape[0],
                      kernel_shape=list(w.shape[2:]), strides=list(strides), pads=list(pads),
                      dilations=list(dilations), groups=groups, activation=activation)


CONV_CASES = [  # (N, C, H, W, O, kh, kw, strides, pads, dilations, groups)
    (1, 8, 12, 12, 16, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 1),
    (2, 6, 11, 9, 4, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1), 1),
    (1, 4, 13, 10, 6, 3, 3, (1, 1), (2, 2, 2, 2), (2, 2), 1),
    (1, 6, 9, 9, 6, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1), 6),         # depthwise
    (1, 8, 10, 7, 12, 3, 3, (2, 1), (0, 1, 2, 1), (1, 2), 2),       # groups, asymmetric
    (2, 5, 7, 8, 3, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1),         # 1x1
    (1, 3, 17, 23, 5, 5, 5, (3, 2), (2, 2, 2, 2), (1, 1), 1),       # 5x5, stride 3
    (1, 2, 5, 40, 3, 1, 3, (1, 1), (0, 1, 0, 1), (1, 1), 1),        # 1x3, wide rows
    (1, 3, 1, 1, 2, 1, 1, (1, 1), (0, 0, 0, 0), (1, 1), 1),         # a single pixel
    (1, 4, 3, 3, 5, 3, 3, (1, 1), (0, 0, 0, 0), (1, 1), 1),         # output 1x1
]


@pytest.mark.parametrize("case", CONV_CASES, ids=[f"case{i}" for i in range(len(CONV_CASES))])
@pytest.mark.parametrize("sparsity", [0.0, 0.7, 0.95])
def test_conv_matches_dense(case, sparsity):
    n, c, h, wd, o, kh, kw, strides, pads, dilations, groups = case
    rng = np.random.default_rng(hash((case, sparsity)) % 2**32)
    w = sparse_weight(rng, (o, c // groups, kh, kw), sparsity)
    x = rng.standard_normal((n, c, h, wd)).astype(np.float32)
    got = run_conv(x, w, None, strides, pads, dilations, groups)
    close(got, ref_conv(x, w, None, strides, pads, dilations, groups), np.float32)


def test_conv_bias_relu_f64_and_empty_channels():
    rng = np.random.default_rng(11)
    w = sparse_weight(rng, (10, 4, 3, 3), 0.8, np.float64)
    w[2] = 0                                            # an output channel with no weight
    x = rng.standard_normal((2, 4, 9, 14))
    bias = rng.standard_normal(10)
    geom = dict(strides=(1, 1), pads=(1, 1, 1, 1), dilations=(1, 1), groups=1)
    got = run_conv(x, w, bias, activation="relu", **geom)
    close(got, np.maximum(ref_conv(x, w, bias, **geom), 0), np.float64)
    assert (got >= 0).all()


def test_conv_all_zero_weight_and_single_nonzero():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    geom = dict(strides=(2, 2), pads=(1, 1, 1, 1), dilations=(1, 1), groups=1)
    bias = np.array([1.0, -1.0], np.float32)
    zero = np.zeros((2, 3, 3, 3), np.float32)
    close(run_conv(x, zero, bias, activation="relu", **geom),
          np.maximum(ref_conv(x, zero, bias, **geom), 0), np.float32)
    one = np.zeros((2, 3, 3, 3), np.float32)
    one[1, 2, 0, 2] = -3.0
    close(run_conv(x, one, **geom), ref_conv(x, one, None, **geom), np.float32)


def test_conv_large_plane_many_tiles_and_non_contiguous_input():
    rng = np.random.default_rng(13)
    w = sparse_weight(rng, (7, 5, 3, 3), 0.6)
    x = rng.standard_normal((1, 5, 30, 70)).astype(np.float32)[:, :, :, ::2]   # [1, 5, 30, 35]
    geom = dict(strides=(1, 1), pads=(1, 1, 1, 1), dilations=(1, 1), groups=1)
    close(run_conv(x, w, **geom), ref_conv(x, w, None, **geom), np.float32)


def test_conv_errors():
    rng = np.random.default_rng(14)
    w = sparse_weight(rng, (4, 3, 3, 3), 0.5)
    parts = conv_weight_parts(w)
    x = rng.standard_normal((1, 3, 6, 6)).astype(np.float32)
    geom = dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], dilations=[1, 1])
    with pytest.raises(ExecutionError, match="groups"):
        conv2d_csr(x, *parts, out_channels=4, groups=2, **geom)
    with pytest.raises(ExecutionError, match="expected \\[N, C, H, W\\]"):
        conv2d_csr(x[0], *parts, out_channels=4, groups=1, **geom)
    with pytest.raises(ExecutionError, match="indptr has"):
        conv2d_csr(x, *parts, out_channels=5, groups=1, **geom)
    with pytest.raises(ExecutionError, match="unknown activation"):
        conv2d_csr(x, *parts, out_channels=4, groups=1, activation="mish", **geom)


# -- epilogues: bias, residual and every activation, against dense numpy ----------------

def _act_ref(v, activation, alpha=1.0, lo=-np.inf, hi=np.inf):
    from scipy.special import erf, expit
    return {"none": lambda: v, "relu": lambda: np.maximum(v, 0),
            "leaky_relu": lambda: np.where(v >= 0, v, alpha * v),
            "clip": lambda: np.clip(v, lo, hi), "sigmoid": lambda: expit(v),
            "tanh": lambda: np.tanh(v), "gelu": lambda: 0.5 * v * (1 + erf(v / np.sqrt(2))),
            "gelu_tanh": lambda: 0.5 * v * (1 + np.tanh(np.sqrt(2 / np.pi)
                                                         * (v + 0.044715 * v ** 3))),
            "swish": lambda: v * expit(alpha * v),
            "hard_swish": lambda: v * np.clip(v / 6 + 0.5, 0, 1)}[activation]()


EPILOGUE_ACTS = ["none", "relu", "leaky_relu", "clip", "sigmoid", "tanh", "gelu", "gelu_tanh",
                 "swish", "hard_swish"]


@pytest.mark.parametrize("activation", EPILOGUE_ACTS)
@pytest.mark.parametrize("m", [1, 70])
def test_matmul_epilogue_residual_and_activations(activation, m):
    rng = np.random.default_rng(21)
    w = sparse_weight(rng, (48, 24), 0.8)
    x = rng.standard_normal((m, 48)).astype(np.float32)
    bias = rng.standard_normal(24).astype(np.float32)
    res = rng.standard_normal((m, 24)).astype(np.float32)
    attrs = dict(activation=activation, alpha=0.3, clip_min=-0.5, clip_max=0.7)
    want = _act_ref(x.astype(np.float64) @ w + bias + res, activation, 0.3, -0.5, 0.7)
    got = matmul_csc(x, *matmul_weight_parts(w), bias, res, k=48, n=24, residual=True, **attrs)
    close(got, want, np.float32)
    # a residual without a bias, and one that broadcasts (a row vector)
    got = matmul_csc(x, *matmul_weight_parts(w), res[:1], k=48, n=24, residual=True, **attrs)
    close(got, _act_ref(x.astype(np.float64) @ w + res[:1], activation, 0.3, -0.5, 0.7),
          np.float32)
    # no residual: the activation alone after the bias
    got = matmul_csc(x, *matmul_weight_parts(w), bias, k=48, n=24, **attrs)
    close(got, _act_ref(x.astype(np.float64) @ w + bias, activation, 0.3, -0.5, 0.7), np.float32)


@pytest.mark.parametrize("activation", ["relu", "gelu", "clip", "swish"])
def test_conv_epilogue_residual_and_activations(activation):
    rng = np.random.default_rng(22)
    w = sparse_weight(rng, (6, 4, 3, 3), 0.8)
    x = rng.standard_normal((2, 4, 9, 9)).astype(np.float32)
    bias = rng.standard_normal(6).astype(np.float32)
    geom = dict(strides=[1, 1], pads=[1, 1, 1, 1], dilations=[1, 1])
    dense = ref_conv(x, w, bias, groups=1, **geom)
    res = rng.standard_normal(dense.shape).astype(np.float32)
    attrs = dict(activation=activation, alpha=1.5, clip_min=0.0, clip_max=0.5)
    got = conv2d_csr(x, *conv_weight_parts(w), bias, res, out_channels=6, kernel_shape=[3, 3],
                     groups=1, residual=True, **geom, **attrs)
    close(got, _act_ref(dense + res, activation, 1.5, 0.0, 0.5), np.float32)


def test_epilogue_errors_and_integer_path():
    rng = np.random.default_rng(23)
    w = sparse_weight(rng, (16, 10), 0.5)
    parts = matmul_weight_parts(w)
    x = rng.standard_normal((4, 16)).astype(np.float32)
    with pytest.raises(ExecutionError, match="does not broadcast"):
        matmul_csc(x, *parts, np.ones((3, 10), np.float32), k=16, n=10, residual=True)
    with pytest.raises(ExecutionError, match="does not broadcast"):     # would grow the result
        matmul_csc(x, *parts, np.ones((2, 4, 10), np.float32), k=16, n=10, residual=True)
    with pytest.raises(ExecutionError, match="operands after the weight"):
        matmul_csc(x, *parts, k=16, n=10, residual=True)
    wi = (w * 4).astype(np.int32)
    xi = (x * 4).astype(np.int32)
    ri = np.arange(40, dtype=np.int32).reshape(4, 10) - 20
    got = matmul_csc(xi, *matmul_weight_parts(wi), ri, k=16, n=10, residual=True,
                     activation="relu")
    np.testing.assert_array_equal(got, np.maximum(xi @ wi + ri, 0))
