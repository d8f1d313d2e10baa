"""The compile driver: source -> Module -> passes -> Program, as one function.

    import compiler
    result = compiler.compile("samples/mlp.wsl", opt_level=2, input_shapes={"x": [4, 784]})
    result.save("mlp.wafer")

Steps, in order:

1. `load_source`: read a `.wsl` (DSL), `.wir` (textual IR) or `.onnx` file
   into a verified Module, keeping the source bytes for the artifact's hash.
   A `Module` may be given instead (it is copied, never edited).
2. `input_shapes` fix symbolic input dims: each given shape must have the
   input's rank and agree with its static dims; the symbols it binds go to
   the passes through `PassContext.symbols` and `infer-shapes` propagates
   them (it is put first in the pipeline when the pipeline lacks it).
3. The pipeline (`pipeline` string, else the `-O` level's) runs under the
   `PassManager` with the caller's instruments.
4. `lower` turns the final module into a Program whose header records the
   producer, the source name and hash, the pipeline, the final IR (constants
   elided) and the reports (pass statistics and the model summary). Nothing
   in it depends on time or on the machine (locations name the source file
   by its base name, not its path), so the same source and flags give a
   byte-identical `.wafer` file. The reports include the sparsity report
   (`compiler/sparsity/report.py`: per layer density, kernel and why, savings,
   pruning) and the memory report (`compiler/memory_plan.py`: the liveness
   plan of the activations, with the symbols bound by `input_shapes`, others
   as 1), both built from the final module whatever the pipeline.

Sparsity options: `prune` (a prune spec, ``"magnitude:0.9"``) inserts a prune
pass with the `calibration` .npz (else `calibration_samples` random samples
drawn with `seed`); `cost_model` replaces select-kernels' packaged cost file.

Wafer options: `mesh` (``"wse2"``, ``"wse3"``, ``"64x64"``...) appends
``place{mesh=...,mode=...},route`` to the pipeline (`mode`: auto, pipelined or
streaming); their wafer report (placement, routes, performance model) goes
into the header under ``reports.wafer``, whatever pipeline ran them.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from runtime.program import Program, write_wafer

from . import __version__
from .errors import CompileError
from .frontend.source import decode_source, read_source_bytes
from .ir.core import Module
from .ir.location import Location
from .lower import lower
from .summary import summarize

SOURCE_SUFFIXES = (".wsl", ".wir", ".onnx")


@dataclass
class CompileResult:
    """What `compile` produced: the final module, its program and the run's reports."""

    module: Module                      # after the pipeline
    program: Program                    # lowered; `program.header` is the artifact's metadata
    pipeline: str                       # canonical pipeline string that ran
    stats: dict[str, dict[str, Any]]    # per-pass statistics ({"dce": {"removed": 2}, ...})
    source_summary: dict[str, Any] = field(default_factory=dict)  # summary before the passes
    summary: dict[str, Any] = field(default_factory=dict)         # summary after the passes

    def save(self, path: str | os.PathLike) -> None:
        """Write the `.wafer` artifact atomically (the same result always gives the same bytes)."""
        write_wafer(self.program, path)


def compile(  # noqa: A001 - the public name users expect: compiler.compile(...)
    source: "str | os.PathLike | Module",
    *,
    pipeline: str | None = None,
    opt_level: int = 2,
    input_shapes: Mapping[str, Sequence[int | str]] | None = None,
    instruments: Iterable[Any] = (),
    prune: str | None = None,
    calibration: "str | os.PathLike | None" = None,
    calibration_samples: int = 16,
    seed: int = 0,
    cost_model: "str | os.PathLike | None" = None,
    mesh: str | None = None,
    mode: str = "auto",
) -> CompileResult:
    """Compile a model file (or a Module) to a Program; see the module docstring."""
    from .passes import InferShapes, PassContext, PassManager, format_pipeline, parse_pipeline
    from .passes import pipeline_for_level
    from .ir.printer import print_module

    # Parse the pipeline before reading the source: a typo there is cheap to report.
    text = pipeline if pipeline is not None else pipeline_for_level(opt_level)
    passes = parse_pipeline(text)
    passes = add_sparsity_options(passes, prune, calibration, calibration_samples, seed,
                                  cost_model)
    passes = add_wafer_options(passes, mesh, mode)

    if isinstance(source, Module):
        module = source.copy()
        source_name = module.name
        source_bytes = print_module(module, constants="full").encode("utf-8")
    else:
        module, source_bytes = load_source(source, input_shapes=input_shapes)
        source_name = Path(source).name
        given_path = str(Path(source))

    # The ONNX importer applies input shapes itself (its converters need them: a
    # Conv's auto_pad, a Reshape of symbolic sizes), by the model's own input names.
    imported_with_shapes = Path(str(source)).suffix.lower() == ".onnx" \
        if not isinstance(source, Module) else False
    symbols = bind_input_shapes(module, input_shapes) \
        if input_shapes and not imported_with_shapes else {}
    if symbols and not any(p.name == InferShapes.name for p in passes):
        passes.insert(0, InferShapes())
    canonical = format_pipeline(passes)

    source_summary = summarize(module, symbols)
    ctx = PassContext(symbols=dict(symbols))
    PassManager(passes, list(instruments), ctx=ctx).run(module)
    stats = ctx.report()

    # The artifact names the source file by its base name only, in its header and in
    # every location, so that it does not depend on where the source was on disk.
    portable = module if isinstance(source, Module) else \
        _portable_locations(module, given_path, source_name)
    final_summary = summarize(portable)
    from .sparsity.report import build_report
    sparsity = build_report(portable, dict(symbols), ctx.details)
    from .memory_plan import memory_report
    memory = memory_report(portable, dict(symbols))
    from .passes.route import latest_wafer_report
    wafer = latest_wafer_report(ctx)
    if wafer is not None and not isinstance(source, Module):
        for k in wafer["kernels"]:  # locations name the source by its base name (see below)
            k["loc"] = k["loc"].replace(given_path, source_name)

    header: dict[str, Any] = {
        "producer": f"wsc {__version__}",
        "source": source_name,
        "source_hash": "sha256:" + hashlib.sha256(source_bytes).hexdigest(),
        "pipeline": canonical,
        "input_shapes": {k: list(v) for k, v in (input_shapes or {}).items()},
        "ir": print_module(portable, constants="elide"),
        "reports": {
            "passes": stats,
            "source_totals": source_summary["totals"],
            "summary": final_summary,
            "sparsity": sparsity,
            "memory": memory,
            **({"wafer": wafer} if wafer is not None else {}),
        },
    }
    program = lower(portable, header)
    return CompileResult(module, program, canonical, stats, source_summary, final_summary)


