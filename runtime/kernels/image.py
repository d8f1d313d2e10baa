"""Kernels of the spatial sampling ops: tensor.grid_sample, nn.col2im (semantics in
`compiler/ops/image.py`).

grid_sample works one spatial dim at a time: each dim turns its coordinates
into a few taps (integer pixel indices and weights, 1 for nearest, 2 for
linear, 4 for cubic) with the padding rule applied to the indices; then every
combination of taps across the dims is one gather of the whole batch, added
up with the product of its weights. col2im adds each block element's plane
into the (padded) image with one strided slice per element.
"""
from __future__ import annotations

import itertools

import numpy as np

from .registry import kernel

_CUBIC_A = -0.75


def _reflect(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Mirror coordinates outside [lo, hi] back into it, as often as needed."""
    span = hi - lo
    if span <= 0:
        return np.full_like(v, lo)
    below, above = v < lo, v > hi
    dist = np.where(below, lo - v, v - hi)
    turns = np.floor(dist / span)
    rest = dist - turns * span
    even = turns % 2 == 0
    return np.where(below, np.where(even, lo + rest, hi - rest),
                    np.where(above, np.where(even, hi - rest, lo + rest), v))


def _cubic_weights(t: np.ndarray) -> list[np.ndarray]:
    """Keys' cubic convolution weights of the taps at -1, 0, 1, 2 for a fraction t."""
    a = _CUBIC_A

    def near(d):   # |d| <= 1
        return ((a + 2) * d - (a + 3)) * d * d + 1

    def far(d):    # 1 < |d| < 2
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _taps(coord, size, mode, padding, align):
    """[(index, weight, valid)] of one spatial dim; index is clipped into range, `valid`
    is False where zero padding reads 0."""
    lo, hi = (0.0, size - 1.0) if align else (-0.5, size - 0.5)
    x = ((coord + 1) / 2 * (size - 1)) if align else (((coord + 1) * size - 1) / 2)
    if mode == "nearest":
        x = np.rint(x)
    outside = (x < lo) | (x > hi)
    if padding == "border":
        x = np.where(outside, np.clip(x, 0, size - 1), x)
    elif padding == "reflection":
        x = np.where(outside, _reflect(x, lo, hi), x)
    if mode == "nearest":
        offsets, weights = [0], [np.ones_like(x)]
        base = np.trunc(x).astype(np.int64)
    else:
        base = np.floor(x).astype(np.int64)
        t = x - base
        if mode == "linear":
            offsets, weights = [0, 1], [1 - t, t]
        else:
            offsets, weights = [-1, 0, 1, 2], _cubic_weights(t)
    taps = []
    for off, w in zip(offsets, weights):
        i = base + off
        valid = np.ones(i.shape, dtype=bool)
        if padding == "zeros":
            valid = (i >= 0) & (i < size)
        elif padding == "border":
            i = np.clip(i, 0, size - 1)
        else:
            i = np.trunc(_reflect(i.astype(x.dtype), lo, hi)).astype(np.int64)
        taps.append((np.clip(i, 0, size - 1), w, valid))
    return taps


@kernel("tensor.grid_sample")
def grid_sample(x, grid, *, mode="linear", padding_mode="zeros", align_corners=False):
    nd = x.ndim - 2
    sizes = x.shape[2:]
    work = np.float32 if x.dtype == np.float16 else x.dtype
    g = grid.astype(work, copy=False)
    # grid[..., 0] is the innermost spatial dim: reverse to x's dim order
    per_dim = [_taps(g[..., nd - 1 - d], sizes[d], mode, padding_mode, align_corners)
               for d in range(nd)]
    xt = np.moveaxis(x.astype(work, copy=False), 1, -1)     # [N, D1..Dk, C]
    batch = np.arange(x.shape[0]).reshape((-1,) + (1,) * (grid.ndim - 2))
    out = np.zeros(grid.shape[:-1] + (x.shape[1],), dtype=work)
    for combo in itertools.product(*per_dim):
        weight = np.ones(grid.shape[:-1], dtype=work)
        valid = np.ones(grid.shape[:-1], dtype=bool)
        for _, w, ok in combo:
            weight = weight * w
            valid &= ok
        picked = xt[(batch,) + tuple(i for i, _, _ in combo)]  # [N, O..., C]
        out += np.where(valid, weight, 0)[..., None] * picked
    return np.moveaxis(out, -1, 1).astype(x.dtype)


@kernel("nn.col2im")
def col2im(x, *, image_shape, block_shape, strides=(), pads=(), dilations=()):
    nd = len(image_shape)
    strides = list(strides) or [1] * nd
    dilations = list(dilations) or [1] * nd
    pads = list(pads) or [0] * (2 * nd)
    n, rows, _ = x.shape
    per = int(np.prod(block_shape))
    c = rows // per
    padded = [image_shape[i] + pads[i] + pads[nd + i] for i in range(nd)]
    blocks = [(padded[i] - dilations[i] * (block_shape[i] - 1) - 1) // strides[i] + 1
              for i in range(nd)]
    cols = x.reshape(n, c, *block_shape, *blocks)
    out = np.zeros((n, c, *padded), dtype=x.dtype)
    for tap in itertools.product(*(range(k) for k in block_shape)):
        where = tuple(slice(t * d, t * d + s * (b - 1) + 1, s)
                      for t, d, s, b in zip(tap, dilations, strides, blocks))
        out[(slice(None), slice(None)) + where] += cols[(slice(None), slice(None)) + tap]
    crop = tuple(slice(pads[i], pads[i] + image_shape[i]) for i in range(nd))
    return out[(slice(None), slice(None)) + crop]


@kernel("nn.roi_align")
def roi_align(x, rois, batch_indices, *, mode="avg", output_height=1, output_width=1,
              sampling_ratio=0, spatial_scale=1.0, half_pixel=True):
    """One roi at a time (its sampling grid depends on its size); per roi, every bin and
    sample at once."""
    work = np.float32 if x.dtype == np.float16 else x.dtype
    _, c, h, w = x.shape
    oh, ow = output_height, output_width
    out = np.zeros((rois.shape[0], c, oh, ow), dtype=work)
    shift = 0.5 if half_pixel else 0.0
    for r in range(rois.shape[0]):
        x1, y1, x2, y2 = (float(v) * spatial_scale - shift for v in rois[r])
        rh, rw = y2 - y1, x2 - x1
        if not half_pixel:
            rh, rw = max(rh, 1.0), max(rw, 1.0)
        gh = sampling_ratio if sampling_ratio > 0 else int(np.ceil(rh / oh))
        gw = sampling_ratio if sampling_ratio > 0 else int(np.ceil(rw / ow))
        if gh < 1 or gw < 1:
            continue
        # sample positions: [oh, gh] rows and [ow, gw] columns
        ys = y1 + (np.arange(oh)[:, None] + (np.arange(gh)[None, :] + 0.5) / gh) * (rh / oh)
        xs = x1 + (np.arange(ow)[:, None] + (np.arange(gw)[None, :] + 0.5) / gw) * (rw / ow)
        ys, xs = ys[:, :, None, None], xs[None, None, :, :]            # [oh, gh, 1, 1], ...
        outside = (ys < -1.0) | (ys > h) | (xs < -1.0) | (xs > w)     # [oh, gh, ow, gw]
        yc, xc = np.maximum(ys, 0.0), np.maximum(xs, 0.0)
        y0 = np.minimum(np.floor(yc).astype(np.int64), h - 1)
        x0 = np.minimum(np.floor(xc).astype(np.int64), w - 1)
        yc = np.where(y0 >= h - 1, h - 1.0, yc)
        xc = np.where(x0 >= w - 1, w - 1.0, xc)
        y1i, x1i = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
        ly, lx = yc - y0, xc - x0
        img = x[int(batch_indices[r])].astype(work, copy=False)        # [C, H, W]
        corners = [((1 - ly) * (1 - lx), y0, x0), ((1 - ly) * lx, y0, x1i),
                   (ly * (1 - lx), y1i, x0), (ly * lx, y1i, x1i)]
        shape = np.broadcast_shapes(outside.shape, y0.shape, x0.shape)
        vals = [np.where(outside, 0.0, wgt) * img[:, np.broadcast_to(yi, shape),
                                                    np.broadcast_to(xi, shape)]
                for wgt, yi, xi in corners]                          # each [C, oh, gh, ow, gw]
        if mode == "avg":
            out[r] = sum(vals).sum(axis=(2, 4)) / max(gh * gw, 1)
        else:
            out[r] = np.maximum.reduce(vals).max(axis=(2, 4))
    return out.astype(x.dtype)


def _bilinear_zero(img, py, px):
    """img [N, G, Cg, H, W] at positions py, px [N, G, ...] -> [N, G, ..., Cg]; zeros outside."""
    n, g, _, h, w = img.shape
    ni = np.arange(n).reshape((n,) + (1,) * (py.ndim - 1))
    gi = np.arange(g).reshape((1, g) + (1,) * (py.ndim - 2))
    y0, x0 = np.floor(py).astype(np.int64), np.floor(px).astype(np.int64)
    out = 0
    for dy in (0, 1):
        for dx in (0, 1):
            yi, xi = y0 + dy, x0 + dx
            weight = (1 - np.abs(py - yi)) * (1 - np.abs(px - xi))
            valid = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)
            v = img[ni, gi, :, np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)]
            out = out + np.where(valid, weight, 0)[..., None] * v
    return out


