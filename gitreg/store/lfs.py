"""Git LFS without a working tree: pointers, one-pass hashing, the object store, transfers.

Artifacts are hashed exactly once: copied into the object store in the kernel while another thread
hashes the copy in 4 MiB blocks (Python's hashlib runs at ~1.1 GB/s here, git-lfs 3.3 at ~0.4 GB/s),
so no file is ever read whole into memory. Objects reach the registry *before* any ref moves, so no
tag can point at a missing object: a local registry gets them straight into its own store, any
other through ``git lfs push --object-id``. Downloads land in a temporary file next to the
destination, are verified against the expected sha256, fsynced, then ``os.replace``d: a file
appears whole and correct, or not at all.
"""

from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from gitreg.errors import ArtifactError, GitFailed, IntegrityError, RemoteError
from gitreg.store.credentials import strip_credentials
from gitreg.store.files import disk_full, is_disk_full
from gitreg.store.git import DISK_FULL, Git

SPEC = "https://git-lfs.github.com/spec/v1"
CHUNK = 1 << 20
COPY_STEP = 8 << 20  # bytes per copy_file_range call: the hash follows the copy in steps this big
HASH_BLOCK = 4 << 20
# copy_file_range errors that mean "not between these two files": fall back to read + write.
_NO_COPY_RANGE = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM, errno.ETXTBSY}
MAX_POINTER = 1024

# Who hears about long copies (``what, bytes done, bytes in all``): the CLI's progress line on a
# terminal (:func:`reporting`); nobody by default, so the library never prints.
Progress = Callable[[str, int, int], None]
_REPORTER: ContextVar[Progress | None] = ContextVar("gitreg_lfs_progress", default=None)


@contextmanager
def reporting(reporter: Progress | None) -> Iterator[None]:
    """Within the block, object copies (push into the store, pull out of it) report to ``reporter``."""
    token = _REPORTER.set(reporter)
    try:
        yield
    finally:
        _REPORTER.reset(token)


def _progress(what: str, total: int, given: Callable[[int], None] | None) -> Callable[[int], None] | None:
    reporter = _REPORTER.get()
    if given is not None or reporter is None:
        return given
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        reporter(what, done, total)

    return step


@contextmanager
def _transfer_progress(what: str, total: int) -> Iterator[dict[str, str]]:
    """The environment that makes git-lfs report an HTTP transfer's bytes (``GIT_LFS_PROGRESS``: a
    file it appends ``<direction> <i>/<n> <bytes>/<size> <name>`` lines to), tailed by a thread into
    this process's reporter; an empty environment when nobody listens."""
    reporter = _REPORTER.get()
    if reporter is None or total <= 0:
        yield {}
        return
    import tempfile

    folder = tempfile.mkdtemp(prefix="gitreg-progress-")
    path = os.path.join(folder, "progress")
    open(path, "wb").close()
    stop = threading.Event()

    def tail() -> None:
        seen: dict[str, int] = {}
        with open(path, "rb") as f:
            buf = b""
            while True:
                chunk = f.read()
                if chunk:
                    buf += chunk
                    *lines, buf = buf.split(b"\n")
                    for line in lines:
                        parts = line.decode(errors="replace").split(" ", 3)
                        if len(parts) == 4 and "/" in parts[2]:
                            seen[parts[3]] = int(parts[2].split("/")[0] or 0)
                    reporter(what, min(sum(seen.values()), total), total)
                elif stop.is_set():
                    return
                else:
                    stop.wait(0.2)

    reporter(what, 0, total)  # the transfer starts now: its rate counts from here
    thread = threading.Thread(target=tail, daemon=True)
    thread.start()
    try:
        yield {"GIT_LFS_PROGRESS": path}
    finally:
        stop.set()
        thread.join(timeout=2)
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class Pointer:
    oid: str
    size: int

    def text(self) -> str:
        return f"version {SPEC}\noid sha256:{self.oid}\nsize {self.size}\n"


def parse_pointer(data: bytes | None) -> Pointer | None:
    """The pointer in ``data``, or None when it is not a valid LFS pointer."""
    if data is None or len(data) > MAX_POINTER:
        return None
    try:
        lines = data.decode("ascii").splitlines()
    except UnicodeDecodeError:
        return None
    fields = dict(ln.split(" ", 1) for ln in lines if " " in ln)
    oid, size = fields.get("oid", ""), fields.get("size", "")
    if fields.get("version") != SPEC or not oid.startswith("sha256:") or not size.isdigit():
        return None
    hexd = oid[len("sha256:") :]
    if len(hexd) != 64 or any(c not in "0123456789abcdef" for c in hexd):
        return None
    return Pointer(hexd, int(size))


