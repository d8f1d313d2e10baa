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
    if not lay or not lay.get("cols"):
        return None
    cols = np.asarray(lay["cols"], dtype=np.float64)          # per column group
    if lay.get("grid") == "outer":                            # dense: row sizes x column sizes
        block = np.outer(np.asarray(lay["rows"], dtype=np.float64), cols)
    else:                                                     # "chunks": group j dealt to k cores
        block = np.stack([_deal(c, int(lay["k"])) for c in cols], axis=1)
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


def ascii_map(scene: MapScene, max_cols: int = 96, max_rows: int = 64,
              legend: bool = True) -> str:
    """The placement as text: one character per block of cores (see the module docstring).

    A block shows the kernel holding most of its cores, or ``.`` when at least half
    are free; a kernel too small to win any block is shown in the block where it
    holds the most. On a mesh of at most `max_cols` x `max_rows` cores a character
    is one core; otherwise a block is twice as tall as wide (as a character is).
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
    owner = np.where(2 * held >= size, best, -1) if n else np.full(rows * cols, -1)
    shown = set(owner[owner >= 0].tolist())
    for i in range(n):          # every kernel shows somewhere
        if i not in shown and kern[:, i].max() > 0:
            b = int(np.argmax(kern[:, i]))
            owner[b] = i
    chars = np.array([symbol(i) if i >= 0 else "." for i in owner]).reshape(rows, cols)
    scale = "1 character = 1 core" if sx == sy == 1 else f"1 character = {sx}x{sy} cores"
    name = scene.target if scene.target and scene.target != f"{W}x{H}" else "mesh"
    head = f"{name} {W}x{H}, {n} kernel{'s' if n != 1 else ''}, {scale} (x right, y up)"
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


# --- colours ----------------------------------------------------------------------------

KIND_COLOURS = {
    "matmul": "#4c78a8", "conv": "#2f6f9f", "contraction": "#4c78a8", "attention": "#8e6bbf",
    "elementwise": "#59a14f", "fused": "#7f9f3f", "normalization": "#f28e2b", "pool": "#76b7b2",
    "reduction": "#edc948", "recurrent": "#e15759", "opaque": "#9c755f",
}
FREE = "#ececec"
# viridis, sampled: dark blue (few) to yellow (many)
_VIRIDIS = [(68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141),
            (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37)]
# link load: blue (idle) through yellow to red (at capacity), magenta beyond
_LOAD = [(49, 54, 149), (69, 117, 180), (116, 173, 209), (171, 217, 233), (254, 224, 144),
         (253, 174, 97), (244, 109, 67), (215, 48, 39)]
OVER = (200, 0, 160)


def _hex(rgb) -> str:
    return "#%02x%02x%02x" % tuple(int(round(c)) for c in rgb)


def _rgb(hexcode: str) -> tuple[int, int, int]:
    return tuple(int(hexcode[i:i + 2], 16) for i in (1, 3, 5))


def ramp(values: np.ndarray, stops) -> np.ndarray:
    """Colours (..., 3) for values in [0, 1] along the colour stops."""
    v = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float64)), 0.0, 1.0)
    pos = v * (len(stops) - 1)
    i = np.minimum(pos.astype(np.int64), len(stops) - 2)
    f = (pos - i)[..., None]
    s = np.asarray(stops, dtype=np.float64)
    return s[i] * (1 - f) + s[i + 1] * f


def load_colour(u: float) -> str:
    return _hex(OVER) if u > 1 + 1e-9 else _hex(ramp(np.array(u), _LOAD))


def kernel_colour(kind: str, i: int) -> str:
    """The kind's colour; every other kernel a little lighter, so neighbours stand apart."""
    base = np.array(_rgb(KIND_COLOURS.get(kind, KIND_COLOURS["opaque"])), dtype=np.float64)
    if i % 2:
        base = base + (255 - base) * 0.28
    return _hex(base)


# --- PNG (for the SVG's raster layers) --------------------------------------------------

