"""gitreg against a real smart-HTTP git server and a real giftless LFS server on 127.0.0.1.

Each test starts its own server (``tests/support/servers.py``): git ``http-backend`` for refs and
giftless ``LocalStorage`` for artifacts, whose layout is ``lfs_root/<org>/<repo>/<oid>`` (the
``.git`` suffix of the URL is not part of the folder name). A "fresh machine" is a new
``XDG_CACHE_HOME``: gitreg keeps its bare cache clone of a remote registry there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pytest

from gitreg import Registry
from tests.support.cli import invoke, one_error_line
from tests.support.onnxfiles import make_onnx
from tests.support.repo import git
from tests.support.servers import HttpServer, http_registry

pytestmark = pytest.mark.http

PAD = 1_000_000
REPO = "org/registry.git"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[HttpServer]:
    # Requested after the autouse isolation fixture, so the server (and the hooks and http-backend it
    # runs) inherits the isolated HOME and git config.
    with http_registry(tmp_path / "srv") as srv:
        yield srv


@pytest.fixture
def served(server: HttpServer, tmp_path: Path) -> tuple[Path, str]:
    """A served bare repo that is already a registry: (bare path, URL).

    Its first commit is made by ``gitreg init`` of a local registry and pushed with plain git, so
    the tests using this fixture exercise push/pull/check over HTTP even when ``init`` over HTTP
    is broken; ``init`` over HTTP itself is covered by the round-trip and CLI tests.
    """
    bare, url = server.create_repo(REPO)
    seed = tmp_path / "seed.git"
    assert Registry(seed).init() is True
    git("--git-dir", str(seed), "push", "--quiet", url, "refs/heads/main:refs/heads/main")
    assert git("--git-dir", str(bare), "cat-file", "-e", "main:gitreg.toml") == ""
    return bare, url


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def artifact(tmp_path: Path, seed: int) -> Path:
    return make_onnx(tmp_path / "artifacts" / f"model-{seed}.onnx", seed=seed, pad=PAD)


def lfs_object(server: HttpServer, oid: str) -> Path:
    """Where giftless's LocalStorage keeps ``oid`` for ``REPO``."""
    org, repo = REPO.removesuffix(".git").split("/")
    return server.lfs_root / org / repo / oid


