"""Every bundled sample and every golden file round-trips through the IR text form."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from compiler.frontend.dsl import load_dsl
from compiler.ir.parser import parse_module
from compiler.ir.printer import print_module

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "samples").glob("*.wsl")) + sorted((ROOT / "samples").glob("*.onnx"))
GOLDEN = sorted((ROOT / "tests" / "golden").rglob("*.wir"))


def _load(path: Path):
    if path.suffix == ".onnx":
        from compiler.frontend.onnx import import_onnx
        return import_onnx(str(path))
    return load_dsl(path)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
@pytest.mark.parametrize("constants", ["elide", "full"])
def test_sample_round_trips(path: Path, constants: str) -> None:
    module = _load(path)
    text = print_module(module, constants=constants)
    again = parse_module(text, filename=f"{path.stem}.wir")
    assert print_module(again, constants=constants) == text
    if constants == "full":  # the weights survive bit for bit
        for name, c in module.constants.items():
            got = again.constants[name].data
            assert got.dtype == c.data.dtype and got.shape == c.data.shape
            assert got.tobytes() == np.ascontiguousarray(c.data).tobytes()


def test_there_are_samples_and_goldens() -> None:
    assert len([p for p in SAMPLES if p.suffix == ".wsl"]) >= 3
    assert GOLDEN


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: str(p.relative_to(ROOT / "tests" / "golden")))
def test_golden_file_round_trips(path: Path) -> None:
    module = parse_module(path.read_text(), filename=str(path))
    text = print_module(module)
    assert print_module(parse_module(text)) == text
