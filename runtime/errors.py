"""The error hierarchy shared by the whole toolchain.

`WscError` is the one base class. It lives in the runtime because the runtime
must never import the compiler, while the compiler may import the runtime; the
compiler's own errors (parse, verify, unsupported op, pass, placement) derive
from it in `compiler/errors.py`.

Every error carries a `where` (a location such as ``mlp.wsl:7:8`` or an ONNX
node name), an optional source `snippet` with a caret under the column, and an
optional `hint`. The CLI prints `error: where: what`, the snippet, the hint,
and exits 1.
"""
from __future__ import annotations


class WscError(Exception):
    """A user-facing error: something about the input, not a bug in wsc."""

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        snippet: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.snippet = snippet
        self.hint = hint

    def format(self) -> str:
        """The full multi-line rendering used by the CLI (without 'error: ')."""
        head = f"{self.where}: {self.message}" if self.where else self.message
        parts = [head]
        if self.snippet:
            parts.append(self.snippet)
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.format()


class ArtifactError(WscError):
    """A `.wafer` file that is damaged, truncated, foreign or of another version."""


class InputError(WscError):
    """Inputs given to a Program that do not match its signature (name, shape, dtype)."""


class ExecutionError(WscError):
    """A kernel failed while running a Program (the message names the op and location)."""


def caret_snippet(line_text: str, col: int, width: int = 1) -> str:
    """Render a source line with a caret under 1-based column `col`."""
    line_text = line_text.rstrip("\n").expandtabs(4)
    col = max(1, col)
    return f"  {line_text}\n  {' ' * (col - 1)}{'^' * max(1, width)}"
