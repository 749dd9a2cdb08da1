"""``gitreg bundle`` / ``gitreg unbundle``: versions carried between two registries with no network path.

The two registries share nothing (separate bare repos with their own histories); the only thing
that travels is the bundle file. Every refusal is checked to leave the target's refs as they were.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from pathlib import Path

import pytest

from gitreg import Registry
from tests.support.cli import invoke, one_error_line
from tests.support.repo import git


def refs(reg: Path) -> str:
    return git("--git-dir", str(reg), "for-each-ref", "--format=%(refname) %(objectname)")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def source(tmp_path: Path, onnx_file) -> Path:
    """A registry with m v1.0.0 (with a label map beside it), v1.1.0 in staging, and another model."""
    path = tmp_path / "source.git"
    reg = Registry(path)
    reg.init()
    labels = tmp_path / "labels.json"
    labels.write_text('{"0": "cat", "1": "dog", "2": "bird"}')
    reg.push_files([onnx_file()], "m", version="1.0.0", metrics={"acc": 0.9}, files=[labels])
    reg.push_files([onnx_file()], "m", version="1.1.0", metrics={"acc": 0.95})
    reg.push_files([onnx_file()], "other", version="2.0.0")
    r = invoke("promote", "m@v1.1.0", "--to", "staging", "-r", str(path))
    assert r.exit_code == 0, r.stderr
    return path


@pytest.fixture
def target(tmp_path: Path) -> Path:
    path = tmp_path / "target.git"
    Registry(path).init()
    return path


def test_round_trip_between_registries_that_share_nothing(source: Path, target: Path, tmp_path: Path) -> None:
    out = tmp_path / "carry" / "m.gitreg"
    r = invoke("bundle", "m", "-o", str(out), "-r", str(source), "--json")
    assert r.exit_code == 0, r.stderr
    written = json.loads(r.stdout)
    assert written["versions"] == ["m@v1.0.0", "m@v1.1.0"] and written["objects"] == 3  # two models + labels
    with tarfile.open(out) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert names[0] == "manifest.json" and "registry.bundle" in names
    assert sorted(n for n in names if n.startswith("objects/")) == sorted(
        f for f in manifest["files"] if f.startswith("objects/")
    )
    assert [v["tag"] for v in manifest["versions"]] == ["m@v1.0.0", "m@v1.1.0"]

    r = invoke("unbundle", str(out), "-r", str(target))
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == ["m@v1.0.0", "m@v1.1.0"]
    r = invoke("check", "-r", str(target))
    assert r.exit_code == 0, r.stdout + r.stderr
    # Same sidecars and the same bytes, verified by pull on the far side.
    src, dst = Registry(source), Registry(target)
    for ref in ("m@v1.0.0", "m@v1.1.0"):
        a, b = src.show(ref), dst.show(ref)
        assert a.sidecar is not None and b.sidecar is not None
        assert a.sidecar.to_dict() == b.sidecar.to_dict()
        pa, pb = src.pull(ref, tmp_path / "a" / ref), dst.pull(ref, tmp_path / "b" / ref)
        assert [sha256(Path(f)) for f in pa.files] == [sha256(Path(f)) for f in pb.files]
    assert (tmp_path / "b" / "m@v1.0.0" / "labels.json").read_text().startswith('{"0": "cat"')
    # Stages stay with the source: the target promotes through its own gates.
    assert dst.show("m@v1.1.0").stages == ()
    # Importing again changes nothing and says so.
    before = refs(target)
    r = invoke("unbundle", str(out), "-r", str(target))
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == ["m@v1.0.0 (already here, skipped)", "m@v1.1.0 (already here, skipped)"]
    assert refs(target) == before


def test_references_pick_versions_and_stage_holders(source: Path, target: Path, tmp_path: Path) -> None:
    out = tmp_path / "pick.gitreg"
    r = invoke("bundle", "m#staging", "other@v2.0.0", "m@v1.1.0", "-o", str(out), "-r", str(source))
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == ["m@v1.1.0", "other@v2.0.0"]  # the staging holder is v1.1.0: once
    assert invoke("unbundle", str(out), "-r", str(target)).exit_code == 0
    assert [m.name for m in Registry(target).list()] == ["m", "other"]
    r = invoke("bundle", "m@v9.0.0", "-o", str(tmp_path / "none.gitreg"), "-r", str(source))
    assert r.exit_code == 1 and "v9.0.0" in one_error_line(r.stderr)
    assert not (tmp_path / "none.gitreg").exists()


def tampered(src: Path, dst: Path, member: str) -> Path:
    """A copy of the bundle ``src`` with one byte of ``member`` flipped (the manifest left as it was)."""
    with tarfile.open(src) as tar, tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as out:
        for info in tar.getmembers():
            data = bytearray(tar.extractfile(info).read())  # type: ignore[union-attr]
            if info.name == member:
                data[len(data) // 2] ^= 0x01
            out.addfile(info, io.BytesIO(bytes(data)))
    return dst


def test_a_damaged_or_altered_bundle_imports_nothing(source: Path, target: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.gitreg"
    assert invoke("bundle", "m", "-o", str(good), "-r", str(source)).exit_code == 0
    with tarfile.open(good) as tar:
        obj = next(n for n in tar.getnames() if n.startswith("objects/"))
    before = refs(target)
    for member in (obj, "registry.bundle"):
        bad = tampered(good, tmp_path / f"bad-{member.replace('/', '-')}.gitreg", member)
        r = invoke("unbundle", str(bad), "-r", str(target))
        assert r.exit_code == 3, r.stderr
        assert "does not match its hash" in one_error_line(r.stderr) and member in r.stderr
        assert refs(target) == before
    truncated = tmp_path / "truncated.gitreg"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    r = invoke("unbundle", str(truncated), "-r", str(target))
    assert r.exit_code in (1, 3) and one_error_line(r.stderr)
    assert refs(target) == before
    notabundle = tmp_path / "notes.txt"
    notabundle.write_text("hello")
    r = invoke("unbundle", str(notabundle), "-r", str(target))
    assert r.exit_code == 1 and "is not a gitreg bundle" in one_error_line(r.stderr)
    assert refs(target) == before
    assert not list((target / "lfs").rglob("objects/*/*/*"))  # no object stored by a refused import


def test_a_version_the_target_holds_with_other_files_stops_the_import(
    source: Path, target: Path, tmp_path: Path, onnx_file
) -> None:
    Registry(target).push_files([onnx_file(seed=99)], "m", version="1.1.0")
    before = refs(target)
    out = tmp_path / "m.gitreg"
    assert invoke("bundle", "m", "-o", str(out), "-r", str(source)).exit_code == 0
    r = invoke("unbundle", str(out), "-r", str(target))
    assert r.exit_code == 3
    assert "m@v1.1.0 already exists here with other files" in one_error_line(r.stderr)
    assert refs(target) == before  # not even v1.0.0, which the target lacks: all or nothing


def test_the_target_hook_judges_an_import(source: Path, target: Path, tmp_path: Path) -> None:
    """An import is a ``git push`` into the target: its pre-receive hook sees every ref."""
    out = tmp_path / "m.gitreg"
    assert invoke("bundle", "m@v1.0.0", "-o", str(out), "-r", str(source)).exit_code == 0
    # The target allows no plain blob above 10 bytes: the sidecar (a plain blob) is refused.
    wt = tmp_path / "configure"
    git("clone", "-q", str(target), str(wt))
    cfg = wt / "gitreg.toml"
    text = cfg.read_text()
    assert "max_plain_blob_bytes = " in text
    cfg.write_text(re.sub(r"max_plain_blob_bytes = \d+", "max_plain_blob_bytes = 10", text))
    git("-C", str(wt), "commit", "-qam", "tiny plain blobs only")
    git("-C", str(wt), "push", "-q", "origin", "main")
    before = refs(target)
    r = invoke("unbundle", str(out), "-r", str(target))
    assert r.exit_code != 0 and "lfs-required" in one_error_line(r.stderr)
    assert refs(target) == before
