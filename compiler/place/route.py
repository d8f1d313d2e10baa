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
it leaves, between the middles of the region's cores that line the two
boundaries (a flow spread over a boundary enters, on average, at its middle).
So crossing a kernel k cores thick costs k + 1 hops: the links from the last
core of one end to the first of the other, 1 + the gap between them. A
route's hops are never fewer than 1 + the L1 gap between the facing edges of
its two rectangles: one position per boundary means a path cannot slide along
a long boundary for free.

**Negotiation** (McMurchie and Ebeling's PathFinder). Each flow is routed by
Dijkstra on the region graph, filling the cheapest path up to its free
capacity and spilling the rest onto the next path (at most `max_paths` paths
per flow; when the cheapest path is already full, the rest is spread over the
paths left; a path more than `detour` times as long as the flow's shortest is
not taken: the flow overflows on its shortest path instead, and the report
shows it). A resource's cost is its length times ``(1 + history) * (1 +
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
    """One path of a flow: the regions it visits (src first, dst last), bytes, hops, and the
    bundles it crosses."""

    regions: list[int]
    bytes: float
    hops: float
    bundles: list[int] = field(default_factory=list)


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
          channels_per_link: int, *, max_rounds: int = 16, max_paths: int = 8,
          detour: float = 6.0) -> Routing:
    """Route every flow between the named rectangles (see the module docstring)."""
    regions, label = regions_of(width, height, rects)
    R = len(regions)
    bundles = bundles_of(label, R)
    index = {r.name: i for i, r in enumerate(regions[:len(rects)])}
    for f in flows:
        for end in (f.src, f.dst):
            if end not in index:
                raise KeyError(f"flow {f.src} -> {f.dst}: no rectangle named {end!r}")
    lg = _LineGraph(bundles, regions)
    E = len(bundles)
    cap_e = np.array([e.links for e in bundles], dtype=np.float64) * link_capacity
    chan_cap = np.array([e.links for e in bundles], dtype=np.int64) * channels_per_link
    load = np.zeros(E)
    chans = np.zeros(E, dtype=np.int64)
    transit = np.zeros(R)
    hist = np.zeros(E)
    order = sorted(range(len(flows)), key=lambda i: (-flows[i].bytes, i))
    routed = [RoutedFlow(f) for f in flows]
    unit = max(link_capacity, 1e-12)
    shortest_cache: dict[tuple[int, int], tuple[list[int], float]] = {}

    def channels_of(amount: float) -> int:
        return max(1, math.ceil(amount / unit - 1e-9))

    def apply(rf: RoutedFlow, sign: int) -> None:
        for p in rf.paths:
            load[p.bundles] += sign * p.bytes
            chans[p.bundles] += sign * channels_of(p.bytes)
            transit[p.regions[1:-1]] += sign * p.bytes

    def over() -> np.ndarray:
        return (load > cap_e * (1 + 1e-9)) | (chans > chan_cap)

    def shortest(s: int, d: int, nbytes: float) -> tuple[list[int], float]:
        """The flow's path on the empty mesh (bundles too narrow for it cost more), and
        its hops: the yardstick of detours, and the fallback."""
        if (s, d) not in shortest_cache:
            ids, _ = lg.path(s, d, 1 + 4.0 * np.maximum(0.0, nbytes - cap_e) /
                             np.maximum(cap_e, 1e-12))
            shortest_cache[(s, d)] = (ids, lg.hops(ids))
        return shortest_cache[(s, d)]

    def route_one(rf: RoutedFlow, present: float) -> None:
        s, d = index[rf.flow.src], index[rf.flow.dst]
        remaining = float(rf.flow.bytes)
        rf.paths = []
        if s == d:
            return
        short, short_hops = shortest(s, d, remaining)
        added = []
        for attempt in range(max_paths):
            # what this flow would add over capacity: big flows shun narrow bundles
            over_e = np.maximum(0.0, load + remaining - cap_e) / np.maximum(cap_e, 1e-12)
            over_c = np.maximum(0, chans + 1 - chan_cap) / np.maximum(chan_cap, 1)
            full = (load >= cap_e * (1 - 1e-9)) | (chans >= chan_cap)
            factor = (1 + hist) * (1 + present * (over_e + over_c)) + FULL_PENALTY * full
            ids, _ = lg.path(s, d, factor)
            if lg.hops(ids) > max(detour * short_hops, short_hops + DETOUR_SLACK):
                if added:
                    break             # no long detours: overflow below
                ids = short
            free = float(np.min(cap_e[ids] - load[ids]))
            if added and free <= 1e-9 * rf.flow.bytes:
                break                 # the cheapest path is full: overflow below
            amount = remaining if free >= remaining or not added and free <= 0 else \
                min(remaining, free)
            if attempt == max_paths - 1 or not added and free <= 0:
                amount = remaining if not added else min(remaining, max(free, 0.0))
            if amount <= 0:
                break
            rf.paths.append(Path(lg.regions_of(ids, s), amount, lg.hops(ids), list(ids)))
            load[ids] += amount
            chans[ids] += channels_of(amount)
            added.append((ids, amount))
            remaining -= amount
            if remaining <= 1e-9 * max(1.0, rf.flow.bytes):
                remaining = 0.0
                break
        if remaining > 0:
            # what no path had room for goes over the flow's paths in proportion to
            # their narrowest bundle (the overflow the report shows)
            caps = np.array([float(np.min(cap_e[p.bundles])) for p in rf.paths])
            shares = caps / caps.sum() if caps.sum() > 0 else np.full(len(caps), 1 / len(caps))
            for p, share in zip(rf.paths, shares):
                extra = remaining * float(share)
                p.bytes += extra
                load[p.bundles] += extra
                chans[p.bundles] += channels_of(extra)
                added.append((p.bundles, extra))
        # paths through the same bundles are one path; channels are counted per path
        for ids, amount in added:
            chans[ids] -= channels_of(amount)
        _merge_paths(rf)
        for p in rf.paths:
            chans[p.bundles] += channels_of(p.bytes)
            transit[p.regions[1:-1]] += p.bytes

    rounds = 0
    present = 0.5
    todo = order
    for rounds in range(1, max_rounds + 1):
        for i in todo:
            if routed[i].paths:
                apply(routed[i], -1)
            route_one(routed[i], present)
        oe = over()
        if not oe.any():
            break
        hist += np.where(oe, np.maximum(load / np.maximum(cap_e, 1e-12) - 1, 0.1), 0.0)
        present *= 2
        bad = set(np.flatnonzero(oe).tolist())
        todo = [i for i in order if any(b in bad for p in routed[i].paths for b in p.bundles)]
        if not todo:
            break
    for e, l, c in zip(bundles, load, chans):
        e.load = float(l)
        e.channels = int(c)
    return Routing(width, height, regions, bundles, routed, float(link_capacity),
                   int(channels_per_link), rounds, transit)


