"""The Registry API against a real bare registry on local disk (real git, real git-lfs)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.core import sidecar
from gitreg.errors import ModelNotFound, RemoteError, StageNotFound, VersionExists, VersionNotFound
from tests.support.repo import git


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_init_creates_a_bare_registry_with_lfs_settings(registry_path: Path) -> None:
    assert git("--git-dir", str(registry_path), "rev-parse", "--is-bare-repository") == "true"
    files = git("--git-dir", str(registry_path), "ls-tree", "--name-only", "main").split()
    assert files == [".gitattributes", "gitreg.toml", "stages.toml"]
    attrs = git("--git-dir", str(registry_path), "show", "main:.gitattributes")
    rules = [ln for ln in attrs.splitlines() if ln and not ln.startswith("#")]
    assert "models/**/*.onnx filter=lfs diff=lfs merge=lfs -text" in rules
    assert not any(".toml" in r or ".md" in r for r in rules)  # sidecars and cards stay plain text
    assert git("--git-dir", str(registry_path), "config", "uploadpack.allowFilter") == "true"
    assert (registry_path / "hooks" / "pre-receive").stat().st_mode & 0o111
    assert Registry(registry_path).init() is False  # idempotent


def test_push_writes_commit_tag_sidecar_and_lfs_object(registry: Registry, registry_path: Path, onnx_file) -> None:
    f = onnx_file()
    data = f.parent / "train.csv"
    data.write_text("a,b\n1,2\n")
    mv = registry.push_files(
        [f],
        "digits",
        metrics={"acc": 0.9},
        params={"lr": 0.1},
        labels={"team": "x"},
        description="first",
        data=[data],
    )
    assert (mv.ref, mv.tag) == ("digits@v1.0.0", "digits@v1.0.0")
    gd = ["--git-dir", str(registry_path)]
    assert git(*gd, "cat-file", "-t", "digits@v1.0.0") == "tag"  # annotated
    assert git(*gd, "rev-parse", "digits@v1.0.0^{commit}") == git(*gd, "rev-parse", "main") == mv.commit
    msg = git(*gd, "for-each-ref", "--format=%(contents:subject)", "refs/tags/digits@v1.0.0")
    assert msg == "Registering artifact digits version v1.0.0"
    assert git(*gd, "ls-tree", "--name-only", "main", "models/digits/").split() == [
        "models/digits/README.md",
        "models/digits/model.onnx",
        "models/digits/model.toml",
    ]
    card = git(*gd, "show", "main:models/digits/README.md")
    assert card.startswith("---\nlibrary_name: onnx\n") and "# digits v1.0.0" in card
    assert "first" in card and 'gitreg.load("digits@v1.0.0")' in card
    pointer = git(*gd, "show", "main:models/digits/model.onnx")
    oid = sha(f)
    assert pointer == f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {f.stat().st_size}"
    obj = registry_path / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
    assert obj.read_bytes() == f.read_bytes()
    sc = sidecar.loads(git(*gd, "show", "main:models/digits/model.toml"))
    assert sc.metrics == {"acc": 0.9} and sc.params == {"lr": 0.1}
    assert sc.artifacts["onnx"].sha256 == oid and sc.artifacts["onnx"].extra["opset"] == 17
    assert sc.signature["inputs"] == [{"name": "x", "dtype": "float32", "shape": ["N", 4]}]
    assert sc.lineage["data"][0]["sha256"] == sha(data) and sc.lineage["data"][0]["rows"] == 1
    assert sc.model["description"] == "first" and sc.model["labels"] == {"team": "x"}
    assert sc.environment["onnx"] and sc.environment["python"]


def test_versions_bump_and_are_immutable(registry: Registry, onnx_file) -> None:
    assert registry.push_files([onnx_file()], "m").version == "1.0.0"
    assert registry.push_files([onnx_file()], "m").version == "1.0.1"  # patch without metrics
    assert registry.push_files([onnx_file()], "m", metrics={"a": 1}).version == "1.1.0"  # minor with metrics
    assert registry.push_files([onnx_file()], "m", bump="major").version == "2.0.0"
    assert registry.push_files([onnx_file()], "m", version="v2.5.0-rc.1").version == "2.5.0-rc.1"
    with pytest.raises(VersionExists, match="immutable") as e:
        registry.push_files([onnx_file()], "m", version="1.0.0")
    assert "--bump" in e.value.hint
    assert [v.version for v in registry.versions("m")] == ["1.0.0", "1.0.1", "1.1.0", "2.0.0", "2.5.0-rc.1"]


def test_each_version_replaces_the_previous_files(
    registry: Registry, registry_path: Path, onnx_file, tmp_path: Path
) -> None:
    pt = tmp_path / "model.pt"
    import zipfile

    with zipfile.ZipFile(pt, "w") as z:  # the shape of a TorchScript archive, without torch
        z.writestr("model/code/__torch__.py", "def forward(self, x): return x\n")
        z.writestr("model/data.pkl", b"\x80\x02}q\x00.")
    registry.push_files([onnx_file(), pt], "m")
    registry.push_files([onnx_file()], "m")
    gd = ["--git-dir", str(registry_path)]
    assert git(*gd, "ls-tree", "--name-only", "m@v1.0.0", "models/m/").split() == [
        "models/m/README.md",
        "models/m/model.onnx",
        "models/m/model.pt",
        "models/m/model.toml",
    ]
    assert git(*gd, "ls-tree", "--name-only", "main", "models/m/").split() == [
        "models/m/README.md",
        "models/m/model.onnx",
        "models/m/model.toml",
    ]
    assert registry.show("m@v1.0.0").sidecar.model["framework"] == "torch"


def test_list_show_history_and_references(registry: Registry, onnx_file) -> None:
    registry.push_files([onnx_file()], "a", metrics={"acc": 0.5})
    registry.push_files([onnx_file()], "a", metrics={"acc": 0.7})
    registry.push_files([onnx_file()], "b")
    models = registry.list()
    assert [(m.name, m.latest, m.versions) for m in models] == [("a", "v1.1.0", 2), ("b", "v1.0.0", 1)]
    assert registry.show("a").version == "1.1.0"
    assert registry.show("a@latest").version == "1.1.0"
    assert registry.show("a@v1.0.0").sidecar.metrics == {"acc": 0.5}
    assert registry.show("a@1.0.0").version == "1.0.0"
    hist = registry.history("a")
    assert [(e.event, e.version) for e in hist] == [("registration", "1.0.0"), ("registration", "1.1.0")]
    assert hist[0].time < hist[1].time  # strictly increasing tagger times, as GTO needs
    with pytest.raises(ModelNotFound):
        registry.show("zzz")
    with pytest.raises(VersionNotFound):
        registry.show("a@v9.9.9")
    with pytest.raises(StageNotFound):
        registry.show("a#production")


def test_pull_verifies_and_writes_only_that_version(registry: Registry, onnx_file, tmp_path: Path) -> None:
    f1, f2 = onnx_file(), onnx_file()
    registry.push_files([f1], "m")
    registry.push_files([f2], "m")
    res = registry.pull("m@v1.0.0", tmp_path / "out")
    assert (tmp_path / "out" / "model.onnx").read_bytes() == f1.read_bytes()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["model.onnx", "model.toml"]
    assert res.bytes == f1.stat().st_size and res.version == "v1.0.0"
    res = registry.pull("m", tmp_path / "latest", format="onnx")
    assert (tmp_path / "latest" / "model.onnx").read_bytes() == f2.read_bytes()
    with pytest.raises(Exception, match="no torchscript artifact"):
        registry.pull("m", tmp_path / "x", format="torchscript")
    assert not (tmp_path / "x" / "model.pt").exists()


def test_deprecate_forms(registry: Registry, registry_path: Path, onnx_file) -> None:
    registry.push_files([onnx_file()], "m")
    registry.push_files([onnx_file()], "m")
    ev = registry.deprecate("m@v1.0.1")
    assert ev.tag == "m@v1.0.1!" and ev.event == "deregistration"
    assert registry.show("m").version == "1.0.0"  # latest skips deregistered versions
    ev = registry.deprecate("m")
    assert ev.tag == "m@deprecated"
    assert registry.list()[0].deprecated
    gd = ["--git-dir", str(registry_path)]
    assert git(*gd, "cat-file", "-t", "m@deprecated") == "tag"
    events = [e.event for e in registry.history("m")]
    assert events == ["registration", "registration", "deregistration", "deprecation"]


def test_check_clean_and_json_shapes(registry: Registry, onnx_file) -> None:
    registry.push_files([onnx_file()], "m")
    report = registry.check()
    assert report.ok and report.versions == 1 and report.objects == 1
    json.dumps(report.to_dict())
    json.dumps(registry.show("m").to_dict())
    json.dumps([m.to_dict() for m in registry.list()])


def test_embedded_default_is_created_on_first_write(onnx_file, isolated_env) -> None:
    reg = Registry()
    assert reg.location.is_default and reg.list() == []  # reading an absent default is just empty
    reg.push_files([onnx_file()], "m")
    path = Path(isolated_env["XDG_DATA_HOME"]) / "gitreg" / "registry.git"
    assert git("--git-dir", str(path), "tag", "-l") == "m@v1.0.0"


def test_lineage_records_training_repo(registry: Registry, onnx_file, tmp_path: Path, monkeypatch) -> None:
    code = tmp_path / "train"
    code.mkdir()
    git("init", "-q", "-b", "dev", str(code))
    (code / "train.py").write_text("print(1)\n")
    git("-C", str(code), "add", ".")
    git("-C", str(code), "commit", "-qm", "c")
    git("-C", str(code), "remote", "add", "origin", "https://user:secret@example.com/org/train.git")
    (code / "train.py").write_text("print(2)\n")
    monkeypatch.chdir(code)
    registry.push_files([onnx_file()], "m", command="python train.py")
    lin = registry.show("m").sidecar.lineage
    assert lin["code"]["commit"] == git("-C", str(code), "rev-parse", "HEAD")
    assert lin["code"]["branch"] == "dev" and lin["code"]["dirty"] is True
    assert lin["code"]["repo"] == "https://example.com/org/train.git"  # credentials stripped
    assert lin["command"] == "python train.py"


def test_parent_must_exist(registry: Registry, onnx_file) -> None:
    registry.push_files([onnx_file()], "base")
    registry.push_files([onnx_file()], "child", parent="base")
    assert registry.show("child").sidecar.lineage["parent"] == "base@v1.0.0"
    with pytest.raises(Exception, match="--parent nope"):
        registry.push_files([onnx_file()], "child", parent="nope")


def test_local_writes_move_refs_directly_and_plain_pushes_still_meet_the_hook(
    registry: Registry, registry_path: Path, onnx_file, tmp_path: Path
) -> None:
    """A registry on this machine is written with an ``update-ref`` transaction (no receive-pack,
    no hook process); the objects land in its store and the repo is fsck-clean. The hook still
    guards every plain ``git push``: here one that refuses everything."""
    hook = registry_path / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'refusing everything' >&2\nexit 1\n")
    mv = registry.push_files([onnx_file()], "m", metrics={"acc": 0.5})
    registry.deprecate("m@v1.0.0")
    gd = ["--git-dir", str(registry_path)]
    assert git(*gd, "rev-parse", "main") == mv.commit
    assert git(*gd, "tag", "-l").split() == ["m@v1.0.0", "m@v1.0.0!"]
    assert git(*gd, "fsck", "--strict", "--no-dangling") == ""
    assert Registry(registry_path).check().ok

    clone = tmp_path / "clone"
    git("clone", "-q", str(registry_path), str(clone))
    git("-C", str(clone), "tag", "-a", "m@v9.0.0", "-m", "by hand")
    p = subprocess.run(["git", "-C", str(clone), "push", "origin", "m@v9.0.0"], capture_output=True, text=True)
    assert p.returncode != 0 and "refusing everything" in p.stderr
    # A registry whose owner wants every write to meet the hook says so; then gitreg pushes too.
    git(*gd, "config", "gitreg.directWrites", "false")
    with pytest.raises(RemoteError, match="refusing everything"):
        Registry(registry_path).push_files([onnx_file()], "m")
    assert git(*gd, "tag", "-l").split() == ["m@v1.0.0", "m@v1.0.0!"]
