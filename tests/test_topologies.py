"""One model's life through the CLI, the same on every topology: a local path, a ``file://`` URL, and
smart HTTP + giftless on 127.0.0.1.

push, list, show, history, pull, check, dataset push, eval --record, promote, rollback, demote,
deprecate and verify run through ``invoke`` with ``--registry`` set to each topology's address, and
give the same answers; the bare repository is then read with plain git. A promotion by pull request
runs the same way on each: a branch that edits ``stages.toml``, ``gate --changed`` in a clone whose
``origin`` is the topology's address (one branch fails the gate, one passes), a fast-forward merge
with plain git, then ``apply``. The ONNX files (two scikit-learn classifiers on iris) are exported
once per module.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.support.cli import invoke
from tests.support.repo import git
from tests.support.servers import http_registry

TOPOLOGIES = ["path", "file-url", pytest.param("http", marks=pytest.mark.http)]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two iris classifiers as ONNX (a good and an undertrained one) and a held-out .npz."""
    from sklearn.datasets import load_iris
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    from gitreg.ml.export import export

    root = tmp_path_factory.mktemp("iris")
    x, y = load_iris(return_X_y=True)
    x = x.astype(np.float32)
    order = np.random.default_rng(0).permutation(len(y))
    train, hold = order[:100], order[100:]
    out = {}
    for name, iters in (("good", 500), ("weak", 1)):  # held-out accuracy 0.96 and 0.32
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # the weak one is meant to be undertrained
            model = LogisticRegression(max_iter=iters).fit(x[train], y[train])
        (root / name).mkdir()
        export(model, root / name, x[:5])
        out[name] = root / name / "model.onnx"
    np.savez(root / "hold.npz", X=x[hold], y=y[hold])
    out["hold"] = root / "hold.npz"
    return out


