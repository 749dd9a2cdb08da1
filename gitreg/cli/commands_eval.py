"""Looking at what a model does: ``parity``, ``predict``, ``eval``, ``report``, ``card``, ``diff`` and
``dataset push|list|show``.

``parity``, ``predict``, ``eval`` and ``report`` load onnxruntime, torch or matplotlib through the
library when they run, never when the CLI is imported.
"""

from __future__ import annotations

import click

from gitreg.cli import output
from gitreg.cli.app import cli, exit_for, json_option, open_registry, registry_option


@cli.command()
@click.argument("ref")
@click.option(
    "--data",
    type=click.Path(),
    help="Inputs: .npy, .npz (X, or one array per input name), .csv or .parquet (default: seeded random inputs).",
)
@registry_option
@json_option
def parity(ref: str, data: str | None, registry: str | None, as_json: bool) -> None:
    """Re-check a stored version: TorchScript (torch) against ONNX (onnxruntime); exit 3 on failure."""
    from gitreg import api

    mv, report = api.check_parity(ref, data, registry=registry)
    output.render_parity(mv, report, as_json)
    exit_for(report)


@cli.command()
@click.argument("ref")
@click.option(
    "--data",
    required=True,
    type=click.Path(),
    help="Inputs: .npy, .npz (X, or one array per input name), .csv or .parquet (columns by name).",
)
@click.option("--target", metavar="COLUMN", help="CSV column holding labels (dropped from the inputs).")
@click.option(
    "--runtime",
    type=click.Choice(["onnxruntime", "torchscript"]),
    default="onnxruntime",
    show_default=True,
    help="Run the ONNX file under onnxruntime, or the TorchScript file under torch.",
)
@click.option(
    "--proba",
    is_flag=True,
    help="Print class probabilities instead of labels (the model's own, or softmax over its logits).",
)
@click.option(
    "--output", "-o", "output_path", type=click.Path(), help="Write predictions to this CSV file instead of stdout."
)
@registry_option
@json_option
def predict(
    ref: str,
    data: str,
    target: str | None,
    runtime: str,
    proba: bool,
    output_path: str | None,
    registry: str | None,
    as_json: bool,
) -> None:
    """Predict with a registered model on a data file (a quick check; use gitreg.load in code)."""
    from gitreg import api
    from gitreg.ml.predictor import read_array_file

    x, _ = read_array_file(data, target)
    preds = api.predict(ref, x, runtime=runtime, proba=proba, registry=registry)
    output.render_predictions(preds, as_json, output_path)


@cli.command()
@click.argument("a")
@click.argument("b")
@registry_option
@json_option
def diff(a: str, b: str, registry: str | None, as_json: bool) -> None:
    """Compare two versions: metrics, params, signature (breaking?), artifacts, lineage."""
    from gitreg.core import diff as diff_mod

    reg = open_registry(registry)
    va, vb = reg.show(a), reg.show(b)
    d = diff_mod.diff(
        va.ref, va.sidecar.to_dict() if va.sidecar else {}, vb.ref, vb.sidecar.to_dict() if vb.sidecar else {}
    )
    output.render_diff(d, as_json)


@cli.command(name="eval")
@click.argument("ref")
@click.option(
    "--data",
    required=True,
    help="Labelled data: .npz (X or one array per input, and y), .csv/.parquet with --target, or datasets/NAME.npz.",
)
@click.option("--target", metavar="COLUMN", help="CSV column holding labels.")
@click.option("--report", "report_path", type=click.Path(), help="Write a self-contained HTML report here.")
@click.option(
    "--record", is_flag=True, help="Keep the result with the version ([evaluation] in a new commit; the tag stays)."
)
@registry_option
@json_option
def eval_(
    ref: str,
    data: str,
    target: str | None,
    report_path: str | None,
    record: bool,
    registry: str | None,
    as_json: bool,
) -> None:
    """Evaluate REF's ONNX artifact under onnxruntime (large vectorised batches)."""
    from gitreg import api

    recorded = None
    if record:
        mv, ev, recorded = api.record_evaluation(ref, data, target, registry=registry)
    else:
        mv, ev = api.evaluate(ref, data, target, registry=registry)
    if report_path:
        from gitreg.ml import report
        from gitreg.store.files import atomic_write

        atomic_write(report_path, report.html_report(mv.ref, ev, mv.sidecar.to_dict() if mv.sidecar else {}))
    output.render_evaluation(mv, ev, as_json, report_path, recorded)


@cli.command(name="report")
@click.argument("a")
@click.argument("b")
@click.option("--data", required=True, help="Labelled data both versions are evaluated on.")
@click.option("--target", metavar="COLUMN", help="CSV column holding labels.")
@click.option("--output", "-o", "output_path", required=True, type=click.Path(), help="The HTML file to write.")
@registry_option
@json_option
def report_(
    a: str, b: str, data: str, target: str | None, output_path: str, registry: str | None, as_json: bool
) -> None:
    """Compare two versions side by side in one HTML page (metric deltas, confusion difference)."""
    from gitreg import api
    from gitreg.ml import report
    from gitreg.store.files import atomic_write

    reg = open_registry(registry)
    va, ea = api.evaluate(a, data, target, registry=reg)
    vb, eb = api.evaluate(b, data, target, registry=reg)
    page = report.html_compare(
        va.ref, ea, va.sidecar.to_dict() if va.sidecar else {}, vb.ref, eb, vb.sidecar.to_dict() if vb.sidecar else {}
    )
    atomic_write(output_path, page)
    output.render_compared(va, ea, vb, eb, output_path, as_json)


@cli.command()
@click.argument("ref")
@registry_option
@json_option
def card(ref: str, registry: str | None, as_json: bool) -> None:
    """Print REF's model card (Hugging Face-style README.md from its sidecar); --json adds its metadata."""
    from gitreg import api

    if not as_json:
        output.render_text(api.model_card(ref, registry=registry))
        return
    from gitreg.core.card import front_matter

    reg = open_registry(registry)
    mv = reg.show(ref)
    markdown = api.model_card(mv.ref, registry=reg)  # refuses a version without a sidecar of its own
    output.render_card(mv.ref, front_matter(mv.sidecar.to_dict() if mv.sidecar else {}, mv.ref), markdown, True)


@cli.group()
def dataset() -> None:
    """Evaluation datasets stored in the registry (datasets/NAME.npz, Git LFS)."""


@dataset.command(name="push")
@click.argument("file", type=click.Path())
@click.option("--name", "-n", required=True, help="Dataset name: lower-case letters, digits, '-', '_'.")
@click.option("--force", is_flag=True, help="Replace a dataset of that name that holds other data.")
@registry_option
@json_option
def dataset_push(file: str, name: str, force: bool, registry: str | None, as_json: bool) -> None:
    """Store an .npz (arrays X and y) as datasets/NAME.npz for gates and gitreg eval."""
    output.render_dataset(name, open_registry(registry).push_dataset(file, name, force=force), as_json)


@dataset.command(name="list")
@registry_option
@json_option
def dataset_list(registry: str | None, as_json: bool) -> None:
    """Every dataset in the registry with its rows, size and sha256."""
    output.render_datasets(open_registry(registry).datasets(), as_json)


@dataset.command(name="show")
@click.argument("name")
@registry_option
@json_option
def dataset_show(name: str, registry: str | None, as_json: bool) -> None:
    """One dataset's fingerprint: path, rows, arrays, size, sha256, source file."""
    output.render_dataset_detail(open_registry(registry).dataset(name), as_json)
