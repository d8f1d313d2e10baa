"""Hop-minded placement: branch groups (tiers, residual blocks), their shape curves, the
widening of small kernels, reordering inside strips, and the routed choice of a layout."""
from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np

from compiler.place import placer
from compiler.place.groups import Unit, find_units, leaf, unit_frame
from compiler.place.kernel_models import ConvModel
from compiler.place.placer import check_placement, dataflow_order, hop_length, place
from compiler.place.problem import Edge, Kernel, PlacementProblem
from compiler.place.sizing import Sizer


def conv(c: int, k: int, r: int = 3) -> ConvModel:
    return ConvModel.single(8, 8, r, r, c, k)


def residual_problem(width=40, height=40, blocks=2, wire="hops") -> PlacementProblem:
    """stem -> (a -> b -> join, stem -> join) x blocks: each join feeds the next block."""
    kernels = [Kernel("stem", conv(4, 8))]
    edges = []
    prev = "stem"
    for i in range(blocks):
        a, b, j = f"a{i}", f"b{i}", f"j{i}"
        kernels += [Kernel(a, conv(8, 4, 1)), Kernel(b, conv(4, 4)), Kernel(j, conv(4, 8, 1))]
        edges += [Edge(prev, a, 2000.0), Edge(a, b, 500.0), Edge(b, j, 500.0),
                  Edge(prev, j, 2000.0)]
        prev = j
    return PlacementProblem(kernels, edges, width, height, 400, wire=wire,
                            link_bytes=4.0 if wire == "hops" else 0.0)


def fork_problem() -> PlacementProblem:
    """src feeds q, k and v, which all feed mix; mix and src feed out."""
    names = ["src", "q", "k", "v", "mix", "out"]
    kernels = [Kernel(n, conv(4, 4)) for n in names]
    edges = [Edge("src", x, 100.0) for x in "qkv"] + [Edge(x, "mix", 100.0) for x in "qkv"]
    edges += [Edge("mix", "out", 100.0), Edge("src", "out", 100.0)]
    return PlacementProblem(kernels, edges, 40, 40, 400, wire="hops", link_bytes=4.0)


def names(problem, unit: Unit):
    if unit.kind == "k":
        return problem.kernels[unit.kernel].name
    return (unit.kind, tuple(names(problem, c) for c in unit.children))


def test_units_are_tiers_of_parallel_kernels_and_residual_blocks():
    p = fork_problem()
    order = dataflow_order(p)
    tiers = [names(p, u) for u in find_units(p, order, blocks=False)]
    assert tiers == ["src", ("par", ("q", "k", "v")), "mix", "out"]
    # out is fed by src directly and by the region {q, k, v, mix} that only src enters
    blocks = [names(p, u) for u in find_units(p, order, blocks=True)]
    assert blocks == ["src", ("par", (("ser", (("par", ("q", "k", "v")), "mix")), "out"))]
    r = residual_problem()
    units = [names(r, u) for u in find_units(r, dataflow_order(r), blocks=True)]
    assert units == ["stem", ("par", (("ser", ("a0", "b0")), "j0")),
                     ("par", (("ser", ("a1", "b1")), "j1"))]


def test_a_plain_chain_has_no_groups():
    kernels = [Kernel(f"k{i}", conv(4, 4)) for i in range(4)]
    edges = [Edge(f"k{i}", f"k{i + 1}") for i in range(3)]
    p = PlacementProblem(kernels, edges, 20, 20, 400, wire="hops")
    assert [u.kind for u in find_units(p, dataflow_order(p))] == ["k"] * 4


class _F:
    """A leaf frame as the placer builds it: across increasing, along decreasing."""

    def __init__(self, pts):
        self.across = np.array([a for a, _ in pts], dtype=np.int64)
        self.along = np.array([l for _, l in pts], dtype=np.int64)
        self.src = np.arange(len(pts))


def pareto(points):
    return sorted(p for p in points if not any(q != p and q[0] <= p[0] and q[1] <= p[1]
                                               for q in points))


