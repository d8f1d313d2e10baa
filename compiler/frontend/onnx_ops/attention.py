"""Converters for ONNX attention ops: Attention, RotaryEmbedding, LinearAttention,
CausalConvWithState, ai.onnx.preview::FlexAttention.

ONNX `Attention` (opset 23; `nonpad_kv_seqlen` from 24, the sliding window
from 25) becomes one `nn.attention` (see `compiler/ops/attention.py`), with
the ONNX-specific parts spelled as ordinary ops around it:

- 3-D inputs [B, S, heads * size] are reshaped and transposed to [B, heads,
  S, size] (and the result back);
- the internal KV cache (`past_key`/`past_value`) is a concat along the
  sequence, whose result is also the `present_*` output; the cache length is
  the queries' position offset (`q_offset`);
- a mask shorter than the keys is padded with "may not attend" (False or
  -inf); `nonpad_kv_seqlen` is the op's `kv_lengths` operand;
- the optional `qk_matmul_output` is an `nn.attention_scores` at the stage
  `qk_matmul_output_mode` names.

`softmax_precision` needs no op: wsc computes the softmax in float32 or
wider for every input type.

RotaryEmbedding becomes `nn.rotary_embedding` (the caches looked up by
position with a gather); LinearAttention `nn.linear_attention` (absent
inputs become scalar zeros: no decay, an empty state); CausalConvWithState a
depthwise `nn.conv2d` over [past state, input]; FlexAttention one
`nn.attention`, or with its modifier subgraphs the scores spelled out and the
subgraphs inlined between them.
"""
from __future__ import annotations

import numpy as np

from .registry import converter

INT64_MAX = 2**63 - 1

_STAGES = {0: "raw", 1: "softcapped", 2: "biased", 3: "probs"}


