"""Routing: every inter-kernel flow on the mesh's links, by negotiated congestion (PathFinder).

**What is routed.** A flow is the bytes per sample one kernel sends another.
The producer's data is spread over its rectangle and the consumer needs it
over its own, so a flow leaves through the producer's boundary and enters
through the consumer's; it crosses every rectangle on its way over that
rectangle's own fabric (routers are separate from the cores' compute; the
links inside a rectangle are at least as many as on the boundaries a flow
enters and leaves by, so the bundles bound it; the kernel's own traffic
inside its rectangle is not modelled).

**The routing graph.** The mesh is cut into *regions*: the kernels'
rectangles and the free space (split into rectangles). Two regions that touch
are joined, in each direction, by a *bundle*: the mesh links that cross their
common boundary, one per boundary core. A bundle of L links carries at most
``L * link capacity`` bytes per sample, where a link's capacity is
``link_bytes_per_cycle * stage cycles`` (what one link moves while the
pipeline handles one sample), and at most ``L * channels_per_link`` routes
(each route on a link takes one of its channels; a flow that needs x links'
worth of bandwidth takes x channels).

A flow between touching kernels crosses one boundary: **1 hop**. Through
regions in between, each boundary crossed is a hop, plus the L1 distance
across each region from the boundary where the flow enters to the one where
it leaves (between the boundaries' midpoints).

**Negotiation** (McMurchie and Ebeling's PathFinder). Each flow is routed by
Dijkstra on the region graph, filling the cheapest path up to its free
capacity and spilling the rest onto the next path (at most `max_paths` paths
per flow; when the cheapest path is already full, the rest is spread over the
paths left). A resource's cost is its length times ``(1 + history) * (1 +
present * overuse)``; after every round the present factor doubles and every
over-used resource adds to its history, and the flows that use an over-used
resource are ripped up and routed again, until nothing is over capacity or
`max_rounds` rounds have run. The result says what is still over.

`route(width, height, rects, flows, link_capacity, channels_per_link)` returns
a `Routing`; `Routing.report()` is its JSON summary (link loads, the most
loaded bundle, channels used, hops).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra


@dataclass(frozen=True)
class Rect:
    """A kernel's rectangle on the grid: lower corner (x, y), width along x, height along y."""

    name: str
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class Flow:
    """Bytes per sample from kernel `src` to kernel `dst`."""

    src: str
    dst: str
    bytes: float


@dataclass
class Region:
    """A node of the routing graph: a kernel's rectangle or a rectangle of free cores."""

    name: str
    x: int
    y: int
    w: int
    h: int
    kernel: bool

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2


@dataclass
class Bundle:
    """The links from region `a` to region `b` across their common boundary."""

    a: int
    b: int
    links: int
    mid: tuple[float, float]               # midpoint of the boundary
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 of the boundary (a segment)
    load: float = 0.0                      # bytes per sample
    channels: int = 0                      # link-channels taken (all links together)


@dataclass
class Path:
    """One path of a flow: the regions it visits (src first, dst last), bytes, hops."""

    regions: list[int]
    bytes: float
    hops: float


@dataclass
class RoutedFlow:
    flow: Flow
    paths: list[Path] = field(default_factory=list)

    @property
    def hops(self) -> float:
        """Data-weighted mean hops over the flow's paths."""
        total = sum(p.bytes for p in self.paths)
        if total <= 0:
            return min((p.hops for p in self.paths), default=0.0)
        return sum(p.bytes * p.hops for p in self.paths) / total


