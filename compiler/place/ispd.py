"""The ISPD 2020 placement contest: `.kgraph` reader, dblock/cblock models, solution files.

The contest (Cerebras, "Physical Mapping of Neural Networks on a Wafer-Scale
Deep Learning Accelerator", ISPD 2020) gives a graph of kernels (`.kgraph`) and
asks for each kernel's execution parameters and a place on a 633 x 633 grid.
`shared/ispd2020/README.md` describes the input format and kernel models.

Reading::

    graph = read_kgraph("A.kgraph")        # KGraph: header, nodes, edges
    problem = graph.to_problem()           # a PlacementProblem for the placer

Solution files follow the format of the contest's example solution as kept in
the entrant repository searsm8/ISPD_2020 (`results/ex_placement.paint`, and the
writer `printKernelToFile` in its `CometPlacer.cpp`)::

    include "common.paint"
    k01 = conv( H W C K R S T U h w c k )
    k01 : name('k1')
    k01 : place(x y R0)
    k05 = dblock( H W F h w c1 c2 c3 k1 k2 k3 )
    ...
    kmap = union( k01 k02 ... )

Kernel ids are ``k`` and the kgraph index, zero-padded to two digits. The
formal parameters come first (conv: H W C K R S T U; dblock and cblock:
H W F), then the execution parameters (conv: h w c k; dblock: h w c1..c3
k1..k3; cblock: h w c1..c4 k1..k4). ``place(x y R)`` puts the rectangle's
lower corner at column x, row y; R0 keeps the shape (width 3k along x, height
h*w*(c+1) along y), R90 swaps the two. The example files write the name line
with an unbalanced quote (``name('k01)``); we write ``name('k1')`` and read both.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import ParseError
from ..ir.location import Location
from .kernel_models import ConvModel, ConvPart, KernelModel
from .problem import Edge, Kernel, PlacementProblem

KERNEL_KINDS = ("conv", "dblock", "cblock")
TERMINAL_KINDS = ("input", "output")

# The contest's fixed values, used when a kgraph has no header.
DEFAULT_HEADER = {"width": "633", "height": "633", "wdeltat": "1", "wlength": "1",
                  "wadapter": "0", "memlimit": "24576"}


def dblock_model(H: int, W: int, F: int) -> ConvModel:
    """The residual block: 1x1 F->F/4, 3x3 F/4->F/4, 1x1 F/4->F, sharing h and w."""
    q = F // 4
    return ConvModel((ConvPart(H, W, 1, 1, F, q, 1),
                      ConvPart(H, W, 3, 3, q, q, 1),
                      ConvPart(H, W, 1, 1, q, F, 1)), kind="dblock")


def cblock_model(H: int, W: int, F: int) -> ConvModel:
    """The downsampling residual block (four convolutions; the third at half resolution)."""
    q, half = F // 4, F // 2
    return ConvModel((ConvPart(H, W, 1, 1, half, q, 1),
                      ConvPart(H, W, 3, 3, q, q, 2),
                      ConvPart(H, W, 1, 1, q, F, 1, den=2),
                      ConvPart(H, W, 1, 1, half, F, 2)), kind="cblock")


# --- the .kgraph reader -------------------------------------------------------

@dataclass
class KNode:
    """A node definition: ``kind[index] key=value ...``."""

    kind: str
    index: int
    attrs: dict[str, str]
    loc: Location

    @property
    def is_kernel(self) -> bool:
        return self.kind in KERNEL_KINDS

    @property
    def name(self) -> str:
        return self.attrs.get("name", f"k{self.index}")

    @property
    def solution_id(self) -> str:
        return f"k{self.index:02d}"

    def formal(self) -> tuple[int, ...]:
        """The formal parameters in solution-file order (conv: H W C K R S T U; blocks: H W F)."""
        a = self.attrs
        if self.kind == "conv":
            return tuple(int(a[k]) for k in ("H", "W", "C", "K", "R", "S", "T", "U"))
        return int(a["h"]), int(a["w"]), int(a["f"])

    def model(self) -> ConvModel:
        a = self.attrs
        if self.kind == "conv":
            # The handout divides by T*T (U, the second stride, equals T in every benchmark).
            return ConvModel.single(int(a["H"]), int(a["W"]), int(a["R"]), int(a["S"]),
                                    int(a["C"]), int(a["K"]), int(a["T"]))
        H, W, F = int(a["h"]), int(a["w"]), int(a["f"])
        return dblock_model(H, W, F) if self.kind == "dblock" else cblock_model(H, W, F)


@dataclass
class KEdge:
    """A connection ``src[i]:port -> dst[j]:port, shape:[..]..``."""

    src: tuple[str, int]
    dst: tuple[str, int]
    shape: tuple[int, ...]
    loc: Location


@dataclass
class KGraph:
    """A parsed `.kgraph`: header values, nodes and edges."""

    header: dict[str, str]
    nodes: list[KNode]
    edges: list[KEdge]
    path: str = "<kgraph>"
    _by_key: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_key = {(n.kind, n.index): n for n in self.nodes}

    def node(self, key: tuple[str, int]) -> KNode:
        return self._by_key[key]

    def _int(self, key: str) -> int:
        value = self.header.get(key, DEFAULT_HEADER.get(key))
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ParseError(f"header value {key}={value!r} is not an integer",
                             Location(file=self.path)) from None

    @property
    def name(self) -> str:
        return self.header.get("test", Path(self.path).stem)

    width = property(lambda self: self._int("width"))
    height = property(lambda self: self._int("height"))
    memlimit = property(lambda self: self._int("memlimit"))
    wdeltat = property(lambda self: self._int("wdeltat"))
    wlength = property(lambda self: self._int("wlength"))
    wadapter = property(lambda self: self._int("wadapter"))

    @property
    def kernels(self) -> list[KNode]:
        return [n for n in self.nodes if n.is_kernel]

    def kernel_edges(self) -> list[KEdge]:
        """Edges between two kernels (terminals are not placed; the contest ignores them)."""
        return [e for e in self.edges
                if e.src[0] in KERNEL_KINDS and e.dst[0] in KERNEL_KINDS]

    def to_problem(self) -> PlacementProblem:
        """The placement problem: one kernel per node, every kernel->kernel edge of weight 1."""
        kernels = [Kernel(n.name, n.model(), n.loc) for n in self.kernels]
        edges = [Edge(self.node(e.src).name, self.node(e.dst).name, 1.0)
                 for e in self.kernel_edges()]
        return PlacementProblem(kernels, edges, self.width, self.height, self.memlimit,
                                name=self.name)


_NODE = re.compile(r"(\w+)\s*\[\s*(\d+)\s*\]")
_ATTR = re.compile(r"\s*(\w+)\s*=\s*(\[[^\]]*\]|'[^']*'|\"[^\"]*\"|[^\s\[\]'\"]+)")
_END = re.compile(r"\s*(\w+)\s*\[\s*(\d+)\s*\]\s*:\s*(\w+)\s*")
_SHAPE = re.compile(r"\s*,\s*shape\s*:\s*((?:\[\s*\d+\s*\]\s*)+)\s*$")
_HEADER = re.compile(r"^\s*(\w+)\s*=\s*(.*?)\s*$")

_CONV_KEYS = ("H", "W", "R", "S", "C", "K", "T")
_BLOCK_KEYS = ("f", "h", "w")


class _Reader:
    def __init__(self, text: str, path: str, from_file: bool):
        self.text = text
        self.path = path
        self.from_file = from_file

    def loc(self, line: int, col: int = 1) -> Location:
        return Location(file=self.path, line=line, col=col,
                        source_text=None if self.from_file else self.text)

    def error(self, msg: str, line: int, col: int = 1, hint: str | None = None,
              width: int = 1) -> ParseError:
        return ParseError(msg, self.loc(line, col), hint=hint, width=width)


def parse_kgraph(text: str, path: str = "<kgraph>", *, from_file: bool = False) -> KGraph:
    """Parse `.kgraph` text; raise `ParseError` with the line and column of a problem."""
    rd = _Reader(text, path, from_file)
    header: dict[str, str] = {}
    nodes: list[KNode] = []
    edges: list[KEdge] = []
    in_comment = False
    opened = (1, 1)
    for lineno, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r")
        if lineno == 1:
            line = line.lstrip("\ufeff")
        pos = 0
        code_parts: list[tuple[int, str]] = []   # (column offset, text) outside comments
        while pos <= len(line):
            if in_comment:
                end = line.find("*)", pos)
                body = line[pos:] if end < 0 else line[pos:end]
                m = _HEADER.match(body)
                if m:
                    header[m.group(1)] = m.group(2)
                if end < 0:
                    break
                in_comment = False
                pos = end + 2
            else:
                start = line.find("(*", pos)
                seg = line[pos:] if start < 0 else line[pos:start]
                stray = seg.find("*)")
                if stray >= 0:
                    raise rd.error("'*)' closes a comment that was never opened", lineno,
                                   pos + stray + 1, hint="comments are written (* ... *)",
                                   width=2)
                code_parts.append((pos, seg))
                if start < 0:
                    break
                in_comment = True
                opened = (lineno, start + 1)
                pos = start + 2
        for offset, seg in code_parts:
            if seg.strip():
                _parse_statement(rd, seg, offset, lineno, nodes, edges)
    if in_comment:
        raise rd.error("this comment is never closed", *opened, hint="close it with '*)'",
                       width=2)
    graph = KGraph(header, nodes, edges, path)
    _check_graph(rd, graph)
    return graph


def read_kgraph(path: str | Path) -> KGraph:
    """Read and parse a `.kgraph` file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise ParseError(f"cannot read {p}: {e.strerror}", Location(file=str(p))) from None
    except UnicodeDecodeError:
        raise ParseError(f"{p} is not a UTF-8 text file", Location(file=str(p))) from None
    return parse_kgraph(text, str(p), from_file=True)


