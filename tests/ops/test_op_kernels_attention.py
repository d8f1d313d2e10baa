"""Kernels of the attention ops (nn.attention, nn.attention_scores, nn.rotary_embedding,
nn.linear_attention) against numpy references written here.

Same contract as `tests/ops/test_op_kernels.py`, whose `Case` shape and
helpers this file reuses. The attention reference works query by query in
float64 with Python loops: for each (batch, head, query) it decides, key by
key, whether the key may be attended (the rules in `compiler/ops/attention.py`
spelled out as `if`s), then takes a softmax with `math.exp`. The rotary
reference rotates one pair of dims at a time; the linear-attention reference
runs the recurrence step by step on one (batch, head) state matrix at a time.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from compiler.ir.builder import infer_types
from compiler.ir.types import TensorType
from runtime.kernels import KERNELS
from test_op_kernels import F32, F64, case, f64, params, randint, randn, run_case, within

F16 = np.float16


# -- references ----------------------------------------------------------------------

def _may_attend(b, h, i, j, sq, mask, lengths, causal, q_offset, left, right):
    """(allowed, additive mask value) of query i and key j, from the rules one by one."""
    offset = q_offset if lengths is None else int(lengths[b]) - sq
    pos = offset + i
    allowed = True
    if causal and j > pos:
        allowed = False
    if left >= 0 and j < pos - left:
        allowed = False
    if right >= 0 and j > pos + right:
        allowed = False
    if lengths is not None and j >= int(lengths[b]):
        allowed = False
    add = 0.0
    if mask is not None:
        # numpy's right-aligned broadcasting, by hand: a size-1 dim reads index 0
        full = (b, h, i, j)
        idx = [0 if mask.shape[axis] == 1 else full[4 - mask.ndim + axis]
               for axis in range(mask.ndim)]
        value = mask[tuple(idx)]
        if mask.dtype == np.bool_:
            allowed = allowed and bool(value)
        else:
            add = float(value)
    return allowed, add


def attention_ref(q, k, v=None, mask=None, lengths=None, scale=0.0, softcap=0.0, causal=False,
                  q_offset=0, window_left=-1, window_right=-1, stage="out"):
    q, k = f64(q), f64(k)
    bsz, hq, sq, d = q.shape
    hkv, skv = k.shape[1], k.shape[2]
    group = hq // hkv
    scale = scale or 1.0 / math.sqrt(d)
    cols = v.shape[3] if stage == "out" else skv
    out = np.zeros((bsz, hq, sq, cols))
    for b in range(bsz):
        for h in range(hq):
            kh = h // group
            for i in range(sq):
                raw = [float(np.dot(q[b, h, i], k[b, kh, j])) * scale for j in range(skv)]
                capped = [softcap * math.tanh(s / softcap) if softcap > 0 else s for s in raw]
                bias = []
                for j in range(skv):
                    ok, add = _may_attend(b, h, i, j, sq, mask, lengths, causal, q_offset,
                                          window_left, window_right)
                    bias.append(add if ok else -math.inf)
                biased = [s + t for s, t in zip(capped, bias)]
                if stage == "raw":
                    out[b, h, i] = raw
                    continue
                if stage == "softcapped":
                    out[b, h, i] = capped
                    continue
                if stage == "biased":
                    out[b, h, i] = biased
                    continue
                if all(t == -math.inf for t in bias):
                    probs = [0.0] * skv
                else:
                    top = max(biased)
                    e = [math.exp(s - top) for s in biased]
                    probs = [x / sum(e) for x in e]
                if stage == "probs":
                    out[b, h, i] = probs
                    continue
                out[b, h, i] = sum(p * f64(v)[b, kh, j] for j, p in enumerate(probs))
    return out


def _attn(q, k, v, *rest, **attrs):
    """A case reference calling attention_ref with the case's operands and attributes."""
    mask = rest[0] if rest else None
    lengths = rest[1] if len(rest) > 1 else None
    return lambda *ins: attention_ref(q, k, v, mask, lengths, **attrs)


def _scores(q, k, *rest, stage, **attrs):
    mask = rest[0] if rest else None
    lengths = rest[1] if len(rest) > 1 else None
    return lambda *ins: attention_ref(q, k, None, mask, lengths, stage=stage, **attrs)


def attention_case(id, q, k, v, *rest, **attrs):
    return case(id, [q, k, v, *rest], _attn(q, k, v, *rest, **attrs), **attrs)


def scores_case(id, q, k, *rest, stage, **attrs):
    return case(id, [q, k, *rest], _scores(q, k, *rest, stage=stage, **attrs), stage=stage,
                **attrs)


