"""wsc runtime: loads `.wafer` artifacts and executes them on the CPU. Never imports the compiler.

    exe = runtime.load("model.wafer")
    outputs = exe.run({"x": x})
"""
from __future__ import annotations

import os

from .executor import Executable
from .program import Program, read_wafer, write_wafer


def load(path: str | os.PathLike) -> Executable:
    """Read and validate the `.wafer` file at `path` and make it ready to run."""
    return Executable(read_wafer(path), source=os.fspath(path))


__all__ = ["Executable", "Program", "load", "read_wafer", "write_wafer"]
