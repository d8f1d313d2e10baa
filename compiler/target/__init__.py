"""The wafer target: mesh size and per-core resources (`mesh.Target`, `get_target`)."""
from .mesh import PRESETS, Target, get_target, parse_mesh_size

__all__ = ["PRESETS", "Target", "get_target", "parse_mesh_size"]
