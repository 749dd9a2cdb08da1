"""``gitreg eval``, ``report``, ``card``, ``dataset push`` and eval-based gates, end to end through the CLI."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import gitreg
from gitreg import Registry
from tests.support.cli import invoke
from tests.support.repo import configure, git


def _models(registry: Registry):
    x, y = load_breast_cancer(return_X_y=True)
    train, hold = slice(0, 400), slice(400, None)
    good = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x[train], y[train])
    weak = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x[train], np.roll(y[train], 7))
    gitreg.push(good, "bc", version="1.0.0", eval_data=(x[hold], y[hold]), registry=registry)
    gitreg.push(weak, "bc", version="1.1.0", eval_data=(x[hold], y[hold]), registry=registry)
    np.savez("holdout.npz", X=x[hold], y=y[hold])
    return good, weak, x[hold], y[hold]


def test_eval_report_card_and_eval_gates(registry: Registry, registry_path: Path, tmp_path: Path) -> None:
    good, _, xh, yh = _models(registry)
    reg = ["--registry", str(registry_path)]
    p = invoke("eval", "bc@v1.0.0", "--data", "holdout.npz", "--report", "r.html", "--json", *reg)
    assert p.exit_code == 0, p.stderr
    body = json.loads(p.stdout)
    assert body["samples"] == len(yh)
    assert body["metrics"]["accuracy"] == accuracy_score(yh, good.predict(xh))
    assert abs(body["metrics"]["f1_weighted"] - f1_score(yh, good.predict(xh), average="weighted")) < 1e-12
    assert abs(body["metrics"]["roc_auc"] - roc_auc_score(yh, good.predict_proba(xh)[:, 1])) < 1e-6
    html = Path("r.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 3 and all(base64.b64decode(i)[:4] == b"\x89PNG" for i in images)

    p = invoke("report", "bc@v1.0.0", "bc@v1.1.0", "--data", "holdout.npz", "-o", "cmp.html", *reg)
    assert p.exit_code == 0, p.stderr
    assert "bc@v1.0.0" in Path("cmp.html").read_text() and "bc@v1.1.0" in Path("cmp.html").read_text()

    p = invoke("card", "bc@v1.0.0", *reg)
    assert p.exit_code == 0 and p.stdout.startswith("---\n")
    assert "gitreg.load(" in p.stdout and "bc@v1.0.0" in p.stdout

    # A gate that evaluates on a dataset stored in the registry.
    p = invoke("dataset", "push", "holdout.npz", "--name", "bc-holdout", *reg)
    assert p.exit_code == 0, p.stderr
    assert git("--git-dir", str(registry_path), "ls-tree", "--name-only", "main", "datasets/").split() == [
        "datasets/bc-holdout.npz",
        "datasets/bc-holdout.toml",
    ]
    configure(
        registry_path,
        tmp_path,
        '\n[gates.production]\ndata = "datasets/bc-holdout.npz"\n'
        'rules = ["parity.passed", "eval.accuracy >= 0.9", "eval.f1_weighted >= current.eval.f1_weighted - 0.005"]\n',
    )
    p = invoke("promote", "bc@v1.0.0", "--to", "production", "--json", *reg)
    assert p.exit_code == 0, p.stderr
    assert json.loads(p.stdout)["gate"]["passed"] is True
    summary = tmp_path / "summary.md"
    p = invoke("gate", "bc@v1.1.0", "--stage", "production", "--summary-md", str(summary), *reg)
    assert p.exit_code == 3, p.stderr
    assert "FAILED" in p.stdout and "eval.accuracy >= 0.9" in p.stdout
    md = summary.read_text()
    assert "| `eval.accuracy >= 0.9` |" in md and "gate failed: 2 of 3 rules failed" in md
    assert Registry(registry_path).show("bc#production").version == "1.0.0"

    p = invoke("eval", "bc", "--data", "missing.npz", *reg)
    assert p.exit_code == 1 and p.stderr.startswith("error: data file not found")
    np.savez("nolabels.npz", X=xh)
    p = invoke("eval", "bc", "--data", "nolabels.npz", *reg)
    assert p.exit_code == 1 and "needs labels" in p.stderr
    np.savez("narrow.npz", X=xh[:, :5], y=yh)
    p = invoke("eval", "bc", "--data", "narrow.npz", *reg)
    assert p.exit_code == 1 and "X has 5 features; the model takes 30" in p.stderr
