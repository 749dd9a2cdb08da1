"""The server-side ``pre-receive`` hook: the registry's last line of defence.

Installed by ``gitreg init`` into a bare registry as a two-line shim that runs
``python -m gitreg.hook pre-receive`` (no CLI import) with the interpreter gitreg was installed in.
``gitreg.hook`` is a stable entry point that only calls :func:`main` here: every registry on disk
keeps the shim the ``gitreg init`` of its day wrote, and those shims name ``gitreg.hook``, so
old and new registries run the same command and this module may move again. Rules, each named in
the rejection message the pusher sees as ``remote:`` lines:

* ``immutable-tag``: registry tags (versions, stage events, deprecations) are never deleted or moved;
* ``version-tag``: a pushed version tag ``name@vX.Y.Z+build`` whose semver precedence equals that of
  another version tag of the model (there already or in the same push): build metadata does not
  make a new version, and ``name@vX.Y.Z`` must name exactly one artifact;
* ``stage-tag``: a pushed stage tag (``name#stage#N``, ``name#stage!#N``, legacy ``name#stage``) writes
  its counter without leading zeros (``#007`` and ``#7`` would be two tags of one event), is
  annotated and points, once peeled, at a commit that a version tag ``name@vX.Y.Z`` of the *same*
  model already names or names in the same push. An assignment to a version whose deregistration
  (``name@vX.Y.Z!``) is already in the registry is refused too: GTO and gitreg ignore it, so the
  stage would silently not change. Pushed together with the deregistration it is history (assigned
  first, deregistered later, e.g. ``gto`` tags pushed with ``--tags``) and passes; an unassignment
  of a deregistered version always passes (it only cleans up);
* ``lfs-required``: no plain blob above ``[limits] max_plain_blob_bytes`` under ``models/`` or ``datasets/``;
* ``lfs-object-missing``: every LFS pointer pushed under ``models/``/``datasets/`` has its object in
  this repo's ``lfs/objects`` (file-transfer registries, ``gitreg.localLfs = true``);
* ``sidecar``: every pushed ``models/*/model.toml`` parses as a sidecar;
* ``tag-target``: a pushed registry tag that names a tree, a blob or another tag (readers skip it);
* ``tag-date``: a pushed registry tag whose tagger date is beyond the year 9999 or more than a day
  ahead of the registry's clock (it would sort after every honest event, and no calendar may hold it);
* ``evaluation``: an update of ``refs/gitreg/*`` other than a fast-forward of
  ``refs/gitreg/evaluations/<name>/v<version>`` by single-parent commits descending from that
  version's commit and changing only ``models/<name>/model.toml`` and ``README.md``;
* ``config``: the ``gitreg.toml`` pushed to main parses (within the sidecar's size and nesting caps),
  every value of its type, every gate rule. One already on
  main that does not (written before this rule) is read as the defaults, so its fix can be pushed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

from gitreg.core import sidecar as sidecar_mod
from gitreg.core.refs import Kind, TagEvent, Version, format_tag, parse_tag
from gitreg.core.settings import RegistryConfig, rule_problems
from gitreg.core.state import date_problem, horizon_of
from gitreg.errors import GitregError
from gitreg.store import lfs
from gitreg.store.files import atomic_write
from gitreg.store.git import MAIN, ZERO, Git

EVAL_PREFIX = "refs/gitreg/evaluations/"  # registry.records.EVAL_REFS, below which this layer cannot import

# `-m gitreg.hook`, not this module's path: the shims of registries made by earlier versions say
# gitreg.hook too, and a shim on disk outlives any reorganisation of the package.
SHIM = """#!/bin/sh
# gitreg: keeps registry versions immutable and artifacts in LFS (installed by `gitreg init`).
exec {python} -m gitreg.hook pre-receive
"""


def install(git_dir: Path) -> Path:
    """Write ``hooks/pre-receive`` into a bare registry (replacing an earlier gitreg shim)."""
    return atomic_write(git_dir / "hooks" / "pre-receive", SHIM.format(python=_quote(sys.executable)), mode=0o777)


def _quote(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


def pre_receive(lines: Iterable[str], git: Git) -> list[str]:
    """Check one push (``old new ref`` lines from stdin); return the rejection messages."""
    errors: list[str] = []
    news: list[str] = []
    updates: list[tuple[str, str, str]] = []
    for line in lines:
        parts = line.split()
        if len(parts) != 3:
            continue
        old, new, ref = parts
        updates.append((old, new, ref))
        if ref.startswith("refs/tags/") and old != ZERO and parse_tag(ref[len("refs/tags/") :]):
            tag = ref[len("refs/tags/") :]
            verb = "delete" if new == ZERO else "move"
            if new != old:
                errors.append(f"immutable-tag: refusing to {verb} {tag}: registry tags are immutable")
        if new != ZERO:
            news.append(new)
    errors += _config_errors(updates, git)
    errors += _tag_target_errors(updates, git)
    errors += _evaluation_errors(updates, git)
    errors += _version_tag_errors(updates, git)
    errors += _stage_tag_errors(updates, git)
    if not news:
        return errors
    try:
        cfg = RegistryConfig.parse((git.read_blob("refs/heads/main:gitreg.toml") or b"").decode(errors="replace"))
    except GitregError:  # a broken gitreg.toml on main must not lock out every push, its fix included
        cfg = RegistryConfig()
    local_lfs = git.get_config("gitreg.localLfs") == "true"
    listing = git.run("rev-list", "--objects", *news, "--not", "--all").stdout
    paths = {}
    for ln in listing.splitlines():
        oid, _, path = ln.partition(" ")
        if path.startswith(("models/", "datasets/")):
            paths[oid] = path
    if not paths:
        return errors
    info = git.run(
        "cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)", input="\n".join(paths) + "\n"
    ).stdout
    small = []
    for ln in info.splitlines():
        oid, otype, size = ln.split()
        if otype != "blob":
            continue
        if int(size) > cfg.max_plain_blob_bytes:
            errors.append(
                f"lfs-required: {paths[oid]} is a plain git blob of {size} bytes "
                f"(limit {cfg.max_plain_blob_bytes}): store artifacts with LFS"
            )
        else:
            small.append(oid)
    with git.cat_file() as cf:
        blobs = cf.get_many(small)
    for oid, data in zip(small, blobs):
        path = paths[oid]
        ptr = lfs.parse_pointer(data)
        if ptr is not None and local_lfs and not lfs.object_path(git.git_dir / "lfs", ptr.oid).is_file():
            errors.append(
                f"lfs-object-missing: {path}: LFS object {ptr.oid[:12]}… is not on the registry "
                "(upload objects before refs: git lfs push --object-id)"
            )
        if path.startswith("models/") and path.endswith("/model.toml") and data is not None:
            try:
                sidecar_mod.loads(data.decode("utf-8", errors="replace"), path)
            except GitregError as e:
                errors.append(f"sidecar: {e.message}")
    return errors


def _config_errors(updates: list[tuple[str, str, str]], git: Git) -> list[str]:
    """``config``: the ``gitreg.toml`` a push puts on main parses, with every value of its type.

    Refused here rather than read later: every reader would fail on it. Only a push that changes
    the file is judged: one already on main (from before this rule) must not block the pushes that
    carry it unchanged, nor its fix.
    """
    errors = []
    for old, new, ref in updates:
        if ref != MAIN or new == ZERO:
            continue
        raw = git.read_blob(f"{new}:gitreg.toml")
        if old != ZERO and raw == git.read_blob(f"{old}:gitreg.toml"):
            continue
        try:
            cfg = RegistryConfig.parse(raw.decode("utf-8", errors="replace") if raw else None)
        except GitregError as e:
            errors.append(f"config: {e.message}")
            continue
        errors += [f"config: {p}" for p in rule_problems(cfg)]
    return errors


def _tag_target_errors(updates: list[tuple[str, str, str]], git: Git) -> list[str]:
    """``tag-target``: a pushed registry tag names a commit, directly (not a tree, a blob, another tag);
    ``tag-date``: its tagger date is believable (:func:`gitreg.core.state.date_problem`).

    Readers skip such tags (``Git.tags``), so they would register, assign or deprecate nothing while
    looking as if they did. Two git processes per push, whatever the number of tags.
    """
    pushed = [
        (ref[len("refs/tags/") :], new)
        for _, new, ref in updates
        if new != ZERO and ref.startswith("refs/tags/") and parse_tag(ref[len("refs/tags/") :]) is not None
    ]
    if not pushed:
        return []
    spec = "".join(f"{new}\n" for _, new in pushed)
    out = git.run("cat-file", "--batch-check=%(objecttype)", input=spec).stdout.split()
    annotated = [new for (_, new), otype in zip(pushed, out) if otype == "tag"]
    with git.cat_file() as cf:
        bodies = dict(zip(annotated, cf.get_many(annotated)))
    errors = []
    horizon = horizon_of(None)
    for (tag, new), otype in zip(pushed, out):
        target = otype
        if otype == "tag":
            body = bodies.get(new) or b""
            head = body.split(b"\n", 2)  # "object <oid>", "type <type>", ...
            target = head[1].removeprefix(b"type ").decode(errors="replace") if len(head) > 1 else "?"
            when = tagger_time(body)
            problem = date_problem(when, horizon) if when is not None else None
            if problem:
                errors.append(f"tag-date: {tag}: {problem}: tag with the real date (check the clock)")
        if target != "commit":
            errors.append(f"tag-target: {tag} names a {target}, not a commit: registry tags tag a commit")
    return errors


def tagger_time(body: bytes) -> int | None:
    """The tagger time (seconds) in a tag object's header, None when it has none that parses."""
    header = body.split(b"\n\n", 1)[0]
    for line in header.split(b"\n"):
        if line.startswith(b"tagger "):
            fields = line.rpartition(b">")[2].split()  # the name may hold anything; the date follows ">"
            return int(fields[0]) if fields and fields[0].isdigit() else None
    return None


