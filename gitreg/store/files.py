"""Files appear whole or not at all: the atomic-write helper, full disks, and crash leftovers.

The data goes to ``<name>.<random>.tmp`` in the target's own folder (so the rename never crosses a
filesystem), is fsynced, then ``os.replace``d over the target: a reader, or a crash, sees the old
file or the new one, never half of one. Artifacts and LFS objects are not written here: they are
streamed, hashed and verified on the way (:mod:`gitreg.store.lfs`), which this helper has no use for.

A write that meets a full filesystem (ENOSPC) or quota (EDQUOT) removes what it started and
raises :class:`~gitreg.errors.DiskFull` naming that filesystem (:func:`disk_full`). A write killed
mid-way (SIGKILL, power loss) leaves its temporary files; :func:`leftovers` finds those older than
:data:`STALE_AFTER` — no live writer keeps a temporary file that long without touching it — so the
next write removes them (:func:`sweep`) and ``gitreg check`` reports them.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from gitreg.errors import DiskFull

__all__ = ["STALE_AFTER", "Leftovers", "atomic_write", "disk_full", "is_disk_full", "leftovers", "sweep"]

NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
# A temporary file untouched this long belongs to no live writer: every writer of gitreg's
# temporaries writes (so touches) them continuously and renames or removes them within seconds.
STALE_AFTER = 10 * 60.0


def is_disk_full(e: BaseException) -> bool:
    """Whether ``e`` is an OSError saying the filesystem or the quota is full."""
    return isinstance(e, OSError) and e.errno in NO_SPACE


def mount_point(path: str | os.PathLike[str]) -> Path:
    """The mount point of the filesystem holding ``path`` (or its nearest existing parent)."""
    p = Path(os.path.abspath(path))
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        dev = p.stat().st_dev
        while p != p.parent and p.parent.stat().st_dev == dev:
            p = p.parent
    except OSError:
        pass
    return p


def disk_full(path: str | os.PathLike[str], e: OSError | None = None) -> DiskFull:
    """The :class:`DiskFull` for a write to ``path`` that failed with ``e`` (ENOSPC by default)."""
    code = e.errno if e is not None and e.errno in NO_SPACE else errno.ENOSPC
    return DiskFull(os.fspath(path), str(mount_point(path)), os.strerror(code))


def atomic_write(path: str | os.PathLike[str], data: bytes | str, mode: int = 0o666) -> Path:
    """Write ``data`` (``str`` as UTF-8, newlines untouched) to ``path`` atomically; returns the path.

    Missing parent folders are created. The file gets ``mode`` less the umask, as ``open()`` gives
    (0o644 under the usual umask: a report is for sharing; pass ``mode=0o777`` for an executable).
    Raises :class:`DiskFull` when the filesystem is full and OSError when the folder is not
    writable; the old file is then untouched and no temporary file is left behind.
    """
    target = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        if is_disk_full(e):
            raise disk_full(target.parent, e) from None
        raise
    tmp = target.with_name(f"{target.name}.{os.urandom(6).hex()}.tmp")
    try:
        # O_EXCL|O_NOFOLLOW on a random name: never another writer's file, never through a planted
        # symlink (the open fails instead); the kernel applies the umask to `mode`.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as e:
        if is_disk_full(e):
            raise disk_full(target, e) from None
        raise
    try:
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and is_disk_full(e):
            raise disk_full(target, e) from None
        raise
    return target


@dataclass(frozen=True)
class Leftovers:
    """Temporary files an interrupted write left behind: where, how many bytes in all."""

    files: tuple[Path, ...]
    size: int

    def __bool__(self) -> bool:
        return bool(self.files)

    def describe(self) -> str:
        """``3 files, 1.2 MB``."""
        n = len(self.files)
        return f"{n} file{'s' if n != 1 else ''}, {_human(self.size)}"


# Where interrupted writes leave files in a git directory (a bare registry or a cache clone):
# gitreg's own LFS copies (``lfs/tmp/gitreg-*``) and temporary indexes (``gitreg-index-*``), its
# object links into a local registry (``objects/xx/.<oid>.<random>.tmp``, publish), and git's
# loose-object temporaries (``objects/xx/tmp_obj_*``: ``hash-object -w`` killed or out of space).
def _candidates(git_dir: Path) -> Iterable[os.DirEntry[str]]:
    """One ``scandir`` per folder, names matched by hand: 25,600 loose objects cost ~26 ms (three
    globs took ~130 ms), paid once per write."""
    places: list[tuple[Path, str]] = [(git_dir, "index"), (git_dir / "lfs" / "tmp", "lfs")]
    try:
        with os.scandir(git_dir / "objects") as fanout:
            places += [(Path(e.path), "obj") for e in fanout if len(e.name) == 2]
    except OSError:
        pass
    places.append((git_dir / "objects", "obj"))  # older gits put tmp_obj_* here
    for folder, kind in places:
        try:
            with os.scandir(folder) as entries:
                for e in entries:
                    name = e.name
                    if (
                        (kind == "index" and name.startswith("gitreg-index-"))
                        or (kind == "lfs" and name.startswith("gitreg-"))
                        or (
                            kind == "obj"
                            and (name.startswith("tmp_obj_") or (name[0] == "." and name.endswith(".tmp")))
                        )
                    ):
                        yield e
        except OSError:  # no such folder (a registry without LFS objects yet)
            continue


def leftovers(git_dir: Path, older_than: float = STALE_AFTER, now: float | None = None) -> Leftovers:
    """Temporary files under ``git_dir`` untouched for ``older_than`` seconds (see :func:`sweep`)."""
    now = time.time() if now is None else now
    found: list[Path] = []
    size = 0
    for e in _candidates(git_dir):
        try:
            if not e.is_file(follow_symlinks=False):
                continue
            st = e.stat(follow_symlinks=False)
        except OSError:  # removed meanwhile (by its writer, or another sweep)
            continue
        if now - st.st_mtime >= older_than:
            found.append(Path(e.path))
            size += st.st_size
    return Leftovers(tuple(sorted(found)), size)


def sweep(git_dirs: Iterable[Path], older_than: float = STALE_AFTER) -> Leftovers:
    """Remove :func:`leftovers` under each of ``git_dirs``; returns what was removed. Never raises:
    a file another sweep removed first, or one this user may not remove, is simply skipped."""
    removed: list[Path] = []
    size = 0
    for d in git_dirs:
        for p in leftovers(d, older_than).files:
            try:
                got = p.stat().st_size
                p.unlink()
            except OSError:
                continue
            removed.append(p)
            size += got
    return Leftovers(tuple(removed), size)


def _human(n: int) -> str:
    if n < 1000:
        return f"{n} bytes"
    x, unit = n / 1000, "kB"
    for bigger in ("MB", "GB"):
        if x < 1000:
            break
        x, unit = x / 1000, bigger
    return f"{x:.1f} {unit}"
