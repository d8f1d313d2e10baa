"""The sample models compute what they say: each sample's ops, run one by one with
the runtime kernels, match an independent numpy forward pass written here from
the sample's own constant data."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.special import erf

from compiler.frontend.dsl import load_dsl
from compiler.ops import get_op
from runtime.kernels import get_kernel

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def require_ops(*names: str) -> None:
    """Skip while an op the sample needs has no registry entry or no kernel yet."""
    for name in names:
        try:
            full = get_op(name).name
            get_kernel(full)
        except KeyError as e:
            pytest.skip(f"op {name} is not registered yet: {e.args[0]}")


def run(module, **inputs: np.ndarray) -> dict[str, np.ndarray]:
    """A tiny interpreter: every op's kernel in op order."""
    env = {v: inputs[v.name] for v in module.inputs}
    env.update({c: c.data for c in module.constants.values()})
    for op in module.ops:
        out = get_kernel(op.name)(*[env[v] for v in op.operands], **op.attrs)
        outs = out if isinstance(out, tuple) else (out,)
        for r, a in zip(op.results, outs):
            env[r] = a
    return {name: env[v] for name, v in module.outputs.items()}


def weights(module) -> dict[str, np.ndarray]:
    return {name: c.data for name, c in module.constants.items()}


# -- MLP ---------------------------------------------------------------------------

def test_mlp_matches_numpy():
    require_ops("matmul", "add", "relu")
    m = load_dsl(SAMPLES / "mlp.wsl")
    w = weights(m)
    x = np.random.default_rng(0).standard_normal((3, 784)).astype(np.float32)
    got = run(m, x=x)["logits"]
    want = np.maximum(x @ w["fc1.weight"] + w["fc1.bias"], 0) @ w["fc2.weight"] + w["fc2.bias"]
    assert got.shape == (3, 10) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_mlp_weights_are_the_seeded_streams_and_the_file():
    require_ops("matmul", "add", "relu")
    m = load_dsl(SAMPLES / "mlp.wsl")
    w = weights(m)
    expect_fc1 = np.random.Generator(np.random.PCG64(1)).normal(0, 0.05, (784, 256))
    np.testing.assert_array_equal(w["fc1.weight"], expect_fc1.astype(np.float32))
    expect_b1 = np.random.Generator(np.random.PCG64(2)).uniform(-0.1, 0.1, 256)
    np.testing.assert_array_equal(w["fc1.bias"], expect_b1.astype(np.float32))
    np.testing.assert_array_equal(w["fc2.bias"], np.load(SAMPLES / "mlp_fc2_bias.npy"))
    assert m.constants["fc1.weight"].sparsity == pytest.approx(0.9)
    assert m.constants["fc2.weight"].sparsity is None


# -- CNN ---------------------------------------------------------------------------

def conv2d_same_3x3(x, w, b):
    """Explicit convolution: einsum over the 3x3 windows of the zero-padded input."""
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    n, c, h, wd = x.shape
    windows = np.stack([np.stack([xp[:, :, i:i + h, j:j + wd] for j in range(3)], axis=-1)
                        for i in range(3)], axis=-2)          # [N, C, H, W, 3, 3]
    return np.einsum("nchwij,ocij->nohw", windows, w) + b[None, :, None, None]


def maxpool_2x2(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def test_cnn_matches_numpy():
    require_ops("conv2d", "relu", "maxpool2d", "flatten", "matmul", "add")
    m = load_dsl(SAMPLES / "cnn.wsl")
    w = weights(m)
    x = np.random.default_rng(1).standard_normal((2, 1, 28, 28)).astype(np.float32)
    got = run(m, x=x)["logits"]

    h = maxpool_2x2(np.maximum(conv2d_same_3x3(x, w["conv1.weight"], w["conv1.bias"]), 0))
    h = maxpool_2x2(np.maximum(conv2d_same_3x3(h, w["conv2.weight"], w["conv2.bias"]), 0))
    want = h.reshape(2, -1) @ w["fc.weight"] + w["fc.bias"]
    assert got.shape == (2, 10)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


# -- transformer block ----------------------------------------------------------------

def layernorm(x, g, b, eps=1e-5):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


def softmax(s):
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def gelu(x):
    return 0.5 * x * (1 + erf(x / np.sqrt(2)))


def test_transformer_block_matches_numpy():
    require_ops("layernorm", "matmul", "add", "mul", "reshape", "transpose", "softmax", "gelu")
    m = load_dsl(SAMPLES / "transformer_block.wsl")
    w = {k: v.astype(np.float64) for k, v in weights(m).items()}
    x = np.random.default_rng(2).standard_normal((2, 16, 64)).astype(np.float32)
    got = run(m, x=x)["y"]

    # Per-head attention with explicit loops over heads, in float64.
    xd = x.astype(np.float64)
    h = layernorm(xd, w["ln1.weight"], w["ln1.bias"])
    q = h @ w["attn.q.weight"] + w["attn.q.bias"]
    k = h @ w["attn.k.weight"] + w["attn.k.bias"]
    v = h @ w["attn.v.weight"] + w["attn.v.bias"]
    heads = []
    for i in range(4):
        cols = slice(16 * i, 16 * (i + 1))
        att = softmax(q[..., cols] @ k[..., cols].transpose(0, 2, 1) / np.sqrt(16))
        heads.append(att @ v[..., cols])
    context = np.concatenate(heads, axis=-1)
    x1 = xd + context @ w["attn.out.weight"] + w["attn.out.bias"]
    h2 = layernorm(x1, w["ln2.weight"], w["ln2.bias"])
    want = x1 + gelu(h2 @ w["mlp.fc1.weight"] + w["mlp.fc1.bias"]) @ w["mlp.fc2.weight"] \
        + w["mlp.fc2.bias"]
    assert got.shape == (2, 16, 64) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
