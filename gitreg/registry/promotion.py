"""Stage assignments: GTO stage tags plus the ``stages.toml`` that records the desired state.

A direct promotion is one commit on ``main`` (``stages.toml`` updated) and one annotated tag
``name#stage#N`` on the version's commit, published together with one ``git push --atomic``:
either both land or neither does. ``#N`` is GTO's per-model counter; two promotions racing for
the same counter collide on the tag name, the loser re-fetches, and if the stage's holder is no
longer the one its gates were judged against it stops with a retry message instead of promoting
over a result it never saw. ``apply`` makes the tags match ``stages.toml`` (for merged promotion
pull requests) and does nothing when they already agree.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import tomli_w

from gitreg.core.refs import Kind, TagEvent, format_tag, parse_reference, tag_message
from gitreg.core.state import ModelState
from gitreg.errors import GitregError, UsageError
from gitreg.store.config import RegistryConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

STAGES_HEADER = "# Desired stage assignments: changed by promotion pull requests, applied as stage tags on merge.\n"


class StageError(GitregError):
    """An unknown stage, a stage that needs a pull request, a version that cannot hold a stage."""


class StageRace(GitregError):
    """Another promotion of the same stage landed first."""


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
            f"unknown stage '{stage}': this registry's stages are {', '.join(cfg.stages) or 'none'}",
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


def read_stages(text: bytes | None) -> dict[str, dict[str, str]]:
    """``stages.toml``: ``[model] stage = "vX.Y.Z"``."""
    if not text:
        return {}
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise StageError(f"the registry's stages.toml is not valid TOML: {e}") from None
    out: dict[str, dict[str, str]] = {}
    for model, stages in data.items():
        if isinstance(stages, Mapping):
            out[model] = {str(s): str(v) for s, v in stages.items() if isinstance(v, str) and v}
    return out


def dump_stages(stages: Mapping[str, Mapping[str, str]]) -> str:
    clean = {m: dict(sorted(s.items())) for m, s in sorted(stages.items()) if s}
    return STAGES_HEADER + ("\n" + tomli_w.dumps(clean) if clean else "")


def previous_holder(st: ModelState, stage: str) -> str | None:
    """The version that held ``stage`` before its current holder (live versions only)."""
    current = st.stages.get(stage)
    holders: list[str] = []
    for e in st.events:
        if e.kind is Kind.ASSIGN and e.stage == stage and e.version:
            holders.append(e.version)
    for v in reversed(holders):
        if v != current and v in st.versions and not st.versions[v].deregistered:
            return v
    return None


def _note(force: bool, reason: str | None, who: str, rollback: bool) -> str:
    """Appended to the tag's subject line (history shows subjects; GTO reads only tag names)."""
    parts = []
    if rollback:
        parts.append("rollback")
    why = " ".join((reason or "").split())  # one line, whatever the user typed
    if force:
        parts.append(f"gates skipped (--force) by {who}" + (f": {why}" if why else ""))
    elif why and why != "rollback":
        parts.append(why)
    return ("; gitreg: " + "; ".join(parts)) if parts else ""


