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
from .canonicalize import Canonicalize
from .cse import CommonSubexpressionElimination
from .dce import DeadCodeElimination
from .fold_algebra import FoldAlgebra
from .fold_batchnorm import FoldBatchNorm
from .fold_constants import FoldConstants
from .fuse_elementwise import FuseElementwise
from .fuse_epilogues import FuseEpilogues
from .fuse_patterns import FusePatterns
from .infer_shapes import InferShapes
from .place import Place
from .prune import Prune
from .route import Route
from .select_kernels import SelectKernels

PASSES: dict[str, type[Pass]] = {p.name: p for p in (
    InferShapes,
    FoldConstants,
    CommonSubexpressionElimination,
    DeadCodeElimination,
    Canonicalize,
    FoldBatchNorm,
    FoldAlgebra,
    FusePatterns,
    FuseEpilogues,
    FuseElementwise,
    Prune,
    AnalyzeSparsity,
    SelectKernels,
    Place,
    Route,
)}

from .pipeline import (  # noqa: E402  (the pipeline parser reads PASSES)
    DEFAULT_OPT_LEVEL, PIPELINES, format_pass, format_pipeline, parse_pipeline, pipeline_for_level)
from .instruments import DumpDir, Instrument, PrintIRAfter, TimePasses  # noqa: E402
from .manager import PassManager  # noqa: E402

__all__ = [
    "PASSES", "Pass", "PassContext", "option",
    "InferShapes", "FoldConstants", "CommonSubexpressionElimination", "DeadCodeElimination",
    "Canonicalize", "FoldBatchNorm", "FoldAlgebra", "FusePatterns", "FuseEpilogues",
    "FuseElementwise", "Prune", "AnalyzeSparsity", "SelectKernels", "Place", "Route",
    "DEFAULT_OPT_LEVEL", "PIPELINES", "format_pass", "format_pipeline", "parse_pipeline",
    "pipeline_for_level",
    "Instrument", "PrintIRAfter", "TimePasses", "DumpDir", "PassManager",
]
