"""Bad DSL input gives a located ParseError/TypeCheckError with a hint, never a traceback."""
from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest

from compiler.errors import CompileError, ParseError, TypeCheckError
from compiler.frontend.dsl import load_dsl, parse_dsl
from runtime.errors import WscError

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
HEAD = "model m(x: f32[N, 4]) -> (y: f32[N, 4]) {\n"


def fail(src: str, cls=WscError, **kw) -> WscError:
    with pytest.raises(cls) as info:
        parse_dsl(src, "t.wsl", **kw)
    return info.value


def check(err: WscError, cls, message: str, line: int, col: int, hint: str | None = None):
    assert type(err) is cls, err
    assert message in err.message, err
    assert (err.loc.line, err.loc.col) == (line, col), err
    if hint is not None:
        assert err.hint and hint in err.hint, err


# Each case: body (after HEAD, before '}'), error class, message part, line, col, hint part.
BODY_CASES = [
    # syntax
    ("  let h = relu(x\n  return y = h", ParseError, "missing ')'", 2, 17, "'(' is still open"),
    ("  let h = [1, 2\n  return y = h", ParseError, "missing ']'", 2, 16, None),
    ("  let h = relu(x) +\n  return y = h", ParseError, "expected an expression", 2, 20, None),
    ("  let h relu(x)\n  return y = h", ParseError, "missing '='", 2, 8, None),
    ("  h = relu(x)\n  return y = h", ParseError, "expected a statement", 2, 3, "let h = ..."),
    ("  let h = x y\n  return y = h", ParseError, "unexpected name 'y'", 2, 13,
     "operator or ',' missing"),
    ("  let h = relu(x);\n  return y = h", ParseError, "unexpected character ';'", 2, 18,
     "no ';'"),
    ("  let h = x ** 2\n  return y = h", ParseError, "no '**' operator", 2, 14, "pow(x, y)"),
    ("  let h = x $ 2\n  return y = h", ParseError, "unexpected character '$'", 2, 13, None),
    ("  let h = 'w.npy'\n  return y = h", ParseError, "unexpected character", 2, 11,
     "double quotes"),
    ("  let h = sqrt(x,, x)\n  return y = h", ParseError, "expected an expression", 2, 18, None),
    ("  param w f32[4] = zeros\n  return y = x", ParseError, "missing ':'", 2, 10, None),
    # names
    ("  let h = rleu(x)\n  return y = h", ParseError, "unknown op 'rleu'", 2, 11,
     "did you mean 'relu'?"),
    ("  let h = zeros(3)\n  return y = h", ParseError, "unknown op 'zeros'", 2, 11,
     "initializer"),
    ("  param fc1.w: f32[4, 4] = ones\n  param fc2.w: f32[4, 4] = ones\n"
     "  return y = x @ fc3.w", ParseError, "unknown parameter 'fc3.w'", 4, 18,
     "defined: fc1.w, fc2.w"),
    ("  let hidden = relu(x)\n  return y = hiden", ParseError, "undefined name 'hiden'", 3, 14,
     "did you mean 'hidden'?"),
    ("  return y = h\n  let h = relu(x)", ParseError, "used before it is defined", 2, 14,
     "line 3"),
    ("  let h = relu\n  return y = h", ParseError, "'relu' is an op", 2, 11, "relu(...)"),
    ("  let x = relu(x)\n  return y = x", ParseError, "duplicate name 'x'", 2, 7, "input"),
    ("  param w: f32[4] = ones\n  let w = x\n  return y = x", ParseError,
     "duplicate name 'w'", 3, 7, "parameter at line 2"),
    ("  let h = relu(x)\n  let h = relu(h)\n  return y = h", ParseError,
     "duplicate name 'h'", 3, 7, None),
    ("  let h = relu(x)", ParseError, "has no 'return'", 1, 7, "return y = ..."),
    ("  return y = x\n  let h = relu(x)", ParseError, "statement after 'return'", 3, 3, None),
    ("  return z = x", ParseError, "'z' is not an output", 2, 10, "declared outputs: y"),
    # calls and attributes
    ("  let h = relu(x, axis=1)\n  return y = h", TypeCheckError,
     "nn.relu has no attribute 'axis'", 2, 19, "attributes of relu: none"),
    ("  let h = reduce_sum(x, axis=[1], keepdims=true)\n  return y = h", TypeCheckError,
     "no attribute 'axis'", 2, 25, "did you mean 'axes'?"),
    ("  let h = reduce_sum(x, keepdims=1)\n  return y = h", TypeCheckError,
     "'keepdims' must be true or false", 2, 34, None),
    ("  let h = reshape(x, shape=[\"a\"])\n  return y = h", TypeCheckError,
     "must be a list of integers", 2, 28, "a list of integers"),
    ("  let h = reshape(x, shape=x)\n  return y = h", TypeCheckError,
     "must be a constant", 2, 28, None),
    ("  let h = reshape(x, [0, 4])\n  return y = h", TypeCheckError, "not an operand", 2, 22,
     "shape=..."),
    ("  let h = reshape(x)\n  return y = h", TypeCheckError,
     "requires the attribute 'shape'", 2, 11, "shape=..."),
    ("  let h = softmax(x, axis=1, axis=0)\n  return y = h", ParseError, "given twice", 2, 30,
     None),
    ("  let h = softmax(axis=1, x)\n  return y = h", ParseError, "positional argument after",
     2, 27, None),
    ("  let h = layernorm(x, bias=x)\n  return y = h", TypeCheckError,
     "operand 'scale' of nn.layernorm is missing", 2, 11, None),
    # types
    ("  param w: f32[4, 5] = zeros\n  return y = x @ w", TypeCheckError,
     "declared f32[N, 4] but the model computes f32[N, 5]", 3, 16, "dim 1: 4 vs 5"),
    ("  param w: f32[5, 4] = zeros\n  return y = x @ w", TypeCheckError, "nn.matmul", 3, 16,
     "operand types: f32[N, 4], f32[5, 4]"),
    ("  let h = x + true\n  return y = h", TypeCheckError, "needs numbers or tensors", 2, 15,
     None),
    ("  let h = x @ 2\n  return y = h", TypeCheckError, "'@' multiplies two tensors", 2, 13,
     "'*'"),
    ("  let n = 1 / 0\n  return y = x", TypeCheckError, "division by zero", 2, 15, None),
    ("  return y = [1, x]", TypeCheckError, "not tensors", 2, 18, None),
    ("  let h = reduce_sum(x, axes=[1])\n  return y = h", TypeCheckError,
     "computes f32[N]", 3, 14, "ranks differ"),
    # parameters and initializers
    ("  param w: f32[4, 4] = nromal(0, 1)\n  return y = x", ParseError,
     "unknown initializer 'nromal'", 2, 24, "did you mean 'normal'?"),
    ("  param w: f32[4, 4] = normal\n  return y = x", ParseError, "needs arguments", 2, 24,
     "normal(mean, std)"),
    ("  param w: f32[4, 4] = normal(0)\n  return y = x", ParseError,
     "missing its argument 'std'", 2, 24, None),
    ("  param w: f32[4, 4] = normal(0, 1, sed=1)\n  return y = x", ParseError,
     "no argument 'sed'", 2, 37, "did you mean 'seed'?"),
    ("  param w: f32[4, 4] = normal(0, 1, 2, 3)\n  return y = x", ParseError,
     "too many arguments", 2, 40, None),
    ("  param w: f32[4] = normal(mean=0, 1)\n  return y = x", ParseError,
     "positional argument after a keyword", 2, 36, None),
    ("  param w: f32[4, 4] = normal(0, -1)\n  return y = x", TypeCheckError,
     "std must be >= 0", 2, 34, None),
    ("  param w: f32[4, 4] = uniform(1, 0)\n  return y = x", TypeCheckError,
     "below low", 2, 35, None),
    ("  param w: f32[4, 4] = normal(0, 1, seed=-1)\n  return y = x", TypeCheckError,
     "seed must be a non-negative integer", 2, 42, None),
    ("  param w: f32[4, 4] = normal(0, 1, seed=1.5)\n  return y = x", TypeCheckError,
     "seed must be", 2, 42, None),
    ("  param w: i32[4] = normal(0, 1)\n  return y = x", TypeCheckError,
     "floating-point", 2, 21, None),
    ("  param w: i32[4] = constant(0.5)\n  return y = x", TypeCheckError,
     "not a whole number", 2, 30, None),
    ("  param w: u8[4] = constant(300)\n  return y = x", TypeCheckError,
     "does not fit in u8", 2, 29, None),
    ("  param w: f32[4] = constant(x)\n  return y = x", TypeCheckError,
     "must be a constant", 2, 30, None),
    ("  param w: f32[4] = zeros sparsity 1.5\n  return y = x", TypeCheckError,
     "sparsity must be a number in [0, 1)", 2, 36, "0.9 keeps 10%"),
    ("  param w: f32[N, 4] = zeros\n  return y = x", TypeCheckError,
     "symbolic dim 'N'", 2, 16, None),
    ("  param w: f33[4] = zeros\n  return y = x", ParseError, "unknown dtype 'f33'", 2, 12,
     "did you mean 'f32'?"),
    ("  param w: float32[4] = zeros\n  return y = x", ParseError, "unknown dtype", 2, 12,
     "did you mean 'f32'?"),
    ("  param w: f32[4.5] = zeros\n  return y = x", ParseError, "not a whole number", 2, 16,
     None),
    ("  param w: f32[4] = load(\"w.txt\")\n  return y = x", ParseError,
     "reads .npy or .npz", 2, 26, None),
    ("  param w: f32[4] = load(3)\n  return y = x", TypeCheckError, "must be a string", 2, 26,
     None),
]


