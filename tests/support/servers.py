"""Start the smart-HTTP git + Git LFS server (``gitsrv.py``) in a subprocess for a test.

``http_registry(root)`` lays out ``root/git`` (served repositories) and ``root/lfs`` (giftless
storage), runs waitress on 127.0.0.1 with an OS-chosen port, and stops it on exit. The
server's stdout and stderr go to ``root/server.log``. Nothing is shared between calls.

With ``auth=ProxyAuth(...)`` it is the team server of ``docs/server.md`` instead: giftless runs
with that document's config file as it is, behind a front that authenticates like its nginx
block (``gitsrv.make_proxy_app``).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_SUPPORT_DIR = Path(__file__).resolve().parent
_SERVING = re.compile(r"Serving on http://127\.0\.0\.1:(\d+)")
# waitress's default (1 GiB) answers 413 to bigger LFS uploads; this is 1 TiB.
_MAX_BODY = 1 << 40


@dataclass(frozen=True)
class HttpServer:
    """A running server: git at ``base_url/<rel>``, LFS at ``base_url/<rel>/info/lfs``."""

    base_url: str
    git_root: Path
    lfs_root: Path
    log_path: Path

    def create_repo(self, rel: str = "org/registry.git") -> tuple[Path, str]:
        """Create a served bare repo at ``git_root/rel``; return its path and clone URL."""
        bare = self.git_root / rel
        _git("init", "--quiet", "--bare", "--initial-branch=main", str(bare))
        for key in ("http.receivepack", "uploadpack.allowFilter", "uploadpack.allowAnySHA1InWant"):
            _git("-C", str(bare), "config", key, "true")
        return bare, f"{self.base_url}/{rel}"


@dataclass(frozen=True)
class ProxyAuth:
    """The authenticating web server of ``docs/server.md``: who may log in (``htpasswd``, crypt(3)
    hashes), the ``Authorization`` it sends giftless, and giftless's own YAML config file."""

    htpasswd: Path
    lfs_authorization: str
    giftless_config: Path


