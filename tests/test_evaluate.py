"""Evaluation metrics (pure numpy) against scikit-learn computed independently, on real pushed models."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w
from sklearn import metrics as skm

from gitreg.core.sidecar import tomllib  # tomli on 3.10
from gitreg.errors import InputError
from gitreg.ml.evaluate import Evaluation, average_ranks, evaluate, load_data, roc_auc, roc_curve
from gitreg.ml.predictor import Predictor
from tests.support import eval_models
from tests.support.onnxfiles import make_onnx

CLASSIFIERS = ["digits", "cancer", "cancer-tree", "iris"]


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory):
    yield from eval_models.build(tmp_path_factory.mktemp("eval-models"))


def _close(a: float, b: float) -> None:
    assert a == pytest.approx(b, rel=1e-9, abs=1e-12)


@pytest.mark.filterwarnings("ignore:The y_prob values do not sum to one")  # float32 probabilities, as served
@pytest.mark.parametrize("key", CLASSIFIERS)
def test_classification_metrics_match_sklearn(cases, key: str) -> None:
    c = cases[key]
    ev = evaluate(c.predictor, c.x, c.y)
    pred = c.predictor.predict(c.x)
    proba = c.predictor.predict_proba(c.x).astype(np.float64)
    classes = c.predictor.classes
    assert ev.task == "classification" and ev.samples == len(c.y)
    assert list(ev.labels) == classes
    _close(ev.metrics["accuracy"], skm.accuracy_score(c.y, pred))
    assert 0.5 < ev.metrics["accuracy"] < 1.0  # held-out halves: a real, imperfect score
    for avg in ("weighted", "macro"):
        p, r, f, _ = skm.precision_recall_fscore_support(c.y, pred, average=avg, zero_division=0)
        _close(ev.metrics[f"precision_{avg}"], p)
        _close(ev.metrics[f"recall_{avg}"], r)
        _close(ev.metrics[f"f1_{avg}"], f)
    p, r, f, s = skm.precision_recall_fscore_support(c.y, pred, labels=classes, zero_division=0)
    for i, label in enumerate(classes):
        row = ev.per_class[str(label)]
        _close(row["precision"], p[i])
        _close(row["recall"], r[i])
        _close(row["f1"], f[i])
        assert row["support"] == s[i]
    assert ev.confusion == skm.confusion_matrix(c.y, pred, labels=classes).tolist()
    if len(classes) == 2:
        _close(ev.metrics["roc_auc"], skm.roc_auc_score(c.y, proba[:, 1]))
    else:
        _close(ev.metrics["roc_auc"], skm.roc_auc_score(c.y, proba, multi_class="ovr", average="macro", labels=classes))
        for j, label in enumerate(classes):
            _close(ev.per_class[str(label)]["roc_auc"], skm.roc_auc_score(c.y == label, proba[:, j]))
    _close(ev.metrics["log_loss"], skm.log_loss(c.y, proba, labels=classes))


def test_tree_probabilities_tie_and_auc_still_matches(cases) -> None:
    c = cases["cancer-tree"]
    proba = c.predictor.predict_proba(c.x)[:, 1]
    assert len(np.unique(proba)) <= 4 < len(proba)  # four leaves: almost every score is tied
    _close(evaluate(c.predictor, c.x, c.y).metrics["roc_auc"], skm.roc_auc_score(c.y, proba))


def test_regression_metrics_match_sklearn(cases) -> None:
    c = cases["ridge"]
    ev = evaluate(c.predictor, c.x, c.y)
    pred = c.predictor.predict(c.x)
    assert ev.task == "regression" and set(ev.metrics) == {"mae", "rmse", "r2"}
    _close(ev.metrics["mae"], skm.mean_absolute_error(c.y, pred))
    _close(ev.metrics["rmse"], math.sqrt(skm.mean_squared_error(c.y, pred)))
    _close(ev.metrics["r2"], skm.r2_score(c.y, pred))
    assert ev.metrics["r2"] > 0.9
    assert not ev.labels and not ev.curves and "confusion" not in ev.to_section()


def test_batches_are_large_and_results_do_not_depend_on_them(cases) -> None:
    c = cases["digits"]
    calls: list[int] = []

    class Spy:
        task, signature = c.predictor.task, c.predictor.signature

        def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
            calls.append(len(x))
            return c.predictor.run(x)

    whole = evaluate(c.predictor, c.x, c.y)
    sliced = evaluate(Spy(), c.x, c.y, batch=100)
    assert calls == [100] * (len(c.x) // 100) + [len(c.x) % 100]
    assert sliced.confusion == whole.confusion
    for k, v in whole.metrics.items():
        _close(sliced.metrics[k], v)


def test_sections_are_plain_toml_and_json(cases) -> None:
    ev = evaluate(cases["iris"].predictor, cases["iris"].x, cases["iris"].y)
    section = ev.to_section()

    def plain(v: Any) -> None:
        assert v is not None and type(v) in (str, int, float, bool, list, dict), type(v)
        for item in v.values() if isinstance(v, dict) else v if isinstance(v, list) else ():
            plain(item)

    plain(section)
    assert tomllib.loads(tomli_w.dumps({"evaluation": section}))["evaluation"] == section
    assert section["accuracy"] == ev.metrics["accuracy"] and section["labels"] == ["setosa", "versicolor", "virginica"]
    assert section["samples"] == 75 and section["seconds"] > 0 and section["rows_per_second"] > 0
    assert "curves" not in section and set(ev.curves) == {"setosa", "versicolor", "virginica"}
    d = json.loads(json.dumps(ev.to_dict()))
    assert d["metrics"] == dict(ev.metrics) and "accuracy" not in d and d["confusion"] == section["confusion"]


def test_curves_are_monotone_and_their_area_is_the_auc(cases) -> None:
    c = cases["digits"]
    ev = evaluate(c.predictor, c.x, c.y)
    for label, (fpr, tpr) in ev.curves.items():
        assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
        assert (np.diff(fpr) >= 0).all() and (np.diff(tpr) >= 0).all()
        area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
        _close(area, ev.per_class[label]["roc_auc"])


def test_roc_auc_with_ties_against_sklearn() -> None:
    assert roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.5, 0.5, 0.9])) == 0.875
    assert roc_auc(np.array([1, 0, 1, 0]), np.full(4, 0.3)) == 0.5
    rng = np.random.default_rng(1)
    for _ in range(20):
        y = rng.integers(0, 2, 500).astype(bool)
        y[:2] = [True, False]
        s = rng.integers(0, 6, 500).astype(np.float32)  # six distinct scores: ties everywhere
        _close(roc_auc(y, s), skm.roc_auc_score(y, s))
        fpr, tpr = roc_curve(y, s)
        sk_fpr, sk_tpr, _ = skm.roc_curve(y, s)
        assert np.allclose(fpr, sk_fpr) and np.allclose(tpr, sk_tpr)


def test_the_auc_evaluate_takes_from_the_curve_equals_the_rank_statistic_exactly() -> None:
    from gitreg.ml.evaluate import _roc

    rng = np.random.default_rng(4)
    for n, decimals in ((7, 1), (500, 2), (100_000, 3), (100_000, None)):
        y = rng.random(n) < 0.3
        s = rng.random(n) if decimals is None else np.round(rng.random(n), decimals)  # rounding makes ties
        auc, (fpr, tpr) = _roc(y, s)
        assert auc == roc_auc(y, s)  # bitwise: both are exact integer counts over one division
        assert np.array_equal(fpr, roc_curve(y, s)[0]) and np.array_equal(tpr, roc_curve(y, s)[1])


def test_average_ranks_match_scipy() -> None:
    from scipy.stats import rankdata

    s = np.random.default_rng(2).integers(0, 30, 1000).astype(np.float64)
    assert np.array_equal(average_ranks(s), rankdata(s))


def test_roc_curve_is_thinned_for_plots_but_keeps_its_ends() -> None:
    rng = np.random.default_rng(3)
    y, s = rng.integers(0, 2, 50_000).astype(bool), rng.random(50_000)
    fpr, tpr = roc_curve(y, s, max_points=200)
    assert len(fpr) <= 200 and (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)


# -- models gitreg did not export: logits without class names, duck-typed predictors --------------------
def test_logits_become_probabilities_and_unnamed_classes_are_column_indices(tmp_path: Path) -> None:
    import onnxruntime as ort

    path = make_onnx(tmp_path / "m.onnx", seed=0, n_in=4, n_out=3)
    sig = {
        "task": "classification",
        "output": "logits",
        "inputs": [{"name": "x", "dtype": "float32", "shape": ["N", 4]}],
    }
    p = Predictor(ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]), sig)
    x = np.random.default_rng(0).normal(size=(300, 4)).astype(np.float32)
    y = np.random.default_rng(1).integers(0, 3, 300)
    ev = evaluate(p, x, y)
    proba = p.predict_proba(x)
    assert list(ev.labels) == [0, 1, 2]
    _close(ev.metrics["accuracy"], skm.accuracy_score(y, proba.argmax(axis=1)))
    _close(ev.metrics["log_loss"], skm.log_loss(y, proba, labels=[0, 1, 2]))
    _close(ev.metrics["roc_auc"], skm.roc_auc_score(y, proba, multi_class="ovr"))
    with pytest.raises(InputError, match=r"outside the model's 3 output columns .*: 3, 7"):
        evaluate(p, x[:4], np.array([0, 3, 7, 1]))


class Fake:
    """A predictor stand-in: ``run`` returns fixed outputs, whatever the batch."""

    def __init__(self, outs: dict[str, np.ndarray], signature: dict[str, Any]) -> None:
        self.outs, self.signature = outs, signature
        self.task = signature.get("task")
        self.offset = 0

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        out = {k: v[self.offset : self.offset + len(x)] for k, v in self.outs.items()}
        self.offset += len(x)
        return out


def test_labels_only_classifier_without_classes_uses_the_union_of_labels() -> None:
    y = np.array([3, 5, 5, 9])
    pred = np.array([3, 5, 7, 9])
    ev = evaluate(Fake({"label": pred}, {"task": "classification", "output": "labels"}), np.zeros((4, 2)), y)
    assert list(ev.labels) == [3, 5, 7, 9] and "roc_auc" not in ev.metrics and "log_loss" not in ev.metrics
    assert ev.confusion == skm.confusion_matrix(y, pred).tolist()
    _close(ev.metrics["f1_macro"], skm.f1_score(y, pred, average="macro", zero_division=0))


def test_float_labels_from_csv_meet_integer_classes() -> None:
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], dtype=np.float32)
    sig = {"task": "classification", "output": "probabilities", "classes": [0, 1]}
    ev = evaluate(Fake({"probabilities": proba}, sig), np.zeros((3, 2)), np.array([0.0, 1.0, 1.0]))
    assert ev.metrics["accuracy"] == pytest.approx(2 / 3) and ev.labels == (0, 1)
    assert ev.metrics["roc_auc"] == 1.0  # positives 0.8, 0.4 above the negative's 0.1


def test_multi_output_regression_averages_outputs_like_sklearn() -> None:
    rng = np.random.default_rng(0)
    y, pred = rng.normal(size=(50, 2)), rng.normal(size=(50, 2))
    ev = evaluate(Fake({"variable": pred}, {"task": "regression"}), np.zeros((50, 3)), y)
    _close(ev.metrics["mae"], skm.mean_absolute_error(y, pred))
    _close(ev.metrics["rmse"], skm.root_mean_squared_error(y, pred))
    _close(ev.metrics["r2"], skm.r2_score(y, pred))


def test_constant_target_r2_follows_sklearn() -> None:
    y = np.full(5, 2.0)
    for pred in (y.copy(), y + 1):
        ev = evaluate(Fake({"v": pred[:, None]}, {"task": "regression"}), np.zeros((5, 1)), y)
        assert ev.metrics["r2"] == skm.r2_score(y, pred)


# -- bad input: one clear line ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda x, y: (x[:0], y[:0]), r"^empty data: X and y need at least one row$"),
        (lambda x, y: (x, y[:-1]), r"^X has 899 rows but y has 898"),
        (lambda x, y: (x[:, :10], y), r"^X has 10 features; the model takes 64"),
        (lambda x, y: (x.astype(str), y), r"^X has dtype <U\d+; the model takes float32"),
        (lambda x, y: (x[:3], np.array([1, 10, 11])), r"^y has labels outside the model's classes: 10, 11 \("),
    ],
)
def test_bad_input_is_one_clear_line(cases, mutate, message: str) -> None:
    c = cases["digits"]
    x, y = mutate(c.x, c.y)
    with pytest.raises(InputError, match=message) as e:
        evaluate(c.predictor, x, y)
    assert "\n" not in str(e.value)


def test_unknown_string_labels_are_named_a_few_at_a_time(cases) -> None:
    c = cases["iris"]
    y = np.array(["setosa", "rose", "tulip", "lily", "iris", "daisy", "fern", "moss"])
    with pytest.raises(InputError) as e:
        evaluate(c.predictor, c.x[:8], y)
    msg = str(e.value)
    assert "'daisy', 'fern', 'iris', 'lily', 'moss', …" in msg and "'setosa', 'versicolor', 'virginica'" in msg


def test_regression_rejects_nan_targets_and_wrong_shapes(cases) -> None:
    c = cases["ridge"]
    y = c.y.copy()
    y[[3, 7]] = np.nan
    with pytest.raises(InputError, match=r"y has 2 non-finite value\(s\)"):
        evaluate(c.predictor, c.x, y)
    with pytest.raises(InputError, match=r"the model predicts"):
        evaluate(c.predictor, c.x, np.stack([c.y, c.y], axis=1))


def test_load_data_needs_labels(tmp_path: Path) -> None:
    x, y = np.arange(12.0).reshape(4, 3), np.array([0, 1, 0, 1])
    np.savez(tmp_path / "xy.npz", X=x, y=y)
    np.savez(tmp_path / "x.npz", X=x)
    lx, ly = load_data(tmp_path / "xy.npz")
    assert np.array_equal(lx, x) and np.array_equal(ly, y)
    with pytest.raises(InputError, match=r"x\.npz: the data file needs labels: an \.npz with X and y, or a \.csv"):
        load_data(tmp_path / "x.npz")
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,0\n3,4,1\n")
    cx, cy = load_data(tmp_path / "d.csv", target="label")
    assert cx.tolist() == [[1, 2], [3, 4]] and cy.tolist() == [0, 1]
    with pytest.raises(InputError, match="--target COLUMN"):
        load_data(tmp_path / "d.csv")


def test_evaluation_is_frozen() -> None:
    ev = Evaluation("regression", 1, {"mae": 0.0})
    with pytest.raises(AttributeError):
        ev.task = "classification"  # type: ignore[misc]


def test_importing_evaluate_and_report_stays_light() -> None:
    import subprocess

    code = (
        "import sys, gitreg.ml.evaluate, gitreg.ml.report; "
        "print(sorted(m for m in ('matplotlib', 'sklearn', 'torch', 'onnxruntime') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
