"""fuse-patterns: the decomposed forms exporters emit, recognised and replaced by one op each.

`RULES` is the list, read top to bottom (rewrites as data, `patterns.py`):

- ``attention``: ``softmax(mask(scale(q @ k^T))) @ v`` — the scaled dot-product
  attention of BERT/GPT-2/ViT exports, with the scale on the scores or on q
  and k (``Mul``/``Div`` by constants), an additive float mask (``Add``) or a
  bool mask (``Where(cond, scores, -inf or the lowest float)``) — becomes
  ``nn.attention(q, k, v, mask?) {scale}``. k^T is usually the head-split
  transpose of the key projection; it is re-expressed as the [B, H, S, D]
  transpose of the same value (so the split/merge reshapes and transposes stay
  views around the one kernel). Rank-4 operands only.
- ``masked-softmax``: ``softmax(x * s + mask)``, ``softmax(where(c, x * s,
  fill))`` and ``softmax(x * s)`` not inside an attention -> ``fused.masked_softmax``.
- ``layernorm``: ReduceMean / Sub / Pow (or Mul) / ReduceMean / Add eps / Sqrt /
  Div, optionally times a scale and plus a bias, over the trailing dims ->
  ``nn.layernorm``.
- ``gelu-erf`` (``x * 0.5 * (1 + erf(x / sqrt 2))``, any association) and
  ``gelu-tanh`` (``0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))``) ->
  ``nn.gelu``; ``swish`` (``x * sigmoid(a * x)``) -> ``nn.swish``;
  ``hard-swish`` (``x * clip(x + 3, 0, 6) / 6``) -> ``nn.hard_swish``.

Ops are visited from the last to the first, so a pattern is matched at the
op that ends it and the largest form wins (a LayerNorm with its scale and
bias rather than without). A match is applied only when none of its inner
values is used outside it or is a model output.

Statistics: one counter per rule name.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import TypeCheckError
from ..ir.builder import Builder
from ..ir.core import Module, Value
from .base import Pass, PassContext
from .dce import DeadCodeElimination
from .patterns import Alt, Lit, Match, Pat, Rule, Var, apply_rules

X = Var("x")


def _create(b: Builder, name: str, operands: list[Value], attrs: dict) -> Value | None:
    """The op's result, or None (nothing created) when the registry rejects it."""
    try:
        return b.value(name, operands, attrs)
    except TypeCheckError:
        return None


# -- activations ----------------------------------------------------------------------------

_ERF_ARG = Alt(Pat("math.div", X, Lit(math.sqrt(2.0))), Pat("math.mul", X, Lit(math.sqrt(0.5))))
_ONE_PLUS_ERF = Pat("math.add", Pat("math.erf", _ERF_ARG), Lit(1.0))
_CUBE = Alt(Pat("math.pow", X, Lit(3.0)), Pat("math.mul", Pat("math.mul", X, X), X))
_TANH_ARG = Pat("math.mul", Pat("math.add", X, Pat("math.mul", _CUBE, Lit(0.044715))),
                Lit(math.sqrt(2.0 / math.pi)))
_ONE_PLUS_TANH = Pat("math.add", Pat("math.tanh", _TANH_ARG), Lit(1.0))


def _half_x_times(one_plus) -> Pat:
    """x * 0.5 * one_plus in the three ways exporters associate it."""
    return Alt(Pat("math.mul", Pat("math.mul", X, Lit(0.5)), one_plus),
               Pat("math.mul", Pat("math.mul", X, one_plus), Lit(0.5)),
               Pat("math.mul", X, Pat("math.mul", one_plus, Lit(0.5))))


def _gelu(approximate: str):
    return lambda module, b, m: _create(b, "nn.gelu", [m.values["x"]],
                                        {"approximate": approximate})


_SWISH = Alt(Pat("math.mul", X, Pat("nn.sigmoid", X)),
             Pat("math.mul", X, Pat("nn.sigmoid", Pat("math.mul", X, Lit(name="alpha")))))


def _swish(module: Module, b: Builder, m: Match) -> Value | None:
    alpha = m.literal("alpha") if "alpha" in m.values else 1.0
    return _create(b, "nn.swish", [m.values["x"]], {"alpha": alpha})


_RELU6_OF_X_PLUS_3 = Pat("math.clip", Pat("math.add", X, Lit(3.0)),
                         attrs=lambda a: a["min"] == 0.0 and a["max"] == 6.0)
_HARD_SWISH = Alt(Pat("math.div", Pat("math.mul", X, _RELU6_OF_X_PLUS_3), Lit(6.0)),
                  Pat("math.mul", Pat("math.mul", X, _RELU6_OF_X_PLUS_3), Lit(1.0 / 6.0)))


# -- layernorm ---------------------------------------------------------------------------

_MEAN = Pat("math.reduce_mean", X, name="mean", attrs=lambda a: a["keepdims"])
_CENTERED = Pat("math.sub", X, _MEAN, name="centered")
_SQUARED = Alt(Pat("math.pow", _CENTERED, Lit(2.0)), Pat("math.mul", _CENTERED, _CENTERED))
_VAR = Pat("math.reduce_mean", _SQUARED, name="var", attrs=lambda a: a["keepdims"])
_NORMED = Pat("math.div", _CENTERED, Pat("math.sqrt", Pat("math.add", _VAR, Lit(name="eps"))))
_LAYERNORM = Alt(Pat("math.add", Pat("math.mul", _NORMED, Var("scale")), Var("bias")),
                 Pat("math.mul", _NORMED, Var("scale")),
                 _NORMED)


