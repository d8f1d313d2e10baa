"""The kernel cost model: dense or sparse for one weight, from measured kernel times.

A cost file (JSON, written by ``wsc calibrate``; `default_costs.json` next to
this file was measured on the development machine, its ``measured`` field
says how and when) holds *measured points*: for one shape, the time of the
dense kernel and the times of the sparse kernel at several densities. The
shapes cover the shape classes of each kernel:

- matmul ``x[M, K] @ W[K, N]`` (``sparse.matmul_csc``), dims m, k, n: M
  (tokens: the product of x's leading dims) from 1 (GEMV) to 256, weights
  from 256x256 to 3072x768 in both orientations. Classes, for reports: m=1,
  m<=16, m<=128, m>128 crossed with K*N in kn<=64K, kn<=1M, kn>1M;
- conv2d (``sparse.conv2d_csr``), dims p (output positions N*Ho*Wo), r (the
  reduction per output, C/groups*kh*kw) and o (output channels). Classes:
  r<=144, r>144 crossed with p<=256, p>256.

The recurrent ops' weights (``sparse.rnn`` / ``sparse.gru`` / ``sparse.lstm``)
are judged as the matmuls their kernels run: W[D, G*H, I] as the hoisted input
projection, m = T*B tokens, k = I, n = D*G*H (one product for all steps and
directions); R[D, G*H, H] as the per-step product, m = B, k = H, n = G*H (one
per step and direction, so the ratio of one is the ratio of all).

A layer is modelled by the measured point of its kernel *nearest* to its
dims (distance: the sum of squared log2 ratios), so that a 784x256 weight
is judged by a measurement of that shape rather than by a 1024x1024 one of
the same class: within a class the dense kernel's efficiency, and so the
crossover, still varies with the shape. The sparse time at density d is
interpolated linearly between the measured densities (below the lowest it is
the lowest's: never optimistic; above the highest it is extrapolated from
the last two). The modelled speedup is dense time / sparse time; the
*crossover* is the density where they meet. `decide` picks the sparse kernel
only when the modelled speedup is at least `min_speedup` (>= 1): never where
the model says dense is faster. Symbolic dims (a batch N) count as
`assume_dim` (1) unless bound by ``--input-shape``; the reason says so.
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
RNN_SPARSE_KERNELS = {"rnn.rnn": "sparse.rnn", "rnn.gru": "sparse.gru", "rnn.lstm": "sparse.lstm"}
FORMATS = {"matmul": "csc", "conv2d": "csr", "rnn": "csr"}
DIMS = {"matmul": ("m", "k", "n"), "conv2d": ("p", "r", "o")}

M_BUCKETS = ((1, "m=1"), (16, "m<=16"), (128, "m<=128"), (None, "m>128"))
KN_BUCKETS = ((1 << 16, "kn<=64K"), (1 << 20, "kn<=1M"), (None, "kn>1M"))
R_BUCKETS = ((144, "r<=144"), (None, "r>144"))
P_BUCKETS = ((256, "p<=256"), (None, "p>256"))


def _bucket(value: int, buckets) -> str:
    for bound, label in buckets:
        if bound is None or value <= bound:
            return label
    raise AssertionError("unreachable")


def sparse_kernel(kind: str, op_name: str) -> str:
    """The sparse kernel of a weight use of `kind` ("matmul", "conv2d", "rnn") in `op_name`."""
    return RNN_SPARSE_KERNELS[op_name] if kind == "rnn" else SPARSE_KERNELS[kind]


def shape_class(kind: str, dims: dict[str, int]) -> str:
    """The class of a layer, for reports: ``matmul/m<=16/kn>1M``, ``conv2d/r<=144/p>256``."""
    if kind == "matmul":
        return f"matmul/{_bucket(dims['m'], M_BUCKETS)}/{_bucket(dims['k'] * dims['n'], KN_BUCKETS)}"
    return f"conv2d/{_bucket(dims['r'], R_BUCKETS)}/{_bucket(dims['p'], P_BUCKETS)}"


def point_key(kind: str, dims: dict[str, int]) -> str:
    """The cost-file key of a measured point: ``matmul/m=64/k=784/n=256``."""
    return kind + "/" + "/".join(f"{d}={dims[d]}" for d in DIMS[kind])


@dataclass(frozen=True)
class Curve:
    """One measured point: its dims, dense seconds, sparse seconds at increasing densities."""

    key: str
    kind: str                             # "matmul" or "conv2d"
    dims: dict[str, int]
    dense_seconds: float
    densities: tuple[float, ...]
    sparse_seconds: tuple[float, ...]

    def distance(self, dims: dict[str, int]) -> float:
        return sum(math.log2(max(dims[d], 1) / max(self.dims[d], 1)) ** 2 for d in DIMS[self.kind])

    @property
    def label(self) -> str:
        return " ".join(f"{d}={self.dims[d]}" for d in DIMS[self.kind])

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
    measured_point: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"kernel": self.kernel, "sparse": self.sparse, "format": self.format,
                "reason": self.reason, "class": self.shape_class,
                "measured_point": self.measured_point,
                "crossover": self.crossover, "modelled_speedup": self.speedup}


def times(speedup: float) -> str:
    """A speedup for people: 5.8x, 1.18x, 0.031x."""
    if speedup >= 10:
        return f"{speedup:.0f}x"
    if speedup >= 2:
        return f"{speedup:.1f}x"
    return f"{speedup:.3g}x" if speedup < 0.1 else f"{speedup:.2f}x"


class CostModel:
    """Measured points by key, loaded from a cost file; see the module docstring."""

    def __init__(self, curves: dict[str, Curve], source: str, measured: dict[str, Any]) -> None:
        self.curves = curves
        self.source = source
        self.measured = measured

    @staticmethod
    def load(path: str | os.PathLike | None = None) -> "CostModel":
        """Read and check a cost file (the packaged default when `path` is None)."""
        p = Path(path) if path else DEFAULT_COST_FILE
        hint = "write a cost file with `wsc calibrate -o costs.json`"
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CompileError(f"cost model {str(p)!r}: no such file", hint=hint) from None
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise CompileError(f"cost model {str(p)!r} cannot be read: {e}", hint=hint) from None
        return CostModel.from_json(doc, p.name if path else "the default cost model", hint)

    @staticmethod
    def from_json(doc: Any, where: str, hint: str = "") -> "CostModel":
        def bad(what: str) -> CompileError:
            return CompileError(f"cost model {where}: {what}", hint=hint or None)

        if not isinstance(doc, dict) or doc.get("format") != COST_FORMAT:
            raise bad(f"not a cost file (its 'format' must be {COST_FORMAT!r})")
        points = doc.get("points")
        if not isinstance(points, dict):
            raise bad("'points' must be an object")
        curves = {}
        for key, c in points.items():
            kind = key.split("/", 1)[0]
            try:
                d = tuple(float(x) for x in c["densities"])
                t = tuple(float(x) for x in c["sparse_seconds"])
                dense = float(c["dense_seconds"])
                dims = {str(k): int(v) for k, v in c["dims"].items()}
            except (KeyError, TypeError, ValueError, AttributeError):
                raise bad(f"point {key!r} needs dims, dense_seconds, densities and "
                          f"sparse_seconds (numbers)") from None
            if kind not in DIMS or set(dims) != set(DIMS[kind]):
                raise bad(f"point {key!r}: a point is matmul/... with dims m, k, n or "
                          f"conv2d/... with dims p, r, o")
            if not d or len(d) != len(t) or list(d) != sorted(set(d)) or \
                    not all(0 < x <= 1 for x in d) or not all(x > 0 and math.isfinite(x)
                                                             for x in t + (dense,)):
                raise bad(f"point {key!r}: densities must increase within (0, 1], one positive "
                          f"time per density")
            curves[key] = Curve(key, kind, dims, dense, d, t)
        return CostModel(curves, where, dict(doc.get("measured", {})))

    def nearest(self, kind: str, dims: dict[str, int]) -> Curve | None:
        """The measured point of `kind` closest to `dims` (ties: the first key in order)."""
        best = None
        for key in sorted(self.curves):
            c = self.curves[key]
            if c.kind == kind and (best is None or c.distance(dims) < best.distance(dims)):
                best = c
        return best

    def decide(self, use: WeightUse, density: float, symbols: dict[str, int],
               assume_dim: int = 1, min_speedup: float = 1.2) -> Decision:
        """Dense or sparse for `use` at `density`; the reason names the numbers."""
        dense_kernel = use.op.name

        def bind(d):
            return symbols.get(d, assume_dim) if isinstance(d, str) else d

        if use.kind == "matmul":
            lead = use.activation.type.shape[:-1]
            k, n = use.shape
            kind, dims = "matmul", {"m": math.prod(bind(d) for d in lead), "k": k, "n": n}
            what = f"matmul k={k} n={n} m={dims['m']}"
        elif use.op.name in ("nn.conv2d", "fused.conv2d_epilogue"):
            out = use.op.results[0].type.shape
            lead = (out[0],) + tuple(out[2:])
            kind = "conv2d"
            dims = {"p": math.prod(bind(d) for d in lead), "r": use.row_shape[1],
                    "o": use.shape[0]}
            what = f"conv2d o={dims['o']} r={dims['r']} p={dims['p']}"
        elif use.kind == "rnn" and use.op.name in RNN_SPARSE_KERNELS:
            t, b = use.activation.type.shape[:2]
            rows, k = use.row_shape
            kind = "matmul"
            if use.role == "W":
                lead = (t, b)
                dims = {"m": bind(t) * bind(b), "k": k, "n": rows}
                what = f"{use.role} as matmul k={k} n={rows} m=T*B={dims['m']}"
            else:
                lead = (b,)
                dims = {"m": bind(b), "k": k, "n": rows // use.shape[0]}
                what = f"{use.role} as matmul per step k={k} n={dims['n']} m=B={dims['m']}"
        else:
            return Decision(False, dense_kernel, None, f"no sparse kernel for {use.op.name}")
        layer = "rnn" if use.kind == "rnn" else kind
        assumed = sorted({d for d in lead if isinstance(d, str) and d not in symbols})
        if assumed:
            what += " (" + ", ".join(f"{s}={assume_dim}" for s in assumed) + " assumed)"
        cls = shape_class(kind, dims)
        curve = self.nearest(kind, dims)
        if curve is None:
            return Decision(False, dense_kernel, None,
                            f"no {kind} measurement in {self.source}: dense", cls)
        what += f" [{cls.split('/', 1)[1]}; measured at {curve.label}]"
        cross = curve.crossover()
        speed = curve.speedup(density)
        if density < cross and speed >= min_speedup:
            return Decision(True, sparse_kernel(layer, use.op.name), FORMATS[layer],
                            f"density {density:.2f} < crossover {cross:.2f} for {what}: "
                            f"modelled {times(speed)}", cls, cross, speed, curve.key)
        if density < cross:
            why = (f"density {density:.2f} < crossover {cross:.2f} for {what} but "
                   f"modelled {times(speed)} < {min_speedup:g}x margin: dense")
        else:
            why = (f"density {density:.2f} >= crossover {cross:.2f} for {what}: "
                   f"sparse modelled {times(speed)}: dense")
        return Decision(False, dense_kernel, None, why, cls, cross, speed, curve.key)
