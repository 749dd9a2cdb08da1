"""Recorded evaluations (``gitreg eval --record``): results kept with a version, its tag untouched.

A version's tag is immutable, and ``main`` holds only the newest version's folder, so a recorded
evaluation cannot go into either. It goes into a commit of its own on the ref
``refs/gitreg/evaluations/<name>/v<version>``: that commit's parent is the version's commit (or
the previous record of the same version), its tree is the parent's tree with the sidecar's
``[evaluation]`` replaced and the model card regenerated, and the artifacts are the same pointers.
Reading a version overlays the newest record's ``[evaluation]`` on the tagged sidecar; ``history``
lists every record (``git log`` of those refs, stopping at main: one process). GTO reads tags
only, so these refs are invisible to it, and a plain clone or ``git fetch`` leaves them alone
unless asked for (``+refs/gitreg/*:refs/gitreg/*``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitreg.core import card
from gitreg.core import sidecar as sidecar_mod
from gitreg.errors import GitregError
from gitreg.registry.backend import Backend
from gitreg.registry.publish import Base, RefUpdate, Write, publish
from gitreg.registry.values import ModelVersion, iso
from gitreg.store.git import Git

EVAL_REFS = "refs/gitreg/evaluations"
SUBJECT = "Record evaluation of "
MAX_ATTEMPTS = 20


def record_ref(name: str, version: str) -> str:
    """The ref holding the newest recorded evaluation of ``name`` version ``version``."""
    return f"{EVAL_REFS}/{name}/v{version}"


@dataclass(frozen=True)
class Recorded:
    """One recorded evaluation: which version, the commit that holds it, on which ref."""

    ref: str
    commit: str
    git_ref: str
    created: str

    def to_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, "commit": self.commit, "git_ref": self.git_ref, "created": self.created}


def record(backend: Backend, mv: ModelVersion, section: Mapping[str, Any]) -> Recorded:
    """Write ``section`` as ``[evaluation]`` of ``mv``'s sidecar in a new commit on its record ref.

    Retries like a push does when another process recorded the same version at the same time
    (the ref moved: a non-fast-forward rejection), rebuilding on the newer record.
    """
    cache = backend.cache()
    ident = backend.identity()
    git_ref = record_ref(mv.name, mv.version)
    base_dir = f"models/{mv.name}"

    def attempt(base: Base) -> Write:
        old = cache.rev(git_ref)
        parent = old or mv.commit
        raw = cache.read_blob(f"{parent}:{base_dir}/model.toml", max_size=sidecar_mod.MAX_BYTES)
        if raw is None:
            raise GitregError(f"{mv.ref} has no sidecar of its own to record into: it was registered outside gitreg")
        sc = sidecar_mod.loads(raw.decode("utf-8", errors="replace"), f"{mv.ref}:{base_dir}/model.toml")
        data = sc.to_dict()
        data["evaluation"] = dict(section)
        updated = sidecar_mod.from_dict(data)
        # Never before the model's newest tag: tagger times are bumped past the clock to keep
        # same-second writes ordered (registry.push_files), and history sorts records among them.
        when = max(int(time.time()), (base.state.last_time + 1) if base.state else 0)
        files: dict[str, str | None] = {
            f"{base_dir}/model.toml": cache.hash_blob(sidecar_mod.dumps(updated)),
            f"{base_dir}/README.md": cache.hash_blob(card.model_card(updated.to_dict(), mv.ref)),
        }
        commit = cache.commit(parent, files, f"{SUBJECT}{mv.ref}\n\n{_summary(section)}", ident, when)
        return Write((RefUpdate(git_ref, commit, old),), commit, when=when)

    w = publish(backend, cache, mv.name, attempt, what="evaluation record", attempts=MAX_ATTEMPTS, direct=False)
    return Recorded(mv.ref, w.commit, git_ref, iso(w.when))


def _summary(section: Mapping[str, Any]) -> str:
    data = section.get("data") or {}
    lines = [f"data: {data.get('name', '?')} sha256:{str(data.get('sha256', ''))[:12]} rows: {section.get('samples')}"]
    lines += [f"{k} = {v:.6g}" for k, v in section.items() if isinstance(v, float) and k not in card.RUN_FIELDS]
    return "\n".join(lines)


def overlay_specs(name: str, versions: list[str]) -> list[str]:
    """``cat-file`` specs of each version's recorded sidecar (missing when nothing was recorded)."""
    return [f"{record_ref(name, v)}:models/{name}/model.toml" for v in versions]


def evaluation_of(blob: bytes | None) -> Mapping[str, Any] | None:
    """The ``[evaluation]`` table of a recorded sidecar blob; None when absent or unreadable."""
    if blob is None:
        return None
    try:
        return sidecar_mod.loads(blob.decode("utf-8", errors="replace")).evaluation or None
    except GitregError:
        return None


def history(git: Git, name: str, main: str) -> list[tuple[int, str, str, str, str, str, str]]:
    """Every recorded evaluation of ``name``, oldest first: one ``git log`` of the record refs that
    stops at ``main``. Tuples of (time, version, record ref, commit, author, email, subject)."""
    p = git.run(
        "log",
        "--reverse",
        "--format=%H%x1f%ct%x1f%an%x1f%ae%x1f%s",
        f"--glob={EVAL_REFS}/{name}/*",
        "--not",
        main,
        check=False,
    )
    out = []
    for line in p.stdout.splitlines() if p.returncode == 0 else []:
        commit, ts, an, ae, subject = line.split("\x1f", 4)
        if subject.startswith(SUBJECT):
            version = subject[len(SUBJECT) :].partition("@v")[2]
            out.append((int(ts), version, record_ref(name, version), commit, an, ae, subject))
    return out
