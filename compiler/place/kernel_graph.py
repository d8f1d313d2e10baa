"""From a module to what the placer places: kernels with their models, and the flows between them.

`build_kernel_graph(module, target, symbols)`:

- every compute op is a **kernel**; a chain ``matmul(Q, K^T) -> elementwise* ->
  softmax -> matmul(., V)`` is one attention kernel;
- pure data-movement ops (fusion class ``movement``: reshape, transpose,
  slice, concat...) cost no cores: the data goes straight from the kernel that
  produced it to the kernel that reads it, and the edge carries the bytes the
  consumer reads (a slice carries its part, a concat each of its inputs);
- an **edge** is the bytes per sample from one kernel to another (all flows
  between the same two kernels summed); model inputs and outputs are the
  wafer's I/O (`io_in_bytes`, `io_out_bytes`), not edges;
- a kernel's model follows its op's fusion class (`compiler.ops.get_op(name).fusion`),
  so any registered op, ``fused.*`` ones included, gets one (`model_for`).

Sizes are per sample: symbolic dims take their value from `symbols`
(``--input-shape``) and 1 otherwise. The wafer computes and moves fp16, so a
floating-point element is `Target.word_bytes` (2) bytes; integers keep their size.

A weight is **sparse on the wafer** when select-kernels gave it a sparse
encoding or at most `sparse_threshold` of it is nonzero (a sparse weight costs
two words per nonzero, value and index, so below half it is smaller); its
kernel then works and stores by nonzeros (`SparseProfile`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from math import prod

import numpy as np

from ..ir.core import Constant, Module, Op, Value
from ..ir.location import Location
from ..ir.printer import assign_names
from ..ir.types import FLOAT_DTYPES, TensorType
from ..ops import get_op
from ..ops.shapes import dim_factors
from ..target.mesh import Target
from .model_kernels import (DENSE_MAC_BYTES, AttentionModel, ContractionModel, ConvModel2d,
                            CoreRates, ElementwiseModel, NormalizationModel, RecurrentModel,
                            SparseProfile, WaferModel, cdiv, split_sizes)
from .problem import Edge, Kernel, PlacementProblem

SPARSE_THRESHOLD = 0.5
RNN_OPS = ("rnn.rnn", "rnn.gru", "rnn.lstm")
GATES = {"rnn.rnn": 1, "rnn.gru": 3, "rnn.lstm": 4}
ATTENTION_OPS = ("nn.attention", "nn.attention_scores")


@dataclass
class KernelInfo:
    """One kernel: its ops, model and what the reports say about it."""

    name: str
    ops: list[Op]
    model: WaferModel
    loc: Location
    flops: int                  # useful FLOPs per sample (nonzero MACs only)
    weights: list[str] = field(default_factory=list)
    weight_numel: int = 0
    weight_nnz: int = 0
    sparse: bool = False

    @property
    def op(self) -> str:
        """The kernel's op: its op's name, or ``attention`` for an attention chain."""
        return "attention" if isinstance(self.model, AttentionModel) else self.ops[-1].name


@dataclass
class KernelGraph:
    """The kernels of a module, the bytes per sample between them, and the wafer I/O."""

    kernels: list[KernelInfo]
    edges: list[Edge]
    target: Target
    symbols: dict[str, int]
    io_in_bytes: int = 0
    io_out_bytes: int = 0

    def problem(self) -> PlacementProblem:
        kernels = [Kernel(k.name, k.model, k.loc) for k in self.kernels]
        # the flows are routed hop by hop on the mesh: the placer minimises bytes x hops
        return PlacementProblem.on_target(kernels, self.edges, self.target, wire="hops")

    def by_name(self) -> dict[str, KernelInfo]:
        return {k.name: k for k in self.kernels}


def build_kernel_graph(module: Module, target: Target, symbols: dict[str, int] | None = None,
                       sparse_threshold: float = SPARSE_THRESHOLD) -> KernelGraph:
    """The kernels and flows of `module` on `target` (see the module docstring)."""
    return _Builder(module, target, dict(symbols or {}), sparse_threshold).run()


# ---------------------------------------------------------------------------------

class _Builder:
    def __init__(self, module: Module, target: Target, symbols: dict[str, int],
                 sparse_threshold: float):
        self.module = module
        self.target = target
        self.rates = CoreRates.of(target)
        self.symbols = symbols
        self.threshold = sparse_threshold
        self.names = assign_names(module)
        self.users = module.users()
        self.outputs = module.output_values()
        self.kernel_of: dict[Value, str] = {}       # result value -> kernel name
        self.sources: dict[Value, list[tuple[str | None, int]]] = {}

    # -- sizes -------------------------------------------------------------------
    def dim(self, d) -> int:
        coef, names = dim_factors(d)
        return coef * prod(self.symbols.get(s, 1) for s in names)

    def bound(self, t: TensorType) -> TensorType:
        return t if t.is_static else t.with_shape([self.dim(d) for d in t.shape])

    def numel(self, v: Value) -> int:
        return prod(self.dim(d) for d in v.type.shape)

    def elem_bytes(self, v: Value) -> int:
        return self.target.word_bytes if v.type.dtype in FLOAT_DTYPES else v.type.itemsize

    def flops(self, op: Op) -> int:
        ins = [self.bound(v.type) for v in op.operands]
        outs = [self.bound(r.type) for r in op.results]
        return int(get_op(op.name).flops(ins, outs, op.attrs))

    # -- the walk -------------------------------------------------------------------
    def run(self) -> KernelGraph:
        groups = self.group_ops()
        kernels = []
        for ops in groups:
            kernels.append(self.kernel(ops))
            for op in ops:
                for r in op.results:
                    self.kernel_of[r] = kernels[-1].name
        edges: dict[tuple[str, str], int] = {}
        for k, ops in zip(kernels, groups):
            inside = {r for op in ops for r in op.results}
            for op in ops:
                for v in op.operands:
                    if v in inside or isinstance(v, Constant):
                        continue
                    for src, nbytes in self.sources_of(v):
                        if src is not None and src != k.name:
                            edges[(src, k.name)] = edges.get((src, k.name), 0) + nbytes
        # what crosses the wafer's edge: each input once (it is multicast on the wafer)
        io_in = sum(self.numel(v) * self.elem_bytes(v) for v in self.module.inputs)
        io_out = sum(nbytes for v in self.outputs if not isinstance(v, Constant)
                     for src, nbytes in self.sources_of(v))
        edge_list = [Edge(a, b, float(w)) for (a, b), w in edges.items()]
        # a kernel's long side must carry its flows (WaferModel.boundary_links)
        flows_in: dict[str, int] = {}
        flows_out: dict[str, int] = {}
        for (a, b), w in edges.items():
            flows_out[a] = flows_out.get(a, 0) + w
            flows_in[b] = flows_in.get(b, 0) + w
        for k in kernels:
            side = max(flows_in.get(k.name, 0), flows_out.get(k.name, 0))
            if side:
                k.model = replace(k.model, flow_bytes=int(side))
        return KernelGraph(kernels, edge_list, self.target, dict(self.symbols), io_in, io_out)

    def sources_of(self, v: Value) -> list[tuple[str | None, int]]:
        """Where the data of `v` comes from: (kernel name, or None for a model input; bytes)."""
        if v in self.sources:
            return self.sources[v]
        nbytes = self.numel(v) * self.elem_bytes(v)
        if v in self.kernel_of:
            out = [(self.kernel_of[v], nbytes)]
        elif v.producer is None:
            out = [] if isinstance(v, Constant) else [(None, nbytes)]
        else:  # a movement op: what it reads, at most what it yields
            out = []
            for u in v.producer.operands:
                if isinstance(u, Constant):
                    continue
                for src, b in self.sources_of(u):
                    out.append((src, min(b, nbytes)))
        self.sources[v] = out
        return out

    def group_ops(self) -> list[list[Op]]:
        """The ops of each kernel, in module order; movement ops belong to none."""
        taken: set[int] = set()
        groups = []
        for op in self.module.ops:
            if id(op) in taken:
                continue
            if get_op(op.name).fusion == "movement":
                continue
            chain = self.attention_chain(op)
            group = chain or [op]
            taken.update(id(o) for o in group)
            groups.append(group)
        return groups

    def single_user(self, v: Value) -> Op | None:
        us = self.users.get(v, [])
        if len(us) != 1 or v in self.outputs:
            return None
        return us[0]

    def attention_chain(self, op: Op) -> list[Op] | None:
        """matmul(q, k) -> elementwise (other operands constant) -> softmax(last axis) ->
        matmul(p, v), each value used once; None if `op` does not start one."""
        if op.name != "nn.matmul" or any(isinstance(v, Constant) for v in op.operands):
            return None
        if op.operands[0].type.rank < 3 or op.operands[1].type.rank < 3:
            return None
        chain = [op]
        cur = op
        while True:
            nxt = self.single_user(cur.result)
            if nxt is None:
                return None
            if nxt.name in ("nn.softmax",):
                axis = nxt.attrs.get("axis", -1)
                if axis not in (-1, cur.result.type.rank - 1):
                    return None
                chain.append(nxt)
                break
            if get_op(nxt.name).fusion != "elementwise" or nxt.operands[0] is not cur.result \
                    or not all(isinstance(v, Constant) for v in nxt.operands[1:]):
                return None
            chain.append(nxt)
            cur = nxt
        last = self.single_user(chain[-1].result)
        if last is None or last.name != "nn.matmul" or last.operands[0] is not chain[-1].result \
                or isinstance(last.operands[1], Constant):
            return None
        return chain + [last]

    # -- kernels -------------------------------------------------------------------
    def kernel(self, ops: list[Op]) -> KernelInfo:
        name = self.names.get(ops[-1].results[0], ops[-1].name)
        loc = Location.fuse([o.loc for o in ops])
        flops = sum(self.flops(o) for o in ops)
        if len(ops) > 1:
            return KernelInfo(name, ops, self.attention_model(ops), loc, flops)
        op = ops[0]
        model, weight = self.model_for(op)
        info = KernelInfo(name, ops, model, loc, flops)
        consts = [v for v in op.operands if isinstance(v, Constant)]
        info.weights = [c.name for c in consts]
        if weight is not None:
            numel, nnz = weight
            info.weight_numel, info.weight_nnz = numel, nnz
            info.sparse = isinstance(model, ContractionModel) and model.sparse is not None
            if info.sparse and numel:
                # the MACs on zero weights are not done
                macs = flops // 2 if numel else 0
                skipped = int(round(macs * (1 - nnz / numel)))
                info.flops = max(0, flops - 2 * skipped)
        return info

    def fused_attention_model(self, op: Op, ins, flops: int) -> AttentionModel:
        """nn.attention / nn.attention_scores: q [B, H, Sq, D], k [B, Hkv, Skv, D], v."""
        q, k = ins[0], ins[1]
        heads, S, d = prod(q.shape[:-2]), q.shape[-2], q.shape[-1]
        keys = k.shape[-2]
        dv = ins[2].shape[-1] if op.name == "nn.attention" and len(ins) > 2 else 0
        scores = max(1, heads * S * keys)
        extra = max(0, flops - 2 * scores * (d + dv))
        return AttentionModel(heads, S, keys, max(d, dv), self.rates,
                              ops=max(1, cdiv(extra, scores)))

    def attention_model(self, ops: list[Op]) -> AttentionModel:
        q, k = (self.bound(v.type) for v in ops[0].operands)
        v = self.bound(ops[-1].operands[1].type)
        S, d = q.shape[-2], q.shape[-1]
        keys = k.shape[-1]
        heads = prod(q.shape[:-2])
        scores = heads * S * keys
        extra = sum(cdiv(self.flops(o), max(1, scores)) for o in ops[1:-1])
        if v.shape[-1] != d:  # value dim differs from the query's: count the larger
            d = max(d, v.shape[-1])
        return AttentionModel(heads, S, keys, d, self.rates, ops=max(1, extra))

    def weight_profile(self, weights: list[Value], rows_axis_last: bool
                       ) -> tuple[int, int, SparseProfile | None]:
        """(numel, nnz, sparse profile or None) of a kernel's weights; columns are output
        features (the last axis of a matmul weight, the first of a conv weight). Several
        weights (a fused shortcut convolution) count together, column by column."""
        numel = sum(self.numel(w) for w in weights)
        if not all(isinstance(w, Constant) for w in weights):
            return numel, numel, None
        cols_total = None
        nnz = 0
        encoded = False
        for w in weights:
            shape = [self.dim(d) for d in w.type.shape]
            n_out = shape[-1] if rows_axis_last else shape[0]
            encoded |= w.type.encoding is not None
            if w.data is not None:
                data = np.asarray(w.data)
                cols = np.count_nonzero(data.reshape(-1, n_out), axis=0) if rows_axis_last \
                    else np.count_nonzero(data.reshape(n_out, -1), axis=1)
            elif w.type.encoding is not None:   # only the count is known: spread it evenly
                cols = split_sizes(w.type.encoding.nnz, n_out)
            else:
                return numel, numel, None
            cols = np.asarray(cols, dtype=np.int64)
            nnz += int(cols.sum())
            if cols_total is None:
                cols_total = cols
            elif cols_total.shape == cols.shape:
                cols_total = cols_total + cols
        if not (encoded or (numel and nnz <= self.threshold * numel)):
            return numel, nnz, None
        return numel, nnz, SparseProfile(tuple(int(c) for c in cols_total))

    def model_for(self, op: Op) -> tuple[WaferModel, tuple[int, int] | None]:
        """The model of a one-op kernel, and (numel, nnz) of its weight if it has one."""
        opdef = get_op(op.name)
        cls = opdef.fusion
        ins = [self.bound(v.type) for v in op.operands]
        out = self.bound(op.results[0].type)
        E = max(1, out.numel or 1)
        flops = self.flops(op)
        R = self.rates
        consts = [v for v in op.operands if isinstance(v, Constant)]
        resident = sum(self.numel(c) for c in consts)
        if op.name in RNN_OPS:
            x, w = ins[0], ins[1]
            T, B, I = x.shape[0], x.shape[1], x.shape[2]
            dirs, gh = w.shape[0], w.shape[1]
            H = gh // GATES[op.name]
            return RecurrentModel(T, B, I + H, dirs * gh, R), (resident, resident)
        if op.name in ATTENTION_OPS:
            return self.fused_attention_model(op, ins, flops), None
        if op.name in ("nn.conv2d", "nn.conv3d") or (cls == "fused" and self._conv_like(op)):
            return self.conv_model(op, ins, out, flops)
        if op.name == "nn.matmul" or (cls == "fused" and self._matmul_like(op, flops)):
            got = self.matmul_model(op, ins, out, flops)
            if got is not None:
                return got
        if cls == "normalization" or (cls == "fused" and "axis" in op.attrs):
            return self.norm_model(op, ins, out, flops), None
        streamed = max(1, sum(1 for v in op.operands if not isinstance(v, Constant)))
        W = R.word
        if cls in ("elementwise", "fused"):   # a fused op here is a chain of elementwise ops
            n = len(op.operands)
            return ElementwiseModel(E, max(1, cdiv(flops, E)), R, sram_bytes=(n + 1) * W,
                                    words=streamed + 1, resident=resident, kind="elementwise",
                                    in_bytes=streamed * W, out_bytes=W), None
        if cls == "pool":
            ratio = max(1, cdiv(ins[0].numel or 1, E))
            ops = max(1, cdiv(flops, E))
            return ElementwiseModel(E, ops, R, sram_bytes=(ops + 1) * W, words=ratio + 1,
                                    kind="pool", in_bytes=ratio * W, out_bytes=W), None
        if cls == "reduction":
            n_in = max(1, ins[0].numel or 1)
            return ElementwiseModel(n_in, max(1, cdiv(flops, n_in)), R, sram_bytes=2 * W,
                                    words=2, kind="reduction", in_bytes=W, out_bytes=0), None
        # contraction without a model of its own (einsum, transposed convolution), fused
        # ops we cannot read, opaque ops: the registry's FLOPs spread over the elements
        n = max(E, max((t.numel or 1) for t in ins) if ins else 1)
        macs = cls in ("contraction", "fused")
        ops = max(1, cdiv(flops, n * (2 if macs else 1)))
        model = ElementwiseModel(n, ops, R, sram_bytes=DENSE_MAC_BYTES * ops if macs else 2 * W,
                                 words=2, resident=resident, kind=cls,
                                 in_bytes=streamed * W, out_bytes=W)
        return model, ((resident, resident) if resident else None)

    # -- contractions ----------------------------------------------------------------
    @staticmethod
    def _conv_like(op: Op) -> bool:
        return "strides" in op.attrs and any(isinstance(v, Constant) and v.type.rank >= 3
                                             for v in op.operands[1:2])

    def _matmul_like(self, op: Op, flops: int) -> bool:
        """A fused op is a matmul with an epilogue when its first two operands multiply:
        its FLOPs cover the product (an elementwise op of two matrices does far less)."""
        if len(op.operands) < 2 or op.operands[1].type.rank < 2 or op.operands[0].type.rank < 1:
            return False
        a, b = (self.bound(v.type) for v in op.operands[:2])
        if a.shape[-1] != b.shape[-2]:
            return False
        rows = max(1, (a.numel or 1) // max(1, a.shape[-1]))
        return flops >= 2 * rows * b.shape[-2] * b.shape[-1]

    @staticmethod
    def _extra_weights(op: Op) -> list[Constant]:
        """Weights after the first (a fused shortcut convolution's): constants of rank >= 2
        past the first two operands. Rank-1 constants are biases."""
        return [v for v in op.operands[2:] if isinstance(v, Constant) and v.type.rank >= 2]

    @staticmethod
    def _biases(op: Op) -> int:
        return sum(1 for v in op.operands[2:] if isinstance(v, Constant) and v.type.rank == 1)

    def matmul_model(self, op: Op, ins, out, flops):
        a, b = ins[0], ins[1]
        if a.rank < 1 or b.rank < 2:
            return None
        K, N = b.shape[-2], b.shape[-1]
        M = max(1, (a.numel or 1) // max(1, K))
        E = max(1, out.numel or 1)
        w = op.operands[1]
        if isinstance(w, Constant) and b.rank == 2 and not isinstance(op.operands[0], Constant):
            extra_w = [v for v in self._extra_weights(op) if self.numel(v) % N == 0]
            K_all = K + sum(self.numel(v) // N for v in extra_w)
            # biases initialize the accumulators: they cost no cycles
            rest = flops - 2 * M * K_all * N - self._biases(op) * M * N
            numel, nnz, profile = self.weight_profile([w] + extra_w, rows_axis_last=True)
            return ContractionModel(M, K_all, N, self.rates, 1, max(0, cdiv(rest, M * N)),
                                    profile), (numel, nnz)
        if isinstance(op.operands[0], Constant):
            return None
        batches = max(1, (b.numel or 1) // max(1, K * N))
        epilogue = max(0, cdiv(flops - 2 * M * K * N, E))
        return ContractionModel(M, K, N, self.rates, 1, epilogue, None, batches), None

    def conv_model(self, op: Op, ins, out, flops):
        """A convolution (or a fused one: its first two operands are x and w, its conv
        attributes the usual ones; a pool after it makes its output smaller than the
        convolution's, so the geometry comes from nn.conv2d's own shape inference)."""
        x, w = ins[0], ins[1]
        nd = x.rank - 2
        conv_attrs = {k: op.attrs[k] for k in ("strides", "pads", "dilations", "groups")
                      if k in op.attrs}
        try:
            conv = get_op(f"nn.conv{nd}d")
            (own,) = conv.infer([x, w], conv.normalize_attrs(conv_attrs))
            own = self.bound(own)
        except Exception:  # not a plain convolution's operands: take the result as it is
            own = out
        strides = list(op.attrs.get("strides") or [1] * nd)
        pads = list(op.attrs.get("pads") or [0] * (2 * nd))
        dil = list(op.attrs.get("dilations") or [1] * nd)
        groups = int(op.attrs.get("groups", 1))
        O, cg, ks = w.shape[0], w.shape[1], list(w.shape[2:])
        osp = list(own.shape[2:])
        rows = own.shape[0] * prod(osp[:-1])
        positions = osp[-1]
        in_width = x.shape[-1] + pads[nd - 1] + pads[2 * nd - 1]
        window = dil[-2] * (ks[-2] - 1) + 1 if nd >= 2 else 1
        stride = strides[-2] if nd >= 2 else 1
        extra_w = [v for v in self._extra_weights(op)[:] if v is not op.operands[1]
                   and self.numel(v) % O == 0]
        K = cg * prod(ks) + sum(self.numel(v) // O for v in extra_w)
        outputs = max(1, rows * positions * O)
        # biases initialize the accumulators: they cost no cycles
        rest = flops - 2 * outputs * K - self._biases(op) * outputs
        numel, nnz, profile = self.weight_profile([op.operands[1]] + extra_w,
                                                  rows_axis_last=False)
        model = ConvModel2d(rows, K, O, self.rates, positions=positions,
                            epilogue=max(0, cdiv(rest, outputs)), sparse=profile,
                            in_width=in_width, window=window, stride=stride, in_channels=cg,
                            groups=groups)
        return model, (numel, nnz)

    def norm_model(self, op: Op, ins, out, flops):
        x = ins[0]
        n = max(1, x.numel or 1)
        ops = max(1, cdiv(flops, n))
        params = sum(1 for v in op.operands[1:] if isinstance(v, Constant))
        if op.name == "nn.groupnorm":
            rows = x.shape[0] * int(op.attrs["groups"])
        elif "axis" in op.attrs:
            axis = op.attrs["axis"] % max(1, x.rank)
            # softmax-like ops normalize one axis, layernorm-like ones axis..end
            tail = x.shape[axis:] if op.name in ("nn.layernorm", "nn.layernorm_with_stats",
                                                  "nn.rmsnorm") else x.shape[axis:axis + 1]
            rows = n // max(1, prod(tail))
            if op.name not in ("nn.layernorm", "nn.layernorm_with_stats", "nn.rmsnorm") \
                    and axis != x.rank - 1:
                rows = n // max(1, x.shape[axis])
        else:
            rows = max(1, n // max(1, x.shape[-1] if x.rank else 1))
        rows = max(1, rows)
        length = max(1, n // rows)
        return NormalizationModel(rows, length, ops, self.rates, 1, params)


def nnz_by_rows(weight: np.ndarray, k: int, n: int, rows_axis_last: bool) -> int:
    """The most nonzeros any core holds when the weight's rows (reduction) and columns
    (outputs) are cut into equal parts instead of by nonzeros — for comparison."""
    data = np.asarray(weight)
    mat = data.reshape(-1, data.shape[-1]) if rows_axis_last else \
        data.reshape(data.shape[0], -1).T
    nz = (mat != 0)
    K, N = nz.shape
    rs = np.minimum(np.arange(k + 1) * math.ceil(K / k), K)
    cs = np.minimum(np.arange(n + 1) * math.ceil(N / n), N)
    pre = np.zeros((K + 1, N + 1), dtype=np.int64)
    pre[1:, 1:] = np.cumsum(np.cumsum(nz, axis=0), axis=1)
    blocks = pre[rs[1:]][:, cs[1:]] - pre[rs[:-1]][:, cs[1:]] - pre[rs[1:]][:, cs[:-1]] + \
        pre[rs[:-1]][:, cs[:-1]]
    return int(blocks.max()) if blocks.size else 0
