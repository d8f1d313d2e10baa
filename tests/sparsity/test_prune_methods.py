"""The prune pass: exact levels per method, overrides, annotations, and the quality of
the calibration-based methods. Every expectation is computed here with plain numpy."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import compiler
from compiler.ir.builder import Builder
from compiler.ir.core import Module
from compiler.ir.types import TensorType

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
FOLD = "infer-shapes,fold-constants,dce"   # no select-kernels: these tests look at weights


def mlp(weights: dict[str, np.ndarray], relu: bool = True, annotations=None) -> Module:
    """x[N, K0] -> matmul by each weight in order (relu between layers)."""
    m = Module("net")
    first = next(iter(weights.values()))
    h = m.add_input("x", TensorType(("N", first.shape[0]), "f32"))
    b = Builder(m)
    for i, (name, w) in enumerate(weights.items()):
        c = m.add_constant(name, w.astype(np.float32),
                           sparsity=(annotations or {}).get(name))
        h = b.value("nn.matmul", [h, c])
        if relu and i < len(weights) - 1:
            h = b.value("nn.relu", [h])
    m.outputs = {"y": h}
    return m


def weights(seed=0, sizes=(16, 24, 32, 20, 8)):
    rng = np.random.default_rng(seed)
    return {f"fc{i + 1}.weight": rng.standard_normal((a, b)).astype(np.float32)
            for i, (a, b) in enumerate(zip(sizes, sizes[1:]))}


def pruned(module, spec, **kw):
    r = compiler.compile(module, pipeline=FOLD, prune=spec, **kw)
    return r, {n: c.data for n, c in r.module.constants.items()}


def n_pruned(fraction, n):
    return int(np.floor(fraction * n + 0.5))


def assert_magnitude(before, after, fraction):
    zeros = after == 0
    assert zeros.sum() == n_pruned(fraction, before.size)
    np.testing.assert_array_equal(after[~zeros], before[~zeros])
    if zeros.any() and (~zeros).any():
        assert np.abs(before[zeros]).max() <= np.abs(before[~zeros]).min()


def test_magnitude_prunes_exactly_per_tensor_and_leaves_first_last_dense():
    ws = weights()
    _, got = pruned(mlp(ws), "magnitude:0.7")
    np.testing.assert_array_equal(got["fc1.weight"], ws["fc1.weight"])   # first: dense
    np.testing.assert_array_equal(got["fc4.weight"], ws["fc4.weight"])   # last: dense
    for n in ("fc2.weight", "fc3.weight"):
        assert_magnitude(ws[n], got[n], 0.7)
    _, got = pruned(mlp(ws), "magnitude:0.7,first=0.5,last=0.25")
    assert_magnitude(ws["fc1.weight"], got["fc1.weight"], 0.5)
    assert_magnitude(ws["fc4.weight"], got["fc4.weight"], 0.25)


def test_ties_are_broken_deterministically_to_the_exact_count():
    w = np.ones((8, 8), dtype=np.float32)
    w[0, 0] = 5
    ws = {"a": np.ones((8, 8), np.float32), "b": w, "c": np.ones((8, 4), np.float32)}
    _, got = pruned(mlp(ws), "magnitude:0.5")
    zeros = got["b"] == 0
    assert zeros.sum() == 32 and got["b"][0, 0] == 5
    # equal magnitudes go by position in W^T (row = output feature): the first 32 entries
    want = np.zeros(64, dtype=bool)
    order = [i for i in range(64) if i != 0][:32]
    want[order] = True
    np.testing.assert_array_equal(zeros.T.reshape(-1), want)
    _, again = pruned(mlp(ws), "magnitude:0.5")
    np.testing.assert_array_equal(again["b"], got["b"])


def test_global_magnitude_shares_one_threshold_across_layers():
    ws = weights(1, sizes=(8, 30, 30, 30, 4))
    ws["fc2.weight"] *= 10.0                           # a layer of large weights
    _, got = pruned(mlp(ws), "global-magnitude:0.6")
    pool = ["fc2.weight", "fc3.weight"]                # first and last stay dense
    total = sum(ws[n].size for n in pool)
    zeros = {n: got[n] == 0 for n in pool}
    assert sum(z.sum() for z in zeros.values()) == n_pruned(0.6, total)
    cut = max(np.abs(ws[n][zeros[n]]).max() for n in pool if zeros[n].any())
    kept = min(np.abs(ws[n][~zeros[n]]).min() for n in pool)
    assert cut <= kept
    assert zeros["fc3.weight"].mean() > 0.9 and zeros["fc2.weight"].mean() < 0.3
    for n in pool:
        np.testing.assert_array_equal(got[n][~zeros[n]], ws[n][~zeros[n]])


def test_nm_keeps_the_n_largest_of_every_m_along_the_reduction_dim():
    ws = weights(2, sizes=(16, 32, 24, 8))
    _, got = pruned(mlp(ws), "nm:2:4,first=2:4,last=1:4")
    for n, keep in (("fc1.weight", 2), ("fc2.weight", 2), ("fc3.weight", 1)):
        w, p = ws[n], got[n]
        k, out = w.shape
        groups_w = np.abs(w.T).reshape(out, k // 4, 4)   # per output: groups along K
        groups_p = (p.T != 0).reshape(out, k // 4, 4)
        assert (groups_p.sum(axis=2) == keep).all()
        kept_min = np.where(groups_p, groups_w, np.inf).min(axis=2)
        pruned_max = np.where(groups_p, -np.inf, groups_w).max(axis=2)
        assert (kept_min >= pruned_max).all()
        assert (p == 0).sum() == w.size * (4 - keep) // 4


def test_nm_on_a_conv_groups_the_flattened_reduction_columns():
    rng = np.random.default_rng(3)
    m = Module("conv")
    x = m.add_input("x", TensorType(("N", 2, 6, 6), "f32"))
    w0 = rng.standard_normal((4, 2, 2, 2)).astype(np.float32)   # reduction 2*2*2 = 8
    y = Builder(m).value("nn.conv2d", [x, m.add_constant("w", w0)])
    m.outputs = {"y": y}
    _, got = pruned(m, "nm:1:4,first=1:4")
    rows = (got["w"] != 0).reshape(4, 2, 4)
    assert (rows.sum(axis=2) == 1).all()
    kept = np.abs(w0.reshape(4, 2, 4))[rows]
    assert np.allclose(kept, np.abs(w0.reshape(4, 2, 4)).max(axis=2).reshape(-1))


def test_overrides_exclusions_and_report():
    ws = weights(4)
    r, got = pruned(mlp(ws), "magnitude:0.8,fc2*=0,fc3.weight=0.25,first=0.5")
    assert_magnitude(ws["fc1.weight"], got["fc1.weight"], 0.5)
    np.testing.assert_array_equal(got["fc2.weight"], ws["fc2.weight"])
    assert_magnitude(ws["fc3.weight"], got["fc3.weight"], 0.25)
    np.testing.assert_array_equal(got["fc4.weight"], ws["fc4.weight"])
    details = r.program.header["reports"]["sparsity"]
    rows = {l["weight"]: l for l in details["layers"]}
    assert rows["fc1.weight"]["pruning"]["source"] == "first="
    assert rows["fc2.weight"]["pruning"]["source"] == "override 'fc2*'"
    assert rows["fc3.weight"]["pruning"]["achieved_sparsity"] == n_pruned(0.25, 24 * 32) / (24 * 32)
    assert "semantics" in details["pruning"]["semantics"]
    assert r.stats["prune"]["semantics-changed"] == 1
    assert r.stats["prune"]["params-zeroed"] == sum(int((got[n] == 0).sum()) for n in got)


def test_dsl_annotations_are_per_weight_requests():
    ws = weights(5)
    m = mlp(ws, annotations={"fc1.weight": 0.75, "fc3.weight": 0.5})
    _, got = pruned(m, "magnitude")                   # only the annotated weights
    assert_magnitude(ws["fc1.weight"], got["fc1.weight"], 0.75)   # even the first layer
    assert_magnitude(ws["fc3.weight"], got["fc3.weight"], 0.5)
    for n in ("fc2.weight", "fc4.weight"):
        np.testing.assert_array_equal(got[n], ws[n])
    _, got = pruned(m, "magnitude:0.9,fc3*=0.2")       # an explicit glob beats the annotation
    assert_magnitude(ws["fc2.weight"], got["fc2.weight"], 0.9)
    assert_magnitude(ws["fc3.weight"], got["fc3.weight"], 0.2)


def test_annotations_of_the_sample_are_honoured():
    r, got = pruned(SAMPLES / "mlp.wsl", "magnitude")
    w = got["fc1.weight"]
    assert (w == 0).sum() == n_pruned(0.9, w.size)
    assert (got["fc2.weight"] != 0).all()


def test_module_given_to_compile_is_not_changed():
    ws = weights(6)
    m = mlp(ws)
    pruned(m, "magnitude:0.9,first=0.9,last=0.9")
    for n, w in ws.items():
        np.testing.assert_array_equal(m.constants[n].data, w)


# -- calibration-based methods ------------------------------------------------------

def uneven_model(tmp_path, seed=0, k=64, n=32, tokens=256):
    """One linear layer whose input channels have very different scales, and its inputs."""
    rng = np.random.default_rng(seed)
    scales = np.where(np.arange(k) % 8 == 0, 20.0, 0.2).astype(np.float32)
    w = rng.standard_normal((k, n)).astype(np.float32)
    x = (rng.standard_normal((tokens, k)) * scales).astype(np.float32)
    path = tmp_path / f"calib{seed}.npz"
    np.savez(path, x=x)
    return mlp({"w": w}, relu=False), w, x, path


def rel_dev(x, w_dense, w_pruned):
    d, p = x @ w_dense.astype(np.float64), x @ w_pruned.astype(np.float64)
    return np.linalg.norm(p - d) / np.linalg.norm(d)


def test_wanda_follows_its_scores_and_beats_magnitude_on_uneven_channels(tmp_path):
    m, w, x, path = uneven_model(tmp_path)
    devs = {}
    for method in ("magnitude", "wanda"):
        r, got = pruned(m, f"{method}:0.5,first=0.5", calibration=path)
        p = got["w"]
        assert (p == 0).sum() == w.size // 2
        devs[method] = rel_dev(x, w, p)
        reported = r.program.header["reports"]["sparsity"]["pruning"]["deviation"]["y"]
        assert reported["rel_l2"] == pytest.approx(devs[method], rel=1e-4)
        d = x.astype(np.float64) @ w.astype(np.float64)
        assert reported["max_abs"] == pytest.approx(
            np.abs(x.astype(np.float64) @ p.astype(np.float64) - d).max(), rel=1e-4)
        if method == "wanda":
            # independent Wanda: per output column, drop the 32 lowest |w| * ||x_k||
            score = np.abs(w) * np.linalg.norm(x.astype(np.float64), axis=0)[:, None]
            want = np.zeros_like(w, dtype=bool)
            for col in range(w.shape[1]):
                want[np.argsort(score[:, col], kind="stable")[:32], col] = True
            np.testing.assert_array_equal(p == 0, want)
    assert devs["wanda"] < 0.5 * devs["magnitude"], devs


def test_wanda_beats_magnitude_on_the_cnn_sample():
    devs = {}
    for method in ("magnitude", "wanda"):
        r = compiler.compile(SAMPLES / "cnn.wsl", pipeline=FOLD,
                             prune=f"{method}:0.5,first=0.5,last=0.5")
        devs[method] = r.program.header["reports"]["sparsity"]["pruning"]["deviation"]
        for layer in r.program.header["reports"]["sparsity"]["layers"]:
            n = layer["numel"]
            assert layer["nnz"] == n - n_pruned(0.5, n)
    assert devs["wanda"]["logits"]["rel_l2"] < devs["magnitude"]["logits"]["rel_l2"]
    assert devs["wanda"]["logits"]["max_abs"] < devs["magnitude"]["logits"]["max_abs"]


def test_sparsegpt_is_exact_and_reconstructs_better_than_wanda_and_magnitude(tmp_path):
    # Correlated input features (a low-rank mix plus noise): the OBS update can move a
    # removed weight's contribution onto the features that carry the same signal.
    rng = np.random.default_rng(1)
    k, n = 64, 32
    mix = rng.standard_normal((16, k))
    def inputs(count):
        z = rng.standard_normal((count, 16))
        return (z @ mix + 0.1 * rng.standard_normal((count, k))).astype(np.float32)
    x, x_test = inputs(512), inputs(512)
    w = rng.standard_normal((k, n)).astype(np.float32)
    path = tmp_path / "calib.npz"
    np.savez(path, x=x)
    m = mlp({"w": w}, relu=False)
    devs = {}
    for method in ("magnitude", "wanda", "sparsegpt"):
        _, got = pruned(m, f"{method}:0.6,first=0.6", calibration=path)
        assert (got["w"] == 0).sum() == n_pruned(0.6, w.size)
        devs[method] = rel_dev(x_test, w, got["w"])
    assert devs["sparsegpt"] < 0.75 * min(devs["wanda"], devs["magnitude"]), devs


def test_sparsegpt_on_a_grouped_conv_is_exact():
    rng = np.random.default_rng(7)
    m = Module("gconv")
    x = m.add_input("x", TensorType(("N", 4, 8, 8), "f32"))
    w0 = rng.standard_normal((6, 2, 3, 3)).astype(np.float32)
    y = Builder(m).value("nn.conv2d", [x, m.add_constant("w", w0)],
                         {"groups": 2, "pads": [1, 1, 1, 1], "strides": [2, 1]})
    m.outputs = {"y": y}
    for method in ("wanda", "sparsegpt"):
        r, got = pruned(m, f"{method}:0.5,first=0.5")
        assert (got["w"] == 0).sum() == 54
        dev = r.program.header["reports"]["sparsity"]["pruning"]["deviation"]["y"]["rel_l2"]
        assert dev < 0.9


def test_recurrent_weights_are_pruned_and_noted():
    rng = np.random.default_rng(8)
    m = Module("lstm")
    x = m.add_input("x", TensorType((5, "N", 6), "f32"))
    h = 4
    w = m.add_constant("lstm.w", rng.standard_normal((1, 16, 6)).astype(np.float32))
    rr = m.add_constant("lstm.r", rng.standard_normal((1, 16, h)).astype(np.float32))
    b = m.add_constant("lstm.b", np.zeros((1, 32), np.float32))
    p = m.add_constant("lstm.p", np.zeros((1, 12), np.float32))
    op = Builder(m).create("rnn.lstm", [x, w, rr, b, p])
    m.outputs = {"y": op.results[0]}
    r, got = pruned(m, "wanda:0.5,first=0.5")
    assert (got["lstm.w"] == 0).sum() == 48 and (got["lstm.r"] == 0).sum() == 32
    layers = {l["weight"]: l for l in r.program.header["reports"]["sparsity"]["layers"]}
    assert layers["lstm.r"]["pruning"]["method"] == "magnitude"
    assert layers["lstm.w"]["pruning"]["method"] == "wanda"
    assert layers["lstm.w"]["macs"] == 5 * 1 * 16 * 6   # T * B (N=1 assumed) * |W|
    passes = r.stats["prune"]
    assert passes["weights-pruned"] == 2


def test_random_calibration_is_seeded():
    a = compiler.compile(SAMPLES / "cnn.wsl", pipeline=FOLD, prune="wanda:0.5", seed=3)
    b = compiler.compile(SAMPLES / "cnn.wsl", pipeline=FOLD, prune="wanda:0.5", seed=3)
    c = compiler.compile(SAMPLES / "cnn.wsl", pipeline=FOLD, prune="wanda:0.5", seed=4,
                         calibration_samples=4)
    dev = lambda r: r.program.header["reports"]["sparsity"]["pruning"]["deviation"]  # noqa: E731
    assert dev(a) == dev(b) and dev(a) != dev(c)
    assert "4 samples, seed 4" in c.program.header["reports"]["sparsity"]["pruning"]["calibration"]
