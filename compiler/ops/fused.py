"""Fused ops: one kernel each for a region the fusion passes found (fusion class "fused").

Every op here names its epilogue with attributes, so that a reader of the IR
(and a kernel selector) sees what the kernel does without a sub-graph:

- ``fused.conv2d_epilogue(x, w, bias?, residual?)`` and ``fused.matmul_epilogue(a, b, bias?,
  residual?)``: the contraction of ``nn.conv2d`` / ``nn.matmul`` (same operand
  order, same conv attributes), then in place on its result: ``+ bias`` (when
  `has_bias`), ``+ residual`` (when `residual`), then `activation`. A conv bias
  is [O]; a matmul bias and any residual broadcast to the result without
  enlarging it. The conv has two more optional stages: a *shortcut* (a second
  convolution ``conv(shortcut_x, shortcut_w) + shortcut_bias`` added in place
  of a residual: a ResNet projection shortcut in the same kernel) and a max
  pool after the activation (`pool_kernel`: a stem's conv-relu-maxpool).
- ``fused.elementwise(inputs*)``: a chain of elementwise ops as a small
  expression `program` (plain text, see `parse_program`) over the operands
  ``x0, x1, ...`` and inline scalar literals; the result has the broadcast
  shape of the operands and their (common, floating) dtype.
- ``fused.masked_softmax(x, mask?)``: ``softmax(x * scale + mask)`` (`mask_mode`
  "add") or ``softmax(where(mask, x * scale, fill))`` ("select") along `axis`.

Attention (the scaled dot-product pattern) fuses into ``nn.attention``, the
op of ONNX Attention, when that op is registered, never into a second op here.

Activation names are shared with the sparse kernels (``"none"``, ``"relu"``)
so that kernel selection maps a fused op onto a sparse kernel's `activation`
parameter directly. `ACTIVATIONS` lists them with their parameters.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from math import inf, prod

from ..ir.types import FLOAT_DTYPES, TensorType
from .registry import Attr, ShapeError, define, get_op
from .shapes import (broadcast_shapes, broadcasts_into, fmt_shape, normalize_axis,
                     require_same_dtype)

# name -> FLOPs per element. Parameters: leaky_relu `alpha` (slope), swish `alpha`
# (scale inside the sigmoid), clip `clip_min`/`clip_max` (relu6 is clip 0..6).
ACTIVATIONS: dict[str, int] = {
    "none": 0, "relu": 1, "leaky_relu": 2, "clip": 2, "sigmoid": 8, "tanh": 8,
    "gelu": 12, "gelu_tanh": 12, "swish": 10, "hard_swish": 5,
}

EPILOGUE_ATTRS = [
    Attr("activation", "str", "none", "applied last, in place: " + ", ".join(ACTIVATIONS),
         choices=tuple(ACTIVATIONS)),
    Attr("alpha", "float", 1.0, "leaky_relu: negative slope; swish: scale inside the sigmoid"),
    Attr("clip_min", "float", -inf, "clip: lower bound (relu6: 0)"),
    Attr("clip_max", "float", inf, "clip: upper bound (relu6: 6)"),
    Attr("has_bias", "bool", False, "the operand after the weight is a bias added first"),
    Attr("residual", "bool", False, "the last operand is added after the bias, before the "
                                    "activation"),
]
EPILOGUE_NAMES = tuple(a.name for a in EPILOGUE_ATTRS)


def _epilogue_operands(op: str, ins: list[TensorType], attrs: dict, first: int
                       ) -> tuple[TensorType | None, TensorType | None]:
    """(bias, residual) types from the operands after the first `first` ones."""
    want = first + int(attrs["has_bias"]) + int(attrs["residual"])
    if len(ins) != want:
        raise ShapeError(f"{op}: has_bias={str(attrs['has_bias']).lower()} and residual="
                         f"{str(attrs['residual']).lower()} need {want} operands, got {len(ins)}")
    rest = ins[first:]
    bias = rest.pop(0) if attrs["has_bias"] else None
    residual = rest.pop(0) if attrs["residual"] else None
    return bias, residual


def _check_into(op: str, what: str, t: TensorType, out: TensorType) -> None:
    """`t` must broadcast to `out` without enlarging it (it is added in place)."""
    if not broadcasts_into(t.shape, out.shape):
        raise ShapeError(f"{op}: {what} {fmt_shape(t.shape)} must broadcast to the result "
                         f"{fmt_shape(out.shape)} (it is added in place)")
    if t.dtype != out.dtype:
        raise ShapeError(f"{op}: {what} has dtype {t.dtype}, the result {out.dtype}")


def _epilogue_flops(outs, attrs) -> int:
    n = prod(outs[0].shape)
    return n * (int(attrs["has_bias"]) + int(attrs["residual"]) + ACTIVATIONS[attrs["activation"]])


def contraction_attrs(attrs: dict) -> dict:
    """The attributes of the plain contraction (the fused op's minus its epilogue)."""
    return {k: v for k, v in attrs.items() if k not in EPILOGUE_NAMES
            and k not in CONV_EXTRA_NAMES}


# -- fused.conv2d_epilogue ----------------------------------------------------------------

# A second convolution added as the residual (a ResNet projection shortcut), and a max
# pool after the activation (a stem's conv-relu-maxpool): extra stages of the conv kernel.
CONV_EXTRA_ATTRS = [
    Attr("shortcut", "bool", False, "the operands after the bias are a second convolution's "
                                    "shortcut_x, shortcut_w (and shortcut_bias), whose result "
                                    "is added like a residual"),
    Attr("shortcut_has_bias", "bool", False, "the shortcut convolution has a bias operand"),
    Attr("shortcut_strides", "ints", [1, 1], "the shortcut convolution's strides"),
    Attr("shortcut_pads", "ints", [0, 0, 0, 0], "the shortcut convolution's pads"),
    Attr("shortcut_dilations", "ints", [1, 1], "the shortcut convolution's dilations"),
    Attr("shortcut_groups", "int", 1, "the shortcut convolution's groups"),
    Attr("pool_kernel", "ints", [], "max pool after the activation: window [h, w] (empty: "
                                    "no pool)"),
    Attr("pool_strides", "ints", [1, 1], "the max pool's strides"),
    Attr("pool_pads", "ints", [0, 0, 0, 0], "the max pool's pads"),
    Attr("pool_ceil_mode", "bool", False, "the max pool rounds its output size up"),
]
CONV_EXTRA_NAMES = tuple(a.name for a in CONV_EXTRA_ATTRS)


def shortcut_attrs(attrs: dict) -> dict:
    """The shortcut convolution's nn.conv2d attributes."""
    return {k: attrs[f"shortcut_{k}"] for k in ("strides", "pads", "dilations", "groups")}


def pool_attrs(attrs: dict) -> dict:
    """The trailing max pool's nn.maxpool2d attributes."""
    return {"kernel": attrs["pool_kernel"], "strides": attrs["pool_strides"],
            "pads": attrs["pool_pads"], "ceil_mode": attrs["pool_ceil_mode"]}


def split_conv_operands(operands: list, attrs: dict) -> dict:
    """Name the operands after x and w: bias, residual, shortcut_x/w/bias (absent: None)."""
    rest = list(operands[2:])
    out = {}
    out["bias"] = rest.pop(0) if attrs["has_bias"] and rest else None
    out["residual"] = rest.pop(0) if attrs["residual"] and rest else None
    out["shortcut_x"] = rest.pop(0) if attrs["shortcut"] and rest else None
    out["shortcut_w"] = rest.pop(0) if attrs["shortcut"] and rest else None
    out["shortcut_bias"] = rest.pop(0) if attrs["shortcut"] and attrs["shortcut_has_bias"] \
        and rest else None
    return out


def _conv_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    op = "fused.conv2d_epilogue"
    want = 2 + int(attrs["has_bias"]) + int(attrs["residual"]) + \
        (2 + int(attrs["shortcut_has_bias"]) if attrs["shortcut"] else 0)
    if len(ins) != want:
        raise ShapeError(f"{op}: has_bias, residual, shortcut and shortcut_has_bias need "
                         f"{want} operands, got {len(ins)}")
    if attrs["residual"] and attrs["shortcut"]:
        raise ShapeError(f"{op}: residual and shortcut are two ways to give the same addend; "
                         f"use one")
    parts = split_conv_operands(ins, attrs)
    conv = get_op("nn.conv2d")
    plain = {k: v for k, v in attrs.items() if k in ("strides", "pads", "dilations", "groups")}
    (out,) = conv.infer(ins[:2] + ([parts["bias"]] if parts["bias"] else []), plain)
    if parts["residual"] is not None:
        _check_into(op, "residual", parts["residual"], out)
    if attrs["shortcut"]:
        sc_ins = [parts["shortcut_x"], parts["shortcut_w"]]
        if parts["shortcut_bias"] is not None:
            sc_ins.append(parts["shortcut_bias"])
        (sc,) = conv.infer(sc_ins, shortcut_attrs(attrs))
        if sc.shape != out.shape or sc.dtype != out.dtype:
            raise ShapeError(f"{op}: the shortcut convolution gives {sc}, the main one {out} "
                             f"(they must match to be added)")
    if attrs["pool_kernel"]:
        (out,) = get_op("nn.maxpool2d").infer([out], {**pool_attrs(attrs), "dilations": [1, 1]})
    return [out]


def _conv_flops(ins, outs, attrs) -> int:
    # The convolution and its epilogue run on the conv's own output; a trailing max pool
    # only shrinks what is written (counting on outs[0] would under-count ~4x).
    plain = {k: attrs[k] for k in ("strides", "pads", "dilations", "groups")}
    (conv_out,) = get_op("nn.conv2d").infer(list(ins[:2]), plain)
    n = prod(conv_out.shape)
    flops = 2 * n * prod(ins[1].shape[1:]) + _epilogue_flops([conv_out], attrs)
    if attrs["shortcut"]:
        sc_w = split_conv_operands(ins, attrs)["shortcut_w"]
        flops += 2 * n * prod(sc_w.shape[1:])
    if attrs["pool_kernel"]:
        flops += prod(outs[0].shape) * prod(attrs["pool_kernel"])
    return flops


_CONV = get_op("nn.conv2d")
define("fused.conv2d_epilogue",
       ["x", "w", "bias?", "residual?", "shortcut_x?", "shortcut_w?", "shortcut_bias?"],
       _conv_infer, _conv_flops, "fused",
       "nn.conv2d (x [N, C, H, W], w [O, C/groups, kH, kW]) with an epilogue applied in place "
       "on its result: + bias [O] (has_bias), + residual (residual) or + a second "
       "convolution of shortcut_x (shortcut), then the activation, then an optional max "
       "pool (pool_kernel).",
       [*_CONV.attrs, *EPILOGUE_ATTRS, *CONV_EXTRA_ATTRS])


# -- fused.matmul_epilogue ----------------------------------------------------------------

def _matmul_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    bias, residual = _epilogue_operands("fused.matmul_epilogue", ins, attrs, 2)
    (out,) = get_op("nn.matmul").infer(ins[:2], {})
    for what, t in (("bias", bias), ("residual", residual)):
        if t is not None:
            _check_into("fused.matmul_epilogue", what, t, out)
    return [out]


def _matmul_flops(ins, outs, attrs) -> int:
    return 2 * prod(outs[0].shape) * ins[0].shape[-1] + _epilogue_flops(outs, attrs)


define("fused.matmul_epilogue", ["a", "b", "bias?", "residual?"], _matmul_infer, _matmul_flops,
       "fused",
       "nn.matmul (numpy semantics) with an epilogue applied in place on its result: + bias "
       "(has_bias; broadcast, typically [N]), + residual (residual), then the activation.",
       EPILOGUE_ATTRS)


# -- fused.elementwise -------------------------------------------------------------

# Program functions: name -> (arity including parameters, FLOPs per element). The first
# `TENSOR_ARGS[name]` arguments are tensors (operands, registers or literals); the rest
# are literal parameters.
FUNCTIONS: dict[str, tuple[int, int]] = {
    "add": (2, 1), "sub": (2, 1), "mul": (2, 1), "div": (2, 1), "max": (2, 1), "min": (2, 1),
    "pow": (2, 8), "neg": (1, 1), "abs": (1, 1), "exp": (1, 8), "log": (1, 8), "sqrt": (1, 4),
    "reciprocal": (1, 1), "erf": (1, 12), "tanh": (1, 8), "sin": (1, 8), "cos": (1, 8),
    "sigmoid": (1, 8), "relu": (1, 1), "softplus": (1, 10), "hard_swish": (1, 5),
    "gelu": (1, 12), "gelu_tanh": (1, 12),
    "clip": (3, 2), "leaky_relu": (2, 2), "swish": (2, 10), "hard_sigmoid": (3, 4),
}
TENSOR_ARGS: dict[str, int] = {name: (2 if name in ("add", "sub", "mul", "div", "max", "min",
                                                     "pow") else 1) for name in FUNCTIONS}

_STEP = re.compile(r"\s*v(\d+)\s*=\s*([a-z_]+)\((.*)\)\s*")


@dataclass(frozen=True)
class Step:
    """One program step ``v<i> = fn(args)``: each arg is ``("x", k)`` (operand k),
    ``("v", j)`` (an earlier step) or ``("lit", value)``."""

    fn: str
    args: tuple[tuple[str, float | int], ...]


def parse_program(text: str, num_inputs: int | None = None) -> list[Step]:
    """Parse ``"v0 = mul(x0, 0.5); v1 = erf(v0)"``; the last step is the result.

    Raises ShapeError naming the bad step. Literals are Python floats (``inf``,
    ``-inf`` and ``nan`` allowed); `num_inputs` bounds the ``x<k>`` references."""
    steps: list[Step] = []
    parts = [p for p in text.split(";") if p.strip()]
    if not parts:
        raise ShapeError("elementwise program is empty")
    for i, part in enumerate(parts):
        m = _STEP.fullmatch(part)
        if m is None or int(m.group(1)) != i:
            raise ShapeError(f"elementwise program step {i} {part.strip()!r} is not "
                             f"'v{i} = fn(args)'")
        fn = m.group(2)
        if fn not in FUNCTIONS:
            raise ShapeError(f"elementwise program step {i}: unknown function {fn!r} "
                             f"(known: {', '.join(FUNCTIONS)})")
        raw = [a.strip() for a in m.group(3).split(",")] if m.group(3).strip() else []
        if len(raw) != FUNCTIONS[fn][0]:
            raise ShapeError(f"elementwise program step {i}: {fn} takes {FUNCTIONS[fn][0]} "
                             f"arguments, got {len(raw)}")
        args = []
        for j, a in enumerate(raw):
            if re.fullmatch(r"[xv]\d+", a):
                kind, k = a[0], int(a[1:])
                if kind == "v" and k >= i:
                    raise ShapeError(f"elementwise program step {i} uses {a} before it is set")
                if kind == "x" and num_inputs is not None and k >= num_inputs:
                    raise ShapeError(f"elementwise program step {i} uses {a}, but there are "
                                     f"{num_inputs} operands")
                if j >= TENSOR_ARGS[fn]:
                    raise ShapeError(f"elementwise program step {i}: parameter {j} of {fn} "
                                     f"must be a literal, got {a}")
                args.append((kind, k))
            else:
                try:
                    args.append(("lit", float(a)))
                except ValueError:
                    raise ShapeError(f"elementwise program step {i}: bad argument {a!r}") from None
        steps.append(Step(fn, tuple(args)))
    return steps


def format_literal(value: float) -> str:
    """A literal as the program text writes it (round-trips through float())."""
    return repr(float(value))


def _elementwise_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    dtype = require_same_dtype("fused.elementwise", ins)
    if dtype not in FLOAT_DTYPES:
        raise ShapeError(f"fused.elementwise computes in floating point, got {dtype}")
    steps = parse_program(attrs["program"], len(ins))
    used = {k for s in steps for kind, k in s.args if kind == "x"}
    if used != set(range(len(ins))):
        raise ShapeError(f"fused.elementwise: the program must use every operand x0..x"
                         f"{len(ins) - 1}; it uses {sorted(used)}")
    try:
        shape = broadcast_shapes(*(t.shape for t in ins))
    except ShapeError as e:
        raise ShapeError(f"fused.elementwise: operand {e}") from None
    return [TensorType(shape, dtype)]


def _elementwise_flops(ins, outs, attrs) -> int:
    per = sum(FUNCTIONS[s.fn][1] for s in parse_program(attrs["program"]))
    return per * prod(outs[0].shape)


define("fused.elementwise", ["inputs*"], _elementwise_infer, _elementwise_flops, "fused",
       "A chain of elementwise ops as one kernel: `program` is 'v0 = fn(args); v1 = ...', "
       "each arg an operand x<k>, an earlier v<j> or a number; the last step is the result, "
       "of the operands' broadcast shape and dtype.",
       [Attr("program", "str", doc="the expression program (see compiler/ops/fused.py)")])


# -- fused.masked_softmax -----------------------------------------------------------------

MASK_MODES = ("none", "add", "select")


def _softmax_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    x = ins[0]
    if x.dtype not in FLOAT_DTYPES:
        raise ShapeError(f"fused.masked_softmax: input x must be floating-point, got {x.dtype}")
    normalize_axis(attrs["axis"], x.rank, "fused.masked_softmax: axis")
    mode = attrs["mask_mode"]
    want = 1 if mode == "none" else 2
    if len(ins) != want:
        raise ShapeError(f"fused.masked_softmax: mask_mode={mode!r} needs {want} operands, "
                         f"got {len(ins)}")
    if mode != "none":
        mask = ins[1]
        if mode == "select" and mask.dtype != "bool":
            raise ShapeError(f"fused.masked_softmax: a 'select' mask must be bool, got "
                             f"{mask.dtype}")
        if mode == "add" and mask.dtype != x.dtype:
            raise ShapeError(f"fused.masked_softmax: an 'add' mask must have x's dtype {x.dtype}, "
                             f"got {mask.dtype}")
        if not broadcasts_into(mask.shape, x.shape):
            raise ShapeError(f"fused.masked_softmax: mask {fmt_shape(mask.shape)} must broadcast "
                             f"to x {fmt_shape(x.shape)}")
    return [TensorType(x.shape, x.dtype)]


define("fused.masked_softmax", ["x", "mask?"], _softmax_infer,
       lambda ins, outs, attrs: 14 * prod(ins[0].shape), "fused",
       "softmax(x * scale + mask) (mask_mode 'add') or softmax(where(mask, x * scale, fill)) "
       "('select') along `axis`, in one pass over a private buffer.",
       [Attr("axis", "int", -1, "the axis that sums to 1"),
        Attr("scale", "float", 1.0, "multiplies x first"),
        Attr("mask_mode", "str", "none", "'none', 'add' (mask added) or 'select' (bool mask "
                                         "keeps x where true, `fill` elsewhere)",
             choices=MASK_MODES),
        Attr("fill", "float", -inf, "select: the value where the mask is false")])
