"""``atomic_write``: a file appears whole or not at all, with the mode ``open()`` would give it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitreg.store import files
from gitreg.store.files import atomic_write


def test_replaces_whole_or_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out" / "report.html"
    assert atomic_write(target, "first ✓") == target  # the missing folder is created
    assert target.read_text(encoding="utf-8") == "first ✓"
    atomic_write(target, b"second\r\n")
    assert target.read_bytes() == b"second\r\n" and sorted(os.listdir(target.parent)) == ["report.html"]
    atomic_write(str(target), "line\r\n")  # str is UTF-8, newlines untouched
    assert target.read_bytes() == b"line\r\n"

    def boom(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, "third")
    assert target.read_bytes() == b"line\r\n" and sorted(os.listdir(target.parent)) == ["report.html"]


@pytest.mark.parametrize(
    ("mode", "umask", "want"), [(0o666, 0o022, 0o644), (0o666, 0o077, 0o600), (0o777, 0o022, 0o755)]
)
def test_mode_is_what_open_gives_under_the_umask(tmp_path: Path, mode: int, umask: int, want: int) -> None:
    target = tmp_path / "f"
    target.write_text("old")
    target.chmod(0o600)
    old = os.umask(umask)
    try:
        atomic_write(target, "new", mode=mode)
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == want  # the old file's mode does not carry over


def test_temporary_file_sits_beside_the_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real = os.replace

    def spy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        seen.append(os.fspath(src))
        real(src, dst)

    monkeypatch.setattr(files.os, "replace", spy)
    atomic_write(tmp_path / "model.toml", "x = 1\n")
    (tmp,) = seen
    name = Path(tmp).name
    assert Path(tmp).parent == tmp_path and name.startswith("model.toml.") and name.endswith(".tmp")
