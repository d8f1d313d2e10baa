"""Kernel models: how a kernel's parallelism turns into a rectangle of cores, a time and a memory.

A kernel runs on a rectangle of cores. How many cores, in what shape, how fast
and with how much memory per core depends on its *execution parameters* (its
parallelism), which the sizer chooses. A `KernelModel` says, for one kernel:

- ``shape(params) -> (height, width)`` in cores (unrotated);
- ``time(params)`` in cycles per sample (exact, a `Fraction`);
- ``memory(params)`` per core, in the model's memory unit (words here);
- ``candidates(t, mem_limit, max_side, min_side)``: the parameter choices worth
  considering whose time is at most ``t``, whose memory fits, and whose
  rectangle fits a grid with sides ``min_side <= max_side`` (in some
  rotation). The base class enumerates `param_ranges()` exhaustively (fine for
  small generic kernels); `ConvModel` overrides it with a vectorized search.

`ConvModel` is the ISPD 2020 contest's convolution model (the "convperf" of the
handout) and its composites: a kernel made of one or more convolutions
(`ConvPart`) that share the spatial split ``h, w`` and are laid side by side.
With parameters ``h, w`` (output tiles), ``c_i`` (input-channel groups) and
``k_i`` (output-channel groups) per part::

    height = h * w * (max_i c_i + 1)
    width  = 3 * sum_i k_i                  (fwd / bwd / weight-update copies)
    time   = max_i ceil(H_i/h) ceil(W_i/w) ceil(C_i/c_i) ceil(K_i/k_i) R_i S_i / T_i^2
    memory = max_i C_i/c_i K_i/k_i R_i S_i + (W_i+S_i-1)/w (H_i+R_i-1)/h K_i/k_i

A single convolution is a `ConvModel` with one part; the contest's dblock and
cblock are built in `compiler.place.ispd`.

Parameters are searched in their natural ranges (``1 <= h <= H``,
``1 <= c_i <= C_i``, ...): splitting a dimension into more groups than it
has elements only adds idle cores.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np


@dataclass(frozen=True)
class Candidates:
    """Parameter choices of one kernel that meet a time budget, as parallel arrays.

    `time_num` holds each time multiplied by the model's `time_denominator()`
    (an exact integer). `params` has one row per candidate, columns in the
    order of the model's `param_names`.
    """

    height: np.ndarray
    width: np.ndarray
    time_num: np.ndarray
    params: np.ndarray

    def __len__(self) -> int:
        return int(self.height.shape[0])


def _empty_candidates(n_params: int) -> Candidates:
    z = np.zeros(0, dtype=np.int64)
    return Candidates(z, z, z, np.zeros((0, n_params), dtype=np.int64))


def _fits(height: np.ndarray, width: np.ndarray, max_side: int, min_side: int) -> np.ndarray:
    """Whether a height x width rectangle fits a min_side x max_side grid in some rotation."""
    return (np.maximum(height, width) <= max_side) & (np.minimum(height, width) <= min_side)


class KernelModel:
    """How one kernel's execution parameters set its shape, time and memory.

    Subclasses define `param_names`, `shape`, `time`, `memory` and
    `param_ranges`; they may override `candidates` with a faster search and
    `time_denominator` when times are not integers.
    """

    kind: str = "kernel"
    param_names: tuple[str, ...] = ()

    def shape(self, params: tuple[int, ...]) -> tuple[int, int]:
        """(height, width) of the unrotated rectangle, in cores."""
        raise NotImplementedError

    def time(self, params: tuple[int, ...]) -> Fraction:
        """Cycles per sample with these parameters."""
        raise NotImplementedError

    def memory(self, params: tuple[int, ...]) -> Fraction:
        """Memory per core with these parameters."""
        raise NotImplementedError

    def param_ranges(self) -> tuple[int, ...]:
        """The largest useful value of each parameter (each ranges over 1..max)."""
        raise NotImplementedError

    def time_denominator(self) -> int:
        """An integer D such that every time this model gives is a multiple of 1/D."""
        return 1

    def max_time(self) -> Fraction:
        """The slowest the kernel can be: its time with every parameter at 1."""
        return self.time(tuple(1 for _ in self.param_names))

    def check_params(self, params: tuple[int, ...]) -> str | None:
        """None if `params` is a valid parameter tuple, else what is wrong with it."""
        if len(params) != len(self.param_names):
            return (f"{self.kind} takes {len(self.param_names)} execution parameters "
                    f"({' '.join(self.param_names)}), got {len(params)}")
        for name, v in zip(self.param_names, params):
            if int(v) != v or v < 1:
                return f"execution parameter {name}={v} must be an integer >= 1"
        return None

    def candidates(self, t: Fraction, mem_limit: int, max_side: int, min_side: int) -> Candidates:
        """Every parameter tuple in range with time <= t, memory <= mem_limit, fitting the grid."""
        table = self._exhaustive(mem_limit, max_side, min_side)
        den = self.time_denominator()
        limit = math.floor(Fraction(t) * den)  # time_num is an integer: <= t*den <=> <= floor
        keep = table.time_num <= limit
        return Candidates(table.height[keep], table.width[keep], table.time_num[keep],
                          table.params[keep])

    # The generic search visits every tuple; beyond this many a model must override it.
    EXHAUSTIVE_LIMIT = 200_000

    def _exhaustive(self, mem_limit: int, max_side: int, min_side: int) -> Candidates:
        key = (mem_limit, max_side, min_side)
        cache = self.__dict__.setdefault("_exhaustive_cache", {})
        if key in cache:
            return cache[key]
        size = math.prod(self.param_ranges())
        if size > self.EXHAUSTIVE_LIMIT:
            raise NotImplementedError(
                f"{type(self).__name__} has {size} parameter tuples, too many to try one by "
                f"one: override candidates() with a search that uses the model's structure")
        den = self.time_denominator()
        rows, hs, ws, ts = [], [], [], []
        for params in itertools.product(*(range(1, m + 1) for m in self.param_ranges())):
            h, w = self.shape(params)
            if max(h, w) > max_side or min(h, w) > min_side:
                continue
            if self.memory(params) > mem_limit:
                continue
            t = self.time(params) * den
            rows.append(params)
            hs.append(h)
            ws.append(w)
            ts.append(int(t))
        n = len(self.param_names)
        table = Candidates(np.array(hs, dtype=np.int64), np.array(ws, dtype=np.int64),
                           np.array(ts, dtype=np.int64),
                           np.array(rows, dtype=np.int64).reshape(-1, n))
        cache[key] = table
        return table


def _ceil_div(a, b):
    return -(-a // b)


@dataclass(frozen=True)
class ConvPart:
    """One convolution inside a kernel: the handout's ``convperf(H,W,R,S,C,K,T)``.

    The part's output map is ``H/den x W/den`` (``den = 2`` for a cblock's
    third convolution, which runs at half resolution); R x S is the filter,
    C and K the input and output channels, T the stride.
    """

    H: int
    W: int
    R: int
    S: int
    C: int
    K: int
    T: int = 1
    den: int = 1

    def time(self, h: int, w: int, c: int, k: int) -> Fraction:
        tiles = _ceil_div(self.H, self.den * h) * _ceil_div(self.W, self.den * w)
        return Fraction(tiles * _ceil_div(self.C, c) * _ceil_div(self.K, k) * self.R * self.S,
                        self.T * self.T)

    def memory(self, h: int, w: int, c: int, k: int) -> Fraction:
        weights = Fraction(self.C, c) * Fraction(self.K, k) * self.R * self.S
        rows = Fraction(self.H, self.den) + self.R - 1
        cols = Fraction(self.W, self.den) + self.S - 1
        return weights + cols / w * rows / h * Fraction(self.K, k)

    @property
    def tiles_h(self) -> int:
        """The largest useful h: the part's output rows, rounded up."""
        return _ceil_div(self.H, self.den)

    @property
    def tiles_w(self) -> int:
        return _ceil_div(self.W, self.den)


