"""The one way anything is written to a registry: build on a fresh fetch, publish all refs at once, retry a lost race.

Every write — a version, a stage event, a deprecation, an evaluation record, a dataset, a
promotion branch, registry files — is an *attempt*: a function that, given the registry as the
cache clone just fetched it, returns a :class:`Write` (the refs to move, and what they are about).
:func:`publish` syncs, calls the attempt, and publishes every ref of the write in one transaction:

* a registry on this machine: the new loose objects are linked into its object store and every
  ref moves in one ``git update-ref --stdin`` transaction that checks main's old value and creates
  tags only if absent — ``push --atomic``'s all-or-nothing guarantee without receive-pack and the
  pre-receive hook's Python process (gitreg checked in-process what the hook checks; plain
  ``git push``es still meet the hook; ``git config gitreg.directWrites false`` in the registry
  sends gitreg's writes through the hook too);
* any other registry: one ``git push --atomic``.

A rejection that means "someone else wrote first" rebuilds on the new state and tries again, with
jittered back-off; a refusal by the hook or a policy (a protected branch, a token without the
workflow scope) is reported at once. Any failure leaves the registry as it was (a full disk
included: :class:`~gitreg.errors.DiskFull`, no temporary file left). Each write first removes the
stale temporary files killed writes left (:func:`gitreg.store.files.sweep`).
"""

from __future__ import annotations

import os
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gitreg.core.state import ModelState
from gitreg.errors import RegistryNotFound, RemoteError, VersionExists
from gitreg.registry.backend import Backend
from gitreg.store.files import disk_full, is_disk_full
from gitreg.store.git import MAIN, REMOTE_MAIN, Git, PushResult

MAX_ATTEMPTS = 60

# Rejections that mean "someone else wrote first": rebuild on the new main and try again. Any other
# (a protected branch, a token without the workflow scope, …) is reported at once.
RACE_MARKERS = ("fetch first", "non-fast-forward", "already exists", "stale info", "atomic push failed", "lock")


@dataclass(frozen=True)
class RefUpdate:
    """Move ``ref`` to ``new``. ``old`` is the value it must have (None: it must not exist yet)."""

    ref: str
    new: str
    old: str | None = None
    force: bool = False  # replace whatever is there (a promotion branch an earlier promotion left)

    @property
    def refspec(self) -> str:
        return f"{'+' if self.force else ''}{self.new}:{self.ref}"


@dataclass(frozen=True)
class Write:
    """What one attempt publishes: the ref updates, and what the caller wants back."""

    updates: tuple[RefUpdate, ...]
    commit: str = ""  # the commit the write is about (new main, a record, a branch)
    tag: str = ""  # the registry tag it creates, if any
    version: str = ""
    when: int = 0  # the time the write was stamped with, when the caller needs it


@dataclass(frozen=True)
class Base:
    """The registry as an attempt sees it: the cache clone just synced, main's commit, one model's state."""

    cache: Git
    main: str
    state: ModelState | None

    def main_update(self, commit: str) -> RefUpdate:
        return RefUpdate(MAIN, commit, self.main)

    @staticmethod
    def tag_update(tag: str, tag_object: str) -> RefUpdate:
        return RefUpdate(f"refs/tags/{tag}", tag_object)


class Unchanged(Exception):
    """Raised by an attempt that has nothing to write; :func:`publish` lets it through to the caller."""


Attempt = Callable[[Base], Write]