@pytest.mark.parametrize("body, cls, message, line, col, hint", BODY_CASES,
                         ids=[c[2][:40] for c in BODY_CASES])
def test_body_errors(body, cls, message, line, col, hint):
    check(fail(HEAD + body + "\n}\n"), cls, message, line, col, hint)


@pytest.mark.parametrize("src, cls, message, line, col, hint", [
    ("", ParseError, "holds no model", 1, 1, None),
    ("model", ParseError, "unexpected end of file", 1, 6, None),
    (HEAD + "  return y = x\n", ParseError, "missing '}'", 2, 15, None),
    ("model m(x: f32) -> (y: f32[1]) {\n return y = x\n}", ParseError, "missing '['", 1, 15,
     "f32[N, 784]"),
    ("model m(x: f32[1]) (y: f32[1]) {\n return y = x\n}", ParseError, "missing '->'", 1, 19,
     None),
    ("model m(x: f32[1] -> (y: f32[1]) {\n return y = x\n}", ParseError, "missing ')'", 1, 18,
     None),
    (HEAD + "  return y = x\n}\nmodel n() -> (y: f32[1]) {\n}\n", ParseError,
     "holds one model", 4, 1, None),
    ("model m(x: f32[N, 4], x: f32[N, 4]) -> (y: f32[N, 4]) {\n return y = x\n}", ParseError,
     "duplicate name 'x'", 1, 23, None),
    ("model m(x: f32[N, 4]) -> (y: f32[N, 4], y: f32[N, 4]) {\n return y = x\n}", ParseError,
     "duplicate output name 'y'", 1, 41, None),
    ("model m(x: f32[N, 4]) -> (y: f32[M, 4]) {\n return y = x\n}", TypeCheckError,
     "declared f32[M, 4] but the model computes f32[N, 4]", 2, 13, "symbolic dims must match"),
    ("model m(x: f32[N, 4]) -> (y: f64[N, 4]) {\n return y = x\n}", TypeCheckError,
     "declared f64[N, 4]", 2, 13, "dtypes differ"),
    ("model m(x: f32[N, 4]) -> (y: f32[N, 4], z: f32[N, 4]) {\n return y = x\n}",
     TypeCheckError, "declares 2 outputs (y, z) but 'return' gives 1", 2, 2, None),
    ("model m(x: f32[N, 4]) -> (y: f32[N, 4], z: f32[N, 4]) {\n return y = x, x\n}",
     ParseError, "mix of named and positional", 2, 2, None),
    ("model m(x: f32[N, 4]) -> (y: f32[N, 4], z: f32[N, 4]) {\n return y = x, y = x\n}",
     ParseError, "returned twice", 2, 16, None),
])
def test_whole_source_errors(src, cls, message, line, col, hint):
    check(fail(src), cls, message, line, col, hint)


