"""Calibration inputs, and running a module on them with the runtime's kernels.

Calibration-based pruning (Wanda, SparseGPT) needs the activations that reach
each layer, and every pruning run reports how far the pruned model's outputs
move from the dense ones. Both come from running the module's ops, in order,
with the runtime's dense kernels (`runtime.kernels.KERNELS`) on:

- `load_calibration(path, ...)`: an .npz archive keyed by input name (one
  batch: each array is one input, symbolic dims free but consistent);
- `random_calibration(...)`: seeded random inputs (floats ~ normal(0, 1),
  integers in [0, 10), booleans fair coins, as ``wsc run --random-inputs``).
  `samples` is the number of samples drawn: when every input starts with the
  same unbound symbolic dim (a batch dim) they are one batch of that size,
  otherwise `samples` separate runs with symbolic dims bound from
  ``--input-shape`` or taken as 1.

`Interpreter.run(batches, before_op)` runs all batches in lockstep, op by op,
so that `before_op` sees every batch's operands of an op before it runs (and
may change the op's constant weights: a layer pruned there is used pruned by
every later op, as sequential pruning needs). Constants are read from
`Constant.data` when used; intermediates are freed after their last use.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from runtime.dtypes import DTYPES, random_array
from runtime.errors import InputError
from runtime.kernels import KERNELS

from ..errors import PassError
from ..ir.core import Constant, Module, Op, Value

Batch = dict[str, np.ndarray]


@dataclass
class CalibrationSet:
    """Input batches (input name -> array) and where they came from, for reports."""

    batches: list[Batch]
    source: str


def random_calibration(module: Module, symbols: dict[str, int], samples: int,
                       seed: int) -> CalibrationSet:
    """`samples` seeded random samples of the module's inputs (see the module docstring)."""
    if samples < 1:
        raise PassError(f"calibration needs at least 1 sample, got {samples}")
    rng = np.random.default_rng(seed)
    firsts = {v.type.shape[0] if v.type.rank else None for v in module.inputs}
    batch_dim = next(iter(firsts)) if len(firsts) == 1 else None
    one_batch = isinstance(batch_dim, str) and batch_dim not in symbols
    sizes = dict(symbols)
    if one_batch:
        sizes[batch_dim] = samples
    runs = 1 if one_batch else samples
    batches = []
    for _ in range(runs):
        batch = {}
        for v in module.inputs:
            shape = tuple(sizes.get(d, 1) if isinstance(d, str) else d for d in v.type.shape)
            batch[v.name] = random_array(rng, shape, v.type.dtype)
        batches.append(batch)
    return CalibrationSet(batches, f"random inputs ({samples} samples, seed {seed})")



