"""The lower bound on the pipeline's time, checked by brute force on a tiny instance."""
from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest

from compiler.errors import PlacementError
from compiler.place.ispd import dblock_model
from compiler.place.kernel_models import ConvModel
from compiler.place.problem import Edge, Kernel, PlacementProblem
from compiler.place.sizing import Sizer, min_area_sizing


def part_time(H, W, R, S, C, K, T, h, w, c, k):
    return Fraction(math.ceil(H / h) * math.ceil(W / w) * math.ceil(C / c) * math.ceil(K / k)
                    * R * S, T * T)


def part_memory(H, W, R, S, C, K, T, h, w, c, k):
    return (Fraction(C * K * R * S, c * k) + Fraction((W + S - 1) * (H + R - 1), w * h)
            * Fraction(K, k))


def all_choices(parts, grid_w, grid_h, mem):
    """(time, area) of every parameter tuple of a kernel made of `parts` sharing h, w."""
    H = max(p[0] for p in parts)
    W = max(p[1] for p in parts)
    out = []
    for h, w in itertools.product(range(1, H + 1), range(1, W + 1)):
        for cs in itertools.product(*(range(1, p[4] + 1) for p in parts)):
            for ks in itertools.product(*(range(1, p[5] + 1) for p in parts)):
                a, b = h * w * (max(cs) + 1), 3 * sum(ks)
                fits = (a <= grid_h and b <= grid_w) or (b <= grid_h and a <= grid_w)
                if not fits:
                    continue
                if max(part_memory(*p, h, w, c, k) for p, c, k in zip(parts, cs, ks)) > mem:
                    continue
                t = max(part_time(*p, h, w, c, k) for p, c, k in zip(parts, cs, ks))
                out.append((t, a * b))
    return out


GRID_W, GRID_H, MEM = 10, 10, 50
KERNELS = {
    "a": [(4, 4, 3, 3, 4, 4, 1)],
    "b": [(3, 2, 1, 1, 6, 5, 2)],
    "c": [(2, 2, 1, 1, 8, 2, 1), (2, 2, 3, 3, 2, 2, 1), (2, 2, 1, 1, 2, 8, 1)],   # dblock(2,2,8)
}


def tiny_problem(width=GRID_W, height=GRID_H, mem=MEM) -> PlacementProblem:
    ks = [Kernel("a", ConvModel.single(4, 4, 3, 3, 4, 4, 1)),
          Kernel("b", ConvModel.single(3, 2, 1, 1, 6, 5, 2)),
          Kernel("c", dblock_model(2, 2, 8))]
    return PlacementProblem(ks, [Edge("a", "b"), Edge("b", "c")], width, height, mem)


def brute_lower_bound():
    choices = {name: all_choices(parts, GRID_W, GRID_H, MEM) for name, parts in KERNELS.items()}
    times = sorted({t for cs in choices.values() for t, _ in cs})
    for T in times:
        total = 0
        for cs in choices.values():
            areas = [a for t, a in cs if t <= T]
            if not areas:
                total = None
                break
            total += min(areas)
        if total is not None and total <= GRID_W * GRID_H:
            return T
    return None


def test_lower_bound_matches_brute_force():
    want = brute_lower_bound()
    sizer = Sizer(tiny_problem())
    assert sizer.lower_bound() == want
    # the instance is one where area, not a single kernel's fit, sets the bound
    assert Fraction(sizer.check_each_fits(), sizer.den) < want


def test_min_total_area_per_budget_matches_brute_force():
    choices = [all_choices(parts, GRID_W, GRID_H, MEM) for parts in KERNELS.values()]
    sizer = Sizer(tiny_problem())
    for T in (Fraction(72), Fraction(144), Fraction(289, 1), Fraction(1000)):
        per = [[a for t, a in cs if t <= T] for cs in choices]
        want = None if any(not p for p in per) else sum(min(p) for p in per)
        assert sizer.min_total_area(sizer.tn_at_most(T)) == want


def test_min_area_sizing_meets_the_budget():
    p = tiny_problem()
    lb = Sizer(p).lower_bound()
    chosen = min_area_sizing(p, lb)
    for k in p.kernels:
        assert k.model.time(chosen[k.name]) <= lb
        assert k.model.memory(chosen[k.name]) <= MEM


def test_a_grid_too_small_for_the_slowest_kernels_is_an_error():
    with pytest.raises(PlacementError, match="at least 120 cores"):
        Sizer(tiny_problem(12, 9, 40)).lower_bound()


def test_a_kernel_that_never_fits_is_named():
    with pytest.raises(PlacementError, match="kernel 'a'") as err:
        Sizer(tiny_problem(9, 9, 30)).lower_bound()
    assert "hint:" in err.value.format()
