"""Files pushed as they are (``gitreg push model.onnx``) are first-class: parity recorded, task and
classes read from the file, ZipMap outputs read, probabilities never softmaxed, metrics equal to
scikit-learn's on the same data. Real skl2onnx exports, onnxruntime, torch; real registries.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm

import gitreg
from gitreg import Registry, api
from gitreg.errors import ParityFailed
from tests.support.cli import invoke, one_error_line
from tests.support.repo import configure, git

CLASSIFICATION = ("accuracy", "precision_weighted", "precision_macro", "recall_weighted", "recall_macro")
CLASSIFICATION += ("f1_weighted", "f1_macro")


# -- models and files ---------------------------------------------------------------------------------
def skl_onnx(model: Any, n_features: int, path: Path, zipmap: bool = True) -> Path:
    """A scikit-learn model converted by skl2onnx as a user would: defaults (ZipMap) or ``zipmap=False``."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    options = None if zipmap else {id(model): {"zipmap": False}}
    onx = convert_sklearn(model, initial_types=[("input", FloatTensorType([None, n_features]))], options=options)
    path.write_bytes(onx.SerializeToString())
    return path


def iris() -> tuple[Any, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=1000).fit(x, y), x, y


def breast_cancer() -> tuple[Any, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = load_breast_cancer(return_X_y=True)
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y), x, y


