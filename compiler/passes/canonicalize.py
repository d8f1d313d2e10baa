"""canonicalize: remove no-ops, merge layout chains, propagate constants, fold what is constant.

One local rewrite table (`REWRITES`, op name -> functions tried in order),
applied to every op until nothing changes; then constant folding
(`fold-constants`, so every constant subgraph ends as one constant) and dead
code removal. The rewrites:

- no-ops: a cast to the same dtype, a reshape / expand / squeeze / unsqueeze /
  flatten / slice / pad / transpose whose result has the operand's type and
  moves nothing (identity permutation, zero pads, whole slice), a one-operand
  concat, ``x + 0``, ``x - 0``, ``x * 1``, ``x / 1`` where the constant does not
  broadcast x to a larger shape (ONNX Identity and inference-mode Dropout are
  already dropped by the importer);
- layout chains: reshape-like ops (reshape, flatten, squeeze, unsqueeze) of a
  reshape-like op become one reshape of the first operand; a transpose of a
  transpose becomes one transpose with the composed permutation; a Linear on
  a flattened 3-D input that is reshaped back (``reshape(matmul(reshape(x,
  [M, K]), W) + b)``) becomes the broadcasting ``matmul(x, W) + b``; a global
  average pool that is only flattened becomes one ``reduce_mean`` over the
  spatial dims;
- shapes: ``tensor.shape`` / ``tensor.size`` of a value whose shape is static
  become constants (so the shape arithmetic exporters emit folds once
  ``--input-shape`` binds the dims);
- constants through Where and Expand: ``where(c, a, b)`` with a constant
  condition that is all true (all false) is ``a`` (``b``) when that has the
  result's type; an ``expand`` whose users all broadcast anyway (elementwise
  ops whose results keep their types without it) is skipped, so a constant
  stays small instead of being folded to the expanded size.

Statistics: ``noops-removed``, ``chains-merged``, ``shapes-folded``,
``constants-propagated``, plus those of the folding and dead-code steps.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import TypeCheckError
from ..ir.builder import Builder
from ..ir.core import Constant, Module, Op, Value
from ..ir.location import Location
from ..ops import registry
from ..ops.shapes import broadcast_shapes
from .base import Pass, PassContext, option
from .dce import DeadCodeElimination
from .fold_constants import FoldConstants
from .patterns import splat_value

RESHAPE_LIKE = ("tensor.reshape", "tensor.flatten", "tensor.squeeze", "tensor.unsqueeze")

# A rewrite returns (statistic, replacement value) or None; it may add ops with `build`,
# a Builder placed right before the op.
Rewrite = Callable[[Module, Op, Builder, dict], "tuple[str, Value] | None"]


def _same_type(a: Value, b: Value) -> bool:
    return a.type == b.type


def _noop_if_same_type(module: Module, op: Op, build: Builder, users) -> tuple[str, Value] | None:
    """Shape ops whose result has exactly the operand's type and that move no element."""
    x = op.operands[0]
    if not _same_type(x, op.result):
        return None
    name, a = op.name, op.attrs
    if name == "tensor.transpose":
        perm = a["perm"] or list(range(x.type.rank))[::-1]
        if perm != list(range(x.type.rank)):
            return None
    elif name == "tensor.slice":
        if any(s != 1 for s in a["steps"]):
            return None
    elif name == "tensor.pad":
        if any(a["pads"]):
            return None
    elif name == "tensor.concat":
        if len(op.operands) != 1:
            return None
    return "noops-removed", x


def _arith_identity(module: Module, op: Op, build: Builder, users) -> tuple[str, Value] | None:
    """x + 0, 0 + x, x - 0, x * 1, 1 * x, x / 1 (when the constant broadcasts nothing)."""
    a, b = op.operands
    neutral = {"math.add": 0.0, "math.sub": 0.0, "math.mul": 1.0, "math.div": 1.0}[op.name]
    candidates = [(a, b)]
    if op.name in ("math.add", "math.mul"):
        candidates.append((b, a))
    for x, c in candidates:
        if splat_value(c) == neutral and _same_type(x, op.result):
            return "noops-removed", x
    return None


def _reshape_chain(module: Module, op: Op, build: Builder, users) -> tuple[str, Value] | None:
    """A reshape-like op of a reshape-like op: one reshape of the first operand."""
    inner = op.operands[0].producer
    if inner is None or inner.name not in RESHAPE_LIKE:
        return None
    src = inner.operands[0]
    out = op.result.type
    if out.is_static:
        attrs = {"shape": list(out.shape)}
        operands = [src]
    elif op.name == "tensor.reshape" and not any(d == 0 for d in op.attrs["shape"]):
        attrs = dict(op.attrs)
        operands = [src] + op.operands[1:]
    else:
        return None
    new = _try_create(build, "tensor.reshape", operands, attrs, op, merged=(inner,))
    return ("chains-merged", new) if new is not None else None


