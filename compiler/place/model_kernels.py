"""Kernel models for the IR's ops on a wafer: how work, memory per core and rectangle scale.

`kernel_models.py` holds the interface (`KernelModel`) and the ISPD contest's
convolution model; this module models the kernels the compiler actually
places: one model per kind of computation, derived the same way — choose the
parallelism (the execution parameters), and the rectangle, the cycles per
sample and the words per core follow.

A core does `lanes` multiply-accumulates (or elementwise operations) per cycle
(fp16 SIMD: `Target.flops_per_cycle // 2`), moves `sram` bytes per cycle
between its SRAM and its datapath (`Target.sram_bytes_per_cycle`), and takes
in and sends out `link` bytes per cycle through its router's port to the
fabric (`Target.link_bytes_per_cycle`: one 32-bit wavelet). A kernel's time is
the largest of its **compute**, **SRAM** and **port** cycles (the last bounds
elementwise kernels, which do one operation per element received); memory is
in words of `Target.word_bytes` (fp16). ``ceil`` is integer ceiling division.

**Contraction** (`ContractionModel`: nn.matmul with a weight, batched matmul;
`ConvModel2d`: nn.conv2d/conv3d; fused contractions). ``Y[M, N] = X[M, K] W[K, N]``
per sample, with M rows (tokens; for a convolution, output rows of
``positions`` pixels each). Parameters ``m k n``: m replicas split the rows,
each a ``k x n`` grid of cores holding one block of W (k groups of the
reduction, n groups of the outputs); the rectangle is ``k`` high and ``m*n``
wide::

    dense:   per position  ceil(K/k) * ceil(ceil(N/n) / lanes)    MACs ceil(K/k) ceil(N/n)
    sparse:  per position  ceil(B / lanes),  B = ceil(G(n) / k)    MACs B
    compute = positions * (per position + ceil(ceil(N/n) / k * epilogue / lanes))
    positions = ceil(M/m) * (output width of a convolution, else 1)
    memory  = weights (dense: ceil(K/k) ceil(N/n); sparse: 2 B + group width) + buffers

Along the k cores of a column, each accumulator starts from the partial sum the
core receives (so the reduction costs SRAM traffic and links, not MACs), and
the epilogue (a fused activation or residual; a bias only initializes the
accumulators) is shared out: each of the k cores finishes 1/k of the outputs.
SRAM traffic is 6 bytes per dense MAC (read the weight, read and write the
accumulator) and 8 per sparse one (its 16-bit index too). A fused op's extra
weights (a shortcut convolution on the same outputs) lengthen the reduction.

Sparse weights (`SparseProfile`: the nonzeros of each output column) are partitioned
**by nonzeros, not by rows**: the n output groups are cut where the running
nonzero count crosses ``i * nnz / n`` (`SparseProfile.groups`), and each
group's nonzeros are dealt to its k cores in equal chunks. G(n) is the
heaviest group; work and memory scale with it. `nnz_grid(params)` gives the
nonzeros of every core of the grid; `nnz_by_rows(...)` in the kernel graph
compares with an equal split of rows and columns.

**Attention** (`AttentionModel`: matmul(Q, K^T) -> elementwise -> softmax ->
matmul(., V)): H heads, S queries, S' keys of dimension d. Parameters ``h q s``:
heads, queries and keys split into groups; partial softmax results of the s key
groups are merged (flash-attention style). Rectangle ``s`` x ``h*q``.

**Elementwise, pool, reduction and anything else** (`ElementwiseModel`): E
elements of ``ops`` operations each, spread over an ``r x c`` rectangle.
**Normalization** (`NormalizationModel`: softmax, layernorm...): R rows of D
elements, rows split in a groups and each row's elements in b groups (a
cross-core reduction per row when b > 1). **Recurrent** (`RecurrentModel`):
T sequential steps of a ``[B, I+H] x [I+H, G*H]`` product; only the product
is parallel, and each step waits for the previous one (k + n hops).

A kernel's flows (`flow_bytes`: the larger of what it receives and sends per
sample) must cross one side of its rectangle: the longest side needs at least
``flow_bytes / (link * t)`` links at time budget t (`boundary_links`).

The candidate search (`WaferModel.candidates`) enumerates the parameters that
set the rectangle's width (only the values where ``ceil(X / p)`` changes) and
solves the height's parameter by bisection: time and memory never increase
with it. For each width it returns the smallest height meeting the budget
(the least area) and the tallest that fits (the fastest).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ..target.mesh import Target
from .kernel_models import Candidates, KernelModel, _empty_candidates, _fits

DENSE_MAC_BYTES = 6        # weight read, accumulator read and write (fp16)
SPARSE_MAC_BYTES = 8       # ... and the weight's 16-bit index
REDUCE_CYCLES = 4          # per row, for a cross-core reduction (sum and broadcast)
MISC_WORDS = 16            # per core: counters, descriptors


@dataclass(frozen=True)
class CoreRates:
    """What one core does per cycle: SIMD lanes (MACs or ops), SRAM bytes; its word size."""

    lanes: int
    sram: int
    word: int
    link: int = 4

    @classmethod
    def of(cls, target: Target) -> "CoreRates":
        return cls(max(1, target.flops_per_cycle // 2), target.sram_bytes_per_cycle,
                   target.word_bytes, max(1, target.link_bytes_per_cycle))


def cdiv(a, b):
    """Ceiling division for ints and int arrays."""
    return -(-a // b)


def useful_splits(x: int, cap: int) -> np.ndarray:
    """The group counts p in 1..min(x, cap) where ceil(x/p) changes: the smallest p giving
    each distinct group size (a larger p with the same size only adds idle cores)."""
    if x < 1 or cap < 1:
        return np.zeros(0, dtype=np.int64)
    q = np.arange(1, x + 1, dtype=np.int64)
    p = np.unique(cdiv(x, q))
    return p[p <= cap]


# --- sparse weights ---------------------------------------------------------------

@dataclass(frozen=True)
class SparseProfile:
    """Nonzeros per output column of a sparse weight, and its partition by nonzeros."""

    col_nnz: tuple[int, ...]
    _cache: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def nnz(self) -> int:
        return int(sum(self.col_nnz))

    def bounds(self, n: int) -> np.ndarray:
        """Column boundaries of n groups: cut where the running count reaches i*nnz/n."""
        key = ("b", n)
        if key not in self._cache:
            counts = np.asarray(self.col_nnz, dtype=np.int64)
            prefix = np.concatenate([[0], np.cumsum(counts)])
            total = int(prefix[-1])
            targets = cdiv(total * np.arange(1, n, dtype=np.int64), n)
            cuts = np.searchsorted(prefix, targets, side="left")
            cuts = np.clip(cuts, 0, len(counts))
            self._cache[key] = np.concatenate([[0], np.maximum.accumulate(cuts),
                                               [len(counts)]]).astype(np.int64)
        return self._cache[key]

    def groups(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(nonzeros, columns) of each of the n groups."""
        b = self.bounds(n)
        prefix = np.concatenate([[0], np.cumsum(np.asarray(self.col_nnz, dtype=np.int64))])
        return prefix[b[1:]] - prefix[b[:-1]], np.diff(b)

    def heaviest(self, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each group count in `n`: the heaviest group's nonzeros and the widest group
        (a table over the group counts seen so far, extended when new ones come)."""
        n = np.asarray(n, dtype=np.int64)
        keys, g, w = self._cache.get("table", (np.zeros(0, np.int64),) * 3)
        idx = np.minimum(np.searchsorted(keys, n), max(0, keys.size - 1))
        if keys.size == 0 or not (keys[idx] == n).all():
            new = np.setdiff1d(np.unique(n), keys)
            more = [self.groups(int(v)) for v in new]
            keys = np.concatenate([keys, new])
            g = np.concatenate([g, [int(nz.max()) for nz, _ in more]])
            w = np.concatenate([w, [int(cols.max()) for _, cols in more]])
            order = np.argsort(keys)
            keys, g, w = keys[order], g[order].astype(np.int64), w[order].astype(np.int64)
            self._cache["table"] = (keys, g, w)
            idx = np.searchsorted(keys, n)
        return g[idx], w[idx]


def split_sizes(total: int, parts: int) -> np.ndarray:
    """`total` items dealt to `parts` groups as evenly as possible (the first ones get more)."""
    base, extra = divmod(int(total), int(parts))
    sizes = np.full(int(parts), base, dtype=np.int64)
    sizes[:extra] += 1
    return sizes


def ceil_sizes(total: int, parts: int) -> np.ndarray:
    """`total` items cut into groups of ceil(total/parts) (the last ones may be short or empty)."""
    size = cdiv(int(total), int(parts))
    starts = np.minimum(np.arange(parts, dtype=np.int64) * size, total)
    ends = np.minimum(starts + size, total)
    return ends - starts


# --- the common machinery ---------------------------------------------------------

class WaferModel(KernelModel):
    """A kernel model evaluated on numpy arrays of parameters (one code path for the
    search and for single evaluations).

    Subclasses define `param_names`, `_eval(P)` (arrays ``compute``, ``sram``,
    ``port`` (cycles) and ``memory`` (words) from a dict of parameter arrays),
    `_shape(P)` (height, width), `_free(max_side)` (the enumerated parameters), `solved` (the parameter found by
    bisection, None to enumerate all) with `_solved_max()`, and `ideal()`.
    """

    solved: str | None = None
    solved_is_height = True        # the solved parameter is the rectangle's height
    flow_bytes: int = 0            # max(bytes in, bytes out) per sample (a field in subclasses)

    # -- to define ------------------------------------------------------------------
    def _eval(self, P: dict) -> dict:
        raise NotImplementedError

    def _shape(self, P: dict) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _free(self, max_side: int) -> dict:
        raise NotImplementedError

    def _solved_max(self) -> int:
        return 1

    def ideal(self) -> float:
        """Cycles on one core at perfect balance: the kernel's work (no rounding, no overheads)."""
        raise NotImplementedError

    def sram_traffic(self) -> float:
        """SRAM bytes read and written per sample, all cores together."""
        raise NotImplementedError

    def weight_words(self) -> int:
        """Words of weights the kernel keeps resident (all its cores together, one copy)."""
        return 0

    # -- the KernelModel interface ---------------------------------------------------
    def _P(self, params) -> dict:
        return {name: np.array([int(v)], dtype=np.int64)
                for name, v in zip(self.param_names, params)}

    def evaluate(self, params) -> dict[str, int]:
        """compute, sram, port and time (cycles), memory (words) and cores for one tuple."""
        P = self._P(params)
        r = self._eval(P)
        h, w = self._shape(P)
        out = {k: int(v[0]) for k, v in r.items()}
        out["time"] = max(1, out["compute"], out["sram"], out["port"])
        out["cores"] = int(h[0]) * int(w[0])
        return out

    def shape(self, params):
        h, w = self._shape(self._P(params))
        return int(h[0]), int(w[0])

    def time(self, params):
        return Fraction(self.evaluate(params)["time"])

    def memory(self, params):
        return Fraction(self.evaluate(params)["memory"])

    def max_time(self):
        return self.time(tuple(1 for _ in self.param_names))

    def param_ranges(self):
        return tuple(max(1, self._solved_max()) for _ in self.param_names)

    def candidates(self, t, mem_limit, max_side, min_side) -> Candidates:
        cache = self.__dict__.setdefault("_free_cache", {})
        if max_side not in cache:
            cache[max_side] = self._free(max_side)
        free = cache[max_side]
        names = self.param_names
        n_free = len(next(iter(free.values()))) if free else 1
        if n_free == 0:
            return _empty_candidates(len(names))
        limit = math.floor(Fraction(t))
        need = self.boundary_links(limit)
        P = {k: v for k, v in free.items()}
        if self.solved is not None:
            # per enumerated row: the smallest solved value (the least area meeting t, with
            # a perimeter that carries the flows) and the largest that fits (the fastest:
            # the sizer's lower bound looks for it)
            top = min(self._solved_max(), max_side)
            x = self._solve(P, limit, int(mem_limit), top)
            probe = dict(P)
            probe[self.solved] = np.ones_like(x)
            h1, w1 = self._shape(probe)
            side, other = (h1, w1) if self.solved_is_height else (w1, h1)
            x_long = np.where(other >= need, 1, cdiv(need, side))
            x = np.where((x > 0) & (x_long <= top), np.maximum(x, x_long), 0)
            keep = x > 0
            fast = np.where(other <= min_side, top, min(top, min_side))
            fast = np.maximum(fast, x)
            more = keep & (fast > x)
            P = {k: np.concatenate([v[keep], v[more]]) for k, v in P.items()}
            P[self.solved] = np.concatenate([x[keep], fast[more]])
            if not keep.any():
                return _empty_candidates(len(names))
        r = self._eval(P)
        time = _time_of(r)
        h, w = self._shape(P)
        ok = (time <= limit) & (r["memory"] <= mem_limit) & _fits(h, w, max_side, min_side) \
            & (np.maximum(h, w) >= need)
        params = np.stack([P[nm] for nm in names], axis=1)
        return Candidates(h[ok], w[ok], time[ok], params[ok])

    def boundary_links(self, cycles: int) -> int:
        """The links a side of the rectangle needs to carry the kernel's flows within `cycles`
        per sample: `flow_bytes` is the larger of what comes in and what goes out, and
        the longest side must carry it (in a stack of kernels, data comes in on one side
        and leaves by the other)."""
        if self.flow_bytes <= 0 or cycles <= 0:
            return 0
        return int(cdiv(int(self.flow_bytes), self.rates.link * int(cycles)))

    def _ok(self, P: dict, x: np.ndarray, limit: int, mem_limit: int) -> np.ndarray:
        Q = dict(P)
        Q[self.solved] = x
        r = self._eval(Q)
        time = _time_of(r)
        return (time <= limit) & (r["memory"] <= mem_limit)

    def _solve(self, P: dict, limit: int, mem_limit: int, top: int) -> np.ndarray:
        """Per row of P the smallest value of the solved parameter in 1..top meeting the
        budget and the memory limit (0 where none does). Time and memory are
        non-increasing in it from 2 on; 1 is tried on its own (a split can add a reduction)."""
        n = len(next(iter(P.values())))
        one = np.ones(n, dtype=np.int64)
        if top < 1:
            return np.zeros(n, dtype=np.int64)
        at_one = self._ok(P, one, limit, mem_limit)
        if top == 1:
            return np.where(at_one, 1, 0)
        hi = np.full(n, top, dtype=np.int64)
        feasible = self._ok(P, hi, limit, mem_limit)
        lo = np.full(n, 2, dtype=np.int64)
        while True:
            active = lo < hi
            if not active.any():
                break
            mid = (lo + hi) // 2
            ok = self._ok(P, mid, limit, mem_limit)
            hi = np.where(active & ok, mid, hi)
            lo = np.where(active & ~ok, mid + 1, lo)
        return np.where(at_one, 1, np.where(feasible, hi, 0))

    # -- reports -----------------------------------------------------------------------
    def nnz_grid(self, params) -> np.ndarray | None:
        """Weight nonzeros held by each core of one replica, as a (height, width/replicas)
        array in the unrotated rectangle's layout; None for kernels without weights."""
        return None


def _time_of(r: dict) -> np.ndarray:
    return np.maximum(np.maximum(1, r["compute"]), np.maximum(r["sram"], r["port"]))


def _pairs(a: np.ndarray, b: np.ndarray, cap: int) -> tuple[np.ndarray, np.ndarray]:
    """All (x, y) with x in a, y in b and x*y <= cap."""
    if a.size == 0 or b.size == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z
    A, B = np.meshgrid(a, b, indexing="ij")
    keep = A * B <= cap
    return A[keep], B[keep]


# --- contractions -------------------------------------------------------------------

@dataclass(frozen=True)
class ContractionModel(WaferModel):
    """``Y[M, N] = X[M, K] W[K, N]`` per sample on m replicas of a k x n grid (module docstring).

    `positions` multiplies the rows (a convolution's output width); `epilogue`
    counts elementwise operations per output (a fused activation, a residual);
    `sparse` makes the weight sparse; `batches` > 1 means W differs per batch
    (a product of two activations), so a core holds one block per batch it serves.
    """

    M: int
    K: int
    N: int
    rates: CoreRates
    positions: int = 1
    epilogue: int = 0
    sparse: SparseProfile | None = None
    batches: int = 1
    kind: str = "matmul"
    flow_bytes: int = 0

    param_names = ("m", "k", "n")
    solved = "k"

    def _solved_max(self) -> int:
        return self.K

    def _free(self, max_side):
        m, n = _pairs(useful_splits(self.M, max_side), useful_splits(self.N, max_side), max_side)
        return {"m": m, "n": n}

    def _shape(self, P):
        return P["k"], P["m"] * P["n"]

    def _core_block(self, P):
        """(weight words, MACs per output position, output columns) of the busiest core."""
        k, n = P["k"], P["n"]
        if self.sparse is not None:
            g, cols = self.sparse.heaviest(n)
            b = cdiv(g, k)
            return 2 * b + cols, b, cols
        kc, nc = cdiv(self.K, k), cdiv(self.N, n)
        return kc * nc, kc * nc, nc

    def _mac_cycles(self, P, macs):
        """Cycles per output position for the MACs (dense: SIMD over the outputs)."""
        L = self.rates.lanes
        if self.sparse is not None:
            return cdiv(macs, L)
        return cdiv(self.K, P["k"]) * cdiv(cdiv(self.N, P["n"]), L)

    def _stream_bytes(self, P, outs):
        """(bytes in, bytes out) of one core per row: an input slice in, the outputs (or
        partial sums, passed along the reduction) out."""
        word = self.rates.word
        return cdiv(self.K, P["k"]) * word * self.positions, outs * word * self.positions

    def _buffers(self, P, outs):
        return 2 * cdiv(self.K, P["k"]) + 2 * outs + (outs if self.epilogue else 0)

    def _eval(self, P):
        L, S, word, link = self.rates.lanes, self.rates.sram, self.rates.word, self.rates.link
        m, k = P["m"], P["k"]
        weights, macs, outs = self._core_block(P)
        rows = cdiv(self.M, m)
        positions = rows * self.positions
        # the epilogue is shared out: each of the k cores of a reduction chain finishes
        # 1/k of the outputs (the chain's partial sums end there, reduce-scatter style)
        per_position = self._mac_cycles(P, macs) + cdiv(cdiv(outs, k) * self.epilogue, L)
        split = (k > 1).astype(np.int64)
        mac_bytes = SPARSE_MAC_BYTES if self.sparse is not None else DENSE_MAC_BYTES
        # a split reduction starts each accumulator from the partial sum it receives
        position_bytes = macs * mac_bytes + outs * word * split + \
            cdiv(outs, k) * word * 2 * self.epilogue
        b_in, b_out = self._stream_bytes(P, outs)
        copies = np.where(m < self.batches, cdiv(self.batches, m), 1)
        return {"compute": positions * per_position,
                "sram": cdiv(positions * position_bytes, S),
                "port": cdiv(rows * np.maximum(b_in, b_out), link),
                "memory": weights * copies + self._buffers(P, outs) + MISC_WORDS}

    @property
    def weight_nnz(self) -> int:
        return self.sparse.nnz if self.sparse is not None else self.K * self.N

    def weight_words(self) -> int:
        return (2 * self.weight_nnz + self.N) if self.sparse is not None else self.K * self.N

    def sram_traffic(self) -> float:
        positions = self.M * self.positions
        mac_bytes = SPARSE_MAC_BYTES if self.sparse is not None else DENSE_MAC_BYTES
        return positions * (self.weight_nnz * mac_bytes +
                            self.N * self.rates.word * 2 * self.epilogue)

    def ideal(self) -> float:
        compute = self.M * self.positions * (self.weight_nnz + self.N * self.epilogue)
        return max(compute / self.rates.lanes, self.sram_traffic() / self.rates.sram)

    def nnz_grid(self, params):
        _, k, n = (int(v) for v in params)
        if self.sparse is not None:
            nz, _ = self.sparse.groups(n)
            return np.stack([split_sizes(int(g), k) for g in nz], axis=1)
        return np.outer(ceil_sizes(self.K, k), ceil_sizes(self.N, n))


@dataclass(frozen=True)
class ConvModel2d(ContractionModel):
    """A convolution as a contraction: rows are output rows of `positions` pixels,
    ``K = C/groups * R * S``, ``N`` output channels; each core keeps a line buffer
    of ``R + stride`` input rows of its channels and one output row, and receives
    `stride` new input rows per output row."""

    in_width: int = 1        # padded input width
    window: int = 1          # filter rows (dilated)
    stride: int = 1
    in_channels: int = 1     # per group
    groups: int = 1
    kind: str = "conv"

    def _channels(self, P, outs):
        """Input channels a core reads: its share of the reduction, for every group its
        output channels belong to."""
        per_group = cdiv(self.in_channels, np.minimum(P["k"], self.in_channels))
        touched = np.minimum(self.groups, cdiv(outs * self.groups, self.N))
        return per_group * touched

    def _stream_bytes(self, P, outs):
        word = self.rates.word
        return (self.stride * self.in_width * self._channels(P, outs) * word,
                self.positions * outs * word)

    def _buffers(self, P, outs):
        lines = (self.window + self.stride) * self.in_width * self._channels(P, outs)
        return lines + self.positions * outs * (2 if self.epilogue else 1)


# --- attention ---------------------------------------------------------------------

@dataclass(frozen=True)
class AttentionModel(WaferModel):
    """softmax(Q K^T * scale) V for `heads` heads of `queries` x `keys`, head dim `dim`.

    `ops` counts the elementwise and softmax operations per score (scale, mask,
    max, exp, sum, divide). Parameters ``h q s``: head, query and key groups.
    Every core receives its queries and, once per sample, its heads' slice of
    K and V.
    """

    heads: int
    queries: int
    keys: int
    dim: int
    rates: CoreRates
    ops: int = 6
    kind: str = "attention"
    flow_bytes: int = 0

    param_names = ("h", "q", "s")
    solved = "s"

    def _solved_max(self):
        return self.keys

    def _free(self, max_side):
        h, q = _pairs(useful_splits(self.heads, max_side), useful_splits(self.queries, max_side),
                      max_side)
        return {"h": h, "q": q}

    def _shape(self, P):
        return P["s"], P["h"] * P["q"]

    def _eval(self, P):
        L, S, word, link = self.rates.lanes, self.rates.sram, self.rates.word, self.rates.link
        h, q, s = P["h"], P["q"], P["s"]
        heads = cdiv(self.heads, h)
        units = heads * cdiv(self.queries, q)
        keys = cdiv(self.keys, s)
        split = (s > 1).astype(np.int64)
        per = cdiv(2 * self.dim * keys, L) + cdiv(self.ops * keys, L) + \
            split * (cdiv(self.dim, L) + REDUCE_CYCLES)
        per_bytes = 2 * self.dim * keys * DENSE_MAC_BYTES + self.ops * keys * 2 * word
        b_in = (units * self.dim + heads * keys * 2 * self.dim) * word
        b_out = units * self.dim * word
        memory = heads * keys * 2 * self.dim + 3 * self.dim + keys + MISC_WORDS
        return {"compute": units * per, "sram": cdiv(units * per_bytes, S),
                "port": cdiv(np.maximum(b_in, b_out), link), "memory": memory}

    def sram_traffic(self):
        scores = self.heads * self.queries * self.keys
        return scores * (2 * self.dim * DENSE_MAC_BYTES + self.ops * 2 * self.rates.word)

    def ideal(self):
        scores = self.heads * self.queries * self.keys
        return max(scores * (2 * self.dim + self.ops) / self.rates.lanes,
                   self.sram_traffic() / self.rates.sram)


# --- elementwise, pools, reductions, anything else -------------------------------------

@dataclass(frozen=True)
class ElementwiseModel(WaferModel):
    """`elements` of `ops` operations each on an r x c rectangle.

    Per element: `sram_bytes` of SRAM traffic, `words` of buffer, `in_bytes`
    received and `out_bytes` sent; `resident` words (weights, tables) are
    spread over the cores. The same model serves pools (ops = window),
    reductions (elements = the input) and, through the registry's FLOP count,
    any op without a model of its own (`kind` says which).
    """

    elements: int
    ops: int
    rates: CoreRates
    sram_bytes: int = 4
    words: int = 2
    resident: int = 0
    kind: str = "elementwise"
    flow_bytes: int = 0
    in_bytes: int = 2
    out_bytes: int = 2

    param_names = ("r", "c")
    solved = "c"
    solved_is_height = False

    def _solved_max(self):
        return max(1, self.elements)

    def _free(self, max_side):
        return {"r": np.arange(1, min(max(1, self.elements), max_side) + 1, dtype=np.int64)}

    def _shape(self, P):
        return P["r"], P["c"]

    def _eval(self, P):
        L, S, link = self.rates.lanes, self.rates.sram, self.rates.link
        cores = P["r"] * P["c"]
        chunk = cdiv(self.elements, cores)
        return {"compute": cdiv(chunk * self.ops, L), "sram": cdiv(chunk * self.sram_bytes, S),
                "port": cdiv(chunk * max(self.in_bytes, self.out_bytes), link),
                "memory": chunk * self.words + cdiv(self.resident, cores) + MISC_WORDS}

    def sram_traffic(self):
        return float(self.elements * self.sram_bytes)

    def ideal(self):
        r = self.rates
        return self.elements * max(self.ops / r.lanes, self.sram_bytes / r.sram,
                                   max(self.in_bytes, self.out_bytes) / r.link)

    def weight_words(self):
        return self.resident


@dataclass(frozen=True)
class NormalizationModel(WaferModel):
    """`rows` rows of `length` elements normalized along the row (softmax, layernorm...).

    Parameters ``a b``: a row groups, b groups of each row's elements; with b > 1
    the row's statistics are reduced across the b cores. Rectangle ``b x a``.
    `inputs` counts operands streamed per element; `params` the per-element
    vectors kept (a layernorm's scale and bias).
    """

    rows: int
    length: int
    ops: int
    rates: CoreRates
    inputs: int = 1
    params: int = 0
    kind: str = "normalization"
    flow_bytes: int = 0

    param_names = ("a", "b")
    solved = "b"

    def _solved_max(self):
        return self.length

    def _free(self, max_side):
        return {"a": useful_splits(self.rows, max_side)}

    def _shape(self, P):
        return P["b"], P["a"]

    def _eval(self, P):
        L, S, word, link = self.rates.lanes, self.rates.sram, self.rates.word, self.rates.link
        a, b = P["a"], P["b"]
        rows, lanes = cdiv(self.rows, a), cdiv(self.length, b)
        split = (b > 1).astype(np.int64)
        compute = rows * (cdiv(lanes * self.ops, L) + split * REDUCE_CYCLES)
        sram = cdiv(rows * lanes * (self.inputs + 2) * word, S)
        port = cdiv(rows * lanes * max(1, self.inputs) * word, link)
        memory = rows * lanes * (self.inputs + 1) + lanes * self.params + MISC_WORDS
        return {"compute": compute, "sram": sram, "port": port, "memory": memory}

    def sram_traffic(self):
        return float(self.rows * self.length * (self.inputs + 2) * self.rates.word)

    def ideal(self):
        r = self.rates
        n = self.rows * self.length
        return n * max(self.ops / r.lanes, (self.inputs + 2) * r.word / r.sram,
                       max(1, self.inputs) * r.word / r.link)

    def weight_words(self):
        return self.length * self.params


# --- recurrent -----------------------------------------------------------------------

@dataclass(frozen=True)
class RecurrentModel(WaferModel):
    """`steps` sequential steps of ``[batch, K] x [K, N]`` (K = input + hidden, N = gates x
    hidden x directions) plus `gate_ops` per output; each step waits for the previous
    one's hidden state: k + n hops of reduction and broadcast. Parameters ``k n``."""

    steps: int
    batch: int
    K: int
    N: int
    rates: CoreRates
    gate_ops: int = 4
    kind: str = "recurrent"
    flow_bytes: int = 0

    param_names = ("k", "n")
    solved = None

    def _solved_max(self):
        return max(self.K, self.N)

    def _free(self, max_side):
        k, n = np.meshgrid(useful_splits(self.K, max_side), useful_splits(self.N, max_side),
                           indexing="ij")
        return {"k": k.ravel(), "n": n.ravel()}

    def _shape(self, P):
        return P["k"], P["n"]

    def _eval(self, P):
        L, S, word, link = self.rates.lanes, self.rates.sram, self.rates.word, self.rates.link
        k, n = P["k"], P["n"]
        kc, nc = cdiv(self.K, k), cdiv(self.N, n)
        step = self.batch * (kc * cdiv(nc, L) + cdiv(nc * self.gate_ops, L)) + k + n
        sram = cdiv(self.steps * self.batch * (kc * nc * DENSE_MAC_BYTES + nc * 4 * word), S)
        port = cdiv(self.steps * self.batch * np.maximum(kc, nc) * word, link)
        memory = kc * nc + 2 * kc + 3 * nc * self.batch + MISC_WORDS
        return {"compute": self.steps * step, "sram": sram, "port": port, "memory": memory}

    def sram_traffic(self):
        return float(self.steps * self.batch * self.K * self.N * DENSE_MAC_BYTES)

    def ideal(self):
        macs = self.steps * self.batch * self.K * self.N
        return max(macs / self.rates.lanes, self.sram_traffic() / self.rates.sram)

    def weight_words(self):
        return self.K * self.N

    def nnz_grid(self, params):
        k, n = (int(v) for v in params)
        return np.outer(ceil_sizes(self.K, k), ceil_sizes(self.N, n))
