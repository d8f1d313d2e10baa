"""Sizing and placement of kernels on the wafer mesh (docs/wafer.md).

- `kernel_models`: how parallelism maps to a rectangle, a time and a memory;
- `problem`: the kernels, flows and grid to place on;
- `sizing`: each kernel's candidate rectangles per time budget, the lower bound;
- `placer`: the search for a budget and a legal, short-wired placement;
- `groups`: branch groups (tiers, residual blocks) the placer stacks as units;
- `route`: the flows on the mesh links (negotiated congestion), hops and loads;
- `ispd`: the ISPD 2020 contest's files (kgraph reader, solution writer, checker).

    from compiler.place import Kernel, Edge, PlacementProblem, ConvModel, place
    problem = PlacementProblem.on_target(kernels, edges, get_target("wse2"))
    placement = place(problem, wire_weight=1.0)
"""
from .kernel_models import ConvModel, ConvPart, KernelModel
from .placer import PlacedKernel, Placement, check_placement, hop_length, place, wire_length
from .problem import Edge, Kernel, PlacementProblem
from .sizing import Sizer

__all__ = ["ConvModel", "ConvPart", "Edge", "Kernel", "KernelModel", "PlacedKernel",
           "Placement", "PlacementProblem", "Sizer", "check_placement", "hop_length", "place",
           "wire_length"]
