"""How the benchmarks time things: blocks of consecutive runs, engines taking turns.

Why not strictly alternate single runs? Because the engines compared here keep
worker threads that stay busy after a call returns: onnxruntime's intra-op
threads spin for a while by default, and OpenBLAS's threads spin ~0.1 s
(unless OPENBLAS_THREAD_TIMEOUT is set). Alternating call by call, each engine
runs while the other's threads still burn a core; on this 2-core machine that
measured both engines about 2x slower than when each ran on its own (ResNet-18:
wsc 33 -> 70 ms, onnxruntime 17 -> 35 ms), which hides the real ratio.

So `block_medians` gives each function `block` consecutive timed runs, after a
settle pause and one untimed run, and lets the functions take turns for
`rounds` rounds: every function sees the machine's load drift (the turns), and
none pays for another's idle threads (the pause). The result is the median of
all timed runs per function.

`set_threads(n)` pins every engine to n threads. It must run before numpy,
numba or onnxruntime are imported (it sets OPENBLAS_NUM_THREADS,
OMP_NUM_THREADS and NUMBA_NUM_THREADS); onnxruntime sessions take the count as
``intra_op_num_threads`` (`ort_threads()`). On a machine shared with other
work, one thread per engine gives the steadiest ratios: a second thread only
helps when a second core is really free.
"""
from __future__ import annotations

import os
import statistics
import time
from typing import Callable

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS")


def set_threads(threads: int) -> None:
    """Pin BLAS, OpenMP and numba to `threads` threads (0: leave the defaults)."""
    if threads > 0:
        for var in THREAD_VARIABLES:
            os.environ[var] = str(threads)
        os.environ["WSC_BENCH_THREADS"] = str(threads)


def ort_threads() -> int:
    """The intra-op thread count for onnxruntime sessions (0: its default)."""
    return int(os.environ.get("WSC_BENCH_THREADS", "0"))


def block_medians(fns: dict[str, Callable[[], object]], rounds: int, block: int = 3,
                  settle: float = 0.15) -> dict[str, float]:
    """Median seconds per call of each function; see the module docstring."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            if settle:
                time.sleep(settle)
            fn()                                   # untimed: pays for the switch
            for _ in range(block):
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def environment_lines() -> list[str]:
    """Load, cores and the thread settings, for the top of a benchmark's output."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [f"load average {load} on {os.cpu_count()} cpus (other work on these cores "
             f"skews every ratio)"]
    for var in THREAD_VARIABLES + ("OPENBLAS_THREAD_TIMEOUT", "OMP_WAIT_POLICY"):
        lines.append(f"  {var}={os.environ.get(var, '(unset)')}")
    threads = ort_threads()
    lines.append(f"  onnxruntime intra_op_num_threads={threads or '0 (its default)'}")
    return lines
