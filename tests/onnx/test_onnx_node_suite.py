"""The whole ONNX backend node suite through wsc, one test per case.

Every case of `onnx.backend.test.case.node.collect_testcases` is imported,
compiled with the default pipeline, lowered and executed by the runtime, and
its outputs are compared with the suite's expected values at the suite's
tolerances (`compiler.testing.onnx_node_cases.run_case`). Cases listed in
`expected_failures.txt` (next to this file) are strict xfails: a listed case
that starts passing fails the run until it is taken off the list.

`python benchmarks/conformance.py` prints the same results as tables.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from compiler.testing.expected_failures import load_expected_failures
from compiler.testing.onnx_model_suites import model_cases
from compiler.testing.onnx_node_cases import node_cases, run_case

EXPECTED_FAILURES_FILE = Path(__file__).with_name("expected_failures.txt")
EXPECTED = load_expected_failures(EXPECTED_FAILURES_FILE)
CASES = list(node_cases())  # collected once (a few seconds: onnx builds every case)


def _params():
    params = []
    for case in CASES:
        reason = EXPECTED.get(case.name)
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        params.append(pytest.param(case, id=case.name, marks=marks))
    return params


@pytest.mark.onnx_node
@pytest.mark.parametrize("case", _params())
def test_node_case(case) -> None:
    result = run_case(case)
    assert result.status == "pass", f"{result.status}: {result.detail}"


def test_expected_failures_name_existing_cases() -> None:
    known = {c.name for c in CASES} | {c.id for c in model_cases()}
    stale = sorted(set(EXPECTED) - known)
    assert not stale, f"{EXPECTED_FAILURES_FILE.name} lists unknown cases: {stale}"


def test_expected_failures_parser_reads_names_and_reasons() -> None:
    from compiler.testing.expected_failures import (
        ExpectedFailuresError, format_expected_failures, parse_expected_failures)

    text = "# group\ntest_a   reason one\n\n  simple/test_b\treason  two  \n"
    assert parse_expected_failures(text) == {"test_a": "reason one",
                                            "simple/test_b": "reason  two"}
    with pytest.raises(ExpectedFailuresError, match="has no reason"):
        parse_expected_failures("test_a\n")
    with pytest.raises(ExpectedFailuresError, match="listed twice"):
        parse_expected_failures("test_a x\ntest_a y\n")
    reasons = {"test_b": "r1", "test_a": "r1", "test_c": "r0"}
    assert parse_expected_failures(format_expected_failures(reasons, "hdr")) == reasons