def load_calibration(path: str | os.PathLike, module: Module) -> CalibrationSet:
    """The arrays of the .npz at `path`, checked against the module's inputs."""
    where = str(path)
    hint = ("--calibration takes an .npz archive keyed by input name (numpy.savez), e.g. "
            "np.savez('calib.npz', " + ", ".join(f"{v.name}=..." for v in module.inputs) + ")")
    p = Path(path)
    if not p.is_file():
        raise InputError("no such calibration file" if not p.exists() else "not a file",
                         where=where, hint=hint)
    with open(p, "rb") as f:
        magic = f.read(6)
    if magic == b"\x93NUMPY":
        raise InputError("this is an .npy array, not an .npz archive", where=where, hint=hint)
    try:
        with np.load(p, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as e:  # ValueError, OSError, BadZipFile: all mean a bad file
        raise InputError(f"cannot read the calibration archive: {e}", where=where,
                         hint=hint) from None
    return CalibrationSet([check_batch(module, arrays, where)], p.name)


def check_batch(module: Module, arrays: dict[str, np.ndarray], where: str) -> Batch:
    """`arrays` checked against the module's signature (names, ranks, dims, dtype kinds)."""
    signature = ", ".join(f"{v.name}: {v.type}" for v in module.inputs) or "none"
    hint = f"the model's inputs are: {signature}"
    names = [v.name for v in module.inputs]
    extra = [k for k in arrays if k not in names]
    if extra:
        import difflib
        close = difflib.get_close_matches(extra[0], names, n=1)
        guess = f"; did you mean {close[0]!r}?" if close else ""
        raise InputError(f"calibration array {extra[0]!r} is not an input of the model{guess}",
                         where=where, hint=hint)
    missing = [n for n in names if n not in arrays]
    if missing:
        raise InputError(f"the calibration archive has no array for input "
                         f"{', '.join(repr(m) for m in missing)}", where=where, hint=hint)
    bound: dict[str, tuple[int, str]] = {}
    out: Batch = {}
    for v in module.inputs:
        a = arrays[v.name]
        t = v.type
        if a.ndim != t.rank:
            raise InputError(f"calibration input {v.name!r} has shape {list(a.shape)} (rank "
                             f"{a.ndim}), expected rank {t.rank}: {t}", where=where, hint=hint)
        for i, (want, got) in enumerate(zip(t.shape, a.shape)):
            if isinstance(want, int) and want != got:
                raise InputError(f"calibration input {v.name!r} has shape {list(a.shape)}, "
                                 f"expected {t} (dim {i} must be {want})", where=where,
                                 hint=hint)
            if isinstance(want, str):
                if want in bound and bound[want][0] != got:
                    raise InputError(f"calibration inputs disagree on {want}: {bound[want][0]} "
                                     f"in {bound[want][1]!r} but {got} in {v.name!r}",
                                     where=where, hint=hint)
                bound[want] = (got, v.name)
        want_dt = DTYPES[t.dtype]
        if a.dtype != want_dt:
            same_kind = (np.issubdtype(a.dtype, np.floating) and np.issubdtype(want_dt, np.floating)) \
                or (np.issubdtype(a.dtype, np.integer) and np.issubdtype(want_dt, np.integer))
            if not same_kind:
                raise InputError(f"calibration input {v.name!r} has dtype {a.dtype}, expected "
                                 f"{t.dtype}", where=where, hint=hint)
            a = a.astype(want_dt)
        out[v.name] = a
    return out


class Interpreter:
    """Runs a module's ops with the runtime's dense kernels (see the module docstring)."""

    def __init__(self, module: Module) -> None:
        self.module = module
        keep = set(module.outputs.values())
        last: dict[Value, int] = {}
        for i, op in enumerate(module.ops):
            for v in op.operands:
                last[v] = i
        self._free: list[list[Value]] = [[] for _ in module.ops]
        for v, i in last.items():
            if v not in keep and not isinstance(v, Constant):
                self._free[i].append(v)

    def run(self, batches: list[Batch],
            before_op: Callable[[int, Op, list[dict[Value, np.ndarray]]], None] | None = None
            ) -> list[Batch]:
        """Outputs (name -> array) of every batch, in order."""
        envs: list[dict[Value, np.ndarray]] = [
            {v: b[v.name] for v in self.module.inputs} for b in batches]
        for index, op in enumerate(self.module.ops):
            if before_op is not None:
                before_op(index, op, envs)
            fn = KERNELS.get(op.name)
            if fn is None:
                raise PassError(f"cannot run the model for calibration: op {index} "
                                f"({op.name}) has no dense runtime kernel", op.loc)
            for env in envs:
                args = [self.value(env, v) for v in op.operands]
                try:
                    with np.errstate(all="ignore"):
                        result = fn(*args, **op.attrs)
                except Exception as e:
                    raise PassError(f"running the model on the calibration inputs failed at "
                                    f"op {index} ({op.name}): {type(e).__name__}: {e}", op.loc,
                                    hint="check the calibration inputs' values and shapes"
                                    ) from None
                results = result if isinstance(result, (tuple, list)) else (result,)
                for r, a in zip(op.results, results):
                    env[r] = np.asarray(a)
                for v in self._free[index]:
                    env.pop(v, None)
        return [{name: self.value(env, v) for name, v in self.module.outputs.items()}
                for env in envs]

    @staticmethod
    def value(env: dict[Value, np.ndarray], v: Value) -> np.ndarray:
        if isinstance(v, Constant):
            if v.data is None:
                raise PassError(f"cannot run the model for calibration: constant @{v.name} has "
                                f"no data (elided)")
            return v.data
        return env[v]


def output_deviation(dense: list[Batch], pruned: list[Batch]) -> dict[str, dict[str, float]]:
    """Per output: max |pruned - dense| and ||pruned - dense|| / ||dense|| over all batches."""
    out = {}
    for name in dense[0] if dense else []:
        d = np.concatenate([np.asarray(b[name], dtype=np.float64).reshape(-1) for b in dense])
        p = np.concatenate([np.asarray(b[name], dtype=np.float64).reshape(-1) for b in pruned])
        diff = p - d
        norm = float(np.linalg.norm(d))
        out[name] = {
            "max_abs": float(np.max(np.abs(diff))) if diff.size else 0.0,
            "rel_l2": float(np.linalg.norm(diff) / norm) if norm > 0 else float(np.linalg.norm(diff)),
        }
    return out
