"""Asking an HTTP LFS server what it holds, without git-lfs: ``check`` on an HTTP registry.

One batch ``download`` request says which objects the server has (``remote_missing``); with
``--deep``, each is downloaded, hashed as it streams and dropped (``remote_hashes``). Credentials
come from git's credential helpers (``git credential fill``), as git-lfs gets them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gitreg.errors import RemoteError
from gitreg.store.lfs import CHUNK, Pointer


def lfs_endpoint(url: str) -> str:
    """git-lfs's default endpoint for an HTTP(S) git URL (``.lfsconfig`` overrides are not read)."""
    base = url.rstrip("/")
    if not base.endswith(".git"):
        base += ".git"
    return base + "/info/lfs"


def credential_header(url: str) -> str | None:
    """``Basic …`` from ``git credential fill`` for ``url`` (never prompts), or None without one."""
    import base64
    import subprocess

    from gitreg.store.git import base_env

    p = subprocess.run(
        ["git", "credential", "fill"], input=f"url={url}\n\n", capture_output=True, text=True,
        env=base_env(), check=False,
    )  # fmt: skip
    fields = dict(ln.split("=", 1) for ln in p.stdout.splitlines() if "=" in ln) if p.returncode == 0 else {}
    if not fields.get("password"):
        return None
    pair = f"{fields.get('username', '')}:{fields['password']}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def _batch_download(url: str, pointers: Iterable[Pointer]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The LFS server's answer to one batch ``download`` request for ``pointers``: its objects, and
    the headers that were needed (an Authorization from git's credential helpers, or none).

    giftless answers 404 for the whole batch when it has none of the objects: that is an answer
    (every object missing), not an error.
    """
    import json  # urllib.request costs ~15 ms to import; only `check` on an HTTP registry needs it
    import urllib.error
    import urllib.request

    wanted = {p.oid: p for p in pointers}
    if not wanted:
        return [], {}
    objects = [{"oid": p.oid, "size": p.size} for p in wanted.values()]
    body = json.dumps({"operation": "download", "transfers": ["basic"], "objects": objects}).encode()
    headers = {"Accept": "application/vnd.git-lfs+json", "Content-Type": "application/vnd.git-lfs+json"}

    def batch(extra: dict[str, str]) -> dict[str, Any]:
        req = urllib.request.Request(
            lfs_endpoint(url) + "/objects/batch", data=body, method="POST", headers={**headers, **extra}
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.load(resp)

    extra: dict[str, str] = {}
    try:
        try:
            answer = batch({})
        except urllib.error.HTTPError as e:
            # A private registry (GitHub in CI): ask git's credential helpers, as git-lfs itself does.
            # 404 too: a host may hide a private repository, and giftless says 404 for "none of them".
            auth = credential_header(lfs_endpoint(url)) if e.code in (401, 404) else None
            if auth is None:
                raise
            extra = {"Authorization": auth}
            answer = batch(extra)
    except urllib.error.HTTPError as e:
        if e.code == 404:  # giftless answers 404 for the whole batch when it has none of them
            return [{"oid": o, "error": {"code": 404}} for o in wanted], extra
        raise RemoteError(f"the LFS server at {lfs_endpoint(url)} answered HTTP {e.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise RemoteError(f"cannot query the LFS server at {lfs_endpoint(url)}: {e}") from None
    return [o for o in answer.get("objects", []) if isinstance(o, dict)], extra


def _missing(answer: list[dict[str, Any]]) -> set[str]:
    return {str(o.get("oid", "")) for o in answer if o.get("error") or "download" not in (o.get("actions") or {})}


def remote_missing(url: str, pointers: Iterable[Pointer]) -> set[str]:
    """Oids the HTTP LFS server says it does not have, from one batch ``download`` request."""
    return _missing(_batch_download(url, pointers)[0])


@dataclass(frozen=True)
class RemoteObject:
    """What downloading one object from an LFS server found: ``status`` is ``ok``, ``missing`` or
    ``corrupt`` (``sha256``/``size`` then say what the server's bytes are), or ``unreadable``."""

    oid: str
    status: str
    sha256: str = ""
    size: int = 0
    detail: str = ""


def remote_hashes(url: str, pointers: Iterable[Pointer]) -> dict[str, RemoteObject]:
    """Download each object from the HTTP LFS server and hash it as it streams in.

    Nothing is written to disk (a 1 MiB buffer at a time), and a server sending more bytes than the
    pointer's size is cut off one byte past it. One batch request, then one GET per object.
    """
    import urllib.error
    import urllib.parse
    import urllib.request

    wanted = {p.oid: p for p in pointers}
    answer, auth = _batch_download(url, wanted.values())
    missing = _missing(answer)
    out = {o: RemoteObject(o, "missing") for o in missing if o in wanted}
    endpoint_host = urllib.parse.urlsplit(lfs_endpoint(url)).netloc
    for obj in answer:
        oid = str(obj.get("oid", ""))
        if oid not in wanted or oid in out:
            continue
        ptr = wanted[oid]
        action = obj["actions"]["download"]
        href = str(action.get("href", ""))
        headers = {str(k): str(v) for k, v in (action.get("header") or {}).items()}
        if auth and "Authorization" not in headers and urllib.parse.urlsplit(href).netloc == endpoint_host:
            headers.update(auth)  # the credentials the batch needed, on the same host only
        h = hashlib.sha256()
        size = 0
        try:
            with urllib.request.urlopen(urllib.request.Request(href, headers=headers), timeout=60) as resp:
                while size <= ptr.size and (block := resp.read(CHUNK)):
                    block = block[: ptr.size + 1 - size]
                    h.update(block)
                    size += len(block)
        except urllib.error.HTTPError as e:
            status = "missing" if e.code == 404 else "unreadable"
            out[oid] = RemoteObject(oid, status, detail=f"HTTP {e.code}")
            continue
        except (urllib.error.URLError, OSError, ValueError) as e:
            out[oid] = RemoteObject(oid, "unreadable", detail=str(e))
            continue
        got = h.hexdigest()
        status = "ok" if (got, size) == (ptr.oid, ptr.size) else "corrupt"
        out[oid] = RemoteObject(oid, status, got, size)
    for oid in wanted.keys() - out.keys():  # the server's answer left it out
        out[oid] = RemoteObject(oid, "missing")
    return out
