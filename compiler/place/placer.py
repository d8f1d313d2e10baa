"""Placement: choose a time budget, a rectangle per kernel and its place on the grid.

The method (docs/wafer.md has the longer story):

1. **Order.** Kernels are laid along the dataflow: a topological order that
   follows chains (after a kernel, one of its successors if one is ready).
2. **Strips.** The grid is cut into vertical strips (columns); each holds a
   contiguous run of the order, stacked bottom to top, each kernel taking its
   lowest rectangle no wider than the strip. Which runs and which widths is a
   dynamic program over the order; a strip is legal when its stack fits the
   grid's height.
3. **Budget.** The smallest time budget at which the strips fit the grid's
   width, by search from the sizer's lower bound (feasibility is monotone in
   the budget).
4. **Wire.** At that budget a second dynamic program trades strip width for
   stack length (a wire-length proxy); then the strips' order, direction and
   vertical offsets are improved by local search on the real weighted wire
   length (L1 between kernel centres).

On a grid that is not square, horizontal strips (rows) are tried as well.
"""
from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ..errors import PlacementError
from .kernel_models import KernelModel
from .problem import PlacementProblem
from .sizing import Footprints, Sizer

_BIG = 1 << 40


@dataclass(frozen=True)
class PlacedKernel:
    """A kernel's execution parameters and rectangle: lower corner (x, y), R0 or R90."""

    name: str
    params: tuple[int, ...]
    x: int
    y: int
    rotated: bool
    shape: tuple[int, int]          # (height, width) unrotated, as the model gives it
    time: Fraction

    @property
    def footprint(self) -> tuple[int, int]:
        """(width along x, height along y) on the grid."""
        h, w = self.shape
        return (h, w) if self.rotated else (w, h)

    @property
    def centre(self) -> tuple[Fraction, Fraction]:
        fw, fh = self.footprint
        return self.x + Fraction(fw, 2), self.y + Fraction(fh, 2)


@dataclass
class Placement:
    """A placed problem: every kernel's `PlacedKernel`, plus how the search went."""

    problem: PlacementProblem
    kernels: dict[str, PlacedKernel]
    lower_bound: Fraction | None = None
    stats: dict = field(default_factory=dict)

    @property
    def max_time(self) -> Fraction:
        return max((k.time for k in self.kernels.values()), default=Fraction(0))

    def wire_length(self) -> Fraction:
        return wire_length(self.problem, self.kernels)

    def bottleneck(self) -> str | None:
        """The name of the slowest kernel."""
        if not self.kernels:
            return None
        return max(self.kernels.values(), key=lambda k: k.time).name


def wire_length(problem: PlacementProblem, kernels: dict[str, PlacedKernel]) -> Fraction:
    """Sum over edges of weight x L1 distance between the two kernels' centres (exact)."""
    total = Fraction(0)
    for e in problem.edges:
        (ax, ay), (bx, by) = kernels[e.src].centre, kernels[e.dst].centre
        total += Fraction(e.weight) * (abs(ax - bx) + abs(ay - by))
    return total


def check_placement(problem: PlacementProblem, placement: Placement) -> list[str]:
    """Everything illegal about a placement, recomputed from the kernels' parameters.

    Checks that every kernel is placed once, that its shape, time and memory
    follow from its parameters, that memory is within the limit, and that the
    rectangles lie in the grid without overlapping. An empty list means legal.
    """
    bad: list[str] = []
    rects = []
    names = []
    for k in problem.kernels:
        p = placement.kernels.get(k.name)
        if p is None:
            bad.append(f"{k.name}: not placed")
            continue
        model: KernelModel = k.model
        problem_txt = model.check_params(p.params)
        if problem_txt:
            bad.append(f"{k.name}: {problem_txt}")
            continue
        if tuple(model.shape(p.params)) != tuple(p.shape):
            bad.append(f"{k.name}: shape {p.shape} does not follow from its parameters "
                       f"({model.shape(p.params)})")
        if model.time(p.params) != p.time:
            bad.append(f"{k.name}: time {p.time} does not follow from its parameters")
        mem = model.memory(p.params)
        if mem > problem.memory_limit:
            bad.append(f"{k.name}: memory {float(mem):.1f} per core exceeds "
                       f"{problem.memory_limit}")
        h, w = model.shape(p.params)
        fw, fh = (h, w) if p.rotated else (w, h)
        if p.x < 0 or p.y < 0 or p.x + fw > problem.width or p.y + fh > problem.height:
            bad.append(f"{k.name}: [{p.x}, {p.x + fw}) x [{p.y}, {p.y + fh}) leaves the "
                       f"{problem.width}x{problem.height} grid")
        rects.append((p.x, p.y, p.x + fw, p.y + fh))
        names.append(k.name)
    extra = set(placement.kernels) - {k.name for k in problem.kernels}
    for name in sorted(extra):
        bad.append(f"{name}: placed but not a kernel of the problem")
    if rects:
        r = np.array(rects, dtype=np.int64)
        over = ((r[:, None, 0] < r[None, :, 2]) & (r[None, :, 0] < r[:, None, 2]) &
                (r[:, None, 1] < r[None, :, 3]) & (r[None, :, 1] < r[:, None, 3]))
        np.fill_diagonal(over, False)
        for i, j in zip(*np.nonzero(np.triu(over))):
            bad.append(f"{names[i]} and {names[j]} overlap")
    return bad


