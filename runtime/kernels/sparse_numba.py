"""The compiled loops behind the sparse kernels (numba, parallel, cached on disk).

`runtime/kernels/sparse.py` checks arguments and lays out buffers; this module
holds only the numba functions it calls. How they are fast, and what was
measured, is in `docs/sparse-kernels.md`. In short:

- Every product is an AXPY over a *tile* of 64 (or 16) lanes: for matmul the
  lanes are tokens (the activations are first packed as x^T tiles [K, lanes]),
  for convolution they are neighbouring output pixels of one image (the input
  is first split into stride phases, so that every tap reads a contiguous run).
  One output row (feature or channel) is accumulated in registers over all its
  nonzeros, 8 nonzeros per pass, then stored once.
- Hot loops index with unsigned integers: numba wraps negative signed indices,
  and that check stops LLVM from vectorizing and from keeping the accumulator
  tile in registers.
- The tile width is a compile-time constant (the `_tile_dot` helper is inlined
  with a literal width), so the accumulators become 4-8 vector registers.
- Work is split across threads in contiguous parts of equal nonzero count; each
  thread walks its rows in blocks of `ROW_BLOCK`, every token tile of a block
  while the block's nonzeros are still in L1, and writes the block's outputs
  as rows of `ROW_BLOCK` contiguous values.

Importing this module picks numba's OpenMP threading layer, unless the
environment already chose (see `runtime/threads.py` for why).
"""
from __future__ import annotations

import importlib.util
import os

import numba
import numpy as np
from numba import njit, prange


def _choose_threading_layer() -> None:
    """numba's OpenMP layer, its workers waiting as libgomp does by default (spin
    briefly, then sleep) when runs use one pool (BLAS single-threaded meanwhile), or
    passively when they cannot; `runtime/threads.py` explains why. Only a default:
    NUMBA_THREADING_LAYER and OMP_WAIT_POLICY from the environment win. libgomp reads
    OMP_WAIT_POLICY when it loads, so this runs before it does."""
    if "NUMBA_THREADING_LAYER" in os.environ:
        return
    if importlib.util.find_spec("numba.np.ufunc.omppool") is None:   # no libgomp
        return
    if os.environ.get("WSC_ONE_POOL", "1") == "0" or importlib.util.find_spec("threadpoolctl") \
            is None:
        # BLAS keeps its own threads during runs: numba's must then sleep at once, or the
        # two spinning pools take turns on the cores (measured 4x slower)
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    numba.config.THREADING_LAYER = "omp"


_choose_threading_layer()

U = np.uint64          # unsigned index type of the hot loops (see the module doc)
TILE = 64              # lanes of a full tile (4 AVX-512 vectors of f32, 8 of f64)
SMALL_TILE = 16        # lanes of a tile for the few tokens left after the full tiles
ROW_BLOCK = 16         # output rows computed together before their outputs are stored


@njit(inline="always", fastmath=True)
def _tile_dot(src, base, offs, scale, data, p, pend, acc, a0, tile):
    """acc[a0:a0+tile] = sum over p in [p, pend) of data[p] * src[base + offs[p]*scale:][:tile].

    `tile` is a literal at every call site, so after inlining the inner loops
    are fully unrolled over vector registers and `acc` lives in registers.
    """
    for j in range(tile):
        acc[a0 + U(j)] = 0
    while p + U(8) <= pend:
        b0 = base + U(offs[p]) * scale
        b1 = base + U(offs[p + U(1)]) * scale
        b2 = base + U(offs[p + U(2)]) * scale
        b3 = base + U(offs[p + U(3)]) * scale
        b4 = base + U(offs[p + U(4)]) * scale
        b5 = base + U(offs[p + U(5)]) * scale
        b6 = base + U(offs[p + U(6)]) * scale
        b7 = base + U(offs[p + U(7)]) * scale
        w0 = data[p]
        w1 = data[p + U(1)]
        w2 = data[p + U(2)]
        w3 = data[p + U(3)]
        w4 = data[p + U(4)]
        w5 = data[p + U(5)]
        w6 = data[p + U(6)]
        w7 = data[p + U(7)]
        for j in range(tile):
            uj = U(j)
            acc[a0 + uj] += ((w0 * src[b0 + uj] + w1 * src[b1 + uj]
                              + w2 * src[b2 + uj] + w3 * src[b3 + uj])
                             + (w4 * src[b4 + uj] + w5 * src[b5 + uj]
                                + w6 * src[b6 + uj] + w7 * src[b7 + uj]))
        p += U(8)
    while p < pend:
        b0 = base + U(offs[p]) * scale
        w0 = data[p]
        for j in range(tile):
            uj = U(j)
            acc[a0 + uj] += w0 * src[b0 + uj]
        p += U(1)