def test_rendering_has_location_source_line_caret_and_hint():
    err = fail(HEAD + "  let h = rleu(x)\n  return y = h\n}\n")
    lines = str(err).splitlines()
    assert lines[0] == "t.wsl:2:11: unknown op 'rleu'"
    assert lines[1] == "    let h = rleu(x)"
    assert lines[2] == "            ^^^^"
    assert lines[3] == "hint: did you mean 'relu'?"


def test_missing_paren_points_after_the_last_token():
    err = fail(HEAD + "  let h = relu(x   # a comment (\n\n  return y = h\n}\n")
    assert (err.loc.line, err.loc.col) == (2, 17)
    assert str(err).splitlines()[2] == " " * 18 + "^"


# -- load() --------------------------------------------------------------------------------

@pytest.fixture
def weights_dir(tmp_path):
    np.save(tmp_path / "w.npy", np.zeros((4, 4), np.float32))
    np.save(tmp_path / "w64.npy", np.zeros((4, 4), np.float64))
    np.savez(tmp_path / "all.npz", fc1=np.zeros((4, 4), np.float32))
    (tmp_path / "bad.npy").write_bytes(b"not a numpy file at all")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "c.npy", np.zeros(4, np.complex64))
    return tmp_path


# The file argument starts at column 29, the key at 29 + len(file) + 2.
@pytest.mark.parametrize("init, cls, message, col, hint", [
    ('load("nope.npy")', ParseError, "cannot load 'nope.npy': file not found", 29,
     "a .npy file next to the source was not found"),
    ('load("all.npz", "fc2")', ParseError, "has no array 'fc2'", 40, "keys in all.npz: fc1"),
    ('load("all.npz")', ParseError, "has no array 'w'", 29, "looks up the parameter name 'w'"),
    ('load("w.npy", "fc1")', ParseError, "has no keys", 38, None),
    ('load("w64.npy")', TypeCheckError, "declared f32[4, 4] but 'w64.npy' holds f64[4, 4]", 29,
     "astype(np.float32)"),
    ('load("bad.npy")', ParseError, "cannot load 'bad.npy'", 29, "not a readable numpy"),
    ('load("obj.npy")', ParseError, "cannot load 'obj.npy'", 29, None),
    ('load("c.npy")', TypeCheckError, "does not support", 29, None),
    ('load(key="w", file="all.npz")', ParseError, "has no array 'w'", 33, None),
])
def test_load_errors(weights_dir, init, cls, message, col, hint):
    err = fail(HEAD + f"  param w: f32[4, 4] = {init}\n  return y = x\n}}\n",
               base_dir=weights_dir)
    check(err, cls, message, 2, col, hint)


