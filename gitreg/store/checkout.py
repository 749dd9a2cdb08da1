"""Registry checkouts: clones with a working tree, as kept by projects that run pre-commit.

gitreg never needs one (it writes with plumbing through a bare cache), but people keep them to
edit ``stages.toml`` and ``gitreg.toml`` by hand or in promotion pull requests. This module owns
what differs there. ``--registry`` naming a work tree reads its ``.git`` (location.location_from),
and such a registry is read-only: writes go to the registry it was cloned from. ``gitreg check``
on a checkout takes ``origin/main`` as main (a local ``main`` is often behind the fetched tags),
looks on ``origin`` for the LFS objects the clone never fetched (a clone smudges only what it
checks out), and checks the work tree's ``stages.toml`` against the registered versions — what
``gitreg apply`` would trip on after the merge. ``validate-sidecar`` checks work-tree
``model.toml`` files against their sibling artifacts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from gitreg.core import sidecar as sidecar_mod
from gitreg.core.refs import Version, check_name
from gitreg.core.settings import RegistryConfig
from gitreg.core.stages import read_stages
from gitreg.core.state import ModelState
from gitreg.errors import GitregError, RegistryNotFound, UsageError
from gitreg.store import lfs, lfsremote
from gitreg.store.credentials import strip_credentials
from gitreg.store.git import MAIN, Git
from gitreg.store.git import REMOTE_MAIN as ORIGIN_MAIN
from gitreg.store.location import location_from


def is_checkout(git_dir: Path | None) -> bool:
    """A clone's ``.git`` (what ``location_from`` turns a work tree into), not a bare registry."""
    return git_dir is not None and git_dir.name == ".git"


def main_ref(git: Git) -> str:
    """The registry's ``main`` as this checkout knows it: the fetched ``origin/main`` when there is one."""
    return ORIGIN_MAIN if git.rev(ORIGIN_MAIN) else MAIN


def refuse_writes(git_dir: Path) -> None:
    """Writes go to the registry itself; a push into a checkout would hit its checked-out branch."""
    origin = Git(git_dir).get_config("remote.origin.url")
    raise RegistryNotFound(
        f"{git_dir.parent} is a checkout of a registry; gitreg reads it but writes only to a registry",
        hint=f"use --registry {strip_credentials(origin)}" if origin else "point --registry at the registry itself",
    )


def split_fetched(
    lfs_root: Path, wanted: Mapping[str, tuple[lfs.Pointer, str]]
) -> tuple[dict[str, tuple[lfs.Pointer, str]], dict[str, tuple[lfs.Pointer, str]]]:
    """(objects this checkout has in ``.git/lfs``, objects it never fetched)."""
    here: dict[str, tuple[lfs.Pointer, str]] = {}
    elsewhere: dict[str, tuple[lfs.Pointer, str]] = {}
    for oid, item in wanted.items():
        (here if lfs.object_path(lfs_root, oid).is_file() else elsewhere)[oid] = item
    return here, elsewhere


def origin_missing(git: Git, wanted: Mapping[str, tuple[lfs.Pointer, str]], warnings: list[str]) -> list[str]:
    """Problems for the objects ``origin`` does not have either (presence only; ``check`` on the
    registry itself also re-hashes them)."""
    if not wanted:
        return []
    url = git.get_config("remote.origin.url")
    if url is None:
        warnings.append(f"{len(wanted)} LFS object(s) not fetched into this checkout, which has no origin: not checked")
        return []
    shown = strip_credentials(url)
    loc = location_from(url, "origin", base=git.git_dir.parent)
    if loc.path is not None:
        root = loc.path / "lfs"
        missing = {o for o in wanted if not lfs.object_path(root, o).is_file()}
    elif url.startswith(("http://", "https://")):
        missing = lfsremote.remote_missing(url, [p for p, _ in wanted.values()])
        if len(missing) < len(wanted):
            warnings.append(
                f"{len(wanted) - len(missing)} LFS object(s) not fetched into this checkout checked on {shown} "
                "for presence only, their bytes not hashed"
            )
    else:
        warnings.append(f"{len(wanted)} LFS object(s) not fetched into this checkout; {shown} cannot be queried")
        return []
    return [
        f"{wanted[o][1]}: LFS object {o[:12]}… is missing from this checkout and from its origin {shown}"
        for o in sorted(missing)
        if o in wanted
    ]