def object_path(lfs_root: Path, oid: str) -> Path:
    """Where git-lfs keeps ``oid`` under a repo's ``lfs/objects`` (same layout locally and remotely)."""
    return lfs_root / "objects" / oid[:2] / oid[2:4] / oid


def _copy_hashing(src: IO[bytes], dst: IO[bytes], on_progress: Callable[[int], None] | None = None) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    while True:
        block = src.read(CHUNK)
        if not block:
            break
        h.update(block)
        dst.write(block)
        size += len(block)
        if on_progress:
            on_progress(len(block))
    return h.hexdigest(), size


def sha256_file(path: Path) -> tuple[str, int]:
    """``(sha256 hex, size)`` of a file, read in 1 MiB blocks: never whole into memory."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        data = data[os.write(fd, data) :]


class _Copier(threading.Thread):
    """Copies one file descriptor to another, in the kernel where it can (``copy_file_range``)."""

    def __init__(self, fin: int, fout: int) -> None:
        super().__init__(daemon=True)
        self._fin, self._fout = fin, fout
        self.copied = 0
        self.done = False
        self.stop = False
        self.error: BaseException | None = None
        self.moved = threading.Condition()

    def run(self) -> None:
        kernel = hasattr(os, "copy_file_range")
        try:
            while not self.stop:
                n = 0
                if kernel:
                    try:
                        n = os.copy_file_range(self._fin, self._fout, COPY_STEP)
                    except OSError as e:
                        if self.copied or e.errno not in _NO_COPY_RANGE:
                            raise
                        kernel = False  # e.g. across filesystems on older kernels: copy through memory
                if not kernel:
                    block = os.read(self._fin, COPY_STEP)
                    _write_all(self._fout, memoryview(block))
                    n = len(block)
                if n == 0:
                    if not kernel:
                        break
                    kernel = False  # confirm the end with read(): some filesystems say 0 too early
                    continue
                with self.moved:
                    self.copied += n
                    self.moved.notify()
        except BaseException as e:  # handed to the hashing thread, which raises it
            self.error = e
        finally:
            with self.moved:
                self.done = True
                self.moved.notify()


def _copy_then_hash(src: Path, dst: Path, on_progress: Callable[[int], None] | None = None) -> tuple[str, int]:
    """Copy ``src`` to ``dst`` and hash what landed in ``dst``, on two threads at once.

    The copy runs in the kernel (no trip through Python's memory) while this thread hashes the
    copied bytes back from the page cache, so a push costs about max(copy, sha256) instead of their
    sum; and the oid is the hash of the bytes stored, even if ``src`` changes meanwhile.
    """
    h = hashlib.sha256()
    buf = memoryview(bytearray(HASH_BLOCK))
    hashed = 0
    try:
        fin = os.open(src, os.O_RDONLY)
    except OSError as e:
        raise ArtifactError(f"cannot read artifact {src}: {e.strerror or e}") from None
    try:
        fout = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            with open(dst, "rb", buffering=0) as back:
                copier = _Copier(fin, fout)
                copier.start()
                try:
                    while True:
                        with copier.moved:
                            while copier.copied == hashed and not copier.done:
                                copier.moved.wait()
                            ready, done = copier.copied - hashed, copier.done
                        while ready:
                            n = back.readinto(buf[: min(ready, len(buf))])
                            if not n:
                                raise OSError(f"{dst} is shorter than what was copied into it")
                            h.update(buf[:n])
                            hashed += n
                            ready -= n
                            if on_progress:
                                on_progress(n)
                        if done:
                            break
                finally:
                    copier.stop = True
                    copier.join()
                if copier.error is not None:
                    raise copier.error
        finally:
            os.close(fout)
    finally:
        os.close(fin)
    return h.hexdigest(), hashed


def has_room(folder: Path, need: int) -> bool:
    """Whether the filesystem holding ``folder`` has ``need`` bytes free (plus 1 MiB for git's own
    writes); quotas are not visible here, so a write may still meet EDQUOT."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return True  # cannot tell: try, and handle ENOSPC if it comes
    free = st.f_bfree if os.geteuid() == 0 else st.f_bavail  # root may use the reserved blocks
    return free * st.f_frsize >= need + (1 << 20)


def _hash_source(src: Path) -> tuple[str, int]:
    try:
        return sha256_file(src)
    except OSError as e:
        raise ArtifactError(f"cannot read artifact {src}: {e.strerror or e}") from None


def store(src: Path, lfs_root: Path, on_progress: Callable[[int], None] | None = None) -> Pointer:
    """Copy ``src`` into the object store under the sha256 of the copy; one read of the file.

    On a filesystem without room for the copy, the file is hashed first instead: an object the
    store already holds costs no space (nothing is copied), any other is a :class:`DiskFull`
    before a byte is written. A copy that meets ENOSPC/EDQUOT half-way is removed, then treated
    the same way.
    """
    tmp_dir = lfs_root / "tmp"
    try:
        tmp_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        if is_disk_full(e):
            raise disk_full(tmp_dir, e) from None
        raise ArtifactError(f"cannot write into the LFS store {lfs_root}: {e.strerror or e}") from None
    try:
        total = src.stat().st_size
    except OSError as e:
        raise ArtifactError(f"cannot read artifact {src}: {e.strerror or e}") from None
    if not has_room(tmp_dir, total):
        return _store_without_room(src, lfs_root, None)
    tmp = tmp_dir / f"gitreg-{os.urandom(8).hex()}"
    try:
        report = _progress(f"storing {src.name}", total if _REPORTER.get() is not None else 0, on_progress)
        oid, size = _copy_then_hash(src, tmp, report)
        final = object_path(lfs_root, oid)
        if not final.exists():
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
        return Pointer(oid, size)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if is_disk_full(e):
            return _store_without_room(src, lfs_root, e)
        raise ArtifactError(f"cannot copy artifact {src} into the LFS store {lfs_root}: {e.strerror or e}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _store_without_room(src: Path, lfs_root: Path, e: OSError | None) -> Pointer:
    """The pointer of ``src`` if the store holds its object already; else DiskFull (nothing written)."""
    oid, size = _hash_source(src)
    if object_path(lfs_root, oid).is_file():
        return Pointer(oid, size)
    raise disk_full(lfs_root / "objects", e) from None


def materialize(
    src: Path | Callable[[IO[bytes]], None],
    dest: Path,
    expected: Pointer,
    on_progress: Callable[[int], None] | None = None,
    label: str | None = None,
) -> None:
    """Write ``dest`` from ``src`` (a file, or a function writing into a file object), verified.

    The data lands in a temporary file in ``dest``'s folder; only a file whose sha256 and size
    match ``expected`` is moved into place. ``label`` names the object in messages (default:
    ``dest``'s name). A full filesystem is a :class:`DiskFull` — checked before anything is read
    when its free space is visibly short — and the temporary file is removed on any failure.
    """
    what = label or dest.name
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        if is_disk_full(e):
            raise disk_full(dest.parent, e) from None
        raise
    if not has_room(dest.parent, expected.size):
        raise disk_full(dest)
    tmp = dest.parent / f".{dest.name}.{os.urandom(8).hex()}.tmp"
    on_progress = _progress(f"fetching {dest.name}", expected.size, on_progress)
    try:
        # O_EXCL|O_NOFOLLOW: a file or symlink planted at the name fails the open, never takes the write.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    except OSError as e:
        if is_disk_full(e):
            raise disk_full(dest, e) from None
        raise
    try:
        if isinstance(src, Path):
            with open(fd, "wb") as fout, open(src, "rb") as fin:
                oid, size = _copy_hashing(fin, fout, on_progress)
                fout.flush()
                os.fsync(fout.fileno())
        else:
            with open(fd, "wb") as fout:
                src(fout)
                fout.flush()
                os.fsync(fout.fileno())
            oid, size = sha256_file(tmp)
        if (oid, size) != (expected.oid, expected.size):
            raise IntegrityError(
                f"sha256 mismatch for {what}: expected {expected.oid[:12]}… ({expected.size} bytes), "
                f"got {oid[:12]}… ({size} bytes); nothing was written",
                problems=[f"{what}: object {expected.oid} is corrupt in the registry"],
                hint="run: gitreg check",
            )
        os.replace(tmp, dest)
    except OSError as e:
        if is_disk_full(e):
            raise disk_full(dest, e) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)  # ours: created above with O_EXCL


def push_objects(git: Git, oids: Iterable[str]) -> None:
    """Upload objects from ``git``'s store to its ``origin``; idempotent, before any ref moves."""
    oids = sorted(set(oids))
    if not oids:
        return
    total = 0
    for oid in oids:
        obj = object_path(git.git_dir / "lfs", oid)
        total += obj.stat().st_size if obj.is_file() else 0
    with _transfer_progress(f"uploading {len(oids)} object(s)", total) as env:
        p = git.run("lfs", "push", "--object-id", "origin", *oids, check=False, env=env or None)
    if p.returncode != 0:
        last = next((ln for ln in reversed(p.stderr.strip().splitlines()) if ln.strip()), "")
        raise RemoteError(
            f"uploading artifacts to the registry failed: {last}",
            hint="nothing was registered; check the registry's LFS server and retry",
        )


def smudge(git: Git, pointer: Pointer, path: str, out: IO[bytes], label: str | None = None) -> None:
    """Fetch one object through git-lfs (its endpoint, auth and verification) into ``out``.

    git-lfs hashes what it downloads: bytes that do not match the oid are an IntegrityError
    naming the object (``label``, default ``path``); the partial download git-lfs keeps to resume
    from, and the error logs it writes, are removed. A full disk under ``out`` is an
    OSError(ENOSPC) for the caller to name; one under git-lfs's own store, a DiskFull naming it.
    """
    what = label or path
    logs = git.git_dir / "lfs" / "logs"
    before = set(os.listdir(logs)) if logs.is_dir() else set()
    with _transfer_progress(f"downloading {posixpath.basename(path)}", pointer.size) as env:
        p = git.smudge(path, pointer.text().encode(), out, env=env or None)
    if p.returncode == 0:
        return
    err = p.stderr.decode(errors="replace")
    _forget_failed_download(git, pointer.oid, before)
    low = err.lower()
    if "expected oid" in low or "hash mismatch" in low:
        got = low.split("got ", 1)[1].split()[0] if "got " in low else "?"
        raise IntegrityError(
            f"{what}: the registry's LFS server holds corrupt bytes for object {pointer.oid[:12]}… "
            f"(they hash to {got[:12]}…); nothing was written",
            problems=[f"{what}: LFS object {pointer.oid} is corrupt on the LFS server (sha256 {got})"],
            hint="run: gitreg check --deep",
        )
    unreachable = ("connection refused", "connection reset", "dial tcp", "no such host", "eof", "timeout")
    cause = next((ln.strip() for ln in err.splitlines() if any(m in ln.lower() for m in unreachable)), "")
    if cause or re.search(r"\b50[0-4]\b", err):
        raise RemoteError(
            f"cannot reach the registry's LFS server for {what}: "
            f"{strip_credentials(cause or _last_meaningful(err))}; nothing was written",
            hint="retry when the server is back (the cache keeps nothing partial)",
        )
    if "not found" in low or re.search(r"\[404\]|\b404\b", err) or "does not exist" in low:
        raise IntegrityError(
            f"artifact object {pointer.oid[:12]}… of {what} is missing from the registry's LFS store",
            problems=[f"{what}: object {pointer.oid} missing"],
            hint="run: gitreg check",
        )
    full = [ln for ln in err.splitlines() if any(m in ln.lower() for m in DISK_FULL)]
    if full:
        if str(git.git_dir) in full[-1]:
            raise disk_full(git.git_dir / "lfs")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # writing ``out``: the caller knows where
    raise GitFailed(git.argv("lfs", "smudge"), p.returncode, _last_meaningful(err))


def _last_meaningful(err: str) -> str:
    """git-lfs's last line that is not "Use `git lfs logs last`" (the log is removed: it would mislead)."""
    lines = [ln.strip() for ln in err.splitlines() if ln.strip() and "git lfs logs" not in ln]
    return lines[-1] if lines else "git-lfs failed"


def _forget_failed_download(git: Git, oid: str, logs_before: set[str]) -> None:
    """What a failed ``git lfs smudge`` leaves: its ``lfs/incomplete`` part (a corrupt part would be
    resumed, never refetched) and the error log it wrote (we report the error ourselves)."""
    lfs_dir = git.git_dir / "lfs"
    for part in (lfs_dir / "incomplete").glob(f"{oid}*"):
        part.unlink(missing_ok=True)
    logs = lfs_dir / "logs"
    if logs.is_dir():
        for name in set(os.listdir(logs)) - logs_before:
            (logs / name).unlink(missing_ok=True)
        try:
            logs.rmdir()  # only when empty: it did not exist before, or held nothing else
        except OSError:
            pass
