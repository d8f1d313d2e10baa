"""Recurrent kernels (numpy): rnn.rnn, rnn.gru, rnn.lstm in ONNX's layout, and their
sparse-weight forms sparse.rnn, sparse.gru, sparse.lstm.

The work is split the way a dataflow machine would split it:

- the input projection x W^T (+ biases) of every time step and direction is
  hoisted out of the time loop as one big matmul;
- each time step then does one batched product h R^T over the whole batch and
  both directions at once ([D, B, H] @ [D, H, G*H]; the GRU's hidden gate
  needs a second one when the reset gate comes first), followed by
  elementwise gate math.

Both products go through a *weight product* (`_DenseProduct`, `_SparseProduct`):
`project(x)` is x W^T for every direction, `step(h, lo, hi)` is h R^T over the
rows lo:hi of each direction's G*H (the GRU's gate slices). The sparse one
holds the CSR parts of the weight's [D*G*H, In] row view and runs
`sparse.matmul_csc`, so W and R may each be dense or sparse.

Both directions run in lockstep: step s is time s going forward and time
T-1-s going backward, so the projected inputs of a reverse direction are
stored in step order once, and its outputs put back in time order at the end.
f16 is computed in f32.
"""
from __future__ import annotations

import weakref

import numpy as np

from ..errors import ExecutionError
from .registry import kernel
from .sparse import _weight, matmul_csc

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


