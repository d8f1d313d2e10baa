"""docs/onnx.md: its table of supported ONNX ops is generated, and must be current.

The table is written by `docs/make_onnx_op_table.py` from the converter
registry; this test regenerates it and compares, and checks a few rows
against the registry directly.
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from compiler.frontend.onnx_ops import CONVERTERS

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("make_onnx_op_table",
                                                  ROOT / "docs" / "make_onnx_op_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_supported_op_table_is_current() -> None:
    text = (ROOT / "docs" / "onnx.md").read_text(encoding="utf-8")
    assert _script().render(text) == text, \
        "docs/onnx.md's op table is stale: run python docs/make_onnx_op_table.py"


def test_the_table_has_one_row_per_converted_op_with_its_opsets() -> None:
    table = _script().op_table()
    rows = {m.group(1): (int(m.group(2)), m.group(3))
            for m in re.finditer(r"^\| (\S+) \| (\d+) \| ([-\d, ]+) \|", table, re.M)}
    def name(domain: str, op_type: str) -> str:  # ops outside the default domain: domain::Op
        return f"{domain}::{op_type}" if domain else op_type

    assert set(rows) == {name(d, t) for (d, t) in CONVERTERS}
    for (domain, op_type), versions in CONVERTERS.items():
        first, changes = rows[name(domain, op_type)]
        assert first == min(c.since for c in versions)
        assert changes == (", ".join(str(c.since) for c in versions[1:]) or "-")
