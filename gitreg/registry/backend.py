"""The registry's typed internal interface: where it is, how it is read, and what a write needs.

Two ways in to a registry. A registry on this machine is read in place (``git --git-dir``: no
copy, always current, no fetch). Writes — and every read of a remote registry — go through one
bare cache clone per registry under ``$XDG_CACHE_HOME/gitreg/``; it never has a working tree.
Every module of the registry layer (versions, stages, records, datasets, check, verify, loading)
and the promotion workflow above it works through a :class:`Backend`; none reaches into
``Registry``'s internals.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gitreg.core import sidecar as sidecar_mod
from gitreg.core import stages as stages_mod
from gitreg.core.annotations import ANNOTATION_FILES
from gitreg.core.refs import NAME_RULE, Reference, Version, parse_reference, tag_patterns
from gitreg.core.settings import GITATTRIBUTES, GITREG_TOML, STAGES_TOML, RegistryConfig
from gitreg.core.sidecar import Sidecar, check_text
from gitreg.core.state import ModelState, VersionState, fold
from gitreg.errors import (
    IntegrityError,
    InvalidName,
    InvalidReference,
    InvalidVersion,
    ModelNotFound,
    RegistryNotFound,
    RemoteError,
    StageNotFound,
    VersionNotFound,
)
from gitreg.store import checkout, files, lfs
from gitreg.store.git import MAIN, REMOTE_MAIN, ZERO, Git, Identity, identity, raise_remote_error
from gitreg.store.location import FETCHED_MARK, OFFLINE, Location, cache_dir, file_lock, is_offline, last_fetch

if TYPE_CHECKING:
    from gitreg.store.signing import Signer


@dataclass(frozen=True)
class View:
    """A repo to read from and the ref that is the registry's ``main`` in it."""

    git: Git
    main: str


