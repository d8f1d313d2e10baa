"""Kernels of tensor.grid_sample, nn.col2im, nn.roi_align and nn.deform_conv2d against numpy
references written here.

Same contract as `tests/ops/test_op_kernels.py` (whose `Case` shape and
helpers this file reuses). The grid-sample reference handles one output point
at a time: it maps each normalized coordinate to a pixel position, applies
the padding rule with plain `if`s (reflection by repeated mirroring in a
`while` loop), and sums the taps of the interpolation with its weight
formula written out (Keys' cubic kernel piecewise in |d|). The col2im
reference adds each column entry to its pixel with explicit loops; RoI Align
and deformable convolution are computed sample by sample in Python floats.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from compiler.ir.builder import infer_types
from compiler.ir.types import TensorType
from test_op_kernels import F32, F64, case, params, randn, run_case, uniform, within


def _mirror(v: float, lo: float, hi: float) -> float:
    if hi <= lo:
        return lo
    while v < lo or v > hi:
        v = 2 * lo - v if v < lo else 2 * hi - v
    return v


def _keys(d: float, a: float = -0.75) -> float:
    d = abs(d)
    if d <= 1:
        return (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1
    if d < 2:
        return a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a
    return 0.0


def grid_sample_ref(mode="linear", padding="zeros", align=False):
    def ref(x, grid):
        x = np.asarray(x, dtype=F64)
        sizes = x.shape[2:]
        nd = len(sizes)
        out = np.zeros(x.shape[:2] + grid.shape[1:-1])
        bounds = [(0.0, s - 1.0) if align else (-0.5, s - 0.5) for s in sizes]

        def pixel(n, idx):
            fixed = []
            for d, i in enumerate(idx):
                if padding == "zeros":
                    if not 0 <= i < sizes[d]:
                        return np.zeros(x.shape[1])
                elif padding == "border":
                    i = min(max(i, 0), sizes[d] - 1)
                else:
                    i = int(_mirror(float(i), *bounds[d]))
                fixed.append(i)
            return x[(n, slice(None)) + tuple(fixed)]

        for n in range(x.shape[0]):
            for pos in np.ndindex(*grid.shape[1:-1]):
                g = [float(v) for v in grid[(n,) + pos]][::-1]   # innermost dim comes first
                coords = []
                for d, v in enumerate(g):
                    s = sizes[d]
                    c = (v + 1) / 2 * (s - 1) if align else ((v + 1) * s - 1) / 2
                    if mode == "nearest":
                        c = float(round(c))
                    lo, hi = bounds[d]
                    if c < lo or c > hi:
                        if padding == "border":
                            c = min(max(c, 0.0), s - 1.0)
                        elif padding == "reflection":
                            c = _mirror(c, lo, hi)
                    coords.append(c)
                if mode == "nearest":
                    out[(n, slice(None)) + pos] = pixel(n, [int(c) for c in coords])
                    continue
                offsets = [0, 1] if mode == "linear" else [-1, 0, 1, 2]
                total = np.zeros(x.shape[1])
                for tap in itertools.product(offsets, repeat=nd):
                    w, idx = 1.0, []
                    for d, off in enumerate(tap):
                        base = math.floor(coords[d])
                        frac = coords[d] - base
                        w *= (1 - abs(frac - off)) if mode == "linear" else _keys(frac - off)
                        idx.append(base + off)
                    total = total + w * pixel(n, idx)
                out[(n, slice(None)) + pos] = total
        return out
    return ref


def col2im_ref(image, block, strides=None, pads=None, dilations=None):
    nd = len(image)
    strides, dilations = strides or [1] * nd, dilations or [1] * nd
    pads = pads or [0] * (2 * nd)

    def ref(x):
        n, rows, _ = x.shape
        c = rows // int(np.prod(block))
        padded = [image[i] + pads[i] + pads[nd + i] for i in range(nd)]
        positions = [(padded[i] - dilations[i] * (block[i] - 1) - 1) // strides[i] + 1
                     for i in range(nd)]
        out = np.zeros((n, c, *padded))
        for b in range(n):
            for ch in range(c):
                for t, tap in enumerate(np.ndindex(*block)):
                    for l, where in enumerate(np.ndindex(*positions)):
                        at = tuple(w * s + k * d for w, s, k, d in
                                   zip(where, strides, tap, dilations))
                        out[(b, ch) + at] += x[b, ch * int(np.prod(block)) + t, l]
        crop = tuple(slice(pads[i], pads[i] + image[i]) for i in range(nd))
        return out[(slice(None), slice(None)) + crop]
    return ref


def roi_align_ref(mode="avg", oh=1, ow=1, ratio=0, scale=1.0, half_pixel=True):
    """Sample by sample, with ONNX's clamping rules spelled out as ifs."""
    def sample(img, y, x):
        h, w = img.shape[1:]
        if y < -1.0 or y > h or x < -1.0 or x > w:
            return [np.zeros(img.shape[0])] * 4
        y, x = max(y, 0.0), max(x, 0.0)
        yl, xl = int(y), int(x)
        if yl >= h - 1:
            yl = yh = h - 1
            y = float(yl)
        else:
            yh = yl + 1
        if xl >= w - 1:
            xl = xh = w - 1
            x = float(xl)
        else:
            xh = xl + 1
        ly, lx = y - yl, x - xl
        return [(1 - ly) * (1 - lx) * img[:, yl, xl], (1 - ly) * lx * img[:, yl, xh],
                ly * (1 - lx) * img[:, yh, xl], ly * lx * img[:, yh, xh]]

    def ref(x, rois, batch):
        x = np.asarray(x, dtype=F64)
        out = np.zeros((len(rois), x.shape[1], oh, ow))
        off = 0.5 if half_pixel else 0.0
        for r, roi in enumerate(rois):
            x1, y1, x2, y2 = [float(v) * scale - off for v in roi]
            rh, rw = y2 - y1, x2 - x1
            if not half_pixel:
                rh, rw = max(rh, 1.0), max(rw, 1.0)
            gh = ratio if ratio > 0 else math.ceil(rh / oh)
            gw = ratio if ratio > 0 else math.ceil(rw / ow)
            for i in range(oh):
                for j in range(ow):
                    vals = []
                    for a in range(gh):
                        for b in range(gw):
                            y = y1 + i * rh / oh + (a + 0.5) * rh / oh / gh
                            xx = x1 + j * rw / ow + (b + 0.5) * rw / ow / gw
                            vals.append(sample(x[int(batch[r])], y, xx))
                    if not vals:
                        continue
                    if mode == "avg":
                        out[r, :, i, j] = sum(sum(v) for v in vals) / len(vals)
                    else:
                        out[r, :, i, j] = np.max([np.max(v, axis=0) for v in vals], axis=0)
        return out
    return ref