def sklearn_classification(y: np.ndarray, pred: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> dict:
    out = {"accuracy": skm.accuracy_score(y, pred)}
    for avg in ("weighted", "macro"):
        out[f"precision_{avg}"] = skm.precision_score(y, pred, average=avg, zero_division=0)
        out[f"recall_{avg}"] = skm.recall_score(y, pred, average=avg, zero_division=0)
        out[f"f1_{avg}"] = skm.f1_score(y, pred, average=avg, zero_division=0)
    out["log_loss"] = skm.log_loss(y, proba, labels=classes)
    if len(classes) == 2:
        out["roc_auc"] = skm.roc_auc_score(y, proba[:, 1])
    else:
        out["roc_auc"] = skm.roc_auc_score(y, proba, multi_class="ovr", labels=classes)
    return out


def push_cli(*args: str, registry_path: Path) -> Any:
    return invoke("push", *args, "--registry", str(registry_path))


def refs(registry_path: Path) -> str:
    return git("--git-dir", str(registry_path), "for-each-ref", "--format=%(refname) %(objectname)")


def lfs_objects(registry_path: Path) -> list[str]:
    root = registry_path / "lfs" / "objects"
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


# -- classifiers: ZipMap and zipmap=False, binary and multiclass ------------------------------------------
@pytest.mark.parametrize("zipmap", [True, False], ids=["zipmap", "no-zipmap"])
@pytest.mark.parametrize("data", [iris, breast_cancer], ids=["multiclass", "binary"])
def test_pushed_skl2onnx_classifier_is_evaluated_like_scikit_learn(
    data: Any, zipmap: bool, registry_path: Path, tmp_path: Path
) -> None:
    model, x, y = data()
    f = skl_onnx(model, x.shape[1], tmp_path / "model.onnx", zipmap)
    p = push_cli(str(f), "--name", "clf", registry_path=registry_path)
    assert p.exit_code == 0, p.stderr

    registry = Registry(registry_path)
    sig = registry.show("clf").sidecar.signature
    classes = [int(c) for c in model.classes_]
    assert (sig["task"], sig["classes"]) == ("classification", classes)
    assert sig["output"] == "probabilities"  # read from the file, never softmaxed afterwards
    assert sig["prediction_output"] == ("output_probability" if zipmap else "probabilities")
    assert sig["label_output"] == ("output_label" if zipmap else "label")
    assert registry.show("clf").sidecar.parity["passed"] is True

    _, ev = api.evaluate("clf", (x, y), registry=registry)
    assert ev.task == "classification" and ev.samples == len(y)
    want = sklearn_classification(y, model.predict(x), model.predict_proba(x), model.classes_)
    for k, v in want.items():
        assert abs(ev.metrics[k] - v) <= 1e-6, (k, ev.metrics[k], v)
    assert np.array_equal(np.asarray(ev.confusion), skm.confusion_matrix(y, model.predict(x)))

    loaded = gitreg.load("clf", registry=registry)
    assert loaded.task == "classification" and loaded.classes == classes
    assert np.array_equal(loaded.predict(x), model.predict(x))
    proba = loaded.predict_proba(x)
    assert proba.shape == (len(x), len(classes))
    np.testing.assert_allclose(proba, model.predict_proba(x), atol=1e-6)

    # The same through the CLI: gitreg eval and gitreg predict --proba.
    np.savez(tmp_path / "holdout.npz", X=x, y=y)
    r = ("--registry", str(registry_path))
    p = invoke("eval", "clf", "--data", str(tmp_path / "holdout.npz"), "--json", *r)
    assert p.exit_code == 0, p.stderr
    got = json.loads(p.stdout)["metrics"]
    assert abs(got["log_loss"] - want["log_loss"]) <= 1e-6 and abs(got["roc_auc"] - want["roc_auc"]) <= 1e-6
    np.save(tmp_path / "x.npy", x)
    p = invoke("predict", "clf", "--data", str(tmp_path / "x.npy"), "--proba", "--json", *r)
    assert p.exit_code == 0, p.stderr
    np.testing.assert_allclose(np.array(json.loads(p.stdout)), model.predict_proba(x), atol=1e-6)


def test_zipmap_with_string_labels_predicts_the_labels(registry: Registry, tmp_path: Path) -> None:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, codes = load_iris(return_X_y=True)
    y = np.array(["setosa", "versicolor", "virginica"])[codes]
    model = LogisticRegression(max_iter=1000).fit(x, y)
    gitreg.push(skl_onnx(model, 4, tmp_path / "m.onnx"), "names", registry=registry)
    assert registry.show("names").sidecar.signature["classes"] == ["setosa", "versicolor", "virginica"]
    loaded = gitreg.load("names", registry=registry)
    assert list(loaded.predict(x)) == list(model.predict(x))
    np.testing.assert_allclose(loaded.predict_proba(x), model.predict_proba(x), atol=1e-6)
    _, ev = api.evaluate("names", (x, y), registry=registry)
    assert ev.labels == ("setosa", "versicolor", "virginica")
    assert abs(ev.metrics["log_loss"] - skm.log_loss(y, model.predict_proba(x))) <= 1e-6
    assert abs(ev.metrics["f1_macro"] - skm.f1_score(y, model.predict(x), average="macro")) <= 1e-6
    np.savez(tmp_path / "x.npz", X=x)
    out = tmp_path / "preds.csv"
    r = invoke("predict", "names", "--data", str(tmp_path / "x.npz"), "-o", str(out), "--registry", registry.url)
    assert r.exit_code == 0, r.stderr  # string labels into a CSV file (used to be a TypeError)
    assert out.read_text().split() == list(model.predict(x))


def test_a_version_pushed_before_outputs_were_recorded_is_still_read_right(registry: Registry, tmp_path: Path) -> None:
    """A sidecar without task/output keys (the file pushed by the raw write primitive with them
    removed, as gitreg wrote it before): the ZipMap is still read as probabilities, not a regression."""
    model, x, y = iris()
    f = skl_onnx(model, 4, tmp_path / "m.onnx")
    cleared = dict.fromkeys(("task", "output", "prediction_output", "label_output", "classes"))
    registry.push_files([f], "old", signature=cleared)
    sig = registry.show("old").sidecar.signature
    assert "task" not in sig and "classes" not in sig
    _, ev = api.evaluate("old", (x, y), registry=registry)
    assert ev.task == "classification" and ev.labels == (0, 1, 2)
    assert abs(ev.metrics["log_loss"] - skm.log_loss(y, model.predict_proba(x))) <= 1e-6
    assert gitreg.load("old", registry=registry).predict_proba(x[:5]).shape == (5, 3)


# -- regressors ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["linear", "trees"])
def test_pushed_skl2onnx_regressor_is_evaluated_like_scikit_learn(
    kind: str, registry: Registry, tmp_path: Path
) -> None:
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.linear_model import LinearRegression

    x, y = load_diabetes(return_X_y=True)
    model = (
        LinearRegression() if kind == "linear" else GradientBoostingRegressor(n_estimators=20, random_state=0)
    ).fit(x, y)
    mv = gitreg.push(skl_onnx(model, x.shape[1], tmp_path / "r.onnx"), "reg", registry=registry)
    assert mv.sidecar.signature["task"] == "regression" and mv.sidecar.signature["output"] == "values"
    assert mv.sidecar.parity["passed"] is True
    _, ev = api.evaluate("reg", (x, y), registry=registry)
    pred = model.predict(x)
    want = {
        "mae": skm.mean_absolute_error(y, pred),
        "rmse": np.sqrt(skm.mean_squared_error(y, pred)),
        "r2": skm.r2_score(y, pred),
    }
    for k, v in want.items():
        assert ev.metrics[k] == pytest.approx(v, rel=1e-6), k
    np.testing.assert_allclose(gitreg.load("reg", registry=registry).predict(x), pred, rtol=1e-5)


# -- what push returns ------------------------------------------------------------------------------------
def test_push_returns_the_version_with_its_sidecar_as_show_reads_it(registry: Registry, tmp_path: Path) -> None:
    model, _, _ = iris()
    mv = gitreg.push(skl_onnx(model, 4, tmp_path / "m.onnx"), "iris", metrics={"acc": 0.97}, registry=registry)
    shown = registry.show(mv.ref)
    assert mv.sidecar is not None and mv.sidecar == shown.sidecar
    assert (mv.created, mv.commit, mv.tag) == (shown.created, shown.commit, shown.tag)
    assert mv.sidecar.metrics == {"acc": 0.97} and mv.sidecar.parity["passed"] is True
    loaded = gitreg.load(mv.ref, registry=registry)
    assert loaded.version == "1.0.0" and loaded.model_version.ref == "iris@v1.0.0"
    assert registry.push_files([tmp_path / "m.onnx"], "iris").sidecar == registry.show("iris@v1.0.1").sidecar


# -- the gate rule parity.passed, and a file that fails its self-check -------------------------------------
def batch_dependent(path: Path, n_in: int = 4) -> Path:
    """``y = x - mean(x over the batch)``: fine on any one batch, wrong as a model (a batch statistic,
    like BatchNorm exported in training mode). The whole batch and its slices disagree."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["x"], ["m"], axes=[0], keepdims=1),
            helper.make_node("Sub", ["x", "m"], ["y"]),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", n_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n_in])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def wrong_width(path: Path) -> Path:
    """Declares 3 output columns, computes 4."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 4), dtype=np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_gate_parity_passed_holds_for_pushed_files(registry_path: Path, tmp_path: Path) -> None:
    model, x, y = iris()
    np.savez(tmp_path / "holdout.npz", X=x, y=y)
    configure(
        registry_path,
        tmp_path,
        f'\n[gates.production]\ndata = "{tmp_path / "holdout.npz"}"\n'
        'rules = ["parity.passed", "eval.accuracy >= 0.9", "eval.log_loss <= 0.2"]\n',
    )
    assert (
        push_cli(str(skl_onnx(model, 4, tmp_path / "m.onnx")), "--name", "iris", registry_path=registry_path).exit_code
        == 0
    )
    p = invoke("gate", "iris@v1.0.0", "--stage", "production", "--json", "--registry", str(registry_path))
    assert p.exit_code == 0, p.stdout + p.stderr
    assert json.loads(p.stdout)["passed"] is True

    p = push_cli(
        str(batch_dependent(tmp_path / "bad.onnx")),
        "--name",
        "iris",
        "--allow-parity-failure",
        registry_path=registry_path,
    )
    assert p.exit_code == 0, p.stderr
    assert Registry(registry_path).show("iris@v1.0.1").sidecar.parity["passed"] is False
    p = invoke("gate", "iris@v1.0.1", "--stage", "production", "--registry", str(registry_path))
    assert p.exit_code == 3 and "parity.passed" in p.stdout


@pytest.mark.parametrize("broken", [batch_dependent, wrong_width])
def test_a_file_failing_its_self_check_is_refused_and_nothing_is_written(
    broken: Any, registry_path: Path, tmp_path: Path
) -> None:
    f = broken(tmp_path / "broken.onnx")
    before, objects = refs(registry_path), lfs_objects(registry_path)
    p = push_cli(str(f), "--name", "broken", registry_path=registry_path)
    assert p.exit_code == 3, p.stderr
    line = one_error_line(p.stderr)
    assert "parity failed" in line and line.endswith("nothing was pushed")
    if broken is batch_dependent:
        assert "onnxruntime_sliced vs onnxruntime: worst element" in line
    else:
        assert "does not match the signature ['N', 3]" in line
    assert "--allow-parity-failure" in p.stderr  # the hint
    assert refs(registry_path) == before and lfs_objects(registry_path) == objects
    with pytest.raises(ParityFailed):
        gitreg.push(f, "broken", registry=Registry(registry_path))
    assert refs(registry_path) == before


# -- --task, --classes, --output, --example-inputs -------------------------------------------------------
def head(path: Path, softmax: bool, extra_output: bool = False) -> tuple[Path, np.ndarray]:
    """A single-output head ``x @ W`` (logits), or its softmax; optionally an embedding output first."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "W"], ["z" if softmax else "logits"])]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["z"], ["logits"], axis=1))
    outs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])]
    if extra_output:
        nodes.append(helper.make_node("Relu", ["x"], ["embedding"]))
        outs.insert(0, helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", 4]))
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        outs,
        [numpy_helper.from_array(w, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path, w


def np_softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_task_classes_and_example_inputs_from_the_command_line(registry_path: Path, tmp_path: Path) -> None:
    x = np.random.default_rng(2).normal(size=(40, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "classes.txt").write_text("cat\ndog\nbird\n")
    f, w = head(tmp_path / "soft.onnx", softmax=True)
    p = push_cli(
        str(f),
        "--name",
        "soft",
        "--task",
        "classification",
        "--classes",
        f"@{tmp_path / 'classes.txt'}",
        "--example-inputs",
        str(tmp_path / "x.npy"),
        registry_path=registry_path,
    )
    assert p.exit_code == 0, p.stderr
    sc = Registry(registry_path).show("soft").sidecar
    assert sc.signature["task"] == "classification" and sc.signature["classes"] == ["cat", "dog", "bird"]
    assert sc.signature["output"] == "probabilities"  # decided from what the model gave: rows sum to 1
    assert sc.parity["samples"] == len(x) and sc.parity["passed"]
    loaded = gitreg.load("soft", registry=Registry(registry_path))
    np.testing.assert_allclose(loaded.predict_proba(x), np_softmax(x @ w), atol=1e-6)  # not softmax twice
    assert list(loaded.predict(x)) == list(np.array(["cat", "dog", "bird"])[(x @ w).argmax(axis=1)])

    f, w = head(tmp_path / "logits.onnx", softmax=False)
    p = push_cli(
        str(f), "--name", "logits", "--task", "classification", "--classes", "0,1,2", registry_path=registry_path
    )
    assert p.exit_code == 0, p.stderr
    sc = Registry(registry_path).show("logits").sidecar
    assert sc.signature["output"] == "logits" and sc.signature["classes"] == [0, 1, 2]
    assert sc.parity["samples"] == 257  # seeded random rows shaped by the signature
    loaded = gitreg.load("logits", registry=Registry(registry_path))
    np.testing.assert_allclose(loaded.predict_proba(x), np_softmax(x @ w), atol=1e-6)

    # Without --task the file says nothing certain: no task is made up.
    assert push_cli(str(f), "--name", "plain", registry_path=registry_path).exit_code == 0
    assert "task" not in Registry(registry_path).show("plain").sidecar.signature


def test_output_names_the_prediction_among_several(registry_path: Path, tmp_path: Path) -> None:
    x = np.random.default_rng(3).normal(size=(30, 4)).astype(np.float32)
    f, w = head(tmp_path / "two.onnx", softmax=False, extra_output=True)
    p = push_cli(str(f), "--name", "two", "--task", "classification", "--output", "logits", registry_path=registry_path)
    assert p.exit_code == 0, p.stderr
    sig = Registry(registry_path).show("two").sidecar.signature
    assert sig["prediction_output"] == "logits" and sig["output"] == "logits"
    loaded = gitreg.load("two", registry=Registry(registry_path))
    assert np.array_equal(loaded.predict(x), (x @ w).argmax(axis=1))  # the first output is the embedding
    _, ev = api.evaluate("two", (x, (x @ w).argmax(axis=1)), registry=Registry(registry_path))
    assert ev.metrics["accuracy"] == 1.0

    model, _, _ = iris()
    zm = skl_onnx(model, 4, tmp_path / "zm.onnx")
    cases = [
        (["--output", "nope"], "the model has no output of that name (it has: embedding, logits)", f),
        (["--output", "logits", "--classes", "a,b"], "2 classes for an output with 3 columns (logits)", f),
        (["--task", "classification", "--classes", "a,b,c"], "carries its own labels (0,1,2)", zm),
        (["--task", "regression", "--classes", "a,b,c"], "--classes is for classifiers", f),
    ]
    before = refs(registry_path)
    for args, message, path in cases:
        p = push_cli(str(path), "--name", "bad", *args, registry_path=registry_path)
        assert p.exit_code == 2, (args, p.stderr)
        assert message in one_error_line(p.stderr), (args, p.stderr)
    np.save(tmp_path / "x3.npy", x[:, :3])
    p = push_cli(str(f), "--name", "bad", "--example-inputs", str(tmp_path / "x3.npy"), registry_path=registry_path)
    assert p.exit_code == 1 and "has 3 features; the model takes 4" in one_error_line(p.stderr)
    assert refs(registry_path) == before


# -- --from-python returning a bare model ------------------------------------------------------------------
def test_from_python_bare_sklearn_model_with_data(registry_path: Path, tmp_path: Path) -> None:
    _, x, y = iris()
    np.savez(tmp_path / "iris.npz", X=x, y=y)
    (tmp_path / "train.py").write_text(
        "from sklearn.datasets import load_iris\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "def main():\n"
        "    x, y = load_iris(return_X_y=True)\n"
        "    return LogisticRegression(max_iter=1000).fit(x, y)\n"
    )
    train = f"{tmp_path / 'train.py'}:main"
    p = push_cli("--from-python", train, "--name", "iris", registry_path=registry_path)
    assert p.exit_code == 2
    assert (
        "returned a scikit-learn model and nothing gives example inputs: pass --example-inputs FILE"
        in one_error_line(p.stderr)
    )
    p = push_cli(
        "--from-python", train, "--name", "iris", "--data", str(tmp_path / "iris.npz"), registry_path=registry_path
    )
    assert p.exit_code == 0, p.stderr
    sc = Registry(registry_path).show("iris").sidecar
    assert sc.parity["passed"] and sc.parity["samples"] == 16 + len(x)  # X[:16] as examples, then every eval row
    assert sc.lineage["data"][0]["rows"] == len(x)
    np.save(tmp_path / "ex.npy", x[:5])
    p = push_cli(
        "--from-python",
        train,
        "--name",
        "iris",
        "--example-inputs",
        str(tmp_path / "ex.npy"),
        registry_path=registry_path,
    )
    assert p.exit_code == 0, p.stderr
    assert Registry(registry_path).show("iris@v1.0.1").sidecar.parity["samples"] == 5


# -- torch: a TorchScript + ONNX pair, and a bare module from --from-python ---------------------------------
@pytest.fixture(scope="module")
def torch_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    from gitreg.ml import export
    from tests.support import models

    mlp = models.mlp()
    out = tmp_path_factory.mktemp("pair")
    x, _ = models.digits()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export.export(mlp, out, x[:2])
    return mlp, out


@pytest.mark.slow  # a torch export (dynamo ONNX exporter)
def test_pushed_torchscript_and_onnx_pair_records_torchscript_vs_onnx(torch_pair: Any, registry_path: Path) -> None:
    import torch

    from tests.support import models

    mlp, out = torch_pair
    x, y = models.digits()
    p = push_cli(
        str(out / "model.onnx"),
        str(out / "model.pt"),
        "--name",
        "digits",
        "--task",
        "classification",
        "--classes",
        ",".join(map(str, range(10))),
        registry_path=registry_path,
    )
    assert p.exit_code == 0, p.stderr
    sc = Registry(registry_path).show("digits").sidecar
    assert set(sc.artifacts) == {"onnx", "torchscript"}
    pair = sc.parity["onnxruntime_vs_torchscript"]
    assert pair["passed"] and pair["samples"] == 257 and pair["max_abs_error"] < 1e-4
    assert sc.signature["output"] == "logits" and sc.signature["classes"] == list(range(10))

    with torch.no_grad():
        proba = torch.softmax(mlp.eval()(torch.from_numpy(x)).double(), dim=1).numpy()
    _, ev = api.evaluate("digits", (x, y), registry=Registry(registry_path))
    want = sklearn_classification(y, proba.argmax(axis=1), proba, np.arange(10))
    for k, v in want.items():
        assert abs(ev.metrics[k] - v) <= 1e-5, (k, ev.metrics[k], v)  # float32 under onnxruntime vs eager torch
    for k in CLASSIFICATION:
        assert ev.metrics[k] == pytest.approx(want[k], abs=1e-12), k  # the same labels

    # The pair from a registry that was pushed without checking: `gitreg parity` runs the same code.
    _, report = gitreg.check_parity("digits", registry=Registry(registry_path))
    assert report.passed and [p.key for p in report.pairs] == ["onnxruntime_vs_torchscript"]


@pytest.mark.slow  # a torch export (dynamo ONNX exporter)
def test_from_python_bare_torch_module_with_example_inputs(registry_path: Path, tmp_path: Path) -> None:
    from tests.support import models

    x, _ = models.digits()
    np.save(tmp_path / "x.npy", x[:8])
    (tmp_path / "train.py").write_text(
        "from tests.support import models\n\ndef main():\n    return models.mlp(steps=5)\n"
    )
    train = f"{tmp_path / 'train.py'}:main"
    p = push_cli("--from-python", train, "--name", "mlp", registry_path=registry_path)
    assert p.exit_code == 2 and "returned a torch model and nothing gives example inputs" in one_error_line(p.stderr)
    p = push_cli(
        "--from-python",
        train,
        "--name",
        "mlp",
        "--example-inputs",
        str(tmp_path / "x.npy"),
        "--classes",
        ",".join(map(str, range(10))),
        registry_path=registry_path,
    )
    assert p.exit_code == 0, p.stderr
    sc = Registry(registry_path).show("mlp").sidecar
    assert sc.parity["passed"] and sc.parity["samples"] == 8 and sc.signature["classes"] == list(range(10))
