"""Evaluation datasets kept in the registry: ``datasets/<name>.npz`` (Git LFS) and a TOML fingerprint.

Gates name them (``[gates.production] data = "datasets/digits-holdout.npz"``) so that a CI job
with no training code evaluates every candidate on the very same bytes. ``.npz`` only, read with
``allow_pickle=False``: a registry never makes anyone unpickle anything.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from gitreg.core.refs import check_name
from gitreg.errors import ArtifactError, InputError
from gitreg.registry.backend import Backend
from gitreg.registry.publish import Base, Write, publish
from gitreg.store import lfs
from gitreg.store.location import cache_home


def _validate(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(f"dataset file not found: {path}")
    if path.suffix != ".npz":
        raise InputError(f"datasets are .npz files with arrays X and y, not {path.name}")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError) as e:
        raise InputError(f"cannot read {path}: {e}") from None
    if "X" not in arrays:
        raise InputError(f"{path} has no array 'X' (it has: {', '.join(arrays) or 'none'})")
    rows = len(arrays["X"])
    if "y" in arrays and len(arrays["y"]) != rows:
        raise InputError(f"{path}: X has {rows} rows but y has {len(arrays['y'])}")
    return {
        "rows": rows,
        "arrays": {k: {"dtype": str(v.dtype), "shape": list(v.shape)} for k, v in sorted(arrays.items())},
    }


def push(backend: Backend, file: str | Path, name: str) -> dict[str, Any]:
    """Store ``file`` as ``datasets/<name>.npz``; returns its fingerprint."""
    check_name(name, "dataset")
    path = Path(file)
    info = _validate(path)
    backend.ensure_writable()
    cache = backend.cache()
    (ptr,) = backend.store_objects(cache, [path])
    ident = backend.identity()
    meta = {"name": name, "sha256": ptr.oid, "size": ptr.size, "source": path.name, **info}
    pointer_blob = cache.hash_blob(ptr.text())
    meta_blob = cache.hash_blob(tomli_w.dumps({"dataset": meta}))

    def attempt(base: Base) -> Write:
        files: dict[str, str | None] = {f"datasets/{name}.npz": pointer_blob, f"datasets/{name}.toml": meta_blob}
        commit = cache.commit(base.main, files, f"Add dataset {name}", ident, int(time.time()))
        return Write((base.main_update(commit),), commit)

    publish(backend, cache, "", attempt)
    return meta


def fetch(backend: Backend, rel: str) -> Path:
    """The dataset at ``rel`` (``datasets/NAME.npz`` on main) in the local cache, sha256-verified."""
    view = backend.view()
    if view is None:
        raise ArtifactError(f"no registry yet, so no {rel}")
    ptr = lfs.parse_pointer(view.git.read_blob(f"{view.main}:{rel}"))
    if ptr is None:
        raise ArtifactError(f"the registry has no dataset {rel}", hint="add one: gitreg dataset push FILE --name NAME")
    target = cache_home() / "gitreg" / "datasets" / ptr.oid / Path(rel).name
    if target.is_file() and lfs.sha256_file(target)[0] == ptr.oid:
        return target
    backend.fetch_object(view, ptr, rel, target)
    return target
