"""Measure dense vs sparse kernels on this machine and write a cost file.

    wsc calibrate -o costs.json            # every shape, a few minutes
    wsc calibrate -o quick.json --quick    # fewer densities and repeats
    wsc compile model.onnx --cost-model costs.json

Each shape of `measured_shapes` (they cover the classes of `costmodel.py`)
is timed: the sparse kernel at increasing densities (a random weight with exactly that
fraction of nonzeros), alternating call by call with the dense kernel on the
same weight so that both see the same machine; each time is the best of
several runs after a warm-up (the minimum is the least disturbed by other
work on the machine), the dense time the best over all densities. Once the sparse kernel is more than `STOP_RATIO` times slower
than dense, higher densities are not measured (the model extrapolates). The
kernels are the runtime's (`runtime.kernels.KERNELS`), called exactly as
the compiled program calls them, and their results are checked against the
dense kernel before anything is timed.
"""
from __future__ import annotations

import datetime
import os
import platform
import time
from typing import Any, Callable

import numpy as np

from runtime.sparse_format import to_csr

from ..errors import CompileError
from .costmodel import COST_FORMAT, Curve, point_key, shape_class

DENSITIES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.9)
QUICK_DENSITIES = (0.05, 0.2, 0.5)
STOP_RATIO = 2.0

# The measured shapes. matmul: tokens m x weights (k, n), both orientations;
# conv2d: (channels in, channels out, height = width), 3x3 kernel, stride 1, pad 1.
MATMUL_M = (1, 8, 64, 256)
MATMUL_KN = ((256, 256), (784, 256), (256, 1024), (1024, 1024), (768, 3072), (3072, 768))
CONV_SHAPES = ((1, 8, 28), (3, 32, 32), (8, 16, 14), (16, 16, 32), (32, 32, 56), (64, 64, 14),
               (64, 64, 32), (128, 128, 8))


def measured_shapes() -> dict[str, dict[str, Any]]:
    """Point key -> {"kind", "dims", "shape"} of every shape `wsc calibrate` measures."""
    out: dict[str, dict[str, Any]] = {}
    for m in MATMUL_M:
        for k, n in MATMUL_KN:
            dims = {"m": m, "k": k, "n": n}
            out[point_key("matmul", dims)] = {"kind": "matmul", "dims": dims, "shape": dims}
    for c, o, hw in CONV_SHAPES:
        dims = {"p": hw * hw, "r": c * 9, "o": o}
        shape = {"n": 1, "c": c, "o": o, "kh": 3, "kw": 3, "h": hw, "w": hw}
        out[point_key("conv2d", dims)] = {"kind": "conv2d", "dims": dims, "shape": shape}
    return out


def _kernels():
    from runtime.kernels import KERNELS
    missing = [k for k in ("sparse.matmul_csc", "sparse.conv2d_csr") if k not in KERNELS]
    if missing:
        raise CompileError(f"cannot calibrate: this runtime has no kernel {missing[0]!r}",
                           hint="the sparse kernels live in runtime/kernels/sparse.py")
    return KERNELS


