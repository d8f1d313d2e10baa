"""Shape values: the dynamic-shape arithmetic of PyTorch exports resolves at compile time.

The models are built the way `torch.onnx.export` writes them (Shape -> Gather ->
Unsqueeze -> Concat -> Reshape, ConstantOfShape and Expand of a computed shape,
Range up to a computed length), imported without --input-shape, checked to
have symbolic result types, and run at two batch sizes against onnxruntime.
"""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from compiler.errors import CompileError
from compiler.frontend.onnx import import_onnx
from compiler.passes import PIPELINES, PassManager, parse_pipeline
from compiler.testing.onnx_builders import make_model, run_onnxruntime, value_info
from compiler.testing.onnx_node_cases import execute_module

F, I64 = TensorProto.FLOAT, TensorProto.INT64


# the installed onnx's IR version
_model = partial(make_model, opset=17, ir_version=None)


def _i64(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def _node(op, ins, outs, **attrs):
    return helper.make_node(op, ins, outs, **attrs)


def _compile(model, pipeline: str = PIPELINES[2]):
    module = import_onnx(model)
    return PassManager(parse_pipeline(pipeline)).run(module)


# Only the shape arithmetic folded away, nothing rewritten or fused: what the importer's
# shape-value handling left is visible, whatever later -O passes remove.
IMPORTED = "infer-shapes,fold-constants,dce"


def _heads_model():
    """x[batch, seq, 768] -> [batch, seq, 12, 64] -> [batch, 12, seq, 64], as exported."""
    nodes = [
        _node("Shape", ["x"], ["shape"]),
        _node("Gather", ["shape", "zero"], ["batch"], axis=0),
        _node("Gather", ["shape", "one"], ["seq"], axis=0),
        _node("Unsqueeze", ["batch", "axes0"], ["batch_1d"]),
        _node("Unsqueeze", ["seq", "axes0"], ["seq_1d"]),
        _node("Concat", ["batch_1d", "seq_1d", "heads"], ["target"], axis=0),
        _node("Reshape", ["x", "target"], ["split"]),
        _node("Transpose", ["split"], ["y"], perm=[0, 2, 1, 3]),
    ]
    inits = [_i64("zero", 0), _i64("one", 1), _i64("axes0", [0]), _i64("heads", [12, 64])]
    return _model(nodes, [value_info("x", ["batch", "seq", 768])],
                  [value_info("y", ["batch", 12, "seq", 64])], inits)


def test_reshape_of_computed_shape_stays_symbolic_and_matches_onnxruntime() -> None:
    model = _heads_model()
    module = _compile(model)
    assert module.outputs["y"].type.shape == ("batch", 12, "seq", 64)
    assert module.outputs["y"].type.dtype == "f32"
    # The shape arithmetic folded away: only the data movement is left.
    assert [op.name for op in module.ops] == ["tensor.reshape", "tensor.transpose"]
    rng = np.random.default_rng(0)
    for batch, seq in ((2, 5), (3, 7)):
        x = rng.standard_normal((batch, seq, 768)).astype(np.float32)
        (got,) = execute_module(module, {"x": x})
        (want,) = run_onnxruntime(model, {"x": x})
        assert got.shape == (batch, 12, seq, 64)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        # and independently of onnxruntime:
        np.testing.assert_array_equal(got, x.reshape(batch, seq, 12, 64).transpose(0, 2, 1, 3))


def _mask_model():
    """An attention-bias style graph: ConstantOfShape, Expand and Range of computed shapes."""
    nodes = [
        _node("Shape", ["x"], ["shape"]),
        _node("Slice", ["shape", "s0", "s2"], ["batch_seq"]),            # [batch, seq]
        _node("ConstantOfShape", ["batch_seq"], ["ones"],
              value=numpy_helper.from_array(np.array([1.5], np.float32), "v")),
        _node("Expand", ["bias", "shape"], ["bias_full"]),                # [batch, seq, 64]
        _node("Add", ["x", "bias_full"], ["y"]),
        _node("Gather", ["shape", "one"], ["seq"], axis=0),
        _node("Range", ["zero", "seq", "one"], ["positions"]),           # [seq]
        _node("Cast", ["shape"], ["shape_f"], to=F),
    ]
    inits = [_i64("s0", [0]), _i64("s2", [2]), _i64("zero", 0), _i64("one", 1),
             numpy_helper.from_array(np.linspace(-1, 1, 64, dtype=np.float32)
                                     .reshape(1, 1, 64), "bias")]
    return _model(nodes, [value_info("x", ["batch", "seq", 64])],
                  [value_info("ones", ["batch", "seq"]),
                   value_info("y", ["batch", "seq", 64]),
                   value_info("positions", ["seq"], I64),
                   value_info("shape_f", [3])], inits)


def test_constant_of_shape_expand_and_range_of_symbolic_sizes() -> None:
    model = _mask_model()
    module = _compile(model)
    types = {k: v.type for k, v in module.outputs.items()}
    assert types["ones"].shape == ("batch", "seq") and types["ones"].dtype == "f32"
    assert types["y"].shape == ("batch", "seq", 64)
    assert types["positions"].shape == ("seq",) and types["positions"].dtype == "i64"
    assert types["shape_f"].shape == (3,)
    rng = np.random.default_rng(1)
    for batch, seq in ((1, 4), (4, 9)):
        x = rng.standard_normal((batch, seq, 64)).astype(np.float32)
        got = execute_module(module, {"x": x})
        want = run_onnxruntime(model, {"x": x})
        for g, w in zip(got, want):
            assert g.shape == w.shape and g.dtype == w.dtype
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
        assert got[0].tolist() == np.full((batch, seq), 1.5).tolist()
        assert got[2].tolist() == list(range(seq))
        assert got[3].tolist() == [batch, seq, 64]  # the run-time Shape is still exact


def test_symbolic_size_moved_by_reshape_is_inferred() -> None:
    # [batch, seq*4] -> Reshape to [seq?]: a symbol at a new position becomes -1.
    nodes = [_node("Shape", ["x"], ["shape"]),
             _node("Gather", ["shape", "zero"], ["batch"], axis=0),
             _node("Unsqueeze", ["batch", "axes0"], ["batch_1d"]),
             _node("Concat", ["four", "batch_1d"], ["target"], axis=0),
             _node("Reshape", ["x", "target"], ["y"])]
    inits = [_i64("zero", 0), _i64("axes0", [0]), _i64("four", [4])]
    model = _model(nodes, [value_info("x", ["batch", 4])],
                   [value_info("y", [4, "batch"])], inits)
    module = _compile(model)
    assert module.outputs["y"].type.shape == (4, "batch")
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    (got,) = execute_module(module, {"x": x})
    np.testing.assert_array_equal(got, x.reshape(4, 3))


def test_symbols_no_single_tensor_has_are_a_clear_error() -> None:
    nodes = [_node("Shape", ["a"], ["sa"]), _node("Shape", ["b"], ["sb"]),
             _node("Concat", ["sa", "sb"], ["target"], axis=0),
             _node("ConstantOfShape", ["target"], ["y"])]
    model = _model(nodes, [value_info("a", ["N"]),
                           value_info("b", ["M"])],
                   [value_info("y", ["N", "M"])])
    with pytest.raises(CompileError) as e:
        import_onnx(model)
    assert "no single tensor has" in str(e.value)
    assert "--input-shape" in str(e.value.hint)
    # With the sizes fixed, the same model compiles to a constant.
    module = import_onnx(model, input_shapes={"a": [2], "b": [3]})
    assert module.outputs["y"].type.shape == (2, 3)


def test_binding_the_symbols_later_makes_every_type_static() -> None:
    module = import_onnx(_mask_model())
    PassManager(parse_pipeline('infer-shapes{bind="batch=2,seq=3"},fold-constants,dce')).run(module)
    types = {k: v.type.shape for k, v in module.outputs.items()}
    assert types == {"ones": (2, 3), "y": (2, 3, 64), "positions": (3,), "shape_f": (3,)}
    x = np.random.default_rng(2).standard_normal((2, 3, 64)).astype(np.float32)
    got = execute_module(module, {"x": x})
    want = run_onnxruntime(_mask_model(), {"x": x})
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_slice_to_a_computed_length_is_the_whole_dim() -> None:
    # x[:, :mask.shape[1]] where both have the size `seq`.
    nodes = [_node("Shape", ["mask"], ["shape"]),
             _node("Slice", ["shape", "one_1d", "two_1d"], ["seq_1d"]),
             _node("Slice", ["x", "zero_1d", "seq_1d", "one_1d"], ["y"])]
    inits = [_i64("zero_1d", [0]), _i64("one_1d", [1]), _i64("two_1d", [2])]
    model = _model(nodes, [value_info("x", ["batch", "seq", 4]),
                           value_info("mask", ["batch", "seq"], I64)],
                   [value_info("y", ["batch", "seq", 4])], inits)
    module = _compile(model, IMPORTED)
    assert module.outputs["y"].type.shape == ("batch", "seq", 4)
    assert [op.name for op in module.ops] == ["tensor.slice"]
    x = np.random.default_rng(5).standard_normal((2, 6, 4)).astype(np.float32)
    for m in (module, _compile(model)):  # as imported, and at -O2
        (got,) = execute_module(m, {"x": x, "mask": np.ones((2, 6), np.int64)})
        np.testing.assert_array_equal(got, x)


def test_tile_by_a_computed_batch_size_broadcasts_a_size_1_dim() -> None:
    # cls_token.repeat(batch, 1, 2) as exported: Tile by Concat(batch, [1, 2]).
    nodes = [_node("Shape", ["x"], ["shape"]),
             _node("Slice", ["shape", "zero_1d", "one_1d"], ["batch_1d"]),
             _node("Concat", ["batch_1d", "one_two"], ["reps"], axis=0),
             _node("Tile", ["cls", "reps"], ["y"])]
    inits = [_i64("zero_1d", [0]), _i64("one_1d", [1]), _i64("one_two", [1, 2]),
             numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(1, 2, 3), "cls")]
    model = _model(nodes, [value_info("x", ["batch", 5])],
                   [value_info("y", ["batch", 2, 6])], inits)
    module = _compile(model)
    assert module.outputs["y"].type.shape == ("batch", 2, 6)
    x = np.zeros((3, 5), np.float32)
    (got,) = execute_module(module, {"x": x})
    (want,) = run_onnxruntime(model, {"x": x})
    np.testing.assert_array_equal(got, want)


