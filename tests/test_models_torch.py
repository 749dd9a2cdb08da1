"""torch models beyond one matrix in, one tensor out: several named inputs, dict/tuple/ModelOutput
outputs, dynamic axes beyond the batch, a baked batch, a data-dependent branch. Real torch 2.13,
onnxruntime, registries and CLI; tiny models from tests/support/zoo.py, nothing downloaded."""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import gitreg
from gitreg import Registry, api
from gitreg.errors import ExportError, InputError, ParityFailed
from tests.support import zoo
from tests.support.cli import invoke, one_error_line

pytestmark = pytest.mark.slow  # the dynamo ONNX exporter takes seconds per model


def _cli(*args: str, code: int = 0) -> str:
    r = invoke(*args, catch_exceptions=True)
    assert r.exit_code == code, (args, r.exit_code, r.stdout, r.stderr)
    return r.stdout if code == 0 else one_error_line(r.stderr)


def test_multi_input_dict_output_end_to_end(registry_path: Path, tmp_path: Path) -> None:
    model = zoo.multi_input()
    batch = zoo.text_batch(12, 5)
    y = np.arange(12) % 3
    xs = (batch["input_ids"], batch["attention_mask"], batch["features"])
    mv = gitreg.push(
        model,
        "multi",
        example_inputs=zoo.text_batch(2, 5, seed=1),  # a dict: its keys name the inputs
        eval_data=(xs, y),  # X as a tuple, one array per input
        registry=registry_path,
    )
    r = str(registry_path)
    sig = json.loads(_cli("show", mv.ref, "--registry", r, "--json"))["sidecar"]["signature"]
    ins = {i["name"]: i for i in sig["inputs"]}
    assert list(ins) == ["input_ids", "attention_mask", "features"]
    assert ins["input_ids"]["dtype"] == "int64" and ins["features"]["shape"] == ["N", 3]
    seq = ins["input_ids"]["shape"][1]
    assert isinstance(seq, str) and ins["attention_mask"]["shape"] == ["N", seq]  # one symbol, shared
    assert [o["name"] for o in sig["outputs"]] == ["logits", "probabilities"]
    assert sig["prediction_output"] == "logits" and sig["output"] == "logits"
    assert registry_path.exists() and Registry(registry_path).show(mv.ref).sidecar.parity["passed"]

    want = zoo.eager(model, *xs)["logits"].numpy().argmax(1)
    p = gitreg.load(mv.ref, registry=registry_path)
    assert (p.predict(*xs) == want).all() and (p.predict(xs) == want).all() and (p.predict(batch) == want).all()
    longer = zoo.text_batch(4, 9, seed=2)  # another sequence length: the axis is dynamic
    assert (p.predict(longer) == zoo.eager(model, **longer)["logits"].numpy().argmax(1)).all()
    with pytest.raises(InputError, match=r"input 'attention_mask' has 5 on axis 1 .* 'input_ids' has 9"):
        p.predict({**longer, "attention_mask": batch["attention_mask"][:4]})
    with pytest.raises(InputError, match=r"no data for input.*'features'"):
        p.predict({"input_ids": longer["input_ids"], "attention_mask": longer["attention_mask"]})

    np.savez(tmp_path / "d.npz", **batch, y=y)  # one array per input name, plus y
    np.savez(tmp_path / "x.npz", **batch)
    out = _cli("predict", mv.ref, "--data", str(tmp_path / "x.npz"), "--registry", r, "--json")
    assert json.loads(out)["predictions"] == want.tolist() if out.startswith("{") else json.loads(out) == want.tolist()
    assert "passed" in _cli("parity", mv.ref, "--data", str(tmp_path / "x.npz"), "--registry", r)
    assert "passed" in _cli("parity", mv.ref, "--registry", r)  # random inputs shaped by the signature
    ev = json.loads(_cli("eval", mv.ref, "--data", str(tmp_path / "d.npz"), "--registry", r, "--json"))
    assert ev["samples"] == 12 and ev["metrics"]["accuracy"] == float((want == y).mean())
    _, evaluation = api.evaluate(mv.ref, (batch, y), registry=registry_path)  # X as a dict
    _cli("dataset", "push", str(tmp_path / "d.npz"), "--name", "multi-holdout", "--registry", r)  # what gates use
    on_dataset = _cli("eval", mv.ref, "--data", "datasets/multi-holdout.npz", "--registry", r, "--json")
    assert json.loads(on_dataset)["metrics"]["accuracy"] == ev["metrics"]["accuracy"]
    _cli("config", "set", "gates.production.data", "datasets/multi-holdout.npz", "--registry", r)
    _cli("config", "set", "gates.production.rules", '["parity.passed", "eval.accuracy >= 0"]', "--registry", r)
    assert _cli("gate", mv.ref, "--stage", "production", "--registry", r).rstrip().endswith(": passed")
    assert evaluation.metrics["accuracy"] == ev["metrics"]["accuracy"]
    mv2 = gitreg.push(model, "multi", example_inputs=batch, registry=registry_path)  # a second version to compare
    page = tmp_path / "compare.html"
    _cli("report", mv.ref, mv2.ref, "--data", str(tmp_path / "d.npz"), "-o", str(page), "--registry", r)
    assert page.stat().st_size > 0
    _cli("pull", mv.ref, "-o", str(tmp_path / "pulled"), "--registry", r)
    assert (tmp_path / "pulled" / "model.onnx").is_file() and (tmp_path / "pulled" / "model.pt").is_file()
    ts = gitreg.load(mv.ref, runtime="torchscript", registry=registry_path)
    with torch.no_grad():
        got = ts(*(torch.from_numpy(x) for x in xs))
    assert np.allclose(got[0].numpy(), zoo.eager(model, *xs)["logits"].numpy(), atol=1e-5)
    ts_pred = api.predict(mv.ref, batch, runtime="torchscript", registry=registry_path)
    assert (ts_pred == want).all()