def _evaluation_errors(updates: list[tuple[str, str, str]], git: Git) -> list[str]:
    """``evaluation``: ``refs/gitreg/evaluations/<name>/v<version>`` only grows by records of that version.

    A recorded evaluation (``gitreg eval --record``) is a commit whose parent is the version's commit
    or the previous record, changing only the version's ``model.toml`` and ``README.md``. Readers
    overlay its ``[evaluation]`` on the version, so anything else there would be a forged result:
    a deletion, a rewrite (not a fast-forward), a merge, other files, or a ref of no version.
    """
    errors = []
    for old, new, ref in updates:
        if not ref.startswith("refs/gitreg/"):
            continue
        name, _, vpart = ref.removeprefix(EVAL_PREFIX).rpartition("/")
        ev = parse_tag(f"{name}@{vpart}") if ref.startswith(EVAL_PREFIX) else None
        if ev is None or ev.kind is not Kind.REGISTER:
            errors.append(f"evaluation: {ref} is not refs/gitreg/evaluations/<name>/v<version>")
            continue
        if new == ZERO:
            errors.append(f"evaluation: refusing to delete {ref}: recorded evaluations are kept")
            continue
        tag_update = next((n for _, n, r in updates if r == f"refs/tags/{name}@{vpart}" and n != ZERO), None)
        version_commit = git.rev(f"{tag_update or f'refs/tags/{name}@{vpart}'}^{{commit}}")
        if version_commit is None:
            errors.append(f"evaluation: {ref}: there is no version {name}@{vpart} to record an evaluation of")
            continue
        base = old if old != ZERO else version_commit
        ancestry = git.run("merge-base", "--is-ancestor", version_commit, new, check=False).returncode == 0
        if ancestry and base != version_commit:
            ancestry = git.run("merge-base", "--is-ancestor", base, new, check=False).returncode == 0
        if not ancestry:
            what = "does not descend from the version's commit" if old == ZERO else "is not a fast-forward"
            errors.append(f"evaluation: {ref}: {new[:12]} {what}: records only append to the version")
            continue
        chain = git.run("rev-list", "--parents", new, "--not", base).stdout.splitlines()
        if any(len(line.split()) != 2 for line in chain):
            errors.append(f"evaluation: {ref}: a merge or root commit is no record (one parent each)")
            continue
        allowed = {f"models/{name}/model.toml", f"models/{name}/README.md"}
        changed = set(git.run("diff", "--name-only", "--no-renames", version_commit, new).stdout.splitlines())
        if changed - allowed:
            errors.append(
                f"evaluation: {ref} changes {', '.join(sorted(changed - allowed)[:3])}: a record changes "
                f"only models/{name}/model.toml and README.md"
            )
    return errors