def _time_once(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _paired_times(dense: Callable[[], Any], sparse: Callable[[], Any], min_total: float,
                  min_reps: int, max_reps: int) -> tuple[float, float]:
    """Best (dense, sparse) seconds, the two calls alternating so that both see the same
    machine (other work, caches, thread pools); each is warmed up first."""
    dense()
    sparse()
    best_d = best_s = float("inf")
    total, reps = 0.0, 0
    while reps < min_reps or (total < min_total and reps < max_reps):
        td, ts = _time_once(dense), _time_once(sparse)
        best_d, best_s = min(best_d, td), min(best_s, ts)
        total, reps = total + td + ts, reps + 1
    return best_d, best_s


def _random_weight(rng: np.random.Generator, rows: int, cols: int, density: float) -> np.ndarray:
    """[rows, cols] float32 with exactly round(density * size) nonzeros at random places."""
    size = rows * cols
    w = np.zeros(size, dtype=np.float32)
    nnz = max(1, int(round(density * size)))
    w[rng.choice(size, nnz, replace=False)] = rng.standard_normal(nnz).astype(np.float32)
    return w.reshape(rows, cols)


def measure_point(kind: str, shape: dict[str, int], densities, min_total: float = 0.1,
                  min_reps: int = 5, max_reps: int = 40, seed: int = 0) -> dict[str, Any]:
    """One point of the cost file: dense seconds and sparse seconds per density."""
    kernels = _kernels()
    rng = np.random.default_rng(seed)
    key = f"{kind} {shape}"
    if kind == "matmul":
        m, k, n = shape["m"], shape["k"], shape["n"]
        x = rng.standard_normal((m, k)).astype(np.float32)
        dense_fn = kernels["nn.matmul"]
        sparse_fn = kernels["sparse.matmul_csc"]

        def make(d):
            rows = _random_weight(rng, n, k, d)           # W^T: a row per output
            w = np.ascontiguousarray(rows.T)
            parts = to_csr(rows)
            return (lambda: dense_fn(x, w)), (lambda: sparse_fn(x, *parts, k=k, n=n))
    else:
        c, o, kh, kw = shape["c"], shape["o"], shape["kh"], shape["kw"]
        x = rng.standard_normal((shape["n"], c, shape["h"], shape["w"])).astype(np.float32)
        attrs = {"strides": [1, 1], "pads": [1, 1, 1, 1], "dilations": [1, 1], "groups": 1}
        dense_fn = kernels["nn.conv2d"]
        sparse_fn = kernels["sparse.conv2d_csr"]

        def make(d):
            rows = _random_weight(rng, o, c * kh * kw, d)
            w = rows.reshape(o, c, kh, kw)
            parts = to_csr(rows)
            return ((lambda: dense_fn(x, w, **attrs)),
                    (lambda: sparse_fn(x, *parts, out_channels=o, kernel_shape=[kh, kw],
                                       **attrs)))

    # Both kernels are timed as a run executes them: on the runtime's one pool
    # (BLAS single-threaded, GEMMs split over numba's threads; runtime/threads.py).
    from runtime.threads import pool
    with pool():
        return _measure_densities(key, make, densities, min_total, min_reps, max_reps)


def _measure_densities(key: str, make, densities, min_total: float, min_reps: int,
                       max_reps: int) -> dict[str, Any]:
    dense_s = float("inf")
    measured_d, sparse_s = [], []
    for d in densities:
        dense_call, sparse_call = make(d)
        want, got = dense_call(), sparse_call()
        if not np.allclose(got, want, rtol=1e-4, atol=1e-4 * float(np.max(np.abs(want)) or 1)):
            raise CompileError(f"cannot calibrate: the sparse kernel of {key} disagrees with "
                               f"the dense one at density {d}",
                               hint="this is a bug in runtime/kernels/sparse.py")
        td, ts = _paired_times(dense_call, sparse_call, min_total, min_reps, max_reps)
        dense_s = min(dense_s, td)   # dense time does not depend on the density
        measured_d.append(d)
        sparse_s.append(ts)
        if ts > STOP_RATIO * dense_s:
            break
    return {"dense_seconds": dense_s, "densities": measured_d,
            "sparse_seconds": sparse_s}


def machine_load() -> float | None:
    """The 1-minute load average (None where the OS does not say)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def merge_entries(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """One point's measurements from several sweeps: the best time at every density."""
    best: dict[float, float] = {}
    for e in entries:
        for d, t in zip(e["densities"], e["sparse_seconds"]):
            best[d] = min(best.get(d, float("inf")), t)
    ds = sorted(best)
    return {"dense_seconds": min(e["dense_seconds"] for e in entries),
            "densities": ds, "sparse_seconds": [best[d] for d in ds]}


def machine_load() -> float | None:
    """The 1-minute load average (None where the OS does not say)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def calibrate(command: str, *, quick: bool = False, only: str | None = None, sweeps: int = 1,
              progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Measure every point (those whose key contains `only`, if given); the cost-file JSON.

    With `sweeps` > 1 every point is measured that many times, a sweep over all
    points after another, and the best time of each density is kept: a burst
    of other work on the machine then spoils one sweep's time, not the result.
    """
    densities = QUICK_DENSITIES if quick else DENSITIES
    load = machine_load()
    if progress and load is not None and load > 0.5 * (os.cpu_count() or 1):
        progress(f"warning: the machine is busy (load average {load:.1f} on {os.cpu_count()} "
                 f"cores); other work disturbs the timings, parallel sparse kernels most: "
                 f"calibrate on a quiet machine")
    shapes = {k: v for k, v in measured_shapes().items() if not only or only in k}
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in shapes}
    for sweep in range(sweeps):
        for key, spec in shapes.items():
            runs[key].append(measure_point(spec["kind"], spec["shape"], densities,
                                           min_total=0.02 if quick else 0.1,
                                           min_reps=3 if quick else 7,
                                           max_reps=5 if quick else 40, seed=sweep))
    points = {}
    for key, spec in shapes.items():
        entry = {"class": shape_class(spec["kind"], spec["dims"]), "dims": spec["dims"],
                 "shape": spec["shape"], **merge_entries(runs[key])}
        curve = Curve(key, spec["kind"], spec["dims"], entry["dense_seconds"],
                      tuple(entry["densities"]), tuple(entry["sparse_seconds"]))
        entry["crossover"] = round(curve.crossover(), 4)
        points[key] = entry
        if progress:
            progress(f"{key:32s} dense {entry['dense_seconds'] * 1e3:8.3f} ms   crossover "
                     f"density {entry['crossover']:.2f}")
    return {
        "format": COST_FORMAT,
        "measured": {
            "command": command,
            "date": datetime.date.today().isoformat(),
            "machine": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "quick": quick,
            "sweeps": sweeps,
            "load_average": None if load is None else round(load, 2),
        },
        "points": points,
    }
