"""One WSGI app serving smart-HTTP git (``git http-backend``) and Git LFS (giftless) for tests.

Requests whose path contains ``/info/lfs/`` go to giftless 0.6.2; everything else runs
``git http-backend`` as a CGI. Because git and LFS share one URL, git-lfs finds its endpoint
as ``<remote-url>/info/lfs`` by itself: no ``.lfsconfig`` is needed.

``tests/support/servers.py`` starts this in a subprocess with
``python -m waitress --call gitsrv:app_from_env``. Why each non-obvious setting is here
(each measured against giftless 0.6.2 on this project's test machine):

- giftless 0.6.2's wheel declares no dependencies at all; ``requirements-http.txt`` lists them.
- ``AUTH_PROVIDERS`` defaults to ``allow_anon:read_only``, so a push gets 403: use
  ``read_write`` (loopback only; the internal JWT key stays ``change-me``).
- ``LEGACY_ENDPOINTS: false`` keeps only the ``<org-path>/<repo>.git/info/lfs/`` routes (and
  silences a FutureWarning).
- ``LocalStorage.get`` returns a plain file, which werkzeug and waitress iterate line by line:
  random or ONNX bytes have a newline about every 256 bytes, so downloads ran at ~22 MB/s, CPU
  bound. Wrapping it in ``werkzeug.wsgi.FileWrapper`` with 1 MiB blocks gave ~550 MB/s.
- Upload and download JWTs live ``default_lifetime`` = 60 s while the batch response promises
  900 s; a transfer that starts late gets 401 and is re-sent in full. 3600 s avoids that.
- waitress rejects bodies over 1 GiB with 413 by default; the runner passes a larger
  ``--max-request-body-size`` (and spools bodies over 512 KiB to ``$TMPDIR``).

For git: ``http-backend`` only allows push (receive-pack) for an authenticated user or a repo
with ``http.receivepack=true``, so ``REMOTE_USER`` is set. The server's own environment is
passed to the CGI, so hooks in a served bare repo run with the caller's ``PATH`` and friends;
a hook's stderr is multiplexed by receive-pack onto the side band and reaches the client as
``remote:`` lines. waitress de-chunks ``Transfer-Encoding: chunked`` request bodies and sets
``CONTENT_LENGTH``; the body is pumped into the CGI's stdin from a thread while its stdout is
streamed back, so neither side can fill a pipe and deadlock.

With ``GITSRV_HTPASSWD`` set, the app plays the authenticating web server of ``docs/server.md``
(nginx there) in front of the same two parts, and giftless reads *its* config file
(``GIFTLESS_CONFIG_FILE``, giftless's own variable) untouched: every request needs HTTP basic
credentials listed in the htpasswd file (crypt(3) hashes, ``openssl passwd -5``) and gets 401
without them, except giftless's pre-signed ``/info/lfs/objects/storage/`` URLs (giftless checks
their own short-lived JWT); LFS API requests are passed on with the ``Authorization`` header the
proxy holds for giftless (``GITSRV_LFS_AUTHORIZATION``), git requests with ``REMOTE_USER`` set.

Opt-in, for measuring what goes over the wire: with ``GITSRV_BYTE_LOG=<file>`` every request, once
its response is sent, appends one tab-separated line to that file (:func:`count_bytes`); without
it nothing changes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO

from giftless.app import init_app
from giftless.storage.local_storage import LocalStorage
from werkzeug.wsgi import FileWrapper

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

_BLOCK = 1 << 20
# CGI variables copied from the WSGI environ to git http-backend.
_CGI_VARS = (
    "PATH_INFO",
    "QUERY_STRING",
    "REQUEST_METHOD",
    "CONTENT_TYPE",
    "CONTENT_LENGTH",
    "REMOTE_ADDR",
    "HTTP_CONTENT_ENCODING",
    "REMOTE_USER",  # set by the authenticating front (make_proxy_app); else base_env's
)
# Variables that would point http-backend at some other repository than the one requested.
_DROP_VARS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY")


class FileWrapperLocalStorage(LocalStorage):  # type: ignore[misc,unused-ignore]  # giftless is untyped
    """``LocalStorage`` whose downloads are sent in 1 MiB blocks instead of line by line."""

    def get(self, prefix: str, oid: str) -> FileWrapper:
        # giftless passes this straight through as the response iterable.
        return FileWrapper(super().get(prefix, oid), _BLOCK)


def make_lfs_app(lfs_root: Path) -> WSGIApp:
    """Return giftless configured for anonymous read/write on ``LocalStorage`` at ``lfs_root``."""
    storage_class = f"{FileWrapperLocalStorage.__module__}:{FileWrapperLocalStorage.__qualname__}"
    config = {
        "AUTH_PROVIDERS": ["giftless.auth.allow_anon:read_write"],
        "LEGACY_ENDPOINTS": False,
        "TRANSFER_ADAPTERS": {
            "basic": {
                "options": {
                    "storage_class": storage_class,
                    "storage_options": {"path": str(lfs_root)},
                }
            }
        },
        "PRE_AUTHORIZED_ACTION_PROVIDER": {"options": {"default_lifetime": 3600}},
    }
    app: WSGIApp = init_app(additional_config=config)
    return app


def make_git_app(git_root: Path, remote_user: str = "gitreg-test") -> WSGIApp:
    """Return a WSGI app that runs ``git http-backend`` as a CGI over ``git_root``."""
    base_env = {k: v for k, v in os.environ.items() if k not in _DROP_VARS}
    base_env.update(GIT_PROJECT_ROOT=str(git_root), GIT_HTTP_EXPORT_ALL="1")
    if remote_user:  # without one (and without http.receivepack=true), http-backend refuses pushes
        base_env["REMOTE_USER"] = remote_user

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        env = dict(base_env)
        env.update({k: str(environ[k]) for k in _CGI_VARS if environ.get(k)})
        if environ.get("HTTP_GIT_PROTOCOL"):
            env["GIT_PROTOCOL"] = environ["HTTP_GIT_PROTOCOL"]
        proc = subprocess.Popen(["git", "http-backend"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert proc.stdin is not None and proc.stdout is not None
        length = int(environ.get("CONTENT_LENGTH") or 0)
        pump = threading.Thread(target=_pump, args=(environ["wsgi.input"], proc.stdin, length), daemon=True)
        pump.start()
        status, headers = _read_cgi_headers(proc.stdout)
        start_response(status, headers)
        return _stream(proc, pump)

    return app


def make_app(git_root: Path, lfs_root: Path) -> WSGIApp:
    """Return the combined app: giftless under ``/info/lfs/``, git http-backend elsewhere."""
    return _route(make_git_app(git_root), make_lfs_app(lfs_root))


def make_proxy_app(git_root: Path, htpasswd: Path, lfs_authorization: str) -> WSGIApp:
    """The authenticating front of ``docs/server.md`` (its nginx ``server`` block) over http-backend
    and giftless configured by ``$GIFTLESS_CONFIG_FILE`` alone.

    Like nginx's ``auth_basic``: a request without valid credentials from ``htpasswd`` gets 401,
    except giftless's pre-signed storage URLs. LFS API requests reach giftless with
    ``lfs_authorization`` as their ``Authorization`` (``proxy_set_header``), git requests reach
    http-backend with ``REMOTE_USER`` (``fastcgi_param REMOTE_USER $remote_user``).
    """
    lfs_app: WSGIApp = init_app()
    git_app = make_git_app(git_root, remote_user="")

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if "/info/lfs/objects/storage/" in path:
            return lfs_app(environ, start_response)
        user = _basic_user(environ.get("HTTP_AUTHORIZATION", ""), _read_htpasswd(htpasswd))
        if user is None:
            start_response(
                "401 Unauthorized", [("WWW-Authenticate", 'Basic realm="gitreg"'), ("Content-Type", "text/plain")]
            )
            return [b"401 Authorization Required\n"]
        if "/info/lfs/" in path:
            return lfs_app({**environ, "HTTP_AUTHORIZATION": lfs_authorization}, start_response)
        return git_app({**environ, "REMOTE_USER": user}, start_response)

    return app


def _read_htpasswd(path: Path) -> dict[str, str]:
    """``user:hash`` lines (read on every request, as nginx does: an added user works at once)."""
    lines = path.read_text().splitlines()
    return dict(ln.split(":", 1) for ln in lines if ":" in ln and not ln.startswith("#"))


def _basic_user(header: str, users: dict[str, str]) -> str | None:
    """The user of a valid ``Basic`` ``header`` (its password matches the crypt(3) hash), else None."""
    import base64
    import binascii
    import hmac
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # crypt: removed in 3.13, fine for a test server
        import crypt

    kind, _, payload = header.partition(" ")
    if kind.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(payload.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    stored = users.get(user)
    if not stored or not password:
        return None
    return user if hmac.compare_digest(crypt.crypt(password, stored) or "", stored) else None


def _route(git_app: WSGIApp, lfs_app: WSGIApp) -> WSGIApp:
    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        target = lfs_app if "/info/lfs/" in environ.get("PATH_INFO", "") else git_app
        return target(environ, start_response)

    return app


def app_from_env() -> WSGIApp:
    """Factory for ``waitress --call``: roots from ``GITSRV_GIT_ROOT`` and ``GITSRV_LFS_ROOT``;
    with ``GITSRV_HTPASSWD``, the authenticating front of :func:`make_proxy_app` instead.

    With ``GITSRV_EXIT_ON_STDIN_EOF=1`` the process exits when its stdin closes, so a server
    whose test process was killed (and never ran its ``finally``) does not linger.
    """
    # Before giftless configures logging, so waitress's INFO "Serving on http://host:port"
    # reaches stderr: servers.py reads the port (bound as port 0) from it.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if os.environ.get("GITSRV_EXIT_ON_STDIN_EOF") == "1":
        threading.Thread(target=_exit_on_stdin_eof, daemon=True).start()
    if os.environ.get("GITSRV_HTPASSWD"):
        htpasswd = Path(os.environ["GITSRV_HTPASSWD"])
        app = make_proxy_app(Path(os.environ["GITSRV_GIT_ROOT"]), htpasswd, os.environ["GITSRV_LFS_AUTHORIZATION"])
    else:
        app = make_app(Path(os.environ["GITSRV_GIT_ROOT"]), Path(os.environ["GITSRV_LFS_ROOT"]))
    if os.environ.get("GITSRV_BYTE_LOG"):
        return count_bytes(app, Path(os.environ["GITSRV_BYTE_LOG"]))
    return app


BYTE_LOG_FIELDS = ("kind", "method", "path", "status", "request_body", "response_body", "request_head", "response_head")


def count_bytes(app: WSGIApp, log: Path) -> WSGIApp:
    """Wrap ``app`` to append, per request, one line of :data:`BYTE_LOG_FIELDS` (tab-separated) to ``log``.

    ``kind`` is ``lfs`` (the LFS API and its storage URLs) or ``git``; the body counts are bytes as
    the app reads and yields them (waitress has already de-chunked request bodies); the ``head``
    counts estimate the HTTP/1.1 request and status lines plus headers (``Name: value\r\n`` each).
    """
    lock = threading.Lock()

    def counted(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        query = environ.get("QUERY_STRING", "")
        head: dict[str, Any] = {"response": 0, "status": "-"}
        request_head = len(f"{environ.get('REQUEST_METHOD', '')} {path}{'?' + query if query else ''} HTTP/1.1\r\n")
        for key, value in environ.items():
            if key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                request_head += len(key.removeprefix("HTTP_")) + len(str(value)) + 4
        request_body = int(environ.get("CONTENT_LENGTH") or 0)

        def counting_start_response(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            head["status"] = status.split(" ", 1)[0]
            head["response"] = len(f"HTTP/1.1 {status}\r\n") + sum(len(k) + len(v) + 4 for k, v in headers) + 2
            return start_response(status, headers, *exc)

        def stream() -> Iterator[bytes]:
            sent = 0
            body = app(environ, counting_start_response)
            try:
                for block in body:
                    sent += len(block)
                    yield block
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()
                kind = "lfs" if "/info/lfs/" in path else "git"
                line = (kind, environ.get("REQUEST_METHOD", ""), path, head["status"], request_body, sent)
                with lock, log.open("a") as f:
                    f.write("\t".join(map(str, (*line, request_head, head["response"]))) + "\n")

        return stream()

    return counted


def _pump(source: BinaryIO, sink: IO[bytes], length: int) -> None:
    """Copy ``length`` bytes of request body into the CGI's stdin, then close it."""
    try:
        while length > 0:
            block = source.read(min(length, _BLOCK))
            if not block:
                break
            sink.write(block)
            length -= len(block)
    except BrokenPipeError:  # the CGI answered without reading everything (an error reply)
        pass
    finally:
        with contextlib.suppress(BrokenPipeError):
            sink.close()


