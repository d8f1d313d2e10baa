"""Recurrent kernels (numpy): rnn.rnn, rnn.gru, rnn.lstm in ONNX's layout.

The work is split the way a dataflow machine would split it:

- the input projection x W^T (+ biases) of every time step and direction is
  hoisted out of the time loop as one big matmul;
- each time step then does one batched matmul h R^T over the whole batch and
  both directions at once ([D, B, H] @ [D, H, G*H]; the GRU's hidden gate
  needs a second one when the reset gate comes first), followed by
  elementwise gate math. `_recurrent_product` is that per-step product.

Both directions run in lockstep: step s is time s going forward and time
T-1-s going backward, so the projected inputs of a reverse direction are
stored in step order once, and its outputs put back in time order at the end.
f16 is computed in f32.
"""
from __future__ import annotations

import numpy as np

from .registry import kernel

# ONNX's defaults for the activations that take parameters: name -> (alpha, beta).
_DEFAULT_PARAMS = {
    "affine": (1.0, 0.0), "leakyrelu": (0.01, None), "thresholdedrelu": (1.0, None),
    "scaledtanh": (1.0, 1.0), "hardsigmoid": (0.2, 0.5), "elu": (1.0, None),
}


def _sigmoid(x):
    # exp of a non-positive argument only: no overflow warnings for large |x|.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _activation(name: str, alpha, beta):
    """The numpy function for one ONNX activation name (case-insensitive)."""
    n = name.lower()
    if n == "tanh":
        return np.tanh
    if n == "sigmoid":
        return _sigmoid
    if n == "relu":
        return lambda x: np.maximum(x, 0)
    if n == "affine":
        return lambda x: alpha * x + beta
    if n == "leakyrelu":
        return lambda x: np.where(x >= 0, x, alpha * x)
    if n == "thresholdedrelu":
        return lambda x: np.where(x > alpha, x, 0)
    if n == "scaledtanh":
        return lambda x: alpha * np.tanh(beta * x)
    if n == "hardsigmoid":
        return lambda x: np.clip(alpha * x + beta, 0, 1)
    if n == "elu":
        return lambda x: np.where(x >= 0, x, alpha * np.expm1(np.minimum(x, 0)))
    if n == "softsign":
        return lambda x: x / (1 + np.abs(x))
    if n == "softplus":
        return lambda x: np.logaddexp(0, x)
    raise ValueError(f"unknown activation {name!r}")


def _gate_functions(activations: str, alphas, betas, per: int, directions: int):
    """[direction][k] -> (key, function): the k-th gate function of each direction."""
    names = [a.strip() for a in activations.split(",") if a.strip()]
    alphas, betas = list(alphas), list(betas)
    funcs = []
    for name in names:
        a, b = _DEFAULT_PARAMS.get(name.lower(), (None, None))
        if a is not None and alphas:
            a = alphas.pop(0)
        if b is not None and betas:
            b = betas.pop(0)
        funcs.append(((name.lower(), a, b), _activation(name, a, b)))
    if len(funcs) == per:
        funcs = funcs * directions
    return [funcs[d * per:(d + 1) * per] for d in range(directions)]


def _apply(funcs, k: int, x: np.ndarray) -> np.ndarray:
    """Gate function k of each direction on x [D, ...] (once when all directions agree)."""
    keys = {f[k][0] for f in funcs}
    if len(keys) == 1:
        return funcs[0][k][1](x)
    return np.stack([f[k][1](x[d]) for d, f in enumerate(funcs)])


def _wide(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) if x.dtype == np.float16 else x


def _reverse_flags(direction: str) -> list[bool]:
    return {"forward": [False], "reverse": [True], "bidirectional": [False, True]}[direction]


def _project_inputs(x, w, bias, reverse: list[bool]) -> np.ndarray:
    """x W^T + bias for every step and direction, one matmul: [D, T, B, G*H] in step order."""
    t, b, i = x.shape
    d, gh = w.shape[0], w.shape[1]
    xw = np.matmul(x.reshape(1, t * b, i), w.transpose(0, 2, 1)) + bias[:, None, :]
    xw = xw.reshape(d, t, b, gh)
    for k, rev in enumerate(reverse):
        if rev:
            xw[k] = xw[k, ::-1].copy()
    return xw


