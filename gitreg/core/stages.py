"""Stage rules, pure: the ``stages.toml`` codec, each stage's policy, and who may hold a stage.

``stages.toml`` records the desired assignments (``[model] stage = "vX.Y.Z"``); stage tags record
what happened. The functions here decide, from a folded :class:`~gitreg.core.state.ModelState`,
what a promotion, a demotion or ``apply`` must write — the registry layer writes it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import tomli_w

from gitreg.core.refs import Kind
from gitreg.core.settings import toml_problem
from gitreg.core.sidecar import MAX_BYTES
from gitreg.core.state import ModelState, TagRecord, fold
from gitreg.errors import StageError

if TYPE_CHECKING:
    from gitreg.core.settings import RegistryConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

STAGES_HEADER = "# Desired stage assignments: changed by promotion pull requests, applied as stage tags on merge.\n"


@dataclass(frozen=True)
class StagePolicy:
    name: str
    require_pr: bool
    rules: tuple[str, ...]
    data: str | None


def policy(cfg: RegistryConfig, stage: str) -> StagePolicy:
    """The stage's settings from ``gitreg.toml``; an unknown stage names the known ones."""
    if stage not in cfg.stages:
        raise StageError(
            f"unknown stage {stage!r}: this registry's stages are {', '.join(cfg.stages) or 'none'}",
            hint="stages are listed in [stages] order in the registry's gitreg.toml",
        )
    raw = cfg.raw
    st = raw.get("stages", {}).get(stage, {}) if isinstance(raw.get("stages"), Mapping) else {}
    gate = raw.get("gates", {}).get(stage, {}) if isinstance(raw.get("gates"), Mapping) else {}
    rules = gate.get("rules", []) if isinstance(gate, Mapping) else []
    data = gate.get("data") if isinstance(gate, Mapping) else None
    return StagePolicy(
        stage,
        bool(st.get("require_pr", False)) if isinstance(st, Mapping) else False,
        tuple(str(r) for r in rules),
        str(data) if data else None,
    )


def parse_stages(text: bytes | None, where: str = "") -> tuple[dict[str, dict[str, str]], list[str]]:
    """``stages.toml`` (``[model] stage = "vX.Y.Z"``): the assignments, and one line per malformed entry.

    The one parser of that file: ``gate --changed`` reports the problems, everyone else ignores the
    malformed entries (:func:`read_stages`). Invalid TOML raises StageError.
    """
    if not text:
        return {}, []
    at = f" {where}" if where else ""
    if len(text) > MAX_BYTES:
        raise StageError(f"the registry's stages.toml{at} is larger than {MAX_BYTES} bytes")
    try:
        decoded = text.decode("utf-8")
        problem = toml_problem(decoded)
        if problem:
            raise StageError(f"the registry's stages.toml{at} {problem}")
        data = tomllib.loads(decoded)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise StageError(f"the registry's stages.toml{at} is not valid TOML: {e}") from None
    out: dict[str, dict[str, str]] = {}
    problems: list[str] = []
    for model, stages in data.items():
        if not isinstance(stages, Mapping):
            problems.append(f'stages.toml{at}: `{_key(model)}` must be a table of stage = "vX.Y.Z" lines')
            continue
        for stage, value in stages.items():
            if isinstance(value, str) and value:
                out.setdefault(model, {})[str(stage)] = value
            else:
                problems.append(
                    f'stages.toml{at}: {_key(model)}.{_key(stage)} = {_shown(value)} is not a version string ("v1.2.0")'
                )
    return out, problems


def _key(key: str) -> str:
    """A key of stages.toml as a problem line shows it: as written when plain, else quoted (one line)."""
    return key if key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key) else repr(key)[:80]


def _shown(value: object) -> str:
    """A value in a problem line: its repr, cut short (a table of a thousand dotted parts is not shown whole)."""
    try:
        text = repr(value)
    except RecursionError:  # a value nested past what repr recurses through (the caps keep this out)
        text = f"<a nested {type(value).__name__}>"
    return text if len(text) <= 80 else text[:77] + "..."


def read_stages(text: bytes | None) -> dict[str, dict[str, str]]:
    """``stages.toml``'s well-formed assignments (malformed entries are ignored; ``check`` reports them)."""
    return parse_stages(text)[0]


def dump_stages(stages: Mapping[str, Mapping[str, str]]) -> str:
    clean = {m: dict(sorted(s.items())) for m, s in sorted(stages.items()) if s}
    return STAGES_HEADER + ("\n" + tomli_w.dumps(clean) if clean else "")


def check_can_hold(st: ModelState, version: str, stage: str) -> None:
    """The preconditions of every promotion (direct or by pull request): raises StageError."""
    v = st.versions[version]
    if v.deregistered:
        raise StageError(f"{v.tag} is deregistered and cannot hold a stage")
    if st.deprecated:
        raise StageError(f"model '{st.name}' is deprecated; its versions cannot be promoted")
    if st.stages.get(stage) == version:
        raise StageError(f"{st.name}@v{version} already holds {stage}")


ROLLBACK_NOTE = "; gitreg: rollback"  # in the subject of a stage tag written by ``gitreg rollback``


