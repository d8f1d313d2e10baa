"""The .kgraph reader: inline texts (always) and the contest's files (when shared/ is there)."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from compiler.errors import ParseError
from compiler.place.ispd import parse_kgraph, read_kgraph

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("WSC_ISPD2020_DIR", ROOT.parent / "shared" / "ispd2020"))
needs_data = pytest.mark.skipif(not (DATA / "benchmarks").is_dir(),
                                reason=f"ISPD 2020 data not found at {DATA} "
                                       "(shared/ispd2020 beside the checkout)")

SMALL = """(*
test=tiny
width=40
height=30
wdeltat=1
wlength=4
wadapter=0
memlimit=5000
*)

(* Node Definitions *)
input[ 0] n=[ 8 8 16 ] name='x' name='k0'
conv[ 1] W=8 H=8 R=3 S=3 C=16 K=16 T=1 U=1 name='k1'
dblock[2] f=16 h=8 w=8 name='k2'
cblock[3] f=16 h=8 w=8
output[4] n=[4 4 16] name='k4'

(* Connectivity *)
input[ 0]:_\t->\tconv[ 1]:x, shape:[8][8][16]
conv[ 1]:y -> dblock[2]:x, shape:[8][8][16]
dblock[2]:y    -> cblock[3]:x, shape:[8][8][16]
cblock[3]:y -> output[4]:_, shape:[4][4][16]
"""


def test_header_nodes_and_edges():
    g = parse_kgraph(SMALL, "tiny.kgraph")
    assert (g.width, g.height, g.memlimit, g.wdeltat, g.wlength, g.wadapter) == (
        40, 30, 5000, 1, 4, 0)
    assert g.name == "tiny"
    assert [(n.kind, n.index) for n in g.kernels] == [("conv", 1), ("dblock", 2), ("cblock", 3)]
    assert [n.name for n in g.kernels] == ["k1", "k2", "k3"]      # cblock[3] gets k3
    assert g.node(("input", 0)).name == "k0"                      # a repeated name: last wins
    conv = g.node(("conv", 1))
    assert conv.formal() == (8, 8, 16, 16, 3, 3, 1, 1)             # H W C K R S T U
    assert g.node(("dblock", 2)).formal() == (8, 8, 16)
    assert [e.shape for e in g.edges] == [(8, 8, 16)] * 3 + [(4, 4, 16)]
    assert [(e.src, e.dst) for e in g.kernel_edges()] == [
        (("conv", 1), ("dblock", 2)), (("dblock", 2), ("cblock", 3))]
    p = g.to_problem()
    assert (p.width, p.height, p.memory_limit) == (40, 30, 5000)
    assert [(e.src, e.dst, e.weight) for e in p.edges] == [("k1", "k2", 1.0), ("k2", "k3", 1.0)]
    assert [k.model.kind for k in p.kernels] == ["conv", "dblock", "cblock"]
    assert p.kernels[0].loc.line == 13


def test_bom_crlf_and_no_header_take_the_contest_defaults():
    text = "\ufeff(* Node Definitions *)\r\ndblock[8] f=256 h=56 w=56\r\n(* Connectivity *)\r\n"
    g = parse_kgraph(text)
    assert (g.width, g.height, g.memlimit, g.wadapter) == (633, 633, 24576, 0)
    assert g.kernels[0].name == "k8" and g.kernels[0].solution_id == "k08"


def test_terminals_and_kernels_have_separate_index_spaces():
    g = parse_kgraph("conv[3] W=2 H=2 R=1 S=1 C=2 K=2 T=1\noutput[3] n=[2 2 2]\n"
                     "conv[3]:y -> output[3]:_, shape:[2][2][2]\n")
    assert len(g.kernels) == 1 and g.kernel_edges() == []


@pytest.mark.parametrize("text, line, col, words", [
    ("pool[1] k=2\n", 1, 1, "unknown node kind 'pool'"),
    ("conv[1] W=2 H=2 R=1 S=1 C=2 K=2\n", 1, 1, "lacks T"),
    ("conv[1] W=2 H=2 R=1 S=1 C=2 K=0 T=1\n", 1, 1, "must be a positive integer"),
    ("dblock[1] f=10 h=2 w=2\n", 1, 1, "multiple of 4"),
    ("dblock[1] f=8 h=2 w=2\ndblock[1] f=8 h=2 w=2\n", 2, 1, "defined twice"),
    ("dblock[1] f=8 h=2 w=2\nconv[1] W=2 H=2 R=1 S=1 C=2 K=2 T=1\n", 2, 1, "share the index"),
    ("dblock[1] f=8 h=2 w=2\ndblock[1]:y -> dblock[2]:x, shape:[1][1][1]\n", 2, 1,
     "dblock[2], which is not defined"),
    ("dblock[1] f=8 h=2 w=2 f=4\n", 1, 23, "given twice"),
    ("* Node Definitions *)\n", 1, 20, "never opened"),
    ("\n(* header\nwidth=5\n", 2, 1, "never closed"),
    ("dblock[1] f=8 h=2 w=2 junk\n", 1, 23, "expected key=value"),
    ("dblock[1] f=8 h=2 w=2\ndblock[1]:y -> dblock[1]\n", 2, 15, "after '->'"),
    ("(*\nwidth=wide\n*)\n", None, None, "not an integer"),
])
def test_errors_point_at_the_line(text, line, col, words):
    with pytest.raises(ParseError) as err:
        parse_kgraph(text, "bad.kgraph")
    e = err.value
    assert words in e.message
    if line is not None:
        assert (e.loc.line, e.loc.col) == (line, col)
        assert f"bad.kgraph:{line}:{col}" in e.format()


def test_missing_file_is_a_parse_error(tmp_path):
    with pytest.raises(ParseError, match="cannot read"):
        read_kgraph(tmp_path / "nope.kgraph")


# --- the shared files ------------------------------------------------------------------

@needs_data
@pytest.mark.parametrize("name", "ABCDEFGHIJKLMNOPQRST")
def test_every_benchmark_reads(name):
    path = DATA / "benchmarks" / f"{name}.kgraph"
    text = path.read_text()
    g = read_kgraph(path)
    # counted here with a regex of our own: definitions are lines without '->'
    defs = [ln for ln in text.splitlines() if re.match(r"\s*(conv|dblock|cblock)\s*\[", ln)
            and "->" not in ln]
    links = [ln for ln in text.splitlines() if "->" in ln]
    assert len(g.kernels) == len(defs)
    assert len(g.edges) == len(links)
    assert (g.width, g.height, g.memlimit, g.wdeltat) == (633, 633, 24576, 1)
    wl = int(re.search(r"wlength=(\d+)", text).group(1))
    assert g.wlength == wl
    assert (g.wadapter == 0) == (name in "ABCDIJKLMN")
    p = g.to_problem()
    assert len(p.kernels) == len(defs)


@needs_data
def test_entrant_inputs_read_or_fail_clearly():
    folder = DATA / "entrant_test_inputs"
    for path in sorted(folder.iterdir()):
        if path.name == "kgraph4.txt":     # its first comment lacks the opening "("
            with pytest.raises(ParseError, match="never opened"):
                read_kgraph(path)
            continue
        g = read_kgraph(path)
        assert g.kernels, path.name