def test_load_shape_mismatch(weights_dir):
    err = fail(HEAD + '  param fc1: f32[4, 5] = load("all.npz")\n  return y = x\n}\n',
               base_dir=weights_dir)
    check(err, TypeCheckError, "declared f32[4, 5] but 'all.npz'['fc1'] holds f32[4, 4]",
          2, 31, "dim 1: 5 vs 4")


def test_load_dsl_missing_file(tmp_path):
    with pytest.raises(CompileError, match="no such file"):
        load_dsl(tmp_path / "nope.wsl")


def test_errors_in_files_render_the_file_line(tmp_path):
    path = tmp_path / "bad.wsl"
    path.write_text(HEAD + "  return y = x @ x\n}\n")
    with pytest.raises(TypeCheckError) as info:
        load_dsl(path)
    assert str(info.value).startswith(f"{path}:2:16: ")
    assert "    return y = x @ x" in str(info.value)


# -- never a traceback -----------------------------------------------------------------------

def mutations(text: str, rng: random.Random, n: int):
    pieces = list("()[]{},:=+-*/@#\"\n ") + ["let", "param", "return", "relu", "1.5", "x",
                                                    "sparsity", "->", "f32[2]", "true"]
    for _ in range(n):
        i = rng.randrange(len(text))
        j = min(len(text), i + rng.randrange(1, 6))
        kind = rng.randrange(3)
        if kind == 0:
            yield text[:i] + text[j:]
        elif kind == 1:
            yield text[:i] + rng.choice(pieces) + text[i:]
        else:
            yield text[:i] + rng.choice(pieces) + text[j:]


@pytest.mark.parametrize("sample", ["mlp.wsl", "cnn.wsl", "transformer_block.wsl"])
def test_mutated_samples_fail_cleanly(sample):
    text = (SAMPLES / sample).read_text()
    rng = random.Random(sample)
    for src in mutations(text, rng, 60):
        try:
            parse_dsl(src, sample, base_dir=SAMPLES)
        except WscError as e:
            assert e.message and str(e)


# -- the examples in docs/dsl.md are real ---------------------------------------------------

DOC = (Path(__file__).resolve().parents[2] / "docs" / "dsl.md").read_text()


def doc_example() -> str:
    return re.search(r"```\n(# A two-layer perceptron\.\n.*?)```", DOC, re.S).group(1)


def test_doc_example_compiles(tmp_path):
    np.save(tmp_path / "fc2_weight.npy", np.zeros((256, 10), np.float32))
    m = parse_dsl(doc_example(), "mlp.wsl", base_dir=tmp_path)
    assert list(m.outputs) == ["logits"]


@pytest.mark.parametrize("block", re.findall(r"```\n(mlp\.wsl:\d+:\d+: .*?)```", DOC, re.S),
                         ids=lambda b: b.splitlines()[0])
def test_doc_error_examples(tmp_path, block):
    """Each error shown in the docs is what the frontend prints for that source line."""
    lines = block.splitlines()
    line_no = int(lines[0].split(":")[1])
    src = doc_example().splitlines()
    src[line_no - 1] = lines[1][2:]            # the snippet indents the source line by 2
    if "cannot load" not in block:
        np.save(tmp_path / "fc2_weight.npy", np.zeros((256, 10), np.float32))
    with pytest.raises(WscError) as info:
        parse_dsl("\n".join(src) + "\n", "mlp.wsl", base_dir=tmp_path)
    assert str(info.value) == block.strip().replace("/home/me/models", str(tmp_path))
