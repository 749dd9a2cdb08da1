"""What a model's outputs mean (gitreg/ml/outputs.py): pure rules, no model run."""

from __future__ import annotations

import numpy as np
import pytest

from gitreg.errors import MetadataError, UsageError
from gitreg.ml import outputs
from gitreg.ml.metadata import parse_classes

LABEL = {"name": "label", "dtype": "int64", "shape": ["N"]}
PROBA = {"name": "probabilities", "dtype": "float32", "shape": ["N", 3]}
ZIPMAP = {"name": "output_probability", "dtype": "sequence_type", "shape": []}
ONE = {"name": "y", "dtype": "float32", "shape": ["N", 1]}


@pytest.mark.parametrize(
    ("outs", "hints", "want"),
    [
        (
            [LABEL, ZIPMAP],
            {"zipmap": {"output_probability": [0, 1, 2]}},
            {
                "task": "classification",
                "label_output": "label",
                "prediction_output": "output_probability",
                "output": "probabilities",
                "classes": [0, 1, 2],
            },
        ),
        (  # zipmap=False: the kind is left to what the model gives (settle)
            [LABEL, PROBA],
            {"classes": ["a", "b", "c"]},
            {
                "task": "classification",
                "label_output": "label",
                "prediction_output": "probabilities",
                "classes": ["a", "b", "c"],
            },
        ),
        ([ONE], {"regressor": ["y"]}, {"task": "regression", "output": "values", "prediction_output": "y"}),
        (
            [dict(ONE, name="variable")],
            {"producer": "skl2onnx"},
            {"task": "regression", "output": "values", "prediction_output": "variable"},
        ),
        ([ONE], {}, {}),  # a torch [N, 1] output could be a binary logit: nothing made up
        ([PROBA], {}, {}),
        ([LABEL, PROBA, ONE], {}, {}),
    ],
)
def test_infer_says_only_what_is_certain(outs: list, hints: dict, want: dict) -> None:
    assert outputs.infer(outs, hints) == want


def test_complete_fills_old_signatures_and_keeps_what_they_say() -> None:
    old = {"outputs": [LABEL, ZIPMAP]}
    assert outputs.complete(old)["task"] == "classification"
    assert outputs.complete(old)["output"] == "probabilities"
    sklearn_export = {"task": "classification", "output": "probabilities", "outputs": [LABEL, PROBA]}
    assert outputs.complete(sklearn_export)["prediction_output"] == "probabilities"
    torch_export = {"task": "classification", "output": "logits", "outputs": [PROBA | {"name": "output"}]}
    assert outputs.complete(torch_export) == torch_export


def test_override_and_its_refusals() -> None:
    sig = {"outputs": [LABEL, PROBA], **outputs.infer([LABEL, PROBA], {"classes": [0, 1, 2]})}
    assert outputs.override(sig, output="label")["output"] == "labels"
    reg = outputs.override(sig, task="regression")
    assert (reg["task"], reg["output"], reg["classes"], reg["label_output"]) == ("regression", "values", None, None)
    assert outputs.override(sig, classes=[0, 1, 2])["classes"] == [0, 1, 2]
    with pytest.raises(UsageError, match="carries its own labels"):
        outputs.override(sig, classes=["x", "y", "z"])
    with pytest.raises(UsageError, match="no output of that name"):
        outputs.override(sig, output="nope")
    with pytest.raises(UsageError, match="invalid task"):
        outputs.override(sig, task="ranking")
    plain = outputs.override({"outputs": [PROBA]}, task="classification", classes=["a", "b", "c"])
    assert plain["classes"] == ["a", "b", "c"] and plain.get("output") is None


def test_settle_decides_the_kind_from_the_values() -> None:
    sig = {"task": "classification", "outputs": [PROBA]}
    proba = np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]], dtype=np.float32)
    assert outputs.settle(sig, proba)["output"] == "probabilities"
    assert outputs.settle(sig, proba * 3)["output"] == "logits"
    assert outputs.settle({**sig, "label_output": "label"}, proba - 0.5)["output"] == "scores"
    zipmap_of_scores = {**sig, "output": "probabilities", "label_output": "label"}
    assert outputs.settle(zipmap_of_scores, proba * 2)["output"] == "scores"  # an SVC's ZipMap holds scores
    with pytest.raises(UsageError, match="2 classes for an output with 3 columns"):
        outputs.settle({**sig, "classes": [0, 1]}, proba)


def test_zipmap_array_orders_columns_by_classes_or_keys() -> None:
    rows = [{"b": 0.25, "a": 0.75}, {"b": 0.5, "a": 0.5}]
    assert outputs.zipmap_array(rows).tolist() == [[0.25, 0.75], [0.5, 0.5]]
    assert outputs.zipmap_array(rows, ["a", "b"]).tolist() == [[0.75, 0.25], [0.5, 0.5]]
    assert outputs.zipmap_array(rows, ["a", "zzz"]).tolist() == [[0.25, 0.75], [0.5, 0.5]]  # not all present: keys
    assert outputs.zipmap_array([]).shape == (0, 0) and outputs.zipmap_array(rows).dtype == np.float32


def test_parse_classes() -> None:
    assert parse_classes("0, 1,2") == [0, 1, 2]
    assert parse_classes("cat,dog") == ["cat", "dog"]
    with pytest.raises(MetadataError, match="lists 'a' twice"):
        parse_classes("a,b,a")
    with pytest.raises(MetadataError, match="lists no class"):
        parse_classes(" , ")
    with pytest.raises(MetadataError, match="cannot read"):
        parse_classes("@/no/such/file")
