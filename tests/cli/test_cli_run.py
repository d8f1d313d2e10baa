"""`wsc run`: outputs against an independent numpy forward pass, and every error path."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from compiler.cli import main
from compiler.frontend.dsl import load_dsl

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
MLP = SAMPLES / "mlp.wsl"


def wsc(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_user_error(result, *words: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    for w in words:
        assert w in result.stderr, result.stderr


def mlp_forward(x: np.ndarray) -> np.ndarray:
    """The sample MLP in numpy, with the weights the DSL frontend produced."""
    w = {n: c.data for n, c in load_dsl(MLP).constants.items()}
    h = np.maximum(x @ w["fc1.weight"] + w["fc1.bias"], 0)
    return h @ w["fc2.weight"] + w["fc2.bias"]


@pytest.fixture(scope="module")
def wafers(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("wafers")
    out = {}
    for name in ("mlp", "cnn", "transformer_block"):
        out[name] = d / f"{name}.wafer"
        r = wsc("compile", SAMPLES / f"{name}.wsl", "-o", out[name])
        assert r.exit_code == 0, r.output
    return out


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def test_mlp_outputs_match_numpy(wafers, tmp_path):
    x = np.random.default_rng(42).standard_normal((3, 784)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    r = wsc("run", wafers["mlp"], "-i", "x=x.npy", "-o", "out.npz")
    assert r.exit_code == 0, r.output
    want = mlp_forward(x)
    with np.load(tmp_path / "out.npz") as out:
        assert out.files == ["logits"]
        np.testing.assert_allclose(out["logits"], want, rtol=1e-5, atol=1e-5)
    # the printed row: name, type, min, max, mean, first values
    row = next(l for l in r.stdout.splitlines() if l.startswith("logits"))
    assert "f32[3, 10]" in row
    for v in (want.min(), want.max(), want.mean(dtype=np.float64), want.reshape(-1)[0]):
        assert f"{v:.4g}" in row
    assert "wrote out.npz" in r.stdout


def test_inputs_from_npz(wafers, tmp_path):
    x = np.random.default_rng(7).standard_normal((2, 784)).astype(np.float32)
    np.savez(tmp_path / "in.npz", x=x)
    r = wsc("run", wafers["mlp"], "--inputs", "in.npz", "-o", "o.npz")
    assert r.exit_code == 0, r.output
    with np.load(tmp_path / "o.npz") as out:
        np.testing.assert_allclose(out["logits"], mlp_forward(x), rtol=1e-5, atol=1e-5)


def test_random_inputs_are_seeded_and_sized_by_dim(wafers, tmp_path):
    r1 = wsc("run", wafers["mlp"], "--random-inputs", "--dim", "N=4", "--seed", "3", "-o", "a.npz")
    r2 = wsc("run", wafers["mlp"], "--random-inputs", "--dim", "N=4", "--seed", "3", "-o", "b.npz")
    r3 = wsc("run", wafers["mlp"], "--random-inputs", "--dim", "N=4", "--seed", "4", "-o", "c.npz")
    assert r1.exit_code == r2.exit_code == r3.exit_code == 0, r1.output
    a, b, c = (np.load(tmp_path / f)["logits"] for f in ("a.npz", "b.npz", "c.npz"))
    assert a.shape == (4, 10)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert "note:" not in r1.stderr


def test_random_inputs_default_symbols_to_one_with_a_note(wafers):
    r = wsc("run", wafers["mlp"], "--random-inputs")
    assert r.exit_code == 0, r.output
    assert "f32[1, 10]" in r.stdout
    assert "note:" in r.stderr and "N=1" in r.stderr and "--dim" in r.stderr


@pytest.mark.parametrize("name, shape", [("cnn", "f32[2, 10]"),
                                         ("transformer_block", "f32[2, 16, 64]")])
def test_other_samples_run(wafers, name, shape):
    r = wsc("run", wafers[name], "--random-inputs", "--dim", "N=2")
    assert r.exit_code == 0, r.output
    assert shape in r.stdout


def test_repeat_prints_latency(wafers):
    r = wsc("run", wafers["mlp"], "--random-inputs", "--repeat", "5")
    assert r.exit_code == 0, r.output
    assert "latency over 5 runs (after 1 warm-up): median" in r.stdout and "p90" in r.stdout
    assert wsc("run", wafers["mlp"], "--random-inputs", "--repeat", "0").exit_code == 2


def test_profile_lists_instructions_slowest_first(wafers, tmp_path):
    # A fixed pipeline without fusion keeps the instruction count that of the source's
    # ops (30), so the profile has rows beyond its top 15 whatever the -O levels fuse.
    wafer = tmp_path / "transformer_block.wafer"
    r = wsc("compile", SAMPLES / "transformer_block.wsl", "-o", wafer,
            "-p", "infer-shapes,fold-constants,cse,dce")
    assert r.exit_code == 0, r.output
    r = wsc("run", wafer, "--random-inputs", "--profile")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    start = next(i for i, l in enumerate(lines) if l.startswith("profile"))
    rows = [l for l in lines[start + 3:] if l.strip()[:1].isdigit()]
    times = [float(l.split()[-2]) for l in rows]
    assert len(rows) == 15 and times == sorted(times, reverse=True)
    assert "15 more instructions" in r.stdout and "over 30 instructions" in r.stdout
    assert "transformer_block.wsl:" in r.stdout  # locations of the source
    r = wsc("run", wafers["mlp"], "--random-inputs", "--profile", "--repeat", "3")
    assert r.exit_code == 0 and "median of 3 runs" in r.stdout


def test_missing_input(wafers):
    assert_user_error(wsc("run", wafers["mlp"]), "missing input 'x'", "--random-inputs")


def test_unknown_input_name(wafers, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((1, 784), np.float32))
    assert_user_error(wsc("run", wafers["mlp"], "-i", "xx=x.npy"), "no input 'xx'",
                      "did you mean 'x'")
    np.savez(tmp_path / "in.npz", y=np.zeros((1, 784), np.float32))
    assert_user_error(wsc("run", wafers["mlp"], "--inputs", "in.npz"), "no input 'y'")


def test_wrong_shape_and_dtype_npy(wafers, tmp_path):
    np.save(tmp_path / "short.npy", np.zeros((2, 783), np.float32))
    assert_user_error(wsc("run", wafers["mlp"], "-i", "x=short.npy"), "dim 1 is 783",
                      "expected 784")
    np.save(tmp_path / "f64.npy", np.zeros((2, 784)))
    assert_user_error(wsc("run", wafers["mlp"], "-i", "x=f64.npy"), "dtype f64")
    np.save(tmp_path / "rank.npy", np.zeros(784, np.float32))
    assert_user_error(wsc("run", wafers["mlp"], "-i", "x=rank.npy"), "rank 1")


def test_unreadable_input_files(wafers, tmp_path):
    assert_user_error(wsc("run", wafers["mlp"], "-i", "x=nope.npy"), "nope.npy", "no such file")
    (tmp_path / "t.npy").write_text("not numpy")
    assert_user_error(wsc("run", wafers["mlp"], "-i", "x=t.npy"), "not an .npy file")
    np.savez(tmp_path / "a.npz", x=np.zeros((1, 784), np.float32))
    assert_user_error(wsc("run", wafers["mlp"], "-i", "x=a.npz"), "--inputs")
    np.save(tmp_path / "o.npy", np.array([object()], dtype=object), allow_pickle=True)
    assert_user_error(wsc("run", wafers["mlp"], "-i", "x=o.npy"), "o.npy")
    assert_user_error(wsc("run", wafers["mlp"], "--inputs", "t.npy"), "not an .npz")


def test_bad_flag_syntax_is_a_usage_error(wafers):
    assert wsc("run", wafers["mlp"], "-i", "x.npy").exit_code == 2
    assert wsc("run", wafers["mlp"], "--random-inputs", "--dim", "N:4").exit_code == 2
    r = wsc("run", wafers["mlp"], "--random-inputs", "--dim", "M=4")
    assert r.exit_code == 2 and "'M'" in r.stderr
    r = wsc("run", wafers["mlp"], "--dim", "N=4")
    assert r.exit_code == 2 and "--random-inputs" in r.stderr


def test_output_never_overwrites_inputs_or_foreign_files(wafers, tmp_path):
    x = np.zeros((1, 784), np.float32)
    np.save(tmp_path / "x.npy", x)
    before = (tmp_path / "x.npy").read_bytes()
    r = wsc("run", wafers["mlp"], "-i", "x=x.npy", "-o", "x.npy")
    assert r.exit_code == 2 and (tmp_path / "x.npy").read_bytes() == before
    r = wsc("run", wafers["mlp"], "--random-inputs", "-o", wafers["mlp"])
    assert r.exit_code == 2
    (tmp_path / "notes.txt").write_text("keep")
    assert_user_error(wsc("run", wafers["mlp"], "--random-inputs", "-o", "notes.txt"),
                      "refusing to overwrite")
    assert (tmp_path / "notes.txt").read_text() == "keep"
    # an existing .npz (e.g. from an earlier run) is replaced
    np.savez(tmp_path / "old.npz", junk=np.ones(2))
    assert wsc("run", wafers["mlp"], "--random-inputs", "-o", "old.npz").exit_code == 0
    assert np.load(tmp_path / "old.npz").files == ["logits"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_truncated_and_missing_artifacts(wafers, tmp_path):
    cut = tmp_path / "cut.wafer"
    cut.write_bytes(wafers["mlp"].read_bytes()[:-10])
    assert_user_error(wsc("run", cut, "--random-inputs"), "cut.wafer")
    assert_user_error(wsc("run", "nothing.wafer", "--random-inputs"), "nothing.wafer",
                      "no such file")
    (tmp_path / "text.wafer").write_text("hello")
    assert_user_error(wsc("run", "text.wafer", "--random-inputs"), "text.wafer")
