"""Real architectures written in PyTorch and exported to ONNX by PyTorch's own exporter.

Tests and benchmarks use these to check wsc on the graphs that users actually
bring: what `torch.onnx.export` emits for a ResNet, a MobileNetV2, a BERT
encoder, a GPT-2, a ViT and an LSTM classifier, shape arithmetic for dynamic
axes included. Each `export_<arch>(...)` builds the model with a fixed seed
(so the same arguments give the same ONNX bytes), exports it with the classic
TorchScript exporter and returns a `TorchExport`: the bytes, the input and
output names, the dynamic axes and a `feeds(...)` function that makes inputs
of any size those axes allow. Every builder takes width/depth/size
parameters: the defaults are small (tests run them in a second); benchmarks
pass the full sizes (`export_resnet(width=64, image_size=224)` is ResNet-18).

    from compiler.testing.torch_models import export_model
    exp = export_model("bert", opset=17)
    exp.save("bert.onnx")
    feeds = exp.feeds(batch=2, seq=16)

`exporter="dynamo"` exports with the newer `torch.export`-based exporter
instead (it needs `onnxscript`).

The layouts follow the reference implementations (torchvision's ResNet-18,
MobileNetV2 and ViT; Hugging Face's eager BERT and GPT-2) but are written
here, so that nothing is downloaded and no other package is needed. This
module needs `torch` (a test-time dependency, not one of wsc's). The
`export_hf_*` builders make the same kinds of model with Hugging Face
`transformers` when it is installed (random weights from a config; never a
download).

The exporter limits what can be asked: ViT's `nn.MultiheadAttention` needs
opset 14 or newer (scaled_dot_product_attention), and the TorchScript exporter
stops at opset 20 (`MAX_LEGACY_OPSET`).
"""
from __future__ import annotations

import io
import math
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import torch
from torch import nn
from torch.nn import functional as F

DEFAULT_OPSET = 17
# The newest opset the TorchScript exporter knows (torch.onnx._constants).
MAX_LEGACY_OPSET = 20
# The oldest opset the dynamo exporter writes by itself (older ones are converted).
MIN_DYNAMO_OPSET = 18


@dataclass(frozen=True)
class TorchExport:
    """One exported model: the ONNX bytes and how to make inputs for it."""

    name: str
    onnx: bytes
    opset: int
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    dynamic_axes: dict[str, dict[int, str]]
    # feeds(seed=0, **dims) -> {input name: array}; the dims are the builder's
    # size keywords (batch, seq, image_size), the defaults those of the export.
    feeds: Callable[..., dict[str, np.ndarray]] = field(repr=False)

    def save(self, path) -> Path:
        p = Path(path)
        p.write_bytes(self.onnx)
        return p

    def op_histogram(self) -> dict[str, int]:
        """ONNX op type -> node count, most frequent first."""
        hist = Counter(n.op_type for n in onnx.load_from_string(self.onnx).graph.node)
        return dict(sorted(hist.items(), key=lambda kv: (-kv[1], kv[0])))


def export(model: nn.Module, args: tuple, *, name: str, input_names, output_names,
           dynamic_axes, feeds, opset: int = DEFAULT_OPSET, keep_batchnorm: bool = False,
           exporter: str = "torchscript") -> TorchExport:
    """Export `model` (in eval mode) to ONNX bytes.

    `exporter` is "torchscript" (the classic tracer, `dynamo=False`) or "dynamo"
    (`torch.export` + onnxscript, which must be installed; it writes opset
    `MIN_DYNAMO_OPSET` or newer, whatever `opset` says). The result's `opset`
    is the one the model declares. `keep_batchnorm=True` keeps BatchNormalization
    nodes in the graph (the TorchScript exporter otherwise folds each one into the
    Conv before it)."""
    if exporter not in ("torchscript", "dynamo"):
        raise ValueError(f"exporter must be 'torchscript' or 'dynamo', got {exporter!r}")
    model.eval()
    # Not under torch.no_grad(): nn.MultiheadAttention would take its fused fast path,
    # which the TorchScript exporter cannot export.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporters' deprecation and tracer warnings
        if exporter == "dynamo":
            if keep_batchnorm:
                raise ValueError("keep_batchnorm needs the torchscript exporter")
            # below 18 it would run the ONNX version converter, which fails on many graphs
            program = torch.onnx.export(model, args, dynamo=True,
                                        opset_version=max(opset, MIN_DYNAMO_OPSET),
                                        input_names=list(input_names),
                                        output_names=list(output_names),
                                        dynamic_axes=dynamic_axes, verbose=False)
            data = program.model_proto.SerializeToString()
        else:
            buf = io.BytesIO()
            training = torch.onnx.TrainingMode.PRESERVE if keep_batchnorm else \
                torch.onnx.TrainingMode.EVAL
            torch.onnx.export(model, args, buf, dynamo=False, opset_version=opset,
                              input_names=list(input_names), output_names=list(output_names),
                              dynamic_axes=dynamic_axes, training=training)
            data = buf.getvalue()
    opset = next(i.version for i in onnx.load_from_string(data).opset_import
                 if i.domain in ("", "ai.onnx"))
    return TorchExport(name, data, opset, tuple(input_names), tuple(output_names),
                       dynamic_axes, feeds)