def _parse_statement(rd: _Reader, seg: str, offset: int, lineno: int,
                     nodes: list[KNode], edges: list[KEdge]) -> None:
    col0 = offset + (len(seg) - len(seg.lstrip())) + 1
    body = seg.strip()
    if "->" in body:
        _parse_edge(rd, body, col0, lineno, edges)
        return
    m = _NODE.match(body)
    if not m:
        raise rd.error(f"expected a node definition such as 'conv[1] H=14 ...' or an edge "
                       f"'a[1]:y -> b[2]:x', got {body[:40]!r}", lineno, col0)
    kind, index = m.group(1), int(m.group(2))
    if kind not in KERNEL_KINDS + TERMINAL_KINDS:
        raise rd.error(f"unknown node kind {kind!r}", lineno, col0, width=len(kind),
                       hint="node kinds: " + ", ".join(TERMINAL_KINDS + KERNEL_KINDS))
    attrs: dict[str, str] = {}
    pos = m.end()
    while pos < len(body):
        if body[pos:].strip() == "":
            break
        am = _ATTR.match(body, pos)
        if not am:
            raise rd.error(f"expected key=value, got {body[pos:].strip()[:30]!r}", lineno,
                           col0 + pos + (len(body[pos:]) - len(body[pos:].lstrip())))
        key, value = am.group(1), am.group(2)
        if value[:1] in "'\"":
            value = value[1:-1]
        if key in attrs and key != "name":   # B and F repeat name= on terminals; last wins
            raise rd.error(f"attribute {key!r} is given twice", lineno, col0 + am.start(1),
                           width=len(key))
        attrs[key] = value
        pos = am.end()
    node = KNode(kind, index, attrs, rd.loc(lineno, col0))
    _check_node(rd, node, lineno, col0)
    nodes.append(node)


