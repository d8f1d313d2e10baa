"""The wafer map: where every kernel sits, how loaded the links are, how nonzeros spread.

Two renderings of one scene (`MapScene`, built from the artifact's wafer report):

- `ascii_map(scene)`: the mesh in the terminal, one character per block of
  cores (one per core on a small mesh), each kernel a letter, free cores
  ``.``; a legend lists the letters. `wsc inspect model.wafer --placement`.
- `svg_map(scene)`: an SVG drawing with three panels side by side — the
  kernels (labelled, coloured by kind, a tooltip each), the link load (each
  loaded boundary drawn in a colour from cool to hot by its utilization) and
  the nonzeros per core of every kernel's weights (a heat layer, embedded as a
  PNG image written here with zlib). Needs nothing beyond the standard library
  and numpy. `write_map(scene, path)` writes ``.svg``, or ``.png`` through
  matplotlib when it is installed (the ``wsc[viz]`` extra).

Coordinates: x is the column (left to right), y the row, drawn bottom to top
(row 0 at the bottom), as in the placement's lower corners.
"""
from __future__ import annotations

import base64
import math
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

SYMBOLS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


@dataclass
class MapKernel:
    """One kernel as the map draws it: its rectangle (lower corner, width along x)."""

    name: str
    op: str
    kind: str
    x: int
    y: int
    w: int
    h: int
    time: float = 0.0
    nnz: np.ndarray | None = None      # nonzeros per core, (h, w) in grid orientation, row 0 = y


