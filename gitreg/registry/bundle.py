"""Air-gapped transfer: ``gitreg bundle`` writes versions to one file, ``gitreg unbundle`` imports them.

A bundle is an uncompressed tar (artifacts are dense already) holding, in this order:

* ``manifest.json`` — the format, where it came from, every version (model, version, tag, commit)
  and every file in the tar with its sha256 and size;
* ``registry.bundle`` — a ``git bundle`` of the versions' tags and the commits they name;
* ``objects/<sha256>`` — each LFS object once (artifacts, external data, files the model needs).

Nothing in it is trusted on the way in. ``unbundle`` streams the tar into a private temporary
folder, hashing every member against the manifest and every object against its name; reads each
version's sidecar from the bundle's commit and checks that the version's pointers and objects are
the ones its sidecar hashes; refuses a version the target registry already holds with other files
(a version is immutable; the same files again are skipped); then registers the rest as new commits
on the target's ``main`` with their own version tags — the same tree, sidecar and objects, tagged by
whoever imports them — in one atomic ``git push`` that the target's pre-receive hook judges like any
other. Versions import into any registry: its history need not be the source's.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from gitreg.core import sidecar as sidecar_mod
from gitreg.core.refs import Kind, TagEvent, Version, parse_reference, tag_message, version_tag
from gitreg.core.state import VersionState
from gitreg.errors import ArtifactError, IntegrityError, UsageError
from gitreg.registry.backend import Backend, same_version
from gitreg.registry.publish import Base, Unchanged, Write, publish
from gitreg.registry.push import checked_identity
from gitreg.store import lfs
from gitreg.store.git import Git, Identity

FORMAT = "gitreg-bundle/1"
MANIFEST, GIT_BUNDLE = "manifest.json", "registry.bundle"
_OBJECT = re.compile(r"objects/[0-9a-f]{64}\Z")
_CHUNK = 1 << 20
MAX_MANIFEST = 64 << 20


@dataclass(frozen=True)
class BundleReport:
    """What ``bundle`` wrote or ``unbundle`` imported."""

    path: str
    versions: tuple[str, ...]  # tags written / imported
    skipped: tuple[str, ...] = ()  # tags the target already held with the same files
    objects: int = 0
    bytes: int = 0  # LFS object bytes in the bundle


# -- bundle -------------------------------------------------------------------------------------
def selected(backend: Backend, refs: Sequence[str]) -> list[tuple[str, VersionState]]:
    """(model, version) for each reference: ``NAME`` is every live version, ``NAME@vX``/``NAME#stage`` one."""
    if not refs:
        raise UsageError("name at least one model or version to bundle (NAME, NAME@vX.Y.Z or NAME#STAGE)")
    view = backend.require_view()
    out: dict[str, tuple[str, VersionState]] = {}
    for text in refs:
        ref = parse_reference(text)
        st = backend.model(backend.states(view, ref.name), ref.name)
        if "@" in text or "#" in text:
            chosen = [backend.resolve(st, ref)]
        else:
            chosen = [v for v in st.versions.values() if not v.deregistered]
        for v in sorted(chosen, key=lambda v: Version.parse(v.version)):
            out.setdefault(v.tag, (ref.name, v))
    return list(out.values())


