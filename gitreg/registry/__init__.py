"""The registry, composed over core, store and ml: ``Registry`` (registry) and its values (values), a
typed internal interface (backend), the one write primitive (publish), and what is written through it —
versions (push, register), stage events (promotion), evaluation records (records), datasets — plus
check, verify and loading. Imports core, store, ml and errors; never workflow, cli or api."""

from gitreg.registry.registry import CheckReport, HistoryEvent, ModelSummary, ModelVersion, PullResult, Registry

__all__ = ["CheckReport", "HistoryEvent", "ModelSummary", "ModelVersion", "PullResult", "Registry"]