def _check_node(rd: _Reader, node: KNode, lineno: int, col: int) -> None:
    if not node.is_kernel:
        return
    if node.kind == "conv":
        # keys are upper case in the contest's files; accept either case
        node.attrs = {(k.upper() if k.upper() in _CONV_KEYS + ("U",) else k): v
                      for k, v in node.attrs.items()}
        need = _CONV_KEYS
    else:
        node.attrs = {(k.lower() if k.lower() in _BLOCK_KEYS else k): v
                      for k, v in node.attrs.items()}
        need = _BLOCK_KEYS
    missing = [k for k in need if k not in node.attrs]
    if missing:
        raise rd.error(f"{node.kind}[{node.index}] lacks {', '.join(missing)}", lineno, col,
                       hint=f"a {node.kind} needs " + " ".join(f"{k}=..." for k in need))
    for k in need + (("U",) if node.kind == "conv" else ()):
        if k not in node.attrs:
            continue
        v = node.attrs[k]
        if not v.isdigit() or int(v) < 1:
            raise rd.error(f"{node.kind}[{node.index}] {k}={v!r} must be a positive integer",
                           lineno, col)
    if node.kind == "conv":
        node.attrs.setdefault("U", node.attrs["T"])
    elif int(node.attrs["f"]) % 4:
        raise rd.error(f"{node.kind}[{node.index}] f={node.attrs['f']} must be a multiple of 4",
                       lineno, col, hint="its convolutions have f/4 and f/2 channels")