def write_bundle(registry: Any, backend: Backend, refs: Sequence[str], out: str | os.PathLike[str]) -> BundleReport:
    """Write the versions ``refs`` name to ``out``: each verified as ``pull`` verifies it."""
    if not os.fspath(out):
        raise UsageError("empty bundle file name: pass -o FILE")
    chosen = selected(backend, refs)
    view = backend.require_view()
    target = Path(out)
    with tempfile.TemporaryDirectory(prefix="gitreg-bundle-") as tmp:
        work = Path(tmp)
        versions: list[dict[str, str]] = []
        objects: dict[str, tuple[Path, int]] = {}
        for name, v in chosen:
            pulled = registry.pull(f"{name}@v{v.version}", work / "pulled" / v.tag)
            sc = sidecar_mod.loads(Path(pulled.files[-1]).read_bytes(), f"{v.tag}:models/{name}/model.toml")
            for art in sc.stored_files():
                objects.setdefault(art.sha256, (work / "pulled" / v.tag / art.path, art.size))
            versions.append({"model": name, "version": v.version, "tag": v.tag, "commit": v.commit})
        git_bundle = work / GIT_BUNDLE
        view.git.run("bundle", "create", "--quiet", str(git_bundle), *[f"refs/tags/{v['tag']}" for v in versions])
        members = [(GIT_BUNDLE, git_bundle)] + [(f"objects/{oid}", p) for oid, (p, _) in sorted(objects.items())]
        files = {}
        for arc, path in members:
            digest, size = lfs.sha256_file(path)
            files[arc] = {"sha256": digest, "size": size}
        created = int(time.time())
        manifest = {
            "format": FORMAT,
            "created": created,
            "source": _without_credentials(backend.url),
            "versions": versions,
            "files": files,
        }
        body = json.dumps(manifest, indent=1, sort_keys=True).encode()
        _write_tar(target, body, created, members)
    total = sum(size for _, size in objects.values())
    return BundleReport(str(target), tuple(v["tag"] for v in versions), (), len(objects), total)


def _write_tar(target: Path, manifest: bytes, mtime: int, members: list[tuple[str, Path]]) -> None:
    """The tar at ``target``, whole or not at all: a random name beside it, fsync, rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mtime, info.mode = len(manifest), mtime, 0o644
                tar.addfile(info, io.BytesIO(manifest))
                for arc, path in members:
                    tar.add(str(path), arcname=arc, recursive=False, filter=_plain)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _without_credentials(url: str) -> str:
    """``url`` without a ``user:token@`` part: a bundle travels, credentials must not."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", r"\1", url)