def deform_conv_ref(strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), groups=1, og=1):
    """Output position by position, tap by tap, channel by channel; a tap's value is the sum
    of its four neighbours' pixels (0 outside the image) times their bilinear weights."""
    def pixel(img, y, x):
        return img[y, x] if 0 <= y < img.shape[0] and 0 <= x < img.shape[1] else 0.0

    def ref(x, w, offset, bias=None, mask=None):
        x, w, offset = (np.asarray(a, dtype=F64) for a in (x, w, offset))
        n, c = x.shape[:2]
        m, cg, kh, kw = w.shape
        oh, ow = offset.shape[2:]
        out = np.zeros((n, m, oh, ow))
        for b in range(n):
            for oc in range(m):
                g = oc // (m // groups)
                for i in range(oh):
                    for j in range(ow):
                        total = 0.0 if bias is None else float(bias[oc])
                        for ci in range(cg):
                            ch = g * cg + ci
                            grp = ch // (c // og)
                            for a in range(kh):
                                for k in range(kw):
                                    t = (grp * kh + a) * kw + k
                                    y = i * strides[0] - pads[0] + a * dilations[0] + \
                                        offset[b, 2 * t, i, j]
                                    xx = j * strides[1] - pads[1] + k * dilations[1] + \
                                        offset[b, 2 * t + 1, i, j]
                                    y0, x0 = math.floor(y), math.floor(xx)
                                    v = 0.0
                                    for yy in (y0, y0 + 1):
                                        for xc in (x0, x0 + 1):
                                            v += (1 - abs(y - yy)) * (1 - abs(xx - xc)) * \
                                                pixel(x[b, ch], yy, xc)
                                    if mask is not None:
                                        v *= float(mask[b, t, i, j])
                                    total += v * w[oc, ci, a, k]
                        out[b, oc, i, j] = total
        return out
    return ref


def _grid(*shape, spread=1.3, dtype=F32):
    return uniform(-spread, spread, *shape, dtype=dtype)


