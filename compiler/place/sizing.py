"""Sizing: how much parallelism each kernel gets, and the lower bound on the pipeline's time.

The pipeline runs at the pace of its slowest kernel, so sizing is driven by one
number, the time budget ``t``: every kernel takes parameters whose time is at
most ``t``. For a budget, each kernel has a set of rectangles it could occupy
(`Footprints`, the Pareto staircase of width against height over both
rotations); the placer picks one per kernel so that all fit the grid.

Times are handled exactly: every time of a problem is a multiple of ``1/D``
(``D`` = `Sizer.den`, the lcm of the models' denominators), and the engine
counts in integer numerators ``tn`` (time = tn / D).

`Sizer.lower_bound()` is the smallest budget at which the sum, over kernels, of
each kernel's smallest rectangle meeting the budget (memory within the limit,
fitting the grid) is at most the grid's area. No placement can beat it: any
legal placement's kernels cover at least that much area.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..errors import PlacementError
from .kernel_models import Candidates, KernelModel
from .problem import PlacementProblem


@dataclass(frozen=True)
class Footprints:
    """The rectangles a kernel can occupy within a budget, as a Pareto staircase.

    Sorted by `width` (x extent, strictly increasing) with `height` (y extent)
    strictly decreasing. `rotated` says the kernel's (height, width) shape is
    turned by 90 degrees to give this footprint; `params` are the execution
    parameters; `time_num` the time times the sizer's denominator.
    """

    width: np.ndarray
    height: np.ndarray
    rotated: np.ndarray
    params: np.ndarray
    time_num: np.ndarray

    def __len__(self) -> int:
        return int(self.width.shape[0])

    def best_within(self, max_width: int) -> int:
        """Index of the lowest footprint at most `max_width` wide, or -1 if none is."""
        return int(np.searchsorted(self.width, max_width, side="right")) - 1


class ShapeTable:
    """One kernel model's candidates and footprints per budget, cached."""

    def __init__(self, model: KernelModel, memory_limit: int, grid_w: int, grid_h: int,
                 den: int):
        self.model = model
        self.memory_limit = memory_limit
        self.grid_w = grid_w
        self.grid_h = grid_h
        self.den = den
        self.scale = den // model.time_denominator()
        self._cand: dict[int, Candidates] = {}
        self._foot: dict[int, Footprints | None] = {}

    def candidates(self, tn: int) -> Candidates:
        if tn not in self._cand:
            if len(self._cand) > 256:
                self._cand.clear()
                self._foot.clear()
            c = self.model.candidates(Fraction(tn, self.den), self.memory_limit,
                                      max(self.grid_w, self.grid_h),
                                      min(self.grid_w, self.grid_h))
            self._cand[tn] = c
        return self._cand[tn]

    def min_area(self, tn: int) -> int | None:
        c = self.candidates(tn)
        if len(c) == 0:
            return None
        return int((c.height * c.width).min())

    def min_area_choice(self, tn: int) -> int | None:
        """Index (into `candidates(tn)`) of the smallest rectangle; ties go to the faster."""
        c = self.candidates(tn)
        if len(c) == 0:
            return None
        order = np.lexsort((c.time_num, c.height * c.width))
        return int(order[0])

    def fastest(self) -> int | None:
        """The smallest time numerator any candidate reaches, None if none fits the grid."""
        c = self.candidates(self.max_tn())
        if len(c) == 0:
            return None
        return int(c.time_num.min()) * self.scale

    def max_tn(self) -> int:
        return math.ceil(self.model.max_time() * self.den)

    def footprints(self, tn: int) -> Footprints | None:
        if tn in self._foot and tn in self._cand:
            return self._foot[tn]
        c = self.candidates(tn)
        foot = _staircase(c, self.grid_w, self.grid_h, self.scale) if len(c) else None
        self._foot[tn] = foot
        return foot


