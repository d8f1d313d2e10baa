"""Run cases of the ONNX backend node suite (shipped in the `onnx` package) through wsc.

`node_cases(ops)` yields the suite's cases for some ONNX op types;
`run_case(case)` imports the case's model, executes it and compares every
output with the suite's expected values and tolerances, returning a
`CaseResult`. `run_model` does the same for any model and data sets (the
model suites in `onnx_model_suites.py` use it).

A model goes the way a user's model goes: import, `compiler.compile` (the
default pass pipeline and lowering), the runtime's executor. Inputs that a model uses as compile-time
operands (a Reshape's shape fed as a graph input, say) are retried as frozen
constants: the result says so (`specialized`).
"""
from __future__ import annotations

import functools
import re
import warnings
from dataclasses import dataclass

import numpy as np

from runtime.errors import WscError


@dataclass
class CaseResult:
    name: str
    status: str          # "pass" | "fail" (wrong numbers) | "error" (did not compile/run)
    detail: str = ""
    specialized: bool = False


# ---------------------------------------------------------------------------
# The node suite's cases


@functools.lru_cache(maxsize=1)
def _all_node_cases():
    from onnx.backend.test.case.node import collect_testcases
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tuple(collect_testcases(None))


def node_cases(op_types=None):
    """The node-suite cases whose model uses only `op_types` (all cases if None)."""
    wanted = set(op_types) if op_types else None
    for c in _all_node_cases():
        if wanted is None or {n.op_type for n in c.model.graph.node} <= wanted:
            yield c


def model_op_types(model) -> set[str]:
    """The op types a model's graph uses; ops outside the default domain as `domain::Op`."""
    return {(f"{n.domain}::" if n.domain not in ("", "ai.onnx") else "") + n.op_type
            for n in model.graph.node}


_EXPANDED = re.compile(r"_expanded(_ver\d+)?$")


@functools.lru_cache(maxsize=1)
def node_case_ops() -> dict[str, str]:
    """Case name -> the ONNX op type the case tests.

    A node case is one node, except the `*_expanded` variants, which inline the
    op's function body; those count for the op they expand (their base case's)."""
    single = {}
    for c in _all_node_cases():
        ops = model_op_types(c.model)
        if len(ops) == 1 and not _EXPANDED.search(c.name):
            single[c.name] = next(iter(ops))
    out = {}
    for c in _all_node_cases():
        base = _EXPANDED.sub("", c.name)
        out[c.name] = single.get(c.name) or single.get(base) or \
            ",".join(sorted(model_op_types(c.model)))
    return out


# ---------------------------------------------------------------------------
# Running a model


