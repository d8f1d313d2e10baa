"""Write the sample ONNX models next to this file: mlp.onnx, cnn_bn.onnx, transformer_block.onnx.

    python samples/make_onnx_samples.py            # rewrites samples/*.onnx
    wsc compile samples/mlp.onnx -o mlp.wafer

The models are built with `onnx.helper` from seeded random weights, so every
run writes the same bytes (a test checks the committed files against a fresh
run). Each has a symbolic batch dim `N`:

- mlp.onnx: 784 -> 32 -> 10, Gemm/Relu (28x28 digits, as samples/mlp.wsl);
- cnn_bn.onnx: two rounds of Conv 3x3 -> BatchNormalization -> Relu ->
  MaxPool 2x2, then GlobalAveragePool -> Flatten -> Gemm, on [N, 1, 28, 28];
- transformer_block.onnx: one post-LN encoder layer (d_model 32, 2 heads, MLP
  32 -> 64 -> 32) as PyTorch's exporter writes it, with a symbolic sequence
  length `S` too: the head split's Reshape target is computed with
  Shape/Gather/Unsqueeze/Concat, GELU is Div/Erf/Add/Mul.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from onnx import ModelProto, TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # what opset 17 needs; older onnxruntime builds read it too
F = TensorProto.FLOAT


class _Graph:
    """Nodes and seeded initializers of one model being built."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list = []
        self.inits: list = []

    def param(self, name: str, shape, std: float, mean: float = 0.0) -> str:
        data = (mean + std * self.rng.standard_normal(shape)).astype(np.float32)
        self.inits.append(numpy_helper.from_array(data, name))
        return name

    def const(self, name: str, values, dtype=np.float32) -> str:
        self.inits.append(numpy_helper.from_array(np.array(values, dtype=dtype), name))
        return name

    def node(self, op: str, inputs, output: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, list(inputs), [output], name=output, **attrs))
        return output

    def model(self, name: str, inputs, outputs, doc: str) -> ModelProto:
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.inits, doc_string=doc)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="wsc samples/make_onnx_samples.py",
                                  producer_version="1")
        model.ir_version = IR_VERSION
        return model


def mlp() -> ModelProto:
    g = _Graph(seed=1)
    h = g.node("Gemm", ["x", g.param("fc1.weight", [32, 784], 0.05),
                        g.param("fc1.bias", [32], 0.05)], "fc1", transB=1)
    h = g.node("Relu", [h], "relu1")
    g.node("Gemm", [h, g.param("fc2.weight", [10, 32], 0.2), g.param("fc2.bias", [10], 0.05)],
           "logits", transB=1)
    return g.model("mlp", [helper.make_tensor_value_info("x", F, ["N", 784])],
                   [helper.make_tensor_value_info("logits", F, ["N", 10])],
                   "A two-layer perceptron for 28x28 digits: 784 -> 32 -> 10.")


def cnn_bn() -> ModelProto:
    g = _Graph(seed=2)
    x = "x"
    for i, (c_in, c_out) in enumerate([(1, 8), (8, 16)], start=1):
        x = g.node("Conv", [x, g.param(f"conv{i}.weight", [c_out, c_in, 3, 3], 0.3)],
                   f"conv{i}", pads=[1, 1, 1, 1])
        x = g.node("BatchNormalization",
                   [x, g.param(f"bn{i}.weight", [c_out], 0.1, 1.0),
                    g.param(f"bn{i}.bias", [c_out], 0.1),
                    g.param(f"bn{i}.running_mean", [c_out], 0.1),
                    g.param(f"bn{i}.running_var", [c_out], 0.1, 1.0)],
                   f"bn{i}", epsilon=1e-5)
        x = g.node("Relu", [x], f"relu{i}")
        x = g.node("MaxPool", [x], f"pool{i}", kernel_shape=[2, 2], strides=[2, 2])
    x = g.node("GlobalAveragePool", [x], "gap")
    x = g.node("Flatten", [x], "features", axis=1)
    g.node("Gemm", [x, g.param("fc.weight", [10, 16], 0.3), g.param("fc.bias", [10], 0.05)],
           "logits", transB=1)
    return g.model("cnn_bn", [helper.make_tensor_value_info("x", F, ["N", 1, 28, 28])],
                   [helper.make_tensor_value_info("logits", F, ["N", 10])],
                   "Conv -> BatchNormalization -> Relu -> MaxPool (twice), GlobalAveragePool, "
                   "Gemm: [N, 1, 28, 28] -> [N, 10].")


