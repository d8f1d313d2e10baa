"""Converters for the ONNX recurrent layers RNN, GRU and LSTM (every opset).

The registry ops (`compiler/ops/rnn.py`) take ONNX's time-major layout and
their optional operands only from the end, so the converter

- transposes batch-major tensors (`layout = 1`) in and out;
- fills absent biases and peepholes with zeros, and an absent initial state
  with zeros when a later operand (initial_c, sequence_lens) is given;
- drops a constant `sequence_lens` that covers every step (a no-op mask).
"""
from __future__ import annotations

import numpy as np

from .registry import converter

_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
_OPS = {"RNN": "rnn.rnn", "GRU": "rnn.gru", "LSTM": "rnn.lstm"}


def _batch_major(n, v, perm):
    return n.op("tensor.transpose", [v], {"perm": perm})


@converter("RNN", "GRU", "LSTM")
def recurrent(n):
    op_type = n.node.op_type
    lstm = op_type == "LSTM"
    x, w, r = n.input(0), n.input(1), n.input(2)
    if x.type.rank != 3 or w.type.rank != 3 or r.type.rank != 3:
        n.fail(f"X, W and R must have rank 3, got {x.type}, {w.type}, {r.type}")
    d, h = w.type.shape[0], r.type.shape[2]
    if not (isinstance(d, int) and isinstance(h, int)):
        n.fail(f"the weights' sizes must be static, got W {w.type} and R {r.type}")
    hidden = n.attr("hidden_size", None)
    if hidden is not None and int(hidden) != h:
        n.fail(f"hidden_size={hidden} differs from the size {h} that R {r.type} implies")
    layout = int(n.attr("layout", 0))
    if layout not in (0, 1):
        n.fail(f"layout must be 0 or 1, got {layout}")
    dtype = x.type.np_dtype

    if layout:
        x = _batch_major(n, x, [1, 0, 2])
    batch = x.type.shape[1]
    bias = n.optional_input(3)
    if bias is None:
        bias = n.constant(np.zeros((d, 2 * _GATES[op_type] * h), dtype), "bias")
    operands = [x, w, r, bias]
    if lstm:
        peep = n.optional_input(7)
        if peep is None:
            peep = n.constant(np.zeros((d, 3 * h), dtype), "peepholes")
        operands.append(peep)

    states = [n.optional_input(5)] + ([n.optional_input(6)] if lstm else [])
    if layout:
        states = [None if s is None else _batch_major(n, s, [1, 0, 2]) for s in states]
    lens = n.optional_input(4)
    lens_const = n.const(4)
    steps = x.type.shape[0]
    if lens_const is not None and isinstance(steps, int) and np.all(lens_const == steps):
        lens = None
    tail = states + [lens]
    while tail and tail[-1] is None:
        tail.pop()
    for i, v in enumerate(tail):
        if v is None:  # an initial state left out before a given operand: zeros
            if not isinstance(batch, int):
                n.fail("an omitted initial state followed by a given one or sequence_lens "
                       "needs a static batch size", hint="fix it with --input-shape")
            tail[i] = n.constant(np.zeros((d, batch, h), dtype), "initial_state")
    operands += tail

    attrs = {"direction": n.attr("direction", "forward"),
             "activation_alpha": [float(a) for a in n.attr("activation_alpha", [])],
             "activation_beta": [float(b) for b in n.attr("activation_beta", [])],
             "clip": float(n.attr("clip", 0.0))}
    if n.has_attr("activations"):
        attrs["activations"] = ",".join(n.attr("activations"))
    if op_type == "GRU":
        attrs["linear_before_reset"] = bool(n.attr("linear_before_reset", 0))
    if lstm:
        attrs["input_forget"] = bool(n.attr("input_forget", 0))
    outs = n.op_multi(_OPS[op_type], operands, attrs)
    if layout:
        outs = [_batch_major(n, outs[0], [2, 0, 1, 3])] + \
               [_batch_major(n, v, [1, 0, 2]) for v in outs[1:]]
    return outs
