"""The DSL frontend: `.wsl` source text -> a verified IR `Module`.

The syntax lives in `grammar/dsl.lark`; the language is described in
`docs/dsl.md`. This module

1. parses the text with lark (LALR) and turns lark's errors into a located
   `ParseError` that says in words what was expected (`_syntax_error`);
2. walks the tree statement by statement (`_Elaborator`): binds names, builds
   parameters from their initializers, evaluates compile-time numbers, lists,
   strings and booleans, and creates one op per operator or call through
   `compiler.ir.builder.Builder`, which runs the registry's shape inference;
3. checks the returned values against the declared output types and runs the
   IR verifier.

Calls are resolved through `compiler.ops.get_op`, so any registered op can be
called by its short (``relu``) or full (``nn.relu``) name with no change here.

Public API: `parse_dsl(text, filename, base_dir)` and `load_dsl(path)`.
"""
from __future__ import annotations

import ast
import difflib
import zipfile
import zlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from ..errors import ParseError, TypeCheckError
from ..ir.builder import Builder
from ..ir.core import Module, Value
from ..ir.location import Location
from ..ir.types import DTYPES, FLOAT_DTYPES, INT_DTYPES, TensorType
from ..ops import registry
from .source import decode_source, read_source_bytes

__all__ = ["parse_dsl", "load_dsl"]


# ----------------------------------------------------------------------------
# Public API


def parse_dsl(text: str, filename: str = "<string>", base_dir: str | Path | None = None) -> Module:
    """Compile DSL source text to a verified Module.

    `filename` is used in locations (``mlp.wsl:7:8``). `load("w.npy")` paths are
    relative to `base_dir` (default: the current directory).
    Raises `ParseError` (syntax, names, initializers) or `TypeCheckError` (shapes,
    dtypes, attributes, declared types).
    """
    tree = _parse_tree(text, filename)
    elab = _Elaborator(text, filename, Path(base_dir) if base_dir is not None else Path.cwd())
    module = elab.model(tree.children[0])
    _verify(module)
    return module


def load_dsl(path: str | Path) -> Module:
    """Compile a `.wsl` file; `load(...)` paths are relative to the file's folder."""
    path = Path(path)
    text = decode_source(path, read_source_bytes(path))
    return parse_dsl(text, filename=str(path), base_dir=path.parent)


def _verify(module: Module) -> None:
    """Run the IR verifier when it is available (it is optional while it is being written)."""
    try:
        from ..ir.verifier import verify
    except ImportError:
        return
    verify(module)


