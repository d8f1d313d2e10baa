"""Tests of the pass infrastructure: pipeline strings, -O levels, the manager and instruments."""
from __future__ import annotations

import io
import re
from dataclasses import dataclass

import numpy as np
import pytest

from compiler.errors import PassError
from compiler.ir.builder import Builder
from compiler.ir.core import Module
from compiler.ir.types import TensorType
from compiler.passes import (PASSES, PIPELINES, CommonSubexpressionElimination,
                             DeadCodeElimination, DumpDir, FoldConstants, InferShapes, Pass,
                             PassContext, PassManager, PrintIRAfter, TimePasses, format_pipeline,
                             option, parse_pipeline, pipeline_for_level)


def small_module() -> Module:
    """x -> exp twice (a CSE candidate), a foldable constant add, a dead op."""
    m = Module("small")
    x = m.add_input("x", TensorType(("N", 4), "f32"))
    c = m.add_constant("c", np.arange(4, dtype=np.float32))
    d = m.add_constant("d", np.ones(4, np.float32))
    b = Builder(m)
    e1 = b.value("math.exp", [x], result_name="e1")
    e2 = b.value("math.exp", [x], result_name="e2")
    cd = b.value("math.add", [c, d], result_name="cd")
    b.value("math.neg", [x])  # dead
    y = b.value("math.mul", [b.value("math.add", [e1, e2]), cd], result_name="y")
    m.outputs["y"] = y
    return m


# ---------------------------------------------------------------------------
# The pass table

def test_every_pass_is_registered_under_its_name_with_a_summary():
    assert set(PASSES) >= {"infer-shapes", "fold-constants", "cse", "dce"}
    for name, cls in PASSES.items():
        assert cls.name == name
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name)
        assert cls.summary and "\n" not in cls.summary
        for spec in cls.options():
            assert spec.type in (int, float, bool, str)


# ---------------------------------------------------------------------------
# Pipeline strings

def test_parse_simple_pipeline():
    assert parse_pipeline("fold-constants,dce") == [FoldConstants(), DeadCodeElimination()]
    assert parse_pipeline("  cse ,\tdce ") == [CommonSubexpressionElimination(),
                                               DeadCodeElimination()]
    assert parse_pipeline("") == [] and parse_pipeline("   ") == []


def test_parse_options_are_coerced_to_the_field_type():
    (p,) = parse_pipeline("fold-constants{max-bytes=1048576}")
    assert p == FoldConstants(max_bytes=1048576) and isinstance(p.max_bytes, int)
    (q,) = parse_pipeline('infer-shapes{ bind = "N=4,S=8" }')
    assert q.bind == "N=4,S=8"
    (r,) = parse_pipeline("infer-shapes{bind=N=4}")
    assert r.bind == "N=4"


@dataclass(frozen=True)
class _Typed(Pass):
    """A test-only pass with one option of every type."""
    name = "typed"
    summary = "test"
    count: int = option(1)
    ratio: float = option(0.5)
    flag: bool = option(False)
    label: str = option("x")

    def run(self, module, ctx):
        pass


@pytest.fixture
def typed_pass(monkeypatch):
    monkeypatch.setitem(PASSES, "typed", _Typed)


def test_option_types(typed_pass):
    (p,) = parse_pipeline("typed{count=-3,ratio=1e-3,flag=true,label=hello world}")
    assert p == _Typed(count=-3, ratio=0.001, flag=True, label="hello world")
    assert parse_pipeline("typed{flag=0}")[0].flag is False
    assert parse_pipeline("typed{flag=TRUE}")[0].flag is True
    assert parse_pipeline("typed{label=\"a\\\"b\"}")[0].label == 'a"b'


@pytest.mark.parametrize("passes, text", [
    ([FoldConstants(), DeadCodeElimination()], "fold-constants,dce"),
    ([FoldConstants(max_bytes=10)], "fold-constants{max-bytes=10}"),
    ([InferShapes(bind="N=4,S=8"), CommonSubexpressionElimination()],
     'infer-shapes{bind="N=4,S=8"},cse'),
    ([InferShapes(bind="N=4")], "infer-shapes{bind=N=4}"),
    ([], ""),
])
def test_format_pipeline_is_canonical_and_round_trips(passes, text):
    assert format_pipeline(passes) == text
    assert parse_pipeline(text) == passes


def test_format_round_trips_every_option_type(typed_pass):
    for p in [_Typed(), _Typed(count=7, ratio=2.5, flag=True, label="a b"),
              _Typed(label=""), _Typed(label='q"{,}\\'), _Typed(ratio=float("inf"))]:
        assert parse_pipeline(format_pipeline([p, p])) == [p, p]
    assert format_pipeline([_Typed(flag=True, label="z")]) == "typed{flag=true,label=z}"


