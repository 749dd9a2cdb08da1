"""Registry datasets are never replaced silently, are listed and shown, and every evaluation and gate
report names the data it ran on by sha256."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from gitreg import Registry, api
from gitreg.errors import DatasetExists
from tests.support.cli import invoke
from tests.support.repo import configure, git


def npz(path: str, rows: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    np.savez(path, X=rng.normal(size=(rows, 4)).astype(np.float32), y=rng.integers(0, 3, size=rows))
    return Path(path)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_dataset_is_not_replaced_without_force(registry: Registry, registry_path: Path) -> None:
    first = npz("first.npz", 450)
    meta = registry.push_dataset(first, "holdout")
    assert meta["sha256"] == sha(first) and meta["rows"] == 450
    main = git("--git-dir", str(registry_path), "rev-parse", "main")
    # the same bytes again: nothing to do, no commit
    assert registry.push_dataset(first, "holdout")["sha256"] == sha(first)
    assert git("--git-dir", str(registry_path), "rev-parse", "main") == main
    other = npz("other.npz", 540, seed=1)
    with pytest.raises(DatasetExists, match="dataset holdout already holds other data") as e:
        registry.push_dataset(other, "holdout")
    assert e.value.hint is not None and "--force" in e.value.hint
    assert git("--git-dir", str(registry_path), "rev-parse", "main") == main  # nothing written
    assert registry.dataset("holdout")["sha256"] == sha(first)
    r = invoke("dataset", "push", str(other), "--name", "holdout", "--registry", str(registry_path))
    assert r.exit_code == 1 and r.stderr.startswith("error: dataset holdout already holds other data")
    assert "Traceback" not in r.stderr
    replaced = registry.push_dataset(other, "holdout", force=True)
    assert replaced["sha256"] == sha(other) and registry.dataset("holdout")["rows"] == 540
    subject = git("--git-dir", str(registry_path), "log", "-1", "--format=%s", "main")
    assert subject == "Replace dataset holdout"


def test_datasets_are_listed_and_shown(registry: Registry, registry_path: Path) -> None:
    assert registry.datasets() == []
    a, b = npz("a.npz", 10), npz("b.npz", 20, seed=2)
    registry.push_dataset(b, "beta")
    registry.push_dataset(a, "alpha")
    listed = registry.datasets()
    assert [d["name"] for d in listed] == ["alpha", "beta"]
    assert [d["sha256"] for d in listed] == [sha(a), sha(b)]
    assert listed[0]["path"] == "datasets/alpha.npz" and listed[1]["rows"] == 20
    with pytest.raises(Exception, match="has no dataset gamma \\(it has: alpha, beta\\)"):
        registry.dataset("gamma")
    r = invoke("dataset", "list", "--json", "--registry", str(registry_path))
    assert r.exit_code == 0, r.stderr
    assert [d["name"] for d in json.loads(r.stdout)] == ["alpha", "beta"]
    r = invoke("dataset", "list", "--registry", str(registry_path))
    assert r.exit_code == 0 and "alpha" in r.stdout and sha(a)[:12] in r.stdout
    r = invoke("dataset", "show", "beta", "--json", "--registry", str(registry_path))
    assert r.exit_code == 0 and json.loads(r.stdout)["sha256"] == sha(b)
    r = invoke("dataset", "show", "gamma", "--registry", str(registry_path))
    assert r.exit_code == 1 and r.stderr.startswith("error: the registry has no dataset gamma")


def test_evaluations_and_gate_reports_name_their_data(
    registry: Registry, registry_path: Path, tmp_path: Path, onnx_file
) -> None:
    registry.push_files([onnx_file(n_in=4, n_out=3)], "m", version="1.0.0")
    data = npz("hold.npz", 64)
    registry.push_dataset(data, "hold")
    _, ev = api.evaluate("m", "hold.npz", registry=registry)
    assert ev.data["sha256"] == sha(data) and ev.data["rows"] == 64
    assert ev.to_dict()["data"]["sha256"] == sha(data)
    _, ev, _ = api.record_evaluation("m", "datasets/hold.npz", registry=registry)
    assert ev.data["name"] == "datasets/hold.npz" and ev.data["sha256"] == sha(data)
    assert registry.show("m").sidecar.evaluation["data"]["sha256"] == sha(data)
    gate = '\n[gates.staging]\ndata = "datasets/hold.npz"\nrules = ["eval.accuracy >= 0"]\n'
    configure(registry_path, tmp_path, gate)
    report = api.gate("m@v1.0.0", "staging", registry=registry)
    assert report.passed and report.data is not None
    assert report.data["name"] == "datasets/hold.npz" and report.data["sha256"] == sha(data)
    assert report.to_dict()["data"]["sha256"] == sha(data)
    r = invoke("gate", "m@v1.0.0", "--stage", "staging", "--json", "--registry", str(registry_path))
    assert r.exit_code == 0 and json.loads(r.stdout)["data"]["sha256"] == sha(data)
    r = invoke("gate", "m@v1.0.0", "--stage", "staging", "--registry", str(registry_path))
    assert sha(data)[:12] in r.stdout  # the table says which data the verdict rests on
