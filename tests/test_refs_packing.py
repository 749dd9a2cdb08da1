"""Loose tag refs get packed after writes, so reads of a big registry stay one fast for-each-ref."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.store.git import Git
from tests.support.repo import git


def loose_tags(git_dir: Path) -> list[str]:
    return sorted(p.name for p in (git_dir / "refs" / "tags").iterdir())


def test_pack_loose_tags_only_above_the_limit(tmp_path: Path) -> None:
    repo = tmp_path / "r.git"
    git("init", "--bare", "--quiet", str(repo))
    g = Git(repo)
    commit = git("--git-dir", str(repo), "commit-tree", g.out("mktree", input=""), "-m", "c")
    for i in range(5):
        git("--git-dir", str(repo), "tag", "-a", "-m", "r", f"m@v1.{i}.0", commit)
    assert g.pack_loose_tags(limit=5) is False and len(loose_tags(repo)) == 5
    assert g.pack_loose_tags(limit=4) is True and loose_tags(repo) == []
    assert [r.tag for r in g.tags()] == [f"m@v1.{i}.0" for i in range(5)]
    assert g.pack_loose_tags(limit=0) is False  # nothing loose left


def test_pushes_pack_the_registrys_tags(
    registry: Registry, registry_path: Path, onnx_file, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Git.pack_loose_tags
    monkeypatch.setattr(Git, "pack_loose_tags", lambda self, limit=256: real(self, limit=1))
    for _ in range(3):
        registry.push_files([onnx_file()], "m")
    assert len(loose_tags(registry_path)) <= 1
    assert [s.latest for s in registry.list()] == ["v1.0.2"]
    assert [v.version for v in registry.versions("m")] == ["1.0.0", "1.0.1", "1.0.2"]