def _plain(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o644
    return info


# -- unbundle -----------------------------------------------------------------------------------
def read_bundle(file: Path, work: Path) -> dict[str, Any]:
    """Stream the tar at ``file`` into ``work``, every member hashed against the manifest; the manifest."""
    try:
        tar = tarfile.open(file, "r|")  # noqa: SIM115 - closed by the with below, once errors are mapped
    except (OSError, tarfile.TarError) as e:
        raise ArtifactError(f"{file} is not a gitreg bundle ({e})") from None
    manifest: dict[str, Any] | None = None
    seen: set[str] = set()
    with tar:
        try:
            for member in tar:
                name = member.name
                if not member.isfile() or name in seen:
                    raise IntegrityError(f"{file}: unexpected member {name!r} in the bundle")
                seen.add(name)
                src = tar.extractfile(member)
                assert src is not None
                if name == MANIFEST:
                    if manifest is not None or member.size > MAX_MANIFEST:
                        raise IntegrityError(f"{file}: a second or oversized manifest")
                    manifest = _manifest(src.read(), file)
                    continue
                if manifest is None:
                    raise IntegrityError(f"{file}: the manifest must come first")
                expected = manifest["files"].get(name)
                if expected is None or not (name == GIT_BUNDLE or _OBJECT.match(name)):
                    raise IntegrityError(f"{file}: {name!r} is not in the bundle's manifest")
                dest = work / ("git.bundle" if name == GIT_BUNDLE else name.replace("/", "-"))
                digest, size = _copy(src, dest)
                if (digest, size) != (expected["sha256"], expected["size"]) or (
                    name != GIT_BUNDLE and digest != name.removeprefix("objects/")
                ):
                    raise IntegrityError(
                        f"{file}: {name} does not match its hash (sha256 {digest[:12]}…, {size} bytes)",
                        hint="the bundle was damaged or altered: write it again from the source registry",
                    )
        except tarfile.TarError as e:
            raise IntegrityError(f"{file}: the bundle is truncated or damaged ({e})") from None
    if manifest is None:
        raise ArtifactError(f"{file} is not a gitreg bundle (no manifest)")
    missing = sorted(set(manifest["files"]) - seen)
    if missing:
        raise IntegrityError(f"{file}: the bundle lacks {len(missing)} file(s) its manifest lists, e.g. {missing[0]}")
    return manifest


def _manifest(raw: bytes, file: Path) -> dict[str, Any]:
    try:
        m = json.loads(raw)
        ok = isinstance(m, dict) and m.get("format") == FORMAT
        ok = ok and isinstance(m.get("versions"), list) and isinstance(m.get("files"), dict)
        ok = ok and all(
            isinstance(v, dict) and all(isinstance(v.get(k), str) for k in ("model", "version", "tag", "commit"))
            for v in m["versions"]
        )
        ok = ok and all(
            isinstance(f, dict) and isinstance(f.get("sha256"), str) and isinstance(f.get("size"), int)
            for f in m["files"].values()
        )
    except (ValueError, UnicodeDecodeError):
        ok = False
    if not ok:
        raise ArtifactError(f"{file} is not a gitreg bundle this gitreg reads (manifest format {FORMAT} expected)")
    return dict(m)


def _copy(src: IO[bytes], dest: Path) -> tuple[str, int]:
    h, size = hashlib.sha256(), 0
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := src.read(_CHUNK):
            h.update(chunk)
            out.write(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def import_bundle(backend: Backend, file: str | os.PathLike[str]) -> BundleReport:
    """Import every version of the bundle ``file`` into ``backend``'s registry (see the module docstring)."""
    path = Path(file)
    if not path.is_file():
        raise ArtifactError(f"no bundle file at {path}")
    backend.ensure_writable()
    ident = checked_identity(backend)
    cache = backend.cache()
    with tempfile.TemporaryDirectory(prefix="gitreg-unbundle-") as tmp:
        work = Path(tmp)
        manifest = read_bundle(path, work)
        ns = f"refs/gitreg-import/{os.urandom(6).hex()}"
        with backend.lock(cache.git_dir.with_suffix(".lock")):  # the cache's refs change only under it
            p = cache.run(
                "fetch",
                "--quiet",
                "--no-write-fetch-head",
                str(work / "git.bundle"),
                f"refs/tags/*:{ns}/*",
                check=False,
            )
        if p.returncode != 0:
            raise IntegrityError(f"{path}: its git bundle cannot be read ({p.stderr.strip().splitlines()[-1:]})")
        try:
            plan = _plan(cache, ns, manifest, work, path)
            return _publish(backend, cache, ident, plan, path, manifest)
        finally:
            refs = cache.out("for-each-ref", "--format=delete %(refname)", ns)
            if refs:
                with backend.lock(cache.git_dir.with_suffix(".lock")):
                    cache.run("update-ref", "--stdin", input=refs + "\n", check=False)


@dataclass(frozen=True)
class _Entry:
    name: str
    version: str
    tag: str
    commit: str  # the bundle's commit
    tree: str  # its models/<name> tree
    blobs: dict[str, str]  # path under models/<name> -> blob id
    objects: tuple[Path, ...]


def _plan(cache: Git, ns: str, manifest: dict[str, Any], work: Path, file: Path) -> list[_Entry]:
    out = []
    for v in manifest["versions"]:
        name, version, tag = v["model"], v["version"], v["tag"]
        ref = parse_reference(f"{name}@v{version}")
        if version_tag(ref.name, Version.parse(version)) != tag:
            raise IntegrityError(f"{file}: {tag!r} is not the tag of {name} v{version}")
        commit = cache.rev(f"{ns}/{tag}^{{commit}}")
        if commit is None or commit != v["commit"]:
            raise IntegrityError(f"{file}: {tag} is not in its git bundle at commit {v['commit'][:12]}")
        raw = cache.read_blob(f"{commit}:models/{name}/model.toml")
        sc = sidecar_mod.loads(raw or b"", f"{tag}:models/{name}/model.toml")
        if not same_version(str(sc.model.get("version", "")), version):
            raise IntegrityError(f"{file}: the sidecar of {tag} is for version {sc.model.get('version')!r}")
        listed = cache.out("ls-tree", "-r", f"{commit}:models/{name}")
        blobs = {}
        for line in listed.splitlines():
            meta, _, rel = line.partition("\t")
            mode, kind, oid = meta.split()
            if kind != "blob" or mode not in ("100644", "100755"):
                raise IntegrityError(f"{file}: {tag} holds {rel!r}, which is not a plain file")
            blobs[rel] = oid
        objects = []
        for art in sc.stored_files():
            ptr = lfs.parse_pointer(cache.read_blob(blobs[art.path]) if art.path in blobs else None)
            if ptr is None or (ptr.oid, ptr.size) != (art.sha256, art.size):
                raise IntegrityError(f"{file}: {tag}: {art.path} is not the LFS pointer its sidecar hashes")
            obj = work / f"objects-{art.sha256}"
            if not obj.is_file():
                raise IntegrityError(
                    f"{file}: {tag}: the object of {art.path} ({art.sha256[:12]}…) is not in the bundle"
                )
            objects.append(obj)
        tree = _tree(cache, f"{commit}:models/{name}")
        if not tree:
            raise IntegrityError(f"{file}: {tag} has no models/{name} folder")
        out.append(_Entry(name, str(Version.parse(version)), tag, commit, tree, blobs, tuple(objects)))
    return sorted(out, key=lambda e: (e.name, Version.parse(e.version)))


def _tree(git: Git, spec: str) -> str:
    """The object id ``COMMIT:PATH`` names; "" when there is none (no peeling: ``^{}`` after a path
    would be read as part of the path)."""
    p = git.run("rev-parse", "--verify", "--quiet", spec, check=False)
    return p.stdout.strip() if p.returncode == 0 else ""


def _publish(
    backend: Backend, cache: Git, ident: Identity, plan: list[_Entry], path: Path, manifest: dict[str, Any]
) -> BundleReport:
    fresh: list[_Entry] = []
    skipped: list[str] = []

    def split(base: Base) -> list[_Entry]:
        """The entries the target lacks; VersionExists for one it holds with other files."""
        todo, skipped[:] = [], []
        for e in plan:
            st = backend.published_state(base.cache, e.name)
            held = st.versions.get(e.version) if st is not None else None
            if held is None and st is not None:
                held = next(
                    (x for x in st.versions.values() if Version.parse(x.version) == Version.parse(e.version)), None
                )
            if held is None:
                todo.append(e)
            elif _tree(base.cache, f"{held.commit}:models/{e.name}") == e.tree:
                skipped.append(e.tag)
            else:
                raise IntegrityError(
                    f"{held.tag} already exists here with other files than the bundle's {e.tag}; "
                    "versions are immutable, nothing was imported",
                    hint="import into another registry, or register the bundle's model under another name",
                )
        return todo

    pointers_stored = False

    def attempt(base: Base) -> Write:
        nonlocal pointers_stored
        todo = split(base)
        fresh[:] = todo
        if not todo:
            raise Unchanged()
        if not pointers_stored:
            backend.store_objects(cache, sorted({o for e in todo for o in e.objects}))
            pointers_stored = True
        main, updates = base.main, []
        last: dict[str, int] = {}
        now = int(time.time())
        for e in todo:
            st = backend.published_state(base.cache, e.name)
            when = max(now, last.get(e.name, (st.last_time + 1) if st else 0))
            last[e.name] = when + 1
            files = {f"models/{e.name}/{rel}": blob for rel, blob in e.blobs.items()}
            main = cache.commit(
                main,
                files,
                f"Import {e.name} v{e.version} from a bundle",
                ident,
                when,
                replace_dirs=[f"models/{e.name}"],
            )
            tag_obj = cache.make_tag(e.tag, main, tag_message(TagEvent(Kind.REGISTER, e.name, e.version)), ident, when)
            updates.append(base.tag_update(e.tag, tag_obj))
        return Write((base.main_update(main), *updates), main)

    try:
        publish(backend, cache, "", attempt, what="import", direct=False)
    except Unchanged:
        pass
    total = sum(f["size"] for arc, f in manifest["files"].items() if arc.startswith("objects/"))
    n_objects = sum(1 for arc in manifest["files"] if arc.startswith("objects/"))
    return BundleReport(str(path), tuple(e.tag for e in fresh), tuple(skipped), n_objects, total)
