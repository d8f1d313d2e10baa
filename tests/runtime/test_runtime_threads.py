"""runtime/threads.py: one pool during a run (BLAS limited, GEMMs split over numba's threads)."""
from __future__ import annotations

import numpy as np
import pytest

from runtime import threads
from runtime.kernels.dense_numba import gemm_split

threadpoolctl = pytest.importorskip("threadpoolctl")


def _blas_threads() -> set[int]:
    return {i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}


def test_pool_limits_blas_inside_and_restores_after():
    before = _blas_threads()
    assert not threads.active()
    with threads.pool():
        assert threads.active()
        assert _blas_threads() == {1}
        with threads.pool():                     # nested: still limited, still active
            assert threads.active() and _blas_threads() == {1}
        assert threads.active()
    assert not threads.active()
    assert _blas_threads() == before


def test_pool_restores_after_an_exception():
    before = _blas_threads()
    with pytest.raises(ZeroDivisionError):
        with threads.pool():
            1 / 0
    assert not threads.active() and _blas_threads() == before


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n", [(1, 5, 7), (7, 1, 1), (3, 4, 100), (100, 4, 3), (1, 768, 300),
                                   (64, 576, 3136), (512, 460, 49), (2, 3, 2)])
def test_gemm_split_matches_numpy(dtype, m, k, n):
    rng = np.random.default_rng(m * 7 + n)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    out = np.full((m, n), np.nan, dtype)
    gemm_split(a, b, out)
    want = a.astype(np.float64) @ b.astype(np.float64)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(out, want, rtol=tol, atol=tol * max(1.0, np.abs(want).max()))


def test_matmul_into_splits_only_inside_the_pool_and_only_what_it_can():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((128, 256)).astype(np.float32)
    b = rng.standard_normal((256, 300)).astype(np.float32)
    want = a @ b
    out = np.empty((128, 300), np.float32)
    np.testing.assert_allclose(threads.matmul_into(a, b, out), want, rtol=1e-4, atol=1e-3)
    with threads.pool():
        out[...] = 0
        np.testing.assert_allclose(threads.matmul_into(a, b, out), want, rtol=1e-4, atol=1e-3)
        # a non-contiguous operand or result, and mixed dtypes, take numpy's matmul
        wide = np.empty((128, 600), np.float32)
        threads.matmul_into(a, b, wide[:, ::2])
        np.testing.assert_allclose(wide[:, ::2], want, rtol=1e-4, atol=1e-3)
        got = threads.matmul_into(a.astype(np.float64), b.astype(np.float64),
                                  np.empty((128, 300), np.float64))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


def test_pool_from_two_python_threads_never_leaves_blas_limited():
    """The first thread in holds the limit and restores it when it leaves; a second
    thread inside meanwhile runs correctly either way, and nothing stays limited."""
    import threading
    before = _blas_threads()
    inside = threading.Event()
    release = threading.Event()
    seen = {}

    def worker():
        with threads.pool():
            assert threads.active()
            inside.set()
            release.wait(5)
            seen["worker active"] = threads.active()

    t = threading.Thread(target=worker)
    with threads.pool():
        t.start()
        assert inside.wait(5)
        seen["both inside"] = _blas_threads()
    seen["main left"] = _blas_threads()
    release.set()
    t.join(5)
    assert seen == {"both inside": {1}, "main left": before, "worker active": True}
    assert _blas_threads() == before
