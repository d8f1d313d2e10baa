"""Compiler errors: each carries a `Location` and renders it with the source line.

All derive from `runtime.errors.WscError` so that one `except WscError` in the
CLI catches every user-facing failure of the toolchain.
"""
from __future__ import annotations

from runtime.errors import WscError, caret_snippet

from .ir.location import Location


class CompileError(WscError):
    """Base class for errors found while compiling; `loc` says where."""

    def __init__(
        self,
        message: str,
        loc: Location | None = None,
        *,
        hint: str | None = None,
        snippet: str | None = None,
        width: int = 1,
    ) -> None:
        self.loc = loc
        if snippet is None and loc is not None:
            snippet = _source_snippet(loc, width)
        super().__init__(message, where=str(loc) if loc is not None and loc.is_known else None,
                         snippet=snippet, hint=hint)


class ParseError(CompileError):
    """Syntax or name-resolution error in DSL or IR text."""


class TypeCheckError(CompileError):
    """An op applied to operands or attributes it does not accept (shape, dtype, attribute)."""


class VerifyError(CompileError):
    """The IR breaks an invariant: SSA/dominance, types, or an op's shape rule."""


class UnsupportedOpError(CompileError):
    """One or more ops of an imported model have no definition in the registry.

    `ops` lists every offender at once: (op type, node name, opset/domain info).
    """

    def __init__(self, message: str, ops: list[tuple[str, str, str]], **kw) -> None:
        self.ops = ops
        super().__init__(message, **kw)


class PassError(CompileError):
    """A pass was misconfigured (unknown name, bad option) or failed on the module."""


class PlacementError(CompileError):
    """The model cannot be placed on the requested wafer target."""


def _source_snippet(loc: Location, width: int) -> str | None:
    """Read the offending line from the location's file, if it is a readable text file."""
    if not (loc.file and loc.line):
        return None
    text = loc.source_text
    if text is None:
        try:
            with open(loc.file, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError):
            return None
    lines = text.splitlines()
    if not 1 <= loc.line <= len(lines):
        return None
    return caret_snippet(lines[loc.line - 1], loc.col or 1, width)
