"""The contest's kernel models: conv, dblock and cblock arithmetic against hand-computed values,
and the fast candidate search against an exhaustive one written here."""
from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

from compiler.place.ispd import cblock_model, dblock_model
from compiler.place.kernel_models import ConvModel, ConvPart, KernelModel


def test_conv_from_the_contest_example():
    # k01 of the example solution: conv(H=14 W=14 R=1 S=1 C=1024 K=512 T=1), h=1 w=2 c=34 k=34
    m = ConvModel.single(14, 14, 1, 1, 1024, 512, 1)
    p = (1, 2, 34, 34)
    assert m.shape(p) == (1 * 2 * 35, 3 * 34)
    assert m.time(p) == 14 * 7 * 31 * 16                    # ceil(1024/34)=31, ceil(512/34)=16
    assert m.memory(p) == Fraction(131072, 289) + Fraction(426496, 289)   # 1929.3 words


def test_conv_with_stride_two_has_quarter_cycles():
    # H=W=14, 3x3, C=K=512, T=2; h=1 w=2 c=54 k=25
    m = ConvModel.single(14, 14, 3, 3, 512, 512, 2)
    p = (1, 2, 54, 25)
    assert m.shape(p) == (110, 75)
    assert m.time(p) == Fraction(14 * 7 * 10 * 21 * 9, 4)    # 46305
    assert m.memory(p) == Fraction(65536, 15)
    assert m.time_denominator() == 4


def test_dblock_is_three_convs_side_by_side():
    # "dblock( 56 56 256 6 6 4 4 4 32 64 29 )" from the entrant's results
    m = dblock_model(56, 56, 256)
    p = (6, 6, 4, 4, 4, 32, 64, 29)
    assert m.param_names == ("h", "w", "c1", "c2", "c3", "k1", "k2", "k3")
    assert m.shape(p) == (6 * 6 * 5, 3 * (32 + 64 + 29))
    # conv1 10*10*64*2 = 12800, conv2 10*10*16*1*9 = 14400, conv3 10*10*16*9 = 14400
    assert m.time(p) == 14400
    # conv3 holds the most: (256/29) * (16 + 3136/36)
    assert m.memory(p) == Fraction(237568, 261)


def test_cblock_runs_its_third_conv_at_half_resolution():
    # "cblock( 56 56 128 4 5 3 3 3 3 32 16 22 11 )"
    m = cblock_model(56, 56, 128)
    p = (4, 5, 3, 3, 3, 3, 32, 16, 22, 11)
    assert m.shape(p) == (4 * 5 * 4, 3 * (32 + 16 + 22 + 11))
    # conv1 3696, conv2 8316, conv3 7*6*11*6 = 2772, conv4 14*12*22*12/4 = 11088
    assert m.time(p) == 11088
    assert m.memory(p) == Fraction(342016, 165)             # conv4: 8192/33 + 401408/220
    assert m.parts[2] == ConvPart(56, 56, 1, 1, 32, 128, 1, den=2)


def test_check_params():
    m = dblock_model(14, 14, 64)
    assert m.check_params((1, 1, 1, 1, 1, 1, 1, 1)) is None
    assert "8 execution parameters" in m.check_params((1, 1, 1))
    assert ">= 1" in m.check_params((1, 1, 0, 1, 1, 1, 1, 1))


# --- the search, against plain loops over the formulas ---------------------------------

def conv_time(H, W, R, S, C, K, T, h, w, c, k, den=1):
    return Fraction(math.ceil(H / (den * h)) * math.ceil(W / (den * w)) * math.ceil(C / c)
                    * math.ceil(K / k) * R * S, T * T)


def conv_memory(H, W, R, S, C, K, T, h, w, c, k, den=1):
    return (Fraction(C, c) * Fraction(K, k) * R * S
            + (Fraction(W, den) + S - 1) / w * (Fraction(H, den) + R - 1) / h * Fraction(K, k))


def brute_pareto(H, W, R, S, C, K, T, t, mem, max_side, min_side):
    """All (height, width) of parameter choices meeting t and mem and fitting, Pareto-reduced."""
    pts = set()
    for h, w, c, k in itertools.product(range(1, H + 1), range(1, W + 1), range(1, C + 1),
                                        range(1, K + 1)):
        a, b = h * w * (c + 1), 3 * k
        if max(a, b) > max_side or min(a, b) > min_side:
            continue
        if conv_time(H, W, R, S, C, K, T, h, w, c, k) > t:
            continue
        if conv_memory(H, W, R, S, C, K, T, h, w, c, k) > mem:
            continue
        pts.add((a, b))
    return sorted(p for p in pts if not any(q != p and q[0] <= p[0] and q[1] <= p[1]
                                            for q in pts))


