"""The kernel cost model: dense or sparse for one weight, from measured crossovers.

A cost file (JSON, written by ``wsc calibrate``; `default_costs.json` next to
this file was measured on the development machine, its header says how and
when) holds, per *shape class*, the time of the dense kernel and the times of
the sparse kernel at several densities, measured on one representative shape
of the class. Classes:

- matmul ``x[M, K] @ W[K, N]`` (``sparse.matmul_csc``): M (tokens: the
  product of x's leading dims) in m=1 (GEMV), m<=16, m<=128, m>128, crossed
  with the weight size K*N in kn<=64K, kn<=1M, kn>1M;
- conv2d (``sparse.conv2d_csr``): the reduction per output
  r = C/groups*kh*kw in r<=144, r>144, crossed with the output positions
  p = N*Ho*Wo in p<=256, p>256.

The sparse time at density d is interpolated linearly between the measured
densities (below the lowest it is taken as the lowest's: never optimistic;
above the highest it is extrapolated from the last two). The modelled
speedup is dense time / sparse time; the *crossover* is the density where
the two meet. `decide` picks the sparse kernel only when the modelled speedup
is at least `min_speedup` (>= 1): never where the model says dense is
faster. Symbolic dims (a batch N) count as `assume_dim` (1) unless bound by
``--input-shape``; the reason then says what was assumed.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CompileError
from .weights import WeightUse

COST_FORMAT = "wsc-kernel-costs/1"
DEFAULT_COST_FILE = Path(__file__).with_name("default_costs.json")

SPARSE_KERNELS = {"matmul": "sparse.matmul_csc", "conv2d": "sparse.conv2d_csr"}
FORMATS = {"matmul": "csc", "conv2d": "csr"}

M_BUCKETS = ((1, "m=1"), (16, "m<=16"), (128, "m<=128"), (None, "m>128"))
KN_BUCKETS = ((1 << 16, "kn<=64K"), (1 << 20, "kn<=1M"), (None, "kn>1M"))
R_BUCKETS = ((144, "r<=144"), (None, "r>144"))
P_BUCKETS = ((256, "p<=256"), (None, "p>256"))


def _bucket(value: int, buckets) -> str:
    for bound, label in buckets:
        if bound is None or value <= bound:
            return label
    raise AssertionError("unreachable")


def matmul_class(m: int, k: int, n: int) -> str:
    return f"matmul/{_bucket(m, M_BUCKETS)}/{_bucket(k * n, KN_BUCKETS)}"


def conv2d_class(r: int, p: int) -> str:
    return f"conv2d/{_bucket(r, R_BUCKETS)}/{_bucket(p, P_BUCKETS)}"


@dataclass(frozen=True)
class Curve:
    """One class's measurement: dense seconds and sparse seconds at increasing densities."""

    key: str
    dense_seconds: float
    densities: tuple[float, ...]
    sparse_seconds: tuple[float, ...]
    shape: dict[str, int]

    def sparse_time(self, density: float) -> float:
        d, t = self.densities, self.sparse_seconds
        if len(d) == 1 or density <= d[0]:
            return t[0]
        for i in range(1, len(d)):
            if density <= d[i]:
                f = (density - d[i - 1]) / (d[i] - d[i - 1])
                return t[i - 1] + f * (t[i] - t[i - 1])
        slope = (t[-1] - t[-2]) / (d[-1] - d[-2])
        return t[-1] + (density - d[-1]) * max(slope, 0.0)

    def speedup(self, density: float) -> float:
        return self.dense_seconds / max(self.sparse_time(density), 1e-12)

    def crossover(self) -> float:
        """The density where sparse becomes as slow as dense (0: never faster, 1: always)."""
        if self.sparse_time(0.0) >= self.dense_seconds:
            return 0.0
        if self.sparse_time(1.0) < self.dense_seconds:
            return 1.0
        lo, hi = 0.0, 1.0
        for _ in range(50):
            mid = (lo + hi) / 2
            if self.sparse_time(mid) < self.dense_seconds:
                lo = mid
            else:
                hi = mid
        return lo


@dataclass(frozen=True)
class Decision:
    """The kernel chosen for one weight and why."""

    sparse: bool
    kernel: str            # the runtime kernel: "nn.matmul", "sparse.matmul_csc"...
    format: str | None     # "csc" / "csr" when sparse
    reason: str
    shape_class: str | None = None
    crossover: float | None = None
    speedup: float | None = None   # modelled sparse speedup over dense (None: not modelled)

    def as_dict(self) -> dict[str, Any]:
        return {"kernel": self.kernel, "sparse": self.sparse, "format": self.format,
                "reason": self.reason, "class": self.shape_class,
                "crossover": self.crossover, "modelled_speedup": self.speedup}


