"""``Registry``: push, list, show, history, pull, deprecate, check — composed from the pure core.

Two ways in to a registry. A registry on this machine is read in place (``git --git-dir``: no
copy, always current, no fetch). Writes — and every read of a remote registry — go through one
bare cache clone per registry under ``$XDG_CACHE_HOME/gitreg/``; it never has a working tree.
Writes follow DESIGN §6: hash once into the LFS store, upload objects first, then build the commit
and the annotated tag with plumbing and publish both with one ``push --atomic``, retrying on a lost
race from a fresh fetch. Any failure leaves the remote as it was.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import random
import shlex
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gitreg.core import sidecar as sidecar_mod
from gitreg.core.refs import (
    NAME_RULE,
    Kind,
    Reference,
    TagEvent,
    Version,
    check_name,
    format_tag,
    parse_reference,
    tag_message,
    version_tag,
)
from gitreg.core.sidecar import Artifact, Sidecar
from gitreg.core.state import Event, ModelState, VersionState, fold
from gitreg.errors import (
    ArtifactError,
    GitregError,
    IntegrityError,
    InvalidName,
    InvalidReference,
    InvalidVersion,
    MetadataError,
    ModelNotFound,
    RegistryNotFound,
    RemoteError,
    StageNotFound,
    UsageError,
    VersionExists,
    VersionNotFound,
)
from gitreg.store import (
    checkout,
    config,
    lfs,  # artifacts, hook and metadata load in the writes that use them
)
from gitreg.store.git import Git, Identity, PushResult, identity, work_tree_info

MAX_ATTEMPTS = 60
MAIN = "refs/heads/main"
REMOTE_MAIN = "refs/remotes/origin/main"


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


# -- public values ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelVersion:
    """One registered version, with its sidecar when it has one (GTO-registered versions may not)."""

    name: str
    version: str
    tag: str
    commit: str
    created: str
    author: str
    author_email: str
    stages: tuple[str, ...] = ()
    deregistered: bool = False
    sidecar: Sidecar | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.version}"

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "sidecar"}
        d["stages"] = list(self.stages)
        d["sidecar"] = self.sidecar.to_dict() if self.sidecar else None
        return d


@dataclass(frozen=True)
class ModelSummary:
    name: str
    latest: str | None
    versions: int
    stages: Mapping[str, str]
    deprecated: bool
    updated: str

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "stages": dict(self.stages)}


@dataclass(frozen=True)
class HistoryEvent:
    time: str
    event: str
    name: str
    version: str | None
    stage: str | None
    tag: str
    commit: str
    author: str
    author_email: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PullResult:
    name: str
    version: str
    files: tuple[str, ...]
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "files": list(self.files)}


@dataclass(frozen=True)
class CheckReport:
    versions: int
    objects: int
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            **asdict(self),
            "problems": list(self.problems),
            "warnings": list(self.warnings),
        }


@dataclass
class _View:
    """A repo to read from and the ref that is the registry's ``main`` in it."""

    git: Git
    main: str
    tags: list = field(default_factory=list)


def _history_event(e: Event) -> HistoryEvent:
    return HistoryEvent(
        iso(e.time),
        e.kind.value,
        e.name,
        e.version,
        e.stage,
        e.tag,
        e.commit,
        e.author,
        e.author_email,
        e.message,
    )


# Rejections that mean "someone else wrote first": rebuild on the new main and try again. Any other
# (a protected branch, a token without the workflow scope, …) is reported at once.
_RACE_MARKERS = ("fetch first", "non-fast-forward", "already exists", "stale info", "atomic push failed", "lock")


class _Unchanged(Exception):
    """Raised inside a publish attempt that has nothing to write."""


