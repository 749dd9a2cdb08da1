"""Integrity: missing and tampered objects, the pre-receive hook, interrupted pushes, light imports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gitreg import Registry
from gitreg.errors import IntegrityError
from tests.support.cli import run_cli
from tests.support.repo import git


def object_of(registry: Registry, registry_path: Path, ref: str) -> Path:
    oid = registry.show(ref).sidecar.artifacts["onnx"].sha256
    return registry_path / "lfs" / "objects" / oid[:2] / oid[2:4] / oid


def test_deleted_object_is_reported_by_check_and_pull(
    registry: Registry, registry_path: Path, onnx_file, tmp_path: Path
) -> None:
    registry.push_files([onnx_file()], "m")
    registry.push_files([onnx_file()], "m")
    obj = object_of(registry, registry_path, "m@v1.0.0")
    obj.unlink()
    report = registry.check()
    assert not report.ok
    assert len(report.problems) == 1 and "m@v1.0.0:model.onnx" in report.problems[0]
    assert "missing" in report.problems[0]
    p = run_cli("check", "--registry", str(registry_path))
    assert p.returncode == 3 and "missing" in p.stdout
    with pytest.raises(IntegrityError, match="missing"):
        registry.pull("m@v1.0.0", tmp_path / "out")
    assert not (tmp_path / "out" / "model.onnx").exists()
    registry.pull("m@v1.0.1", tmp_path / "ok")  # the other version is unaffected


def test_tampered_object_is_reported_and_never_written(
    registry: Registry, registry_path: Path, onnx_file, tmp_path: Path
) -> None:
    registry.push_files([onnx_file()], "m")
    obj = object_of(registry, registry_path, "m")
    data = bytearray(obj.read_bytes())
    data[-1] ^= 0xFF
    obj.chmod(0o644)
    obj.write_bytes(bytes(data))
    out = tmp_path / "out"
    p = run_cli("pull", "m", "-o", str(out), "--registry", str(registry_path))
    assert p.returncode == 3 and p.stderr.startswith("error: sha256 mismatch for m@v1.0.0:model.onnx")
    assert "Traceback" not in p.stderr
    assert not out.exists() or not any(out.iterdir())  # no partial or temporary file left behind
    report = registry.check()
    assert not report.ok and "corrupt" in report.problems[0]


def test_hook_rejects_moving_and_deleting_registry_tags(
    registry: Registry, registry_path: Path, onnx_file, tmp_path: Path
) -> None:
    registry.push_files([onnx_file()], "m")
    registry.push_files([onnx_file()], "m")
    clone = tmp_path / "clone"
    git("clone", "-q", registry_path.as_uri(), str(clone))
    p = subprocess.run(
        ["git", "-C", str(clone), "push", "origin", ":refs/tags/m@v1.0.0"], capture_output=True, text=True
    )
    assert p.returncode != 0
    assert "remote: gitreg: REJECT immutable-tag: refusing to delete m@v1.0.0" in p.stderr
    git("-C", str(clone), "tag", "-f", "-a", "m@v1.0.0", "-m", "moved", "m@v1.0.1")
    p = subprocess.run(
        ["git", "-C", str(clone), "push", "--force", "origin", "refs/tags/m@v1.0.0"],
        capture_output=True,
        text=True,
    )
    assert p.returncode != 0 and "refusing to move m@v1.0.0" in p.stderr
    assert registry.show("m@v1.0.0").commit != registry.show("m@v1.0.1").commit


def test_hook_rejects_plain_blobs_missing_objects_and_bad_sidecars(registry_path: Path, tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    git("clone", "-q", registry_path.as_uri(), str(clone))
    d = clone / "models" / "m"

    def attempt(files: dict[str, bytes]) -> str:
        d.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            (d / name).write_bytes(content)
        git(
            "-C",
            str(clone),
            "-c",
            "filter.lfs.clean=cat",
            "-c",
            "filter.lfs.process=",
            "-c",
            "filter.lfs.required=false",
            "add",
            "-A",
        )
        git("-C", str(clone), "commit", "-qm", "x")
        p = subprocess.run(
            ["git", "-C", str(clone), "push", "--no-verify", "origin", "HEAD:main"],
            capture_output=True,
            text=True,
        )
        git("-C", str(clone), "reset", "-q", "--hard", "origin/main")
        assert p.returncode != 0
        return p.stderr

    err = attempt({"weights.bin": os.urandom(1_100_000)})
    assert "REJECT lfs-required: models/m/weights.bin is a plain git blob of 1100000 bytes" in err
    oid = "ab" * 32
    ptr = f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize 10\n".encode()
    err = attempt({"model.onnx": ptr})
    assert "REJECT lfs-object-missing: models/m/model.onnx" in err
    err = attempt({"model.toml": b"schema = [\n"})
    assert "REJECT sidecar: corrupt sidecar models/m/model.toml" in err
    assert git("--git-dir", str(registry_path), "ls-tree", "--name-only", "-r", "main").split() == [
        ".gitattributes",
        "gitreg.toml",
        "stages.toml",
    ]


@pytest.mark.slow  # signals a real push part-way, twice
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_interrupted_push_leaves_registry_consistent(tmp_path: Path, onnx_file, sig: int) -> None:
    reg = tmp_path / "reg.git"
    Registry(reg).init()
    big = onnx_file(pad=60_000_000)  # big enough that the push is still running when the signal lands
    for delay in (0.05, 0.3, 0.9, 1.5):
        proc = subprocess.Popen(
            [sys.executable, "-m", "gitreg", "push", str(big), "--name", "big", "--registry", str(reg)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(delay)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        # A SIGINT that lands while CPython itself is starting (importing `site`, before any gitreg
        # code) either kills the process like any program (-SIGINT, nothing printed) or makes CPython
        # abort with its own "Fatal Python error: init_import_site"; gitreg never ran. Once gitreg
        # runs, an interrupt must be one line and no traceback.
        # The same holds while runpy is still importing the package for ``python -m gitreg`` (the
        # traceback is runpy's own, ending in KeyboardInterrupt, before gitreg.__main__ runs a line).
        in_startup = err.startswith("Fatal Python error: init_import_site") or (
            "<frozen runpy>" in err and err.rstrip().endswith("KeyboardInterrupt") and "gitreg/cli" not in err
        )
        if not in_startup:
            assert "Traceback" not in err
            if sig == signal.SIGINT and proc.returncode not in (0, -signal.SIGINT):
                assert err.strip().startswith("error: interrupted"), (proc.returncode, err)
        report = Registry(reg).check()
        assert report.ok, report.problems
        tags = git("--git-dir", str(reg), "tag", "-l").split()
        main_files = git("--git-dir", str(reg), "ls-tree", "-r", "--name-only", "main").split()
        # Either the whole version landed (tag + commit on main) or nothing did.
        assert ("models/big/model.toml" in main_files) == bool(tags)
    p = run_cli("push", str(onnx_file()), "--name", "big", "--registry", str(reg))
    assert p.returncode == 0, p.stderr
    assert Registry(reg).check().ok


def test_read_commands_import_no_heavy_libraries(registry: Registry, registry_path: Path, onnx_file) -> None:
    registry.push_files([onnx_file()], "m", metrics={"a": 1.0})
    code = (
        "import sys, json\n"
        "from gitreg.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('torch', 'onnx', 'onnxruntime', 'sklearn', 'matplotlib', 'skl2onnx') "
        "if m in sys.modules]\n"
        "print(json.dumps(heavy), file=sys.stderr)\n"
    )
    for args in (["list"], ["list", "m"], ["show", "m"], ["history", "m"], ["check"]):
        p = subprocess.run(
            [sys.executable, "-c", code, *args, "--registry", str(registry_path)],
            capture_output=True,
            text=True,
        )
        assert json.loads(p.stderr.strip().splitlines()[-1]) == [], (args, p.stderr)


def test_a_pull_that_fails_on_a_later_file_leaves_none_it_created(
    registry: Registry, registry_path: Path, onnx_file, tmp_path: Path
) -> None:
    """The model file is fine, the label map beside it is damaged: the pull writes neither."""
    labels = tmp_path / "labels.json"
    labels.write_text('{"0": "cat"}')
    registry.push_files([onnx_file()], "m", files=[labels])
    sc = registry.show("m").sidecar
    assert sc is not None
    oid = sc.files["labels.json"]["sha256"]
    obj = registry_path / "lfs" / "objects" / oid[:2] / oid[2:4] / oid
    obj.chmod(0o644)
    obj.write_text('{"0": "dog"}')
    out = tmp_path / "out"
    p = run_cli("pull", "m", "-o", str(out), "--registry", str(registry_path))
    assert p.returncode == 3, p.stderr
    assert "m@v1.0.0:labels.json" in p.stderr.splitlines()[0]
    assert not out.exists() or sorted(p.name for p in out.rglob("*")) == []