def _error(text: str) -> PassError:
    with pytest.raises(PassError) as info:
        parse_pipeline(text)
    return info.value


def _caret_col(e: PassError) -> int:
    """0-based column of the first caret under the echoed pipeline text."""
    line = e.snippet.splitlines()[1]
    return line.index("^") - 2  # the snippet is indented by two spaces


def test_unknown_pass_suggests_a_close_name():
    e = _error("fold-constants,fold-constant,dce")
    assert "unknown pass 'fold-constant'" in e.message
    assert "did you mean 'fold-constants'" in e.message
    assert _caret_col(e) == len("fold-constants,")
    assert e.snippet.splitlines()[1].count("^") == len("fold-constant")
    assert "dce" in e.hint and "infer-shapes" in e.hint


def test_unknown_option_lists_the_valid_ones():
    e = _error("cse,fold-constants{max-byte=3}")
    assert "pass 'fold-constants' has no option 'max-byte'" in e.message
    assert "did you mean 'max-bytes'" in e.message
    assert "max-bytes" in e.hint
    assert _caret_col(e) == len("cse,fold-constants{")


def test_option_of_a_pass_without_options():
    e = _error("dce{aggressive=true}")
    assert "has no option 'aggressive'" in e.message and "none" in e.hint


@pytest.mark.parametrize("text, message, col", [
    ("fold-constants{max-bytes=lots}", "must be an integer, got 'lots'", 25),
    ("fold-constants{max-bytes=}", "must be an integer, got ''", 25),
    ("fold-constants{max-bytes=1,max-bytes=2}", "given twice", 27),
    ("fold-constants{max-bytes 1}", "expected '=' after option 'max-bytes'", 25),
    ("fold-constants{max-bytes=1", "expected ',' or '}'", 26),
    ("cse dce", "expected ',' between passes", 4),
    ("cse,,dce", "expected a pass name", 4),
    ("cse,", "expected a pass name, got end of text", 4),
    ('infer-shapes{bind="N=4}', "unterminated string", 18),
    ("infer-shapes{bind=N}", "bad binding", 0),
])
def test_malformed_pipelines(text, message, col):
    e = _error(text)
    assert message in e.message
    assert e.snippet.splitlines()[0].strip() == text.strip()
    assert _caret_col(e) == col


def test_bad_values_of_every_type(typed_pass):
    assert "must be a number" in _error("typed{ratio=half}").message
    assert "must be true or false" in _error("typed{flag=yes please}").message


# ---------------------------------------------------------------------------
# -O levels

def test_optimization_levels():
    assert PIPELINES[0] == "infer-shapes,analyze-sparsity"
    assert PIPELINES[1] == ("infer-shapes,canonicalize,fold-batchnorm,fold-algebra,dce,"
                            "analyze-sparsity,select-kernels")
    assert PIPELINES[2] == ("infer-shapes,canonicalize,fold-batchnorm,fuse-patterns,fold-algebra,"
                            "cse,dce,fuse-epilogues,fuse-elementwise,analyze-sparsity,"
                            "select-kernels")
    for level, text in PIPELINES.items():
        assert format_pipeline(parse_pipeline(text)) == text
        assert pipeline_for_level(level) == text
    with pytest.raises(PassError, match="no optimization level -O7") as info:
        pipeline_for_level(7)
    assert "-O0" in info.value.hint


# A fixed pipeline of this passes: the manager and instrument tests below must
# not change whenever the -O levels gain a pass.
CLASSIC = "infer-shapes,fold-constants,cse,dce"


def test_a_classic_pipeline_optimizes_the_small_module_and_keeps_its_result():
    m = small_module()
    pm = PassManager(parse_pipeline(CLASSIC), ctx=PassContext(symbols={"N": 2}))
    assert pm.run(m) is m
    assert [op.name for op in m.ops] == ["math.exp", "math.add", "math.mul"]
    assert m.inputs[0].type == TensorType((2, 4), "f32")
    report = pm.ctx.report()
    assert list(report) == ["infer-shapes", "fold-constants", "cse", "dce"]
    assert report["fold-constants"]["folded"] == 1
    assert report["cse"]["ops-merged"] == 1
    assert report["dce"]["ops-removed"] == 1
    cd = m.ops[2].operands[1]
    np.testing.assert_array_equal(cd.data, np.arange(4) + 1.0)


def test_the_same_pass_twice_gets_separate_statistics():
    pm = PassManager(parse_pipeline("dce,cse,dce"))
    pm.run(small_module())
    assert list(pm.ctx.report()) == ["dce", "cse", "dce#2"]
    assert pm.ctx.report()["dce"]["ops-removed"] == 1
    assert pm.ctx.report()["dce#2"]["ops-removed"] == 0


