"""Sparse kernels against their dense baselines, as speedup ratios (medians, same process).

    python benchmarks/sparse_kernels.py
    python benchmarks/sparse_kernels.py --quick           # fewer sparsities and rounds
    python benchmarks/sparse_kernels.py --threads 1       # one thread for BLAS and numba
    python benchmarks/sparse_kernels.py --compile-time    # also time a cold numba compile

For every shape and sparsity it times the dense baseline and the sparse kernel
taking turns, `--repeats` rounds of a block of 3 timed runs each
(benchmarks/timing.py explains why blocks), and prints the median times, the
speedup (dense median / sparse median) and the fraction of the ideal speedup
1/(1-s) that it reaches.

- matmul: `sparse.matmul_csc` against numpy's ``x @ W`` (OpenBLAS, every core):
  3072x768 (out x in) at 128 tokens, the BERT-ish 768x768 and 768x3072 at 128
  tokens, and the GEMV 4096x4096 (one token).
- LSTM (forward, input = hidden = 512, 32 steps, batch 1 and 8): `sparse.lstm`
  with both W and R sparse against the dense `rnn.lstm` kernel (numpy: one
  input-projection GEMM, then a GEMM or GEMV per step).
- conv 3x3 (pad 1, stride 1, batch 1): `sparse.conv2d_csr` against im2col + one
  dense GEMM (written here: nine strided copies into [C*9, H*W], then
  ``W[O, C*9] @ cols``) and against the repo's `nn.conv2d` kernel.

Weights are random normal with an exact fraction `s` of zeros at random places
(unstructured, as magnitude pruning of a random weight gives).

Threads: the defaults (every core for OpenBLAS and numba), or `--threads N`
for both. It prints the BLAS library, its kernel and threads (threadpoolctl),
numba's threading layer and the thread settings. An earlier version set
OPENBLAS_THREAD_TIMEOUT=4 to stop OpenBLAS's idle threads spinning over the
sparse kernel that follows; with the block timing that is no longer needed,
and on a loaded machine it made back-to-back dense GEMMs much slower.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SPARSITIES = (0.5, 0.8, 0.9, 0.95, 0.98)
QUICK_SPARSITIES = (0.5, 0.9, 0.95)
MATMULS = [  # (label, out features N, in features K, tokens M)
    ("GEMM 3072x768 @128", 3072, 768, 128),
    ("BERT 768x768 @128", 768, 768, 128),
    ("BERT 768x3072 @128", 768, 3072, 128),
    ("GEMV 4096x4096", 4096, 4096, 1),
]
LSTMS = [  # (label, input = hidden size, sequence length, batch)
    ("LSTM 512 T32 B1", 512, 32, 1),
    ("LSTM 512 T32 B8", 512, 32, 8),
]
CONVS = [  # (label, channels in = out, height = width)
    ("conv3x3 64ch 56x56", 64, 56),
    ("conv3x3 128ch 28x28", 128, 28),
    ("conv3x3 256ch 56x56", 256, 56),
]


def _parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="sparsities 0.5/0.9/0.95, fewer repeats")
    p.add_argument("--repeats", type=int, default=None,
                   help="rounds of 3 timed runs per kernel (default 9, quick 3)")
    p.add_argument("--threads", type=int, default=0,
                   help="threads for BLAS and numba (0: their defaults)")
    p.add_argument("--compile-time", action="store_true",
                   help="time the first call with an empty numba cache (a subprocess)")
    p.add_argument("--only", default="", help="run only cases whose label contains this text")
    return p.parse_args()


ARGS = _parse_args() if __name__ == "__main__" else None
from benchmarks.timing import block_medians, set_threads  # noqa: E402

if ARGS is not None:
    set_threads(ARGS.threads)       # before numpy and numba load

import numpy as np  # noqa: E402  (after the environment is set)
from numpy.lib.stride_tricks import sliding_window_view  # noqa: E402,F401

from runtime.kernels import get_kernel  # noqa: E402
from runtime.kernels import sparse_numba  # noqa: E402
from runtime.sparse_format import conv_weight_parts, matmul_weight_parts, to_csr  # noqa: E402


def random_sparse(rng, shape, sparsity: float, dtype=np.float32) -> np.ndarray:
    """A random normal array with exactly round(sparsity * size) zeros at random places."""
    w = rng.standard_normal(shape).astype(dtype)
    flat = w.reshape(-1)
    flat[rng.permutation(flat.size)[: int(round(sparsity * flat.size))]] = 0
    return w


def im2col_conv3x3(x: np.ndarray, w2d: np.ndarray) -> np.ndarray:
    """The baseline: pad 1, nine strided copies into cols [C*9, H*W], one GEMM."""
    n, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = np.empty((c, 3, 3, h, wd), dtype=x.dtype)
    for i in range(3):
        for j in range(3):
            cols[:, i, j] = xp[0, :, i:i + h, j:j + wd]
    return (w2d @ cols.reshape(c * 9, h * wd)).reshape(1, -1, h, wd)


def environment() -> list[str]:
    warm = np.ones((2, 4), dtype=np.float32)              # starts numba's thread pool
    get_kernel("sparse.matmul_csc")(warm, *matmul_weight_parts(np.eye(4, dtype=np.float32)), k=4, n=4)
    lines = [f"numpy {np.__version__}, numba threading layer {sparse_numba.numba.threading_layer()}"
             f", {sparse_numba.num_threads()} numba threads, {os.cpu_count()} cpus"]
    try:
        from threadpoolctl import threadpool_info
        for info in threadpool_info():
            lines.append(f"{info.get('user_api')}: {info.get('internal_api')} "
                         f"{info.get('version')} kernel={info.get('architecture')} "
                         f"threads={info.get('num_threads')} ({Path(info.get('filepath', '')).name})")
    except ImportError:
        lines.append("threadpoolctl not installed: BLAS kernel and threads unknown")
    lines.append("load average (1, 5, 15 min): %.2f %.2f %.2f -- other work on these cores "
                 "skews every ratio" % os.getloadavg())
    for var in ("OPENBLAS_NUM_THREADS", "OPENBLAS_THREAD_TIMEOUT", "OMP_WAIT_POLICY",
                "NUMBA_THREADING_LAYER", "NUMBA_NUM_THREADS"):
        lines.append(f"  {var}={os.environ.get(var, '(unset)')}")
    return lines


def header() -> str:
    return (f"{'case':22s} {'sparsity':>8s} {'dense ms':>9s} {'sparse ms':>9s} "
            f"{'speedup':>8s} {'of ideal':>8s}")


def row(label: str, s: float, dense: float, sparse: float) -> str:
    speed = dense / sparse
    return (f"{label:22s} {s:8.2f} {dense * 1e3:9.3f} {sparse * 1e3:9.3f} "
            f"{speed:7.2f}x {speed * (1 - s):7.0%}")


def break_even(points: list[tuple[float, float]]) -> str:
    """The sparsity where the speedup crosses 1, interpolated between measured points."""
    points = sorted(points)
    if points and points[0][1] >= 1:
        return f"<= {points[0][0]:.2f} (faster at every measured sparsity)"
    for (s0, v0), (s1, v1) in zip(points, points[1:]):
        if v0 < 1 <= v1:
            return f"~{s0 + (s1 - s0) * (1 - v0) / (v1 - v0):.2f}"
    return "not reached"


def bench_matmul(rng, sparsities, repeats, only: str) -> None:
    mm = get_kernel("sparse.matmul_csc")
    print("\n== matmul: sparse.matmul_csc vs numpy x @ W (dense, OpenBLAS) ==")
    print(header())
    for label, n, k, m in MATMULS:
        if only not in label:
            continue
        x = rng.standard_normal((m, k)).astype(np.float32)
        curve = []
        for s in sparsities:
            w = random_sparse(rng, (k, n), s)          # W[K, N] of x @ W
            parts = matmul_weight_parts(w)
            y = mm(x, *parts, k=k, n=n)
            assert np.allclose(y, x @ w, rtol=1e-3, atol=1e-3), label
            med = block_medians({"dense": lambda: x @ w,
                                       "sparse": lambda: mm(x, *parts, k=k, n=n)}, repeats)
            curve.append((s, med["dense"] / med["sparse"]))
            print(row(label, s, med["dense"], med["sparse"]), flush=True)
        print(f"{'':22s} break-even sparsity: {break_even(curve)}")


def bench_lstm(rng, sparsities, repeats, only: str) -> None:
    dense_lstm, sparse_lstm = get_kernel("rnn.lstm"), get_kernel("sparse.lstm")
    print("\n== LSTM: sparse.lstm (W and R sparse) vs the dense rnn.lstm kernel ==")
    print(header())
    attrs = dict(direction="forward", activations="Sigmoid,Tanh,Tanh", activation_alpha=[],
                 activation_beta=[], clip=0.0, input_forget=False)
    for label, size, steps, batch in LSTMS:
        if only not in label:
            continue
        x = rng.standard_normal((steps, batch, size)).astype(np.float32)
        bias = (0.1 * rng.standard_normal((1, 8 * size))).astype(np.float32)
        peep = np.zeros((1, 3 * size), np.float32)
        for s in sparsities:
            w = random_sparse(rng, (1, 4 * size, size), s) * np.float32(size ** -0.5)
            r = random_sparse(rng, (1, 4 * size, size), s) * np.float32(size ** -0.5)
            wp, rp = to_csr(w.reshape(-1, size)), to_csr(r.reshape(-1, size))
            want = dense_lstm(x, w, r, bias, peep, **attrs)[0]
            got = sparse_lstm(x, *wp, *rp, bias, peep, w_sparse=True, r_sparse=True, **attrs)[0]
            assert np.allclose(got, want, rtol=1e-3, atol=1e-4), label
            med = block_medians({
                "dense": lambda: dense_lstm(x, w, r, bias, peep, **attrs),
                "sparse": lambda: sparse_lstm(x, *wp, *rp, bias, peep, w_sparse=True,
                                              r_sparse=True, **attrs)}, repeats)
            print(row(label, s, med["dense"], med["sparse"]), flush=True)


def bench_conv(rng, sparsities, repeats, only: str) -> None:
    cv = get_kernel("sparse.conv2d_csr")
    nn_conv = get_kernel("nn.conv2d")
    print("\n== conv 3x3, pad 1, batch 1: sparse.conv2d_csr vs im2col + GEMM, and vs nn.conv2d ==")
    print(header() + f" {'nn.conv2d ms':>12s} {'vs nn':>7s}")
    geom = dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], dilations=[1, 1], groups=1)
    for label, c, hw in CONVS:
        if only not in label:
            continue
        x = rng.standard_normal((1, c, hw, hw)).astype(np.float32)
        for s in sparsities:
            w = random_sparse(rng, (c, c, 3, 3), s)
            parts = conv_weight_parts(w)
            w2d = w.reshape(c, -1)
            y = cv(x, *parts, out_channels=c, **geom)
            assert np.allclose(y, im2col_conv3x3(x, w2d), rtol=1e-3, atol=1e-3), label
            med = block_medians({
                "dense": lambda: im2col_conv3x3(x, w2d),
                "sparse": lambda: cv(x, *parts, out_channels=c, **geom),
                "nn": lambda: nn_conv(x, w, None, strides=[1, 1], pads=[1, 1, 1, 1],
                                      dilations=[1, 1], groups=1),
            }, repeats)
            print(row(label, s, med["dense"], med["sparse"])
                  + f" {med['nn'] * 1e3:12.3f} {med['nn'] / med['sparse']:6.2f}x", flush=True)


COMPILE_PROBE = """
import time, numpy as np
t0 = time.perf_counter()
from runtime.kernels import get_kernel
from runtime.sparse_format import matmul_weight_parts, conv_weight_parts
t1 = time.perf_counter()
rng = np.random.default_rng(0)
w = rng.standard_normal((64, 32)).astype(np.float32); w[w < 0.5] = 0
mm = get_kernel("sparse.matmul_csc"); cv = get_kernel("sparse.conv2d_csr")
times = {}
for name, m in (("matmul (pack + spmm)", 8), ("gemv (spmv)", 1)):
    x = rng.standard_normal((m, 64)).astype(np.float32)
    t = time.perf_counter(); mm(x, *matmul_weight_parts(w), k=64, n=32); times[name] = time.perf_counter() - t
