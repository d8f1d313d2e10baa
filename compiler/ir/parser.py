"""Parse the textual IR (`.wir`, see docs/ir.md) into a Module.

The syntax is `grammar/ir.lark` (LALR, contextual lexer). `_Reader` walks the
parse tree top to bottom and builds the Module directly: names are resolved
as they are defined, every op goes through the registry
(`compiler.ir.builder.infer_types`) so its attributes are normalized, and the
result types written in the text must equal the inferred ones (up to a sparse
encoding, which passes choose). Every failure is a `ParseError` located at the
offending token; syntax errors are classified by their context (`_HINTS`)
into sentences such as "expected ':' and a type after the value name".
"""
from __future__ import annotations

import base64
import binascii
import difflib
import functools
import json
import re
from importlib import resources
from typing import Any

import lark
import numpy as np
from lark import Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ..errors import ParseError, TypeCheckError
from ..ops import registry
from .builder import infer_types
from .core import Module, Op, Value
from .location import Location
from .printer import print_type
from .types import DTYPES, FLOAT_DTYPES, SparseEncoding, TensorType


@functools.cache
def _lark() -> lark.Lark:
    grammar = resources.files("grammar").joinpath("ir.lark").read_text(encoding="utf-8")
    return lark.Lark(grammar, parser="lalr", start=["start", "type_only"],
                     propagate_positions=True, maybe_placeholders=False)


def parse_module(text: str, filename: str = "<string>") -> Module:
    """Parse one module; raise `ParseError` (with file:line:col) on any problem."""
    tree = _parse(text, filename, "start")
    return _Reader(text, filename).module_from(tree)


def parse_type(text: str) -> TensorType:
    """Parse a type such as ``f32[N, 784]`` or ``f32[4, 4] #csr(nnz=3)``."""
    tree = _parse(text, "<string>", "type_only")
    return _Reader(text, "<string>").type_from(tree.children[0])


# --------------------------------------------------------------------------
# Syntax errors