# -- the registry -----------------------------------------------------------------------------------
class Registry:
    """A gitreg registry at ``url`` (path or git URL); ``None`` resolves as DESIGN §2 says."""

    def __init__(self, url: str | os.PathLike[str] | None = None) -> None:
        self.location = config.resolve(os.fspath(url) if url is not None else None)
        self._ident: Identity | None = None

    def __repr__(self) -> str:
        return f"Registry({self.location.url!r})"

    # -- plumbing ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.location.url

    def _local_git(self) -> Git:
        assert self.location.path is not None
        return Git(self.location.path)

    def _is_registry(self, git: Git, main: str) -> bool:
        return git.read_blob(f"{main}:gitreg.toml") is not None

    def _check_local(self, must_exist: bool = False) -> Git | None:
        """The local registry repo, None if it is the default and does not exist yet."""
        path = self.location.path
        assert path is not None
        if not path.exists():
            if self.location.is_default and not must_exist:
                return None
            raise RegistryNotFound(f"no registry at {path}", hint=f"create one: gitreg init --registry {path}")
        git = Git(path)
        if not self._is_registry(git, MAIN):  # also false when path is no git repo at all: one process
            raise RegistryNotFound(
                f"{path} is not a gitreg registry (no gitreg.toml on main)",
                hint="point --registry at a registry, or create one with gitreg init",
            )
        return git

    @contextmanager
    def _lock(self, path: Path) -> Iterator[None]:
        """Serialise git writes to one cache between processes of this machine."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _cache(self) -> Git:
        """The bare cache clone of this registry, created on first use."""
        path = config.cache_dir(self.url)
        git = Git(path)
        with self._lock(path.with_suffix(".lock")):
            if not (path / "HEAD").exists():
                tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
                # Every git blob of a registry is small (artifacts are LFS pointers), so the clone
                # takes them all except oversized strays: no lazy fetch per sidecar later.
                p = Git(tmp).run(
                    "clone",
                    "--bare",
                    "--quiet",
                    "--no-tags",
                    "--filter=blob:limit=1m",
                    self.url,
                    str(tmp),
                    check=False,
                )
                if p.returncode != 0:
                    from gitreg.store.git import raise_remote_error

                    raise_remote_error(["git", "clone"], p.returncode, p.stderr, self.url)
                tg = Git(tmp)
                tg.config("remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*")
                tg.config("gc.auto", "0")
                tg.config("core.hooksPath", os.devnull)  # gitreg pushes LFS objects itself
                os.replace(tmp, path)
        return git

    def _sync(self, git: Git) -> None:
        with self._lock(git.git_dir.with_suffix(".lock")):
            # Wildcards: an empty remote (no main yet) is not an error, just nothing to fetch.
            git.fetch("+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*", "+refs/gitreg/*:refs/gitreg/*")
            git.pack_loose_tags()  # the cache is read with for-each-ref too, and gc never runs in it

    def _view(self, sync: bool = True) -> _View | None:
        """Where reads come from: the local registry itself, or the synced cache of a remote one."""
        if self.location.is_local:
            git = self._check_local()
            if git is not None and checkout.is_checkout(git.git_dir):
                return _View(git, checkout.main_ref(git))
            return _View(git, MAIN) if git else None
        git = self._cache()
        if sync:
            self._sync(git)
        if not self._is_registry(git, REMOTE_MAIN):
            raise RegistryNotFound(
                f"{self.url} is not a gitreg registry (no gitreg.toml on main)",
                hint=f"create one: gitreg init --registry {self.url}",
            )
        return _View(git, REMOTE_MAIN)

    def _state(self, view: _View | None, name: str | None = None, details: bool = True) -> dict[str, ModelState]:
        """Registry state from the tags; ``details=False`` skips tagger names and messages (faster)."""
        if view is None:
            return {}
        patterns = [f"refs/tags/{name}@*", f"refs/tags/{name}#*"] if name else ["refs/tags"]
        return fold(view.git.tags(patterns, details=details))

    def _identity(self) -> Identity:
        if self._ident is None:
            self._ident = identity()
        return self._ident

    def _signer(self, git: Git) -> Any:
        """The user's git signing setup (``--sign``), checked now; raises SigningError if unusable."""
        from gitreg.store import signing

        return signing.signer(git, self._identity())

    def config(self) -> config.RegistryConfig:
        """The registry's ``gitreg.toml`` (defaults when the embedded registry does not exist yet)."""
        view = self._view()
        if view is None:
            return config.RegistryConfig()
        raw = view.git.read_blob(f"{view.main}:gitreg.toml")
        return config.RegistryConfig.parse(raw.decode("utf-8", errors="replace") if raw else None)

    # -- init -------------------------------------------------------------------------------------
    def init(self) -> bool:
        """Create the registry if needed; True if it was created, False if it already existed."""
        from gitreg.store import hook

        if self.location.is_local:
            path = self.location.path
            assert path is not None
            if checkout.is_checkout(path):
                checkout.refuse_writes(path)
            with self._lock(path.parent / f".{path.name}.init.lock"):
                if path.exists() and any(path.iterdir()):
                    self._check_local(must_exist=True)
                    hook.install(path)
                    return False
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                Git(tmp).run("init", "--bare", "--quiet", "--initial-branch=main", str(tmp))
                git = Git(tmp)
                for key, value in (
                    ("uploadpack.allowFilter", "true"),
                    ("uploadpack.allowAnySHA1InWant", "true"),
                    ("gitreg.localLfs", "true"),
                    ("receive.advertisePushOptions", "true"),
                ):
                    git.config(key, value)
                commit = self._initial_commit(git)
                git.run("update-ref", MAIN, commit)
                hook.install(tmp)
                if path.exists():
                    path.rmdir()
                os.replace(tmp, path)
            return True
        cache = self._cache()
        self._sync(cache)
        if self._is_registry(cache, REMOTE_MAIN):
            return False
        if cache.rev(REMOTE_MAIN):
            raise RegistryNotFound(f"{self.url} already has a main branch without gitreg.toml: not a registry")
        commit = self._initial_commit(cache)
        res = cache.push([f"{commit}:{MAIN}"])
        if not res.ok:
            raise RemoteError(f"could not initialise {self.url}: {'; '.join(res.rejected.values())}")
        self._sync(cache)
        return True

    def commit_files(self, files: Mapping[str, bytes | str | None], message: str) -> str | None:
        """Commit registry-level files (``gitreg.toml``, workflows; None deletes) onto main.

        Not for models: versions are written by ``push_files``. Returns the new commit, or None when
        every file already has that content (idempotent). Races are retried like any push.
        """
        self._ensure_writable()
        cache = self._cache()
        for path in files:
            if path.startswith(("models/", "datasets/")) or path.startswith("/") or ".." in path.split("/"):
                raise UsageError(f"{path}: commit_files writes registry files, not models or datasets")
        ident = self._identity()

        def attempt(st: ModelState | None, parent: str) -> tuple[str, list[str], str, str]:
            blobs = {p: None if d is None else cache.hash_blob(d) for p, d in files.items()}
            current = {p: _blob_id(cache, parent, p) for p in files}
            if current == blobs:
                raise _Unchanged
            commit = cache.commit(parent, blobs, message, ident, int(time.time()))
            return "", [f"{commit}:{MAIN}"], commit, ""

        try:
            _, commit, _ = self._publish(cache, "", attempt, explicit_tag=False)
        except _Unchanged:
            return None
        return commit

    def _initial_commit(self, git: Git) -> str:
        files = {
            "gitreg.toml": git.hash_blob(config.GITREG_TOML),
            "stages.toml": git.hash_blob(config.STAGES_TOML),
            ".gitattributes": git.hash_blob(config.GITATTRIBUTES),
        }
        return git.commit(None, files, "Initialise gitreg registry", self._identity(), int(time.time()))

    def _ensure_writable(self) -> None:
        """First use of a write command creates the embedded default registry."""
        if self.location.is_local and self.location.is_default and not self.location.path.exists():  # type: ignore[union-attr]
            self.init()
        elif self.location.is_local:
            self._check_local()
            if checkout.is_checkout(self.location.path):
                checkout.refuse_writes(self.location.path)  # type: ignore[arg-type]

    # -- reading ----------------------------------------------------------------------------------
    def list(self) -> list[ModelSummary]:
        """Every model with its latest version and stage holders; tags only, no blob reads."""
        out = []
        for name, st in sorted(self._state(self._view(), details=False).items()):
            latest = st.latest()
            out.append(
                ModelSummary(
                    name,
                    f"v{latest.version}" if latest else None,
                    sum(1 for v in st.versions.values() if not v.deregistered),
                    {s: f"v{v}" for s, v in sorted(st.stages.items())},
                    st.deprecated,
                    iso(st.last_time),
                )
            )
        return out

    def versions(self, name: str) -> list[ModelVersion]:
        """All versions of ``name`` (semver ascending) with their sidecars: one cat-file process."""
        view = self._view()
        st = self._model(self._state(view, name), name)
        found = sorted(st.versions.values(), key=lambda v: Version.parse(v.version))
        return self._with_sidecars(view, st, found)

    def show(self, ref: str) -> ModelVersion:
        """The version ``ref`` names, with its sidecar."""
        reference = parse_reference(ref)
        view = self._view()
        st = self._model(self._state(view, reference.name), reference.name)
        return self._with_sidecars(view, st, [self._resolve(st, reference)])[0]

    def history(self, name: str) -> list[HistoryEvent]:
        """Registrations, stage events, deregistrations and deprecations of ``name``, oldest first."""
        check_name_for_read(name)
        view = self._view()
        st = self._model(self._state(view, name), name)
        assert view is not None
        from gitreg.registry import records

        evaluated = [
            (ts, HistoryEvent(iso(ts), "evaluation", name, ver, None, git_ref, commit, an, ae, subject))
            for ts, ver, git_ref, commit, an, ae, subject in records.history(view.git, name, view.main)
        ]
        tagged = [(e.time, _history_event(e)) for e in st.events]
        return [ev for _, ev in sorted(tagged + evaluated, key=lambda p: p[0])]  # stable: tag order kept

    def _model(self, states: Mapping[str, ModelState], name: str) -> ModelState:
        check_name_for_read(name)
        if name not in states or not states[name].versions:
            raise ModelNotFound(name)
        return states[name]

    def _resolve(self, st: ModelState, ref: Reference) -> VersionState:
        if ref.version is not None:
            want = Version.parse(ref.version)
            for v in st.versions.values():
                if Version.parse(v.version) == want:
                    return v
            raise VersionNotFound(st.name, f"v{ref.version}")
        if ref.stage is not None:
            holder = st.stages.get(ref.stage)
            if holder is None:
                raise StageNotFound(st.name, ref.stage)
            return st.versions[holder]
        latest = st.latest()
        if latest is None:
            raise VersionNotFound(st.name, "latest (every version is deregistered)")
        return latest

    def _with_sidecars(self, view: _View | None, st: ModelState, vs: Sequence[VersionState]) -> list[ModelVersion]:
        assert view is not None
        from gitreg.registry import records

        with view.git.cat_file() as cf:
            specs = [f"refs/tags/{v.tag}:models/{st.name}/model.toml" for v in vs]
            blobs = cf.get_many(specs + records.overlay_specs(st.name, [v.version for v in vs]))
        out = []
        for v, blob, rec in zip(vs, blobs, blobs[len(vs) :]):
            sc = _own_sidecar(blob, v, st.name)
            recorded = records.evaluation_of(rec)
            if sc is not None and recorded is not None:  # the newest `eval --record` of this version
                sc = dataclasses.replace(sc, evaluation=recorded)
            out.append(
                ModelVersion(
                    st.name,
                    v.version,
                    v.tag,
                    v.commit,
                    iso(v.created),
                    v.author,
                    v.author_email,
                    tuple(f for f in st.stages_of(v.version)),
                    v.deregistered,
                    sc,
                )
            )
        return out

    # -- pull -------------------------------------------------------------------------------------
    def pull(self, ref: str, dest: str | os.PathLike[str] | None = None, format: str = "all") -> PullResult:
        """Fetch exactly the artifacts of one version into ``dest``, each verified against its sha256."""
        if format not in ("all", "onnx", "torchscript"):
            raise UsageError(f"invalid format {format!r}: use onnx, torchscript or all")
        reference = parse_reference(ref)
        view = self._view()
        st = self._model(self._state(view, reference.name), reference.name)
        v = self._resolve(st, reference)
        assert view is not None
        base = f"refs/tags/{v.tag}:models/{st.name}/"
        with view.git.cat_file() as cf:
            raw = cf.get(base + "model.toml")
            sc = _own_sidecar(raw, v, st.name)
            if raw is None or sc is None:
                raise ArtifactError(f"{v.tag} has no sidecar of its own: it was registered outside gitreg")
            kinds = list(sc.artifacts) if format == "all" else [format]
            for k in kinds:
                if k not in sc.artifacts:
                    raise ArtifactError(f"{v.tag} has no {k} artifact (it has: {', '.join(sc.artifacts) or 'none'})")
            pointers = {k: self._pointer(cf, base, sc.artifacts[k], v.tag) for k in kinds}
        out_dir = Path(dest) if dest is not None else Path.cwd() / st.name
        written, total = [], 0
        for k, ptr in pointers.items():
            target = out_dir / sc.artifacts[k].path
            self._fetch_object(view, ptr, f"models/{st.name}/{sc.artifacts[k].path}", target)
            written.append(str(target))
            total += ptr.size
        sidecar_path = out_dir / "model.toml"
        tmp = out_dir / f".model.toml.{os.getpid()}.tmp"
        tmp.write_bytes(raw)
        os.replace(tmp, sidecar_path)
        return PullResult(st.name, f"v{v.version}", (*written, str(sidecar_path)), total)

    def _pointer(self, cf, base: str, art: Artifact, tag: str) -> lfs.Pointer:
        ptr = lfs.parse_pointer(cf.get(base + art.path))
        if ptr is None:
            raise IntegrityError(f"{tag}: {art.path} is not a valid LFS pointer", hint="run: gitreg check")
        if (ptr.oid, ptr.size) != (art.sha256, art.size):
            raise IntegrityError(
                f"{tag}: {art.path} pointer ({ptr.oid[:12]}…) does not match the sidecar's sha256 ({art.sha256[:12]}…)",
                hint="run: gitreg check",
            )
        return ptr

    def _fetch_object(self, view: _View, ptr: lfs.Pointer, path: str, target: Path) -> None:
        if self.location.is_local:
            src = lfs.object_path(view.git.git_dir / "lfs", ptr.oid)
            if not src.is_file():
                raise IntegrityError(
                    f"artifact object {ptr.oid[:12]}… of {path} is missing from the registry",
                    hint="run: gitreg check",
                )
            lfs.materialize(src, target, ptr)
            return
        cached = lfs.object_path(view.git.git_dir / "lfs", ptr.oid)
        if cached.is_file():
            lfs.materialize(cached, target, ptr)
            return
        lfs.materialize(lambda out: lfs.smudge(view.git, ptr, path, out), target, ptr)

    # -- push -------------------------------------------------------------------------------------
    def push_files(
        self,
        paths: Sequence[str | os.PathLike[str]],
        name: str,
        *,
        version: str | None = None,
        bump: str | None = None,
        metrics: Mapping[str, float] | None = None,
        params: Mapping[str, Any] | None = None,
        labels: Mapping[str, str] | None = None,
        description: str | None = None,
        parent: str | None = None,
        data: Sequence[str | os.PathLike[str]] = (),
        signature: Mapping[str, Any] | None = None,
        extra_sections: Mapping[str, Mapping[str, Any]] | None = None,
        command: str | None = None,
        framework: str | None = None,
        artifact_info: Mapping[str, Mapping[str, Any]] | None = None,
        sign: bool = False,
    ) -> ModelVersion:
        """Register already-exported artifact files as a new version of ``name``.

        ``framework`` and ``artifact_info`` (extra keys per artifact kind, e.g. which exporter ran)
        come from :mod:`gitreg.ml.export` when gitreg exported the files itself. ``sign`` signs the
        version tag with the user's git signing setup (:mod:`gitreg.store.signing`).
        """
        check_name(name)
        if version is not None and bump is not None:
            raise UsageError("give --version or --bump, not both")
        explicit = Version.parse(version) if version is not None else None
        if bump is not None and bump not in ("major", "minor", "patch"):
            raise InvalidVersion(f"invalid bump {bump!r}: use major, minor or patch")
        try:
            metrics = sidecar_mod.check_metrics(metrics or {})
        except ValueError as e:
            raise MetadataError(str(e)) from None
        from gitreg.core import card
        from gitreg.ml import artifacts as artifacts_mod
        from gitreg.ml import metadata

        inputs = artifacts_mod.collect([os.fspath(p) for p in paths])
        lineage: dict[str, Any] = {
            "code": work_tree_info(Path.cwd()),
            "data": [metadata.data_fingerprint(d) for d in data],
            "command": command if command is not None else shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        }
        parent_ref = self._parent(parent) if parent else None
        lineage["parent"] = parent_ref
        self._ensure_writable()
        cache = self._cache()
        signer = self._signer(cache) if sign else None  # a missing key fails before any upload
        if explicit is not None:  # fail before uploading anything; _publish re-checks after its fetch
            self._sync(cache)
            st = self._state(_View(cache, REMOTE_MAIN), name).get(name)
            if st is not None and any(Version.parse(x) == explicit for x in st.versions):
                raise VersionExists(version_tag(name, explicit))
        pointers = self._store_objects(cache, [inp.path for inp in inputs])
        stored = {inp.kind: (inp, ptr) for inp, ptr in zip(inputs, pointers)}
        pointer_blobs = {inp.stored_name: cache.hash_blob(p.text()) for inp, p in stored.values()}
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
                },
            )
            for kind, (inp, p) in stored.items()
        }
        sections = {
            "metrics": dict(metrics),
            "params": dict(params or {}),
            "signature": sig,
            "lineage": lineage,
            "environment": metadata.environment(),
        }
        for k, v in (extra_sections or {}).items():
            sections[k] = dict(v)
        ident = self._identity()

        def attempt(st: ModelState | None, commit_parent: str) -> tuple[str, list[str], str, str]:
            new = explicit or _next_version(st, bump, bool(metrics))
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
                "framework": framework or _framework(stored),
                "labels": dict(labels or {}) or None,
            }
            sc = Sidecar(model=model, artifacts=arts, **sections)  # type: ignore[arg-type]
            files = {f"models/{name}/{fn}": blob for fn, blob in pointer_blobs.items()}
            files[f"models/{name}/model.toml"] = cache.hash_blob(sidecar_mod.dumps(sc))
            files[f"models/{name}/README.md"] = cache.hash_blob(card.model_card(sc.to_dict(), tag))
            commit = cache.commit(
                commit_parent, files, f"Register {name} v{new}", ident, when, replace_dirs=[f"models/{name}"]
            )
            msg = tag_message(TagEvent(Kind.REGISTER, name, str(new)))
            tag_obj = cache.make_tag(tag, commit, msg, ident, when, sign=signer)
            return tag, [f"{commit}:{MAIN}", f"{tag_obj}:refs/tags/{tag}"], commit, str(new)

        tag, commit, new = self._publish(cache, name, attempt, explicit_tag=explicit is not None)
        return ModelVersion(name, new, tag, commit, iso(int(time.time())), ident.name, ident.email)

    def _store_objects(self, cache: Git, paths: Sequence[Path]) -> list[lfs.Pointer]:
        """Each file's LFS object, in the registry before any ref names it; each file read once.

        A registry on this machine gets the objects straight into its own ``lfs/objects`` (where
        ``git lfs push`` to a file remote puts them, but without git-lfs reading them again); any
        other registry gets them through the cache's store and ``git lfs push --object-id``.
        """
        if self.location.is_local:
            assert self.location.path is not None
            root = self.location.path / "lfs"
            if os.access(root if root.exists() else self.location.path, os.W_OK):
                return [lfs.store(p, root) for p in paths]
        root = cache.git_dir / "lfs"
        pointers = [lfs.store(p, root) for p in paths]
        lfs.push_objects(cache, [p.oid for p in pointers])
        return pointers

    def _parent(self, parent: str) -> str:
        try:
            mv = self.show(parent)
        except GitregError as e:
            raise MetadataError(f"--parent {parent}: {e.message}", hint=e.hint) from None
        return mv.ref

    def _publish(self, cache: Git, name: str, attempt, explicit_tag: bool) -> tuple[str, str, str]:
        """Fetch, build, push --atomic; on a lost race rebuild on the new main and try again."""
        for n in range(MAX_ATTEMPTS):
            self._sync(cache)
            st = self._state(_View(cache, REMOTE_MAIN), name).get(name) if name else None
            parent = cache.rev(REMOTE_MAIN)
            if parent is None or not self._is_registry(cache, REMOTE_MAIN):
                raise RegistryNotFound(f"{self.url} is not a gitreg registry (no gitreg.toml on main)")
            tag, refspecs, commit, new = attempt(st, parent)
            with self._lock(cache.git_dir.with_suffix(".lock")):
                res = self._write_direct(cache, refspecs, parent) or cache.push(refspecs)
            if res.ok:
                cache.run("update-ref", REMOTE_MAIN, commit, check=False)
                # The cache knows the new tags too, so offline reads (gitreg verify) see them at once.
                tags = [s.split(":", 1) for s in refspecs if s.split(":", 1)[-1].startswith("refs/tags/")]
                if tags:
                    updates = "".join(f"update {ref} {oid}\n" for oid, ref in tags)
                    cache.run("update-ref", "--stdin", input=updates, check=False)
                if self.location.is_local:
                    self._local_git().pack_loose_tags()  # keeps reads of a 10k-version registry fast
                return tag, commit, new
            reasons = " ".join(res.rejected.values())
            if "hook declined" in reasons or "pre-receive" in reasons:
                detail = "; ".join(m.removeprefix("gitreg: ") for m in res.remote_messages) or reasons
                raise RemoteError(f"the registry refused the push: {detail}")
            tag_reason = res.rejected.get(f"refs/tags/{tag}", "")
            if "already exists" in tag_reason and explicit_tag:
                raise VersionExists(tag)
            if not any(marker in reasons for marker in _RACE_MARKERS):  # a policy, not a race: say it
                detail = "; ".join([*res.remote_messages, *(f"{r}: {w}" for r, w in res.rejected.items())])
                raise RemoteError(f"the registry refused the push: {detail}")
            time.sleep(random.uniform(0.02, 0.1) * min(n + 1, 10))
        raise RemoteError(
            f"gave up after {MAX_ATTEMPTS} attempts: the registry's main kept moving",
            hint="retry; nothing was registered",
        )

    def _write_direct(self, cache: Git, refspecs: Sequence[str], parent: str) -> PushResult | None:
        """Publish into a registry on this machine without ``git push``: the new loose objects are
        linked or copied into its object store, then every ref moves in one ``update-ref --stdin``
        transaction that checks main's old value and creates tags only if absent, the same
        all-or-nothing guarantee as ``push --atomic``. It skips receive-pack and the pre-receive hook
        (a Python process, most of a push's fixed cost): gitreg checked in-process what the hook
        checks, and the hook still guards every plain ``git push``. None means "use git push" (a
        remote registry, an unwritable one, one whose owner set ``gitreg.directWrites = false`` so
        that every write meets the hook, or an object the cache holds only packed).
        """
        if not self.location.is_local or self.location.path is None:
            return None
        objects = self.location.path / "objects"
        local = self._local_git()
        if not os.access(objects, os.W_OK) or local.get_config("gitreg.directWrites") == "false":
            return None
        tips = [spec.split(":", 1)[0] for spec in refspecs]
        listed = cache.out("rev-list", "--objects", *tips, "--not", parent).splitlines()
        src_root = cache.git_dir / "objects"
        for line in listed:
            oid = line[:40]
            dst = objects / oid[:2] / oid[2:]
            if dst.exists():
                continue
            src = src_root / oid[:2] / oid[2:]
            if not src.is_file():
                return None
            dst.parent.mkdir(exist_ok=True)
            tmp = dst.with_name(f".{oid[2:]}.{os.getpid()}.tmp")
            try:
                os.link(src, tmp)
            except OSError:  # another filesystem
                import shutil

                shutil.copyfile(src, tmp)
            os.replace(tmp, dst)  # loose objects are immutable: a racing writer wrote the same bytes
        lines = []
        for spec in refspecs:
            oid, ref = spec.split(":", 1)
            if ref == MAIN:
                lines.append(f"update {ref} {oid} {parent}")
            else:
                lines.append(f"create {ref} {oid}")
        p = local.run("update-ref", "--stdin", input="\n".join(lines) + "\n", check=False)
        if p.returncode == 0:
            return PushResult(True, {}, [], "")
        refs = [spec.split(":", 1)[1] for spec in refspecs]
        existing = set(local.out("for-each-ref", "--format=%(refname)", *refs).split())
        rejected = {r: "already exists" if r in existing and r != MAIN else "fetch first" for r in refs}
        return PushResult(False, rejected, [], p.stderr)

    # -- deprecate --------------------------------------------------------------------------------
    def deprecate(self, ref: str) -> HistoryEvent:
        """GTO's three deprecations: ``name`` (model), ``name@vX`` (deregister), ``name#stage`` (unassign)."""
        text = ref.strip()
        reference = parse_reference(text)
        self._ensure_writable()
        cache = self._cache()
        ident = self._identity()

        def attempt(st: ModelState | None, _parent: str) -> tuple[str, list[str], str, str]:
            if st is None or not st.versions:
                raise ModelNotFound(reference.name)
            if reference.version is not None:
                v = self._resolve(st, reference)
                if v.deregistered:
                    raise GitregError(f"{v.tag} is already deregistered")
                ev = TagEvent(Kind.DEREGISTER, st.name, version=v.version)
                target = v.commit
            elif reference.stage is not None:
                v = self._resolve(st, reference)
                ev = TagEvent(Kind.UNASSIGN, st.name, version=v.version, stage=reference.stage, counter=st.next_counter)
                target = v.commit
            elif text == reference.name:
                if st.deprecated:
                    raise GitregError(f"model '{st.name}' is already deprecated")
                ev = TagEvent(Kind.DEPRECATE, st.name)
                target = st.events[-1].commit
            else:
                raise InvalidReference(f"deprecate takes NAME, NAME@vX.Y.Z or NAME#STAGE, not {text!r}")
            tag = format_tag(ev)
            when = max(int(time.time()), st.last_time + 1)
            tag_obj = cache.make_tag(tag, target, tag_message(ev), ident, when)
            return tag, [f"{tag_obj}:refs/tags/{tag}"], target, ev.version or ""

        tag, _, _ = self._publish(cache, reference.name, attempt, explicit_tag=False)
        self._sync(cache)
        st = self._state(_View(cache, REMOTE_MAIN), reference.name)[reference.name]
        return next(_history_event(e) for e in st.events if e.tag == tag)

    # -- verify -----------------------------------------------------------------------------------
    def verify(
        self, ref: str, *, allow_unsigned: bool = False, allowed_signers: str | os.PathLike[str] | None = None
    ) -> Any:
        """Offline: the tag signature(s), the sidecar against the LFS pointers, the local artifact bytes.

        Returns a :class:`gitreg.registry.verify.VerifyReport` (``.ok`` false on any problem); never downloads.
        """
        from gitreg.registry import verify as verify_mod

        return verify_mod.verify(self, ref, allow_unsigned=allow_unsigned, allowed_signers=allowed_signers)

    # -- check ------------------------------------------------------------------------------------
    def check(self) -> CheckReport:
        """Every version: sidecar valid, pointers valid and matching, objects present and intact."""
        view = self._view()
        if view is None:
            return CheckReport(0, 0)
        states = self._state(view)
        problems: list[str] = []
        warnings: list[str] = []
        on_main = view.git.commits_on(view.main)
        wanted: dict[str, tuple[lfs.Pointer, str]] = {}
        nversions = 0
        for name, st in sorted(states.items()):
            problems += st.problems
            vs = sorted(st.versions.values(), key=lambda v: Version.parse(v.version))
            nversions += len(vs)
            with view.git.cat_file() as cf:
                for v in vs:
                    if v.commit not in on_main:
                        problems.append(f"{v.tag}: its commit {v.commit[:12]} is not on main")
                    base = f"refs/tags/{v.tag}:models/{name}/"
                    raw = cf.get(base + "model.toml")
                    if raw is None:
                        warnings.append(f"{v.tag}: no model.toml (registered outside gitreg); not checked")
                        continue
                    try:
                        sc = sidecar_mod.loads(raw.decode("utf-8", errors="replace"), f"{v.tag}:{base}model.toml")
                    except GitregError as e:
                        problems.append(e.message)
                        continue
                    if sc.name != name or Version.parse(sc.version) != Version.parse(v.version):
                        warnings.append(
                            f"{v.tag}: its commit holds {sc.name}@v{sc.version}'s sidecar "
                            "(registered outside gitreg); not checked"
                        )
                        continue
                    for art in sc.artifacts.values():
                        ptr = lfs.parse_pointer(cf.get(base + art.path))
                        if ptr is None:
                            problems.append(f"{v.tag}: {art.path} is missing or not an LFS pointer")
                        elif (ptr.oid, ptr.size) != (art.sha256, art.size):
                            problems.append(f"{v.tag}: {art.path} pointer does not match the sidecar's sha256/size")
                        else:
                            wanted.setdefault(ptr.oid, (ptr, f"{v.tag}:{art.path}"))
            for stage, ver in st.stages.items():
                if st.versions[ver].deregistered:
                    warnings.append(f"{name}#{stage}: held by deregistered v{ver}")
        problems += self._check_objects(view, wanted, warnings)
        from gitreg.registry.promotion import drift  # stage tags that skipped a require_pr stage's pull request

        raw = view.git.read_blob(f"{view.main}:gitreg.toml")
        cfg = config.RegistryConfig.parse(raw.decode("utf-8", errors="replace") if raw else None)
        more, notes = drift(view.git, view.main, states, cfg)
        problems += more
        warnings += notes
        if checkout.is_checkout(view.git.git_dir):  # what this checkout is about to commit
            problems += checkout.worktree_problems(view.git.git_dir, states)
        return CheckReport(nversions, len(wanted), tuple(problems), tuple(warnings))

    def _check_objects(self, view: _View, wanted: dict[str, tuple[lfs.Pointer, str]], warnings: list[str]) -> list[str]:
        problems = []
        if self.location.is_local:
            root = view.git.git_dir / "lfs"
            if checkout.is_checkout(view.git.git_dir):  # a clone holds only the objects it checked out
                wanted, elsewhere = checkout.split_fetched(root, wanted)
                problems += checkout.origin_missing(view.git, elsewhere, warnings)
            for oid, (ptr, where) in sorted(wanted.items()):
                path = lfs.object_path(root, oid)
                if not path.is_file():
                    problems.append(f"{where}: LFS object {oid[:12]}… is missing from the registry")
                    continue
                got, size = lfs.sha256_file(path)
                if (got, size) != (oid, ptr.size):
                    problems.append(f"{where}: LFS object {oid[:12]}… is corrupt (sha256 {got[:12]}…, {size} bytes)")
        elif self.url.startswith(("http://", "https://")):
            missing = lfs.remote_missing(self.url, [p for p, _ in wanted.values()])
            problems += [
                f"{wanted[o][1]}: LFS object {o[:12]}… is missing from the LFS server"
                for o in sorted(missing)
                if o in wanted
            ]
        else:
            warnings.append("LFS objects not checked: only file and HTTP(S) registries can be queried")
        return problems