def previous_holder(st: ModelState, stage: str) -> str | None:
    """Where ``gitreg rollback`` takes ``stage``: back through its history, never forward again.

    The stage's assignments form a chain of holders. A plain promotion pushes onto it; a rollback
    pops back to the version it restored and marks the version it rolled back *from* as bad (until
    that version is promoted again on purpose); a demotion or unassignment takes its version off.
    The answer is the newest version on the chain below the current holder that is live and not
    marked bad, so rolling back twice goes two steps back instead of toggling.
    """
    current = st.stages.get(stage)
    chain: list[str] = []
    bad: set[str] = set()
    for e in sorted((e for e in st.events if e.stage == stage and e.version), key=lambda e: (e.counter or 0, e.time)):
        v = e.version
        assert v is not None
        if e.kind is Kind.UNASSIGN:
            chain = [x for x in chain if x != v]
        elif ROLLBACK_NOTE in e.message:
            if chain:
                bad.add(chain[-1])
            if v in chain:
                del chain[chain.index(v) + 1 :]
            else:
                chain.append(v)
        else:
            bad.discard(v)
            chain = [x for x in chain if x != v] + [v]
    for v in reversed(chain):
        if v != current and v not in bad and v in st.versions and not st.versions[v].deregistered:
            return v
    return None


def holders_after(st: ModelState, new: list[TagRecord]) -> dict[str, str]:
    """Stage holders of ``st`` once the tags ``new`` exist: GTO's fold, so stages.toml can say the same."""
    old = [TagRecord(e.tag, e.commit, True, e.time, "+0000", e.author, e.author_email, e.message) for e in st.events]
    after = fold(old + new).get(st.name)
    return dict(after.stages) if after is not None else {}


def restage(
    stages: dict[str, dict[str, str]], name: str, holders: Mapping[str, str], affected: list[str]
) -> dict[str, dict[str, str]]:
    """``stages`` (stages.toml) with ``name``'s ``affected`` stages set to ``holders`` (removed when none)."""
    model = dict(stages.get(name, {}))
    for stage in affected:
        if stage in holders:
            model[stage] = f"v{holders[stage]}"
        else:
            model.pop(stage, None)
    out = {k: v for k, v in stages.items() if k != name}
    if model:
        out[name] = model
    return out


def active_holders(st: ModelState, stage: str) -> list[str]:
    """Every live version with an assignment to ``stage`` not yet unassigned, oldest first.

    GTO keeps earlier assignments alive: unassigning only the newest holder hands the stage back
    to the one before. Demotion empties the stage, so it unassigns them all.
    """
    active: dict[str, None] = {}
    for e in sorted((e for e in st.events if e.stage == stage), key=lambda e: (e.counter or 0, e.time)):
        if not e.version:  # a stage tag on a commit that holds no version
            continue
        if e.kind is Kind.ASSIGN:
            active.pop(e.version, None)
            active[e.version] = None
        elif e.kind is Kind.UNASSIGN:
            active.pop(e.version, None)
    return [v for v in active if v in st.versions and not st.versions[v].deregistered]


def plan_apply(
    desired: Mapping[str, Mapping[str, str]], states: Mapping[str, ModelState]
) -> list[tuple[str, str, str]]:
    """(model, stage, version) assignments needed for the tags to match ``stages.toml``."""
    todo = []
    for model, stages in sorted(desired.items()):
        st = states.get(model)
        for stage, version in sorted(stages.items()):
            v = version.removeprefix("v")
            if st is None or v not in st.versions:
                raise StageError(
                    f"stages.toml assigns {model}@{version} to {stage}, but that version is not registered"
                )
            if st.versions[v].deregistered:  # its stage tag would be ignored: apply would re-tag forever
                raise StageError(f"stages.toml assigns {model}@{version} to {stage}, but that version is deregistered")
            if st.stages.get(stage) != v:
                todo.append((model, stage, v))
    return todo


def tag_note(force: bool, reason: str | None, who: str, rollback: bool) -> str:
    """Appended to a stage tag's subject line (history shows subjects; GTO reads only tag names)."""
    parts = []
    if rollback:
        parts.append("rollback")
    why = " ".join((reason or "").split())  # one line, whatever the user typed
    if force:
        parts.append(f"gates skipped (--force) by {who}" + (f": {why}" if why else ""))
    elif why and why != "rollback":
        parts.append(why)
    return ("; gitreg: " + "; ".join(parts)) if parts else ""


@dataclass(frozen=True)
class StageNote:
    """What :func:`tag_note` wrote into a stage tag's subject, read back (``history`` shows it)."""

    rollback: bool = False
    forced: bool = False
    reason: str = ""  # the --reason (or what gitreg noted, e.g. "applied from stages.toml")


def read_note(message: str) -> StageNote:
    """The inverse of :func:`tag_note` on a tag message (its first line); a tag gitreg did not write: no note."""
    subject = message.split("\n", 1)[0]
    _, found, note = subject.partition("; gitreg: ")
    if not found:
        return StageNote()
    rollback = note == "rollback" or note.startswith("rollback; ")
    rest = note.removeprefix("rollback").removeprefix("; ") if rollback else note
    forced = rest.startswith(_FORCED)
    if forced:  # "gates skipped (--force) by Name <email>: reason"; the name's '>' ends the who
        who_end = rest.find(">")
        tail = rest[who_end + 1 :] if who_end >= 0 else rest[len(_FORCED) :]
        rest = tail.partition(": ")[2] if tail.startswith(":") else ""
    return StageNote(rollback, forced, rest)


_FORCED = "gates skipped (--force) by "
