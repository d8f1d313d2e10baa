"""Recurrent ops: the simple RNN, GRU and LSTM layers of ONNX, in ONNX's layout.

Shapes (T time steps, B batch, I input size, H hidden size, D directions: 1,
or 2 when bidirectional; G gates: 1 for rnn, 3 for gru, 4 for lstm):

    x [T, B, I]   w [D, G*H, I]   r [D, G*H, H]   bias [D, 2*G*H] (input then recurrent)
    initial_h, initial_c [D, B, H]   sequence_lens [B] (i32 or i64)   peepholes [D, 3*H]
    results: y [T, D, B, H], y_h [D, B, H] (and y_c [D, B, H] for lstm)

Gate order is ONNX's: gru z, r, h; lstm i, o, f, c; peepholes i, o, f. The
optional operands may only be left off from the end (the frontend fills a
zero initial state when a later operand is given). With `sequence_lens`, the
steps past a sequence's length leave its state unchanged and its `y` zero.

`activations` lists the gate functions per direction, comma-separated, ONNX
names (rnn: f; gru: f, g; lstm: f, g, h); one set for both directions or one
per direction. Those taking parameters read them in order from
`activation_alpha` / `activation_beta`, falling back to ONNX's defaults.
"""
from __future__ import annotations

from ..ir.types import TensorType
from .registry import Attr, ShapeError, define
from .shapes import fmt_shape, require_float, require_rank, require_same_dtype, static

# Functions a gate may use, lowercase (ONNX names match case-insensitively).
ACTIVATIONS = ("relu", "tanh", "sigmoid", "affine", "leakyrelu", "thresholdedrelu",
               "scaledtanh", "hardsigmoid", "elu", "softsign", "softplus")

_GATES = {"rnn": 1, "gru": 3, "lstm": 4}
_FUNCS = {"rnn": 1, "gru": 2, "lstm": 3}
_DEFAULT_ACTS = {"rnn": "Tanh", "gru": "Sigmoid,Tanh", "lstm": "Sigmoid,Tanh,Tanh"}


def split_activations(text: str) -> list[str]:
    return [a.strip() for a in text.split(",") if a.strip()]


def _check_activations(op: str, attrs: dict, directions: int) -> None:
    names = split_activations(attrs["activations"])
    per = _FUNCS[op]
    if len(names) not in (per, per * directions):
        raise ShapeError(f"{op}: 'activations' must list {per} function(s) per direction "
                         f"(or one set for both), got {names}")
    unknown = [a for a in names if a.lower() not in ACTIVATIONS]
    if unknown:
        raise ShapeError(f"{op}: unknown activation {unknown[0]!r}; supported: "
                         f"{', '.join(ACTIVATIONS)} (any capitalization)")


def _recurrent_infer(op: str):
    gates = _GATES[op]

    def infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
        x, w, r, bias = ins[:4]
        rest = ins[4:]
        peep = None
        if op == "lstm":
            peep, rest = rest[0], rest[1:]
        states = ["initial_h", "initial_c"] if op == "lstm" else ["initial_h"]
        named = dict(zip(states + ["sequence_lens"], rest))
        lens = named.pop("sequence_lens", None)

        require_rank(x, 3, f"{op}: input x [T, B, I]")
        require_float(x, f"{op}: input x")
        floats = [x, w, r, bias] + ([peep] if peep is not None else []) + list(named.values())
        dtype = require_same_dtype(op, floats)
        for name, t in (("w", w), ("r", r)):
            require_rank(t, 3, f"{op}: weight {name} [D, {gates}*H, ...]")
        d = static(w.shape[0], f"{op}: the number of directions")
        want_d = 2 if attrs["direction"] == "bidirectional" else 1
        if d != want_d:
            raise ShapeError(f"{op}: direction={attrs['direction']!r} needs {want_d} direction(s) "
                             f"in the weights, w {fmt_shape(w.shape)} has {d}")
        h = static(r.shape[2], f"{op}: the hidden size")
        t_steps, b, i = x.shape
        expect = {
            "w": (w, (d, gates * h, i)),
            "r": (r, (d, gates * h, h)),
            "bias": (bias, (d, 2 * gates * h)),
        }
        if peep is not None:
            expect["peepholes"] = (peep, (d, 3 * h))
        for name, t in named.items():
            expect[name] = (t, (d, b, h))
        for name, (t, shape) in expect.items():
            if t.shape != shape:
                raise ShapeError(f"{op}: {name} must have shape {fmt_shape(shape)} (D={d}, "
                                 f"H={h}, x {fmt_shape(x.shape)}), got {fmt_shape(t.shape)}")
        if lens is not None:
            if lens.shape != (b,) or lens.dtype not in ("i32", "i64"):
                raise ShapeError(f"{op}: sequence_lens must be i32 or i64 of shape [{b}], "
                                 f"got {lens}")
        if attrs["clip"] < 0:
            raise ShapeError(f"{op}: clip must be >= 0 (0 = no clipping), got {attrs['clip']}")
        _check_activations(op, attrs, d)
        state = TensorType((d, b, h), dtype)
        return [TensorType((t_steps, d, b, h), dtype)] + [state] * (2 if op == "lstm" else 1)
    return infer


def _recurrent_flops(op: str):
    gates = _GATES[op]

    def flops(ins, outs, attrs) -> int:
        t, d, b, h = outs[0].shape
        i = ins[0].shape[2]
        per_step = 2 * b * gates * h * (i + h) + 12 * b * gates * h
        return d * t * per_step
    return flops


def _attrs(op: str, extra=()) -> list[Attr]:
    return [Attr("direction", "str", "forward", "forward, reverse or bidirectional",
                 choices=("forward", "reverse", "bidirectional")),
            Attr("activations", "str", _DEFAULT_ACTS[op],
                 "gate functions, comma-separated ONNX names, per direction"),
            Attr("activation_alpha", "floats", [], "alpha parameters of the activations, in order"),
            Attr("activation_beta", "floats", [], "beta parameters of the activations, in order"),
            Attr("clip", "float", 0.0, "clip gate inputs to [-clip, clip]; 0 = no clipping"),
            *extra]


define("rnn.rnn", ["x", "w", "r", "bias", "initial_h?", "sequence_lens?"],
       _recurrent_infer("rnn"), _recurrent_flops("rnn"), "opaque",
       "Simple recurrent layer (ONNX RNN): h_t = f(x_t W^T + h_{t-1} R^T + Wb + Rb); results "
       "y (every step's h) and y_h (the last h).", _attrs("rnn"), num_results=2)
define("rnn.gru", ["x", "w", "r", "bias", "initial_h?", "sequence_lens?"],
       _recurrent_infer("gru"), _recurrent_flops("gru"), "opaque",
       "Gated recurrent unit layer (ONNX GRU, gates z, r, h); results y and y_h.",
       _attrs("gru", [Attr("linear_before_reset", "bool", False,
                           "apply the reset gate after the recurrent product of the hidden "
                           "gate (r * (h R_h^T + Rb_h)) instead of before it")]),
       num_results=2)
define("rnn.lstm", ["x", "w", "r", "bias", "peepholes", "initial_h?", "initial_c?",
                    "sequence_lens?"],
       _recurrent_infer("lstm"), _recurrent_flops("lstm"), "opaque",
       "Long short-term memory layer (ONNX LSTM, gates i, o, f, c, peepholes i, o, f); "
       "results y, y_h and y_c (the last cell state).",
       _attrs("lstm", [Attr("input_forget", "bool", False,
                            "couple the input and forget gates (f = 1 - i)")]),
       num_results=3)
