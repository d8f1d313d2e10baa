"""Converters for ONNX control flow, by static unrolling: If, Loop, Scan, SequenceMap.

wsc's IR is a straight-line graph, so control flow is evaluated while
importing, the way sequences and shape values are (see
`compiler/frontend/onnx.py`): an If whose condition is known at compile time
imports the branch it takes; a Loop whose trip count and conditions are known
is imported once per iteration (`NodeContext.inline`); a Scan is unrolled over
its (static) scan axis; a SequenceMap imports its body once per element. A
condition or trip count that is only known at run time is a clear error
naming the input, never a guess.
"""
from __future__ import annotations

import numpy as np

from .registry import converter

# An unrolled loop this long is almost surely a while-loop with a run-time exit.
MAX_UNROLL = 4096


def _known_bool(n, v, what: str) -> bool:
    data = v.data if getattr(v, "data", None) is not None else None
    if data is None or np.size(data) != 1:
        n.fail(f"the {what} must be known at compile time (wsc unrolls control flow)",
               hint="make it a constant, or specialize the model for the inputs it depends on")
    return bool(np.asarray(data).reshape(-1)[0])


def _stack(n, parts, axis: int = 0):
    """Per-iteration values stacked along a new `axis` (a scan output)."""
    parts = [n.op("tensor.unsqueeze", [p], {"axes": [axis]}) for p in parts]
    return parts[0] if len(parts) == 1 else n.op("tensor.concat", parts, {"axis": axis})


@converter("If", since=1)
def if_(n):
    cond = n.const(0)
    if cond is None:
        n.fail("the condition (input 0) must be known at compile time (wsc imports the branch "
               "it takes)", hint="make it a constant, or specialize the model for it")
    branch = "then_branch" if bool(np.asarray(cond).reshape(-1)[0]) else "else_branch"
    return n.inline(n.subgraph(branch), [], f"({branch})")


@converter("Loop", since=1)
def loop(n):
    body = n.subgraph("body")
    trips = n.require_ints(0, "trip count")[0] if n.has_input(0) else None
    cond = _known_bool(n, n.input(1), "loop condition (input 1)") if n.has_input(1) else True
    carried = [n.sequence(i) if n.is_sequence(i) else n.input(i)
               for i in range(2, len(n.node.input))]
    n_scan = len(body.output) - 1 - len(carried)
    scans: list[list] = [[] for _ in range(n_scan)]
    i = 0
    while cond and (trips is None or i < trips):
        if i >= MAX_UNROLL:
            n.fail(f"the loop runs more than {MAX_UNROLL} iterations; wsc unrolls loops and "
                   f"stops here", hint="a loop whose exit depends on run-time values cannot "
                                       "be compiled")
        outs = n.inline(body, [n.constant(np.array(i, dtype=np.int64), "iter"),
                               n.constant(np.array(cond), "cond")] + carried, f"[{i}]")
        cond = _known_bool(n, outs[0], f"loop condition after iteration {i}")
        carried = list(outs[1:1 + len(carried)])
        for k, v in enumerate(outs[1 + len(carried):]):
            scans[k].append(v)
        i += 1
    if n_scan and i == 0:
        n.fail("the loop runs no iteration, so its scan outputs have no known shape")
    return carried + [_stack(n, parts) for parts in scans]