def _parse_edge(rd: _Reader, body: str, col0: int, lineno: int, edges: list[KEdge]) -> None:
    left, _, right = body.partition("->")
    ms = _END.fullmatch(left)
    if not ms:
        raise rd.error("expected 'kind[index]:port' before '->'", lineno, col0)
    shape: tuple[int, ...] = ()
    sm = _SHAPE.search(right)
    if sm:
        shape = tuple(int(x) for x in re.findall(r"\d+", sm.group(1)))
        right = right[:sm.start()]
    md = _END.fullmatch(right)
    if not md:
        raise rd.error("expected 'kind[index]:port' after '->' (then ', shape:[..][..]')",
                       lineno, col0 + len(left) + 2)
    edges.append(KEdge((ms.group(1), int(ms.group(2))), (md.group(1), int(md.group(2))),
                       shape, rd.loc(lineno, col0)))


def _check_graph(rd: _Reader, graph: KGraph) -> None:
    seen: dict[tuple[str, int], KNode] = {}
    kernel_index: dict[int, KNode] = {}
    for n in graph.nodes:
        if (n.kind, n.index) in seen:
            raise ParseError(f"{n.kind}[{n.index}] is defined twice (first at line "
                             f"{seen[(n.kind, n.index)].loc.line})", n.loc)
        seen[(n.kind, n.index)] = n
        if n.is_kernel:
            if n.index in kernel_index:
                other = kernel_index[n.index]
                raise ParseError(f"kernels {other.kind}[{n.index}] and {n.kind}[{n.index}] "
                                 f"share the index {n.index}", n.loc,
                                 hint="kernel indices name kernels in solution files (kNN)")
            kernel_index[n.index] = n
    names: dict[str, KNode] = {}
    for n in graph.kernels:
        if n.name in names:
            raise ParseError(f"two kernels are named {n.name!r}", n.loc)
        names[n.name] = n
    for e in graph.edges:
        for end in (e.src, e.dst):
            if end not in seen:
                raise ParseError(f"edge refers to {end[0]}[{end[1]}], which is not defined",
                                 e.loc, hint="define every node before the Connectivity section")
    for key in ("width", "height", "memlimit", "wdeltat", "wlength", "wadapter"):
        graph._int(key)


# --- solution files -------------------------------------------------------------

