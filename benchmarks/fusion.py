"""Canonicalization, folding and fusion on real exported models: op counts, latency, memory.

    python benchmarks/fusion.py              # everything (a few minutes on 2 cores)
    python benchmarks/fusion.py --quick      # smaller BERT (2 layers), fewer repeats
    python benchmarks/fusion.py --only ops,latency,memory
    python benchmarks/fusion.py --only latency --threads 1   # one thread each

Prints three tables (targets are printed next to the numbers, not asserted):

1. *Op counts* of PyTorch exports (`compiler/testing/torch_models.py`): ONNX
   nodes, ops after import, ops after -O2 (canonicalize, fold-batchnorm,
   fuse-patterns, fold-algebra, cse, dce, fuse-epilogues, fuse-elementwise)
   and the reduction against the ONNX graph. Target: the BERT encoder layer,
   ResNet-18 and MobileNetV2 lose >= 60% of their ops. Models are compiled
   with their input shapes fixed (`input_shapes`), as a deployment would.
2. *Latency*, dense (no pruning), batch 1: ResNet-18 and MobileNetV2 at
   224x224, a BERT-base-width encoder (hidden 768, 12 heads, FFN 3072) at
   sequence 128; the medians of wsc's executor and of onnxruntime (default
   session options) on the same ONNX file in the same process, taking turns
   in blocks of runs with a settle pause between (benchmarks/timing.py says
   why not run by run). Target: within 1.25x of onnxruntime.
3. *Memory* of a ResNet-50 run (batch 1, 224x224): the largest live set (the
   most activation bytes alive at one op: a lower bound for any executor),
   the arena of the liveness-based plan (`compiler/memory_plan.py`) and the
   peak bytes the executor allocated during one run (tracemalloc; it frees
   each value after its last use). Target: peak <= 1.5x the largest live set.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2-layer BERT, fewer rounds")
    parser.add_argument("--only", default="ops,latency,memory",
                        help="comma-separated: ops, latency, memory")
    parser.add_argument("--threads", type=int, default=0,
                        help="threads for every engine's latency: BLAS, numba, onnxruntime "
                             "(0: their defaults); 1 is the robust comparison when other "
                             "jobs share the cores")
    return parser.parse_args()


ARGS = _parse_args() if __name__ == "__main__" else None
from benchmarks.timing import block_medians, environment_lines, ort_threads, set_threads  # noqa: E402,I001

if ARGS is not None:
    set_threads(ARGS.threads)       # before numpy, numba and onnxruntime load

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402

from compiler.frontend.onnx import import_onnx  # noqa: E402
from compiler.lower import lower  # noqa: E402
from compiler.memory_plan import measure_peak, plan_memory  # noqa: E402
from compiler.passes import PIPELINES, PassManager, parse_pipeline  # noqa: E402
from runtime.executor import Executable  # noqa: E402


def _torch_models():
    try:
        from compiler.testing import torch_models as tm
    except ImportError:
        sys.exit("benchmarks/fusion.py needs torch (pip install -e '.[torch]')")
    return tm


def compile_o2(data: bytes, shapes: dict[str, list[int]]):
    module = import_onnx(data, input_shapes=shapes)
    imported = len(module.ops)
    PassManager(parse_pipeline(PIPELINES[2])).run(module)
    return module, imported


def static_shapes(feeds: dict[str, np.ndarray]) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in feeds.items()}


# -- the models ---------------------------------------------------------------------------------

def models(tm, quick: bool) -> dict[str, object]:
    """name -> (export, feeds) at the benchmark sizes."""
    out = {}
    resnet = tm.export_resnet(width=64, image_size=224, batch=1, num_classes=1000)
    out["ResNet-18"] = (resnet, resnet.feeds(batch=1, image_size=224))
    mobile = tm.export_mobilenet_v2(width_mult=1.0, image_size=224, batch=1, num_classes=1000)
    out["MobileNetV2"] = (mobile, mobile.feeds(batch=1, image_size=224))
    layers = 2 if quick else 12
    bert = tm.export_bert(hidden=768, heads=12, intermediate=3072, layers=layers,
                          max_positions=512, vocab=1000, batch=1, seq=128)
    out[f"BERT-base width, {layers} layers, seq 128"] = (bert, bert.feeds(batch=1, seq=128))
    return out


def op_counts(tm) -> None:
    print("== op counts (ONNX nodes -> imported IR -> after -O2) ==")
    print(f"{'model':38s} {'onnx':>6s} {'import':>7s} {'fused':>6s} {'reduction':>10s}  "
          f"target >= 60%")
    layer = tm.export_bert(layers=1, hidden=768, heads=12, intermediate=3072, vocab=1000,
                           max_positions=512)
    rows = [("BERT encoder layer (1 layer + embeddings)", layer, layer.feeds(batch=1, seq=128)),
            ("ResNet-18", tm.export_resnet(width=64, image_size=224, batch=1), None),
            ("MobileNetV2", tm.export_mobilenet_v2(width_mult=1.0, image_size=224, batch=1),
             None)]
    for name, exp, feeds in rows:
        feeds = feeds or exp.feeds(batch=1, image_size=224)
        nodes = len(onnx.load_from_string(exp.onnx).graph.node)
        module, imported = compile_o2(exp.onnx, static_shapes(feeds))
        fused = len(module.ops)
        print(f"{name:38s} {nodes:6d} {imported:7d} {fused:6d} {1 - fused / nodes:10.1%}  "
              f"({1 - fused / imported:.1%} of the imported ops)")
    print()


def latency(tm, quick: bool) -> None:
    threads = ort_threads()
    label = f"{threads} thread(s) each" if threads else "default threads"
    print(f"== dense latency, batch 1, {label} (medians, same process, blocks taking turns) ==")
    for line in environment_lines():
        print(line)
    print(f"{'model':38s} {'wsc ms':>9s} {'ort ms':>9s} {'ratio':>7s}  target <= 1.25x")
    rounds = 3 if quick else 7
    for name, (exp, feeds) in models(tm, quick).items():
        module, _ = compile_o2(exp.onnx, static_shapes(feeds))
        exe = Executable(lower(module))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(exp.onnx, options, providers=["CPUExecutionProvider"])
        got, want = exe.run(feeds), session.run(None, feeds)
        worst = max(float(np.max(np.abs(got[o] - w))) for o, w in zip(exp.output_names, want))
        med = block_medians({"wsc": lambda: exe.run(feeds),
                             "ort": lambda: session.run(None, feeds)}, rounds)
        print(f"{name:38s} {med['wsc'] * 1e3:9.2f} {med['ort'] * 1e3:9.2f} "
              f"{med['wsc'] / med['ort']:6.2f}x  (max |wsc - ort| = {worst:.1e})")
    print()


def resnet50(tm):
    """torchvision's ResNet-50 layout (bottleneck blocks 3-4-6-3), exported like the others."""
    import torch
    from torch import nn

    class Bottleneck(nn.Module):
        def __init__(self, cin: int, width: int, stride: int) -> None:
            super().__init__()
            cout = width * 4
            self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3, self.bn3 = nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout)
            self.down = None
            if stride != 1 or cin != cout:
                self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

        def forward(self, x):
            h = torch.relu(self.bn1(self.conv1(x)))
            h = torch.relu(self.bn2(self.conv2(h)))
            h = self.bn3(self.conv3(h))
            return torch.relu(h + (x if self.down is None else self.down(x)))

    class ResNet50(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64),
                                      nn.ReLU(), nn.MaxPool2d(3, 2, 1))
            blocks, cin = [], 64
            for width, count, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
                for i in range(count):
                    blocks.append(Bottleneck(cin, width, stride if i == 0 else 1))
                    cin = width * 4
            self.blocks = nn.Sequential(*blocks)
            self.fc = nn.Linear(2048, 1000)

        def forward(self, x):
            h = self.blocks(self.stem(x))
            return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(h, 1), 1))

    torch.manual_seed(0)
    model = ResNet50()
    feeds = {"images": np.random.default_rng(0).standard_normal((1, 3, 224, 224))
             .astype(np.float32)}
    exp = tm.export(model, (torch.from_numpy(feeds["images"]),), name="resnet50",
                    input_names=["images"], output_names=["logits"],
                    dynamic_axes={"images": {0: "batch"}}, feeds=lambda **_: feeds)
    return exp, feeds


def memory(tm) -> None:
    print("== activation memory of a ResNet-50 run (batch 1, 224x224) ==")
    exp, feeds = resnet50(tm)
    module, _ = compile_o2(exp.onnx, static_shapes(feeds))
    plan = plan_memory(module)
    exe = Executable(lower(module))
    exe.run(feeds)
    peak = measure_peak(lambda: exe.run(feeds))
    mib = 1 << 20
    live = plan.largest_live_set
    print(f"largest live set          {live / mib:8.2f} MiB")
    print(f"planned arena             {plan.arena_bytes / mib:8.2f} MiB  "
          f"({plan.ratio:.3f}x the live set; {len(plan.buffers)} buffers)")
    print(f"without reuse             {plan.report()['sum_of_buffers'] / mib:8.2f} MiB")
    print(f"executor peak (measured)  {peak / mib:8.2f} MiB  ({peak / live:.3f}x the live set; "
          f"target <= 1.5x)")
    print()


def main(args) -> None:
    tm = _torch_models()
    parts = set(args.only.split(","))
    if "ops" in parts:
        op_counts(tm)
    if "latency" in parts:
        latency(tm, args.quick)
    if "memory" in parts:
        memory(tm)


if __name__ == "__main__":
    main(ARGS)
