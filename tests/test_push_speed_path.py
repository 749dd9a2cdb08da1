"""The push of a pre-exported ONNX file without ``import onnx`` (gitreg/ml/onnxcore.py).

In a fresh interpreter, validation loads only onnx's C++ checker and its generated ``ModelProto``
class: no ``onnx`` package init, no ``onnx.helper``, no ``ml_dtypes``, no numpy. These tests run
that path in subprocesses (the test process itself has onnx imported, which takes the ordinary
path) and hold it to the answers of the ordinary path: same verdicts, same messages, same
signatures; and a later ``import onnx`` in the same process still works. The push itself then runs
the file's parity self-check under onnxruntime, so it loads numpy and onnxruntime (~0.13 s), and
still none of onnx's package, ml_dtypes, torch or scikit-learn.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from gitreg import Registry
from gitreg.errors import ArtifactError
from gitreg.ml import onnxcore
from gitreg.ml.artifacts import inspect_onnx
from tests.support.onnxfiles import make_onnx
from tests.test_onnxscan import (
    FUZZ_BASE,
    double_data_too_small,
    external_without_location,
    float6_bad_padding,
    int4_raw_too_small,
    matmul_model,
    negative_dim,
    old_inspect,
    raw_too_small,
    save,
    string_in_raw,
    two_payloads,
    valid_models,
    weights,
    wrong_field_for_type,
    zero_elements_with_data,
)

HEAVY = ("onnx", "onnx.helper", "onnx.checker", "ml_dtypes", "numpy", "torch", "onnxruntime", "sklearn")
PUSH_LOADS = ("numpy", "onnxruntime")  # the push's parity self-check runs the file under onnxruntime

# Runs in a fresh interpreter: inspect each file given (a JSON list of paths), print the verdicts
# and which heavy modules got imported.
INSPECT = """
import json, sys
from pathlib import Path
from gitreg.errors import ArtifactError
from gitreg.ml.artifacts import inspect_onnx
out = []
for p in json.loads(sys.argv[1]):
    try:
        out.append([True, inspect_onnx(Path(p))])
    except ArtifactError as e:
        out.append([False, e.message])
heavy = [m for m in json.loads(sys.argv[2]) if m in sys.modules]
print(json.dumps({"verdicts": out, "heavy": heavy}))
"""


def fast_verdicts(paths: list[Path]) -> tuple[list, list[str]]:
    p = subprocess.run(
        [sys.executable, "-c", INSPECT, json.dumps([str(x) for x in paths]), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(p.stdout)
    return [tuple(v) for v in got["verdicts"]], got["heavy"]


def slow_verdict(path: Path) -> tuple[bool, object]:
    """The same inspection in this process, where onnx is imported (the ordinary path)."""
    try:
        return True, inspect_onnx(path)
    except ArtifactError as e:
        return False, e.message


def test_dtype_names_are_onnx_helpers() -> None:
    for name, value in TensorProto.DataType.items():
        try:
            want = helper.tensor_dtype_to_np_dtype(value).name
        except Exception:
            want = str(value)
        assert onnxcore.dtype_name(value) == want, name
    assert onnxcore.dtype_name(999) == "999"


def test_in_a_process_that_imported_onnx_its_own_modules_are_used() -> None:
    assert onnxcore.model_class() is onnx.ModelProto


def bad_files(tmp: Path) -> list[Path]:
    tmp.mkdir(parents=True, exist_ok=True)
    builders = [
        raw_too_small,
        negative_dim,
        zero_elements_with_data,
        double_data_too_small,
        int4_raw_too_small,
        float6_bad_padding,
        string_in_raw,
        wrong_field_for_type,
        two_payloads,
        external_without_location,
    ]
    out = [save(b(), tmp / f"{b.__name__}.onnx") for b in builders]
    m = matmul_model(weights())
    m.graph.node[0].op_type = "NoSuchOp"  # an operator the declared opset does not have
    out.append(save(m, tmp / "unknown_op.onnx"))
    m = matmul_model(weights())
    del m.opset_import[:]  # IR 8 without opset_import
    out.append(save(m, tmp / "no_opset.onnx"))
    out.append(save(matmul_model(weights()), tmp / "future_ir.onnx", ir=99))
    m = matmul_model(weights())
    m.ir_version = 8
    ext = tmp / "ext_file.onnx"
    onnx.save_model(
        m, str(ext), save_as_external_data=True, all_tensors_to_one_file=True, location="ext.data", size_threshold=0
    )
    (tmp / "ext.data").unlink()  # external data whose file is missing (with it, the model is valid)
    out.append(ext)
    for i, data in enumerate([b"this is not protobuf \x00\xff" * 10, b"hello world\n", b"\x08", b"\x3a\xff\xff"]):
        (tmp / f"garbage{i}.onnx").write_bytes(data)
        out.append(tmp / f"garbage{i}.onnx")
    full = make_onnx(tmp / "whole.onnx", pad=100_000).read_bytes()
    for cut in (1, 10, 40, 100, len(full) // 2, len(full) - 60, len(full) - 1):
        (tmp / f"cut{cut}.onnx").write_bytes(full[:cut])
        out.append(tmp / f"cut{cut}.onnx")
    return out


def test_fast_path_gives_the_same_answers_without_importing_onnx(tmp_path: Path) -> None:
    (tmp_path / "good").mkdir()
    good = valid_models(tmp_path / "good")
    bad = bad_files(tmp_path / "bad")
    fast, heavy = fast_verdicts(good + bad)
    assert heavy == []
    for p, got in zip(good + bad, fast, strict=True):
        assert got == slow_verdict(p), p.name
    assert all(ok for ok, _ in fast[: len(good)]) and not any(ok for ok, _ in fast[len(good) :])


def test_fast_path_agrees_with_onnx_load_and_checker_on_mutations(tmp_path: Path) -> None:
    """test_onnxscan's mutation test, on the fast path: accepted exactly when onnx accepts."""
    raw, hot = FUZZ_BASE
    rng = random.Random(20240601)
    paths = []
    for i in range(300):
        base = bytearray(raw)
        if rng.random() < 0.5:
            base = base[: rng.randint(1, len(base) - 1)]
        else:
            for _ in range(rng.randint(1, 3)):
                base[rng.choice(hot)] = rng.randint(0, 255)
        p = tmp_path / f"fuzz{i}.onnx"
        p.write_bytes(bytes(base))
        paths.append(p)
    fast, heavy = fast_verdicts(paths)
    assert heavy == []
    for p, (ok, got) in zip(paths, fast, strict=True):
        try:
            want: tuple[bool, object] = (True, old_inspect(p))
        except Exception:
            want = (False, None)
        assert ok == want[0], (p.name, got)
        if ok:
            assert got == want[1], p.name
        assert (ok, got) == slow_verdict(p), p.name