@dataclass
class SolutionEntry:
    """One kernel of a solution file: its sizing line and its place line."""

    sid: str
    kind: str | None = None
    numbers: tuple[int, ...] = ()
    name: str | None = None
    x: int | None = None
    y: int | None = None
    rotated: bool = False
    line: int = 0


def format_solution(graph: KGraph, placed: dict[str, "object"]) -> str:
    """The solution file of a placement (`placed`: kernel name -> PlacedKernel)."""
    out = ['include "common.paint"']
    ids = []
    for n in sorted(graph.kernels, key=lambda n: n.index):
        p = placed[n.name]
        numbers = n.formal() + tuple(int(v) for v in p.params)
        sid = n.solution_id
        ids.append(sid)
        out.append(f"{sid} = {n.kind}( {' '.join(str(v) for v in numbers)} )")
        out.append(f"{sid} : name('{n.name}')")
        out.append(f"{sid} : place({p.x} {p.y} {'R90' if p.rotated else 'R0'})")
    # the union line, wrapped like the example's
    line = "kmap = union("
    lines = []
    for sid in ids:
        if len(line) + len(sid) + 1 > 79:
            lines.append(line)
            line = sid
        else:
            line += " " + sid
    lines.append(line + " )")
    out.extend(lines)
    return "\n".join(out) + "\n"


_SIZING = re.compile(r"^(k\d+)\s*=\s*(\w+)\s*\(\s*([-\d\s]*)\)\s*$")
_NAME = re.compile(r"^(k\d+)\s*:\s*name\s*\(\s*'([^')]*)'?\s*\)\s*$")
_PLACE = re.compile(r"^(k\d+)\s*:\s*place\s*\(\s*(-?\d+)\s+(-?\d+)\s+(R0|R90)\s*\)\s*$")


def parse_solution(text: str, path: str = "<solution>") -> dict[str, SolutionEntry]:
    """Read a solution file's kernels; `ParseError` on a line that is not of the format."""
    entries: dict[str, SolutionEntry] = {}
    lines = text.split("\n")
    in_union = False
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip().lstrip("\ufeff")
        loc = Location(file=path, line=lineno, col=1, source_text=text)
        if not line or line.startswith("//"):
            continue
        if in_union:
            in_union = ")" not in line
            continue
        if line.startswith("include "):
            continue
        if line.startswith("kmap") and "union" in line:
            in_union = ")" not in line
            continue
        m = _SIZING.match(line)
        if m:
            e = entries.setdefault(m.group(1), SolutionEntry(m.group(1)))
            if e.kind is not None:
                raise ParseError(f"{m.group(1)} is sized twice", loc)
            e.kind = m.group(2)
            e.numbers = tuple(int(v) for v in m.group(3).split())
            e.line = lineno
            continue
        m = _NAME.match(line)
        if m:
            entries.setdefault(m.group(1), SolutionEntry(m.group(1))).name = m.group(2)
            continue
        m = _PLACE.match(line)
        if m:
            e = entries.setdefault(m.group(1), SolutionEntry(m.group(1)))
            if e.x is not None:
                raise ParseError(f"{m.group(1)} is placed twice", loc)
            e.x, e.y, e.rotated = int(m.group(2)), int(m.group(3)), m.group(4) == "R90"
            e.line = e.line or lineno
            continue
        raise ParseError(f"not a line of a solution file: {line[:50]!r}", loc,
                         hint="expected 'kN = kind( ... )', 'kN : name(...)', "
                              "'kN : place(x y R0|R90)' or 'kmap = union( ... )'")
    return entries


@dataclass
class SolutionReport:
    """What `check_solution` found: violations (empty = legal) and the metrics."""

    violations: list[str]
    max_time: Fraction | None
    wire_length: Fraction | None
    score: Fraction | None           # None when illegal or when wadapter != 0
    kernels: int

    @property
    def legal(self) -> bool:
        return not self.violations