def _version_tag_errors(updates: list[tuple[str, str, str]], git: Git) -> list[str]:
    """``version-tag``: no pushed version tag shares its semver precedence with another of its model.

    ``m@v1.0.0+evil`` and ``m@v1.0.0`` are one version to semver (build metadata is ignored), so
    which artifact ``m@v1.0.0`` meant would depend on the reader and the tagger dates. One
    ``for-each-ref`` for the version tags already there, whatever the number of pushed tags.
    """
    pushed: list[tuple[str, TagEvent]] = []
    for _, new, ref in updates:
        tag = ref[len("refs/tags/") :]
        if new != ZERO and ref.startswith("refs/tags/"):
            ev = parse_tag(tag)
            if ev is not None and ev.kind is Kind.REGISTER and ev.version is not None:
                pushed.append((tag, ev))
    if not pushed:
        return []
    models = sorted({ev.name for _, ev in pushed})
    seen: dict[tuple[str, Version], set[str]] = {}  # (model, precedence) -> version strings
    for rec in git.tags([f"refs/tags/{m}@v*" for m in models], details=False):
        ev = parse_tag(rec.tag)
        if ev is not None and ev.kind is Kind.REGISTER and ev.version is not None and rec.annotated:
            seen.setdefault((ev.name, Version.parse(ev.version)), set()).add(ev.version)
    errors = []
    for tag, ev in pushed:
        assert ev.version is not None
        twins = seen.setdefault((ev.name, Version.parse(ev.version)), set())
        others = sorted(twins - {ev.version})
        if others:
            errors.append(
                f"version-tag: {tag} has the same semver precedence as {ev.name}@v{others[0]} "
                "(build metadata does not make a new version): bump the version instead"
            )
        twins.add(ev.version)
    return errors


