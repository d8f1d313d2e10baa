"""Solution files: the writer's format, the checker on good and broken files, and the
round trip placement -> file -> independent check."""
from __future__ import annotations

import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from compiler.errors import ParseError
from compiler.place.ispd import check_solution, format_solution, parse_kgraph, parse_solution
from compiler.place.placer import place

ROOT = Path(__file__).resolve().parents[2]

KGRAPH = """(*
test=round-trip
width=64
height=48
wdeltat=1
wlength=3
wadapter=0
memlimit=3000
*)
(* Node Definitions *)
input[0] n=[ 8 8 16 ] name='k0'
conv[1] W=8 H=8 R=3 S=3 C=16 K=16 T=1 U=1 name='k1'
dblock[2] f=16 h=8 w=8 name='k2'
conv[3] W=8 H=8 R=1 S=1 C=16 K=32 T=2 U=2 name='k3'
cblock[4] f=32 h=8 w=8 name='k4'
output[5] n=[4 4 32] name='k5'
(* Connectivity *)
input[0]:_ -> conv[1]:x, shape:[8][8][16]
conv[1]:y -> dblock[2]:x, shape:[8][8][16]
dblock[2]:y -> conv[3]:x, shape:[8][8][16]
conv[1]:y -> conv[3]:x, shape:[8][8][16]
conv[3]:y -> cblock[4]:x, shape:[4][4][32]
cblock[4]:y -> output[5]:_, shape:[4][4][32]
"""
EDGES = [(1, 2), (2, 3), (1, 3), (3, 4)]
FORMAL_COUNT = {"conv": 8, "dblock": 3, "cblock": 3}


@pytest.fixture(scope="module")
def solved():
    g = parse_kgraph(KGRAPH, "rt.kgraph")
    pl = place(g.to_problem(), wire_weight=g.wlength)
    return g, pl, format_solution(g, pl.kernels)


def shape_of(kind, numbers):
    """(x extent, y extent) at R0 from a sizing line, by the handout's formulas."""
    ex = numbers[FORMAL_COUNT[kind]:]
    n = (len(ex) - 2) // 2
    h, w, cs, ks = ex[0], ex[1], ex[2:2 + n], ex[2 + n:]
    return 3 * sum(ks), h * w * (max(cs) + 1)


def test_the_file_has_the_contest_format(solved):
    g, pl, text = solved
    lines = text.splitlines()
    assert lines[0] == 'include "common.paint"'
    body = lines[1:1 + 3 * 4]
    for i, idx in enumerate((1, 2, 3, 4)):
        sizing, name, placed = body[3 * i:3 * i + 3]
        assert re.fullmatch(rf"k0{idx} = (conv|dblock|cblock)\( (\d+ )+\)", sizing), sizing
        assert name == f"k0{idx} : name('k{idx}')"
        assert re.fullmatch(rf"k0{idx} : place\(\d+ \d+ R(0|90)\)", placed), placed
    assert body[0].startswith("k01 = conv( 8 8 16 16 3 3 1 1 ")     # H W C K R S T U first
    assert body[3].startswith("k02 = dblock( 8 8 16 ")                # H W F first
    assert lines[-1].endswith(")") and "kmap = union(" in text
    assert re.findall(r"k0\d", text[text.index("kmap"):]) == ["k01", "k02", "k03", "k04"]


def test_round_trip_metrics_are_recomputed_from_the_file(solved):
    g, pl, text = solved
    report = check_solution(g, text)
    assert report.legal, report.violations
    assert report.max_time == pl.max_time
    assert report.wire_length == pl.wire_length()
    # and once more with this test's own reading of the file
    centre = {}
    for m in re.finditer(r"k0(\d) = (\w+)\( ([\d ]+) \)\n.*\nk0\d : place\((\d+) (\d+) (R0|R90)\)",
                         text):
        idx, kind = int(m.group(1)), m.group(2)
        numbers = [int(v) for v in m.group(3).split()]
        fw, fh = shape_of(kind, numbers)
        if m.group(6) == "R90":
            fw, fh = fh, fw
        x, y = int(m.group(4)), int(m.group(5))
        assert 0 <= x and x + fw <= 64 and 0 <= y and y + fh <= 48
        centre[idx] = (x + Fraction(fw, 2), y + Fraction(fh, 2))
    wire = sum(abs(centre[a][0] - centre[b][0]) + abs(centre[a][1] - centre[b][1])
               for a, b in EDGES)
    assert wire == report.wire_length
    assert report.score == report.max_time + 3 * wire


