"""Fold tag records into registry state: versions, stage holders, deprecations (pure).

Input is what one ``git for-each-ref`` says about the tags; output is a ``ModelState`` per model.
Stage events are ordered by GTO's ``#N`` counter (tagger time only breaks ties and orders
counter-less tags), never by tagger time alone: gitreg also keeps tagger times strictly increasing
per model, so GTO — which orders by time — reaches the same answer.

The holder of a stage is the version whose newest assignment is the most recent among versions
whose last event for that stage is an assignment (GTO's semantics: assigning v2 does not unassign
v1; unassigning v2 falls back to v1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gitreg.refs import Kind, TagEvent, Version, parse_tag

# GTO's event priorities, used to order events that share a timestamp.
_PRIORITY = {
    Kind.DEPRECATE: 2,
    Kind.REGISTER: 3,
    Kind.DEREGISTER: 4,
    Kind.ASSIGN: 5,
    Kind.UNASSIGN: 6,
}


@dataclass(frozen=True)
class TagRecord:
    """One tag as ``for-each-ref`` reports it. ``commit`` is the peeled target."""

    tag: str
    commit: str
    annotated: bool = True
    time: int = 0
    tz: str = "+0000"
    author: str = ""
    author_email: str = ""
    message: str = ""


@dataclass(frozen=True)
class Event:
    """One registry event, as ``gitreg history`` reports it."""

    kind: Kind
    name: str
    tag: str
    commit: str
    time: int
    author: str
    author_email: str
    message: str
    version: str | None = None
    stage: str | None = None
    counter: int | None = None


@dataclass
class VersionState:
    name: str
    version: str
    tag: str
    commit: str
    created: int
    author: str
    author_email: str
    deregistered: bool = False


@dataclass
class ModelState:
    name: str
    versions: dict[str, VersionState] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    stages: dict[str, str] = field(default_factory=dict)  # stage -> version currently holding it
    deprecated: bool = False
    problems: list[str] = field(default_factory=list)

    def active_versions(self) -> list[VersionState]:
        """Registered, not deregistered versions, semver-ascending."""
        live = [v for v in self.versions.values() if not v.deregistered]
        return sorted(live, key=lambda v: Version.parse(v.version))

    def latest(self) -> VersionState | None:
        live = self.active_versions()
        return live[-1] if live else None

    def stages_of(self, version: str) -> list[str]:
        return sorted(s for s, v in self.stages.items() if v == version)

    @property
    def last_time(self) -> int:
        return max((e.time for e in self.events), default=0)

    @property
    def next_counter(self) -> int:
        """GTO's counter for the next event: 1 + the highest counter on any tag of the model."""
        return 1 + max((e.counter or 0 for e in self.events), default=0)


def _event_key(e: Event) -> tuple:
    return (e.time, _PRIORITY[e.kind], e.counter or 0, e.tag)


def _stage_key(e: Event) -> tuple:
    return (e.counter if e.counter is not None else -1, e.time, e.tag)


def fold(records: list[TagRecord]) -> dict[str, ModelState]:
    """Build the state of every model named by ``records``; non-registry tags are ignored."""
    parsed: list[tuple[TagEvent, TagRecord]] = []
    for r in records:
        ev = parse_tag(r.tag)
        if ev is not None:
            parsed.append((ev, r))

    models: dict[str, ModelState] = {}
    for ev, r in parsed:
        st = models.setdefault(ev.name, ModelState(ev.name))
        if not r.annotated:
            # GTO ignores lightweight tags; so do we, but say so in `check`.
            st.problems.append(f"{r.tag}: lightweight tag ignored (registry tags must be annotated)")
            continue
        st.events.append(
            Event(
                ev.kind,
                ev.name,
                r.tag,
                r.commit,
                r.time,
                r.author,
                r.author_email,
                r.message,
                version=ev.version,
                stage=ev.stage,
                counter=ev.counter,
            )
        )

    for st in models.values():
        st.events.sort(key=_event_key)
        by_commit: dict[str, str] = {}
        for e in st.events:
            if e.kind is Kind.REGISTER and e.version is not None:
                if e.version in st.versions:
                    continue
                if e.commit in by_commit:
                    st.problems.append(
                        f"{e.tag}: same commit as {st.name}@v{by_commit[e.commit]} "
                        "(two versions of one model on one commit break GTO)"
                    )
                st.versions[e.version] = VersionState(
                    st.name, e.version, e.tag, e.commit, e.time, e.author, e.author_email
                )
                by_commit.setdefault(e.commit, e.version)
        for e in st.events:
            if e.kind is Kind.DEREGISTER and e.version in st.versions:
                st.versions[e.version].deregistered = True
        _fold_stages(st, by_commit)
        # GTO: a model is deprecated while its newest event of any kind is the deprecation.
        last_other = max((e.time for e in st.events if e.kind is not Kind.DEPRECATE), default=-1)
        last_dep = max((e.time for e in st.events if e.kind is Kind.DEPRECATE), default=-1)
        st.deprecated = last_dep >= 0 and last_dep > last_other
    return models


def _fold_stages(st: ModelState, by_commit: dict[str, str]) -> None:
    stage_events = sorted((e for e in st.events if e.kind in (Kind.ASSIGN, Kind.UNASSIGN)), key=_stage_key)
    active: dict[str, dict[str, int]] = {}  # stage -> {version: order of its newest assignment}
    resolved: list[Event] = []
    for order, e in enumerate(stage_events):
        version = by_commit.get(e.commit)
        if version is None:
            st.problems.append(f"{e.tag}: points at {e.commit[:12]}, which holds no version of {st.name}")
            continue
        resolved.append(e)
        assert e.stage is not None
        holders = active.setdefault(e.stage, {})
        if e.kind is Kind.ASSIGN:
            holders[version] = order
        else:
            holders.pop(version, None)
    for stage, holders in active.items():
        # GTO ignores stage tags on deregistered versions; the stage falls back to the previous holder.
        holders = {v: o for v, o in holders.items() if not st.versions[v].deregistered}
        if holders:
            st.stages[stage] = max(holders, key=holders.__getitem__)
    # Stage events carry the version they resolved to, for history.
    version_of = {e.tag: by_commit.get(e.commit) for e in resolved}
    st.events = [
        Event(
            e.kind,
            e.name,
            e.tag,
            e.commit,
            e.time,
            e.author,
            e.author_email,
            e.message,
            version=version_of.get(e.tag, e.version),
            stage=e.stage,
            counter=e.counter,
        )
        if e.kind in (Kind.ASSIGN, Kind.UNASSIGN)
        else e
        for e in st.events
    ]