def _transpose_chain(module: Module, op: Op, build: Builder, users) -> tuple[str, Value] | None:
    inner = op.operands[0].producer
    if inner is None or inner.name != "tensor.transpose":
        return None
    rank = op.result.type.rank
    p1 = inner.attrs["perm"] or list(range(rank))[::-1]
    p2 = op.attrs["perm"] or list(range(rank))[::-1]
    perm = [p1[i] for i in p2]
    src = inner.operands[0]
    if perm == list(range(rank)):
        return "chains-merged", src
    new = _try_create(build, "tensor.transpose", [src], {"perm": perm}, op, merged=(inner,))
    return ("chains-merged", new) if new is not None else None


def _unflatten_matmul(module: Module, op: Op, build: Builder, users
                      ) -> tuple[str, Value] | None:
    """reshape(matmul(reshape(x, [M, K]), W) [+ b], x.shape[:-1] + [N]) -> matmul(x, W) [+ b].

    What exporters emit for a Linear on a 3-D input (GPT-2's Conv1D, Gemm): the
    matmul broadcasts over the leading dims by itself, and without the reshapes
    the bias, residual and activation around it can fuse with it."""
    src = op.operands[0]
    outputs = module.output_values()

    def single(v: Value) -> bool:
        return len(users.get(v, [])) == 1 and v not in outputs

    add, bias = None, None
    mm = src.producer
    if mm is not None and mm.name == "math.add":
        add = mm
        mm = next((v.producer for v in add.operands if v.producer is not None
                   and v.producer.name == "nn.matmul"), None)
        if mm is None:
            return None
        bias = next(v for v in add.operands if v is not mm.result)
        if not isinstance(bias, Constant) or bias.type.rank > 2 \
                or any(d != 1 for d in bias.type.shape[:-1]):
            return None
    if mm is None or mm.name != "nn.matmul" or not single(src) \
            or (add is not None and not single(mm.result)):
        return None
    flat, w = mm.operands
    inner = flat.producer
    if w.type.rank != 2 or flat.type.rank != 2 or inner is None \
            or inner.name not in RESHAPE_LIKE or not single(flat):
        return None
    x = inner.operands[0]
    if x.type.rank < 2 or x.type.shape[-1] != flat.type.shape[1]:
        return None
    if op.result.type.shape != x.type.shape[:-1] + (w.type.shape[1],):
        return None
    merged = (inner, mm) + ((add,) if add is not None else ())
    new = _try_create(build, "nn.matmul", [x, w], {}, op, check=False, merged=merged,
                      result_name=mm.result.name if add is not None else None)
    if new is not None and add is not None:
        new = _try_create(build, "math.add", [new, bias], {}, op, check=False, merged=merged)
    if new is None or new.type != op.result.type:
        return None
    return "chains-merged", new


def _pool_then_flatten(module: Module, op: Op, build: Builder, users
                       ) -> tuple[str, Value] | None:
    """flatten(global_avgpool(x)) of x [N, C, spatial...] -> reduce_mean over the spatial
    dims: the pooled [N, C, 1, ...] value only existed to be flattened."""
    pool = op.operands[0].producer
    if pool is None or pool.name != "nn.global_avgpool" or op.attrs["axis"] != 1:
        return None
    pooled = pool.result
    if len(users.get(pooled, [])) != 1 or pooled in module.output_values():
        return None
    rank = pool.operands[0].type.rank
    new = _try_create(build, "math.reduce_mean", [pool.operands[0]],
                      {"axes": list(range(2, rank)), "keepdims": False}, op, merged=(pool,))
    return ("chains-merged", new) if new is not None else None


def _static_shape(module: Module, op: Op, build: Builder, users) -> tuple[str, Value] | None:
    x = op.operands[0]
    if not x.type.is_static:
        return None
    if op.name == "tensor.size":
        data = np.array(int(np.prod(x.type.shape, dtype=np.int64)), dtype=np.int64)
    else:
        rank = x.type.rank
        start, end = op.attrs["start"], op.attrs["end"]
        start = min(max(start + rank if start < 0 else start, 0), rank)
        end = min(max(end + rank if end < 0 else end, 0), rank)
        data = np.array(x.type.shape[start:end], dtype=np.int64)
    if data.shape != op.result.type.shape:
        return None
    name = module.fresh_constant_name(f"{x.name or 'value'}.shape" if op.name == "tensor.shape"
                                      else f"{x.name or 'value'}.size")
    return "shapes-folded", module.add_constant(name, data, type=op.result.type)


