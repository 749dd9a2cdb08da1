"""Moving versions between registries with no network between them: ``bundle`` and ``unbundle``."""

from __future__ import annotations

import click

from gitreg.cli import output
from gitreg.cli.app import cli, json_option, open_registry, registry_option


@cli.command()
@click.argument("refs", nargs=-1, required=True)
@click.option("--output", "-o", "out", required=True, metavar="FILE", help="The bundle file to write.")
@registry_option
@json_option
def bundle(refs: tuple[str, ...], out: str, registry: str | None, as_json: bool) -> None:
    """Write versions (NAME: every live version; NAME@vX.Y.Z; NAME#STAGE) and their artifacts to one file.

    The file is a tar with a manifest of sha256 hashes, a git bundle of the versions' tags and
    commits, and each LFS object once; carry it to a registry with no network path and import it
    there with gitreg unbundle.
    """
    output.render_bundle(open_registry(registry).bundle(list(refs), out), as_json)


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@registry_option
@json_option
def unbundle(file: str, registry: str | None, as_json: bool) -> None:
    """Import the versions of a bundle file into this registry, every object and sidecar checked.

    Versions the registry already holds with the same files are skipped; one it holds with other
    files stops the import (versions are immutable). Nothing is written unless everything checks.
    """
    output.render_bundle(open_registry(registry).unbundle(file), as_json)
