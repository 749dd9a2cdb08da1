"""The server-side ``pre-receive`` hook: the registry's last line of defence.

Installed by ``gitreg init`` into a bare registry as a two-line shim that runs
``python -m gitreg hook pre-receive`` with the interpreter gitreg was installed in. Rules, each
named in the rejection message the pusher sees as ``remote:`` lines:

* ``immutable-tag``: registry tags (versions, stage events, deprecations) are never deleted or moved;
* ``lfs-required``: no plain blob above ``[limits] max_plain_blob_bytes`` under ``models/`` or ``datasets/``;
* ``lfs-object-missing``: every LFS pointer pushed under ``models/``/``datasets/`` has its object in
  this repo's ``lfs/objects`` (file-transfer registries, ``gitreg.localLfs = true``);
* ``sidecar``: every pushed ``models/*/model.toml`` parses as a sidecar.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterable
from pathlib import Path

from gitreg import lfs
from gitreg import sidecar as sidecar_mod
from gitreg.config import RegistryConfig
from gitreg.errors import GitregError
from gitreg.git import ZERO, Git
from gitreg.refs import parse_tag

SHIM = """#!/bin/sh
# gitreg: keeps registry versions immutable and artifacts in LFS (installed by `gitreg init`).
exec {python} -m gitreg hook pre-receive
"""


def install(git_dir: Path) -> Path:
    """Write ``hooks/pre-receive`` into a bare registry (replacing an earlier gitreg shim)."""
    hooks = git_dir / "hooks"
    hooks.mkdir(exist_ok=True)
    path = hooks / "pre-receive"
    tmp = hooks / f".pre-receive.{os.getpid()}.tmp"
    tmp.write_text(SHIM.format(python=_quote(sys.executable)))
    tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    os.replace(tmp, path)
    return path


def _quote(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


def pre_receive(lines: Iterable[str], git: Git) -> list[str]:
    """Check one push (``old new ref`` lines from stdin); return the rejection messages."""
    errors: list[str] = []
    news: list[str] = []
    for line in lines:
        parts = line.split()
        if len(parts) != 3:
            continue
        old, new, ref = parts
        if ref.startswith("refs/tags/") and old != ZERO and parse_tag(ref[len("refs/tags/") :]):
            tag = ref[len("refs/tags/") :]
            verb = "delete" if new == ZERO else "move"
            if new != old:
                errors.append(f"immutable-tag: refusing to {verb} {tag}: registry tags are immutable")
        if new != ZERO:
            news.append(new)
    if not news:
        return errors
    cfg = RegistryConfig.parse((git.read_blob("refs/heads/main:gitreg.toml") or b"").decode(errors="replace"))
    local_lfs = git.get_config("gitreg.localLfs") == "true"
    listing = git.run("rev-list", "--objects", *news, "--not", "--all").stdout
    paths = {}
    for ln in listing.splitlines():
        oid, _, path = ln.partition(" ")
        if path.startswith(("models/", "datasets/")):
            paths[oid] = path
    if not paths:
        return errors
    info = git.run(
        "cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)", input="\n".join(paths) + "\n"
    ).stdout
    small = []
    for ln in info.splitlines():
        oid, otype, size = ln.split()
        if otype != "blob":
            continue
        if int(size) > cfg.max_plain_blob_bytes:
            errors.append(
                f"lfs-required: {paths[oid]} is a plain git blob of {size} bytes "
                f"(limit {cfg.max_plain_blob_bytes}): store artifacts with LFS"
            )
        else:
            small.append(oid)
    with git.cat_file() as cf:
        blobs = cf.get_many(small)
    for oid, data in zip(small, blobs):
        path = paths[oid]
        ptr = lfs.parse_pointer(data)
        if ptr is not None and local_lfs and not lfs.object_path(git.git_dir / "lfs", ptr.oid).is_file():
            errors.append(
                f"lfs-object-missing: {path}: LFS object {ptr.oid[:12]}… is not on the registry "
                "(upload objects before refs: git lfs push --object-id)"
            )
        if path.startswith("models/") and path.endswith("/model.toml") and data is not None:
            try:
                sidecar_mod.loads(data.decode("utf-8", errors="replace"), path)
            except GitregError as e:
                errors.append(f"sidecar: {e.message}")
    return errors


def run_pre_receive() -> int:
    """Entry point of the shim: read stdin, print ``gitreg: REJECT …`` lines, exit 1 on any."""
    git_dir = Path(os.environ.get("GIT_DIR", ".")).resolve()
    errors = pre_receive(sys.stdin.read().splitlines(), Git(git_dir))
    for e in errors:
        print(f"gitreg: REJECT {e}", file=sys.stderr)
    return 1 if errors else 0
