"""fold-batchnorm: inference-mode BatchNormalization folded into the conv or linear layer before it.

``nn.batchnorm(y, scale, bias, mean, var)`` with constant per-channel
statistics is ``y * s + t`` with ``s = scale / sqrt(var + eps)`` and ``t = bias
- mean * s``. When y is only used by the batchnorm and is

- ``nn.conv2d`` / ``nn.conv3d`` with a constant weight: the weight's output
  channel o is multiplied by ``s[o]`` and the conv gets the bias ``b * s + t``
  (``t`` when it had none);
- a linear layer with a rank-2 result [N, C] — ``nn.matmul(x, @W)``, or that
  plus ``math.add`` of a constant bias — : column c of W is multiplied by
  ``s[c]``, and the bias becomes ``b * s + t``;

the batchnorm disappears. Any other batchnorm becomes ``y * s' + t'`` (two
elementwise ops with [C, 1, ...] constants) that fusion can merge with its
neighbours.

Folding multiplies existing weight entries only, so a pruned weight keeps its
zeros (and sparsity annotation): the pass runs before pruning and kernel
selection. A weight shared with another op is copied (``<name>.bn``) instead of
changed. Statistics are computed in float64 and stored in the weight's dtype.

Statistics: ``folded-into-conv``, ``folded-into-linear``, ``decomposed``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir.builder import Builder
from ..ir.core import Constant, Module, Op, Value
from ..ir.location import Location
from .base import Pass, PassContext

CONVS = ("nn.conv2d", "nn.conv3d")


def constant_data(v: Value) -> np.ndarray | None:
    """The data of a constant operand, or None for a non-constant or elided one."""
    return v.data if isinstance(v, Constant) and v.data is not None else None


def update_constant(module: Module, c: Constant, data: np.ndarray, users: dict, suffix: str
                    ) -> Constant:
    """`c` with new `data` (same shape): changed in place when only one op uses it,
    otherwise a copy named ``<name><suffix>``."""
    data = np.asarray(data, dtype=c.type.np_dtype).reshape(c.type.shape)
    if len(users.get(c, [])) <= 1 and c not in module.output_values():
        c.data = data
        return c
    return module.add_constant(module.fresh_constant_name(c.name + suffix), data,
                               sparsity=c.sparsity, type=c.type)


def new_constant(module: Module, base: str, data: np.ndarray, dtype) -> Constant:
    return module.add_constant(module.fresh_constant_name(base),
                               np.asarray(data, dtype=dtype))


@dataclass(frozen=True)
class FoldBatchNorm(Pass):
    name = "fold-batchnorm"
    summary = "Fold inference BatchNormalization into the conv or linear layer before it."

    def run(self, module: Module, ctx: PassContext) -> None:
        for key in ("folded-into-conv", "folded-into-linear", "decomposed"):
            ctx.stat(key, 0)
        for bn in [op for op in module.ops if op.name == "nn.batchnorm"]:
            stats = _affine(bn)
            if stats is None:
                continue
            s, t = stats
            users = module.users()
            y = bn.operands[0]
            single = len(users.get(y, [])) == 1 and y not in module.output_values()
            producer = y.producer
            if single and producer is not None and producer.name in CONVS \
                    and _fold_into_conv(module, producer, bn, s, t, users):
                ctx.stat("folded-into-conv")
            elif single and producer is not None and _fold_into_linear(module, producer, bn,
                                                                       s, t, users):
                ctx.stat("folded-into-linear")
            else:
                _decompose(module, bn, s, t)
                ctx.stat("decomposed")
            module.remove_unused_constants()


def _affine(bn: Op) -> tuple[np.ndarray, np.ndarray] | None:
    """(s, t) in float64 with y*s + t == batchnorm(y), for constant per-channel [C] stats."""
    params = [constant_data(v) for v in bn.operands[1:]]
    if any(p is None or p.ndim != 1 for p in params):
        return None
    scale, bias, mean, var = (p.astype(np.float64) for p in params)
    s = scale / np.sqrt(var + bn.attrs["eps"])
    return s, bias - mean * s


def _replace(module: Module, bn: Op, new: Value, absorbed: list[Op]) -> None:
    """`new` takes the batchnorm's place; the absorbed ops get the batchnorm's location too."""
    for op in absorbed:
        op.loc = Location.fuse([op.loc, bn.loc])
    module.replace_all_uses(bn.result, new)
    module.ops.remove(bn)


def _fold_into_conv(module: Module, conv: Op, bn: Op, s, t, users) -> bool:
    w = conv.operands[1]
    wd = constant_data(w)
    if wd is None or wd.shape[0] != s.shape[0]:
        return False
    old_bias = constant_data(conv.operands[2]) if len(conv.operands) > 2 else np.zeros(1)
    if old_bias is None:
        return False
    per_out = s.reshape((-1,) + (1,) * (wd.ndim - 1))
    conv.operands[1] = update_constant(module, w, wd.astype(np.float64) * per_out, users, ".bn")
    bias = old_bias.astype(np.float64) * s + t
    if len(conv.operands) > 2:
        conv.operands[2] = update_constant(module, conv.operands[2], bias, users, ".bn")
    else:
        conv.operands.append(new_constant(module, f"{w.name}.bias", bias, wd.dtype))
    _replace(module, bn, conv.result, [conv])
    return True


def _fold_into_linear(module: Module, op: Op, bn: Op, s, t, users) -> bool:
    """nn.matmul(x, @W) [+ @b] with a rank-2 result [N, C]."""
    add = None
    if op.name == "math.add":
        add = op
        mm = next((v.producer for v in op.operands if v.producer is not None
                   and v.producer.name == "nn.matmul"), None)
        if mm is None or len(users.get(mm.result, [])) != 1 \
                or mm.result in module.output_values():
            return False
        b = next(v for v in op.operands if v is not mm.result)
    elif op.name == "nn.matmul":
        mm, b = op, None
    else:
        return False
    w = mm.operands[1]
    wd = constant_data(w)
    if mm.result.type.rank != 2 or wd is None or wd.ndim != 2 or wd.shape[1] != s.shape[0]:
        return False
    bd = np.zeros(1) if b is None else constant_data(b)
    if bd is None or bd.size not in (1, s.shape[0]) or (b is not None and b.type.rank > 2):
        return False
    mm.operands[1] = update_constant(module, w, wd.astype(np.float64) * s[None, :], users, ".bn")
    bias = bd.astype(np.float64).reshape(-1) * s + t
    if add is None:
        name = f"{w.name}.bias"
        bconst = new_constant(module, name, bias, wd.dtype)
        index = module.ops.index(bn)
        new = Builder(module, at=index).value("math.add", [mm.result, bconst],
                                              loc=Location.fuse([mm.loc, bn.loc]))
        _replace(module, bn, new, [mm])
        return True
    i = add.operands.index(b)
    if isinstance(b, Constant) and b.type.shape == (s.shape[0],):
        add.operands[i] = update_constant(module, b, bias, users, ".bn")
    else:
        add.operands[i] = new_constant(module, f"{w.name}.bias", bias, wd.dtype)
    _replace(module, bn, add.result, [mm, add])
    return True


def _decompose(module: Module, bn: Op, s, t) -> None:
    """batchnorm -> y * s' + t' with [C, 1, ...] constants (broadcast over [N, C, ...])."""
    y = bn.operands[0]
    shape = (-1,) + (1,) * (y.type.rank - 2)
    dtype = y.type.np_dtype
    base = bn.operands[1].name
    sc = new_constant(module, f"{base}.folded_scale", s.reshape(shape), dtype)
    sh = new_constant(module, f"{base}.folded_shift", t.reshape(shape), dtype)
    b = Builder(module, at=module.ops.index(bn))
    scaled = b.value("math.mul", [y, sc], loc=bn.loc)
    new = b.value("math.add", [scaled, sh], loc=bn.loc, result_name=bn.result.name)
    module.replace_all_uses(bn.result, new)
    module.ops.remove(bn)