@pytest.mark.parametrize("seed", range(12))
def test_conv_candidates_reach_every_pareto_shape(seed):
    rng = np.random.default_rng(seed)
    H, W = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    C, K = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    R = int(rng.choice([1, 3]))
    T = int(rng.choice([1, 2]))
    mem = int(rng.integers(8, 120))
    max_side = int(rng.integers(12, 50))
    min_side = int(rng.integers(6, max_side + 1))
    m = ConvModel.single(H, W, R, R, C, K, T)
    slowest = Fraction(H * W * C * K * R * R, T * T)
    for t in (slowest, slowest / 3, slowest / 10, Fraction(1)):
        cand = m.candidates(t, mem, max_side, min_side)
        got = set(zip(cand.height.tolist(), cand.width.tolist()))
        got = sorted(p for p in got if not any(q != p and q[0] <= p[0] and q[1] <= p[1]
                                               for q in got))
        assert got == brute_pareto(H, W, R, R, C, K, T, t, mem, max_side, min_side)
        for row, tn in zip(cand.params.tolist(), cand.time_num.tolist()):
            h, w, c, k = row
            assert conv_time(H, W, R, R, C, K, T, h, w, c, k) <= t
            assert conv_memory(H, W, R, R, C, K, T, h, w, c, k) <= mem
            assert Fraction(tn, 4 if T == 2 else 1) == conv_time(H, W, R, R, C, K, T, h, w, c, k)


def test_dblock_candidates_match_exhaustive_search():
    # dblock(H=W=2, F=8): params h w c1 c2 c3 k1 k2 k3 over their full ranges
    m = dblock_model(2, 2, 8)
    parts = [(2, 2, 1, 1, 8, 2, 1), (2, 2, 3, 3, 2, 2, 1), (2, 2, 1, 1, 2, 8, 1)]
    mem, max_side, min_side = 40, 30, 20
    for t in (Fraction(64), Fraction(16), Fraction(9)):
        pts = set()
        for h, w in itertools.product((1, 2), (1, 2)):
            for cs in itertools.product(*(range(1, p[4] + 1) for p in parts)):
                for ks in itertools.product(*(range(1, p[5] + 1) for p in parts)):
                    a, b = h * w * (max(cs) + 1), 3 * sum(ks)
                    if max(a, b) > max_side or min(a, b) > min_side:
                        continue
                    if max(conv_time(*p, h, w, c, k) for p, c, k in zip(parts, cs, ks)) > t:
                        continue
                    if max(conv_memory(*p, h, w, c, k) for p, c, k in zip(parts, cs, ks)) > mem:
                        continue
                    pts.add((a, b))
        want = sorted(p for p in pts if not any(q != p and q[0] <= p[0] and q[1] <= p[1]
                                                for q in pts))
        cand = m.candidates(t, mem, max_side, min_side)
        got = set(zip(cand.height.tolist(), cand.width.tolist()))
        got = sorted(p for p in got if not any(q != p and q[0] <= p[0] and q[1] <= p[1]
                                               for q in got))
        assert got == want


# --- a model defined outside the contest, searched by the generic enumeration --------

class Stripes(KernelModel):
    """A toy kernel: p x q cores, each doing a 1/(p*q) share of `work`, holding `data`/(p*q)."""

    kind = "stripes"
    param_names = ("p", "q")

    def __init__(self, work: int, data: int):
        self.work, self.data = work, data

    def shape(self, params):
        return params[0], params[1]

    def time(self, params):
        return Fraction(math.ceil(self.work / (params[0] * params[1])))

    def memory(self, params):
        return Fraction(self.data, params[0] * params[1])

    def param_ranges(self):
        return (6, 6)


def test_a_generic_model_is_searched_exhaustively_and_placed():
    from compiler.place.placer import check_placement, place
    from compiler.place.problem import Edge, Kernel, PlacementProblem

    m = Stripes(work=100, data=40)
    cand = m.candidates(Fraction(10), mem_limit=5, max_side=5, min_side=4)
    want = {(p, q) for p in range(1, 7) for q in range(1, 7)
            if math.ceil(100 / (p * q)) <= 10 and Fraction(40, p * q) <= 5
            and max(p, q) <= 5 and min(p, q) <= 4}
    assert set(map(tuple, cand.params.tolist())) == want
    problem = PlacementProblem([Kernel("s1", m), Kernel("s2", Stripes(50, 10))],
                               [Edge("s1", "s2")], 5, 4, 5)
    pl = place(problem)
    assert check_placement(problem, pl) == []
    assert pl.max_time == max(k.model.time(pl.kernels[k.name].params) for k in problem.kernels)


def test_a_model_too_large_to_enumerate_says_so():
    class Huge(Stripes):
        def param_ranges(self):
            return (1000, 1000)

    with pytest.raises(NotImplementedError, match="override candidates"):
        Huge(10, 10).candidates(Fraction(10), 100, 50, 50)