@njit(inline="always")
def _epilogue(v, b, relu, zero):
    v = v + b
    if relu and v < zero:
        v = zero
    return v


# -- matmul: x[M, K] @ W[K, N], W given as CSR of W^T -------------------------------

@njit(parallel=True, cache=True)
def pack_tiles(x, K, tile_m0, tile_w, tile_base, xt):
    """xt[tile_base[t] + k*w + j] = x[(tile_m0[t] + j)*K + k] (0 past the last token).

    x is the flat C-ordered [M, K] activation; each tile of w tokens becomes a
    contiguous [K, w] block, so a nonzero (n, k) reads one contiguous run of w.
    """
    M = x.shape[0] // K if K else 0
    nt = tile_m0.shape[0]
    nkb = (K + 15) // 16
    for item in prange(nt * nkb):
        t = item // nkb
        k0 = (item - t * nkb) * 16
        k1 = min(k0 + 16, K)
        m0 = tile_m0[t]
        w = tile_w[t]
        base = U(tile_base[t])
        for j in range(w):
            m = m0 + j
            if m < M:
                row = U(m) * U(K)
                for k in range(k0, k1):
                    xt[base + U(k) * U(w) + U(j)] = x[row + U(k)]
            else:
                for k in range(k0, k1):
                    xt[base + U(k) * U(w) + U(j)] = 0


@njit(parallel=True, fastmath=True, cache=True)
def spmm(xt, tile_m0, tile_w, tile_base, group_start, indptr, indices, data, parts,
         bias, has_bias, relu, M, N, scratch, out):
    """out[m, n] = sum_k x[m, k] W[k, n] (+ bias[n], relu), from the packed tiles.

    Thread `part` owns rows [parts[part], parts[part+1]). The tiles come in
    groups (`group_start`) small enough to stay in L2; within a group, every
    tile of a block of ROW_BLOCK rows is computed while that block's nonzeros
    are in L1. `scratch` holds ROW_BLOCK x TILE accumulators per part.
    """
    nparts = parts.shape[0] - 1
    ngroups = group_start.shape[0] - 1
    zero = np.zeros(1, data.dtype)[0]
    for part in prange(nparts):
        s0 = U(part * ROW_BLOCK * TILE)
        for g in range(ngroups):
            for n0 in range(parts[part], parts[part + 1], ROW_BLOCK):
                nr = min(ROW_BLOCK, parts[part + 1] - n0)
                for t in range(group_start[g], group_start[g + 1]):
                    w = tile_w[t]
                    m0 = tile_m0[t]
                    xbase = U(tile_base[t])
                    for r in range(nr):
                        p = U(indptr[n0 + r])
                        pend = U(indptr[n0 + r + 1])
                        a0 = s0 + U(r * TILE)
                        if w == TILE:
                            _tile_dot(xt, xbase, indices, U(TILE), data, p, pend, scratch, a0, TILE)
                        else:
                            _tile_dot(xt, xbase, indices, U(SMALL_TILE), data, p, pend,
                                      scratch, a0, SMALL_TILE)
                    # The epilogue on the accumulators (contiguous: vectorized), then the
                    # block is stored as, for each token, nr contiguous outputs (10-20%
                    # faster than applying the epilogue in that transposing copy).
                    for r in range(nr):
                        b = bias[n0 + r] if has_bias else zero
                        a = s0 + U(r * TILE)
                        for j in range(TILE):
                            scratch[a + U(j)] = _epilogue(scratch[a + U(j)], b, relu, zero)
                    for j in range(min(w, M - m0)):
                        orow = U(m0 + j) * U(N) + U(n0)
                        for r in range(nr):
                            out[orow + U(r)] = scratch[s0 + U(r * TILE + j)]


@njit(parallel=True, fastmath=True, cache=True)
def spmv(x, indptr, indices, data, parts, bias, has_bias, relu, out):
    """out[n] = sum_p data[p] * x[indices[p]] over row n (+ bias[n], relu): M == 1.

    A plain reduction: with fastmath LLVM vectorizes it with gathers from x
    (which sits in L1), measured 20% faster than four scalar accumulators.
    """
    nparts = parts.shape[0] - 1
    zero = np.zeros(1, data.dtype)[0]
    for part in prange(nparts):
        for n in range(parts[part], parts[part + 1]):
            s = zero
            for p in range(U(indptr[n]), U(indptr[n + 1])):
                s += data[p] * x[U(indices[p])]
            b = bias[n] if has_bias else zero
            out[n] = _epilogue(s, b, relu, zero)


