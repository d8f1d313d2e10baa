"""The prune spec parser and the per-weight levels it resolves to."""
from __future__ import annotations

import pytest

from compiler.errors import PassError
from compiler.sparsity.spec import DENSE, Level, parse_prune_spec, resolve_levels


def test_methods_and_levels():
    s = parse_prune_spec("magnitude:0.9")
    assert (s.method, s.level, s.overrides) == ("magnitude", Level(0.9), ())
    s = parse_prune_spec("nm:2:4")
    assert s.method == "nm" and s.level == Level(n=2, m=4) and s.level.fraction == 0.5
    s = parse_prune_spec(" wanda:0.5 , fc3*=0, conv1.weight=0.25 ,first=0.1,last=1:4")
    assert s.method == "wanda" and s.level == Level(0.5)
    assert [(o.key, o.level) for o in s.overrides] == [("fc3*", DENSE),
                                                        ("conv1.weight", Level(0.25))]
    assert s.first == Level(0.1) and s.last == Level(n=1, m=4)
    assert s.needs_activations
    s = parse_prune_spec("magnitude")
    assert s.level is None and not s.needs_activations
    s = parse_prune_spec("fc1.weight=0.9")  # no method: magnitude, only this weight
    assert s.method == "magnitude" and s.level is None and s.overrides[0].key == "fc1.weight"
    assert parse_prune_spec("global-magnitude:0.8,x=dense").overrides[0].level.is_dense


@pytest.mark.parametrize("text, words, caret", [
    ("", ["the spec is empty"], "^"),
    ("magnitud:0.9", ["unknown pruning method 'magnitud'", "did you mean 'magnitude'"],
     "^^^^^^^^"),
    ("magnitude:1.5", ["sparsity 1.5 is outside [0, 1)"], "          ^^^"),
    ("magnitude:abc", ["expected a sparsity", "'abc'"], "          ^^^"),
    ("magnitude:2:4", ["takes a sparsity", "nm:2:4"], "          ^^^"),
    ("nm", ["nm needs a pattern"], "^^"),
    ("nm:0.5", ["nm needs a pattern N:M"], "   ^^^"),
    ("nm:5:4", ["need 1 <= N <= M"], "   ^^^"),
    ("nm:a:4", ["two integers"], "   ^^^"),
    ("magnitude:0.9,,fc=0", ["empty item"], None),
    ("magnitude:0.9,fc", ["expected KEY=LEVEL"], "              ^^"),
    ("magnitude:0.9,wanda:0.5", ["'wanda' is a method; the method comes first"], None),
    ("magnitude:0.9,fc=0,fc=0.5", ["'fc' is given twice"], "                   ^^"),
    ("magnitude:0.9,=0.5", ["missing weight name"], None),
    ("magnitude:0.9,fc=-1", ["outside [0, 1)"], "                 ^^"),
])
def test_bad_specs_have_a_caret(text, words, caret):
    with pytest.raises(PassError) as info:
        parse_prune_spec(text)
    e = info.value
    for w in words:
        assert w in e.message, e.message
    assert e.message.startswith("bad prune spec: ")
    assert e.snippet is not None and "^" in e.snippet
    if caret is not None:
        line, marks = e.snippet.split("\n")
        assert line == "  " + text
        assert marks == "  " + caret


def levels(spec, weights, annotations=None, first=(), last=()):
    plans = resolve_levels(parse_prune_spec(spec), weights, annotations or {}, set(first),
                           set(last))
    return {w: (str(p.level), p.method, p.source) for w, p in plans.items()}


def test_first_and_last_stay_dense_by_default():
    got = levels("magnitude:0.9", ["a", "b", "c"], first=["a"], last=["c"])
    assert got["a"] == ("dense", "none", "first layer (kept dense by default)")
    assert got["b"] == ("0.9", "magnitude", "method")
    assert got["c"] == ("dense", "none", "last layer (kept dense by default)")
    got = levels("magnitude:0.9,first=0.5,last=0.8", ["a", "b", "c"], first=["a"], last=["c"])
    assert got["a"][:2] == ("0.5", "magnitude") and got["c"][:2] == ("0.8", "magnitude")


def test_precedence_override_then_first_last_then_annotation():
    ann = {"a": 0.7, "b": 0.6, "c": None}
    got = levels("wanda:0.5,b=0.2,a*=0", ["a", "ab", "b", "c"], ann, first=["a"], last=["c"])
    assert got["a"] == ("dense", "none", "override 'a*'")        # glob beats annotation
    assert got["ab"] == ("dense", "none", "override 'a*'")
    assert got["b"] == ("0.2", "wanda", "override 'b'")
    assert got["c"][0] == "dense"                                 # last, no annotation
    got = levels("magnitude", ["a", "b", "c"], ann, first=["a"], last=["c"])
    assert got["a"] == ("0.7", "magnitude", "annotation")         # annotation beats first
    assert got["b"] == ("0.6", "magnitude", "annotation")
    assert got["c"] == ("dense", "none", "last layer (kept dense by default)")
    got = levels("magnitude,first=0.1", ["a", "b"], ann, first=["a"])
    assert got["a"] == ("0.1", "magnitude", "first=")             # explicit first beats it


def test_last_matching_glob_wins_and_level_kinds_pick_the_method():
    got = levels("magnitude:0.9,fc*=0.5,fc2*=2:4", ["fc1", "fc2", "x"])
    assert got["fc1"][:2] == ("0.5", "magnitude")
    assert got["fc2"][:2] == ("2:4", "nm")
    got = levels("nm:2:4,x=0.3", ["fc1", "x"])
    assert got["fc1"][:2] == ("2:4", "nm") and got["x"][:2] == ("0.3", "magnitude")
    got = levels("global-magnitude:0.8,x=0.3", ["fc1", "x"])
    assert got["fc1"][:2] == ("0.8", "global-magnitude") and got["x"][:2] == ("0.3", "magnitude")


def test_a_glob_that_matches_nothing_is_an_error_with_a_caret():
    with pytest.raises(PassError) as info:
        levels("magnitude:0.9,fc3*=0", ["fc1.weight", "fc2.weight"])
    e = info.value
    assert "'fc3*' matches no prunable weight" in e.message
    assert e.snippet.split("\n")[1] == "  " + " " * 14 + "^^^^"
    assert "fc1.weight, fc2.weight" in e.hint