def _active_masks(lens, t: int, b: int, reverse: list[bool]):
    """[D, T, B, 1] booleans: is step s of direction d inside the sequence? None if all are."""
    if lens is None:
        return None
    lens = np.asarray(lens, dtype=np.int64)
    steps = np.arange(t)
    times = np.stack([t - 1 - steps if rev else steps for rev in reverse])   # [D, T]
    return (times[:, :, None] < lens[None, None, :])[..., None]


def _recurrent_product(h: np.ndarray, r_t: np.ndarray) -> np.ndarray:
    """h [D, B, H] @ r_t [D, H, K] for the whole batch and every direction at once."""
    return np.matmul(h, r_t)


def _time_order(ys: np.ndarray, reverse: list[bool]) -> np.ndarray:
    """Step-ordered outputs [D, T, B, H] -> ONNX's y [T, D, B, H] in time order."""
    for k, rev in enumerate(reverse):
        if rev:
            ys[k] = ys[k, ::-1].copy()
    return ys.transpose(1, 0, 2, 3)


def _clip(x: np.ndarray, clip: float) -> np.ndarray:
    return np.clip(x, -clip, clip) if clip > 0 else x


def _initial(state, d: int, b: int, h: int, dtype) -> np.ndarray:
    return np.zeros((d, b, h), dtype) if state is None else _wide(state).astype(dtype)


def _step_update(active, s: int, new, old, ys=None):
    """Keep `old` where step s is past a sequence's end; record the output of the step."""
    if active is None:
        if ys is not None:
            ys[:, s] = new
        return new
    m = active[:, s]
    if ys is not None:
        ys[:, s] = np.where(m, new, 0)
    return np.where(m, new, old)


@kernel("rnn.rnn")
def rnn(x, w, r, bias, initial_h=None, sequence_lens=None, *, direction, activations,
        activation_alpha, activation_beta, clip):
    xf = _wide(x)
    t, b, _ = x.shape
    d, h = w.shape[0], r.shape[2]
    reverse = _reverse_flags(direction)
    funcs = _gate_functions(activations, activation_alpha, activation_beta, 1, d)
    bias = _wide(bias).astype(xf.dtype)
    xw = _project_inputs(xf, _wide(w).astype(xf.dtype), bias[:, :h] + bias[:, h:], reverse)
    r_t = np.ascontiguousarray(_wide(r).astype(xf.dtype).transpose(0, 2, 1))
    active = _active_masks(sequence_lens, t, b, reverse)
    hs = _initial(initial_h, d, b, h, xf.dtype)
    ys = np.zeros((d, t, b, h), xf.dtype)
    for s in range(t):
        pre = _clip(xw[:, s] + _recurrent_product(hs, r_t), clip)
        hs = _step_update(active, s, _apply(funcs, 0, pre), hs, ys)
    return _time_order(ys, reverse).astype(x.dtype), hs.astype(x.dtype)


