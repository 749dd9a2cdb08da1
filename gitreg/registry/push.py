"""Registering a version: artifacts hashed once into LFS, then one commit and one tag, published together.

Objects go up first, so no ref can ever name a missing object; the commit (sidecar, pointers,
model card under ``models/<name>/``) and the annotated version tag are built with plumbing on the
cache clone and published by :func:`gitreg.registry.publish.publish` — on a lost race, rebuilt on
the new ``main`` with the next free version number.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gitreg.core import sidecar as sidecar_mod
from gitreg.core.refs import Kind, TagEvent, Version, check_name, tag_message, version_tag
from gitreg.core.sidecar import ARTIFACT_FILES, Artifact, Sidecar, check_text
from gitreg.core.state import ModelState
from gitreg.errors import InvalidVersion, MetadataError, UsageError, VersionExists
from gitreg.registry.backend import Backend
from gitreg.registry.publish import Base, Write, publish
from gitreg.registry.values import ModelVersion, iso
from gitreg.store.credentials import strip_credentials
from gitreg.store.git import Identity, work_tree_info


def push_files(
    backend: Backend,
    paths: Sequence[str | os.PathLike[str]],
    name: str,
    *,
    parent_ref: str | None,
    version: str | None = None,
    bump: str | None = None,
    metrics: Mapping[str, float] | None = None,
    params: Mapping[str, Any] | None = None,
    labels: Mapping[str, str] | None = None,
    description: str | None = None,
    data: Sequence[str | os.PathLike[str]] = (),
    signature: Mapping[str, Any] | None = None,
    extra_sections: Mapping[str, Mapping[str, Any]] | None = None,
    command: str | None = None,
    framework: str | None = None,
    artifact_info: Mapping[str, Mapping[str, Any]] | None = None,
    sign: bool = False,
    files: Sequence[str | os.PathLike[str]] = (),
) -> ModelVersion:
    """See :meth:`gitreg.Registry.push_files`; ``parent_ref`` is already resolved.

    An ONNX model's external data files and the ``files`` the model needs are LFS objects beside
    ``model.onnx`` under their relative names, hashed in the sidecar: ``[artifacts.onnx] data =
    [{path, sha256, size}]`` and ``[files."<path>"] sha256, size``.
    """
    check_name(name)
    if version is not None and bump is not None:
        raise UsageError("give --version or --bump, not both")
    explicit = Version.parse(version) if version is not None else None
    if bump is not None and bump not in ("major", "minor", "patch"):
        raise InvalidVersion(f"invalid bump {bump!r}: use major, minor or patch")
    try:
        checked = sidecar_mod.check_metrics(metrics or {})
    except ValueError as e:
        raise MetadataError(str(e)) from None
    check_metadata(labels=labels, description=description, params=params, signature=signature)
    from gitreg.core import card
    from gitreg.ml import artifacts as artifacts_mod
    from gitreg.ml import metadata

    inputs = artifacts_mod.collect([os.fspath(p) for p in paths])
    for inp in inputs:  # class names read from an ONNX file are shown as the user's own
        check_metadata(signature=inp.info.get("signature"))
    data_files = [(inp.kind, f, rel) for inp in inputs for f, rel in inp.data]
    extra_files = artifacts_mod.collect_files([os.fspath(p) for p in files], taken=[r for _, _, r in data_files])
    lineage: dict[str, Any] = {
        "code": work_tree_info(Path.cwd()),
        "data": [metadata.data_fingerprint(d) for d in data],
        # a --registry https://user:token@… must not live on in every sidecar, nor a control character
        # of an argument (a file name) reach every reader's terminal: shown as \xNN, as output escapes it
        "command": _visible(
            strip_credentials(command if command is not None else shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]))
        ),
        "parent": parent_ref,
    }
    backend.ensure_writable()
    ident = checked_identity(backend)
    cache = backend.cache()
    signer = backend.signer(cache) if sign else None  # a missing key fails before any upload
    if explicit is not None:  # fail before uploading anything; publish re-checks after its fetch
        backend.sync(cache)
        st = backend.published_state(cache, name)
        if st is not None and any(Version.parse(x) == explicit for x in st.versions):
            raise VersionExists(version_tag(name, explicit))
    every = [inp.path for inp in inputs] + [f for _, f, _ in data_files] + [f for f, _ in extra_files]
    pointers = backend.store_objects(cache, every)  # each file read once: hashed while copied
    stored = {inp.kind: (inp, ptr) for inp, ptr in zip(inputs, pointers)}
    pointer_blobs = {inp.stored_name: cache.hash_blob(p.text()) for inp, p in stored.values()}
    data_ptrs = pointers[len(inputs) : len(inputs) + len(data_files)]
    extra_ptrs = pointers[len(inputs) + len(data_files) :]
    data_of: dict[str, list[dict[str, Any]]] = {}
    for (kind, _, rel), p in zip(data_files, data_ptrs):
        data_of.setdefault(kind, []).append({"path": rel, "sha256": p.oid, "size": p.size})
        pointer_blobs[rel] = cache.hash_blob(p.text())
    for (_, rel), p in zip(extra_files, extra_ptrs):
        pointer_blobs[rel] = cache.hash_blob(p.text())
    if data_files or extra_files:  # so a checkout of the registry smudges them, whatever their suffix
        rules = sorted(rel for rel in pointer_blobs if rel not in ARTIFACT_FILES.values())
        lfs_rules = "".join(f"/{rel} filter=lfs diff=lfs merge=lfs -text\n" for rel in rules)
        pointer_blobs[".gitattributes"] = cache.hash_blob(
            "# written by gitreg: LFS objects of this version\n" + lfs_rules
        )
    onnx_in = stored.get("onnx")  # read from the file; the caller's keys (task, classes) add to it
    sig = {**(onnx_in[0].info.get("signature", {}) if onnx_in else {}), **dict(signature or {})}
    arts = {
        kind: Artifact(
            kind,
            inp.stored_name,
            p.oid,
            p.size,
            {
                **{k: v for k, v in inp.info.items() if k != "signature"},
                **dict((artifact_info or {}).get(kind, {})),
                **({"data": data_of[kind]} if kind in data_of else {}),
            },
        )
        for kind, (inp, p) in stored.items()
    }
    sections: dict[str, Any] = {
        "metrics": dict(checked),
        "params": dict(params or {}),
        "signature": sig,
        "lineage": lineage,
        "environment": metadata.environment(),
        "files": {rel: {"sha256": p.oid, "size": p.size} for (_, rel), p in zip(extra_files, extra_ptrs)},
    }
    for k, v in (extra_sections or {}).items():
        sections[k] = dict(v)
    written: dict[str, Sidecar] = {}  # tag -> the sidecar its attempt wrote (a lost race rebuilds both)

    def attempt(base: Base) -> Write:
        st = base.state
        new = explicit or next_version(st, bump, bool(checked))
        tag = version_tag(name, new)
        if st is not None and any(Version.parse(x) == new for x in st.versions):
            raise VersionExists(tag)
        when = max(int(time.time()), (st.last_time + 1) if st else 0)
        model = {
            "name": name,
            "version": str(new),
            "created": iso(int(time.time())),
            "author": f"{ident.name} <{ident.email}>",
            "description": description,
            "framework": framework or ("torch" if "torchscript" in stored else "onnx"),
            "labels": dict(labels or {}) or None,
        }
        sc = Sidecar(model=model, artifacts=arts, **sections)
        text = sidecar_mod.dumps(sc)
        written[tag] = sidecar_mod.loads(text, f"{tag}:models/{name}/model.toml")  # as `show` will read it
        files: dict[str, str | None] = {f"models/{name}/{fn}": blob for fn, blob in pointer_blobs.items()}
        files[f"models/{name}/model.toml"] = cache.hash_blob(text)
        files[f"models/{name}/README.md"] = cache.hash_blob(card.model_card(sc.to_dict(), tag))
        commit = cache.commit(base.main, files, f"Register {name} v{new}", ident, when, replace_dirs=[f"models/{name}"])
        msg = tag_message(TagEvent(Kind.REGISTER, name, str(new)))
        tag_obj = cache.make_tag(tag, commit, msg, ident, when, sign=signer)
        return Write((base.main_update(commit), base.tag_update(tag, tag_obj)), commit, tag, str(new), when)

    w = publish(backend, cache, name, attempt, explicit_tag=explicit is not None)
    return ModelVersion(
        name, w.version, w.tag, w.commit, iso(w.when), ident.name, ident.email, sidecar=written.get(w.tag)
    )


def _visible(text: str) -> str:
    return "".join(f"\\x{ord(c):02x}" if sidecar_mod.control_char(c) else c for c in text)


def next_version(st: ModelState | None, bump: str | None, has_metrics: bool) -> Version:
    """``--bump``, or the default: 1.0.0 first, then minor when metrics are given, else patch."""
    versions = [Version.parse(v) for v in st.versions] if st else []
    if not versions:
        return Version(0, 0, 0).bump(bump) if bump else Version(1, 0, 0)
    return max(versions).bump(bump or ("minor" if has_metrics else "patch"))


def check_metadata(
    *,
    labels: Mapping[str, Any] | None = None,
    description: str | None = None,
    params: Mapping[str, Any] | None = None,
    signature: Mapping[str, Any] | None = None,
) -> None:
    """MetadataError, before anything is exported or written, when text gitreg would store for others to
    read holds a control character: labels, parameter names and values, class names are one line;
    a description may break lines and indent (see :func:`gitreg.core.sidecar.control_char`)."""
    check_text("--label", labels or {})
    check_text("--param", params or {}, multiline=True)  # a string value may be a template: keys are one line
    if description is not None:
        check_text("--description", description, multiline=True)
    if signature:
        check_text("class name", list(signature.get("classes") or ()))


def checked_identity(backend: Backend) -> Identity:
    """The identity gitreg writes as, checked (see :meth:`Backend.identity`)."""
    return backend.identity()
