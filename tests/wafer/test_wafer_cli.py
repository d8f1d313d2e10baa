"""`wsc compile --mesh/--mode` and `wsc inspect --report/--placement/--placement-image`,
with their errors: exit 1 and `error:` for model problems, exit 2 for bad flags."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

import runtime
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


@pytest.fixture(scope="module")
def placed(tmp_path_factory):
    out = tmp_path_factory.mktemp("wafer") / "cnn.wafer"
    r = wsc("compile", CNN, "-o", out, "--mesh", "64x64")
    assert r.exit_code == 0, r.output
    return out


def test_compile_with_a_mesh_places_and_routes(placed):
    header = runtime.load(placed).header
    assert header["pipeline"].endswith("place{mesh=64x64},route")
    w = header["reports"]["wafer"]
    assert w["mode"] == "pipelined" and w["target"]["width"] == 64
    assert w["routes"]["flows"] == len(w["edges"])
    assert w["performance"]["throughput"] > 0
    assert all("x" in k for k in w["kernels"])


def test_compile_summary_mentions_the_wafer(tmp_path):
    r = wsc("compile", MLP, "--mesh", "64x64")
    assert r.exit_code == 0, r.output
    line = next(l for l in r.stdout.splitlines() if l.strip().startswith("wafer"))
    assert "pipelined on 64x64" in line and "samples/s" in line


def test_the_artifact_is_deterministic(tmp_path):
    for name in ("a.wafer", "b.wafer"):
        assert wsc("compile", CNN, "-o", name, "--mesh", "64x64").exit_code == 0
    assert (tmp_path / "a.wafer").read_bytes() == (tmp_path / "b.wafer").read_bytes()


def test_inspect_report(placed):
    r = wsc("inspect", placed, "--report")
    assert r.exit_code == 0, r.output
    for words in ("throughput", "latency", "FLOP utilization", "placement", "routing",
                  "bottleneck", "kernel", "cores"):
        assert words in r.stdout, words
    kernels = runtime.load(placed).header["reports"]["wafer"]["kernels"]
    for k in kernels:
        assert k["name"] in r.stdout


def test_inspect_placement_draws_every_kernel(placed):
    r = wsc("inspect", placed, "--placement")
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].startswith("mesh 64x64")
    kernels = runtime.load(placed).header["reports"]["wafer"]["kernels"]
    grid = "".join(l.split("|")[1] for l in lines if l.count("|") == 2)
    for i, k in enumerate(kernels):
        assert "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[i] in grid
        assert k["name"] in r.stdout


def test_inspect_placement_image(placed, tmp_path):
    r = wsc("inspect", placed, "--placement-image", "map.svg")
    assert r.exit_code == 0, r.output
    root = ET.parse(tmp_path / "map.svg").getroot()
    kernels = [g for g in root.iter("{http://www.w3.org/2000/svg}g")
               if g.get("class") == "kernel"]
    assert len(kernels) == len(runtime.load(placed).header["reports"]["wafer"]["kernels"])


def test_unknown_mesh_is_a_usage_error():
    r = wsc("compile", MLP, "--mesh", "wse9")
    assert r.exit_code == 2
    assert "wse9" in r.output and "wse2" in r.output


def test_mode_without_mesh_is_a_usage_error():
    r = wsc("compile", MLP, "--mode", "streaming")
    assert r.exit_code == 2 and "--mesh" in r.output


def test_too_big_for_pipelined_mode(tmp_path):
    r = wsc("compile", MLP, "--mesh", "2x2", "--mode", "pipelined")
    assert r.exit_code == 1, r.output
    assert r.stderr.startswith("error: ") and "pipelined mode" in r.stderr
    assert "--mode streaming" in r.stderr and "Traceback" not in r.output
    assert not (tmp_path / "mlp.wafer").exists()
    r = wsc("compile", MLP, "--mesh", "2x2")                  # auto: weights streamed
    assert r.exit_code == 0, r.output
    assert "streaming on 2x2" in r.stdout
    r = wsc("inspect", "mlp.wafer", "--report")
    assert r.exit_code == 0 and "mode streaming" in r.stdout and "I/O" in r.stdout
    r = wsc("inspect", "mlp.wafer", "--placement")
    assert r.exit_code == 0 and "no placement" in r.stdout


def test_inspect_without_a_wafer_report():
    assert wsc("compile", MLP).exit_code == 0
    r = wsc("inspect", "mlp.wafer", "--report")
    assert r.exit_code == 1 and "no wafer report" in r.stderr and "--mesh" in r.stderr
    r = wsc("inspect", MLP, "--placement")
    assert r.exit_code == 2