@dataclass
class Routing:
    """Every flow's paths on the region graph, with the loads they put on the bundles."""

    width: int
    height: int
    regions: list[Region]
    bundles: list[Bundle]
    flows: list[RoutedFlow]
    link_capacity: float        # bytes per sample one link carries
    channels_per_link: int
    rounds: int
    transit: np.ndarray         # bytes per sample crossing each region

    def utilization(self, e: Bundle) -> float:
        cap = e.links * self.link_capacity
        return e.load / cap if cap > 0 else (math.inf if e.load > 0 else 0.0)

    def channels_per_link_used(self, e: Bundle) -> int:
        return -(-e.channels // e.links) if e.links else 0

    def overused(self) -> list[Bundle]:
        return [e for e in self.bundles
                if self.utilization(e) > 1 + 1e-9
                or e.channels > e.links * self.channels_per_link]

    def most_loaded(self) -> Bundle | None:
        used = [e for e in self.bundles if e.load > 0]
        if not used:
            return None
        return max(used, key=lambda e: (self.utilization(e), -e.a, -e.b))

    def report(self) -> dict:
        """JSON: totals, the most loaded bundle, every loaded bundle, every flow's paths."""
        total = sum(f.flow.bytes for f in self.flows)
        byte_hops = sum(p.bytes * p.hops for f in self.flows for p in f.paths)
        top = self.most_loaded()
        names = [r.name for r in self.regions]

        def bundle_json(e: Bundle) -> dict:
            return {"from": names[e.a], "to": names[e.b], "links": e.links,
                    "load": _r(e.load), "load_per_link": _r(e.load / e.links),
                    "utilization": _r(self.utilization(e)),
                    "channels_per_link": self.channels_per_link_used(e),
                    "segment": [_r(v) for v in e.box]}

        loaded = sorted((e for e in self.bundles if e.load > 0),
                        key=lambda e: (-self.utilization(e), e.a, e.b))
        return {
            "link_capacity": _r(self.link_capacity),
            "channels_per_link": self.channels_per_link,
            "rounds": self.rounds,
            "flows": len(self.flows),
            "paths": sum(len(f.paths) for f in self.flows),
            "bytes": _r(total),
            "byte_hops": _r(byte_hops),
            "mean_hops": _r(byte_hops / total) if total > 0 else 0.0,
            "max_hops": _r(max((p.hops for f in self.flows for p in f.paths), default=0.0)),
            "total_hops": _r(sum(p.hops for f in self.flows for p in f.paths)),
            "over_capacity": len(self.overused()),
            "max_utilization": _r(self.utilization(top)) if top else 0.0,
            "max_channels_per_link": max((self.channels_per_link_used(e)
                                          for e in self.bundles), default=0),
            "most_loaded": bundle_json(top) if top else None,
            "bundles": [bundle_json(e) for e in loaded],
            "routes": [{"src": f.flow.src, "dst": f.flow.dst, "bytes": _r(f.flow.bytes),
                        "hops": _r(f.hops),
                        "paths": [{"via": [names[i] for i in p.regions[1:-1]],
                                   "bytes": _r(p.bytes), "hops": _r(p.hops)}
                                  for p in f.paths]} for f in self.flows],
        }

    def kernel_link_load(self) -> dict[str, float]:
        """Per kernel: the highest utilization of a bundle one of its flows uses."""
        out: dict[str, float] = {}
        index = {(e.a, e.b): e for e in self.bundles}
        for f in self.flows:
            worst = 0.0
            for p in f.paths:
                for u, v in zip(p.regions, p.regions[1:]):
                    worst = max(worst, self.utilization(index[(u, v)]))
            for k in (f.flow.src, f.flow.dst):
                out[k] = max(out.get(k, 0.0), worst)
        return out


def _r(v: float) -> float:
    """Round for the report: enough digits to be useful, few enough to keep it readable."""
    return float(f"{float(v):.6g}")


# --- the routing graph --------------------------------------------------------------

def regions_of(width: int, height: int, rects: list[Rect]) -> tuple[list[Region], np.ndarray]:
    """The kernels' rectangles, then the free cores cut into rectangles (runs of free cores
    in a row, merged with the run above when it spans the same columns); and the grid of
    region indices (row y, column x)."""
    label = np.full((height, width), -1, dtype=np.int32)
    regions = []
    for i, r in enumerate(rects):
        label[r.y:r.y + r.h, r.x:r.x + r.w] = i
        regions.append(Region(r.name, r.x, r.y, r.w, r.h, True))
    free = label < 0
    open_runs: dict[tuple[int, int], int] = {}
    for y in range(height):
        row = free[y]
        if not row.any():
            open_runs = {}
            continue
        edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(np.int8), [0]])))
        runs = {(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])}
        nxt = {}
        for span in sorted(runs):
            if span in open_runs:
                idx = open_runs[span]
                regions[idx].h += 1
            else:
                idx = len(regions)
                regions.append(Region(f"free{idx - len(rects)}", span[0], y, span[1] - span[0],
                                      1, False))
            label[y, span[0]:span[1]] = idx
            nxt[span] = idx
        open_runs = nxt
    return regions, label