# ---------------------------------------------------------------------------
# Verification after each pass

@dataclass(frozen=True)
class _BreakTypes(Pass):
    """Test-only: gives the first op's result a type its operands cannot produce."""
    name = "break-types"
    summary = "test"

    def run(self, module, ctx):
        r = module.ops[0].results[0]
        r.type = r.type.with_shape((99,) + tuple(r.type.shape))


@dataclass(frozen=True)
class _Record(Pass):
    name = "record"
    summary = "test"
    ran: list = None  # type: ignore[assignment]  # (not an option: never parsed)

    def run(self, module, ctx):
        self.ran.append(len(module.ops))


def test_a_pass_that_breaks_the_ir_raises_a_pass_error_naming_it():
    after = []
    pm = PassManager([CommonSubexpressionElimination(), _BreakTypes(), _Record(ran=after)])
    with pytest.raises(PassError) as info:
        pm.run(small_module())
    assert "'break-types' (#2 in the pipeline) left invalid IR" in info.value.message
    assert "--print-ir-after=break-types" in info.value.hint
    assert after == []  # the pipeline stopped at the broken pass


def test_without_verification_the_broken_module_passes_through():
    pm = PassManager([_BreakTypes()], verify_each=False)
    pm.run(small_module())


# ---------------------------------------------------------------------------
# Instruments

def test_print_ir_after_all():
    out = io.StringIO()
    PassManager(parse_pipeline("fold-constants,cse,dce"), [PrintIRAfter("all", out)]).run(
        small_module())
    text = out.getvalue()
    headers = re.findall(r"^// ----- IR after (\S+) \((\d+)\) -----$", text, re.M)
    assert headers == [("fold-constants", "1"), ("cse", "2"), ("dce", "3")]
    chunks = re.split(r"^// -----.*\n", text, flags=re.M)[1:]
    assert "math.neg" in chunks[1] and "math.neg" not in chunks[2]  # dce removed it


def test_print_ir_after_selected_passes_only():
    out = io.StringIO()
    pm = PassManager(parse_pipeline("cse,dce,cse"), [PrintIRAfter({"cse"}, out)])
    pm.run(small_module())
    assert re.findall(r"IR after (\S+) \((\d+)\)", out.getvalue()) == [("cse", "1"), ("cse", "3")]
    out2 = io.StringIO()
    PassManager(parse_pipeline("cse,dce"), [PrintIRAfter("dce", out2)]).run(small_module())
    assert re.findall(r"IR after (\S+)", out2.getvalue()) == ["dce"]


def test_print_ir_defaults_to_stderr(capsys):
    PassManager(parse_pipeline("dce"), [PrintIRAfter()]).run(small_module())
    captured = capsys.readouterr()
    assert captured.out == "" and "// ----- IR after dce (1) -----" in captured.err


def test_time_passes_lists_every_pass_and_a_total():
    out = io.StringIO()
    timer = TimePasses(out)
    PassManager(parse_pipeline(PIPELINES[2]), [timer]).run(small_module())
    lines = out.getvalue().splitlines()
    names = [line.split()[0] for line in lines[2:]]
    assert names == PIPELINES[2].split(",") + ["total"]
    assert [n for n, _ in timer.rows] == names[:-1]
    pct = [float(line.split()[-1].rstrip("%")) for line in lines[2:-1]]
    assert abs(sum(pct) - 100.0) < 0.5
    total_ms = float(lines[-1].split()[1])
    assert abs(total_ms - 1e3 * sum(t for _, t in timer.rows)) < 0.01


def test_time_passes_prints_even_when_a_pass_fails():
    out = io.StringIO()
    with pytest.raises(PassError):
        PassManager([DeadCodeElimination(), _BreakTypes()], [TimePasses(out)]).run(small_module())
    assert "dce" in out.getvalue() and "total" in out.getvalue()


def test_dump_dir_writes_numbered_files_and_keeps_other_files(tmp_path):
    target = tmp_path / "new" / "dumps"
    other = tmp_path / "new" / "notes.txt"
    other.parent.mkdir()
    other.write_text("keep me")
    PassManager(parse_pipeline(CLASSIC), [DumpDir(target)]).run(small_module())
    assert sorted(p.name for p in target.iterdir()) == [
        "00_input.wir", "01_infer-shapes.wir", "02_fold-constants.wir", "03_cse.wir",
        "04_dce.wir"]
    assert other.read_text() == "keep me"
    assert "math.neg" in (target / "03_cse.wir").read_text()
    assert "math.neg" not in (target / "04_dce.wir").read_text()


def test_dump_dir_that_cannot_be_created_is_a_pass_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(PassError, match="cannot write the IR dump"):
        PassManager([DeadCodeElimination()], [DumpDir(blocker / "sub")]).run(small_module())
