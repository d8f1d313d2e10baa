"""Golden IR tests of the passes: tests/golden/<pass>/<case>.wir -> <case>.expected.wir.

Each input file starts with a ``# RUN: <pipeline>`` line. The test parses the
input, runs the pipeline through the PassManager (so the verifier runs after
every pass), prints the module and compares the text exactly with
``<case>.expected.wir``. It also checks that the expected file is a fixed
point of the printer: print(parse(expected)) == expected.

To regenerate expected files after a deliberate change of a pass or of the
printer, run

    WSC_UPDATE_GOLDEN=1 pytest tests/passes/test_golden_passes.py

and review the diff of tests/golden/ before committing it: the update mode
writes whatever the code produces now, right or wrong.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from compiler.ir.parser import parse_module
from compiler.ir.printer import print_module
from compiler.passes import PassManager, parse_pipeline

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
UPDATE = os.environ.get("WSC_UPDATE_GOLDEN") == "1"

CASES = sorted(p for p in GOLDEN.glob("*/*.wir") if not p.name.endswith(".expected.wir"))


def run_line(path: Path, text: str) -> str:
    first = text.splitlines()[0] if text else ""
    if not first.startswith("# RUN:"):
        pytest.fail(f"{path}: the first line must be '# RUN: <pipeline>'")
    return first[len("# RUN:"):].strip()


def test_there_are_golden_cases_for_every_pass():
    dirs = {p.parent.name for p in CASES}
    assert {"infer-shapes", "fold-constants", "dce", "cse", "pipeline"} <= dirs
    for d in dirs - {"pipeline"}:
        assert sum(p.parent.name == d for p in CASES) >= 3, d


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden(case: Path):
    text = case.read_text(encoding="utf-8")
    pipeline = run_line(case, text)
    module = parse_module(text, str(case))
    PassManager(parse_pipeline(pipeline)).run(module)
    got = print_module(module)

    expected_path = case.with_name(case.stem + ".expected.wir")
    if UPDATE:
        expected_path.write_text(got, encoding="utf-8")
    assert expected_path.exists(), f"missing {expected_path.name} (create it with WSC_UPDATE_GOLDEN=1)"
    expected = expected_path.read_text(encoding="utf-8")
    assert got == expected
    assert print_module(parse_module(expected, str(expected_path))) == expected