def bundles_of(label: np.ndarray, n_regions: int) -> list[Bundle]:
    """A bundle per direction between every two touching regions."""
    xs, ys, a, b = [], [], [], []
    # across vertical boundaries: cell (y, x) | (y, x+1); the boundary is the line x+1
    yy, xx = np.nonzero(label[:, :-1] != label[:, 1:])
    a.append(label[yy, xx]); b.append(label[yy, xx + 1])
    xs.append(np.stack([xx + 1.0, xx + 1.0], axis=1)); ys.append(np.stack([yy, yy + 1.0], axis=1))
    # across horizontal boundaries: cell (y, x) / (y+1, x); the boundary is the line y+1
    yy, xx = np.nonzero(label[:-1, :] != label[1:, :])
    a.append(label[yy, xx]); b.append(label[yy + 1, xx])
    xs.append(np.stack([xx, xx + 1.0], axis=1)); ys.append(np.stack([yy + 1.0, yy + 1.0], axis=1))
    a = np.concatenate(a).astype(np.int64)
    b = np.concatenate(b).astype(np.int64)
    px = np.concatenate(xs)
    py = np.concatenate(ys)
    if a.size == 0:
        return []
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    key = lo * n_regions + hi
    keys, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
    k = keys.size
    midx = np.bincount(inv, px.mean(axis=1), k) / counts
    midy = np.bincount(inv, py.mean(axis=1), k) / counts
    x0 = np.full(k, np.inf); y0 = np.full(k, np.inf)
    x1 = np.full(k, -np.inf); y1 = np.full(k, -np.inf)
    np.minimum.at(x0, inv, px.min(axis=1)); np.minimum.at(y0, inv, py.min(axis=1))
    np.maximum.at(x1, inv, px.max(axis=1)); np.maximum.at(y1, inv, py.max(axis=1))
    out = []
    for i, kv in enumerate(keys):
        u, v = int(kv // n_regions), int(kv % n_regions)
        mid = (float(midx[i]), float(midy[i]))
        box = (float(x0[i]), float(y0[i]), float(x1[i]), float(y1[i]))
        out.append(Bundle(u, v, int(counts[i]), mid, box))
        out.append(Bundle(v, u, int(counts[i]), mid, box))
    return out


# --- negotiation -----------------------------------------------------------------------

def route(width: int, height: int, rects: list[Rect], flows: list[Flow], link_capacity: float,
          channels_per_link: int, *, max_rounds: int = 40, max_paths: int = 8) -> Routing:
    """Route every flow between the named rectangles (see the module docstring)."""
    regions, label = regions_of(width, height, rects)
    R = len(regions)
    bundles = bundles_of(label, R)
    index = {r.name: i for i, r in enumerate(regions[:len(rects)])}
    for f in flows:
        for end in (f.src, f.dst):
            if end not in index:
                raise KeyError(f"flow {f.src} -> {f.dst}: no rectangle named {end!r}")
    E = len(bundles)
    src = np.array([e.a for e in bundles], dtype=np.int64)
    dst = np.array([e.b for e in bundles], dtype=np.int64)
    cap_e = np.array([e.links for e in bundles], dtype=np.float64) * link_capacity
    chan_cap = np.array([e.links for e in bundles], dtype=np.int64) * channels_per_link
    cx = np.array([r.centre[0] for r in regions])
    cy = np.array([r.centre[1] for r in regions])
    mx = np.array([e.mid[0] for e in bundles])
    my = np.array([e.mid[1] for e in bundles])
    # a bundle's length: its crossing plus half the way across each region it joins
    base = 1.0 + (np.abs(cx[src] - mx) + np.abs(cy[src] - my) +
                  np.abs(cx[dst] - mx) + np.abs(cy[dst] - my)) / 2
    edge_of = {(int(u), int(v)): i for i, (u, v) in enumerate(zip(src, dst))}

    load = np.zeros(E)
    chans = np.zeros(E, dtype=np.int64)
    transit = np.zeros(R)
    hist_e = np.zeros(E)
    order = sorted(range(len(flows)), key=lambda i: (-flows[i].bytes, i))
    routed = [RoutedFlow(f) for f in flows]
    unit = max(link_capacity, 1e-12)

    def apply(rf: RoutedFlow, sign: int) -> None:
        for p in rf.paths:
            ids = [edge_of[(u, v)] for u, v in zip(p.regions, p.regions[1:])]
            load[ids] += sign * p.bytes
            chans[ids] += sign * max(1, math.ceil(p.bytes / unit - 1e-9))
            for r in p.regions[1:-1]:
                transit[r] += sign * p.bytes

    def over_edges() -> np.ndarray:
        return (load > cap_e * (1 + 1e-9)) | (chans > chan_cap)

    def route_one(rf: RoutedFlow, present: float) -> None:
        s, d = index[rf.flow.src], index[rf.flow.dst]
        remaining = float(rf.flow.bytes)
        rf.paths = []
        if s == d or remaining <= 0:
            rf.paths = [Path([s, d] if s != d else [s], max(0.0, remaining), 1.0)]
            return
        for attempt in range(max_paths):
            want = remaining
            over_e = np.maximum(0.0, load + np.minimum(want, cap_e) - cap_e) / \
                np.maximum(cap_e, 1e-12)
            over_c = np.maximum(0, chans + 1 - chan_cap) / np.maximum(chan_cap, 1)
            cost = base * (1 + hist_e) * (1 + present * (over_e + over_c))
            graph = csr_matrix((cost, (src, dst)), shape=(R, R))
            dist, pred = dijkstra(graph, directed=True, indices=s, return_predecessors=True)
            if not np.isfinite(dist[d]):
                raise RuntimeError(f"no path from {rf.flow.src} to {rf.flow.dst}")
            nodes = [d]
            while nodes[-1] != s:
                nodes.append(int(pred[nodes[-1]]))
            nodes.reverse()
            ids = [edge_of[(u, v)] for u, v in zip(nodes, nodes[1:])]
            free = float(np.min(cap_e[ids] - load[ids]))
            left = max_paths - attempt
            if free >= remaining or left == 1:
                amount = remaining
            elif free > 1e-9 * rf.flow.bytes:
                amount = free
            else:                       # the cheapest path is full: spread what is left
                amount = remaining / left
            path = Path(nodes, amount, _hops(nodes, ids, bundles))
            rf.paths.append(path)
            load[ids] += amount
            chans[ids] += max(1, math.ceil(amount / unit - 1e-9))
            for r in nodes[1:-1]:
                transit[r] += amount
            remaining -= amount
            if remaining <= 1e-9 * max(1.0, rf.flow.bytes):
                break
        # channels are counted per merged path (as `apply` counts them when ripping up)
        for p in rf.paths:
            ids = [edge_of[(u, v)] for u, v in zip(p.regions, p.regions[1:])]
            chans[ids] -= max(1, math.ceil(p.bytes / unit - 1e-9))
        _merge_paths(rf)
        for p in rf.paths:
            ids = [edge_of[(u, v)] for u, v in zip(p.regions, p.regions[1:])]
            chans[ids] += max(1, math.ceil(p.bytes / unit - 1e-9))

    rounds = 0
    present = 0.5
    todo = order
    for rounds in range(1, max_rounds + 1):
        for i in todo:
            if routed[i].paths:
                apply(routed[i], -1)
            route_one(routed[i], present)
        oe = over_edges()
        if not oe.any():
            break
        hist_e += np.where(oe, np.maximum(load / np.maximum(cap_e, 1e-12) - 1, 0.1), 0.0)
        present *= 2
        bad = set(np.flatnonzero(oe).tolist())
        todo = [i for i in order if _touches(routed[i], edge_of, bad)]
        if not todo:
            break
    for e, l, c in zip(bundles, load, chans):
        e.load = float(l)
        e.channels = int(c)
    return Routing(width, height, regions, bundles, routed, float(link_capacity),
                   int(channels_per_link), rounds, transit)


def _hops(nodes: list[int], ids: list[int], bundles: list[Bundle]) -> float:
    """Boundaries crossed, plus the L1 way across every region in between."""
    hops = float(len(ids))
    for e1, e2 in zip(ids, ids[1:]):
        (ax, ay), (bx, by) = bundles[e1].mid, bundles[e2].mid
        hops += abs(ax - bx) + abs(ay - by)
    return hops


def _merge_paths(rf: RoutedFlow) -> None:
    """Paths through the same regions are one path."""
    merged: dict[tuple[int, ...], Path] = {}
    for p in rf.paths:
        key = tuple(p.regions)
        if key in merged:
            merged[key].bytes += p.bytes
        else:
            merged[key] = Path(list(p.regions), p.bytes, p.hops)
    rf.paths = list(merged.values())


def _touches(rf: RoutedFlow, edge_of, bad: set) -> bool:
    return any(edge_of[(u, v)] in bad for p in rf.paths for u, v in zip(p.regions, p.regions[1:]))