def assign(
    reg: Any,
    ref: str,
    stage: str,
    *,
    expect_current: str | bool | None = False,
    force: bool = False,
    reason: str | None = None,
    rollback: bool = False,
    sign: bool = False,
) -> Any:
    """Assign ``stage`` to the version ``ref`` names: stages.toml commit + stage tag, one atomic push.

    ``expect_current`` is the holder the gates were judged against (``False``: do not check);
    ``sign`` signs the stage tag with the user's git signing setup.
    """
    from gitreg.registry.registry import MAIN, _history_event, _View

    reference = parse_reference(ref)
    reg._ensure_writable()
    cache = reg._cache()
    ident = reg._identity()
    signer = reg._signer(cache) if sign else None
    who = f"{ident.name} <{ident.email}>"

    def attempt(st: ModelState | None, parent: str) -> tuple[str, list[str], str, str]:
        from gitreg.errors import ModelNotFound

        if st is None or not st.versions:
            raise ModelNotFound(reference.name)
        v = reg._resolve(st, reference)
        if v.deregistered:
            raise StageError(f"{v.tag} is deregistered and cannot hold a stage")
        if st.deprecated:
            raise StageError(f"model '{st.name}' is deprecated; its versions cannot be promoted")
        holder = st.stages.get(stage)
        if expect_current is not False and holder != expect_current:
            now = f"v{holder}" if holder else "nobody"
            raise StageRace(
                f"{stage} of {st.name} changed while this promotion ran (now held by {now})",
                hint=f"re-run the promotion: its gates must be judged against the new holder of {stage}",
            )
        if holder == v.version:
            raise StageError(f"{st.name}@v{v.version} already holds {stage}")
        stages = read_stages(cache.read_blob(f"{parent}:stages.toml"))
        stages.setdefault(st.name, {})[stage] = f"v{v.version}"
        when = max(int(time.time()), st.last_time + 1)
        blob = cache.hash_blob(dump_stages(stages))
        verb = "Roll back" if rollback else "Promote"
        commit = cache.commit(parent, {"stages.toml": blob}, f"{verb} {st.name} v{v.version} to {stage}", ident, when)
        ev = TagEvent(Kind.ASSIGN, st.name, version=v.version, stage=stage, counter=st.next_counter)
        tag = format_tag(ev)
        msg = tag_message(ev) + _note(force, reason, who, rollback)
        tag_obj = cache.make_tag(tag, v.commit, msg, ident, when, sign=signer)
        return tag, [f"{commit}:{MAIN}", f"{tag_obj}:refs/tags/{tag}"], commit, v.version

    tag, _, _ = reg._publish(cache, reference.name, attempt, explicit_tag=False)
    return _event(reg, cache, reference.name, tag, _View, _history_event)


def active_holders(st: ModelState, stage: str) -> list[str]:
    """Every live version with an assignment to ``stage`` not yet unassigned, oldest first.

    GTO keeps earlier assignments alive: unassigning only the newest holder hands the stage back
    to the one before. Demotion empties the stage, so it unassigns them all.
    """
    active: dict[str, None] = {}
    for e in sorted((e for e in st.events if e.stage == stage and e.version), key=lambda e: (e.counter or 0, e.time)):
        if e.kind is Kind.ASSIGN:
            active.pop(e.version, None)
            active[e.version] = None
        elif e.kind is Kind.UNASSIGN:
            active.pop(e.version, None)
    return [v for v in active if v in st.versions and not st.versions[v].deregistered]


def unassign(reg: Any, name: str, stage: str, reason: str | None = None, sign: bool = False) -> Any:
    """``gitreg demote``: GTO unassign tags until no version holds ``stage``; stages.toml without it."""
    from gitreg.registry.registry import MAIN, _history_event, _View

    reg._ensure_writable()
    cache = reg._cache()
    ident = reg._identity()
    signer = reg._signer(cache) if sign else None

    def attempt(st: ModelState | None, parent: str) -> tuple[str, list[str], str, str]:
        from gitreg.errors import ModelNotFound

        if st is None or not st.versions:
            raise ModelNotFound(name)
        holder = st.stages.get(stage)
        if holder is None:
            raise StageError(f"no version of {name} holds {stage}", hint=f"see: gitreg history {name}")
        stages = read_stages(cache.read_blob(f"{parent}:stages.toml"))
        stages.get(name, {}).pop(stage, None)
        when = max(int(time.time()), st.last_time + 1)
        blob = cache.hash_blob(dump_stages(stages))
        commit = cache.commit(parent, {"stages.toml": blob}, f"Demote {name} v{holder} from {stage}", ident, when)
        refspecs = [f"{commit}:{MAIN}"]
        first = ""
        # The current holder's tag comes last (highest counter), so history reads "v2 demoted" at the end.
        others = [v for v in active_holders(st, stage) if v != holder]
        for i, version in enumerate([*others, holder]):
            ev = TagEvent(Kind.UNASSIGN, name, version=version, stage=stage, counter=st.next_counter + i)
            tag = format_tag(ev)
            msg = tag_message(ev) + _note(False, reason, "", False)
            tag_obj = cache.make_tag(tag, st.versions[version].commit, msg, ident, when, sign=signer)
            refspecs.append(f"{tag_obj}:refs/tags/{tag}")
            first = tag
        return first, refspecs, commit, holder

    tag, _, _ = reg._publish(cache, name, attempt, explicit_tag=False)
    return _event(reg, cache, name, tag, _View, _history_event)