@pytest.fixture(params=TOPOLOGIES)
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(what ``--registry`` gets, the bare repository behind it); the registry does not exist yet."""
    if request.param == "http":
        with http_registry(tmp_path / "srv") as server:
            bare, url = server.create_repo("org/registry.git")
            yield url, bare
        return
    bare = tmp_path / "registry.git"
    yield (str(bare) if request.param == "path" else bare.as_uri()), bare


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_models_life_is_the_same_on_every_topology(
    registry: tuple[str, Path], artifacts: dict[str, Path], tmp_path: Path
) -> None:
    where, bare = registry
    reg = ("--registry", where)

    def ok(*args: str) -> str:
        p = invoke(*args, *reg)
        assert p.exit_code == 0, (args, p.stdout, p.stderr)
        assert "Traceback" not in p.stderr
        return p.stdout

    def js(*args: str) -> object:
        return json.loads(ok(*args, "--json"))

    ok("init")
    assert ok("push", str(artifacts["weak"]), "--name", "iris", "--metric", "accuracy=0.6").strip() == "iris@v1.0.0"
    assert ok("push", str(artifacts["good"]), "--name", "iris", "--metric", "accuracy=0.95").strip() == "iris@v1.1.0"

    [listed] = js("list")
    assert (listed["name"], listed["latest"], listed["versions"]) == ("iris", "v1.1.0", 2)
    sidecar = js("show", "iris@v1.0.0")["sidecar"]
    assert sidecar["artifacts"]["onnx"]["sha256"] == sha256(artifacts["weak"])
    assert sidecar["metrics"]["accuracy"] == pytest.approx(0.6)
    assert [e["version"] for e in js("history", "iris")] == ["1.0.0", "1.1.0"]

    out = tmp_path / "pulled"
    ok("pull", "iris@v1.1.0", "-o", str(out))
    assert (out / "model.onnx").read_bytes() == artifacts["good"].read_bytes()
    assert ok("check").strip().splitlines()[-1].startswith("ok: 2 versions")

    ok("dataset", "push", str(artifacts["hold"]), "--name", "iris-hold")
    evaluated = js("eval", "iris@v1.1.0", "--data", "datasets/iris-hold.npz", "--record")
    assert evaluated["recorded"]["git_ref"] == "refs/gitreg/evaluations/iris/v1.1.0"
    assert evaluated["metrics"]["accuracy"] > 0.8
    assert js("show", "iris@v1.1.0")["sidecar"]["evaluation"]["samples"] == 50

    ok("promote", "iris@v1.0.0", "--to", "staging")
    ok("promote", "iris@v1.1.0", "--to", "staging")
    ok("rollback", "iris", "--stage", "staging")
    assert js("show", "iris#staging")["version"] == "1.0.0"
    ok("demote", "iris", "--stage", "staging")
    assert invoke("show", "iris#staging", *reg).exit_code == 1  # nobody holds staging
    ok("deprecate", "iris@v1.0.0")
    [listed] = js("list")
    assert (listed["latest"], listed["versions"]) == ("v1.1.0", 1)
    assert invoke("verify", "iris@v1.1.0", *reg).exit_code == 3  # unsigned
    ok("verify", "iris@v1.1.0", "--allow-unsigned")
    assert ok("check").strip().splitlines()[-1].startswith("ok: ")

    # The repository itself, read with plain git: the same tags and refs on every topology.
    tags = git("--git-dir", str(bare), "tag", "--list").splitlines()
    assert sorted(tags) == sorted(
        ["iris@v1.0.0", "iris@v1.1.0", "iris@v1.0.0!"]
        + [f"iris#staging#{n}" for n in (1, 2, 3)]  # promote, promote, rollback (assigns v1.0.0 ...)
        + ["iris#staging!#4", "iris#staging!#5"]  # (... and unassigns v1.1.0), demote
    ), tags
    assert git("--git-dir", str(bare), "cat-file", "-e", "main:datasets/iris-hold.npz") == ""
    assert git("--git-dir", str(bare), "rev-parse", "--verify", "refs/gitreg/evaluations/iris/v1.1.0")


# -- a promotion by pull request: gate --changed in the PR's checkout, merge, apply ------------------------
GATES = """
[gates.production]
data = "datasets/iris-hold.npz"
rules = ["eval.accuracy >= 0.9"]
"""


def test_a_promotion_pull_request_is_gated_and_applied_on_every_topology(
    registry: tuple[str, Path], artifacts: dict[str, Path], tmp_path: Path
) -> None:
    where, bare = registry
    reg = ("--registry", where)

    def ok(*args: str, cwd: Path | None = None) -> str:
        p = invoke(*args, cwd=cwd)
        assert p.exit_code == 0, (args, p.stdout, p.stderr)
        return p.stdout

    ok("init", *reg)
    ok("dataset", "push", str(artifacts["hold"]), "--name", "iris-hold", *reg)
    assert ok("push", str(artifacts["weak"]), "--name", "iris", "--version", "1.0.0", *reg).strip() == "iris@v1.0.0"
    assert ok("push", str(artifacts["good"]), "--name", "iris", "--version", "1.1.0", *reg).strip() == "iris@v1.1.0"

    # The PR's checkout, as actions/checkout leaves it: a clone of the registry's address (its origin).
    wt = tmp_path / "checkout"
    git("clone", "-q", where, str(wt))
    assert git("-C", str(wt), "remote", "get-url", "origin") == where
    cfg = wt / "gitreg.toml"
    cfg.write_text(cfg.read_text() + GATES)
    git("-C", str(wt), "commit", "-qam", "gate production on the held-out set")
    git("-C", str(wt), "push", "-q", "origin", "HEAD:main")

    def promotion_branch(branch: str, version: str) -> None:
        git("-C", str(wt), "fetch", "-q", "origin")
        git("-C", str(wt), "checkout", "-q", "-b", branch, "origin/main")
        (wt / "stages.toml").write_text(f'[iris]\nproduction = "{version}"\n')
        git("-C", str(wt), "commit", "-qam", f"promote iris@{version} to production")
        git("-C", str(wt), "push", "-q", "origin", branch)

    promotion_branch("promote-weak", "v1.0.0")
    weak = invoke("gate", "--changed", "--json", cwd=wt)
    assert weak.exit_code == 3, (weak.stdout, weak.stderr)
    body = json.loads(weak.stdout)
    assert body["passed"] is False and "Traceback" not in weak.stderr
    assert body["changes"] == [{"model": "iris", "stage": "production", "old": None, "new": "v1.0.0"}]
    [rule] = body["gates"][0]["rules"]  # evaluated with onnxruntime on the dataset fetched from the registry
    assert (rule["rule"], rule["passed"], rule["value"]) == ("eval.accuracy >= 0.9", False, pytest.approx(0.32))
    promotion_branch("promote-good", "v1.1.0")
    good = json.loads(ok("gate", "--changed", "--json", cwd=wt))
    assert good["passed"] is True
    [gate] = good["gates"]
    assert (gate["ref"], gate["passed"], gate["rules"][0]["value"]) == ("iris@v1.1.0", True, pytest.approx(0.96))

    # Merge: main fast-forwards to the good branch (plain git); nothing is tagged until apply.
    git("-C", str(wt), "push", "-q", "origin", "promote-good:main")
    assert git("--git-dir", str(bare), "rev-parse", "main") == git("-C", str(wt), "rev-parse", "promote-good")
    assert "iris#production" not in git("--git-dir", str(bare), "tag", "--list")
    assert ok("apply", *reg).strip() == "iris#production#1"
    assert json.loads(ok("apply", "--json", *reg)) == []  # applied once: nothing more to do
    assert json.loads(ok("show", "iris#production", "--json", *reg))["version"] == "1.1.0"
    assert ok("check", *reg).strip().splitlines()[-1].startswith("ok: 2 versions")
    tag = "iris#production#1"
    assert git("--git-dir", str(bare), "tag", "--list", "iris#*") == tag
    assert git("--git-dir", str(bare), "rev-parse", f"{tag}^{{commit}}") == git(
        "--git-dir", str(bare), "rev-parse", "iris@v1.1.0^{commit}"
    )