def publish(
    backend: Backend,
    cache: Git,
    name: str,
    attempt: Attempt,
    *,
    explicit_tag: bool = False,
    what: str = "push",
    attempts: int = MAX_ATTEMPTS,
    direct: bool = True,
) -> Write:
    """Sync, build with ``attempt``, publish its refs at once; on a lost race, again (``attempts`` times).

    ``name`` is the model whose state the attempt needs ("" for none); ``explicit_tag`` turns a
    collision on the attempt's tag into :class:`VersionExists` instead of a retry; ``what`` names
    the write in refusals; ``direct=False`` always goes through ``git push`` (and the hook).
    """
    backend.sweep(cache)  # what killed writes left: stale temporary files only
    for n in range(attempts):
        backend.sync(cache)
        main = cache.rev(REMOTE_MAIN)
        if main is None or not backend.has_config(cache, REMOTE_MAIN):
            if main is not None and backend.is_gto_repo(cache, REMOTE_MAIN):
                raise RegistryNotFound(
                    f"{backend.url} is a GTO repository gitreg reads but has not adopted (no gitreg.toml on main)",
                    hint=f"adopt it (one commit adding gitreg.toml, no tag changed): gitreg init -r {backend.url}",
                )
            raise RegistryNotFound(f"{backend.url} is not a gitreg registry (no gitreg.toml on main)")
        st = backend.published_state(cache, name) if name else None
        write = attempt(Base(cache, main, st))
        with backend.lock(cache.git_dir.with_suffix(".lock")):
            res = (direct and _write_direct(backend, cache, write.updates)) or cache.push(
                [u.refspec for u in write.updates], atomic=len(write.updates) > 1
            )
            if res.ok:  # under the cache's lock: only its holder ever writes the cache's refs
                _remember(backend, cache, write.updates)
        if res.ok:
            return write
        # Over smart HTTP a lost race for main may show only as receive-pack's "cannot lock ref"
        # remote message (reason: "atomic transaction failed"): a race too, rebuilt and retried.
        reasons = " ".join([*res.rejected.values(), *(m for m in res.remote_messages if "cannot lock ref" in m)])
        if "hook declined" in reasons or "pre-receive" in reasons:
            detail = "; ".join(m.removeprefix("gitreg: ") for m in res.remote_messages) or reasons
            raise RemoteError(f"the registry refused the {what}: {detail}")
        tag_reason = res.rejected.get(f"refs/tags/{write.tag}", "") if write.tag else ""
        if "already exists" in tag_reason and explicit_tag:
            raise VersionExists(write.tag)
        if not any(marker in reasons for marker in RACE_MARKERS):  # a policy, not a race: say it
            detail = "; ".join([*res.remote_messages, *(f"{r}: {w}" for r, w in res.rejected.items())])
            raise RemoteError(f"the registry refused the {what}: {detail}")
        time.sleep(random.uniform(0.02, 0.1) * min(n + 1, 10))
    raise RemoteError(
        f"gave up after {attempts} attempts: the registry kept moving",
        hint="retry; nothing was written",
    )


def _remember(backend: Backend, cache: Git, updates: Sequence[RefUpdate]) -> None:
    """The cache learns what it just published, so offline reads (``gitreg verify``) see it at once."""
    lines = []
    for u in updates:
        local = u.ref.replace("refs/heads/", "refs/remotes/origin/", 1) if u.ref.startswith("refs/heads/") else u.ref
        lines.append(f"update {local} {u.new}\n")
    cache.run("update-ref", "--stdin", input="".join(lines), check=False)
    if backend.location.is_local and any(u.ref.startswith("refs/tags/") for u in updates):
        backend.local_git().pack_loose_tags()  # keeps reads of a 10k-version registry fast


def _write_direct(backend: Backend, cache: Git, updates: Sequence[RefUpdate]) -> PushResult | None:
    """Publish into a registry on this machine without ``git push`` (see the module docstring).

    None means "use git push": a remote registry, an unwritable one, one whose owner set
    ``gitreg.directWrites = false``, or an object the cache holds only packed.
    """
    path = backend.location.path
    if path is None:
        return None
    objects = path / "objects"
    local = backend.local_git()
    if not os.access(objects, os.W_OK) or local.get_config("gitreg.directWrites") == "false":
        return None
    olds = [u.old for u in updates if u.old is not None]
    listed = cache.out("rev-list", "--objects", *[u.new for u in updates], "--not", *olds).splitlines()
    src_root = cache.git_dir / "objects"
    for line in listed:
        oid = line[:40]
        dst = objects / oid[:2] / oid[2:]
        if dst.exists():
            continue
        src = src_root / oid[:2] / oid[2:]
        if not src.is_file():
            return None
        tmp = dst.with_name(f".{oid[2:]}.{os.urandom(6).hex()}.tmp")
        try:
            dst.parent.mkdir(exist_ok=True)
            try:
                os.link(src, tmp)
            except OSError as e:  # another filesystem
                if is_disk_full(e):
                    raise
                shutil.copyfile(src, tmp)
            os.replace(tmp, dst)  # loose objects are immutable: a racing writer wrote the same bytes
        except OSError as e:
            tmp.unlink(missing_ok=True)
            if is_disk_full(e):  # the objects already linked are complete and harmless; no ref moved
                raise disk_full(objects, e) from None
            raise
    lines = []
    for u in updates:
        if u.force:
            lines.append(f"update {u.ref} {u.new}")
        elif u.old is not None:
            lines.append(f"update {u.ref} {u.new} {u.old}")
        else:
            lines.append(f"create {u.ref} {u.new}")
    p = local.run("update-ref", "--stdin", input="\n".join(lines) + "\n", check=False)
    if p.returncode == 0:
        return PushResult(True, {}, [], "")
    refs = [u.ref for u in updates]
    existing = set(local.out("for-each-ref", "--format=%(refname)", *refs).split())
    rejected = {r: "already exists" if r in existing and r != MAIN else "fetch first" for r in refs}
    return PushResult(False, rejected, [], p.stderr)
