"""The registry's GitHub Actions workflow: render the shipped template and commit it to ``main``.

``gitreg init --github`` writes ``.github/workflows/gitreg.yml`` into the registry repo:
gates on pull requests that change ``stages.toml``, ``gitreg apply`` + ``gitreg check`` on a merge,
``gitreg check`` on pushed tags. The template lives in ``gitreg/templates/github/`` inside the
wheel; rendering pins the ``pip install`` to the gitreg that wrote it, so CI judges with the same
rules the author saw — or to the ``--pip-spec`` chosen once, which running it again keeps. The file
goes on ``main`` as one plain-blob commit through the registry's normal push path (server hook
included), and only when it differs from what is there.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import TYPE_CHECKING

from gitreg.errors import UsageError

if TYPE_CHECKING:
    from gitreg.registry.registry import Registry

WORKFLOW_PATH = ".github/workflows/gitreg.yml"
TEMPLATE = "templates/github/workflows/gitreg.yml"
_PLACEHOLDER = "@GITREG_VERSION@"
_INSTALL = re.compile(r'python -m pip install "([^"]+)"')


def gitreg_version() -> str:
    """The installed gitreg's version (what the rendered workflow installs)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gitreg")
    except PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


def template_text() -> str:
    """The workflow template as shipped in the package."""
    return resources.files("gitreg").joinpath(TEMPLATE).read_text(encoding="utf-8")


def render(pip_spec: str | None = None) -> str:
    """The workflow text; it installs ``pip_spec`` (default ``gitreg==<this version>``).

    ``pip_spec`` is for installing gitreg from somewhere other than PyPI (a wheel URL, ``git+https``).
    """
    version = gitreg_version()
    spec = pip_spec if pip_spec is not None else f"gitreg=={version}"
    if not spec.strip() or any(c in spec for c in "\"'`$\\\n\r"):
        raise UsageError(
            f"invalid --pip-spec {spec!r}: give one pip requirement without quotes, '$' or newlines",
            hint="e.g. --pip-spec 'gitreg @ https://example.org/gitreg-0.1.0-py3-none-any.whl'",
        )
    text = template_text().replace(f'"gitreg=={_PLACEHOLDER}"', f'"{spec}"')
    return text.replace(_PLACEHOLDER, version)


def chosen_spec(text: str | None) -> str | None:
    """The pip spec a workflow file written by ``init --github --pip-spec`` installs; None when it
    installs the gitreg that wrote it (``gitreg==<the version in its first line>``) or is not ours."""
    if not text:
        return None
    written_by = re.search(r"\(gitreg ([^)\s]+)\); run it again", text.split("\n", 1)[0])
    found = _INSTALL.search(text)
    if found is None:
        return None
    spec = found.group(1)
    return None if written_by is not None and spec == f"gitreg=={written_by.group(1)}" else spec


def kept_spec(registry: Registry) -> str | None:
    """The pip spec the registry's workflow was given with ``--pip-spec`` (see :func:`chosen_spec`)."""
    raw = registry.read_file(WORKFLOW_PATH)
    return chosen_spec(raw.decode("utf-8", errors="replace")) if raw is not None else None


def install(registry: Registry, pip_spec: str | None = None) -> str | None:
    """Commit the rendered workflow to the registry's ``main``; the commit, or None if already there.

    Without ``pip_spec``, a spec chosen earlier with ``--pip-spec`` is kept (:func:`kept_spec`);
    otherwise the workflow installs this gitreg. On GitHub over HTTPS the pushing token needs the
    ``workflow`` scope (GitHub refuses workflow files otherwise; ``gh auth refresh -s workflow``),
    or push over SSH.
    """
    spec = pip_spec if pip_spec is not None else kept_spec(registry)
    return registry.commit_files({WORKFLOW_PATH: render(spec)}, f"gitreg: write {WORKFLOW_PATH}")
