"""``gitreg demo`` and the hidden ``gitreg hook pre-receive`` a bare registry's hook runs."""

from __future__ import annotations

import click

from gitreg.cli.app import cli, registry_option


@cli.command()
@click.option(
    "--report", "report_path", default="gitreg-demo-report.html", show_default=True, help="Where the HTML report goes."
)
@registry_option
def demo(report_path: str, registry: str | None) -> None:
    """Train and push models, evaluate, report, promote through gates, roll back, predict."""
    from gitreg import demo as demo_mod

    demo_mod.run(registry, say=click.echo, report_path=report_path)


@cli.group(hidden=True)
def hook() -> None:
    """Server-side git hooks."""


@hook.command(name="pre-receive")
def pre_receive() -> None:
    """Run as a bare registry's pre-receive hook."""
    from gitreg.store import hook as hook_mod

    raise click.exceptions.Exit(hook_mod.run_pre_receive())  # 1 rejects the push
