"""The registry's GitHub Actions workflow: render the shipped template and commit it to ``main``.

``gitreg init --github`` writes ``.github/workflows/gitreg.yml`` into the registry repo:
gates on pull requests that change ``stages.toml``, ``gitreg apply`` + ``gitreg check`` on a merge,
``gitreg check`` on pushed tags. The template lives in ``gitreg/templates/github/`` inside the
wheel; rendering pins the ``pip install`` to the gitreg that wrote it, so CI judges with the same
rules the author saw — or to the ``--pip-spec`` chosen once, which running it again keeps. The file
goes on ``main`` as one plain-blob commit through the registry's normal push path (server hook
included), and only when it differs from what is there.

``init --github --pages`` adds ``.github/workflows/gitreg-pages.yml`` (:data:`PAGES_TEMPLATE`): on
every push to ``main`` (and after the gitreg workflow, whose ``apply`` pushes stage tags that start
no run of their own) it builds ``gitreg site`` from a mirror clone of the registry and deploys it
with the official ``actions/upload-pages-artifact`` and ``actions/deploy-pages``, pinned by commit.
It is opt-in: Pages must be switched on in the repository's settings (source: GitHub Actions) or
every deploy fails, and a Pages site of a private registry may be readable by more people than the
repository is. Once written it is kept up to date by every later ``init --github``.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import TYPE_CHECKING

from gitreg.errors import UsageError

if TYPE_CHECKING:
    from gitreg.registry.registry import Registry

WORKFLOW_PATH = ".github/workflows/gitreg.yml"
PAGES_PATH = ".github/workflows/gitreg-pages.yml"
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


def render(pip_spec: str | None = None, pages: bool = False) -> str:
    """The workflow text; it installs ``pip_spec`` (default ``gitreg==<this version>``).

    ``pip_spec`` is for installing gitreg from somewhere other than PyPI (a wheel URL, ``git+https``).
    ``pages``: the GitHub Pages workflow (:data:`PAGES_PATH`) instead of the registry's CI.
    """
    version = gitreg_version()
    spec = pip_spec if pip_spec is not None else f"gitreg=={version}"
    if not spec.strip() or any(c in spec for c in "\"'`$\\\n\r"):
        raise UsageError(
            f"invalid --pip-spec {spec!r}: give one pip requirement without quotes, '$' or newlines",
            hint="e.g. --pip-spec 'gitreg @ https://example.org/gitreg-0.1.0-py3-none-any.whl'",
        )
    text = (PAGES_TEMPLATE if pages else template_text()).replace(f'"gitreg=={_PLACEHOLDER}"', f'"{spec}"')
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


def install(registry: Registry, pip_spec: str | None = None, pages: bool = False) -> str | None:
    """Commit the rendered workflow to the registry's ``main``; the commit, or None if already there.

    Without ``pip_spec``, a spec chosen earlier with ``--pip-spec`` is kept (:func:`kept_spec`);
    otherwise the workflow installs this gitreg. ``pages`` adds the GitHub Pages workflow in the
    same commit; one written before is updated either way. On GitHub over HTTPS the pushing token
    needs the ``workflow`` scope (GitHub refuses workflow files otherwise; ``gh auth refresh -s
    workflow``), or push over SSH.
    """
    spec = pip_spec if pip_spec is not None else kept_spec(registry)
    files = {path: render(spec, pages=path == PAGES_PATH) for path in paths(registry, pages)}
    return registry.commit_files(files, f"gitreg: write {', '.join(files)}")


def paths(registry: Registry, pages: bool = False) -> list[str]:
    """The workflow files :func:`install` writes: the CI, and the Pages one when asked or already there."""
    with_pages = pages or registry.read_file(PAGES_PATH) is not None
    return [WORKFLOW_PATH, PAGES_PATH] if with_pages else [WORKFLOW_PATH]


# The Pages workflow. Same conventions as the CI template: nothing granted by default, each job only
# what it needs (build: contents read; deploy: pages + id-token write, nothing else), actions pinned
# by commit, no expression pasted into a script. upload-pages-artifact v3.0.1 and deploy-pages
# v4.0.5 are the commits their tags name in github.com/actions (checked with `git rev-parse`).
PAGES_TEMPLATE = """\
# gitreg registry site: written by `gitreg init --github --pages` (gitreg @GITREG_VERSION@); run it again to update.
#
# Builds `gitreg site` (an index of models, a page per model and per version: stage timeline, metrics
# across versions, model cards, diffs) and deploys it to GitHub Pages. Runs on every push to main and
# of a tag, and after each run of the gitreg workflow (its `apply` pushes stage tags with the job's
# token, which start no workflow run themselves). Pages must use "GitHub Actions" as its source
# (Settings > Pages). The site is read from a mirror clone of this repository (tags, main and gitreg's
# evaluation records; no LFS objects); the job's token reaches git only through a credential helper
# in GIT_CONFIG_* variables, and only in the clone step.
name: gitreg site

