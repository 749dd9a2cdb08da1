"""The registry itself: ``info`` (which registry, and why) and ``config show|get|set|edit`` (its ``gitreg.toml``).

``config`` changes are validated and committed by :mod:`gitreg.registry.configuration`; ``edit``
runs the editor here, on a temporary copy, and keeps that copy (naming it) when the edit cannot be
committed, so nothing typed is lost.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from gitreg.cli import output
from gitreg.cli.app import cli, json_option, open_registry, registry_option
from gitreg.errors import GitregError


@cli.command()
@registry_option
@json_option
def info(registry: str | None, as_json: bool) -> None:
    """Which registry commands use and why (--registry, $GITREG_REGISTRY, pyproject.toml or the default),
    whether it exists, the cache folders, and the gitreg version. Never contacts a remote registry."""
    from gitreg.workflow.github import gitreg_version

    output.render_info(open_registry(registry).info(), gitreg_version(), as_json)


@cli.group()
def config() -> None:
    """Read and change the registry's gitreg.toml (stages, gates, parity, limits): validated, one commit on main."""


@config.command(name="show")
@registry_option
@json_option
def config_show(registry: str | None, as_json: bool) -> None:
    """Print the registry's gitreg.toml as it is on main (--json: the parsed table)."""
    from gitreg.registry import configuration

    reg = open_registry(registry)
    if as_json:
        output.emit_json(configuration.show(reg))
    else:
        output.render_text(configuration.text(reg))


@config.command(name="get")
@click.argument("key")
@registry_option
@json_option
def config_get(key: str, registry: str | None, as_json: bool) -> None:
    """Print one value, e.g. parity.rtol or stages.production.require_pr (tables and lists as JSON);
    exit 1 when gitreg.toml does not set KEY."""
    from gitreg.registry import configuration

    output.render_config_value(configuration.get(open_registry(registry), key), as_json)


@config.command(name="set")
@click.argument("key")
@click.argument("value")
@registry_option
def config_set(key: str, value: str, registry: str | None) -> None:
    """Set KEY to VALUE, a TOML value (true, 1e-3, '["parity.passed", "eval.accuracy >= 0.95"]'; anything
    else is a string), and commit it on main. Refused, with nothing written, when the result is not a
    valid gitreg.toml or KEY is not one gitreg acts on. Comments in the file are kept."""
    from gitreg.registry import configuration

    change = configuration.set_value(open_registry(registry), key, value)
    output.render_config_change(change, f"{key} = {configuration.parse_value(value).as_string()}")


@config.command(name="edit")
@click.option(
    "--from",
    "from_file",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="Start from FILE (e.g. an edit gitreg kept after a refusal) instead of main's gitreg.toml.",
)
@registry_option
def config_edit(from_file: str | None, registry: str | None) -> None:
    """Edit gitreg.toml in $VISUAL or $EDITOR; validated, then committed on main. If it is refused, the
    edited text is kept in a file this command names (continue with --from FILE); exit 1."""
    from gitreg.registry import configuration

    reg = open_registry(registry)
    original = configuration.text(reg)
    start = Path(from_file).read_text(encoding="utf-8") if from_file else original
    fd, name = tempfile.mkstemp(prefix="gitreg-config-", suffix=".toml")
    path = Path(name)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(start)
    click.edit(filename=str(path))
    edited = path.read_text(encoding="utf-8")
    if edited == original:
        path.unlink()
        output.render_config_change(configuration.Change(None, edited), "")
        return
    try:
        change = configuration.replace(reg, edited, expect=original)
    except GitregError as e:
        e.hint = f"your edit is kept in {path}; fix it with: gitreg config edit --from {path}" + (
            f" ({e.hint})" if e.hint else ""
        )
        raise
    path.unlink()
    output.render_config_change(change, "edited")
