"""Branch groups: kernels the strip placer lays side by side instead of stacking them.

The strip placer stacks kernels in dataflow order, so a flow that skips kernels
(a residual connection, a fork to several consumers) crosses the ones in
between. A *unit* is what the strips stack: one kernel, or a group of kernels
arranged as a small slicing floorplan:

- **tier** (``par``): consecutive kernels of the order with the same producers
  and the same consumers (an attention layer's query, key and value), side by
  side across the strip: the producer below touches all of them, the consumer
  above too;
- **block** (``par`` of a ``ser`` and a kernel): a single-entry region of the
  order between a kernel ``s`` and a kernel ``t`` that ``s`` also feeds
  directly (a residual block: the branch, then the join). The branch is
  stacked in one column and ``t`` stands beside it, so the skip flow ``s ->
  t`` and the branch's last flow into ``t`` both cross one boundary.

A unit's *frame* is its shape curve in strip coordinates: the Pareto set of
(across, along) sizes, each with the choice of every member's own footprint
(Stockmeyer's combination: side by side adds the across sizes and takes the
largest along; stacked, the reverse). `UnitFrame.expand(i)` gives the
members' rectangles relative to the unit's corner at point `i`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .problem import PlacementProblem


@dataclass(frozen=True)
class Unit:
    """A kernel (`kernel` >= 0) or a group: ``par`` (side by side across the strip) or
    ``ser`` (stacked along it) of `children`."""

    kind: str                     # "k", "par" or "ser"
    kernel: int = -1
    children: tuple["Unit", ...] = ()

    def kernels(self) -> list[int]:
        if self.kind == "k":
            return [self.kernel]
        return [k for c in self.children for k in c.kernels()]


def leaf(k: int) -> Unit:
    """The unit of kernel `k` alone."""
    return Unit("k", k)


def find_units(problem: PlacementProblem, order: list[int], blocks: bool = True
               ) -> list[Unit]:
    """The order cut into units: tiers of parallel kernels, then (with `blocks`) residual
    blocks, innermost first (see the module docstring)."""
    n = len(problem.kernels)
    index = problem.index()
    preds: list[set[int]] = [set() for _ in range(n)]
    succs: list[set[int]] = [set() for _ in range(n)]
    for e in problem.edges:
        a, b = index[e.src], index[e.dst]
        if a != b:
            preds[b].add(a)
            succs[a].add(b)
    units: list[Unit] = []
    i = 0
    while i < len(order):                                    # tiers
        k = order[i]
        j = i + 1
        while (j < len(order) and preds[k] and succs[k] and preds[order[j]] == preds[k]
               and succs[order[j]] == succs[k]):
            j += 1
        units.append(leaf(k) if j == i + 1 else
                     Unit("par", children=tuple(leaf(x) for x in order[i:j])))
        i = j
    if not blocks:
        return units
    out: list[Unit] = []
    for u in units:
        out.append(u)
        if u.kind != "k":
            continue
        t = u.kernel
        # the nearest earlier unit (not the one just before) that feeds t directly
        pos = {k: p for p, v in enumerate(out) for k in v.kernels()}
        feeders = sorted({pos[s] for s in preds[t] if s in pos and pos[s] < len(out) - 2},
                         reverse=True)
        for q in feeders[:1]:
            region = out[q + 1:-1]
            inside = {k for v in region for k in v.kernels()}
            src = set(out[q].kernels())
            closed = all(preds[k] <= inside | src and succs[k] <= inside | {t}
                         for k in inside)
            if closed and preds[t] <= inside | src:
                branch = region[0] if len(region) == 1 else Unit("ser", children=tuple(region))
                out[q + 1:] = [Unit("par", children=(branch, u))]
    return out


@dataclass
class UnitFrame:
    """A unit's shape curve in strip coordinates: `across` increasing, `along` decreasing;
    `pick[i]` the children's point indices at point i (a leaf: its frame's index)."""

    unit: Unit
    across: np.ndarray
    along: np.ndarray
    src: np.ndarray
    children: list["UnitFrame"] = field(default_factory=list)
    pick: np.ndarray | None = None

    def expand(self, i: int) -> list[tuple[int, ...]]:
        """The members at point `i`: (kernel, across offset, along offset, across size,
        along size, index into the kernel's own frame, across offset and size of the room
        it may widen into: a stacked member, the whole stack's width)."""
        if self.unit.kind == "k":
            a = int(self.across[i])
            return [(self.unit.kernel, 0, 0, a, int(self.along[i]), i, 0, a)]
        out = []
        pos = 0
        width = int(self.across[i])
        for c, ci in zip(self.children, self.pick[i]):
            ca, cl = int(c.across[ci]), int(c.along[ci])
            for k, ra, rl, sa, sl, fi, r0, rw in c.expand(int(ci)):
                if self.unit.kind == "par":        # side by side, from the start
                    out.append((k, pos + ra, rl, sa, sl, fi, pos + r0, rw))
                else:                              # stacked, centred across
                    shift = (width - ca) // 2
                    if c.unit.kind == "k":
                        r0, rw = -shift, width     # a kernel may widen to the stack's width
                    out.append((k, shift + ra, pos + rl, sa, sl, fi, shift + r0, rw))
            pos += ca if self.unit.kind == "par" else cl
        return out


def unit_frame(unit: Unit, leaf) -> UnitFrame | None:
    """The shape curve of `unit`; `leaf(k)` gives kernel k's frame (across, along, src).
    None when a member has no footprint."""
    if unit.kind == "k":
        fr = leaf(unit.kernel)
        if fr is None or len(fr.across) == 0:
            return None
        return UnitFrame(unit, fr.across, fr.along, np.arange(len(fr.across)))
    kids = [unit_frame(c, leaf) for c in unit.children]
    if any(c is None for c in kids):
        return None
    if unit.kind == "ser":
        # every width: each child its lowest footprint no wider
        lo = max(int(c.across[0]) for c in kids)
        cand = np.unique(np.concatenate([c.across for c in kids]))
        cand = cand[cand >= lo]
        idx = np.stack([np.searchsorted(c.across, cand, side="right") - 1 for c in kids], 1)
        across = np.max(np.stack([c.across[idx[:, j]] for j, c in enumerate(kids)], 1), 1)
        along = np.sum(np.stack([c.along[idx[:, j]] for j, c in enumerate(kids)], 1), 1)
    else:
        # every height: each child its narrowest footprint no longer
        lo = max(int(c.along[-1]) for c in kids)
        cand = np.unique(np.concatenate([c.along for c in kids]))
        cand = cand[cand >= lo]
        idx = np.stack([len(c.along) - np.searchsorted(c.along[::-1], cand, side="right")
                        for c in kids], 1)
        across = np.sum(np.stack([c.across[idx[:, j]] for j, c in enumerate(kids)], 1), 1)
        along = np.max(np.stack([c.along[idx[:, j]] for j, c in enumerate(kids)], 1), 1)
    keep = _pareto(across, along)
    return UnitFrame(unit, across[keep], along[keep], np.arange(int(keep.size)), kids,
                     idx[keep])


def _pareto(across: np.ndarray, along: np.ndarray) -> np.ndarray:
    """Indices of the points no other beats in both sizes, by increasing across."""
    order = np.lexsort((along, across))
    keep = []
    best = None
    for i in order:
        if best is None or along[i] < best:
            keep.append(i)
            best = along[i]
    return np.array(keep, dtype=np.int64)
