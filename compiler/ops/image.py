"""Spatial sampling ops on [N, C, spatial...] images: grid sampling, col2im, RoI Align and
deformable convolution.

- `tensor.grid_sample` reads x [N, C, D1..Dk] at the positions of a grid
  [N, O1..Om, k] of normalized coordinates (-1 and 1 are the edges; the last
  grid dim lists them innermost spatial dim first: (x, y) for an image
  [N, C, H, W]); the result is [N, C, O1..Om]. Coordinates map to pixels as
  PyTorch's `grid_sample` does: with `align_corners`, -1 and 1 are the
  centers of the corner pixels; without, their outer edges. Positions outside
  the image read zeros (`zeros`), the edge pixels (`border`) or the image
  mirrored at its edges (`reflection`). `mode` interpolates linearly,
  picks the nearest pixel (halves to even) or interpolates cubically (Keys,
  a = -0.75), separably along each spatial dim.
- `nn.col2im` is the inverse of im2col: x [N, C * prod(block), L] holds, for
  each of the L sliding-block positions over the (padded) image, the block's
  C * prod(block) values (channel-major, then the block row-major); the
  result [N, C, image...] adds up the values landing on each pixel. Block
  positions follow the convolution rule of strides, pads and dilations.
- `nn.roi_align` pools regions of interest of a feature map into fixed-size
  bins by bilinear sampling (Mask R-CNN); `nn.deform_conv2d` is a convolution
  whose taps read at learned fractional offsets (deformable convolution).
"""
from __future__ import annotations

from math import prod

from ..ir.types import TensorType
from .registry import Attr, ShapeError, define
from .shapes import check_ints, fmt_shape, require_float, static, window_out_dim

_GRID_MODES = ("linear", "nearest", "cubic")
_PADDING_MODES = ("zeros", "border", "reflection")


def _grid_sample_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    x, grid = ins
    require_float(x, "grid_sample: x")
    if x.rank < 3:
        raise ShapeError(f"grid_sample: x must be [N, C, spatial...] of rank >= 3, got {x}")
    k = x.rank - 2
    if grid.dtype != x.dtype:
        raise ShapeError(f"grid_sample: the grid has dtype {grid.dtype}, x has {x.dtype}")
    if grid.rank < 2 or grid.shape[-1] != k or grid.shape[0] != x.shape[0]:
        raise ShapeError(f"grid_sample: the grid must be [{x.shape[0]}, out..., {k}] (one "
                         f"normalized coordinate per spatial dim of x {fmt_shape(x.shape)}), got "
                         f"{fmt_shape(grid.shape)}")
    for i in range(k):
        static(x.shape[2 + i], "grid_sample: the spatial sizes of x")
    return [TensorType((x.shape[0], x.shape[1], *grid.shape[1:-1]), x.dtype)]


def _grid_sample_flops(ins, outs, attrs) -> int:
    k = ins[0].rank - 2
    taps = {"nearest": 1, "linear": 2, "cubic": 4}[attrs["mode"]] ** k
    return 2 * taps * prod(outs[0].shape)


define("tensor.grid_sample", ["x", "grid"], _grid_sample_infer, _grid_sample_flops, "opaque",
       "Sample x [N, C, D1..Dk] at the normalized coordinates of grid [N, O..., k] "
       "(innermost spatial dim first) -> [N, C, O...], interpolating and padding as "
       "PyTorch's grid_sample (see compiler/ops/image.py).",
       [Attr("mode", "str", "linear", "interpolation", choices=_GRID_MODES),
        Attr("padding_mode", "str", "zeros", "what positions outside the image read",
             choices=_PADDING_MODES),
        Attr("align_corners", "bool", False,
             "-1 and 1 are the centers of the corner pixels (else their outer edges)")])