def execute_module(module, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Run a Module through lowering and the runtime executor; outputs in order."""
    from runtime.executor import Executable

    from ..lower import lower
    program = lower(module, {})
    return list(Executable(program).run(feeds).values())


def _compile_and_run(model, feeds_by_name, frozen):
    """Import (freezing the inputs named in `frozen`), compile at -O2 and run on the rest."""
    from runtime.executor import Executable

    from ..driver import compile as compile_module
    from ..frontend.onnx import import_onnx, sanitize
    live = {k: v for k, v in feeds_by_name.items() if k not in frozen}
    module = import_onnx(model, constant_inputs={k: feeds_by_name[k] for k in frozen},
                         input_shapes={k: _shape_of(v) for k, v in live.items()})
    program = compile_module(module).program
    return list(Executable(program).run(flat_feeds(live)).values())


def _shape_of(value) -> list:
    """A feed's shape for `input_shapes`: a list of shapes for a sequence (a list)."""
    if isinstance(value, list):
        return [list(np.shape(v)) for v in value]
    return list(np.shape(value))


def flat_feeds(feeds_by_name: dict) -> dict:
    """Feeds by the compiled program's input names: a sequence `s` of n tensors is fed
    as the inputs `s_0` .. `s_<n-1>` (see `compiler/frontend/onnx.py`)."""
    from ..frontend.onnx import sanitize
    out = {}
    for k, v in feeds_by_name.items():
        if isinstance(v, list):
            out.update({f"{sanitize(k, 'input')}_{j}": e for j, e in enumerate(v)})
        else:
            out[sanitize(k, "input")] = v
    return out


def _arrays(values) -> list:
    """The suite's values as numpy arrays (Cast's cases store TensorProtos)."""
    from onnx import TensorProto, numpy_helper
    return [numpy_helper.to_array(v) if isinstance(v, TensorProto) else v for v in values]


def _flatten_sequences(values) -> list:
    """Expected outputs with each sequence (a list) spliced in as its tensors, the way a
    compiled program returns a sequence output (one output per tensor)."""
    out = []
    for v in values:
        out.extend(_arrays(v) if isinstance(v, list) else [v])
    return out


def graph_input_names(model) -> list[str]:
    """The model's real inputs: graph inputs that are not also initializers (old style)."""
    init = {t.name for t in model.graph.initializer}
    return [vi.name for vi in model.graph.input if vi.name not in init]


def compare_outputs(outs, expected, rtol: float, atol: float) -> str | None:
    """None if `outs` match `expected` (dtype, shape, values within tolerance), else why not.

    Floats compare with `assert_allclose(rtol, atol)` as onnx's runner does
    (NaN equals NaN); every other dtype must match exactly."""
    if len(outs) != len(expected):
        return f"{len(outs)} outputs, expected {len(expected)}"
    for i, (got, want) in enumerate(zip(outs, expected)):
        if isinstance(want, (list, tuple)) or (isinstance(want, np.ndarray)
                                               and want.dtype == object):
            return f"output {i}: expected a sequence or string tensor"
        want = np.asarray(want)
        got = np.asarray(got)
        if got.dtype != want.dtype:
            return f"output {i}: dtype {got.dtype}, expected {want.dtype}"
        if got.shape != want.shape:
            return f"output {i}: shape {got.shape}, expected {want.shape}"
        try:
            if want.dtype.kind in "fc":
                np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
            else:
                np.testing.assert_array_equal(got, want)
        except AssertionError as e:
            lines = [line for line in str(e).splitlines() if line.strip()]
            return f"output {i}: " + " ".join(lines[1:4])
    return None


_INPUT_INDEX = re.compile(r"\(input (\d+)\)")


def _needed_constants(model, error, feeds, frozen) -> list[str]:
    """Graph inputs to freeze so that the node that raised `error` gets its constants.

    The node is found by the error's location (the node's label). If the message
    names the operand ("the scales (input 2) must be known..."), that input is
    frozen if it is a graph input; otherwise every graph input of the node that
    looks like a shape operand (an int/bool tensor, or a scalar or 1-D value).
    When the operand is computed from graph inputs, all int/bool inputs are frozen."""
    from ..frontend.onnx import node_label
    where = getattr(getattr(error, "loc", None), "name", None)
    nodes = [n for i, n in enumerate(model.graph.node) if node_label(n, i) == where]
    candidates: list[str] = []
    if nodes:
        node = nodes[0]
        m = _INPUT_INDEX.search(str(error))
        if m and int(m.group(1)) < len(node.input):
            candidates = [node.input[int(m.group(1))]]
        else:
            candidates = [x for x in node.input
                          if x in feeds and (np.asarray(feeds[x]).dtype.kind in "iub"
                                             or np.ndim(feeds[x]) <= 1)]
    # A sequence input (a list) is never frozen: constants are tensors.
    found = [x for x in candidates if x in feeds and x not in frozen
             and not isinstance(feeds[x], list)]
    if not found:
        found = [k for k, v in feeds.items() if k not in frozen and not isinstance(v, list)
                 and np.asarray(v).dtype.kind in "iub"]
    return found


def _run_one(model, feeds) -> tuple[list, bool]:
    """Compile and run once, freezing graph inputs that a node needs as constants.

    A node that needs a compile-time operand fed as a graph input (a Reshape's
    shape, a Resize's scales) raises "... must be known at compile time"; the
    inputs it needs are frozen (see `_needed_constants`) and the model compiled
    again, until it compiles or nothing more can be frozen."""
    frozen: list[str] = []
    while True:
        try:
            return _compile_and_run(model, feeds, frozen=tuple(frozen)), bool(frozen)
        except WscError as e:
            if "known at compile time" not in str(e):
                raise
            more = _needed_constants(model, e, feeds, frozen)
            if not more:
                raise
            frozen += more


def run_model(name: str, model, data_sets, rtol: float, atol: float) -> CaseResult:
    """Run `model` (a ModelProto) on each (inputs, expected outputs) of `data_sets`.

    Inputs are positional, in the order of `graph_input_names(model)`."""
    input_names = graph_input_names(model)
    specialized = False
    try:
        for inputs, expected in data_sets:
            inputs, expected = _arrays(inputs), _flatten_sequences(_arrays(expected))
            if any(isinstance(v, tuple) or v is None for v in inputs):
                return CaseResult(name, "error", "optional inputs are not supported",
                                  specialized)
            feeds = dict(zip(input_names, inputs))
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)
                outs, frozen = _run_one(model, feeds)
            specialized = specialized or frozen
            why = compare_outputs(outs, expected, rtol, atol)
            if why:
                return CaseResult(name, "fail", why, specialized)
    except WscError as e:
        return CaseResult(name, "error", str(e).splitlines()[0], specialized)
    except Exception as e:  # a crash is a bug in wsc; report it as such
        return CaseResult(name, "error", f"CRASH {type(e).__name__}: {e}", specialized)
    return CaseResult(name, "pass", "", specialized)


def run_case(case) -> CaseResult:
    """Run one node-suite case: import, compile, execute and compare every data set."""
    return run_model(case.name, case.model, case.data_sets, case.rtol, case.atol)
