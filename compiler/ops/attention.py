"""Attention ops: scaled dot-product attention, its score matrix, rotary position embeddings.

Layout is [batch, heads, sequence, head size] ("BHSD"):

    q [B, Hq, Sq, D]   k [B, Hkv, Skv, D]   v [B, Hkv, Skv, Dv]   ->   y [B, Hq, Sq, Dv]

`nn.attention` is the one attention op of the IR. The ONNX `Attention` op
imports to it (3-D inputs and KV caches become reshapes, transposes and
concats around it), and a fusion pass may rewrite the exported
matmul-softmax-matmul pattern into it. Its semantics:

    s   = (q @ k^T) * scale                     scale 0 means 1/sqrt(D)
    s   = softcap * tanh(s / softcap)           only when softcap > 0
    s   = s + bias                              bias: 0 where a key may be attended, else -inf,
                                                plus a float mask when one is given
    p   = softmax(s) along the keys             a query row with no attendable key is all 0
    y   = p @ v

Grouped-query attention: Hq must be a multiple of Hkv; query head h reads
key/value head ``h // (Hq / Hkv)`` (Hkv = 1 is multi-query attention).

Which keys a query may attend. A query's *position* is ``offset + i`` (i its
index in the block); key j may be attended when all of these hold:

- `causal`: ``j <= offset + i``;
- `window_left` >= 0: ``j >= offset + i - window_left``; `window_right` >= 0:
  ``j <= offset + i + window_right``;
- a bool `mask` (broadcast to [B, Hq, Sq, Skv]) is True there; a float mask
  (q's dtype) is added to the scores instead (it may hold -inf);
- `kv_lengths` (ints [B]) is given: ``j < kv_lengths[b]`` (keys past a batch
  row's length are padding).

``offset`` is the `q_offset` attribute (the number of keys that precede the
query block, e.g. a KV cache's length; 0: the block starts at key 0), except
with `kv_lengths`, where the query block ends at the last valid key:
``offset = kv_lengths[b] - Sq`` per batch row.

The dense kernel computes one (batch, head) at a time, so at most one head's
[Sq, Skv] score matrix exists at once; cost functions count the fused
kernel's traffic (operands and result), not the score matrix.

`nn.attention_scores` exposes an intermediate of the same computation (ONNX
Attention's optional `qk_matmul_output`); `nn.rotary_embedding` rotates q or
k by position (RoPE) before attention.
"""
from __future__ import annotations

from math import prod

from ..ir.types import INT_DTYPES, TensorType
from .registry import Attr, ShapeError, define
from .shapes import broadcasts_into, fmt_shape, require_float, require_rank, static


# -- nn.attention / nn.attention_scores ------------------------------------------------

def _check_attention(op: str, q: TensorType, k: TensorType, v: TensorType | None,
                     rest: list[TensorType], attrs: dict) -> tuple:
    """Validate operands and attributes; returns (B, Hq, Sq, Skv)."""
    require_rank(q, 4, f"{op}: q [batch, heads, sequence, head size]")
    require_rank(k, 4, f"{op}: k [batch, kv heads, kv sequence, head size]")
    require_float(q, f"{op}: q")
    for name, t in (("k", k), ("v", v)):
        if t is not None and t.dtype != q.dtype:
            raise ShapeError(f"{op}: {name} has dtype {t.dtype}, q has {q.dtype} (they must match)")
    b, hq, sq, d = q.shape
    if k.shape[0] != b or k.shape[3] != d:
        raise ShapeError(f"{op}: k {fmt_shape(k.shape)} must be [{b}, kv heads, kv sequence, {d}] "
                         f"for q {fmt_shape(q.shape)} (same batch and head size)")
    hkv, skv = k.shape[1], k.shape[2]
    if v is not None:
        require_rank(v, 4, f"{op}: v [batch, kv heads, kv sequence, value head size]")
        if v.shape[:3] != k.shape[:3]:
            raise ShapeError(f"{op}: v {fmt_shape(v.shape)} must match k {fmt_shape(k.shape)} in "
                             f"batch, heads and sequence")
    nq = static(hq, f"{op}: the number of query heads")
    nkv = static(hkv, f"{op}: the number of key/value heads")
    if nkv < 1 or nq % nkv:
        raise ShapeError(f"{op}: the {nq} query heads must be a multiple of the {nkv} key/value "
                         f"heads (grouped-query attention)")
    full = (b, hq, sq, skv)
    mask = rest[0] if rest else None
    lengths = rest[1] if len(rest) > 1 else None
    if mask is not None:
        if mask.dtype != "bool" and mask.dtype != q.dtype:
            raise ShapeError(f"{op}: mask must be bool (True = attend) or {q.dtype} (added to the "
                             f"scores), got {mask.dtype}")
        if not broadcasts_into(mask.shape, full):
            raise ShapeError(f"{op}: mask {fmt_shape(mask.shape)} must broadcast to the scores "
                             f"{fmt_shape(full)} [batch, heads, queries, keys]")
    if lengths is not None:
        if lengths.dtype not in INT_DTYPES or lengths.shape != (b,):
            raise ShapeError(f"{op}: kv_lengths must be an integer tensor of shape [{b}] (one "
                             f"length per batch row), got {lengths}")
    if attrs["softcap"] < 0:
        raise ShapeError(f"{op}: softcap must be >= 0 (0: none), got {attrs['softcap']}")
    for name in ("window_left", "window_right"):
        if attrs[name] < -1:
            raise ShapeError(f"{op}: {name} must be -1 (unbounded) or >= 0, got {attrs[name]}")
    return full