def test_tuple_output_named_with_a_chosen_prediction(registry: Registry, tmp_path: Path) -> None:
    model = zoo.two_heads()
    x = np.random.default_rng(0).standard_normal((10, 6)).astype(np.float32)
    mv = gitreg.push(
        model,
        "heads",
        example_inputs=x[:2],
        output_names=["embedding", "logits"],
        prediction_output="logits",
        eval_data=(x, np.arange(10) % 4),
        registry=registry,
    )
    sig = registry.show(mv.ref).sidecar.signature
    assert [o["name"] for o in sig["outputs"]] == ["embedding", "logits"] and sig["prediction_output"] == "logits"
    assert sig["task"] == "classification"
    emb, logits = (t.numpy() for t in zoo.eager(model, x))
    p = gitreg.load(mv.ref, registry=registry)
    assert (p.predict(x) == logits.argmax(1)).all()
    assert np.allclose(p.run(x)["embedding"], emb, atol=1e-5)
    with pytest.raises(InputError, match="prediction_output='nope'"):
        gitreg.push(model, "heads", example_inputs=x[:2], prediction_output="nope", registry=registry)


def test_sequence_axis_declared_and_a_fixed_axis_refused_in_one_line(registry_path: Path, tmp_path: Path) -> None:
    model = zoo.sequence()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 7, 4)).astype(np.float32)
    y = rng.standard_normal(6).astype(np.float32)
    mv = gitreg.push(
        model, "seq", example_inputs=x[:2], eval_data=(x, y), dynamic={"input": {1: "T"}}, registry=registry_path
    )
    sig = Registry(registry_path).show(mv.ref).sidecar.signature
    assert sig["inputs"][0]["shape"] == ["N", "T", 4] and sig["task"] == "regression"
    p = gitreg.load(mv.ref, registry=registry_path)
    for t in (3, 11):
        xt = rng.standard_normal((5, t, 4)).astype(np.float32)
        assert np.allclose(p.predict(xt), zoo.eager(model, xt).numpy().reshape(-1), atol=1e-5)
    with pytest.raises(InputError, match=r"X has 5 entries on axis 2; the model takes 4"):
        p.predict(rng.standard_normal((2, 7, 5)).astype(np.float32))
    np.save(tmp_path / "bad.npy", rng.standard_normal((2, 7, 5)).astype(np.float32))
    line = _cli("predict", mv.ref, "--data", str(tmp_path / "bad.npy"), "--registry", str(registry_path), code=1)
    assert "entries on axis 2" in line and "features" not in line
    np.savez(tmp_path / "d.npz", X=rng.standard_normal((4, 9, 4)).astype(np.float32), y=np.zeros(4))
    ev = json.loads(_cli("eval", mv.ref, "--data", str(tmp_path / "d.npz"), "--registry", str(registry_path), "--json"))
    assert ev["samples"] == 4 and "rmse" in ev["metrics"]
    # inferred, not declared: the time axis stays dynamic, the channel axis is pinned
    mv2 = gitreg.push(model, "seq2", example_inputs=x[:2], registry=registry_path)
    shape = Registry(registry_path).show(mv2.ref).sidecar.signature["inputs"][0]["shape"]
    assert shape[0] == "N" and isinstance(shape[1], str) and shape[2] == 4