FULL_PENALTY = 1000.0     # hops a full bundle costs: taken only when nothing else is free
# a path may be `detour` times as long as the flow's shortest ...
DETOUR_SLACK = 256.0      # ... or this many hops longer than it, whichever allows more


def _inner_point(box: tuple, region: Region) -> tuple[float, float]:
    """The middle of the cores of `region` that line the boundary segment `box`: where a
    flow crossing that boundary enters (or leaves) the region, on average."""
    x0, y0, x1, y1 = box
    if x0 == x1:                                       # a vertical boundary at x = x0
        return (x0 + 0.5 if region.x >= x0 else x0 - 0.5), (y0 + y1) / 2
    return (x0 + x1) / 2, (y0 + 0.5 if region.y >= y0 else y0 - 0.5)


class _LineGraph:
    """Shortest paths whose nodes are bundles: going from bundle e1 (into region r) to
    bundle e2 (out of r) costs the way across r between the two boundaries, and each
    bundle crossed costs one hop times its congestion factor."""

    def __init__(self, bundles: list[Bundle], regions: list[Region]):
        n_regions = len(regions)
        self.bundles = bundles
        E = len(bundles)
        self.E = E
        self.a = np.array([e.a for e in bundles], dtype=np.int64)
        self.b = np.array([e.b for e in bundles], dtype=np.int64)
        into: list[list[int]] = [[] for _ in range(n_regions)]
        out: list[list[int]] = [[] for _ in range(n_regions)]
        for i, e in enumerate(bundles):
            into[e.b].append(i)
            out[e.a].append(i)
        self.into, self.out = into, out
        rows, cols, lens = [], [], []
        for r in range(n_regions):
            for e1 in into[r]:
                for e2 in out[r]:
                    if bundles[e2].b == bundles[e1].a:
                        continue          # straight back
                    rows.append(e1)
                    cols.append(e2)
                    p1 = _inner_point(bundles[e1].box, regions[r])
                    p2 = _inner_point(bundles[e2].box, regions[r])
                    lens.append(abs(p1[0] - p2[0]) + abs(p1[1] - p2[1]))
        order = np.lexsort((np.array(cols, dtype=np.int64), np.array(rows, dtype=np.int64)))
        self.rows = np.array(rows, dtype=np.int64)[order]
        self.cols = np.array(cols, dtype=np.int64)[order]
        self.lens = np.array(lens, dtype=np.float64)[order]
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(self.rows, minlength=E))])
        self.transit = {(int(r), int(c)): float(l) for r, c, l in zip(self.rows, self.cols,
                                                                      self.lens)}

    def path(self, s: int, d: int, factor: np.ndarray) -> tuple[list[int], float]:
        """The cheapest bundle sequence from region s to region d, with `factor` scaling
        each bundle's crossing; returns (bundle ids, cost)."""
        starts = self.out[s]
        ends = self.into[d]
        if not starts or not ends:
            raise RuntimeError("a kernel touches no other region")
        data = self.lens + factor[self.rows]          # leaving e1 pays for crossing e1
        graph = csr_matrix((np.maximum(data, 1e-9), self.cols, self.indptr),
                           shape=(self.E, self.E))
        dist, pred, _ = dijkstra(graph, directed=True, indices=starts, return_predecessors=True,
                                 min_only=True)
        total = dist[ends] + factor[ends]             # ... and the last one on arrival
        best = int(np.argmin(total))
        if not np.isfinite(total[best]):
            raise RuntimeError("the region graph is not connected")
        ids = [ends[best]]
        while pred[ids[-1]] >= 0:
            ids.append(int(pred[ids[-1]]))
        ids.reverse()
        return ids, float(total[best])

    def hops(self, ids: list[int]) -> float:
        """Bundles crossed plus the way across every region in between."""
        return float(len(ids)) + sum(self.transit[(e1, e2)] for e1, e2 in zip(ids, ids[1:]))

    def regions_of(self, ids: list[int], s: int) -> list[int]:
        return [s] + [int(self.b[i]) for i in ids]


def _merge_paths(rf: RoutedFlow) -> None:
    """Paths through the same bundles are one path."""
    merged: dict[tuple[int, ...], Path] = {}
    for p in rf.paths:
        key = tuple(p.bundles)
        if key in merged:
            merged[key].bytes += p.bytes
        else:
            merged[key] = Path(list(p.regions), p.bytes, p.hops, list(p.bundles))
    rf.paths = list(merged.values())
