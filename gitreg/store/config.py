"""Which registry, where its caches live, and what the registry's ``gitreg.toml`` says.

Resolution order (DESIGN §2): ``--registry`` > ``GITREG_REGISTRY`` > ``[tool.gitreg] registry`` in
the nearest ``pyproject.toml`` > the embedded default bare repo under ``$XDG_DATA_HOME/gitreg/``.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from gitreg.errors import RegistryNotFound

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_STAGES = ("staging", "production")
GITREG_TOML = """\
# gitreg registry configuration (DESIGN §9). Edited by people, read by gitreg and its CI.
[registry]
schema = 1

[stages]
order = ["staging", "production"]

[stages.production]
# Promotion to production only through a reviewed pull request.
require_pr = false

[parity]
# float32 tolerances: pass when |a - b| <= atol + rtol * |b| elementwise (see README).
rtol = 1e-4
atol = 1e-5

[limits]
# Plain (non-LFS) blobs under models/ and datasets/ above this size are refused by the hook.
max_plain_blob_bytes = 1000000
"""
STAGES_TOML = """\
# Desired stage assignments: changed by promotion pull requests, applied as stage tags on merge.
"""
GITATTRIBUTES = """\
# Artifacts are Git LFS objects; sidecars (model.toml), cards and config stay plain text.
models/**/*.onnx filter=lfs diff=lfs merge=lfs -text
models/**/*.pt filter=lfs diff=lfs merge=lfs -text
datasets/**/*.npz filter=lfs diff=lfs merge=lfs -text
"""


@dataclass(frozen=True)
class Location:
    """Where a registry is: its URL for git, and its path when it is on this machine."""

    url: str
    source: str  # "option", "env", "pyproject", "default"
    path: Path | None = None

    @property
    def is_local(self) -> bool:
        return self.path is not None

    @property
    def is_default(self) -> bool:
        return self.source == "default"


def data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")


def cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def default_registry_path() -> Path:
    return data_home() / "gitreg" / "registry.git"


def cache_dir(url: str) -> Path:
    """One bare cache clone per registry URL."""
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return cache_home() / "gitreg" / f"{digest}.git"


def location_from(text: str, source: str, base: Path | None = None) -> Location:
    """Normalise a path or URL; local paths become absolute ``file://`` URLs (partial clone needs it)."""
    text = text.strip()
    if not text:
        raise RegistryNotFound("empty registry location", hint="pass --registry PATH|URL")
    if text.startswith("file://"):
        path = _git_dir(Path(unquote(urlparse(text).path)).resolve())
        return Location(path.as_uri(), source, path)
    if "://" in text or (":" in text.split("/", 1)[0] and not Path(text).exists() and len(text) > 2):
        return Location(text, source)  # http(s)://, ssh://, or scp-like git@host:org/repo.git
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    path = _git_dir(path.resolve())
    return Location(path.as_uri(), source, path)


def _git_dir(path: Path) -> Path:
    """A work tree (a registry checkout) is read through its ``.git``: see gitreg/checkout.py."""
    return path / ".git" if (path / ".git").is_dir() else path


def find_pyproject(start: Path | None = None) -> Path | None:
    d = (start or Path.cwd()).resolve()
    for candidate in (d, *d.parents):
        p = candidate / "pyproject.toml"
        if p.is_file():
            return p
    return None


def resolve(explicit: str | None = None) -> Location:
    """Apply the resolution order; never touches the network or the disk beyond pyproject.toml
    (and a ``.git`` folder test for local paths)."""
    if explicit:
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
        reg = data.get("tool", {}).get("gitreg", {}).get("registry")
        if isinstance(reg, str) and reg.strip():
            return location_from(reg, "pyproject", base=pp.parent)
    path = default_registry_path()
    return Location(path.as_uri(), "default", path)


@dataclass(frozen=True)
class RegistryConfig:
    """The parts of ``gitreg.toml`` this version of gitreg acts on; unknown keys are kept in ``raw``."""

    stages: tuple[str, ...] = DEFAULT_STAGES
    rtol: float = 1e-4
    atol: float = 1e-5
    max_plain_blob_bytes: int = 1_000_000
    raw: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None) -> RegistryConfig:
        if not text:
            return cls()
        try:
            data = tomllib.loads(text)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise RegistryNotFound(f"the registry's gitreg.toml is not valid TOML: {e}") from None
        stages = data.get("stages", {}).get("order", list(DEFAULT_STAGES))
        parity = data.get("parity", {})
        limits = data.get("limits", {})
        return cls(
            stages=tuple(str(s) for s in stages),
            rtol=float(parity.get("rtol", 1e-4)),
            atol=float(parity.get("atol", 1e-5)),
            max_plain_blob_bytes=int(limits.get("max_plain_blob_bytes", 1_000_000)),
            raw=data,
        )
