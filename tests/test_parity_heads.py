"""Parity of every named output of a multi-output torch model, not only the prediction: each other
output compared on the whole batch at its own scale, recorded per pair in [parity], and a wrong
auxiliary head refused at push with the output named. Real torch, onnxruntime and git registries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomllib

import gitreg
from gitreg import Registry
from gitreg.errors import ParityFailed
from gitreg.ml import heads, parity, runtime
from tests.support.repo import git

ROWS = np.random.default_rng(0).standard_normal((40, 6)).astype(np.float32)


def _runner(aux_shift: float = 0.0, calls: list[str] | None = None, tag: str = "") -> Any:
    """A fake runtime with two outputs: ``logits`` (the prediction) and a small ``aux.score`` head."""

    def every(x: np.ndarray) -> list[np.ndarray]:
        if calls is not None:
            calls.append(tag)
        logits = np.stack([x.sum(1), -x.sum(1), x[:, 0]], axis=1) * 10  # RMS ~ 20
        aux = x[:, :2] * 1e-3 + aux_shift  # RMS ~ 1e-3: drowned in the logits' scale if judged together
        return [logits, aux]

    return heads.split(every, ["logits", "aux.score"], "logits")


def test_every_output_is_compared_at_its_own_scale_on_the_whole_batch() -> None:
    calls: list[str] = []
    runners = {
        "eager": _runner(calls=calls, tag="eager"),
        "onnxruntime": _runner(calls=calls, tag="ort"),
        "onnxruntime_sliced": parity.sliced(_runner(calls=calls, tag="sliced"), 4, 8),
    }
    report = parity.run_parity(runners, "eager", (ROWS,), None, None, classifier=True)
    assert report.passed, report.message()
    ort, sliced = (p for p in report.pairs)
    assert [o.output for o in ort.outputs] == ["aux.score"] and ort.outputs[0].scale < 1e-2
    assert sliced.outputs == ()  # the sliced runs compare the prediction alone
    assert calls.count("eager") == 1 and calls.count("ort") == 1  # the whole batch once, every output
    section = report.to_section()
    assert section["onnxruntime_vs_eager"]["outputs"]["aux.score"] == {
        "scale": pytest.approx(ort.outputs[0].scale),
        "max_abs_error": 0.0,
        "scale_error": 0.0,
        "max_rel_error": 0.0,
        "passed": True,
    }
    assert "outputs" not in section["onnxruntime_sliced_vs_eager"]
    assert ort.scale == pytest.approx(float(np.sqrt(np.mean(np.square(runners["eager"](ROWS))))))  # logits alone


def test_a_wrong_small_head_fails_the_pair_and_names_the_output() -> None:
    runners = {"eager": _runner(), "onnxruntime": _runner(aux_shift=1e-5)}  # 1e-5 is ~1e-2 of the head's scale
    report = parity.run_parity(runners, "eager", (ROWS,), None, None, classifier=True)
    assert not report.passed
    (pair,) = report.pairs
    assert pair.prediction_passed is True and not pair.passed
    msg = report.message()
    assert "onnxruntime vs eager, output 'aux.score': worst element" in msg
    assert msg.count("worst element") == 1 and "of the output's scale" in msg  # not the prediction's, which passed
    assert report.to_section()["onnxruntime_vs_eager"]["passed"] is False
    assert report.to_section()["onnxruntime_vs_eager"]["outputs"]["aux.score"]["passed"] is False

    # judged together with the logits (one concatenated output, as before) the error would have passed
    def joined(run: Any) -> np.ndarray:
        marked = runtime.heads_of(run)
        assert marked is not None
        return np.concatenate(list(marked[0](ROWS).values()), axis=1)

    assert parity.compare("onnxruntime", joined(_runner(aux_shift=1e-5)), "eager", joined(_runner())).passed


def test_a_single_output_runner_is_unmarked() -> None:
    run = heads.split(lambda x: [x * 2], ["output"], "output")
    assert runtime.heads_of(run) is None and np.array_equal(run(ROWS), ROWS * 2)
    pair = parity.run_parity({"a": run, "b": run}, "a", (ROWS,), None, None, False).pairs[0]
    assert pair.outputs == () and "outputs" not in pair.to_dict()


# -- end to end, with real exports ------------------------------------------------------------------
def _heads_model(broken: bool) -> Any:
    import torch

    class Heads(torch.nn.Module):
        """A dict of two heads; ``broken``: the auxiliary head exports to ONNX as another function."""

        def __init__(self) -> None:
            super().__init__()
            self.body = torch.nn.Linear(6, 8)
            self.cls = torch.nn.Linear(8, 4)
            self.aux = torch.nn.Linear(8, 2)

        def forward(self, x):
            h = torch.relu(self.body(x))
            aux = torch.tanh(self.aux(h))
            if broken and torch.onnx.is_in_onnx_export():
                aux = torch.sigmoid(self.aux(h))  # a wrong operator in the ONNX graph only
            return {"logits": self.cls(h), "aux.score": aux}

    torch.manual_seed(3)
    return Heads()


def _sidecar_text(registry_path: Path, ref: str) -> str:
    return git("--git-dir", str(registry_path), "show", f"{ref}:models/heads/model.toml")  # plain git


@pytest.mark.slow
def test_two_heads_pass_and_record_each_output(registry_path: Path) -> None:
    x = np.random.default_rng(1).standard_normal((30, 6)).astype(np.float32)
    y = np.arange(30) % 4
    mv = gitreg.push(_heads_model(False), "heads", example_inputs=x[:2], eval_data=(x, y), registry=registry_path)
    toml = _sidecar_text(registry_path, mv.ref)
    sidecar = tomllib.loads(toml)
    p = sidecar["parity"]
    assert p["passed"] is True and sidecar["signature"]["prediction_output"] == "logits"
    for pair in ("onnxruntime_vs_eager", "torchscript_vs_eager"):
        aux = p[pair]["outputs"]["aux.score"]
        assert aux["passed"] is True and 0 < aux["scale"] < 1 and aux["scale_error"] < 1e-4
        assert set(p[pair]["outputs"]) == {"aux.score"}  # the prediction is the pair's own figures
    assert "outputs" not in p["onnxruntime_sliced_vs_eager"]
    assert '[parity.onnxruntime_vs_eager.outputs."aux.score"]' in toml


@pytest.mark.slow
def test_a_wrong_auxiliary_head_is_refused_and_nothing_is_pushed(registry_path: Path) -> None:
    reg = Registry(registry_path)
    x = np.random.default_rng(1).standard_normal((30, 6)).astype(np.float32)
    with pytest.raises(ParityFailed) as e:
        gitreg.push(_heads_model(True), "heads", example_inputs=x[:2], registry=registry_path)
    msg = e.value.message
    assert "onnxruntime vs eager, output 'aux.score'" in msg and "nothing was pushed" in msg
    assert "torchscript vs eager" not in msg and "\n" not in msg  # TorchScript was traced outside the export
    assert e.value.exit_code == 3 and reg.list() == []
    if registry_path.exists():
        assert git("--git-dir", str(registry_path), "tag", "--list") == ""
