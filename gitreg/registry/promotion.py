"""Stage writes: GTO stage tags plus the ``stages.toml`` that records the desired state.

A direct promotion is one commit on ``main`` (``stages.toml`` updated) and one annotated tag
``name#stage#N`` on the version's commit, published together (:func:`gitreg.registry.publish.publish`):
either both land or neither does. ``#N`` is GTO's per-model counter; two promotions racing for
the same counter collide on the tag name, the loser re-fetches, and if the stage's holder is no
longer the one its gates were judged against it stops with a retry message instead of promoting
over a result it never saw. ``apply`` makes the tags match ``stages.toml`` (for merged promotion
pull requests) and does nothing when they already agree. The rules themselves are pure:
:mod:`gitreg.core.stages`.
"""

from __future__ import annotations

import time

from gitreg.core.refs import Kind, TagEvent, format_tag, parse_reference, tag_message
from gitreg.core.sidecar import check_text
from gitreg.core.stages import active_holders, check_can_hold, dump_stages, plan_apply, read_stages, tag_note
from gitreg.errors import ModelNotFound, StageError, StageRace, UsageError
from gitreg.registry.publish import Base, Unchanged, Write, publish
from gitreg.registry.push import checked_identity
from gitreg.registry.registry import Registry
from gitreg.registry.values import HistoryEvent


def assign(
    reg: Registry,
    ref: str,
    stage: str,
    *,
    expect_current: str | bool | None = False,
    force: bool = False,
    reason: str | None = None,
    rollback: bool = False,
    sign: bool = False,
) -> HistoryEvent:
    """Assign ``stage`` to the version ``ref`` names: stages.toml commit + stage tag, one atomic write.

    ``expect_current`` is the holder the gates were judged against (``False``: do not check);
    ``sign`` signs the stage tag with the user's git signing setup.
    """
    reference = parse_reference(ref)
    check_reason(reason)
    backend = reg.backend
    backend.ensure_writable()
    ident = checked_identity(backend)
    cache = backend.cache()
    signer = backend.signer(cache) if sign else None
    who = f"{ident.name} <{ident.email}>"

    def attempt(base: Base) -> Write:
        st = base.state
        if st is None or not st.versions:
            raise ModelNotFound(reference.name)
        v = backend.resolve(st, reference)
        holder = st.stages.get(stage)
        if expect_current is not False and holder != expect_current:
            now = f"v{holder}" if holder else "nobody"
            raise StageRace(
                f"{stage} of {st.name} changed while this promotion ran (now held by {now})",
                hint=f"re-run the promotion: its gates must be judged against the new holder of {stage}",
            )
        check_can_hold(st, v.version, stage)
        stages = read_stages(cache.read_blob(f"{base.main}:stages.toml"))
        stages.setdefault(st.name, {})[stage] = f"v{v.version}"
        when = max(int(time.time()), st.last_time + 1)
        blob = cache.hash_blob(dump_stages(stages))
        verb = "Roll back" if rollback else "Promote"
        message = f"{verb} {st.name} v{v.version} to {stage}"
        commit = cache.commit(base.main, {"stages.toml": blob}, message, ident, when)
        ev = TagEvent(Kind.ASSIGN, st.name, version=v.version, stage=stage, counter=st.next_counter)
        tag = format_tag(ev)
        msg = tag_message(ev) + tag_note(force, reason, who, rollback)
        tag_obj = cache.make_tag(tag, v.commit, msg, ident, when, sign=signer)
        return Write((base.main_update(commit), base.tag_update(tag, tag_obj)), commit, tag, v.version)

    tag = publish(backend, cache, reference.name, attempt).tag
    return reg.published_event(cache, reference.name, tag)


def unassign(reg: Registry, name: str, stage: str, reason: str | None = None, sign: bool = False) -> HistoryEvent:
    """``gitreg demote``: GTO unassign tags until no version holds ``stage``; stages.toml without it."""
    check_reason(reason)
    backend = reg.backend
    backend.ensure_writable()
    ident = checked_identity(backend)
    cache = backend.cache()
    signer = backend.signer(cache) if sign else None

    def attempt(base: Base) -> Write:
        st = base.state
        if st is None or not st.versions:
            raise ModelNotFound(name)
        holder = st.stages.get(stage)
        if holder is None:
            raise StageError(f"no version of {name} holds {stage}", hint=f"see: gitreg history {name}")
        stages = read_stages(cache.read_blob(f"{base.main}:stages.toml"))
        stages.get(name, {}).pop(stage, None)
        when = max(int(time.time()), st.last_time + 1)
        blob = cache.hash_blob(dump_stages(stages))
        message = f"Demote {name} v{holder} from {stage}"
        commit = cache.commit(base.main, {"stages.toml": blob}, message, ident, when)
        updates = [base.main_update(commit)]
        first = ""
        # The current holder's tag comes last (highest counter), so history reads "v2 demoted" at the end.
        others = [v for v in active_holders(st, stage) if v != holder]
        for i, version in enumerate([*others, holder]):
            ev = TagEvent(Kind.UNASSIGN, name, version=version, stage=stage, counter=st.next_counter + i)
            tag = format_tag(ev)
            msg = tag_message(ev) + tag_note(False, reason, "", False)
            tag_obj = cache.make_tag(tag, st.versions[version].commit, msg, ident, when, sign=signer)
            updates.append(base.tag_update(tag, tag_obj))
            first = tag
        return Write(tuple(updates), commit, first, holder)

    tag = publish(backend, cache, name, attempt).tag
    return reg.published_event(cache, name, tag)


def check_reason(reason: str | None) -> None:
    """MetadataError when ``--reason`` holds a control character other than newline and tab: the stage
    tag records it, and every ``history`` prints it."""
    if reason is not None:
        check_text("--reason", reason, multiline=True)


def apply(reg: Registry) -> list[HistoryEvent]:
    """Create the stage tags ``stages.toml`` on ``main`` asks for; nothing when they already match."""
    view = reg.backend.view()
    if view is None:
        return []
    desired = reg.backend.stages_file(view)
    states = reg.backend.states(view)
    cfg = reg.config()
    for _, stage, _ in plan_apply(desired, states):
        if stage not in cfg.stages:
            raise UsageError(f"stages.toml uses unknown stage {stage!r} (known: {', '.join(cfg.stages)})")
    events = [_tag_only(reg, model, stage, version) for model, stage, version in plan_apply(desired, states)]
    return [e for e in events if e is not None]


def _tag_only(reg: Registry, name: str, stage: str, version: str) -> HistoryEvent | None:
    """The stage tag alone: stages.toml already says so (a merged promotion pull request)."""
    backend = reg.backend
    ident = checked_identity(backend)
    cache = backend.cache()

    def attempt(base: Base) -> Write:
        st = base.state
        assert st is not None
        v = st.versions[version]
        if st.stages.get(stage) == version:  # another apply got there first
            raise Unchanged
        ev = TagEvent(Kind.ASSIGN, name, version=version, stage=stage, counter=st.next_counter)
        tag = format_tag(ev)
        when = max(int(time.time()), st.last_time + 1)
        msg = tag_message(ev) + "; gitreg: applied from stages.toml"
        tag_obj = cache.make_tag(tag, v.commit, msg, ident, when)
        return Write((base.tag_update(tag, tag_obj),), base.main, tag, version)

    try:
        tag = publish(backend, cache, name, attempt).tag
    except Unchanged:
        return None
    return reg.published_event(cache, name, tag)
