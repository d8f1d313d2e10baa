"""The expected-failures list of the ONNX conformance suites: a plain text file.

One case per line, its name and then the reason, separated by whitespace::

    # float8 and friends: element types outside wsc's set
    test_cast_FLOAT_to_FLOAT8E4M3FN        element type FLOAT8E4M3FN is not supported
    simple/test_sequence_model1            sequence values are not supported

Node-suite cases are named as onnx names them (`test_abs`); model-suite cases
as `suite/name` (`simple/test_sequence_model1`). `#` starts a comment line;
blank lines are ignored. The tests mark every listed case as a strict xfail,
so a case that starts passing must be removed from the list.
"""
from __future__ import annotations

from pathlib import Path

from runtime.errors import WscError


class ExpectedFailuresError(WscError):
    """The expected-failures file is malformed (a name without a reason, a duplicate)."""


def parse_expected_failures(text: str, source: str = "<text>") -> dict[str, str]:
    """Case name -> reason, from the file's text."""
    out: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        where = f"{source}:{lineno}"
        if len(parts) < 2:
            raise ExpectedFailuresError(f"{parts[0]!r} has no reason", where=where,
                                        hint="write `case_name  reason` on one line")
        name, reason = parts[0], parts[1].strip()
        if name in out:
            raise ExpectedFailuresError(f"{name!r} is listed twice", where=where)
        out[name] = reason
    return out


def load_expected_failures(path: str | Path) -> dict[str, str]:
    """Case name -> reason, read from `path`."""
    p = Path(path)
    return parse_expected_failures(p.read_text(encoding="utf-8"), str(p))


def format_expected_failures(reasons: dict[str, str], header: str = "") -> str:
    """The file's text for `reasons` (name -> reason), grouped under one comment per reason.

    Used to write a first version of the list or a suggestion to review: the
    names are sorted within a group, groups by reason."""
    groups: dict[str, list[str]] = {}
    for name, reason in reasons.items():
        groups.setdefault(reason, []).append(name)
    width = max((len(n) for n in reasons), default=0) + 2
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    for reason in sorted(groups):
        if lines:
            lines.append("")
        lines.append(f"# {reason}")
        lines.extend(f"{name:<{width}}{reason}" for name in sorted(groups[reason]))
    return "\n".join(lines) + "\n"
