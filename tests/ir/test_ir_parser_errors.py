"""Bad IR text gives a located ParseError with a readable message, never a lark traceback."""
from __future__ import annotations

import pytest
from lark.exceptions import UnexpectedInput

from compiler.errors import ParseError
from compiler.ir.parser import _HINTS, _lark, classify_syntax_error, parse_module, parse_type

HEAD = ("module @m {\n"
        "  const @w : f32[2] = dense<[1.0, 2.0]>\n"
        "  func @main(%x: f32[2]) -> (y: f32[2]) {\n")
TAIL = "\n    return y: %x\n  }\n}\n"


def body(line: str) -> str:
    """A module whose fourth line is `line` (an op inside @main)."""
    return HEAD + line + TAIL


def no_func(const_line: str) -> str:
    """A module whose second line is `const_line`."""
    return "module @m {\n" + const_line + "\n  func @main() -> () {\n    return\n  }\n}\n"


def error_of(text: str, filename: str = "t.wir") -> ParseError:
    with pytest.raises(ParseError) as info:
        parse_module(text, filename)
    return info.value


# (text, line, col, part of the message, part of the hint or None)
CASES = {
    "missing colon": ("module @m {\n  func @main(%x f32[2]) -> () {\n    return\n  }\n}\n", 2, 17,
                      "expected ':' and a type after the value name, found 'f32'", None),
    "undefined value": (body("    %y = nn.relu(%z) : f32[2]"), 4, 18, "undefined value %z", None),
    "undefined value close": (body("    %y = nn.relu(%xx) : f32[2]"), 4, 18, "undefined value %xx",
                              "did you mean %x?"),
    "undefined constant": (body("    %y = math.add(%x, @ww) : f32[2]"), 4, 23,
                           "undefined constant @ww", "did you mean @w?"),
    "redefinition": (body("    %x = nn.relu(%x) : f32[2]"), 4, 5,
                     "%x is already defined (line 3:14)", "defined once"),
    "redefined input": ("module @m {\n  func @main(%x: f32[], %x: f32[]) -> () {\n    return\n  }\n}\n",
                        2, 25, "%x is already defined", None),
    "unknown op": (body("    %y = nn.relux(%x) : f32[2]"), 4, 10, "unknown op 'nn.relux'",
                   "did you mean nn.relu"),
    "short op name": (body("    %y = relu(%x) : f32[2]"), 4, 10,
                      "op names are written in full: nn.relu, not relu", None),
    "bad dtype": (body("    %y = nn.relu(%x) : f31[2]"), 4, 24, "unknown dtype 'f31'",
                  "did you mean 'f32'?"),
    "result type": (body("    %y = nn.relu(%x) : f32[3]"), 4, 24,
                    "result type f32[3] does not match the type f32[2] that nn.relu infers", None),
    "arity": (body("    %y = nn.relu(%x, %x) : f32[2]"), 4, 10, "nn.relu takes 1 operands", None),
    "unknown attribute": (body("    %y = math.reduce_sum(%x) {keepdim = true} : f32[]"), 4, 10,
                          "has no attribute 'keepdim' (did you mean 'keepdims'?)", None),
    "attribute kind": (body("    %y = math.reduce_sum(%x) {keepdims = 1} : f32[]"), 4, 10,
                       "attribute 'keepdims' must be true or false", None),
    "duplicate attribute": (body("    %y = math.reduce_sum(%x) {axes = [0], axes = [0]} : f32[]"),
                            4, 43, "attribute 'axes' is given twice", None),
    "shape error": (body("    %y = math.add(%x, @v) : f32[2]").replace(
        "  func", "  const @v : f32[3] = dense<0.0>\n  func"), 5, 10, "do not broadcast", None),
    "too many result names": (body("    %y, %z = nn.relu(%x) : f32[2], f32[2]"), 4, 5,
                              "nn.relu has 1 result(s), but 2 name(s) are given", None),
    "too many types": (body("    %y = nn.relu(%x) : f32[2], f32[2]"), 4, 32,
                       "1 result(s) but 2 type(s) after ':'", None),
    "bad literal nesting": (no_func("  const @w : f32[2, 2] = dense<[[1.0, 2.0], [3.0]]>"), 2, 45,
                            "constant @w: expected 2 elements here, found 1", None),
    "literal scalar vs list": (no_func("  const @w : f32[2, 2] = dense<[1.0, 2.0]>"), 2, 33,
                               "expected a list of 2 here, found a scalar", None),
    "int out of range": (no_func("  const @w : u8[2] = dense<[1, 300]>"), 2, 32,
                         "300 is out of range for u8 (0 to 255)", None),
    "i64 out of range": (no_func("  const @w : i64[] = dense<9223372036854775808>"), 2, 28,
                         "out of range for i64", None),
    "float overflow": (no_func("  const @w : f16[2] = dense<[1, 1e6]>"), 2, 33,
                       "1e6 is out of range for f16", None),
    "bool literal": (no_func("  const @w : bool[2] = dense<[1, 0]>"), 2, 31,
                     "expected true or false for a bool constant, found 1", None),
    "float for int": (no_func("  const @w : i32[2] = dense<[1, 0.5]>"), 2, 33,
                      "expected an integer for a i32 constant, found 0.5", None),
    "sparsity range": (no_func("  const @w : f32[2] sparsity(1.0) = dense<1.0>"), 2, 30,
                       "sparsity must be in [0, 1), got 1.0", None),
    "symbolic constant": (no_func("  const @w : f32[N] = dense<elided>"), 2, 14,
                          "constant @w must have a static shape", None),
    "duplicate constant": (no_func("  const @w : f32[] = dense<elided>\n  const @w : f32[] = dense<1.0>"),
                           3, 9, "constant @w is already defined (line 2)", None),
    "missing resource": (no_func("  const @w : f32[2] = dense_resource<ww>") +
                         'resources {\n  w: "base64:AAAAAAAAAAA="\n}\n', 2, 38,
                         "no resource 'ww' in the resources block", "did you mean 'w'?"),
    "bad base64": (no_func("  const @w : f32[2] = dense_resource<w>") + 'resources {\n  w: "base64:!!"\n}\n',
                   8, 6, "resource 'w' is not valid base64", None),
    "not base64": (no_func("  const @w : f32[2] = dense_resource<w>") + 'resources {\n  w: "hex:00"\n}\n',
                   8, 6, 'resource data must be a string "base64:..."', None),
    "resource size": (no_func("  const @w : f32[2] = dense_resource<w>") + 'resources {\n  w: "base64:AAAA"\n}\n',
                      8, 6, "resource 'w' has 3 bytes, but @w of type f32[2] needs 8", None),
    "duplicate resource": (no_func("  const @w : f32[1] = dense_resource<w>") +
                           'resources {\n  w: "base64:AAAAAA=="\n  w: "base64:AAAAAA=="\n}\n',
                           9, 3, "resource 'w' is given twice", None),
    "bad bool resource": (no_func("  const @w : bool[2] = dense_resource<w>") +
                          'resources {\n  w: "base64:AAI="\n}\n', 8, 6, "bool data must be bytes 0 or 1",
                          None),
    "wrong output name": (HEAD + "    return z: %x\n  }\n}\n", 4, 12,
                          "return item 1 is 'z', but the signature declares 'y' here", None),
    "wrong output type": (HEAD + "    %s = math.reduce_sum(%x) : f32[]\n    return y: %s\n  }\n}\n", 5, 15,
                          "output 'y' is declared f32[2], but the value returned has type f32[]", None),
    "missing output": (HEAD + "    return\n  }\n}\n", 4, 5, "return does not give output(s) 'y'", None),
    "extra output": (HEAD + "    return y: %x, z: %x\n  }\n}\n", 4, 19,
                     "return gives output 'z', which the signature does not declare", None),
    "duplicate output": ("module @m {\n  func @main(%x: f32[]) -> (y: f32[], y: f32[]) {\n"
                         "    return y: %x, y: %x\n  }\n}\n", 2, 39, "output 'y' is declared twice", None),
    "function name": ("module @m {\n  func @f() -> () {\n    return\n  }\n}\n", 2, 8,
                      "the function must be called @main, not @f", None),
    "bad encoding": (body("    %y = nn.relu(%x) : f32[2] #csr(n=3)"), 4, 31,
                     "bad sparse encoding #csr(n=3)", "#FORMAT(nnz=COUNT)"),
    "unclosed encoding": (body("    %y = nn.relu(%x) : f32[2] #csr(nnz=3"), 4, 31,
                          "bad sparse encoding #csr(nnz=3", "#FORMAT(nnz=COUNT)"),
    "negative dim": (body("    %y = nn.relu(%x) : f32[-2]"), 4, 28, "dims are non-negative, got -2", None),
    "bad escape": (body('    %y = nn.relu(%x) : f32[2] loc("a\\q")'), 4, 35,
                   'invalid escape in string "a\\q"', "JSON escapes"),
    "unterminated string": (body('    %y = nn.relu(%x) : f32[2] loc("abc)'), 4, 35,
                            "unterminated string", None),
    "stray character": (body("    %y = nn.relu(%x) : f32[2] ?"), 4, 31,
                        "expected the next op, or 'return', found '?'", None),
    "missing result types": (body("    %y = nn.relu(%x)"), 5, 5,
                             "expected ':' and the result types after the operands", None),
    "missing equals": (body("    %y nn.relu(%x) : f32[2]"), 4, 8,
                       "expected '=' (or ',' and more result names) after the result name", None),
    "bare operand": (body("    %y = nn.relu(x) : f32[2]"), 4, 18,
                     "expected an operand: a %value or a @constant, found 'x'", None),
    "unnamed return": (HEAD + "    return %x\n  }\n}\n", 4, 12,
                       "expected 'name: %value' for each output (outputs are named), found '%x'", None),
    "list in attribute": (body("    %y = math.reduce_sum(%x) {axes = [0 1]} : f32[]"), 4, 41,
                          "expected ',' or ']', found '1'", None),
    "missing brackets": (body("    %y = nn.relu(%x) : f32"), 5, 5,
                         "expected '[' and the dims after the dtype (f32[] is a scalar)", None),
    "end of file": (HEAD + "    %y = nn.relu(%x) : f32[2]\n", 4, 30, "found the end of the file", None),
    "empty text": ("", 1, 1, "a .wir file starts with 'module @name {', found the end of the file", None),
    "output without parens": ("module @m {\n  func @main() -> y: f32[] {\n    return\n  }\n}\n", 2, 19,
                              "expected '(' and the named outputs", None),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_parse_error_is_located(name):
    text, line, col, message, hint = CASES[name]
    e = error_of(text)
    assert (e.loc.file, e.loc.line, e.loc.col) == ("t.wir", line, col), e.format()
    assert message in e.message, e.format()
    if hint is not None:
        assert e.hint is not None and hint in e.hint, e.format()
    assert e.where == f"t.wir:{line}:{col}"


def test_error_renders_source_line_and_caret():
    e = error_of(body("    %y = nn.relux(%x) : f32[2]"))
    assert e.loc.source_text is not None
    assert e.format().splitlines()[:3] == [
        "t.wir:4:10: unknown op 'nn.relux'",
        "      %y = nn.relux(%x) : f32[2]",
        "           ^^^^^^^^",
    ]


def test_default_filename_and_source_text():
    text = "module @m {\n  func @main(%x f32[]) -> () {\n    return\n  }\n}\n"
    with pytest.raises(ParseError) as info:
        parse_module(text)
    assert info.value.loc.file == "<string>"
    assert info.value.loc.source_text == text
    assert "    func @main(%x f32[]) -> () {\n                  ^^^" in info.value.format()


def test_parse_type_errors():
    for text, col, message in [
        ("f32[N", 6, "expected ',' or ']'"),
        ("q8[2]", 1, "unknown dtype 'q8'"),
        ("f32[2] x", 8, "or the end of the file, found 'x'"),
        ("f32[2.5]", 6, "expected ',' or ']', found '.5'"),
    ]:
        with pytest.raises(ParseError) as info:
            parse_type(text)
        assert info.value.loc.col == col, info.value.format()
        assert message in info.value.message


def test_every_hint_example_is_classified_as_its_own_sentence():
    for message, examples in _HINTS:
        for example in examples:
            with pytest.raises(UnexpectedInput) as info:
                _lark().parse(example, start="start")
            assert classify_syntax_error(info.value) == message, example


def test_hint_does_not_depend_on_incidental_details():
    # The same mistake after a scalar type and after a ranked, encoded type.
    for t in ["f32[]", "f32[2]", "f32[N, 2] #csr(nnz=1)"]:
        text = f"module @m {{\n  const @w : {t} dense<elided>\n  func @main() -> () {{ return }}\n}}\n"
        assert "expected '=' and the constant's value" in error_of(text).message


def test_no_lark_exception_escapes_on_garbage():
    for text in ["module", "module @m {", "}}}", "module @m { func @main() -> () { return } } }",
                 "\x00", "module @m { const @w : f32[] = dense<[[[>", 'module @"m', "%", "@",
                 "module @m { func @main() -> () { %0 = nn.relu() : f32[] return } }"]:
        with pytest.raises(ParseError):
            parse_module(text)


def test_huge_numbers_are_errors_not_crashes():
    for text in [no_func("  const @w : i64[] = dense<" + "9" * 5000 + ">"),
                 no_func("  const @w : f64[] = dense<" + "9" * 5000 + ">"),
                 no_func("  const @w : f32[" + "9" * 5000 + "] = dense<elided>"),
                 body("    %y = math.reduce_sum(%x) {axes = [" + "1" * 5000 + "]} : f32[]"),
                 body('    %y = nn.relu(%x) : f32[2] loc("a":' + "1" * 5000 + ")"),
                 body("    %y = nn.relu(%x) : f32[2] #csr(nnz=" + "1" * 5000 + ")")]:
        e = error_of(text)
        assert "too large" in e.message or "out of range" in e.message
        assert len(e.message) < 100
