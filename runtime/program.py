"""The Program: what the compiler hands the runtime, and its `.wafer` file format.

A Program is plain data: the input and output signature, the constant tensors
and a straight list of instructions (kernel name, input and output value
names, attributes, source location), plus a header of metadata and reports.
The runtime executes it (`runtime.executor`); the compiler produces it
(`compiler.lower`). The runtime never imports the compiler.

File format: see `write_wafer` / `read_wafer` below.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

FORMAT_VERSION = 1


@dataclass
class TensorSpec:
    """A named tensor of the signature. Dims are ints or symbol names bound at run time.

    For outputs, `value` names the program value that holds the output (often
    equal to `name`)."""

    name: str
    dtype: str
    shape: list[int | str]
    value: str | None = None

    @property
    def source(self) -> str:
        return self.value or self.name


@dataclass
class Instr:
    """One kernel call: ``outputs = kernel(*inputs, **attrs)``."""

    kernel: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    op: str = ""      # the IR op it came from (for reports and errors)
    loc: str = ""     # source location, printed in errors and profiles


@dataclass
class Program:
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    instrs: list[Instr]
    constants: dict[str, np.ndarray] = field(default_factory=dict)
    # Metadata written into the file header: producer, source hash, pipeline, reports...
    header: dict[str, Any] = field(default_factory=dict)