_x2 = randn(2, 3, 4, 5)
_g2 = _grid(2, 3, 4, 2)
_g2[0, 0, 0] = [1.0, -1.0]       # exact corners
_g2[1, 2, 3] = [0.25, 0.0]       # a nearest-mode tie

CASES = {
    "tensor.grid_sample": [
        case("linear_zeros", [_x2, _g2], grid_sample_ref()),
        case("linear_border_align", [_x2, _g2], grid_sample_ref("linear", "border", True),
             padding_mode="border", align_corners=True),
        case("nearest_reflection", [_x2, _g2], grid_sample_ref("nearest", "reflection"),
             mode="nearest", padding_mode="reflection"),
        case("cubic_zeros_align", [_x2, _g2], grid_sample_ref("cubic", "zeros", True),
             mode="cubic", align_corners=True),
        case("cubic_reflection_f64", [randn(1, 2, 3, 4, dtype=F64), _grid(1, 2, 5, 2, spread=2.5,
                                                                        dtype=F64)],
             grid_sample_ref("cubic", "reflection"), mode="cubic", padding_mode="reflection"),
        case("volumetric_linear_border", [randn(1, 2, 3, 4, 3), _grid(1, 2, 2, 3, 3)],
             grid_sample_ref("linear", "border"), padding_mode="border"),
    ],
    "nn.roi_align": [
        case("avg_adaptive", [randn(2, 3, 6, 7), np.array([[0.5, 1, 5.5, 4.2], [-2, -1, 9, 8],
                                                            [3, 3, 3.4, 3.2]], F32),
                              np.array([1, 0, 1], np.int64)],
             roi_align_ref("avg", 2, 3), output_height=2, output_width=3),
        case("max_ratio2_scaled", [randn(1, 2, 8, 8), np.array([[2, 2, 12, 14]], F32),
                                   np.array([0], np.int32)],
             roi_align_ref("max", 3, 2, 2, 0.5), mode="max", output_height=3, output_width=2,
             sampling_ratio=2, spatial_scale=0.5),
        case("output_half_pixel_f64", [randn(1, 1, 5, 5, dtype=F64),
                                       np.array([[1, 1, 1.5, 3]], F64), np.array([0])],
             roi_align_ref("avg", 2, 2, 0, 1.0, False), output_height=2, output_width=2,
             half_pixel=False),
    ],
    "nn.deform_conv2d": [
        case("plain", [randn(1, 2, 4, 5), randn(3, 2, 2, 2), randn(1, 8, 3, 4)],
             deform_conv_ref()),
        case("bias_mask_groups", [randn(2, 4, 5, 5), randn(4, 2, 3, 3), randn(2, 36, 3, 3) * 2,
                                  randn(4), uniform(0, 1, 2, 18, 3, 3)],
             deform_conv_ref((2, 2), (1, 1, 1, 1), (1, 1), 2, 2), strides=[2, 2],
             pads=[1, 1, 1, 1], groups=2, offset_groups=2),
        case("dilated", [randn(1, 1, 6, 6), randn(1, 1, 2, 2), randn(1, 8, 4, 4)],
             deform_conv_ref(dilations=(2, 2)), dilations=[2, 2]),
    ],
    "nn.col2im": [
        case("basic", [randn(1, 5, 5)], col2im_ref([5, 5], [1, 5]), image_shape=[5, 5],
             block_shape=[1, 5]),
        case("strided_padded_dilated", [randn(2, 2 * 4, 9)],
             col2im_ref([5, 6], [2, 2], [2, 2], [1, 0, 0, 1], [1, 2]), image_shape=[5, 6],
             block_shape=[2, 2], strides=[2, 2], pads=[1, 0, 0, 1], dilations=[1, 2]),
        case("3d", [randn(1, 2 * 2, 2 * 3 * 2)], col2im_ref([2, 3, 3], [1, 1, 2]),
             image_shape=[2, 3, 3], block_shape=[1, 1, 2]),
    ],
}


@pytest.mark.parametrize("op,c", params(CASES))
def test_kernel_matches_reference(op: str, c) -> None:
    run_case(op, c, within(rtol=1e-5, atol=1e-5))


def test_col2im_checks_the_block_count() -> None:
    from compiler.errors import TypeCheckError
    with pytest.raises(TypeCheckError, match="block positions"):
        infer_types("nn.col2im", [TensorType((1, 5, 4), "f32")],
                    {"image_shape": [5, 5], "block_shape": [1, 5]})