def _seeded(seed: int) -> None:
    torch.manual_seed(seed)


def _randomize_norms(model: nn.Module, seed: int) -> None:
    """Give BatchNorm and LayerNorm non-trivial statistics and affine parameters.

    Freshly built norms are identities (mean 0, var 1, scale 1, shift 0), which
    would hide a converter that drops one of them."""
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
                if m.weight is not None:
                    m.weight.copy_(0.75 + 0.5 * torch.rand(m.weight.shape, generator=g))
                    m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))


def _images(seed: int, batch: int, channels: int, size: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"images": rng.standard_normal((batch, channels, size, size)).astype(np.float32)}


# ---------------------------------------------------------------------------
# ResNet (torchvision's ResNet-18 layout: basic blocks, BN, residuals, maxpool, global pool)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity)


class ResNet(nn.Module):
    def __init__(self, width: int = 64, blocks=(2, 2, 2, 2), num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        stages, cin = [], width
        for i, n in enumerate(blocks):
            cout = width * 2 ** i
            stages.append(nn.Sequential(*[BasicBlock(cin if j == 0 else cout, cout,
                                                     2 if (j == 0 and i > 0) else 1)
                                          for j in range(n)]))
            cin = cout
        self.layers = nn.Sequential(*stages)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.avgpool(self.layers(x))
        return self.fc(torch.flatten(x, 1))


def export_resnet(*, width: int = 8, blocks=(2, 2, 2, 2), num_classes: int = 10,
                  batch: int = 2, image_size: int = 32, dynamic_image: bool = False,
                  keep_batchnorm: bool = False, opset: int = DEFAULT_OPSET,
                exporter: str = "torchscript",
                  seed: int = 0) -> TorchExport:
    """ResNet-18 layout at `width` channels in the first stage (64 is the real one).

    Dynamic batch; with `dynamic_image` also dynamic height and width."""
    _seeded(seed)
    model = ResNet(width, tuple(blocks), num_classes)
    _randomize_norms(model, seed)
    axes = {0: "batch", 2: "height", 3: "width"} if dynamic_image else {0: "batch"}

    def feeds(seed: int = 0, batch: int = batch, image_size: int = image_size):
        return _images(seed, batch, 3, image_size)

    x = torch.from_numpy(feeds()["images"])
    return export(model, (x,), name="resnet", input_names=["images"], output_names=["logits"],
                  dynamic_axes={"images": axes, "logits": {0: "batch"}}, feeds=feeds,
                  opset=opset, keep_batchnorm=keep_batchnorm, exporter=exporter)


# ---------------------------------------------------------------------------
# MobileNetV2 (torchvision's layout: inverted residuals, depthwise convs, ReLU6)


def _make_divisible(v: float, divisor: int = 8) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class ConvBNReLU6(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1,
                 groups: int = 1) -> None:
        super().__init__(nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups,
                                   bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = int(round(cin * expand))
        self.use_residual = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(ConvBNReLU6(cin, hidden, kernel=1))
        layers += [ConvBNReLU6(hidden, hidden, stride=stride, groups=hidden),  # depthwise
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_residual else self.conv(x)


# (expansion t, channels c, repeats n, stride s) of the paper's Table 2
MOBILENET_V2_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                         (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


class MobileNetV2(nn.Module):
    def __init__(self, width_mult: float = 1.0, num_classes: int = 1000,
                 settings=MOBILENET_V2_SETTINGS) -> None:
        super().__init__()
        cin = _make_divisible(32 * width_mult)
        self.last_channel = _make_divisible(1280 * max(1.0, width_mult))
        features: list[nn.Module] = [ConvBNReLU6(3, cin, stride=2)]
        for t, c, n, s in settings:
            cout = _make_divisible(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        features.append(ConvBNReLU6(cin, self.last_channel, kernel=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(self.last_channel, num_classes))

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


def export_mobilenet_v2(*, width_mult: float = 0.25, num_classes: int = 10, batch: int = 2,
                        image_size: int = 32, opset: int = DEFAULT_OPSET,
                exporter: str = "torchscript",
                        seed: int = 0) -> TorchExport:
    """MobileNetV2 (all 17 inverted-residual blocks) at `width_mult` (1.0 is the real one)."""
    _seeded(seed)
    model = MobileNetV2(width_mult, num_classes)
    _randomize_norms(model, seed)

    def feeds(seed: int = 0, batch: int = batch, image_size: int = image_size):
        return _images(seed, batch, 3, image_size)

    x = torch.from_numpy(feeds()["images"])
    return export(model, (x,), name="mobilenet_v2", input_names=["images"],
                  output_names=["logits"],
                  dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
                  feeds=feeds, opset=opset, exporter=exporter)


# ---------------------------------------------------------------------------
# BERT encoder (Hugging Face's eager BertModel layout: post-LN, Erf-GELU, padding mask, pooler)


class BertSelfAttention(nn.Module):
    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, hidden // heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)

    def split_heads(self, x):
        b, s = x.size(0), x.size(1)
        return x.view(b, s, self.heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x, mask_bias):
        q, k, v = (self.split_heads(f(x)) for f in (self.query, self.key, self.value))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        probs = F.softmax(scores + mask_bias, dim=-1)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(ctx.size(0), ctx.size(1), self.heads * self.head_dim)


class BertLayer(nn.Module):
    def __init__(self, hidden: int, heads: int, intermediate: int, eps: float) -> None:
        super().__init__()
        self.attention = BertSelfAttention(hidden, heads)
        self.attention_out = nn.Linear(hidden, hidden)
        self.attention_norm = nn.LayerNorm(hidden, eps=eps)
        self.intermediate = nn.Linear(hidden, intermediate)
        self.output = nn.Linear(intermediate, hidden)
        self.output_norm = nn.LayerNorm(hidden, eps=eps)
        self.dropout = nn.Dropout(0.1)

    def forward(self, x, mask_bias):
        a = self.dropout(self.attention_out(self.attention(x, mask_bias)))
        x = self.attention_norm(x + a)
        h = F.gelu(self.intermediate(x))  # the exact (Erf) GELU
        return self.output_norm(x + self.dropout(self.output(h)))


class Bert(nn.Module):
    def __init__(self, vocab: int = 30522, hidden: int = 768, layers: int = 12, heads: int = 12,
                 intermediate: int = 3072, max_positions: int = 512, type_vocab: int = 2,
                 eps: float = 1e-12) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, hidden)
        self.position_embeddings = nn.Embedding(max_positions, hidden)
        self.token_type_embeddings = nn.Embedding(type_vocab, hidden)
        self.register_buffer("position_ids", torch.arange(max_positions).unsqueeze(0),
                             persistent=False)
        self.embedding_norm = nn.LayerNorm(hidden, eps=eps)
        self.layers = nn.ModuleList([BertLayer(hidden, heads, intermediate, eps)
                                     for _ in range(layers)])
        self.pooler = nn.Linear(hidden, hidden)

    def forward(self, input_ids, attention_mask, token_type_ids):
        positions = self.position_ids[:, :input_ids.size(1)]
        x = (self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
             + self.position_embeddings(positions))
        x = self.embedding_norm(x)
        # [batch, 1, 1, seq]: 0 where attended, the most negative float where padded
        mask = attention_mask[:, None, None, :].to(x.dtype)
        mask_bias = (1.0 - mask) * torch.finfo(x.dtype).min
        for layer in self.layers:
            x = layer(x, mask_bias)
        pooled = torch.tanh(self.pooler(x[:, 0]))
        return x, pooled


def _token_feeds(seed: int, batch: int, seq: int, vocab: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"input_ids": rng.integers(0, vocab, (batch, seq), dtype=np.int64)}


def _bert_feeds(seed: int, batch: int, seq: int, vocab: int) -> dict[str, np.ndarray]:
    """input_ids, attention_mask (rows padded at their end, the first one not at all) and
    token_type_ids (sentence A, then B)."""
    out = _token_feeds(seed, batch, seq, vocab)
    rng = np.random.default_rng(seed + 100)
    lengths = rng.integers(1, seq + 1, batch)
    lengths[0] = seq
    out["attention_mask"] = (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int64)
    split = rng.integers(1, seq + 1, batch)
    out["token_type_ids"] = (np.arange(seq)[None, :] >= split[:, None]).astype(np.int64)
    return out


def export_bert(*, vocab: int = 100, hidden: int = 32, layers: int = 2, heads: int = 4,
                intermediate: int = 64, max_positions: int = 64, batch: int = 2, seq: int = 8,
                opset: int = DEFAULT_OPSET, exporter: str = "torchscript",

                seed: int = 0) -> TorchExport:
    """BERT encoder + pooler (hidden=768, layers=12, heads=12, intermediate=3072 is BERT-base).

    Inputs input_ids, attention_mask (1 = token, 0 = padding; each row is
    padded at its end) and token_type_ids, all int64 [batch, seq], both axes
    dynamic. Outputs last_hidden_state and pooler_output."""
    _seeded(seed)
    model = Bert(vocab, hidden, layers, heads, intermediate, max_positions)
    _randomize_norms(model, seed)

    def feeds(seed: int = 0, batch: int = batch, seq: int = seq):
        return _bert_feeds(seed, batch, seq, vocab)

    names = ["input_ids", "attention_mask", "token_type_ids"]
    f = feeds()
    args = tuple(torch.from_numpy(f[n]) for n in names)
    dyn = {n: {0: "batch", 1: "seq"} for n in names}
    dyn.update({"last_hidden_state": {0: "batch", 1: "seq"}, "pooler_output": {0: "batch"}})
    return export(model, args, name="bert", input_names=names,
                  output_names=["last_hidden_state", "pooler_output"], dynamic_axes=dyn,
                  feeds=feeds, opset=opset, exporter=exporter)


# ---------------------------------------------------------------------------
# GPT-2 (Hugging Face's eager GPT2 layout: pre-LN, Conv1D linears, causal mask, tanh-GELU)


class Conv1D(nn.Module):
    """GPT-2's linear layer: a [in, out] weight applied with addmm on the flattened input."""

    def __init__(self, nx: int, nf: int) -> None:
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.randn(nx, nf) / math.sqrt(nx))
        self.bias = nn.Parameter(0.1 * torch.randn(nf))

    def forward(self, x):
        size_out = x.size()[:-1] + (self.nf,)
        x = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
        return x.view(size_out)


def gelu_tanh(x):
    """GPT-2's GELU: the tanh approximation, written out as the original code does."""
    inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))
    return 0.5 * x * (1.0 + torch.tanh(inner))


class GPT2Attention(nn.Module):
    def __init__(self, hidden: int, heads: int, max_positions: int) -> None:
        super().__init__()
        self.hidden, self.heads, self.head_dim = hidden, heads, hidden // heads
        self.c_attn = Conv1D(hidden, 3 * hidden)
        self.c_proj = Conv1D(hidden, hidden)
        causal = torch.tril(torch.ones(max_positions, max_positions, dtype=torch.bool))
        self.register_buffer("bias", causal.view(1, 1, max_positions, max_positions),
                             persistent=False)

    def split_heads(self, x):
        return x.view(x.size()[:-1] + (self.heads, self.head_dim)).permute(0, 2, 1, 3)

    def forward(self, x):
        q, k, v = self.c_attn(x).split(self.hidden, dim=2)
        q, k, v = self.split_heads(q), self.split_heads(k), self.split_heads(v)
        w = torch.matmul(q, k.transpose(-1, -2)) / (v.size(-1) ** 0.5)
        q_len, k_len = q.size(-2), k.size(-2)
        causal = self.bias[:, :, k_len - q_len:k_len, :k_len]
        floor = torch.full([], torch.finfo(w.dtype).min, dtype=w.dtype)
        w = torch.where(causal, w, floor)
        a = torch.matmul(F.softmax(w, dim=-1), v).permute(0, 2, 1, 3).contiguous()
        return self.c_proj(a.view(a.size()[:-2] + (self.hidden,)))


class GPT2Block(nn.Module):
    def __init__(self, hidden: int, heads: int, max_positions: int, eps: float) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(hidden, eps=eps)
        self.attn = GPT2Attention(hidden, heads, max_positions)
        self.ln_2 = nn.LayerNorm(hidden, eps=eps)
        self.c_fc = Conv1D(hidden, 4 * hidden)
        self.c_proj = Conv1D(4 * hidden, hidden)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.c_proj(gelu_tanh(self.c_fc(self.ln_2(x))))


class GPT2(nn.Module):
    def __init__(self, vocab: int = 50257, hidden: int = 768, layers: int = 12, heads: int = 12,
                 max_positions: int = 1024, eps: float = 1e-5) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, hidden)
        self.wpe = nn.Embedding(max_positions, hidden)
        # GPT-2's initializer range: with N(0, 1) rows the tied LM head would make
        # logits in the hundreds at full width.
        nn.init.normal_(self.wte.weight, std=0.02)
        nn.init.normal_(self.wpe.weight, std=0.02)
        self.h = nn.ModuleList([GPT2Block(hidden, heads, max_positions, eps)
                                for _ in range(layers)])
        self.ln_f = nn.LayerNorm(hidden, eps=eps)

    def forward(self, input_ids):
        positions = torch.arange(0, input_ids.size(-1), dtype=torch.long).unsqueeze(0)
        x = self.wte(input_ids) + self.wpe(positions)
        for block in self.h:
            x = block(x)
        x = self.ln_f(x)
        return torch.matmul(x, self.wte.weight.t())  # the LM head, tied to the embedding


def export_gpt2(*, vocab: int = 100, hidden: int = 32, layers: int = 2, heads: int = 4,
                max_positions: int = 64, batch: int = 2, seq: int = 8,
                opset: int = DEFAULT_OPSET, exporter: str = "torchscript",

                seed: int = 0) -> TorchExport:
    """GPT-2 with its tied LM head (hidden=768, layers=12, heads=12 is GPT-2 small).

    Input input_ids int64 [batch, seq], both axes dynamic; output logits."""
    _seeded(seed)
    model = GPT2(vocab, hidden, layers, heads, max_positions)
    _randomize_norms(model, seed)

    def feeds(seed: int = 0, batch: int = batch, seq: int = seq):
        return _token_feeds(seed, batch, seq, vocab)

    x = torch.from_numpy(feeds()["input_ids"])
    return export(model, (x,), name="gpt2", input_names=["input_ids"], output_names=["logits"],
                  dynamic_axes={"input_ids": {0: "batch", 1: "seq"},
                                "logits": {0: "batch", 1: "seq"}},
                  feeds=feeds, opset=opset, exporter=exporter)


# ---------------------------------------------------------------------------
# ViT (torchvision's VisionTransformer layout: patch conv, class token, nn.MultiheadAttention)


class ViTBlock(nn.Module):
    def __init__(self, hidden: int, heads: int, mlp: int, eps: float) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(hidden, eps=eps)
        self.self_attention = nn.MultiheadAttention(hidden, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(hidden, eps=eps)
        self.mlp = nn.Sequential(nn.Linear(hidden, mlp), nn.GELU(), nn.Dropout(0.0),
                                 nn.Linear(mlp, hidden), nn.Dropout(0.0))

    def forward(self, x):
        y = self.ln_1(x)
        y, _ = self.self_attention(y, y, y, need_weights=False)
        x = x + y
        return x + self.mlp(self.ln_2(x))


class ViT(nn.Module):
    def __init__(self, image_size: int = 224, patch: int = 16, hidden: int = 768,
                 layers: int = 12, heads: int = 12, mlp: int = 3072, num_classes: int = 1000,
                 eps: float = 1e-6) -> None:
        super().__init__()
        self.conv_proj = nn.Conv2d(3, hidden, patch, patch)
        self.class_token = nn.Parameter(0.1 * torch.randn(1, 1, hidden))
        tokens = (image_size // patch) ** 2 + 1
        self.pos_embedding = nn.Parameter(0.1 * torch.randn(1, tokens, hidden))
        self.layers = nn.Sequential(*[ViTBlock(hidden, heads, mlp, eps) for _ in range(layers)])
        self.ln = nn.LayerNorm(hidden, eps=eps)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x):
        x = self.conv_proj(x)                         # [n, hidden, h/p, w/p]
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = self.class_token.expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1) + self.pos_embedding
        x = self.ln(self.layers(x))
        return self.head(x[:, 0])


def export_vit(*, image_size: int = 16, patch: int = 4, hidden: int = 32, layers: int = 2,
               heads: int = 4, mlp: int = 64, num_classes: int = 10, batch: int = 2,
               opset: int = DEFAULT_OPSET, exporter: str = "torchscript",

               seed: int = 0) -> TorchExport:
    """ViT classifier (image 224, patch 16, hidden 768, 12 layers and heads, mlp 3072 is ViT-B/16).

    Dynamic batch (the image size is fixed by the position embeddings)."""
    _seeded(seed)
    model = ViT(image_size, patch, hidden, layers, heads, mlp, num_classes)
    _randomize_norms(model, seed)

    def feeds(seed: int = 0, batch: int = batch):
        return _images(seed, batch, 3, image_size)

    x = torch.from_numpy(feeds()["images"])
    return export(model, (x,), name="vit", input_names=["images"], output_names=["logits"],
                  dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
                  feeds=feeds, opset=opset, exporter=exporter)


# ---------------------------------------------------------------------------
# LSTM classifier (embedding, a stacked nn.LSTM, the last step's output, a linear head)


class LSTMClassifier(nn.Module):
    def __init__(self, vocab: int, embed: int, hidden: int, layers: int, num_classes: int,
                 bidirectional: bool) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, num_layers=layers, batch_first=True,
                            bidirectional=bidirectional)
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), num_classes)

    def forward(self, input_ids):
        out, _ = self.lstm(self.embedding(input_ids))
        return self.head(out[:, -1])