def _layernorm(module: Module, b: Builder, m: Match) -> Value | None:
    x = m.values["x"]
    rank = x.type.rank
    axes = [sorted(a % rank for a in m.ops[k].attrs["axes"] or range(rank))
            for k in ("mean", "var")]
    if axes[0] != axes[1] or not axes[0] or axes[0] != list(range(axes[0][0], rank)):
        return None
    operands = [x]
    for name in ("scale", "bias"):
        v = m.values.get(name)
        if v is not None:
            if v.type.dtype != x.type.dtype:
                return None
            operands.append(v)
    if "bias" in m.values and "scale" not in m.values:
        return None
    return _create(b, "nn.layernorm", operands, {"axis": axes[0][0], "eps": m.literal("eps")})


# -- attention and masked softmax -----------------------------------------------------------------

_Q = Alt(Pat("math.mul", Var("q"), Lit(name="q_mul")), Pat("math.div", Var("q"), Lit(name="q_div")),
         Var("q"))
_KT = Alt(Pat("math.mul", Var("kt"), Lit(name="k_mul")), Var("kt"))


def _scaled(inner) -> Alt:
    return Alt(Pat("math.div", inner, Lit(name="s_div")), Pat("math.mul", inner, Lit(name="s_mul")),
               inner)


def _masked(inner) -> Alt:
    return Alt(Pat("math.add", inner, Var("mask")),
               Pat("logic.where", Var("cond"), inner, Lit(name="fill")),
               inner)


_LAST_AXIS = lambda a: a["axis"] in (-1, 3)  # noqa: E731 - the scores are rank 4
_ATTENTION = Pat("nn.matmul",
                 Pat("nn.softmax", _masked(_scaled(Pat("nn.matmul", _Q, _KT))), attrs=_LAST_AXIS),
                 Var("v"))

# A where() fill at or below this counts as "never attend" (exporters use -inf or the
# lowest finite float).
NEG_FILL = -1e30


def _scale_of(m: Match, prefix: str) -> float:
    scale = 1.0
    for key, inverse in ((f"{prefix}_mul", False), (f"{prefix}_div", True)):
        if key in m.values:
            value = m.literal(key)
            scale *= 1.0 / value if inverse else value
    return scale


def _key_from_transposed(b: Builder, kt: Value) -> Value | None:
    """k [B, H, S, D] from kt [B, H, D, S]: one transpose (composed with kt's own, if any)."""
    src, perm = kt, [0, 1, 3, 2]
    op = kt.producer
    if op is not None and op.name == "tensor.transpose" and op.attrs["perm"]:
        inner = op.attrs["perm"]
        src, perm = op.operands[0], [inner[i] for i in (0, 1, 3, 2)]
    if perm == list(range(4)):
        return src
    return _create(b, "tensor.transpose", [src], {"perm": perm})


def _attention(module: Module, b: Builder, m: Match) -> Value | None:
    q, kt, v = m.values["q"], m.values["kt"], m.values["v"]
    if q.type.rank != 4 or kt.type.rank != 4 or v.type.rank != 4:
        return None
    scale = _scale_of(m, "q") * _scale_of(m, "k") * _scale_of(m, "s")
    if scale == 0.0 or not math.isfinite(scale):
        return None
    operands = []
    if "mask" in m.values:
        operands.append(m.values["mask"])
    elif "cond" in m.values:
        if m.literal("fill") > NEG_FILL:
            return None
        operands.append(m.values["cond"])
    k = _key_from_transposed(b, kt)
    if k is None:
        return None
    return _create(b, "nn.attention", [q, k, v, *operands], {"scale": scale})


_SOFTMAX_SCALED = Alt(Pat("math.div", X, Lit(name="s_div")), Pat("math.mul", X, Lit(name="s_mul")))
_MASKED_SOFTMAX = Pat("nn.softmax", Alt(
    Pat("math.add", Alt(_SOFTMAX_SCALED, X), Var("mask")),
    Pat("logic.where", Var("cond"), Alt(_SOFTMAX_SCALED, X), Lit(name="fill")),
    _SOFTMAX_SCALED), name="softmax")


def _masked_softmax(module: Module, b: Builder, m: Match) -> Value | None:
    x = m.values["x"]
    attrs = {"axis": m.ops["softmax"].attrs["axis"], "scale": _scale_of(m, "s")}
    operands = [x]
    if "mask" in m.values:
        attrs["mask_mode"] = "add"
        operands.append(m.values["mask"])
    elif "cond" in m.values:
        attrs.update(mask_mode="select", fill=m.literal("fill"))
        operands.append(m.values["cond"])
    return _create(b, "fused.masked_softmax", operands, attrs)


RULES: list[Rule] = [
    Rule("attention", _ATTENTION, _attention),
    Rule("masked-softmax", _MASKED_SOFTMAX, _masked_softmax),
    Rule("layernorm", _LAYERNORM, _layernorm),
    Rule("gelu-erf", _half_x_times(_ONE_PLUS_ERF), _gelu("none")),
    Rule("gelu-tanh", _half_x_times(_ONE_PLUS_TANH), _gelu("tanh")),
    Rule("swish", _SWISH, _swish),
    Rule("hard-swish", _HARD_SWISH, lambda module, b, m: _create(b, "nn.hard_swish",
                                                                 [m.values["x"]], {})),
]


@dataclass(frozen=True)
class FusePatterns(Pass):
    name = "fuse-patterns"
    summary = "Replace exported decompositions (attention, LayerNorm, GELU...) by one op each."

    def run(self, module: Module, ctx: PassContext) -> None:
        for rule in RULES:
            ctx.stat(rule.name, 0)
        apply_rules(module, RULES, on_apply=ctx.stat, reverse=True)
        DeadCodeElimination().run(module, PassContext())
