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

from ..errors import PlacementError
from ..ir.core import Constant, Module, Op, Value
from ..ir.location import Location
from ..ir.printer import assign_names
from ..ir.types import FLOAT_DTYPES, TensorType
from ..ops import get_op
from ..ops.shapes import dim_factors
from ..target.mesh import Target
from .model_kernels import (AttentionModel, ContractionModel, ConvModel2d, CoreRates,
                            ElementwiseModel, NormalizationModel, RecurrentModel,
                            SparseProfile, WaferModel, cdiv)
from .problem import Edge, Kernel, PlacementProblem

SPARSE_THRESHOLD = 0.5
RNN_OPS = ("rnn.rnn", "rnn.gru", "rnn.lstm")
GATES = {"rnn.rnn": 1, "rnn.gru": 3, "rnn.lstm": 4}


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
        return PlacementProblem.on_target(kernels, self.edges, self.target)

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
        io_in = 0
        for k, ops in zip(kernels, groups):
            inside = {r for op in ops for r in op.results}
            for op in ops:
                for v in op.operands:
                    if v in inside or isinstance(v, Constant):
                        continue
                    for src, nbytes in self.sources_of(v):
                        if src is None:
                            io_in += nbytes
                        elif src != k.name:
                            edges[(src, k.name)] = edges.get((src, k.name), 0) + nbytes
        io_out = sum(nbytes for v in self.outputs if not isinstance(v, Constant)
                     for src, nbytes in self.sources_of(v))
        edge_list = [Edge(a, b, float(w)) for (a, b), w in edges.items()]
        # a kernel's rectangle must have the perimeter to carry its flows (model_kernels)
        through: dict[str, int] = {}
        for (a, b), w in edges.items():
            through[a] = through.get(a, 0) + w
            through[b] = through.get(b, 0) + w
        for k in kernels:
            if through.get(k.name):
                k.model = replace(k.model, flow_bytes=int(through[k.name]))
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

    def weight_profile(self, w: Value, rows_axis_last: bool) -> tuple[int, int, SparseProfile | None]:
        """(numel, nnz, sparse profile or None) of a weight; columns are output features
        (the last axis of a matmul weight, the first of a conv weight)."""
        numel = self.numel(w)
        if not isinstance(w, Constant):
            return numel, numel, None
        shape = [self.dim(d) for d in w.type.shape]
        n_out = shape[-1] if rows_axis_last else shape[0]
        if w.data is not None:
            data = np.asarray(w.data)
            nnz = int(np.count_nonzero(data))
        elif w.type.encoding is not None:
            data, nnz = None, w.type.encoding.nnz
        else:
            return numel, numel, None
        sparse = w.type.encoding is not None or (numel and nnz <= self.threshold * numel)
        if not sparse:
            return numel, nnz, None
        if data is None:  # only the count is known: spread it evenly
            base, extra = divmod(nnz, n_out)
            cols = [base + (1 if i < extra else 0) for i in range(n_out)]
        elif rows_axis_last:
            cols = np.count_nonzero(data.reshape(-1, n_out), axis=0).tolist()
        else:
            cols = np.count_nonzero(data.reshape(n_out, -1), axis=1).tolist()
        return numel, nnz, SparseProfile(tuple(int(c) for c in cols))

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
        if op.name == "nn.matmul" or (cls == "fused" and self._matmul_like(op)):
            got = self.matmul_model(op, ins, out, flops)
            if got is not None:
                return got
        if cls == "normalization" or (cls == "fused" and "axis" in op.attrs):
            return self.norm_model(op, ins, out, flops), None
        streamed = max(1, sum(1 for v in op.operands if not isinstance(v, Constant)))
        W = R.word
        if cls == "elementwise" or (cls == "fused" and not consts):
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
        model = ElementwiseModel(n, ops, R, sram_bytes=DENSE_BYTES * ops if macs else 2 * W,
                                 words=2, resident=resident, kind=cls,
                                 in_bytes=streamed * W, out_bytes=W)
        return model, ((resident, resident) if resident else None)

    # -- contractions ----------------------------------------------------------------
    @staticmethod
    def _conv_like(op: Op) -> bool:
        return "strides" in op.attrs and any(isinstance(v, Constant) and v.type.rank >= 3
                                             for v in op.operands[1:2])

    @staticmethod
    def _matmul_like(op: Op) -> bool:
        return len(op.operands) >= 2 and op.operands[1].type.rank >= 2

    def matmul_model(self, op: Op, ins, out, flops):
        a, b = ins[0], ins[1]
        if a.rank < 1 or b.rank < 2:
            return None
        K, N = b.shape[-2], b.shape[-1]
        M = max(1, (a.numel or 1) // max(1, K))
        E = max(1, out.numel or 1)
        epilogue = max(0, cdiv(flops - 2 * M * K * N - (E if _has_bias(op) else 0), E))
        w = op.operands[1]
        if isinstance(w, Constant) and b.rank == 2 and not isinstance(op.operands[0], Constant):
            numel, nnz, profile = self.weight_profile(w, rows_axis_last=True)
            return ContractionModel(M, K, N, self.rates, 1, epilogue, profile), (numel, nnz)
        if isinstance(op.operands[0], Constant):
            return None
        batches = max(1, (b.numel or 1) // max(1, K * N))
        return ContractionModel(M, K, N, self.rates, 1, epilogue, None, batches), None

    def conv_model(self, op: Op, ins, out, flops):
        x, w = ins[0], ins[1]
        nd = x.rank - 2
        strides = list(op.attrs.get("strides") or [1] * nd)
        pads = list(op.attrs.get("pads") or [0] * (2 * nd))
        dil = list(op.attrs.get("dilations") or [1] * nd)
        groups = int(op.attrs.get("groups", 1))
        O, cg, ks = w.shape[0], w.shape[1], list(w.shape[2:])
        osp = list(out.shape[2:])
        rows = out.shape[0] * prod(osp[:-1])
        positions = osp[-1]
        in_width = x.shape[-1] + pads[nd - 1] + pads[2 * nd - 1]
        window = dil[-2] * (ks[-2] - 1) + 1 if nd >= 2 else 1
        stride = strides[-2] if nd >= 2 else 1
        K = cg * prod(ks)
        macs = rows * positions * K * O
        E = max(1, out.numel or 1)
        extra = flops - 2 * macs - (E if _has_bias(op) else 0)
        epilogue = max(0, cdiv(extra, E))
        numel, nnz, profile = self.weight_profile(op.operands[1], rows_axis_last=False)
        model = ConvModel2d(rows, K, O, self.rates, positions, epilogue, profile, 1, "conv",
                            in_width, window, stride, cg, groups)
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


DENSE_BYTES = 6
ATTENTION_OPS = ("nn.attention", "nn.attention_scores")


def _has_bias(op: Op) -> bool:
    """A bias operand initializes the accumulators, so it costs no cycles."""
    return (op.name in ("nn.conv2d", "nn.conv3d") and len(op.operands) > 2) or \
        bool(op.attrs.get("has_bias", False))


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


def check_fits_at_all(graph: KernelGraph) -> None:
    """Raise PlacementError if a kernel has no legal rectangle on the target (memory)."""
    from .sizing import Sizer
    Sizer(graph.problem()).check_each_fits()
