"""The op registry (see `registry.py`); importing this package registers every op family."""
from .registry import OPS, Attr, OpDef, ShapeError, all_ops, define, get_op, register

# Op families register themselves on import. Keep this list in sync with the files here.
from . import elementwise, logic, nn, tensor, reduce  # noqa: E402,F401
from . import indexing  # noqa: E402,F401
from . import rnn  # noqa: E402,F401
from . import fused  # noqa: E402,F401  (after nn: fused ops reuse its inference)
from . import attention  # noqa: E402,F401
from . import loss  # noqa: E402,F401
from . import quant  # noqa: E402,F401
from . import signal  # noqa: E402,F401
from . import linalg  # noqa: E402,F401
from . import image  # noqa: E402,F401
from . import bitcast  # noqa: E402,F401

__all__ = ["OPS", "Attr", "OpDef", "ShapeError", "all_ops", "define", "get_op", "register"]
