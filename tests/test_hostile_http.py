"""The hostile pushes of ``test_hostile_pushes.py``, ``test_hostile_inputs.py`` and
``test_fuzz_findings.py``, made over smart HTTP: the registry's ``pre-receive`` hook must refuse each
one exactly as it does over ``file://``.

One served registry for the module (``tests/support/servers.py``), set up as ``docs/server.md`` does
(``gitreg init`` on the server's disk, ``gitreg.localLfs false``, ``http.receivepack``) and holding
``m@v1.0.0``. Each case clones it over ``http://``, writes what a collaborator with push access could
with plain git, and pushes: the push fails, stderr names the rule (``remote: gitreg: REJECT <rule>``)
without a traceback, and the served repository's refs are what they were. An honest push passes,
so a hook that refused everything would fail here too.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitreg import Registry
from tests.reliability.team import serve_registry
from tests.support.cli import invoke
from tests.support.fuzz import deep, isolated, refs
from tests.support.onnxfiles import make_onnx
from tests.support.repo import git
from tests.support.servers import http_registry
from tests.test_hostile_pushes import FAR_FUTURE, assert_rejected, commit_files, mktag, pointer, push, sidecar, tag_at

pytestmark = pytest.mark.http


@dataclass(frozen=True)
class Served:
    bare: Path  # the served repository on the server's disk
    url: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The served registry with ``m@v1.0.0`` (pushed by gitreg over HTTP, through the hook)."""
    root = tmp_path_factory.mktemp("hostile-http")
    with isolated(root), http_registry(root / "srv") as server:
        bare, url = serve_registry(server)
        assert git("--git-dir", str(bare), "config", "gitreg.localLfs") == "false"
        Registry(url).push_files([make_onnx(root / "m.onnx", seed=1)], "m", version="1.0.0")
        assert git("--git-dir", str(bare), "tag", "-l") == "m@v1.0.0"
        yield Served(bare, url)


def clone(served: Served, tmp_path: Path) -> Path:
    work = tmp_path / "work-clone"
    git("clone", "-q", served.url, str(work))
    assert git("-C", str(work), "remote", "get-url", "origin").startswith("http://")
    return work


# -- the cases: each writes into a fresh clone and returns what to push and the refusal to expect ------
@dataclass(frozen=True)
class Attempt:
    refspecs: tuple[str, ...]
    rule: str
    fragments: tuple[str, ...]


OID = "ab" * 32  # no object behind it: on a served registry the hook does not look in LFS storage


def version_twin(work: Path) -> Attempt:
    commit_files(
        work,
        {"models/m/model.toml": sidecar("m", "1.0.0+evil", OID, 9), "models/m/model.onnx": pointer(OID, 9)},
    )
    tag_at(work, "m@v1.0.0+evil", "HEAD")
    return Attempt(("--atomic", "HEAD:main", "refs/tags/m@v1.0.0+evil"), "version-tag", ("m@v1.0.0+evil", "m@v1.0.0"))


def typed_config(work: Path) -> Attempt:
    (work / "gitreg.toml").write_text('[registry]\nschema = 1\n[limits]\nmax_plain_blob_bytes = "1MB"\n')
    git("-C", str(work), "commit", "-qam", "config by hand")
    return Attempt(("HEAD:main",), "config", ("gitreg.toml", "max_plain_blob_bytes"))


def deep_config(work: Path) -> Attempt:
    (work / "gitreg.toml").write_text(deep("inline", 330))
    git("-C", str(work), "commit", "-qam", "config by hand")
    return Attempt(("HEAD:main",), "config", ("gitreg.toml nests deeper than 32 levels",))


def unparsable_rule(work: Path) -> Attempt:
    cfg = work / "gitreg.toml"
    cfg.write_text(cfg.read_text() + '\n[gates.staging]\nrules = ["eval.accuracy >= >= 0.9"]\n')
    git("-C", str(work), "commit", "-qam", "a gate by hand")
    return Attempt(("HEAD:main",), "config", ("gitreg.toml: gates.staging.rules[0]",))


def far_future(work: Path) -> Attempt:
    commit_files(work, {"notes.txt": b"x\n"})
    mktag(work, "m@v1.1.0", "HEAD", FAR_FUTURE)
    return Attempt(("--atomic", "HEAD:main", "refs/tags/m@v1.1.0"), "tag-date", ("m@v1.1.0",))


