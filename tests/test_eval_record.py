"""``gitreg eval --record``: the result is kept with the version; its tag, artifacts and main stay."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score

import gitreg
from gitreg import Registry
from tests.support.cli import invoke
from tests.support.repo import git


def _push_two(registry: Registry) -> tuple[LogisticRegression, np.ndarray, np.ndarray]:
    x, y = load_iris(return_X_y=True)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    train, hold = order[:100], order[100:]
    model = LogisticRegression(max_iter=500).fit(x[train], y[train])
    gitreg.push(model, "iris", version="1.0.0", example_inputs=x[:5], registry=registry)
    weak = LogisticRegression(max_iter=5).fit(x[train], y[train])
    gitreg.push(weak, "iris", version="1.1.0", example_inputs=x[:5], registry=registry)
    np.savez("hold.npz", X=x[hold].astype(np.float32), y=y[hold])
    return model, x[hold], y[hold]


@pytest.mark.slow
def test_record_keeps_tag_and_main_and_shows_in_show_and_history(registry: Registry, registry_path: Path) -> None:
    model, xh, yh = _push_two(registry)
    gd = ["--git-dir", str(registry_path)]
    tag_before = git(*gd, "rev-parse", "iris@v1.0.0")
    main_before = git(*gd, "rev-parse", "main")
    reg = ["--registry", str(registry_path)]

    p = invoke("eval", "iris@v1.0.0", "--data", "hold.npz", "--record", "--json", *reg)
    assert p.exit_code == 0, p.stderr
    body = json.loads(p.stdout)
    expected = accuracy_score(yh, model.predict(xh.astype(np.float32)))
    assert body["metrics"]["accuracy"] == expected
    rec = body["recorded"]
    assert rec["git_ref"] == "refs/gitreg/evaluations/iris/v1.0.0"

    # The version (an older one: main holds v1.1.0) is untouched; the record is a child of its commit.
    assert git(*gd, "rev-parse", "iris@v1.0.0") == tag_before
    assert git(*gd, "rev-parse", "main") == main_before
    assert git(*gd, "rev-parse", rec["git_ref"]) == rec["commit"]
    assert git(*gd, "rev-parse", f"{rec['commit']}^") == git(*gd, "rev-parse", "iris@v1.0.0^{commit}")
    changed = git(*gd, "diff", "--name-only", "iris@v1.0.0", rec["commit"]).split()
    assert changed == ["models/iris/README.md", "models/iris/model.toml"]  # never the artifact pointers

    shown = json.loads(invoke("show", "iris@v1.0.0", "--json", *reg).stdout)
    ev = shown["sidecar"]["evaluation"]
    assert ev["accuracy"] == expected and ev["samples"] == len(yh)
    assert ev["data"]["name"] == "hold.npz" and len(ev["data"]["sha256"]) == 64
    assert "evaluation" not in json.loads(invoke("show", "iris@v1.1.0", "--json", *reg).stdout)["sidecar"]

    # A second record (other data) stacks on the first; show reads the newest, history lists both.
    np.savez("half.npz", X=xh[:20].astype(np.float32), y=yh[:20])
    p = invoke("eval", "iris@v1.0.0", "--data", "half.npz", "--record", *reg)
    assert p.exit_code == 0, p.stderr
    assert "iris@v1.0.0 is unchanged" in p.stdout
    assert json.loads(invoke("show", "iris@v1.0.0", "--json", *reg).stdout)["sidecar"]["evaluation"]["samples"] == 20
    events = json.loads(invoke("history", "iris", "--json", *reg).stdout)
    kinds = [(e["event"], e["version"]) for e in events]
    assert kinds.count(("evaluation", "1.0.0")) == 2
    assert kinds.index(("registration", "1.1.0")) < kinds.index(("evaluation", "1.0.0"))
    assert git(*gd, "rev-parse", "iris@v1.0.0") == tag_before and git(*gd, "rev-parse", "main") == main_before

    # The registry stays consistent, and the model card of the record carries the measured metrics.
    assert invoke("check", *reg).exit_code == 0
    card = git(*gd, "show", f"{rec['git_ref']}:models/iris/README.md")
    assert "accuracy" in card


def test_record_through_a_remote_registry_and_bad_data(registry: Registry, registry_path: Path, tmp_path: Path) -> None:
    _push_two(registry)
    remote = f"file://{registry_path}"
    p = invoke("eval", "iris", "--data", "hold.npz", "--record", "--registry", remote)
    assert p.exit_code == 0, p.stderr
    assert git("--git-dir", str(registry_path), "rev-parse", "--verify", "-q", "refs/gitreg/evaluations/iris/v1.1.0")
    shown = json.loads(invoke("show", "iris", "--json", "--registry", remote).stdout)
    assert shown["sidecar"]["evaluation"]["samples"] == 50

    np.savez("wide.npz", X=np.zeros((3, 7), np.float32), y=np.zeros(3, np.int64))
    p = invoke("eval", "iris@v1.0.0", "--data", "wide.npz", "--record", "--registry", str(registry_path))
    assert p.exit_code == 1 and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert "feature" in p.stderr
    out = git("--git-dir", str(registry_path), "for-each-ref", "refs/gitreg/evaluations/iris/v1.0.0")
    assert out == ""  # nothing recorded for the failed evaluation


@pytest.mark.slow
def test_diff_compares_recorded_evaluations(registry: Registry, registry_path: Path) -> None:
    _push_two(registry)
    reg = ["--registry", str(registry_path)]
    for ref in ("iris@v1.0.0", "iris@v1.1.0"):
        assert invoke("eval", ref, "--data", "hold.npz", "--record", *reg).exit_code == 0
    a = json.loads(invoke("show", "iris@v1.0.0", "--json", *reg).stdout)["sidecar"]["evaluation"]
    b = json.loads(invoke("show", "iris@v1.1.0", "--json", *reg).stdout)["sidecar"]["evaluation"]
    d = json.loads(invoke("diff", "iris@v1.0.0", "iris@v1.1.0", "--json", *reg).stdout)
    acc = d["evaluation"]["accuracy"]
    assert (acc["a"], acc["b"]) == (a["accuracy"], b["accuracy"])
    assert abs(acc["delta"] - (b["accuracy"] - a["accuracy"])) < 1e-12
    assert "samples" not in d["evaluation"] and "rows_per_second" not in d["evaluation"]
