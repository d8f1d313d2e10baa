"""Pipeline strings: ``"fold-constants{max-bytes=1048576},cse,dce"`` <-> a list of passes.

Syntax::

    pipeline := [ pass ("," pass)* ]
    pass     := NAME [ "{" option ("," option)* "}" ]
    option   := KEY "=" VALUE

NAME and KEY are kebab-case (``max-bytes`` is the field ``max_bytes``).
VALUE is a bare word (anything up to ``,`` or ``}``) or a double-quoted
string (``"N=4,S=8"``; ``\\"`` and ``\\\\`` escape). Values are converted to
the option's type: int, float, bool (``true``/``false``/``1``/``0``) or str.
Whitespace around tokens is ignored. Errors are `PassError`s that show the
pipeline with a caret under the offending part.

`format_pipeline` writes the canonical form (options that differ from their
default, in declaration order), which `parse_pipeline` reads back to equal
passes; the artifact records it. `PIPELINES` holds the ``-O`` levels.
"""
from __future__ import annotations

import difflib
import re
from typing import Any

from runtime.errors import caret_snippet

from ..errors import PassError
from .base import OptionSpec, Pass

# -O levels. Later passes are appended here as they are written. analyze-sparsity runs at
# every level (it only measures); select-kernels exploits the zeros a model has from -O1 on.
# prune is never in a level: it changes the model, so it runs only when asked (--prune).
PIPELINES: dict[int, str] = {
    0: "infer-shapes,analyze-sparsity",
    # canonicalize folds every constant subgraph (it runs fold-constants); folding and
    # fusion run before analyze-sparsity and select-kernels (--prune goes right after
    # canonicalize and fold-batchnorm). -O2 raises exported patterns first, so that
    # fold-algebra's scalings cannot split a GELU or an attention before it is recognised.
    1: "infer-shapes,canonicalize,fold-batchnorm,fold-algebra,dce,analyze-sparsity,"
       "select-kernels",
    2: "infer-shapes,canonicalize,fold-batchnorm,fuse-patterns,fold-algebra,cse,dce,"
       "fuse-epilogues,fuse-elementwise,analyze-sparsity,select-kernels",
}
DEFAULT_OPT_LEVEL = 2


def pipeline_for_level(level: int) -> str:
    """The pipeline string of ``-O<level>``; PassError for a level that does not exist."""
    if level not in PIPELINES:
        levels = ", ".join(f"-O{k}" for k in sorted(PIPELINES))
        raise PassError(f"no optimization level -O{level}", hint=f"levels: {levels}")
    return PIPELINES[level]


def _registry() -> dict[str, type[Pass]]:
    from . import PASSES  # the package's table; imported late to avoid an import cycle
    return PASSES


_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_BARE = re.compile(r"[^,{}\"]*")


