"""The README's first command ends in ``gitreg demo``: it must run, and leave what it says it left."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitreg import Registry
from tests.support.cli import run_cli

pytestmark = pytest.mark.slow  # trains torch models


def test_demo_trains_evaluates_promotes_gates_and_rolls_back(tmp_path: Path) -> None:
    reg = tmp_path / "demo.git"
    p = run_cli("demo", "--registry", str(reg), "--report", str(tmp_path / "r.html"), timeout=300)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    lines = p.stdout.splitlines()
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        assert any(ln.endswith(f"->  digits-mlp@v{version}") for ln in lines)
    assert any("$ gitreg check  ->  ok: 3 versions" in ln for ln in lines)
    registry = Registry(reg)
    v1, v2, v3 = registry.versions("digits-mlp")
    m1, m2, m3 = (v.sidecar.metrics["accuracy"] for v in (v1, v2, v3))
    assert m2 > m1 and m2 > 0.9 and m3 < 0.9  # the second version is the best; the third fails the gate
    assert v2.sidecar.parity["passed"] and v2.sidecar.parity["onnxruntime_vs_eager"]["argmax_agreement"] == 1.0

    # Both first versions were evaluated on the registry's held-out dataset, and the result was kept.
    for v, m in ((v1, m1), (v2, m2)):
        ev = v.sidecar.evaluation
        assert ev["samples"] == 540 and ev["data"]["name"] == "datasets/digits-mlp-holdout.npz"
        assert abs(ev["accuracy"] - m) < 1e-4  # onnxruntime on the stored dataset agrees with the pushed metric
    html = (tmp_path / "r.html").read_text()
    assert (
        html.count('src="data:image/png;base64,') == 2
    )  # metric bars, confusion difference and "digits-mlp@v1.0.0" in html

    # Stages: the best version holds staging and production again after the override and rollback.
    assert {s: f"v{registry.show(f'digits-mlp#{s}').version}" for s in ("staging", "production")} == {
        "staging": "v1.1.0",
        "production": "v1.1.0",
    }
    refused = next(ln for ln in lines if "promote digits-mlp@v1.2.0 --to production  ->" in ln)
    assert "refused (exit 3)" in refused and "eval.accuracy >= 0.9" in refused
    production = [(e.version, e.message) for e in registry.history("digits-mlp") if e.stage == "production"]
    assert [v for v, _ in production] == ["1.1.0", "1.2.0", "1.1.0"]
    assert "on-call override" in production[1][1] and "rollback" in production[2][1]
    predicted = next(ln for ln in lines if ".predict(X_test)" in ln)
    assert f"accuracy {m2:.4f} on 540 held-out digits (digits-mlp@v1.1.0)" in predicted
