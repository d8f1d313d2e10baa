"""The IR: types, values, ops, modules; builder, printer, parser, verifier."""
from .core import Constant, Module, Op, Value
from .location import Location
from .types import DTYPES, SparseEncoding, TensorType

__all__ = ["Constant", "Location", "Module", "Op", "SparseEncoding", "TensorType", "Value", "DTYPES"]