def rotary_ref(x, cos, sin, interleaved=False):
    x = f64(x)
    bsz, heads, seq, d = x.shape
    half = cos.shape[-1]
    out = x.copy()
    for b in range(bsz):
        for s in range(seq):
            c = f64(cos)[b, s] if cos.ndim == 3 else f64(cos)[s]
            sn = f64(sin)[b, s] if sin.ndim == 3 else f64(sin)[s]
            for h in range(heads):
                for m in range(half):
                    a, bb = (2 * m, 2 * m + 1) if interleaved else (m, m + half)
                    x1, x2 = x[b, h, s, a], x[b, h, s, bb]
                    out[b, h, s, a] = x1 * c[m] - x2 * sn[m]
                    out[b, h, s, bb] = x1 * sn[m] + x2 * c[m]
    return out


def _bool_mask(*shape):
    m = randint(0, 4, *shape) > 0
    return m


def linear_attention_ref(q, k, v, state, decay, beta=None, scale=0.0):
    """The recurrence step by step, one (batch, kv head) matrix state at a time, float64."""
    q, k, v = f64(q), f64(k), f64(v)
    bsz, hq, t, dk = q.shape
    hkv, dv = k.shape[1], v.shape[3]
    group = hq // hkv
    scale = scale or 1.0 / math.sqrt(dk)
    st = np.broadcast_to(f64(state), (bsz, hkv, dk, dv))
    dec = np.broadcast_to(f64(decay), (bsz, hkv, t, dk))
    bt = None if beta is None else np.broadcast_to(f64(beta), (bsz, hkv, t, 1))
    y = np.zeros((bsz, hq, t, dv))
    final = np.zeros((bsz, hkv, dk, dv))
    for b in range(bsz):
        for h in range(hkv):
            s = st[b, h].copy()
            for step in range(t):
                for row in range(dk):
                    s[row] *= math.exp(dec[b, h, step, row])
                vt = v[b, h, step].copy()
                if bt is not None:
                    vt = bt[b, h, step, 0] * (vt - s.T @ k[b, h, step])
                s = s + np.outer(k[b, h, step], vt)
                for g in range(group):
                    y[b, h * group + g, step] = scale * (q[b, h * group + g, step] @ s)
            final[b, h] = s
    return y, final


# -- cases -------------------------------------------------------------------------------

_q, _k, _v = randn(2, 3, 4, 8), randn(2, 3, 6, 8), randn(2, 3, 6, 5)
_qg = randn(2, 6, 4, 8)                      # 6 query heads over 3 kv heads
_fmask = randn(2, 1, 4, 6)                   # float mask broadcast over heads
_neg = np.where(randint(0, 3, 4, 6) > 0, 0.0, -np.inf).astype(F32)
_neg[1] = -np.inf                            # query row 1 attends nothing
_lengths = np.array([3, 6], dtype=np.int64)
_q16, _k16, _v16 = (a.astype(F16) for a in (_q, _k, _v))
_q64, _k64, _v64 = (a.astype(F64) for a in (_q, _k, _v))
_dead = np.array([[False, False, False, False, False, False]] + [[True] * 6] * 3)