class _DenseProduct:
    """Products with a dense weight W [D, rows, cols]: x W^T and h W^T per direction."""

    def __init__(self, w: np.ndarray, dtype: np.dtype) -> None:
        self.w = _wide(w).astype(dtype)
        self.directions, self.rows, self.cols = self.w.shape
        self._steps: dict[tuple[int, int], np.ndarray] = {}

    def project(self, x2d: np.ndarray) -> np.ndarray:
        """x2d [M, cols] @ W[d]^T for every direction: [D, M, rows]."""
        return np.matmul(x2d[None], self.w.transpose(0, 2, 1))

    def step(self, h: np.ndarray, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """h [D, B, cols] @ W[d, lo:hi]^T for the whole batch and every direction at once."""
        key = (lo, self.rows if hi is None else hi)
        w_t = self._steps.get(key)
        if w_t is None:
            w_t = np.ascontiguousarray(self.w[:, key[0]:key[1]].transpose(0, 2, 1))
            self._steps[key] = w_t
        return np.matmul(h, w_t)


# Sub-CSRs (one direction, a run of its rows) of the checked weights of sparse.matmul_csc's
# cache: made once per weight object, and kept no longer than it (its arrays' lifetime).
_SUBS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class _SparseProduct:
    """Products with W [D, rows, cols] given as the CSR parts of its [D*rows, cols] row view.

    `project` is one `sparse.matmul_csc` over all directions (the row view is the
    CSC of [cols, D*rows]); `step` runs one per direction on the CSR of that
    direction's rows lo:hi.
    """

    def __init__(self, indptr, indices, data, directions: int, rows: int, cols: int,
                 dtype: np.dtype, what: str) -> None:
        self.parts = (indptr, indices, data)
        self.weight = _weight(indptr, indices, data, directions * rows, cols, what)
        self.directions, self.rows, self.cols = directions, rows, cols
        self.dtype = dtype

    def _sub(self, d: int, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.directions == 1 and (lo, hi) == (0, self.rows):
            return self.parts
        w = self.weight
        subs = _SUBS.setdefault(w, {})
        key = (d, lo, hi)
        if key not in subs:
            a, b = d * self.rows + lo, d * self.rows + hi
            p0, p1 = int(w.indptr[a]), int(w.indptr[b])
            # Views of the weight's arrays (no copy); the new indptr keeps no reference to
            # the artifact's, so the caches still empty when the artifact's indptr dies.
            subs[key] = (w.indptr[a:b + 1] - p0, w.indices[p0:p1], w.data[p0:p1])
        return subs[key]

    def _matmul(self, x: np.ndarray, parts, n: int) -> np.ndarray:
        out = matmul_csc(x, *parts, k=self.cols, n=n)
        return out if out.dtype == self.dtype else out.astype(self.dtype)

    def project(self, x2d: np.ndarray) -> np.ndarray:
        out = self._matmul(x2d, self.parts, self.directions * self.rows)
        return out.reshape(-1, self.directions, self.rows).transpose(1, 0, 2)

    def step(self, h: np.ndarray, lo: int = 0, hi: int | None = None) -> np.ndarray:
        hi = self.rows if hi is None else hi
        if self.directions == 1:
            return self._matmul(h[0], self._sub(0, lo, hi), hi - lo)[None]
        return np.stack([self._matmul(h[d], self._sub(d, lo, hi), hi - lo)
                         for d in range(self.directions)])


def _project_inputs(x, w, bias, reverse: list[bool]) -> np.ndarray:
    """x W^T + bias for every step and direction, one product: [D, T, B, G*H] in step order."""
    t, b, i = x.shape
    xw = w.project(x.reshape(t * b, i)) + bias[:, None, :]
    xw = xw.reshape(w.directions, t, b, w.rows)
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


def _rnn(x, w, r, bias, initial_h, sequence_lens, *, direction, activations,
         activation_alpha, activation_beta, clip):
    xf = _wide(x)
    t, b, _ = x.shape
    d, h = w.directions, r.cols
    reverse = _reverse_flags(direction)
    funcs = _gate_functions(activations, activation_alpha, activation_beta, 1, d)
    bias = _wide(bias).astype(xf.dtype)
    xw = _project_inputs(xf, w, bias[:, :h] + bias[:, h:], reverse)
    active = _active_masks(sequence_lens, t, b, reverse)
    hs = _initial(initial_h, d, b, h, xf.dtype)
    ys = np.zeros((d, t, b, h), xf.dtype)
    for s in range(t):
        pre = _clip(xw[:, s] + r.step(hs), clip)
        hs = _step_update(active, s, _apply(funcs, 0, pre), hs, ys)
    return _time_order(ys, reverse).astype(x.dtype), hs.astype(x.dtype)


def _gru(x, w, r, bias, initial_h, sequence_lens, *, direction, activations,
         activation_alpha, activation_beta, clip, linear_before_reset):
    xf = _wide(x)
    t, b, _ = x.shape
    d, h = w.directions, r.cols
    reverse = _reverse_flags(direction)
    funcs = _gate_functions(activations, activation_alpha, activation_beta, 2, d)
    bias = _wide(bias).astype(xf.dtype)
    wb, rb = bias[:, :3 * h], bias[:, 3 * h:]                   # gates z, r, h
    if linear_before_reset:
        # h~ = g(x Wh + Wbh + rt * (h Rh + Rbh)): Rbh stays inside the product with rt.
        folded = wb + np.concatenate([rb[:, :2 * h], np.zeros_like(rb[:, 2 * h:])], axis=1)
        rb_h = rb[:, None, 2 * h:]
    else:
        folded = wb + rb
    xw = _project_inputs(xf, w, folded, reverse)
    active = _active_masks(sequence_lens, t, b, reverse)
    hs = _initial(initial_h, d, b, h, xf.dtype)
    ys = np.zeros((d, t, b, h), xf.dtype)
    for s in range(t):
        xs = xw[:, s]
        if linear_before_reset:
            rec = r.step(hs)
            zr = _apply(funcs, 0, _clip(xs[..., :2 * h] + rec[..., :2 * h], clip))
            z, rg = zr[..., :h], zr[..., h:]
            cand = xs[..., 2 * h:] + rg * (rec[..., 2 * h:] + rb_h)
        else:
            zr = _apply(funcs, 0, _clip(xs[..., :2 * h] + r.step(hs, 0, 2 * h), clip))
            z, rg = zr[..., :h], zr[..., h:]
            cand = xs[..., 2 * h:] + r.step(rg * hs, 2 * h, 3 * h)
        cand = _apply(funcs, 1, _clip(cand, clip))
        hs = _step_update(active, s, (1 - z) * cand + z * hs, hs, ys)
    return _time_order(ys, reverse).astype(x.dtype), hs.astype(x.dtype)


def _lstm(x, w, r, bias, peepholes, initial_h, initial_c, sequence_lens, *, direction,
          activations, activation_alpha, activation_beta, clip, input_forget):
    xf = _wide(x)
    t, b, _ = x.shape
    d, h = w.directions, r.cols
    reverse = _reverse_flags(direction)
    funcs = _gate_functions(activations, activation_alpha, activation_beta, 3, d)
    bias = _wide(bias).astype(xf.dtype)
    xw = _project_inputs(xf, w, bias[:, :4 * h] + bias[:, 4 * h:], reverse)   # i, o, f, c
    peep = _wide(peepholes).astype(xf.dtype)
    use_peep = bool(np.any(peep))
    p_i, p_o, p_f = (peep[:, None, k * h:(k + 1) * h] for k in range(3))
    active = _active_masks(sequence_lens, t, b, reverse)
    hs = _initial(initial_h, d, b, h, xf.dtype)
    cs = _initial(initial_c, d, b, h, xf.dtype)
    ys = np.zeros((d, t, b, h), xf.dtype)
    for s in range(t):
        pre = xw[:, s] + r.step(hs)
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


# -- dense kernels ---------------------------------------------------------------------

@kernel("rnn.rnn")
def rnn(x, w, r, bias, initial_h=None, sequence_lens=None, *, direction, activations,
        activation_alpha, activation_beta, clip):
    dtype = _wide(x).dtype
    return _rnn(x, _DenseProduct(w, dtype), _DenseProduct(r, dtype), bias, initial_h,
                sequence_lens, direction=direction, activations=activations,
                activation_alpha=activation_alpha, activation_beta=activation_beta, clip=clip)


@kernel("rnn.gru")
def gru(x, w, r, bias, initial_h=None, sequence_lens=None, *, direction, activations,
        activation_alpha, activation_beta, clip, linear_before_reset):
    dtype = _wide(x).dtype
    return _gru(x, _DenseProduct(w, dtype), _DenseProduct(r, dtype), bias, initial_h,
                sequence_lens, direction=direction, activations=activations,
                activation_alpha=activation_alpha, activation_beta=activation_beta, clip=clip,
                linear_before_reset=linear_before_reset)


@kernel("rnn.lstm")
def lstm(x, w, r, bias, peepholes, initial_h=None, initial_c=None, sequence_lens=None, *,
         direction, activations, activation_alpha, activation_beta, clip, input_forget):
    dtype = _wide(x).dtype
    return _lstm(x, _DenseProduct(w, dtype), _DenseProduct(r, dtype), bias, peepholes,
                 initial_h, initial_c, sequence_lens, direction=direction,
                 activations=activations, activation_alpha=activation_alpha,
                 activation_beta=activation_beta, clip=clip, input_forget=input_forget)


# -- sparse-weight kernels -------------------------------------------------------------

_GATES = {"rnn": 1, "gru": 3, "lstm": 4}
_RECOMPILE = "this artifact does not match the kernel's contract; recompile it"


def _sparse_weights(op: str, x, operands: tuple, w_sparse: bool, r_sparse: bool,
                    direction: str):
    """(W product, R product, the operands after them) of a sparse.<op> call.

    Each of W and R is one dense [D, G*H, In] array, or its three CSR parts
    (indptr, indices, data of the [D*G*H, In] row view) when its flag is set.
    H comes from a dense weight, else from the bias [D, 2*G*H].
    """
    what = f"sparse.{op}"
    gates = _GATES[op]
    need = (3 if w_sparse else 1) + (3 if r_sparse else 1) + (2 if op == "lstm" else 1)
    x = np.asarray(x)
    if len(operands) < need or x.ndim != 3:
        raise ExecutionError(f"{what}: expected x [T, B, I] and at least {need} operands "
                             f"after it (w_sparse={w_sparse}, r_sparse={r_sparse}), got x "
                             f"{list(x.shape)} and {len(operands)}",
                             hint=_RECOMPILE)
    rest = list(operands)
    w = tuple(rest.pop(0) for _ in range(3 if w_sparse else 1))
    r = tuple(rest.pop(0) for _ in range(3 if r_sparse else 1))
    bias = np.asarray(rest[0])
    d = 2 if direction == "bidirectional" else 1
    if not r_sparse:
        h = np.shape(r[0])[-1] if np.ndim(r[0]) == 3 else 0
    elif not w_sparse:
        h = np.shape(w[0])[1] // gates if np.ndim(w[0]) == 3 else 0
    else:
        h = bias.shape[-1] // (2 * gates) if bias.ndim == 2 else 0
    if bias.shape != (d, 2 * gates * h):
        raise ExecutionError(f"{what}: bias has shape {list(bias.shape)}, expected "
                             f"[{d}, {2 * gates * h}] (D={d}, H={h})",
                             hint=_RECOMPILE)
    dtype = _wide(x).dtype
    products = []
    for name, parts, is_sparse, cols in (("w", w, w_sparse, x.shape[2]), ("r", r, r_sparse, h)):
        if is_sparse:
            products.append(_SparseProduct(*parts, d, gates * h, cols, dtype,
                                           f"{what} (weight {name})"))
            continue
        dense = np.asarray(parts[0])
        if dense.shape != (d, gates * h, cols):
            raise ExecutionError(f"{what}: weight {name} has shape {list(dense.shape)}, "
                                 f"expected [{d}, {gates * h}, {cols}]",
                                 hint=_RECOMPILE)
        products.append(_DenseProduct(dense, dtype))
    return products[0], products[1], rest


@kernel("sparse.rnn")
def sparse_rnn(x, *operands, w_sparse: bool, r_sparse: bool, direction, activations,
               activation_alpha, activation_beta, clip):
    """rnn.rnn with W and/or R given as CSR parts (see `_sparse_weights`)."""
    w, r, rest = _sparse_weights("rnn", x, operands, w_sparse, r_sparse, direction)
    return _rnn(x, w, r, *_padded(rest, 3, "rnn"), direction=direction,
                activations=activations,
                activation_alpha=activation_alpha, activation_beta=activation_beta, clip=clip)


@kernel("sparse.gru")
def sparse_gru(x, *operands, w_sparse: bool, r_sparse: bool, direction, activations,
               activation_alpha, activation_beta, clip, linear_before_reset):
    """rnn.gru with W and/or R given as CSR parts (see `_sparse_weights`)."""
    w, r, rest = _sparse_weights("gru", x, operands, w_sparse, r_sparse, direction)
    return _gru(x, w, r, *_padded(rest, 3, "gru"), direction=direction,
                activations=activations,
                activation_alpha=activation_alpha, activation_beta=activation_beta, clip=clip,
                linear_before_reset=linear_before_reset)


@kernel("sparse.lstm")
def sparse_lstm(x, *operands, w_sparse: bool, r_sparse: bool, direction, activations,
                activation_alpha, activation_beta, clip, input_forget):
    """rnn.lstm with W and/or R given as CSR parts (see `_sparse_weights`)."""
    w, r, rest = _sparse_weights("lstm", x, operands, w_sparse, r_sparse, direction)
    return _lstm(x, w, r, *_padded(rest, 5, "lstm"), direction=direction,
                 activations=activations,
                 activation_alpha=activation_alpha, activation_beta=activation_beta, clip=clip,
                 input_forget=input_forget)


def _padded(rest: list, count: int, op: str) -> list:
    """The operands after the weights, absent optional ones as None."""
    if len(rest) > count:
        raise ExecutionError(f"sparse.{op}: {len(rest)} operands after the weights, at most "
                             f"{count} expected", hint=_RECOMPILE)
    return rest + [None] * (count - len(rest))