@contextmanager
def http_registry(
    root: Path, env: Mapping[str, str] | None = None, timeout: float = 30.0, auth: ProxyAuth | None = None
) -> Iterator[HttpServer]:
    """Run the git + LFS server for the duration of the ``with`` block.

    The server inherits ``os.environ`` (plus ``env``), which is also what hooks in served
    repos see. With ``auth``, every request but giftless's pre-signed ones needs credentials,
    and LFS storage is wherever ``auth.giftless_config`` puts it (``lfs_root`` is then unused).
    Raises ``RuntimeError`` with the log's tail if it does not come up in time.
    """
    git_root, lfs_root, log_path = root / "git", root / "lfs", root / "server.log"
    git_root.mkdir(parents=True, exist_ok=True)
    lfs_root.mkdir(parents=True, exist_ok=True)
    server_env = {**os.environ, **(env or {})}
    server_env.update(
        GITSRV_GIT_ROOT=str(git_root),
        GITSRV_LFS_ROOT=str(lfs_root),
        GITSRV_EXIT_ON_STDIN_EOF="1",
        PYTHONPATH=os.pathsep.join(p for p in (str(_SUPPORT_DIR), server_env.get("PYTHONPATH")) if p),
        PYTHONUNBUFFERED="1",
    )
    if auth is not None:
        server_env.update(
            GITSRV_HTPASSWD=str(auth.htpasswd),
            GITSRV_LFS_AUTHORIZATION=auth.lfs_authorization,
            GIFTLESS_CONFIG_FILE=str(auth.giftless_config),
        )
    argv = [
        sys.executable, "-m", "waitress",
        "--host=127.0.0.1", "--port=0", "--threads=8",
        f"--max-request-body-size={_MAX_BODY}",
        "--call", "gitsrv:app_from_env",
    ]  # fmt: skip
    with log_path.open("ab") as log:
        # stdin stays open as a lifeline: if this process dies, the server sees EOF and exits.
        # Its own session, so stopping it also reaches any git http-backend it is running.
        proc = subprocess.Popen(
            argv, cwd=root, env=server_env, stdin=subprocess.PIPE, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        port = _wait_for_port(proc, log_path, timeout)
        base_url = f"http://127.0.0.1:{port}"
        _wait_until_answering(proc, base_url, log_path, timeout)
        yield HttpServer(base_url, git_root, lfs_root, log_path)
    finally:
        _stop(proc)


def _wait_for_port(proc: subprocess.Popen[bytes], log_path: Path, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = _SERVING.search(log_path.read_text(errors="replace"))
        if match:
            return int(match.group(1))
        _check_alive(proc, log_path)
        time.sleep(0.05)
    raise RuntimeError(f"git/LFS server did not start in {timeout} s:\n{_tail(log_path)}")


def _wait_until_answering(proc: subprocess.Popen[bytes], base_url: str, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base_url}/", timeout=5):
                return
        except urllib.error.HTTPError:  # any HTTP answer (http-backend says 404 for "/")
            return
        except OSError:
            _check_alive(proc, log_path)
            time.sleep(0.05)
    raise RuntimeError(f"git/LFS server at {base_url} did not answer:\n{_tail(log_path)}")


def _check_alive(proc: subprocess.Popen[bytes], log_path: Path) -> None:
    if proc.poll() is not None:
        raise RuntimeError(f"git/LFS server exited {proc.returncode}:\n{_tail(log_path)}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass
    if proc.stdin is not None:
        proc.stdin.close()


def _tail(log_path: Path, lines: int = 40) -> str:
    return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])


def _git(*args: str) -> None:
    subprocess.run(["git", *args], check=True, capture_output=True)


class RestartableServer:
    """The server of :func:`http_registry` that a test can stop and start again: same port, same
    ``git_root`` and ``lfs_root``, as when a team's server is restarted (``restartable_http_registry``).

    ``app`` is the waitress ``--call`` factory (``module:function``, importable with ``env``'s
    ``PYTHONPATH``); the default is the plain git + LFS app. ``server`` is valid while it runs.
    """

    def __init__(
        self, root: Path, env: Mapping[str, str] | None = None, timeout: float = 30.0, app: str = "gitsrv:app_from_env"
    ) -> None:
        self.root, self.timeout, self.app = root, timeout, app
        self.git_root, self.lfs_root, self.log_path = root / "git", root / "lfs", root / "server.log"
        self.env = {**os.environ, **(env or {})}
        self.env.update(
            GITSRV_GIT_ROOT=str(self.git_root),
            GITSRV_LFS_ROOT=str(self.lfs_root),
            GITSRV_EXIT_ON_STDIN_EOF="1",
            PYTHONPATH=os.pathsep.join(p for p in (str(_SUPPORT_DIR), self.env.get("PYTHONPATH")) if p),
            PYTHONUNBUFFERED="1",
        )
        self.port = 0  # chosen by the OS at the first start, kept for every restart
        self._proc: subprocess.Popen[bytes] | None = None
        self._server: HttpServer | None = None

    @property
    def server(self) -> HttpServer:
        if self._server is None or not self.running:
            raise RuntimeError("the git/LFS server is stopped")
        return self._server

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int:
        """The server's process id (also its process group: it runs in a session of its own)."""
        if self._proc is None:
            raise RuntimeError("the git/LFS server was never started")
        return self._proc.pid

    def start(self) -> HttpServer:
        """Start (or restart) the server; wait until it answers. Raises ``RuntimeError`` as ``http_registry``."""
        if self.running:
            return self.server
        self.git_root.mkdir(parents=True, exist_ok=True)
        self.lfs_root.mkdir(parents=True, exist_ok=True)
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        argv = [
            sys.executable, "-m", "waitress",
            "--host=127.0.0.1", f"--port={self.port}", "--threads=8",
            f"--max-request-body-size={_MAX_BODY}",
            "--call", self.app,
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                argv, cwd=self.root, env=self.env, stdin=subprocess.PIPE, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        try:
            self.port = _wait_for_port_after(self._proc, self.log_path, offset, self.timeout)
            base_url = f"http://127.0.0.1:{self.port}"
            _wait_until_answering(self._proc, base_url, self.log_path, self.timeout)
        except BaseException:
            _stop(self._proc)
            raise
        self._server = HttpServer(base_url, self.git_root, self.lfs_root, self.log_path)
        return self._server

    def stop(self, hard: bool = False) -> None:
        """Stop the server and every process it runs: SIGTERM (then SIGKILL after 10 s), or at once
        SIGKILL with ``hard`` (a crash: no connection is closed cleanly)."""
        proc = self._proc
        if proc is None:
            return
        if hard and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        _stop(proc)


@contextmanager
def restartable_http_registry(
    root: Path, env: Mapping[str, str] | None = None, timeout: float = 30.0, app: str = "gitsrv:app_from_env"
) -> Iterator[RestartableServer]:
    """:func:`http_registry` that can be stopped and restarted (see :class:`RestartableServer`); started."""
    srv = RestartableServer(root, env, timeout, app)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def _wait_for_port_after(proc: subprocess.Popen[bytes], log_path: Path, offset: int, timeout: float) -> int:
    """The port of the "Serving on" line written after ``offset`` (a restart appends to the same log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with log_path.open("rb") as f:
            f.seek(offset)
            match = _SERVING.search(f.read().decode(errors="replace"))
        if match:
            return int(match.group(1))
        _check_alive(proc, log_path)
        time.sleep(0.05)
    raise RuntimeError(f"git/LFS server did not start in {timeout} s:\n{_tail(log_path)}")
