"""The registry's public values: what ``Registry`` returns, frozen and JSON-ready (``to_dict``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from gitreg.core.sidecar import Sidecar
from gitreg.core.state import Event, ModelState


def iso(ts: int) -> str:
    """A unix time as RFC 3339 UTC (``2026-12-01T16:00:00Z``); one no calendar can hold (a tag forged
    with a date in the year 3,000,000) as ``@<seconds>`` instead of failing the whole read."""
    try:
        return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")
    except (ValueError, OverflowError, OSError):
        return f"@{ts}"


# -- public values ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelVersion:
    """One registered version, with its sidecar when it has one (GTO-registered versions may not)."""

    name: str
    version: str
    tag: str
    commit: str
    created: str
    author: str
    author_email: str
    stages: tuple[str, ...] = ()
    deregistered: bool = False
    sidecar: Sidecar | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.version}"

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "sidecar"}
        d["stages"] = list(self.stages)
        d["sidecar"] = self.sidecar.to_dict() if self.sidecar else None
        return d


@dataclass(frozen=True)
class ModelSummary:
    """One model in ``list``: ``versions`` counts live versions, ``deregistered`` the others (as ``check`` does)."""

    name: str
    latest: str | None
    versions: int
    stages: Mapping[str, str]
    deprecated: bool
    updated: str
    deregistered: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "stages": dict(self.stages)}


@dataclass(frozen=True)
class HistoryEvent:
    time: str
    event: str
    name: str
    version: str | None
    stage: str | None
    tag: str
    commit: str
    author: str
    author_email: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PullResult:
    name: str
    version: str
    files: tuple[str, ...]
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "files": list(self.files)}


@dataclass(frozen=True)
class CheckReport:
    """What ``check`` found. Every version is checked; ``versions`` counts the live ones and
    ``deregistered`` the others, the same two numbers ``list`` shows per model."""

    versions: int
    objects: int
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    deregistered: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            **asdict(self),
            "problems": list(self.problems),
            "warnings": list(self.warnings),
        }


def summary(st: ModelState) -> ModelSummary:
    """One folded model as ``list`` shows it (latest, live and deregistered counts, stage holders)."""
    latest = st.latest(strict=False)
    dead = sum(1 for v in st.versions.values() if v.deregistered)
    return ModelSummary(
        st.name,
        f"v{latest.version}" if latest else None,
        len(st.versions) - dead,
        {s: f"v{v}" for s, v in sorted(st.stages.items())},
        st.deprecated,
        iso(st.last_time),
        dead,
    )


def history_event(e: Event) -> HistoryEvent:
    """A folded tag event as the public :class:`HistoryEvent`."""
    return HistoryEvent(
        iso(e.time),
        e.kind.value,
        e.name,
        e.version,
        e.stage,
        e.tag,
        e.commit,
        e.author,
        e.author_email,
        e.message,
    )
