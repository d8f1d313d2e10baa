"""The executor: runs hand-built Programs and checks inputs, errors, profiles and freeing.

Expected values are computed with numpy in the tests, never by the runtime.
"""
from __future__ import annotations

import gc
import json
import subprocess
import sys
import textwrap
import weakref

import numpy as np
import pytest

import runtime
from runtime.errors import ArtifactError, ExecutionError, InputError
from runtime.executor import Executable
from runtime.kernels import KERNELS
from runtime.program import Instr, Program, TensorSpec, write_wafer

RNG = np.random.default_rng(42)
W = RNG.standard_normal((4, 3)).astype(np.float32)
B = RNG.standard_normal(3).astype(np.float32)


def mlp(**header) -> Program:
    """relu(x @ w + b) plus a second output h0 = x @ w; the input's value is named x_in."""
    return Program(
        inputs=[TensorSpec("x", "f32", ["N", 4], value="x_in")],
        outputs=[TensorSpec("y", "f32", ["N", 3], value="h2"), TensorSpec("pre", "f32", ["N", 3], value="h0")],
        instrs=[
            Instr("nn.matmul", ["x_in", "w"], ["h0"], op="nn.matmul", loc="mlp.wsl:3:7"),
            Instr("math.add", ["h0", "b"], ["h1"], op="math.add", loc="mlp.wsl:3:7"),
            Instr("nn.relu", ["h1"], ["h2"], op="nn.relu", loc="mlp.wsl:4:3"),
        ],
        constants={"w": W, "b": B},
        header={"producer": "wsc 0.1.0", **header},
    )


def two_inputs() -> Program:
    """relu(x @ w) + mask: inputs x f32[N, 4] and mask f32[N, 3] share the symbol N."""
    return Program(
        inputs=[TensorSpec("x", "f32", ["N", 4]), TensorSpec("mask", "f32", ["N", 3])],
        outputs=[TensorSpec("y", "f32", ["N", 3], value="h2")],
        instrs=[
            Instr("nn.matmul", ["x", "w"], ["h0"], op="nn.matmul"),
            Instr("nn.relu", ["h0"], ["h1"], op="nn.relu"),
            Instr("math.add", ["h1", "mask"], ["h2"], op="math.add"),
        ],
        constants={"w": W},
    )


def input_error(exe: Executable, inputs) -> InputError:
    with pytest.raises(InputError) as info:
        exe.run(inputs)
    assert "\n" not in info.value.message and info.value.hint
    return info.value


# --------------------------------------------------------------------------
# Running

def test_runs_matmul_add_relu_like_numpy():
    exe = Executable(mlp())
    for n in (1, 5):
        x = RNG.standard_normal((n, 4)).astype(np.float32)
        out = exe.run({"x": x})
        assert list(out) == ["y", "pre"]  # declared order
        pre = x.astype(np.float64) @ W.astype(np.float64)
        np.testing.assert_allclose(out["pre"], pre, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out["y"], np.where(pre + B > 0, pre + B, 0), rtol=1e-5, atol=1e-6)
        assert out["y"].dtype == np.float32 and out["y"].shape == (n, 3)


def test_properties_expose_the_program():
    program = mlp(source="mlp.wsl")
    exe = Executable(program)
    assert exe.program is program
    assert [s.name for s in exe.inputs] == ["x"]
    assert [s.name for s in exe.outputs] == ["y", "pre"]
    assert exe.header == {"producer": "wsc 0.1.0", "source": "mlp.wsl"}
    assert "x: f32[N, 4]" in repr(exe) and "3 instrs" in repr(exe)


def test_load_runs_a_written_file(tmp_path):
    path = tmp_path / "mlp.wafer"
    write_wafer(mlp(), path)
    exe = runtime.load(path)
    assert isinstance(exe, runtime.Executable)
    x = np.ones((2, 4), dtype=np.float32)
    np.testing.assert_allclose(exe.run({"x": x})["pre"], x @ W, rtol=1e-6)
    with pytest.raises(InputError) as info:
        exe.run({})
    assert info.value.where == str(path)


