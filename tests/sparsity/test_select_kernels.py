"""select-kernels and the cost model, with cost files written here (known crossovers)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import compiler
from compiler.errors import CompileError, PassError
from compiler.ir.builder import Builder
from compiler.ir.core import Module
from compiler.ir.types import SparseEncoding, TensorType
from compiler.passes import PassContext, PassManager, parse_pipeline
from compiler.sparsity.costmodel import DEFAULT_COST_FILE, CostModel, Curve

# dense 1.0 s; sparse 0.2 s at density 0.1 and 1.5 s at 0.5: t(d) = 0.2 + 3.25 (d - 0.1),
# equal to dense at d = 0.1 + 0.8 / 3.25 = 0.34615...
CURVE = {"dense_seconds": 1.0, "densities": [0.1, 0.5], "sparse_seconds": [0.2, 1.5]}
CROSS = 0.1 + 0.8 / 3.25


def point(**dims):
    kind = "matmul" if "m" in dims else "conv2d"
    key = kind + "/" + "/".join(f"{k}={v}" for k, v in dims.items())
    return key, dims


def cost_file(tmp_path, points):
    """points: {(key, dims) from point(): curve}"""
    path = tmp_path / "costs.json"
    doc = {key: {"dims": dims, **curve} for (key, dims), curve in
           ((p, c) for p, c in points)}
    path.write_text(json.dumps({"format": "wsc-kernel-costs/1",
                                "measured": {"command": "test", "date": "today"},
                                "points": doc}))
    return path


def weight(rng, shape, density):
    w = rng.standard_normal(shape).astype(np.float32)
    w.reshape(-1)[rng.permutation(w.size)[:int(round((1 - density) * w.size))]] = 0
    return w


def linear(w, shared_add=False, batch="N"):
    m = Module("lin")
    x = m.add_input("x", TensorType((batch, w.shape[0]), "f32"))
    c = m.add_constant("w", w)
    b = Builder(m)
    y = b.value("nn.matmul", [x, c])
    if shared_add:
        m.outputs = {"y": y, "z": b.value("math.add", [c, c])}
    else:
        m.outputs = {"y": y}
    return m


def select(module, options="", symbols=None):
    pm = PassManager(parse_pipeline("select-kernels" + options),
                     ctx=PassContext(symbols=symbols or {}))
    pm.run(module)
    return pm.ctx.details["select-kernels"]["decisions"], pm.ctx.stats["select-kernels"]


def test_curve_interpolation_and_crossover():
    c = Curve("k", "matmul", {"m": 1, "k": 1, "n": 1}, 1.0, (0.1, 0.5), (0.2, 1.5))
    assert c.sparse_time(0.3) == pytest.approx(0.85)
    assert c.sparse_time(0.01) == 0.2                 # below the lowest: never optimistic
    assert c.sparse_time(0.9) == pytest.approx(1.5 + 0.4 * 3.25)
    assert c.crossover() == pytest.approx(CROSS, abs=1e-6)
    dims = {"m": 1, "k": 1, "n": 1}
    assert Curve("k", "matmul", dims, 1.0, (0.1,), (2.0,)).crossover() == 0.0
    assert Curve("k", "matmul", dims, 1.0, (0.5, 1.0), (0.1, 0.2)).crossover() == 1.0


def test_the_nearest_measured_shape_models_a_layer():
    pts = {k: Curve(k, "matmul", d, 1.0, (0.5,), (0.5,)) for k, d in
           (point(m=1, k=256, n=256), point(m=64, k=256, n=256), point(m=64, k=1024, n=256),
            point(m=64, k=256, n=1024))}
    model = CostModel(pts, "t", {})
    assert model.nearest("matmul", {"m": 64, "k": 784, "n": 256}).key == "matmul/m=64/k=1024/n=256"
    assert model.nearest("matmul", {"m": 32, "k": 256, "n": 768}).key == "matmul/m=64/k=256/n=1024"
    assert model.nearest("matmul", {"m": 2, "k": 300, "n": 200}).key == "matmul/m=1/k=256/n=256"
    assert model.nearest("conv2d", {"p": 1, "r": 1, "o": 1}) is None


@pytest.mark.parametrize("density, sparse, words", [
    (0.1, True, ["density 0.10 < crossover 0.35 for matmul k=64 n=64 m=1 (N=1 assumed) "
                 "[m=1/kn<=64K; measured at m=1 k=64 n=64]: modelled 5.0x"]),
    (0.3, False, ["density 0.30 < crossover 0.35", "1.18x < 1.2x margin: dense"]),
    (0.5, False, ["density 0.50 >= crossover 0.35", "sparse modelled 0.67x: dense"]),
])
def test_decisions_follow_the_measured_crossover(tmp_path, density, sparse, words):
    path = cost_file(tmp_path, [(point(m=1, k=64, n=64), CURVE)])
    m = linear(weight(np.random.default_rng(0), (64, 64), density))
    decisions, stats = select(m, f"{{cost-model={path}}}")
    d = decisions["w"]
    assert d["sparse"] is sparse and (stats["sparse"], stats["dense"]) == (int(sparse), 1 - sparse)
    for w in words:
        assert w in d["reason"], d["reason"]
    enc = m.constants["w"].type.encoding
    if sparse:
        assert enc == SparseEncoding("csc", int(np.count_nonzero(m.constants["w"].data)))
        assert d["kernel"] == "sparse.matmul_csc" and d["modelled_speedup"] == pytest.approx(5.0, rel=1e-2)
    else:
        assert enc is None and d["kernel"] == "nn.matmul"


def test_never_sparse_where_the_model_says_dense_is_faster():
    rng = np.random.default_rng(1)
    for _ in range(200):
        ds = np.sort(rng.choice(np.linspace(0.01, 1.0, 100), size=rng.integers(1, 6),
                                replace=False))
        ts = rng.random(len(ds)) * 3 + 0.01
        model = CostModel({"p": Curve("p", "matmul", {"m": 1, "k": 8, "n": 8}, 1.0, tuple(ds),
                                      tuple(ts))}, "t", {})
        m = linear(np.ones((8, 8), np.float32))
        from compiler.sparsity.weights import find_weight_uses
        use = find_weight_uses(m)[0]
        for density in rng.random(5):
            dec = model.decide(use, float(density), {}, 1, 1.0)
            curve = model.curves["p"]
            if dec.sparse:
                assert curve.sparse_time(density) <= curve.dense_seconds


def test_zeros_the_model_already_has_are_used_without_pruning(tmp_path):
    path = cost_file(tmp_path, [(point(m=1, k=64, n=32), CURVE)])
    w = weight(np.random.default_rng(2), (64, 32), 0.05)
    r = compiler.compile(linear(w), cost_model=path)          # -O2, no --prune
    assert "prune" not in r.pipeline
    assert [i.kernel for i in r.program.instrs] == ["sparse.matmul_csc"]
    assert r.module.constants["w"].type.encoding.nnz == int(np.count_nonzero(w))
    layer = r.program.header["reports"]["sparsity"]["layers"][0]
    assert layer["kernel"] == "sparse.matmul_csc" and "crossover" in layer["reason"]
    assert r.program.header["reports"]["sparsity"]["pruning"] is None


def test_force_dense_and_sparse(tmp_path):
    w = weight(np.random.default_rng(3), (16, 8), 0.9)
    decisions, _ = select(linear(w), "{force=sparse}")
    assert decisions["w"]["sparse"] and "forced sparse" in decisions["w"]["reason"]
    m = linear(w)
    m.constants["w"].type = m.constants["w"].type.with_encoding(
        SparseEncoding("csc", int(np.count_nonzero(w))))
    decisions, _ = select(m, "{force=dense}")
    assert not decisions["w"]["sparse"] and m.constants["w"].type.encoding is None
    with pytest.raises(PassError, match="force must be one of auto, dense, sparse"):
        parse_pipeline("select-kernels{force=fast}")
    with pytest.raises(PassError, match="min-speedup must be >= 1"):
        parse_pipeline("select-kernels{min-speedup=0.5}")


def test_weights_shared_with_other_ops_or_without_sparse_kernels_stay_dense():
    w = weight(np.random.default_rng(4), (8, 8), 0.1)
    decisions, _ = select(linear(w, shared_add=True), "{force=sparse}")
    assert not decisions["w"]["sparse"] and "also used by math.add" in decisions["w"]["reason"]

    rng = np.random.default_rng(5)
    m = Module("c3")
    x = m.add_input("x", TensorType((1, 2, 4, 4, 4), "f32"))
    y = Builder(m).value("nn.conv3d", [x, m.add_constant("w3", weight(rng, (3, 2, 2, 2, 2), 0.1))])
    m.outputs = {"y": y}
    decisions, _ = select(m, "{force=sparse}")
    assert decisions["w3"]["reason"] == "no sparse kernel for nn.conv3d"


def test_conv2d_gets_csr_and_the_shape_class_uses_channels_and_positions(tmp_path):
    path = cost_file(tmp_path, [(point(p=128, r=36, o=6), CURVE),
                                (point(p=4096, r=1000, o=64), {**CURVE, "dense_seconds": 0.1})])
    rng = np.random.default_rng(6)
    m = Module("c2")
    x = m.add_input("x", TensorType(("N", 4, 8, 8), "f32"))
    y = Builder(m).value("nn.conv2d", [x, m.add_constant("w", weight(rng, (6, 4, 3, 3), 0.1))],
                         {"pads": [1, 1, 1, 1]})
    m.outputs = {"y": y}
    decisions, _ = select(m, f"{{cost-model={path}}}", symbols={"N": 2})
    d = decisions["w"]
    assert d["sparse"] and d["format"] == "csr" and d["kernel"] == "sparse.conv2d_csr"
    assert "conv2d o=6 r=36 p=128 [r<=144/p<=256; measured at p=128 r=36 o=6]" in d["reason"]
    assert "assumed" not in d["reason"]
    assert m.constants["w"].type.encoding.format == "csr"


def test_token_count_comes_from_input_shapes(tmp_path):
    path = cost_file(tmp_path, [(point(m=1, k=64, n=64), CURVE),
                                (point(m=64, k=64, n=64), {**CURVE, "dense_seconds": 0.1})])
    w = weight(np.random.default_rng(7), (64, 64), 0.1)
    r = compiler.compile(linear(w), cost_model=path, input_shapes={"x": [64, 64]})
    layer = r.program.header["reports"]["sparsity"]["layers"][0]
    assert "m=64 [m<=128/kn<=64K; measured at m=64 k=64 n=64]" in layer["reason"]
    assert "assumed" not in layer["reason"]
    assert layer["kernel"] == "nn.matmul"                 # that class's sparse is slower
    assert r.program.header["reports"]["sparsity"]["assumed"] == {}


def test_unmeasured_class_stays_dense(tmp_path):
    path = cost_file(tmp_path, [(point(p=1, r=1, o=1), CURVE)])
    decisions, _ = select(linear(weight(np.random.default_rng(8), (8, 8), 0.01)),
                          f"{{cost-model={path}}}")
    assert not decisions["w"]["sparse"]
    assert "no matmul measurement in costs.json" in decisions["w"]["reason"]


@pytest.mark.parametrize("content, words", [
    ("not json", ["cannot be read"]),
    ('{"format": "other"}', ["not a cost file"]),
    ('{"format": "wsc-kernel-costs/1", "points": {"a": {"dense_seconds": 1}}}',
     ["point 'a' needs"]),
    ('{"format": "wsc-kernel-costs/1", "points": {"matmul/x": {"dense_seconds": 1, '
     '"dims": {"m": 1, "k": 2}, "densities": [0.1], "sparse_seconds": [1]}}}',
     ["dims m, k, n"]),
    ('{"format": "wsc-kernel-costs/1", "points": {"matmul/x": {"dense_seconds": 1, '
     '"dims": {"m": 1, "k": 2, "n": 3}, "densities": [0.5, 0.1], "sparse_seconds": [1, 2]}}}',
     ["densities must increase"]),
])
def test_bad_cost_files_are_clear_errors(tmp_path, content, words):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(CompileError) as info:
        CostModel.load(path)
    for w in words:
        assert w in info.value.message
    assert "wsc calibrate" in info.value.hint


def test_the_packaged_cost_file_says_how_and_when_it_was_measured():
    model = CostModel.load()
    assert model.measured.get("command", "").startswith("wsc calibrate")
    assert model.measured.get("date")
    assert json.loads(DEFAULT_COST_FILE.read_text())["format"] == "wsc-kernel-costs/1"
    from compiler.sparsity.calibrate import measured_shapes
    assert set(model.curves) == set(measured_shapes())
    classes = {json.loads(DEFAULT_COST_FILE.read_text())["points"][k]["class"]
               for k in model.curves}
    assert {"matmul/m=1/kn<=64K", "matmul/m>128/kn>1M", "conv2d/r<=144/p<=256",
            "conv2d/r>144/p>256"} <= classes
