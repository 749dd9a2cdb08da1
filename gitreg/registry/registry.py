"""``Registry``: the public verbs — init, push, list, show, history, pull, deprecate, verify, check.

Each verb is a few lines over the typed :class:`~gitreg.registry.backend.Backend` (location,
cache, sync, lock, state, resolution) and the one write primitive
(:func:`~gitreg.registry.publish.publish`); versions are written by :mod:`.push`, stage events by
:mod:`.promotion`, evaluation records by :mod:`.records`, the integrity walk is :mod:`.check`.
"""

from __future__ import annotations

import builtins
import dataclasses
import os
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitreg.core import sidecar as sidecar_mod
from gitreg.core.refs import Kind, TagEvent, Version, format_tag, parse_reference, tag_message
from gitreg.core.settings import RegistryConfig
from gitreg.core.sidecar import Artifact
from gitreg.core.stages import dump_stages, holders_after, read_stages, restage
from gitreg.core.state import ModelState, TagRecord, VersionState
from gitreg.core.when import looks_like_commit, parse_when
from gitreg.errors import (
    ArtifactError,
    GitregError,
    IntegrityError,
    InvalidReference,
    MetadataError,
    ModelNotFound,
    UsageError,
)
from gitreg.registry import check as check_mod
from gitreg.registry import listing, records
from gitreg.registry import push as push_mod
from gitreg.registry.backend import Backend, View, check_name_for_read, own_sidecar
from gitreg.registry.publish import Base, Unchanged, Write, publish
from gitreg.registry.values import (
    CheckReport,
    HistoryEvent,
    ModelSummary,
    ModelVersion,
    PullResult,
    history_event,
    iso,
)
from gitreg.store import lfs
from gitreg.store.files import atomic_write
from gitreg.store.git import CatFile, Git
from gitreg.store.location import RegistryInfo, cache_dir, cache_home, resolve

if TYPE_CHECKING:
    from gitreg.registry.bundle import BundleReport
    from gitreg.registry.verify import VerifyReport

When = str | int | float | datetime | None  # a point in time for --at/--since/--until (see core.when)

__all__ = ["CheckReport", "HistoryEvent", "ModelSummary", "ModelVersion", "PullResult", "Registry"]