def worktree_problems(git_dir: Path, states: Mapping[str, ModelState]) -> list[str]:
    """The work tree's ``gitreg.toml`` and ``stages.toml``: parseable, and every assignment names a
    known stage and a registered, not deregistered version."""
    tree = git_dir.parent
    problems: list[str] = []
    stages_known: tuple[str, ...] | None = None
    cfg_file = tree / "gitreg.toml"
    if cfg_file.is_file():
        try:
            stages_known = RegistryConfig.parse(cfg_file.read_text(encoding="utf-8")).stages
        except GitregError as e:
            problems.append(f"gitreg.toml (work tree): {e.message}")
    stages_file = tree / "stages.toml"
    if not stages_file.is_file():
        return problems
    try:
        desired = read_stages(stages_file.read_bytes())
    except GitregError as e:
        return [*problems, f"stages.toml (work tree): {e.message}"]
    for model, assigned in sorted(desired.items()):
        st = states.get(model)
        for stage, version in sorted(assigned.items()):
            v = version.removeprefix("v")
            where = f"stages.toml (work tree): {model}.{stage} = {version!r}"
            if stages_known is not None and stage not in stages_known:
                problems.append(f"{where}: unknown stage (gitreg.toml [stages] order: {', '.join(stages_known)})")
            if st is None or v not in st.versions:
                problems.append(f"{where}: {model}@v{v} is not a registered version")
            elif st.versions[v].deregistered:
                problems.append(f"{where}: {model}@v{v} is deregistered")
    return problems


@dataclass(frozen=True)
class SidecarCheck:
    """What ``validate-sidecar`` found: how many files it read and one line per problem."""

    files: int
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def validate_sidecars(paths: Iterable[str | Path]) -> SidecarCheck:
    """Each ``model.toml`` parses as a sidecar, names a valid model and version (the folder's own
    under ``models/<name>/``), and agrees with the artifact files beside it that are present:
    an LFS pointer's oid and size, or a smudged file's size and sha256."""
    problems: list[str] = []
    files = [Path(p) for p in paths]
    for f in files:
        if not f.is_file():
            raise UsageError(f"no such file: {f}", hint="pass the model.toml files to validate")
    for f in files:
        where = str(f)
        try:
            sc = sidecar_mod.loads(_head(f, sidecar_mod.MAX_BYTES).decode("utf-8", errors="replace"), where)
            check_name(sc.name)
            Version.parse(sc.version)
        except GitregError as e:
            problems.append(f"{where}: {e.message}" if where not in e.message else e.message)
            continue
        folder = f.resolve().parent
        if folder.parent.name == "models" and folder.name != sc.name:
            problems.append(f"{where}: model name {sc.name!r} does not match its folder models/{folder.name}/")
        for art in sc.stored_files():  # artifacts, external data, files the model needs
            problems += _artifact_problems(where, folder / art.path, art)
    return SidecarCheck(len(files), tuple(problems))


def _head(path: Path, max_size: int) -> bytes:
    """The first ``max_size + 1`` bytes of ``path``: enough for a size check to fail, never a whole
    file a hostile checkout made huge."""
    with path.open("rb") as fh:
        return fh.read(max_size + 1)


def _artifact_problems(where: str, path: Path, art: sidecar_mod.Artifact) -> list[str]:
    if not path.is_file():
        return []  # not checked out here (sparse checkout, or not pulled): nothing to compare
    with path.open("rb") as fh:
        head = fh.read(lfs.MAX_POINTER + 1)
    ptr = lfs.parse_pointer(head)  # None for anything longer than a pointer can be
    if ptr is not None:
        if (ptr.oid, ptr.size) != (art.sha256, art.size):
            return [
                f"{where}: [artifacts.{art.kind}] says sha256 {art.sha256[:12]}…, {art.size} bytes; "
                f"the LFS pointer {art.path} says {ptr.oid[:12]}…, {ptr.size} bytes"
            ]
        return []
    size = path.stat().st_size
    if size != art.size:
        return [f"{where}: [artifacts.{art.kind}] says {art.size} bytes; {art.path} has {size}"]
    digest, _ = lfs.sha256_file(path)
    if digest != art.sha256:
        return [f"{where}: [artifacts.{art.kind}] says sha256 {art.sha256[:12]}…; {art.path} hashes to {digest[:12]}…"]
    return []
