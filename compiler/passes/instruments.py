"""Instruments: observers the PassManager calls around every pass.

- `PrintIRAfter(names)`: ``--print-ir-after-all`` / ``--print-ir-after=NAME``;
  prints ``// ----- IR after NAME (N) -----`` and the module after each
  selected pass (N is the pass's 1-based position in the pipeline).
- `TimePasses()`: ``--time-passes``; a table of wall time per pass, its share
  and the total, printed when the pipeline finishes.
- `DumpDir(path)`: ``--dump-dir DIR``; writes ``00_input.wir``, then
  ``01_infer-shapes.wir``, ``02_fold-constants.wir``... (constants elided)
  so that consecutive files diff cleanly. Creates the directory, overwrites
  files of the same names, never deletes anything else.

Output goes to `stream` (default: standard error, looked up at print time).
An instrument subclasses `Instrument` and overrides the hooks it needs.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, TextIO

from ..errors import PassError
from ..ir.core import Module
from ..ir.printer import print_module

if TYPE_CHECKING:
    from .base import Pass


class Instrument:
    """Hooks around a pipeline run; `index` is the pass's 1-based position."""

    def start(self, module: Module) -> None:
        """Before the first pass, with the input module."""

    def before_pass(self, p: "Pass", module: Module, index: int) -> None:
        """Just before `p` runs."""

    def after_pass(self, p: "Pass", module: Module, index: int) -> None:
        """Just after `p` ran (before the module is verified)."""

    def finish(self) -> None:
        """After the last pass, or after a failure."""


def _out(stream: TextIO | None) -> TextIO:
    return stream if stream is not None else sys.stderr


class PrintIRAfter(Instrument):
    """Print the IR after the passes named in `names` (or after every pass with "all")."""

    def __init__(self, names: "str | Iterable[str]" = "all", stream: TextIO | None = None,
                 constants: str = "elide") -> None:
        self.names = None if names == "all" else ({names} if isinstance(names, str) else set(names))
        self.stream = stream
        self.constants = constants

    def after_pass(self, p: "Pass", module: Module, index: int) -> None:
        if self.names is not None and p.name not in self.names:
            return
        out = _out(self.stream)
        out.write(f"// ----- IR after {p.name} ({index}) -----\n")
        text = print_module(module, constants=self.constants)
        out.write(text if text.endswith("\n") else text + "\n")
        out.flush()


class TimePasses(Instrument):
    """Measure each pass's wall time; print the table at `finish`. `rows` keeps the data."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self.rows: list[tuple[str, float]] = []  # (pass name, seconds), in pipeline order
        self._t0 = 0.0

    def before_pass(self, p: "Pass", module: Module, index: int) -> None:
        self._t0 = time.perf_counter()

    def after_pass(self, p: "Pass", module: Module, index: int) -> None:
        self.rows.append((p.name, time.perf_counter() - self._t0))

    def table(self) -> str:
        total = sum(t for _, t in self.rows)
        width = max([len("total")] + [len(n) for n, _ in self.rows])
        lines = ["===== pass execution time =====",
                 f"  {'pass':<{width}}  {'time (ms)':>10}  {'%':>6}"]
        for name, t in self.rows:
            share = 100.0 * t / total if total > 0 else 0.0
            lines.append(f"  {name:<{width}}  {t * 1e3:>10.3f}  {share:>5.1f}%")
        lines.append(f"  {'total':<{width}}  {total * 1e3:>10.3f}  {100.0 if self.rows else 0.0:>5.1f}%")
        return "\n".join(lines) + "\n"

    def finish(self) -> None:
        out = _out(self.stream)
        out.write(self.table())
        out.flush()


class DumpDir(Instrument):
    """Write the input and the IR after every pass to numbered files in `path`."""

    def __init__(self, path: "str | Path", constants: str = "elide") -> None:
        self.path = Path(path)
        self.constants = constants
        self.written: list[Path] = []

    def _write(self, index: int, label: str, module: Module) -> None:
        f = self.path / f"{index:02d}_{label}.wir"
        text = print_module(module, constants=self.constants)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            f.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        except OSError as e:
            raise PassError(f"cannot write the IR dump {str(f)!r}: {e.strerror or e}",
                            hint="--dump-dir needs a directory it can create and write") from None
        self.written.append(f)

    def start(self, module: Module) -> None:
        self._write(0, "input", module)

    def after_pass(self, p: "Pass", module: Module, index: int) -> None:
        self._write(index, p.name, module)