# Sentences for the places where a generic "expected X or Y" would be cryptic.
# Each example fails at the place its sentence explains; `_state_hints` maps
# the fingerprint of each failure (`_hint_key`) to the sentence, and a syntax
# error with the same fingerprint gets it (tests/ir/test_ir_parser_errors.py
# checks that every example is classified as its own sentence).
_M = "module @m {{ {} }}"
_F = "module @m {{ func @main(%x: f32[]) -> (y: f32[]) {{ {} }} }}"
_HINTS: list[tuple[str, list[str]]] = [
    ("a .wir file starts with 'module @name {'", ["func", "x", ""]),
    ("expected a module name like @main after 'module'", ["module m {"]),
    ("expected 'const @name : TYPE = VALUE' or 'func @main(...)'",
     [_M.format("%x"), _M.format("const @w : f32[] = dense<1.0> %x")]),
    ("expected ':' and a type after the constant name", [_M.format("const @w f32[]")]),
    ("expected a type like f32[N, 784]",
     [_M.format("const @w : = dense<1.0>"), "module @m { func @main(%x: ) -> () { return } }",
      "module @m { func @main() -> (y: ) { return } }", _F.format("%y = nn.relu(%x) : )"),
      _F.format("%y, %z = nn.relu(%x) : f32[], )")]),
    ("expected '[' and the dims after the dtype (f32[] is a scalar)",
     [_M.format("const @w : f32 = dense<1.0>"), "module @m { func @main(%x: f32) -> () { return } }",
      "module @m { func @main() -> (y: f32) { return } }", _F.format("%y = nn.relu(%x) : f32")]),
    ("expected a dim: an integer or a symbol like N",
     [_M.format("const @w : f32[,] = dense<1.0>"), _M.format("const @w : f32[2,] = dense<1.0>")]),
    ("expected '=' and the constant's value (dense<...> or dense_resource<...>)",
     [_M.format("const @w : f32[] dense<1.0>"), _M.format("const @w : f32[] sparsity(0.5) dense<1.0>")]),
    ("expected dense<...>, dense<elided> or dense_resource<KEY>", [_M.format("const @w : f32[] = 1.0")]),
    ("expected a literal: a number, true, false, a [list] or 'elided'",
     [_M.format("const @w : f32[] = dense<x>")]),
    ("expected a number, true, false or a [list]", [_M.format("const @w : f32[1] = dense<[x]>")]),
    ("expected 'func @main(' after the constants", [_M.format("func main(")]),
    ("expected an input like %x: f32[N, 784], or ')'", ["module @m { func @main(x: f32[]) -> () { return } }"]),
    ("expected ':' and a type after the value name",
     ["module @m { func @main(%x f32[]) -> () { return } }"]),
    ("expected ',' or ')' after the input", ["module @m { func @main(%x: f32[] %y: f32[]) -> () { return } }"]),
    ("expected '->' and the named outputs, like -> (y: f32[N, 10])",
     ["module @m { func @main(%x: f32[]) { return } }"]),
    ("expected '(' and the named outputs, like -> (y: f32[N, 10])",
     ["module @m { func @main(%x: f32[]) -> f32[] { return } }"]),
    ("expected a named output like y: f32[N, 10], or ')'",
     ["module @m { func @main(%x: f32[]) -> (%y: f32[]) { return } }"]),
    ("expected ':' after the output name",
     ["module @m { func @main(%x: f32[]) -> (y f32[]) { return } }", _F.format("return y %x")]),
    ("expected an op like '%y = nn.relu(%x) : f32[N]', or 'return'",
     [_F.format("nn.relu(%x)"), "module @m { func @main() -> () }"]),
    ("expected the next op, or 'return'",
     [_F.format("%y = nn.relu(%x) : f32[] nn.relu(%y)"),
      _F.format("%y = nn.relu(%x) : f32[] loc(\"a\") nn.relu(%y)")]),
    ("expected '=' (or ',' and more result names) after the result name", [_F.format("%y nn.relu(%x)")]),
    ("expected a result name like %y", [_F.format("%y, = nn.relu(%x)")]),
    ("expected an op name like nn.relu after '='", [_F.format("%y = %x")]),
    ("expected '(' and the operands after the op name", [_F.format("%y = nn.relu %x")]),
    ("expected an operand: a %value or a @constant", [_F.format("%y = nn.relu(x)"),
                                                       _F.format("%y = math.add(%x, x)")]),
    ("expected ':' and the result types after the operands (attributes go in {...} before ':')",
     [_F.format("%y = nn.relu(%x) f32[]"), _F.format("%y = nn.relu(%x) {} f32[]")]),
    ("expected an attribute like axis = 1, or '}'", [_F.format("%y = nn.relu(%x) {1} : f32[]")]),
    ("expected '=' and a value after the attribute name", [_F.format("%y = nn.relu(%x) {a 1} : f32[]")]),
    ("expected an attribute value: a number, a string, true, false or a [list]",
     [_F.format("%y = nn.relu(%x) {a = b} : f32[]"), _F.format("%y = nn.relu(%x) {a = [b]} : f32[]")]),
    ("expected ',' or '}' after the attribute", [_F.format("%y = nn.relu(%x) {a = 1 b = 2} : f32[]")]),
    ("expected a location: \"file\":LINE:COL, \"name\" or fused[...]",
     [_F.format("%y = nn.relu(%x) : f32[] loc(x)"), _F.format("%y = nn.relu(%x) : f32[] loc(fused[x])")]),
    ("expected 'name: %value' for each output (outputs are named)", [_F.format("return %x")]),
    ("expected '}' to close the module", ["module @m { func @main() -> () { return } x"]),
    ("expected 'resources {' or the end of the file",
     ["module @m { func @main() -> () { return } } x"]),
    ("expected resource entries like 'name: \"base64:...\"', or '}'",
     ["module @m { func @main() -> () { return } } resources { @w }"]),
]

_TERMINAL_WORDS = {
    "VALUE": "a value like %x", "CONST": "a constant like @w", "NAME": "a name",
    "STRING": "a quoted string", "INT": "an integer", "FLOAT": "a number",
    "SPECIAL_FLOAT": "inf or nan", "ENCODING": "a sparse encoding like #csr(nnz=10)",
    "KEY": "a resource key", "$END": "the end of the file",
}