def test_unit_frames_are_the_pareto_set_of_the_members_choices():
    leaves = [_F([(1, 9), (2, 5), (4, 3)]), _F([(2, 6), (3, 4), (6, 1)]),
              _F([(1, 7), (5, 2)])]
    for kind in ("par", "ser"):
        unit = Unit(kind, children=(leaf(0), leaf(1), leaf(2)))
        f = unit_frame(unit, leaves.__getitem__)
        combos = []
        for pick in itertools.product(*(range(len(x.across)) for x in leaves)):
            a = [int(x.across[i]) for x, i in zip(leaves, pick)]
            l = [int(x.along[i]) for x, i in zip(leaves, pick)]
            combos.append((sum(a), max(l)) if kind == "par" else (max(a), sum(l)))
        assert list(zip(f.across.tolist(), f.along.tolist())) == pareto(set(combos))
        for i in range(len(f.across)):              # the members tile the unit's box
            box = np.zeros((int(f.along[i]), int(f.across[i])), dtype=np.int64)
            for k, ra, rl, sa, sl, fi, r0, rw in f.expand(i):
                assert (sa, sl) == (leaves[k].across[fi], leaves[k].along[fi])
                assert ra >= 0 and rl >= 0
                box[rl:rl + sl, ra:ra + sa] += 1
            assert box.max() == 1
            assert box.sum() == sum(sa * sl for _, _, _, sa, sl, *_ in f.expand(i))


def test_hop_placements_are_legal_and_within_the_time_slack():
    for p in (residual_problem(), fork_problem(), residual_problem(30, 60, blocks=3)):
        fastest = place(p, time_limit=None, time_slack=0.0)
        assert check_placement(p, fastest) == []
        pl = place(p, time_limit=None)
        assert check_placement(p, pl) == []
        assert pl.max_time <= fastest.max_time * Fraction(1 + placer.HOP_TIME_SLACK)
        assert pl.max_time >= pl.lower_bound
        assert pl.stats["over_capacity"] == 0
        # the hop estimate is 1 per unit of weight when rectangles touch, never less
        assert hop_length(p, pl.kernels) >= sum(e.weight for e in p.edges)


def _layout(problem, grouped: bool, one_strip: bool = False):
    """A strip layout of `problem` at its smallest feasible budget, as place() builds it
    (or all in one strip, as wide as its widest kernel)."""
    sizer = Sizer(problem)
    order = dataflow_order(problem)
    for tn in range(sizer.lower_bound_tn(), sizer.max_tn() + 1):
        foots = sizer.footprints(tn)
        if any(f is None for f in foots):
            continue
        frames = [placer._frame(f, False) for f in foots]
        units = find_units(problem, order) if grouped else [leaf(k) for k in order]
        uframes = [unit_frame(u, frames.__getitem__) for u in units]
        st = placer._Strips(uframes, list(range(len(units))), problem.width, problem.height)
        if one_strip:
            wi = len(st.widths) - 1
            if st.pre[wi, -1] <= problem.height:
                return sizer, tn, placer._make_layout(st, uframes, frames,
                                                      [(0, len(units), wi)])
            continue
        res = st.min_total_width()
        if res is not None and res[0] <= problem.width:
            return sizer, tn, placer._make_layout(st, uframes, frames, res[1])
    raise AssertionError("no layout")


def test_reordering_a_strip_never_lengthens_the_wire_nor_changes_a_time():
    p = residual_problem(24, 60, blocks=3)
    ev = placer._WireEval(p)
    for grouped in (False, True):
        sizer, tn, lay = _layout(p, grouped)
        ev.set_stage(p.link_bytes, float(sizer.time(tn)))

        def wire(a0, l0):
            return ev.wire(a0 + lay.across / 2, l0 + lay.along / 2, lay.across, lay.along)

        a0, l0, arr = placer._improve(lay, ev, p.height, p.width, float("inf"))
        before = placer._to_placed(p, sizer, tn, lay, a0, l0, False)
        b0, m0, _ = placer._improve(lay, ev, p.height, p.width, float("inf"), arr,
                                    reorder_units=True)
        after = placer._to_placed(p, sizer, tn, lay, b0, m0, False)
        assert wire(b0, m0) <= wire(a0, l0) + 1e-9
        assert {k: v.time for k, v in after.items()} == {k: v.time for k, v in before.items()}
        assert check_placement(p, placer.Placement(p, after)) == []


def test_widening_keeps_the_stack_and_the_budget():
    # one strip as wide as its widest kernel: the narrower ones widen across it
    p = residual_problem(60, 60, blocks=1)
    sizer, tn, lay = _layout(p, grouped=False, one_strip=True)
    stacks = lay.stacks
    across = lay.across.copy()
    placer._stretch(lay, p, sizer, tn, False)
    assert all(new <= old for new, old in zip(lay.stacks, stacks))
    assert (lay.across >= across).all() and (lay.across > across).any()
    ev = placer._WireEval(p)
    a0, l0, _ = placer._improve(lay, ev, p.height, p.width, float("inf"))
    placed = placer._to_placed(p, sizer, tn, lay, a0, l0, False)
    assert check_placement(p, placer.Placement(p, placed)) == []
    assert max(k.time for k in placed.values()) <= sizer.time(tn)
