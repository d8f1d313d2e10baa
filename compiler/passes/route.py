"""route: route every inter-kernel flow of the placement on the mesh's links.

    place{mesh=wse2},route
    place{mesh=wse2},route{max-rounds=32}

Runs after `place` and reads its wafer report (the latest one in the pass
context). In pipelined mode it routes every flow by negotiated congestion
(`compiler/place/route.py`), with each link's capacity what it carries in one
pipeline stage (``link_bytes_per_cycle * stage cycles``), adds the routes to
the report and re-evaluates the performance model with the link loads
(`compiler/place/perf_model.py`). In streaming mode there is nothing to route:
the report is passed on unchanged.

Statistics: ``flows``, ``paths``, ``over-capacity`` (bundles of links over
their capacity), ``rounds``.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from ..errors import PassError
from ..ir.core import Module
from ..place.perf_model import evaluate
from ..place.route import Flow, Rect, route
from .base import Pass, PassContext, option


@dataclass(frozen=True)
class Route(Pass):
    name = "route"
    summary = "Route the placed kernels' flows on the mesh links (negotiated congestion)."

    max_rounds: int = option(16, "rounds of rip-up and reroute at most")
    max_paths: int = option(8, "paths one flow may be split over at most")

    def __post_init__(self) -> None:
        if self.max_rounds < 1 or self.max_paths < 1:
            raise PassError("route: max-rounds and max-paths must be at least 1")

    def run(self, module: Module, ctx: PassContext) -> None:
        report = latest_wafer_report(ctx)
        if report is None:
            raise PassError("route needs a placement: run the place pass first",
                            hint='e.g. -p "...,place{mesh=wse2},route", or --mesh wse2')
        report = copy.deepcopy(report)
        if report["mode"] == "pipelined":
            add_routes(report, self.max_rounds, self.max_paths)
            r = report["routes"]
            ctx.stat("flows", r["flows"])
            ctx.stat("paths", r["paths"])
            ctx.stat("over-capacity", r["over_capacity"])
            ctx.stat("rounds", r["rounds"])
        ctx.detail("wafer", report)


def latest_wafer_report(ctx: PassContext) -> dict[str, Any] | None:
    """The wafer report of the last place or route pass that ran, if any."""
    found = None
    for key, detail in ctx.details.items():       # in pipeline order
        if key.split("#")[0] in ("place", "route") and "wafer" in detail:
            found = detail["wafer"]
    return found


def add_routes(report: dict[str, Any], max_rounds: int = 16, max_paths: int = 8) -> None:
    """Route a pipelined wafer report's flows; add ``routes`` and the new ``performance``."""
    t = report["target"]
    rects = [Rect(k["name"], k["x"], k["y"], k["w"], k["h"]) for k in report["kernels"]]
    flows = [Flow(e["src"], e["dst"], float(e["bytes"])) for e in report["edges"]]
    stage = max((k["time"] for k in report["kernels"]), default=1)
    routing = route(t["width"], t["height"], rects, flows, t["link_bytes_per_cycle"] * stage,
                    t["channels_per_link"], max_rounds=max_rounds, max_paths=max_paths)
    report["routes"] = routing.report()
    report["performance"] = evaluate(report)
