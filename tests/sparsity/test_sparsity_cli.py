"""The sparsity flags of `wsc compile`, `wsc inspect --sparsity`, `wsc calibrate`, and their
error paths (exit 2 for malformed flags, 1 for bad files, never a traceback)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from compiler.cli import main

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
MLP = SAMPLES / "mlp.wsl"
CNN = SAMPLES / "cnn.wsl"


def wsc(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def assert_error(r, code, *words):
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output
    for w in words:
        assert w in r.stderr, r.stderr


def test_compile_with_prune_reports_the_change_and_inspect_shows_the_layers(tmp_path):
    r = wsc("compile", MLP, "--prune", "magnitude:0.8,first=0.8,last=0.5")
    assert r.exit_code == 0, r.output
    assert "prune{spec=" in r.stdout and "outputs changed" in r.stdout
    assert "logits rel L2" in r.stdout
    r = wsc("inspect", "mlp.wafer", "--sparsity")
    assert r.exit_code == 0, r.output
    out = r.stdout
    for word in ("weight", "shape", "density", "nnz", "kernel", "MACs skipped", "bytes saved",
                 "fc1.weight", "784x256", "20.0%", "fc2.weight", "50.0%", "total",
                 "kernel choices:", "crossover", "pruning: magnitude:0.8,first=0.8,last=0.5",
                 "changes the model's semantics", "requested 0.8, achieved 0.8000",
                 "output logits: max abs deviation", "with dense weights", "N=1 assumed"):
        assert word in out, (word, out)
    r = wsc("inspect", "mlp.wafer", "--sparsity", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    layers = {l["weight"]: l for l in doc["layers"]}
    w1 = layers["fc1.weight"]
    assert w1["nnz"] == 200704 - int(0.8 * 200704 + 0.5)
    assert w1["macs_skipped"] == 200704 - w1["nnz"]
    assert doc["totals"]["params"] == 784 * 256 + 256 * 10
    assert doc["size"] == (tmp_path / "mlp.wafer").stat().st_size
    assert doc["dense_size"] == doc["size"] - doc["totals"]["stored_bytes"] + \
        doc["totals"]["dense_bytes"]
    assert doc["pruning"]["deviation"]["logits"]["rel_l2"] > 0
    r = wsc("inspect", "mlp.wafer")
    assert "with dense weights" in r.stdout


def test_inspect_sparsity_of_a_source_is_a_usage_error():
    assert_error(wsc("inspect", MLP, "--sparsity"), 2, "applies to .wafer files only")


def test_bad_prune_spec_is_a_usage_error_with_a_caret():
    r = wsc("compile", MLP, "--prune", "magnitude:0.9,fc1=abc")
    assert_error(r, 2, "--prune", "expected a sparsity", "magnitude:0.9,fc1=abc")
    lines = r.stderr.splitlines()
    i = next(k for k, l in enumerate(lines) if l.strip() == "magnitude:0.9,fc1=abc")
    assert lines[i + 1].index("^") == lines[i].index("abc")
    assert_error(wsc("compile", MLP, "--prune", "lottery:0.5"), 2, "unknown pruning method")
    assert not Path("mlp.wafer").exists()


def test_prune_glob_matching_nothing_names_the_weights():
    r = wsc("compile", MLP, "--prune", "magnitude:0.9,fc3*=0")
    assert_error(r, 1, "'fc3*' matches no prunable weight", "fc1.weight, fc2.weight", "^^^^")


def test_calibration_file_errors(tmp_path):
    assert_error(wsc("compile", MLP, "--prune", "wanda:0.5", "--calibration", "none.npz"), 1,
                 "none.npz", "no such calibration file")
    np.savez(tmp_path / "names.npz", y=np.zeros((2, 784), np.float32))
    assert_error(wsc("compile", MLP, "--prune", "wanda:0.5", "--calibration", "names.npz"), 1,
                 "calibration array 'y' is not an input", "x: f32[N, 784]")
    np.savez(tmp_path / "shape.npz", x=np.zeros((2, 783), np.float32))
    assert_error(wsc("compile", MLP, "--prune", "wanda:0.5", "--calibration", "shape.npz"), 1,
                 "shape [2, 783]", "dim 1 must be 784")
    np.savez(tmp_path / "rank.npz", x=np.zeros(784, np.float32))
    assert_error(wsc("compile", MLP, "--prune", "wanda:0.5", "--calibration", "rank.npz"), 1,
                 "rank 1", "expected rank 2")
    np.savez(tmp_path / "kind.npz", x=np.zeros((2, 784), np.int32))
    assert_error(wsc("compile", MLP, "--prune", "wanda:0.5", "--calibration", "kind.npz"), 1,
                 "dtype int32, expected f32")
    np.save(tmp_path / "one.npy", np.zeros((2, 784), np.float32))
    assert_error(wsc("compile", MLP, "--prune", "wanda:0.5", "--calibration", "one.npy"), 1,
                 "not an .npz archive")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really")
    assert_error(wsc("compile", MLP, "--prune", "wanda:0.5", "--calibration", "junk.npz"), 1,
                 "cannot read the calibration archive")
    assert_error(wsc("compile", MLP, "--calibration", "names.npz"), 2, "add --prune")
    assert_error(wsc("compile", MLP, "--prune", "wanda:0.5", "--calibration-samples", "0"), 2,
                 "at least 1")


def test_calibration_file_is_used(tmp_path):
    x = np.random.default_rng(0).standard_normal((8, 784)).astype(np.float64)  # cast to f32
    np.savez(tmp_path / "calib.npz", x=x)
    r = wsc("compile", MLP, "--prune", "wanda:0.5", "--calibration", "calib.npz")
    assert r.exit_code == 0, r.output
    doc = json.loads(wsc("inspect", "mlp.wafer", "--sparsity", "--json").stdout)
    assert doc["pruning"]["calibration"] == "calib.npz"


def test_cost_model_flag_errors(tmp_path):
    assert_error(wsc("compile", MLP, "--cost-model", "none.json"), 1, "no such file",
                 "wsc calibrate")
    (tmp_path / "c.json").write_text('{"format": "x"}')
    assert_error(wsc("compile", MLP, "--cost-model", "c.json"), 1, "not a cost file")
    assert_error(wsc("compile", MLP, "-O0", "--cost-model", "c.json"), 1,
                 "does not run")
    assert_error(wsc("compile", MLP, "-p", "select-kernels{force=quick}"), 2,
                 "force must be one of")


def test_prune_given_twice_is_an_error():
    assert_error(wsc("compile", MLP, "--prune", "magnitude:0.5", "-p", "prune,select-kernels"),
                 1, "--prune and a prune pass")


def test_compiles_with_pruning_are_byte_identical(tmp_path):
    for spec in ("wanda:0.5,first=0.5", "nm:2:4"):
        assert wsc("compile", CNN, "--prune", spec, "-o", "a.wafer").exit_code == 0
        assert wsc("compile", CNN, "--prune", spec, "-o", "b.wafer").exit_code == 0
        assert (tmp_path / "a.wafer").read_bytes() == (tmp_path / "b.wafer").read_bytes()


def test_list_passes_shows_the_sparsity_passes():
    r = wsc("compile", "--list-passes")
    for word in ("prune", "analyze-sparsity", "select-kernels", "force=str", "spec=str"):
        assert word in r.stdout
