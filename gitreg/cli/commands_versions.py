"""Versions: ``init``, ``push``, ``list``, ``show``, ``history``, ``pull``, ``deprecate``, ``check``,
``verify`` and ``validate-sidecar``.

Each command parses its options, calls one library function and hands the result to
:mod:`gitreg.cli.output`. Library modules are imported inside the commands, so ``gitreg list``
starts without loading what ``gitreg push`` needs.
"""

from __future__ import annotations

from typing import Any

import click

from gitreg.cli import output
from gitreg.cli.app import cli, exit_for, json_option, open_registry, registry_option, sign_option
from gitreg.errors import UsageError


@cli.command()
@click.option(
    "--github", is_flag=True, help="Also commit .github/workflows/gitreg.yml (gates on PRs, apply on merge) to main."
)
@click.option(
    "--pip-spec",
    metavar="SPEC",
    help="What the workflow pip-installs (default: the spec given before, else gitreg==this version).",
)
@click.option(
    "--pages",
    is_flag=True,
    help="With --github: also commit .github/workflows/gitreg-pages.yml (the registry's site on GitHub Pages).",
)
@registry_option
def init(github: bool, pip_spec: str | None, pages: bool, registry: str | None) -> None:
    """Create a registry (a bare git repo with LFS); does nothing if it exists."""
    if pip_spec is not None and not github:
        raise UsageError("--pip-spec goes with --github")
    if pages and not github:
        raise UsageError("--pages goes with --github", hint="gitreg init --github --pages")
    reg = open_registry(registry)
    if github:
        from gitreg.workflow import github as gh

        gh.render(pip_spec)  # a bad --pip-spec fails before anything is created
    output.render_init(reg.init(), reg.url)
    if github:
        kept = gh.kept_spec(reg) if pip_spec is None else None
        written = ", ".join(gh.paths(reg, pages))
        output.render_workflow(written, gh.install(reg, pip_spec if kept is None else kept, pages=pages), kept)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--name", "-n", required=True, help="Model name: lower-case letters, digits, '-', '_'.")