def _pareto(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats in both coordinates (ties: the first
    listed), sorted by `first` ascending (so `second` strictly descending)."""
    if first.size == 0:
        return np.zeros(0, dtype=np.int64)
    key = first.astype(np.int64) * (int(second.max()) + 1) + second
    order = np.argsort(key, kind="stable")
    s = second[order]
    prev = np.concatenate([[np.iinfo(np.int64).max], np.minimum.accumulate(s)[:-1]])
    return order[s < prev]


def _staircase(c: Candidates, grid_w: int, grid_h: int, scale: int) -> Footprints | None:
    """Both rotations of every candidate that fits, reduced to the Pareto staircase."""
    # Pareto over the unrotated (height, width) first: it is the same set in both
    # rotations, and much smaller than the candidates. Ties go to the faster candidate.
    order = np.argsort(c.time_num, kind="stable")
    keep = order[_pareto(c.height[order], c.width[order])]
    h, w = c.height[keep], c.width[keep]
    r0 = (w <= grid_w) & (h <= grid_h)      # x extent = shape width
    r90 = (h <= grid_w) & (w <= grid_h)
    fw = np.concatenate([w[r0], h[r90]])
    fh = np.concatenate([h[r0], w[r90]])
    if fw.size == 0:
        return None
    rot = np.concatenate([np.zeros(int(r0.sum()), bool), np.ones(int(r90.sum()), bool)])
    src = np.concatenate([keep[r0], keep[r90]])
    best = _pareto(fw, fh)
    src = src[best]
    return Footprints(fw[best], fh[best], rot[best], c.params[src], c.time_num[src] * scale)


class Sizer:
    """The shape tables of a problem's kernels (equal models share one) and the budget search."""

    def __init__(self, problem: PlacementProblem):
        self.problem = problem
        self.den = math.lcm(1, *(k.model.time_denominator() for k in problem.kernels))
        self.grid_area = problem.width * problem.height
        tables: dict[KernelModel, ShapeTable] = {}
        self.tables: list[ShapeTable] = []
        for k in problem.kernels:
            if k.model not in tables:
                tables[k.model] = ShapeTable(k.model, problem.memory_limit, problem.width,
                                             problem.height, self.den)
            self.tables.append(tables[k.model])
        self.distinct = list(tables.values())

    def time(self, tn: int) -> Fraction:
        return Fraction(tn, self.den)

    def tn_at_most(self, t: Fraction | int) -> int:
        """The largest numerator whose time is at most `t`."""
        return math.floor(Fraction(t) * self.den)

    def check_each_fits(self) -> int:
        """The smallest budget at which every kernel has a rectangle; raise if one never does."""
        lo = 0
        for k, table in zip(self.problem.kernels, self.tables):
            f = table.fastest()
            if f is None:
                raise PlacementError(
                    f"kernel {k.name!r} ({k.model.kind}) cannot fit the "
                    f"{self.problem.width}x{self.problem.height} grid within "
                    f"{self.problem.memory_limit} memory per core at any parallelism",
                    k.loc, hint="use a larger mesh, or split the kernel")
            lo = max(lo, f)
        return lo

    def max_tn(self) -> int:
        """A budget no kernel needs more than: the slowest any kernel can be."""
        return max((t.max_tn() for t in self.tables), default=0)

    def min_total_area(self, tn: int) -> int | None:
        """Sum over kernels of the smallest rectangle meeting budget tn; None if one has none."""
        per_model: dict[int, int | None] = {}
        total = 0
        for table in self.tables:
            key = id(table)
            if key not in per_model:
                per_model[key] = table.min_area(tn)
            a = per_model[key]
            if a is None:
                return None
            total += a
        return total

    def lower_bound_tn(self) -> int:
        """The exact lower bound's numerator (see the module docstring)."""
        if not self.problem.kernels:
            return 0
        lo = self.check_each_fits()
        hi = max(lo, self.max_tn())
        area = self.min_total_area(hi)
        if area is None or area > self.grid_area:
            raise PlacementError(
                f"the kernels need at least {area} cores at their slowest, and the grid has "
                f"{self.grid_area}", hint="use a larger mesh")
        # smallest tn in [lo, hi] with min_total_area(tn) <= grid area (monotone in tn)
        while lo < hi:
            mid = (lo + hi) // 2
            a = self.min_total_area(mid)
            if a is not None and a <= self.grid_area:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def lower_bound(self) -> Fraction:
        """The smallest time at which the kernels' minimum areas fit the grid."""
        return self.time(self.lower_bound_tn())

    def footprints(self, tn: int) -> list[Footprints | None]:
        return [t.footprints(tn) for t in self.tables]


def min_area_sizing(problem: PlacementProblem, t: Fraction) -> dict[str, tuple[int, ...]]:
    """Each kernel's smallest-area parameters with time <= t (no placement)."""
    sizer = Sizer(problem)
    tn = sizer.tn_at_most(t)
    out = {}
    for k, table in zip(problem.kernels, sizer.tables):
        i = table.min_area_choice(tn)
        if i is None:
            raise PlacementError(f"kernel {k.name!r} cannot meet time {t} on this grid", k.loc)
        out[k.name] = tuple(int(v) for v in table.candidates(tn).params[i])
    return out