on:
  push:
    branches: [main]
    tags: ["**"]
  workflow_run:
    workflows: [gitreg]
    types: [completed]
  workflow_dispatch:

permissions: {}

defaults:
  run:
    shell: bash

env:
  GITREG_REGISTRY: ${{ github.server_url }}/${{ github.repository }}.git
  PIP_DISABLE_PIP_VERSION_CHECK: "1"

concurrency:
  group: gitreg-pages
  cancel-in-progress: false

jobs:
  build:
    name: build the site
    if: github.event_name != 'workflow_run' || github.event.workflow_run.event == 'push'
    runs-on: ubuntu-latest
    timeout-minutes: 30
    permissions:
      contents: read
    steps:
      - name: Check out this workflow (the pip cache key)
        uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1
        with:
          lfs: false
          persist-credentials: false
          sparse-checkout: .github/workflows/gitreg-pages.yml
          sparse-checkout-cone-mode: false
      - name: Set up Python
        uses: actions/setup-python@5fda3b95a4ea91299a34e894583c3862153e4b97 # v7.0.0
        with:
          python-version: "3.11"
          cache: pip
          cache-dependency-path: .github/workflows/gitreg-pages.yml
      - name: Install gitreg (onnxruntime, no torch)
        run: python -m pip install "gitreg==@GITREG_VERSION@"
      - name: Mirror the registry (refs and sidecars; no LFS objects)
        env:
          GITREG_TOKEN: ${{ github.token }}
          GIT_CONFIG_COUNT: "1"
          GIT_CONFIG_KEY_0: credential.${{ github.server_url }}.helper
          GIT_CONFIG_VALUE_0: '!f() { if [ "$1" = get ]; then echo username=x-access-token; echo "password=$GITREG_TOKEN"; fi; }; f'
        run: git clone --quiet --mirror "$GITREG_REGISTRY" "$RUNNER_TEMP/registry.git"
      - name: Build the site
        run: gitreg site -o "$RUNNER_TEMP/site" --registry "$RUNNER_TEMP/registry.git"
      - name: Upload it for Pages
        uses: actions/upload-pages-artifact@56afc609e74202658d3ffba0e8f6dda462b719fa # v3.0.1
        with:
          path: ${{ runner.temp }}/site

  deploy:
    name: deploy to GitHub Pages
    needs: build
    runs-on: ubuntu-latest
    timeout-minutes: 10
    permissions:
      pages: write
      id-token: write
    environment:
      name: github-pages
      url: ${{ steps.deployment.outputs.page_url }}
    steps:
      - name: Deploy
        id: deployment
        uses: actions/deploy-pages@d6db90164ac5ed86f2b6aed7e0febac5b3c0c03e # v4.0.5
"""  # noqa: E501  (the credential helper is one line of shell, as in the CI template)