class _Reader:
    """A cursor over the pipeline text that raises located PassErrors."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str, pos: int, width: int = 1, hint: str | None = None) -> PassError:
        return PassError(f"bad pass pipeline: {message}", hint=hint,
                         snippet=caret_snippet(self.text, pos + 1, width))

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, ch: str, what: str) -> None:
        if self.peek() != ch:
            got = repr(self.text[self.pos]) if self.pos < len(self.text) else "end of text"
            raise self.error(f"expected {what}, got {got}", self.pos)
        self.pos += 1

    def name(self, what: str) -> tuple[str, int]:
        self.skip_space()
        m = _NAME.match(self.text, self.pos)
        if m is None:
            got = repr(self.text[self.pos]) if self.pos < len(self.text) else "end of text"
            raise self.error(f"expected {what}, got {got}", self.pos)
        self.pos = m.end()
        return m.group(), m.start()

    def value(self) -> tuple[str, int, int]:
        """(value text, start, width) of a bare or quoted value."""
        self.skip_space()
        start = self.pos
        if self.peek() == '"':
            out = []
            i = self.pos + 1
            while i < len(self.text) and self.text[i] != '"':
                if self.text[i] == "\\" and i + 1 < len(self.text):
                    i += 1
                out.append(self.text[i])
                i += 1
            if i >= len(self.text):
                raise self.error("unterminated string", start)
            self.pos = i + 1
            return "".join(out), start, self.pos - start
        m = _BARE.match(self.text, self.pos)
        self.pos = m.end()
        return m.group().strip(), start, max(1, len(m.group().rstrip()))


def parse_pipeline(text: str) -> list[Pass]:
    """Parse a pipeline string into pass instances; PassError (with a caret) on any mistake."""
    passes: list[Pass] = []
    r = _Reader(text)
    if r.peek() == "":
        return passes
    while True:
        passes.append(_parse_pass(r))
        ch = r.peek()
        if ch == "":
            return passes
        if ch != ",":
            raise r.error(f"expected ',' between passes, got {ch!r}", r.pos)
        r.pos += 1


def _parse_pass(r: _Reader) -> Pass:
    registry = _registry()
    name, start = r.name("a pass name")
    cls = registry.get(name)
    if cls is None:
        close = difflib.get_close_matches(name, list(registry), n=1)
        guess = f"; did you mean {close[0]!r}?" if close else ""
        raise r.error(f"unknown pass {name!r}{guess}", start, len(name),
                      hint=f"passes: {', '.join(sorted(registry))} (see wsc compile --list-passes)")
    specs = {s.name: s for s in cls.options()}
    values: dict[str, Any] = {}
    if r.peek() == "{":
        r.pos += 1
        while True:
            key, kstart = r.name(f"an option name of {name}")
            spec = specs.get(key)
            if spec is None:
                valid = ", ".join(specs) or "none"
                close = difflib.get_close_matches(key, list(specs), n=1)
                guess = f"; did you mean {close[0]!r}?" if close else ""
                raise r.error(f"pass {name!r} has no option {key!r}{guess}", kstart, len(key),
                              hint=f"options of {name}: {valid}")
            if spec.field in values:
                raise r.error(f"option {key!r} of {name!r} is given twice", kstart, len(key))
            r.expect("=", f"'=' after option {key!r}")
            raw, vstart, width = r.value()
            values[spec.field] = _coerce(r, name, spec, raw, vstart, width)
            ch = r.peek()
            r.pos += 1
            if ch == "}":
                break
            if ch != ",":
                r.pos -= 1
                raise r.error(f"expected ',' or '}}' in the options of {name!r}", r.pos)
    try:
        return cls(**values)
    except PassError as e:  # a pass's own validation (__post_init__) of its option values
        raise r.error(e.message, start, r.pos - start, hint=e.hint) from None


def _coerce(r: _Reader, pass_name: str, spec: OptionSpec, raw: str, pos: int, width: int) -> Any:
    def bad(want: str) -> PassError:
        return r.error(f"option {spec.name!r} of {pass_name!r} must be {want}, got {raw!r}",
                       pos, width, hint=spec.doc or None)

    if spec.type is bool:
        low = raw.lower()
        if low in ("true", "1"):
            return True
        if low in ("false", "0"):
            return False
        raise bad("true or false")
    if spec.type is int:
        try:
            return int(raw)
        except ValueError:
            raise bad("an integer") from None
    if spec.type is float:
        try:
            return float(raw)
        except ValueError:
            raise bad("a number") from None
    return raw


def _format_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        if v and v == v.strip() and _BARE.fullmatch(v) and "\\" not in v:
            return v
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(v)


def format_pass(p: Pass) -> str:
    """One pass in pipeline syntax, with the options that differ from their defaults."""
    opts = [f"{s.name}={_format_value(getattr(p, s.field))}"
            for s in p.options() if getattr(p, s.field) != s.default]
    return p.name + ("{" + ",".join(opts) + "}" if opts else "")


def format_pipeline(passes: list[Pass]) -> str:
    """The canonical pipeline string; ``parse_pipeline(format_pipeline(ps)) == ps``."""
    return ",".join(format_pass(p) for p in passes)