def _attention_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    q, k, v = ins[:3]
    b, hq, sq, _ = _check_attention("attention", q, k, v, ins[3:], attrs)
    return [TensorType((b, hq, sq, v.shape[3]), q.dtype)]


def _attention_flops(ins, outs, attrs) -> int:
    q, k, v = ins[:3]
    b, hq, sq, d = q.shape
    skv, dv = k.shape[2], v.shape[3]
    scores = b * hq * sq * skv
    return 2 * scores * d + 2 * scores * dv + 6 * scores


_SCORE_ATTRS = [
    Attr("scale", "float", 0.0, "multiplies q @ k^T; 0 means 1/sqrt(head size)"),
    Attr("softcap", "float", 0.0,
         "if > 0, scores become softcap * tanh(scores / softcap) before the mask is added"),
    Attr("causal", "bool", False, "a query at position p attends only keys j <= p"),
    Attr("q_offset", "int", 0,
         "position of the first query among the keys (the keys before the query block, e.g. "
         "a KV cache's length); ignored when kv_lengths is given"),
    Attr("window_left", "int", -1,
         "a query at position p attends keys j >= p - window_left; -1: unbounded"),
    Attr("window_right", "int", -1,
         "a query at position p attends keys j <= p + window_right; -1: unbounded"),
]

define("nn.attention", ["q", "k", "v", "mask?", "kv_lengths?"], _attention_infer,
       _attention_flops, "contraction",
       "Scaled dot-product attention softmax(q @ k^T * scale + bias) @ v of q [B, Hq, Sq, D], "
       "k [B, Hkv, Skv, D], v [B, Hkv, Skv, Dv] -> [B, Hq, Sq, Dv], with grouped-query heads, "
       "an optional bool or additive mask broadcast to [B, Hq, Sq, Skv], per-row valid key "
       "counts kv_lengths [B], causal and sliding-window masking and a soft cap (see "
       "compiler/ops/attention.py). Query rows with no attendable key are 0.",
       _SCORE_ATTRS)


_STAGES = ("raw", "softcapped", "biased", "probs")


def _scores_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    q, k = ins[:2]
    full = _check_attention("attention_scores", q, k, None, ins[2:], attrs)
    return [TensorType(full, q.dtype)]


def _scores_flops(ins, outs, attrs) -> int:
    q = ins[0]
    scores = prod(outs[0].shape)
    return 2 * scores * q.shape[3] + 6 * scores


define("nn.attention_scores", ["q", "k", "mask?", "kv_lengths?"], _scores_infer, _scores_flops,
       "contraction",
       "The [B, Hq, Sq, Skv] score matrix of nn.attention (same operands minus v, same "
       "attributes) at one stage: 'raw' q @ k^T * scale, 'softcapped' after the soft cap, "
       "'biased' after adding the mask bias (-inf where a key may not be attended), 'probs' "
       "after the softmax (rows with no attendable key are 0).",
       _SCORE_ATTRS + [Attr("stage", "str", "raw", "which intermediate to return",
                            choices=_STAGES)])


# -- nn.rotary_embedding -------------------------------------------------------------------

def _rotary_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    x, cos, sin = ins
    require_rank(x, 4, "rotary_embedding: x [batch, heads, sequence, head size]")
    require_float(x, "rotary_embedding: x")
    for name, t in (("cos", cos), ("sin", sin)):
        if t.dtype != x.dtype:
            raise ShapeError(f"rotary_embedding: {name} has dtype {t.dtype}, x has {x.dtype}")
    if cos.shape != sin.shape:
        raise ShapeError(f"rotary_embedding: cos {fmt_shape(cos.shape)} and sin "
                         f"{fmt_shape(sin.shape)} must have the same shape")
    if cos.rank not in (2, 3):
        raise ShapeError(f"rotary_embedding: cos and sin must be [sequence, rotary dim / 2] or "
                         f"[batch, sequence, rotary dim / 2], got {fmt_shape(cos.shape)}")
    b, _, s, d = x.shape
    half = static(cos.shape[-1], "rotary_embedding: the rotary dim")
    head = static(d, "rotary_embedding: the head size")
    if 2 * half > head or half < 1:
        raise ShapeError(f"rotary_embedding: cos/sin rotate {2 * half} dims (twice their last "
                         f"dim) but the head size is {head}")
    want = (b, s) if cos.rank == 3 else (s,)
    if tuple(cos.shape[:-1]) != want:
        raise ShapeError(f"rotary_embedding: cos/sin {fmt_shape(cos.shape)} must be "
                         f"{fmt_shape(want + (half,))} for x {fmt_shape(x.shape)}")
    return [TensorType(x.shape, x.dtype)]