class Backend:
    """One registry's location, cache clone, lock, state and identity."""

    def __init__(self, location: Location) -> None:
        self.location = location
        self._ident: Identity | None = None

    @property
    def url(self) -> str:
        return self.location.url

    # -- where ----------------------------------------------------------------------------------
    def local_git(self) -> Git:
        assert self.location.path is not None
        return Git(self.location.path)

    @staticmethod
    def is_registry(git: Git, main: str) -> bool:
        """A repository gitreg reads: one with ``gitreg.toml`` on main, or one GTO wrote (registry
        tags in its grammar, or GTO's artifact annotations on main), read as it is until
        ``gitreg init`` adopts it. Writes need ``gitreg.toml`` (:meth:`has_config`)."""
        return Backend.has_config(git, main) or Backend.is_gto_repo(git, main)

    @staticmethod
    def has_config(git: Git, main: str) -> bool:
        return git.read_blob(f"{main}:gitreg.toml") is not None

    @staticmethod
    def is_gto_repo(git: Git, main: str) -> bool:
        """Tags in GTO's grammar (``name@vX.Y.Z``, ``name#stage…``), or ``artifacts.yaml``/``dvc.yaml`` on main."""
        p = git.run("for-each-ref", "--count=1", "--format=%(refname)", "refs/tags/*@v*", "refs/tags/*#*", check=False)
        if p.returncode == 0 and p.stdout.strip():
            return True
        return any(git.read_blob(f"{main}:{f}") is not None for f in ANNOTATION_FILES)

    def check_local(self, must_exist: bool = False) -> Git | None:
        """The local registry repo, None if it is the default and does not exist yet."""
        path = self.location.path
        assert path is not None
        if not path.exists():
            if self.location.is_default and not must_exist:
                return None
            raise RegistryNotFound(f"no registry at {path}", hint=f"create one: gitreg init --registry {path}")
        git = Git(path)
        if not self.is_registry(git, MAIN):  # also false when path is no git repo at all
            raise RegistryNotFound(
                f"{path} is not a gitreg registry (no gitreg.toml on main, no GTO tags)",
                hint="point --registry at a registry, or create one with gitreg init",
            )
        return git

    @contextmanager
    def lock(self, path: Path) -> Iterator[None]:
        """Serialise git writes to one cache between processes of this machine."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def cache(self) -> Git:
        """The bare cache clone of this registry, created on first use; what every write goes through.

        Offline (``GITREG_OFFLINE``, ``--offline``), a remote registry is not written to: RemoteError.
        """
        if is_offline() and not self.location.is_local:
            raise RemoteError(
                f"offline: cannot write to {self.url} (writes need the registry itself)",
                hint=f"run it again without --offline and with {OFFLINE} unset",
            )
        return self.clone()

    def clone(self) -> Git:
        """The bare cache clone, created on first use (offline: it must exist already)."""
        path = cache_dir(self.url)
        git = Git(path)
        if is_offline() and not self.location.is_local:
            if not (path / "HEAD").exists():
                raise RegistryNotFound(
                    f"offline, and no cached copy of {self.url} is on this machine",
                    hint=f"run any read online first, e.g. gitreg list --registry {self.url}",
                )
            return git
        with self.lock(path.with_suffix(".lock")):
            if not (path / "HEAD").exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                # A random name (not the pid: a recycled pid would meet a killed clone's leftovers).
                tmp = _fresh_dir(path)
                try:
                    # Every git blob of a registry is small (artifacts are LFS pointers), so the clone
                    # takes them all except oversized strays: no lazy fetch per sidecar later. Tags come
                    # with the clone, packed (at 100,000 tags: 31 s, where fetching them after a
                    # tagless clone wrote 100,200 loose refs to pack: 55 s).
                    p = Git(tmp).run(
                        "clone",
                        "--bare",
                        "--quiet",
                        "--filter=blob:limit=1m",
                        self.url,
                        str(tmp),
                        check=False,
                    )
                    if p.returncode != 0:
                        raise_remote_error(["git", "clone"], p.returncode, p.stderr, self.url)
                    tg = Git(tmp)
                    tg.config("remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*")
                    tg.config("gc.auto", "0")
                    tg.config("core.hooksPath", os.devnull)  # gitreg pushes LFS objects itself
                    (tmp / FETCHED_MARK).touch()
                    os.replace(tmp, path)
                except BaseException:
                    shutil.rmtree(tmp, ignore_errors=True)  # a failed clone leaves nothing
                    raise
        return git

    def sync(self, git: Git) -> None:
        """Fetch the registry into its cache clone; offline, a remote one is read as last fetched."""
        if is_offline() and not self.location.is_local:
            return
        with self.lock(git.git_dir.with_suffix(".lock")):
            self._clear_stale_locks(git)
            self._fetch_changes(git)
            git.pack_loose_tags()  # the cache is read with for-each-ref too, and gc never runs in it
            (git.git_dir / FETCHED_MARK).touch()  # `gitreg cache info` and offline reads say "as of" it

    @staticmethod
    def _clear_stale_locks(git: Git) -> None:
        """Remove the ref lock files a killed git process left in the cache clone ("Unable to create
        '….lock': File exists … remove the file manually to continue"). Called under the cache's
        lock, which every gitreg process holds while it writes the cache's refs: any there is stale."""
        root = git.git_dir
        for name in ("packed-refs.lock", "shallow.lock", "HEAD.lock", "FETCH_HEAD.lock"):
            (root / name).unlink(missing_ok=True)
        refs = root / "refs"
        if refs.is_dir():
            for stale in refs.rglob("*.lock"):
                stale.unlink(missing_ok=True)

    @staticmethod
    def _fetch_changes(git: Git) -> None:
        """Bring the cache to the remote's refs. One ``ls-remote`` says what changed: nothing (the
        common read: no fetch at all, ~3x cheaper than a no-op fetch at 100,000 tags), a few refs
        (fetched by name, negotiating from main only: a fetch that compares every tag costs seconds
        there), or many (one wildcard fetch). Refs gone from the remote are removed, as --prune does."""
        remote = git.ls_remote("refs/heads/*", "refs/tags/*", "refs/gitreg/*")
        listed = git.out(
            "for-each-ref", "--format=%(refname) %(objectname)", "refs/remotes/origin", "refs/tags", "refs/gitreg"
        )
        local = dict(line.split(" ", 1) for line in listed.split("\n") if line)

        def here(ref: str) -> str:
            return "refs/remotes/origin/" + ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else ref

        mine = {here(r): oid for r, oid in remote.items()}
        changed = [r for r, oid in remote.items() if local.get(here(r)) != oid]
        gone = [r for r in local if r not in mine and r != "refs/remotes/origin/HEAD"]
        if len(changed) > 256 or not local:
            git.fetch("+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*", "+refs/gitreg/*:refs/gitreg/*")
            return
        if changed:
            tip = ["--negotiation-tip=refs/remotes/origin/main"] if "refs/remotes/origin/main" in local else []
            p = git.run(
                "fetch", "--quiet", "--no-write-fetch-head", *tip, "origin", *[f"+{r}:{here(r)}" for r in changed],
                check=False,
            )  # fmt: skip
            if p.returncode != 0:
                raise_remote_error(git.argv("fetch", "origin"), p.returncode, p.stderr, remote_url=git.remote_url())
        if gone:
            git.run("update-ref", "--stdin", input="".join(f"delete {r}\n" for r in gone))

    @contextmanager
    def objects_lock(self, shared: bool = True) -> Iterator[None]:
        """Readers of the cache clone's LFS objects hold this shared; ``gitreg cache prune`` holds it
        exclusive, so an object never vanishes between a reader's look and its copy."""
        with file_lock(cache_dir(self.url).with_suffix(".objects.lock"), shared=shared):
            yield

    def view(self, sync: bool = True) -> View | None:
        """Where reads come from: the local registry itself, or the synced cache of a remote one."""
        if self.location.is_local:
            git = self.check_local()
            if git is not None and checkout.is_checkout(git.git_dir):
                return View(git, checkout.main_ref(git))
            return View(git, MAIN) if git else None
        git = self.clone()  # reads never write: offline they read the clone as it is
        if sync:
            self.sync(git)
        if not self.is_registry(git, REMOTE_MAIN):
            raise RegistryNotFound(
                f"{self.url} is not a gitreg registry (no gitreg.toml on main)",
                hint=f"create one: gitreg init --registry {self.url}",
            )
        return View(git, REMOTE_MAIN)

    def require_view(self, sync: bool = True) -> View:
        """Like :meth:`view`, for reads that need a registry (the default one may not exist yet)."""
        view = self.view(sync)
        if view is None:
            path = self.location.path
            raise RegistryNotFound(f"no registry at {path}", hint=f"create one: gitreg init --registry {path}")
        return view

    # -- state ----------------------------------------------------------------------------------
    @staticmethod
    def states(
        view: View | None, name: str | None = None, details: bool = True, at: int | None = None
    ) -> dict[str, ModelState]:
        """Registry state from the tags; ``details=False`` skips tagger names and messages (faster);
        ``at`` (epoch seconds) folds only the tags made by then: the registry as it was."""
        if view is None:
            return {}
        patterns = tag_patterns(name) if name else ["refs/tags"]
        records = view.git.tags(patterns, details=details)
        return fold(records if at is None else [r for r in records if r.time <= at])

    @staticmethod
    def model(states: Mapping[str, ModelState], name: str) -> ModelState:
        check_name_for_read(name)
        if name not in states or not states[name].versions:
            raise ModelNotFound(name)
        return states[name]

    def model_state(self, name: str, view: View | None = None) -> ModelState:
        """``name``'s folded state, read from ``view`` (default: a fresh view)."""
        view = view if view is not None else self.view()
        return self.model(self.states(view, name), name)

    def published_state(self, cache: Git, name: str) -> ModelState | None:
        """``name`` as the cache clone saw the registry at its last sync (what a write builds on)."""
        return self.states(View(cache, REMOTE_MAIN), name).get(name)

    @staticmethod
    def resolve(st: ModelState, ref: Reference) -> VersionState:
        if ref.version is not None:
            # The exact tag first: @v1.0.0 is name@v1.0.0, never a name@v1.0.0+other of equal precedence.
            exact = st.versions.get(ref.version)
            if exact is not None:
                return exact
            want = Version.parse(ref.version)
            alike = [v for v in st.versions.values() if Version.parse(v.version) == want]
            if len(alike) == 1:  # @v1.0.0 for the only version 1.0.0+build.5
                return alike[0]
            if alike:
                tags = ", ".join(sorted(v.tag for v in alike))
                raise InvalidReference(
                    f"{st.name}@v{ref.version} is ambiguous: {tags} differ only in build metadata",
                    hint="name the exact tag; run gitreg check",
                )
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

    def config(self) -> RegistryConfig:
        """The registry's ``gitreg.toml`` (defaults when the embedded registry does not exist yet)."""
        view = self.view()
        if view is None:
            return RegistryConfig()
        raw = view.git.read_blob(f"{view.main}:gitreg.toml")
        return RegistryConfig.parse(raw.decode("utf-8", errors="replace") if raw else None)

    def stages_file(self, view: View) -> dict[str, dict[str, str]]:
        """``stages.toml`` on main."""
        return stages_mod.read_stages(view.git.read_blob(f"{view.main}:stages.toml"))

    # -- who writes -----------------------------------------------------------------------------
    def identity(self) -> Identity:
        """The identity gitreg tags and commits as; MetadataError when its name or email holds a
        control character (a tagger field every ``history`` prints), before anything is written."""
        if self._ident is None:
            ident = identity()
            fix = "set a plain one: git config --global user.name 'Your Name' (or GIT_COMMITTER_NAME / _EMAIL)"
            check_text("your git identity's name (user.name)", ident.name, hint=fix)
            check_text("your git identity's email (user.email)", ident.email, hint=fix)
            self._ident = ident
        return self._ident

    def signer(self, git: Git | None = None) -> Signer:
        """The user's git signing setup (``--sign``), checked now; raises SigningError if unusable."""
        from gitreg.store import signing

        return signing.signer(git if git is not None else self.cache(), self.identity())

    # -- creating ---------------------------------------------------------------------------------
    def init(self) -> bool:
        """Create the registry if needed; True if it was created, False if it already existed."""
        from gitreg.store import hook

        if self.location.is_local:
            path = self.location.path
            assert path is not None
            if checkout.is_checkout(path):
                checkout.refuse_writes(path)
            with self.lock(path.parent / f".{path.name}.init.lock"):
                if path.exists() and any(path.iterdir()):
                    git = self.check_local(must_exist=True)
                    assert git is not None
                    if not self.has_config(git, MAIN):  # a repository GTO wrote: adopt it
                        old = git.rev(MAIN)
                        commit = self._adoption_commit(git, self._gto_base(git, ("main", "master", "HEAD"), local=True))
                        git.run("update-ref", MAIN, commit, old or ZERO)
                        for key in ("uploadpack.allowFilter", "uploadpack.allowAnySHA1InWant"):
                            git.config(key, "true")
                        hook.install(path)
                        return True
                    hook.install(path)
                    return False
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = _fresh_dir(path.with_name(f".{path.name}"))
                try:
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
                except BaseException:
                    shutil.rmtree(tmp, ignore_errors=True)
                    raise
            return True
        cache = self.cache()
        self.sync(cache)
        if self.has_config(cache, REMOTE_MAIN):
            return False
        gto = self.is_gto_repo(cache, REMOTE_MAIN)
        if cache.rev(REMOTE_MAIN) and not gto:
            raise RegistryNotFound(f"{self.url} already has a main branch without gitreg.toml: not a registry")
        if gto:  # a repository GTO wrote: one commit adding gitreg.toml, every tag kept
            base = self._gto_base(cache, ("origin/main", "origin/master", "origin/HEAD"), local=False)
            commit = self._adoption_commit(cache, base)
        else:
            commit = self._initial_commit(cache)
        res = cache.push([f"{commit}:{MAIN}"])
        if not res.ok:
            raise RemoteError(f"could not initialise {self.url}: {'; '.join(res.rejected.values())}")
        self.sync(cache)
        return True

    @staticmethod
    def _gto_base(git: Git, branches: Sequence[str], local: bool) -> str | None:
        """The commit an adoption builds on: the first of ``branches`` that exists."""
        for b in branches:
            ref = b if b == "HEAD" else (f"refs/heads/{b}" if local else f"refs/remotes/{b}")
            commit = git.rev(ref)
            if commit:
                return commit
        return None

    def _adoption_commit(self, git: Git, parent: str | None) -> str:
        """The one commit that makes a GTO repository a gitreg registry: ``gitreg.toml`` naming the
        stages its tags use (in order of first use), ``stages.toml`` saying who holds them now, and
        gitreg's ``.gitattributes`` unless the repository has its own. Nothing else changes."""
        import re

        states = fold(git.tags(["refs/tags"]))
        used: list[str] = []
        for st in states.values():
            for e in sorted(st.events, key=lambda e: e.time):
                if e.stage and e.stage not in used:
                    used.append(e.stage)
        config = GITREG_TOML
        if used:
            order = ", ".join(f'"{s}"' for s in used)
            config = re.sub(r"(?m)^order = \[.*\]$", f"order = [{order}]", config)
            if "production" not in used:  # its require_pr line applies to a stage this registry lacks
                config = re.sub(r"(?ms)^\[stages\.production\]\n.*?\n\n", "", config)
        holders = {name: {s: f"v{v}" for s, v in st.stages.items()} for name, st in states.items()}
        files = {
            "gitreg.toml": git.hash_blob(config),
            "stages.toml": git.hash_blob(stages_mod.dump_stages(holders)),
        }
        if parent is None or git.read_blob(f"{parent}:.gitattributes") is None:
            files[".gitattributes"] = git.hash_blob(GITATTRIBUTES)
        msg = "Adopt this GTO repository as a gitreg registry (gitreg.toml, stages.toml; no tag changed)"
        return git.commit(parent, files, msg, self.identity(), int(time.time()))

    def _initial_commit(self, git: Git) -> str:
        files = {
            "gitreg.toml": git.hash_blob(GITREG_TOML),
            "stages.toml": git.hash_blob(STAGES_TOML),
            ".gitattributes": git.hash_blob(GITATTRIBUTES),
        }
        return git.commit(None, files, "Initialise gitreg registry", self.identity(), int(time.time()))

    def ensure_writable(self) -> None:
        """First use of a write command creates the embedded default registry."""
        path = self.location.path
        if path is None:
            return
        if self.location.is_default and not path.exists():
            self.init()
            return
        self.check_local()
        if checkout.is_checkout(path):
            checkout.refuse_writes(path)

    # -- artifacts --------------------------------------------------------------------------------
    def store_objects(self, cache: Git, paths: Sequence[Path]) -> list[lfs.Pointer]:
        """Each file's LFS object, in the registry before any ref names it; each file read once.

        A registry on this machine gets the objects straight into its own ``lfs/objects`` (where
        ``git lfs push`` to a file remote puts them, but without git-lfs reading them again); any
        other registry gets them through the cache's store and ``git lfs push --object-id``.
        """
        self.sweep(cache)
        if self.location.path is not None:
            root = self.location.path / "lfs"
            if os.access(root if root.exists() else self.location.path, os.W_OK):
                return [lfs.store(p, root) for p in paths]
        root = cache.git_dir / "lfs"
        with self.objects_lock():  # a `cache prune` must not take an object before it is uploaded
            pointers = [lfs.store(p, root) for p in paths]
            lfs.push_objects(cache, [p.oid for p in pointers])
        return pointers

    def fetch_object(self, view: View, ptr: lfs.Pointer, path: str, target: Path, label: str | None = None) -> None:
        """Put the object ``ptr`` names at ``target``, verified; ``path`` is its path in the tree,
        ``label`` names it in messages (default ``path``; ``name@vX.Y.Z:model.onnx`` says which version).

        Bytes that do not hash to the oid are an IntegrityError (exit 3), a full filesystem a
        DiskFull; either way nothing is left at ``target`` nor beside it.
        """
        what = label or path
        if self.location.is_local:
            src = lfs.object_path(view.git.git_dir / "lfs", ptr.oid)
            if not src.is_file():
                raise IntegrityError(
                    f"artifact object {ptr.oid[:12]}… of {what} is missing from the registry",
                    hint="run: gitreg check",
                )
            lfs.materialize(src, target, ptr, label=label)
            return
        cached = lfs.object_path(view.git.git_dir / "lfs", ptr.oid)
        with self.objects_lock():  # `gitreg cache prune` waits until this copy is done
            if cached.is_file():
                try:
                    lfs.materialize(cached, target, ptr, label=label)
                    os.utime(cached)  # its last use: what `cache prune --older-than` goes by
                    return
                except FileNotFoundError:  # removed by hand between the look and the open
                    pass
                except IntegrityError:  # a damaged copy in the cache clone: drop it and fetch it again
                    cached.unlink(missing_ok=True)
            if is_offline():
                version = what.split(":", 1)[0] if ":" in what else None
                raise RemoteError(
                    f"offline: {what} ({ptr.oid[:12]}…, {ptr.size} bytes) is not in the cache of {self.url}",
                    hint=(
                        f"fetch it once online: gitreg pull {version} --registry {self.url}"
                        if version
                        else f"fetch it once online: run this command again without --offline ({OFFLINE} unset)"
                    ),
                )
            lfs.materialize(lambda out: lfs.smudge(view.git, ptr, path, out, label=what), target, ptr, label=label)

    def sweep(self, cache: Git | None = None) -> files.Leftovers:
        """Remove what interrupted writes left (stale temporary files, :func:`gitreg.store.files.sweep`)
        in the cache clone and in a registry on this machine that this user may write to."""
        dirs = [cache.git_dir] if cache is not None else []
        path = self.location.path
        if path is not None and path.is_dir() and os.access(path, os.W_OK) and not checkout.is_checkout(path):
            dirs.append(path)
        return files.sweep(dirs)

    def lfs_stores(self, view: View) -> list[Path]:
        """LFS stores that may hold artifact bytes: the registry's (local) or the cache clone's."""
        roots = [view.git.git_dir / "lfs"]
        cache = cache_dir(self.url) / "lfs"
        if cache not in roots:
            roots.append(cache)
        return roots

    def has_cache(self) -> bool:
        return (cache_dir(self.url) / "HEAD").exists()

    def last_fetch(self) -> float | None:
        """When the cache clone last fetched the registry (epoch seconds); None without a clone."""
        return last_fetch(cache_dir(self.url)) if self.has_cache() else None


def _fresh_dir(near: Path) -> Path:
    """A new empty folder ``<near>.<random>.tmp`` (the umask's mode, unlike mkdtemp's 0700: a
    registry may be shared by a group)."""
    while True:
        tmp = near.with_name(f"{near.name}.{os.urandom(6).hex()}.tmp")
        try:
            tmp.mkdir()
            return tmp
        except FileExistsError:
            continue


def own_sidecar(blob: bytes | None, v: VersionState, name: str) -> Sidecar | None:
    """The sidecar at a version's commit, if it is that version's own.

    A version registered by another tool (``gto register``) on a later commit sees the previous
    gitreg version's files; showing or pulling those under its name would be a lie.
    """
    if blob is None:
        return None
    sc = sidecar_mod.loads(blob.decode("utf-8", errors="replace"), f"{v.tag}:models/{name}/model.toml")
    if sc.name != name or not same_version(sc.version, v.version):
        return None
    return sc


def same_version(sidecar_version: str, tag_version: str) -> bool:
    """Whether a sidecar's version is exactly its tag's (``v`` aside; build metadata counts)."""
    try:
        return str(Version.parse(sidecar_version)) == tag_version
    except InvalidVersion:
        return False


def check_name_for_read(name: str) -> None:
    """Reads accept GTO's broader names; reject only what can never be a model name."""
    try:
        parsed = parse_reference(name)
    except InvalidReference:
        raise InvalidName(f"invalid model name {name!r}: use {NAME_RULE}") from None
    if not parsed.is_latest or parsed.name != name:
        raise InvalidReference(f"{name!r} is a reference; give the model name alone")