def test_baked_batch_is_a_one_line_input_error(registry_path: Path, tmp_path: Path) -> None:
    model = torch.nn.Linear(4, 2).eval()
    path = tmp_path / "fixed.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(2, 4),), str(path), dynamo=True, input_names=["x"])  # a baked batch of 2
    mv = gitreg.push(str(path), "fixed", allow_parity_failure=True, registry=registry_path)
    assert Registry(registry_path).show(mv.ref).sidecar.signature["inputs"][0]["shape"] == [2, 4]
    p = gitreg.load(mv.ref, registry=registry_path)
    assert p.predict(np.ones((2, 4), dtype=np.float32)).shape == (2, 2)
    with pytest.raises(InputError, match="has 5 rows; the model was exported with a fixed batch of 2"):
        p.predict(np.ones((5, 4), dtype=np.float32))
    np.save(tmp_path / "x.npy", np.ones((5, 4), dtype=np.float32))
    line = _cli("predict", mv.ref, "--data", str(tmp_path / "x.npy"), "--registry", str(registry_path), code=1)
    assert "fixed batch of 2" in line and "internal error" not in line

    x = np.ones((6, 4), dtype=np.float32)  # a torch model that bakes its example's batch in: refused at push
    with pytest.raises(ParityFailed, match="onnxruntime failed"):
        gitreg.push(
            zoo.baked_batch(), "baked", example_inputs=x[:2], eval_data=(x, np.zeros(6)), registry=registry_path
        )
    with pytest.raises(ParityFailed, match="eager_sliced failed"):  # single rows catch it without eval rows
        gitreg.push(zoo.baked_batch(), "baked", example_inputs=x[:2], registry=registry_path)
    mv = gitreg.push(
        zoo.baked_batch(), "baked", example_inputs=x[:2], registry=registry_path, allow_parity_failure=True
    )
    assert Registry(registry_path).show(mv.ref).sidecar.signature["inputs"][0]["shape"] == [2, 4]
    with pytest.raises(InputError, match="X has 6 rows; the model was exported with a fixed batch of 2"):
        gitreg.load(mv.ref, registry=registry_path).predict(x)


def test_data_dependent_branch_names_the_line_and_what_to_do(registry: Registry) -> None:
    with pytest.raises(ExportError) as e:
        gitreg.push(zoo.branchy(), "branchy", example_inputs=np.ones((2, 3), dtype=np.float32), registry=registry)
    msg = e.value.message
    assert "branches on the values of a tensor" in msg and "zoo.py" in msg and "if x.sum() > 0" in msg
    assert "torch.cond" in msg and "script=True" in msg and "nothing was pushed" in msg
    assert "\n" not in msg
    assert registry.list_models() == [] if hasattr(registry, "list_models") else True


@pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="transformers is not installed")
def test_tiny_bert_model_output(registry_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = zoo.tiny_bert()
    ex = zoo.text_batch(2, 6)
    del ex["features"]
    mv = gitreg.push(model, "bert", example_inputs=ex, registry=registry_path)
    sig = Registry(registry_path).show(mv.ref).sidecar.signature
    assert [i["name"] for i in sig["inputs"]] == ["input_ids", "attention_mask"]
    assert isinstance(sig["inputs"][0]["shape"][1], str) and [o["name"] for o in sig["outputs"]] == ["logits"]
    longer = zoo.text_batch(3, 10, seed=5)
    del longer["features"]
    want = zoo.eager(model, **longer).logits.numpy()
    p = gitreg.load(mv.ref, registry=registry_path)
    assert np.allclose(p.run(longer)["logits"], want, atol=1e-4)
    assert (p.predict(longer) == want.argmax(1)).all()
    np.savez(tmp_path / "x.npz", **longer)
    assert "passed" in _cli("parity", mv.ref, "--data", str(tmp_path / "x.npz"), "--registry", str(registry_path))
    assert "passed" in _cli("parity", mv.ref, "--registry", str(registry_path))  # random ids, a short sequence


def test_script_mode_keeps_named_inputs_and_dict_outputs(registry: Registry) -> None:
    model = zoo.multi_input()
    batch = zoo.text_batch(4, 6)
    mv = gitreg.push(model, "scripted", example_inputs=batch, script=True, registry=registry)
    assert "torch.jit.script" in registry.show(mv.ref).sidecar.artifacts["torchscript"].extra["exporter"]
    want = zoo.eager(model, **batch)["logits"].numpy().argmax(1)
    assert (api.predict(mv.ref, batch, runtime="torchscript", registry=registry) == want).all()
    assert (gitreg.load(mv.ref, registry=registry).predict(batch) == want).all()
    shuffled = {k: batch[k] for k in ("features", "input_ids", "attention_mask")}
    with pytest.raises(InputError, match="script=True calls the TorchScript module by position"):
        gitreg.push(model, "scripted", example_inputs=shuffled, script=True, registry=registry)


def test_dynamic_axes_from_the_command_line(registry_path: Path, tmp_path: Path) -> None:
    """`gitreg push --from-python train.py:main --dynamic input:1=T`: the function returns a bare model."""
    (tmp_path / "train.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})\n"
        "from tests.support import zoo\n"
        "def main():\n"
        "    return zoo.sequence()\n"
    )
    np.save(tmp_path / "x.npy", np.random.default_rng(0).standard_normal((2, 7, 4)).astype(np.float32))
    common = ["push", "--from-python", f"{tmp_path / 'train.py'}:main", "--example-inputs", str(tmp_path / "x.npy")]
    r = invoke(*common, "--name", "seqcli", "--dynamic", "input:1=T", "--registry", str(registry_path))
    assert r.exit_code == 0, r.stderr
    assert Registry(registry_path).show("seqcli").sidecar.signature["inputs"][0]["shape"] == ["N", "T", 4]
    r = invoke(*common, "--name", "seqcli", "--dynamic", "input=T", "--registry", str(registry_path))
    assert r.exit_code == 1 and "use INPUT:AXIS=NAME" in r.stderr