wc = rng.standard_normal((8, 4, 3, 3)).astype(np.float32); wc[wc < 0.5] = 0
x = rng.standard_normal((1, 4, 6, 6)).astype(np.float32)
t = time.perf_counter()
cv(x, *conv_weight_parts(wc), out_channels=8, kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1],
   dilations=[1, 1], groups=1)
times["conv (phases + offsets + spconv)"] = time.perf_counter() - t
print(f"  import: {t1 - t0:.2f} s; " + "; ".join(f"{k}: {v:.2f} s" for k, v in times.items()))
"""


def compile_times() -> None:
    """First-call times in fresh processes: with an empty numba cache, then with it filled."""
    import tempfile
    print("\n== first call (f32, uint16 indices): numba compile, then cache load ==")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for what in ("cold (empty cache: compile + write)", "warm (cache filled: load)"):
            print(what)
            subprocess.run([sys.executable, "-c", COMPILE_PROBE], env=env, cwd=ROOT, check=True)


def main() -> None:
    args = ARGS
    repeats = args.repeats or (3 if args.quick else 9)
    sparsities = QUICK_SPARSITIES if args.quick else SPARSITIES
    print("Sparse kernels vs dense baselines (median of %d rounds x 3 runs each)" % repeats)
    for line in environment():
        print(line)
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    bench_matmul(rng, sparsities, repeats, args.only)
    bench_lstm(rng, sparsities, max(3, repeats // 2), args.only)
    bench_conv(rng, sparsities, max(3, repeats // 2), args.only)
    if args.compile_time:
        compile_times()
    print(f"\n(total {time.perf_counter() - start:.0f} s; load average now "
          f"{os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