def use_cache(monkeypatch: pytest.MonkeyPatch, root: Path) -> Path:
    """Switch to another "machine": gitreg's cache clone lives under ``$XDG_CACHE_HOME``."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(root))
    return root


def cache_repo(cache_root: Path) -> Path:
    """The one bare cache clone under ``cache_root``."""
    repos = sorted((cache_root / "gitreg").glob("*.git"))
    assert len(repos) == 1, repos
    return repos[0]


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def error_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ln.startswith("error:")]


# -- 1. round trip ------------------------------------------------------------------------------------
def test_init_push_list_show_pull_over_http(
    server: HttpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare, url = server.create_repo(REPO)
    reg = Registry(url)
    assert reg.init() is True
    assert Registry(url).init() is False  # idempotent: the remote main already has gitreg.toml
    assert git("--git-dir", str(bare), "cat-file", "-e", "main:gitreg.toml") == ""

    f1, f2 = artifact(tmp_path, 1), artifact(tmp_path, 2)
    assert f1.stat().st_size > PAD and sha256(f1) != sha256(f2)
    v1 = reg.push_files([f1], "churn", metrics={"auc": 0.90})
    v2 = reg.push_files([f2], "churn", metrics={"auc": 0.92})
    assert (v1.ref, v2.ref) == ("churn@v1.0.0", "churn@v1.1.0")  # metrics given: minor bump
    assert (v1.tag, v2.tag) == ("churn@v1.0.0", "churn@v1.1.0")

    [summary] = reg.list()
    assert (summary.name, summary.latest, summary.versions, summary.deprecated) == (
        "churn",
        "v1.1.0",
        2,
        False,
    )
    assert [v.version for v in reg.versions("churn")] == ["1.0.0", "1.1.0"]
    shown1 = reg.show("churn@v1.0.0")
    assert shown1.commit == v1.commit
    assert shown1.sidecar is not None
    art1 = shown1.sidecar.artifacts["onnx"]
    assert (art1.sha256, art1.size) == (sha256(f1), f1.stat().st_size)
    assert shown1.sidecar.metrics["auc"] == pytest.approx(0.90)
    latest = reg.show("churn")
    assert latest.version == "1.1.0" and latest.sidecar is not None
    assert latest.sidecar.artifacts["onnx"].sha256 == sha256(f2)
    assert [(e.event, e.version) for e in reg.history("churn")] == [
        ("registration", "1.0.0"),
        ("registration", "1.1.0"),
    ]

    # The served repo itself (plain git, no gitreg): annotated tags on the commits, main at v2.
    refs = git(
        "--git-dir", str(bare), "for-each-ref", "--format=%(refname) %(objecttype) %(*objectname)",
        "refs/tags",
    ).splitlines()  # fmt: skip
    assert sorted(refs) == [
        f"refs/tags/churn@v1.0.0 tag {v1.commit}",
        f"refs/tags/churn@v1.1.0 tag {v2.commit}",
    ]
    assert git("--git-dir", str(bare), "rev-parse", "refs/heads/main") == v2.commit
    pointer = git("--git-dir", str(bare), "cat-file", "blob", f"churn@v1.0.0:models/churn/{art1.path}")
    assert f"oid sha256:{art1.sha256}" in pointer and len(pointer) < 200  # a pointer, not the bytes

    # The artifacts are in giftless's storage, exactly where LocalStorage puts them.
    for f in (f1, f2):
        stored = lfs_object(server, sha256(f))
        assert stored.is_file(), files_under(server.lfs_root)
        assert stored.read_bytes() == f.read_bytes()
    assert len(files_under(server.lfs_root)) == 2

    # Another machine: a new cache, nothing local but the URL.
    fresh = use_cache(monkeypatch, tmp_path / "cache-b")
    out = tmp_path / "pulled"
    res = Registry(url).pull("churn@v1.0.0", out)
    pulled = out / art1.path
    assert pulled.read_bytes() == f1.read_bytes()
    assert sha256(pulled) == art1.sha256
    assert res.bytes == f1.stat().st_size
    assert set(res.files) == {str(pulled), str(out / "model.toml")}
    assert (out / "model.toml").is_file()
    assert cache_repo(fresh).is_dir()  # the pull went through the new machine's own cache


# -- 2. a pull downloads one object -------------------------------------------------------------------
def test_pull_from_fresh_cache_downloads_only_that_version(
    served: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, url = served
    files = [artifact(tmp_path, seed) for seed in (11, 12, 13)]
    reg = Registry(url)
    refs = [reg.push_files([f], "ranker").ref for f in files]
    assert refs == ["ranker@v1.0.0", "ranker@v1.0.1", "ranker@v1.0.2"]
    oids = [sha256(f) for f in files]
    assert len(set(oids)) == 3

    fresh = use_cache(monkeypatch, tmp_path / "cache-fresh")
    out = tmp_path / "out"
    res = Registry(url).pull("ranker@v1.0.1", out, format="onnx")

    assert res.version == "v1.0.1"
    assert (out / "model.onnx").read_bytes() == files[1].read_bytes()
    objects = files_under(cache_repo(fresh) / "lfs" / "objects")
    assert [p.name for p in objects] == [oids[1]], objects
    assert objects[0].read_bytes() == files[1].read_bytes()
    # No other version's bytes anywhere in the fresh cache (not in a tmp folder, not in the pack).
    for p in files_under(fresh):
        assert p.name not in (oids[0], oids[2])
        assert p.stat().st_size < PAD or p.name == oids[1], p


# -- 3. check, and a missing object ------------------------------------------------------------------
def test_check_over_http_detects_missing_object(served: tuple[Path, str], server: HttpServer, tmp_path: Path) -> None:
    _, url = served
    reg = Registry(url)
    f1, f2 = artifact(tmp_path, 21), artifact(tmp_path, 22)
    reg.push_files([f1], "scorer")
    reg.push_files([f2], "scorer")

    report = reg.check()
    assert report.ok, report.problems
    assert (report.versions, report.objects, report.problems) == (2, 2, ())
    clean = invoke("check", "--registry", url)
    assert clean.exit_code == 0, clean.stderr
    assert clean.stdout.strip().splitlines()[-1].startswith("ok: 2 versions, 2 artifact objects")

    lfs_object(server, sha256(f1)).unlink()

    report = Registry(url).check()
    assert not report.ok
    assert len(report.problems) == 1, report.problems
    assert "scorer@v1.0.0" in report.problems[0] and "missing" in report.problems[0]
    assert sha256(f1)[:12] in report.problems[0]
    assert (report.versions, report.objects) == (2, 2)

    cli = invoke("check", "--registry", url)
    assert cli.exit_code == 3, (cli.stdout, cli.stderr)
    assert "Traceback" not in cli.stderr
    assert any(ln.startswith("problem: scorer@v1.0.0") for ln in cli.stdout.splitlines()), cli.stdout
    as_json = invoke("check", "--registry", url, "--json")
    assert as_json.exit_code == 3
    data = json.loads(as_json.stdout)
    assert data["ok"] is False and len(data["problems"]) == 1

    # Another machine pulls the broken version: one clear error, nothing written.
    other = {"XDG_CACHE_HOME": str(tmp_path / "cache-other")}
    out = tmp_path / "out-broken"
    pull = invoke("pull", "scorer@v1.0.0", "--registry", url, "-o", str(out), env=other)
    assert pull.exit_code in (1, 3), (pull.stdout, pull.stderr)
    assert "Traceback" not in pull.stderr
    errors = error_lines(pull.stderr)
    assert len(errors) == 1, pull.stderr
    assert "missing" in errors[0] or "not found" in errors[0].lower(), errors[0]
    assert not (out / "model.onnx").exists()
    assert [p for p in files_under(out) if p.suffix in (".onnx", ".tmp")] == []

    # The intact version still pulls from that machine.
    ok = invoke("pull", "scorer@v1.0.1", "--registry", url, "-o", str(tmp_path / "out-ok"), env=other)
    assert ok.exit_code == 0, ok.stderr
    assert (tmp_path / "out-ok" / "model.onnx").read_bytes() == f2.read_bytes()


def test_check_over_http_when_every_object_is_missing(
    served: tuple[Path, str], server: HttpServer, tmp_path: Path
) -> None:
    """giftless answers the whole batch with 404 when it has none of the objects asked about
    (``giftless/view.py``: "Cannot find any of the requested objects"). That is the worst case —
    the LFS storage lost everything — and must still be a failed check (exit 3), not a network
    error (exit 1)."""
    _, url = served
    f = artifact(tmp_path, 25)
    Registry(url).push_files([f], "lonely")
    assert Registry(url).check().ok
    lfs_object(server, sha256(f)).unlink()

    report = Registry(url).check()  # today: RemoteError "cannot query the LFS server ... 404"
    assert not report.ok
    assert len(report.problems) == 1 and "lonely@v1.0.0" in report.problems[0], report.problems

    cli = invoke("check", "--registry", url)
    assert cli.exit_code == 3, (cli.stdout, cli.stderr)
    assert "Traceback" not in cli.stderr


# -- 4. the CLI as a subprocess ----------------------------------------------------------------------
def test_cli_push_and_list_json_over_http(server: HttpServer, tmp_path: Path) -> None:
    bare, url = server.create_repo(REPO)
    init = invoke("init", "--registry", url)
    assert init.exit_code == 0, init.stderr
    assert init.stdout.strip() == f"initialised: {url}"

    f = artifact(tmp_path, 31)
    push = invoke("push", str(f), "--name", "fraud", "--metric", "f1=0.8", "--registry", url)
    assert push.exit_code == 0, push.stderr
    assert push.stdout.strip() == "fraud@v1.0.0"
    assert "Traceback" not in push.stderr

    listed = invoke("list", "--registry", url, "--json")
    assert listed.exit_code == 0, listed.stderr
    models = json.loads(listed.stdout)
    assert [(m["name"], m["latest"], m["versions"]) for m in models] == [("fraud", "v1.0.0", 1)]

    shown = invoke("show", "fraud@v1.0.0", "--registry", url, "--json")
    assert shown.exit_code == 0, shown.stderr
    sidecar = json.loads(shown.stdout)["sidecar"]
    assert sidecar["artifacts"]["onnx"]["sha256"] == sha256(f)
    assert sidecar["metrics"]["f1"] == pytest.approx(0.8)

    assert lfs_object(server, sha256(f)).read_bytes() == f.read_bytes()
    assert git("--git-dir", str(bare), "tag", "--list") == "fraud@v1.0.0"


# -- 5. unreachable registry -------------------------------------------------------------------------
def test_unreachable_registry_is_one_error_line(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/nope.git"
    p = invoke("list", "--registry", url)
    assert p.exit_code == 1, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr
    errors = error_lines(p.stderr)
    assert len(errors) == 1, p.stderr
    assert "cannot reach registry" in errors[0] and url in errors[0]
    assert p.stdout == ""
    # A failed first contact leaves no half-made cache clone behind.
    cache = tmp_path / "home" / ".cache" / "gitreg"
    assert [p.name for p in cache.glob("*.git*")] == []


# -- 6. two clients ----------------------------------------------------------------------------------
def test_two_clients_alternate_pushes(
    served: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare, url = served
    caches = {"a": tmp_path / "cache-a", "b": tmp_path / "cache-b"}
    pushed = []
    for i, who in enumerate("abab"):
        use_cache(monkeypatch, caches[who])
        f = artifact(tmp_path, 40 + i)
        mv = Registry(url).push_files([f], "shared")
        pushed.append((who, mv, f))

    # Each client pushed from a stale cache the second time and still got the next version.
    assert [mv.version for _, mv, _ in pushed] == ["1.0.0", "1.0.1", "1.0.2", "1.0.3"]
    for (_, earlier, _), (_, later, _) in pairwise(pushed):
        assert git("--git-dir", str(bare), "rev-parse", f"{later.commit}^") == earlier.commit
    assert git("--git-dir", str(bare), "rev-list", "--count", "main") == "5"  # init + 4 registrations

    for who in "ab":
        use_cache(monkeypatch, caches[who])
        reg = Registry(url)
        versions = reg.versions("shared")
        assert [v.version for v in versions] == ["1.0.0", "1.0.1", "1.0.2", "1.0.3"]
        assert [v.sidecar.artifacts["onnx"].sha256 for v in versions if v.sidecar] == [sha256(f) for _, _, f in pushed]
        [summary] = reg.list()
        assert (summary.latest, summary.versions) == ("v1.0.3", 4)
        assert [e.version for e in reg.history("shared")] == ["1.0.0", "1.0.1", "1.0.2", "1.0.3"]
        # Each client pulls the other's version.
        theirs = next(f for w, _, f in pushed if w != who)
        ref = next(mv.ref for w, mv, _ in pushed if w != who)
        res = reg.pull(ref, tmp_path / f"pull-{who}")
        assert Path(res.files[0]).read_bytes() == theirs.read_bytes()
    assert cache_repo(caches["a"]) != cache_repo(caches["b"])


# -- 7. a tampered object on the LFS server ----------------------------------------------------------
def test_tampered_server_object_check_deep_and_pull(
    served: tuple[Path, str], server: HttpServer, tmp_path: Path
) -> None:
    """``check`` says it only asked the server (presence), ``check --deep`` downloads and hashes
    and names the version, path and oid of the corrupt object (exit 3), and ``pull`` refuses the
    bytes with an integrity error (exit 3), leaving nothing in the destination nor in the cache."""
    _, url = served
    f1, f2 = artifact(tmp_path, 61), artifact(tmp_path, 62)
    Registry(url).push_files([f1], "scorer")
    Registry(url).push_files([f2], "scorer")
    oid = sha256(f1)

    shallow = invoke("check", "--registry", url)
    assert shallow.exit_code == 0, shallow.stderr
    presence = [ln for ln in shallow.stderr.splitlines() if "presence only" in ln]
    assert presence == [
        "warning: 2 LFS object(s) on the LFS server checked for presence only, their bytes not hashed: "
        "run gitreg check --deep to download and hash each one"
    ], shallow.stderr
    deep = invoke("check", "--deep", "--registry", url)
    assert deep.exit_code == 0, deep.stderr
    assert "presence only" not in deep.stderr
    assert deep.stdout.strip().splitlines()[-1].startswith("ok: 2 versions, 2 artifact objects")

    stored = lfs_object(server, oid)
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes: only a hash can tell
    stored.write_bytes(bytes(data))
    bad = hashlib.sha256(bytes(data)).hexdigest()

    assert invoke("check", "--registry", url).exit_code == 0  # presence only: still there, and it says so
    before = files_under(tmp_path)
    deep = invoke("check", "--deep", "--registry", url, "--json")
    assert deep.exit_code == 3, (deep.stdout, deep.stderr)
    report = json.loads(deep.stdout)
    assert report["problems"] == [
        f"scorer@v1.0.0:model.onnx: LFS object {oid} is corrupt on the LFS server "
        f"(its bytes hash to {bad[:12]}…, {len(data)} bytes; expected {len(data)})"
    ]
    assert files_under(tmp_path) == before  # streamed and hashed: no download kept anywhere

    other = {"XDG_CACHE_HOME": str(tmp_path / "cache-tampered")}
    out = tmp_path / "out-tampered"
    pull = invoke("pull", "scorer@v1.0.0", "--registry", url, "-o", str(out), env=other)
    assert pull.exit_code == 3, (pull.stdout, pull.stderr)
    line = one_error_line(pull.stderr)
    assert "corrupt" in line and oid[:12] in line and "scorer@v1.0.0:model.onnx" in line, line
    assert files_under(out) == []
    cache = cache_repo(tmp_path / "cache-tampered")
    assert files_under(cache / "lfs") == [], files_under(cache / "lfs")  # no partial download, no log

    # The intact version still pulls, through the same cache.
    ok = invoke("pull", "scorer@v1.0.1", "--registry", url, "-o", str(tmp_path / "out-ok"), env=other)
    assert ok.exit_code == 0, ok.stderr
    assert (tmp_path / "out-ok" / "model.onnx").read_bytes() == f2.read_bytes()
