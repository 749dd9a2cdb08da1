"""What a collaborator with push access can write with plain git, pushed through the real hook.

Each hostile push is made the way such a collaborator would: a clone, plumbing, ``git push``. The
hook must refuse it with a named rule; and where a registry already holds such content (written
before the rule existed, or on a host that runs no hooks, put there here by a push that skips the
hook), reads must still answer exactly and ``check`` must report it (exit 3), never pass over it.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.errors import GitFailed
from gitreg.store import lfs
from gitreg.store.git import Git
from tests.support.cli import invoke, one_error_line
from tests.support.repo import git

NO_LFS = ["-c", "filter.lfs.clean=cat", "-c", "filter.lfs.process=", "-c", "filter.lfs.required=false"]
# A push that skips the registry's hook: the state a registry reached before a rule existed, or on a host without hooks.
UNHOOKED = "--receive-pack=git -c core.hooksPath=/dev/null receive-pack"


def push(work: Path, *refspecs: str, hooked: bool = True) -> subprocess.CompletedProcess:
    extra = [] if hooked else [UNHOOKED]
    return subprocess.run(
        ["git", "-C", str(work), "push", "--no-verify", "--porcelain", *extra, "origin", *refspecs],
        capture_output=True,
        text=True,
        check=False,
    )


def assert_rejected(p: subprocess.CompletedProcess, rule: str, *fragments: str) -> None:
    assert p.returncode != 0, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith(f"remote: gitreg: REJECT {rule}: ")]
    assert lines and any(all(f in ln for f in fragments) for ln in lines), p.stderr
    assert "Traceback" not in p.stderr


def commit_files(work: Path, files: dict[str, bytes], message: str = "by hand") -> str:
    for rel, content in files.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_bytes(content)
    git("-C", str(work), *NO_LFS, "add", "-A")
    git("-C", str(work), "commit", "-qm", message)
    return git("-C", str(work), "rev-parse", "HEAD")


def tag_at(work: Path, tag: str, target: str, date: str = "1600000000 +0000") -> None:
    """An annotated tag with a chosen tagger date (an older one sorts the tag first in time)."""
    env = {**os.environ, "GIT_COMMITTER_DATE": date}
    subprocess.run(["git", "-C", str(work), "tag", "-a", tag, "-m", f"Registering {tag}", target], env=env, check=True)


def upload(registry_path: Path, data: bytes) -> tuple[str, int]:
    """An LFS object put into the registry's store, as ``git lfs push`` to a file remote would."""
    oid = hashlib.sha256(data).hexdigest()
    path = lfs.object_path(registry_path / "lfs", oid)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return oid, len(data)


def sidecar(name: str, version: str, oid: str, size: int, path: str = "model.onnx") -> bytes:
    return (
        f'schema = 1\n[model]\nname = "{name}"\nversion = "{version}"\n'
        f'[artifacts.onnx]\npath = "{path}"\nsha256 = "{oid}"\nsize = {size}\n'
    ).encode()


