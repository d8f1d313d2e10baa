"""The verifier accepts good modules and reports each broken invariant, located at the op."""
from __future__ import annotations

import numpy as np
import pytest

from compiler.errors import VerifyError
from compiler.ir import Constant, Location, Module, Op, SparseEncoding, TensorType, Value
from compiler.ir.builder import Builder
from compiler.ir.verifier import verify

F2 = TensorType((2,), "f32")


def good() -> Module:
    """x -> relu -> add(w) -> reduce_sum, all built through the registry."""
    m = Module()
    x = m.add_input("x", TensorType(("N", 2), "f32"))
    w = m.add_constant("w", np.ones(2, np.float32), sparsity=0.5)
    b = Builder(m)
    r = b.value("nn.relu", [x], loc=Location("g.wsl", 1, 1), result_name="r")
    a = b.value("math.add", [r, w], loc=Location("g.wsl", 2, 1))
    s = b.value("math.reduce_sum", [a], {"axes": [1]}, loc=Location(name="Sum_3"))
    m.outputs = {"s": s, "a": a}
    return m


def verify_error(m: Module) -> VerifyError:
    with pytest.raises(VerifyError) as info:
        verify(m)
    return info.value


def test_good_module_verifies():
    verify(good())
    verify(Module())


def test_sparse_encoding_on_a_result_is_allowed():
    m = good()
    r = m.ops[0].result
    r.type = r.type.with_encoding(SparseEncoding("csr", 10))
    verify(m)


def test_unregistered_op():
    m = good()
    m.ops[0].name = "nn.reluu"
    e = verify_error(m)
    assert "op 0 (nn.reluu): unknown op 'nn.reluu'; did you mean 'nn.relu'" in e.message
    assert e.loc == Location("g.wsl", 1, 1) and e.where == "g.wsl:1:1"


def test_short_op_name():
    m = good()
    m.ops[0].name = "relu"
    assert "op names are stored in full: nn.relu, not relu" in verify_error(m).message


def test_arity():
    m = good()
    m.ops[0].operands.append(m.inputs[0])
    assert "op 0 (nn.relu): nn.relu takes 1 operands (x), got 2" in verify_error(m).message


def test_use_before_definition():
    m = good()
    m.ops[0], m.ops[1] = m.ops[1], m.ops[0]
    e = verify_error(m)
    assert "op 0 (math.add): operand 0 (value %r) is used before op 1 defines it" in e.message
    assert e.loc == Location("g.wsl", 2, 1)


def test_self_use():
    m = good()
    m.ops[0].operands = [m.ops[0].result]
    assert "operand 0 (value %r) is used before op 0 defines it" in verify_error(m).message


def test_operand_from_another_module():
    m, other = good(), good()
    m.ops[0].operands = [other.inputs[0]]
    assert "operand 0 (value %x) is not defined in this module" in verify_error(m).message


def test_constant_not_in_table():
    m = good()
    stray = Constant(F2, "w", None, data=np.ones(2, np.float32))
    m.ops[1].operands[1] = stray
    assert "operand 1 is constant @w, which is not in this module's constant table" \
        in verify_error(m).message


def test_value_defined_twice(monkeypatch):
    from compiler.ops import registry
    opdef = registry.OpDef(name="testing.pair", operands=("x",), infer=lambda i, a: [i[0], i[0]],
                           flops=lambda i, o, a: 0, fusion="opaque", doc="x", num_results=2)
    monkeypatch.setitem(registry.OPS, opdef.name, opdef)
    monkeypatch.setitem(registry._SHORT, opdef.short_name, opdef.name)
    m = Module()
    x = m.add_input("x", F2)
    op = Builder(m).create("testing.pair", [x], loc=Location(name="P"))
    verify(m)
    op.results[1] = op.results[0]
    e = verify_error(m)
    assert e.message == "op 0 (testing.pair): result 1 (an unnamed value) is already defined earlier"
    assert e.where == "P"


def test_result_defined_by_two_ops():
    m = Module()
    x = m.add_input("x", F2)
    op1 = Builder(m).create("nn.relu", [x])
    op2 = Op("nn.relu", [x], {}, [op1.result], Location(name="n2"))
    m.ops.append(op2)
    e = verify_error(m)
    assert "op 1 (nn.relu): result 0 (an unnamed value) records another producer" in e.message
    op1.result.producer = op2
    e = verify_error(m)
    assert "op 0 (nn.relu): result 0 (an unnamed value) records another producer" in e.message


def test_result_redefined_after_producer_fixed():
    m = Module()
    x = m.add_input("x", F2)
    op = Builder(m).create("nn.relu", [x])
    op.results.append(op.result)
    assert "op 0 (nn.relu): has 2 results, but nn.relu defines 1" in verify_error(m).message


def test_input_reused_as_result():
    m = Module()
    x = m.add_input("x", F2)
    op = Op("nn.relu", [x], {}, [x])
    m.ops.append(op)
    assert "result 0 (value %x) records another producer" in verify_error(m).message
    x.producer = op
    assert "input 'x' is a constant or an op result" in verify_error(m).message


