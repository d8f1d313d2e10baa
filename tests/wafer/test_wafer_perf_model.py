"""The performance model's arithmetic on a hand-made two-kernel pipeline, and weight streaming's
per-layer arithmetic, against numbers computed here."""
from __future__ import annotations

import numpy as np
import pytest

from compiler.ir.core import Module
from compiler.ir.builder import Builder
from compiler.ir.types import TensorType
from compiler.passes.place import wafer_report
from compiler.place.perf_model import evaluate, format_performance
from compiler.target import get_target

TARGET = {"name": "4x2", "width": 4, "height": 2, "cores": 8, "sram_bytes": 49152,
          "flops_per_cycle": 8, "clock_hz": 1e9, "link_bytes_per_cycle": 4,
          "channels_per_link": 24, "io_bytes_per_s": 1e11, "word_bytes": 2,
          "sram_bytes_per_cycle": 24}


def two_kernels(routed: bool) -> dict:
    report = {
        "model": "pipe", "target": dict(TARGET), "mode": "pipelined",
        "io": {"in_bytes": 100, "out_bytes": 50},
        "kernels": [
            {"name": "k1", "op": "nn.matmul", "kind": "matmul", "cores": 4, "compute": 100,
             "sram": 80, "port": 50, "time": 100, "flops": 4000, "ideal": 90.0,
             "x": 0, "y": 0, "w": 2, "h": 2},
            {"name": "k2", "op": "nn.relu", "kind": "elementwise", "cores": 2, "compute": 60,
             "sram": 120, "port": 30, "time": 120, "flops": 1000, "ideal": 100.0,
             "x": 2, "y": 0, "w": 1, "h": 2},
        ],
        "edges": [{"src": "k1", "dst": "k2", "bytes": 2000}],
        "placement": {"efficiency": 0.2, "lower_bound": 100},
    }
    if routed:
        report["routes"] = {
            "bundles": [{"from": "k1", "to": "k2", "links": 2, "load": 2000.0,
                         "load_per_link": 1000.0, "utilization": 2000 / (2 * 4 * 120),
                         "channels_per_link": 1, "segment": [2, 0, 2, 2]}],
            "routes": [{"src": "k1", "dst": "k2", "bytes": 2000.0, "hops": 1.0,
                        "paths": [{"via": [], "bytes": 2000.0, "hops": 1.0}]}],
            "flows": 1, "paths": 1, "mean_hops": 1.0, "max_hops": 1.0, "max_utilization": 2.08,
            "max_channels_per_link": 1, "over_capacity": 1,
        }
    return report


def test_unrouted_pipeline_runs_at_its_slowest_kernel():
    perf = evaluate(two_kernels(False))
    # k2's SRAM (120 cycles) is the slowest term of any kernel
    assert perf["stage_cycles"] == 120
    assert perf["throughput"] == pytest.approx(1e9 / 120)
    assert perf["bottleneck"]["kernel"] == "k2" and perf["bottleneck"]["bound"] == "sram"
    assert perf["latency_cycles"] == 100 + 1 + 120        # one hop between them, unrouted
    assert perf["active_cores"] == pytest.approx(6 / 8)
    assert perf["flop_utilization"] == pytest.approx(5000 * (1e9 / 120) / (8 * 8 * 1e9))
    assert perf["efficiency"] == pytest.approx((90 + 100) / 8 / 120, rel=1e-5)  # 6 digits
    assert perf["io_cycles"] == pytest.approx(150 / 1e11 * 1e9)


def test_an_overloaded_boundary_makes_both_kernels_link_bound():
    perf = evaluate(two_kernels(True))
    # 2000 bytes over 2 links: 1000 bytes a link at 4 bytes a cycle = 250 cycles
    rows = {r["kernel"]: r for r in perf["kernels"]}
    assert rows["k1"]["link"] == 250 and rows["k2"]["link"] == 250
    assert rows["k1"]["bound"] == rows["k2"]["bound"] == "link"
    assert perf["stage_cycles"] == 250
    assert perf["throughput"] == pytest.approx(4e6)
    assert perf["latency_cycles"] == 250 + 1 + 250
    assert perf["bottleneck"]["kernel"] == "k1"            # the first of the slowest
    assert "link-bound" in perf["bottleneck"]["why"]
    assert rows["k1"]["flop_utilization"] == pytest.approx(4000 / (4 * 8 * 250))


def test_io_bound_pipeline():
    report = two_kernels(False)
    report["target"]["io_bytes_per_s"] = 1e9            # 150 bytes per sample: 150 cycles
    perf = evaluate(report)
    assert perf["stage_cycles"] == 150
    assert perf["bottleneck"]["bound"] == "io"


def test_the_report_prints():
    report = two_kernels(True)
    report["performance"] = evaluate(report)
    text = format_performance(report)
    assert "throughput        4e+06 samples/s" in text
    assert "bottleneck        k1" in text
    assert text.count("\n") > 8


def mlp(hidden: int = 128) -> Module:
    m = Module("mlp")
    x = m.add_input("x", TensorType((1, 64), "f32"))
    rng = np.random.default_rng(0)
    w1 = m.add_constant("w1", rng.standard_normal((64, hidden)).astype(np.float32))
    w2 = m.add_constant("w2", rng.standard_normal((hidden, 10)).astype(np.float32))
    b = Builder(m)
    h = b.create("nn.relu", [b.create("nn.matmul", [x, w1]).result]).result
    y = b.create("nn.matmul", [h, w2]).result
    m.outputs = {"y": y}
    return m


def test_streaming_arithmetic():
    target = get_target("16x16")
    report = wafer_report(mlp(), target, mode="streaming")
    assert report["mode"] == "streaming"
    s = report["streaming"]
    layers = {r["op"]: r for r in s["layers"]}
    clock, io = target.clock_hz, target.io_bytes_per_s
    total = 0.0
    for r, numel in zip([x for x in s["layers"] if x["op"] == "nn.matmul"], (64 * 128, 128 * 10)):
        assert r["weight_bytes"] == numel * 2                    # fp16
        assert r["io_cycles"] == pytest.approx(numel * 2 / io * clock, rel=1e-5)
    for r in s["layers"]:
        cycles = max(r["compute_cycles"], r["io_cycles"])
        assert r["cycles"] == pytest.approx(cycles, rel=1e-5)
        assert r["bound"] == ("I/O" if r["io_cycles"] > r["compute_cycles"] else "compute")
        total += cycles
    assert layers["nn.relu"]["weight_bytes"] == 0 and layers["nn.relu"]["bound"] == "compute"
    # a layer cannot beat its work spread over every core of the mesh
    assert layers["nn.relu"]["compute_cycles"] >= 128 / 4 / target.cores
    assert s["cycles"] == pytest.approx(total, rel=1e-5)
    assert s["throughput"] == pytest.approx(clock / total, rel=1e-5)
    io_bound = [r for r in s["layers"] if r["bound"] == "I/O"]
    for r in io_bound:
        assert r["batch_to_compute"] == pytest.approx(r["io_cycles"] / r["compute_cycles"],
                                                      rel=1e-5)
    text = format_performance(report)
    assert "mode streaming" in text and "runs/s" in text
