"""Real network layouts built in memory with `onnx.helper`: ResNet-50 and a BERT-base encoder.

The wafer benchmarks and tests compile these. They have the real
architectures and shapes; their weights are seeded random numbers (nothing is
downloaded or stored), so the same arguments always give the same model.

- `resnet(...)`: a bottleneck ResNet (torchvision's v1.5 layout: the stride is
  on the 3x3 convolution). `resnet50()` is ResNet-50 for 224x224 images.
  BatchNorm is folded into the convolutions' biases, as an inference export
  gives it.
- `bert_encoder(...)`: a post-LayerNorm Transformer encoder fed with hidden
  states (the embeddings are left out). `bert_base()` is BERT-base: 12
  layers, hidden 768, 12 heads, FFN 3072, sequence 128.

Both take a symbolic batch dimension ``N`` unless `batch` is an int.

    from compiler.testing.onnx_models import resnet50, save
    path = save(resnet50(), tmp_dir / "resnet50.onnx")
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

OPSET = 20


class _Graph:
    """Nodes and initializers of a graph under construction, with unique names."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.inits = []
        self.count = 0

    def name(self, base: str) -> str:
        self.count += 1
        return f"{base}_{self.count}"

    def weight(self, name: str, shape, fan_in: int) -> str:
        data = self.rng.standard_normal(shape, dtype=np.float32)
        data *= np.float32(1.0 / np.sqrt(max(1, fan_in)))
        return self.const(name, data)

    def const(self, name: str, data: np.ndarray) -> str:
        from onnx import numpy_helper
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(data), name))
        return name

    def node(self, op: str, inputs: list[str], base: str, **attrs) -> str:
        from onnx import helper
        out = self.name(base)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def model(self, name: str, inputs, outputs):
        from onnx import helper
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.inits)
        return helper.make_model(graph, producer_name="wsc.testing.onnx_models",
                                 opset_imports=[helper.make_opsetid("", OPSET)])


# -- ResNet ------------------------------------------------------------------------

def resnet(blocks=(3, 4, 6, 3), width: int = 64, image: int = 224, classes: int = 1000,
           batch: "int | str" = "N", seed: int = 0):
    """A bottleneck ResNet as an ONNX ModelProto (input ``x``: [batch, 3, image, image])."""
    from onnx import TensorProto, helper
    g = _Graph(seed)

    def conv(x, cin, cout, k, stride, name, relu=True):
        w = g.weight(f"{name}.weight", (cout, cin, k, k), cin * k * k)
        b = g.const(f"{name}.bias", np.zeros(cout, np.float32) + np.float32(0.01))
        y = g.node("Conv", [x, w, b], name, kernel_shape=[k, k], strides=[stride, stride],
                   pads=[k // 2] * 4)
        return g.node("Relu", [y], f"{name}.relu") if relu else y

    x = conv("x", 3, width, 7, 2, "conv1")
    x = g.node("MaxPool", [x], "maxpool", kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4)
    cin = width
    for stage, n in enumerate(blocks):
        mid = width * 2 ** stage
        cout = mid * 4
        for i in range(n):
            stride = 2 if (i == 0 and stage > 0) else 1
            name = f"layer{stage + 1}.{i}"
            y = conv(x, cin, mid, 1, 1, f"{name}.conv1")
            y = conv(y, mid, mid, 3, stride, f"{name}.conv2")
            y = conv(y, mid, cout, 1, 1, f"{name}.conv3", relu=False)
            if i == 0:
                x = conv(x, cin, cout, 1, stride, f"{name}.downsample", relu=False)
            x = g.node("Relu", [g.node("Add", [y, x], f"{name}.add")], f"{name}.relu")
            cin = cout
    x = g.node("GlobalAveragePool", [x], "avgpool")
    x = g.node("Flatten", [x], "flatten", axis=1)
    w = g.weight("fc.weight", (classes, cin), cin)
    b = g.const("fc.bias", np.zeros(classes, np.float32))
    g.nodes.append(helper.make_node("Gemm", [x, w, b], ["logits"], name="fc", transB=1))
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, image, image])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, classes])]
    return g.model("resnet", inputs, outputs)


