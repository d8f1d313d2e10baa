"""What the placer is asked to do: kernels with their models, the flows between them, a grid.

A `PlacementProblem` is plain data, built by a frontend (the ISPD 2020 reader
in `compiler.place.ispd`, or the compiler's `place` pass from a fused module):

- `kernels`: each a name, a `KernelModel` and where it came from;
- `edges`: data flowing from one kernel to another, with a weight (bytes per
  sample, or 1 when every edge counts the same, as in the contest's score);
- the grid: `width` x `height` cores and the memory per core, in the unit of
  the kernel models' `memory()`;
- `wire`: what the placer's wire length measures. ``"centre"`` is the contest's:
  weight x L1 distance between the two rectangles' centres. ``"hops"`` is the
  router's: weight x (1 + the L1 gap between the two rectangles' facing edges),
  so 1 per unit of weight when they touch, however large they are;
- `link_bytes`: with ``wire="hops"``, what one mesh link moves per cycle (weights
  are then bytes per sample): a flow needs ``weight / (link_bytes * stage
  time)`` links of common boundary to cross in one hop, and each link carries
  `channels_per_link` routes. 0: links are not modelled.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import PlacementError
from ..ir.location import Location
from ..target.mesh import Target
from .kernel_models import KernelModel


WIRE_MODELS = ("centre", "hops")


@dataclass(frozen=True)
class Kernel:
    """One kernel to place: a unique name, its model and its origin."""

    name: str
    model: KernelModel
    loc: Location = field(default_factory=Location)


@dataclass(frozen=True)
class Edge:
    """Data from kernel `src` to kernel `dst`; `weight` scales its wire length."""

    src: str
    dst: str
    weight: float = 1.0


@dataclass
class PlacementProblem:
    """Kernels and flows to place on a `width` x `height` grid with `memory_limit` per core."""

    kernels: list[Kernel]
    edges: list[Edge]
    width: int
    height: int
    memory_limit: int
    name: str = ""
    wire: str = "centre"
    link_bytes: float = 0.0
    channels_per_link: int = 24

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for k in self.kernels:
            if k.name in seen:
                raise PlacementError(f"two kernels are named {k.name!r}", k.loc)
            seen.add(k.name)
        for e in self.edges:
            for end in (e.src, e.dst):
                if end not in seen:
                    raise PlacementError(f"an edge refers to an unknown kernel {end!r}",
                                         hint="edges connect kernels of the problem only")
        if self.width < 1 or self.height < 1:
            raise PlacementError(f"the grid {self.width}x{self.height} is empty")
        if self.wire not in WIRE_MODELS:
            raise PlacementError(f"wire model must be one of {', '.join(WIRE_MODELS)}, "
                                 f"got {self.wire!r}")
        if self.memory_limit <= 0:
            raise PlacementError(f"memory per core must be positive, got {self.memory_limit}")

    @classmethod
    def on_target(cls, kernels: list[Kernel], edges: list[Edge], target: Target,
                  name: str = "", wire: str = "centre") -> "PlacementProblem":
        """A problem on a `Target`'s mesh; memory in the target's words."""
        return cls(kernels, edges, target.width, target.height, target.memory_words, name,
                   wire, float(target.link_bytes_per_cycle) if wire == "hops" else 0.0,
                   target.channels_per_link)

    def index(self) -> dict[str, int]:
        """Kernel name -> position in `kernels`."""
        return {k.name: i for i, k in enumerate(self.kernels)}
