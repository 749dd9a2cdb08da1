"""``list`` from summaries kept by the refs they were folded from: never stale, never needed.

Every test compares the cached answer with a fold of every tag (the oracle), after changing the
registry's tags with plain git the ways a registry changes: a new tag, a deleted one, a moved one,
one moved back (the same tag object again), packing, a tag moved in the middle of a read, a tag
dated in the future, and a cache file that is corrupt or cannot be written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.registry import listing
from gitreg.registry.backend import Backend, View
from gitreg.registry.values import ModelSummary, summary
from gitreg.store.git import MAIN, Git
from tests.support.repo import git

FUTURE = 4_000_000_000  # 2096: far past any clock's horizon


class Repo:
    """A registry whose tags are written with plain git (annotated tags on fresh commits)."""

    def __init__(self, path: Path) -> None:
        Registry(path).init()
        self.path = path
        self.n = 0

    def git(self, *args: str, env: dict[str, str] | None = None) -> str:
        if env:
            old = {k: os.environ.get(k) for k in env}
            os.environ.update(env)
        try:
            return git("--git-dir", str(self.path), *args)
        finally:
            if env:
                for k, v in old.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v

    def commit(self) -> str:
        self.n += 1
        tree = self.git("rev-parse", "main^{tree}")
        return self.git("commit-tree", tree, "-p", "main", "-m", f"c{self.n}")

    def tag(self, name: str, target: str | None = None, when: int | None = None) -> str:
        self.n += 1
        env = {"GIT_COMMITTER_DATE": f"{when or 1_700_000_000 + self.n} +0000"}
        self.git("tag", "-a", "-f", "-m", f"tag {name}", name, target or self.commit(), env=env)
        return self.git("rev-parse", f"refs/tags/{name}")

    def view(self) -> View:
        return View(Git(self.path), MAIN)


def oracle(view: View, at: int | None = None) -> list[ModelSummary]:
    """Every tag folded afresh: what ``list`` answered before any cache."""
    return [summary(st) for _, st in sorted(Backend.states(view, details=False, at=at).items())]


def no_fold(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, a fold in ``listing`` fails the test: the answer must come from the file."""

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("folded although the refs did not change")

    monkeypatch.setattr(listing, "fold", boom)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    r = Repo(tmp_path / "registry.git")
    first = r.commit()
    r.tag("alpha@v1.0.0", first)
    r.tag("alpha@v1.1.0")
    r.tag("alpha#prod#3", first)
    r.tag("beta@v0.1.0")
    r.tag("beta@v0.2.0")
    r.tag("beta@v0.2.0!#3", r.git("rev-parse", "beta@v0.2.0^{commit}"))
    r.tag("gamma@v2.0.0")
    r.tag("gamma@deprecated")
    r.tag("release-1")  # not a registry tag
    tree = r.git("rev-parse", "main^{tree}")
    r.git("tag", "-a", "-m", "a tree", "delta@v9.0.0", tree)  # names no commit: no version anywhere
    return r


def test_summary_is_what_registry_list_answers(repo: Repo) -> None:
    assert oracle(repo.view()) == Registry(repo.path).list()
    assert listing.summaries(repo.view()) == Registry(repo.path).list()
    assert [s.name for s in listing.summaries(repo.view())] == ["alpha", "beta", "gamma"]