def _col2im_geometry(op: str, x: TensorType, attrs: dict) -> tuple[list[int], list[int]]:
    """(image sizes, block positions per dim), checking the attributes."""
    image, block = list(attrs["image_shape"]), list(attrs["block_shape"])
    nd = len(image)
    if nd < 1 or len(block) != nd:
        raise ShapeError(f"{op}: image_shape {image} and block_shape {block} must have one "
                         f"entry per spatial dim")
    strides = check_ints(op, {"strides": attrs["strides"] or [1] * nd}, "strides", nd, 1)
    dilations = check_ints(op, {"d": attrs["dilations"] or [1] * nd}, "d", nd, 1)
    pads = check_ints(op, {"pads": attrs["pads"] or [0] * (2 * nd)}, "pads", 2 * nd, 0)
    if any(s < 1 for s in image + block):
        raise ShapeError(f"{op}: image_shape {image} and block_shape {block} must be positive")
    blocks = [window_out_dim(image[i], block[i], strides[i], pads[i], pads[nd + i], dilations[i],
                             False, f"{op}: dim {i}") for i in range(nd)]
    return image, blocks


def _col2im_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    (x,) = ins
    if x.rank != 3:
        raise ShapeError(f"col2im: x must be [N, C * prod(block_shape), L], got {x}")
    image, blocks = _col2im_geometry("col2im", x, attrs)
    per = prod(attrs["block_shape"])
    rows = static(x.shape[1], "col2im: dim 1 of x")
    if rows % per:
        raise ShapeError(f"col2im: dim 1 of x ({rows}) must be a multiple of the block size "
                         f"{per} (C * prod(block_shape))")
    if x.shape[2] != prod(blocks):
        raise ShapeError(f"col2im: dim 2 of x must be the {prod(blocks)} block positions "
                         f"({' x '.join(map(str, blocks))}), got {x.shape[2]}")
    return [TensorType((x.shape[0], rows // per, *image), x.dtype)]


_SPATIAL_DOC = "one entry per spatial dim (empty: all 1)"

define("nn.col2im", ["x"], _col2im_infer, lambda ins, outs, attrs: prod(ins[0].shape), "opaque",
       "Rearrange sliding blocks x [N, C * prod(block_shape), L] into an image [N, C, "
       "image_shape...], adding overlapping values (the inverse of im2col; see "
       "compiler/ops/image.py).",
       [Attr("image_shape", "ints", doc="the spatial sizes of the result"),
        Attr("block_shape", "ints", doc="the spatial sizes of one block"),
        Attr("strides", "ints", [], f"step between block positions, {_SPATIAL_DOC}"),
        Attr("pads", "ints", [], "image padding, all begins then all ends (empty: none)"),
        Attr("dilations", "ints", [], f"spacing of a block's elements, {_SPATIAL_DOC}")])


# -- nn.roi_align -------------------------------------------------------------------------

def _roi_align_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    x, rois, batch = ins
    require_float(x, "roi_align: x")
    if x.rank != 4:
        raise ShapeError(f"roi_align: x must be [N, C, H, W], got {x}")
    if rois.dtype != x.dtype or rois.rank != 2 or rois.shape[1] != 4:
        raise ShapeError(f"roi_align: rois must be {x.dtype}[R, 4] (x1, y1, x2, y2), got {rois}")
    if batch.rank != 1 or batch.shape[0] != rois.shape[0] or batch.dtype not in (
            "i32", "i64"):
        raise ShapeError(f"roi_align: batch_indices must be an integer [{rois.shape[0]}] (one "
                         f"image per roi), got {batch}")
    for name in ("output_height", "output_width"):
        if attrs[name] < 1:
            raise ShapeError(f"roi_align: {name} must be >= 1, got {attrs[name]}")
    for i in (2, 3):
        static(x.shape[i], "roi_align: the image size")
    return [TensorType((rois.shape[0], x.shape[1], attrs["output_height"],
                        attrs["output_width"]), x.dtype)]


def _roi_align_flops(ins, outs, attrs) -> int:
    samples = max(attrs["sampling_ratio"], 2) ** 2
    return 10 * samples * prod(outs[0].shape)


define("nn.roi_align", ["x", "rois", "batch_indices"], _roi_align_infer, _roi_align_flops,
       "opaque",
       "RoI Align (Mask R-CNN): each roi (x1, y1, x2, y2, scaled by spatial_scale) of image "
       "batch_indices[r] of x [N, C, H, W] is cut into output_height x output_width bins, each "
       "bin sampled on a regular grid with bilinear interpolation and averaged ('avg'), or "
       "maxed over its samples' weighted corner values ('max', ONNX's definition) -> [R, C, "
       "output_height, output_width].",
       [Attr("mode", "str", "avg", "how a bin's samples combine", choices=("avg", "max")),
        Attr("output_height", "int", 1, "bins per roi vertically"),
        Attr("output_width", "int", 1, "bins per roi horizontally"),
        Attr("sampling_ratio", "int", 0,
             "samples per bin along each axis; 0: ceil(roi size / bins), per roi"),
        Attr("spatial_scale", "float", 1.0, "multiplies the roi coordinates (to feature pixels)"),
        Attr("half_pixel", "bool", True,
             "shift the scaled coordinates by -0.5 (pixel centers); without it, rois are at "
             "least one pixel in size")])


# -- nn.deform_conv2d ------------------------------------------------------------------------

def _deform_conv_infer(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    x, w, offset = ins[:3]
    bias = ins[3] if len(ins) > 3 else None
    mask = ins[4] if len(ins) > 4 else None
    op = "deform_conv2d"
    require_float(x, f"{op}: x")
    if x.rank != 4 or w.rank != 4:
        raise ShapeError(f"{op}: x and w must be [N, C, H, W] and [M, C/groups, kH, kW], got {x} "
                         f"and {w}")
    for name, t in (("w", w), ("offset", offset), ("bias", bias), ("mask", mask)):
        if t is not None and t.dtype != x.dtype:
            raise ShapeError(f"{op}: {name} has dtype {t.dtype}, x has {x.dtype}")
    groups, og = attrs["groups"], attrs["offset_groups"]
    c = static(x.shape[1], f"{op}: the input channels")
    m = static(w.shape[0], f"{op}: the output channels")
    kh, kw = (static(d, f"{op}: the kernel size") for d in w.shape[2:])
    if groups < 1 or og < 1 or c != w.shape[1] * groups or m % groups or c % og:
        raise ShapeError(f"{op}: channels do not divide: x has {c}, w {fmt_shape(w.shape)}, "
                         f"groups={groups}, offset_groups={og}")
    strides = check_ints(op, attrs, "strides", 2, 1)
    dilations = check_ints(op, attrs, "dilations", 2, 1)
    pads = check_ints(op, attrs, "pads", 4, 0)
    sizes = [static(x.shape[2 + i], f"{op}: the input size") for i in range(2)]
    out = [window_out_dim(sizes[i], (kh, kw)[i], strides[i], pads[i], pads[2 + i], dilations[i],
                          False, f"{op}: dim {i}") for i in range(2)]
    want = (x.shape[0], 2 * og * kh * kw, *out)
    if offset.shape != want:
        raise ShapeError(f"{op}: offset must be {fmt_shape(want)} (a (dy, dx) per offset group, "
                         f"tap and output position), got {fmt_shape(offset.shape)}")
    if bias is not None and bias.shape != (m,):
        raise ShapeError(f"{op}: bias must be [{m}], got {fmt_shape(bias.shape)}")
    if mask is not None and mask.shape != (x.shape[0], og * kh * kw, *out):
        raise ShapeError(f"{op}: mask must be {fmt_shape((x.shape[0], og * kh * kw, *out))}, "
                         f"got {fmt_shape(mask.shape)}")
    return [TensorType((x.shape[0], m, *out), x.dtype)]


def _deform_conv_flops(ins, outs, attrs) -> int:
    w = ins[1]
    return 2 * prod(outs[0].shape) * prod(w.shape[1:]) + 12 * prod(ins[2].shape)


define("nn.deform_conv2d", ["x", "w", "offset", "bias?", "mask?"], _deform_conv_infer,
       _deform_conv_flops, "contraction",
       "Deformable 2-D convolution: conv2d whose every tap reads x at its regular position "
       "plus a learned offset (offset [N, 2 * offset_groups * kH * kW, Ho, Wo], (dy, dx) per "
       "offset group, tap and output position; bilinear interpolation, zeros outside the "
       "image), times the optional mask [N, offset_groups * kH * kW, Ho, Wo]; plus bias [M].",
       [Attr("strides", "ints", [1, 1], "[h, w] step of the window"),
        Attr("pads", "ints", [0, 0, 0, 0], "zero padding [top, left, bottom, right]"),
        Attr("dilations", "ints", [1, 1], "[h, w] spacing of the taps"),
        Attr("groups", "int", 1, "channel groups"),
        Attr("offset_groups", "int", 1,
             "groups of input channels sharing one set of offsets (and mask)")])