def edit(text, sid, new_line_for):
    """Replace kNN's line of one kind ('=' sizing or 'place')."""
    out = []
    for line in text.splitlines():
        if line.startswith(f"{sid} ") and new_line_for[0] in line:
            line = new_line_for[1](line)
        out.append(line)
    return "\n".join(out) + "\n"


def test_broken_files_are_caught(solved):
    g, pl, text = solved
    k1, k2 = pl.kernels["k1"], pl.kernels["k2"]
    overlap = edit(text, "k02", ("place", lambda _: f"k02 : place({k1.x} {k1.y} R0)"))
    assert any("overlap" in v for v in check_solution(g, overlap).violations)
    outside = edit(text, "k01", ("place", lambda _: "k01 : place(60 40 R0)"))
    assert any("leaves the 64x48 grid" in v for v in check_solution(g, outside).violations)
    hungry = edit(text, "k01", ("=", lambda _: "k01 = conv( 8 8 16 16 3 3 1 1 1 1 1 1 )"))
    assert any("exceeds the limit 3000" in v for v in check_solution(g, hungry).violations)
    formal = edit(text, "k02", ("=", lambda ln: ln.replace("dblock( 8 8 16", "dblock( 8 8 32")))
    assert any("formal parameters" in v for v in check_solution(g, formal).violations)
    kind = edit(text, "k02", ("=", lambda ln: ln.replace("dblock(", "cblock(")))
    assert any("is a dblock in the kgraph" in v for v in check_solution(g, kind).violations)
    short = edit(text, "k02", ("=", lambda _: "k02 = dblock( 8 8 16 1 1 1 )"))
    assert any("8 execution parameters" in v for v in check_solution(g, short).violations)
    missing = "\n".join(ln for ln in text.splitlines() if not ln.startswith("k03 ")) + "\n"
    assert any("k03" in v and "no sizing line" in v
               for v in check_solution(g, missing).violations)
    extra = text + "k09 = conv( 1 1 1 1 1 1 1 1 1 1 1 1 )\nk09 : place(0 0 R0)\n"
    assert any("k09: no kernel" in v for v in check_solution(g, extra).violations)
    report = check_solution(g, overlap)
    assert not report.legal and report.score is None


def test_unreadable_lines_are_parse_errors():
    with pytest.raises(ParseError) as err:
        parse_solution('include "common.paint"\nk01 = conv( 1 2 )\nk01 : move(1 2)\n', "s.paint")
    assert err.value.loc.line == 3
    with pytest.raises(ParseError, match="placed twice"):
        parse_solution("k01 : place(0 0 R0)\nk01 : place(1 1 R90)\n")


def test_the_entrants_name_lines_are_accepted():
    text = ("include \"common.paint\"\nk01 = conv( 14 14 1024 512 1 1 1 1 1 2 34 34 )\n"
            "k01 : name('k01)\nk01 : place(30 438 R0)\n"
            "kmap = union( k01\n k02 )\n")
    e = parse_solution(text)["k01"]
    assert (e.kind, e.name, e.x, e.y, e.rotated) == ("conv", "k01", 30, 438, False)
    assert e.numbers[-4:] == (1, 2, 34, 34)


def test_the_benchmark_script_checks_a_file(solved, tmp_path):
    g, pl, text = solved
    (tmp_path / "rt.kgraph").write_text(KGRAPH)
    (tmp_path / "rt.paint").write_text(text)
    script = ROOT / "benchmarks" / "ispd2020.py"
    run = subprocess.run([sys.executable, str(script), "--check", str(tmp_path / "rt.paint"),
                          "--kgraph", str(tmp_path / "rt.kgraph")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "legal: yes" in run.stdout
    assert f"max time: {float(pl.max_time):.2f}" in run.stdout
    bad = edit(text, "k02", ("place", lambda _: "k02 : place(63 47 R0)"))
    (tmp_path / "bad.paint").write_text(bad)
    run = subprocess.run([sys.executable, str(script), "--check", str(tmp_path / "bad.paint"),
                          "--kgraph", str(tmp_path / "rt.kgraph")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert "legal: NO" in run.stdout and "leaves the 64x48 grid" in run.stdout
