"""Parity that fits the model: a zoo of deep standard shapes (tests/support/zoo.py) at push.

Every correct export passes with margin under the default criterion (max error <= 1e-4 x each output's
scale, labels equal, single rows and slices of 7 as well as the whole batch); every broken one fails
with exit code 3 and nothing written. The measured figures are in the README ("Parity") and come
from ``benchmarks/bench_parity.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import gitreg
from gitreg import Registry
from gitreg.errors import ParityFailed
from tests.support import models, zoo
from tests.support.cli import run_cli
from tests.support.repo import git

pytest.importorskip("torch")
ROWS = 24


def _refs(path: Path) -> str:
    return git("--git-dir", str(path), "for-each-ref", "--format=%(refname) %(objectname)")


def _mlp() -> tuple[object, np.ndarray]:
    return models.mlp(), models.digits()[0][:ROWS]


CORRECT = {
    "resnet16": pytest.param(lambda: (zoo.resnet(), zoo.images(ROWS)), marks=pytest.mark.slow),
    "mobilenet": pytest.param(lambda: (zoo.mobilenet(), zoo.images(ROWS)), marks=pytest.mark.slow),
    "mobilenet_logits_1e-9": pytest.param(lambda: (zoo.mobilenet(out_scale=1e-9), zoo.images(ROWS))),
    "encoder": pytest.param(lambda: (zoo.encoder(), zoo.series(ROWS, features=64)), marks=pytest.mark.slow),
    "lstm": pytest.param(lambda: (zoo.lstm(), zoo.series(ROWS))),
    "digits_mlp": pytest.param(_mlp),
}


@pytest.mark.parametrize("make", list(CORRECT.values()), ids=list(CORRECT))
def test_correct_exports_pass_with_margin(make, registry: Registry) -> None:
    model, x = make()
    mv = gitreg.push(model, "zoo", example_inputs=x[:2], eval_data=x, registry=registry)
    par = registry.show(mv.ref).sidecar.parity
    assert par["passed"] is True and par["criterion"] == "scale" and par["tolerance"] == 1e-4
    assert par["samples"] == ROWS + 2
    pairs = {k: v for k, v in par.items() if k.endswith("_vs_eager")}
    assert set(pairs) == {
        f"{rt}_vs_eager"
        for rt in ("torchscript", "onnxruntime", "eager_sliced", "torchscript_sliced", "onnxruntime_sliced")
    }
    for key, p in pairs.items():
        # Measured <= 1.3e-6 on the zoo (a ResNet-50-sized stack at 224x224 included): >= 10x below 1e-4.
        assert p["scale_error"] <= 1e-5, (key, p)
        assert p["scale"] > 0 and p["argmax_agreement"] == 1.0 and p["label_flips"] == 0


BROKEN_MODELS = {
    # reshape(4, -1): the example's batch size baked in; single rows (and the eval rows) cannot run
    "baked_batch": pytest.param(lambda: (zoo.baked_resnet(), zoo.images(4), None)),
    # `if x.shape[0] > 1` frozen by tracing: eager on one row takes the other path (1% off)
    "traced_branch": pytest.param(lambda: (zoo.traced_branch(), zoo.images(ROWS)[:2], zoo.images(ROWS))),
    # a mean over the batch: every batch size gives other answers
    "batch_statistic": pytest.param(lambda: (zoo.batch_stat(), zoo.series(ROWS)[:2, 0], zoo.series(ROWS)[:, 0])),
}


@pytest.mark.parametrize("make", list(BROKEN_MODELS.values()), ids=list(BROKEN_MODELS))
def test_batch_dependent_models_fail_at_push(make, registry: Registry, registry_path: Path) -> None:
    model, example, rows = make()
    before = _refs(registry_path)
    with pytest.raises(ParityFailed) as e:
        gitreg.push(model, "broken", example_inputs=example, eval_data=rows, registry=registry)
    assert e.value.exit_code == 3 and "nothing was pushed" in e.value.message
    assert "_sliced" in e.value.message  # single rows and slices are what catch it
    assert _refs(registry_path) == before


def _exported(model, x: np.ndarray, out: Path, edit) -> list[Path]:
    from gitreg.ml import export

    out.mkdir()
    export.export(model, out, x[:2])
    edit(out / "model.onnx", out / "broken.onnx")
    (out / "broken.onnx").replace(out / "model.onnx")
    return [out / "model.onnx", out / "model.pt"]


BROKEN_FILES = {
    # the first Relu as a LeakyRelu(0.01) in a 4-block bottleneck stack: 2.5e-4 of the scale
    "wrong_operator_resnet": pytest.param(
        lambda: (zoo.resnet(blocks=4, width=8), zoo.images(ROWS), zoo.wrong_operator)
    ),
    # the same in a 4-layer transformer encoder: 4e-3 of the scale
    "wrong_operator_encoder": pytest.param(
        lambda: (zoo.encoder(), zoo.series(ROWS, features=64), zoo.wrong_operator), marks=pytest.mark.slow
    ),
    # logits of ~1e-9, all 1% off: an absolute tolerance (atol 1e-5) lets it through
    "wrong_constant_tiny_logits": pytest.param(
        lambda: (zoo.mobilenet(out_scale=1e-9), zoo.images(ROWS), lambda a, b: zoo.scaled_output(a, b, 1.01))
    ),
}


@pytest.mark.parametrize("make", list(BROKEN_FILES.values()), ids=list(BROKEN_FILES))
def test_broken_files_fail_at_push_with_exit_3(make, registry_path: Path, tmp_path: Path) -> None:
    model, x, edit = make()
    files = _exported(model, x, tmp_path / "exp", edit)
    np.save(tmp_path / "rows.npy", x)
    before = _refs(registry_path)
    p = run_cli(
        "push", *map(str, files), "--name", "broken", "--example-inputs", str(tmp_path / "rows.npy"),
        "--registry", str(registry_path),
    )  # fmt: skip
    assert p.returncode == 3, p.stderr
    assert "onnxruntime vs torchscript" in p.stderr and "of the output's scale" in p.stderr
    assert _refs(registry_path) == before


def test_explicit_rtol_atol_in_gitreg_toml_still_govern(registry_path: Path, tmp_path: Path) -> None:
    """A registry that sets [parity] rtol/atol keeps the elementwise rule: the 1% error on ~1e-9 logits
    passes there (what the absolute term allows), and is refused under the default criterion."""
    model, x = zoo.mobilenet(out_scale=1e-9), zoo.images(ROWS)
    files = _exported(model, x, tmp_path / "exp", lambda a, b: zoo.scaled_output(a, b, 1.01))
    with pytest.raises(ParityFailed):
        gitreg.push(files, "tiny", example_inputs=x, registry=registry_path)
    assert run_cli("config", "set", "parity.rtol", "1e-4", "--registry", str(registry_path)).returncode == 0
    assert run_cli("config", "set", "parity.atol", "1e-5", "--registry", str(registry_path)).returncode == 0
    reg = Registry(registry_path)
    assert (reg.config().rtol, reg.config().atol) == (1e-4, 1e-5)
    mv = gitreg.push(files, "tiny", example_inputs=x, registry=reg)
    par = reg.show(mv.ref).sidecar.parity
    assert par["passed"] is True and par["criterion"] == "elementwise" and (par["rtol"], par["atol"]) == (1e-4, 1e-5)
    assert par["onnxruntime_vs_torchscript"]["scale_error"] > 1e-2  # recorded anyway: 1% of max|b|, ~2% of RMS
