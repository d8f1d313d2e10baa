"""wsc runtime: loads `.wafer` artifacts and executes them on the CPU. Never imports the compiler.

    exe = runtime.load("model.wafer")
    outputs = exe.run({"x": x})
"""
from __future__ import annotations

import os

# OpenBLAS's idle threads spin for ~0.1 s after every dense call and take a core
# from the sparse (numba) kernel that follows: measured 1.5-2x slower sparse
# layers (docs/sparse-kernels.md). The variable is read when OpenBLAS loads, i.e.
# at the first numpy import, so it only helps when wsc is imported first (the CLI).
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

from .executor import Executable
from .program import Program, read_wafer, write_wafer


def load(path: str | os.PathLike) -> Executable:
    """Read and validate the `.wafer` file at `path` and make it ready to run."""
    return Executable(read_wafer(path), source=os.fspath(path))


__all__ = ["Executable", "Program", "load", "read_wafer", "write_wafer"]