def export_lstm(*, vocab: int = 100, embed: int = 16, hidden: int = 32, layers: int = 2,
                num_classes: int = 5, bidirectional: bool = False, batch: int = 2, seq: int = 7,
                opset: int = DEFAULT_OPSET, exporter: str = "torchscript",

                seed: int = 0) -> TorchExport:
    """A stacked-LSTM text classifier; input input_ids int64 [batch, seq], both axes dynamic."""
    _seeded(seed)
    model = LSTMClassifier(vocab, embed, hidden, layers, num_classes, bidirectional)

    def feeds(seed: int = 0, batch: int = batch, seq: int = seq):
        return _token_feeds(seed, batch, seq, vocab)

    x = torch.from_numpy(feeds()["input_ids"])
    return export(model, (x,), name="lstm", input_names=["input_ids"], output_names=["logits"],
                  dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch"}},
                  feeds=feeds, opset=opset, exporter=exporter)


# ---------------------------------------------------------------------------
# The same architectures from Hugging Face `transformers` (optional: random
# weights from a config, nothing downloaded). Their exports carry the library's
# own mask-building code (Range, GatherElements, And...), a second opinion on
# what real exported graphs look like.


def _transformers():
    import os
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub
    import transformers
    return transformers


class _HFOutputs(nn.Module):
    """Calls a transformers model with keyword inputs; returns the named outputs as a tuple."""

    def __init__(self, model: nn.Module, input_names, output_names, **fixed) -> None:
        super().__init__()
        self.model, self.input_names, self.output_names = model, input_names, output_names
        self.fixed = fixed

    def forward(self, *args):
        out = self.model(**dict(zip(self.input_names, args)), **self.fixed)
        return tuple(getattr(out, name) for name in self.output_names)


