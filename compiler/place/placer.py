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

**Hop-minded problems** (``problem.wire == "hops"``, the compiler's: edge
weights are bytes, flows are routed link by link) go further:

5. **Branch groups.** The strips also stack *units* (`groups.py`): tiers of
   parallel kernels side by side, and residual blocks (a branch stacked beside
   the kernel that joins it), so that a skip flow touches instead of crossing
   the branch. Layouts with and without them are all kept.
6. **Widening.** A kernel narrower than its room (its strip, or the stack it
   sits in) takes larger execution parameters that widen it without making it
   longer or slower than the budget: a small layer norm then touches the wide
   kernels around it.
7. **Wire as hops.** The local search minimises bytes x (1 + the gap between
   facing edges), plus a detour for the share of a flow that a too short
   common boundary cannot carry; the best layouts also have the units of
   their strips reordered (legal by construction: a stack keeps its length).
8. **Routed choice.** Slightly larger budgets (up to `HOP_TIME_SLACK`) are
   tried too; every layout within that slack of the fastest is routed
   (`route.py`) and the one kept has no link over capacity, then the least
   ``max time * mean hops ** HOP_WEIGHT``.
"""
from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ..errors import PlacementError
from .groups import Unit, find_units, leaf, unit_frame
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

    def hop_length(self) -> float:
        return hop_length(self.problem, self.kernels)

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


def hop_length(problem: PlacementProblem, kernels: dict[str, PlacedKernel]) -> float:
    """Sum over edges of weight x hops, a hop estimate: 1 + the L1 gap between the two
    rectangles' facing edges (1 when they touch). The router's hops are at least this
    when the flow fits the links it crosses."""
    total = 0.0
    for e in problem.edges:
        a, b = kernels[e.src], kernels[e.dst]
        (aw, ah), (bw, bh) = a.footprint, b.footprint
        gx = max(0, b.x - (a.x + aw), a.x - (b.x + bw))
        gy = max(0, b.y - (a.y + ah), a.y - (b.y + bh))
        total += e.weight * (1 + gx + gy)
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
    """Strips of units (kernels or branch groups, `groups.py`) in strip coordinates,
    before mapping to (x, y); each kernel sits at an offset inside its unit."""

    strip_width: list[int]
    members: list[np.ndarray]               # unit indices per strip, in order
    u_across: np.ndarray                    # unit -> size across the strip
    u_along: np.ndarray                     # unit -> size along the stack
    unit_of: np.ndarray                     # kernel -> its unit
    rel_a: np.ndarray                       # kernel -> offset in its unit, across
    rel_l: np.ndarray                       # ... and along
    fp: np.ndarray                          # kernel -> index into its Footprints
    across: np.ndarray                      # kernel -> footprint size across the strip
    along: np.ndarray                       # kernel -> footprint size along the stack
    unit_kernels: list[np.ndarray] = field(default_factory=list)
    room: dict[int, tuple[int, int]] = field(default_factory=dict)   # kernel -> (offset, size)
    stretched: dict[int, tuple[tuple[int, ...], bool]] = field(default_factory=dict)

    @property
    def stacks(self) -> list[int]:
        return [int(self.u_along[m].sum()) for m in self.members]


def _make_layout(st: _Strips, uframes: list, frames: list[_Frame], groups) -> _Layout:
    n = len(frames)
    U = len(uframes)
    fp, across, along, unit_of, rel_a, rel_l = (np.zeros(n, dtype=np.int64) for _ in range(6))
    u_across = np.zeros(U, dtype=np.int64)
    u_along = np.zeros(U, dtype=np.int64)
    unit_kernels: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * U
    room: dict[int, tuple[int, int]] = {}
    members, widths = [], []
    for j, i, wi in groups:
        us = st.order[j:i]
        members.append(np.array(us, dtype=np.int64))
        widths.append(int(st.widths[wi]))
        for col, u in zip(range(j, i), us):
            idx = int(st.pick[wi, col])
            uf = uframes[u]
            u_across[u] = uf.across[idx]
            u_along[u] = uf.along[idx]
            ks = []
            members_ = uf.expand(idx)
            for k, ra, rl, sa, sl, fi, r0, rw in members_:
                fp[k] = frames[k].src[fi]
                across[k], along[k], rel_a[k], rel_l[k], unit_of[k] = sa, sl, ra, rl, u
                if len(members_) > 1 and rw > sa:
                    room[k] = (r0, rw)
                ks.append(k)
            unit_kernels[u] = np.array(ks, dtype=np.int64)
    return _Layout(widths, members, u_across, u_along, unit_of, rel_a, rel_l, fp, across,
                   along, unit_kernels, room)


def _stretch(lay: _Layout, problem: PlacementProblem, sizer: Sizer, tn: int,
             transpose: bool) -> None:
    """Widen every kernel that is a unit of its own across its strip, one execution
    parameter at a time (the largest value whose rectangle still fits the strip, no
    longer along it, within the budget and the memory): the stacks do not grow and no
    time goes over the budget, but a small kernel (a layer norm) then touches the wide
    ones around it."""
    foots = sizer.footprints(tn)
    limit = sizer.time(tn)
    for s, us in enumerate(lay.members):
        for u in us:
            if len(lay.unit_kernels[u]) == 1:
                jobs = [(int(lay.unit_kernels[u][0]), None, lay.strip_width[s])]
            else:
                jobs = [(k, r0, rw) for k, (r0, rw) in lay.room.items() if lay.unit_of[k] == u]
            for k, r0, width in jobs:
                if lay.across[k] < width:
                    _widen(lay, problem, foots[k], k, u, r0, width, limit, transpose)


def _widen(lay: _Layout, problem: PlacementProblem, f, k: int, u: int, r0: int | None,
           width: int, limit: Fraction, transpose: bool) -> None:
    """Widen kernel k up to `width` across (see `_stretch`); `r0`: where its room starts
    in its unit (None: the unit is the kernel alone)."""
    model = problem.kernels[k].model
    i = int(lay.fp[k])
    params, rot = [int(v) for v in f.params[i]], bool(f.rotated[i])

    def sizes(ps):
        h, w = model.shape(tuple(ps))
        fw, fh = (h, w) if rot else (w, h)
        return (fh, fw) if transpose else (fw, fh)      # (across, along)

    along0 = int(lay.along[k])
    for j, top in enumerate(model.param_ranges()):
        lo, hi = params[j], int(top)
        while lo < hi:                                   # the widest that fits
            mid = (lo + hi + 1) // 2
            if sizes(params[:j] + [mid] + params[j + 1:])[0] <= width:
                lo = mid
            else:
                hi = mid - 1
        trial = params[:j] + [lo] + params[j + 1:]
        ca, cl = sizes(trial)
        if lo == params[j] or ca <= sizes(params)[0] or cl > along0:
            continue
        t = tuple(trial)
        if model.check_params(t) or model.time(t) > limit or \
                model.memory(t) > problem.memory_limit:
            continue
        params = trial
    ca, cl = sizes(params)
    if ca <= lay.across[k]:
        return
    lay.stretched[k] = (tuple(params), rot)
    lay.across[k], lay.along[k] = ca, cl
    if r0 is None:
        lay.u_across[u], lay.u_along[u] = ca, cl
    else:
        lay.rel_a[k] = r0 + (width - ca) // 2


class _WireEval:
    """Weighted wire length of arrangements, vectorised over the edges: L1 between centres
    (``wire="centre"``) or hops, 1 + the L1 gap between facing edges (``wire="hops"``)."""

    def __init__(self, problem: PlacementProblem):
        index = problem.index()
        self.src = np.array([index[e.src] for e in problem.edges], dtype=np.int64)
        self.dst = np.array([index[e.dst] for e in problem.edges], dtype=np.int64)
        self.w = np.array([e.weight for e in problem.edges], dtype=np.float64)
        self.n = len(problem.kernels)
        self.hops = problem.wire == "hops"
        self.need: np.ndarray | None = None

    def set_stage(self, link_bytes: float, stage: float) -> None:
        """Links of common boundary each edge needs to cross in one hop (0: not modelled)."""
        cap = link_bytes * stage
        self.need = self.w / cap if cap > 0 else np.zeros_like(self.w)

    def wire(self, ca: np.ndarray, cl: np.ndarray, sa: np.ndarray | None = None,
             sl: np.ndarray | None = None, edges: np.ndarray | None = None) -> float:
        """`ca`, `cl`: centres across and along; `sa`, `sl`: sizes (needed for hops);
        `edges`: only these edges (all by default)."""
        if self.src.size == 0:
            return 0.0
        if not self.hops:
            da = np.abs(ca[self.src] - ca[self.dst])
            dl = np.abs(cl[self.src] - cl[self.dst])
            return float(np.sum(self.w * (da + dl)))
        if edges is None:
            return float(np.sum(self.w * self.edge_hops(ca, cl, sa, sl)))
        return float(np.sum(self.w[edges] * self.edge_hops(ca, cl, sa, sl, edges)))

    def edge_hops(self, ca, cl, sa, sl, edges: np.ndarray | None = None) -> np.ndarray:
        """Each edge's hop estimate: 1 + the gap between the facing edges; two rectangles
        that touch along fewer links than the flow needs send the rest round, which costs
        about the smaller one's size (square root of its area) for that share."""
        s, d = self.src, self.dst
        need = self.need
        if edges is not None:
            s, d = s[edges], d[edges]
            need = need[edges] if need is not None else None
        # overlap of the two extents on each axis (negative: the gap)
        oa = np.minimum(ca[s] + sa[s] / 2, ca[d] + sa[d] / 2) - \
            np.maximum(ca[s] - sa[s] / 2, ca[d] - sa[d] / 2)
        ol = np.minimum(cl[s] + sl[s] / 2, cl[d] + sl[d] / 2) - \
            np.maximum(cl[s] - sl[s] / 2, cl[d] - sl[d] / 2)
        gap = np.maximum(0.0, -oa) + np.maximum(0.0, -ol)
        hops = 1.0 + gap
        if need is not None and need.any():
            contact = np.where(np.abs(ol) < 1e-9, np.maximum(oa, 0.0),
                               np.where(np.abs(oa) < 1e-9, np.maximum(ol, 0.0), 0.0))
            short = np.clip(1.0 - contact / np.maximum(need, 1e-12), 0.0, 1.0)
            short = np.where(gap > 0, 0.0, short)
            small = sa[s] * sl[s] <= sa[d] * sl[d]
            detour = np.where(small, np.maximum(sa[s], sl[s]), np.maximum(sa[d], sl[d]))
            hops = hops + short * detour
        return hops



