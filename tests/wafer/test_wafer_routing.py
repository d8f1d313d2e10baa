"""Routing: every flow routed from its source to its destination through touching regions,
loads and capacities recomputed here from the paths and the mesh, and a congested case that
only negotiation resolves."""
from __future__ import annotations

import numpy as np
import pytest

import compiler.place.route as route_module
from compiler.frontend.onnx import import_onnx
from compiler.passes.place import wafer_report
from compiler.place.route import Flow, Rect, route
from compiler.target import get_target
from compiler.testing.onnx_models import resnet


def label_grid(routing) -> np.ndarray:
    """The mesh painted with region indices; every core in exactly one region."""
    grid = np.full((routing.height, routing.width), -1, dtype=np.int64)
    for i, r in enumerate(routing.regions):
        assert (grid[r.y:r.y + r.h, r.x:r.x + r.w] == -1).all(), "regions overlap"
        grid[r.y:r.y + r.h, r.x:r.x + r.w] = i
    assert (grid >= 0).all(), "regions leave cores out"
    return grid


def links_between(grid: np.ndarray, a: int, b: int) -> int:
    """Mesh links across the boundary of regions a and b (one per pair of touching cores)."""
    horiz = ((grid[:, :-1] == a) & (grid[:, 1:] == b)) | ((grid[:, :-1] == b) & (grid[:, 1:] == a))
    vert = ((grid[:-1, :] == a) & (grid[1:, :] == b)) | ((grid[:-1, :] == b) & (grid[1:, :] == a))
    return int(horiz.sum() + vert.sum())


def check_routing(routing, flows, capacity):
    grid = label_grid(routing)
    index = {r.name: i for i, r in enumerate(routing.regions)}
    load: dict[tuple[int, int], float] = {}
    for rf, f in zip(routing.flows, flows):
        assert rf.flow == f
        assert sum(p.bytes for p in rf.paths) == pytest.approx(f.bytes)
        for p in rf.paths:
            assert p.regions[0] == index[f.src] and p.regions[-1] == index[f.dst]
            assert p.hops >= len(p.regions) - 1
            for a, b in zip(p.regions, p.regions[1:]):
                assert links_between(grid, a, b) > 0, "a path jumps between regions apart"
                load[(a, b)] = load.get((a, b), 0.0) + p.bytes
    over = [(a, b) for (a, b), v in load.items()
            if v > links_between(grid, a, b) * capacity * (1 + 1e-9)]
    # the router's own bundles agree with the loads and links counted here
    for e in routing.bundles:
        assert e.links == links_between(grid, e.a, e.b)
        assert e.load == pytest.approx(load.get((e.a, e.b), 0.0))
    return over


def test_every_flow_of_a_placed_model_is_routed_within_capacity():
    module = import_onnx(resnet(blocks=(1, 1), width=4, image=16, classes=10), name="resnet")
    report = wafer_report(module, get_target("64x64"))
    rects = [Rect(k["name"], k["x"], k["y"], k["w"], k["h"]) for k in report["kernels"]]
    flows = [Flow(e["src"], e["dst"], float(e["bytes"])) for e in report["edges"]]
    stage = max(k["time"] for k in report["kernels"])
    capacity = 4 * stage
    routing = route(64, 64, rects, flows, capacity, 24)
    assert check_routing(routing, flows, capacity) == []
    assert routing.report()["over_capacity"] == 0
    assert routing.report()["max_utilization"] <= 1.0


def test_data_weighted_hops():
    # two kernels side by side: 1 hop; a third beyond a free gap of 3 columns: the links
    # from b's last column (x = 3) to c's first (x = 7) are 4, 1 + the gap
    rects = [Rect("a", 0, 0, 2, 4), Rect("b", 2, 0, 2, 4), Rect("c", 7, 0, 2, 4)]
    flows = [Flow("a", "b", 100.0), Flow("b", "c", 300.0)]
    routing = route(9, 4, rects, flows, 1000.0, 24)
    hops = [rf.hops for rf in routing.flows]
    assert hops == [1.0, 4.0]
    report = routing.report()
    assert report["mean_hops"] == pytest.approx((100 * 1 + 300 * 4) / 400)
    assert report["byte_hops"] == pytest.approx(100 * 1 + 300 * 4)


