"""The runtime's kernel registry: kernel name -> a Python function over numpy arrays.

A kernel is called as ``fn(*inputs, **attrs)`` with the op's operands (numpy
arrays, in operand order; an absent optional operand is simply not passed) and
its attributes as keyword arguments, and returns one array or a tuple of
arrays (one per result). Dense kernels are named after the op they implement
(``nn.conv2d``); specialised kernels (sparse, fused) get their own names and
the compiler's kernel selection records which one an instruction uses.
"""
from __future__ import annotations

import difflib
from typing import Callable

import numpy as np

KernelFn = Callable[..., "np.ndarray | tuple[np.ndarray, ...]"]

KERNELS: dict[str, KernelFn] = {}


def kernel(name: str) -> Callable[[KernelFn], KernelFn]:
    """Decorator registering `fn` as the kernel called `name`."""
    def deco(fn: KernelFn) -> KernelFn:
        if name in KERNELS:
            raise ValueError(f"kernel {name} registered twice")
        KERNELS[name] = fn
        return fn
    return deco


def get_kernel(name: str) -> KernelFn:
    try:
        return KERNELS[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(KERNELS), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"no runtime kernel named {name!r}{hint}") from None