def _accepts(e: UnexpectedInput) -> frozenset[str]:
    """The terminals the parser would take at the error (exact, unlike LALR lookaheads)."""
    ip = getattr(e, "interactive_parser", None)
    if ip is not None:
        try:
            return frozenset(ip.accepts())
        except Exception:  # noqa: BLE001 - fall back to the state's lookahead set
            pass
    return frozenset(getattr(e, "expected", None) or getattr(e, "allowed", None) or ())


def _hint_key(e: UnexpectedInput) -> tuple[frozenset[str], str | None]:
    # What the parser would accept next, and the kind of token it saw last: a
    # fingerprint of the context that, unlike the LALR state number, does not
    # depend on details such as whether a type had dims.
    # A type ends with ']' or with its optional encoding: the same place.
    history = getattr(e, "token_history", None) or [None]
    last = history[-1].type if history[-1] is not None else None
    return _accepts(e) - {"ENCODING"}, "RSQB" if last == "ENCODING" else last


@functools.cache
def _state_hints() -> dict[tuple[frozenset[str], str | None], str]:
    table: dict[tuple[frozenset[str], str | None], str] = {}
    for message, examples in _HINTS:
        for example in examples:
            try:
                _lark().parse(example, start="start")
            except UnexpectedInput as e:
                table.setdefault(_hint_key(e), message)
    return table


def classify_syntax_error(e: UnexpectedInput) -> str | None:
    """The sentence of `_HINTS` for this error's context, if there is one."""
    return _state_hints().get(_hint_key(e))


def _describe_expected(names: set[str]) -> str:
    if "FLOAT" in names:
        names = names - {"INT", "SPECIAL_FLOAT"}
    words = []
    for n in names:
        if n in _TERMINAL_WORDS:
            words.append(_TERMINAL_WORDS[n])
        else:
            try:
                words.append(f"'{_lark().get_terminal(n).pattern.value}'")
            except KeyError:
                words.append(n)
    words.sort()
    if not words:
        return "something else"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _end_position(text: str) -> tuple[int, int]:
    """Line and column just after the last non-blank character."""
    stripped = text.rstrip()
    line = stripped.count("\n") + 1
    col = len(stripped) - (stripped.rfind("\n") + 1) + 1
    return line, col


def _parse(text: str, filename: str, start: str) -> Tree:
    try:
        return _lark().parse(text, start=start)
    except UnexpectedInput as e:
        raise _syntax_error(e, text, filename) from None


def _syntax_error(e: UnexpectedInput, text: str, filename: str) -> ParseError:
    width = 1
    if isinstance(e, UnexpectedCharacters):
        line, col = e.line, e.column
        char = text[e.pos_in_stream] if e.pos_in_stream < len(text) else ""
        if char == '"':
            loc = Location(filename, line, col, source_text=text)
            return ParseError("unterminated string (strings end on the same line)", loc)
        found = repr(char)
    elif isinstance(e, (UnexpectedToken, UnexpectedEOF)) and getattr(e, "token", None) is not None \
            and e.token.type != "$END":
        line, col = e.token.line, e.token.column
        found = repr(e.token.value if len(e.token.value) <= 24 else e.token.value[:21] + "...")
        width = len(e.token.value)
    else:  # the end of the input
        line, col = _end_position(text)
        found = "the end of the file"
    message = classify_syntax_error(e) or "expected " + _describe_expected(set(_accepts(e)))
    loc = Location(filename, line, col, source_text=text)
    return ParseError(f"{message}, found {found}", loc, width=max(1, min(width, 40)))


# --------------------------------------------------------------------------
# The tree walker

_ENCODING_RE = re.compile(r"#([A-Za-z_][A-Za-z0-9_]*)\(\s*nnz\s*=\s*([0-9]+)\s*\)")