# -- convolution: direct, over stride phases of the padded input ---------------------

@njit(parallel=True, cache=True)
def pack_phases(x, nimages, C, H, W, pad_top, pad_left, sh, sw, Hu, Wv, img_stride, xph):
    """Zero-padded stride phases of every image: for image n, channel c, phase (a, b),
    xph[n*img_stride + ((c*sh + a)*sw + b)*Hu*Wv + u*Wv + v]
        = x[n, c, u*sh + a - pad_top, v*sw + b - pad_left]   (0 outside the image).
    With stride 1 this is just the padded image. x is the flat NCHW input."""
    plane = Hu * Wv
    for ncab in prange(nimages * C * sh * sw):
        n = ncab // (C * sh * sw)
        cab = ncab % (C * sh * sw)
        c = cab // (sh * sw)
        a = (cab // sw) % sh
        b = cab % sw
        dst = U(n * img_stride) + U(cab) * U(plane)
        src = U(n * C + c) * U(H * W)
        for u in range(Hu):
            y = u * sh + a - pad_top
            row = dst + U(u * Wv)
            if y < 0 or y >= H:
                for v in range(Wv):
                    xph[row + U(v)] = 0
                continue
            for v in range(Wv):
                xx = v * sw + b - pad_left
                if xx >= 0 and xx < W:
                    xph[row + U(v)] = x[src + U(y * W + xx)]
                else:
                    xph[row + U(v)] = 0


@njit(parallel=True, cache=True)
def conv_offsets(indptr, indices, rows_per_group, cin_per_group, kh, kw, dh, dw,
                 sh, sw, plane, Wv, offs):
    """offs[p]: where in the phase buffer the tap of nonzero p starts reading.

    Column (c*kh + i)*kw + j of output channel o reads input channel
    g*cin_per_group + c (g = o // rows_per_group), phase ((i*dh) % sh, (j*dw) % sw),
    shifted by ((i*dh) // sh) rows and ((j*dw) // sw) columns.
    """
    O = indptr.shape[0] - 1
    for o in prange(O):
        g = o // rows_per_group
        for p in range(indptr[o], indptr[o + 1]):
            col = np.int64(indices[p])
            j = col % kw
            i = (col // kw) % kh
            c = g * cin_per_group + col // (kw * kh)
            ti = i * dh
            tj = j * dw
            phase = (c * sh + ti % sh) * sw + tj % sw
            offs[p] = np.uint32(phase * plane + (ti // sh) * Wv + tj // sw)


@njit(parallel=True, fastmath=True, cache=True)
def spconv(xph, nimages, img_stride, offs, indptr, data, ntiles, oparts, OH, OW, Wv,
           bias, has_bias, relu, scratch, out):
    """out[n, o, y, x] for the TILE positions q = y*Wv + x of each tile.

    Item = (image n, tile, part of the output channels). Positions with x >= OW
    are computed and dropped: the price of contiguous reads. The kept lanes of
    a tile are at most a few runs of one output row each, stored as such.
    `scratch` holds TILE values per item.
    """
    O = indptr.shape[0] - 1
    nop = oparts.shape[0] - 1
    per_image = ntiles * nop
    plane_out = OH * OW
    zero = np.zeros(1, data.dtype)[0]
    for item in prange(nimages * per_image):
        n = item // per_image
        t = (item // nop) % ntiles
        op = item % nop
        q0 = t * TILE
        base = U(n * img_stride + q0)
        a0 = U(item * TILE)
        for o in range(oparts[op], oparts[op + 1]):
            _tile_dot(xph, base, offs, U(1), data, U(indptr[o]), U(indptr[o + 1]),
                      scratch, a0, TILE)
            b = bias[o] if has_bias else zero
            orow = (n * O + o) * plane_out
            y = q0 // Wv
            x = q0 - y * Wv
            j = 0
            while j < TILE and y < OH:
                run = min(OW - x, TILE - j)
                if run > 0:
                    d = U(orow + y * OW + x)
                    for r in range(run):
                        out[d + U(r)] = _epilogue(scratch[a0 + U(j + r)], b, relu, zero)
                j += Wv - x
                x = 0
                y += 1


def num_threads() -> int:
    """Threads numba's parallel loops use (set by NUMBA_NUM_THREADS / numba.set_num_threads)."""
    return numba.get_num_threads()