@click.option(
    "--from-python",
    "from_python",
    metavar="MODULE:FUNCTION",
    help="Call FUNCTION (in a module or a .py file) for a model to export, or a dict of gitreg.push arguments.",
)
@click.option("--script", is_flag=True, help="TorchScript by torch.jit.script instead of trace (with --from-python).")
@click.option(
    "--allow-parity-failure",
    is_flag=True,
    help="Register even if the parity check fails (the artifacts disagree; recorded as passed = false).",
)
@click.option(
    "--example-inputs",
    "example_inputs",
    type=click.Path(),
    metavar="FILE",
    help="Input rows (.npy, .npz X, .csv) for the export (--from-python) and the parity check.",
)
@click.option(
    "--task",
    type=click.Choice(["classification", "regression"]),
    help="What the model does (default: read from the ONNX outputs, or from the exported model).",
)
@click.option(
    "--classes",
    metavar="A,B,…|@FILE",
    help="Class labels in output-column order: a comma list, or @FILE with one per line.",
)
@click.option(
    "--output",
    "output_name",
    metavar="NAME",
    help="The graph output that is the prediction (files: which one; --from-python: its name).",
)
@click.option(
    "--dynamic",
    "dynamic",
    multiple=True,
    metavar="INPUT:AXIS=NAME",
    help="With --from-python (torch): declare a dynamic axis beyond the batch, e.g. input_ids:1=seq (repeatable).",
)
@click.option("--version", "version", help="Version to register, e.g. 1.2.0 (versions are immutable).")
@click.option(
    "--bump",
    type=click.Choice(["major", "minor", "patch"]),
    help="Bump the latest version (default: minor with metrics, else patch; first is 1.0.0).",
)
@click.option("--metric", "metric", multiple=True, metavar="KEY=NUMBER", help="A metric (repeatable).")
@click.option("--metrics", "metrics_file", type=click.Path(), help="JSON or TOML file of metrics.")
@click.option("--param", "param", multiple=True, metavar="KEY=VALUE", help="A hyperparameter (repeatable).")
@click.option("--label", "label", multiple=True, metavar="KEY=VALUE", help="A label (repeatable).")
@click.option("--description", "-d", help="What this version is.")
@click.option("--parent", metavar="REF", help="The model version this one was derived from.")
@click.option("--data", "data", multiple=True, type=click.Path(), help="Data file to fingerprint into lineage.")
@click.option(
    "--file",
    "files",
    multiple=True,
    type=click.Path(),
    help="A file the model needs (tokenizer, label map; a folder: every file in it), versioned with it (repeatable).",
)
@sign_option
@registry_option
@json_option
def push(
    paths: tuple[str, ...],
    name: str,
    from_python: str | None,
    script: bool,
    allow_parity_failure: bool,
    version: str | None,
    bump: str | None,
    metric: tuple[str, ...],
    metrics_file: str | None,
    param: tuple[str, ...],
    label: tuple[str, ...],
    description: str | None,
    parent: str | None,
    data: tuple[str, ...],
    files: tuple[str, ...],
    example_inputs: str | None,
    task: str | None,
    classes: str | None,
    output_name: str | None,
    dynamic: tuple[str, ...],
    sign: bool,
    registry: str | None,
    as_json: bool,
) -> None:
    """Register a new version of a model: exported artifacts (.onnx, TorchScript .pt), or a live
    model returned by --from-python, which is exported first. Either way parity is checked before
    anything is written: the export against the model, TorchScript against ONNX, or an ONNX file
    on its own (whole batch vs slices, output shapes); exit 3 when it fails. Pushing to a
    deprecated model un-deprecates it (GTO's rule; see gitreg deprecate --help)."""
    from gitreg import api
    from gitreg.cli.progress import progress
    from gitreg.ml import metadata

    metrics: dict[str, float] = {}
    if metrics_file:
        metrics.update(metadata.metrics_from_file(metrics_file))
    metrics.update(metadata.metrics_from_pairs(metric))
    params = {k: metadata.parse_scalar(v) for k, v in metadata.parse_pairs(param, "param").items()}
    labels = metadata.parse_pairs(label, "label")
    if bool(paths) == bool(from_python):
        raise UsageError("give artifact PATHS or --from-python MODULE:FUNCTION (one of them)")
    options: dict[str, Any] = dict(
        version=version, bump=bump, description=description, parent=parent, data=list(data), files=list(files)
    )
    meaning: dict[str, Any] = dict(
        task=task,
        class_names=metadata.parse_classes(classes) if classes is not None else None,
        output_names=[output_name] if output_name else None,
    )
    if dynamic:
        if not from_python:
            raise UsageError("--dynamic applies to --from-python (a file's dynamic axes are in the file)")
        meaning["dynamic"] = metadata.parse_dynamic(dynamic)
    if from_python:
        from gitreg.ml import frompython

        model, kwargs = frompython.push_arguments(
            from_python,
            example_inputs=example_inputs,
            data=list(data),
            metrics=metrics,
            params=params,
            labels=labels,
            options={**options, **meaning, "registry": registry},
            script=script,
            allow_parity_failure=allow_parity_failure,
            sign=sign,
        )
        with progress(not as_json):
            mv = api.push(model, name, **kwargs)
    else:
        if script:
            raise UsageError("--script applies to --from-python (live models)")
        from gitreg.ml.predictor import read_array_file

        rows = read_array_file(example_inputs)[0] if example_inputs else None
        with progress(not as_json):
            mv = api.push(
                list(paths),
                name,
                example_inputs=rows,
                metrics=metrics,
                params=params,
                labels=labels,
                sign=sign,
                allow_parity_failure=allow_parity_failure,
                registry=registry,
                **meaning,
                **options,
            )
    output.render_pushed(mv, as_json)


at_option = click.option(
    "--at",
    metavar="WHEN",
    help="As the registry was then: a date/time (2026-11-03 14:00, local unless a zone is given), "
    "@EPOCH or a registry commit.",
)


@cli.command(name="list")
@click.argument("name", required=False)
@at_option
@registry_option
@json_option
def list_(name: str | None, at: str | None, registry: str | None, as_json: bool) -> None:
    """List models, or the versions of NAME (--at: as they were then)."""
    reg = open_registry(registry)
    if name is None:
        output.render_models(reg.list(at=at), as_json)
    else:
        output.render_versions(reg.versions(name, at=at), as_json)