def test_outputs_may_be_inputs_or_constants():
    program = Program(inputs=[TensorSpec("x", "i64", [2])],
                      outputs=[TensorSpec("same", "i64", [2], value="x"), TensorSpec("c", "f32", [3], value="b")],
                      instrs=[], constants={"b": B})
    x = np.array([3, 4])
    out = Executable(program).run({"x": x})
    assert out["same"] is x
    np.testing.assert_array_equal(out["c"], B)


def test_intermediates_are_freed_after_their_last_use(monkeypatch):
    """h0 is last used by instr 1; by the time instr 2 runs, nothing may hold it."""
    made = {}

    def matmul_recording(a, b):
        out = np.matmul(a, b)
        made["h0"] = weakref.ref(out)
        return out

    def probe(x):
        gc.collect()
        made["h0_alive_at_instr_2"] = made["h0"]() is not None
        return x.copy()

    monkeypatch.setitem(KERNELS, "test.matmul_recording", matmul_recording)
    monkeypatch.setitem(KERNELS, "test.probe", probe)
    program = Program(
        inputs=[TensorSpec("x", "f32", [2, 4])],
        outputs=[TensorSpec("y", "f32", [2, 3], value="h2")],
        instrs=[Instr("test.matmul_recording", ["x", "w"], ["h0"]),
                Instr("nn.relu", ["h0"], ["h1"]),
                Instr("test.probe", ["h1"], ["h2"])],
        constants={"w": W})
    out = Executable(program).run({"x": np.ones((2, 4), np.float32)})
    assert made["h0_alive_at_instr_2"] is False
    np.testing.assert_allclose(out["y"], np.maximum(np.ones((2, 4)) @ W, 0), rtol=1e-6)


def test_kernels_with_several_results(monkeypatch):
    monkeypatch.setitem(KERNELS, "test.split2", lambda x: (x[:, :2], x[:, 2:]))
    program = Program(inputs=[TensorSpec("x", "f32", [1, 5])],
                      outputs=[TensorSpec("a", "f32", [1, 2]), TensorSpec("b", "f32", [1, 3])],
                      instrs=[Instr("test.split2", ["x"], ["a", "b"])])
    x = np.arange(5, dtype=np.float32).reshape(1, 5)
    out = Executable(program).run({"x": x})
    np.testing.assert_array_equal(out["a"], [[0, 1]])
    np.testing.assert_array_equal(out["b"], [[2, 3, 4]])


def test_profile_records_every_instruction():
    exe = Executable(mlp())
    assert exe.last_profile is None
    exe.run({"x": np.ones((3, 4), np.float32)}, profile=True)
    prof = exe.last_profile
    assert [p["index"] for p in prof] == [0, 1, 2]
    assert [p["kernel"] for p in prof] == ["nn.matmul", "math.add", "nn.relu"]
    assert [p["op"] for p in prof] == ["nn.matmul", "math.add", "nn.relu"]
    assert [p["loc"] for p in prof] == ["mlp.wsl:3:7", "mlp.wsl:3:7", "mlp.wsl:4:3"]
    assert all(isinstance(p["seconds"], float) and 0 <= p["seconds"] < 10 for p in prof)
    assert set(prof[0]) == {"index", "kernel", "op", "loc", "seconds"}
    json.dumps(prof)  # plain data
    exe.run({"x": np.ones((3, 4), np.float32)})
    assert exe.last_profile is None


# --------------------------------------------------------------------------
# Input errors

def test_missing_inputs_name_the_expected_ones():
    exe = Executable(two_inputs())
    err = input_error(exe, {"x": np.ones((2, 4), np.float32)})
    assert err.message == "missing input 'mask' (f32[N, 3])"
    assert "x: f32[N, 4], mask: f32[N, 3]" in err.hint
    err = input_error(exe, {})
    assert err.message == "missing inputs 'x' (f32[N, 4]), 'mask' (f32[N, 3])"


