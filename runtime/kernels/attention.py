"""Attention kernels (numpy): nn.attention, nn.attention_scores, nn.rotary_embedding.

Semantics are documented with the ops (`compiler/ops/attention.py`). The
attention kernels walk (batch, query head) pairs and hold one head's
[Sq, Skv] score matrix at a time, as a fused attention kernel on the wafer
would: the masks are never materialized beyond one batch row ([Sq, Skv]
booleans) and a broadcast mask is read through a view.

f16 inputs are computed in f32 (products, softmax and the weighted sum) and
rounded once at the end.
"""
from __future__ import annotations

import numpy as np

from .registry import kernel


def _work_dtype(dtype: np.dtype) -> np.dtype:
    return np.dtype(np.float32) if dtype == np.float16 else dtype


def _allowed(sq: int, skv: int, offset: int, length: int | None, causal: bool,
             window_left: int, window_right: int) -> np.ndarray | None:
    """[Sq, Skv] bool: which keys each query may attend (None: all of them)."""
    if not causal and window_left < 0 and window_right < 0 and length is None:
        return None
    i = np.arange(sq)[:, None]
    j = np.arange(skv)[None, :]
    pos = i + offset  # the queries' positions among the keys
    ok = np.ones((sq, skv), dtype=bool)
    if causal:
        ok &= j <= pos
    if window_left >= 0:
        ok &= j >= pos - window_left
    if window_right >= 0:
        ok &= j <= pos + window_right
    if length is not None:
        ok &= j < length
    return ok


