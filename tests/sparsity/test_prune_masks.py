"""Exact, deterministic pruning masks (checked against plain numpy sorting)."""
from __future__ import annotations

import numpy as np
import pytest

from compiler.sparsity import masks


@pytest.mark.parametrize("fraction, n, want", [(0.9, 10, 9), (0.5, 7, 4), (0.25, 6, 2),
                                                (0.0, 5, 0), (0.999, 3, 3)])
def test_prune_count_rounds_half_up(fraction, n, want):
    assert masks.prune_count(fraction, n) == want


def test_smallest_is_exact_and_breaks_ties_by_position():
    rng = np.random.default_rng(0)
    s = rng.standard_normal((13, 17)) ** 2
    for k in (0, 1, 50, 221):
        m = masks.smallest(s, k)
        assert m.sum() == k
        order = np.argsort(s.reshape(-1), kind="stable")
        want = np.zeros(s.size, dtype=bool)
        want[order[:k]] = True
        np.testing.assert_array_equal(m.reshape(-1), want)
    ties = np.array([3.0, 1.0, 1.0, 1.0, 2.0, 1.0])
    np.testing.assert_array_equal(masks.smallest(ties, 3), [0, 1, 1, 1, 0, 0])


def test_row_balanced_spreads_the_exact_total_evenly():
    rng = np.random.default_rng(1)
    s = rng.random((7, 10))
    k = 45  # 6 per row plus 3 rows with 7
    m = masks.row_balanced(s, k)
    assert m.sum() == k
    per_row = m.sum(axis=1)
    assert sorted(per_row) == [6, 6, 6, 6, 7, 7, 7]
    for r in range(7):  # within a row the pruned entries are the smallest
        kept, pruned = s[r][~m[r]], s[r][m[r]]
        assert pruned.max() <= kept.min()
    # the extra entries go to the rows whose 7th smallest score is smallest
    seventh = np.sort(s, axis=1)[:, 6]
    assert set(np.flatnonzero(per_row == 7)) == set(np.argsort(seventh, kind="stable")[:3])


def test_global_threshold_is_shared_across_arrays():
    rng = np.random.default_rng(2)
    a, b = rng.random((4, 5)) * 10, rng.random((6, 3))
    ma, mb = masks.global_smallest([a, b], 19)
    assert ma.sum() + mb.sum() == 19
    pruned = np.concatenate([a[ma], b[mb]])
    kept = np.concatenate([a[~ma], b[~mb]])
    assert pruned.max() <= kept.min()
    assert mb.sum() > ma.sum()  # b's entries are all small


def test_n_of_m_keeps_the_n_largest_of_each_group():
    rng = np.random.default_rng(3)
    s = rng.random((5, 16))
    m = masks.n_of_m(s, 2, 4)
    groups = (~m).reshape(5, 4, 4)
    assert (groups.sum(axis=2) == 2).all()
    for r in range(5):
        for g in range(4):
            vals = s[r, 4 * g:4 * g + 4]
            keep = ~m[r, 4 * g:4 * g + 4]
            assert vals[keep].min() >= vals[~keep].max()
    tail = masks.n_of_m(rng.random((2, 10)), 1, 4)  # groups 4, 4 and a tail of 2
    assert ((~tail).sum(axis=1) == 1 + 1 + 1).all()
