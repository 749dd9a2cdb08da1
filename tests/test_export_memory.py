"""Memory of a torch export + parity: the ONNX file streamed tensor by tensor, its weights on disk and let
go of before the axes are settled (the model runs again then), no exporter weights left behind, one
loaded copy of the weights (TorchScript module or onnxruntime session) at a time; sklearn: one session.

The figures behind these rules (a ResNet-50-class model, 97 MB of weights) are in
``benchmarks/bench_models.py``'s output and the README's benchmark lines.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
onnx_ir = pytest.importorskip("onnx_ir")

from gitreg.ml import artifacts, runtime  # noqa: E402
from gitreg.ml.export_torch import export_torch, quiet, save_onnx  # noqa: E402
from gitreg.ml.parity import run_parity  # noqa: E402
from gitreg.ml.runtime import ort_runner, resource_of  # noqa: E402

pytestmark = pytest.mark.slow  # the dynamo ONNX exporter takes seconds per model


class ConvNet(torch.nn.Module):
    """Conv + BatchNorm (the exporter folds them: new weight tensors), a Linear, an int64 buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 256, 3, padding=1, bias=False)
        self.bn = torch.nn.BatchNorm2d(256)
        self.head = torch.nn.Linear(256, 5)
        self.register_buffer("shift", torch.arange(5, dtype=torch.int64))

    def forward(self, x: Any) -> Any:
        h = torch.relu(self.bn(self.conv(x))).mean(dim=(2, 3))
        return self.head(h) + self.shift.to(h.dtype)


def conv_net() -> Any:
    torch.manual_seed(0)
    model = ConvNet().eval()
    with torch.no_grad():  # running statistics that are not the identity, so the folding changes the weights
        model.bn.running_mean.uniform_(-1, 1)
        model.bn.running_var.uniform_(0.5, 2)
    return model


def example() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)


def test_streamed_file_holds_what_torchs_own_save_writes(tmp_path: Path) -> None:
    x = torch.from_numpy(example())
    with torch.no_grad(), quiet():
        program = torch.onnx.export(conv_net(), (x,), dynamo=True, dynamic_shapes=({0: torch.export.Dim("batch")},))
    ours, theirs = tmp_path / "ours.onnx", tmp_path / "theirs.onnx"
    save_onnx(program, ours)
    program.save(str(theirs), external_data=False)
    a, b = onnx.load(str(ours)), onnx.load(str(theirs))
    onnx.checker.check_model(a, full_check=True)
    inits_a = {t.name: onnx.numpy_helper.to_array(t) for t in a.graph.initializer}
    inits_b = {t.name: onnx.numpy_helper.to_array(t) for t in b.graph.initializer}
    assert inits_a.keys() == inits_b.keys() and len(inits_a) >= 3
    for name, arr in inits_b.items():
        assert inits_a[name].dtype == arr.dtype and np.array_equal(inits_a[name], arr), name
    del a.graph.initializer[:]
    del b.graph.initializer[:]
    assert a.SerializeToString() == b.SerializeToString()  # everything else: byte for byte
    assert abs(ours.stat().st_size - theirs.stat().st_size) < 64  # no data twice, none missing
    # gitreg's own reader (a skeleton of the file) and onnxruntime take it
    assert artifacts.inspect_onnx(ours)["signature"]["inputs"][0]["shape"] == ["N", 3, 8, 8]
    rows = np.concatenate([example()] * 3)
    assert np.array_equal(ort_runner(ours)(rows), ort_runner(theirs)(rows))


def big_onnx_tensors() -> int:
    """Bytes held by onnx_ir tensors that own their memory (not views of torch's parameters)."""
    import onnx_ir as ir

    gc.collect()
    return sum(
        o.nbytes for o in gc.get_objects() if type(o) is ir.Tensor and o.nbytes >= 1 << 12
    )  # ir.Tensor: numpy-backed, e.g. the weights the exporter folded BatchNorm into


def test_export_leaves_no_exporter_weights_behind(tmp_path: Path) -> None:
    ex = export_torch(conv_net(), tmp_path, example())
    assert (tmp_path / "model.onnx").stat().st_size > 256 * 27 * 4  # the folded conv weight is in the file
    # onnxscript's rules keep only their last match: this export's graph, whose weights were let go
    # (without drop_weights the folded conv weight, 27,648 bytes, is still here)
    assert big_onnx_tensors() == 0
    assert ex.runners


