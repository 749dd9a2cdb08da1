"""The README's first command ends in ``gitreg demo``: it must run, and leave what it says it left."""

from __future__ import annotations

from pathlib import Path

from gitreg import Registry
from tests.conftest import run_cli


def test_demo_trains_pushes_two_versions_and_predicts(tmp_path: Path) -> None:
    reg = tmp_path / "demo.git"
    p = run_cli("demo", "--registry", str(reg), timeout=300)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    lines = p.stdout.splitlines()
    assert any(ln.endswith("->  digits-mlp@v1.0.0") for ln in lines)
    assert any(ln.endswith("->  digits-mlp@v1.1.0") for ln in lines)
    assert any("$ gitreg check  ->  ok: 2 versions" in ln for ln in lines)
    registry = Registry(reg)
    v1, v2 = registry.versions("digits-mlp")
    m1, m2 = v1.sidecar.metrics["accuracy"], v2.sidecar.metrics["accuracy"]
    assert m2 > m1 and m2 > 0.9  # the second version is the better one
    assert v2.sidecar.parity["passed"] and v2.sidecar.parity["onnxruntime_vs_eager"]["argmax_agreement"] == 1.0
    predicted = next(ln for ln in lines if ".predict(X_test)" in ln)
    assert f"accuracy {m2:.4f} on 540 held-out digits" in predicted  # onnxruntime agrees with the pushed metric