# --- 1. order -------------------------------------------------------------------

def dataflow_order(problem: PlacementProblem) -> list[int]:
    """A topological order of the kernels that follows chains; cycles are broken by index."""
    n = len(problem.kernels)
    index = problem.index()
    succ: list[list[int]] = [[] for _ in range(n)]
    indeg = [0] * n
    for e in problem.edges:
        a, b = index[e.src], index[e.dst]
        if a == b:
            continue
        succ[a].append(b)
        indeg[b] += 1
    for s in succ:
        s.sort()
    done = [False] * n
    order: list[int] = []
    ready = sorted(i for i in range(n) if indeg[i] == 0)
    last = None
    while len(order) < n:
        pick = None
        if last is not None:
            for b in succ[last]:
                if not done[b] and indeg[b] == 0:
                    pick = b
                    break
        if pick is None:
            ready = [i for i in ready if not done[i]]
            if ready:
                pick = ready[0]
            else:  # a cycle: take the unplaced kernel with the fewest missing inputs
                pick = min((i for i in range(n) if not done[i]), key=lambda i: (indeg[i], i))
        done[pick] = True
        order.append(pick)
        last = pick
        for b in succ[pick]:
            indeg[b] -= 1
            if indeg[b] == 0 and not done[b]:
                ready.append(b)
        ready.sort()
    return order


# --- 2. strips ------------------------------------------------------------------

@dataclass
class _Frame:
    """Footprints seen in strip coordinates: `across` = strip width axis, `along` = stack axis."""

    across: np.ndarray     # increasing
    along: np.ndarray      # decreasing
    src: np.ndarray        # index into the kernel's Footprints


def _frame(f: Footprints, transpose: bool) -> _Frame:
    if not transpose:
        return _Frame(f.width, f.height, np.arange(len(f)))
    # rows: the strip width is the footprint height; the staircase read backwards
    return _Frame(f.height[::-1].copy(), f.width[::-1].copy(), np.arange(len(f))[::-1].copy())