def test_parity_holds_one_loaded_copy_of_the_weights_at_a_time(tmp_path: Path) -> None:
    ex = export_torch(conv_net(), tmp_path, example())
    resources = {id(r): r for fn in ex.runners.values() if (r := resource_of(fn)) is not None}
    assert len(resources) == 2  # the TorchScript module and the onnxruntime session
    assert all(r.obj is None for r in resources.values())  # nothing loaded by the export itself
    alive: list[int] = []

    def counting(fn: Any) -> Any:
        def run(*xs: np.ndarray) -> np.ndarray:
            alive.append(sum(r.obj is not None for r in resources.values()))
            out = fn(*xs)
            alive.append(sum(r.obj is not None for r in resources.values()))
            return out

        return runtime.holding(run, resource_of(fn))

    runners = {k: counting(fn) for k, fn in ex.runners.items()}
    report = run_parity(runners, ex.reference, ex.inputs, None, None, classifier=True)
    assert report.passed, report.message()
    assert {p.key for p in report.pairs} >= {"torchscript_vs_eager", "onnxruntime_sliced_vs_eager"}
    assert max(alive) == 1 and 0 in alive  # the eager runs hold nothing; each runtime alone
    assert all(r.obj is None for r in resources.values())  # released once parity is done


def test_a_released_runtime_is_loaded_again_when_used_again(tmp_path: Path) -> None:
    ex = export_torch(conv_net(), tmp_path, example())
    ort = ex.runners["onnxruntime"]
    res = resource_of(ort)
    assert res is not None
    first = ort(example())
    res.release()
    assert res.obj is None
    assert np.array_equal(ort(example()), first) and res.obj is not None


def test_the_axes_are_settled_with_the_weights_on_disk_not_in_memory(tmp_path: Path) -> None:
    x = torch.from_numpy(example())
    with torch.no_grad(), quiet():
        program = torch.onnx.export(conv_net(), (x,), dynamo=True, dynamic_shapes=({0: torch.export.Dim("batch")},))
    seen: list[int] = []

    def settle() -> None:  # what the export does here: run the model, rename the graph's axes
        seen.append(big_onnx_tensors())
        program.model.graph.inputs[0].shape = onnx_ir.Shape(["rows", 3, 8, 8])

    out = tmp_path / "out"
    out.mkdir()
    path = out / "model.onnx"
    save_onnx(program, path, settle=settle, keep=False)
    assert seen == [0]  # the folded conv weight was on disk by then
    assert all(v.const_value is None for v in program.model.graph.initializers.values())
    assert [p.name for p in out.iterdir()] == ["model.onnx"]  # the temporary body is gone
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "rows"  # the head written after
    folded = max((t for t in model.graph.initializer), key=lambda t: len(t.raw_data))
    assert len(folded.raw_data) == 256 * 27 * 4
    with torch.no_grad():
        want = conv_net()(torch.from_numpy(np.concatenate([example()] * 2))).numpy()
    got = ort_runner(path)(np.concatenate([example()] * 2))
    assert np.allclose(got, want, atol=1e-4)


def test_a_failed_settle_leaves_no_file_and_the_weights_in_place(tmp_path: Path) -> None:
    x = torch.from_numpy(example())
    with torch.no_grad(), quiet():
        program = torch.onnx.export(conv_net(), (x,), dynamo=True)
    before = {k: v.const_value.numpy().copy() for k, v in program.model.graph.initializers.items()}

    def settle() -> None:
        raise RuntimeError("boom")

    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(RuntimeError, match="boom"):
        save_onnx(program, out / "model.onnx", settle=settle)
    assert list(out.iterdir()) == []  # neither the body nor a half-written model
    after = program.model.graph.initializers
    assert before.keys() == after.keys()
    assert all(np.array_equal(after[k].const_value.numpy(), v) for k, v in before.items())  # keep=True: put back


def test_an_sklearn_export_runs_one_lazy_session_for_both_runs(tmp_path: Path) -> None:
    pytest.importorskip("skl2onnx")
    from sklearn.linear_model import LogisticRegression

    from gitreg.ml.export_sklearn import export_sklearn

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((60, 4)), rng.integers(0, 3, 60)
    ex = export_sklearn(LogisticRegression(max_iter=200).fit(X, y), tmp_path, X[:5])
    whole, pieces = resource_of(ex.runners["onnxruntime"]), resource_of(ex.runners["onnxruntime_sliced"])
    assert whole is not None and whole is pieces and whole.obj is None  # one session, not made yet
    report = run_parity(ex.runners, ex.reference, (X,), None, None, classifier=True)
    assert report.passed, report.message()
    assert {p.key for p in report.pairs} == {"onnxruntime_vs_sklearn", "onnxruntime_sliced_vs_sklearn"}
    assert whole.obj is None  # released after its last run