class _Scores:
    """The per-(batch, head) score computation shared by both attention kernels."""

    def __init__(self, q, k, mask, kv_lengths, scale, softcap, causal, q_offset, window_left,
                 window_right):
        self.q, self.k = q, k
        b, hq, sq, d = q.shape
        self.group = hq // k.shape[1]
        self.work = _work_dtype(q.dtype)
        self.scale = self.work.type(scale if scale != 0 else 1.0 / np.sqrt(d))
        self.softcap = softcap
        skv = k.shape[2]
        self.mask = None if mask is None else np.broadcast_to(mask, (b, hq, sq, skv))
        self.float_mask = mask is not None and mask.dtype != np.bool_
        self.lengths = None if kv_lengths is None else np.asarray(kv_lengths).astype(np.int64)
        self.causal, self.q_offset = causal, q_offset
        self.window = (window_left, window_right)
        self._row = (-1, None)

    def allowed(self, b: int) -> np.ndarray | None:
        """The structural mask of batch row b (cached across its heads)."""
        if self._row[0] != b:
            sq, skv = self.q.shape[2], self.k.shape[2]
            if self.lengths is None:
                length, offset = None, self.q_offset
            else:
                length = int(self.lengths[b])
                offset = length - sq
            self._row = (b, _allowed(sq, skv, offset, length, self.causal, *self.window))
        return self._row[1]

    def raw(self, b: int, h: int) -> np.ndarray:
        qh = self.q[b, h].astype(self.work, copy=False)
        kh = self.k[b, h // self.group].astype(self.work, copy=False)
        return (qh @ kh.T) * self.scale

    def capped(self, s: np.ndarray) -> np.ndarray:
        if self.softcap > 0:
            return self.softcap * np.tanh(s / self.softcap)
        return s

    def bias(self, b: int, h: int) -> np.ndarray | None:
        """Additive [Sq, Skv] bias (0 or -inf, plus a float mask), or None when it is all 0."""
        ok = self.allowed(b)
        m = None if self.mask is None else self.mask[b, h]
        if m is not None and not self.float_mask:
            ok = m if ok is None else (ok & m)
        if ok is None and not self.float_mask:
            return None
        bias = np.zeros(self.q.shape[2:3] + self.k.shape[2:3], self.work) if ok is None else \
            np.where(ok, self.work.type(0), self.work.type(-np.inf))
        if self.float_mask:
            bias = bias + m.astype(self.work, copy=False)
        return bias

    def probs(self, s: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        """Softmax of s + bias over the keys; rows whose bias is all -inf are 0."""
        if bias is None:
            x = s
            dead = None
        else:
            x = s + bias
            dead = np.all(np.isneginf(bias), axis=-1, keepdims=True)
        top = np.max(x, axis=-1, keepdims=True)
        top = np.where(np.isfinite(top), top, 0)
        e = np.exp(x - top)
        total = np.sum(e, axis=-1, keepdims=True)
        p = e / np.where(total == 0, 1, total)
        if dead is not None and dead.any():
            p = np.where(dead, 0, p)
        return p


def _heads(q):
    b, hq = q.shape[:2]
    for bi in range(b):
        for h in range(hq):
            yield bi, h


@kernel("nn.attention")
def attention(q, k, v, mask=None, kv_lengths=None, *, scale=0.0, softcap=0.0, causal=False,
              q_offset=0, window_left=-1, window_right=-1):
    sc = _Scores(q, k, mask, kv_lengths, scale, softcap, causal, q_offset, window_left,
                 window_right)
    b, hq, sq, _ = q.shape
    out = np.empty((b, hq, sq, v.shape[3]), dtype=sc.work)
    if _plain(sc, mask, kv_lengths, causal, window_left, window_right, softcap):
        _attention_plain(sc, v, out)
        return out.astype(q.dtype, copy=False)
    for bi, h in _heads(q):
        p = sc.probs(sc.capped(sc.raw(bi, h)), sc.bias(bi, h))
        out[bi, h] = p @ v[bi, h // sc.group].astype(sc.work, copy=False)
    return out.astype(q.dtype, copy=False)


def _plain(sc: _Scores, mask, kv_lengths, causal, window_left, window_right, softcap) -> bool:
    """Whether every score row is finite before the softmax: no structural mask, no
    softcap, and no mask or a float mask of finite values (then no row is all -inf)."""
    if causal or kv_lengths is not None or window_left >= 0 or window_right >= 0 \
            or softcap > 0 or sc.work not in (np.float32, np.float64):
        return False
    return mask is None or (mask.dtype != np.bool_ and bool(np.isfinite(mask).all()))


def _attention_plain(sc: _Scores, v, out) -> None:
    """The common case (an encoder's attention with or without an additive mask), one
    head at a time in one reused [Sq, Skv] buffer: scores, softmax and the weighted
    sum are all written in place (per head: 2 GEMMs and 6 passes, no temporaries but
    the row maxima and sums)."""
    q, k = sc.q, sc.k
    buf = np.empty((q.shape[2], k.shape[2]), dtype=sc.work)
    for bi, h in _heads(q):
        qh = q[bi, h].astype(sc.work, copy=False)
        kh = k[bi, h // sc.group].astype(sc.work, copy=False)
        np.matmul(qh, kh.T, out=buf)
        buf *= sc.scale
        if sc.mask is not None:
            buf += sc.mask[bi, h]
        buf -= buf.max(axis=-1, keepdims=True)
        np.exp(buf, out=buf)
        buf *= 1 / buf.sum(axis=-1, keepdims=True)
        np.matmul(buf, v[bi, h // sc.group].astype(sc.work, copy=False), out=out[bi, h])


@kernel("nn.attention_scores")
def attention_scores(q, k, mask=None, kv_lengths=None, *, scale=0.0, softcap=0.0, causal=False,
                     q_offset=0, window_left=-1, window_right=-1, stage="raw"):
    sc = _Scores(q, k, mask, kv_lengths, scale, softcap, causal, q_offset, window_left,
                 window_right)
    b, hq, sq, _ = q.shape
    out = np.empty((b, hq, sq, k.shape[2]), dtype=sc.work)
    for bi, h in _heads(q):
        s = sc.raw(bi, h)
        if stage != "raw":
            s = sc.capped(s)
        if stage in ("biased", "probs"):
            bias = sc.bias(bi, h)
            s = sc.probs(s, bias) if stage == "probs" else (s if bias is None else s + bias)
        out[bi, h] = s
    return out.astype(q.dtype, copy=False)


@kernel("nn.rotary_embedding")
def rotary_embedding(x, cos, sin, *, interleaved=False):
    half = cos.shape[-1]
    work = _work_dtype(x.dtype)
    # cos/sin [S, R/2] or [B, S, R/2] -> broadcast over heads: [(B,) 1, S, R/2].
    c = np.expand_dims(cos.astype(work, copy=False), -3)
    s = np.expand_dims(sin.astype(work, copy=False), -3)
    xr = x[..., :2 * half].astype(work, copy=False)
    if interleaved:
        x1, x2 = xr[..., 0::2], xr[..., 1::2]
    else:
        x1, x2 = xr[..., :half], xr[..., half:]
    real = x1 * c - x2 * s
    imag = x1 * s + x2 * c
    out = np.array(x, dtype=work, copy=True)
    if interleaved:
        out[..., 0:2 * half:2] = real
        out[..., 1:2 * half:2] = imag
    else:
        out[..., :half] = real
        out[..., half:2 * half] = imag
    return out.astype(x.dtype, copy=False)


@kernel("nn.linear_attention")
def linear_attention(q, k, v, state, decay, beta=None, *, scale=0.0):
    b, hq, t, dk = q.shape
    hkv, dv = k.shape[1], v.shape[3]
    work = np.result_type(_work_dtype(q.dtype), _work_dtype(state.dtype))
    group = hq // hkv
    scale = scale or 1.0 / np.sqrt(dk)
    s = np.array(np.broadcast_to(state, (b, hkv, dk, dv)), dtype=work)
    gate = np.exp(np.broadcast_to(decay, (b, hkv, t, dk)).astype(work))
    qs, ks, vs = (a.astype(work, copy=False) for a in (q, k, v))
    out = np.empty((b, hq, t, dv), dtype=work)
    for step in range(t):  # the recurrence: one step at a time, all rows and heads at once
        kt = ks[:, :, step]                                  # [B, Hkv, dk]
        vt = vs[:, :, step]                                  # [B, Hkv, dv]
        s *= gate[:, :, step, :, None]
        if beta is not None:
            bt = np.broadcast_to(beta, (b, hkv, t, 1))[:, :, step].astype(work)
            vt = bt * (vt - np.einsum("bhkv,bhk->bhv", s, kt))
        s += kt[..., :, None] * vt[..., None, :]
        qt = qs[:, :, step].reshape(b, hkv, group, dk)      # query heads grouped by kv head
        out[:, :, step] = scale * np.einsum("bhgk,bhkv->bhgv", qt, s).reshape(b, hq, dv)
    return out.astype(q.dtype, copy=False), s.astype(state.dtype, copy=False)
