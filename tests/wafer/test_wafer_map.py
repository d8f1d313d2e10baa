"""The wafer map: the exact text of a tiny placement, the SVG (valid XML, one labelled rectangle
per kernel, a real PNG inside), and the PNG writer."""
from __future__ import annotations

import base64
import struct
import zlib
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from compiler.errors import CompileError
from compiler.place.wafer_map import (MapKernel, MapScene, ascii_map, png_bytes,
                                      scene_from_report, svg_map, write_map)

SVG = "{http://www.w3.org/2000/svg}"


def tiny_scene() -> MapScene:
    return MapScene(8, 4, [
        MapKernel("conv", "nn.conv2d", "conv", 0, 0, 5, 2, 40.0,
                  nnz=np.arange(10, dtype=float).reshape(2, 5)),
        MapKernel("relu", "nn.relu", "elementwise", 0, 2, 3, 1, 12.0),
        MapKernel("fc", "nn.matmul", "matmul", 5, 0, 3, 3, 39.0, nnz=np.full((3, 3), 7.0)),
    ], target="8x4", title="tiny", segments=[(5, 0, 5, 2, 0.5), (0, 2, 3, 2, 1.3)])


def test_ascii_map_of_a_tiny_placement():
    expected = "\n".join([
        "mesh 8x4, 3 kernels, 1 character = 1 core (x right, y up)",
        "  +--------+",
        "3 |........|",
        "2 |BBB..CCC|",
        "1 |AAAAACCC|",
        "0 |AAAAACCC|",
        "  +--------+",
        "   0      7",
        "",
        "   kernel  op         at (x,y)  size  cycles",
        "A  conv    nn.conv2d  (0,0)     5x2       40",
        "B  relu    nn.relu    (0,2)     3x1       12",
        "C  fc      nn.matmul  (5,0)     3x3       39",
    ]) + "\n"
    assert ascii_map(tiny_scene()) == expected


def test_ascii_map_in_blocks_keeps_small_kernels_visible():
    scene = MapScene(200, 100, [MapKernel("big", "nn.matmul", "matmul", 0, 0, 200, 99),
                                MapKernel("thin", "nn.relu", "elementwise", 0, 99, 200, 1)])
    text = ascii_map(scene, max_cols=50, max_rows=25, legend=False)
    lines = text.splitlines()
    assert lines[0].endswith("1 character = 4x8 cores (x right, y up)")
    body = [l for l in lines if "|" in l]
    assert len(body) == 13 and all(len(l.split("|")[1]) == 50 for l in body)
    assert any("B" in l for l in body)          # one core tall, still shown


def test_svg_is_valid_xml_with_one_labelled_rectangle_per_kernel():
    scene = tiny_scene()
    root = ET.fromstring(svg_map(scene))
    assert root.tag == SVG + "svg"
    kernels = [g for g in root.iter(SVG + "g") if g.get("class") == "kernel"]
    assert len(kernels) == 3
    for g, k in zip(kernels, scene.kernels):
        assert len(g.findall(SVG + "rect")) == 1
        assert g.find(SVG + "text").text == k.name
        assert k.op in g.find(SVG + "title").text
    panels = [g for g in root.iter(SVG + "g") if g.get("class") == "panel"]
    assert len(panels) == 3
    lines = list(root.iter(SVG + "line"))
    assert len(lines) == 2
    (image,) = list(root.iter(SVG + "image"))
    data = base64.b64decode(image.get("href").split(",", 1)[1])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (8, 4)       # one pixel per core


def test_png_writer():
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    data = png_bytes(rgb)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = {}, 8
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        tag, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        assert crc == zlib.crc32(tag + body) & 0xFFFFFFFF
        chunks[tag] = body
        pos += 12 + n
    w, h, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (w, h, depth, colour) == (3, 2, 8, 2)
    raw = zlib.decompress(chunks[b"IDAT"])
    rows = [raw[i * 10:(i + 1) * 10] for i in range(2)]
    assert all(r[0] == 0 for r in rows)                      # no filter
    assert b"".join(r[1:] for r in rows) == rgb.tobytes()


def test_write_map(tmp_path):
    out = write_map(tiny_scene(), tmp_path / "map.svg")
    ET.parse(out)
    with pytest.raises(CompileError, match="cannot draw"):
        write_map(tiny_scene(), tmp_path / "map.jpg")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        with pytest.raises(CompileError, match="matplotlib"):
            write_map(tiny_scene(), tmp_path / "map.png")
    else:
        assert write_map(tiny_scene(), tmp_path / "map.png").read_bytes()[:4] == b"\x89PNG"


def test_scene_from_a_report_rebuilds_nonzeros_per_core():
    report = {
        "target": {"name": "8x4", "width": 8, "height": 4},
        "kernels": [
            # dense 5x3 weight on k=2 (rows 3, 2) by n=1, two replicas side by side
            {"name": "mm", "op": "nn.matmul", "kind": "matmul", "x": 0, "y": 0, "w": 2, "h": 2,
             "rotated": False, "time": 9,
             "layout": {"grid": "outer", "rows": [3, 2], "cols": [3], "replicas": 2}},
            # sparse: 2 column groups of 5 and 4 nonzeros dealt to k=2 cores, rotated
            {"name": "sp", "op": "nn.matmul", "kind": "matmul", "x": 4, "y": 0, "w": 2, "h": 2,
             "rotated": True, "time": 9,
             "layout": {"grid": "chunks", "k": 2, "cols": [5, 4], "replicas": 1}},
        ],
    }
    scene = scene_from_report(report)
    assert scene.kernels[0].nnz.tolist() == [[9, 9], [6, 6]]
    assert scene.kernels[1].nnz.tolist() == [[3, 2], [2, 2]]      # transposed
