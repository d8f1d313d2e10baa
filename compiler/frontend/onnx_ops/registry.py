"""The table of ONNX op converters: (domain, op_type) -> versions -> converter function.

A converter turns one ONNX node into wsc IR through a `NodeContext` (see
`compiler/frontend/onnx.py`): it reads inputs and attributes, emits registry
ops, and returns the node's output values. ONNX ops whose semantics changed
across opsets register one converter per version: `since` is the first opset
the converter handles, and the importer picks the newest one not newer than
the model's opset.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

DEFAULT_DOMAINS = ("", "ai.onnx")


@dataclass(frozen=True)
class Converter:
    op_type: str
    since: int
    fn: Callable
    domain: str = ""


CONVERTERS: dict[tuple[str, str], list[Converter]] = {}


def converter(*op_types: str, since: int = 1, domain: str = ""):
    """Register the decorated function for `op_types` from opset `since` on."""
    def deco(fn: Callable) -> Callable:
        for t in op_types:
            versions = CONVERTERS.setdefault((domain, t), [])
            if any(c.since == since for c in versions):
                raise ValueError(f"converter {domain}::{t} since {since} registered twice")
            versions.append(Converter(t, since, fn, domain))
            versions.sort(key=lambda c: c.since)
        return fn
    return deco


def find_converter(domain: str, op_type: str, opset: int) -> Converter | None:
    """The converter for `op_type` at `opset`, or None if wsc cannot import it."""
    if domain in DEFAULT_DOMAINS:
        domain = ""
    found = None
    for c in CONVERTERS.get((domain, op_type), []):
        if c.since <= opset:
            found = c
    return found


def supported_op_types(domain: str = "") -> list[str]:
    return sorted(t for (d, t) in CONVERTERS if d == domain)