CASES = {
    "nn.attention": [
        attention_case("plain", _q, _k, _v),
        attention_case("scaled_softcap", _q, _k, _v, scale=0.3, softcap=1.5),
        attention_case("gqa_causal", _qg, _k, _v, causal=True),
        attention_case("causal_offset", _q, _k, _v, causal=True, q_offset=2),
        attention_case("float_mask", _q, _k, _v, _fmask),
        attention_case("neginf_mask_dead_row", _q, _k, _v, _neg),
        attention_case("bool_mask_rank2", _q, _k, _v, _bool_mask(4, 6), causal=True),
        attention_case("bool_mask_dead_row", _q, _k, _v, _dead),
        attention_case("kv_lengths_causal", _q, _k, _v, np.zeros((), F32), _lengths,
                       causal=True),
        attention_case("kv_lengths_negative_offset", _q, _k, _v, np.zeros((), F32),
                       np.array([2, 5], dtype=np.int32), causal=True),
        attention_case("window", _q, _k, _v, window_left=1, window_right=2, q_offset=1),
        attention_case("window_causal_gqa", _qg, _k, _v, _bool_mask(6), causal=True,
                       window_left=2),
        attention_case("f16", _q16, _k16, _v16, causal=True),
        attention_case("f64", _q64, _k64, _v64, _fmask.astype(F64), softcap=2.0),
    ],
    "nn.attention_scores": [
        scores_case("raw", _q, _k, stage="raw", softcap=2.0),
        scores_case("softcapped", _q, _k, stage="softcapped", softcap=2.0, scale=0.5),
        scores_case("biased", _qg, _k, _bool_mask(2, 6, 4, 6), stage="biased", causal=True),
        scores_case("probs_dead_rows", _q, _k, _dead, stage="probs"),
        scores_case("probs_lengths", _q, _k, _fmask, _lengths, stage="probs", causal=True),
    ],
    "nn.linear_attention": [
        case("linear", [randn(2, 2, 4, 3), randn(2, 2, 4, 3), randn(2, 2, 4, 5), np.zeros((), F32),
                        np.zeros((), F32)], lambda *a: linear_attention_ref(*a)),
        case("gated_delta_gqa_past", [randn(1, 4, 3, 3), randn(1, 2, 3, 3), randn(1, 2, 3, 2),
                                      randn(1, 2, 3, 2), -np.abs(randn(1, 2, 3, 1)),
                                      np.abs(randn(1, 1, 3, 1))],
             lambda *a: linear_attention_ref(*a, scale=0.5), scale=0.5),
        case("gated_per_dim_f64", [randn(1, 1, 5, 2, dtype=F64), randn(1, 1, 5, 2, dtype=F64),
                                   randn(1, 1, 5, 2, dtype=F64), np.zeros((), F64),
                                   -np.abs(randn(1, 1, 5, 2, dtype=F64))],
             lambda *a: linear_attention_ref(*a)),
    ],
    "nn.rotary_embedding": [
        case("halves_per_batch", [randn(2, 3, 5, 8), randn(2, 5, 4), randn(2, 5, 4)],
             rotary_ref),
        case("interleaved_partial", [randn(2, 3, 5, 10), randn(5, 3), randn(5, 3)],
             lambda x, c, s: rotary_ref(x, c, s, True), interleaved=True),
        case("partial_halves_f64", [randn(1, 2, 3, 8, dtype=F64), randn(1, 3, 2, dtype=F64),
                                    randn(1, 3, 2, dtype=F64)], rotary_ref),
    ],
}


# -- the test ----------------------------------------------------------------------------

_F16_TOL = dict(rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("op,c", params(CASES))
def test_kernel_matches_reference(op: str, c) -> None:
    run_case(op, c, within(dtypes=(np.dtype(F16),), **_F16_TOL))


def test_attention_holds_one_head_of_scores_at_a_time(monkeypatch) -> None:
    """The kernel never builds an array as large as two heads' score matrices."""
    import runtime.kernels.attention as mod
    q, k, v = randn(2, 4, 16, 8), randn(2, 2, 32, 8), randn(2, 2, 32, 8)
    limit = 16 * 32
    seen = []
    real_exp = np.exp

    def spy_exp(x, *a, **kw):
        seen.append(np.size(x))
        return real_exp(x, *a, **kw)

    monkeypatch.setattr(mod.np, "exp", spy_exp)
    KERNELS["nn.attention"](q, k, v, scale=0.0, softcap=0.0, causal=True, q_offset=0,
                            window_left=-1, window_right=-1)
    monkeypatch.undo()
    assert seen and max(seen) <= limit


@pytest.mark.parametrize("mask,lengths,why", [
    (randn(4, 7), None, "broadcast"),
    (randint(0, 2, 4, 6), None, "bool"),
    (None, np.array([1.0, 2.0], F32), "integer"),
])
def test_attention_rejects_bad_masks(mask, lengths, why) -> None:
    from compiler.errors import TypeCheckError
    ins = [TensorType.of_array(a) for a in (_q, _k, _v)]
    if mask is not None:
        ins.append(TensorType.of_array(mask))
    elif lengths is not None:
        ins.append(TensorType((), "f32"))
    if lengths is not None:
        ins.append(TensorType.of_array(lengths))
    with pytest.raises(TypeCheckError, match=why):
        infer_types("nn.attention", ins, {})


def test_attention_rejects_heads_that_do_not_group() -> None:
    from compiler.errors import TypeCheckError
    ins = [TensorType((1, 4, 2, 8), "f32"), TensorType((1, 3, 2, 8), "f32"),
           TensorType((1, 3, 2, 8), "f32")]
    with pytest.raises(TypeCheckError, match="multiple of the 3 key/value heads"):
        infer_types("nn.attention", ins, {})


def test_attention_keeps_symbolic_batch_and_sequence() -> None:
    ins = [TensorType(("B", 4, "S", 8), "f32"), TensorType(("B", 2, "T", 8), "f32"),
           TensorType(("B", 2, "T", 6), "f32")]
    _, _, (out,) = infer_types("nn.attention", ins, {"causal": True})
    assert out.shape == ("B", 4, "S", 6)
