"""The registry to look at: ``site`` (a static web site of it) and ``ui`` (that site served locally).

Both call :mod:`gitreg.workflow.site`; the library is imported inside the commands, so other
commands start without it.
"""

from __future__ import annotations

import time

import click

from gitreg.cli import output
from gitreg.cli.app import cli, json_option, open_registry, registry_option


@cli.command()
@click.option(
    "--output",
    "-o",
    "out",
    required=True,
    type=click.Path(file_okay=False),
    metavar="DIR",
    help="Folder to write the site into: new, empty, or an earlier site (then only changed models are rewritten).",
)
@click.option("--full", is_flag=True, help="Render every model again, not only those whose tags changed.")
@registry_option
@json_option
def site(out: str, full: bool, registry: str | None, as_json: bool) -> None:
    """Write a static web site of the registry (index, a page per model and per version); prints its index.html."""
    from gitreg.workflow import site as site_mod

    if not out:
        raise click.BadParameter("empty folder name", param_hint="'--output'")
    report = site_mod.build(open_registry(registry), out, full=full)
    if as_json:
        output.emit_json(report.to_dict())
        return
    output.echo(report.index)
    output.echo(
        f"{report.models} model(s), {report.versions} version(s); rebuilt {len(report.rebuilt)} model(s), "
        f"{report.pages} page(s) written, {report.bytes} bytes in {report.seconds:.2f} s",
        err=True,
    )


@cli.command()
@click.option(
    "--port",
    "-p",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port on 127.0.0.1 (0: any free port).",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.2),
    default=2.0,
    show_default=True,
    metavar="SECONDS",
    help="How often to look for registry changes (a remote registry: at least every 30 s).",
)
@registry_option
def ui(port: int, interval: float, registry: str | None) -> None:
    """Serve the registry's site on 127.0.0.1, rebuilt when the registry changes; prints the URL (Ctrl-C stops)."""
    from gitreg.workflow import site as site_mod

    viewer = site_mod.Viewer(open_registry(registry), port=port, interval=interval)
    viewer.start()
    try:
        output.echo(viewer.url)
        output.echo("serving the registry's site; Ctrl-C stops", err=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        output.echo("stopped", err=True)
    finally:
        viewer.stop()
