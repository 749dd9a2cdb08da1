"""Start the smart-HTTP git + Git LFS server (``gitsrv.py``) in a subprocess for a test.

``http_registry(root)`` lays out ``root/git`` (served repositories) and ``root/lfs`` (giftless
storage), runs waitress on 127.0.0.1 with an OS-chosen port, and stops it on exit. The
server's stdout and stderr go to ``root/server.log``. Nothing is shared between calls.
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


@contextmanager
def http_registry(root: Path, env: Mapping[str, str] | None = None, timeout: float = 30.0) -> Iterator[HttpServer]:
    """Run the git + LFS server for the duration of the ``with`` block.

    The server inherits ``os.environ`` (plus ``env``), which is also what hooks in served
    repos see. Raises ``RuntimeError`` with the log's tail if it does not come up in time.
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