def pointer(oid: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()


def spoof(registry_path: Path, tmp_path: Path, hooked: bool) -> subprocess.CompletedProcess:
    """``spoof@v1.0.0+evil``: older tagger date, its own sidecar and LFS object, beside ``spoof@v1.0.0``."""
    work = tmp_path / f"evil-{hooked}"
    git("clone", "-q", str(registry_path), str(work))
    oid, size = upload(registry_path, b"not the model you pinned")
    commit_files(
        work,
        {
            "models/spoof/model.toml": sidecar("spoof", "1.0.0+evil", oid, size),
            "models/spoof/model.onnx": pointer(oid, size),
        },
    )
    tag_at(work, "spoof@v1.0.0+evil", "HEAD")
    return push(work, "--atomic", "HEAD:main", "refs/tags/spoof@v1.0.0+evil", hooked=hooked)


# -- 1. a pinned version cannot be swapped ---------------------------------------------------------------
def test_a_version_of_equal_precedence_is_refused_by_the_hook(
    registry: Registry, registry_path: Path, tmp_path: Path, onnx_file
) -> None:
    registry.push_files([onnx_file()], "spoof", version="1.0.0")
    before = git("--git-dir", str(registry_path), "for-each-ref")
    assert_rejected(spoof(registry_path, tmp_path, hooked=True), "version-tag", "spoof@v1.0.0+evil", "spoof@v1.0.0")
    assert git("--git-dir", str(registry_path), "for-each-ref") == before
    # Two of them in one push: the second is refused too.
    work = tmp_path / "pair"
    git("clone", "-q", str(registry_path), str(work))
    commit_files(work, {"notes.txt": b"x\n"})
    tag_at(work, "spoof@v2.0.0+a", "HEAD")
    tag_at(work, "spoof@v2.0.0+b", "HEAD~1")
    assert_rejected(push(work, "--atomic", "HEAD:main", "--tags"), "version-tag", "spoof@v2.0.0+")


def test_a_pinned_version_resolves_to_its_own_tag_and_check_reports_the_twin(
    registry: Registry, registry_path: Path, tmp_path: Path, onnx_file
) -> None:
    mv = registry.push_files([onnx_file()], "spoof", version="1.0.0")
    p = spoof(registry_path, tmp_path, hooked=False)  # a registry the hook did not guard
    assert p.returncode == 0, p.stderr
    shown = registry.show("spoof@v1.0.0")
    assert (shown.version, shown.commit) == ("1.0.0", mv.commit)
    assert registry.show("spoof@v1.0.0+evil").version == "1.0.0+evil"
    r = invoke("show", "spoof@v1.0.0", "--json", "--registry", str(registry_path))
    assert r.exit_code == 0 and "evil" not in r.stdout, r.stdout
    out = tmp_path / "pulled"
    registry.pull("spoof@v1.0.0", out)
    pulled = {f.name: f.read_bytes() for f in out.rglob("*") if f.is_file()}
    assert b"not the model you pinned" not in b"".join(pulled.values())
    report = registry.check()
    assert any("spoof@v1.0.0+evil" in x and "precedence" in x for x in report.problems), report.problems
    c = invoke("check", "--registry", str(registry_path))
    assert c.exit_code == 3, c.stdout + c.stderr


def test_the_fold_flags_twins_and_resolve_takes_the_exact_tag() -> None:
    from gitreg.core.refs import parse_reference
    from gitreg.core.state import TagRecord, fold
    from gitreg.errors import InvalidReference
    from gitreg.registry.backend import Backend

    st = fold([TagRecord("m@v1.0.0+evil", "a" * 40, time=1), TagRecord("m@v1.0.0", "b" * 40, time=2)])["m"]
    assert any("m@v1.0.0+evil" in p and "precedence" in p for p in st.problems), st.problems
    assert Backend.resolve(st, parse_reference("m@v1.0.0")).commit == "b" * 40
    assert Backend.resolve(st, parse_reference("m@v1.0.0+evil")).commit == "a" * 40
    # Without the exact tag, one build of 1.0.0 is 1.0.0; two are ambiguous, never a guess.
    one = fold([TagRecord("m@v1.0.0+build.5", "a" * 40)])["m"]
    assert one.problems == [] and Backend.resolve(one, parse_reference("m@v1.0.0")).version == "1.0.0+build.5"
    two = fold([TagRecord("m@v1.0.0+a", "a" * 40, time=1), TagRecord("m@v1.0.0+b", "b" * 40, time=2)])["m"]
    with pytest.raises(InvalidReference, match="ambiguous"):
        Backend.resolve(two, parse_reference("m@v1.0.0"))


def test_gitreg_push_refuses_a_version_equal_in_precedence(registry: Registry, onnx_file) -> None:
    registry.push_files([onnx_file()], "m", version="1.0.0")
    r = invoke("push", str(onnx_file()), "--name", "m", "--version", "1.0.0+rebuild", "--registry", str(registry.url))
    assert r.exit_code == 1 and "m@v1.0.0" in one_error_line(r.stderr)


# -- 2. a wrongly typed gitreg.toml locks no one out ------------------------------------------------------
# Whole files: valid TOML, one value of the wrong type.
BAD_CONFIGS = [
    ('[registry]\nschema = 1\n[limits]\nmax_plain_blob_bytes = "1MB"\n', "max_plain_blob_bytes"),
    ('[registry]\nschema = 1\n[parity]\nrtol = "abc"\n', "rtol"),
    ("stages = 1\n[registry]\nschema = 1\n", "[stages]"),
]


def _with_config(work: Path, text: str) -> None:
    (work / "gitreg.toml").write_text(text)


@pytest.mark.parametrize(("bad", "key"), BAD_CONFIGS, ids=["limits", "parity", "stages"])
def test_a_wrongly_typed_gitreg_toml_is_refused_by_the_hook(
    bad: str, key: str, registry: Registry, registry_path: Path, tmp_path: Path
) -> None:
    work = tmp_path / "w"
    git("clone", "-q", str(registry_path), str(work))
    _with_config(work, bad)
    git("-C", str(work), "commit", "-qam", "config by hand")
    before = git("--git-dir", str(registry_path), "rev-parse", "main")
    assert_rejected(push(work, "HEAD:main"), "config", "gitreg.toml", key)
    assert git("--git-dir", str(registry_path), "rev-parse", "main") == before


@pytest.mark.parametrize(("bad", "key"), BAD_CONFIGS, ids=["limits", "parity", "stages"])
def test_a_bad_gitreg_toml_already_on_main_can_be_fixed_and_is_one_error_line(
    bad: str, key: str, registry: Registry, registry_path: Path, tmp_path: Path, onnx_file
) -> None:
    mv = registry.push_files([onnx_file()], "m", version="1.0.0")
    work = tmp_path / "w"
    git("clone", "-q", str(registry_path), str(work))
    good = (work / "gitreg.toml").read_text()
    _with_config(work, bad)
    git("-C", str(work), "commit", "-qam", "config by hand")
    assert push(work, "HEAD:main", hooked=False).returncode == 0  # there before the rule
    reg = str(registry_path)
    for args in (["promote", "m@v1.0.0", "--to", "staging"], ["parity", "m@v1.0.0"]):
        r = invoke(*args, "--registry", reg)
        assert r.exit_code == 1, (args, r.exit_code, r.stderr)
        line = one_error_line(r.stderr)
        assert "internal error" not in line and "gitreg.toml" in line and key in line, (args, line)
    r = invoke("check", "--registry", reg)  # a problem to report, and the versions checked all the same
    assert r.exit_code == 3, (r.exit_code, r.stdout, r.stderr)
    assert "problem: gitreg.toml" in r.stdout + r.stderr and key in r.stdout + r.stderr
    # Pushes still pass the hook (its limits fall back to the defaults), and so does the fix.
    other = tmp_path / "other"
    git("clone", "-q", reg, str(other))
    commit_files(other, {"notes.txt": b"unrelated\n"})
    assert push(other, "HEAD:main").returncode == 0
    git("-C", str(work), "pull", "-q", "--rebase", "origin", "main")
    (work / "gitreg.toml").write_text(good)
    git("-C", str(work), "commit", "-qam", "fix gitreg.toml")
    p = push(work, "HEAD:main")
    assert p.returncode == 0, p.stderr
    assert registry.check().ok and registry.show("m@v1.0.0").commit == mv.commit


# -- 3. no line break reaches a line protocol -------------------------------------------------------------
def test_cat_file_refuses_a_request_with_a_line_break(registry: Registry, registry_path: Path, onnx_file) -> None:
    registry.push_files([onnx_file()], "m", version="1.0.0")
    with Git(registry_path).cat_file() as cf:
        for spec in ("main:gitreg.toml\nmain:stages.toml", "main:gitreg.toml\0", "main\r"):
            with pytest.raises(GitFailed, match="line break"):
                cf.get(spec)
            with pytest.raises(GitFailed, match="line break"):
                cf.get_many(["main:stages.toml", spec])
        # Nothing was sent: the stream still answers the next question with its own answer.
        assert cf.get("main:gitreg.toml") == Git(registry_path).read_blob("main:gitreg.toml")


def test_a_sidecar_path_with_a_newline_is_refused_and_check_reports_it(
    registry: Registry, registry_path: Path, tmp_path: Path, onnx_file
) -> None:
    registry.push_files([onnx_file()], "m", version="1.0.0")
    oid, size = upload(registry_path, b"payload")
    hostile = "model.onnx\nmain:stages.toml"  # one request for git, two answers: later reads shift by one

    def attempt(hooked: bool) -> subprocess.CompletedProcess:
        work = tmp_path / f"nl-{hooked}"
        git("clone", "-q", str(registry_path), str(work))
        text = sidecar("m", "1.1.0", oid, size, path="PATH").replace(b'"PATH"', b'"""' + hostile.encode() + b'"""')
        commit_files(work, {"models/m/model.toml": text, "models/m/model.onnx": pointer(oid, size)})
        tag_at(work, "m@v1.1.0", "HEAD", date="1900000000 +0000")
        return push(work, "--atomic", "HEAD:main", "refs/tags/m@v1.1.0", hooked=hooked)

    assert_rejected(attempt(hooked=True), "sidecar", "models/m/model.toml", "path")
    assert attempt(hooked=False).returncode == 0
    report = registry.check()
    assert not report.ok and any("m@v1.1.0" in p for p in report.problems), report
    r = invoke("check", "--registry", str(registry_path))
    assert r.exit_code == 3, r.stdout + r.stderr


@pytest.mark.parametrize("path", ["model\n.onnx", "model\r.onnx", "model\x00.onnx", "mo del.onnx", '"x".onnx'])
def test_artifact_paths_with_control_characters_fail_sidecar_validation(path: str) -> None:
    from gitreg.core import sidecar as sidecar_mod
    from gitreg.errors import SidecarError

    data = {"schema": 1, "model": {"name": "m", "version": "1.0.0"}}
    data["artifacts"] = {"onnx": {"path": path, "sha256": "ab" * 32, "size": 1}}
    with pytest.raises(SidecarError, match="plain file name"):
        sidecar_mod.from_dict(data)


# -- 4. tags of trees or tags, forged evaluation records ---------------------------------------------------
def test_registry_tags_that_name_no_commit_directly_are_refused(
    registry: Registry, registry_path: Path, tmp_path: Path, onnx_file
) -> None:
    registry.push_files([onnx_file()], "m", version="1.0.0")
    work = tmp_path / "w"
    git("clone", "-q", str(registry_path), str(work))
    before = git("--git-dir", str(registry_path), "for-each-ref")
    tree = git("-C", str(work), "rev-parse", "m@v1.0.0^{tree}")
    cases = [("m@v1.1.0", tree, "tree"), ("m@v1.2.0", "m@v1.0.0", "tag"), ("m#staging#1", "m@v1.0.0", "tag")]
    for tag, target, kind in cases:
        git("-C", str(work), "tag", "-a", tag, "-m", "by hand", target)
        assert_rejected(push(work, f"refs/tags/{tag}"), "tag-target", tag, f"names a {kind}")
        git("-C", str(work), "tag", "-d", tag)
    assert git("--git-dir", str(registry_path), "for-each-ref") == before


def test_forged_evaluation_records_are_refused(
    registry: Registry, registry_path: Path, tmp_path: Path, onnx_file
) -> None:
    from gitreg.registry.records import record

    registry.push_files([onnx_file()], "m", version="1.0.0")
    registry.push_files([onnx_file()], "m", version="1.1.0")
    first = record(registry.backend, registry.show("m@v1.0.0"), {"samples": 3, "accuracy": 0.5})  # through the hook
    ref = "refs/gitreg/evaluations/m/v1.0.0"
    assert git("--git-dir", str(registry_path), "rev-parse", ref) == first.commit
    work = tmp_path / "w"
    git("clone", "-q", str(registry_path), str(work))
    git("-C", str(work), "fetch", "-q", "origin", "+refs/gitreg/*:refs/gitreg/*")
    before = git("--git-dir", str(registry_path), "for-each-ref")

    def forge(base: str, files: dict[str, bytes]) -> str:
        git("-C", str(work), "checkout", "-q", "--detach", base)
        return commit_files(work, files, "Record evaluation of m@v1.0.0")

    good = (work / "models/m/model.toml").read_bytes() + b"\n[evaluation]\naccuracy = 0.99\nsamples = 3\n"
    cases = [
        # (what is pushed, fragments of the refusal)
        (f"{forge('m@v1.1.0', {'models/m/model.toml': good})}:{ref}", ["not a fast-forward"]),
        (f"{forge(first.commit, {'models/m/model.onnx': b'swapped'})}:{ref}", ["changes models/m/model.onnx"]),
        (
            f"{forge('m@v1.0.0', {'models/m/notes.txt': b'x'})}:refs/gitreg/evaluations/m/v9.0.0",
            ["no version m@v9.0.0"],
        ),
        (
            f"{forge('m@v1.1.0', {'models/m/README.md': b'x'})}:refs/gitreg/evaluations/m/v1.0.0x",
            ["is not refs/gitreg"],
        ),
        (f"{forge('m@v1.1.0', {'models/m/README.md': b'x'})}:refs/gitreg/other", ["is not refs/gitreg"]),
        (f":{ref}", ["refusing to delete"]),
    ]
    for refspec, fragments in cases:
        assert_rejected(push(work, "--force", refspec), "evaluation", *fragments)
    older = forge("m@v1.0.0", {"models/m/README.md": b"z"})  # before v1.1.0: not a record of it
    assert_rejected(push(work, f"{older}:refs/gitreg/evaluations/m/v1.1.0"), "evaluation", "does not descend")
    assert git("--git-dir", str(registry_path), "for-each-ref") == before
    # The next record by gitreg still passes (a fast-forward of the first).
    second = record(registry.backend, registry.show("m@v1.0.0"), {"samples": 4, "accuracy": 0.75})
    assert git("--git-dir", str(registry_path), "rev-parse", f"{ref}^") == first.commit != second.commit


# -- 5. tagger dates no calendar holds, or from the future -------------------------------------------------
def mktag(work: Path, tag: str, target: str, when: int) -> str:
    """An annotated tag object with any tagger date (``git tag`` refuses some), under refs/tags/<tag>."""
    commit = git("-C", str(work), "rev-parse", f"{target}^{{commit}}")
    body = (
        f"object {commit}\ntype commit\ntag {tag}\ntagger Mallory <m@example.com> {when} +0000\n\nRegistering {tag}\n"
    )
    oid = subprocess.run(
        ["git", "-C", str(work), "mktag"], input=body, capture_output=True, text=True, check=True
    ).stdout.strip()
    git("-C", str(work), "update-ref", f"refs/tags/{tag}", oid)
    return oid


FAR_FUTURE = 94608000000000  # the year ~3,000,000: `list` used to fail for the whole registry on it


def test_the_fold_reports_tagger_dates_no_one_can_believe() -> None:
    from gitreg.core.state import MAX_CLOCK_SKEW, TagRecord, fold

    now = 1_800_000_000
    st = fold(
        [
            TagRecord("m@v1.0.0", "a" * 40, time=now - 10),
            TagRecord("m@v1.1.0", "b" * 40, time=now + MAX_CLOCK_SKEW - 1),  # a clock a little ahead: fine
            TagRecord("m@v1.2.0", "c" * 40, time=now + 2 * MAX_CLOCK_SKEW),
            TagRecord("m@v1.3.0", "d" * 40, time=FAR_FUTURE),
        ],
        now=now,
    )["m"]
    assert len(st.problems) == 2, st.problems
    assert "m@v1.2.0" in st.problems[0] and "in the future" in st.problems[0]
    assert "m@v1.3.0" in st.problems[1] and "beyond the year 9999" in st.problems[1]
    # Read as versions all the same; writers follow the newest believable date, not the forged one.
    assert sorted(st.versions) == ["1.0.0", "1.1.0", "1.2.0", "1.3.0"]
    assert st.last_time == now + MAX_CLOCK_SKEW - 1


@pytest.mark.parametrize("ahead", [FAR_FUTURE, 2 * 86400])
def test_a_registry_tag_dated_in_the_future_is_refused_by_the_hook(
    ahead: int, registry: Registry, registry_path: Path, tmp_path: Path, onnx_file
) -> None:
    registry.push_files([onnx_file()], "m", version="1.0.0")
    before = git("--git-dir", str(registry_path), "for-each-ref")
    work = tmp_path / "w"
    git("clone", "-q", str(registry_path), str(work))
    when = ahead if ahead > 10**12 else int(time.time()) + ahead
    commit_files(work, {"notes.txt": b"x\n"})
    mktag(work, "m@v1.1.0", "HEAD", when)
    mktag(work, "m#production#9", "m@v1.0.0", when)
    p = push(work, "--atomic", "HEAD:main", "refs/tags/m@v1.1.0", "refs/tags/m#production#9")
    assert_rejected(p, "tag-date", "m@v1.1.0")
    assert_rejected(p, "tag-date", "m#production#9")
    assert git("--git-dir", str(registry_path), "for-each-ref") == before
    # A tag with an honest date in the same push goes through once the forged ones are dropped.
    git("-C", str(work), "tag", "-d", "m@v1.1.0", "m#production#9")
    mktag(work, "m@v1.1.0", "HEAD", int(time.time()))
    p = push(work, "--atomic", "HEAD:main", "refs/tags/m@v1.1.0")
    assert p.returncode == 0, p.stderr


def test_a_far_future_tag_already_there_is_reported_and_locks_no_one_out(
    registry: Registry, registry_path: Path, tmp_path: Path, onnx_file
) -> None:
    registry.push_files([onnx_file()], "m", version="1.0.0")
    work = tmp_path / "w"
    git("clone", "-q", str(registry_path), str(work))
    commit_files(work, {"notes.txt": b"x\n"})
    mktag(work, "m@v1.1.0", "HEAD", FAR_FUTURE)
    assert push(work, "--atomic", "HEAD:main", "refs/tags/m@v1.1.0", hooked=False).returncode == 0
    c = invoke("check", "--registry", str(registry_path))
    assert c.exit_code == 3, c.stdout + c.stderr
    assert "m@v1.1.0" in c.stdout and "beyond the year 9999" in c.stdout, c.stdout
    # gitreg's own next tags are dated now, not after the forged date: the hook takes them.
    mv = registry.push_files([onnx_file()], "m", version="1.2.0")
    from gitreg import api

    api.promote("m@v1.2.0", "production", force=True, reason="after the forgery", registry=registry)
    date = git("--git-dir", str(registry_path), "for-each-ref", "--format=%(taggerdate:unix)", "refs/tags/m@v1.2.0")
    assert abs(int(date) - time.time()) < 3600 and mv.version == "1.2.0"
    assert registry.show("m#production").version == "1.2.0"


# -- 1 (rest). `name` / `name@latest` never guesses between twins ---------------------------------------
def test_latest_with_twins_at_the_top_is_an_integrity_error_naming_both(
    registry: Registry, registry_path: Path, tmp_path: Path, onnx_file
) -> None:
    from gitreg.errors import IntegrityError

    registry.push_files([onnx_file()], "spoof", version="0.9.0")
    registry.push_files([onnx_file()], "spoof", version="1.0.0")
    assert spoof(registry_path, tmp_path, hooked=False).returncode == 0  # before the hook refused twins
    for ref in ("spoof", "spoof@latest"):
        with pytest.raises(IntegrityError) as e:
            registry.show(ref)
        assert "spoof@v1.0.0" in e.value.message and "spoof@v1.0.0+evil" in e.value.message
    out = tmp_path / "pulled"
    for args in (["show", "spoof"], ["pull", "spoof@latest", "-o", str(out)]):
        r = invoke(*args, "--registry", str(registry_path))
        assert r.exit_code == 3, (args, r.stdout, r.stderr)
        line = one_error_line(r.stderr)
        assert "spoof@v1.0.0 and spoof@v1.0.0+evil" in line and "ambiguous" in line, line
        assert "gitreg check" in r.stderr
    assert not out.exists() or not any(out.iterdir())
    # Exact references still answer exactly; a newer version ends the ambiguity.
    assert registry.show("spoof@v0.9.0").version == "0.9.0"
    registry.push_files([onnx_file()], "spoof", version="1.1.0")
    assert registry.show("spoof").version == "1.1.0"


def test_latest_is_strict_in_the_fold_and_lenient_when_asked() -> None:
    from gitreg.core.state import TagRecord, fold
    from gitreg.errors import IntegrityError

    st = fold([TagRecord("m@v1.0.0", "a" * 40, time=2), TagRecord("m@v1.0.0+evil", "b" * 40, time=1)])["m"]
    with pytest.raises(IntegrityError, match=re.escape("m@v1.0.0 and m@v1.0.0+evil")):
        st.latest()
    lenient = st.latest(strict=False)
    assert lenient is not None and lenient.version in ("1.0.0", "1.0.0+evil")
    # A deregistered twin is no twin.
    st = fold(
        [
            TagRecord("m@v1.0.0", "a" * 40, time=2),
            TagRecord("m@v1.0.0+evil", "b" * 40, time=1),
            TagRecord("m@v1.0.0+evil!", "b" * 40, time=3),
        ]
    )["m"]
    latest = st.latest()
    assert latest is not None and latest.version == "1.0.0"