@dataclass
class MapScene:
    """What a map shows: the mesh, the kernels, the loaded boundaries, a title."""

    width: int
    height: int
    kernels: list[MapKernel]
    target: str = ""
    title: str = ""
    # (x0, y0, x1, y1, utilization) of every loaded boundary segment
    segments: list[tuple[float, float, float, float, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --- the scene from a wafer report ---------------------------------------------------

def scene_from_report(report: dict) -> MapScene:
    """A `MapScene` from the ``reports.wafer`` JSON of an artifact (`compiler.passes.place`)."""
    t = report["target"]
    kernels = []
    for k in report.get("kernels", []):
        if "x" not in k:
            continue
        nnz = _nnz_grid(k)
        kernels.append(MapKernel(k["name"], k["op"], k.get("kind", ""), k["x"], k["y"], k["w"],
                                 k["h"], float(k.get("time", 0)), nnz))
    segments = []
    routes = report.get("routes") or {}
    for b in routes.get("bundles", []):
        x0, y0, x1, y1 = b["segment"]
        segments.append((x0, y0, x1, y1, float(b["utilization"])))
    perf = report.get("performance") or {}
    title = f"{report.get('model', '')} on {t['name']} ({t['width']}x{t['height']})".strip()
    notes = []
    if perf:
        notes.append(f"{perf.get('throughput', 0):.4g} samples/s, bottleneck "
                     f"{perf.get('bottleneck', {}).get('kernel', '?')}")
        eff = (report.get("placement") or {}).get("efficiency")
        if eff is not None:
            notes.append(f"placement efficiency {eff:.2f}, {perf.get('active_cores', 0):.1%} "
                         f"cores active")
    if routes:
        notes.append(f"mean hops {routes.get('mean_hops', 0):.3g}, max link utilization "
                     f"{routes.get('max_utilization', 0):.2f}")
    return MapScene(t["width"], t["height"], kernels, t["name"], title, segments, notes)


def _nnz_grid(k: dict) -> np.ndarray | None:
    """Nonzeros per core over the kernel's footprint, from its report's layout."""
    lay = k.get("layout")
    if not lay or not lay.get("rows"):
        return None
    rows = np.asarray(lay["rows"], dtype=np.float64)          # per grid row of one replica
    cols = np.asarray(lay["cols"], dtype=np.float64)          # per column group
    if lay.get("grid") == "outer":
        block = np.outer(rows, cols)
    else:                                                     # "chunks": group j dealt to k cores
        kk = len(rows)
        block = np.stack([_deal(c, kk) for c in cols], axis=1)
    grid = np.tile(block, (1, int(lay.get("replicas", 1))))   # (height, width) unrotated
    if k.get("rotated"):
        grid = grid.T
    h, w = k["h"], k["w"]
    if grid.shape != (h, w):
        return None
    return grid


def _deal(total: float, parts: int) -> np.ndarray:
    base, extra = divmod(int(total), parts)
    out = np.full(parts, base, dtype=np.float64)
    out[:extra] += 1
    return out


# --- ASCII ----------------------------------------------------------------------------

def symbol(i: int) -> str:
    return SYMBOLS[i % len(SYMBOLS)]


def _labels(scene: MapScene) -> np.ndarray:
    """The grid of kernel indices (-1: free), row 0 = y 0."""
    label = np.full((scene.height, scene.width), -1, dtype=np.int32)
    for i, k in enumerate(scene.kernels):
        label[k.y:k.y + k.h, k.x:k.x + k.w] = i
    return label


def ascii_map(scene: MapScene, max_cols: int = 96, max_rows: int = 48,
              legend: bool = True) -> str:
    """The placement as text: one character per block of cores (see the module docstring).

    A block shows the kernel holding most of its cores, or ``.`` when most are free.
    On a mesh of at most `max_cols` x `max_rows` cores a character is one core.
    """
    W, H = scene.width, scene.height
    if W <= max_cols and H <= max_rows:
        sx = sy = 1
    else:
        sx = max(math.ceil(W / max_cols), math.ceil(H / (2 * max_rows)))
        sy = 2 * sx
    cols, rows = math.ceil(W / sx), math.ceil(H / sy)
    label = _labels(scene)
    n = len(scene.kernels)
    by, bx = np.divmod(np.arange(H * W), W)
    block = (by // sy) * cols + (bx // sx)
    counts = np.zeros((rows * cols, n + 1), dtype=np.int64)
    np.add.at(counts, (block, label.ravel() + 1), 1)
    kern = counts[:, 1:]
    best = kern.argmax(axis=1) if n else np.zeros(rows * cols, dtype=np.int64)
    held = kern.max(axis=1) if n else np.zeros(rows * cols, dtype=np.int64)
    size = counts.sum(axis=1)
    chars = np.where(2 * held >= size, np.array([symbol(i) for i in best]) if n else ".", ".")
    chars = np.asarray(chars).reshape(rows, cols)
    scale = "1 character = 1 core" if sx == sy == 1 else f"1 character = {sx}x{sy} cores"
    head = f"{scene.target or 'mesh'} {W}x{H}, {n} kernel{'s' if n != 1 else ''}, {scale} " \
           f"(x right, y up)"
    lines = [head]
    ylab = len(str(H - 1))
    pad = " " * (ylab + 1)
    lines.append(pad + "+" + "-" * cols + "+")
    for r in range(rows - 1, -1, -1):
        y0 = r * sy
        lines.append(f"{y0:>{ylab}} |" + "".join(chars[r]) + "|")
    lines.append(pad + "+" + "-" * cols + "+")
    right = str(W - 1)
    axis = pad + " 0"
    gap = cols - 1 - len(right)
    if gap >= 1:
        axis += " " * gap + right
    lines.append(axis)
    if legend and n:
        lines.append("")
        rows_out = [("", "kernel", "op", "at (x,y)", "size", "cycles")]
        for i, k in enumerate(scene.kernels):
            rows_out.append((symbol(i), k.name, k.op, f"({k.x},{k.y})", f"{k.w}x{k.h}",
                             f"{k.time:.0f}"))
        widths = [max(len(r[c]) for r in rows_out) for c in range(len(rows_out[0]))]
        for j, r in enumerate(rows_out):
            cells = [c.rjust(wd) if c_i in (5,) else c.ljust(wd)
                     for c_i, (c, wd) in enumerate(zip(r, widths))]
            lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"