def test_unknown_inputs_suggest_a_name():
    exe = Executable(two_inputs())
    err = input_error(exe, {"x": np.ones((2, 4), np.float32), "maks": np.ones((2, 3), np.float32)})
    assert err.message == "unknown input 'maks'; did you mean 'mask'?"
    err = input_error(exe, {"zzz": 1})
    assert err.message == "unknown input 'zzz'"
    assert "mask: f32[N, 3]" in err.hint


def test_inputs_must_be_a_mapping():
    err = input_error(Executable(mlp()), [np.ones((1, 4), np.float32)])
    assert "inputs must be a dict" in err.message and "got list" in err.message


def test_non_array_values():
    exe = Executable(mlp())
    for bad, kind in (("abc", "str"), (None, "NoneType"), ({"a": 1}, "dict"), (object(), "object")):
        err = input_error(exe, {"x": bad})
        assert err.message == f"input 'x' must be an array of f32[N, 4], got {kind}"
    err = input_error(exe, {"x": [[1.0, 2.0], [3.0]]})
    assert "cannot be converted to an array" in err.message


def test_lists_and_scalars_are_converted_then_checked():
    program = Program(inputs=[TensorSpec("v", "f64", [2]), TensorSpec("s", "i64", [])],
                      outputs=[TensorSpec("out", "f64", [2], value="h")],
                      instrs=[Instr("math.add", ["v", "s"], ["h"])])
    exe = Executable(program)
    out = exe.run({"v": [1.5, 2.5], "s": 3})
    np.testing.assert_array_equal(out["out"], [4.5, 5.5])
    err = input_error(exe, {"v": [1, 2], "s": 3})  # a list of ints is i64, not f64
    assert err.message == "input 'v' has dtype i64, expected f64"
    err = input_error(Executable(mlp()), {"x": [[1.0, 2.0, 3.0, 4.0]]})  # floats are f64, not f32
    assert err.message == "input 'x' has dtype f64, expected f32"


def test_wrong_dtype_is_never_cast():
    exe = Executable(mlp())
    err = input_error(exe, {"x": np.ones((2, 4), dtype=np.float64)})
    assert err.message == "input 'x' has dtype f64, expected f32"
    assert "dtype=np.float32" in err.hint and "never cast" in err.hint
    err = input_error(exe, {"x": np.ones((2, 4), dtype=np.complex64)})
    assert err.message == "input 'x' has dtype complex64, expected f32"
    x = np.arange(8, dtype=">f4").reshape(2, 4)  # f32 in the other byte order is still f32
    np.testing.assert_allclose(exe.run({"x": x})["pre"], x.astype(np.float64) @ W, rtol=1e-5)


def test_wrong_rank_and_dims():
    exe = Executable(mlp())
    err = input_error(exe, {"x": np.ones(4, np.float32)})
    assert err.message == "input 'x' has rank 1 (shape [4]), expected rank 2: f32[N, 4]"
    err = input_error(exe, {"x": np.ones((2, 3), np.float32)})
    assert err.message == "input 'x' dim 1 is 3, expected 4"
    assert "f32[N, 4]" in err.hint


def test_symbolic_dims_bind_consistently():
    exe = Executable(two_inputs())
    err = input_error(exe, {"x": np.ones((4, 4), np.float32), "mask": np.ones((2, 3), np.float32)})
    assert err.message == "N is 4 in 'x' but 2 in 'mask'"
    square = Program(inputs=[TensorSpec("a", "f32", ["N", "N"])], outputs=[TensorSpec("a", "f32", ["N", "N"])],
                     instrs=[])
    err = input_error(Executable(square), {"a": np.ones((2, 3), np.float32)})
    assert err.message == "N is 2 in 'a' dim 0 but 3 in dim 1"
    x, mask = np.ones((4, 4), np.float32), np.full((4, 3), 2.0, np.float32)
    np.testing.assert_allclose(exe.run({"x": x, "mask": mask})["y"], np.maximum(x @ W, 0) + 2, rtol=1e-6)


