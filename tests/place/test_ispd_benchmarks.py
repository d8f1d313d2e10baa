"""A few ISPD 2020 benchmarks end to end: placed legally, near their lower bound, and the
solution file passes the independent checker. (benchmarks/ispd2020.py runs all 20.)"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from compiler.place.ispd import check_solution, format_solution, read_kgraph
from compiler.place.placer import check_placement, place

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("WSC_ISPD2020_DIR", ROOT.parent / "shared" / "ispd2020"))
pytestmark = pytest.mark.skipif(not (DATA / "benchmarks").is_dir(),
                                reason=f"ISPD 2020 data not found at {DATA} "
                                       "(shared/ispd2020 beside the checkout)")


@pytest.mark.parametrize("name", ["A", "K", "N"])
def test_benchmark_is_placed_legally_near_its_bound(name):
    g = read_kgraph(DATA / "benchmarks" / f"{name}.kgraph")
    problem = g.to_problem()
    pl = place(problem, time_weight=g.wdeltat, wire_weight=g.wlength, time_limit=5.0)
    assert check_placement(problem, pl) == []
    report = check_solution(g, format_solution(g, pl.kernels))
    assert report.legal, report.violations[:5]
    assert report.max_time == pl.max_time
    assert pl.lower_bound <= pl.max_time <= 1.10 * pl.lower_bound
    assert report.score == g.wdeltat * report.max_time + g.wlength * report.wire_length
