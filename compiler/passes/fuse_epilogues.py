"""fuse-epilogues: a conv or matmul and the bias, residual add and activation after it, as one op.

Starting from every ``nn.conv2d`` (2-D), ``nn.matmul`` and fused contraction
that fold-algebra made, the pass follows the chain of single users and
absorbs, in this order and each at most once:

1. a bias: ``+ c`` with a constant c (per output channel for a conv; any
   constant that broadcasts into the result for a matmul);
2. a residual: ``+ r`` with a value r of the result's dtype that broadcasts
   into the result (r may have other users: it is only read). For a conv,
   when r is itself made by a plain ``nn.conv2d`` used only here (a ResNet
   projection shortcut), that conv joins too, as the fused op's *shortcut*;
3. an activation: relu, clip (relu6), sigmoid, tanh, gelu (erf or tanh),
   swish/SiLU, hard_swish, leaky_relu — the names of `compiler/ops/fused.py`,
   which the sparse kernels share;
4. for a conv, a following ``nn.maxpool2d`` (a stem's conv-relu-maxpool).

The result is ``fused.conv2d_epilogue`` / ``fused.matmul_epilogue`` placed where
the last absorbed op was, with the fused location of every absorbed op. It
stops at the first value that has another user or is a model output (fusing
there would lose that value), so a conv whose output feeds two ops keeps
its epilogue-free form, and an activation that is a model output ends the
chain (it is the fused op's result). A lone contraction is left as it is.

A contraction whose constant weight is at most `sparse-density` nonzero (a
candidate for a sparse kernel) only absorbs what the sparse kernels also do
— bias, residual and activation, but not a projection shortcut or a max
pool — so that kernel selection can still give it a sparse kernel (0: no
limit).

Statistics: ``fused-conv``, ``fused-matmul``, ``absorbed`` (ops merged away).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import TypeCheckError
from ..ir.builder import Builder
from ..ir.core import Constant, Module, Op, Value
from ..ops.fused import contraction_attrs
from ..ops.shapes import broadcasts_into
from .base import Pass, PassContext, option
from .fold_algebra import per_channel
from .fold_batchnorm import constant_data, new_constant
from .patterns import fused_location

FLOATS = ("f16", "f32", "f64")


def activation_of(op: Op) -> dict | None:
    """The epilogue attributes that express `op` as an activation, or None."""
    n, a = op.name, op.attrs
    if n == "nn.relu":
        return {"activation": "relu"}
    if n == "math.clip":
        return {"activation": "clip", "clip_min": a["min"], "clip_max": a["max"]}
    if n == "nn.sigmoid":
        return {"activation": "sigmoid"}
    if n == "math.tanh":
        return {"activation": "tanh"}
    if n == "nn.gelu":
        return {"activation": "gelu" if a["approximate"] == "none" else "gelu_tanh"}
    if n == "nn.swish":
        return {"activation": "swish", "alpha": a["alpha"]}
    if n == "nn.hard_swish":
        return {"activation": "hard_swish"}
    if n == "nn.leaky_relu":
        return {"activation": "leaky_relu", "alpha": a["alpha"]}
    return None


@dataclass
class _Epilogue:
    """What has been absorbed so far into one contraction."""

    start: Op
    kind: str                 # "conv" | "matmul"
    bias: Value | None
    residual: Value | None
    act: dict | None
    absorbed: list[Op]
    result: Value
    shortcut: Op | None = None     # a conv whose result is the residual (conv only)
    pool: Op | None = None         # a max pool after the activation (conv only)
    sparse: bool = False           # a sparse-kernel candidate: bias and relu only

    @property
    def stage(self) -> int:
        if self.pool is not None:
            return 4
        if self.act:
            return 3
        return 2 if self.residual is not None or self.shortcut is not None else \
            1 if self.bias else 0


def _start(op: Op) -> _Epilogue | None:
    if op.name == "nn.conv2d":
        bias = op.operands[2] if len(op.operands) > 2 else None
        return _Epilogue(op, "conv", bias, None, None, [op], op.result)
    if op.name == "nn.matmul":
        return _Epilogue(op, "matmul", None, None, None, [op], op.result)
    if op.name in ("fused.conv2d_epilogue", "fused.matmul_epilogue"):
        a = op.attrs
        if a.get("shortcut") or a.get("pool_kernel"):
            return None
        rest = list(op.operands[2:])
        bias = rest.pop(0) if a["has_bias"] else None
        res = rest.pop(0) if a["residual"] else None
        act = None if a["activation"] == "none" else {
            k: a[k] for k in ("activation", "alpha", "clip_min", "clip_max")}
        kind = "conv" if op.name == "fused.conv2d_epilogue" else "matmul"
        return _Epilogue(op, kind, bias, res, act, [op], op.result)
    return None


@dataclass(frozen=True)
class FuseEpilogues(Pass):
    name = "fuse-epilogues"
    summary = "Fuse bias, residual add and activation into the conv/matmul before them."

    sparse_density: float = option(0.5, "weights at most this dense absorb no shortcut conv or "
                                        "max pool (the sparse kernels have neither); 0: no limit")

    def run(self, module: Module, ctx: PassContext) -> None:
        for key in ("fused-conv", "fused-matmul", "absorbed"):
            ctx.stat(key, 0)
        for op in list(module.ops):
            if op not in module.ops:
                continue
            ep = _start(op)
            if ep is None or ep.result.type.dtype not in FLOATS:
                continue
            ep.sparse = self._sparse(op)
            users = module.users()
            outputs = module.output_values()
            grown = 0
            while True:
                uses = users.get(ep.result, [])
                if len(uses) != 1 or ep.result in outputs or \
                        not self._absorb(module, ep, uses[0], users, outputs):
                    break
                grown += 1
            if grown and self._build(module, ep):
                ctx.stat(f"fused-{ep.kind}")
                ctx.stat("absorbed", grown + (ep.shortcut is not None))
        module.remove_unused_constants()

    def _sparse(self, op: Op) -> bool:
        w = constant_data(op.operands[1]) if len(op.operands) > 1 else None
        if w is None or self.sparse_density <= 0 or w.size == 0:
            return False
        return np.count_nonzero(w) / w.size <= self.sparse_density

    def _absorb(self, module: Module, ep: _Epilogue, user: Op, users, outputs) -> bool:
        out = ep.result.type
        if len(user.results) != 1:
            return False
        if user.name == "nn.maxpool2d" and ep.kind == "conv" and ep.stage < 4 and not ep.sparse \
                and user.attrs["dilations"] == [1, 1]:
            ep.pool = user
            ep.absorbed.append(user)
            ep.result = user.result
            return True
        if user.result.type != out:
            return False
        act = activation_of(user)
        if act is not None:
            if ep.stage >= 3:
                return False
            ep.act = act
        elif user.name == "math.add" and ep.stage < 2:
            other = user.operands[1] if user.operands[0] is ep.result else user.operands[0]
            if other is ep.result or other.type.dtype != out.dtype \
                    or not broadcasts_into(other.type.shape, out.shape):
                return False
            if isinstance(other, Constant):
                bias = self._bias(module, ep, other) if ep.stage < 1 else None
                if bias is None:
                    return False
                ep.bias = bias
            elif not ep.sparse and self._is_shortcut(ep, other, users, outputs):
                ep.shortcut = other.producer
            else:
                ep.residual = other
        else:
            return False
        ep.absorbed.append(user)
        ep.result = user.result
        return True

    def _is_shortcut(self, ep: _Epilogue, other: Value, users, outputs) -> bool:
        """A residual made by a plain conv used only here: computed in the same kernel."""
        p = other.producer
        return (ep.kind == "conv" and p is not None and p.name == "nn.conv2d"
                and len(users.get(other, [])) == 1 and other not in outputs
                and other.type == ep.result.type and not self._sparse(p))

    def _bias(self, module: Module, ep: _Epilogue, c: Constant) -> Value | None:
        if ep.kind == "matmul":
            channels = ep.start.operands[1].type.shape[-1]
            if c.type.shape != (channels,) and c.data is not None and \
                    ep.start.operands[1].type.rank == 2:
                vec = per_channel("matmul", c, ep.result.type.rank, channels)
                if vec is not None:     # a bias [N], the form the sparse kernel takes
                    return new_constant(module, f"{c.name}.bias", vec, c.type.np_dtype)
            return c
        channels = ep.start.operands[1].type.shape[0]
        if c.type.shape in ((channels,), (channels, 1, 1), (1, channels, 1, 1)):
            if c.type.shape == (channels,):
                return c
        vec = per_channel("conv", c, ep.result.type.rank, channels)
        if vec is None:
            return None
        return new_constant(module, f"{c.name}.bias", vec, c.type.np_dtype)

    def _build(self, module: Module, ep: _Epilogue) -> bool:
        start = ep.start
        attrs = contraction_attrs(start.attrs) if start.name.startswith("fused.") \
            else dict(start.attrs)
        attrs.update(ep.act or {})
        attrs["has_bias"] = ep.bias is not None
        attrs["residual"] = ep.residual is not None
        operands = list(start.operands[:2])
        operands += [v for v in (ep.bias, ep.residual) if v is not None]
        absorbed = list(ep.absorbed)
        if ep.shortcut is not None:
            sc = ep.shortcut
            operands += sc.operands
            attrs.update(shortcut=True, shortcut_has_bias=len(sc.operands) > 2,
                         **{f"shortcut_{k}": sc.attrs[k]
                            for k in ("strides", "pads", "dilations", "groups")})
            absorbed.append(sc)
        if ep.pool is not None:
            p = ep.pool.attrs
            attrs.update(pool_kernel=p["kernel"], pool_strides=p["strides"],
                         pool_pads=p["pads"], pool_ceil_mode=p["ceil_mode"])
        name = "fused.conv2d_epilogue" if ep.kind == "conv" else "fused.matmul_epilogue"
        last = ep.absorbed[-1]
        loc = fused_location(module, absorbed)
        try:
            new = Builder(module, at=module.ops.index(last)).value(
                name, operands, attrs, loc=loc, result_name=last.result.name)
        except TypeCheckError:
            return False
        module.replace_all_uses(last.result, new)
        gone = set(map(id, absorbed))
        module.ops = [o for o in module.ops if id(o) not in gone]
        return True