def _blob_id(git: Git, commit: str, path: str) -> str | None:
    p = git.run("rev-parse", "--verify", "--quiet", f"{commit}:{path}", check=False)
    return p.stdout.strip() or None if p.returncode == 0 else None


def _own_sidecar(blob: bytes | None, v: VersionState, name: str) -> Sidecar | None:
    """The sidecar at a version's commit, if it is that version's own.

    A version registered by another tool (``gto register``) on a later commit sees the previous
    gitreg version's files; showing or pulling those under its name would be a lie.
    """
    if blob is None:
        return None
    sc = sidecar_mod.loads(blob.decode("utf-8", errors="replace"), f"{v.tag}:models/{name}/model.toml")
    if sc.name != name or Version.parse(sc.version) != Version.parse(v.version):
        return None
    return sc


def _framework(stored: Mapping[str, Any]) -> str:
    return "torch" if "torchscript" in stored else "onnx"


def _next_version(st: ModelState | None, bump: str | None, has_metrics: bool) -> Version:
    """``--bump``, or the default: 1.0.0 first, then minor when metrics are given, else patch."""
    versions = [Version.parse(v) for v in st.versions] if st else []
    if not versions:
        return Version(0, 0, 0).bump(bump) if bump else Version(1, 0, 0)
    return max(versions).bump(bump or ("minor" if has_metrics else "patch"))


def check_name_for_read(name: str) -> None:
    """Reads accept GTO's broader names; reject only what can never be a model name."""
    try:
        parsed = parse_reference(name)
    except InvalidReference:
        raise InvalidName(f"invalid model name {name!r}: use {NAME_RULE}") from None
    if not parsed.is_latest or parsed.name != name:
        raise InvalidReference(f"{name!r} is a reference; give the model name alone")
