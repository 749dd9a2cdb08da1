"""Pulling a version GTO registered: the files its annotation names, at the commit its tag names.

A version registered with ``gto register`` has no sidecar; its files are where the repository's
annotation (``dvc.yaml``'s ``artifacts:`` or GTO 0.x's ``artifacts.yaml``, at that commit) says: a
file or a folder, each file an LFS pointer (fetched and verified against its sha256) or a plain
blob (streamed and verified against its git object id). A file keeps its name; a folder keeps its
name and layout under the destination.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from gitreg.core import annotations as gto
from gitreg.core.annotations import Annotation
from gitreg.core.state import VersionState
from gitreg.errors import ArtifactError
from gitreg.registry.backend import Backend, View
from gitreg.registry.values import PullResult
from gitreg.store import lfs

POINTER_MAX = 1024  # an LFS pointer is ~130 bytes; anything longer is a plain file


def annotation_at(view: View, commit: str, name: str) -> Annotation | None:
    """``name``'s annotation in the commit ``commit`` (``dvc.yaml`` first, as GTO 1.x reads it)."""
    for filename in gto.ANNOTATION_FILES:
        raw = view.git.read_blob(f"{commit}:{filename}", max_size=gto.MAX_BYTES)
        if raw is not None:
            found = gto.parse(filename, raw, name)
            if found is not None:
                return found
    return None


def pull_annotated(backend: Backend, view: View, name: str, v: VersionState, out_dir: Path) -> PullResult:
    """The files ``v``'s annotation names, into ``out_dir`` (see the module docstring)."""
    ann = annotation_at(view, v.commit, name)
    if ann is None or ann.path is None:
        raise ArtifactError(
            f"{v.tag} was registered with GTO and no annotation names its files",
            hint=f"annotate it (dvc.yaml: artifacts: {name}: path: ...) and register a version that includes it",
        )
    listed = view.git.out("ls-tree", "-r", "-z", "--full-tree", v.commit, "--", ann.path)
    entries = []
    for item in filter(None, listed.split("\0")):
        meta, _, path = item.partition("\t")
        mode, kind, oid = meta.split()
        if (
            kind != "blob"
            or mode not in ("100644", "100755")
            or not (path == ann.path or path.startswith(ann.path + "/"))
        ):
            continue
        entries.append((path, oid))
    if not entries:
        raise ArtifactError(f"{v.tag}: {ann.path} (its annotated path) is not in the commit the tag names")
    base = posixpath.dirname(ann.path)
    written: list[Path] = []
    total = 0
    created = []
    try:
        with view.git.cat_file() as cf:
            heads = cf.get_many([oid for _, oid in entries], max_size=POINTER_MAX)
        for (path, oid), head in zip(entries, heads):
            rel = gto.safe_path(posixpath.relpath(path, base) if base else path, v.tag)
            target = out_dir / rel
            if not target.exists():
                created.append(target)
            ptr = lfs.parse_pointer(head) if head is not None and len(head) <= POINTER_MAX else None
            if ptr is not None:
                backend.fetch_object(view, ptr, path, target, label=f"{v.tag}:{path}")
                total += ptr.size
            else:
                total += view.git.blob_to_file(oid, target)
            written.append(target)
    except BaseException:
        for p in created:  # a pull that fails leaves none of the files it created
            p.unlink(missing_ok=True)
        raise
    return PullResult(name, f"v{v.version}", tuple(str(p) for p in written), total)