@dataclass(frozen=True)
class ConvModel(KernelModel):
    """A kernel of one or more convolutions sharing the spatial split, laid side by side.

    Parameters: ``h w c k`` for one part; ``h w c1..cn k1..kn`` for n parts.
    """

    parts: tuple[ConvPart, ...]
    kind: str = "conv"
    _cache: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    @staticmethod
    def single(H: int, W: int, R: int, S: int, C: int, K: int, T: int = 1) -> "ConvModel":
        return ConvModel((ConvPart(H, W, R, S, C, K, T),))

    @property
    def param_names(self) -> tuple[str, ...]:  # type: ignore[override]
        n = len(self.parts)
        if n == 1:
            return ("h", "w", "c", "k")
        return ("h", "w") + tuple(f"c{i + 1}" for i in range(n)) + tuple(
            f"k{i + 1}" for i in range(n))

    def _split(self, params: tuple[int, ...]):
        n = len(self.parts)
        h, w = params[0], params[1]
        return h, w, params[2:2 + n], params[2 + n:2 + 2 * n]

    def shape(self, params):
        h, w, cs, ks = self._split(params)
        return h * w * (max(cs) + 1), 3 * sum(ks)

    def time(self, params):
        h, w, cs, ks = self._split(params)
        return max(p.time(h, w, c, k) for p, c, k in zip(self.parts, cs, ks))

    def memory(self, params):
        h, w, cs, ks = self._split(params)
        return max(p.memory(h, w, c, k) for p, c, k in zip(self.parts, cs, ks))

    def param_ranges(self):
        hs = max(p.tiles_h for p in self.parts)
        ws = max(p.tiles_w for p in self.parts)
        return (hs, ws) + tuple(p.C for p in self.parts) + tuple(p.K for p in self.parts)

    def time_denominator(self) -> int:
        return math.lcm(*(p.T * p.T for p in self.parts))

    # -- the fast search ---------------------------------------------------------
    #
    # The height depends on (h, w, max c); each part's k then follows in closed
    # form: the smallest k meeting the part's time and memory. So the search
    # enumerates (h, w, cmax) — bounded by the grid, since the height
    # h*w*(cmax+1) must fit its longer side — and computes every k_i. For a
    # given cmax, c_i = min(cmax, C_i) is best: it lowers time and memory
    # without changing the height. Everything not depending on t is computed
    # once per (mem_limit, max_side).

    def _grid_table(self, mem_limit: int, max_side: int) -> dict:
        key = (mem_limit, max_side)
        if key in self._cache:
            return self._cache[key]
        hs_max = max(p.tiles_h for p in self.parts)
        ws_max = max(p.tiles_w for p in self.parts)
        c_top = max(p.C for p in self.parts)
        hh, ww = [], []
        for h in range(1, hs_max + 1):
            w_top = min(ws_max, max_side // (2 * h))  # height >= 2*h*w (cmax >= 1)
            if w_top < 1:
                break
            hh.append(np.full(w_top, h, dtype=np.int64))
            ww.append(np.arange(1, w_top + 1, dtype=np.int64))
        if not hh:
            table = {"n": 0}
            self._cache[key] = table
            return table
        h = np.concatenate(hh)
        w = np.concatenate(ww)
        P = h * w
        reps = np.minimum(c_top, max_side // P - 1)
        h = np.repeat(h, reps)
        w = np.repeat(w, reps)
        P = np.repeat(P, reps)
        starts = np.repeat(np.cumsum(reps) - reps, reps)
        cmax = np.arange(int(reps.sum()), dtype=np.int64) - starts + 1
        ok = np.ones(cmax.shape, dtype=bool)
        bases, kmems, cs = [], [], []
        for p in self.parts:
            c = np.minimum(cmax, p.C)
            tiles = _ceil_div(p.H, p.den * h) * _ceil_div(p.W, p.den * w)
            base = tiles * _ceil_div(p.C, c) * (p.R * p.S)
            # memory <= L  <=>  k >= K (C R S P den^2 + Sp c) / (L c P den^2),
            # Sp = (W + den(S-1)) (H + den(R-1))  (the halo-padded map, times den^2)
            sp = (p.W + p.den * (p.S - 1)) * (p.H + p.den * (p.R - 1))
            d2 = p.den * p.den
            num = p.K * (p.C * p.R * p.S * P * d2 + sp * c)
            kmem = np.maximum(1, _ceil_div(num, mem_limit * c * P * d2))
            ok &= kmem <= p.K
            bases.append(base)
            kmems.append(kmem)
            cs.append(c)
        ok &= 3 * sum(kmems) <= max_side
        table = {
            "n": int(ok.sum()),
            "h": h[ok], "w": w[ok], "height": (P * (cmax + 1))[ok],
            "c": [c[ok] for c in cs], "base": [b[ok] for b in bases],
            "kmem": [k[ok] for k in kmems],
        }
        self._cache[key] = table
        return table

    def candidates(self, t: Fraction, mem_limit: int, max_side: int, min_side: int) -> Candidates:
        table = self._grid_table(int(mem_limit), int(max_side))
        n_params = len(self.param_names)
        if table["n"] == 0:
            return _empty_candidates(n_params)
        t = Fraction(t)
        if t > self.max_time():
            t = self.max_time()
        tn, td = t.numerator, t.denominator
        D = self.time_denominator()
        ok = np.ones(table["n"], dtype=bool)
        ks, times = [], []
        for p, base, kmem in zip(self.parts, table["base"], table["kmem"]):
            T2 = p.T * p.T
            m = (tn * T2) // (td * base)          # largest ceil(K/k) the budget allows
            ok &= m >= 1
            k = np.maximum(_ceil_div(p.K, np.maximum(m, 1)), kmem)
            ks.append(k)
            times.append(base * _ceil_div(p.K, k) * (D // T2))
        width = 3 * sum(ks)
        height = table["height"]
        ok &= _fits(height, width, max_side, min_side)
        params = np.stack([table["h"], table["w"], *table["c"], *ks], axis=1)
        time_num = np.max(np.stack(times, axis=0), axis=0)
        return Candidates(height[ok], width[ok], time_num[ok], params[ok])
