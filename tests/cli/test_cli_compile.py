"""`wsc compile` (and the group's --version/--debug) through click's CliRunner.

Exit status contract: 0 ok, 1 for errors about the model or files (printed as
``error: ...`` on stderr, never a traceback), 2 for malformed flags.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import compiler
import runtime
from compiler.cli import main
from compiler.frontend.dsl import load_dsl
from compiler.passes import PIPELINES

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
MLP = SAMPLES / "mlp.wsl"
# A fixed pipeline for the tests of pass-manager plumbing (dumps, instruments), so
# that they do not change whenever an -O level gains a pass.
PLUMBING = "infer-shapes,fold-constants,dce,analyze-sparsity,select-kernels"


def wsc(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_user_error(result, *words: str) -> None:
    """Exit 1, an `error:` line on stderr that mentions `words`, and no traceback."""
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for w in words:
        assert w in result.stderr, result.stderr


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("sample", ["mlp", "cnn", "transformer_block"])
def test_compile_each_sample_to_the_current_directory(sample, tmp_path):
    r = wsc("compile", SAMPLES / f"{sample}.wsl")
    assert r.exit_code == 0, r.output
    out = tmp_path / f"{sample}.wafer"
    assert out.is_file()
    exe = runtime.load(out)
    assert exe.header["source"] == f"{sample}.wsl"
    assert f"-> {sample}.wafer" in r.stdout
    for word in ("pipeline", "ops", "params", "FLOPs", "output"):
        assert any(line.strip().startswith(word) for line in r.stdout.splitlines()), r.stdout
    n_ops = len(load_dsl(SAMPLES / f"{sample}.wsl").ops)
    assert f"{n_ops} -> {len(exe.program.instrs)}" in r.stdout


def test_output_flag_and_reported_size(tmp_path):
    (tmp_path / "out").mkdir()
    r = wsc("compile", MLP, "-o", "out/m.wafer", "-O1")
    assert r.exit_code == 0, r.output
    out = tmp_path / "out" / "m.wafer"
    assert runtime.load(out).header["pipeline"] == PIPELINES[1]
    assert "out/m.wafer" in r.stdout and "KiB" in r.stdout


def test_artifact_bytes_are_deterministic(tmp_path):
    assert wsc("compile", MLP, "-o", "a.wafer").exit_code == 0
    assert wsc("compile", MLP, "-o", "b.wafer").exit_code == 0
    assert (tmp_path / "a.wafer").read_bytes() == (tmp_path / "b.wafer").read_bytes()


def test_artifact_from_cli_equals_the_api(tmp_path):
    assert wsc("compile", MLP, "--input-shape", "x=2x784").exit_code == 0
    compiler.compile(MLP, input_shapes={"x": [2, 784]}).save(tmp_path / "api.wafer")
    assert (tmp_path / "mlp.wafer").read_bytes() == (tmp_path / "api.wafer").read_bytes()


def test_typo_in_dsl_is_located_with_a_caret(tmp_path):
    bad = tmp_path / "typo.wsl"
    bad.write_text("model m(x: f32[2, 3]) -> (y: f32[2, 3]) {\n"
                   "  return y = relu(x) +* x\n"
                   "}\n")
    r = wsc("compile", bad)
    assert_user_error(r, "typo.wsl:2:")
    lines = r.stderr.splitlines()
    src = next(i for i, l in enumerate(lines) if "relu(x) +* x" in l)
    caret = lines[src + 1]
    assert caret.strip().startswith("^")
    assert lines[src][caret.index("^")] == "*"  # the caret points at the offending token
    assert not (tmp_path / "typo.wafer").exists()


def test_missing_source_and_wrong_kind(tmp_path):
    assert_user_error(wsc("compile", "nope.wsl"), "nope.wsl", "no such file")
    (tmp_path / "m.txt").write_text("hello")
    assert_user_error(wsc("compile", "m.txt"), "unknown source kind")
    assert wsc("compile", MLP).exit_code == 0
    assert_user_error(wsc("compile", "mlp.wafer"), "wsc run")


def test_unknown_pass_is_a_usage_error_with_a_caret():
    r = wsc("compile", MLP, "-p", "infer-shapes,fold-constans")
    assert r.exit_code == 2
    assert "unknown pass 'fold-constans'" in r.stderr
    assert "did you mean 'fold-constants'" in r.stderr
    assert "^^^^" in r.stderr
    assert "Traceback" not in r.output


def test_bad_pass_option_is_a_usage_error():
    r = wsc("compile", MLP, "-p", "fold-constants{max-bytes=lots}")
    assert r.exit_code == 2 and "must be an integer" in r.stderr


def test_pipeline_and_opt_level_are_exclusive():
    r = wsc("compile", MLP, "-p", "dce", "-O1")
    assert r.exit_code == 2 and "exclusive" in r.stderr


def test_unknown_opt_level():
    r = wsc("compile", MLP, "-O9")
    assert r.exit_code == 2 and "-O9" in r.stderr


def test_explicit_pipeline_is_recorded(tmp_path):
    r = wsc("compile", MLP, "-p", " infer-shapes , dce ")
    assert r.exit_code == 0, r.output
    assert runtime.load(tmp_path / "mlp.wafer").header["pipeline"] == "infer-shapes,dce"


def test_never_overwrites_the_source(tmp_path):
    src = tmp_path / "m.wsl"
    src.write_text(MLP.read_text().replace('load("mlp_fc2_bias.npy")', "zeros()"))
    before = src.read_bytes()
    for args in (["-o", "m.wsl"], ["-o", "m.wsl", "--force"], ["--emit-ir", "m.wsl", "-f"]):
        r = wsc("compile", src, *args)
        assert r.exit_code == 2, r.output
        assert "source" in r.stderr
    assert src.read_bytes() == before


def test_refuses_to_clobber_other_files_unless_forced(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("precious")
    r = wsc("compile", MLP, "-o", notes)
    assert_user_error(r, "refusing to overwrite", "--force")
    assert notes.read_text() == "precious"
    r = wsc("compile", MLP, "-o", notes, "--force")
    assert r.exit_code == 0, r.output
    assert runtime.load(notes).outputs[0].name == "logits"


def test_overwrites_an_existing_wafer_artifact(tmp_path):
    assert wsc("compile", MLP, "-O0").exit_code == 0
    r = wsc("compile", MLP)
    assert r.exit_code == 0, r.output
    assert runtime.load(tmp_path / "mlp.wafer").header["pipeline"].endswith("select-kernels")


def test_output_that_is_a_directory(tmp_path):
    (tmp_path / "d.wafer").mkdir()
    r = wsc("compile", MLP, "-o", "d.wafer")
    assert r.exit_code == 2 and "is a directory" in r.stderr


def test_emit_ir_writes_compilable_ir_with_weights(tmp_path):
    r = wsc("compile", MLP, "--emit-ir", "final.wir", "--input-shape", "x=2x784")
    assert r.exit_code == 0, r.output
    text = (tmp_path / "final.wir").read_text()
    assert text.startswith("# generated by wsc") and "resources {" in text
    # rerunning may overwrite its own emitted IR; a foreign file needs --force
    assert wsc("compile", MLP, "--emit-ir", "final.wir").exit_code == 0
    (tmp_path / "mine.wir").write_text("module @x {}\n")
    assert_user_error(wsc("compile", MLP, "--emit-ir", "mine.wir"), "refusing")
    r = wsc("compile", "final.wir", "-o", "again.wafer")
    assert r.exit_code == 0, r.output
    x = np.random.default_rng(3).standard_normal((2, 784)).astype(np.float32)
    a = runtime.load(tmp_path / "mlp.wafer").run({"x": x})["logits"]
    b = runtime.load(tmp_path / "again.wafer").run({"x": x})["logits"]
    np.testing.assert_array_equal(a, b)


def test_emit_ir_and_output_must_differ():
    r = wsc("compile", MLP, "-o", "x.wafer", "--emit-ir", "x.wafer")
    assert r.exit_code == 2


def test_dump_dir_writes_numbered_files(tmp_path):
    r = wsc("compile", MLP, "--dump-dir", "dumps", "-p", PLUMBING)
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in (tmp_path / "dumps").iterdir())
    assert names == ["00_input.wir", "01_infer-shapes.wir", "02_fold-constants.wir",
                     "03_dce.wir", "04_analyze-sparsity.wir", "05_select-kernels.wir"]
    assert "nn.matmul" in (tmp_path / "dumps" / "03_dce.wir").read_text()


def test_print_ir_after_all_and_time_passes_go_to_stderr():
    r = wsc("compile", MLP, "--print-ir-after-all", "--time-passes", "-p", PLUMBING)
    assert r.exit_code == 0, r.output
    passes = PLUMBING.split(",")
    for name in passes:
        assert f"IR after {name}" in r.stderr
    assert r.stderr.count("IR after") == len(passes)
    assert "pass execution time" in r.stderr
    assert "IR after" not in r.stdout


def test_print_ir_after_one_pass():
    r = wsc("compile", MLP, "--print-ir-after", "dce")
    assert r.exit_code == 0, r.output
    assert r.stderr.count("IR after") == 1 and "IR after dce" in r.stderr
    r = wsc("compile", MLP, "--print-ir-after", "dcee")
    assert r.exit_code == 2 and "unknown pass 'dcee'" in r.stderr


def test_list_passes_needs_no_source():
    r = wsc("compile", "--list-passes")
    assert r.exit_code == 0, r.output
    for name in ("infer-shapes", "fold-constants", "cse", "dce", "-O0", "-O2"):
        assert name in r.stdout


@pytest.mark.parametrize("flag", ["x=4y784", "x", "=4x784", "x=4x-1"])
def test_input_shape_syntax_is_a_usage_error(flag):
    r = wsc("compile", MLP, "--input-shape", flag)
    assert r.exit_code == 2, r.output
    assert "--input-shape" in r.stderr


@pytest.mark.parametrize("flag, words", [
    ("z=4x784", ["no input 'z'", "x: f32[N, 784]"]),
    ("x=4x783", ["fixed size 784"]),
    ("x=4", ["rank 1"]),
])
def test_input_shape_that_does_not_fit_the_model(flag, words):
    assert_user_error(wsc("compile", MLP, "--input-shape", flag), *words)


def test_input_shape_given_twice():
    r = wsc("compile", MLP, "--input-shape", "x=1x784", "--input-shape", "x=2x784")
    assert r.exit_code == 2


def test_version():
    r = wsc("--version")
    assert r.exit_code == 0 and r.stdout.strip() == f"wsc {compiler.__version__}"


def test_help_documents_every_flag_with_examples():
    r = wsc("compile", "--help")
    assert r.exit_code == 0
    for flag in ("--output", "--pipeline", "-O", "--input-shape", "--print-ir-after-all",
                 "--print-ir-after", "--time-passes", "--dump-dir", "--emit-ir",
                 "--list-passes", "--force", "Examples:", "Exit status"):
        assert flag in r.stdout, flag
    top = wsc("--help")
    assert all(cmd in top.stdout for cmd in ("compile", "inspect", "run", "--debug"))


def test_debug_shows_the_traceback():
    r = wsc("--debug", "compile", "nope.wsl")
    assert r.exit_code == 1
    assert isinstance(r.exception, compiler.errors.CompileError)
    r = wsc("compile", "nope.wsl")
    assert isinstance(r.exception, SystemExit)


def test_compile_and_run_an_onnx_model(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    w = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["m"], name="mm"),
         helper.make_node("Relu", ["m"], ["y"], name="act")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [numpy_helper.from_array(w, "W")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
              tmp_path / "tiny.onnx")
    r = wsc("compile", "tiny.onnx", "--input-shape", "x=3x8")
    assert r.exit_code == 0, r.output
    x = np.random.default_rng(1).standard_normal((3, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    r = wsc("run", "tiny.wafer", "-i", "x=x.npy", "-o", "y.npz")
    assert r.exit_code == 0, r.output
    np.testing.assert_allclose(np.load(tmp_path / "y.npz")["y"], np.maximum(x @ w, 0),
                               rtol=1e-6, atol=1e-6)