def _read_cgi_headers(stdout: IO[bytes]) -> tuple[str, list[tuple[str, str]]]:
    """Parse CGI response headers up to the blank line; ``Status:`` becomes the status line."""
    status = "200 OK"
    headers: list[tuple[str, str]] = []
    while True:
        raw = stdout.readline()
        if not raw:  # EOF before the blank line: the CGI died (its stderr is in the log)
            return "502 Bad Gateway", [("Content-Type", "text/plain")]
        line = raw.rstrip(b"\r\n")
        if not line:
            return status, headers
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "status":
            status = value.strip()
        else:
            headers.append((name.strip(), value.strip()))


def _stream(proc: subprocess.Popen[bytes], pump: threading.Thread) -> Iterator[bytes]:
    """Yield the CGI's stdout; on exhaustion or client disconnect, reap the process."""
    assert proc.stdout is not None
    try:
        while block := proc.stdout.read1(_BLOCK):  # type: ignore[attr-defined]
            yield block
    finally:
        proc.stdout.close()
        if proc.wait(timeout=60) != 0:
            print(f"gitsrv: git http-backend exited {proc.returncode}", file=sys.stderr)
        pump.join(timeout=60)


def _exit_on_stdin_eof() -> None:
    sys.stdin.buffer.read()
    os._exit(0)
