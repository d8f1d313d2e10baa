"""fold-algebra: constant scales and shifts folded into the weights and biases of layers.

A *layer* here is a contraction with a constant weight: ``nn.conv2d`` /
``nn.conv3d`` (weight W[O, ...], per-output-channel constants shaped [O] or
[1, O, 1, 1]), ``nn.matmul(x, @W)`` with W[K, N] (constants along the last
dim, [N] or [1, ..., N]), and ``fused.matmul_epilogue`` / ``fused.conv2d_epilogue``
without residual, shortcut, activation or pool. The rewrites, each only where the layer's
result has no other user:

- ``layer(x) * c`` and ``layer(x) / c`` (c per output channel or scalar): W and
  the bias are scaled (``W[..., o] * c[o]``);
- ``(x * c) @ W`` / ``conv(x * c, W)`` with a scalar c: W is scaled;
- ``layer(x) + c``, ``layer(x) - c``: c joins the bias — a conv's own bias
  operand, or for a matmul ``fused.matmul_epilogue{has_bias}`` (MatMul + Add as
  one op with bias);
- ``(x * c1) * c2`` and ``(x + c1) + c2`` with constants: one op with the
  folded constant.

A transposed constant weight is already one folded constant (canonicalize
folds every constant subgraph). Scaling multiplies existing weight entries,
so pruned weights keep their zeros (and a matmul with a bias still runs on a
sparse kernel: ``sparse.matmul_csc`` takes the bias).

Statistics: ``scaled``, ``biased``, ``reassociated``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import TypeCheckError
from ..ir.builder import Builder, infer_types
from ..ir.core import Constant, Module, Op, Value
from ..ir.location import Location
from .base import Pass, PassContext
from .fold_batchnorm import constant_data, new_constant, update_constant

CONVS = ("nn.conv2d", "nn.conv3d", "fused.conv2d_epilogue")
MATMULS = ("nn.matmul", "fused.matmul_epilogue")


def layer_kind(op: Op | None) -> str | None:
    """"conv" or "matmul" for a contraction with a constant weight and a plain epilogue."""
    if op is None:
        return None
    if op.name.startswith("fused.") and (op.attrs["residual"] or op.attrs["activation"] != "none"
                                         or op.attrs.get("shortcut")
                                         or op.attrs.get("pool_kernel")):
        return None
    if op.name in CONVS and constant_data(op.operands[1]) is not None:
        return "conv"
    if op.name in MATMULS and constant_data(op.operands[1]) is not None \
            and op.operands[1].type.rank == 2 and op.operands[0].type.rank >= 1:
        return "matmul"
    return None


def per_channel(kind: str, c: Value, out_rank: int, channels: int) -> np.ndarray | None:
    """The constant as a float64 vector over the layer's output channels, if it broadcasts
    per channel (or is a scalar); None otherwise."""
    data = constant_data(c)
    if data is None or data.ndim > out_rank or c.type.dtype not in ("f16", "f32", "f64"):
        return None
    shape = (1,) * (out_rank - data.ndim) + data.shape
    axis = 1 if kind == "conv" else out_rank - 1
    if any(d != 1 for i, d in enumerate(shape) if i != axis) or shape[axis] not in (1, channels):
        return None
    return np.broadcast_to(data.astype(np.float64).reshape(-1), (channels,)).copy()


def _bias_index(op: Op) -> int | None:
    if op.name.startswith("fused."):
        return 2 if op.attrs["has_bias"] else None
    return 2 if len(op.operands) > 2 else None


def _channels(kind: str, op: Op) -> int:
    w = op.operands[1].type.shape
    return w[0] if kind == "conv" else w[1]


def _scale_weight(module: Module, op: Op, kind: str, vec: np.ndarray, users) -> bool:
    w = op.operands[1]
    wd = constant_data(w)
    shape = (-1,) + (1,) * (wd.ndim - 1) if kind == "conv" else (1, -1)
    bi = _bias_index(op)
    if bi is not None:
        bd = constant_data(op.operands[bi])
        if bd is None:
            return False
        op.operands[bi] = update_constant(module, op.operands[bi],
                                          np.broadcast_to(bd.astype(np.float64),
                                                          bd.shape) * _like_bias(vec, bd),
                                          users, ".scaled")
    op.operands[1] = update_constant(module, w, wd.astype(np.float64) * vec.reshape(shape),
                                     users, ".scaled")
    return True


def _like_bias(vec: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """The per-channel vector shaped to multiply `bias` (which may be [N] or [1, ..., N])."""
    return vec.reshape((1,) * (bias.ndim - 1) + (-1,)) if bias.ndim else vec


@dataclass(frozen=True)
class FoldAlgebra(Pass):
    name = "fold-algebra"
    summary = "Fold constant scales and shifts into layer weights and biases (MatMul+Add -> bias)."

    def run(self, module: Module, ctx: PassContext) -> None:
        for key in ("scaled", "biased", "reassociated"):
            ctx.stat(key, 0)
        changed = True
        while changed:
            changed = False
            users = module.users()
            outputs = module.output_values()
            for op in list(module.ops):
                stat = self._rewrite(module, op, users, outputs)
                if stat:
                    ctx.stat(stat)
                    changed = True
                    break
        module.remove_unused_constants()

    def _rewrite(self, module: Module, op: Op, users, outputs) -> str | None:
        if op.name not in ("math.mul", "math.div", "math.add", "math.sub"):
            return None
        a, b = op.operands
        pairs = [(a, b)] if op.name in ("math.div", "math.sub") else [(a, b), (b, a)]
        for x, c in pairs:
            if not isinstance(c, Constant) or c.data is None or isinstance(x, Constant):
                continue
            if op.name == "math.mul" and self._prescale(module, op, x, c, users):
                return "scaled"
            if len(users.get(x, [])) != 1 or x in outputs:
                continue    # x itself is rewritten below: it must have no other user
            layer = x.producer
            kind = layer_kind(layer)
            if kind is not None and layer.result is x:
                vec = per_channel(kind, c, x.type.rank, _channels(kind, layer))
                if vec is not None and x.type == op.result.type:
                    if op.name in ("math.mul", "math.div"):
                        if op.name == "math.div":
                            vec = 1.0 / vec
                        if _scale_weight(module, layer, kind, vec, users):
                            _take_place(module, op, x, layer)
                            return "scaled"
                    elif self._add_bias(module, layer, kind, c, vec, op, users):
                        return "biased"
            if self._reassociate(module, op, x, c, users):
                return "reassociated"
        return None

    def _add_bias(self, module: Module, layer: Op, kind: str, c: Constant, vec, op: Op,
                  users) -> bool:
        sign = -1.0 if op.name == "math.sub" else 1.0
        x = layer.result
        bi = _bias_index(layer)
        dtype = layer.operands[1].type.np_dtype
        if bi is not None:
            bd = constant_data(layer.operands[bi])
            if bd is None:
                return False
            layer.operands[bi] = update_constant(
                module, layer.operands[bi], bd.astype(np.float64) + sign * _like_bias(vec, bd),
                users, ".biased")
        elif kind == "conv":
            layer.operands.append(new_constant(module, f"{layer.operands[1].name}.bias",
                                               sign * vec, dtype))
        else:
            # a bias [N] (what the sparse matmul kernel takes), whatever c's broadcast shape
            channels = layer.operands[1].type.shape[1]
            bias = c if sign > 0 and c.type.shape == (channels,) else \
                new_constant(module, f"{c.name}.bias", sign * vec, dtype)
            try:
                b = Builder(module, at=module.ops.index(layer))
                fused = b.value("fused.matmul_epilogue", [*layer.operands[:2], bias],
                                {"has_bias": True}, loc=layer.loc, result_name=x.name)
            except TypeCheckError:
                return False
            module.ops.remove(layer)
            module.replace_all_uses(x, fused)
            layer = fused.producer
            x = fused
        _take_place(module, op, x, layer)
        return True

    def _prescale(self, module: Module, op: Op, x: Value, c: Constant, users) -> bool:
        """(x * s) feeding only a layer's activation operand, s a scalar: scale the weight."""
        s = constant_data(c)
        if s is None or s.size != 1 or c.type.rank > x.type.rank or x.type != op.result.type:
            return False
        uses = users.get(op.result, [])
        if len(uses) != 1 or op.result in module.output_values():
            return False
        layer = uses[0]
        kind = layer_kind(layer)
        if kind is None or layer.operands[0] is not op.result or op.result in layer.operands[1:]:
            return False
        w = layer.operands[1]
        wd = constant_data(w)
        layer.operands[1] = update_constant(module, w, wd.astype(np.float64) * float(s.reshape(())),
                                            users, ".scaled")
        layer.operands[0] = x
        layer.loc = Location.fuse([op.loc, layer.loc])
        module.ops.remove(op)
        return True

    def _reassociate(self, module: Module, op: Op, x: Value, c: Constant, users) -> bool:
        """(y op c1) op c2 -> y op (c1 op c2) for op in {mul, add}, all constants splat-free."""
        if op.name not in ("math.mul", "math.add"):
            return False
        inner = x.producer
        if inner is None or inner.name != op.name or len(users.get(x, [])) != 1:
            return False
        ia, ib = inner.operands
        y, c1 = (ia, ib) if isinstance(ib, Constant) else (ib, ia)
        if not isinstance(c1, Constant) or c1.data is None or isinstance(y, Constant):
            return False
        fn = np.multiply if op.name == "math.mul" else np.add
        data = fn(c1.data.astype(np.float64), c.data.astype(np.float64))
        if np.broadcast_shapes(y.type.shape, data.shape) != op.result.type.shape:
            return False
        if data.ndim > op.result.type.rank:
            return False
        folded = new_constant(module, f"{c1.name}.folded", data, c1.type.np_dtype)
        try:
            _, _, types = infer_types(inner.name, [y.type, folded.type], inner.attrs)
        except TypeCheckError:
            return False
        if types[0] != op.result.type:
            return False
        inner.operands = [y, folded]
        inner.results[0].type = types[0]
        inner.loc = Location.fuse([inner.loc, op.loc])
        _take_place(module, op, inner.result, inner)
        return True


def _take_place(module: Module, op: Op, value: Value, absorber: Op) -> None:
    """`value` (the absorbing op's result) replaces `op`'s result; `op` goes away."""
    absorber.loc = Location.fuse([absorber.loc, op.loc])
    if op.result.name and (value.name is None or value.name.isdigit()):
        value.name = op.result.name
    module.replace_all_uses(op.result, value)
    module.ops.remove(op)