def add_sparsity_options(passes: list, prune: str | None, calibration, samples: int, seed: int,
                         cost_model) -> list:
    """The pipeline with ``--prune`` and ``--cost-model`` applied.

    `prune` (a spec) inserts a prune pass after the pipeline's leading run of
    infer-shapes / fold-* / cse / dce passes (so after folding, e.g. BatchNorm
    into conv, and before fusion, analysis and kernel selection); `cost_model` is
    given to every select-kernels pass. Both are checked here: a pipeline that
    already prunes, or has no select-kernels for a cost model, is an error.
    """
    from .passes import Prune, SelectKernels
    passes = list(passes)
    if prune is not None:
        if any(p.name == Prune.name for p in passes):
            raise CompileError("--prune and a prune pass in the pipeline: give one of them")
        if calibration is not None and not Path(calibration).is_file():
            from runtime.errors import InputError
            raise InputError("no such calibration file", where=os.fspath(calibration),
                             hint="--calibration takes an .npz archive keyed by input name")
        pass_ = Prune(spec=prune, calibration=os.fspath(calibration) if calibration else "",
                      samples=calibration_samples_checked(samples), seed=seed)
        at = next((i for i, p in enumerate(passes) if not _folds(p.name)), len(passes))
        passes.insert(at, pass_)
    elif calibration is not None:
        raise CompileError("--calibration is used by pruning: give --prune SPEC too")
    if cost_model is not None:
        if not any(p.name == SelectKernels.name for p in passes):
            raise CompileError("--cost-model is used by select-kernels, which this pipeline "
                               "does not run", hint="use -O1 or -O2, or add select-kernels "
                                                    "to -p")
        if not Path(cost_model).is_file():
            raise CompileError(f"cost model {os.fspath(cost_model)!r}: no such file",
                               hint="write one with `wsc calibrate -o costs.json`")
        passes = [replace(p, cost_model=os.fspath(cost_model)) if p.name == SelectKernels.name
                  else p for p in passes]
    return passes


def add_wafer_options(passes: list, mesh: str | None, mode: str) -> list:
    """The pipeline with ``place{mesh=MESH,mode=MODE},route`` appended for `mesh`; checks
    the target and the mode, and that the pipeline does not place already."""
    from .passes import Place, Route
    from .passes.place import MODES
    from .target import get_target
    if mode not in MODES:
        raise CompileError(f"unknown wafer mode {mode!r}", hint="modes: " + ", ".join(MODES))
    if mesh is None:
        if mode != "auto":
            raise CompileError(f"--mode {mode} needs a wafer target: give --mesh too",
                               hint="e.g. --mesh wse2 --mode " + mode)
        return list(passes)
    get_target(mesh)  # an unknown mesh is a CompileError naming the presets
    if any(p.name == Place.name for p in passes):
        raise CompileError("--mesh and a place pass in the pipeline: give one of them")
    return list(passes) + [Place(mesh=mesh, mode=mode), Route()]


def _folds(pass_name: str) -> bool:
    """Passes that prune goes after: shape inference, folding (canonicalize, fold-*) and
    clean-up. Not fold-algebra: it merges MatMul + Add into a fused op, and pruning
    comes before fusion."""
    return pass_name in ("infer-shapes", "canonicalize", "cse", "dce") or \
        (pass_name.startswith("fold") and pass_name != "fold-algebra")