D, HEADS, FF = 32, 2, 64


def transformer_block() -> ModelProto:
    g = _Graph(seed=3)
    for name, value in [("zero", 0), ("one", 1), ("axes0", [0]),
                        ("heads_dh", [HEADS, D // HEADS]), ("d_model", [D])]:
        g.const(name, value, np.int64)
    g.const("scale", np.sqrt(D // HEADS))
    g.const("sqrt2", np.sqrt(2.0))
    g.const("one_f", 1.0)
    g.const("half", 0.5)

    def linear(name, x, n_in, n_out):
        y = g.node("MatMul", [x, g.param(f"{name}.weight", [n_in, n_out], n_in ** -0.5)],
                   f"{name}.matmul")
        return g.node("Add", [y, g.param(f"{name}.bias", [n_out], 0.02)], name)

    def layer_norm(name, x):
        return g.node("LayerNormalization", [x, g.param(f"{name}.weight", [D], 0.1, 1.0),
                                             g.param(f"{name}.bias", [D], 0.02)],
                      name, axis=-1, epsilon=1e-5)

    # batch and sequence sizes as 1-D tensors, as the exporter computes them
    shape = g.node("Shape", ["x"], "x.shape")
    n = g.node("Unsqueeze", [g.node("Gather", [shape, "zero"], "n", axis=0), "axes0"], "n.1d")
    s = g.node("Unsqueeze", [g.node("Gather", [shape, "one"], "s", axis=0), "axes0"], "s.1d")
    split_shape = g.node("Concat", [n, s, "heads_dh"], "split_shape", axis=0)
    merge_shape = g.node("Concat", [n, s, "d_model"], "merge_shape", axis=0)

    def heads(name):  # [N, S, D] -> [N, HEADS, S, D / HEADS]
        x = g.node("Reshape", [linear(f"attn.{name}", "x", D, D), split_shape], f"{name}.split")
        return g.node("Transpose", [x], f"{name}.heads", perm=[0, 2, 1, 3])

    q, k, v = heads("q"), heads("k"), heads("v")
    k_t = g.node("Transpose", [k], "k.t", perm=[0, 1, 3, 2])
    scores = g.node("Div", [g.node("MatMul", [q, k_t], "qk"), "scale"], "scores")
    attn = g.node("Softmax", [scores], "attn", axis=-1)
    ctx = g.node("Transpose", [g.node("MatMul", [attn, v], "ctx.heads")], "ctx.t",
                 perm=[0, 2, 1, 3])
    ctx = g.node("Reshape", [ctx, merge_shape], "ctx")
    x1 = layer_norm("ln1", g.node("Add", ["x", linear("attn.out", ctx, D, D)], "res1"))

    h = linear("mlp.fc1", x1, D, FF)
    erf = g.node("Erf", [g.node("Div", [h, "sqrt2"], "gelu.div")], "gelu.erf")
    gelu = g.node("Mul", [g.node("Mul", [h, g.node("Add", [erf, "one_f"], "gelu.add")],
                                 "gelu.mul"), "half"], "gelu")
    layer_norm("y", g.node("Add", [x1, linear("mlp.fc2", gelu, FF, D)], "res2"))
    return g.model("transformer_block", [helper.make_tensor_value_info("x", F, ["N", "S", D])],
                   [helper.make_tensor_value_info("y", F, ["N", "S", D])],
                   "One post-LN transformer encoder layer (d_model 32, 2 heads, MLP 64), "
                   "in the form PyTorch's ONNX exporter writes.")


SAMPLES = {"mlp.onnx": mlp, "cnn_bn.onnx": cnn_bn, "transformer_block.onnx": transformer_block}


def write_samples(out_dir: str | Path) -> list[Path]:
    """Write every sample into `out_dir`; returns the paths written."""
    out = Path(out_dir)
    paths = []
    for filename, build in SAMPLES.items():
        path = out / filename
        path.write_bytes(build().SerializeToString())
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in write_samples(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent):
        print(f"wrote {p} ({p.stat().st_size} bytes)")