def check_solution(graph: KGraph, text: str, path: str = "<solution>") -> SolutionReport:
    """Verify a solution file against its kgraph from scratch: every kernel present once,
    formal parameters matching, memory within the limit, rectangles inside the grid and
    disjoint; then the max time, the wire length and (when wadapter is 0) the score."""
    entries = parse_solution(text, path)
    bad: list[str] = []
    by_id = {n.solution_id: n for n in graph.kernels}
    for sid in entries:
        if sid not in by_id:
            bad.append(f"{sid}: no kernel of the kgraph has this id")
    rects: list[tuple[int, int, int, int]] = []
    rect_ids: list[str] = []
    centres: dict[tuple[str, int], tuple[Fraction, Fraction]] = {}
    max_time: Fraction | None = None
    for sid, node in by_id.items():
        e = entries.get(sid)
        if e is None or e.kind is None:
            bad.append(f"{sid} ({node.kind}[{node.index}]): no sizing line")
            continue
        if e.x is None:
            bad.append(f"{sid}: no place line")
            continue
        if e.kind != node.kind:
            bad.append(f"{sid}: is a {node.kind} in the kgraph, a {e.kind} in the solution")
            continue
        formal = node.formal()
        if e.numbers[:len(formal)] != formal:
            bad.append(f"{sid}: formal parameters {e.numbers[:len(formal)]} differ from the "
                       f"kgraph's {formal}")
            continue
        model: KernelModel = node.model()
        params = e.numbers[len(formal):]
        problem = model.check_params(params)
        if problem:
            bad.append(f"{sid}: {problem}")
            continue
        mem = model.memory(params)
        if mem > graph.memlimit:
            bad.append(f"{sid}: memory {float(mem):.1f} words per core exceeds the limit "
                       f"{graph.memlimit}")
        h, w = model.shape(params)
        fw, fh = (h, w) if e.rotated else (w, h)
        if e.x < 0 or e.y < 0 or e.x + fw > graph.width or e.y + fh > graph.height:
            bad.append(f"{sid}: rectangle [{e.x}, {e.x + fw}) x [{e.y}, {e.y + fh}) leaves "
                       f"the {graph.width}x{graph.height} grid")
        rects.append((e.x, e.y, fw, fh))
        rect_ids.append(sid)
        centres[(node.kind, node.index)] = (e.x + Fraction(fw, 2), e.y + Fraction(fh, 2))
        t = model.time(params)
        max_time = t if max_time is None else max(max_time, t)
    if rects:
        r = np.array(rects, dtype=np.int64)
        x0, y0, x1, y1 = r[:, 0], r[:, 1], r[:, 0] + r[:, 2], r[:, 1] + r[:, 3]
        over = ((x0[:, None] < x1[None, :]) & (x0[None, :] < x1[:, None]) &
                (y0[:, None] < y1[None, :]) & (y0[None, :] < y1[:, None]))
        np.fill_diagonal(over, False)
        for i, j in zip(*np.nonzero(np.triu(over))):
            bad.append(f"{rect_ids[i]} and {rect_ids[j]} overlap")
    wire: Fraction | None = None
    if not bad:
        wire = Fraction(0)
        for e in graph.kernel_edges():
            (ax, ay), (bx, by) = centres[e.src], centres[e.dst]
            wire += abs(ax - bx) + abs(ay - by)
    score = None
    if not bad and graph.wadapter == 0:
        score = graph.wdeltat * max_time + graph.wlength * wire
    return SolutionReport(bad, max_time if not bad else None, wire, score, len(by_id))


def placement_score(graph: KGraph, max_time: Fraction, wire: Fraction) -> Fraction | None:
    """wdeltat * max time + wlength * wire; None when the adapter weight is not 0."""
    if graph.wadapter != 0:
        return None
    return graph.wdeltat * max_time + graph.wlength * wire


__all__ = ["KGraph", "KNode", "KEdge", "SolutionEntry", "SolutionReport", "cblock_model",
           "check_solution", "dblock_model", "format_solution", "parse_kgraph",
           "parse_solution", "placement_score", "read_kgraph"]