# ----------------------------------------------------------------------------
# Parsing and syntax errors


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = resources.files("grammar").joinpath("dsl.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=False)


def _parse_tree(text: str, filename: str) -> Tree:
    try:
        return _parser().parse(text)
    except UnexpectedInput as e:
        raise _syntax_error(e, text, filename) from None


# Token kinds grouped the way a reader thinks of them.
_OPERAND_START = {"NAME", "NUMBER", "STRING", "TRUE", "FALSE", "LPAR", "LSQB", "MINUS"}
_OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH", "AT"}
_STATEMENT_START = {"PARAM", "LET", "RETURN"}
_CLOSERS = {"RPAR": "')'", "RSQB": "']'", "RBRACE": "'}'"}
_STRUCTURAL = _STATEMENT_START | {"RBRACE", "LBRACE", "_ARROW", "EQUAL", "COLON", "MODEL",
                                  "SPARSITY", "$END"}
_TOKEN_WORDS = {"NAME": "a name", "NUMBER": "a number", "STRING": "a string",
                "$END": "the end of the file"}
_CHAR_HINTS = {
    ";": "statements need no ';': each one starts with 'param', 'let' or 'return'",
    "'": 'strings use double quotes: "weights.npy"',
    '"': 'a string must be closed with \'"\' on the same line',
    "%": "there is no '%' operator",
    "^": "there is no '^' operator; use pow(x, y)",
    "!": "there is no '!' operator",
    "&": "there is no '&' operator",
    "|": "there is no '|' operator",
    "<": "there are no comparison operators",
    ">": "there are no comparison operators",
}


# Places in the grammar where a specific message helps more than a list of tokens.
# lark's `match_examples` finds the label whose example fails in the same parser
# state as the user's text. Label: (message, hint); the message gets ", not <token>".
_SIG = "model m(x: f32[1]) -> (y: f32[1]) {"
_EXAMPLES: list[tuple[tuple[str, str], list[str]]] = [
    (("expected an initializer after '='",
      "initializers: zeros, ones, constant(v), normal(mean, std, seed=S), "
      'uniform(low, high, seed=S), load("file.npy"), load("file.npz", "key")'),
     [_SIG + " param w: f32[1] = 1", _SIG + ' param w: f32[1] = "w.npy"',
      _SIG + " param w: f32[1] = [", _SIG + " param w: f32[1] = -", _SIG + " param w: f32[1] = ("]),
    (("expected a type after ':'",
      "types are written DTYPE[DIMS], e.g. f32[N, 784]; a scalar is f32[]"),
     ["model m(x: 1", "model m(x: [", "model m(x: (", _SIG + " param w: 1",
      _SIG + " param w: ["]),
    (("expected a dim",
      "a dim is a non-negative integer or a name (N, batch)"),
     ["model m(x: f32[-", "model m(x: f32[1, -", "model m(x: f32[1, (", "model m(x: f32[("]),
]


def _syntax_error(err: UnexpectedInput, text: str, filename: str) -> ParseError:
    """A located ParseError that says what was expected, in words."""
    if isinstance(err, UnexpectedCharacters):
        ch = text[err.pos_in_stream] if err.pos_in_stream < len(text) else ""
        loc = Location(filename, err.line, err.column, source_text=text)
        return ParseError(f"unexpected character {ch!r}", loc, hint=_CHAR_HINTS.get(ch))

    assert isinstance(err, UnexpectedToken)
    tok = err.token
    # `accepts` replays the parser, so unlike `expected` it is not blurred by LALR's
    # merged lookaheads (which would claim ')' is possible almost everywhere).
    expected = set(err.accepts or err.expected)
    here = Location(filename, tok.line, tok.column, source_text=text) if tok.type != "$END" \
        else _loc_at(text, filename, _end_of_previous_token(text, len(text)))
    after_prev = _loc_at(text, filename, _end_of_previous_token(
        text, tok.start_pos if tok.type != "$END" else len(text)))
    what = _describe_token(tok)
    width = max(1, len(str(tok))) if tok.type != "$END" else 1

    if tok.type == "$END":
        if "RBRACE" in expected:
            closer = next((c for c in ("RPAR", "RSQB") if c in expected), "RBRACE")
            return ParseError(f"missing {_CLOSERS[closer]} at the end of the file", after_prev,
                              hint="every '(', '[' and '{' needs its closing bracket")
        closer = next((c for c in _CLOSERS if c in expected), None)
        if closer:
            return ParseError(f"missing {_CLOSERS[closer]}", after_prev)
        if expected == {"MODEL"}:
            return ParseError("the file holds no model", here,
                              hint="write model NAME(INPUTS) -> (OUTPUTS) { ... }")
        return ParseError(f"unexpected end of file; expected {_expected_words(expected)}",
                          after_prev)

    label = err.match_examples(_parser().parse, _EXAMPLES, use_accepts=True)
    if label is not None:
        message, hint = label
        return ParseError(f"{message}, not {what}", here, hint=hint, width=width)

    if tok.type == "MODEL":
        return ParseError("a file holds one model", here, width=width,
                          hint="put each model in its own .wsl file")
    if expected == {"$END"}:
        return ParseError(f"unexpected {what} after the end of the model", here, width=width,
                          hint="a file holds one model; nothing may follow its closing '}'")

    if tok.type == "STAR" and tok.start_pos > 0 and text[tok.start_pos - 1] == "*":
        return ParseError("there is no '**' operator", here, hint="use pow(x, y)")

    closer = next((c for c in _CLOSERS if c in expected), None)
    if closer and tok.type in _STRUCTURAL and tok.type not in expected:
        opener = {"RPAR": "'('", "RSQB": "'['", "RBRACE": "'{'"}[closer]
        return ParseError(f"missing {_CLOSERS[closer]}", after_prev,
                          hint=f"{opener} is still open when {what} comes")

    if tok.type == "NAME" and _STATEMENT_START <= expected:
        if _same_line(text, _end_of_previous_token(text, tok.start_pos), tok.start_pos):
            return ParseError(f"unexpected {what}", here, width=width,
                              hint="two expressions in a row: is an operator or ',' missing?")
        hint = "a statement starts with 'param', 'let' or 'return'"
        if tok.value in ("var", "const", "val", "def", "input", "output"):
            hint += f"; '{tok.value}' is not a keyword"
        else:
            hint += f"; to bind a name write 'let {tok.value} = ...'"
        return ParseError(f"unexpected {what}; expected a statement", here, hint=hint,
                          width=width)

    if {"NAME", "NUMBER"} <= expected and tok.type in _STRUCTURAL | {"RPAR", "RSQB", "COMMA"}:
        return ParseError("expected an expression", after_prev,
                          hint=f"{what} follows before any expression was given")

    if tok.type in _OPERAND_START - {"MINUS", "LPAR", "LSQB"} and expected & _OPERATORS:
        return ParseError(f"unexpected {what}; expected {_expected_words(expected)}", here,
                          hint="two expressions in a row: is an operator or ',' missing?",
                          width=width)

    single = sorted(expected - {"COMMA"})
    if single == ["NAME"]:
        return ParseError(f"expected a name, not {what}", here, width=width)
    if len(single) == 1:
        word = _terminal_word(single[0])
        hint = None
        if single[0] == "LSQB":
            hint = "types are written DTYPE[DIMS], e.g. f32[N, 784]; a scalar is f32[]"
        return ParseError(f"missing {word} before {what}", after_prev, hint=hint)

    return ParseError(f"unexpected {what}; expected {_expected_words(expected)}", here,
                      width=width)


def _describe_token(tok: Token) -> str:
    if tok.type == "$END":
        return "the end of the file"
    if tok.type == "NAME":
        return f"name '{tok.value}'"
    if tok.type == "NUMBER":
        return f"number {tok.value}"
    if tok.type == "STRING":
        return f"string {tok.value}"
    if tok.value.isalpha():
        return f"keyword '{tok.value}'"
    return f"'{tok.value}'"


def _terminal_word(name: str) -> str:
    if name in _TOKEN_WORDS:
        return _TOKEN_WORDS[name]
    for t in _parser().terminals:
        if t.name == name and t.pattern.type == "str":
            return f"'{t.pattern.value}'"
    return name.lower()


def _expected_words(expected) -> str:
    """Expected terminals as words: 'an expression', 'an operator', "')'"..."""
    exp = set(expected)
    parts = []
    if {"NAME", "NUMBER"} <= exp:
        parts.append("an expression")
        exp -= _OPERAND_START
    if len(exp & _OPERATORS) >= 3:
        parts.append("an operator")
        exp -= _OPERATORS
    if _STATEMENT_START <= exp:
        parts.append("a statement ('param', 'let' or 'return')")
        exp -= _STATEMENT_START
    parts += sorted(_terminal_word(t) for t in exp)
    if not parts:
        return "something else"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


def _end_of_previous_token(text: str, pos: int) -> int:
    """Offset just after the last token before `pos`, skipping blanks and comments."""
    i = pos
    while True:
        while i > 0 and text[i - 1].isspace():
            i -= 1
        line_start = text.rfind("\n", 0, i) + 1
        code = _strip_comment(text[line_start:i])
        if len(code) == i - line_start:
            return i
        i = line_start + len(code)


def _same_line(text: str, a: int, b: int) -> bool:
    return "\n" not in text[a:b]


def _strip_comment(line: str) -> str:
    """The part of a line before a '#' comment ('#' inside strings does not count)."""
    in_string = False
    for k, ch in enumerate(line):
        if ch == '"' and (k == 0 or line[k - 1] != "\\"):
            in_string = not in_string
        elif ch == "#" and not in_string:
            return line[:k]
    return line


def _loc_at(text: str, filename: str, offset: int) -> Location:
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return Location(filename, line, col, source_text=text)


# ----------------------------------------------------------------------------
# Elaboration: the tree -> a Module


# Initializers: name -> parameter names; "?" marks an optional one.
_INITIALIZERS: dict[str, tuple[str, ...]] = {
    "zeros": (),
    "ones": (),
    "constant": ("value",),
    "normal": ("mean", "std", "seed?"),
    "uniform": ("low", "high", "seed?"),
    "load": ("file", "key?"),
}

_DTYPE_ALIASES = {"float32": "f32", "float": "f32", "float16": "f16", "half": "f16",
                  "float64": "f64", "double": "f64", "int32": "i32", "int": "i32",
                  "int64": "i64", "int8": "i8", "int16": "i16", "uint8": "u8",
                  "bool_": "bool", "boolean": "bool"}

_KIND_WORDS = {"int": "an integer", "float": "a number", "bool": "true or false",
               "str": "a string", "dtype": 'a dtype name as a string, e.g. "f32"',
               "ints": "a list of integers, e.g. [0, 2, 1]",
               "floats": "a list of numbers, e.g. [0.5, 1.0]",
               "shape": "a list of integers, e.g. [0, 16, 4, 16]"}


@dataclass
class _Binding:
    """A name in scope: a tensor (`Value`) or a compile-time value, and where it was defined."""

    value: Any
    loc: Location
    kind: str  # "input", "param", "let"


class _Elaborator:
    """Walks a parsed model and builds the Module, one statement at a time."""

    def __init__(self, text: str, filename: str, base_dir: Path) -> None:
        self.text = text
        self.filename = filename
        self.base_dir = base_dir
        self.env: dict[str, _Binding] = {}
        self.declared: dict[str, Location] = {}   # every param/let name -> its first definition
        self.param_names: set[str] = set()
        self.module = Module()
        self.builder = Builder(self.module)

    # -- locations ------------------------------------------------------------
    def loc(self, item: Token | Tree) -> Location:
        """The start of a token or subtree."""
        if isinstance(item, Token):
            return Location(self.filename, item.line, item.column, source_text=self.text)
        return Location(self.filename, item.meta.line, item.meta.column, source_text=self.text)

    def width(self, item: Token | Tree) -> int:
        """How many columns to underline for an item (its extent on its first line)."""
        if isinstance(item, Token):
            return max(1, len(str(item).split("\n")[0]))
        m = item.meta
        if getattr(m, "empty", True):
            return 1
        if m.end_line == m.line:
            return max(1, m.end_column - m.column)
        return max(1, len(self.text[m.start_pos:].split("\n")[0]))

    def parse_error(self, msg: str, item: Token | Tree, hint: str | None = None) -> ParseError:
        return ParseError(msg, self.loc(item), hint=hint, width=self.width(item))

    def type_error(self, msg: str, item: Token | Tree, hint: str | None = None) -> TypeCheckError:
        return TypeCheckError(msg, self.loc(item), hint=hint, width=self.width(item))

    def op_token(self, tree: Tree | Token) -> Token | Tree:
        """The token an op built from `tree` is located at: the operator or the callee."""
        if isinstance(tree, Tree):
            if tree.data == "binary":
                return tree.children[1]
            if tree.data in ("call", "neg"):
                return tree.children[0]
        return tree

    # -- the model ------------------------------------------------------------
    def model(self, tree: Tree) -> Module:
        name_tok = tree.children[0]
        self.module.name = str(name_tok)
        inputs = next((c for c in tree.children[1:] if isinstance(c, Tree) and c.data == "inputs"), None)
        outputs = next(c for c in tree.children[1:] if isinstance(c, Tree) and c.data == "outputs")
        stmts = [c for c in tree.children[1:] if isinstance(c, Tree)
                 and c.data in ("param", "let", "return")]

        if inputs is not None:
            for tn in inputs.children:
                name, t = tn.children
                self.check_new_name(name)
                v = self.module.add_input(str(name), self.type(t, what=f"input '{name}'"))
                self.env[str(name)] = _Binding(v, self.loc(name), "input")

        declared_outputs: dict[str, tuple[Token, TensorType]] = {}
        for tn in outputs.children:
            name, t = tn.children
            if str(name) in declared_outputs:
                raise self.parse_error(f"duplicate output name '{name}'", name)
            declared_outputs[str(name)] = (name, self.type(t, what=f"output '{name}'"))

        self.prescan(stmts)
        returned: Tree | None = None
        for st in stmts:
            if returned is not None:
                raise self.parse_error("statement after 'return'", st,
                                       hint="'return' must be the last statement of the model")
            if st.data == "param":
                self.param(st)
            elif st.data == "let":
                self.let(st)
            else:
                self.ret(st, declared_outputs)
                returned = st
        if returned is None:
            raise self.parse_error(f"model '{name_tok}' has no 'return'", name_tok,
                                   hint="end the model with 'return "
                                        + ", ".join(f"{n} = ..." for n in declared_outputs) + "'")
        return self.module

    def prescan(self, stmts: list[Tree]) -> None:
        """Record every parameter and let name up front, for 'defined later' hints and
        so that constants made from number literals never take a parameter's name."""
        for st in stmts:
            if st.data == "param":
                self.param_names.add(str(st.children[0]))
                self.declared.setdefault(str(st.children[0]), self.loc(st.children[0]))
            elif st.data == "let":
                for name in st.children[:-1]:
                    self.declared.setdefault(str(name), self.loc(name))

    def check_new_name(self, name: Token) -> None:
        prev = self.env.get(str(name))
        if prev is not None:
            where = f"line {prev.loc.line}" if prev.loc.line else "earlier"
            kind = {"param": "parameter", "let": "let-binding"}.get(prev.kind, prev.kind)
            raise self.parse_error(f"duplicate name '{name}'", name,
                                   hint=f"'{name}' is already defined as {_article(kind)} "
                                        f"{kind} at {where}; pick another name")

    # -- types ----------------------------------------------------------------
    def type(self, tree: Tree, what: str, static: bool = False) -> TensorType:
        dtype_tok, *dims = tree.children
        dtype = str(dtype_tok)
        if dtype not in DTYPES:
            alias = _DTYPE_ALIASES.get(dtype.lower())
            close = [alias] if alias else difflib.get_close_matches(dtype, list(DTYPES), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise self.parse_error(f"unknown dtype '{dtype}'", dtype_tok,
                                   hint=hint + "dtypes: " + ", ".join(DTYPES))
        shape: list[int | str] = []
        for d in dims:
            if d.type == "NUMBER":
                if not d.value.isdigit():
                    raise self.parse_error(f"dimension {d} of {what} is not a whole number", d,
                                           hint="a dim is a non-negative integer or a name (N)")
                shape.append(int(d.value))
            else:
                if static:
                    raise self.type_error(
                        f"{what} has the symbolic dim '{d}'; parameter shapes must be static", d,
                        hint="symbolic dims (N, batch) are for model inputs and outputs")
                if "." in d.value:
                    raise self.parse_error(f"invalid dim name '{d}' in {what}", d,
                                           hint="a symbolic dim is a plain name such as N or batch")
                shape.append(d.value)
        return TensorType(tuple(shape), dtype)

    # -- statements -----------------------------------------------------------
    def param(self, tree: Tree) -> None:
        name_tok, type_tree, init_tree, *rest = tree.children
        name = str(name_tok)
        self.check_new_name(name_tok)
        ptype = self.type(type_tree, what=f"parameter '{name}'", static=True)
        data = self.initializer(init_tree, name, ptype)
        sparsity = self.sparsity(rest[0]) if rest else None
        const = self.module.add_constant(name, data, sparsity=sparsity, type=ptype)
        self.env[name] = _Binding(const, self.loc(name_tok), "param")

    def sparsity(self, tree: Tree) -> float:
        expr = tree.children[0]
        v = self.expr(expr)
        if not _is_number(v) or not 0 <= v < 1:
            raise self.type_error(f"sparsity must be a number in [0, 1), got {_show(v)}", expr,
                                  hint="sparsity is the fraction of weights to prune: "
                                       "0.9 keeps 10% of them")
        return float(v)

    def let(self, tree: Tree) -> None:
        *names, expr = tree.children
        value = self.expr(expr, allow_tuple=len(names) > 1)
        if len(names) > 1:
            n = len(value) if isinstance(value, tuple) else 1
            if n != len(names):
                raise self.type_error(
                    f"'let' binds {len(names)} names but the expression gives {n} "
                    f"result{'s' if n != 1 else ''}", expr)
            values = list(value)
        else:
            values = [value]
        for name, v in zip(names, values):
            self.check_new_name(name)
            if isinstance(v, Value) and v.producer is not None and v.name is None:
                v.name = str(name)
            self.env[str(name)] = _Binding(v, self.loc(name), "let")

    def ret(self, tree: Tree, declared: dict[str, tuple[Token, TensorType]]) -> None:
        items = tree.children
        named = [it for it in items if isinstance(it, Tree) and it.data == "named_result"]
        names = list(declared)
        if named and len(named) != len(items):
            raise self.parse_error("mix of named and positional results in 'return'", tree,
                                   hint="name all of them (return logits = ..., probs = ...) "
                                        "or none")
        if len(items) != len(declared):
            raise self.type_error(
                f"the model declares {len(declared)} output{'s' if len(declared) != 1 else ''} "
                f"({', '.join(names)}) but 'return' gives {len(items)}", tree)
        pairs: list[tuple[str, Tree | Token]] = []  # (output name, expression)
        if named:
            seen: set[str] = set()
            for it in items:
                name_tok, expr = it.children
                if str(name_tok) not in declared:
                    close = difflib.get_close_matches(str(name_tok), names, n=1)
                    raise self.parse_error(
                        f"'{name_tok}' is not an output of the model", name_tok,
                        hint=(f"did you mean '{close[0]}'? " if close else "")
                        + "declared outputs: " + ", ".join(names))
                if str(name_tok) in seen:
                    raise self.parse_error(f"output '{name_tok}' is returned twice", name_tok)
                seen.add(str(name_tok))
                pairs.append((str(name_tok), expr))
        else:
            pairs = list(zip(names, items))

        results: dict[str, Value] = {}
        for name, expr in pairs:
            want = declared[name][1]
            v = self.expr(expr)
            if _is_number(v) or isinstance(v, bool):
                v = self.literal(v, want.dtype, expr)
            if not isinstance(v, Value):
                raise self.type_error(f"output '{name}' must be a tensor, got {_show(v)}", expr)
            got = v.type
            if got.shape != want.shape or got.dtype != want.dtype:
                raise self.type_error(
                    f"output '{name}' is declared {want} but the model computes {got}",
                    self.op_token(expr), hint=_type_diff_hint(want, got))
            if v.producer is not None and v.name is None and name not in self.env:
                v.name = name
            results[name] = v
        self.module.outputs = {n: results[n] for n in names}

    # -- initializers ---------------------------------------------------------
    def initializer(self, tree: Tree, pname: str, ptype: TensorType) -> np.ndarray:
        name_tok = tree.children[0]
        kind = str(name_tok)
        if kind not in _INITIALIZERS:
            close = difflib.get_close_matches(kind, list(_INITIALIZERS), n=1)
            raise self.parse_error(
                f"unknown initializer '{kind}'", name_tok,
                hint=(f"did you mean '{close[0]}'? " if close else "")
                + "initializers: zeros, ones, constant(v), normal(mean, std, seed=S), "
                  "uniform(low, high, seed=S), load(\"file.npy\"), load(\"file.npz\", \"key\")")
        required = [p for p in _INITIALIZERS[kind] if not p.endswith("?")]
        if required and tree.data == "bare_init":
            raise self.parse_error(f"initializer '{kind}' needs arguments", name_tok,
                                   hint=f"write {kind}({', '.join(required)})")
        args = self.bind_init_args(kind, name_tok, tree.children[1] if len(tree.children) > 1 else None)
        shape = tuple(int(d) for d in ptype.shape)
        dt = ptype.np_dtype

        if kind == "zeros":
            return np.zeros(shape, dt)
        if kind == "ones":
            return np.ones(shape, dt)
        if kind == "constant":
            v, item = args["value"]
            self.check_fits(v, ptype.dtype, item, "constant value")
            return np.full(shape, v, dt)
        if kind in ("normal", "uniform"):
            if ptype.dtype not in FLOAT_DTYPES:
                raise self.type_error(f"'{kind}' makes floating-point values but parameter "
                                      f"'{pname}' is {ptype.dtype}", name_tok,
                                      hint="use a float dtype (f32) or zeros/ones/constant/load")
            a_name, b_name = _INITIALIZERS[kind][:2]
            a, a_item = args[a_name]
            b, b_item = args[b_name]
            for v, item, what in ((a, a_item, a_name), (b, b_item, b_name)):
                if not _is_number(v):
                    raise self.type_error(f"{kind}(): '{what}' must be a number, got {_show(v)}", item)
            seed = self.seed(args, pname)
            rng = np.random.Generator(np.random.PCG64(seed))
            if kind == "normal":
                if b < 0:
                    raise self.type_error(f"normal(): std must be >= 0, got {b}", b_item)
                return rng.normal(float(a), float(b), size=shape).astype(dt)
            if b < a:
                raise self.type_error(f"uniform(): high ({b}) is below low ({a})", b_item)
            return rng.uniform(float(a), float(b), size=shape).astype(dt)
        return self.load(args, pname, ptype, name_tok)

    def bind_init_args(self, kind: str, name_tok: Token, args: Tree | None) -> dict[str, tuple]:
        """Bind an initializer's arguments Python-style: positional, then by keyword."""
        params = [p.rstrip("?") for p in _INITIALIZERS[kind]]
        bound: dict[str, tuple] = {}
        seen_keyword = False
        for item in (args.children if args is not None else []):
            if isinstance(item, Tree) and item.data == "keyword":
                seen_keyword = True
                key, expr = item.children
                if str(key) not in params:
                    close = difflib.get_close_matches(str(key), params, n=1)
                    raise self.parse_error(
                        f"{kind}() has no argument '{key}'", key,
                        hint=(f"did you mean '{close[0]}'? " if close else "")
                        + _init_signature(kind))
                if str(key) in bound:
                    raise self.parse_error(f"{kind}(): argument '{key}' given twice", key)
                bound[str(key)] = (self.const_expr(expr, f"{kind}() argument '{key}'"), expr)
            else:
                if seen_keyword:
                    raise self.parse_error("positional argument after a keyword argument", item)
                i = len(bound)
                if i >= len(params):
                    raise self.parse_error(f"too many arguments for {kind}()", item,
                                           hint=_init_signature(kind))
                bound[params[i]] = (self.const_expr(item, f"{kind}() argument '{params[i]}'"), item)
        for p in _INITIALIZERS[kind]:
            if not p.endswith("?") and p not in bound:
                raise self.parse_error(f"{kind}() is missing its argument '{p}'", name_tok,
                                       hint=_init_signature(kind))
        return bound

    def seed(self, args: dict[str, tuple], pname: str) -> int:
        if "seed" not in args:
            # No seed given: derive one from the parameter name, so that the weights are
            # still reproducible and two parameters do not get the same numbers.
            return zlib.crc32(pname.encode("utf-8"))
        v, item = args["seed"]
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise self.type_error(f"seed must be a non-negative integer, got {_show(v)}", item)
        return v

    def load(self, args: dict[str, tuple], pname: str, ptype: TensorType,
             name_tok: Token) -> np.ndarray:
        file, file_item = args["file"]
        if not isinstance(file, str):
            raise self.type_error(f"load(): the file must be a string, got {_show(file)}", file_item,
                                  hint='write load("weights.npy")')
        key, key_item = args.get("key", (None, None))
        if key is not None and not isinstance(key, str):
            raise self.type_error(f"load(): the key must be a string, got {_show(key)}", key_item)
        path = self.base_dir / file
        suffix = path.suffix.lower()
        if suffix not in (".npy", ".npz"):
            raise self.parse_error(f"load() reads .npy or .npz files, not '{file}'", file_item)
        if not path.is_file():
            raise self.parse_error(
                f"cannot load '{file}': file not found", file_item,
                hint=f"a {suffix} file next to the source was not found: {path.absolute()}")
        arr = self.read_array(path, suffix, key, pname, file, file_item, key_item)
        try:
            got = TensorType.of_array(arr)
        except KeyError:
            raise self.type_error(f"'{file}' holds an array of numpy dtype {arr.dtype}, which wsc "
                                  f"does not support", file_item,
                                  hint="dtypes: " + ", ".join(DTYPES)) from None
        if got.dtype != ptype.dtype or got.shape != ptype.shape:
            where = f"'{file}'" + (f"[{key or pname!r}]" if suffix == ".npz" else "")
            hint = _type_diff_hint(ptype, got)
            if got.dtype != ptype.dtype:
                hint = (f"save it as {ptype.dtype}: "
                        f"np.save(..., arr.astype(np.{ptype.np_dtype.name}))")
            raise self.type_error(f"parameter '{pname}' is declared {ptype} but {where} "
                                  f"holds {got}", file_item, hint=hint)
        return np.ascontiguousarray(arr)

    def read_array(self, path: Path, suffix: str, key: str | None, pname: str, file: str,
                   file_item: Tree, key_item: Tree | None) -> np.ndarray:
        try:
            loaded = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
            raise self.parse_error(f"cannot load '{file}': {e}", file_item,
                                   hint="the file is not a readable numpy .npy/.npz file") from None
        if suffix == ".npy" or isinstance(loaded, np.ndarray):
            if not isinstance(loaded, np.ndarray):
                loaded.close()
                raise self.parse_error(f"'{file}' is an .npz archive, not a .npy file", file_item,
                                       hint="rename it to .npz: load(\""
                                            f'{Path(file).with_suffix(".npz")}", "KEY")')
            if suffix == ".npz":
                raise self.parse_error(f"'{file}' is a .npy file, not an .npz archive", file_item,
                                       hint="rename it to .npy")
            if key is not None:
                raise self.parse_error(f"'{file}' is a .npy file, which holds one array: "
                                       f"it has no keys", key_item,
                                       hint=f'write load("{file}")')
            return loaded
        with loaded:
            keys = list(loaded.files)
            k = key if key is not None else pname
            if k not in keys:
                close = difflib.get_close_matches(k, keys, n=1)
                hint = (f"did you mean '{close[0]}'? " if close else "") + \
                    f"keys in {file}: {', '.join(keys) or '(none)'}"
                if key is None:
                    hint += f"; without a key, load() looks up the parameter name '{pname}'"
                raise self.parse_error(f"'{file}' has no array '{k}'", key_item or file_item,
                                       hint=hint)
            try:
                return loaded[k]
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
                raise self.parse_error(f"cannot read '{k}' from '{file}': {e}",
                                       key_item or file_item) from None

    def check_fits(self, v: Any, dtype: str, item: Tree | Token, what: str) -> None:
        if dtype == "bool":
            if not isinstance(v, bool):
                raise self.type_error(f"{what} for a bool tensor must be true or false, got "
                                      f"{_show(v)}", item)
            return
        if not _is_number(v):
            raise self.type_error(f"{what} must be a number, got {_show(v)}", item)
        if dtype in INT_DTYPES:
            if isinstance(v, float) and not v.is_integer():
                raise self.type_error(f"{what} {v} is not a whole number, but the tensor is "
                                      f"{dtype}", item)
            info = np.iinfo(DTYPES[dtype])
            if not info.min <= v <= info.max:
                raise self.type_error(f"{what} {v} does not fit in {dtype} "
                                      f"([{info.min}, {info.max}])", item)

    # -- expressions ----------------------------------------------------------
    def const_expr(self, tree: Tree | Token, what: str) -> Any:
        """Evaluate an expression that must be known at compile time (not a tensor)."""
        v = self.expr(tree)
        if isinstance(v, Value):
            raise self.type_error(f"{what} must be a constant (a number, string, boolean or "
                                  f"list), but it is a tensor", tree)
        return v

    def expr(self, tree: Tree | Token, allow_tuple: bool = False) -> Any:
        """A `Value` (tensor), a Python number/bool/str/list (compile time), or a tuple
        of Values (the results of a multi-result op; only where `allow_tuple`)."""
        kind = tree.data if isinstance(tree, Tree) else None
        if kind == "number":
            return _number(str(tree.children[0]))
        if kind == "string":
            return self.string(tree.children[0])
        if kind == "true":
            return True
        if kind == "false":
            return False
        if kind == "name":
            return self.lookup(tree.children[0])
        if kind == "list":
            out = []
            for c in tree.children:
                v = self.expr(c)
                if isinstance(v, Value):
                    raise self.type_error("a list holds numbers, strings or booleans, "
                                          "not tensors", c,
                                          hint="lists are for attributes such as perm=[0, 2, 1]")
                out.append(v)
            return out
        if kind == "neg":
            return self.neg(tree)
        if kind == "binary":
            return self.binary(tree)
        if kind == "call":
            v = self.call(tree)
            if isinstance(v, tuple) and not allow_tuple:
                name = str(tree.children[0])
                names = ", ".join(f"r{i}" for i in range(len(v)))
                raise self.type_error(f"'{name}' gives {len(v)} results; bind them first", tree,
                                      hint=f"let {names} = {name}(...)")
            return v
        raise AssertionError(f"unexpected tree {tree!r}")  # pragma: no cover - grammar covers all

    def string(self, tok: Token) -> str:
        try:
            return ast.literal_eval(str(tok))
        except (ValueError, SyntaxError):
            raise self.parse_error(f"invalid string {tok}", tok,
                                   hint='escape a quote as \\" and a backslash as \\\\') from None

    def lookup(self, tok: Token) -> Any:
        name = str(tok)
        b = self.env.get(name)
        if b is not None:
            return b.value
        if name in self.declared:
            raise self.parse_error(f"'{name}' is used before it is defined", tok,
                                   hint=f"it is defined later, at line {self.declared[name].line}")
        try:
            opdef = registry.get_op(name)
        except KeyError:
            opdef = None
        if opdef is not None:
            raise self.parse_error(f"'{name}' is an op, not a value", tok,
                                   hint=f"call it: {name}(...)")
        if name in ("True", "False", "TRUE", "FALSE"):
            raise self.parse_error(f"undefined name '{name}'", tok,
                                   hint=f"booleans are written {name.lower()}")
        names = list(self.env)
        params = [n for n, b in self.env.items() if b.kind == "param"]
        close = difflib.get_close_matches(name, names, n=1)
        mean = f"did you mean '{close[0]}'? " if close else ""
        if "." in name:
            raise self.parse_error(f"unknown parameter '{name}'", tok,
                                   hint=mean + "defined: " + (", ".join(params) or "no parameters"))
        hint = mean + ("defined: " + ", ".join(names) if names else "nothing is defined yet")
        raise self.parse_error(f"undefined name '{name}'", tok, hint=hint)

    def neg(self, tree: Tree) -> Any:
        minus, operand = tree.children
        v = self.expr(operand)
        if _is_number(v):
            return -v
        if isinstance(v, Value):
            return self.create("math.neg", [v], {}, minus)
        raise self.type_error(f"cannot negate {_show(v)}", operand)

    _BINARY_OPS = {"+": "math.add", "-": "math.sub", "*": "math.mul", "/": "math.div",
                   "@": "nn.matmul"}

    def binary(self, tree: Tree) -> Any:
        lhs_tree, op_tok, rhs_tree = tree.children
        lhs, rhs = self.expr(lhs_tree), self.expr(rhs_tree)
        sym = str(op_tok)
        for v, t in ((lhs, lhs_tree), (rhs, rhs_tree)):
            if not (_is_number(v) or isinstance(v, Value)):
                raise self.type_error(f"'{sym}' needs numbers or tensors, got {_show(v)}", t)
        if _is_number(lhs) and _is_number(rhs):
            return self.fold(lhs, sym, rhs, op_tok, rhs_tree)
        partner = lhs if isinstance(lhs, Value) else rhs
        if sym == "@" and not (isinstance(lhs, Value) and isinstance(rhs, Value)):
            raise self.type_error("'@' multiplies two tensors, not a number", op_tok,
                                  hint="use '*' to scale by a number")
        lhs = lhs if isinstance(lhs, Value) else self.literal(lhs, partner.type.dtype, lhs_tree)
        rhs = rhs if isinstance(rhs, Value) else self.literal(rhs, partner.type.dtype, rhs_tree)
        return self.create(self._BINARY_OPS[sym], [lhs, rhs], {}, op_tok)

    def fold(self, a: int | float, sym: str, b: int | float, op_tok: Token,
             rhs_tree: Tree) -> int | float:
        """Arithmetic on two compile-time numbers."""
        if sym == "+":
            return a + b
        if sym == "-":
            return a - b
        if sym == "*":
            return a * b
        if sym == "/":
            if b == 0:
                raise self.type_error("division by zero", rhs_tree)
            if isinstance(a, int) and isinstance(b, int) and a % b == 0:
                return a // b
            return a / b
        raise self.type_error("'@' multiplies two tensors, not numbers", op_tok,
                              hint="use '*' to multiply numbers")

    def call(self, tree: Tree) -> Any:
        name_tok = tree.children[0]
        args = tree.children[1].children if len(tree.children) > 1 else []
        opdef = self.resolve_op(name_tok)
        slots = [o.rstrip("?*") for o in opdef.operands]
        variadic = bool(opdef.operands) and opdef.operands[-1].endswith("*")
        attr_map = opdef.attr_map
        short = opdef.short_name

        positional: list[tuple[Any, Tree]] = []
        by_slot: dict[int, tuple[Any, Tree]] = {}
        attrs: dict[str, Any] = {}
        seen_kw: set[str] = set()
        for item in args:
            if isinstance(item, Tree) and item.data == "keyword":
                key_tok, expr = item.children
                key = str(key_tok)
                if key in seen_kw:
                    raise self.parse_error(f"keyword '{key}' given twice", key_tok)
                seen_kw.add(key)
                if key in attr_map:
                    attrs[key] = self.attribute(opdef, attr_map[key], expr)
                elif key in slots and not (variadic and key == slots[-1]):
                    by_slot[slots.index(key)] = (self.expr(expr), expr)
                else:
                    raise self.type_error(f"{opdef.name} has no attribute '{key}'", key_tok,
                                          hint=_keyword_hint(opdef, key))
                continue
            if seen_kw:
                raise self.parse_error("positional argument after a keyword argument", item,
                                       hint=f"operands come first: {short}(x, ..., attr=...)")
            v = self.expr(item)
            if not (_is_number(v) or isinstance(v, Value)):
                hint = "operands are tensors or numbers; attributes are passed by keyword"
                if attr_map:
                    hint += f": {short}(..., {next(iter(attr_map))}=...); attributes of " \
                            f"{short}: {', '.join(attr_map)}"
                raise self.type_error(f"argument {len(positional) + 1} of '{name_tok}' is "
                                      f"{_show(v)}, not an operand", item, hint=hint)
            positional.append((v, item))

        # Operands given by keyword (conv2d(x, w, bias=b)) go to their declared slot.
        operands = list(positional)
        for i in sorted(by_slot):
            if i < len(operands):
                raise self.parse_error(f"operand '{slots[i]}' of {opdef.name} is given twice",
                                       by_slot[i][1])
            if i > len(operands):
                raise self.type_error(f"operand '{slots[len(operands)]}' of {opdef.name} is "
                                      f"missing", name_tok,
                                      hint=f"operands: {', '.join(opdef.operands)}")
            operands.append(by_slot[i])

        missing = [a.name for a in opdef.attrs if a.required and a.name not in attrs]
        if missing:
            a = attr_map[missing[0]]
            raise self.type_error(f"{opdef.name} requires the attribute '{a.name}'", name_tok,
                                  hint=f"pass it by keyword: {short}(..., {a.name}=...), "
                                       f"{_KIND_WORDS.get(a.kind, a.kind)}" + (f": {a.doc}" if a.doc else ""))

        partner = next((v for v, _ in operands if isinstance(v, Value)), None)
        values = [v if isinstance(v, Value)
                  else self.literal(v, partner.type.dtype if partner else None, t)
                  for v, t in operands]
        return self.create(opdef.name, values, attrs, name_tok, multi=opdef.num_results != 1)

    def resolve_op(self, name_tok: Token) -> registry.OpDef:
        name = str(name_tok)
        try:
            return registry.get_op(name)
        except KeyError:
            pass
        if name in _INITIALIZERS:
            hint = (f"'{name}' is an initializer: it can only follow "
                    f"'param NAME: TYPE =' (e.g. param w: f32[4] = {name}...)")
        elif name in self.env:
            kind = {"param": "parameter", "let": "let-bound value"}.get(self.env[name].kind,
                                                                        self.env[name].kind)
            hint = f"'{name}' is {_article(kind)} {kind}, not an op"
        else:
            names = list(registry.OPS) + [op.short_name for op in registry.OPS.values()]
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"did you mean '{close[0]}'?" if close \
                else "ops: " + ", ".join(sorted(op.short_name for op in registry.OPS.values()))
        raise self.parse_error(f"unknown op '{name}'", name_tok, hint=hint)

    def attribute(self, opdef: registry.OpDef, a: registry.Attr, expr: Tree) -> Any:
        v = self.expr(expr)
        if isinstance(v, Value):
            raise self.type_error(f"attribute '{a.name}' of {opdef.name} must be a constant, "
                                  f"but it is a tensor", expr,
                                  hint=f"'{a.name}' is {_KIND_WORDS.get(a.kind, a.kind)}")
        # Compile-time arithmetic can give a whole float (2.0 * 8 = 16.0): accept it where
        # an integer is expected.
        if a.kind == "int" and isinstance(v, float) and v.is_integer():
            v = int(v)
        if a.kind in ("ints", "shape") and isinstance(v, list):
            v = [int(x) if isinstance(x, float) and x.is_integer() else x for x in v]
        try:
            return registry.coerce_attr(opdef.name, a, v)
        except registry.ShapeError as e:
            hint = f"'{a.name}' is {_KIND_WORDS.get(a.kind, a.kind)}"
            if a.choices:
                hint += "; one of " + ", ".join(map(_show, a.choices))
            if a.doc:
                hint += f" ({a.doc})"
            raise self.type_error(str(e), expr, hint=hint) from None

    def create(self, name: str, operands: list[Value], attrs: dict, at: Token,
               multi: bool = False) -> Any:
        """Build one op located at token `at`; its single result (or a tuple if `multi`)."""
        loc = self.loc(at)
        try:
            op = self.builder.create(name, operands, attrs, loc)
        except TypeCheckError as e:
            # Name the op once, in full: "nn.layernorm: bias [4] must ...".
            msg = e.message
            short = name.split(".", 1)[1]
            if msg.startswith(f"{short}:"):
                msg = msg[len(short) + 1:].lstrip()
            if not msg.startswith(name):
                msg = f"{name}: {msg}"
            kinds = ", ".join(str(v.type) for v in operands)
            raise TypeCheckError(msg, loc, hint=f"operand types: {kinds}",
                                 width=self.width(at)) from None
        return tuple(op.results) if multi else op.result

    def literal(self, v: int | float | bool, dtype: str | None, item: Tree | Token) -> Value:
        """A number used as a tensor: a scalar constant of the partner's dtype.

        With no tensor partner a float becomes f32 and an integer i64. Equal literals
        share one constant, named after the value (``@lit.f32.0.5``).
        """
        if dtype is None:
            dtype = "bool" if isinstance(v, bool) else ("i64" if isinstance(v, int) else "f32")
        self.check_fits(v, dtype, item, "the number")
        if dtype in FLOAT_DTYPES:
            text = repr(float(v))
        elif dtype == "bool":
            text = str(bool(v)).lower()
        else:
            text = str(int(v))
        base = f"lit.{dtype}.{text.replace('+', '')}"
        name = base
        i = 1
        taken = self.param_names | {v.name for v in self.module.inputs}
        while name in taken:
            name = f"{base}.{i}"
            i += 1
        if name in self.module.constants:
            return self.module.constants[name]
        return self.module.add_constant(name, np.asarray(v, dtype=DTYPES[dtype]),
                                        type=TensorType((), dtype))


# ----------------------------------------------------------------------------
# Small helpers


def _number(text: str) -> int | float:
    if text.isdigit():
        return int(text)
    return float(text)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _show(v: Any) -> str:
    """A compile-time value as the DSL would write it, for messages."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, list):
        return "[" + ", ".join(_show(x) for x in v) + "]"
    if isinstance(v, Value):
        return f"a tensor {v.type}"
    return repr(v)


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _type_diff_hint(want: TensorType, got: TensorType) -> str:
    if want.dtype != got.dtype:
        return f"the dtypes differ: {want.dtype} vs {got.dtype}"
    if want.rank != got.rank:
        return f"the ranks differ: {want.rank} vs {got.rank}"
    diffs = [f"dim {i}: {w} vs {g}" for i, (w, g) in enumerate(zip(want.shape, got.shape))
             if w != g]
    hint = "; ".join(diffs)
    if any(isinstance(w, str) or isinstance(g, str) for w, g in zip(want.shape, got.shape)
           if w != g):
        hint += " (symbolic dims must match by name)"
    return hint


def _init_signature(kind: str) -> str:
    params = ", ".join(p.rstrip("?") + ("=..." if p.endswith("?") else "")
                       for p in _INITIALIZERS[kind])
    return f"usage: {kind}({params})"


def _keyword_hint(opdef: registry.OpDef, key: str) -> str:
    attrs = list(opdef.attr_map)
    operands = [o.rstrip("?*") for o in opdef.operands]
    close = difflib.get_close_matches(key, attrs + operands, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    hint += f"attributes of {opdef.short_name}: {', '.join(attrs) if attrs else 'none'}"
    return hint
