"""sparse.rnn / sparse.gru / sparse.lstm against the dense recurrent kernels.

Each case prunes W and/or R at random, gives the sparse kernel the CSR parts of
the [D*G*H, In] row view and the dense kernel the densified weights, and holds
every output to 1e-4 relative (f32). The dense kernels are themselves checked
against onnxruntime by the ONNX node suite.
"""
from __future__ import annotations

import numpy as np
import pytest

from runtime.errors import ExecutionError
from runtime.kernels import rnn as rnn_kernels
from runtime.kernels.registry import get_kernel
from runtime.sparse_format import to_csr

GATES = {"rnn": 1, "gru": 3, "lstm": 4}
FUNCS = {"rnn": "Tanh", "gru": "Sigmoid,Tanh", "lstm": "Sigmoid,Tanh,Tanh"}


def _prune(a: np.ndarray, sparsity: float, rng) -> np.ndarray:
    return np.where(rng.random(a.shape) < sparsity, 0, a).astype(a.dtype)


def _case(op, *, t=5, b=3, i=6, h=4, direction="forward", w_sparse=True, r_sparse=True,
          sparsity=0.7, lens=False, states=False, peepholes=False, dtype=np.float32, seed=0,
          zero=None, **extra):
    """(dense kernel args, sparse kernel args, attrs) for one random case."""
    rng = np.random.default_rng(seed)
    d = 2 if direction == "bidirectional" else 1
    g = GATES[op]

    def rand(*shape):
        return (rng.standard_normal(shape) * 0.5).astype(dtype)

    x = rand(t, b, i)
    w = _prune(rand(d, g * h, i), sparsity if w_sparse else 0.0, rng)
    r = _prune(rand(d, g * h, h), sparsity if r_sparse else 0.0, rng)
    if zero == "w":
        w[...] = 0
    if zero == "r":
        r[...] = 0
    tail = [rand(d, 2 * g * h)]
    if op == "lstm":
        tail.append(rand(d, 3 * h) if peepholes else np.zeros((d, 3 * h), dtype))
    opt = []
    if states or lens:
        opt.append(rand(d, b, h) if states else np.zeros((d, b, h), dtype))
        if op == "lstm":
            opt.append(rand(d, b, h) if states else np.zeros((d, b, h), dtype))
    if lens:
        opt.append(rng.integers(1, t + 1, b).astype(np.int32))
    attrs = {"direction": direction, "activations": FUNCS[op], "activation_alpha": [],
             "activation_beta": [], "clip": 0.0, **extra}

    def parts(a):
        return list(to_csr(a.reshape(-1, a.shape[-1])))

    dense = [x, w, r, *tail, *opt]
    sparse = [x, *(parts(w) if w_sparse else [w]), *(parts(r) if r_sparse else [r]),
              *tail, *opt]
    return dense, sparse, {**attrs, "w_sparse": w_sparse, "r_sparse": r_sparse}


def _check(op, dense, sparse, attrs, rtol=1e-4):
    flags = {k: attrs[k] for k in ("w_sparse", "r_sparse")}
    plain = {k: v for k, v in attrs.items() if k not in flags}
    want = get_kernel(f"rnn.{op}")(*dense, **plain)
    got = get_kernel(f"sparse.{op}")(*sparse, **attrs)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        scale = float(np.max(np.abs(w))) or 1.0
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * scale)
    return want


def _extra(op, variant):
    if op == "gru":
        return {"linear_before_reset": variant % 2}
    if op == "lstm":
        return {"input_forget": bool(variant % 2), "peepholes": variant < 2}
    return {}


@pytest.mark.parametrize("op", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("which", ["w", "r", "both"])
def test_sparse_equals_dense(op, direction, which):
    for variant in range(4):
        dense, sparse, attrs = _case(
            op, direction=direction, w_sparse=which in ("w", "both"),
            r_sparse=which in ("r", "both"), seed=variant, lens=variant >= 2,
            states=variant in (1, 3), b=1 if variant == 3 else 3, **_extra(op, variant))
        _check(op, dense, sparse, attrs)


@pytest.mark.parametrize("op", ["rnn", "gru", "lstm"])
def test_gru_gate_slices_and_options_bidirectional(op):
    """Both directions with their own activations, clipping, lengths and states."""
    acts = {"rnn": "Tanh,Relu", "gru": "Sigmoid,Tanh,HardSigmoid,Softsign",
            "lstm": "Sigmoid,Tanh,Tanh,HardSigmoid,Tanh,Softsign"}[op]
    for lbr in (0, 1):
        extra = {"gru": {"linear_before_reset": lbr},
                 "lstm": {"input_forget": bool(lbr), "peepholes": True}}.get(op, {})
        dense, sparse, attrs = _case(op, direction="bidirectional", lens=True, states=True,
                                     t=7, b=4, i=5, h=6, seed=10 + lbr, **extra)
        attrs.update(activations=acts, clip=1.5)
        _check(op, dense, sparse, attrs)


@pytest.mark.parametrize("op", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("zero", ["w", "r"])
def test_all_zero_weight(op, zero):
    dense, sparse, attrs = _case(op, direction="bidirectional", zero=zero, seed=3,
                                 **_extra(op, 1))
    nnz = sparse[3 if zero == "w" else 6]
    assert nnz.size == 0
    _check(op, dense, sparse, attrs)


@pytest.mark.parametrize("op", ["rnn", "gru", "lstm"])
def test_f64_and_f16(op):
    dense, sparse, attrs = _case(op, direction="bidirectional", dtype=np.float64, lens=True,
                                 seed=5, **_extra(op, 0))
    want = _check(op, dense, sparse, attrs, rtol=1e-10)
    assert want[0].dtype == np.float64
    dense, sparse, attrs = _case(op, direction="reverse", dtype=np.float16, seed=6,
                                 **_extra(op, 1))
    _check(op, dense, sparse, attrs, rtol=2e-3)


def test_larger_lstm_multithreaded_paths():
    """Enough tokens for the tiled spmm (projection) and the spmv (batch 1) loops."""
    for b in (1, 8):
        dense, sparse, attrs = _case("lstm", t=40, b=b, i=96, h=64, sparsity=0.9,
                                     direction="bidirectional", seed=b, input_forget=False)
        _check("lstm", dense, sparse, attrs)


def test_sub_weights_are_built_once_per_weight():
    dense, sparse, attrs = _case("gru", direction="bidirectional", linear_before_reset=0)
    kern = get_kernel("sparse.gru")
    kern(*sparse, **attrs)
    w = rnn_kernels._SparseProduct(*sparse[4:7], 2, 12, 4, np.dtype(np.float32), "t").weight
    first = {k: v[0] for k, v in rnn_kernels._SUBS[w].items()}
    assert set(first) == {(0, 0, 8), (0, 8, 12), (1, 0, 8), (1, 8, 12)}
    kern(*sparse, **attrs)
    assert all(rnn_kernels._SUBS[w][k][0] is v for k, v in first.items())


def test_bad_parts_and_operands_are_clear_errors():
    dense, sparse, attrs = _case("lstm", peepholes=False, input_forget=False)
    kern = get_kernel("sparse.lstm")
    bad = list(sparse)
    bad[2] = bad[2].copy()
    bad[2][0] = 60000                          # a column index out of range
    with pytest.raises(ExecutionError, match="column index"):
        kern(*bad, **attrs)
    with pytest.raises(ExecutionError, match="operands"):
        kern(*sparse[:7], **attrs)
    with pytest.raises(ExecutionError, match="bias"):
        kern(*sparse[:7], sparse[7][:, :5], *sparse[8:], **attrs)