@kernel("nn.deform_conv2d")
def deform_conv2d(x, w, offset, bias=None, mask=None, *, strides=(1, 1), pads=(0, 0, 0, 0),
                  dilations=(1, 1), groups=1, offset_groups=1):
    """Deformable im2col (one bilinear gather per tap, all positions at once), then one matmul
    per channel group."""
    work = np.float32 if x.dtype == np.float16 else x.dtype
    n, c, _, _ = x.shape
    m, cg, kh, kw = w.shape
    oh, ow = offset.shape[2:]
    og = offset_groups
    off = offset.astype(work).reshape(n, og, kh, kw, 2, oh, ow)
    msk = None if mask is None else mask.astype(work).reshape(n, og, kh, kw, oh, ow)
    img = x.astype(work, copy=False).reshape(n, og, c // og, *x.shape[2:])
    base_y = (np.arange(oh) * strides[0] - pads[0])[:, None]
    base_x = (np.arange(ow) * strides[1] - pads[1])[None, :]
    cols = np.empty((n, og, c // og, kh, kw, oh, ow), dtype=work)
    for a in range(kh):
        for b in range(kw):
            py = base_y + a * dilations[0] + off[:, :, a, b, 0]     # [N, G, oh, ow]
            px = base_x + b * dilations[1] + off[:, :, a, b, 1]
            v = _bilinear_zero(img, py, px)                        # [N, G, oh, ow, Cg]
            if msk is not None:
                v = v * msk[:, :, a, b, ..., None]
            cols[:, :, :, a, b] = np.moveaxis(v, -1, 2)
    cols = cols.reshape(n, groups, cg * kh * kw, oh * ow)
    wg = w.astype(work, copy=False).reshape(groups, m // groups, cg * kh * kw)
    out = np.einsum("gmk,ngkp->ngmp", wg, cols).reshape(n, m, oh, ow)
    if bias is not None:
        out = out + bias.astype(work).reshape(1, m, 1, 1)
    return out.astype(x.dtype)
