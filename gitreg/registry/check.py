"""``gitreg check``: every version's sidecar, pointers and objects, and stage tags that skipped review.

Reads only: one ``for-each-ref`` for the state, one ``cat-file --batch`` per model for sidecars and
pointers, then each wanted LFS object once. A local registry's objects are hashed on disk. An HTTP
registry's are asked of the LFS server's batch API — presence only, which the report says in a
warning — or, with ``deep``, downloaded and hashed as they stream in (nothing is written to disk).
Temporary files that killed writes left are reported as a warning (the next write removes them).
"""

from __future__ import annotations

from collections.abc import Mapping

from gitreg.core import sidecar as sidecar_mod
from gitreg.core.refs import Kind, Version
from gitreg.core.settings import RegistryConfig, rule_problems
from gitreg.core.stages import policy, read_stages
from gitreg.core.state import ModelState, VersionState
from gitreg.errors import GitregError, StageError
from gitreg.registry.backend import Backend, View, same_version
from gitreg.registry.values import CheckReport
from gitreg.store import checkout, files, lfs, lfsremote
from gitreg.store.git import CatFile, Git


def check(backend: Backend, deep: bool = False) -> CheckReport:
    """Every version: sidecar valid, pointers valid and matching, objects present and intact.

    ``deep`` downloads and hashes every object of an HTTP registry (otherwise its LFS server is
    only asked whether it has them); a local registry's objects are always hashed.
    """
    view = backend.view()
    if view is None:
        return CheckReport(0, 0)
    states = backend.states(view)
    problems: list[str] = []
    warnings: list[str] = []
    on_main = view.git.commits_on(view.main)
    wanted: dict[str, tuple[lfs.Pointer, str]] = {}
    nversions = ndereg = 0  # every version is checked; reported as live + deregistered, like `list`
    for name, st in sorted(states.items()):
        problems += st.problems
        vs = sorted(st.versions.values(), key=lambda v: Version.parse(v.version))
        nversions += len(vs)
        ndereg += sum(1 for v in vs if v.deregistered)
        with view.git.cat_file() as cf:
            for v in vs:
                if v.commit not in on_main:
                    problems.append(f"{v.tag}: its commit {v.commit[:12]} is not on main")
                try:
                    _check_version(cf, name, v, problems, warnings, wanted)
                except GitregError as e:  # a version that could not be read is not a version that passed
                    problems.append(f"{v.tag}: could not be checked: {e.message}")
        for stage, ver in st.stages.items():
            if st.versions[ver].deregistered:
                warnings.append(f"{name}#{stage}: held by deregistered v{ver}")
    problems += _check_objects(backend, view, wanted, warnings, deep)
    stale = files.leftovers(view.git.git_dir)
    if stale:
        warnings.append(
            f"{stale.describe()} of temporary files left by interrupted writes in {view.git.git_dir} "
            "(the next write removes them)"
        )
    raw = view.git.read_blob(f"{view.main}:gitreg.toml")
    try:
        cfg = RegistryConfig.parse(raw.decode("utf-8", errors="replace") if raw else None)
    except GitregError as e:  # a broken config is one more problem; the rest is checked with the defaults
        problems.append(f"{e.message} (checked with the default settings)")
        cfg = RegistryConfig()
    problems += rule_problems(cfg)
    more, notes = drift(view.git, view.main, states, cfg)
    problems += more
    warnings += notes
    if checkout.is_checkout(view.git.git_dir):  # what this checkout is about to commit
        problems += checkout.worktree_problems(view.git.git_dir, states)
    return CheckReport(nversions - ndereg, len(wanted), tuple(problems), tuple(warnings), ndereg)


def _check_version(
    cf: CatFile,
    name: str,
    v: VersionState,
    problems: list[str],
    warnings: list[str],
    wanted: dict[str, tuple[lfs.Pointer, str]],
) -> None:
    """One version's sidecar and pointers; the LFS objects they name go into ``wanted``."""
    base = f"refs/tags/{v.tag}:models/{name}/"
    raw = cf.get(base + "model.toml", max_size=sidecar_mod.MAX_BYTES)
    if raw is None:
        warnings.append(f"{v.tag}: no model.toml (registered outside gitreg); not checked")
        return
    try:
        sc = sidecar_mod.loads(raw.decode("utf-8", errors="replace"), f"{v.tag}:{base}model.toml")
    except GitregError as e:
        problems.append(e.message)
        return
    if sc.name != name or not same_version(sc.version, v.version):
        warnings.append(
            f"{v.tag}: its commit holds {sc.name}@v{sc.version}'s sidecar (registered outside gitreg); not checked"
        )
        return
    for art in sc.stored_files():  # artifacts, external data, files the model needs
        ptr = lfs.parse_pointer(cf.get(base + art.path, max_size=lfs.MAX_POINTER))
        if ptr is None:
            problems.append(f"{v.tag}: {art.path} is missing or not an LFS pointer")
        elif (ptr.oid, ptr.size) != (art.sha256, art.size):
            problems.append(f"{v.tag}: {art.path} pointer does not match the sidecar's sha256/size")
        elif ptr.oid in wanted and wanted[ptr.oid][0].size != ptr.size:
            # One oid has one size: every pointer is checked, not only the first that names the object.
            other, where = wanted[ptr.oid]
            problems.append(
                f"{v.tag}: {art.path} pointer gives LFS object {ptr.oid[:12]}… {ptr.size} bytes, "
                f"but {where} gives it {other.size}"
            )
        else:
            wanted.setdefault(ptr.oid, (ptr, f"{v.tag}:{art.path}"))