def times(speedup: float) -> str:
    """A speedup for people: 5.8x, 1.18x, 0.031x."""
    if speedup >= 10:
        return f"{speedup:.0f}x"
    if speedup >= 2:
        return f"{speedup:.1f}x"
    return f"{speedup:.3g}x" if speedup < 0.1 else f"{speedup:.2f}x"


class CostModel:
    """Curves by class key, loaded from a cost file; see the module docstring."""

    def __init__(self, curves: dict[str, Curve], source: str, measured: dict[str, Any]) -> None:
        self.curves = curves
        self.source = source
        self.measured = measured

    @staticmethod
    def load(path: str | os.PathLike | None = None) -> "CostModel":
        """Read and check a cost file (the packaged default when `path` is None)."""
        p = Path(path) if path else DEFAULT_COST_FILE
        where = str(p) if path else "the default cost model"
        hint = "write a cost file with `wsc calibrate -o costs.json`"
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CompileError(f"cost model {str(p)!r}: no such file", hint=hint) from None
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise CompileError(f"cost model {str(p)!r} cannot be read: {e}", hint=hint) from None
        return CostModel.from_json(doc, where if not path else p.name, hint)

    @staticmethod
    def from_json(doc: Any, where: str, hint: str = "") -> "CostModel":
        def bad(what: str) -> CompileError:
            return CompileError(f"cost model {where}: {what}", hint=hint or None)

        if not isinstance(doc, dict) or doc.get("format") != COST_FORMAT:
            raise bad(f"not a cost file (its 'format' must be {COST_FORMAT!r})")
        classes = doc.get("classes")
        if not isinstance(classes, dict):
            raise bad("'classes' must be an object")
        curves = {}
        for key, c in classes.items():
            try:
                d = tuple(float(x) for x in c["densities"])
                t = tuple(float(x) for x in c["sparse_seconds"])
                dense = float(c["dense_seconds"])
                shape = {str(k): int(v) for k, v in c.get("shape", {}).items()}
            except (KeyError, TypeError, ValueError):
                raise bad(f"class {key!r} needs dense_seconds, densities and sparse_seconds "
                          f"(numbers)") from None
            if not d or len(d) != len(t) or list(d) != sorted(set(d)) or \
                    not all(0 < x <= 1 for x in d) or not all(x > 0 and math.isfinite(x)
                                                             for x in t + (dense,)):
                raise bad(f"class {key!r}: densities must increase within (0, 1], one positive "
                          f"time per density")
            curves[key] = Curve(key, dense, d, t, shape)
        return CostModel(curves, where, dict(doc.get("measured", {})))

    def decide(self, use: WeightUse, density: float, symbols: dict[str, int],
               assume_dim: int = 1, min_speedup: float = 1.2) -> Decision:
        """Dense or sparse for `use` at `density`; the reason names the numbers."""
        dense_kernel = use.op.name
        if use.kind == "matmul":
            x = use.activation.type
            lead = x.shape[:-1]
            m = 1
            for dim in lead:
                m *= symbols.get(dim, assume_dim) if isinstance(dim, str) else dim
            k, n = use.shape
            key = matmul_class(m, k, n)
            what = f"matmul k={k} n={n} m={m}"
            kind = "matmul"
            assumed = sorted({dim for dim in lead if isinstance(dim, str) and dim not in symbols})
        elif use.op.name == "nn.conv2d":
            out = use.op.results[0].type.shape
            r = use.row_shape[1]
            p = 1
            for dim in (out[0],) + tuple(out[2:]):
                p *= symbols.get(dim, assume_dim) if isinstance(dim, str) else dim
            key = conv2d_class(r, p)
            what = f"conv2d o={use.shape[0]} r={r} p={p}"
            kind = "conv2d"
            assumed = [out[0]] if isinstance(out[0], str) and out[0] not in symbols else []
        else:
            return Decision(False, dense_kernel, None, f"no sparse kernel for {use.op.name}")
        if assumed:
            what += " (" + ", ".join(f"{s}={assume_dim}" for s in assumed) + " assumed)"
        curve = self.curves.get(key)
        if curve is None:
            return Decision(False, dense_kernel, None,
                            f"class {key} not measured in {self.source}: dense", key)
        cross = curve.crossover()
        speed = curve.speedup(density)
        cls = key.split("/", 1)[1]
        if density < cross and speed >= min_speedup:
            return Decision(True, SPARSE_KERNELS[kind], FORMATS[kind],
                            f"density {density:.2f} < crossover {cross:.2f} for {what} "
                            f"[{cls}]: modelled {times(speed)}", key, cross, speed)
        if density < cross:
            why = (f"density {density:.2f} < crossover {cross:.2f} for {what} [{cls}] but "
                   f"modelled {times(speed)} < {min_speedup:g}x margin: dense")
        else:
            why = (f"density {density:.2f} >= crossover {cross:.2f} for {what} [{cls}]: "
                   f"sparse modelled {times(speed)}: dense")
        return Decision(False, dense_kernel, None, why, key, cross, speed)
