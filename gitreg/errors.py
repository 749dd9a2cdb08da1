"""Every failure gitreg reports, as one exception tree.

The library raises these and never prints; the CLI turns them into one ``error:`` line (plus an
optional ``hint:`` naming the next command) and the exception's ``exit_code``::

    GitregError                      exit 1
    ├── UsageError                   exit 2   bad option value the CLI could not catch itself
    ├── InvalidName                  a model or stage name outside the grammar
    ├── InvalidVersion               not semver
    ├── InvalidReference             a REF that is not name / name@latest / name@vX.Y.Z / name#stage
    ├── ModelNotFound
    ├── VersionNotFound
    ├── StageNotFound                no version holds the stage
    ├── VersionExists                versions are immutable
    ├── ArtifactError                missing, unreadable, empty or not-ONNX input file
    ├── MetadataError                bad --metric / --metrics / --param input
    ├── SidecarError                 a model.toml in the registry that cannot be read
    ├── RegistryNotFound             path or URL that is not a gitreg registry
    ├── ConfigError                  a gitreg.toml that does not parse, or a value of the wrong type
    ├── RemoteError                  unreachable remote, rejected push, race retries exhausted
    ├── GitFailed                    a git command failed unexpectedly (argv, code, stderr)
    ├── SigningError                 no usable signing key, or the signing program failed
    ├── IntegrityError               exit 3   sha256 mismatch, missing object, failed check
    ├── DiskFull                     a write met a full filesystem or quota (names it); nothing left behind
    ├── UnsupportedModel             neither a torch module, a scikit-learn estimator nor files
    ├── ExportError                  the exporter could not turn the model into an artifact
    ├── MissingDependency            an optional package this needs is not installed
    ├── InputError                   data that does not fit the model's signature
    ├── ParityFailed                 exit 3   artifacts disagree with the model (carries its report)
    ├── GateFailed                   exit 3   a version failed its stage's gates (carries its report)
    ├── DatasetExists                a dataset name that holds other data (replace with --force)
    ├── StageError                   unknown stage, stage needing a PR, version that cannot hold it
    ├── StageRace                    another promotion of the same stage landed first
    ├── TrainingFailed               the training function of push --from-python raised
    └── RuleError                    a gate rule that does not parse (points at the column)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class GitregError(Exception):
    """Root of gitreg's errors: a user-facing message, an optional hint, an exit code."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(GitregError):
    exit_code = 2


class InvalidName(GitregError):
    pass


class InvalidVersion(GitregError):
    pass


class InvalidReference(GitregError):
    pass


class ModelNotFound(GitregError):
    def __init__(self, name: str) -> None:
        super().__init__(f"model {name!r} is not in the registry", hint="see: gitreg list")
        self.name = name


class VersionNotFound(GitregError):
    def __init__(self, name: str, version: str) -> None:
        super().__init__(f"model '{name}' has no version {version}", hint=f"see: gitreg history {name}")
        self.name = name
        self.version = version


class StageNotFound(GitregError):
    def __init__(self, name: str, stage: str) -> None:
        super().__init__(f"model '{name}' has no version in stage '{stage}'", hint=f"see: gitreg history {name}")
        self.name = name
        self.stage = stage


class VersionExists(GitregError):
    def __init__(self, tag: str) -> None:
        super().__init__(
            f"{tag} already exists and versions are immutable",
            hint="push a new version: use --bump patch|minor|major or another --version",
        )
        self.tag = tag


class ArtifactError(GitregError):
    pass


class MetadataError(GitregError):
    pass


class SidecarError(GitregError):
    pass


class RegistryNotFound(GitregError):
    pass


class ConfigError(GitregError):
    """A registry's ``gitreg.toml`` that is not TOML, or a key holding the wrong type; the message names the key."""


class RemoteError(GitregError):
    pass


class GitFailed(GitregError):
    """A git command failed in a way gitreg did not anticipate; keeps argv and stderr."""

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        last = next((ln for ln in reversed(stderr.strip().splitlines()) if ln.strip()), "")
        super().__init__(f"git {' '.join(argv[1:3])} failed (exit {returncode}): {last or 'no output'}")
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr


class SigningError(GitregError):
    """``--sign`` cannot sign: no key configured, key file missing, the signing program failed."""


class IntegrityError(GitregError):
    exit_code = 3

    def __init__(self, message: str, problems: Sequence[str] = (), hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.problems = list(problems)


class DiskFull(GitregError):
    """A write met a full filesystem (ENOSPC) or an exhausted quota (EDQUOT).

    ``path`` is what was being written, ``mount`` the mount point of the filesystem that is full;
    the writer removed its partial and temporary files before raising this.
    """

    def __init__(self, path: str, mount: str, reason: str = "No space left on device") -> None:
        while_ = f" while writing {path}" if path != mount else ""
        super().__init__(
            f"the filesystem at {mount} is full ({reason}){while_}; nothing was written",
            hint=f"free space there (see: df -h {mount}) and retry",
        )
        self.path = path
        self.mount = mount


class UnsupportedModel(GitregError):
    """The object handed to ``gitreg.push`` is neither a torch module, a scikit-learn estimator nor files."""


class ExportError(GitregError):
    """The exporter (torch.onnx, torch.jit, skl2onnx) could not turn the model into an artifact."""


class MissingDependency(GitregError):
    """An optional package (torch, skl2onnx, …) is needed for this and is not installed."""

    def __init__(self, package: str, extra: str, why: str) -> None:
        super().__init__(f"{why} needs {package}, which is not installed", hint=f"pip install 'gitreg[{extra}]'")


class InputError(GitregError):
    """Data handed to a model does not fit its signature (rank, feature count, dtype)."""


class ParityFailed(GitregError):
    """Exported artifacts disagree with the original model (or each other) beyond the tolerances.

    ``report`` is the :class:`gitreg.ml.parity.Report` that failed (None when no comparison ran).
    """

    exit_code = 3

    def __init__(self, message: str, hint: str | None = None, report: Any = None) -> None:
        super().__init__(message, hint=hint)
        self.report = report


class GateFailed(GitregError):
    """A version did not pass its stage's gates; ``report`` is the :class:`GateReport` that says why."""

    exit_code = 3

    def __init__(self, message: str, hint: str | None = None, report: Any = None) -> None:
        super().__init__(message, hint=hint)
        self.report = report


class DatasetExists(GitregError):
    """A dataset name that already holds other data: replacing it needs ``--force``."""


class StageError(GitregError):
    """An unknown stage, a stage that needs a pull request, a version that cannot hold a stage."""


class StageRace(GitregError):
    """Another promotion of the same stage landed first."""


class TrainingFailed(GitregError):
    """The user's training function (``push --from-python``) raised."""


_RULE_SHOWN = 40  # a RuleError shows up to twice this many characters of the rule


class RuleError(GitregError):
    """A gate rule that does not parse or names something gates cannot read; the message points at the column.

    The message is three lines (reason, the rule, a caret under ``column``) so the CLI's ``error:`` line
    shows where the rule goes wrong.
    """

    def __init__(self, rule: str, column: int, reason: str, kind: str = "syntax error") -> None:
        shown = "".join(" " if c.isspace() else c for c in rule)  # tabs and newlines would shift the caret
        caret = column
        if len(shown) > 2 * _RULE_SHOWN:  # a long rule is shown around the column, not whole
            start = max(0, min(column - _RULE_SHOWN, len(shown) - 2 * _RULE_SHOWN))
            head, tail = ("..." if start else ""), ("..." if start + 2 * _RULE_SHOWN < len(shown) else "")
            shown = head + shown[start : start + 2 * _RULE_SHOWN] + tail
            caret = column - start + len(head)
        super().__init__(
            f"gate rule {kind}: {reason}\n  {shown}\n  {' ' * caret}^",
            hint="a rule compares dotted names and numbers, e.g. eval.accuracy >= 0.95 and parity.passed",
        )
        self.rule = rule
        self.column = column
        self.reason = reason


def first_line(e: BaseException) -> str:
    """One line for a third-party exception (runtimes raise pages; some raise none: then its type)."""
    text = str(e).strip()
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), type(e).__name__)