# -- products of symbols and size arithmetic (the patterns of GPT-2, BERT, ViT exports) --

def _sizes(x, *dims):
    """Nodes taking Shape(x) and each of `dims` as a 1-element vector `{x}_d{i}`."""
    nodes = [_node("Shape", [x], [f"{x}_shape"])]
    for i in dims:
        nodes += [_node("Gather", [f"{x}_shape", f"idx{i}"], [f"{x}_s{i}"], axis=0),
                  _node("Unsqueeze", [f"{x}_s{i}", "axes0"], [f"{x}_d{i}"])]
    return nodes


def _size_inits(*dims):
    return [_i64(f"idx{i}", i) for i in dims] + [_i64("axes0", [0])]


def test_rows_flattened_for_a_gemm_and_split_back_keep_both_symbols() -> None:
    # GPT-2's Conv1D: x.view(-1, 8) -> addmm -> view(batch, seq, 12).
    rng = np.random.default_rng(7)
    w = rng.standard_normal((8, 12)).astype(np.float32)
    b = rng.standard_normal(12).astype(np.float32)
    nodes = _sizes("x", 0, 1) + [
        _node("Reshape", ["x", "rows"], ["flat"]),
        _node("Gemm", ["flat", "w", "b"], ["proj"]),
        _node("Concat", ["x_d0", "x_d1", "twelve"], ["target"], axis=0),
        _node("Reshape", ["proj", "target"], ["y"])]
    inits = _size_inits(0, 1) + [_i64("rows", [-1, 8]), _i64("twelve", [12]),
                                 numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")]
    model = _model(nodes, [value_info("x", ["batch", "seq", 8])],
                   [value_info("y", ["batch", "seq", 12])], inits)
    module = _compile(model, IMPORTED)
    flat = next(op for op in module.ops if op.name == "tensor.reshape")
    assert flat.results[0].type.shape == ("batch*seq", 8)
    assert module.outputs["y"].type.shape == ("batch", "seq", 12)
    optimized = _compile(model)
    assert optimized.outputs["y"].type.shape == ("batch", "seq", 12)
    for batch, seq in ((2, 5), (3, 1)):
        x = rng.standard_normal((batch, seq, 8)).astype(np.float32)
        want = run_onnxruntime(model, {"x": x})[0]
        for m in (module, optimized):
            (got,) = execute_module(m, {"x": x})
            np.testing.assert_allclose(got, x @ w + b, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_size_times_heads_is_a_product_dim_and_cancels_on_the_way_back() -> None:
    # nn.MultiheadAttention: [seq, batch, 8] -> view(seq, batch * 2, 4) -> view(seq, batch, 8).
    nodes = _sizes("x", 0, 1) + [
        _node("Mul", ["x_d1", "two"], ["bh"]),
        _node("Concat", ["x_d0", "bh", "four"], ["heads"], axis=0),
        _node("Reshape", ["x", "heads"], ["split"]),
        _node("Neg", ["split"], ["neg"]),
        _node("Concat", ["x_d0", "x_d1", "eight"], ["back"], axis=0),
        _node("Reshape", ["neg", "back"], ["y"])]
    inits = _size_inits(0, 1) + [_i64("two", [2]), _i64("four", [4]), _i64("eight", [8])]
    model = _model(nodes, [value_info("x", ["seq", "batch", 8])],
                   [value_info("y", ["seq", "batch", 8])], inits)
    module = _compile(model)
    neg = next(op for op in module.ops if op.name == "math.neg")
    assert neg.results[0].type.shape == ("seq", "2*batch", 4)
    assert module.outputs["y"].type.shape == ("seq", "batch", 8)
    x = np.random.default_rng(8).standard_normal((3, 2, 8)).astype(np.float32)
    (got,) = execute_module(module, {"x": x})
    np.testing.assert_array_equal(got, -x)


def test_causal_mask_sliced_by_size_differences_folds_the_start() -> None:
    # GPT-2: bias[:, :, k_len - q_len:k_len, :k_len] of a [1, 1, 16, 16] causal buffer.
    causal = np.tril(np.ones((16, 16), bool)).reshape(1, 1, 16, 16)
    nodes = _sizes("q", 2) + _sizes("k", 2) + [
        _node("Sub", ["k_d2", "q_d2"], ["start"]),
        _node("Slice", ["causal", "start", "k_d2", "axes2"], ["rows"]),
        _node("Slice", ["rows", "zero_1d", "k_d2", "axes3"], ["mask"]),
        _node("MatMul", ["q", "kt"], ["scores"]),
        _node("Where", ["mask", "scores", "floor"], ["y"])]
    inits = _size_inits(2) + [_i64("axes2", [2]), _i64("axes3", [3]), _i64("zero_1d", [0]),
                              numpy_helper.from_array(causal, "causal"),
                              numpy_helper.from_array(np.array(-1e9, np.float32), "floor")]
    nodes.insert(0, _node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]))
    model = _model(nodes, [value_info("q", ["batch", 2, "seq", 4]),
                           value_info("k", ["batch", 2, "seq", 4])],
                   [value_info("y", ["batch", 2, "seq", "seq"])], inits)
    module = _compile(model)
    assert module.outputs["y"].type.shape == ("batch", 2, "seq", "seq")
    assert "math.sub" not in [op.name for op in module.ops]  # seq - seq folded to 0
    rng = np.random.default_rng(9)
    for seq in (5, 16):
        q, k = (rng.standard_normal((2, 2, seq, 4)).astype(np.float32) for _ in range(2))
        (got,) = execute_module(module, {"q": q, "k": k})
        want = np.where(np.tril(np.ones((seq, seq), bool)), q @ k.transpose(0, 1, 3, 2), -1e9)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_static_dim_sliced_to_a_symbolic_length_is_a_gather_of_its_head() -> None:
    # BERT: position_ids[:, :seq] of a [1, 32] buffer, then the position embedding.
    table = np.random.default_rng(10).standard_normal((32, 6)).astype(np.float32)
    nodes = _sizes("ids", 1) + [
        _node("Slice", ["positions", "zero_1d", "ids_d1", "one_1d"], ["pos"]),
        _node("Gather", ["table", "pos"], ["y"], axis=0)]
    inits = _size_inits(1) + [_i64("zero_1d", [0]), _i64("one_1d", [1]),
                              _i64("positions", np.arange(32).reshape(1, 32)),
                              numpy_helper.from_array(table, "table")]
    model = _model(nodes, [value_info("ids", ["batch", "seq"], I64)],
                   [value_info("y", [1, "seq", 6])], inits)
    module = _compile(model)
    assert module.outputs["y"].type.shape == (1, "seq", 6)
    for seq in (3, 32):
        (got,) = execute_module(module, {"ids": np.zeros((2, seq), np.int64)})
        np.testing.assert_array_equal(got, table[None, :seq])


