"""scikit-learn → ONNX (skl2onnx, no ZipMap), parity against the estimator, loading under onnxruntime."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits, load_iris
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import gitreg
from gitreg import Registry
from gitreg.errors import ExportError, InputError
from tests.support.repo import git


def _case(kind: str):
    if kind == "logreg":
        x, y = load_digits(return_X_y=True)
        return LogisticRegression(max_iter=300).fit(x, y), x, y
    if kind == "forest":
        x, y = load_iris(return_X_y=True)
        return RandomForestClassifier(n_estimators=20, random_state=0).fit(x, y), x, y
    if kind == "pipeline":
        x, y = load_breast_cancer(return_X_y=True)
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y), x, y
    if kind == "ridge":
        x, y = load_digits(return_X_y=True)
        return Ridge().fit(x, y.astype(float)), x, y.astype(float)
    x, y = load_breast_cancer(return_X_y=True)
    target = x[:, 0] * 3.0
    return RandomForestRegressor(n_estimators=10, random_state=0).fit(x[:, 1:], target), x[:, 1:], target


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("logreg", marks=pytest.mark.slow),  # fitting on all of digits takes ~2 s
        "forest",
        "pipeline",
        "ridge",
        "forest-regressor",
    ],
)
def test_sklearn_push_parity_and_load(kind: str, registry: Registry) -> None:
    model, x, y = _case(kind)
    mv = gitreg.push(model, "skl", eval_data=(x, y), registry=registry)
    sc = registry.show(mv.ref).sidecar
    assert set(sc.artifacts) == {"onnx"} and sc.model["framework"] == "sklearn"
    assert "zipmap=False" in sc.artifacts["onnx"].extra["exporter"]
    assert sc.signature["inputs"] == [{"name": "input", "dtype": "float32", "shape": ["N", x.shape[1]]}]
    pair = sc.parity["onnxruntime_vs_sklearn"]
    assert sc.parity["passed"] and pair["passed"] and pair["samples"] == len(x) + 16
    loaded = gitreg.load(mv.ref, registry=registry)
    if kind in ("ridge", "forest-regressor"):
        assert sc.signature["task"] == "regression"
        assert np.allclose(loaded.predict(x), model.predict(x.astype(np.float32)), rtol=1e-4, atol=1e-4)
        with pytest.raises(gitreg.errors.UsageError, match="needs a classifier"):
            loaded.predict_proba(x)
    else:
        assert sc.signature["task"] == "classification"
        assert sc.signature["classes"] == [int(c) for c in model.classes_]
        assert [o["name"] for o in sc.signature["outputs"]] == ["label", "probabilities"]  # no ZipMap
        assert (loaded.predict(x) == model.predict(x)).mean() >= 0.995
        assert np.abs(loaded.predict_proba(x) - model.predict_proba(x)).max() < 1e-4
        assert pair["argmax_agreement"] >= 0.995


def test_string_labels_survive_into_predictions(registry: Registry) -> None:
    x, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    model = LogisticRegression(max_iter=500).fit(x, names)
    gitreg.push(model, "iris", example_inputs=x[:4], registry=registry)
    loaded = gitreg.load("iris", registry=registry)
    assert loaded.classes == ["setosa", "versicolor", "virginica"]
    assert (loaded.predict(x) == model.predict(x)).all()


def test_unsupported_estimator_and_bad_inputs_push_nothing(registry: Registry, registry_path) -> None:
    from sklearn.semi_supervised import LabelSpreading

    x, y = load_iris(return_X_y=True)
    before = git("--git-dir", str(registry_path), "for-each-ref")
    with pytest.raises(ExportError, match="skl2onnx cannot convert LabelSpreading: skl2onnx has no converter"):
        gitreg.push(LabelSpreading().fit(x, y), "ls", eval_data=(x, y), registry=registry)
    model = LogisticRegression(max_iter=500).fit(x, y)
    with pytest.raises(InputError, match="example_inputs have 3 features; the model was fitted on 4"):
        gitreg.push(model, "m", example_inputs=x[:, :3], registry=registry)
    with pytest.raises(InputError, match="needs example_inputs"):
        gitreg.push(model, "m", registry=registry)
    with pytest.raises(InputError, match="eval_data is empty"):
        gitreg.push(model, "m", eval_data=(x[:0], y[:0]), registry=registry)
    assert git("--git-dir", str(registry_path), "for-each-ref") == before


def test_onnx_only_version_gets_a_self_check(registry: Registry, registry_path) -> None:
    x, y = load_iris(return_X_y=True)
    gitreg.push(LogisticRegression(max_iter=500).fit(x, y), "iris", eval_data=(x, y), registry=registry)
    _, report = gitreg.check_parity("iris", registry=Registry(registry_path))
    assert report.passed
    assert [p.key for p in report.pairs] == ["onnxruntime_sliced_vs_onnxruntime"]
    np.save("x.npy", x)
    _, report = gitreg.check_parity("iris", data="x.npy", registry=registry)
    assert report.passed and report.samples == len(x)
    with pytest.raises(InputError, match="has 3 features"):
        gitreg.check_parity("iris", data=x[:, :3], registry=registry)


def test_onnx_that_onnxruntime_cannot_run_is_a_clear_load_error(registry: Registry, tmp_path) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Mystery", ["x"], ["y"], domain="com.example")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "custom.onnx"))
    registry.push_files([tmp_path / "custom.onnx"], "custom")  # valid ONNX: onnx.checker accepts custom domains
    with pytest.raises(gitreg.errors.ArtifactError, match=r"onnxruntime cannot load model\.onnx"):
        gitreg.load("custom", registry=registry)
