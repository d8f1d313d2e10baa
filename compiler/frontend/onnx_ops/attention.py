"""Converters for ONNX attention ops: Attention, RotaryEmbedding.

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
"""
from __future__ import annotations

import numpy as np

from .registry import converter

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