def test_expand_to_batch_with_minus_ones_resolves_the_where_equal_pattern() -> None:
    # ViT: class_token.expand(batch, -1, -1) exports Where(Equal(size, -1), 1, size).
    cls = np.arange(4, dtype=np.float32).reshape(1, 1, 4)
    nodes = _sizes("x", 0) + [
        _node("Concat", ["x_d0", "minus1", "minus1"], ["size"], axis=0),
        _node("Reshape", ["size", "flat"], ["size_1d"]),
        _node("Shape", ["size_1d"], ["n"]),
        _node("ConstantOfShape", ["n"], ["ones"],
              value=numpy_helper.from_array(np.array([1], np.int64), "v")),
        _node("Mul", ["ones", "minus1"], ["minus_ones"]),
        _node("Equal", ["size_1d", "minus_ones"], ["keep"]),
        _node("Where", ["keep", "ones", "size_1d"], ["target"]),
        _node("Expand", ["cls", "target"], ["y"])]
    inits = _size_inits(0) + [_i64("minus1", [-1]), _i64("flat", [-1]),
                              numpy_helper.from_array(cls, "cls")]
    model = _model(nodes, [value_info("x", ["batch", 3])],
                   [value_info("y", ["batch", 1, 4])], inits)
    module = _compile(model)
    assert module.outputs["y"].type.shape == ("batch", 1, 4)
    assert [op.name for op in module.ops] == ["tensor.expand"]
    (got,) = execute_module(module, {"x": np.zeros((3, 3), np.float32)})
    np.testing.assert_array_equal(got, np.broadcast_to(cls, (3, 1, 4)))