@kernel("rnn.gru")
def gru(x, w, r, bias, initial_h=None, sequence_lens=None, *, direction, activations,
        activation_alpha, activation_beta, clip, linear_before_reset):
    xf = _wide(x)
    t, b, _ = x.shape
    d, h = w.shape[0], r.shape[2]
    reverse = _reverse_flags(direction)
    funcs = _gate_functions(activations, activation_alpha, activation_beta, 2, d)
    bias = _wide(bias).astype(xf.dtype)
    wb, rb = bias[:, :3 * h], bias[:, 3 * h:]
    r_t = _wide(r).astype(xf.dtype).transpose(0, 2, 1)          # [D, H, 3H]: z, r, h
    if linear_before_reset:
        # h~ = g(x Wh + Wbh + rt * (h Rh + Rbh)): Rbh stays inside the product with rt.
        folded = wb + np.concatenate([rb[:, :2 * h], np.zeros_like(rb[:, 2 * h:])], axis=1)
        rb_h = rb[:, None, 2 * h:]
        r_all = np.ascontiguousarray(r_t)
    else:
        folded = wb + rb
        r_zr = np.ascontiguousarray(r_t[:, :, :2 * h])
        r_h = np.ascontiguousarray(r_t[:, :, 2 * h:])
    xw = _project_inputs(xf, _wide(w).astype(xf.dtype), folded, reverse)
    active = _active_masks(sequence_lens, t, b, reverse)
    hs = _initial(initial_h, d, b, h, xf.dtype)
    ys = np.zeros((d, t, b, h), xf.dtype)
    for s in range(t):
        xs = xw[:, s]
        if linear_before_reset:
            rec = _recurrent_product(hs, r_all)
            zr = _apply(funcs, 0, _clip(xs[..., :2 * h] + rec[..., :2 * h], clip))
            z, rg = zr[..., :h], zr[..., h:]
            cand = xs[..., 2 * h:] + rg * (rec[..., 2 * h:] + rb_h)
        else:
            zr = _apply(funcs, 0, _clip(xs[..., :2 * h] + _recurrent_product(hs, r_zr), clip))
            z, rg = zr[..., :h], zr[..., h:]
            cand = xs[..., 2 * h:] + _recurrent_product(rg * hs, r_h)
        cand = _apply(funcs, 1, _clip(cand, clip))
        hs = _step_update(active, s, (1 - z) * cand + z * hs, hs, ys)
    return _time_order(ys, reverse).astype(x.dtype), hs.astype(x.dtype)


@kernel("rnn.lstm")
def lstm(x, w, r, bias, peepholes, initial_h=None, initial_c=None, sequence_lens=None, *,
         direction, activations, activation_alpha, activation_beta, clip, input_forget):
    xf = _wide(x)
    t, b, _ = x.shape
    d, h = w.shape[0], r.shape[2]
    reverse = _reverse_flags(direction)
    funcs = _gate_functions(activations, activation_alpha, activation_beta, 3, d)
    bias = _wide(bias).astype(xf.dtype)
    xw = _project_inputs(xf, _wide(w).astype(xf.dtype), bias[:, :4 * h] + bias[:, 4 * h:],
                         reverse)
    r_t = np.ascontiguousarray(_wide(r).astype(xf.dtype).transpose(0, 2, 1))   # i, o, f, c
    peep = _wide(peepholes).astype(xf.dtype)
    use_peep = bool(np.any(peep))
    p_i, p_o, p_f = (peep[:, None, k * h:(k + 1) * h] for k in range(3))
    active = _active_masks(sequence_lens, t, b, reverse)
    hs = _initial(initial_h, d, b, h, xf.dtype)
    cs = _initial(initial_c, d, b, h, xf.dtype)
    ys = np.zeros((d, t, b, h), xf.dtype)
    for s in range(t):
        pre = xw[:, s] + _recurrent_product(hs, r_t)
        i_pre, o_pre, f_pre, c_pre = (pre[..., k * h:(k + 1) * h] for k in range(4))
        if use_peep:
            i_pre = i_pre + p_i * cs
            f_pre = f_pre + p_f * cs
        i_gate = _apply(funcs, 0, _clip(i_pre, clip))
        f_gate = 1 - i_gate if input_forget else _apply(funcs, 0, _clip(f_pre, clip))
        c_new = f_gate * cs + i_gate * _apply(funcs, 1, _clip(c_pre, clip))
        if use_peep:
            o_pre = o_pre + p_o * c_new
        o_gate = _apply(funcs, 0, _clip(o_pre, clip))
        h_new = o_gate * _apply(funcs, 2, c_new)
        cs = _step_update(active, s, c_new, cs)
        hs = _step_update(active, s, h_new, hs, ys)
    return (_time_order(ys, reverse).astype(x.dtype), hs.astype(x.dtype),
            cs.astype(x.dtype))
