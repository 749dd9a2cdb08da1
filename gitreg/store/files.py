"""Files appear whole or not at all: the one helper that writes a file atomically.

The data goes to ``<name>.<random>.tmp`` in the target's own folder (so the rename never crosses a
filesystem), is fsynced, then ``os.replace``d over the target: a reader, or a crash, sees the old
file or the new one, never half of one. Artifacts and LFS objects are not written here: they are
streamed, hashed and verified on the way (:mod:`gitreg.store.lfs`), which this helper has no use for.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["atomic_write"]


def atomic_write(path: str | os.PathLike[str], data: bytes | str, mode: int = 0o666) -> Path:
    """Write ``data`` (``str`` as UTF-8, newlines untouched) to ``path`` atomically; returns the path.

    Missing parent folders are created. The file gets ``mode`` less the umask, as ``open()`` gives
    (0o644 under the usual umask: a report is for sharing; pass ``mode=0o777`` for an executable).
    Raises OSError when the folder is not writable or the disk is full; the old file is then untouched
    and no temporary file is left behind.
    """
    target = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.urandom(6).hex()}.tmp")
    # O_EXCL|O_NOFOLLOW on a random name: never another writer's file, never through a planted
    # symlink (the open fails instead); the kernel applies the umask to `mode`.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
