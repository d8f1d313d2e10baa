"""ONNX op converters, one file per family; importing this package registers them all."""
from .registry import CONVERTERS, Converter, converter, find_converter, supported_op_types

from . import elementwise  # noqa: E402,F401
from . import nn, reduce, rnn  # noqa: E402,F401
from . import tensor  # noqa: E402,F401
from . import attention  # noqa: E402,F401
from . import loss  # noqa: E402,F401
from . import quant  # noqa: E402,F401
from . import sequence  # noqa: E402,F401
from . import composite  # noqa: E402,F401
from . import signal  # noqa: E402,F401
from . import linalg  # noqa: E402,F401
from . import image  # noqa: E402,F401
from . import control  # noqa: E402,F401
from . import bitcast  # noqa: E402,F401

__all__ = ["CONVERTERS", "Converter", "converter", "find_converter", "supported_op_types"]
