"""What gitreg keeps on this machine, and clearing it: ``gitreg cache info`` and ``gitreg cache prune``.

Under ``$XDG_CACHE_HOME/gitreg/`` sit one bare clone per registry (``<hash>.git``, its LFS objects in
``lfs/objects``) and ``gitreg.load``'s content-addressed ``artifacts/`` folder. Pruning removes LFS
objects and artifact folders not used for ``--older-than`` days (a read touches what it uses), never
a clone's git data unless ``--all``. It is safe while other gitreg processes read the same cache: it
holds the clone's write lock and its objects lock exclusively (readers of objects hold the latter
shared, see :meth:`gitreg.registry.backend.Backend.objects_lock`; loads hold
:func:`gitreg.registry.loading.artifacts_lock`), and removes each file by renaming it to a temporary
name in its own folder first, so no reader ever sees half of one.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gitreg.errors import GitregError, UsageError
from gitreg.registry import loading
from gitreg.registry.backend import Backend, View, own_sidecar
from gitreg.registry.values import iso
from gitreg.store import location
from gitreg.store.credentials import strip_credentials
from gitreg.store.git import REMOTE_MAIN, Git

DAY = 86400.0
_OID_LEN = 64


@dataclass(frozen=True)
class CachedRegistry:
    """One registry's cache clone: where, for which URL, how big, how many LFS objects, last fetch."""

    url: str
    path: str
    bytes: int
    objects: int
    object_bytes: int
    last_fetch: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CacheInfo:
    """Everything under the cache root: the registries' clones and ``gitreg.load``'s artifact folders."""

    root: str
    registries: tuple[CachedRegistry, ...]
    artifacts_path: str
    artifacts: int  # folders (one per loaded artifact, or artifact with its data files)
    artifacts_bytes: int
    offline: bool

    @property
    def bytes(self) -> int:
        return sum(r.bytes for r in self.registries) + self.artifacts_bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "offline": self.offline,
            "registries": [r.to_dict() for r in self.registries],
            "artifacts": {"path": self.artifacts_path, "entries": self.artifacts, "bytes": self.artifacts_bytes},
            "total_bytes": self.bytes,
        }


@dataclass(frozen=True)
class Pruned:
    """What a prune did (or, with ``--dry-run``, would do) to one registry's clone or to the artifacts."""

    what: str  # the registry URL, or "artifacts"
    path: str
    removed: int
    bytes: int
    kept: int
    whole: bool = False  # the clone itself was removed (--all)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PruneReport:
    dry_run: bool
    older_than_days: float | None
    keep_stages: bool
    entries: tuple[Pruned, ...]

    @property
    def removed(self) -> int:
        return sum(e.removed for e in self.entries)

    @property
    def bytes(self) -> int:
        return sum(e.bytes for e in self.entries)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "older_than_days": self.older_than_days,
            "keep_stages": self.keep_stages,
            "removed": self.removed,
            "bytes": self.bytes,
            "entries": [e.to_dict() for e in self.entries],
        }


# -- reading ------------------------------------------------------------------------------------------
def clones() -> list[Path]:
    """Every registry cache clone under the cache root, by path."""
    root = location.cache_root()
    if not root.is_dir():
        return []
    return sorted(p for p in root.glob("*.git") if p.is_dir() and (p / "HEAD").exists())


def clone_url(path: Path) -> str:
    """The registry a clone was made from, as gitreg shows URLs (no credentials)."""
    try:
        return strip_credentials(Git(path).remote_url())
    except GitregError:
        return "(unknown)"


def _objects(clone: Path) -> Iterator[os.DirEntry[str]]:
    """The LFS objects of a clone: ``lfs/objects/aa/bb/<64 hex>`` files (temporary names skipped)."""
    root = clone / "lfs" / "objects"
    for first in _scandir(root):
        for second in _scandir(Path(first.path)):
            for entry in _scandir(Path(second.path)):
                if len(entry.name) == _OID_LEN and entry.is_file(follow_symlinks=False):
                    yield entry


def _scandir(path: Path) -> list[os.DirEntry[str]]:
    try:
        return [e for e in os.scandir(path) if not e.name.startswith(".")]
    except OSError:  # absent, or removed under us
        return []


def _tree_bytes(path: Path) -> int:
    total = 0
    for folder, _, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total


def _newest(path: Path) -> float:
    """The newest mtime of a folder and the files in it (a load touches the folder it uses)."""
    times = [path.stat().st_mtime]
    for folder, _, names in os.walk(path):
        for name in names:
            try:
                times.append(os.lstat(os.path.join(folder, name)).st_mtime)
            except OSError:
                continue
    return max(times)


def describe(clone: Path) -> CachedRegistry:
    objs = [e.stat(follow_symlinks=False).st_size for e in _objects(clone)]
    fetched = location.last_fetch(clone)
    return CachedRegistry(
        clone_url(clone),
        str(clone),
        _tree_bytes(clone),
        len(objs),
        sum(objs),
        iso(int(fetched)) if fetched is not None else None,
    )


def info() -> CacheInfo:
    """What is cached on this machine (reads the disk only; never contacts a registry)."""
    art = loading.artifacts_dir()
    folders = _artifact_folders()
    return CacheInfo(
        str(location.cache_root()),
        tuple(describe(c) for c in clones()),
        str(art),
        len(folders),
        sum(_tree_bytes(Path(f.path)) for f in folders),
        location.is_offline(),
    )