class Registry:
    """A gitreg registry at ``url`` (path or git URL); ``None`` resolves ``--registry`` >
    ``$GITREG_REGISTRY`` > ``[tool.gitreg] registry`` in the nearest pyproject.toml > the embedded default."""

    def __init__(self, url: str | os.PathLike[str] | None = None) -> None:
        self.location = resolve(os.fspath(url) if url is not None else None)
        self.backend = Backend(self.location)

    def __repr__(self) -> str:
        return f"Registry({self.location.url!r})"

    @property
    def url(self) -> str:
        return self.location.url

    def config(self) -> RegistryConfig:
        """The registry's ``gitreg.toml`` (defaults when the embedded registry does not exist yet)."""
        return self.backend.config()

    def info(self) -> RegistryInfo:
        """Which registry this is and why it was chosen, and what of it is on this machine; never
        contacts a remote registry (its ``exists`` is then None)."""
        loc = self.location
        exists = is_registry = None
        if loc.path is not None:
            exists = loc.path.exists()
            try:
                is_registry = exists and self.backend.view(sync=False) is not None
            except GitregError:
                is_registry = False
        cache = cache_dir(loc.url)
        return RegistryInfo(
            loc.url,
            str(loc.path) if loc.path is not None else None,
            loc.source,
            loc.chosen_by,
            exists,
            is_registry,
            str(cache),
            (cache / "HEAD").exists(),
            str(cache_home() / "gitreg" / "artifacts"),
        )

    def init(self) -> bool:
        """Create the registry if needed; True if it was created, False if it already existed."""
        return self.backend.init()

    def read_file(self, path: str) -> bytes | None:
        """A registry file on ``main`` (``gitreg.toml``, ``stages.toml``, …); None when absent."""
        view = self.backend.view()
        return view.git.read_blob(f"{view.main}:{path}") if view is not None else None

    def commit_files(self, files: Mapping[str, bytes | str | None], message: str) -> str | None:
        """Commit registry-level files (``gitreg.toml``, workflows; None deletes) onto main.

        Not for models: versions are written by ``push_files``. Returns the new commit, or None when
        every file already has that content (idempotent). Races are retried like any push.
        """
        self.backend.ensure_writable()
        cache = self.backend.cache()
        for path in files:
            if path.startswith(("models/", "datasets/")) or path.startswith("/") or ".." in path.split("/"):
                raise UsageError(f"{path}: commit_files writes registry files, not models or datasets")
        ident = self.backend.identity()

        def attempt(base: Base) -> Write:
            blobs = {p: None if d is None else cache.hash_blob(d) for p, d in files.items()}
            current = {p: cache.blob_id(base.main, p) for p in files}
            if current == blobs:
                raise Unchanged
            commit = cache.commit(base.main, blobs, message, ident, int(time.time()))
            return Write((base.main_update(commit),), commit)

        try:
            return publish(self.backend, cache, "", attempt).commit
        except Unchanged:
            return None

    # -- reading ----------------------------------------------------------------------------------
    def versions(self, name: str, at: When = None) -> builtins.list[ModelVersion]:
        """All versions of ``name`` (semver ascending) with their sidecars: one cat-file process.
        ``at``: those registered by then, with the stages they held then (see :meth:`show`)."""
        view = self.backend.view()
        cut = self._when(view, at)
        st = self.backend.model(self.backend.states(view, name, at=cut), name)
        found = sorted(st.versions.values(), key=lambda v: Version.parse(v.version))
        return self._with_sidecars(view, st, found, overlay=cut is None)

    def show(self, ref: str, at: When = None) -> ModelVersion:
        """The version ``ref`` names, with its sidecar; ``at`` (a date/time, epoch seconds or a
        registry commit): the version ``ref`` named then (``digits#production`` on 3 November)."""
        reference = parse_reference(ref)
        view = self.backend.view()
        cut = self._when(view, at)
        st = self.backend.model(self.backend.states(view, reference.name, at=cut), reference.name)
        return self._with_sidecars(view, st, [self.backend.resolve(st, reference)], overlay=cut is None)[0]

    def history(
        self, name: str, since: When = None, until: When = None, stage: str | None = None
    ) -> builtins.list[HistoryEvent]:
        """Registrations, stage events, deregistrations, deprecations and recorded evaluations of
        ``name``, oldest first; ``since``/``until`` bound their times (inclusive), ``stage`` keeps
        that stage's events."""
        check_name_for_read(name)
        view = self.backend.view()
        st = self.backend.model(self.backend.states(view, name), name)
        assert view is not None
        lo, hi = self._when(view, since, "--since"), self._when(view, until, "--until")
        return [
            ev
            for ts, ev in self._timed_history(view, st)
            if (lo is None or ts >= lo) and (hi is None or ts <= hi) and (stage is None or ev.stage == stage)
        ]

    def _when(self, view: View | None, at: When, option: str = "--at") -> int | None:
        """Epoch seconds for ``at``: a number, a datetime, a date/time string, or a registry commit."""
        if at is None:
            return None
        if isinstance(at, datetime):
            return int(at.timestamp())
        if isinstance(at, (int, float)):
            return int(at)
        if looks_like_commit(at.strip()) and view is not None:
            p = view.git.run("log", "-1", "--format=%ct", at.strip() + "^{commit}", "--", check=False)
            if p.returncode != 0 or not p.stdout.strip():
                raise UsageError(f"{option} {at!r}: no such commit in the registry", hint="see: git log main")
            return int(p.stdout.strip())
        return parse_when(at, option)

    def read_models(
        self, names: Sequence[str] | None = None
    ) -> dict[str, tuple[builtins.list[ModelVersion], builtins.list[HistoryEvent]]]:
        """Each model's versions (with sidecars, as :meth:`versions`) and history (as :meth:`history`),
        read in bulk: one ``for-each-ref`` of every tag and one ``cat-file`` for every sidecar, where
        a model at a time costs about five git processes (``gitreg site`` of 100 models reads this way).
        A name with no version gets empty lists."""
        view = self.backend.view()
        states = self.backend.states(view) if view is not None else {}
        chosen = sorted(states) if names is None else list(names)
        out: dict[str, tuple[builtins.list[ModelVersion], builtins.list[HistoryEvent]]] = {}
        if view is None:
            return {n: ([], []) for n in chosen}
        with view.git.cat_file() as cf:
            for n in chosen:
                st = states.get(n)
                if st is None or not st.versions:
                    out[n] = ([], [])
                    continue
                found = sorted(st.versions.values(), key=lambda v: Version.parse(v.version))
                events = [ev for _, ev in self._timed_history(view, st)]
                out[n] = (self._with_sidecars(view, st, found, cf=cf), events)
        return out

    @staticmethod
    def _timed_history(view: View, st: ModelState) -> builtins.list[tuple[int, HistoryEvent]]:
        """(time, event) of every tag event and recorded evaluation of ``st``'s model, oldest first."""
        name = st.name
        evaluated = [
            (ts, HistoryEvent(iso(ts), "evaluation", name, ver, None, git_ref, commit, an, ae, subject))
            for ts, ver, git_ref, commit, an, ae, subject in records.history(view.git, name, view.main)
        ]
        tagged = [(e.time, history_event(e)) for e in st.events]
        return sorted(tagged + evaluated, key=lambda p: p[0])  # stable: tag order kept

    def _with_sidecars(
        self,
        view: View | None,
        st: ModelState,
        vs: Sequence[VersionState],
        overlay: bool = True,
        cf: CatFile | None = None,
    ) -> builtins.list[ModelVersion]:
        """``vs`` with their sidecars; ``overlay``: with each version's newest recorded evaluation;
        ``cf``: a cat-file process to use (else one for this call)."""
        assert view is not None
        specs = [f"refs/tags/{v.tag}:models/{st.name}/model.toml" for v in vs]
        extra = records.overlay_specs(st.name, [v.version for v in vs]) if overlay else []
        if cf is None:
            with view.git.cat_file() as own:
                blobs = own.get_many(specs + extra, max_size=sidecar_mod.MAX_BYTES)
        else:
            blobs = cf.get_many(specs + extra, max_size=sidecar_mod.MAX_BYTES)
        blobs += [None] * (len(vs) - len(extra))
        out = []
        for v, blob, rec in zip(vs, blobs, blobs[len(vs) :]):
            sc = own_sidecar(blob, v, st.name)
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
    def pull(
        self, ref: str, dest: str | os.PathLike[str] | None = None, format: str = "all", at: When = None
    ) -> PullResult:
        """Fetch exactly the files of one version into ``dest``, each verified against its sha256.

        ``format`` selects ``onnx`` (with its external data files), ``torchscript``, ``files`` (the
        files the model needs) or ``all``; relative names are kept (``dest/model.onnx.data``).
        ``at``: the version ``ref`` named then (see :meth:`show`).
        """
        if format not in ("all", "onnx", "torchscript", "files"):
            raise UsageError(f"invalid format {format!r}: use onnx, torchscript, files or all")
        if dest is not None and not os.fspath(dest):  # Path("") is the current folder: never meant
            raise UsageError("empty output folder: pass -o DIR, or leave -o out to pull into ./<name>")
        reference = parse_reference(ref)
        view = self.backend.view()
        st = self.backend.model(self.backend.states(view, reference.name, at=self._when(view, at)), reference.name)
        v = self.backend.resolve(st, reference)
        assert view is not None
        base = f"refs/tags/{v.tag}:models/{st.name}/"
        with view.git.cat_file() as cf:
            raw = cf.get(base + "model.toml", max_size=sidecar_mod.MAX_BYTES)
            sc = own_sidecar(raw, v, st.name)
            if raw is None and format in ("all", "files"):  # registered with GTO: its annotated files
                from gitreg.registry.annotated import pull_annotated

                out = Path(dest) if dest is not None else Path.cwd() / st.name
                return pull_annotated(self.backend, view, st.name, v, out)
            if raw is None or sc is None:
                raise ArtifactError(f"{v.tag} has no sidecar of its own: it was registered outside gitreg")
            if format not in ("all", "files") and format not in sc.artifacts:
                raise ArtifactError(f"{v.tag} has no {format} artifact (it has: {', '.join(sc.artifacts) or 'none'})")
            arts = sc.stored_files(None if format == "all" else ("file",) if format == "files" else (format,))
            pointers = [(a, self._pointer(cf, base, a, v.tag)) for a in arts]
        out_dir = Path(dest) if dest is not None else Path.cwd() / st.name
        sidecar_path = out_dir / "model.toml"
        targets = [out_dir / art.path for art, _ in pointers]
        created = [t for t in (*targets, sidecar_path) if not t.exists()]
        total = 0
        try:
            for (art, ptr), target in zip(pointers, targets):
                label = f"{v.tag}:{art.path}"
                self.backend.fetch_object(view, ptr, f"models/{st.name}/{art.path}", target, label=label)
                total += ptr.size
            atomic_write(sidecar_path, raw)  # last: a folder with the sidecar holds the whole version
        except BaseException:
            for path in created:  # a pull that fails leaves none of the files it created
                path.unlink(missing_ok=True)
            raise
        written = [str(t) for t in targets]
        return PullResult(st.name, f"v{v.version}", (*written, str(sidecar_path)), total)

    def _pointer(self, cf: CatFile, base: str, art: Artifact, tag: str) -> lfs.Pointer:
        ptr = lfs.parse_pointer(cf.get(base + art.path))
        if ptr is None:
            raise IntegrityError(f"{tag}: {art.path} is not a valid LFS pointer", hint="run: gitreg check")
        if (ptr.oid, ptr.size) != (art.sha256, art.size):
            raise IntegrityError(
                f"{tag}: {art.path} pointer ({ptr.oid[:12]}…) does not match the sidecar's sha256 ({art.sha256[:12]}…)",
                hint="run: gitreg check",
            )
        return ptr

    # -- push -----------------------------------------------------------------------------------
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
        files: Sequence[str | os.PathLike[str]] = (),
    ) -> ModelVersion:
        """Register already-exported artifact files as a new version of ``name``.

        An ONNX file's external data files (named by its tensors' ``location``) are stored beside
        it; ``files`` are other files the model needs (tokenizer, label map), stored in
        ``models/<name>/`` under their base names (a folder: its name and relative paths).

        ``framework`` and ``artifact_info`` (extra keys per artifact kind, e.g. which exporter ran)
        come from :mod:`gitreg.ml.export` when gitreg exported the files itself. ``sign`` signs the
        version tag with the user's git signing setup (:mod:`gitreg.store.signing`).
        """
        parent_ref = None
        if parent:
            try:
                parent_ref = self.show(parent).ref
            except GitregError as e:
                raise MetadataError(f"--parent {parent}: {e.message}", hint=e.hint) from None
        return push_mod.push_files(
            self.backend,
            paths,
            name,
            parent_ref=parent_ref,
            version=version,
            bump=bump,
            metrics=metrics,
            params=params,
            labels=labels,
            description=description,
            data=data,
            signature=signature,
            extra_sections=extra_sections,
            command=command,
            framework=framework,
            artifact_info=artifact_info,
            sign=sign,
            files=files,
        )

    # -- deprecate --------------------------------------------------------------------------------
    def deprecate(self, ref: str) -> HistoryEvent:
        """GTO's three deprecations: ``name`` (model), ``name@vX`` (deregister), ``name#stage`` (unassign)."""
        text = ref.strip()
        reference = parse_reference(text)
        self.backend.ensure_writable()
        cache = self.backend.cache()
        ident = self.backend.identity()

        def attempt(base: Base) -> Write:
            st = base.state
            if st is None or not st.versions:
                raise ModelNotFound(reference.name)
            if reference.version is not None:
                v = self.backend.resolve(st, reference)
                if v.deregistered:
                    raise GitregError(f"{v.tag} is already deregistered")
                ev = TagEvent(Kind.DEREGISTER, st.name, version=v.version)
                target = v.commit
            elif reference.stage is not None:
                v = self.backend.resolve(st, reference)
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
            msg = tag_message(ev)
            tag_obj = cache.make_tag(tag, target, msg, ident, when)
            update = base.tag_update(tag, tag_obj)
            # A deregistered holder or an unassigned stage hands the stage on (GTO's fold): stages.toml
            # says the same in the same write, so `apply` never resurrects what was taken away.
            affected = [reference.stage] if reference.stage else st.stages_of(ev.version) if ev.version else []
            if not affected:
                return Write((update,), target, tag, ev.version or "")
            record = TagRecord(tag, target, True, when, "+0000", ident.name, ident.email, msg)
            holders = holders_after(st, [record])
            stages = restage(read_stages(cache.read_blob(f"{base.main}:stages.toml")), st.name, holders, affected)
            blob = cache.hash_blob(dump_stages(stages))
            what = f"{st.name}#{reference.stage}" if reference.stage else f"{st.name}@v{ev.version}"
            message = f"Deprecate {what}: stages.toml follows the stage tags"
            commit = cache.commit(base.main, {"stages.toml": blob}, message, ident, when)
            return Write((base.main_update(commit), update), commit, tag, ev.version or "")

        tag = publish(self.backend, cache, reference.name, attempt).tag
        return self.published_event(cache, reference.name, tag)

    def published_event(self, cache: Git, name: str, tag: str) -> HistoryEvent:
        """The event a write just published, as the registry now reads it."""
        self.backend.sync(cache)
        st = self.backend.published_state(cache, name)
        assert st is not None
        return next(history_event(e) for e in st.events if e.tag == tag)

    # -- verify -----------------------------------------------------------------------------------
    def verify(
        self, ref: str, *, allow_unsigned: bool = False, allowed_signers: str | os.PathLike[str] | None = None
    ) -> VerifyReport:
        """Offline: the tag signature(s), the sidecar against the LFS pointers, the local artifact bytes.

        Returns a :class:`gitreg.registry.verify.VerifyReport` (``.ok`` false on any problem); never downloads.
        """
        from gitreg.registry import verify as verify_mod

        return verify_mod.verify(self.backend, ref, allow_unsigned=allow_unsigned, allowed_signers=allowed_signers)

    # -- datasets -------------------------------------------------------------------------------
    def push_dataset(self, file: str | os.PathLike[str], name: str, force: bool = False) -> dict[str, Any]:
        """Store ``file`` (``.npz`` with X, y) as ``datasets/<name>.npz`` on main; returns its fingerprint.

        A name that already holds other data is refused (:class:`~gitreg.errors.DatasetExists`)
        unless ``force``: gates judge candidates on it.
        """
        from gitreg.registry import datasets

        return datasets.push(self.backend, Path(file), name, force=force)

    def datasets(self) -> builtins.list[dict[str, Any]]:
        """Every dataset on main: name, path, sha256, size, rows, arrays, source."""
        from gitreg.registry import datasets

        return datasets.list_datasets(self.backend)

    def dataset(self, name: str) -> dict[str, Any]:
        """One dataset's fingerprint (see :meth:`datasets`)."""
        from gitreg.registry import datasets

        return datasets.show(self.backend, name)

    # -- bundles ----------------------------------------------------------------------------------
    def bundle(self, refs: Sequence[str], out: str | os.PathLike[str]) -> BundleReport:
        """Write the versions ``refs`` name (``NAME``: every live version) with their objects to one file."""
        from gitreg.registry import bundle

        return bundle.write_bundle(self, self.backend, refs, out)

    def unbundle(self, file: str | os.PathLike[str]) -> BundleReport:
        """Import every version of a bundle file, each checked, in one atomic write."""
        from gitreg.registry import bundle

        return bundle.import_bundle(self.backend, file)

    # -- check ----------------------------------------------------------------------------------
    def check(self, deep: bool = False) -> CheckReport:
        """Every version: sidecar valid, pointers valid and matching, objects present and intact
        (an HTTP registry's: present; ``deep`` downloads and hashes each one, keeping nothing)."""
        return check_mod.check(self.backend, deep=deep)

    def list(self, at: When = None) -> builtins.list[ModelSummary]:  # last: it shadows the builtin here
        """Every model with its latest version and stage holders; tags only, no blob reads. ``at``: as
        they were then (see :meth:`show`). Answered from a summary keyed by the exact tag listing it
        was folded from (:mod:`gitreg.registry.listing`): 100,000 versions list in a quarter second."""
        view = self.backend.view()
        return listing.summaries(view, self._when(view, at))
