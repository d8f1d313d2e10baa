"""The kernel graph of real (tiny) models, and legal placements on small meshes: every kernel
inside the mesh, none overlapping, memory per core within the SRAM — checked here from the
reported parameters with formulas written in this file."""
from __future__ import annotations

import numpy as np
import pytest

from compiler.errors import PlacementError
from compiler.frontend.onnx import import_onnx
from compiler.passes.place import wafer_report
from compiler.place.kernel_graph import build_kernel_graph
from compiler.target import get_target
from compiler.testing.onnx_models import bert_encoder, resnet


def cdiv(a, b):
    return -(-a // b)


@pytest.fixture(scope="module")
def tiny_bert():
    return import_onnx(bert_encoder(layers=1, hidden=16, heads=2, ffn=32, seq=8), name="bert")


@pytest.fixture(scope="module")
def tiny_resnet():
    return import_onnx(resnet(blocks=(1, 1), width=4, image=16, classes=10), name="resnet")


def test_kernel_graph_of_an_encoder_layer(tiny_bert):
    g = build_kernel_graph(tiny_bert, get_target("64x64"))
    ops = [k.op for k in g.kernels]
    # q, k, v, attention output, intermediate, output: 6 matmuls; one attention kernel;
    # reshapes and transposes are no kernels
    assert ops.count("nn.matmul") == 6
    assert ops.count("attention") == 1
    assert not any(o.startswith("tensor.") for o in ops)
    att = next(k for k in g.kernels if k.op == "attention")
    assert [o.name for o in att.ops] == ["nn.matmul", "math.div", "nn.softmax", "nn.matmul"]
    edges = {(e.src, e.dst): e.weight for e in g.edges}
    # q, k and v each reach the attention kernel: 8 tokens x 16 features x 2 bytes (fp16)
    into_att = [w for (a, b), w in edges.items() if b == att.name]
    assert sorted(into_att) == [256.0, 256.0, 256.0]
    # the FFN's intermediate activation: 8 x 32 x 2 bytes into the gelu
    gelu = next(k for k in g.kernels if k.op == "nn.gelu")
    assert [w for (a, b), w in edges.items() if b == gelu.name] == [512.0]
    # the wafer's I/O: the input once (it feeds 4 kernels) and the output
    assert g.io_in_bytes == 256 and g.io_out_bytes == 256


def _paint(report) -> np.ndarray:
    t = report["target"]
    grid = np.zeros((t["height"], t["width"]), dtype=np.int64)
    for k in report["kernels"]:
        assert 0 <= k["x"] and k["x"] + k["w"] <= t["width"], k["name"]
        assert 0 <= k["y"] and k["y"] + k["h"] <= t["height"], k["name"]
        grid[k["y"]:k["y"] + k["h"], k["x"]:k["x"] + k["w"]] += 1
    return grid


@pytest.mark.parametrize("mesh", ["64x64", "48x80"])
def test_placements_are_legal(tiny_bert, tiny_resnet, mesh):
    target = get_target(mesh)
    for module in (tiny_bert, tiny_resnet):
        report = wafer_report(module, target)
        assert report["mode"] == "pipelined"
        grid = _paint(report)
        assert grid.max() <= 1, "kernels overlap"
        used = sum(k["w"] * k["h"] for k in report["kernels"])
        assert int(grid.sum()) == used
        assert report["placement"]["cores"] == used
        limit = target.memory_words
        for k in report["kernels"]:
            assert k["w"] * k["h"] == k["cores"]
            assert k["memory_words"] <= limit, k["name"]
            assert k["time"] == max(k["compute"], k["sram"], k["port"], 1)
            assert k["time"] <= report["placement"]["max_time"]
        # the matmuls' memory and rectangle, recomputed from their parameters
        for k in report["kernels"]:
            if k["op"] != "nn.matmul" or k["kind"] != "matmul" or not k["weights"]:
                continue
            w = module.constants[k["weights"][0]]
            K, N = w.type.shape
            p = k["params"]
            kc, nc = cdiv(K, p["k"]), cdiv(N, p["n"])
            assert k["memory_words"] == kc * nc + 2 * kc + 2 * nc + 16
            assert sorted((k["w"], k["h"])) == sorted((p["k"], p["m"] * p["n"]))
        eff = report["placement"]["efficiency"]
        ideal = sum(k["ideal"] for k in report["kernels"]) / target.cores
        assert eff == pytest.approx(ideal / report["placement"]["max_time"], rel=1e-4)


def test_too_big_for_pipelined_mode(tiny_bert):
    with pytest.raises(PlacementError, match="pipelined mode"):
        wafer_report(tiny_bert, get_target("2x2"), mode="pipelined")
    report = wafer_report(tiny_bert, get_target("2x2"))        # auto: streaming instead
    assert report["mode"] == "streaming"
    assert "do not fit" in report["mode_reason"]


def test_the_placement_is_deterministic(tiny_resnet):
    a = wafer_report(tiny_resnet, get_target("64x64"))
    b = wafer_report(tiny_resnet, get_target("64x64"))
    assert a == b


def test_fused_kernels_account_for_their_work(tiny_resnet):
    # the default pipeline fuses convolutions with their bias, activation, residual or
    # shortcut convolution and pool: each kernel's model must still do every MAC
    import compiler
    from compiler.ir.core import Constant
    from compiler.ir.printer import assign_names
    from compiler.ops import get_op
    result = compiler.compile(tiny_resnet, mesh="64x64")
    report = result.program.header["reports"]["wafer"]
    names = {n: v for v, n in assign_names(result.module).items()}
    lanes = 4
    checked = 0
    for k in report["kernels"]:
        if k["kind"] != "conv":
            continue
        op = names[k["name"]].producer
        x, w = op.operands[0].type, op.operands[1].type
        conv = get_op("nn.conv2d")
        attrs = conv.normalize_attrs({a: op.attrs[a] for a in ("strides", "pads", "dilations",
                                                              "groups") if a in op.attrs})
        (own,) = conv.infer([x, w], attrs)             # before any fused pool
        batch = own.shape[0] if isinstance(own.shape[0], int) else 1   # symbolic N: 1
        positions = batch * own.shape[2] * own.shape[3]
        weights = [v for v in op.operands[1:] if isinstance(v, Constant) and v.type.rank == 4]
        macs = positions * sum(int(np.prod(v.type.shape)) for v in weights)
        outputs = positions * own.shape[1]
        work = k["ideal"] * lanes                      # MACs and epilogue ops, spread out
        assert macs <= work <= macs + 16 * outputs, k["name"]
        checked += 1
    assert checked >= 4