def resnet50(batch: "int | str" = "N", seed: int = 0):
    """ResNet-50 for 224x224 images, 1000 classes (25.6M weights)."""
    return resnet((3, 4, 6, 3), 64, 224, 1000, batch, seed)


# -- BERT encoder -------------------------------------------------------------------

def bert_encoder(layers: int = 12, hidden: int = 768, heads: int = 12, ffn: int = 3072,
                 seq: int = 128, batch: "int | str" = "N", seed: int = 0):
    """A Transformer encoder as an ONNX ModelProto (input ``hidden``: [batch, seq, hidden])."""
    from onnx import TensorProto, helper
    if hidden % heads:
        raise ValueError(f"hidden {hidden} is not a multiple of heads {heads}")
    g = _Graph(seed)
    d = hidden // heads
    split = g.const("shape.heads", np.array([0, 0, heads, d], np.int64))
    merge = g.const("shape.merge", np.array([0, 0, hidden], np.int64))
    scale = g.const("scale", np.array(np.sqrt(d), np.float32))

    def linear(x, cin, cout, name):
        w = g.weight(f"{name}.weight", (cin, cout), cin)
        b = g.const(f"{name}.bias", np.zeros(cout, np.float32) + np.float32(0.01))
        return g.node("Add", [g.node("MatMul", [x, w], name), b], f"{name}.bias_add")

    def layernorm(x, name):
        s = g.const(f"{name}.weight", np.ones(hidden, np.float32))
        b = g.const(f"{name}.bias", np.zeros(hidden, np.float32))
        return g.node("LayerNormalization", [x, s, b], name, axis=-1, epsilon=1e-12)

    def heads_of(x, name, perm):
        return g.node("Transpose", [g.node("Reshape", [x, split], f"{name}.split")],
                      f"{name}.heads", perm=perm)

    x = "hidden"
    for i in range(layers):
        p = f"layer{i}"
        q = heads_of(linear(x, hidden, hidden, f"{p}.query"), f"{p}.q", [0, 2, 1, 3])
        k = heads_of(linear(x, hidden, hidden, f"{p}.key"), f"{p}.k", [0, 2, 3, 1])
        v = heads_of(linear(x, hidden, hidden, f"{p}.value"), f"{p}.v", [0, 2, 1, 3])
        scores = g.node("Div", [g.node("MatMul", [q, k], f"{p}.scores"), scale], f"{p}.scale")
        probs = g.node("Softmax", [scores], f"{p}.softmax", axis=-1)
        ctx = g.node("MatMul", [probs, v], f"{p}.context")
        ctx = g.node("Reshape", [g.node("Transpose", [ctx], f"{p}.ctx.t", perm=[0, 2, 1, 3]),
                                 merge], f"{p}.ctx.merge")
        att = linear(ctx, hidden, hidden, f"{p}.attention.output")
        x = layernorm(g.node("Add", [att, x], f"{p}.attention.residual"), f"{p}.attention.ln")
        h = g.node("Gelu", [linear(x, hidden, ffn, f"{p}.intermediate")], f"{p}.gelu")
        y = linear(h, ffn, hidden, f"{p}.output")
        x = layernorm(g.node("Add", [y, x], f"{p}.output.residual"), f"{p}.output.ln")
    g.nodes.append(helper.make_node("Identity", [x], ["output"], name="output"))
    inputs = [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, [batch, seq, hidden])]
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, seq, hidden])]
    return g.model("bert", inputs, outputs)


def bert_base(batch: "int | str" = "N", seed: int = 0):
    """BERT-base's encoder: 12 layers, hidden 768, 12 heads, FFN 3072, sequence 128."""
    return bert_encoder(12, 768, 12, 3072, 128, batch, seed)


def save(model, path: "str | os.PathLike") -> Path:
    """Write `model` to `path` (one file; protobuf's 2 GB limit is far above these models)."""
    import onnx
    path = Path(path)
    onnx.save_model(model, str(path))
    return path