def test_hops_are_never_below_the_gap_between_the_rectangles():
    # s and d are 30 columns apart; long thin kernels between them touch along long
    # boundaries whose ends line up. Sliding along such a boundary costs its length: a
    # flow's hops are at least 1 + the gap between its two rectangles, on any path.
    rects = [Rect("s", 0, 0, 2, 2), Rect("m1", 0, 2, 16, 1), Rect("m2", 16, 0, 16, 3),
             Rect("d", 32, 0, 2, 2)]
    flows = [Flow("s", "d", 10.0)]
    routing = route(34, 3, rects, flows, 1000.0, 24)
    gap = 32 - 2
    assert routing.flows[0].hops >= 1 + gap


def test_a_flow_wider_than_a_boundary_is_split():
    # a and b touch along 2 links (10 bytes each): 30 bytes need a second path
    rects = [Rect("a", 0, 0, 2, 2), Rect("b", 2, 0, 2, 2)]
    flows = [Flow("a", "b", 30.0)]
    routing = route(4, 4, rects, flows, 10.0, 24)
    assert check_routing(routing, flows, 10.0) == []
    paths = sorted(routing.flows[0].paths, key=lambda p: p.hops)
    assert paths[0].regions == [0, 1] and paths[0].bytes == pytest.approx(20.0)
    assert paths[1].bytes == pytest.approx(10.0) and paths[1].hops > 1


def test_negotiation_resolves_a_congested_boundary(monkeypatch):
    # row 2:  .   top top .
    # row 1: left up   .  .          flows: src -> left (8 bytes), src -> up (6 bytes);
    # row 0:  .  src   .  .          one link carries 10 bytes
    #
    # The larger flow goes first and takes its first shortest path, src -> up -> left,
    # filling the src|up link; src -> up then has no room left, and any other way is
    # beyond its detour limit, so round 1 ends over capacity. Negotiation makes that
    # link dear; in round 2 src -> left goes by the free core at (0, 0), just as short.
    monkeypatch.setattr(route_module, "DETOUR_SLACK", 0.0)
    rects = [Rect("src", 1, 0, 1, 1), Rect("up", 1, 1, 1, 1), Rect("top", 1, 2, 2, 1),
             Rect("left", 0, 1, 1, 1)]
    flows = [Flow("src", "up", 6.0), Flow("src", "left", 8.0)]
    greedy = route(4, 3, rects, flows, 10.0, 24, max_rounds=1, detour=1.5)
    assert check_routing(greedy, flows, 10.0) != []
    routing = route(4, 3, rects, flows, 10.0, 24, detour=1.5)
    assert check_routing(routing, flows, 10.0) == []
    assert routing.rounds == 2
    names = [r.name for r in routing.regions]
    (left,) = routing.flows[1].paths
    assert names[left.regions[1]].startswith("free") and left.hops == 2.0


def test_channels_are_counted_per_link():
    # three flows of 4 bytes from a to b, whose boundary is 1 link of 100 bytes with 2
    # channels: bandwidth is plenty, but the third flow needs a channel elsewhere (via c)
    rects = [Rect("a", 0, 0, 1, 1), Rect("b", 1, 0, 1, 1), Rect("c", 0, 1, 2, 1)]
    flows = [Flow("a", "b", 4.0), Flow("a", "b", 4.0), Flow("a", "b", 4.0)]
    routing = route(2, 2, rects, flows, 100.0, 2)
    ab = next(e for e in routing.bundles if (e.a, e.b) == (0, 1))
    assert ab.channels == 2 and routing.channels_per_link_used(ab) == 2
    vias = sorted(len(rf.paths[0].regions) for rf in routing.flows)
    assert vias == [2, 2, 3]
    assert routing.report()["over_capacity"] == 0
    assert routing.report()["max_channels_per_link"] == 2
