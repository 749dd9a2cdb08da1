"""Direct stage changes with their policy: promote through the gates, roll back, demote.

A stage with ``require_pr`` refuses direct promotion (``promote --pr`` asks for a pull request
instead); a promotion runs the stage's gates and is judged against the holder it saw, so a race
with another promotion stops instead of promoting over a result it never saw (``StageRace``);
``--force`` skips the gates but needs a reason, which the stage tag records.
"""

from __future__ import annotations

from gitreg.core.refs import parse_reference
from gitreg.core.stages import policy, previous_holder
from gitreg.errors import GateFailed, InvalidName, ModelNotFound, StageError, UsageError
from gitreg.registry import promotion
from gitreg.registry.registry import Registry
from gitreg.registry.values import HistoryEvent
from gitreg.workflow import gating
from gitreg.workflow.gating import GateReport


def promote(
    reg: Registry,
    ref: str,
    stage: str,
    *,
    force: bool = False,
    reason: str | None = None,
    data: str | None = None,
    rollback: bool = False,
    sign: bool = False,
) -> tuple[HistoryEvent, GateReport | None]:
    """Gates, then ``stages.toml`` + stage tag in one atomic write. Returns (history event, gate report)."""
    promotion.check_reason(reason)  # before the gates run
    pol = policy(reg.config(), stage)
    if pol.require_pr:
        raise StageError(
            f"{stage} requires a reviewed pull request; direct promotion is refused",
            hint=f"gitreg promote {ref} --to {stage} --pr",
        )
    if sign:
        reg.backend.signer()  # a missing key fails before the gates run
    report = None
    expect: str | bool | None = False
    if not force:
        report = gating.run(reg, ref, stage, data)
        if not report.passed:
            raise GateFailed(
                f"{report.ref} failed the {stage} gate: {'; '.join(report.failed_rules())}",
                hint=f"see: gitreg gate {report.ref} --stage {stage}; or --force --reason '...' to override",
                report=report,
            )
        expect = report.current.removeprefix("v") if report.current else None
    elif not reason:
        raise UsageError("--force needs --reason: skipping gates is recorded with who and why")
    event = promotion.assign(
        reg, ref, stage, expect_current=expect, force=force, reason=reason, rollback=rollback, sign=sign
    )
    return event, report


def rollback(
    reg: Registry,
    name: str,
    stage: str,
    to: str | None = None,
    *,
    force: bool = False,
    reason: str | None = None,
    sign: bool = False,
) -> tuple[HistoryEvent, GateReport | None]:
    """Give ``stage`` back to its previous holder (or ``to``), through the gates unless ``force``.

    The previous holder is found by :func:`gitreg.core.stages.previous_holder`: back through the
    stage's history, skipping versions already rolled back from, so a second rollback goes one
    step further back instead of restoring the version the first one removed.
    """
    if force and not reason:
        raise UsageError("--force needs --reason: skipping gates is recorded with who and why")
    promotion.check_reason(reason)
    model_name(name)
    policy(reg.config(), stage)  # an unknown stage says so, as promote and demote do
    if to is None:
        st = reg.backend.states(reg.backend.view(), name).get(name)
        if st is None:
            raise ModelNotFound(name)
        prev = previous_holder(st, stage)
        if prev is None:
            raise StageError(
                f"{stage} of {name} has no previous holder to roll back to", hint=f"see: gitreg history {name}"
            )
        ref = f"{name}@v{prev}"
    else:
        ref = to if "@" in to else f"{name}@{to if to.startswith('v') else 'v' + to}"
    return promote(reg, ref, stage, force=force, reason=reason or "rollback", rollback=True, sign=sign)


def demote(reg: Registry, name: str, stage: str, reason: str | None = None, sign: bool = False) -> HistoryEvent:
    """Take ``stage`` away from its holder (GTO's unassign tag); ``sign`` signs the unassign tags."""
    model_name(name)
    policy(reg.config(), stage)
    return promotion.unassign(reg, name, stage, reason, sign=sign)


def model_name(name: str) -> str:
    """``name`` when it names a model as a reference would (GTO's names too); InvalidName otherwise,
    before any lookup, so no error echoes a name that is not one."""
    ref = parse_reference(name)  # InvalidReference for text that is no name at all
    if not ref.is_latest or ref.name != name:
        raise InvalidName(f"invalid model name {name!r}: give the model's name alone, e.g. digits")
    return name
