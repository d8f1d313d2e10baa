"""Real architectures exported by PyTorch's ONNX exporter compile in wsc and match onnxruntime.

Each model of `compiler/testing/torch_models.py` (ResNet, MobileNetV2, BERT,
GPT-2, ViT, an LSTM classifier) is exported with the TorchScript exporter,
written to a file and compiled with `compiler.compile`; the runtime runs it
and onnxruntime runs the same file, and every output must agree within
rtol = atol = 1e-4. Dynamic axes stay symbolic: one compile serves two input
shapes. A second compile fixes the shapes with `input_shapes`.

The default run covers the small configs at opset 17, 13 (14 for ViT) and 20
(the newest opset the exporter knows); the `slow` marker adds wider and
deeper configs, the same architectures from Hugging Face `transformers` and
the exports of the dynamo exporter (when `transformers` and `onnxscript` are
installed).
"""
from __future__ import annotations

import functools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

# Deselected by default (`pytest`); CI runs them with `pytest -m "slow or torch"`
# after installing the [torch] extra.
pytestmark = pytest.mark.torch

import onnxruntime as ort  # noqa: E402

import compiler  # noqa: E402
from compiler.errors import CompileError  # noqa: E402
from compiler.testing import torch_models as tm  # noqa: E402
from runtime.executor import Executable  # noqa: E402

TOL = dict(rtol=1e-4, atol=1e-4)

# Two settings of each model's dynamic axes (keywords of its `feeds`).
SHAPES = {
    "resnet": [dict(batch=2), dict(batch=3)],
    "mobilenet_v2": [dict(batch=2), dict(batch=1)],
    "bert": [dict(batch=2, seq=8), dict(batch=3, seq=5)],
    "gpt2": [dict(batch=2, seq=8), dict(batch=1, seq=13)],
    "vit": [dict(batch=2), dict(batch=3)],
    "lstm": [dict(batch=2, seq=7), dict(batch=4, seq=3)],
}
SHAPES.update({"hf_bert": SHAPES["bert"], "hf_gpt2": SHAPES["gpt2"], "hf_vit": SHAPES["vit"]})

# ONNX ops that show each export has the layers the architecture is about.
SIGNATURE_OPS = {
    "resnet": {"Conv", "Relu", "Add", "MaxPool", "GlobalAveragePool", "Gemm"},
    "mobilenet_v2": {"Conv", "Clip", "Add", "GlobalAveragePool", "Gemm"},
    "bert": {"Gather", "LayerNormalization", "MatMul", "Softmax", "Erf", "Tanh"},
    "gpt2": {"Gemm", "Split", "Where", "Softmax", "Pow", "Tanh", "LayerNormalization"},
    "vit": {"Conv", "Expand", "Concat", "Softmax", "Erf", "LayerNormalization"},
    "lstm": {"Gather", "LSTM", "Gemm"},
}


@functools.lru_cache(maxsize=None)
def _export(name: str, opset: int = tm.DEFAULT_OPSET, **params) -> tm.TorchExport:
    return tm.export_model(name, opset=opset, **params)


def _check(exp: tm.TorchExport, tmp_path, shapes: list[dict]) -> float:
    """Compile `exp` once with its dynamic axes symbolic, run every setting of `shapes`
    and compare with onnxruntime; returns the largest absolute difference."""
    path = exp.save(tmp_path / f"{exp.name}_{exp.opset}.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    exe = Executable(compiler.compile(path).program)
    assert [s.name for s in exe.outputs] == list(exp.output_names)
    worst = 0.0
    for seed, dims in enumerate(shapes):
        feeds = exp.feeds(seed=seed, **dims)
        want = session.run(None, feeds)
        got = exe.run(feeds)
        for name, w in zip(exp.output_names, want):
            g = got[name]
            assert g.shape == w.shape and g.dtype == w.dtype, (name, dims)
            np.testing.assert_allclose(g, w, **TOL, err_msg=f"{exp.name} {name} at {dims}")
            worst = max(worst, float(np.max(np.abs(g.astype(np.float64) - w))))
    return worst


def _check_fixed(exp: tm.TorchExport, tmp_path, dims: dict) -> None:
    """Compile with every input shape fixed by `input_shapes`; the result is all static."""
    path = exp.save(tmp_path / f"{exp.name}_{exp.opset}_fixed.onnx")
    feeds = exp.feeds(seed=7, **dims)
    result = compiler.compile(path, input_shapes={k: list(v.shape) for k, v in feeds.items()})
    assert all(isinstance(d, int) for s in result.program.outputs for d in s.shape)
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)
    got = Executable(result.program).run(feeds)
    for name, w in zip(exp.output_names, want):
        np.testing.assert_allclose(got[name], w, **TOL, err_msg=f"{exp.name} {name} fixed")


@pytest.mark.parametrize("name", list(tm.ARCHITECTURES))
def test_export_matches_onnxruntime_at_two_shapes(name, tmp_path) -> None:
    exp = _export(name)
    assert SIGNATURE_OPS[name] <= set(exp.op_histogram())
    _check(exp, tmp_path, SHAPES[name])