def _event(reg: Any, cache: Any, name: str, tag: str, view_cls: Any, to_event: Any) -> Any:
    from gitreg.registry.registry import REMOTE_MAIN

    reg._sync(cache)
    st = reg._state(view_cls(cache, REMOTE_MAIN), name)[name]
    return next(to_event(e) for e in st.events if e.tag == tag)


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


def apply(reg: Any) -> list[Any]:
    """Create the stage tags ``stages.toml`` on ``main`` asks for; nothing when they already match."""
    view = reg._view()
    if view is None:
        return []
    desired = read_stages(view.git.read_blob(f"{view.main}:stages.toml"))
    states = reg._state(view)
    cfg = reg.config()
    for _, stage, _ in plan_apply(desired, states):
        if stage not in cfg.stages:
            raise UsageError(f"stages.toml uses unknown stage '{stage}' (known: {', '.join(cfg.stages)})")
    events = [_tag_only(reg, model, stage, version) for model, stage, version in plan_apply(desired, states)]
    return [e for e in events if e is not None]


def _tag_only(reg: Any, name: str, stage: str, version: str) -> Any:
    """The stage tag alone: stages.toml already says so (a merged promotion pull request)."""
    from gitreg.registry.registry import _history_event, _View

    cache = reg._cache()
    ident = reg._identity()

    def attempt(st: ModelState | None, parent: str) -> tuple[str, list[str], str, str]:
        assert st is not None
        v = st.versions[version]
        if st.stages.get(stage) == version:  # another apply got there first
            raise _AlreadyApplied()
        ev = TagEvent(Kind.ASSIGN, name, version=version, stage=stage, counter=st.next_counter)
        tag = format_tag(ev)
        when = max(int(time.time()), st.last_time + 1)
        msg = tag_message(ev) + "; gitreg: applied from stages.toml"
        tag_obj = cache.make_tag(tag, v.commit, msg, ident, when)
        return tag, [f"{tag_obj}:refs/tags/{tag}"], parent, version

    try:
        tag, _, _ = reg._publish(cache, name, attempt, explicit_tag=False)
    except _AlreadyApplied:
        return None
    return _event(reg, cache, name, tag, _View, _history_event)


class _AlreadyApplied(Exception):
    pass


def drift(git: Any, main: str, states: Mapping[str, ModelState], cfg: RegistryConfig) -> tuple[list[str], list[str]]:
    """(problems, warnings): stage tags of ``require_pr`` stages that disagree with stages.toml on main.

    On such a stage every change goes through a merged pull request and ``apply``, so a holder that
    stages.toml does not name came from a tag pushed by hand (or ``gto assign``) past review and
    gates: a problem. When stages.toml changed after the stage's last tag, ``apply`` has simply
    not run yet: a warning.
    """
    guarded = [s for s in cfg.stages if policy(cfg, s).require_pr]
    if not guarded:
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
        for stage in guarded:
            holder = st.stages.get(stage)
            want = desired.get(name, {}).get(stage)
            if holder == (want.removeprefix("v") if want else None):
                continue
            if holder is None:
                warnings.append(f"{name}: stages.toml gives {stage} to {want}, but no stage tag does: run gitreg apply")
                continue
            tags = [e for e in st.events if e.kind is Kind.ASSIGN and e.stage == stage and e.version == holder]
            last = max(tags, key=lambda e: (e.counter or 0, e.time))
            if want is not None and changed_at > last.time:
                warnings.append(f"{name}: stages.toml gives {stage} to {want}, not yet applied: run gitreg apply")
                continue
            problems.append(
                f"{last.tag}: gives {stage} to v{holder} but stages.toml on main says {want or 'nobody'}; "
                f"{stage} requires a reviewed pull request, so this tag skipped review and gates"
            )
    return problems, warnings