def tag_of_a_tree(work: Path) -> Attempt:
    tree = git("-C", str(work), "rev-parse", "m@v1.0.0^{tree}")
    git("-C", str(work), "tag", "-a", "m@v1.1.0", "-m", "by hand", tree)
    return Attempt(("refs/tags/m@v1.1.0",), "tag-target", ("m@v1.1.0", "names a tree"))


def forged_evaluation(work: Path) -> Attempt:
    git("-C", str(work), "checkout", "-q", "--detach", "m@v1.0.0")
    forged = commit_files(work, {"models/m/model.onnx": b"swapped"}, "Record evaluation of m@v1.0.0")
    return Attempt((f"{forged}:refs/gitreg/evaluations/m/v1.0.0",), "evaluation", ("changes models/m/model.onnx",))


def padded_counter(work: Path) -> Attempt:
    git("-C", str(work), "tag", "-a", "-m", "Assigning stage production", "m#production#007", "m@v1.0.0^{commit}")
    return Attempt(("refs/tags/m#production#007",), "stage-tag", ("m#production#007", "leading zeros"))


def moved_version(work: Path) -> Attempt:
    commit_files(work, {"notes.txt": b"elsewhere\n"})
    git("-C", str(work), "tag", "-f", "-a", "m@v1.0.0", "-m", "moved", "HEAD")
    return Attempt(("--force", "refs/tags/m@v1.0.0"), "immutable-tag", ("refusing to move m@v1.0.0",))


def deleted_version(work: Path) -> Attempt:
    return Attempt((":refs/tags/m@v1.0.0",), "immutable-tag", ("refusing to delete m@v1.0.0",))


def newline_in_sidecar_path(work: Path) -> Attempt:
    hostile = "model.onnx\nmain:stages.toml"
    text = sidecar("m", "1.1.0", OID, 9, path="PATH").replace(b'"PATH"', b'"""' + hostile.encode() + b'"""')
    commit_files(work, {"models/m/model.toml": text, "models/m/model.onnx": pointer(OID, 9)})
    tag_at(work, "m@v1.1.0", "HEAD", date=f"{int(time.time())} +0000")
    return Attempt(("--atomic", "HEAD:main", "refs/tags/m@v1.1.0"), "sidecar", ("models/m/model.toml", "path"))


def plain_blob_over_limit(work: Path) -> Attempt:
    commit_files(work, {"models/m/weights.bin": os.urandom(1_100_000)})
    return Attempt(("HEAD:main",), "lfs-required", ("models/m/weights.bin", "1100000 bytes (limit 1000000)"))


CASES: dict[str, Callable[[Path], Attempt]] = {
    "version-twin": version_twin,
    "typed-config": typed_config,
    "deep-config": deep_config,
    "unparsable-rule": unparsable_rule,
    "far-future-date": far_future,
    "tag-of-a-tree": tag_of_a_tree,
    "forged-evaluation": forged_evaluation,
    "padded-stage-counter": padded_counter,
    "moved-version-tag": moved_version,
    "deleted-version-tag": deleted_version,
    "newline-in-sidecar-path": newline_in_sidecar_path,
    "plain-blob-over-limit": plain_blob_over_limit,
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_hook_refuses_a_hostile_push_over_http(case: str, served: Served, tmp_path: Path) -> None:
    work = clone(served, tmp_path)
    attempt = CASES[case](work)
    before = refs(served.bare)
    p = push(work, *attempt.refspecs)
    assert_rejected(p, attempt.rule, *attempt.fragments)
    # --porcelain: the per-ref status is on stdout; refused by the hook, not by git or the server.
    assert "pre-receive hook declined" in p.stdout, p.stdout
    assert refs(served.bare) == before


def test_an_honest_push_over_http_passes_the_same_hook(served: Served, tmp_path: Path, onnx_file) -> None:
    work = clone(served, tmp_path)
    commit_files(work, {"notes.txt": b"an honest note\n"})
    p = push(work, "HEAD:main")
    assert p.returncode == 0, p.stderr
    assert "REJECT" not in p.stderr
    assert git("--git-dir", str(served.bare), "rev-parse", "main") == git("-C", str(work), "rev-parse", "HEAD")
    # And gitreg's own write of a new version, through the same hook.
    r = invoke("push", str(onnx_file()), "--name", "honest", "--registry", served.url)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == "honest@v1.0.0"
    assert "honest@v1.0.0" in git("--git-dir", str(served.bare), "tag", "-l")