def _export_hf(name, model, input_names, output_names, dynamic_axes, feeds, opset, **fixed):
    model.eval()
    f = feeds()
    args = tuple(torch.from_numpy(f[n]) for n in input_names)
    return export(_HFOutputs(model, input_names, output_names, **fixed), args, name=name,
                  input_names=input_names, output_names=output_names,
                  dynamic_axes=dynamic_axes, feeds=feeds, opset=opset)


def export_hf_bert(*, vocab: int = 100, hidden: int = 32, layers: int = 2, heads: int = 4,
                   intermediate: int = 64, max_positions: int = 64, batch: int = 2, seq: int = 8,
                   opset: int = DEFAULT_OPSET, seed: int = 0) -> TorchExport:
    """transformers' BertModel (eager attention); inputs and outputs as `export_bert`."""
    tf = _transformers()
    _seeded(seed)
    model = tf.BertModel(tf.BertConfig(
        vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=heads, intermediate_size=intermediate,
        max_position_embeddings=max_positions, attn_implementation="eager"))
    _randomize_norms(model, seed)

    def feeds(seed: int = 0, batch: int = batch, seq: int = seq):
        return _bert_feeds(seed, batch, seq, vocab)

    names = ["input_ids", "attention_mask", "token_type_ids"]
    return _export_hf("hf_bert", model, names, ["last_hidden_state", "pooler_output"],
                      {n: {0: "batch", 1: "seq"} for n in names}, feeds, opset)