class _Strips:
    """Per budget: the matrix of each kernel's stack length at each candidate strip width."""

    def __init__(self, frames: list[_Frame], order: list[int], across_total: int,
                 along_total: int, min_strip: int = 1):
        self.order = order
        self.along_total = along_total
        lo = min(max(1, min_strip), across_total)
        widths = np.unique(np.concatenate([fr.across for fr in frames] + [[lo]]))
        self.widths = widths[(widths <= across_total) & (widths >= lo)]
        n = len(order)
        nW = len(self.widths)
        self.pick = np.zeros((nW, n), dtype=np.int64)
        lens = np.empty((nW, n), dtype=np.int64)
        cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for col, k in enumerate(order):
            fr = frames[k]
            key = id(fr)
            if key not in cache:
                idx = np.searchsorted(fr.across, self.widths, side="right") - 1
                length = np.where(idx >= 0, fr.along[np.maximum(idx, 0)], _BIG)
                cache[key] = (idx, length)
            idx, length = cache[key]
            self.pick[:, col] = idx
            lens[:, col] = length
        self.pre = np.zeros((nW, n + 1), dtype=np.int64)
        np.cumsum(lens, axis=1, out=self.pre[:, 1:])

    def min_width_costs(self) -> np.ndarray:
        """cost[j, i]: index of the narrowest width holding order[j:i] in one strip (nW = none)."""
        n = len(self.order)
        nW = len(self.widths)
        cost = np.full((n + 1, n + 1), nW, dtype=np.int64)
        if nW == 0:
            return cost
        top = self.pre[-1]
        for j in range(n):
            i_max = int(np.searchsorted(top, top[j] + self.along_total, side="right")) - 1
            if i_max <= j:
                continue
            ii = np.arange(j + 1, i_max + 1)
            lo = np.zeros(ii.size, dtype=np.int64)
            hi = np.full(ii.size, nW - 1, dtype=np.int64)
            base = self.pre[:, j]
            while True:
                active = lo < hi
                if not active.any():
                    break
                mid = (lo + hi) // 2
                ok = self.pre[mid, ii] - base[mid] <= self.along_total
                hi = np.where(active & ok, mid, hi)
                lo = np.where(active & ~ok, mid + 1, lo)
            cost[j, ii] = lo
        return cost

    def min_total_width(self) -> tuple[int, list[tuple[int, int, int]]] | None:
        """The narrowest split of the order into strips: (total width, [(j, i, width idx)])."""
        arg = self.min_width_costs()
        w_of = np.append(self.widths.astype(np.float64), np.inf)
        total, groups = _best_split(w_of[arg], arg)
        return None if groups is None else (int(total), groups)

    def wire_splits(self, across_total: int) -> list[list[tuple[int, int, int]]]:
        """Splits that keep stacks short: each minimises sum(stack) + mu * sum(width) for a
        mu, and fits `across_total`. mu = 1/4 and 1 are tried; if neither fits, the smallest
        mu (by bisection) whose split fits."""
        n = len(self.order)
        nW = len(self.widths)
        if nW == 0:
            return []
        top = self.pre[-1]
        reach = [int(np.searchsorted(top, top[j] + self.along_total, side="right"))
                 for j in range(n)]                      # strips hold order[j:i], i < reach
        widths_f = self.widths.astype(np.float64)
        cache: dict[float, list[tuple[int, int, int]] | None] = {}

        def solve(mu: float):
            if mu in cache:
                return cache[mu]
            cost = np.full((n + 1, n + 1), np.inf)
            arg = np.full((n + 1, n + 1), nW, dtype=np.int64)
            wv = widths_f[:, None] * mu
            for j in range(n):
                i_end = reach[j]
                if i_end <= j + 1:
                    continue
                stacks = self.pre[:, j + 1:i_end] - self.pre[:, j:j + 1]
                val = np.where(stacks <= self.along_total, stacks + wv, np.inf)
                best = np.argmin(val, axis=0)
                cost[j, j + 1:i_end] = val[best, np.arange(val.shape[1])]
                arg[j, j + 1:i_end] = best
            _, groups = _best_split(cost, arg)
            if groups is not None and sum(int(self.widths[w]) for _, _, w in groups) > across_total:
                groups = None
            cache[mu] = groups
            return groups

        found = [g for g in (solve(0.25), solve(1.0)) if g is not None]
        if found:
            return found
        lo, hi = 1.0, 4.0
        while solve(hi) is None:
            lo, hi = hi, hi * 8
            if hi > 1e7:
                return []
        for _ in range(4):
            mid = (lo + hi) / 2
            if solve(mid) is None:
                lo = mid
            else:
                hi = mid
        return [solve(hi)]


def _best_split(cost: np.ndarray, arg: np.ndarray
                ) -> tuple[float, list[tuple[int, int, int]] | None]:
    """The cheapest cut of the order into consecutive strips, given cost[j, i] of a strip
    holding order[j:i] (inf = impossible) and arg[j, i] its width index."""
    n = cost.shape[0] - 1
    f = np.full(n + 1, np.inf)
    back = np.zeros(n + 1, dtype=np.int64)
    f[0] = 0.0
    for i in range(1, n + 1):
        c = f[:i] + cost[:i, i]
        j = int(np.argmin(c))
        f[i] = c[j]
        back[i] = j
    if not np.isfinite(f[n]):
        return float("inf"), None
    groups = []
    i = n
    while i > 0:
        j = int(back[i])
        groups.append((j, i, int(arg[j, i])))
        i = j
    groups.reverse()
    return float(f[n]), groups


# --- 3. layout and wire -----------------------------------------------------------

@dataclass
class _Layout:
    """Strips of kernels in strip coordinates, before mapping to (x, y)."""

    strip_width: list[int]
    members: list[np.ndarray]               # kernel indices per strip, in order
    fp: np.ndarray                          # kernel -> index into its Footprints
    across: np.ndarray                      # kernel -> footprint size across the strip
    along: np.ndarray                       # kernel -> footprint size along the stack

    @property
    def stacks(self) -> list[int]:
        return [int(self.along[m].sum()) for m in self.members]


