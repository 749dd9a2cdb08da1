"""The test server of ``tests/support/gitsrv.py`` behind a slow link to its LFS storage, with a switch
that takes giftless down while git stays up.

``waitress --call tests.reliability.slowlink:app_from_env`` (``RestartableServer(app=APP)``). Set:

- ``SLOWLINK_BYTES_PER_S``: LFS object downloads (giftless's ``/info/lfs/objects/storage/`` GETs)
  are sent in 64 KiB blocks at about this rate, so a fault can land mid-transfer (0: full speed);
- ``SLOWLINK_LFS_DOWN``: a path; while a file exists there, giftless is "down" as it is to a web
  server in front of it: a download in flight is cut off (the connection closes before its
  ``Content-Length`` is sent) and every LFS request gets ``502 Bad Gateway``. Git requests are served.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

# The server's own module path has tests/support on it (gitsrv); a test importing APP does not.
Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

APP = "tests.reliability.slowlink:app_from_env"
_BLOCK = 64 * 1024


class LinkDown(Exception):
    """Raised inside a response body: waitress then closes the connection mid-body."""


def app_from_env() -> WSGIApp:
    from gitsrv import app_from_env as gitsrv_app

    inner = gitsrv_app()
    rate = float(os.environ.get("SLOWLINK_BYTES_PER_S", "0"))
    down_flag = os.environ.get("SLOWLINK_LFS_DOWN", "")

    def lfs_down() -> bool:
        return bool(down_flag) and Path(down_flag).exists()

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if "/info/lfs/" in path and lfs_down():
            start_response("502 Bad Gateway", [("Content-Type", "text/plain")])
            return [b"502 Bad Gateway: the LFS server is down\n"]
        body = inner(environ, start_response)
        if "/info/lfs/objects/storage/" in path and environ.get("REQUEST_METHOD") == "GET":
            return _throttled(body, rate, lfs_down)
        return body

    return app


def _throttled(body: Iterable[bytes], rate: float, down: Callable[[], bool]) -> Iterator[bytes]:
    start, sent = time.monotonic(), 0
    try:
        for chunk in body:
            for i in range(0, len(chunk), _BLOCK):
                if down():
                    raise LinkDown("the LFS server went down mid-download")
                block = chunk[i : i + _BLOCK]
                yield block
                sent += len(block)
                if rate:
                    ahead = sent / rate - (time.monotonic() - start)
                    if ahead > 0:
                        time.sleep(ahead)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
