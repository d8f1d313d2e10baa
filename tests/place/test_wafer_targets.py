"""Wafer targets: presets, mesh-size parsing and the errors a user sees."""
from __future__ import annotations

import pytest

from compiler.errors import CompileError
from compiler.target import PRESETS, Target, get_target, parse_mesh_size


def test_presets_have_the_published_sizes():
    wse2 = get_target("wse2")
    assert (wse2.width, wse2.height) == (757, 996)
    assert wse2.sram_bytes == 48 * 1024
    assert wse2.clock_hz == pytest.approx(1.1e9)
    assert wse2.flops_per_cycle == 8          # 4 fp16 FMAC, 2 FLOPs each
    wse3 = get_target("WSE3")
    assert (wse3.width, wse3.height) == (762, 1172)
    ispd = get_target("ispd2020")
    assert (ispd.width, ispd.height) == (633, 633)
    assert ispd.memory_words == 24576
    assert set(PRESETS) == {"wse2", "wse3", "ispd2020"}


def test_small_meshes_are_parsed_from_their_size():
    t = get_target("64x32")
    assert (t.width, t.height, t.name) == (64, 32, "64x32")
    assert t.cores == 64 * 32
    assert t.sram_bytes == get_target("wse2").sram_bytes
    assert parse_mesh_size(" 8 X 4 ") == (8, 4)
    assert parse_mesh_size("wse2") is None
    assert get_target(t) is t
    assert isinstance(t, Target)


@pytest.mark.parametrize("spec, words", [("wse9", "unknown wafer target"),
                                         ("0x8", "at least 1x1"),
                                         ("64", "unknown wafer target")])
def test_bad_targets_say_what_is_known(spec, words):
    with pytest.raises(CompileError) as err:
        get_target(spec)
    text = err.value.format()
    assert words in text
    assert "hint:" in text


def test_peak_flops_is_cores_times_rate():
    t = get_target("2x3")
    assert t.peak_flops == pytest.approx(6 * t.flops_per_cycle * t.clock_hz)
