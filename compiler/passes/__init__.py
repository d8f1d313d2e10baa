"""Passes over the IR: one pass per file, composed into pipelines by the PassManager.

- `base.py`: `Pass` (a dataclass whose fields are its options) and `PassContext`.
- `pipeline.py`: pipeline strings (`parse_pipeline`, `format_pipeline`) and the
  ``-O`` levels (`PIPELINES`).
- `manager.py`: `PassManager`, which runs passes and verifies after each.
- `instruments.py`: `PrintIRAfter`, `TimePasses`, `DumpDir`.
- One file per pass; `PASSES` below maps every pass name to its class. A new
  pass is added here and nowhere else.
"""
from .analyze_sparsity import AnalyzeSparsity
from .base import Pass, PassContext, option
from .cse import CommonSubexpressionElimination
from .dce import DeadCodeElimination
from .fold_constants import FoldConstants
from .infer_shapes import InferShapes
from .prune import Prune
from .select_kernels import SelectKernels

PASSES: dict[str, type[Pass]] = {p.name: p for p in (
    InferShapes,
    FoldConstants,
    CommonSubexpressionElimination,
    DeadCodeElimination,
    Prune,
    AnalyzeSparsity,
    SelectKernels,
)}

from .pipeline import (  # noqa: E402  (the pipeline parser reads PASSES)
    DEFAULT_OPT_LEVEL, PIPELINES, format_pass, format_pipeline, parse_pipeline, pipeline_for_level)
from .instruments import DumpDir, Instrument, PrintIRAfter, TimePasses  # noqa: E402
from .manager import PassManager  # noqa: E402

__all__ = [
    "PASSES", "Pass", "PassContext", "option",
    "InferShapes", "FoldConstants", "CommonSubexpressionElimination", "DeadCodeElimination",
    "Prune", "AnalyzeSparsity", "SelectKernels",
    "DEFAULT_OPT_LEVEL", "PIPELINES", "format_pass", "format_pipeline", "parse_pipeline",
    "pipeline_for_level",
    "Instrument", "PrintIRAfter", "TimePasses", "DumpDir", "PassManager",
]