@dataclass
class _Arrangement:
    """Where the strips go: their left-to-right order, direction, offsets along the stack,
    and the position (in `perm`) before which the spare width is left empty."""

    perm: list[int]
    flip: list[bool]
    offset: list[int]
    spare_at: int = 0
    stacks: list[np.ndarray] | None = None     # each strip's kernels, bottom first (unflipped)

    def copy(self) -> "_Arrangement":
        return _Arrangement(list(self.perm), list(self.flip), list(self.offset), self.spare_at,
                            list(self.stacks) if self.stacks is not None else None)


def _corners(lay: _Layout, arr: _Arrangement, spare: int) -> tuple[np.ndarray, np.ndarray]:
    """Each kernel's lower corner (across, along); units are centred in their strip, and a
    turned strip turns its units round too."""
    U = lay.u_along.shape[0]
    ua0 = np.zeros(U, dtype=np.int64)
    ul0 = np.zeros(U, dtype=np.int64)
    turned = np.zeros(U, dtype=bool)
    pos = 0
    for rank, s in enumerate(arr.perm):
        if rank == arr.spare_at:
            pos += spare
        own = arr.stacks[s] if arr.stacks is not None else lay.members[s]
        us = own[::-1] if arr.flip[s] else own
        sizes = lay.u_along[us]
        ul0[us] = arr.offset[s] + np.cumsum(sizes) - sizes
        ua0[us] = pos + (lay.strip_width[s] - lay.u_across[us]) // 2
        turned[us] = arr.flip[s]
        pos += lay.strip_width[s]
    u = lay.unit_of
    rel_l = np.where(turned[u], lay.u_along[u] - lay.rel_l - lay.along, lay.rel_l)
    return ua0[u] + lay.rel_a, ul0[u] + rel_l


