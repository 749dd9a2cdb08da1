"""Real scikit-learn models pushed to one registry and loaded back, shared by the evaluation and report tests.

Pushing and loading take about a second per model, so a module-scoped fixture builds them once;
it sets up its own isolated git environment because the autouse ``isolated_env`` is per test.
Each model is fitted on one half of its data and evaluated on the other, so metrics are not all 1.0.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.repo import home_env


@dataclass
class Case:
    ref: str
    predictor: Any
    x: np.ndarray
    y: np.ndarray
    sidecar: dict[str, Any]


def _env(root: Path) -> dict[str, str]:
    return home_env(root)


def _halves(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    order = np.random.default_rng(0).permutation(len(x))
    a, b = order[: len(x) // 2], order[len(x) // 2 :]
    return x[a], y[a], x[b], y[b]


def build(root: Path) -> Iterator[dict[str, Case]]:
    """Push every model to a registry under ``root``; yields ``{key: Case}``."""
    from sklearn.datasets import load_breast_cancer, load_digits, load_iris
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    import gitreg

    with pytest.MonkeyPatch.context() as mp:
        for k, v in _env(root).items():
            mp.setenv(k, v)
        for k in ("GITREG_REGISTRY", "GITREG_DEBUG", "GIT_DIR", "GIT_WORK_TREE"):
            mp.delenv(k, raising=False)
        work = root / "work"
        work.mkdir(exist_ok=True)
        mp.chdir(work)
        (work / "train.py").write_text("print('training')\n")  # a code repo, so lineage has a commit
        for argv in (["init", "-q", "-b", "main"], ["add", "train.py"], ["commit", "-q", "-m", "train"]):
            subprocess.run(["git", *argv], cwd=work, check=True, capture_output=True)
        reg = gitreg.Registry(root / "r.git")
        reg.init()

        dx, dy = load_digits(return_X_y=True)
        bx, by = load_breast_cancer(return_X_y=True)
        ix, iy = load_iris(return_X_y=True)
        names = np.array(["setosa", "versicolor", "virginica"])[iy]
        scaled_lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        specs: dict[str, tuple[Any, np.ndarray, np.ndarray, dict[str, Any]]] = {
            "digits": (LogisticRegression(C=1e-3, max_iter=1000), dx, dy, {}),
            "digits-b": (LogisticRegression(C=1e-2, max_iter=1000), dx, dy, {"parent": "digits"}),
            "cancer": (scaled_lr, bx, by, {"labels": {"license": "apache-2.0", "team": "a|b"}}),
            "cancer-tree": (DecisionTreeClassifier(max_depth=2, random_state=0), bx, by, {}),
            "iris": (LogisticRegression(C=0.05, max_iter=1000), ix, names, {}),
            "ridge": (Ridge(alpha=1.0), bx[:, 1:], bx[:, 0], {}),
        }
        cases: dict[str, Case] = {}
        for key, (model, x, y, extra) in specs.items():
            xa, ya, xb, yb = _halves(x, y)
            model.fit(xa, ya)
            data = work / f"{key}.npz"
            np.savez(data, X=xb, y=yb)
            name = "digits" if key == "digits-b" else key
            mv = gitreg.push(
                model,
                name,
                eval_data=(xb, yb),
                registry=reg,
                data=[data],
                description=f"{key} <model> & friends",
                command="python train.py --fast",
                **extra,
            )
            predictor = gitreg.load(mv.ref, registry=reg)
            cases[key] = Case(mv.ref, predictor, xb, yb, reg.show(mv.ref).sidecar.to_dict())
        yield cases