class _Reader:
    """Builds a Module from a parse tree, resolving names as it goes."""

    def __init__(self, text: str, filename: str) -> None:
        self.text = text
        self.filename = filename
        self.module = Module()
        self.values: dict[str, tuple[Value, Token]] = {}     # %name -> (value, where defined)
        self.const_tokens: dict[str, Token] = {}             # @name -> where defined
        self.resources: dict[str, tuple[bytes, Token]] = {}  # key -> (raw bytes, where)

    # -- errors --------------------------------------------------------------
    def error(self, message: str, at: Token | Tree, hint: str | None = None) -> ParseError:
        if isinstance(at, Token):
            line, col, width = at.line, at.column, len(at.value)
        elif at.meta.empty:  # a rule that matched no text (cannot happen with this grammar)
            line, col, width = None, None, 1
        else:
            line, col = at.meta.line, at.meta.column
            one_line = at.meta.line == at.meta.end_line
            width = at.meta.end_pos - at.meta.start_pos if one_line else 1
        loc = Location(self.filename, line, col, source_text=self.text)
        return ParseError(message, loc, hint=hint, width=max(1, min(width, 40)))

    def string(self, tok: Token) -> str:
        try:
            return json.loads(tok.value)
        except json.JSONDecodeError:
            raise self.error(f"invalid escape in string {tok.value}", tok,
                             hint='strings use JSON escapes: \\" \\\\ \\n \\t \\uXXXX') from None

    def const_name(self, tok: Token) -> str:
        body = tok.value[1:]
        return self.string(Token("STRING", body, line=tok.line, column=tok.column + 1)) \
            if body.startswith('"') else body

    # -- module --------------------------------------------------------------
    def module_from(self, tree: Tree) -> Module:
        module_node, *rest = tree.children
        for node in rest:
            self.read_resources(node)
        name_tok, *items = module_node.children
        self.module.name = self.const_name(name_tok)
        for item in items:
            if item.data == "const_decl":
                self.read_const(item)
            else:
                self.read_func(item)
        return self.module

    def read_resources(self, node: Tree) -> None:
        for res in node.children:
            key_node, value_tok = res.children
            key_tok = key_node.children[0]
            key = self.string(key_tok) if key_tok.type == "STRING" else key_tok.value
            if key in self.resources:
                raise self.error(f"resource {key!r} is given twice", key_tok)
            blob = self.string(value_tok)
            if not blob.startswith("base64:"):
                raise self.error("resource data must be a string \"base64:...\"", value_tok)
            try:
                raw = base64.b64decode(blob[len("base64:"):], validate=True)
            except (binascii.Error, ValueError):
                raise self.error(f"resource {key!r} is not valid base64", value_tok) from None
            self.resources[key] = (raw, value_tok)

    # -- constants -----------------------------------------------------------
    def read_const(self, node: Tree) -> None:
        name_tok, type_node, *rest = node.children
        name = self.const_name(name_tok)
        if name in self.const_tokens:
            prev = self.const_tokens[name]
            raise self.error(f"constant @{name} is already defined (line {prev.line})", name_tok)
        ctype = self.type_from(type_node)
        if not ctype.is_static:
            raise self.error(f"constant @{name} must have a static shape, not "
                             f"{print_type(ctype)}", type_node)
        sparsity = None
        if rest[0].data == "sparsity":
            num = rest.pop(0).children[0]
            sparsity = float(self.number(num))
            if not 0.0 <= sparsity < 1.0:
                raise self.error(f"sparsity must be in [0, 1), got {num.children[0].value}", num)
        value = rest[0]
        if value.data == "elided_value":
            data = None
        elif value.data == "dense_value":
            data = self.literal_array(value.children[0], ctype, name)
        else:
            data = self.resource_array(value.children[0], ctype, name)
        self.module.add_constant(name, data, sparsity=sparsity, type=ctype)
        self.const_tokens[name] = name_tok

    def resource_array(self, key_node: Tree, ctype: TensorType, name: str):
        key_tok = key_node.children[0]
        key = self.string(key_tok) if key_tok.type == "STRING" else key_tok.value
        if key not in self.resources:
            close = difflib.get_close_matches(key, list(self.resources), n=1)
            hint = f"did you mean {close[0]!r}?" if close else \
                "the data goes in a trailing 'resources { KEY: \"base64:...\" }' block"
            raise self.error(f"no resource {key!r} in the resources block", key_tok, hint=hint)
        raw, where = self.resources[key]
        want = ctype.numel * ctype.itemsize
        if len(raw) != want:
            raise self.error(f"resource {key!r} has {len(raw)} bytes, but @{name} of type "
                             f"{print_type(ctype)} needs {want}", where)
        data = np.frombuffer(raw, dtype=ctype.np_dtype.newbyteorder("<"))
        if ctype.dtype == "bool" and np.frombuffer(raw, dtype=np.uint8).max(initial=0) > 1:
            raise self.error(f"resource {key!r}: bool data must be bytes 0 or 1", where)
        return data.astype(ctype.np_dtype).reshape(ctype.shape)

    def literal_array(self, node: Tree, ctype: TensorType, name: str):
        shape = ctype.shape
        if node.data != "lit_list" and shape != ():
            scalars = [node]  # a splat: one value for every element
        else:
            scalars = []
            self.check_nesting(node, shape, ctype, name, scalars)
        values = [self.scalar(s, ctype.dtype) for s in scalars]
        with np.errstate(over="ignore"):
            flat = np.array(values, dtype=ctype.np_dtype)
        if ctype.dtype in FLOAT_DTYPES:
            for s, x in zip(scalars, flat):
                if np.isinf(x) and self.leaf_text(s).lstrip("-") != "inf":
                    text = self.leaf_text(s)
                    text = text if len(text) <= 24 else text[:21] + "..."
                    raise self.error(f"{text} is out of range for {ctype.dtype}", s)
        if len(scalars) == 1 and shape != ():
            return np.full(shape, flat[0], dtype=ctype.np_dtype)
        return flat.reshape(shape)

    def check_nesting(self, node: Tree, dims: tuple, ctype: TensorType, name: str,
                      out: list[Tree]) -> None:
        """Collect the scalar leaves of `node`, checking it has exactly the shape `dims`."""
        if not dims:
            if node.data == "lit_list":
                raise self.error(f"constant @{name}: expected a scalar here, found a list "
                                 f"(the type is {print_type(ctype)})", node)
            out.append(node)
            return
        if node.data != "lit_list":
            raise self.error(f"constant @{name}: expected a list of {dims[0]} here, found a scalar "
                             f"(the type is {print_type(ctype)})", node)
        if len(node.children) != dims[0]:
            raise self.error(f"constant @{name}: expected {dims[0]} elements here, found "
                             f"{len(node.children)} (the type is {print_type(ctype)})", node)
        for child in node.children:
            self.check_nesting(child, dims[1:], ctype, name, out)

    def leaf_text(self, node: Tree) -> str:
        if node.data == "lit_number":
            return node.children[0].children[0].value
        return "true" if node.data == "lit_true" else "false"

    def scalar(self, node: Tree, dtype: str) -> Any:
        """One literal element converted for `dtype` (range-checked for integers)."""
        if dtype == "bool":
            if node.data == "lit_number":
                raise self.error(f"expected true or false for a bool constant, "
                                 f"found {self.leaf_text(node)}", node)
            return node.data == "lit_true"
        if node.data != "lit_number":
            raise self.error(f"expected a number for a {dtype} constant, found {self.leaf_text(node)}",
                             node)
        tok = node.children[0].children[0]
        if dtype in FLOAT_DTYPES:
            return float(tok.value)
        if tok.type != "INT":
            raise self.error(f"expected an integer for a {dtype} constant, found {tok.value}", tok)
        v = self.integer(tok)
        info = np.iinfo(DTYPES[dtype])
        if not info.min <= v <= info.max:
            raise self.error(f"{v} is out of range for {dtype} ({info.min} to {info.max})", tok)
        return v

    def number(self, node: Tree) -> float | int:
        tok = node.children[0]
        return self.integer(tok) if tok.type == "INT" else float(tok.value)

    def integer(self, tok: Token) -> int:
        # Python refuses to convert strings of more than 4300 digits; no IR integer needs 40.
        if len(tok.value.lstrip("-")) > 40:
            raise self.error(f"integer {tok.value[:20]}... is too large", tok)
        return int(tok.value)

    # -- types ---------------------------------------------------------------
    def type_from(self, node: Tree) -> TensorType:
        dtype_tok, *rest = node.children
        if dtype_tok.value not in DTYPES:
            close = difflib.get_close_matches(dtype_tok.value, list(DTYPES), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise self.error(f"unknown dtype {dtype_tok.value!r}", dtype_tok,
                             hint=f"{hint}dtypes: {', '.join(DTYPES)}")
        dims: list[int | str] = []
        encoding = None
        for item in rest:
            if isinstance(item, Token):  # the ENCODING suffix
                m = _ENCODING_RE.fullmatch(item.value)
                if not m:
                    raise self.error(f"bad sparse encoding {item.value}", item,
                                     hint="write it as #FORMAT(nnz=COUNT), e.g. #csr(nnz=100)")
                if len(m.group(2)) > 40:
                    raise self.error("nnz is too large", item)
                encoding = SparseEncoding(m.group(1), int(m.group(2)))
                continue
            tok = item.children[0]
            if tok.type == "INT":
                if tok.value.startswith("-"):
                    raise self.error(f"dims are non-negative, got {tok.value}", tok)
                dims.append(self.integer(tok))
            else:
                dims.append(self.string(tok) if tok.type == "STRING" else tok.value)
        return TensorType(tuple(dims), dtype_tok.value, encoding)

    # -- the function ----------------------------------------------------------
    def read_func(self, node: Tree) -> None:
        name_tok, *items = node.children
        if self.const_name(name_tok) != "main":
            raise self.error(f"the function must be called @main, not {name_tok.value}", name_tok)
        outputs: list[tuple[str, TensorType, Tree]] = []
        for item in items:
            if item.data == "arg":
                tok, type_node = item.children
                value = Value(self.type_from(type_node), tok.value[1:])
                self.define(tok, value)
                self.module.inputs.append(value)
            elif item.data == "out_decl":
                name_node, type_node = item.children
                name = self.out_name(name_node)
                if any(name == o[0] for o in outputs):
                    raise self.error(f"output {name!r} is declared twice", name_node)
                outputs.append((name, self.type_from(type_node), name_node))
            elif item.data == "op":
                self.read_op(item)
            else:
                self.read_return(item, outputs)

    def out_name(self, node: Tree) -> str:
        tok = node.children[0]
        return self.string(tok) if tok.type == "STRING" else tok.value

    def define(self, tok: Token, value: Value) -> None:
        name = tok.value[1:]
        if name in self.values:
            prev = self.values[name][1]
            raise self.error(f"%{name} is already defined (line {prev.line}:{prev.column})", tok,
                             hint="every SSA value is defined once; give the new value another name")
        self.values[name] = (value, tok)

    def operand(self, node: Tree) -> Value:
        tok = node.children[0]
        if tok.type == "CONST":
            name = self.const_name(tok)
            if name not in self.module.constants:
                close = difflib.get_close_matches(name, list(self.module.constants), n=1)
                raise self.error(f"undefined constant @{name}", tok,
                                 hint=f"did you mean @{close[0]}?" if close else
                                 "constants are declared with 'const @name : TYPE = ...' before func")
            return self.module.constants[name]
        name = tok.value[1:]
        if name not in self.values:
            close = difflib.get_close_matches(name, list(self.values), n=1)
            raise self.error(f"undefined value %{name}", tok,
                             hint=f"did you mean %{close[0]}?" if close else
                             "values are defined by inputs or by earlier ops")
        return self.values[name][0]

    def read_op(self, node: Tree) -> None:
        children = list(node.children)
        result_toks: list[Token] = []
        while children[0].type == "VALUE":
            result_toks.append(children.pop(0))
        name_tok = children.pop(0)
        operands = [self.operand(c) for c in children if c.data == "operand"]
        attrs_node = next((c for c in children if c.data == "attrs"), None)
        type_nodes = [c for c in children if c.data == "type"]
        loc_node = next((c for c in children if c.data in ("loc", "fused_loc")), None)

        full = self.op_name(name_tok)
        attrs = self.attrs(attrs_node) if attrs_node is not None else {}
        loc = self.location(loc_node) if loc_node is not None else Location()
        try:
            full, attrs, inferred = infer_types(full, [v.type for v in operands], attrs, loc)
        except TypeCheckError as e:
            raise self.error(e.message, name_tok) from None
        written = [self.type_from(t) for t in type_nodes]
        if len(result_toks) != len(inferred):
            raise self.error(f"{full} has {len(inferred)} result(s), but {len(result_toks)} "
                             f"name(s) are given", result_toks[0])
        if len(written) != len(result_toks):
            raise self.error(f"{len(result_toks)} result(s) but {len(written)} type(s) after ':'",
                             type_nodes[-1])
        for t, want, tnode in zip(written, inferred, type_nodes):
            if t.with_encoding(None) != want.with_encoding(None):
                raise self.error(f"result type {print_type(t)} does not match the type "
                                 f"{print_type(want)} that {full} infers", tnode)
        op = Op(full, operands, attrs, [], loc)
        for tok, t in zip(result_toks, written):
            value = Value(t, tok.value[1:], op)
            self.define(tok, value)
            op.results.append(value)
        self.module.ops.append(op)

    def op_name(self, tok: Token) -> str:
        name = tok.value
        if name in registry.OPS:
            return name
        if "." not in name:
            try:
                full = registry.get_op(name).name
            except KeyError:
                pass
            else:
                raise self.error(f"op names are written in full: {full}, not {name}", tok)
        close = difflib.get_close_matches(name, list(registry.OPS), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else None
        raise self.error(f"unknown op {name!r}", tok, hint=hint)

    def attrs(self, node: Tree) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for attr in node.children:
            name_tok, value_node = attr.children
            if name_tok.value in out:
                raise self.error(f"attribute {name_tok.value!r} is given twice", name_tok)
            out[name_tok.value] = self.attr_value(value_node)
        return out

    def attr_value(self, node: Tree) -> Any:
        kind = node.data
        if kind == "attr_number":
            return self.number(node.children[0])
        if kind == "attr_string":
            return self.string(node.children[0])
        if kind == "attr_list":
            return [self.attr_value(c) for c in node.children]
        return kind == "attr_true"

    def location(self, node: Tree) -> Location:
        items = [self.loc_item(c) for c in node.children]
        if node.data == "fused_loc":
            return Location(fused=tuple(items))
        return items[0]

    def loc_item(self, node: Tree) -> Location:
        strings = [self.string(t) for t in node.children if t.type == "STRING"]
        # Lines and columns are 1-based; 0 means "not known".
        ints = [self.integer(t) or None for t in node.children if t.type == "INT"] + [None, None]
        if node.data == "name_loc":
            return Location(name=strings[0])
        if node.data == "file_loc":
            return Location(strings[0], ints[0], ints[1])
        return Location(strings[1], ints[0], ints[1], name=strings[0])

    def read_return(self, node: Tree, outputs: list[tuple[str, TensorType, Tree]]) -> None:
        items = node.children
        for i, item in enumerate(items):
            name_node, operand_node = item.children
            name = self.out_name(name_node)
            if i >= len(outputs):
                raise self.error(f"return gives output {name!r}, which the signature does not "
                                 f"declare", name_node)
            want_name, want_type, _ = outputs[i]
            if name != want_name:
                raise self.error(f"return item {i + 1} is {name!r}, but the signature declares "
                                 f"{want_name!r} here", name_node)
            value = self.operand(operand_node)
            if value.type != want_type:
                raise self.error(f"output {name!r} is declared {print_type(want_type)}, but "
                                 f"the value returned has type {print_type(value.type)}",
                                 operand_node)
            self.module.outputs[name] = value
        if len(items) < len(outputs):
            missing = ", ".join(repr(o[0]) for o in outputs[len(items):])
            raise self.error(f"return does not give output(s) {missing}", node)