def test_product_dims_of_outputs_are_checked_against_the_bound_symbols(tmp_path):
    def flatten(out_dim):
        return Program(inputs=[TensorSpec("x", "f32", ["B", "S", 4])],
                       outputs=[TensorSpec("y", "f32", [out_dim, 4])],
                       instrs=[Instr("tensor.reshape", ["x"], ["y"], op="tensor.reshape",
                                     attrs={"shape": [-1, 4], "allowzero": False,
                                            "like_dims": []})])
    path = tmp_path / "flat.wafer"
    write_wafer(flatten("B*S"), path)  # a product of symbols is a valid dim in a file
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(runtime.load(path).run({"x": x})["y"], x.reshape(6, 4))
    with pytest.raises(ExecutionError) as info:
        Executable(flatten("2*B*S")).run({"x": x})
    assert info.value.message == "output 'y' dim 0 is 6, expected 12"
    with pytest.raises(ArtifactError, match="must be a dim size or a symbol name"):
        write_wafer(flatten("B+S"), tmp_path / "bad.wafer")


# --------------------------------------------------------------------------
# Execution errors

def test_kernel_exceptions_become_execution_errors():
    program = mlp()
    program.constants["w"] = np.ones((5, 3), np.float32)  # inner dims no longer match x
    with pytest.raises(ExecutionError) as info:
        Executable(program).run({"x": np.ones((2, 4), np.float32)})
    err = info.value
    assert err.message.startswith("instr 0: op nn.matmul (kernel nn.matmul) failed: ValueError: ")
    assert str(err.__cause__) in err.message  # the original message is kept
    assert isinstance(err.__cause__, ValueError)
    assert err.where == "mlp.wsl:3:7"
    assert "\n" not in err.message and err.hint


def test_kernel_results_must_match_the_program(monkeypatch):
    monkeypatch.setitem(KERNELS, "test.to_f64", lambda x: x.astype(np.float64))
    monkeypatch.setitem(KERNELS, "test.pair", lambda x: (x, x))
    monkeypatch.setitem(KERNELS, "test.shrink", lambda x: x[:, :2])

    def run_with(kernel):
        program = Program(inputs=[TensorSpec("x", "f32", ["N", 3])], outputs=[TensorSpec("y", "f32", ["N", 3])],
                          instrs=[Instr(kernel, ["x"], ["y"], op="math.exp", loc="k.wsl:1:1")])
        with pytest.raises(ExecutionError) as info:
            Executable(program).run({"x": np.ones((2, 3), np.float32)})
        assert info.value.where == "k.wsl:1:1" and "bug in wsc" in info.value.hint
        return info.value.message

    assert run_with("test.to_f64") == "output 'y' has dtype float64, but the program declares f32"
    assert run_with("test.pair") == "instr 0: op math.exp (kernel test.pair) returned 2 results, expected 1"
    assert run_with("test.shrink") == "output 'y' dim 1 is 2, expected 3"


def test_unknown_kernel_is_refused_before_running():
    program = mlp()
    program.instrs[1].kernel = "sparse.add_v99"
    with pytest.raises(ArtifactError, match="needs kernel 'sparse.add_v99' which this runtime does not have"):
        Executable(program)


def test_inconsistent_program_is_refused():
    program = mlp()
    program.instrs[2].inputs = ["h5"]
    with pytest.raises(ArtifactError, match="uses value 'h5' before it is defined"):
        Executable(program)


# --------------------------------------------------------------------------
# The runtime stands alone

def test_runtime_never_imports_the_compiler(tmp_path):
    path = tmp_path / "mlp.wafer"
    write_wafer(mlp(), path)
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        import runtime
        import runtime.executor, runtime.program, runtime.kernels, runtime.errors, runtime.dtypes
        exe = runtime.load({str(path)!r})
        exe.run({{"x": np.ones((2, 4), np.float32)}}, profile=True)
        print(sorted(m for m in sys.modules if m == "compiler" or m.startswith("compiler.")))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