def _make_layout(st: _Strips, frames: list[_Frame], groups) -> _Layout:
    n = len(frames)
    fp = np.zeros(n, dtype=np.int64)
    across = np.zeros(n, dtype=np.int64)
    along = np.zeros(n, dtype=np.int64)
    members, widths = [], []
    for j, i, wi in groups:
        ks = st.order[j:i]
        members.append(np.array(ks, dtype=np.int64))
        widths.append(int(st.widths[wi]))
        for col, k in zip(range(j, i), ks):
            idx = int(st.pick[wi, col])
            fr = frames[k]
            fp[k] = fr.src[idx]
            across[k] = fr.across[idx]
            along[k] = fr.along[idx]
    return _Layout(widths, members, fp, across, along)


class _WireEval:
    """Weighted L1 wire length of arrangements, vectorised over the edges."""

    def __init__(self, problem: PlacementProblem):
        index = problem.index()
        self.src = np.array([index[e.src] for e in problem.edges], dtype=np.int64)
        self.dst = np.array([index[e.dst] for e in problem.edges], dtype=np.int64)
        self.w = np.array([e.weight for e in problem.edges], dtype=np.float64)
        self.n = len(problem.kernels)

    def wire(self, ca: np.ndarray, cl: np.ndarray) -> float:
        if self.src.size == 0:
            return 0.0
        return float(np.sum(self.w * (np.abs(ca[self.src] - ca[self.dst]) +
                                      np.abs(cl[self.src] - cl[self.dst]))))


@dataclass
class _Arrangement:
    """Where the strips go: their left-to-right order, direction, offsets along the stack,
    and the position (in `perm`) before which the spare width is left empty."""

    perm: list[int]
    flip: list[bool]
    offset: list[int]
    spare_at: int = 0

    def copy(self) -> "_Arrangement":
        return _Arrangement(list(self.perm), list(self.flip), list(self.offset), self.spare_at)


def _corners(lay: _Layout, arr: _Arrangement, spare: int) -> tuple[np.ndarray, np.ndarray]:
    """Each kernel's lower corner (across, along); kernels are centred in their strip."""
    n = lay.fp.shape[0]
    a0 = np.zeros(n, dtype=np.int64)
    l0 = np.zeros(n, dtype=np.int64)
    pos = 0
    for rank, s in enumerate(arr.perm):
        if rank == arr.spare_at:
            pos += spare
        ks = lay.members[s][::-1] if arr.flip[s] else lay.members[s]
        sizes = lay.along[ks]
        l0[ks] = arr.offset[s] + np.cumsum(sizes) - sizes
        a0[ks] = pos + (lay.strip_width[s] - lay.across[ks]) // 2
        pos += lay.strip_width[s]
    return a0, l0


