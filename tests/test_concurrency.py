"""Concurrent writers: atomic pushes and retries keep every tag on a linear main."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitreg import Registry
from tests.support.repo import REPO_ROOT, git

WRITER = """
import sys
from gitreg import Registry
reg = Registry(sys.argv[1])
for path in sys.argv[3:]:
    print(reg.push_files([path], sys.argv[2], command="writer").ref, flush=True)
"""


@pytest.mark.slow
def test_eight_writers_five_versions_each(tmp_path: Path, onnx_file) -> None:
    reg = tmp_path / "reg.git"
    Registry(reg).init()
    procs = []
    for w in range(8):
        files = [str(onnx_file(seed=100 * w + i)) for i in range(5)]
        # Each writer has its own cache, like eight machines sharing one registry.
        env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / f"cache{w}"), "PYTHONPATH": str(REPO_ROOT)}
        model = "shared" if w < 6 else f"solo{w}"
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", WRITER, str(reg), model, *files],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    refs = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        refs += out.split()
    assert len(refs) == len(set(refs)) == 40
    gd = ["--git-dir", str(reg)]
    tags = git(*gd, "tag", "-l").split()
    assert sorted(tags) == sorted(refs)
    assert len([t for t in tags if t.startswith("shared@")]) == 30
    on_main = set(git(*gd, "rev-list", "main").split())
    for t in tags:
        assert git(*gd, "cat-file", "-t", t) == "tag"
        assert git(*gd, "rev-parse", f"{t}^{{commit}}") in on_main, t
    assert git(*gd, "rev-list", "--merges", "main") == ""  # linear
    assert int(git(*gd, "rev-list", "--count", "main")) == 41  # init + one commit per version
    times = git(*gd, "for-each-ref", "--format=%(taggerdate:unix)", "refs/tags/shared@*").split()
    assert len(set(times)) == 30  # strictly increasing per model, so GTO orders them as gitreg does
    versions = [v.version for v in Registry(reg).versions("shared")]
    assert versions == [f"1.0.{i}" for i in range(30)]
    report = Registry(reg).check()
    assert report.ok and report.versions == 40 and report.objects == 40