# "opaque": each result reads a pair of x's elements, so it is not elementwise in the fuser's
# sense (one input element per output element after broadcasting).
define("nn.rotary_embedding", ["x", "cos", "sin"], _rotary_infer,
       lambda ins, outs, attrs: 3 * prod(ins[0].shape), "opaque",
       "Rotary position embedding (RoPE) of x [B, H, S, D]: the first R = 2 * cos.shape[-1] "
       "dims of each head are taken as R/2 pairs, pair m rotated by the angle whose cos and "
       "sin are cos[.., s, m], sin[.., s, m] (cos/sin [S, R/2] or [B, S, R/2], already "
       "looked up by position); the other D - R dims pass through. Pairs are (m, m + R/2) "
       "(halves) or (2m, 2m + 1) when interleaved.",
       [Attr("interleaved", "bool", False,
             "pair dims 2m and 2m+1 (GPT-J style) instead of m and m + R/2 (GPT-NeoX style)")])


# -- nn.linear_attention -------------------------------------------------------------------

def _linear_attention_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    q, k, v, state, decay = ins[:5]
    beta = ins[5] if len(ins) > 5 else None
    op = "linear_attention"
    for name, t in (("q", q), ("k", k), ("v", v)):
        require_rank(t, 4, f"{op}: {name} [batch, heads, time, size]")
        if t.dtype != q.dtype:
            raise ShapeError(f"{op}: {name} has dtype {t.dtype}, q has {q.dtype}")
    require_float(q, f"{op}: q")
    b, hq, t, dk = q.shape
    hkv, dv = k.shape[1], v.shape[3]
    if k.shape != (b, hkv, t, dk) or v.shape[:3] != (b, hkv, t):
        raise ShapeError(f"{op}: q {fmt_shape(q.shape)}, k {fmt_shape(k.shape)} and v "
                         f"{fmt_shape(v.shape)} must agree: [B, Hq, T, dk], [B, Hkv, T, dk], "
                         f"[B, Hkv, T, dv]")
    nq = static(hq, f"{op}: the number of query heads")
    nkv = static(hkv, f"{op}: the number of key/value heads")
    if nkv < 1 or nq % nkv:
        raise ShapeError(f"{op}: the {nq} query heads must be a multiple of the {nkv} key/value "
                         f"heads")
    for name, t_, full in (("state", state, (b, hkv, dk, dv)), ("decay", decay, (b, hkv, t, dk)),
                           ("beta", beta, (b, hkv, t, 1))):
        if t_ is None:
            continue
        require_float(t_, f"{op}: {name}")
        if not broadcasts_into(t_.shape, full):
            raise ShapeError(f"{op}: {name} {fmt_shape(t_.shape)} must broadcast to "
                             f"{fmt_shape(full)}")
    return [TensorType((b, hq, t, dv), q.dtype), TensorType((b, hkv, dk, dv), state.dtype)]


def _linear_attention_flops(ins, outs, attrs) -> int:
    q, k, v = ins[:3]
    b, hq, t, dk = q.shape
    hkv, dv = k.shape[1], v.shape[3]
    per_state = b * hkv * t * dk * dv  # one pass over the state per step
    return 2 * b * hq * t * dk * dv + per_state * (6 if len(ins) > 5 else 3)


define("nn.linear_attention", ["q", "k", "v", "state", "decay", "beta?"],
       _linear_attention_infer, _linear_attention_flops, "opaque",
       "Linear attention as a recurrence over time t, per batch row and key/value head, "
       "with state S [dk, dv] starting at `state`: S = exp(decay_t) * S (gating; decay 0 "
       "is none); with beta (the delta rule) v_t becomes beta_t * (v_t - S^T k_t); then "
       "S = S + outer(k_t, v_t) and y_t = scale * q_t^T S for each query head of the group "
       "(query head h reads key/value head h // (Hq / Hkv)). q [B, Hq, T, dk], k [B, Hkv, "
       "T, dk], v [B, Hkv, T, dv]; state, decay and beta broadcast to [B, Hkv, dk, dv], "
       "[B, Hkv, T, dk] and [B, Hkv, T, 1]. Results: y [B, Hq, T, dv] and the final state "
       "(state's dtype).",
       [Attr("scale", "float", 0.0, "multiplies the read-out; 0 means 1/sqrt(dk)")],
       num_results=2)
