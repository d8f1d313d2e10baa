"""Runs a Program on numpy inputs, one kernel call per instruction (the "fast" mode).

`Executable(program)` checks the program once, resolves its kernels and works
out when each intermediate value is last used; `run(inputs)` checks the inputs
against the signature (names, dtypes, ranks, dims, symbolic dims bound
consistently), calls the kernels in order, frees each intermediate right after
its last use and returns the outputs in declared order. The kernels run on one
thread pool, numba's, with BLAS single-threaded meanwhile (`runtime/threads.py`).
"""
from __future__ import annotations

import difflib
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from .dtypes import DTYPES, dtype_from_numpy
from .errors import ExecutionError, InputError
from .kernels import KERNELS
from .program import Program, TensorSpec, check_kernels, check_program, format_type
from .threads import pool

_BUG_HINT = "this is a bug in wsc (the kernel disagrees with the compiled program); please report it"


class Executable:
    """A Program ready to run; see the module docstring. `source` names it in errors."""

    def __init__(self, program: Program, *, source: str | None = None) -> None:
        self._where = source or "<program>"
        check_program(program, self._where)
        check_kernels(program, self._where)
        self._program = program
        self._kernels = [KERNELS[ins.kernel] for ins in program.instrs]
        self._free_after = _frees(program)
        self._producer = {v: i for i, ins in enumerate(program.instrs) for v in ins.outputs}
        self.last_profile: list[dict[str, Any]] | None = None

    @property
    def program(self) -> Program:
        return self._program

    @property
    def inputs(self) -> list[TensorSpec]:
        return self._program.inputs

    @property
    def outputs(self) -> list[TensorSpec]:
        return self._program.outputs

    @property
    def header(self) -> dict[str, Any]:
        return self._program.header

    def __repr__(self) -> str:
        sig = lambda specs: ", ".join(f"{s.name}: {format_type(s)}" for s in specs)  # noqa: E731
        return (f"Executable(({sig(self.inputs)}) -> ({sig(self.outputs)}), "
                f"{len(self._program.instrs)} instrs)")

    def run(self, inputs: Mapping[str, Any], *, profile: bool = False) -> dict[str, np.ndarray]:
        """Execute on `inputs` (input name -> array); returns output name -> array.

        With `profile=True`, `self.last_profile` gets one record per instruction:
        index, kernel, op, loc and wall-clock seconds."""
        env, symbols = self._bind_inputs(inputs)
        env.update(self._program.constants)
        records: list[dict[str, Any]] | None = [] if profile else None
        self.last_profile = None
        with pool():
            self._execute(env, records)
        outputs = {}
        for spec in self._program.outputs:
            arr = env[spec.source]
            self._check_output(spec, arr, symbols)
            outputs[spec.name] = arr
        self.last_profile = records
        return outputs

    def _execute(self, env: dict[str, Any], records: list[dict[str, Any]] | None) -> None:
        """Call every instruction's kernel in order (see `run`)."""
        for i, (ins, fn) in enumerate(zip(self._program.instrs, self._kernels)):
            args = [env[v] for v in ins.inputs]
            start = time.perf_counter() if records is not None else 0.0
            try:
                result = fn(*args, **ins.attrs)
            except Exception as e:
                raise ExecutionError(
                    f"{_label(i, ins)} failed: {type(e).__name__}: {e}",
                    where=ins.loc or self._where,
                    hint="check the inputs' values; if they are valid, this is a bug in wsc") from e
            if records is not None:
                records.append({"index": i, "kernel": ins.kernel, "op": ins.op, "loc": ins.loc,
                                "seconds": time.perf_counter() - start})
            results = result if isinstance(result, (tuple, list)) else (result,)
            if len(results) != len(ins.outputs):
                raise ExecutionError(f"{_label(i, ins)} returned {len(results)} results, "
                                     f"expected {len(ins.outputs)}",
                                     where=ins.loc or self._where, hint=_BUG_HINT)
            for name, r in zip(ins.outputs, results):
                env[name] = np.asarray(r)
            for name in self._free_after[i]:
                del env[name]

    # -- inputs ------------------------------------------------------------------
    def _bind_inputs(self, inputs: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict]:
        """Check `inputs` against the signature; returns (value -> array, symbol bindings)."""
        specs = self._program.inputs
        signature = ", ".join(f"{s.name}: {format_type(s)}" for s in specs) or "none"
        hint = f"this program's inputs are: {signature}"
        if not isinstance(inputs, Mapping):
            raise InputError(f"inputs must be a dict of input name -> array, "
                             f"got {type(inputs).__name__}", where=self._where, hint=hint)
        names = [s.name for s in specs]
        for key in inputs:
            if key not in names:
                close = difflib.get_close_matches(str(key), names, n=1)
                guess = f"; did you mean {close[0]!r}?" if close else ""
                raise InputError(f"unknown input {key!r}{guess}", where=self._where, hint=hint)
        missing = [s for s in specs if s.name not in inputs]
        if missing:
            listed = ", ".join(f"{s.name!r} ({format_type(s)})" for s in missing)
            raise InputError(f"missing input{'s' if len(missing) > 1 else ''} {listed}",
                             where=self._where, hint=hint)

        env: dict[str, np.ndarray] = {}
        symbols: dict[str, tuple[int, str, int]] = {}  # symbol -> (size, input name, dim)
        for spec in specs:
            arr = self._as_array(spec, inputs[spec.name])
            self._check_shape(spec, arr, symbols, "input", InputError, None)
            env[spec.source] = arr
        return env, symbols

    def _as_array(self, spec: TensorSpec, value: Any) -> np.ndarray:
        want = DTYPES[spec.dtype]
        cast_hint = (f"convert it explicitly, e.g. np.asarray(value, dtype=np.{want.name}); "
                     f"inputs are never cast silently")
        if not isinstance(value, np.ndarray):
            array_like = (isinstance(value, (list, tuple, bool, int, float, complex, np.generic))
                          or hasattr(value, "__array__"))
            if not array_like:
                raise InputError(f"input {spec.name!r} must be an array of {format_type(spec)}, "
                                 f"got {type(value).__name__}", where=self._where, hint=cast_hint)
            try:
                value = np.asarray(value)
            except (ValueError, TypeError) as e:
                raise InputError(f"input {spec.name!r} cannot be converted to an array: {e}",
                                 where=self._where, hint=cast_hint) from None
        if value.dtype.newbyteorder("=") != want:  # byte order aside: numpy handles either
            try:
                got = dtype_from_numpy(value.dtype.newbyteorder("="))
            except (KeyError, TypeError):
                got = str(value.dtype)
            raise InputError(f"input {spec.name!r} has dtype {got}, expected {spec.dtype}",
                             where=self._where, hint=cast_hint)
        return value

    # -- shapes ------------------------------------------------------------------
    def _check_shape(self, spec: TensorSpec, arr: np.ndarray, symbols: dict,
                     kind: str, error: type, loc: str | None) -> None:
        """Check `arr`'s rank and dims against `spec`, binding symbolic dims in `symbols`."""
        where = loc or self._where
        hint = (f"{kind} {spec.name!r} must be {format_type(spec)}"
                if error is InputError else _BUG_HINT)
        if arr.ndim != len(spec.shape):
            raise error(f"{kind} {spec.name!r} has rank {arr.ndim} (shape {list(arr.shape)}), "
                        f"expected rank {len(spec.shape)}: {format_type(spec)}",
                        where=where, hint=hint)
        for dim, (want, got) in enumerate(zip(spec.shape, arr.shape)):
            if "*" in str(want):  # a product ("batch*seq"): known once its symbols are bound
                want = _product(want, symbols)
                if want is None:
                    continue
            if isinstance(want, int):
                if got != want:
                    raise error(f"{kind} {spec.name!r} dim {dim} is {got}, expected {want}",
                                where=where, hint=hint)
                continue
            if want not in symbols:
                symbols[want] = (got, spec.name, dim)
                continue
            size, first, first_dim = symbols[want]
            if got != size:
                if first == spec.name:
                    msg = f"{want} is {size} in {first!r} dim {first_dim} but {got} in dim {dim}"
                else:
                    msg = f"{want} is {size} in {first!r} but {got} in {spec.name!r}"
                raise error(msg, where=where,
                            hint=f"every use of {want} must have the same size; {hint}")

    def _check_output(self, spec: TensorSpec, arr: np.ndarray, symbols: dict) -> None:
        i = self._producer.get(spec.source)
        loc = self._program.instrs[i].loc if i is not None else None
        if arr.dtype.newbyteorder("=") != DTYPES[spec.dtype]:
            raise ExecutionError(f"output {spec.name!r} has dtype {arr.dtype}, but the program "
                                 f"declares {spec.dtype}", where=loc or self._where,
                                 hint=_BUG_HINT)
        self._check_shape(spec, arr, symbols, "output", ExecutionError, loc)


def _product(dim: str, symbols: dict) -> int | None:
    """The size of a product dim such as "4*batch*seq", or None if a symbol is unbound."""
    size = 1
    for part in dim.split("*"):
        if part.isdigit():
            size *= int(part)
        elif part in symbols:
            size *= symbols[part][0]
        else:
            return None
    return size


def _frees(program: Program) -> list[list[str]]:
    """For each instruction, the values to drop after it: those whose last use it is.

    Outputs of the program are kept; a value nobody reads is dropped right after
    the instruction that makes it."""
    keep = {spec.source for spec in program.outputs}
    last: dict[str, int] = {}
    for i, ins in enumerate(program.instrs):
        for v in (*ins.inputs, *ins.outputs):
            last[v] = i
    frees: list[list[str]] = [[] for _ in program.instrs]
    for v, i in last.items():
        if v not in keep:
            frees[i].append(v)
    return [sorted(f) for f in frees]


def _label(i: int, ins) -> str:
    op = ins.op or ins.kernel
    return f"instr {i}: op {op} (kernel {ins.kernel})"
