"""Runtime kernels; importing this package registers every kernel family."""
from .registry import KERNELS, get_kernel, kernel

from . import elementwise, logic, nn, tensor, reduce  # noqa: E402,F401
from . import indexing  # noqa: E402,F401
from . import rnn  # noqa: E402,F401
from . import sparse  # noqa: E402,F401
from . import fused  # noqa: E402,F401
from . import attention  # noqa: E402,F401
from . import loss  # noqa: E402,F401
from . import quant  # noqa: E402,F401
from . import signal  # noqa: E402,F401
from . import linalg  # noqa: E402,F401
from . import image  # noqa: E402,F401
from . import bitcast  # noqa: E402,F401

__all__ = ["KERNELS", "get_kernel", "kernel"]
