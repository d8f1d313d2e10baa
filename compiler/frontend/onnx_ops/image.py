"""Converters for ONNX spatial sampling ops: GridSample, Col2Im, RoiAlign, DeformConv
(`compiler/ops/image.py`)."""
from __future__ import annotations

import numpy as np

from .registry import converter

# GridSample-16 names the 2-D modes; GridSample-20 generalized them to any rank.
_MODES = {"bilinear": "linear", "bicubic": "cubic", "linear": "linear", "cubic": "cubic",
          "nearest": "nearest"}


@converter("GridSample", since=16)
def grid_sample(n):
    x, grid = n.input(0), n.input(1)
    mode = n.attr("mode", "linear" if n.opset >= 20 else "bilinear")
    if mode not in _MODES:
        n.fail(f"mode={mode!r} is not one of {', '.join(_MODES)}")
    padding = n.attr("padding_mode", "zeros")
    if padding not in ("zeros", "border", "reflection"):
        n.fail(f"padding_mode={padding!r} is not one of zeros, border, reflection")
    return n.op("tensor.grid_sample", [x, grid],
                {"mode": _MODES[mode], "padding_mode": padding,
                 "align_corners": bool(n.attr("align_corners", 0))})


@converter("Col2Im", since=18)
def col2im(n):
    return n.op("nn.col2im", [n.input(0)], {
        "image_shape": n.require_ints(1, "image shape"),
        "block_shape": n.require_ints(2, "block shape"),
        "strides": [int(s) for s in n.attr("strides", [])],
        "pads": [int(p) for p in n.attr("pads", [])],
        "dilations": [int(d) for d in n.attr("dilations", [])]})


@converter("RoiAlign", since=10)
def roi_align(n):
    mode = n.attr("coordinate_transformation_mode", "half_pixel" if n.opset >= 16
                  else "output_half_pixel")
    if mode not in ("half_pixel", "output_half_pixel"):
        n.fail(f"coordinate_transformation_mode={mode!r} is not one of half_pixel, "
               f"output_half_pixel")
    pool = n.attr("mode", "avg")
    if pool not in ("avg", "max"):
        n.fail(f"mode={pool!r} is not one of avg, max")
    return n.op("nn.roi_align", [n.input(0), n.input(1), n.input(2)], {
        "mode": pool, "output_height": int(n.attr("output_height", 1)),
        "output_width": int(n.attr("output_width", 1)),
        "sampling_ratio": int(n.attr("sampling_ratio", 0)),
        "spatial_scale": float(n.attr("spatial_scale", 1.0)),
        "half_pixel": mode == "half_pixel"})


@converter("DeformConv", since=19)
def deform_conv(n):
    x, w, offset = n.input(0), n.input(1), n.input(2)
    bias, mask = n.optional_input(3), n.optional_input(4)
    if x.type.rank != 4:
        n.fail(f"only 2-D deformable convolution is supported, got the input {x.type}")
    kernel = list(w.type.shape[2:])
    given = n.attr("kernel_shape", None)
    if given is not None and list(given) != kernel:
        n.fail(f"kernel_shape {list(given)} differs from the weight's kernel {kernel}")
    operands = [x, w, offset]
    if bias is not None or mask is not None:   # the mask comes after the bias: a zero bias
        operands.append(bias if bias is not None else n.constant(
            np.zeros(w.type.shape[0], dtype=x.type.np_dtype), "no_bias"))
    if mask is not None:
        operands.append(mask)
    return n.op("nn.deform_conv2d", operands, {
        "strides": [int(s) for s in n.attr("strides", [1, 1])],
        "pads": [int(p) for p in n.attr("pads", [0, 0, 0, 0])],
        "dilations": [int(d) for d in n.attr("dilations", [1, 1])],
        "groups": int(n.attr("group", 1)),
        "offset_groups": int(n.attr("offset_group", 1))})
