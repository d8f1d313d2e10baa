"""The placer on small grids: every placement legal (checked here from the parameters),
never faster than the lower bound, and errors when nothing fits."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from compiler.errors import PlacementError
from compiler.place.ispd import cblock_model, dblock_model
from compiler.place.kernel_models import ConvModel
from compiler.place.placer import check_placement, dataflow_order, place
from compiler.place.problem import Edge, Kernel, PlacementProblem
from compiler.target import get_target


def conv_parts(model):
    return [(p.H, p.W, p.R, p.S, p.C, p.K, p.T, p.den) for p in model.parts]


def independent_check(problem: PlacementProblem, placement) -> None:
    """Bounds, overlaps (by painting the grid), memory and time, from the parameters alone."""
    grid = np.zeros((problem.height, problem.width), dtype=np.int32)
    for k in problem.kernels:
        p = placement.kernels[k.name]
        parts = conv_parts(k.model)
        n = len(parts)
        h, w = p.params[0], p.params[1]
        cs, ks = p.params[2:2 + n], p.params[2 + n:]
        assert min(p.params) >= 1
        height, width = h * w * (max(cs) + 1), 3 * sum(ks)
        fw, fh = (height, width) if p.rotated else (width, height)
        assert 0 <= p.x and p.x + fw <= problem.width, k.name
        assert 0 <= p.y and p.y + fh <= problem.height, k.name
        grid[p.y:p.y + fh, p.x:p.x + fw] += 1
        time = Fraction(0)
        for (H, W, R, S, C, K, T, den), c, kk in zip(parts, cs, ks):
            t = Fraction(math.ceil(H / (den * h)) * math.ceil(W / (den * w)) * math.ceil(C / c)
                         * math.ceil(K / kk) * R * S, T * T)
            mem = (Fraction(C * K * R * S, c * kk)
                   + (Fraction(W, den) + S - 1) / w * (Fraction(H, den) + R - 1) / h
                   * Fraction(K, kk))
            assert mem <= problem.memory_limit, k.name
            time = max(time, t)
        assert time == p.time
    assert grid.max() <= 1, "kernels overlap"


def random_problem(seed: int, width: int, height: int, n: int) -> PlacementProblem:
    rng = np.random.default_rng(seed)
    kernels = []
    for i in range(n):
        kind = rng.integers(0, 4)
        if kind == 0:
            m = dblock_model(int(rng.choice([2, 4, 7])), int(rng.choice([2, 4, 7])),
                             int(rng.choice([8, 16])))
        elif kind == 1:
            m = cblock_model(int(rng.choice([4, 6])), int(rng.choice([4, 6])), 8)
        else:
            m = ConvModel.single(int(rng.integers(1, 9)), int(rng.integers(1, 9)),
                                 int(rng.choice([1, 3])), int(rng.choice([1, 3])),
                                 int(rng.integers(1, 17)), int(rng.integers(1, 17)),
                                 int(rng.choice([1, 2])))
        kernels.append(Kernel(f"k{i}", m))
    edges = [Edge(f"k{i}", f"k{i + 1}") for i in range(n - 1)]
    edges += [Edge(f"k{i}", f"k{i + 3}", 2.0) for i in range(0, n - 3, 4)]     # skips
    return PlacementProblem(kernels, edges, width, height, 400)


@pytest.mark.parametrize("seed, width, height, n", [
    (0, 40, 40, 6), (1, 48, 32, 10), (2, 30, 60, 8), (3, 64, 64, 24), (4, 36, 36, 12),
])
def test_random_placements_are_legal(seed, width, height, n):
    problem = random_problem(seed, width, height, n)
    pl = place(problem, wire_weight=1.0, time_limit=2.0)
    independent_check(problem, pl)
    assert check_placement(problem, pl) == []
    assert pl.max_time >= pl.lower_bound
    assert pl.wire_length() >= 0


def test_a_chain_on_a_test_mesh_fits_near_its_bound():
    t = get_target("48x48")
    ks = [Kernel(f"c{i}", ConvModel.single(8, 8, 3, 3, 8, 8, 1)) for i in range(6)]
    es = [Edge(f"c{i}", f"c{i + 1}") for i in range(5)]
    problem = PlacementProblem.on_target(ks, es, t)
    pl = place(problem)
    independent_check(problem, pl)
    assert pl.lower_bound <= pl.max_time <= Fraction(3, 2) * pl.lower_bound
    assert pl.bottleneck() in {k.name for k in ks}


def test_a_given_budget_is_met_and_one_below_the_bound_refused():
    problem = random_problem(7, 40, 40, 5)
    lb = place(problem).lower_bound
    pl = place(problem, budget=2 * lb)
    independent_check(problem, pl)
    assert pl.max_time <= 2 * lb
    with pytest.raises(PlacementError, match="below the lower bound"):
        place(problem, budget=lb - 1)


def test_too_many_kernels_for_the_grid_is_an_error():
    ks = [Kernel(f"c{i}", ConvModel.single(8, 8, 3, 3, 16, 16, 1)) for i in range(40)]
    with pytest.raises(PlacementError):
        place(PlacementProblem(ks, [], 12, 12, 300))


def test_check_placement_reports_overlap_and_bounds():
    problem = random_problem(0, 40, 40, 6)
    pl = place(problem)
    names = [k.name for k in problem.kernels]
    a, b = pl.kernels[names[0]], pl.kernels[names[1]]
    moved = dict(pl.kernels)
    moved[names[1]] = type(b)(b.name, b.params, a.x, a.y, b.rotated, b.shape, b.time)
    moved[names[2]] = type(b)(names[2], pl.kernels[names[2]].params, 39, 39,
                              pl.kernels[names[2]].rotated, pl.kernels[names[2]].shape,
                              pl.kernels[names[2]].time)
    bad = check_placement(problem, type(pl)(problem, moved))
    assert any("overlap" in v for v in bad)
    assert any("leaves the 40x40 grid" in v for v in bad)


def test_dataflow_order_is_topological_and_follows_chains():
    ks = [Kernel(n, ConvModel.single(2, 2, 1, 1, 2, 2, 1)) for n in "abcdef"]
    es = [Edge("a", "b"), Edge("b", "d"), Edge("a", "c"), Edge("c", "d"), Edge("d", "e"),
          Edge("f", "e")]
    problem = PlacementProblem(ks, es, 20, 20, 100)
    order = [problem.kernels[i].name for i in dataflow_order(problem)]
    assert sorted(order) == list("abcdef")
    pos = {n: i for i, n in enumerate(order)}
    for e in es:
        assert pos[e.src] < pos[e.dst]
    assert pos["b"] == pos["a"] + 1          # a's successor follows it
