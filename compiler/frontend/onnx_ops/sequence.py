"""Converters for ONNX sequence and optional ops, by static unrolling.

wsc's IR has no sequence type. While importing, a sequence is a Python list
of IR values (see `compiler/frontend/onnx.py`): SequenceConstruct builds the
list, SequenceInsert/SequenceErase edit a copy, SequenceAt picks an element,
SequenceLength is a constant, SplitToSequence slices a tensor into a list and
ConcatFromSequence concatenates one. This is the partial evaluation that
shape values get: it works while every position is known at compile time,
and a position computed at run time is a clear error. No op is emitted for
the sequence itself; only the tensor ops (slices, concats) remain.

Optionals are decided the same way: Optional, OptionalHasElement and
OptionalGetElement work on the importer's value (present: the tensor or
sequence itself; empty: `EMPTY_OPTIONAL`), so OptionalHasElement is a constant.
"""
from __future__ import annotations

import numpy as np

from .registry import converter


def _position(n, i: int, length: int, what: str, *, inserting: bool = False) -> int:
    """Input `i` as a position in a sequence of `length` (negative counts from the end)."""
    (pos,) = n.require_ints(i, f"{what} position") if n.has_input(i) else [length if inserting
                                                                          else length - 1]
    hi = length if inserting else length - 1
    if not -length <= pos <= hi:
        n.fail(f"position {pos} is out of range for a sequence of {length} tensors (valid: "
               f"{-length} to {hi})")
    return pos + length if pos < 0 else pos


def _check_dtype(n, seq, t):
    if seq and t.type.dtype != seq[0].type.dtype:
        n.fail(f"a sequence holds one element type: {t.type.dtype} does not join a sequence of "
               f"{seq[0].type.dtype}")


@converter("SequenceConstruct", since=11)
def sequence_construct(n):
    seq = []
    for i in range(n.num_inputs):
        t = n.input(i)
        _check_dtype(n, seq, t)
        seq.append(t)
    return [seq]


@converter("SequenceEmpty", since=11)
def sequence_empty(n):
    return [[]]


@converter("SequenceLength", since=11)
def sequence_length(n):
    return n.constant(np.array(len(n.sequence(0)), dtype=np.int64))


@converter("SequenceAt", since=11)
def sequence_at(n):
    seq = n.sequence(0)
    if not seq:
        n.fail("SequenceAt of an empty sequence")
    return seq[_position(n, 1, len(seq), "the")]


@converter("SequenceInsert", since=11)
def sequence_insert(n):
    seq, t = n.sequence(0), n.input(1)
    _check_dtype(n, seq, t)
    seq.insert(_position(n, 2, len(seq), "the insert", inserting=True), t)
    return [seq]


@converter("SequenceErase", since=11)
def sequence_erase(n):
    seq = n.sequence(0)
    if not seq:
        n.fail("SequenceErase of an empty sequence")
    del seq[_position(n, 1, len(seq), "the erase")]
    return [seq]


@converter("SplitToSequence", since=11)
def split_to_sequence(n):
    x = n.input(0)
    rank = x.type.rank
    axis = int(n.attr("axis", 0))
    if not -rank <= axis < rank:
        n.fail(f"axis {axis} is out of range for {x.type}")
    axis %= rank
    dim = x.type.shape[axis]
    if not isinstance(dim, int):
        n.fail(f"splitting the symbolic dim {dim!r} of {x.type} into a sequence: its length "
               f"must be known at compile time", hint="fix the input dims with --input-shape")
    keepdims = bool(n.attr("keepdims", 1))
    if n.has_input(1):
        sizes = n.require_ints(1, "split")
        split = n.const(1)
        if split is not None and split.ndim == 0:  # a scalar: chunks of that size, the last shorter
            chunk = sizes[0]
            if chunk < 1:
                n.fail(f"the split size must be >= 1, got {chunk}")
            sizes = [min(chunk, dim - at) for at in range(0, dim, chunk)]
        elif sum(sizes) != dim or any(s < 0 for s in sizes):
            n.fail(f"split sizes {sizes} must be non-negative and add up to dim {axis} ({dim}) "
                   f"of {x.type}")
        keepdims = True  # ONNX: keepdims applies only without a split input
    else:
        sizes = [1] * dim
    seq, at = [], 0
    for size in sizes:
        part = n.op("tensor.slice", [x], {"starts": [at], "ends": [at + size], "axes": [axis]})
        if not keepdims:
            part = n.op("tensor.squeeze", [part], {"axes": [axis]})
        seq.append(part)
        at += size
    return [seq]


@converter("ConcatFromSequence", since=11)
def concat_from_sequence(n):
    seq = n.sequence(0)
    if not seq:
        n.fail("ConcatFromSequence of an empty sequence (the result's shape is unknown)")
    axis = int(n.attr("axis"))
    rank = seq[0].type.rank + (1 if n.attr("new_axis", 0) else 0)
    if not -rank <= axis < rank:
        n.fail(f"axis {axis} is out of range for the rank-{rank} result")
    axis %= rank
    if n.attr("new_axis", 0):
        seq = [n.op("tensor.unsqueeze", [t], {"axes": [axis]}) for t in seq]
    if len(seq) == 1:
        return seq[0]
    return n.op("tensor.concat", seq, {"axis": axis})


# -- optionals: a present value is itself, an empty one EMPTY_OPTIONAL --------------------------

def _empty():
    from ..onnx import EMPTY_OPTIONAL  # late: that module imports this package
    return EMPTY_OPTIONAL


def _wrapped(v):
    """A converter's return value for one output holding `v` (a sequence is one output)."""
    return [v] if isinstance(v, list) else v


@converter("Optional", since=15)
def optional(n):
    v = n.any_input(0)
    return _wrapped(v) if v is not None else _empty()


@converter("OptionalHasElement", since=15)
def optional_has_element(n):
    v = n.any_input(0)
    return n.constant(np.array(v is not None and v is not _empty()))


@converter("OptionalGetElement", since=15)
def optional_get_element(n):
    v = n.any_input(0)
    if v is None or v is _empty():
        n.fail("the optional (input 0) is empty")
    return _wrapped(v)
