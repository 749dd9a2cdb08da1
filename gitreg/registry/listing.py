"""``list`` at 100,000 versions: one summary per model, kept by the refs it was folded from.

Folding every tag costs Python time in proportion to the tags (~1.2 s of CPU at 100,000 on top of
git's 1.0 s, benchmarks/bench_scale.py: a record, an event and a version object per tag). A model's
summary hangs only on its tags — their names and the objects they name, immutable under their ids —
and on the clock (a tag dated ahead of it is left out of ``updated``). So a read lists names and ids
alone (``for-each-ref`` opening no object, 7-9x cheaper than reading tagger dates), and when that
listing is byte for byte the one the summaries on file were folded from, answers from the file;
otherwise it folds again only the models whose lines changed, keying each new summary by the ids of
the very read it was folded from (a tag moved between the listing and that read cannot leave a
summary under the wrong key). A model with a tag dated past the clock's horizon is never kept. The
file is a cache: missing, corrupt, foreign or unwritable, the read folds what it must and answers
the same.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gitreg.core.refs import tag_patterns
from gitreg.core.state import ModelState, fold
from gitreg.errors import GitregError
from gitreg.registry.backend import Backend, View
from gitreg.registry.values import ModelSummary, summary
from gitreg.store.files import atomic_write
from gitreg.store.location import cache_home

_LISTING = "--format=%(objectname) %(refname:lstrip=2)"
_FORMAT = 1  # bumped whenever the file's layout or a summary's meaning changes
_FEW = 8  # up to this many changed models are read through their own patterns; more, one read of all
_MODEL = re.compile(r"[@#]")  # a registry tag's model name ends at its first @ or #


def cache_file(git_dir: Path) -> Path:
    """Where the summaries of the registry (or cache clone) at ``git_dir`` are kept."""
    digest = hashlib.sha256(str(Path(git_dir).resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return cache_home() / "gitreg" / "lists" / f"{digest}.json"


def summaries(view: View | None, at: int | None = None) -> list[ModelSummary]:
    """Every model's :class:`ModelSummary`, sorted by name; ``at``: as they were then (not cached)."""
    if view is None:
        return []
    if at is not None:
        return [summary(st) for _, st in sorted(Backend.states(view, details=False, at=at).items())]
    git = view.git
    out = git.run("for-each-ref", _LISTING, "refs/tags").stdout
    whole = _digest(out)
    path = cache_file(git.git_dir)
    kept = _load(path)
    if kept.get("all") == whole:
        hit = _from_file(kept)
        if hit is not None:
            return hit
    listed = _groups(out.split("\n"))
    entries: dict[str, Any] = kept.get("models", {})
    cached: dict[str, tuple[dict[str, Any] | None, ModelSummary | None]] = {}
    for m, d in listed.items():
        digest, value = _entry(entries, m)
        if digest == d:
            made = None if value is None else _summary(value)
            if value is None or made is not None:
                cached[m] = (value, made)
    changed = [m for m in listed if m not in cached]
    fresh: dict[str, tuple[str, dict[str, Any] | None, bool]] = {}
    if changed:
        patterns = [p for m in changed for p in tag_patterns(m)]
        ids: dict[str, str] = {}
        states = fold(git.tags(patterns if len(changed) <= _FEW else ["refs/tags"], details=False, ids=ids))
        read = _groups(f"{oid} {tag}" for tag, oid in ids.items())
        for m in changed:
            st = states.get(m)
            keep = st is None or _believable(st)
            fresh[m] = (read.get(m, ""), summary(st).to_dict() if st is not None else None, keep)
    result: list[ModelSummary] = []
    store: dict[str, Any] = {}
    consistent = True
    for m in sorted(listed):
        if m in fresh:
            digest, value, keep = fresh[m]
            if keep:
                store[m] = [digest, value]
            consistent = consistent and keep and digest == listed[m]
            made = _summary(value) if value is not None else None
        else:
            value, made = cached[m]
            store[m] = [listed[m], value]
        if made is not None:
            result.append(made)
    if changed or kept.get("all") != whole:
        _save(path, {"format": _FORMAT, "all": whole if consistent else None, "models": store})
    return result


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _groups(lines: Iterable[str]) -> dict[str, str]:
    """``oid name`` lines grouped by model name (up to the tag's first @ or #) -> a digest of each
    group's lines in sorted order. Tags with neither character name no model and are left out."""
    groups: dict[str, list[str]] = {}
    search = _MODEL.search
    for line in lines:
        if not line:
            continue
        name = line.partition(" ")[2]
        m = search(name)
        if m is None:
            continue
        groups.setdefault(name[: m.start()], []).append(line)
    return {k: _digest("\n".join(sorted(v))) for k, v in groups.items()}


def _believable(st: ModelState) -> bool:
    """No tag dated past the clock's horizon: a summary that will not change as the clock moves."""
    return max((e.time for e in st.events), default=0) <= st.horizon


def _entry(entries: Mapping[str, Any], model: str) -> tuple[str | None, dict[str, Any] | None]:
    e = entries.get(model)
    if isinstance(e, list) and len(e) == 2 and isinstance(e[0], str) and (e[1] is None or isinstance(e[1], dict)):
        return e[0], e[1]
    return None, None


def _summary(d: Mapping[str, Any]) -> ModelSummary | None:
    """The summary a file entry holds; None unless every field has the type this version writes."""
    types = {"name": str, "versions": int, "deprecated": bool, "updated": str, "deregistered": int}
    if set(d) != {*types, "latest", "stages"} or not all(type(d[k]) is t for k, t in types.items()):
        return None
    latest, stages = d["latest"], d["stages"]
    if not (latest is None or type(latest) is str) or type(stages) is not dict:
        return None
    if not all(type(k) is str and type(v) is str for k, v in stages.items()):
        return None
    return ModelSummary(**d)


def _from_file(kept: Mapping[str, Any]) -> list[ModelSummary] | None:
    """The summaries on file, sorted by name; None if any entry is not what this version writes."""
    out = []
    for m in sorted(kept["models"]):
        digest, value = _entry(kept["models"], m)
        if digest is None:
            return None
        if value is not None:
            made = _summary(value)
            if made is None:
                return None
            out.append(made)
    return out


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != _FORMAT or not isinstance(data.get("models"), dict):
        return {}
    return data


def _save(path: Path, data: Mapping[str, Any]) -> None:
    try:
        atomic_write(path, json.dumps(data, separators=(",", ":"), sort_keys=True))
    except (OSError, GitregError):  # a read-only or full cache: the answer stands, next read folds again
        pass
