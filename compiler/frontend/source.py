"""Reading a model source file: one place for the errors a user gets about the file itself.

Both the compile driver (every source kind) and `dsl.load_dsl` read through here,
so a missing file, a directory or a non-UTF-8 text file reads the same everywhere.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import CompileError


def read_source_bytes(path: Path) -> bytes:
    """The file's bytes, or a CompileError saying why it cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise CompileError(f"cannot read {str(path)!r}: no such file",
                           hint="check the path of the model file") from None
    except IsADirectoryError:
        raise CompileError(f"cannot read {str(path)!r}: it is a directory",
                           hint="give the path of a model file") from None
    except OSError as e:
        raise CompileError(f"cannot read {str(path)!r}: {e.strerror or e}") from None


def decode_source(path: Path, data: bytes) -> str:
    """The text of a text source (.wsl, .wir), or a CompileError if it is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise CompileError(f"cannot read {str(path)!r}: it is not UTF-8 text",
                           hint=f"a {path.suffix} file is a UTF-8 text file") from None