def test_result_type_differs_from_inference():
    m = good()
    m.ops[2].result.type = TensorType(("N", 1), "f32")
    e = verify_error(m)
    assert "op 2 (math.reduce_sum): result 0 has type f32[N, 1], but math.reduce_sum infers f32[N]" \
        in e.message
    assert e.where == "Sum_3"


def test_result_dtype_differs_from_inference():
    m = good()
    m.ops[0].result.type = TensorType(("N", 2), "f16")
    assert "result 0 has type f16[N, 2], but nn.relu infers f32[N, 2]" in verify_error(m).message


def test_inference_failure():
    m = good()
    m.ops[1].operands[1] = m.add_constant("v", np.ones(3, np.float32))
    e = verify_error(m)
    assert e.message.startswith("op 1 (math.add): ") and "do not broadcast" in e.message
    assert e.where == "g.wsl:2:1"


@pytest.mark.parametrize("attrs, message", [
    ({"axes": [1]}, "attributes are not normalized (keepdims)"),                 # default missing
    ({"axes": (1,), "keepdims": False}, "attributes are not normalized (axes)"),  # tuple, not list
    ({"axes": [1], "keepdims": 0}, "attribute 'keepdims' must be true or false"),
    ({"axes": [1], "keepdims": False, "keep": 1}, "has no attribute 'keep'"),
])
def test_attributes_must_be_normalized(attrs, message):
    m = good()
    m.ops[2].attrs = attrs
    e = verify_error(m)
    assert "op 2 (math.reduce_sum)" in e.message and message in e.message


def test_int_where_float_is_normalized_is_caught(monkeypatch):
    from compiler.ops import registry
    opdef = registry.OpDef(name="testing.scale", operands=("x",), infer=lambda i, a: [i[0]],
                           flops=lambda i, o, a: 0, fusion="opaque", doc="x",
                           attrs=(registry.Attr("alpha", "float", 1.0),))
    monkeypatch.setitem(registry.OPS, opdef.name, opdef)
    monkeypatch.setitem(registry._SHORT, opdef.short_name, opdef.name)
    m = Module()
    x = m.add_input("x", F2)
    op = Builder(m).create("testing.scale", [x], {"alpha": 2})
    assert op.attrs == {"alpha": 2.0}
    verify(m)
    op.attrs = {"alpha": 2}
    assert "attributes are not normalized (alpha)" in verify_error(m).message
    op.attrs = {"alpha": float("nan")}
    verify(m)  # nan equals itself for this check


def test_undefined_output():
    m, other = good(), good()
    m.outputs["extra"] = other.ops[0].result
    e = verify_error(m)
    assert "output 'extra' refers to value %r, which is not defined in this module" in e.message
    m.outputs["extra"] = Constant(F2, "zz", None)
    assert "output 'extra' refers to constant @zz" in verify_error(m).message


def test_outputs_may_be_inputs_and_constants():
    m = good()
    m.outputs["x"] = m.inputs[0]
    m.outputs["w"] = m.constants["w"]
    verify(m)


def test_constant_data_shape_and_dtype():
    m = good()
    m.constants["w"].data = np.ones(3, np.float32)
    assert "constant @w: its data has shape [3], but its type is f32[2]" in verify_error(m).message
    m.constants["w"].data = np.ones(2, np.float64)
    assert "constant @w: its data is f64, but its type is f32[2]" in verify_error(m).message
    m.constants["w"].data = None  # elided data is fine
    verify(m)


@pytest.mark.parametrize("sparsity", [1.0, -0.1, float("nan"), True, "0.5"])
def test_constant_sparsity_range(sparsity):
    m = good()
    m.constants["w"].sparsity = sparsity
    assert "constant @w: sparsity annotation must be a number in [0, 1)" in verify_error(m).message


def test_constant_table_key_and_static_shape():
    m = good()
    m.constants["w"].name = "v"
    assert "constant @w is named 'v'" in verify_error(m).message
    m = good()
    m.constants["s"] = Constant(TensorType(("N",), "f32"), "s", None)
    assert "constant @s has a symbolic shape f32[N]" in verify_error(m).message


def test_input_names():
    for name, message in [("a b", "input name 'a b' is not a value name"),
                          ("", "input name '' is not a value name"),
                          ("w", "input %w has the name of constant @w")]:
        m = good()
        m.inputs.append(Value(F2, name))
        assert message in verify_error(m).message
    m = good()
    m.inputs.append(Value(F2, "x"))
    assert "input %x is declared twice" in verify_error(m).message


def test_op_without_location_is_described_in_the_message():
    m = Module()
    x = m.add_input("x", F2)
    Builder(m).create("nn.relu", [x])
    m.ops[0].operands = [Value(F2, "ghost")]
    e = verify_error(m)
    assert e.where is None
    assert e.message == "op 0 (nn.relu): operand 0 (value %ghost) is not defined in this module"