def _artifact_folders() -> list[os.DirEntry[str]]:
    return [e for e in _scandir(loading.artifacts_dir()) if e.is_dir(follow_symlinks=False)]


# -- pruning ------------------------------------------------------------------------------------------
def prune(
    older_than: float | None = None,
    keep_stages: bool = False,
    registry: str | None = None,
    everything: bool = False,
    dry_run: bool = False,
    now: float | None = None,
) -> PruneReport:
    """Remove cached LFS objects and artifact folders unused for ``older_than`` days (None: all).

    ``keep_stages`` keeps what versions holding a stage need (as the clone last saw the registry);
    ``registry`` (a path or URL) limits the prune to that registry's clone (and leaves the artifact
    folders, which are shared); ``everything`` removes whole clones (the next read clones again).
    """
    if older_than is not None and older_than < 0:
        raise UsageError(f"--older-than must be 0 or more days, not {older_than:g}")
    if everything and (older_than is not None or keep_stages):
        raise UsageError("--all removes whole clones: it takes neither --older-than nor --keep-stages")
    cutoff = (now if now is not None else time.time()) - (older_than or 0.0) * DAY
    if registry is not None:
        clone = location.cache_dir(location.location_from(registry, "option").url)
        if not (clone / "HEAD").exists():
            raise UsageError(
                f"no cache of {strip_credentials(registry)} on this machine", hint="see: gitreg cache info"
            )
        targets = [clone]
    else:
        targets = clones()
    entries: list[Pruned] = []
    keep_artifacts: set[str] = set()
    for clone in targets:
        keep: set[str] = set()
        if keep_stages:
            keep, keys = staged_objects(Git(clone))
            keep_artifacts |= keys
        entries.append(_prune_clone(clone, cutoff, keep, everything, dry_run))
    if registry is None:
        entries.append(_prune_artifacts(cutoff, keep_artifacts, everything, dry_run))
    return PruneReport(dry_run, older_than, keep_stages, tuple(entries))


def staged_objects(git: Git) -> tuple[set[str], set[str]]:
    """The LFS oids, and the artifact folder keys, of every version that holds a stage in a clone."""
    view = View(git, REMOTE_MAIN)
    states = Backend.states(view)
    oids: set[str] = set()
    keys: set[str] = set()
    with git.cat_file() as cf:
        for st in states.values():
            for version in set(st.stages.values()):
                v = st.versions.get(version)
                if v is None:
                    continue
                sc = own_sidecar(cf.get(f"refs/tags/{v.tag}:models/{st.name}/model.toml"), v, st.name)
                if sc is None:
                    continue
                oids |= {a.sha256 for a in sc.stored_files()}
                for kinds in (("onnx",), ("torchscript",), ("file",)):
                    stored = sc.stored_files(kinds)
                    if stored:
                        keys.add(loading.artifact_key(stored))
    return oids, keys


def _prune_clone(clone: Path, cutoff: float, keep: set[str], everything: bool, dry_run: bool) -> Pruned:
    url = clone_url(clone)
    # The lock every write and fetch of this clone takes, then the one its object readers share.
    with location.file_lock(clone.with_suffix(".lock")), location.file_lock(clone.with_suffix(".objects.lock")):
        if everything:
            size = _tree_bytes(clone)
            count = sum(1 for _ in _objects(clone))
            if not dry_run:
                _remove_tree(clone)
            return Pruned(url, str(clone), count, size, 0, whole=True)
        removed = kept = size = 0
        for entry in list(_objects(clone)):
            st = entry.stat(follow_symlinks=False)
            if entry.name in keep or st.st_mtime > cutoff:
                kept += 1
                continue
            if dry_run or _remove_file(Path(entry.path)):
                removed += 1
                size += st.st_size
        return Pruned(url, str(clone), removed, size, kept)


def _prune_artifacts(cutoff: float, keep: set[str], everything: bool, dry_run: bool) -> Pruned:
    art = loading.artifacts_dir()
    removed = kept = size = 0
    with loading.artifacts_lock(shared=False):
        for entry in _artifact_folders():
            path = Path(entry.path)
            if not everything and (entry.name in keep or _newest(path) > cutoff):
                kept += 1
                continue
            bytes_ = _tree_bytes(path)
            if not dry_run:
                _remove_tree(path)
            removed += 1
            size += bytes_
    return Pruned("artifacts", str(art), removed, size, kept, whole=False)


def _aside(path: Path) -> Path:
    """A fresh temporary name next to ``path`` (same folder: the rename is atomic)."""
    return path.with_name(f".{path.name}.{os.urandom(6).hex()}.pruned.tmp")


def _remove_file(path: Path) -> bool:
    tmp = _aside(path)
    try:
        os.replace(path, tmp)
    except FileNotFoundError:
        return False
    tmp.unlink(missing_ok=True)
    return True


def _remove_tree(path: Path) -> None:
    tmp = _aside(path)
    try:
        os.replace(path, tmp)
    except FileNotFoundError:
        return
    shutil.rmtree(tmp, ignore_errors=True)


def human_bytes(n: int) -> str:
    """``n`` bytes as ``12.3 MB`` (decimal units, like ``du --si``)."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


__all__ = [
    "CacheInfo",
    "CachedRegistry",
    "PruneReport",
    "Pruned",
    "clones",
    "human_bytes",
    "info",
    "prune",
    "staged_objects",
]