@converter("Scan", since=9)
def scan(n):
    body = n.subgraph("body")
    n_in = int(n.attr("num_scan_inputs"))
    states = [n.input(i) for i in range(n.num_inputs - n_in)]
    xs = [n.input(i) for i in range(n.num_inputs - n_in, n.num_inputs)]
    n_out = len(body.output) - len(states)
    in_axes = [int(a) for a in n.attr("scan_input_axes", [0] * n_in)]
    in_dirs = [int(d) for d in n.attr("scan_input_directions", [0] * n_in)]
    out_axes = [int(a) for a in n.attr("scan_output_axes", [0] * n_out)]
    out_dirs = [int(d) for d in n.attr("scan_output_directions", [0] * n_out)]
    lengths = set()
    for x, a in zip(xs, in_axes):
        lengths.add(x.type.shape[a % x.type.rank] if -x.type.rank <= a < x.type.rank else None)
    if len(lengths) != 1 or not isinstance(next(iter(lengths)), int):
        n.fail(f"the scan inputs must share one static length along their scan axes, got "
               f"{sorted(map(str, lengths))}", hint="fix the input dims with --input-shape")
    length = lengths.pop()
    if length == 0 and n_out:
        n.fail("the scan is empty, so its scan outputs have no known shape")
    outs: list[list] = [[] for _ in range(n_out)]
    for t in range(length):
        step = []
        for x, a, d in zip(xs, in_axes, in_dirs):
            a %= x.type.rank
            at = length - 1 - t if d else t
            part = n.op("tensor.slice", [x], {"starts": [at], "ends": [at + 1], "axes": [a]})
            step.append(n.op("tensor.squeeze", [part], {"axes": [a]}))
        res = n.inline(body, states + step, f"[{t}]")
        states = list(res[:len(states)])
        for k, v in enumerate(res[len(states):]):
            outs[k].append(v)
    results = list(states)
    for parts, a, d in zip(outs, out_axes, out_dirs):
        rank = parts[0].type.rank + 1
        if not -rank <= a < rank:
            n.fail(f"scan output axis {a} is out of range for a rank-{rank} result")
        results.append(_stack(n, parts[::-1] if d else parts, a % rank))
    return results


@converter("SequenceMap", since=17)
def sequence_map(n):
    body = n.subgraph("body")
    if not n.is_sequence(0):
        n.fail("input 0 must be a sequence")
    inputs = [n.sequence(i) if n.is_sequence(i) else n.input(i) for i in range(n.num_inputs)]
    length = len(inputs[0])
    for i, v in enumerate(inputs):
        if isinstance(v, list) and len(v) != length:
            n.fail(f"the sequences have different lengths ({length} and {len(v)}, input {i})")
    results: list[list] = [[] for _ in body.output]
    for j in range(length):
        args = [v[j] if isinstance(v, list) else v for v in inputs]
        for k, out in enumerate(n.inline(body, args, f"[{j}]")):
            results[k].append(out)
    return results


@converter("Scan", since=8)
def scan8(n):
    """Scan-8: every input has a leading batch dim (scan axis 1); each batch row is its own
    scan. `sequence_lens` (input 0) must be absent or the full length for every row."""
    body = n.subgraph("body")
    n_in = int(n.attr("num_scan_inputs"))
    ins = [n.input(i) for i in range(1, n.num_inputs)]
    states, xs = ins[:len(ins) - n_in], ins[len(ins) - n_in:]
    batch, length = xs[0].type.shape[0], xs[0].type.shape[1] if xs[0].type.rank > 1 else None
    if not isinstance(batch, int) or not isinstance(length, int):
        n.fail(f"the batch and scan lengths of {xs[0].type} must be static",
               hint="fix the input dims with --input-shape")
    if n.has_input(0):
        lens = n.require_ints(0, "sequence lengths")
        if any(v != length for v in lens):
            n.fail(f"sequence_lens {lens} shorter than the scan length {length} are not "
                   f"supported")
    dirs = [int(d) for d in n.attr("directions", [0] * n_in)]
    n_out = len(body.output) - len(states)
    per_row: list[list] = [[] for _ in range(len(states) + n_out)]
    for b in range(batch):
        def row(v):
            part = n.op("tensor.slice", [v], {"starts": [b], "ends": [b + 1], "axes": [0]})
            return n.op("tensor.squeeze", [part], {"axes": [0]})
        st = [row(s) for s in states]
        outs: list[list] = [[] for _ in range(n_out)]
        xrows = [row(x) for x in xs]
        for t in range(length):
            step = []
            for x, d in zip(xrows, dirs):
                at = length - 1 - t if d else t
                part = n.op("tensor.slice", [x], {"starts": [at], "ends": [at + 1], "axes": [0]})
                step.append(n.op("tensor.squeeze", [part], {"axes": [0]}))
            res = n.inline(body, st + step, f"[{b},{t}]")
            st = list(res[:len(st)])
            for k, v in enumerate(res[len(st):]):
                outs[k].append(v)
        for k, v in enumerate(st + [_stack(n, parts) for parts in outs]):
            per_row[k].append(v)
    return [_stack(n, parts) for parts in per_row]