def test_unchanged_refs_are_answered_from_the_file(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    first = listing.summaries(repo.view())
    assert listing.cache_file(repo.path).is_file()
    no_fold(monkeypatch)
    assert listing.summaries(repo.view()) == first
    repo.git("pack-refs", "--all")  # the same refs, packed: the same listing
    assert listing.summaries(repo.view()) == first == oracle(repo.view())


def test_every_change_of_a_tag_is_seen(repo: Repo) -> None:
    view = repo.view()
    listing.summaries(view)
    before = oracle(view)

    oid = repo.tag("alpha@v1.2.0")  # new
    assert listing.summaries(view) == oracle(view) != before
    assert listing.summaries(view)[0].latest == "v1.2.0"

    repo.git("tag", "-d", "alpha@v1.2.0")  # deleted
    assert listing.summaries(view) == oracle(view) == before

    repo.git("update-ref", "refs/tags/alpha@v1.2.0", oid)  # the very same tag object again
    assert listing.summaries(view)[0].latest == "v1.2.0"

    repo.tag("alpha#prod#4", repo.git("rev-parse", "alpha@v1.1.0^{commit}"))
    assert listing.summaries(view)[0].stages == {"prod": "v1.1.0"}
    repo.tag("alpha#prod#4", repo.git("rev-parse", "alpha@v1.0.0^{commit}"))  # moved (forced)
    assert listing.summaries(view) == oracle(view)
    assert listing.summaries(view)[0].stages == {"prod": "v1.0.0"}

    repo.tag("gamma@v2.1.0")  # a newer event than the deprecation: no longer deprecated
    assert listing.summaries(view) == oracle(view)
    assert not listing.summaries(view)[2].deprecated

    repo.tag("epsilon@v0.0.1")  # a new model
    repo.git("tag", "-d", "beta@v0.1.0", "beta@v0.2.0", "beta@v0.2.0!#3")  # a model gone
    assert [s.name for s in listing.summaries(view)] == ["alpha", "epsilon", "gamma"]
    assert listing.summaries(view) == oracle(view)


def test_a_tag_moved_during_the_read_never_leaves_a_stale_answer(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    view = repo.view()
    listing.summaries(view)
    oid = repo.tag("alpha@v1.5.0")
    real = Git.tags

    def racing(self: Git, *a: object, **k: object):  # type: ignore[no-untyped-def]
        repo.git("tag", "-d", "alpha@v1.5.0")  # between the listing and the fold's read
        monkeypatch.setattr(Git, "tags", real)
        return real(self, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(Git, "tags", racing)
    assert listing.summaries(view)[0].latest == "v1.1.0"  # folded from what the fold read
    repo.git("update-ref", "refs/tags/alpha@v1.5.0", oid)  # the listing the race began with, again
    assert listing.summaries(view)[0].latest == "v1.5.0"
    assert listing.summaries(view) == oracle(view)
    repo.git("tag", "-d", "alpha@v1.5.0")
    assert listing.summaries(view) == oracle(view)


def test_only_changed_models_are_read_again(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    view = repo.view()
    listing.summaries(view)
    repo.tag("beta@v0.3.0")
    seen: list[tuple[str, ...]] = []
    real = Git.tags

    def spy(self: Git, patterns=("refs/tags",), *a: object, **k: object):  # type: ignore[no-untyped-def]
        seen.append(tuple(patterns))
        return real(self, patterns, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(Git, "tags", spy)
    assert listing.summaries(view) == oracle(view)
    assert seen[0] == tuple(p for p in seen[0] if p.startswith("refs/tags/beta@") or p.startswith("refs/tags/beta#"))
    assert len(seen) == 2  # the listing's one read, then the oracle's


def test_a_tag_dated_in_the_future_is_never_kept(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    view = repo.view()
    repo.tag("alpha@v1.9.0", when=FUTURE)
    got = listing.summaries(view)
    assert got == oracle(view)
    assert got[0].latest == "v1.9.0" and got[0].updated < "2090"  # the forged date is not "updated"
    kept = json.loads(listing.cache_file(repo.path).read_text())
    assert "alpha" not in kept["models"] and kept["all"] is None
    assert "beta" in kept["models"]  # the other models are kept
    assert listing.summaries(view) == oracle(view)


def _bad_fields(kept: dict) -> dict:  # the right keys, a summary of the wrong types
    kept["models"]["alpha"][1]["versions"] = "2"
    return kept


def _missing_field(kept: dict) -> dict:
    del kept["models"]["beta"][1]["stages"]
    return kept


def _bad_entry(kept: dict) -> dict:
    kept["models"]["gamma"] = [1, 2, 3]
    return kept


def _lying_summary(kept: dict) -> dict:  # well formed, but under a digest no listing has
    kept["models"]["alpha"] = ["0" * 64, {**kept["models"]["alpha"][1], "latest": "v9.9.9"}]
    kept["all"] = None
    return kept


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda kept: b"not json",
        lambda kept: b"[]",
        lambda kept: json.dumps({**kept, "format": 99}).encode(),
        lambda kept: json.dumps(_bad_fields(kept)).encode(),
        lambda kept: json.dumps(_missing_field(kept)).encode(),
        lambda kept: json.dumps(_bad_entry(kept)).encode(),
        lambda kept: json.dumps(_lying_summary(kept)).encode(),
    ],
    ids=["not-json", "a-list", "other-format", "bad-fields", "missing-field", "bad-entry", "lying-summary"],
)
def test_a_corrupt_or_foreign_file_is_never_believed(repo: Repo, corrupt) -> None:  # type: ignore[no-untyped-def]
    view = repo.view()
    listing.summaries(view)
    path = listing.cache_file(repo.path)
    path.write_bytes(corrupt(json.loads(path.read_text())))
    assert listing.summaries(view) == oracle(view)
    assert listing.summaries(view) == oracle(view)


def test_an_unwritable_cache_changes_nothing(repo: Repo) -> None:
    path = listing.cache_file(repo.path)
    path.parent.parent.mkdir(parents=True, exist_ok=True)
    path.parent.write_text("a file where the folder would be")
    assert listing.summaries(repo.view()) == oracle(repo.view())
    repo.tag("alpha@v3.0.0")
    assert listing.summaries(repo.view())[0].latest == "v3.0.0"
    assert not list(path.parent.parent.glob("*.tmp"))


def test_at_is_folded_not_cached(repo: Repo) -> None:
    view = repo.view()
    cut = int(repo.git("for-each-ref", "--format=%(taggerdate:unix)", "refs/tags/beta@v0.1.0"))
    got = listing.summaries(view, at=cut)
    assert got == oracle(view, at=cut)
    assert [s.name for s in got] == ["alpha", "beta"] and got[1].latest == "v0.1.0"
    assert not listing.cache_file(repo.path).exists()


def test_stage_names_with_a_slash_are_read_for_one_model(repo: Repo) -> None:
    """GTO allows ``/`` in stage names; git's ``*`` in a for-each-ref pattern stops at one."""
    repo.tag("alpha#team/prod#7", repo.git("rev-parse", "alpha@v1.1.0^{commit}"))
    reg = Registry(repo.path)
    assert reg.show("alpha#team/prod").version == "1.1.0"
    assert any(e.stage == "team/prod" for e in reg.history("alpha"))
    assert listing.summaries(repo.view())[0].stages == {"prod": "v1.0.0", "team/prod": "v1.1.0"}
    assert listing.summaries(repo.view()) == oracle(repo.view())