@pytest.mark.parametrize("name", list(tm.ARCHITECTURES))
def test_export_with_fixed_input_shapes(name, tmp_path) -> None:
    _check_fixed(_export(name), tmp_path, SHAPES[name][1])


@pytest.mark.parametrize("opset", [13, tm.MAX_LEGACY_OPSET])
def test_bert_at_the_oldest_and_newest_exporter_opsets(opset, tmp_path) -> None:
    exp = _export("bert", opset)
    ops = set(exp.op_histogram())
    if opset < 17:  # LayerNormalization is decomposed before opset 17
        assert "LayerNormalization" not in ops and "ReduceMean" in ops
    else:           # and GELU is one op from opset 20 on
        assert "Gelu" in ops and "Erf" not in ops
    _check(exp, tmp_path, SHAPES["bert"])


def test_resnet_with_batchnorm_nodes_kept(tmp_path) -> None:
    exp = _export("resnet", keep_batchnorm=True)
    assert exp.op_histogram()["BatchNormalization"] == 20
    _check(exp, tmp_path, SHAPES["resnet"])


def test_resnet_with_dynamic_image_size_needs_fixed_shapes(tmp_path) -> None:
    exp = _export("resnet", dynamic_image=True)
    path = exp.save(tmp_path / "resnet_hw.onnx")
    with pytest.raises(CompileError) as e:  # a conv's output size of a symbolic height
        compiler.compile(path)
    assert "--input-shape" in str(e.value)
    for size in (32, 40):  # input_shapes are applied while importing
        _check_fixed(exp, tmp_path, dict(batch=2, image_size=size))


def test_exports_are_deterministic() -> None:
    assert tm.export_gpt2().onnx == tm.export_gpt2().onnx


# -- every model at the other opsets ---------------------------------------------------------

def _low_opset(name: str) -> int:
    return 14 if name == "vit" else 13  # nn.MultiheadAttention exports from opset 14


@pytest.mark.parametrize("name", list(tm.ARCHITECTURES))
@pytest.mark.parametrize("which", ["low", "max"])
def test_every_model_at_other_opsets(name, which, tmp_path) -> None:
    opset = _low_opset(name) if which == "low" else tm.MAX_LEGACY_OPSET
    _check(_export(name, opset), tmp_path, SHAPES[name])


# -- slow: bigger configs, transformers' models -----------------------------------------------

BIGGER = {
    "resnet": dict(width=16, image_size=64),
    "mobilenet_v2": dict(width_mult=0.5, image_size=64),
    "bert": dict(hidden=64, layers=4, heads=4, intermediate=256, seq=32),
    "gpt2": dict(hidden=64, layers=4, heads=4, seq=32),
    "vit": dict(image_size=32, patch=8, hidden=64, layers=4, heads=4, mlp=128),
    "lstm": dict(embed=32, hidden=64, layers=2, bidirectional=True, seq=20),
}
BIGGER_SHAPES = {
    "resnet": [dict(batch=2), dict(batch=1)],
    "mobilenet_v2": [dict(batch=2), dict(batch=1)],
    "bert": [dict(batch=2, seq=32), dict(batch=1, seq=17)],
    "gpt2": [dict(batch=2, seq=32), dict(batch=1, seq=21)],
    "vit": [dict(batch=2), dict(batch=1)],
    "lstm": [dict(batch=3, seq=20), dict(batch=1, seq=9)],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(tm.ARCHITECTURES))
def test_bigger_configs(name, tmp_path) -> None:
    _check(_export(name, **BIGGER[name]), tmp_path, BIGGER_SHAPES[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", list(tm.HF_ARCHITECTURES))
def test_transformers_models(name, tmp_path) -> None:
    pytest.importorskip("transformers")
    exp = _export(name)
    _check(exp, tmp_path, SHAPES[name])
    _check_fixed(exp, tmp_path, SHAPES[name][1])


# -- slow: the dynamo (torch.export) exporter ----------------------------------------------

# Its GPT-2 sizes the causal-mask slice as Min(max_positions, seq): a size wsc cannot
# name with a symbolic seq (it compiles with input_shapes fixed).
_DYNAMO_NEEDS_FIXED = {"gpt2"}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(tm.ARCHITECTURES))
def test_dynamo_exporter(name, tmp_path) -> None:
    pytest.importorskip("onnxscript")
    exp = _export(name, exporter="dynamo")
    assert exp.opset >= tm.MIN_DYNAMO_OPSET
    if name in _DYNAMO_NEEDS_FIXED:
        with pytest.raises(CompileError, match="must be known at compile time"):
            compiler.compile(exp.save(tmp_path / f"{name}.onnx"))
    else:
        _check(exp, tmp_path, SHAPES[name])
    for dims in SHAPES[name]:
        _check_fixed(exp, tmp_path, dims)
