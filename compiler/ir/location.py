"""Where an op came from: a DSL/IR source position, an ONNX node name, or a fusion of several.

Printed in the IR text as ``loc("mlp.wsl":7:8)``, ``loc("Conv_12")`` or
``loc(fused["a.wsl":3:5, "Relu_4"])``.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Location:
    """A source location. All fields optional; `Location()` means unknown."""

    file: str | None = None
    line: int | None = None
    col: int | None = None
    name: str | None = None  # an ONNX node name or any other symbolic origin
    fused: tuple["Location", ...] = ()
    # The source text the position refers to, when it did not come from a file on
    # disk (a DSL string given to the API). Only used to render error snippets.
    source_text: str | None = field(default=None, compare=False, repr=False, hash=False)

    @staticmethod
    def unknown() -> "Location":
        return Location()

    @staticmethod
    def fuse(locs: "list[Location]") -> "Location":
        """One location standing for several (kept through fusion, deduplicated, ordered)."""
        flat: list[Location] = []
        for loc in locs:
            for part in (loc.fused if loc.fused else (loc,)):
                if part.is_known and part not in flat:
                    flat.append(part)
        if not flat:
            return Location()
        if len(flat) == 1:
            return flat[0]
        return Location(fused=tuple(flat))

    @property
    def is_known(self) -> bool:
        return bool(self.file or self.name or self.fused)

    def __str__(self) -> str:
        if self.fused:
            return ", ".join(str(l) for l in self.fused)
        if self.file:
            s = self.file
            if self.line is not None:
                s += f":{self.line}"
                if self.col is not None:
                    s += f":{self.col}"
            return s
        return self.name or "<unknown>"