def _improve(lay: _Layout, ev: _WireEval, along_total: int, across_total: int,
             deadline: float) -> tuple[np.ndarray, np.ndarray]:
    """Local search over strip order, direction, offsets and where the spare width goes,
    on the real weighted wire length. Starts from a snake (alternate strips reversed)."""
    S = len(lay.members)
    stack = lay.stacks
    spare = across_total - sum(lay.strip_width)
    flip = [s % 2 == 1 for s in range(S)]
    arr = _Arrangement(list(range(S)), flip,
                       [along_total - stack[s] if flip[s] else 0 for s in range(S)])

    def cost(a: _Arrangement) -> float:
        a0, l0 = _corners(lay, a, spare)
        return ev.wire(a0 + lay.across / 2, l0 + lay.along / 2)

    def settle_offsets(a: _Arrangement) -> tuple[_Arrangement, float]:
        # each strip's offset alone is a 1-D weighted-median problem: try the
        # breakpoints where one of its edges' two ends line up, and the two ends
        best = cost(a)
        for _ in range(3):
            changed = False
            for s in range(S):
                room = along_total - stack[s]
                if room <= 0:
                    continue
                a0, l0 = _corners(lay, a, spare)
                cl = l0 + lay.along / 2
                inside = np.zeros(ev.n, bool)
                inside[lay.members[s]] = True
                cut = inside[ev.src] != inside[ev.dst]
                trial = {0, room}
                if cut.any():
                    own = np.where(inside[ev.src[cut]], cl[ev.src[cut]], cl[ev.dst[cut]])
                    other = np.where(inside[ev.src[cut]], cl[ev.dst[cut]], cl[ev.src[cut]])
                    want = np.clip(np.floor(other - own + a.offset[s]), 0, room)
                    trial.update(int(v) for v in want)
                    trial.update(int(min(room, v + 1)) for v in want)
                for o in sorted(trial):
                    b = a.copy()
                    b.offset[s] = o
                    v = cost(b)
                    if v < best - 1e-9:
                        best, a, changed = v, b, True
            if not changed:
                break
        return a, best

    arr, best = settle_offsets(arr)
    improved = True
    while improved and _time.monotonic() < deadline:
        improved = False
        for s in range(S):                                   # turn a strip around
            b = arr.copy()
            b.flip[s] = not b.flip[s]
            b.offset[s] = along_total - stack[s] - arr.offset[s]
            v = cost(b)
            if v < best - 1e-9:
                best, arr, improved = v, b, True
        for i in range(S):                                   # move a strip elsewhere
            for j in range(S):
                if i == j or _time.monotonic() > deadline:
                    continue
                b = arr.copy()
                b.perm.insert(j, b.perm.pop(i))
                v = cost(b)
                if v < best - 1e-9:
                    best, arr, improved = v, b, True
        if spare > 0:
            for at in range(S + 1):                          # move the spare width
                b = arr.copy()
                b.spare_at = at
                v = cost(b)
                if v < best - 1e-9:
                    best, arr, improved = v, b, True
        if improved:
            arr, best = settle_offsets(arr)
    return _corners(lay, arr, spare)


# --- the search -------------------------------------------------------------------