def _improve(lay: _Layout, ev: _WireEval, along_total: int, across_total: int,
             deadline: float, start: "_Arrangement | None" = None, reorder_units: bool = False
             ) -> tuple[np.ndarray, np.ndarray, "_Arrangement"]:
    """Local search over strip order, direction, offsets, where the spare width goes and
    (with `reorder_units`) the order of the units inside each strip, on the real weighted
    wire length. Starts from `start`, or a snake (alternate strips reversed). Reordering a
    strip's stack keeps its length, so every arrangement is legal and no time changes."""
    S = len(lay.members)
    stack = lay.stacks
    spare = across_total - sum(lay.strip_width)
    flip = [s % 2 == 1 for s in range(S)]
    arr = start.copy() if start is not None else _Arrangement(
        list(range(S)), flip, [along_total - stack[s] if flip[s] else 0 for s in range(S)],
        stacks=[m.copy() for m in lay.members])
    half_a, half_l = lay.across / 2, lay.along / 2
    # the edges each strip's kernels take part in: what reordering that strip changes
    strip_edges = []
    for m in lay.members:
        inside = np.zeros(ev.n, bool)
        for u in m:
            inside[lay.unit_kernels[u]] = True
        strip_edges.append(np.flatnonzero(inside[ev.src] | inside[ev.dst]))

    def cost(a: _Arrangement) -> float:
        a0, l0 = _corners(lay, a, spare)
        return ev.wire(a0 + half_a, l0 + half_l, lay.across, lay.along)

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
                cl = l0 + half_l
                inside = np.zeros(ev.n, bool)
                for u in a.stacks[s]:
                    inside[lay.unit_kernels[u]] = True
                cut = inside[ev.src] != inside[ev.dst]
                trial = {0, room}
                if cut.any():
                    mine = np.where(inside[ev.src[cut]], ev.src[cut], ev.dst[cut])
                    theirs = np.where(inside[ev.src[cut]], ev.dst[cut], ev.src[cut])
                    gap = np.zeros(mine.size)
                    if ev.hops:         # hops change slope where the facing edges meet
                        gap = (lay.along[mine] + lay.along[theirs]) / 2
                    for g in (-gap, 0 * gap, gap):
                        want = np.clip(np.floor(cl[theirs] + g - cl[mine] + a.offset[s]),
                                       0, room)
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

    def reorder(a: _Arrangement, best: float) -> tuple[_Arrangement, float, bool]:
        # move one unit up to REORDER_REACH places along its strip's stack; only the
        # strip's own edges change
        changed = False
        for s in range(S):
            m = len(a.stacks[s])
            if m < 3 or strip_edges[s].size == 0:
                continue
            edges = strip_edges[s]

            def part(b: _Arrangement) -> float:
                a0, l0 = _corners(lay, b, spare)
                return ev.wire(a0 + half_a, l0 + half_l, lay.across, lay.along, edges)

            here = part(a)
            for i in range(m):
                if _time.monotonic() > deadline:
                    return a, best, changed
                for j in range(max(0, i - REORDER_REACH), min(m, i + REORDER_REACH + 1)):
                    if j == i:
                        continue
                    order = list(a.stacks[s])
                    order.insert(j, order.pop(i))
                    b = a.copy()
                    b.stacks[s] = np.array(order, dtype=np.int64)
                    v = part(b)
                    if v < here - 1e-9:
                        best, a, here, changed = best - (here - v), b, v, True
        return a, best, changed

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
        if reorder_units:
            arr, best, moved = reorder(arr, best)
            improved = improved or moved
        if improved:
            arr, best = settle_offsets(arr)
    a0, l0 = _corners(lay, arr, spare)
    return a0, l0, arr


