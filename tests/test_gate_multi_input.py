"""``gitreg gate --changed`` on a model with two named inputs, as CI runs it on a promotion PR.

The gate's dataset is an ``.npz`` with one array per input name plus ``y``; the PR only edits
``stages.toml``. A version that reads its two inputs right passes; one that mixes them up fails
the gate, by its evaluated accuracy, with the rule in the report.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gitreg import Registry
from tests.support.cli import run_cli
from tests.support.repo import git
from tests.test_pr_flow import checkout, pr_branch, registry_of

GATES = """
[gates.production]
data = "datasets/pairs.npz"
rules = ["eval.accuracy >= 0.9"]
"""


def two_input_onnx(path: Path, swap: bool) -> Path:
    """scores[N,2] = a[N,2] - b[N,2] (or b - a when ``swap``): the class is whichever input is larger."""
    import onnx
    from onnx import TensorProto, helper

    first, second = ("b", "a") if swap else ("a", "b")
    graph = helper.make_graph(
        [helper.make_node("Sub", [first, second], ["scores"])],
        "g",
        [
            helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 2]),
            helper.make_tensor_value_info("b", TensorProto.FLOAT, ["N", 2]),
        ],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="tests")
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


@pytest.fixture
def srv(tmp_path: Path) -> Path:
    root = tmp_path / "srv"
    reg_path = root / "acme" / "registry.git"
    p = run_cli("init", "--github", "--registry", str(reg_path))
    assert p.returncode == 0, p.stderr
    wt = tmp_path / "configure"
    git("clone", "-q", str(reg_path), str(wt))
    cfg = wt / "gitreg.toml"
    cfg.write_text(cfg.read_text().replace("require_pr = false", "require_pr = true") + GATES)
    git("-C", str(wt), "commit", "-qam", "production through gated pull requests")
    git("-C", str(wt), "push", "-q", "origin", "main")
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 2)).astype(np.float32)
    b = rng.normal(size=(200, 2)).astype(np.float32)
    y = (a - b).argmax(axis=1)
    np.savez(tmp_path / "pairs.npz", a=a, b=b, y=y)
    p = run_cli("dataset", "push", str(tmp_path / "pairs.npz"), "--name", "pairs", "-r", str(reg_path))
    assert p.returncode == 0, p.stderr
    reg = Registry(reg_path)
    for version, swap in (("1.0.0", False), ("1.1.0", True)):
        reg.push_files([two_input_onnx(tmp_path / version / "model.onnx", swap)], "pair", version=version)
    return root


@pytest.mark.slow
def test_gate_changed_evaluates_a_two_input_model_on_its_named_arrays(srv: Path, tmp_path: Path) -> None:
    good = pr_branch(srv, tmp_path, "good", {"stages.toml": '[pair]\nproduction = "v1.0.0"\n'})
    p = run_cli("gate", "--changed", "--json", cwd=checkout(srv, tmp_path, good, "pr-good"))
    assert p.returncode == 0, p.stderr + p.stdout
    body = json.loads(p.stdout)
    (gate,) = body["gates"]
    assert gate["passed"] is True and gate["data"]["rows"] == 200
    assert [(r["rule"], r["value"]) for r in gate["rules"]] == [("eval.accuracy >= 0.9", 1.0)]

    bad = pr_branch(srv, tmp_path, "bad", {"stages.toml": '[pair]\nproduction = "v1.1.0"\n'})
    p = run_cli("gate", "--changed", "--json", cwd=checkout(srv, tmp_path, bad, "pr-bad"))
    assert p.returncode != 0 and "Traceback" not in p.stderr
    body = json.loads(p.stdout)
    (gate,) = body["gates"]
    assert gate["passed"] is False
    # the swapped version is always wrong: its accuracy on the named arrays is 0 and the rule says so
    assert [(r["rule"], r["value"], r["passed"]) for r in gate["rules"]] == [("eval.accuracy >= 0.9", 0.0, False)]
    refs_before = git("--git-dir", str(registry_of(srv)), "for-each-ref", "--format=%(refname)")
    assert "#production#" not in refs_before  # gating never writes a stage tag