def _check_objects(
    backend: Backend, view: View, wanted: dict[str, tuple[lfs.Pointer, str]], warnings: list[str], deep: bool
) -> list[str]:
    problems = []
    if backend.location.is_local:
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
    elif backend.url.startswith(("http://", "https://")) and deep:
        found = lfsremote.remote_hashes(backend.url, [p for p, _ in wanted.values()])
        for oid, (ptr, where) in sorted(wanted.items()):
            remote = found[oid]
            if remote.status == "missing":
                problems.append(f"{where}: LFS object {oid[:12]}… is missing from the LFS server")
            elif remote.status == "corrupt":
                problems.append(
                    f"{where}: LFS object {oid} is corrupt on the LFS server "
                    f"(its bytes hash to {remote.sha256[:12]}…, {remote.size} bytes; expected {ptr.size})"
                )
            elif remote.status != "ok":
                problems.append(f"{where}: LFS object {oid[:12]}… could not be downloaded: {remote.detail}")
    elif backend.url.startswith(("http://", "https://")):
        missing = lfsremote.remote_missing(backend.url, [p for p, _ in wanted.values()])
        problems += [
            f"{wanted[o][1]}: LFS object {o[:12]}… is missing from the LFS server"
            for o in sorted(missing)
            if o in wanted
        ]
        present = len(wanted) - len(missing & wanted.keys())
        if present:
            warnings.append(
                f"{present} LFS object(s) on the LFS server checked for presence only, their bytes not hashed: "
                "run gitreg check --deep to download and hash each one"
            )
    else:
        warnings.append("LFS objects not checked: only file and HTTP(S) registries can be queried")
    return problems


def drift(git: Git, main: str, states: Mapping[str, ModelState], cfg: RegistryConfig) -> tuple[list[str], list[str]]:
    """(problems, warnings): stage tags that disagree with stages.toml on main.

    gitreg writes both in one atomic write, so a disagreement came from plain git (a tag pushed by
    hand, ``gto assign``, an edited stages.toml) — a problem; on a ``require_pr`` stage such a tag
    also skipped review and gates. When stages.toml changed after the stage's last tag, ``apply``
    has simply not run yet (a merged promotion pull request): a warning.
    """
    if not cfg.stages:
        return [], []
    try:
        desired = read_stages(git.read_blob(f"{main}:stages.toml"))
    except StageError as e:
        return [e.message], []
    p = git.run("log", "-1", "--format=%ct", main, "--", "stages.toml", check=False)
    changed_at = int(p.stdout.strip() or 0) if p.returncode == 0 else 0
    problems: list[str] = []
    warnings: list[str] = []
    for name, st in sorted(states.items()):
        for stage in cfg.stages:
            holder = st.stages.get(stage)
            want = desired.get(name, {}).get(stage)
            if holder == (want.removeprefix("v") if want else None):
                continue
            tags = [e for e in st.events if e.stage == stage]
            last_time = max((e.time for e in tags), default=0)
            if want is not None and changed_at > last_time:  # a merged promotion pull request
                state = "but no stage tag does" if holder is None else "not yet applied"
                warnings.append(f"{name}: stages.toml gives {stage} to {want}, {state}: run gitreg apply")
                continue
            if holder is None:
                problems.append(
                    f"{name}: stages.toml gives {stage} to {want}, but no stage tag does "
                    f"(run gitreg apply to tag it, or gitreg demote {name} --stage {stage})"
                )
                continue
            assigned = [e for e in tags if e.kind is Kind.ASSIGN and e.version == holder]
            last = max(assigned, key=lambda e: (e.counter or 0, e.time)) if assigned else None
            where = last.tag if last is not None else f"{name}#{stage}"
            if policy(cfg, stage).require_pr:
                problems.append(
                    f"{where}: gives {stage} to v{holder} but stages.toml on main says {want or 'nobody'}; "
                    f"{stage} requires a reviewed pull request, so this tag skipped review and gates"
                )
            else:
                problems.append(
                    f"{where}: gives {stage} to v{holder} but stages.toml on main says {want or 'nobody'} "
                    "(changed with plain git); promote or demote with gitreg to make them agree"
                )
    return problems, warnings
