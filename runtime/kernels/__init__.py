"""Runtime kernels; importing this package registers every kernel family."""
from .registry import KERNELS, get_kernel, kernel

from . import elementwise, nn, tensor, reduce  # noqa: E402,F401

__all__ = ["KERNELS", "get_kernel", "kernel"]