def calibration_samples_checked(n: int) -> int:
    if n < 1:
        raise CompileError(f"--calibration-samples must be at least 1, got {n}")
    return n


def load_source(path: str | os.PathLike,
                input_shapes: Mapping[str, Sequence[int | str]] | None = None
                ) -> tuple[Module, bytes]:
    """Read a model file into a verified Module; returns (module, the file's bytes).

    The kind is chosen by suffix: `.wsl` (DSL), `.wir` (textual IR), `.onnx`.
    `input_shapes` is applied while importing ONNX (other kinds bind it later).
    """
    p = Path(path)
    suffix = check_source_kind(p)
    data = read_source_bytes(p)
    if suffix == ".wsl":
        from .frontend.dsl import parse_dsl
        module = parse_dsl(decode_source(p, data), filename=str(p), base_dir=p.parent)
    elif suffix == ".wir":
        from .ir.parser import parse_module
        from .ir.verifier import verify
        module = parse_module(decode_source(p, data), filename=str(p))
        verify(module)
    else:
        from .frontend.onnx import import_onnx
        shapes = {k: [int(d) if isinstance(d, int) else d for d in v]
                  for k, v in (input_shapes or {}).items()}
        module = import_onnx(str(p), name=p.stem,  # by path, so that errors name the file
                             input_shapes=shapes or None)
    return module, data


def check_source_kind(path: str | os.PathLike) -> str:
    """The source's suffix (lower case) if wsc can read it; else a CompileError saying what can."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in SOURCE_SUFFIXES:
        kinds = ", ".join(SOURCE_SUFFIXES)
        hint = f"wsc compiles {kinds} files"
        if suffix == ".wafer":
            hint += "; a .wafer file is already compiled: run it with `wsc run`"
        raise CompileError(f"cannot compile {str(p)!r}: unknown source kind "
                           f"{suffix or '(no suffix)'!r}", hint=hint)
    return suffix


def bind_input_shapes(module: Module, input_shapes: Mapping[str, Sequence[int | str]]
                      ) -> dict[str, int]:
    """Check `input_shapes` against the module's inputs; return the symbol bindings they imply.

    A given shape must have the input's rank; a static dim must be repeated
    as is; a symbolic dim takes the given size (or stays symbolic if the same
    symbol name is given). A symbol bound twice must get the same size.
    """
    inputs = {v.name: v for v in module.inputs}
    signature = ", ".join(f"{v.name}: {v.type}" for v in module.inputs) or "none"
    symbols: dict[str, int] = {}
    origin: dict[str, str] = {}
    for name, shape in input_shapes.items():
        if name not in inputs:
            import difflib
            close = difflib.get_close_matches(name, list(inputs), n=1)
            guess = f"; did you mean {close[0]!r}?" if close else ""
            raise CompileError(f"--input-shape: the model has no input {name!r}{guess}",
                               hint=f"the model's inputs are: {signature}")
        t = inputs[name].type
        shape = list(shape)
        given = "x".join(map(str, shape)) or "(scalar)"
        if len(shape) != t.rank:
            raise CompileError(f"--input-shape {name}={given}: rank {len(shape)}, but input "
                               f"{name!r} has rank {t.rank} ({t})",
                               hint=f"give {t.rank} dims, e.g. {name}={_example(t)}")
        for i, (want, got) in enumerate(zip(t.shape, shape)):
            if isinstance(got, bool) or not isinstance(got, (int, str)) or \
                    (isinstance(got, int) and got < 0):
                raise CompileError(f"--input-shape {name}={given}: dim {i} must be a "
                                   f"non-negative integer, got {got!r}")
            if isinstance(want, int):
                if got != want:
                    raise CompileError(f"--input-shape {name}={given}: dim {i} is {got}, but "
                                       f"input {name!r} has the fixed size {want} there ({t})",
                                       hint=f"only symbolic dims can be chosen, e.g. "
                                            f"{name}={_example(t)}")
            elif isinstance(got, str):
                if got != want:
                    raise CompileError(f"--input-shape {name}={given}: dim {i} is the symbol "
                                       f"{got!r}, but input {name!r} has {want!r} there ({t})")
            elif want in symbols and symbols[want] != got:
                raise CompileError(f"--input-shape: symbolic dim {want!r} is {symbols[want]} "
                                   f"in {origin[want]!r} but {got} in {name!r}",
                                   hint=f"every use of {want} must have the same size")
            else:
                symbols[want] = got
                origin[want] = name
    return symbols


def _portable_locations(module: Module, path: str, name: str) -> Module:
    """A copy of `module` whose locations in file `path` say `name` instead."""
    def fix(loc: Location) -> Location:
        if loc.fused:
            return Location(fused=tuple(fix(l) for l in loc.fused))
        if loc.file == path:
            return replace(loc, file=name)
        return loc

    out = module.copy()
    for op in out.ops:
        op.loc = fix(op.loc)
    return out


def _example(t) -> str:
    return "x".join(str(d) if isinstance(d, int) else "4" for d in t.shape) or "(scalar)"


