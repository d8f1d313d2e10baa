"""Shape arithmetic shared by the op families: broadcasting, axes, symbolic dims.

A dim is an int or a symbol name (str). Symbols are opaque: two dims are equal
only if they are the same int or the same name.
"""
from __future__ import annotations

from ..ir.types import Dim, Shape
from .registry import ShapeError


def broadcast_shapes(*shapes: Shape) -> Shape:
    """numpy broadcasting over static and symbolic dims."""
    rank = max((len(s) for s in shapes), default=0)
    out: list[Dim] = []
    for i in range(rank):
        dims = [s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0]
        non_one = [d for d in dims if d != 1]
        if not non_one:
            out.append(1)
            continue
        first = non_one[0]
        if any(d != first for d in non_one[1:]):
            pretty = " and ".join("[" + ", ".join(map(str, s)) + "]" for s in shapes)
            raise ShapeError(f"shapes {pretty} do not broadcast (dim {i}: "
                             f"{', '.join(map(str, dims))})")
        out.append(first)
    return tuple(out)


def normalize_axis(axis: int, rank: int, what: str = "axis") -> int:
    """Map a possibly negative axis into [0, rank); ShapeError if out of range."""
    if not -rank <= axis < rank:
        raise ShapeError(f"{what} {axis} is out of range for a rank-{rank} tensor")
    return axis % rank


def normalize_axes(axes, rank: int) -> list[int]:
    out = [normalize_axis(a, rank) for a in axes]
    if len(set(out)) != len(out):
        raise ShapeError(f"repeated axes in {list(axes)}")
    return sorted(out)


def static(dim: Dim, what: str) -> int:
    """The dim as an int, or a ShapeError explaining that `what` needs it static."""
    if isinstance(dim, str):
        raise ShapeError(f"{what} must be static, but it is the symbolic size {dim!r} "
                         f"(fix it at compile time with --input-shape)")
    return dim
