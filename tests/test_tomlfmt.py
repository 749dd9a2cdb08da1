"""Sidecars that read well in a diff: short arrays inline, matrices a row per line, values exact."""

from __future__ import annotations

from typing import Any

import tomllib
from hypothesis import given, settings
from hypothesis import strategies as st

from gitreg.core import tomlfmt
from gitreg.core.sidecar import Artifact, Sidecar, dumps, loads

scalars = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.text(max_size=30),
)
arrays = st.one_of(
    st.lists(scalars.filter(lambda x: not isinstance(x, bool)), max_size=40),
    st.lists(st.lists(st.integers(0, 10**6), min_size=1, max_size=12), max_size=12),
)
keys = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
tables = st.recursive(
    st.dictionaries(keys, st.one_of(scalars, arrays), max_size=6),
    lambda inner: st.dictionaries(
        keys, st.one_of(inner, st.lists(inner.filter(bool), min_size=1, max_size=3)), max_size=4
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(tables)
def test_round_trips_exactly(data: dict[str, Any]) -> None:
    assert tomllib.loads(tomlfmt.dumps(data)) == data


def test_a_placeholder_lookalike_in_a_string_is_left_alone() -> None:
    data = {"a": "__gitreg_0000000000000000_0__", "b": [1, 2], "c": [{"x": [3, 4]}]}
    assert tomllib.loads(tomlfmt.dumps(data)) == data


def confusion(n: int) -> list[list[int]]:
    return [[(i * 7 + j * 13) % 97 for j in range(n)] for i in range(n)]


def test_short_arrays_stay_on_their_line_and_matrices_take_a_row_per_line() -> None:
    sc = Sidecar(
        model={"name": "digits", "version": "1.0.0", "author": "a <a@b>", "created": "2026-01-01T00:00:00Z"},
        artifacts={"onnx": Artifact("onnx", "model.onnx", "0" * 64, 10, {})},
        signature={"classes": list(range(10))},
        evaluation={"confusion_matrix": confusion(10), "labels": list(range(10))},
    )
    text = dumps(sc)
    assert "classes = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n" in text
    lines = text.splitlines()
    start = lines.index("confusion_matrix = [")
    assert lines[start + 11] == "]" and all(ln.startswith("    [") for ln in lines[start + 1 : start + 11])
    assert len(text.splitlines()) < 40  # tomli_w alone wrote 150 lines for this
    assert loads(text).to_dict() == sc.to_dict()
    # meaningful order: name before version before the rest
    model = lines[lines.index("[model]") + 1 : lines.index("[model]") + 3]
    assert model == ['name = "digits"', 'version = "1.0.0"']


def test_a_long_array_wraps_to_full_lines() -> None:
    text = tomlfmt.dumps({"scores": [0.123456789 * i for i in range(60)]})
    lines = text.splitlines()
    assert lines[0] == "scores = [" and lines[-1] == "]"
    assert 4 < len(lines) < 20 and all(len(ln) <= tomlfmt.WIDTH for ln in lines)
    assert tomllib.loads(text) == {"scores": [0.123456789 * i for i in range(60)]}


def test_gate_values_are_shown_to_a_sensible_precision_but_never_misleadingly() -> None:
    from gitreg.core.verdict import evaluate_all

    rows = evaluate_all(
        ["eval.accuracy >= 0.8", "eval.f1 >= 0.9"], {"eval": {"accuracy": 0.8407407407407408, "f1": 0.8999999999}}
    ).rows()
    assert rows[0][1:3] == ("0.840741", "0.8")  # the stored value keeps every digit; the table shows six
    assert rows[1][1] == "0.8999999999" and rows[1][3].startswith("fail")  # not "0.9 >= 0.9: fail"


def test_tables_inside_nested_arrays_round_trip() -> None:
    """Found by the fuzz suite: tables inside an array of arrays keep tomli_w's own layout."""
    for data in (
        {"created": [[{"": False}]]},
        {"a": [[[], {}]]},
        {"a": [[[], []]]},
        {"a": [[]]},
        {"a": []},
        {"a": [[1, [2, 3]], [4]]},
    ):
        assert tomllib.loads(tomlfmt.dumps(data)) == data, data
