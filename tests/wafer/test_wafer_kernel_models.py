"""Kernel models of the IR's ops: arithmetic against hand-computed values, the partition of
sparse weights by nonzeros, and the candidate search against a brute force written here."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from compiler.place.kernel_graph import nnz_by_rows
from compiler.place.model_kernels import (AttentionModel, ContractionModel, CoreRates,
                                          ElementwiseModel, NormalizationModel, SparseProfile,
                                          useful_splits)

RATES = CoreRates(lanes=4, sram=24, word=2, link=4)


def cdiv(a, b):
    return -(-a // b)


def test_dense_matmul_by_hand():
    # Y[4, 9] = X[4, 10] W[10, 9]; m=2 replicas, k=3 reduction groups, n=2 output groups
    m = ContractionModel(4, 10, 9, RATES)
    ev = m.evaluate((2, 3, 2))
    # a core: 2 rows, 4 of the 10 inputs, 5 of the 9 outputs (5 outputs = 2 SIMD steps)
    assert ev["compute"] == 2 * (4 * 2)
    # SRAM: 20 MACs x 6 bytes + 5 partial sums received (k > 1) x 2 bytes, per row
    assert ev["sram"] == math.ceil(2 * (20 * 6 + 5 * 2) / 24)
    # port: the larger of 4 inputs and 5 outputs, 2 bytes each, per row, 4 bytes a cycle
    assert ev["port"] == math.ceil(2 * 10 / 4)
    # memory: the 4x5 block, double-buffered inputs and outputs, 16 words of bookkeeping
    assert ev["memory"] == 20 + 2 * 4 + 2 * 5 + 16
    assert ev["time"] == 16
    assert m.shape((2, 3, 2)) == (3, 4)
    assert ev["cores"] == 12


def test_sparse_weight_is_partitioned_by_nonzeros():
    # columns hold 6, 1, 1, 4 nonzeros: by nonzeros the two groups are {0} and {1, 2, 3}
    p = SparseProfile((6, 1, 1, 4))
    nz, cols = p.groups(2)
    assert nz.tolist() == [6, 6] and cols.tolist() == [1, 3]
    # (an equal split of the columns would give {0, 1} = 7 and {2, 3} = 5)
    # four groups: cut where the running count reaches 3, 6, 9 -> {0}, {}, {1, 2, 3}, {}
    assert p.groups(4)[0].tolist() == [6, 0, 6, 0]
    g, w = p.heaviest(np.array([1, 2, 4]))
    assert g.tolist() == [12, 6, 6] and w.tolist() == [4, 3, 3]
    m = ContractionModel(3, 6, 4, RATES, sparse=p)
    # k=2: each group's 6 nonzeros dealt 3 and 3; a core does 3 nonzero MACs per row
    ev = m.evaluate((1, 2, 2))
    assert ev["compute"] == 3 * cdiv(3, 4)
    assert ev["sram"] == cdiv(3 * (3 * 8 + 3 * 2 * 1), 24)     # 8 B per sparse MAC
    assert ev["memory"] == 2 * 3 + 3 + 2 * 3 + 2 * 3 + 16       # value+index, column ptrs
    grid = m.nnz_grid((1, 2, 2))
    assert grid.tolist() == [[3, 3], [3, 3]]


def test_nnz_by_rows_counts_blocks():
    rng = np.random.default_rng(3)
    w = (rng.random((10, 7)) < 0.3) * rng.standard_normal((10, 7))
    # rows cut in ceil(10/3)=4, columns in ceil(7/2)=4
    blocks = [np.count_nonzero(w[r:r + 4, c:c + 4]) for r in (0, 4, 8) for c in (0, 4)]
    assert nnz_by_rows(w, 3, 2, rows_axis_last=True) == max(blocks)


def test_attention_by_hand():
    m = AttentionModel(heads=2, queries=8, keys=8, dim=4, rates=RATES, ops=6)
    ev = m.evaluate((1, 2, 2))            # all heads, 2 query groups, 2 key groups
    units = 2 * 4                         # (head, query) pairs per core
    keys = 4
    per = cdiv(2 * 4 * keys, 4) + cdiv(6 * keys, 4) + (cdiv(4, 4) + 4)
    assert ev["compute"] == units * per
    assert ev["memory"] == 2 * keys * 2 * 4 + 3 * 4 + keys + 16
    assert m.shape((1, 2, 2)) == (2, 2)


def test_elementwise_and_normalization_by_hand():
    e = ElementwiseModel(1000, 3, RATES, sram_bytes=6, words=3, in_bytes=4, out_bytes=2)
    ev = e.evaluate((2, 5))               # 10 cores, 100 elements each
    assert (ev["compute"], ev["sram"], ev["port"]) == (cdiv(300, 4), cdiv(600, 24), 100)
    assert ev["memory"] == 300 + 16
    n = NormalizationModel(rows=6, length=50, ops=8, rates=RATES, inputs=1, params=2)
    ev = n.evaluate((3, 2))               # 2 rows, 25 elements each, a reduction across 2
    assert ev["compute"] == 2 * (cdiv(25 * 8, 4) + 4)
    assert ev["memory"] == 2 * 25 * 2 + 25 * 2 + 16


def test_useful_splits():
    assert useful_splits(10, 100).tolist() == [1, 2, 3, 4, 5, 10]
    assert useful_splits(10, 4).tolist() == [1, 2, 3, 4]


def _brute_min_area(M, K, N, t, mem_limit, side):
    """The smallest rectangle of any (m, k, n) with time <= t, memory within the limit."""
    best = None
    for m, k, n in itertools.product(range(1, M + 1), range(1, K + 1), range(1, N + 1)):
        h, w = k, m * n
        if max(h, w) > side:
            continue
        rows = cdiv(M, m)
        kc, nc = cdiv(K, k), cdiv(N, n)
        compute = rows * kc * cdiv(nc, 4)
        sram = cdiv(rows * (kc * nc * 6 + nc * 2 * (k > 1)), 24)
        port = cdiv(rows * max(kc * 2, nc * 2), 4)
        mem = kc * nc + 2 * kc + 2 * nc + 16
        if max(compute, sram, port, 1) <= t and mem <= mem_limit:
            best = h * w if best is None else min(best, h * w)
    return best


@pytest.mark.parametrize("M,K,N,t,mem", [(3, 12, 10, 20, 60), (5, 7, 9, 9, 40),
                                         (2, 16, 16, 12, 100)])
def test_search_finds_the_smallest_rectangle(M, K, N, t, mem):
    m = ContractionModel(M, K, N, RATES)
    c = m.candidates(t, mem, 24, 24)
    want = _brute_min_area(M, K, N, t, mem, 24)
    if want is None:
        assert len(c) == 0
        return
    assert int((c.height * c.width).min()) == want
    for h, w, tn, params in zip(c.height, c.width, c.time_num, c.params):
        ev = m.evaluate(tuple(params))
        assert ev["time"] == tn <= t and ev["memory"] <= mem
        assert m.shape(tuple(params)) == (h, w)


def test_a_kernel_whose_flows_need_a_long_side():
    # 4000 bytes per sample at 10 cycles and 4 bytes per cycle per link: a 100-link side
    m = ElementwiseModel(100, 1, RATES, flow_bytes=4000)
    assert m.boundary_links(10) == 100
    c = m.candidates(10, 10_000, 200, 200)
    assert len(c) and (np.maximum(c.height, c.width) >= 100).all()
