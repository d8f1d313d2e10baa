"""The machine wsc compiles for: a 2D mesh of cores, each with its own SRAM.

A `Target` is plain data: the mesh's size in cores and what one core and one
link can do. The placer reads `width`, `height` and the per-core memory; the
performance model (a later pass) reads the rest.

Presets:

- ``wse2`` — Cerebras WSE-2 (CS-2), the fabric a program can use.
- ``wse3`` — Cerebras WSE-3 (CS-3).
- ``ispd2020`` — the 633 x 633 grid of the ISPD 2020 placement contest
  (the CS-1 wafer as the contest modelled it).
- ``"WxH"`` (for example ``"64x64"``) — a small test mesh with WSE-2 cores.

Where a figure comes from is said next to it. Figures that no public source
states directly (per-link width in bytes, channels) are marked *estimate*.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..errors import CompileError


@dataclass(frozen=True)
class Target:
    """A wafer-scale mesh of `width` x `height` cores (x = column, y = row)."""

    name: str
    width: int                      # cores per row (x extent)
    height: int                     # cores per column (y extent)
    sram_bytes: int                 # SRAM per core
    flops_per_cycle: int            # peak FLOPs per core per cycle (an FMAC counts 2)
    clock_hz: float
    link_bytes_per_cycle: int       # one link, one direction
    channels_per_link: int          # virtual channels ("colors") a link can route
    io_bytes_per_s: float           # external I/O bandwidth of the whole wafer
    word_bytes: int = 2             # the memory word of kernel models (fp16)
    # SRAM bandwidth of one core: two 64-bit reads and one 64-bit write per cycle, the
    # figure Cerebras gave for the WSE core at Hot Chips 31 (2019); it matches "20 PB/s
    # memory bandwidth" for WSE-2 (20e15 / 850,000 cores / 1.1 GHz = 21 B/cycle). Estimate.
    sram_bytes_per_cycle: int = 24

    @property
    def cores(self) -> int:
        return self.width * self.height

    @property
    def memory_words(self) -> int:
        """Per-core memory in words of `word_bytes` (the unit of the ISPD kernel models)."""
        return self.sram_bytes // self.word_bytes

    @property
    def peak_flops(self) -> float:
        return self.cores * self.flops_per_cycle * self.clock_hz

    def with_size(self, width: int, height: int, name: str | None = None) -> "Target":
        """The same cores on a mesh of another size."""
        return replace(self, width=width, height=height, name=name or f"{width}x{height}")


# --- WSE-2 -------------------------------------------------------------------
# Fabric 757 x 996 PEs: the hardware fabric dimensions that CSL programs pass to
#   `cslc --fabric-dims` for a CS-2 (Cerebras SDK docs, "CSL compiler",
#   sdk.cerebras.ai/csl/csl-compiler; public CSL projects hard-code
#   `(757, 996)` for wse2 and `(762, 1172)` for wse3).
# 48 KB SRAM per core: Hot Chips 34 (2022) talk on WSE-2, "each small core has
#   48kB of SRAM" (ServeTheHome's report of HC34).
# 1.1 GHz and 4 fp16 FMAC per cycle: the figures this project was given (issue 6);
#   no public page found here states them directly — treat as estimates.
# 32-bit wavelet to a neighbour per cycle: Cerebras SDK docs, "A Conceptual View"
#   (sdk.cerebras.net/computing-with-cerebras): "32-bit messages, called
#   wavelets, can be sent to or received by neighboring PEs in a single clock cycle".
# 24 routable colors per PE: Cerebras SDK docs (CSL colors 0..23; memcpy
#   reserves some) — estimate of the channels a link can carry.
# External I/O 12 x 100 GbE = 150 GB/s: the CS connects to its host by "parallel
#   100 Gigabit ethernet connections" (SDK "A Conceptual View"); 12 ports per
#   CS-2 is the datasheet count (estimate here).
WSE2 = Target(
    name="wse2",
    width=757,
    height=996,
    sram_bytes=48 * 1024,
    flops_per_cycle=4 * 2,
    clock_hz=1.1e9,
    link_bytes_per_cycle=4,
    channels_per_link=24,
    io_bytes_per_s=12 * 100e9 / 8,
)

# --- WSE-3 -------------------------------------------------------------------
# Fabric 762 x 1172 PEs: hardware fabric dimensions used with `--arch=wse3`
#   (same sources as WSE-2's).
# 900,000 cores, 44 GB SRAM (about 48 KB per core), 125 PFLOPS fp16 (sparse,
#   vendor figure): Cerebras launch, March 2024 (Tom's Hardware, "Cerebras
#   launches 900,000-core 125 PetaFLOPS wafer-scale processor").
# 8 fp16 FMAC per cycle (SIMD width doubled over WSE-2) and 1.1 GHz: estimates;
#   Cerebras says the CS-3 "boosts the SIMD width" (training docs, CS-3 systems).
# I/O +30% over CS-2 ("enhances the ingress/egress bandwidth by 30%", Cerebras
#   training docs, "Cerebras Wafer-Scale Cluster").
WSE3 = Target(
    name="wse3",
    width=762,
    height=1172,
    sram_bytes=48 * 1024,
    flops_per_cycle=8 * 2,
    clock_hz=1.1e9,
    link_bytes_per_cycle=4,
    channels_per_link=24,
    io_bytes_per_s=1.3 * 12 * 100e9 / 8,
)

# --- ISPD 2020 contest grid ----------------------------------------------------
# 633 x 633 cores, memlimit 24,576 words per core: the headers of every ISPD 2020
#   benchmark (shared/ispd2020/README.md); the handout's "48 KB per tile" makes a
#   word 2 bytes. The other figures are the WSE-2 estimates above.
ISPD2020 = replace(WSE2, name="ispd2020", width=633, height=633, sram_bytes=24576 * 2)

PRESETS: dict[str, Target] = {t.name: t for t in (WSE2, WSE3, ISPD2020)}

_SIZE = re.compile(r"^\s*(\d+)\s*[xX*]\s*(\d+)\s*$")


def parse_mesh_size(text: str) -> tuple[int, int] | None:
    """``"64x64"`` -> (64, 64); None when `text` is not of that form."""
    m = _SIZE.match(text)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2))


def get_target(spec: "str | Target") -> Target:
    """A preset by name (``wse2``, ``wse3``, ``ispd2020``) or a small mesh ``"WxH"``."""
    if isinstance(spec, Target):
        return spec
    key = str(spec).strip().lower()
    if key in PRESETS:
        return PRESETS[key]
    size = parse_mesh_size(key)
    if size is not None:
        w, h = size
        if w < 1 or h < 1:
            raise CompileError(f"mesh size {spec!r} must be at least 1x1",
                               hint="for example --mesh 64x64")
        if w > 100_000 or h > 100_000:
            raise CompileError(f"mesh size {spec!r} is larger than any wafer",
                               hint="presets: " + ", ".join(PRESETS))
        return WSE2.with_size(w, h)
    raise CompileError(
        f"unknown wafer target {spec!r}",
        hint="use one of " + ", ".join(PRESETS) + ", or a mesh size such as 64x64")
