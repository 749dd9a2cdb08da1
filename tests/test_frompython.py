"""``push --from-python``: how the command line's values combine with what the training function returns."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitreg.errors import UsageError
from gitreg.ml import frompython

MODEL = object()


def test_the_command_line_wins_and_tables_merge_key_by_key() -> None:
    returned = {
        "model": MODEL,
        "name": "ignored",
        "metrics": {"acc": 0.5, "f1": 0.4},
        "params": {"lr": 0.1},
        "labels": {"team": "a"},
        "version": "1.0.0",
        "description": "from the script",
        "eval_data": ("X", "y"),
        "script": True,
    }
    model, kwargs = frompython.merge(
        returned,
        metrics={"acc": 0.9},
        params={"epochs": 3},
        labels={},
        options={"version": "2.0.0", "bump": None, "description": None, "data": [], "registry": "r.git"},
    )
    assert model is MODEL
    assert kwargs == {
        "metrics": {"acc": 0.9, "f1": 0.4},
        "params": {"lr": 0.1, "epochs": 3},
        "labels": {"team": "a"},
        "version": "2.0.0",  # given on the command line
        "description": "from the script",  # not given: the script's stays
        "eval_data": ("X", "y"),
        "registry": "r.git",
        "script": True,  # either side turns a flag on
        "allow_parity_failure": False,
        "sign": False,
    }
    assert returned["metrics"] == {"acc": 0.5, "f1": 0.4}  # the training function's dict is left alone


def test_flags_from_the_command_line_and_empty_tables() -> None:
    model, kwargs = frompython.merge({"model": MODEL, "metrics": None}, allow_parity_failure=True, sign=True)
    assert model is MODEL
    assert kwargs == {
        "metrics": {},
        "params": {},
        "labels": {},
        "script": False,
        "allow_parity_failure": True,
        "sign": True,
    }


def test_push_arguments_calls_the_training_function(tmp_path: Path) -> None:
    train = tmp_path / "train.py"
    train.write_text("def main():\n    return {'model': 'M', 'metrics': {'acc': 0.5}}\n\ndef bare():\n    return 'M'\n")
    model, kwargs = frompython.push_arguments(f"{train}:main", metrics={"f1": 1.0}, options={"data": ["d.npz"]})
    assert model == "M" and kwargs["metrics"] == {"acc": 0.5, "f1": 1.0} and kwargs["data"] == ["d.npz"]
    assert frompython.push_arguments(f"{train}:bare")[0] == "M"
    with pytest.raises(UsageError, match="has no function 'nope'"):
        frompython.push_arguments(f"{train}:nope")