def _to_heads(n, x, heads: int, what: str):
    """[B, S, heads * size] -> [B, heads, S, size]."""
    hidden = x.type.shape[2]
    if not isinstance(hidden, int) or hidden % heads:
        n.fail(f"the hidden size of {what} {x.type} must be a multiple of its {heads} heads")
    x = n.op("tensor.reshape", [x], {"shape": [0, 0, heads, hidden // heads]})
    return n.op("tensor.transpose", [x], {"perm": [0, 2, 1, 3]})


def _from_heads(n, y):
    """[B, heads, S, size] -> [B, S, heads * size]."""
    y = n.op("tensor.transpose", [y], {"perm": [0, 2, 1, 3]})
    return n.op("tensor.reshape", [y], {"shape": [0, 0, -1]})


def _pad_mask(n, mask, skv):
    """Pad the mask's last dim up to the key count with "may not attend" (as ONNX does even
    for a last dim of 1: such a mask covers the first key only, it does not broadcast)."""
    last = mask.type.shape[-1] if mask.type.rank else 1
    if mask.type.rank == 0 or last == skv:
        return mask
    if not isinstance(last, int) or not isinstance(skv, int):
        n.fail(f"the mask {mask.type} has {last} keys, the attention {skv}: they must be known "
               f"at compile time to pad the mask", hint="fix the input dims with --input-shape")
    if last > skv:
        n.fail(f"the mask {mask.type} covers {last} keys but there are only {skv}")
    fill = np.array(False) if mask.type.dtype == "bool" else \
        np.array(-np.inf, dtype=mask.type.np_dtype)
    pads = [0] * (2 * mask.type.rank)
    pads[-1] = skv - last
    return n.op("tensor.pad", [mask, n.constant(fill, "mask_fill")], {"pads": pads})


@converter("Attention", since=23)
def attention(n):
    q, k, v = n.input(0), n.input(1), n.input(2)
    mask, past_k, past_v, lengths = (n.optional_input(i) for i in (3, 4, 5, 6))
    rank = q.type.rank
    if rank not in (3, 4) or k.type.rank != rank or v.type.rank != rank:
        n.fail(f"Q, K and V must all be 3-D [batch, sequence, hidden] or all 4-D [batch, heads, "
               f"sequence, size], got {q.type}, {k.type}, {v.type}")
    if rank == 3:
        if not (n.has_attr("q_num_heads") and n.has_attr("kv_num_heads")):
            n.fail("3-D Q, K and V need the attributes q_num_heads and kv_num_heads")
        q = _to_heads(n, q, int(n.attr("q_num_heads")), "Q")
        k = _to_heads(n, k, int(n.attr("kv_num_heads")), "K")
        v = _to_heads(n, v, int(n.attr("kv_num_heads")), "V")
    if (past_k is None) != (past_v is None):
        n.fail("past_key and past_value must be given together")
    if past_k is not None and lengths is not None:
        n.fail("nonpad_kv_seqlen cannot be combined with past_key/past_value (an external cache "
               "or an internal one, not both)")
    offset = 0
    if past_k is not None:
        offset = past_k.type.shape[2]
        if not isinstance(offset, int):
            n.fail(f"the past sequence length of past_key {past_k.type} must be known at compile "
                   f"time (it aligns the causal mask)", hint="fix it with --input-shape")
        k = n.op("tensor.concat", [past_k, k], {"axis": 2})
        v = n.op("tensor.concat", [past_v, v], {"axis": 2})

    attrs = {
        "scale": float(n.attr("scale", 0.0)),
        "softcap": float(n.attr("softcap", 0.0)),
        "causal": bool(n.attr("is_causal", 0)),
        "q_offset": offset,
        "window_left": int(n.attr("left_window_size", -1)),
        "window_right": int(n.attr("right_window_size", -1)),
    }
    operands = [q, k, v]
    if mask is not None:
        operands.append(_pad_mask(n, mask, k.type.shape[2]))
    if lengths is not None:
        if mask is None:  # kv_lengths comes after the mask: a no-op additive mask
            operands.append(n.constant(np.zeros((), dtype=q.type.np_dtype), "no_mask"))
        operands.append(lengths)
    y = n.op("nn.attention", operands, attrs)

    scores = None
    wants_scores = len(n.node.output) > 3 and bool(n.node.output[3])
    if wants_scores:
        mode = int(n.attr("qk_matmul_output_mode", 0))
        if mode not in _STAGES:
            n.fail(f"qk_matmul_output_mode={mode} is not one of 0, 1, 2, 3")
        scores = n.op("nn.attention_scores", [q, k] + operands[3:],
                      {**attrs, "stage": _STAGES[mode]})
    if rank == 3:
        y = _from_heads(n, y)
    present_k = k if past_k is not None else None
    present_v = v if past_v is not None else None
    return [y, present_k, present_v, scores]


@converter("RotaryEmbedding", since=23)
def rotary_embedding(n):
    x, cos, sin, positions = n.input(0), n.input(1), n.input(2), n.optional_input(3)
    rank = x.type.rank
    if rank == 4:
        heads = x  # [B, H, S, D]
    elif rank == 3:
        if not n.has_attr("num_heads"):
            n.fail("a 3-D input [batch, sequence, hidden] needs the attribute num_heads")
        heads = _to_heads(n, x, int(n.attr("num_heads")), "X")
    else:
        n.fail(f"the input must be 3-D [batch, sequence, hidden] or 4-D [batch, heads, sequence, "
               f"size], got {x.type}")
    if positions is not None:  # cos/sin [max position, R/2] looked up by position [B, S]
        cos = n.op("tensor.gather", [cos, positions], {"axis": 0})
        sin = n.op("tensor.gather", [sin, positions], {"axis": 0})
    rotary_dim = int(n.attr("rotary_embedding_dim", 0))
    half = cos.type.shape[-1]
    if rotary_dim and isinstance(half, int) and rotary_dim != 2 * half:
        n.fail(f"rotary_embedding_dim={rotary_dim} must be twice the last dim of cos_cache "
               f"{cos.type}")
    y = n.op("nn.rotary_embedding", [heads, cos, sin],
             {"interleaved": bool(n.attr("interleaved", 0))})
    return _from_heads(n, y) if rank == 3 else y


def _unpack(n, x, heads: int, what: str):
    """[B, T, heads * size] -> [B, heads, T, size], or a clear error."""
    if x.type.rank != 3:
        n.fail(f"{what} must be 3-D [batch, time, heads * size], got {x.type}")
    return _to_heads(n, x, heads, what)


@converter("LinearAttention", since=27)
def linear_attention(n):
    q, k, v = n.input(0), n.input(1), n.input(2)
    state, decay, beta = n.optional_input(3), n.optional_input(4), n.optional_input(5)
    rule = n.attr("update_rule", "gated_delta")
    rules = ("linear", "gated", "delta", "gated_delta")
    if rule not in rules:
        n.fail(f"update_rule={rule!r} is not one of {', '.join(rules)}")
    gated, delta = rule in ("gated", "gated_delta"), rule in ("delta", "gated_delta")
    if gated != (decay is not None) or delta != (beta is not None):
        n.fail(f"update_rule={rule!r} needs "
               f"{'a' if gated else 'no'} decay input and {'a' if delta else 'no'} beta input")
    hq, hkv = int(n.attr("q_num_heads")), int(n.attr("kv_num_heads"))
    q4, k4, v4 = _unpack(n, q, hq, "query"), _unpack(n, k, hkv, "key"), _unpack(n, v, hkv, "value")
    dt = q.type.np_dtype
    if decay is None:
        decay4 = n.constant(np.zeros((), dtype=dt), "no_decay")
    else:  # [B, T, Hkv] (per head) or [B, T, Hkv * dk] (per key dim)
        per_head = decay.type.rank == 3 and decay.type.shape[2] == hkv
        decay4 = n.op("tensor.transpose", [n.op("tensor.reshape", [decay],
                                                {"shape": [0, 0, hkv, 1]})],
                      {"perm": [0, 2, 1, 3]}) if per_head else _unpack(n, decay, hkv, "decay")
    operands = [q4, k4, v4,
                state if state is not None else n.constant(np.zeros((), dtype=dt), "no_state"),
                decay4]
    if beta is not None:  # [B, T, Hkv or 1] -> [B, Hkv or 1, T, 1]
        if beta.type.rank != 3:
            n.fail(f"beta must be 3-D [batch, time, kv heads or 1], got {beta.type}")
        beta4 = n.op("tensor.reshape", [beta], {"shape": [0, 0, -1, 1]})
        operands.append(n.op("tensor.transpose", [beta4], {"perm": [0, 2, 1, 3]}))
    y, present = n.op_multi("nn.linear_attention", operands,
                            {"scale": float(n.attr("scale", 0.0))})
    return [_from_heads(n, y), present]


@converter("CausalConvWithState", since=27)
def causal_conv_with_state(n):
    """A depthwise convolution over [past_state, input] (zeros without a past), as a 2-D
    conv over a unit height; the present state is the last k - 1 positions it read."""
    x, w, bias, past = n.input(0), n.input(1), n.optional_input(2), n.optional_input(3)
    if x.type.rank != 3 or w.type.rank != 3:
        n.fail(f"input and weight must be 3-D [batch, channels, length] and [channels, 1, k], "
               f"got {x.type} and {w.type}")
    channels, kernel = x.type.shape[1], w.type.shape[2]
    if not isinstance(channels, int) or not isinstance(kernel, int):
        n.fail(f"the channels of {x.type} and the kernel size of {w.type} must be static")
    activation = n.attr("activation", "none")
    if activation not in ("none", "silu", "swish"):
        n.fail(f"activation={activation!r} is not one of 'none', 'silu', 'swish'")
    if past is not None:
        full = n.op("tensor.concat", [past, x], {"axis": 2})
    else:
        full = n.op("tensor.pad", [x], {"pads": [0, 0, kernel - 1, 0, 0, 0]})
    operands = [n.op("tensor.unsqueeze", [full], {"axes": [2]}),
                n.op("tensor.unsqueeze", [w], {"axes": [2]})]
    if bias is not None:
        operands.append(bias)
    y = n.op("nn.conv2d", operands, {"groups": channels})
    y = n.op("tensor.squeeze", [y], {"axes": [2]})
    if activation != "none":
        y = n.op("nn.swish", [y])
    # The last k - 1 positions (none for k = 1).
    start, end = (1 - kernel, INT64_MAX) if kernel > 1 else (0, 0)
    present = n.op("tensor.slice", [full], {"starts": [start], "ends": [end], "axes": [2]})
    return [y, present]


@converter("FlexAttention", since=1, domain="ai.onnx.preview")
def flex_attention(n):
    """Without modifier subgraphs, one nn.attention. With them, the scores are spelled out
    (they are the modifiers' operand): nn.attention_scores, the score_mod subgraph in the
    softmax precision, softmax, the prob_mod subgraph, then a grouped matmul with V."""
    q, k, v = n.input(0), n.input(1), n.input(2)
    if not (q.type.rank == k.type.rank == v.type.rank == 4):
        n.fail(f"Q, K and V must be 4-D [batch, heads, sequence, size], got {q.type}, {k.type}, "
               f"{v.type}")
    scale = float(n.attr("scale", 0.0))
    mods = [name for name in ("score_mod", "prob_mod") if n.has_attr(name)]
    if not mods:
        return n.op("nn.attention", [q, k, v], {"scale": scale})
    from .quant import _dtype_attr  # late: one helper for ONNX element-type attributes
    work = _dtype_attr(n, "softmax_precision") or ("f64" if q.type.dtype == "f64" else "f32")
    scores = n.op("nn.attention_scores", [q, k], {"scale": scale, "stage": "raw"})
    scores = n.op("math.cast", [scores], {"to": work})
    if "score_mod" in mods:
        (scores,) = n.inline(n.subgraph("score_mod"), [scores], "(score_mod)")
    probs = n.op("nn.softmax", [scores], {"axis": -1})
    if "prob_mod" in mods:
        (probs,) = n.inline(n.subgraph("prob_mod"), [probs], "(prob_mod)")
    probs = n.op("math.cast", [probs], {"to": q.type.dtype})
    hq, hkv = q.type.shape[1], k.type.shape[1]
    if hq == hkv:
        return n.op("nn.matmul", [probs, v])
    # Query heads grouped by their key/value head: [B, Hkv, g, L, S] @ [B, Hkv, 1, S, Dv].
    length, keys, dv = probs.type.shape[2], probs.type.shape[3], v.type.shape[3]
    if not all(isinstance(d, int) for d in (keys, dv)):
        n.fail(f"grouped-query FlexAttention with modifiers needs static key and value sizes, "
               f"got {k.type} and {v.type}", hint="fix the input dims with --input-shape")
    grouped = n.op("tensor.reshape", [probs], {"shape": [0, hkv, hq // hkv, -1, keys]})
    y = n.op("nn.matmul", [grouped, n.op("tensor.unsqueeze", [v], {"axes": [2]})])
    return n.op("tensor.reshape", [y], {"shape": [0, hq, -1, dv]})