@cli.command()
@click.argument("ref")
@at_option
@registry_option
@json_option
def show(ref: str, at: str | None, registry: str | None, as_json: bool) -> None:
    """Show one version (REF: NAME, NAME@latest, NAME@vX.Y.Z or NAME#STAGE) and its sidecar.

    With --at, the version REF named then: gitreg show digits#production --at "2026-11-03 14:00".
    """
    output.render_version(open_registry(registry).show(ref, at=at), as_json)


@cli.command()
@click.argument("name")
@click.option("--since", metavar="WHEN", help="Only events at or after WHEN (a date/time, @EPOCH or a commit).")
@click.option("--until", metavar="WHEN", help="Only events at or before WHEN.")
@click.option("--stage", metavar="STAGE", help="Only this stage's events (assignments, unassignments).")
@registry_option
@json_option
def history(
    name: str, since: str | None, until: str | None, stage: str | None, registry: str | None, as_json: bool
) -> None:
    """Registrations, stage changes (forced ones with their reasons), deprecations and evaluations of
    NAME, oldest first."""
    events = open_registry(registry).history(name, since=since, until=until, stage=stage)
    output.render_history(events, as_json)


@cli.command()
@click.argument("ref")
@click.option(
    "--output", "-o", "dest", type=click.Path(file_okay=False), help="Folder to write into (default: ./NAME)."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["all", "onnx", "torchscript", "files"]),
    default="all",
    show_default=True,
    help="Which artifacts to fetch (onnx comes with its external data files; files: the files the model needs).",
)
@at_option
@registry_option
@json_option
def pull(ref: str, dest: str | None, fmt: str, at: str | None, registry: str | None, as_json: bool) -> None:
    """Fetch one version's artifacts, verified against their sha256; nothing else is downloaded.

    With --at, the version REF named then (the production model of last Tuesday).
    """
    from gitreg.cli.progress import progress

    with progress(not as_json):
        pulled = open_registry(registry).pull(ref, dest, format=fmt, at=at)
    output.render_pulled(pulled, as_json)


@cli.command()
@click.argument("ref")
@registry_option
@json_option
def deprecate(ref: str, registry: str | None, as_json: bool) -> None:
    """Deprecate NAME, deregister NAME@vX.Y.Z, or unassign NAME#STAGE (GTO's forms).

    As in GTO, a model is deprecated while the deprecation is its newest event: a later push or
    promotion un-deprecates it (gitreg list shows it live again).
    """
    output.render_event(open_registry(registry).deprecate(ref), as_json)


@cli.command()
@click.option(
    "--deep",
    is_flag=True,
    help="HTTP registries: download every artifact object and hash it (default: ask the LFS server it has them).",
)
@registry_option
@json_option
def check(deep: bool, registry: str | None, as_json: bool) -> None:
    """Verify every version: sidecars, pointers, and every artifact's presence and sha256."""
    report = open_registry(registry).check(deep=deep)
    output.render_check(report, as_json)
    exit_for(report)


@cli.command(name="validate-sidecar")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@json_option
def validate_sidecar(files: tuple[str, ...], as_json: bool) -> None:
    """Validate model.toml files in a registry checkout against the artifacts beside them (pre-commit)."""
    from gitreg.store.checkout import validate_sidecars

    result = validate_sidecars(files)
    output.render_sidecar_check(result, as_json)
    exit_for(result)


@cli.command()
@click.argument("ref")
@click.option(
    "--allow-unsigned", is_flag=True, help="Accept an unsigned tag with a warning (a bad signature still fails)."
)
@click.option(
    "--allowed-signers",
    type=click.Path(exists=True, dir_okay=False),
    metavar="FILE",
    help="ssh allowed signers file (default: git config gpg.ssh.allowedSignersFile).",
)
@registry_option
@json_option
def verify(ref: str, allow_unsigned: bool, allowed_signers: str | None, registry: str | None, as_json: bool) -> None:
    """Check REF offline: who signed its tag, the sidecar against the LFS pointers, the local
    artifact bytes against their sha256. Exit 3 if anything fails; never downloads."""
    report = open_registry(registry).verify(ref, allow_unsigned=allow_unsigned, allowed_signers=allowed_signers)
    output.render_verify(report, as_json)
    exit_for(report)
