"""Where a repository GTO wrote says an artifact's files are (pure).

GTO 0.x kept its annotations in ``artifacts.yaml`` at the repository's root (``NAME: {type, path,
virtual, description, labels}``); GTO 1.x reads the ``artifacts:`` section of ``dvc.yaml``
(``NAME: {path, type, desc, labels}``). A version's annotation is the one in the commit its tag
names. PyYAML reads them: GTO repositories are the only YAML gitreg reads.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from gitreg.errors import ArtifactError

ANNOTATION_FILES = ("dvc.yaml", "artifacts.yaml")
MAX_BYTES = 1 << 20


@dataclass(frozen=True)
class Annotation:
    """An artifact as GTO annotated it: ``path`` relative to the repository's root (file or folder)."""

    name: str
    path: str | None
    type: str | None = None
    description: str | None = None
    virtual: bool = False


def parse(filename: str, text: bytes, name: str) -> Annotation | None:
    """``name``'s annotation in ``filename`` (``dvc.yaml`` or ``artifacts.yaml``), None when it has
    none; ArtifactError when the file is not YAML of the expected shape or names an unsafe path."""
    import yaml

    if len(text) > MAX_BYTES:
        raise ArtifactError(f"{filename} is over {MAX_BYTES} bytes: not an annotation file gitreg reads")
    try:
        data = yaml.safe_load(text.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError) as e:
        raise ArtifactError(f"{filename} is not valid YAML ({str(e).splitlines()[0]})") from None
    section: Any = data.get("artifacts") if filename == "dvc.yaml" and isinstance(data, dict) else data
    if not isinstance(section, dict) or name not in section:
        return None
    entry = section[name]
    if not isinstance(entry, dict):
        raise ArtifactError(f"{filename}: the annotation of {name!r} is not a mapping")
    path = entry.get("path")
    if path is not None:
        path = safe_path(str(path), f"{filename}: {name}")
    desc = entry.get("description", entry.get("desc"))
    kind = entry.get("type")
    return Annotation(
        name,
        path,
        str(kind) if kind is not None else None,
        str(desc) if desc is not None else None,
        bool(entry.get("virtual", False)),
    )


def safe_path(path: str, where: str) -> str:
    """``path`` as a clean relative path inside the repository; ArtifactError otherwise."""
    norm = posixpath.normpath(path.strip().removeprefix("./"))
    bad = (
        not norm
        or norm == "."
        or norm.startswith(("/", "../"))
        or norm == ".."
        or any(ord(c) < 32 or ord(c) == 127 for c in norm)
    )
    if bad:
        raise ArtifactError(f"{where}: path {path!r} does not name a file inside the repository")
    return norm
