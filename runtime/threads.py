"""How the runtime uses the cores: one thread pool (numba's OpenMP pool) during a run.

The kernels use two kinds of parallel code: numba's compiled loops (sparse
kernels, im2col, depthwise conv, GELU...) and BLAS (OpenBLAS, behind numpy's
matmul). Each library keeps its own worker threads, and on the 2-core
development machine letting both pools run measured badly:

- OpenBLAS's idle workers spin ~0.1 s after each call; numba's OpenMP workers,
  when allowed to spin, do too. Two spinning pools on two cores took turns
  with the thread doing the work: a pruned ResNet-18 ran in 40-70 ms instead
  of 9.
- With numba's workers waiting passively instead (futex sleep), every
  parallel loop first paid ~40 us to wake a sleeping core, and the sparse
  kernels hardly gained from a second thread (pruned ResNet-18: 16.5 ms with
  two threads against 15-19 ms with one).

So while `Executable.run` executes (`pool()`), BLAS is limited to one thread
per call (threadpoolctl) and numba's pool does all the parallel work, its
workers spinning briefly between kernels (libgomp's default wait policy).
Dense GEMMs big enough to be worth it are split across that pool along their
longer side, each part one single-threaded BLAS call on its block in place
(`matmul_into`); that measured as fast as OpenBLAS's own two threads (64x576 @
576x3136: 1.35 ms vs 1.47; 128x768 @ 768x768: 0.87 vs 0.80), and the pruned
ResNet-18 above ran in 9.3 ms.

Outside a run (a kernel called directly, a test), nothing is limited and
`matmul_into` is numpy's matmul. If threadpoolctl is missing, or the
environment sets WSC_ONE_POOL=0, runs keep BLAS's own threads and GEMMs stay
numpy's (correct; slower on this machine).
"""
from __future__ import annotations

import contextlib
import os
import threading
from typing import Iterator

import numpy as np

_LOCAL = threading.local()
_CONTROLLER = None          # threadpoolctl's controller, made on first use
MIN_SPLIT_FLOPS = 4e6       # GEMMs smaller than this stay one BLAS call
MIN_SPLIT_ROWS = 16         # and so do products of fewer rows: BLAS's gemm with M = 1..8
                            # split measured 2-4x slower than one single-threaded call


def active() -> bool:
    """Whether the calling thread is inside `pool()` (BLAS limited to one thread)."""
    return getattr(_LOCAL, "depth", 0) > 0


def _controller():
    global _CONTROLLER
    if _CONTROLLER is None:
        if os.environ.get("WSC_ONE_POOL", "1") == "0":
            _CONTROLLER = False
            return _CONTROLLER
        try:
            # scipy's BLAS (the one numba's np.dot calls) must be loaded to be limited too.
            import scipy.linalg.cython_blas  # noqa: F401
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _CONTROLLER = False
        else:
            _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


_LIMIT_LOCK = threading.Lock()
_LIMIT = {"owner": None, "limiter": None}   # the Python thread holding BLAS's limit


@contextlib.contextmanager
def pool() -> Iterator[None]:
    """Run the enclosed kernels on numba's pool alone (see the module docstring).

    Re-entrant. With several Python threads running programs at once, the first
    one in limits BLAS and restores it when it leaves (OpenBLAS took a restore
    made from another thread as a no-op, which would have left BLAS limited for
    good); the others meanwhile run with whatever BLAS has: correct, maybe
    slower."""
    if active():
        _LOCAL.depth += 1
        try:
            yield
        finally:
            _LOCAL.depth -= 1
        return
    controller = _controller()
    if not controller:
        yield
        return
    me = threading.get_ident()
    with _LIMIT_LOCK:
        owner = _LIMIT["owner"] is None
        if owner:
            _LIMIT["owner"] = me
            _LIMIT["limiter"] = controller.limit(limits=1, user_api="blas")
    _LOCAL.depth = 1
    try:
        yield
    finally:
        _LOCAL.depth = 0
        if owner:
            with _LIMIT_LOCK:
                _LIMIT["limiter"].restore_original_limits()
                _LIMIT["owner"] = _LIMIT["limiter"] = None


def matmul_into(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """out = a @ b for 2-D a [M, K], b [K, N], out [M, N] of one float dtype.

    Inside `pool()`, a large enough product with C-contiguous operands is split
    over numba's threads along its longer side (columns of b, or rows of a), one
    single-threaded BLAS call per part (into a contiguous buffer first when `out`
    is a strided block); otherwise it is numpy's matmul."""
    if active() and a.dtype == b.dtype == out.dtype and a.dtype in (np.float32, np.float64) \
            and a.flags.c_contiguous and b.flags.c_contiguous \
            and 2.0 * a.shape[0] * a.shape[1] * b.shape[1] >= MIN_SPLIT_FLOPS \
            and a.shape[0] >= MIN_SPLIT_ROWS and a.shape[1] and b.shape[1] >= 2:
        from .kernels.dense_numba import gemm_split
        if out.flags.c_contiguous:
            gemm_split(a, b, out)
        else:       # a block of a larger result: through a contiguous buffer
            tmp = np.empty(out.shape, dtype=out.dtype)
            gemm_split(a, b, tmp)
            out[...] = tmp
        return out
    return np.matmul(a, b, out=out)
