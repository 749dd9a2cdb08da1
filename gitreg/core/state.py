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

import functools
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import NamedTuple

from gitreg.core.refs import TAG_RE, Kind, Version
from gitreg.errors import IntegrityError

# GTO's event priorities, used to order events that share a timestamp.
_PRIORITY = {
    Kind.DEPRECATE: 2,
    Kind.REGISTER: 3,
    Kind.DEREGISTER: 4,
    Kind.ASSIGN: 5,
    Kind.UNASSIGN: 6,
}


# TagRecord and Event are NamedTuples, not frozen dataclasses: every read builds one of each per
# tag of the registry, and a frozen dataclass costs ~4x as much to construct (bench_list.py).
class TagRecord(NamedTuple):
    """One tag as ``for-each-ref`` reports it. ``commit`` is the peeled target."""

    tag: str
    commit: str
    annotated: bool = True
    time: int = 0
    tz: str = "+0000"
    author: str = ""
    author_email: str = ""
    message: str = ""


class Event(NamedTuple):
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
    # Tagger dates after this are forged or from a broken clock: reported, and never followed by writers.
    horizon: int = field(default_factory=lambda: horizon_of(None))

    def active_versions(self) -> list[VersionState]:
        """Registered, not deregistered versions, semver-ascending."""
        live = [v for v in self.versions.values() if not v.deregistered]
        return sorted(live, key=_semver_key)

    def latest(self, strict: bool = True) -> VersionState | None:
        """The highest live version (what ``name`` and ``name@latest`` mean); None when there is none.

        Two live tags of that one precedence (``1.0.0`` and ``1.0.0+evil``, pushed before the hook
        refused them) are ambiguous: which one a reader took would hang on a tagger date anyone can
        forge, so ``strict`` raises IntegrityError naming both. Not strict (a listing that must go on
        for every other model), the newest-tagged of them, and ``check`` reports the pair.
        """
        live = [v for v in self.versions.values() if not v.deregistered]
        if not live:
            return None
        top = max(reversed(live), key=_semver_key)
        if strict:
            key = _semver_key(top)
            twins = sorted(v.tag for v in live if _semver_key(v) == key)
            if len(twins) > 1:
                raise IntegrityError(
                    f"{self.name}@latest is ambiguous: {' and '.join(twins)} claim one version "
                    "(equal semver precedence; build metadata does not make a new version)",
                    problems=[f"{t}: same semver precedence as another live version tag" for t in twins],
                    hint="name the exact tag (NAME@vX.Y.Z+BUILD); gitreg check reports the pair",
                )
        return top

    def stages_of(self, version: str) -> list[str]:
        return sorted(s for s, v in self.stages.items() if v == version)

    @property
    def last_time(self) -> int:
        """The newest believable tagger time of the model's events; writers tag one second later (GTO
        orders by time). An event dated past ``horizon`` is left out: one forged date in the year
        3,000,000 must not drag every later tag there, where the hook refuses it."""
        horizon = self.horizon
        return max((e.time for e in self.events if e.time <= horizon), default=0)

    @property
    def next_counter(self) -> int:
        """GTO's counter for the next event: 1 + the highest counter on any tag of the model."""
        return 1 + max((e.counter or 0 for e in self.events), default=0)


@functools.lru_cache(maxsize=65536)
def _version_key(version: str) -> tuple:
    return Version.parse(version)._key()


def _semver_key(v: VersionState) -> tuple:
    """Semver precedence as a plain tuple: compared in C, computed once per version string."""
    return _version_key(v.version)


def _event_key(e: Event) -> tuple:
    return (e.time, _PRIORITY[e.kind], e.counter or 0, e.tag)


def _stage_key(e: Event) -> tuple:
    return (e.counter if e.counter is not None else -1, e.time, e.tag)


_TAG_GROUPS = ("name", "version", "vcancel", "stage", "scancel", "counter")


def _parse_tag(tag: str) -> tuple[Kind, str, str | None, str | None, int | None] | None:
    """``refs.parse_tag`` (same regex, same answers) as a plain tuple: fold parses every tag per read."""
    m = TAG_RE.match(tag)
    if m is None or "//" in tag:
        return None
    name, version, vcancel, stage, scancel, counter = m.group(*_TAG_GROUPS)
    n = int(counter) if counter is not None else None
    if version is not None:
        return (Kind.DEREGISTER if vcancel else Kind.REGISTER), name, version, None, n
    if stage is not None:
        return (Kind.UNASSIGN if scancel else Kind.ASSIGN), name, None, stage, n
    return Kind.DEPRECATE, name, None, None, n


