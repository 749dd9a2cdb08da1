"""The ``gitreg`` group: the one error wrapper, the options every command shares, and how a command ends.

A ``GitregError`` becomes ``error: …`` (and ``hint: …``) on stderr with the error's exit code — 1 bad
input or registry error, 2 usage, 3 a failed check — and never a traceback unless ``GITREG_DEBUG=1``;
click's own usage errors become the same two lines (the hint names the command's ``--help``), exit 2.
A command whose report can fail (check, verify, parity, gate, validate-sidecar) ends with
:func:`exit_for`, so a failed report and a raised ``GitregError`` are the only two ways to exit 3.
The commands themselves live in the ``commands_*`` modules, which register on :data:`cli` when
:mod:`gitreg.cli` is imported.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import click

from gitreg.cli import output
from gitreg.errors import GitregError, IntegrityError, RuleError

if TYPE_CHECKING:
    from gitreg.registry import Registry

DEBUG = "GITREG_DEBUG"
CHECK_FAILED = IntegrityError.exit_code  # 3: a gate, parity or integrity check failed


class GitregGroup(click.Group):
    """A click group whose commands report ``GitregError``, usage errors (and bugs) as one line, never a traceback."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        try:  # the group's own options: `gitreg --bogus`
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as e:
            usage_failed(e)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as e:  # an unknown command, a command's options or arguments
            usage_failed(e)
        except GitregError as e:
            if os.environ.get(DEBUG):
                raise
            report(e)
            ctx.exit(e.exit_code)
        except KeyboardInterrupt:
            output.error("interrupted; nothing was registered")
            ctx.exit(130)
        except (click.exceptions.Exit, click.Abort, BrokenPipeError):
            raise  # click ends these itself; a closed pipe (`gitreg show … | head`) quietly
        except click.ClickException as e:  # e.g. the editor of `config edit` could not be started
            output.error(one_line(e.format_message()))
            ctx.exit(e.exit_code)
        except Exception as e:  # a bug: still one line, with the way to see more
            if os.environ.get(DEBUG):
                raise
            output.error(one_line(f"internal error: {type(e).__name__}: {e} (set {DEBUG}=1 for the traceback)"))
            ctx.exit(1)


def report(e: GitregError) -> None:
    """``e`` as ``error: …`` and ``hint: …``, each one line whatever text the message echoes.

    Messages quote what the user typed with ``repr``; this is the last defence when one does not: a
    line break in an echoed name would split the error line, and the text after it could pass for a
    ``hint:`` line of gitreg's own. A RuleError's three lines (reason, rule, caret) are its format.
    """
    message = e.message if isinstance(e, RuleError) else one_line(e.message)
    output.error(message, one_line(e.hint) if e.hint else None)


def one_line(text: str) -> str:
    """``text`` with its line breaks written as visible escapes (``\\n``)."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def usage_failed(e: click.UsageError) -> NoReturn:
    """Click's usage error as ``error: …`` plus ``hint: gitreg CMD --help``, exit 2 (click's own code).

    A group called without a command still prints its help, as click does.
    """
    if isinstance(e, getattr(click.exceptions, "NoArgsIsHelpError", ())):
        raise e
    output.usage_error(e.format_message(), e.ctx.command_path if e.ctx is not None else "gitreg")
    raise click.exceptions.Exit(e.exit_code)


def exit_for(report: Any) -> None:
    """End the command with ``report``'s exit code: its own ``exit_code`` when it has one (``gate
    --changed``: 1 for a request that cannot be judged), else 0 when it is ``ok``/``passed`` and 3 when not."""
    code = getattr(report, "exit_code", None)
    if code is None:
        good = report.ok if hasattr(report, "ok") else report.passed
        code = 0 if good else CHECK_FAILED
    if code:
        raise click.exceptions.Exit(code)


def open_registry(url: str | None) -> Registry:
    """The registry ``--registry`` names (``None``: $GITREG_REGISTRY, [tool.gitreg], or the embedded one)."""
    from gitreg.registry import Registry

    return Registry(url)


registry_option = click.option(
    "--registry",
    "-r",
    "registry",
    metavar="PATH|URL",
    help="Registry to use (default: $GITREG_REGISTRY, [tool.gitreg] registry, or the embedded one).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
sign_option = click.option(
    "--sign",
    is_flag=True,
    help="Sign the tag as git tag -s does (your gpg.format and user.signingkey); check with gitreg verify.",
)


@click.group(cls=GitregGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gitreg", message="gitreg %(version)s")
@click.option(
    "--offline",
    is_flag=True,
    help="Contact no registry: read what this machine has cached, refuse writes (as GITREG_OFFLINE=1 does).",
)
@click.pass_context
def cli(ctx: click.Context, offline: bool) -> None:
    """gitreg: a git-native model registry (tags for versions, Git LFS for artifacts)."""
    if offline:
        go_offline(ctx)


def go_offline(ctx: click.Context) -> None:
    """Set ``GITREG_OFFLINE`` for this command (the library reads it), restored when the command ends."""
    from gitreg.store.location import OFFLINE

    before = os.environ.get(OFFLINE)
    os.environ[OFFLINE] = "1"

    def restore() -> None:
        if before is None:
            os.environ.pop(OFFLINE, None)
        else:
            os.environ[OFFLINE] = before

    ctx.call_on_close(restore)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``gitreg`` command (``argv`` without the program name; default: ``sys.argv[1:]``).

    Not click's standalone mode: Ctrl-C while click itself parses (outside any command) would end in
    its "Aborted!" and exit 1; here it is the same ``error: interrupted`` line and 130 as inside one.
    """
    try:
        code = cli.main(args=list(argv) if argv is not None else None, prog_name="gitreg", standalone_mode=False)
    except click.Abort:  # click's name for a KeyboardInterrupt outside a command
        output.error("interrupted; nothing was registered")
        sys.exit(130)
    except click.ClickException as e:
        output.error(one_line(e.format_message()))
        sys.exit(e.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
