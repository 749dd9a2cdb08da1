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
from gitreg.core.sidecar import check_text, tomllib
from gitreg.errors import ArtifactError, DatasetExists, InputError
from gitreg.registry.backend import Backend
from gitreg.registry.publish import Base, Unchanged, Write, publish
from gitreg.registry.push import checked_identity
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
    inputs = [k for k in arrays if k != "y"]  # X, or one array per input name (a multi-input model)
    if not inputs:
        raise InputError(f"{path} has no array 'X' (it has: {', '.join(arrays) or 'none'})")
    first = "X" if "X" in arrays else inputs[0]
    rows = len(arrays[first]) if arrays[first].ndim else 0
    for k in [*inputs, "y"] if "y" in arrays else inputs:
        if arrays[k].ndim == 0 or len(arrays[k]) != rows:
            raise InputError(f"{path}: {first} has {rows} rows but {k} has {len(arrays[k]) if arrays[k].ndim else 0}")
    return {
        "rows": rows,
        "arrays": {k: {"dtype": str(v.dtype), "shape": list(v.shape)} for k, v in sorted(arrays.items())},
    }


def push(backend: Backend, file: str | Path, name: str, force: bool = False) -> dict[str, Any]:
    """Store ``file`` as ``datasets/<name>.npz``; returns its fingerprint.

    A name that already holds other data is refused unless ``force``: gates judge candidates on that
    data, and replacing it silently would change every later verdict. The same bytes again are a no-op.
    """
    check_name(name, "dataset")
    path = Path(file)
    check_text("dataset file name", path.name)  # recorded as the dataset's source, shown by `dataset show`
    info = _validate(path)
    backend.ensure_writable()
    ident = checked_identity(backend)
    cache = backend.cache()
    (ptr,) = backend.store_objects(cache, [path])
    meta = {"name": name, "sha256": ptr.oid, "size": ptr.size, "source": path.name, **info}
    pointer_blob = cache.hash_blob(ptr.text())
    meta_blob = cache.hash_blob(tomli_w.dumps({"dataset": meta}))
    rel = f"datasets/{name}.npz"

    def attempt(base: Base) -> Write:
        current = lfs.parse_pointer(cache.read_blob(f"{base.main}:{rel}"))
        if current is not None and current.oid == ptr.oid:
            raise Unchanged
        if current is not None and not force:
            raise DatasetExists(
                f"dataset {name} already holds other data (sha256 {current.oid[:12]}…, {current.size} bytes); "
                "gates judge candidates on it, so it is not replaced silently",
                hint=f"push it under a new name, or replace it: gitreg dataset push {path} --name {name} --force",
            )
        files: dict[str, str | None] = {rel: pointer_blob, f"datasets/{name}.toml": meta_blob}
        verb = "Replace" if current is not None else "Add"
        commit = cache.commit(base.main, files, f"{verb} dataset {name}", ident, int(time.time()))
        return Write((base.main_update(commit),), commit)

    try:
        publish(backend, cache, "", attempt)
    except Unchanged:
        pass
    return meta


def list_datasets(backend: Backend) -> list[dict[str, Any]]:
    """Every dataset on main with its fingerprint (``datasets/*.toml``): one ls-tree, one cat-file."""
    view = backend.view()
    if view is None:
        return []
    listed = view.git.run("ls-tree", "--name-only", f"{view.main}:datasets", check=False)
    entries = listed.stdout.split() if listed.returncode == 0 else []
    names = sorted(n[: -len(".npz")] for n in entries if n.endswith(".npz"))
    out = []
    with view.git.cat_file() as cf:
        blobs = cf.get_many([f"{view.main}:datasets/{n}.toml" for n in names])
        pointers = cf.get_many([f"{view.main}:datasets/{n}.npz" for n in names])
    for n, blob, raw in zip(names, blobs, pointers):
        meta: dict[str, Any] = {"name": n}
        if blob is not None:
            try:
                meta.update(tomllib.loads(blob.decode("utf-8", errors="replace")).get("dataset", {}))
            except tomllib.TOMLDecodeError:
                pass
        ptr = lfs.parse_pointer(raw)
        if ptr is not None:  # the pointer is the truth; the .toml beside it describes it
            meta["sha256"], meta["size"] = ptr.oid, ptr.size
        meta["path"] = f"datasets/{n}.npz"
        out.append(meta)
    return out


def show(backend: Backend, name: str) -> dict[str, Any]:
    """One dataset's fingerprint; ArtifactError naming the known ones when there is none."""
    found = {d["name"]: d for d in list_datasets(backend)}
    if name not in found:
        known = ", ".join(found) or "none"
        raise ArtifactError(f"the registry has no dataset {name} (it has: {known})", hint="see: gitreg dataset list")
    return found[name]


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
