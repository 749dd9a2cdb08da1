"""Stages: ``promote``, ``demote``, ``rollback``, ``apply`` and ``gate``.

The gates, the promotion rules and the pull-request flow are the library's (:mod:`gitreg.api`,
:mod:`gitreg.workflow`); these commands check that the options make sense together, call it and
print what it returns.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from gitreg.cli import output
from gitreg.cli.app import cli, exit_for, json_option, open_registry, registry_option, sign_option
from gitreg.errors import GateFailed, UsageError


@contextmanager
def gate_table_on_failure(stage: str, as_json: bool) -> Iterator[None]:
    """A promotion the gates refused prints their table (as ``gate`` does) before its ``error:`` line."""
    try:
        yield
    except GateFailed as e:
        if e.report is not None and not as_json:
            output.render_gate(e.report, stage, False, None)
        raise


@cli.command()
@click.argument("ref")
@click.option("--to", "stage", required=True, metavar="STAGE", help="Stage to promote to (see gitreg.toml [stages]).")
@click.option("--force", is_flag=True, help="Skip the gates (needs --reason; recorded in the tag and history).")
@click.option("--reason", help="Why: recorded in the stage tag's message.")
@click.option("--data", type=click.Path(), help="Data for eval.* rules instead of the stage's configured dataset.")
@click.option(
    "--pr",
    "pr",
    is_flag=True,
    help="Open a pull request that edits stages.toml (the default for stages with require_pr = true).",
)
@click.option("--direct", is_flag=True, help="Assign directly (refused for stages with require_pr = true).")
@click.option(
    "--no-local-gates", "no_local_gates", is_flag=True, help="With --pr: skip the local gates (CI runs them)."
)
@sign_option
@registry_option
@json_option
def promote(
    ref: str,
    stage: str,
    force: bool,
    reason: str | None,
    data: str | None,
    pr: bool,
    direct: bool,
    no_local_gates: bool,
    sign: bool,
    registry: str | None,
    as_json: bool,
) -> None:
    """Run STAGE's gates on REF, then assign it (stages.toml + GTO stage tag, one atomic push), or
    request it in a pull request (--pr, or require_pr = true) that CI gates and gitreg apply tags on merge."""
    from gitreg import api
    from gitreg.workflow import pr as pr_mod

    reg = open_registry(registry)
    if not pr_mod.wants_pr(reg, stage, pr, direct):
        if no_local_gates:
            raise UsageError("--no-local-gates goes with --pr; a direct promotion skips gates only with --force")
        with gate_table_on_failure(stage, as_json):
            ev, report = api.promote(ref, stage, force=force, reason=reason, data=data, registry=reg, sign=sign)
        output.render_gated_event(ev, report, as_json)
        return
    if force or sign:
        raise UsageError(
            f"{'--force' if force else '--sign'} applies to direct promotion; "
            "a pull request is gated by CI and tagged by gitreg apply (see --no-local-gates)"
        )
    from gitreg.registry.promotion import check_reason

    check_reason(reason)  # the pull request's body and, once merged, history show it
    with gate_table_on_failure(stage, as_json):
        req = api.request_promotion(ref, stage, local_gates=not no_local_gates, data=data, reason=reason, registry=reg)
    output.render_promotion_request(req, as_json)


@cli.command()
@click.argument("name")
@click.option("--stage", required=True, help="Stage to take away from its holder.")
@click.option("--reason", help="Why: recorded in the tag's message.")
@sign_option
@registry_option
@json_option
def demote(name: str, stage: str, reason: str | None, sign: bool, registry: str | None, as_json: bool) -> None:
    """Unassign STAGE from the version of NAME holding it (GTO's unassign tag)."""
    from gitreg import api

    output.render_event(api.demote(name, stage, reason, registry=registry, sign=sign), as_json)


@cli.command()
@click.argument("name")
@click.option("--stage", required=True, help="Stage to roll back.")
@click.option("--to", "to", metavar="VERSION", help="Version to give the stage to (default: the previous holder).")
@click.option("--force", is_flag=True, help="Skip the gates (needs --reason).")
@click.option("--reason", help="Why: recorded in the stage tag's message.")
@sign_option
@registry_option
@json_option
def rollback(
    name: str,
    stage: str,
    to: str | None,
    force: bool,
    reason: str | None,
    sign: bool,
    registry: str | None,
    as_json: bool,
) -> None:
    """Give STAGE back to the version that held it before (through the gates unless --force)."""
    from gitreg import api

    with gate_table_on_failure(stage, as_json):
        ev, report = api.rollback(name, stage, to, force=force, reason=reason, registry=registry, sign=sign)
    output.render_gated_event(ev, report, as_json)


@cli.command(name="apply")
@registry_option
@json_option
def apply_(registry: str | None, as_json: bool) -> None:
    """Create the stage tags stages.toml asks for (after a promotion PR merged); idempotent."""
    from gitreg import api

    output.render_applied(api.apply(registry=registry), as_json)


@cli.command()
@click.argument("ref", required=False)
@click.option("--stage", help="Stage whose gates to run (with REF).")
@click.option(
    "--changed",
    is_flag=True,
    help="Instead of REF/--stage: gate every stage assignment this checkout's HEAD changes in stages.toml (CI).",
)
@click.option(
    "--base",
    default="origin/main",
    show_default=True,
    metavar="REF",
    help="With --changed: the branch the pull request targets.",
)
@click.option("--data", type=click.Path(), help="Data for eval.* rules instead of the stage's configured dataset.")
@click.option("--target", metavar="COLUMN", help="CSV column holding labels.")
@click.option("--summary-md", type=click.Path(), help="Append a Markdown table here (e.g. $GITHUB_STEP_SUMMARY).")
@registry_option
@json_option
def gate(
    ref: str | None,
    stage: str | None,
    changed: bool,
    base: str,
    data: str | None,
    target: str | None,
    summary_md: str | None,
    registry: str | None,
    as_json: bool,
) -> None:
    """Judge REF against STAGE's rules: value, threshold, pass/fail per rule; exit 3 on failure.
    With --changed, judge what a promotion pull request changes (exit 1 for a bad request)."""
    from gitreg import api

    if changed:
        if ref or stage:
            raise UsageError("--changed finds the versions and stages itself: drop REF and --stage")
        changes = api.gate_changed(".", base, registry, data, target)
        output.render_gate_changed(changes, as_json, summary_md)
        exit_for(changes)
        return
    if not (ref and stage):
        raise UsageError("give REF and --stage STAGE (or --changed in a checkout of a promotion pull request)")
    report = api.gate(ref, stage, data, registry=registry, target=target)
    output.render_gate(report, stage, as_json, summary_md)
    exit_for(report)