# --- the search -------------------------------------------------------------------

def place(problem: PlacementProblem, *, time_weight: float = 1.0, wire_weight: float = 0.0,
          budget: Fraction | None = None, time_limit: float | None = 8.0,
          min_strip: int = 1, time_slack: float | None = None) -> Placement:
    """Size and place every kernel of `problem`; raise `PlacementError` if it cannot fit.

    The time budget is the smallest the strip packer reaches (or `budget` if
    given). With `wire_weight` > 0 a few slightly larger budgets are tried too,
    keeping the one with the least ``time_weight * max_time + wire_weight * wire``.
    `time_limit` (seconds) bounds the local search; None runs it to the end (deterministic).
    `min_strip` is the narrowest strip allowed: consecutive kernels of a strip share a
    boundary about that wide, which bounds the bandwidth between them.
    For a hop-minded problem (``problem.wire == "hops"``) the layout may be up to
    `time_slack` (default `HOP_TIME_SLACK`) slower than the fastest found, when its flows
    route in fewer hops (the module docstring, steps 5 to 8).
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
    tried: list[_Try] = []

    # Hop-minded problems also try branch groups (groups.py): tiers of parallel kernels,
    # then residual blocks too; the shortest wire among the layouts wins.
    groupings: list[list[Unit] | None] = [None]
    if problem.wire == "hops":
        for blocks in (False, True):
            units = find_units(problem, order, blocks)
            if len(units) < n and units not in groupings:
                groupings.append(units)

    def attempt(tn: int, transpose: bool, until: float) -> None:
        nonlocal best
        got = strips_at(tn, transpose)
        if got is None:
            return
        st0, frames = got
        across, along = ((problem.height, problem.width) if transpose
                         else (problem.width, problem.height))
        tries = []
        for units in groupings:
            if units is None:              # every kernel its own unit
                st, uframes = st0, [unit_frame(leaf(k), frames.__getitem__) for k in range(n)]
            else:
                uframes = [unit_frame(u, frames.__getitem__) for u in units]
                if any(f is None for f in uframes):
                    continue
                st = _Strips(uframes, list(range(len(units))), across, along, min_strip)
            splits = st.wire_splits(across)
            if not splits:
                res = st.min_total_width()
                if res is None or res[0] > across:
                    continue
                splits = [res[1]]
            tries += [(st, uframes, groups) for groups in splits]
        for k, (st, uframes, groups) in enumerate(tries):
            lay = _make_layout(st, uframes, frames, groups)
            if problem.wire == "hops":
                _stretch(lay, problem, sizer, tn, transpose)
                ev.set_stage(problem.link_bytes, float(sizer.time(tn)))
            now = _time.monotonic()
            a0, l0, arr = _improve(lay, ev, along, across,
                                   now + (until - now) / (len(tries) - k))
            t = finish(_Try(0.0, {}, tn, transpose, len(lay.members), Fraction(0), Fraction(0),
                            layout=(lay, arr, along, across)), a0, l0)
            tried.append(t)
            # equal scores (wire_weight = 0): the shorter wire wins
            if best is None or (t.score, t.wire) < (best.score, best.wire):
                best = t

    def finish(t: _Try, a0, l0) -> _Try:
        lay = t.layout[0]
        t.placed = _to_placed(problem, sizer, t.tn, lay, a0, l0, t.transpose)
        t.max_time = max(p.time for p in t.placed.values())
        if problem.wire == "centre":
            t.wire = wire_length(problem, t.placed)
        else:
            ev.set_stage(problem.link_bytes, float(t.max_time))
            t.wire = ev.wire(a0 + lay.across / 2, l0 + lay.along / 2, lay.across, lay.along)
        t.score = time_weight * t.max_time + wire_weight * t.wire
        return t

    def polish(t: _Try) -> _Try:
        """A promising layout with the units of its strips reordered too."""
        lay, arr, along, across = t.layout
        ev.set_stage(problem.link_bytes, float(sizer.time(t.tn)))
        a0, l0, arr = _improve(lay, ev, along, across, deadline, arr, reorder_units=True)
        return finish(_Try(0.0, {}, t.tn, t.transpose, t.strips, Fraction(0), Fraction(0),
                           layout=(lay, arr, along, across)), a0, l0)

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
    if problem.wire == "hops" and budget is None and best is not None:
        # a little more time buys shorter flows: try the budgets within the slack, then
        # route the most promising layouts and keep the one whose flows go fewest hops
        slack = HOP_TIME_SLACK if time_slack is None else time_slack
        for factor in HOP_BUDGETS:
            if factor > 1 + slack or _time.monotonic() > deadline:
                break
            for tr in orientations:
                now = _time.monotonic()
                attempt(math.floor(best_tn * factor), tr, now + max(0.1, (deadline - now) / 4))
        best = _routed_choice(problem, tried, slack, polish) or best
    if best is None:
        raise PlacementError(f"could not pack the {n} kernels on the "
                             f"{problem.width}x{problem.height} grid")
    stats = {"budget": sizer.time(best.tn), "strips": best.strips, "rows": best.transpose,
             "seconds": _time.monotonic() - start}
    if best.routed is not None:
        stats["routed_hops"], stats["over_capacity"] = best.routed
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
    routed: tuple[float, int] | None = None     # mean hops, bundles over capacity
    layout: tuple | None = None                 # (layout, arrangement, along, across)


# Budgets (times the smallest) a hop-minded placement tries, and how much slower than
# the fastest layout found the chosen one may be.
HOP_BUDGETS = (Fraction(1005, 1000), Fraction(101, 100), Fraction(102, 100),
               Fraction(103, 100), Fraction(104, 100), Fraction(105, 100))
HOP_TIME_SLACK = 0.05
# A layout x % slower than another must route its flows in about 10 x % fewer hops.
HOP_WEIGHT = 0.1
HOP_POLISHED = 3          # routed layouts whose strips are then reordered
REORDER_REACH = 8         # places a unit may move along its strip in one step


def _routed_choice(problem: PlacementProblem, tried: list[_Try], slack: float, polish
                   ) -> _Try | None:
    """Route every layout at most `slack` slower than the fastest; polish the
    `HOP_POLISHED` best (`polish`: reorder their strips' units) and route them again; keep
    the one with no bundle over capacity, then the least ``max time * mean hops **
    HOP_WEIGHT``, then the fastest."""
    from .route import Flow, Rect, route
    if not tried or problem.link_bytes <= 0:
        return None
    flows = [Flow(e.src, e.dst, float(e.weight)) for e in problem.edges]

    def routed(t: _Try) -> _Try:
        rects = [Rect(p.name, p.x, p.y, *p.footprint) for p in t.placed.values()]
        r = route(problem.width, problem.height, rects, flows,
                  problem.link_bytes * float(t.max_time), problem.channels_per_link).report()
        t.routed = (float(r["mean_hops"]), int(r["over_capacity"]))
        return t

    def key(t: _Try):
        return (t.routed[1] > 0, float(t.max_time) * max(t.routed[0], 1.0) ** HOP_WEIGHT,
                t.max_time, t.wire)

    fastest = min(t.max_time for t in tried)
    pool = [routed(t) for t in tried if t.max_time <= fastest * Fraction(1 + slack)]
    pool.sort(key=key)
    pool += [routed(polish(t)) for t in pool[:HOP_POLISHED]]
    return min(pool, key=key)


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
        if k in lay.stretched:
            params, rotated = lay.stretched[k]
        else:
            f = foots[k]
            i = int(lay.fp[k])
            params = tuple(int(v) for v in f.params[i])
            rotated = bool(f.rotated[i])
        x, y = (int(l0[k]), int(a0[k])) if transpose else (int(a0[k]), int(l0[k]))
        shape = kern.model.shape(params)
        out[kern.name] = PlacedKernel(kern.name, params, x, y, rotated, shape,
                                      kern.model.time(params))
    return out
