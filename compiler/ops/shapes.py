"""Shape arithmetic shared by the op families: broadcasting, axes, symbolic dims, windows.

A dim is an int or a symbol name (str). Symbols are opaque: two dims are equal
only if they are the same int or the same name. Helpers raise `ShapeError`
with a message the user can act on; the builder adds the location.

Products. Flattening ``[N, S, 64]`` to ``[N*S, 64]`` (what PyTorch exports do
before every `addmm`, and `nn.MultiheadAttention` with its ``[S, N*heads, d]``
views) makes a dim that is a product of symbols and a static factor. It is
spelled as one symbolic dim in canonical form: the static factor first (when
not 1), then the symbol names sorted, joined by ``*`` (``"N*S"``,
``"12*N"``). `dim_factors` and `make_dim` convert between the two views, so
that reshape can cancel factors (``[N*S, 64] -> [N, S, 64]``). Sums (``N+3``)
have no spelling and still raise.
"""
from __future__ import annotations

from ..ir.types import FLOAT_DTYPES, Dim, Shape, TensorType
from .registry import ShapeError


def fmt_shape(shape: Shape) -> str:
    """``[N, 3, 224, 224]``: the form used in every error message."""
    return "[" + ", ".join(map(str, shape)) + "]"


def broadcast_shapes(*shapes: Shape) -> Shape:
    """numpy broadcasting over static and symbolic dims.

    A symbol broadcasts only with 1 or with itself.
    """
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
            pretty = " and ".join(fmt_shape(s) for s in shapes)
            raise ShapeError(f"shapes {pretty} do not broadcast (dim {i} from the left of the "
                             f"result: {', '.join(map(str, dims))}; each pair of sizes must be "
                             f"equal or one of them 1)")
        out.append(first)
    return tuple(out)


def broadcasts_into(shape: Shape, target: Shape) -> bool:
    """Whether `shape` broadcasts to `target` without enlarging it (e.g. a bias, a
    residual or a mask applied to a result in place)."""
    try:
        return broadcast_shapes(shape, target) == tuple(target)
    except ShapeError:
        return False


def normalize_axis(axis: int, rank: int, what: str = "axis") -> int:
    """Map a possibly negative axis into [0, rank); ShapeError if out of range."""
    if not -rank <= axis < rank:
        valid = f"[{-rank}, {rank - 1}]" if rank else "none (the tensor is a scalar)"
        raise ShapeError(f"{what} {axis} is out of range for a rank-{rank} tensor "
                         f"(valid: {valid})")
    return axis % rank


def normalize_axes(axes, rank: int, what: str = "axis") -> list[int]:
    """Normalize each axis, reject repeats, return them sorted."""
    out = [normalize_axis(a, rank, what) for a in axes]
    if len(set(out)) != len(out):
        raise ShapeError(f"repeated axes in {list(axes)}")
    return sorted(out)


def static(dim: Dim, what: str) -> int:
    """The dim as an int, or a ShapeError explaining that `what` needs it static."""
    if isinstance(dim, str):
        raise ShapeError(f"{what} must be static, but it is the symbolic size {dim!r} "
                         f"(fix it at compile time with --input-shape)")
    return dim


def dim_factors(dim: Dim) -> tuple[int, tuple[str, ...]]:
    """A dim as (static factor, sorted symbol names): ``12 -> (12, ())``,
    ``"N" -> (1, ("N",))``, ``"4*N*S" -> (4, ("N", "S"))``."""
    if isinstance(dim, int):
        return dim, ()
    coef, syms = 1, []
    for part in dim.split("*"):
        if part.isdigit():
            coef *= int(part)
        else:
            syms.append(part)
    return coef, tuple(sorted(syms))


def make_dim(coef: int, symbols) -> Dim:
    """The canonical dim of ``coef * prod(symbols)`` (an int when there are no symbols)."""
    symbols = sorted(symbols)
    if not symbols or coef == 0:
        return coef
    return "*".join(([str(coef)] if coef != 1 else []) + symbols)


def dims_product(dims: Shape) -> Dim:
    """The product of `dims` as one dim: an int, a symbol, or a product such as ``"12*N"``."""
    coef, syms = 1, []
    for d in dims:
        c, s = dim_factors(d)
        coef *= c
        syms.extend(s)
    return make_dim(coef, syms)


def divide_dim(num: Dim, den: Dim) -> Dim | None:
    """``num / den`` as a dim when it divides exactly (factors cancel), else None."""
    cn, sn = dim_factors(num)
    cd, sd = dim_factors(den)
    left = list(sn)
    for s in sd:
        if s not in left:
            return None
        left.remove(s)
    if cd == 0 or cn % cd:
        return None
    return make_dim(cn // cd, left)


# -- checks on operand types -------------------------------------------------

def require_rank(t: TensorType, rank: int, what: str) -> None:
    if t.rank != rank:
        raise ShapeError(f"{what} must have rank {rank}, got {t} (rank {t.rank})")


def require_float(t: TensorType, what: str) -> None:
    if t.dtype not in FLOAT_DTYPES:
        raise ShapeError(f"{what} must be floating-point (f16, f32, f64), got {t.dtype}")


def require_same_dtype(op: str, types: list[TensorType]) -> str:
    """The common dtype of `types`, or a ShapeError naming the mismatch."""
    dtypes = [t.dtype for t in types]
    if any(d != dtypes[0] for d in dtypes[1:]):
        raise ShapeError(f"{op}: operand dtypes differ: {', '.join(dtypes)} "
                         f"(insert an explicit cast)")
    return dtypes[0]


def check_ints(op: str, attrs: dict, name: str, length: int, minimum: int) -> list[int]:
    """An ints attribute of an exact length whose entries are all >= minimum."""
    v = attrs[name]
    if len(v) != length:
        raise ShapeError(f"{op}: attribute {name!r} must have {length} entries, got {v}")
    if any(x < minimum for x in v):
        raise ShapeError(f"{op}: attribute {name!r} entries must be >= {minimum}, got {v}")
    return list(v)


# -- sliding windows (conv, pool) --------------------------------------------

def window_out_dim(size: int, kernel: int, stride: int, pad_begin: int, pad_end: int,
                   dilation: int = 1, ceil_mode: bool = False, what: str = "window") -> int:
    """Number of window positions along one spatial dim.

    ``floor((size + pads - extent) / stride) + 1`` with ``extent = dilation*(kernel-1)+1``;
    with `ceil_mode` the division rounds up, but a last window that would start
    inside the end padding is dropped (PyTorch and ONNX agree on this rule).
    """
    extent = dilation * (kernel - 1) + 1
    padded = size + pad_begin + pad_end
    if padded < extent:
        raise ShapeError(f"{what}: the window spans {extent} (kernel {kernel}, dilation "
                         f"{dilation}) but the padded input is only {padded} "
                         f"({size} + padding {pad_begin}+{pad_end}); use a smaller kernel "
                         f"or more padding")
    span = padded - extent
    if ceil_mode:
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size + pad_begin:
            out -= 1
    else:
        out = span // stride + 1
    return out