def export_hf_gpt2(*, vocab: int = 100, hidden: int = 32, layers: int = 2, heads: int = 4,
                   max_positions: int = 64, batch: int = 2, seq: int = 8,
                   opset: int = DEFAULT_OPSET, seed: int = 0) -> TorchExport:
    """transformers' GPT2Model (eager attention): input_ids and attention_mask (the mask
    keeps transformers from the packed-sequence check, which uses the unexportable
    `torch.diff`); output last_hidden_state."""
    tf = _transformers()
    _seeded(seed)
    model = tf.GPT2Model(tf.GPT2Config(
        vocab_size=vocab, n_embd=hidden, n_layer=layers, n_head=heads,
        n_positions=max_positions, bos_token_id=0, eos_token_id=0,
        attn_implementation="eager"))
    _randomize_norms(model, seed)

    def feeds(seed: int = 0, batch: int = batch, seq: int = seq):
        out = _bert_feeds(seed, batch, seq, vocab)
        del out["token_type_ids"]
        return out

    names = ["input_ids", "attention_mask"]
    return _export_hf("hf_gpt2", model, names, ["last_hidden_state"],
                      {n: {0: "batch", 1: "seq"} for n in names}, feeds, opset,
                      use_cache=False)


def export_hf_vit(*, image_size: int = 16, patch: int = 4, hidden: int = 32, layers: int = 2,
                  heads: int = 4, intermediate: int = 64, batch: int = 2,
                  opset: int = DEFAULT_OPSET, seed: int = 0) -> TorchExport:
    """transformers' ViTModel (eager attention): pixel_values [batch, 3, size, size] with a
    dynamic batch; outputs last_hidden_state and pooler_output."""
    tf = _transformers()
    _seeded(seed)
    model = tf.ViTModel(tf.ViTConfig(
        image_size=image_size, patch_size=patch, hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=heads, intermediate_size=intermediate,
        attn_implementation="eager"))
    _randomize_norms(model, seed)

    def feeds(seed: int = 0, batch: int = batch):
        return {"pixel_values": _images(seed, batch, 3, image_size)["images"]}

    return _export_hf("hf_vit", model, ["pixel_values"], ["last_hidden_state", "pooler_output"],
                      {"pixel_values": {0: "batch"}}, feeds, opset)


HF_ARCHITECTURES: dict[str, Callable[..., TorchExport]] = {
    "hf_bert": export_hf_bert,
    "hf_gpt2": export_hf_gpt2,
    "hf_vit": export_hf_vit,
}

ARCHITECTURES: dict[str, Callable[..., TorchExport]] = {
    "resnet": export_resnet,
    "mobilenet_v2": export_mobilenet_v2,
    "bert": export_bert,
    "gpt2": export_gpt2,
    "vit": export_vit,
    "lstm": export_lstm,
}


def export_model(name: str, **params) -> TorchExport:
    """`export_<name>(**params)` for a name of ARCHITECTURES or HF_ARCHITECTURES (these
    need `transformers`), with a clear error for an unknown name."""
    known = {**ARCHITECTURES, **HF_ARCHITECTURES}
    if name not in known:
        raise KeyError(f"unknown architecture {name!r}; known: {', '.join(known)}")
    return known[name](**params)
