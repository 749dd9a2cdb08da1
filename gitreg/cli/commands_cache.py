"""``gitreg cache info`` and ``gitreg cache prune``: what this machine keeps of registries, and clearing it."""

from __future__ import annotations

import click

from gitreg.cli import output
from gitreg.cli.app import cli, json_option


@cli.group()
def cache() -> None:
    """What gitreg keeps on this machine: a clone per remote registry, its LFS objects, loaded artifacts."""


@cache.command(name="info")
@json_option
def cache_info(as_json: bool) -> None:
    """Show the cache root and, per registry, its URL, size, LFS objects and last fetch; totals."""
    from gitreg.registry import cache as cache_mod

    output.render_cache_info(cache_mod.info(), as_json)


@cache.command(name="prune")
@click.option(
    "--older-than",
    type=click.FloatRange(min=0),
    metavar="DAYS",
    help="Remove only what no read used in the last DAYS days (default: everything prunable).",
)
@click.option("--keep-stages", is_flag=True, help="Keep the artifacts of versions that hold a stage.")
@click.option(
    "--registry", "-r", "registry", metavar="PATH|URL", help="Prune only this registry's cache (not the artifacts)."
)
@click.option("--all", "everything", is_flag=True, help="Remove whole cache clones too; the next read clones again.")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@json_option
def cache_prune(
    older_than: float | None, keep_stages: bool, registry: str | None, everything: bool, dry_run: bool, as_json: bool
) -> None:
    """Remove cached LFS objects and loaded artifacts, safely while other gitreg processes read them.

    A clone's git data stays (reads stay fast and work offline) unless --all is given. Anything
    removed is fetched again by the next pull or load that needs it.
    """
    from gitreg.registry import cache as cache_mod

    report = cache_mod.prune(older_than, keep_stages, registry, everything, dry_run)
    output.render_pruned(report, as_json)