def _where_constant(module: Module, op: Op, build: Builder, users) -> tuple[str, Value] | None:
    cond, a, b = op.operands
    if not isinstance(cond, Constant) or cond.data is None:
        return None
    if np.all(cond.data) and _same_type(a, op.result):
        return "constants-propagated", a
    if not np.any(cond.data) and _same_type(b, op.result):
        return "constants-propagated", b
    return None


def _expand_for_broadcast(module: Module, op: Op, build: Builder, users
                          ) -> tuple[str, Value] | None:
    """Skip an expand whose every user is an elementwise op that broadcasts anyway."""
    x = op.operands[0]
    uses = users.get(op.result, [])
    if not uses or op.result in module.output_values():
        return None
    for u in uses:
        if registry.get_op(u.name).fusion != "elementwise":
            return None
        shapes = [x.type.shape if v is op.result else v.type.shape for v in u.operands]
        try:
            if broadcast_shapes(*shapes) != u.result.type.shape:
                return None
        except Exception:
            return None
    return "constants-propagated", x


def _try_create(build: Builder, name: str, operands: list[Value], attrs: dict, old: Op,
                check: bool = True, merged: tuple = (), result_name: str | None = None
                ) -> Value | None:
    """Create the op if its inferred type equals `old`'s result type (any type without
    `check`); else create nothing. Its location fuses `old`'s and those of the `merged` ops;
    its name hint is `result_name` or `old`'s."""
    loc = Location.fuse([o.loc for o in (*merged, old)])
    try:
        new = build.create(name, operands, attrs, loc, [result_name or old.result.name]).result
    except TypeCheckError:
        return None
    if check and new.type != old.result.type:
        build.module.ops.remove(new.producer)
        build.at -= 1
        return None
    return new


REWRITES: dict[str, list[Rewrite]] = {
    "math.cast": [lambda m, op, b, u: ("noops-removed", op.operands[0])
                  if op.attrs["to"] == op.operands[0].type.dtype else None],
    "tensor.reshape": [_noop_if_same_type, _reshape_chain, _unflatten_matmul],
    "tensor.flatten": [_noop_if_same_type, _reshape_chain, _pool_then_flatten],
    "tensor.squeeze": [_noop_if_same_type, _reshape_chain],
    "tensor.unsqueeze": [_noop_if_same_type, _reshape_chain],
    "tensor.expand": [_noop_if_same_type, _expand_for_broadcast],
    "tensor.slice": [_noop_if_same_type],
    "tensor.pad": [_noop_if_same_type],
    "tensor.concat": [_noop_if_same_type],
    "tensor.transpose": [_noop_if_same_type, _transpose_chain],
    "tensor.shape": [_static_shape],
    "tensor.size": [_static_shape],
    "math.add": [_arith_identity],
    "math.sub": [_arith_identity],
    "math.mul": [_arith_identity],
    "math.div": [_arith_identity],
    "logic.where": [_where_constant],
}


def canonicalize_ops(module: Module, on_rewrite: Callable[[str], None]) -> int:
    """One sweep of `REWRITES` over the module; returns the number of rewrites."""
    count = 0
    replaced: dict[Value, Value] = {}
    users = module.users()
    index = 0
    while index < len(module.ops):
        op = module.ops[index]
        op.operands = [replaced.get(v, v) for v in op.operands]
        for rewrite in REWRITES.get(op.name, []):
            build = Builder(module, at=index)
            out = rewrite(module, op, build, users)
            if out is None:
                continue
            stat, value = out
            index = build.at           # past any op the rewrite created
            replaced[op.result] = value
            if value.name is None:
                value.name = op.result.name
            on_rewrite(stat)
            count += 1
            break
        index += 1
    for k, v in module.outputs.items():
        while v in replaced:
            v = replaced[v]
        module.outputs[k] = v
    for op in module.ops:
        ops = []
        for v in op.operands:
            while v in replaced:
                v = replaced[v]
            ops.append(v)
        op.operands = ops
    return count


@dataclass(frozen=True)
class Canonicalize(Pass):
    name = "canonicalize"
    summary = "Remove no-op ops, merge reshape/transpose chains, propagate and fold constants."

    max_rounds: int = option(8, "sweeps of the rewrite table before folding (stops early "
                                "when a sweep changes nothing)")

    def run(self, module: Module, ctx: PassContext) -> None:
        for key in ("noops-removed", "chains-merged", "shapes-folded", "constants-propagated"):
            ctx.stat(key, 0)
        for _ in range(self.max_rounds):
            if canonicalize_ops(module, ctx.stat) == 0:
                break
            DeadCodeElimination().run(module, PassContext())   # statistics not kept
        FoldConstants().run(module, ctx)
        DeadCodeElimination().run(module, ctx)