MAX_CLOCK_SKEW = 86400  # seconds a tagger date may run ahead of this machine's clock
LAST_SECOND = 253402300799  # 9999-12-31T23:59:59Z: the last second a calendar (datetime, RFC 3339) holds


def horizon_of(now: float | None) -> int:
    """The latest tagger time believable at ``now`` (default: this machine's clock)."""
    return min(int(time.time() if now is None else now) + MAX_CLOCK_SKEW, LAST_SECOND)


def date_problem(when: int, horizon: int) -> str | None:
    """Why a tagger time is not believable (beyond year 9999, or more than a day ahead); None if it is."""
    if when <= horizon:
        return None
    if when > LAST_SECOND:
        return f"tagger date {when} is beyond the year 9999"
    stamp = datetime.fromtimestamp(when, timezone.utc).isoformat().replace("+00:00", "Z")
    return f"tagger date {stamp} is more than {MAX_CLOCK_SKEW // 3600} hours in the future"


def fold(records: list[TagRecord], now: float | None = None) -> dict[str, ModelState]:
    """Build the state of every model named by ``records``; non-registry tags are ignored.

    A tag dated past ``now`` plus :data:`MAX_CLOCK_SKEW` (default: this machine's clock) is read
    as any other, and named in the model's ``problems`` (``check`` reports them).
    """
    models: dict[str, ModelState] = {}
    horizon = horizon_of(now)
    for r in records:
        parsed = _parse_tag(r.tag)
        if parsed is None:
            continue
        kind, name, version, stage, counter = parsed
        st = models.get(name)
        if st is None:
            st = models[name] = ModelState(name, horizon=horizon)
        if not r.annotated:
            # GTO ignores lightweight tags; so do we, but say so in `check`.
            st.problems.append(f"{r.tag}: lightweight tag ignored (registry tags must be annotated)")
            continue
        if r.time > horizon:
            st.problems.append(f"{r.tag}: {date_problem(r.time, horizon)} (forged or a broken clock)")
        st.events.append(
            Event(kind, name, r.tag, r.commit, r.time, r.author, r.author_email, r.message, version, stage, counter)
        )

    register, deregister, deprecate = Kind.REGISTER, Kind.DEREGISTER, Kind.DEPRECATE
    for st in models.values():
        # One pass over the time-ordered events (a registry read folds every tag): registrations
        # in order, the rest bucketed for the steps that need them.
        events = st.events
        events.sort(key=_event_key)
        versions = st.versions
        by_commit: dict[str, str] = {}
        by_precedence: dict[tuple, str] = {}  # semver precedence -> the first version string with it
        deregistered: list[str | None] = []
        stage_at: list[int] = []  # positions of stage events in `events`
        last_other = last_dep = -1  # newest time of a deprecation / of any other event
        for i, e in enumerate(events):
            kind = e.kind
            if kind is deprecate:
                last_dep = e.time
                continue
            last_other = e.time
            if kind is register:
                if e.version is None or e.version in versions:
                    continue
                if e.commit in by_commit:
                    st.problems.append(
                        f"{e.tag}: same commit as {st.name}@v{by_commit[e.commit]} "
                        "(two versions of one model on one commit break GTO)"
                    )
                versions[e.version] = VersionState(
                    st.name, e.version, e.tag, e.commit, e.time, e.author, e.author_email
                )
                by_commit.setdefault(e.commit, e.version)
                twin = by_precedence.setdefault(_version_key(e.version), e.version)
                if twin != e.version:
                    # 1.0.0+evil and 1.0.0 are one version to semver: which one `@v1.0.0` meant would
                    # depend on who asks (GTO, gitreg, a tagger date); the hook refuses the second.
                    st.problems.append(
                        f"{e.tag}: same semver precedence as {st.name}@v{twin} (build metadata does not "
                        "make a new version); two tags claim one version"
                    )
            elif kind is deregister:
                deregistered.append(e.version)
            else:
                stage_at.append(i)
        for v in deregistered:
            if v in versions:
                versions[v].deregistered = True
        _fold_stages(st, by_commit, stage_at)
        # GTO: a model is deprecated while its newest event of any kind is the deprecation.
        st.deprecated = last_dep >= 0 and last_dep > last_other
    return models


def _fold_stages(st: ModelState, by_commit: dict[str, str], stage_at: list[int]) -> None:
    """Stage holders from the assign/unassign events at positions ``stage_at`` of ``st.events``."""
    stage_events = sorted((st.events[i] for i in stage_at), key=_stage_key)
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
    events = st.events
    for i in stage_at:
        e = events[i]
        if e.tag in version_of:
            events[i] = e._replace(version=version_of[e.tag])