def place(problem: PlacementProblem, *, time_weight: float = 1.0, wire_weight: float = 0.0,
          budget: Fraction | None = None, time_limit: float | None = 8.0,
          min_strip: int = 1) -> Placement:
    """Size and place every kernel of `problem`; raise `PlacementError` if it cannot fit.

    The time budget is the smallest the strip packer reaches (or `budget` if
    given). With `wire_weight` > 0 a few slightly larger budgets are tried too,
    keeping the one with the least ``time_weight * max_time + wire_weight * wire``.
    `time_limit` (seconds) bounds the local search; None runs it to the end (deterministic).
    `min_strip` is the narrowest strip allowed: consecutive kernels of a strip share a
    boundary about that wide, which bounds the bandwidth between them.
    """
    start = _time.monotonic()
    # No time limit: every search runs to its end, so the result does not depend on the
    # machine's speed (the compiler needs that for byte-identical artifacts).
    deadline = start + time_limit if time_limit is not None else math.inf
    sizer = Sizer(problem)
    n = len(problem.kernels)
    if n == 0:
        return Placement(problem, {}, Fraction(0), {"budget": Fraction(0)})
    lb_tn = sizer.lower_bound_tn()
    order = dataflow_order(problem)
    orientations = [False] if problem.width == problem.height else [False, True]

    def strips_at(tn: int, transpose: bool) -> tuple[_Strips, list[_Frame]] | None:
        foots = sizer.footprints(tn)
        if any(f is None for f in foots):
            return None
        frames_by_id: dict[int, _Frame] = {}
        frames = []
        for f in foots:
            if id(f) not in frames_by_id:
                frames_by_id[id(f)] = _frame(f, transpose)
            frames.append(frames_by_id[id(f)])
        across, along = ((problem.height, problem.width) if transpose
                         else (problem.width, problem.height))
        return _Strips(frames, order, across, along, min_strip), frames

    def feasible(tn: int, transpose: bool) -> bool:
        got = strips_at(tn, transpose)
        if got is None:
            return False
        res = got[0].min_total_width()
        across = problem.height if transpose else problem.width
        return res is not None and res[0] <= across

    hi_tn = max(lb_tn, sizer.max_tn())
    if budget is not None:
        tn0 = sizer.tn_at_most(budget)
        if tn0 < lb_tn:
            raise PlacementError(f"time budget {budget} is below the lower bound "
                                 f"{sizer.time(lb_tn)}")
        cands = [(tn0, tr) for tr in orientations if feasible(tn0, tr)]
        if not cands:
            raise PlacementError(f"the kernels do not fit the grid within time {budget}",
                                 hint="raise the budget or use a larger mesh")
        best_tn = tn0
    else:
        best_tn, cands = None, []
        for tr in orientations:
            tn = _smallest_feasible(lambda t: feasible(t, tr), lb_tn, hi_tn)
            if tn is None:
                continue
            if best_tn is None or tn < best_tn:
                best_tn, cands = tn, [(tn, tr)]
            elif tn == best_tn:
                cands.append((tn, tr))
        if best_tn is None:
            raise PlacementError(
                f"could not pack the {n} kernels on the {problem.width}x{problem.height} grid",
                hint="use a larger mesh")
    ev = _WireEval(problem)
    best: _Try | None = None

    def attempt(tn: int, transpose: bool, until: float) -> None:
        nonlocal best
        got = strips_at(tn, transpose)
        if got is None:
            return
        st, frames = got
        across, along = ((problem.height, problem.width) if transpose
                         else (problem.width, problem.height))
        splits = st.wire_splits(across)
        if not splits:
            res = st.min_total_width()
            if res is None or res[0] > across:
                return
            splits = [res[1]]
        for k, groups in enumerate(splits):
            lay = _make_layout(st, frames, groups)
            now = _time.monotonic()
            a0, l0 = _improve(lay, ev, along, across, now + (until - now) / (len(splits) - k))
            placed = _to_placed(problem, sizer, tn, lay, a0, l0, transpose)
            mt = max(p.time for p in placed.values())
            wl = wire_length(problem, placed)
            score = time_weight * mt + wire_weight * wl
            if best is None or score < best.score:
                best = _Try(score, placed, tn, transpose, len(lay.members), mt, wl)

    for i, (tn, tr) in enumerate(cands):
        now = _time.monotonic()
        attempt(tn, tr, now + max(0.1, (deadline - now) / (len(cands) - i + 1)))
    # A larger budget shrinks the kernels and so the wire; worth trying only while the
    # time it adds can be won back on the wire.
    if wire_weight > 0 and budget is None and best is not None:
        for factor in (Fraction(1005, 1000), Fraction(101, 100), Fraction(102, 100),
                       Fraction(103, 100), Fraction(105, 100), Fraction(110, 100),
                       Fraction(120, 100), Fraction(135, 100), Fraction(150, 100)):
            if (factor - 1) * time_weight * best.max_time >= wire_weight * best.wire:
                break
            if _time.monotonic() > deadline:
                break
            for tr in orientations:
                now = _time.monotonic()
                attempt(math.floor(best_tn * factor), tr,
                        now + max(0.1, (deadline - now) / 4))
    if best is None:
        raise PlacementError(f"could not pack the {n} kernels on the "
                             f"{problem.width}x{problem.height} grid")
    stats = {"budget": sizer.time(best.tn), "strips": best.strips, "rows": best.transpose,
             "seconds": _time.monotonic() - start}
    return Placement(problem, best.placed, sizer.time(lb_tn), stats)


@dataclass
class _Try:
    """One complete placement the search produced, with what it scores."""

    score: float
    placed: dict[str, PlacedKernel]
    tn: int
    transpose: bool
    strips: int
    max_time: Fraction
    wire: Fraction


def _smallest_feasible(ok, lo: int, hi: int) -> int | None:
    """The smallest tn in [lo, hi] with ok(tn) (ok is monotone), by galloping then bisection."""
    if ok(lo):
        return lo
    if not ok(hi):
        return None
    step = max(1, lo // 256)
    prev = lo
    while True:
        cur = min(hi, prev + step)
        if ok(cur):
            hi = cur
            break
        prev = cur
        step *= 2
    lo = prev + 1                     # ok(hi) holds; ok(lo - 1) does not
    while lo < hi and hi - lo > hi // 4096:   # to 0.025%: the budget need not be exact
        mid = (lo + hi) // 2
        if ok(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi


def _to_placed(problem, sizer: Sizer, tn: int, lay: _Layout, a0, l0, transpose: bool
               ) -> dict[str, PlacedKernel]:
    foots = sizer.footprints(tn)
    out = {}
    for k, kern in enumerate(problem.kernels):
        f = foots[k]
        i = int(lay.fp[k])
        params = tuple(int(v) for v in f.params[i])
        rotated = bool(f.rotated[i])
        x, y = (int(l0[k]), int(a0[k])) if transpose else (int(a0[k]), int(l0[k]))
        shape = kern.model.shape(params)
        out[kern.name] = PlacedKernel(kern.name, params, x, y, rotated, shape,
                                      kern.model.time(params))
    return out