def png_bytes(rgb: np.ndarray) -> bytes:
    """An RGB or RGBA uint8 image (rows top to bottom) as PNG bytes, with zlib only."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, c = rgb.shape
    kind = {3: 2, 4: 6}[c]
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + \
            struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, kind, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def nnz_layer(scene: MapScene) -> tuple[np.ndarray, float, float]:
    """Nonzeros per core over the mesh (NaN where no kernel holds weights), its min and max."""
    grid = np.full((scene.height, scene.width), np.nan)
    for k in scene.kernels:
        if k.nnz is not None and k.nnz.shape == (k.h, k.w):
            grid[k.y:k.y + k.h, k.x:k.x + k.w] = k.nnz
    known = grid[np.isfinite(grid)]
    if known.size == 0:
        return grid, 0.0, 0.0
    return grid, float(known.min()), float(known.max())


def nnz_image(scene: MapScene) -> tuple[np.ndarray, float, float]:
    """The nonzeros layer as RGBA (row 0 = top of the drawing), with its range."""
    grid, lo, hi = nnz_layer(scene)
    img = np.zeros((scene.height, scene.width, 4), dtype=np.uint8)
    known = np.isfinite(grid)
    if known.any():
        # a log scale: kernels differ by orders of magnitude, cores of one kernel by little
        llo, lhi = np.log1p(lo), np.log1p(hi)
        scaled = (np.log1p(np.where(known, grid, lo)) - llo) / (lhi - llo) if hi > lo else \
            np.full(grid.shape, 0.5)
        img[..., :3] = ramp(scaled, _VIRIDIS).astype(np.uint8)
        img[..., 3] = np.where(known, 255, 0)
    return img[::-1], lo, hi


# --- SVG --------------------------------------------------------------------------------

PANEL = 420          # px: the longer side of each panel's mesh


def svg_map(scene: MapScene) -> str:
    """The wafer map as an SVG document (see the module docstring)."""
    W, H = scene.width, scene.height
    s = PANEL / max(W, H)
    pw, ph = W * s, H * s
    margin, gap, top = 16, 28, 64 + 14 * len(scene.notes)
    legend_h = 96
    total_w = margin * 2 + pw * 3 + gap * 2
    total_h = top + ph + legend_h
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w:.0f}" '
           f'height="{total_h:.0f}" viewBox="0 0 {total_w:.0f} {total_h:.0f}" '
           f'font-family="Helvetica, Arial, sans-serif">',
           f'<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{margin}" y="26" font-size="17" font-weight="bold">'
           f'{escape(scene.title or "wafer map")}</text>']
    for i, note in enumerate(scene.notes):
        out.append(f'<text x="{margin}" y="{46 + 14 * i}" font-size="12" fill="#444">'
                   f'{escape(note)}</text>')

    def box(k: MapKernel, x0: float) -> tuple[float, float, float, float]:
        return x0 + k.x * s, top + (H - k.y - k.h) * s, k.w * s, k.h * s

    panels = ["kernels", "link load (utilization of each boundary's links)",
              "weight nonzeros per core"]
    for p, name in enumerate(panels):
        x0 = margin + p * (pw + gap)
        out.append(f'<text x="{x0:.1f}" y="{top - 6:.1f}" font-size="12" font-weight="bold">'
                   f'{escape(name)}</text>')
        out.append(f'<g class="panel" id="panel-{p}">')
        out.append(f'<rect x="{x0:.2f}" y="{top:.2f}" width="{pw:.2f}" height="{ph:.2f}" '
                   f'fill="{FREE}" stroke="#999" stroke-width="0.5"/>')
        if p == 0:
            for i, k in enumerate(scene.kernels):
                bx, by, bw, bh = box(k, x0)
                label = k.name
                # tall rectangles get their label turned, along the long side
                along, across = (bh, bw) if bh > bw else (bw, bh)
                size = max(1.0, min(11.0, across * 0.8, along / (0.62 * max(1, len(label)))))
                cx, cy = bx + bw / 2, by + bh / 2
                turn = f' transform="rotate(-90 {cx:.2f} {cy:.2f})"' if bh > bw else ""
                tip = (f"{k.name}: {k.op} ({k.kind}), {k.w}x{k.h} cores at ({k.x},{k.y}), "
                       f"{k.time:.0f} cycles")
                out.append(f'<g class="kernel"><title>{escape(tip)}</title>'
                           f'<rect x="{bx:.2f}" y="{by:.2f}" width="{bw:.2f}" height="{bh:.2f}" '
                           f'fill="{kernel_colour(k.kind, i)}" stroke="white" '
                           f'stroke-width="0.3"/>'
                           f'<text x="{cx:.2f}" y="{cy + size * 0.35:.2f}"{turn} '
                           f'font-size="{size:.2f}" text-anchor="middle" fill="white">'
                           f'{escape(label)}</text></g>')
        else:
            if p == 2:
                img, lo, hi = nnz_image(scene)
                data = base64.b64encode(png_bytes(img)).decode("ascii")
                out.append(f'<image x="{x0:.2f}" y="{top:.2f}" width="{pw:.2f}" '
                           f'height="{ph:.2f}" preserveAspectRatio="none" '
                           f'style="image-rendering:pixelated" '
                           f'href="data:image/png;base64,{data}"/>')
            for k in scene.kernels:
                bx, by, bw, bh = box(k, x0)
                out.append(f'<rect x="{bx:.2f}" y="{by:.2f}" width="{bw:.2f}" '
                           f'height="{bh:.2f}" fill="none" stroke="#777" stroke-width="0.3">'
                           f'<title>{escape(k.name)}</title></rect>')
            if p == 1:
                for (sx0, sy0, sx1, sy1, u) in sorted(scene.segments, key=lambda g: g[4]):
                    X0, X1 = x0 + sx0 * s, x0 + sx1 * s
                    Y0, Y1 = top + (H - sy0) * s, top + (H - sy1) * s
                    out.append(f'<line x1="{X0:.2f}" y1="{Y0:.2f}" x2="{X1:.2f}" y2="{Y1:.2f}" '
                               f'stroke="{load_colour(u)}" stroke-width="2.2" '
                               f'stroke-linecap="round"><title>{u:.2f}x capacity</title></line>')
        out.append('</g>')

    # legends
    ly = top + ph + 22
    x0 = margin
    kinds = sorted({k.kind for k in scene.kernels})
    for j, kind in enumerate(kinds):
        cx = x0 + (j % 3) * (pw / 3)
        cy = ly + (j // 3) * 16
        out.append(f'<rect x="{cx:.1f}" y="{cy - 9:.1f}" width="10" height="10" '
                   f'fill="{kernel_colour(kind, 0)}"/>'
                   f'<text x="{cx + 14:.1f}" y="{cy:.1f}" font-size="11">{escape(kind)}</text>')
    x1 = margin + pw + gap
    _colour_bar(out, x1, ly - 9, pw * 0.7, _LOAD, "0", "1.0 (at capacity)")
    out.append(f'<rect x="{x1 + pw * 0.7 + 8:.1f}" y="{ly - 9:.1f}" width="10" height="10" '
               f'fill="{_hex(OVER)}"/><text x="{x1 + pw * 0.7 + 22:.1f}" y="{ly:.1f}" '
               f'font-size="11">over</text>')
    x2 = margin + 2 * (pw + gap)
    _, lo, hi = nnz_layer(scene)
    if hi > 0:
        _colour_bar(out, x2, ly - 9, pw * 0.7, _VIRIDIS, f"{lo:.0f}",
                    f"{hi:.0f} nonzeros (log scale)")
    else:
        out.append(f'<text x="{x2:.1f}" y="{ly:.1f}" font-size="11">no weights</text>')
    out.append('</svg>')
    return "\n".join(out) + "\n"


def _colour_bar(out: list[str], x: float, y: float, w: float, stops, lo: str, hi: str) -> None:
    n = 24
    for i in range(n):
        c = _hex(ramp(np.array((i + 0.5) / n), stops))
        out.append(f'<rect x="{x + i * w / n:.2f}" y="{y:.2f}" width="{w / n + 0.3:.2f}" '
                   f'height="10" fill="{c}"/>')
    out.append(f'<text x="{x:.1f}" y="{y + 24:.1f}" font-size="11">{escape(lo)}</text>'
               f'<text x="{x + w:.1f}" y="{y + 24:.1f}" font-size="11" text-anchor="end">'
               f'{escape(hi)}</text>')


# --- files ------------------------------------------------------------------------------

def write_map(scene: MapScene, path: "str | Path") -> Path:
    """Write the map to `path`: ``.svg`` always works; ``.png`` needs matplotlib."""
    from ..errors import CompileError
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".svg":
        data = svg_map(scene).encode("utf-8")
    elif suffix == ".png":
        data = _png_with_matplotlib(scene)
    else:
        raise CompileError(f"cannot draw the wafer map as {suffix or 'a file without suffix'!r}",
                           hint="give a .svg file (or .png with matplotlib installed)")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def _png_with_matplotlib(scene: MapScene) -> bytes:
    """The three panels as a PNG, drawn by matplotlib (the optional ``wsc[viz]`` extra)."""
    from ..errors import CompileError
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Rectangle
    except ImportError:
        raise CompileError("a PNG wafer map needs matplotlib, which is not installed",
                           hint="pip install 'wsc[viz]', or write an .svg map instead") from None
    import io
    fig, axes = plt.subplots(1, 3, figsize=(15, 15 * scene.height / scene.width / 3 + 1.2),
                             dpi=110)
    fig.suptitle("\n".join([scene.title] + scene.notes), fontsize=10)
    for ax, name in zip(axes, ("kernels", "link load", "weight nonzeros per core")):
        ax.set_title(name, fontsize=9)
        ax.set_xlim(0, scene.width)
        ax.set_ylim(0, scene.height)
        ax.set_aspect("equal")
        ax.set_facecolor(FREE)
        ax.tick_params(labelsize=6)
    for i, k in enumerate(scene.kernels):
        axes[0].add_patch(Rectangle((k.x, k.y), k.w, k.h, facecolor=kernel_colour(k.kind, i),
                                    edgecolor="white", linewidth=0.2))
        size = min(6.0, k.h * 0.25, k.w * 0.4 / max(1, len(k.name)))
        if size >= 2:
            axes[0].text(k.x + k.w / 2, k.y + k.h / 2, k.name, ha="center", va="center",
                         fontsize=size, color="white")
        for ax in axes[1:]:
            ax.add_patch(Rectangle((k.x, k.y), k.w, k.h, fill=False, edgecolor="#777",
                                   linewidth=0.2))
    for (x0, y0, x1, y1, u) in sorted(scene.segments, key=lambda g: g[4]):
        axes[1].plot([x0, x1], [y0, y1], color=load_colour(u), linewidth=1.2)
    img, lo, hi = nnz_image(scene)
    axes[2].imshow(img, extent=(0, scene.width, 0, scene.height), interpolation="nearest")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
