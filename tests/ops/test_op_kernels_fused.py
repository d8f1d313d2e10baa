"""Kernels of the fused ops (`compiler/ops/fused.py`) against numpy references written here.

Same contract as `tests/ops/test_op_kernels.py`: references in float64 from
the formulas (explicit loops for the convolution, `math.erf` for gelu), the
kernel called as the runtime calls it, inference checked against the
kernel's result, inputs left untouched. `tests/ops/test_registry.py` reads
`CASES`. The fused kernels are also compared with the unfused op sequences in
`tests/fusion/test_fused_kernels.py`.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from test_op_kernels import case, f64, params, randn, run_case, within
from test_op_kernels_nn import conv_nd_ref

_erf = np.vectorize(math.erf)


def act_ref(y, activation, alpha=1.0, lo=-np.inf, hi=np.inf):
    y = f64(y)
    if activation == "none":
        return y
    if activation == "relu":
        return np.maximum(y, 0)
    if activation == "clip":
        return np.minimum(np.maximum(y, lo), hi)
    if activation == "sigmoid":
        return 1 / (1 + np.exp(-y))
    if activation == "tanh":
        return np.tanh(y)
    if activation == "gelu":
        return 0.5 * y * (1 + _erf(y / math.sqrt(2)))
    if activation == "gelu_tanh":
        return 0.5 * y * (1 + np.tanh(math.sqrt(2 / math.pi) * (y + 0.044715 * y ** 3)))
    if activation == "swish":
        return y / (1 + np.exp(-alpha * y))
    if activation == "hard_swish":
        return y * np.clip(y / 6 + 0.5, 0, 1)
    if activation == "leaky_relu":
        return np.where(y >= 0, y, alpha * y)
    raise AssertionError(activation)


def conv_case(id, x, w, bias=None, res=None, activation="none", **kw):
    conv = {k: kw.pop(k) for k in ("strides", "pads", "dilations", "groups") if k in kw}
    inputs = [x, w] + [a for a in (bias, res) if a is not None]

    def ref(*arrays):
        y = conv_nd_ref(arrays[0], arrays[1], bias, **conv)
        if res is not None:
            y = y + f64(res)
        return act_ref(y, activation, kw.get("alpha", 1.0), kw.get("clip_min", -np.inf),
                       kw.get("clip_max", np.inf))
    return case(id, inputs, ref, has_bias=bias is not None, residual=res is not None,
                activation=activation, **conv, **kw)


def matmul_case(id, a, b, bias=None, res=None, activation="none", **kw):
    inputs = [a, b] + [t for t in (bias, res) if t is not None]

    def ref(*arrays):
        y = f64(a) @ f64(b)
        if bias is not None:
            y = y + f64(bias)
        if res is not None:
            y = y + f64(res)
        return act_ref(y, activation, kw.get("alpha", 1.0), kw.get("clip_min", -np.inf),
                       kw.get("clip_max", np.inf))
    return case(id, inputs, ref, has_bias=bias is not None, residual=res is not None,
                activation=activation, **kw)


def softmax_ref(x, mask=None, axis=-1, scale=1.0, mode="none", fill=-np.inf):
    s = f64(x) * scale
    if mode == "add":
        s = s + f64(mask)
    elif mode == "select":
        s = np.where(mask, s, fill)
    e = np.exp(s - s.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def maxpool_ref(y, k, s, pads):
    """Max over each window, padding never winning (explicit loops)."""
    n, c, h, w = y.shape
    padded = np.full((n, c, h + pads[0] + pads[2], w + pads[1] + pads[3]), -np.inf)
    padded[:, :, pads[0]:pads[0] + h, pads[1]:pads[1] + w] = y
    ho, wo = (padded.shape[2] - k[0]) // s[0] + 1, (padded.shape[3] - k[1]) // s[1] + 1
    out = np.empty((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = padded[:, :, i * s[0]:i * s[0] + k[0],
                                     j * s[1]:j * s[1] + k[1]].max(axis=(2, 3))
    return out


def shortcut_pool_case():
    """conv + bias + shortcut conv (strided 1x1, with bias) + relu, then a max pool."""
    x, w, b = randn(2, 3, 8, 8), randn(4, 3, 3, 3), randn(4)
    wd, bd = randn(4, 3, 1, 1), randn(4)

    def ref(*arrays):
        y = conv_nd_ref(x, w, b, strides=[2, 2], pads=[1, 1, 1, 1])
        y = y + conv_nd_ref(x, wd, bd, strides=[2, 2])
        return maxpool_ref(np.maximum(y, 0), [2, 2], [2, 2], [0, 0, 1, 1])
    return case("shortcut-relu-maxpool", [x, w, b, x, wd, bd], ref, strides=[2, 2],
                pads=[1, 1, 1, 1], has_bias=True, activation="relu", shortcut=True,
                shortcut_has_bias=True, shortcut_strides=[2, 2], pool_kernel=[2, 2],
                pool_strides=[2, 2], pool_pads=[0, 0, 1, 1])


_x = randn(2, 6, 7, 7)
_w = randn(4, 6, 3, 3)
_dw = randn(6, 1, 3, 3)
_b4 = randn(4)

CASES = {
    "fused.conv2d_epilogue": [
        conv_case("bias-relu", _x, _w, _b4, activation="relu", pads=[1, 1, 1, 1]),
        conv_case("residual-relu6", _x, _w, _b4, randn(2, 4, 5, 5), "clip", clip_min=0.0,
                  clip_max=6.0),
        conv_case("depthwise-stride2-hardswish", _x, _dw, randn(6), activation="hard_swish",
                  strides=[2, 2], pads=[1, 1, 1, 1], groups=6),
        conv_case("1x1-no-bias-residual", _x, randn(5, 6, 1, 1), None, randn(2, 5, 7, 7)),
        conv_case("grouped-dilated-swish", _x, randn(4, 3, 3, 3), _b4, activation="swish",
                  dilations=[2, 1], groups=2, alpha=1.5),
        conv_case("f64-gelu", _x.astype(np.float64), _w.astype(np.float64),
                  _b4.astype(np.float64), activation="gelu"),
        shortcut_pool_case(),
    ],
    "fused.matmul_epilogue": [
        matmul_case("bias-gelu", randn(2, 5, 8), randn(8, 6), randn(6), activation="gelu"),
        matmul_case("bias-residual", randn(7, 8), randn(8, 6), randn(1, 6), randn(7, 6)),
        matmul_case("gelu-tanh", randn(3, 8), randn(8, 6), activation="gelu_tanh"),
        matmul_case("sigmoid-batched-broadcast-residual", randn(2, 3, 4), randn(2, 4, 5),
                    None, randn(5), "sigmoid"),
        matmul_case("leaky-tanh-vector", randn(8), randn(8, 4), randn(4), None, "leaky_relu",
                    alpha=0.1),
        matmul_case("tanh", randn(4, 8), randn(8, 3), randn(3), activation="tanh"),
    ],
    "fused.elementwise": [
        case("erf-gelu-program", [randn(3, 4, 5)],
             lambda x: act_ref(x, "gelu"),
             program="v0 = div(x0, 1.4142135381698608); v1 = erf(v0); v2 = add(v1, 1.0); "
                     "v3 = mul(x0, v2); v4 = mul(v3, 0.5)"),
        case("broadcast-bias-swish-clip", [randn(4, 1, 6), randn(6)],
             lambda x, b: np.clip(act_ref(f64(x) + f64(b), "swish", 2.0), -0.2, 0.5),
             program="v0 = add(x0, x1); v1 = swish(v0, 2.0); v2 = clip(v1, -0.2, 0.5)"),
        case("scalar-and-pow", [randn(2, 3), randn(2, 3)],
             lambda a, b: np.sqrt(np.abs(f64(a) ** 2.0 - f64(b))) * 3.0,
             program="v0 = pow(x0, 2.0); v1 = sub(v0, x1); v2 = abs(v1); v3 = sqrt(v2); "
                     "v4 = mul(v3, 3.0)"),
        case("large-blocked", [randn(64, 700), randn(700)],
             lambda a, b: np.maximum(f64(a) * f64(b), 0) + np.exp(-np.abs(f64(b))),
             program="v0 = mul(x0, x1); v1 = relu(v0); v2 = abs(x1); v3 = neg(v2); "
                     "v4 = exp(v3); v5 = add(v1, v4)"),
    ],
    "fused.masked_softmax": [
        case("scale", [randn(2, 3, 7)], lambda x: softmax_ref(x, scale=0.25), scale=0.25),
        case("add-mask", [randn(2, 2, 4, 5), randn(2, 1, 1, 5)],
             lambda x, m: softmax_ref(x, m, scale=0.5, mode="add"), scale=0.5, mask_mode="add"),
        case("select-axis0", [randn(5, 3), np.array([[True], [False], [True], [True],
                                                       [False]])],
             lambda x, m: softmax_ref(x, m, axis=0, mode="select", fill=-1e9),
             axis=0, mask_mode="select", fill=-1e9),
    ],
}


@pytest.mark.parametrize("op,c", params(CASES))
def test_fused_kernel_matches_reference(op: str, c) -> None:
    # a K-long dot product in f32: the tolerance grows with K
    run_case(op, c, within(rtol=2e-5, atol=2e-5))