def _stage_tag_errors(updates: list[tuple[str, str, str]], git: Git) -> list[str]:
    """``stage-tag``: every pushed stage tag lands on a registered version of its own model.

    Two git processes per push whatever the number of tags: one ``for-each-ref`` for the version
    tags already there, one ``cat-file --batch-check`` that peels every pushed registry tag (its
    objects are still in the push's quarantine, which the hook's environment makes visible).
    """
    pushed: dict[str, tuple[TagEvent, str]] = {}
    for _, new, ref in updates:
        if new != ZERO and ref.startswith("refs/tags/"):
            ev = parse_tag(ref[len("refs/tags/") :])
            if ev is not None and ev.kind is not Kind.DEPRECATE:
                pushed[ref[len("refs/tags/") :]] = (ev, new)
    stage_tags = [t for t, (ev, _) in pushed.items() if ev.kind in (Kind.ASSIGN, Kind.UNASSIGN)]
    if not stage_tags:
        return []
    models = sorted({pushed[t][0].name for t in stage_tags})
    versions_at: dict[str, dict[str, set[str]]] = {m: {} for m in models}  # model -> commit -> versions
    deregistered: dict[str, set[str]] = {m: set() for m in models}

    def note(ev: TagEvent, commit: str, annotated: bool, existing: bool) -> None:
        # Readers (gitreg, GTO) ignore lightweight tags, so they register nothing here either.
        if ev.name not in versions_at or not annotated or ev.version is None:
            return
        if ev.kind is Kind.REGISTER:
            versions_at[ev.name].setdefault(commit, set()).add(ev.version)
        elif ev.kind is Kind.DEREGISTER and existing:
            deregistered[ev.name].add(ev.version)

    for rec in git.tags([f"refs/tags/{m}@v*" for m in models], details=False):
        ev = parse_tag(rec.tag)
        if ev is not None:
            note(ev, rec.commit, rec.annotated, existing=True)
    names = list(pushed)
    spec = "".join(f"{pushed[t][1]}\n{pushed[t][1]}^{{}}\n" for t in names)
    out = git.run("cat-file", "--batch-check=%(objectname) %(objecttype)", input=spec).stdout.splitlines()
    peeled: dict[str, tuple[bool, str | None]] = {}
    for i, t in enumerate(names):
        annotated = out[2 * i].split()[-1] == "tag"
        target = out[2 * i + 1].split()
        commit = target[0] if target[-1] == "commit" else None
        peeled[t] = (annotated, commit)
        if commit is not None:
            note(pushed[t][0], commit, annotated, existing=False)
    errors = []
    for t in stage_tags:
        ev = pushed[t][0]
        annotated, commit = peeled[t]
        here = versions_at[ev.name].get(commit or "", set())
        if ev.counter is not None and t.rpartition("#")[2] != str(ev.counter):
            errors.append(
                f"stage-tag: {t} writes its counter with leading zeros: {format_tag(ev)} is the same event "
                "(one counter, one spelling)"
            )
        elif not annotated:
            errors.append(f"stage-tag: {t} is a lightweight tag: registry tags must be annotated (git tag -a)")
        elif commit is None:
            errors.append(f"stage-tag: {t} does not point at a commit")
        elif not here:
            errors.append(
                f"stage-tag: {t} points at {commit[:12]}, which holds no registered version of {ev.name}: "
                f"tag the commit of a version (git rev-parse '{ev.name}@vX.Y.Z^{{commit}}')"
            )
        elif ev.kind is Kind.ASSIGN and here <= deregistered[ev.name]:
            dead = ", ".join(f"{ev.name}@v{v}" for v in sorted(here))
            errors.append(f"stage-tag: {t} assigns {ev.stage} to {dead}, which is deregistered and cannot hold a stage")
    return errors


