"""Which registry a command means, and where gitreg keeps its caches on this machine.

Resolution order: ``--registry`` > ``GITREG_REGISTRY`` > ``[tool.gitreg] registry`` in the nearest
``pyproject.toml`` > the embedded default bare repository under ``$XDG_DATA_HOME/gitreg/``. Caches
(one bare clone per registry URL, pulled artifacts and datasets) live under ``$XDG_CACHE_HOME/gitreg/``.
Resolving reads nothing but ``pyproject.toml`` and tests for a ``.git`` folder: no git, no network.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from gitreg.errors import RegistryNotFound
from gitreg.store.credentials import remember_credentials

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "FETCHED_MARK",
    "OFFLINE",
    "Location",
    "RegistryInfo",
    "cache_dir",
    "cache_home",
    "cache_root",
    "data_home",
    "default_registry_path",
    "file_lock",
    "find_pyproject",
    "is_offline",
    "last_fetch",
    "location_from",
    "resolve",
]

OFFLINE = "GITREG_OFFLINE"  # set (1/true/yes) or --offline: read what is cached, never fetch
FETCHED_MARK = "gitreg-fetched"  # a file in a cache clone, touched after each successful fetch


@dataclass(frozen=True)
class Location:
    """Where a registry is: its URL for git, and its path when it is on this machine."""

    url: str
    source: str  # "option", "env", "pyproject", "default" (or what the caller of location_from says)
    path: Path | None = None
    pyproject: Path | None = None  # the pyproject.toml whose [tool.gitreg] registry named it

    @property
    def is_local(self) -> bool:
        return self.path is not None

    @property
    def is_default(self) -> bool:
        return self.source == "default"

    @property
    def chosen_by(self) -> str:
        """Why this registry, in words: ``--registry``, ``$GITREG_REGISTRY``, a pyproject.toml, or the default."""
        if self.source == "option":
            return "--registry"
        if self.source == "env":
            return "$GITREG_REGISTRY"
        if self.source == "pyproject":
            return f"[tool.gitreg] registry in {self.pyproject}"
        if self.source == "default":
            base = (
                "$XDG_DATA_HOME/gitreg/registry.git"
                if os.environ.get("XDG_DATA_HOME")
                else ("~/.local/share/gitreg/registry.git, as $XDG_DATA_HOME is unset")
            )
            return f"the embedded default, {base} (no --registry, $GITREG_REGISTRY or [tool.gitreg] registry)"
        return self.source


@dataclass(frozen=True)
class RegistryInfo:
    """What ``gitreg info`` reports: which registry a command would use, why, and what is on this machine.

    ``exists``/``is_registry`` are None for a remote registry: finding out would contact it.
    """

    url: str
    path: str | None
    source: str
    chosen_by: str
    exists: bool | None
    is_registry: bool | None
    cache: str  # the bare cache clone gitreg keeps of this registry
    cache_exists: bool
    artifacts: str  # gitreg.load's content-addressed artifact cache

    def to_dict(self) -> dict[str, object]:
        fetched = last_fetch(Path(self.cache)) if self.cache_exists else None
        return {**asdict(self), "offline": is_offline(), "cache_fetched": fetched}


def is_offline() -> bool:
    """Whether gitreg must not touch the network: ``$GITREG_OFFLINE`` (or ``--offline``, which sets it)."""
    return os.environ.get(OFFLINE, "").strip().lower() in ("1", "true", "yes", "on")


@contextmanager
def file_lock(path: Path, shared: bool = False) -> Iterator[None]:
    """``flock`` on ``path`` (created if needed) for the ``with`` block: between processes of this machine."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def last_fetch(cache: Path) -> float | None:
    """When the cache clone ``cache`` last fetched from its registry (epoch seconds), None if never."""
    for name in (FETCHED_MARK, "HEAD"):  # a clone made before the mark existed: its creation time
        try:
            return (cache / name).stat().st_mtime
        except OSError:
            continue
    return None


def data_home() -> Path:
    """``$XDG_DATA_HOME``, else ``~/.local/share``."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def cache_home() -> Path:
    """``$XDG_CACHE_HOME``, else ``~/.cache``."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def default_registry_path() -> Path:
    """The embedded registry used when nothing names one."""
    return data_home() / "gitreg" / "registry.git"


def cache_root() -> Path:
    """Where gitreg keeps every cache of this machine: ``$XDG_CACHE_HOME/gitreg``."""
    return cache_home() / "gitreg"


def cache_dir(url: str) -> Path:
    """One bare cache clone per registry URL."""
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return cache_root() / f"{digest}.git"


def location_from(text: str, source: str, base: Path | None = None) -> Location:
    """Normalise a path or URL; local paths become absolute ``file://`` URLs (partial clone needs it).

    Relative paths are taken from ``base`` (default: the current directory). Raises RegistryNotFound
    for an empty location.
    """
    text = text.strip()
    if not text:
        raise RegistryNotFound("empty registry location", hint="pass --registry PATH|URL")
    if text.startswith("file://"):
        path = _git_dir(Path(unquote(urlparse(text).path)).resolve())
        return Location(path.as_uri(), source, path)
    if "://" in text or (":" in text.split("/", 1)[0] and not Path(text).exists() and len(text) > 2):
        # http(s)://, ssh://, or scp-like git@host:org/repo.git; a user:token@ in an http(s) URL is
        # kept for this process's git and git-lfs and never in the URL gitreg shows or stores
        return Location(remember_credentials(text), source)
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    path = _git_dir(path.resolve())
    return Location(path.as_uri(), source, path)


def _git_dir(path: Path) -> Path:
    """A work tree (a registry checkout) is read through its ``.git``: see gitreg/store/checkout.py."""
    return path / ".git" if (path / ".git").is_dir() else path


def find_pyproject(start: Path | None = None) -> Path | None:
    """The nearest ``pyproject.toml`` in ``start`` (default: the current directory) or above it."""
    d = (start or Path.cwd()).resolve()
    for candidate in (d, *d.parents):
        p = candidate / "pyproject.toml"
        if p.is_file():
            return p
    return None


def resolve(explicit: str | None = None) -> Location:
    """Apply the resolution order; never touches the network or the disk beyond pyproject.toml
    (and a ``.git`` folder test for local paths)."""
    if explicit is not None:  # `--registry ""` is a mistake, not a wish for the default
        return location_from(explicit, "option")
    env = os.environ.get("GITREG_REGISTRY")
    if env:
        return location_from(env, "env")
    pp = find_pyproject()
    if pp is not None:
        try:
            data = tomllib.loads(pp.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
            data = {}
        tool = data.get("tool")
        section = tool.get("gitreg") if isinstance(tool, dict) else None
        reg = section.get("registry") if isinstance(section, dict) else None
        if isinstance(reg, str) and reg.strip():
            return dataclasses.replace(location_from(reg, "pyproject", base=pp.parent), pyproject=pp)
    path = default_registry_path()
    return Location(path.as_uri(), "default", path)