PUSH = """
import json, sys
from gitreg.cli import main
try:
    main(["push", sys.argv[1], "--name", "m", "--registry", sys.argv[2]])
except SystemExit as e:
    if e.code:
        raise
print(json.dumps([m for m in json.loads(sys.argv[3]) if m in sys.modules]))
"""


def test_cli_push_of_an_onnx_file_imports_no_onnx(tmp_path: Path, registry_path: Path) -> None:
    f = make_onnx(tmp_path / "small.onnx")
    p = subprocess.run(
        [sys.executable, "-c", PUSH, str(f), str(registry_path), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.strip().splitlines()[-1]) == list(PUSH_LOADS)
    sc = Registry(registry_path).show("m").sidecar
    info = inspect_onnx(f)
    assert sc.signature == info["signature"]
    assert sc.parity["passed"] and sc.parity["onnxruntime_sliced_vs_onnxruntime"]["samples"] == 257
    assert sc.artifacts["onnx"].extra["opset"] == 17 and sc.artifacts["onnx"].extra["ir_version"] == 8


def test_cli_push_of_a_bad_onnx_file_still_fails_without_importing_onnx(tmp_path: Path, registry_path: Path) -> None:
    f = save(raw_too_small(), tmp_path / "bad.onnx")
    p = subprocess.run(
        [sys.executable, "-m", "gitreg", "push", str(f), "--name", "m", "--registry", str(registry_path)],
        capture_output=True,
        text=True,
    )
    assert p.returncode != 0
    assert "is not a valid ONNX model: TensorProto (tensor name: W) raw_data size" in p.stderr


LATER = """
import json, sys
from pathlib import Path
from gitreg import Registry
Registry(sys.argv[2]).push_files([sys.argv[1]], "m")
before = "onnx" in sys.modules
import onnx, onnx.checker, onnx.helper, onnx.shape_inference
from gitreg.ml import onnxcore
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m, full_check=True)
onnx.checker.check_model(sys.argv[1])
inferred = onnx.shape_inference.infer_shapes(m)
print(json.dumps({
    "before": before,
    "same_class": onnx.ModelProto is onnxcore.model_class(),
    "attrs": onnx.onnx_cpp2py_export is sys.modules["onnx.onnx_cpp2py_export"]
        and onnx.onnx_ml_pb2 is sys.modules["onnx.onnx_ml_pb2"],
    "finder_gone": onnxcore._PRELOADED not in sys.meta_path,
    "helper": onnx.helper.tensor_dtype_to_np_dtype(1).name,
    "outputs": [o.name for o in inferred.graph.output],
}))
"""


def test_onnx_imported_after_a_push_is_whole(tmp_path: Path, registry_path: Path) -> None:
    f = make_onnx(tmp_path / "small.onnx")
    p = subprocess.run(
        [sys.executable, "-c", LATER, str(f), str(registry_path)], capture_output=True, text=True, check=False
    )
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {
        "before": False,
        "same_class": True,
        "attrs": True,
        "finder_gone": True,
        "helper": "float32",
        "outputs": ["y"],
    }


FALLBACK = """
import json, sys
from pathlib import Path
from gitreg.ml import onnxcore
def refuse():
    raise ImportError("pretend onnx's layout changed")
onnxcore._load_without_init = refuse
from gitreg.ml.artifacts import inspect_onnx
info = inspect_onnx(Path(sys.argv[1]))
print(json.dumps({"info": info, "onnx": "onnx" in sys.modules}))
"""


@pytest.mark.parametrize("good", [True, False])
def test_an_unexpected_onnx_layout_falls_back_to_import_onnx(tmp_path: Path, good: bool) -> None:
    f = make_onnx(tmp_path / "m.onnx") if good else save(negative_dim(), tmp_path / "bad.onnx")
    p = subprocess.run([sys.executable, "-c", FALLBACK, str(f)], capture_output=True, text=True, check=False)
    if good:
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout) == {"info": inspect_onnx(f), "onnx": True}
    else:
        assert p.returncode != 0 and "Negative dimension value (tensor name: W)" in p.stderr