def run_pre_receive() -> int:
    """Entry point of the shim: read stdin, print ``gitreg: REJECT …`` lines, exit 1 on any."""
    git_dir = Path(os.environ.get("GIT_DIR", ".")).resolve()
    errors = pre_receive(sys.stdin.read().splitlines(), Git(git_dir))
    for e in errors:
        print(f"gitreg: REJECT {_one_line(e)}", file=sys.stderr)
    return 1 if errors else 0


def main(argv: list[str]) -> int:
    """``python -m gitreg.hook pre-receive``: what the shim runs, the same as ``gitreg hook pre-receive``
    without importing the CLI (click): a push waits for this process, so its start-up counts."""
    if argv != ["pre-receive"]:
        print("usage: python -m gitreg.hook pre-receive", file=sys.stderr)
        return 2
    try:
        return run_pre_receive()
    except GitregError as e:
        print(f"gitreg: REJECT {_one_line(e.message)}", file=sys.stderr)
        return 1
    except Exception as e:  # a bug must still refuse the push, in one line the pusher can read
        if os.environ.get("GITREG_DEBUG"):
            raise
        print(f"gitreg: REJECT the hook failed ({type(e).__name__}: {_one_line(str(e))})", file=sys.stderr)
        return 1


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


# Shims written while the package's layers were being laid out ran `-m gitreg.store.hook`: keep them working.
if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
