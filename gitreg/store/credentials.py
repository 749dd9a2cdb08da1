"""Credentials in a registry URL (``https://user:token@host/…``): used, never shown or stored.

The URL gitreg keeps, prints, hashes into its cache's name and writes into a cache clone's config is
stripped of them; git and git-lfs of this process get them from a credential helper defined in
their environment (``GIT_CONFIG_COUNT``), never in argv (where ``ps`` shows it) nor in a file.
Better still is git's own credential helpers, which gitreg's git and git-lfs use as they are.
"""

from __future__ import annotations

import re

# scheme://host[:port] (as git matches credential.<url>) -> (user, password), for this process only.
_CREDENTIALS: dict[str, tuple[str, str]] = {}
# The helper prints what git asks for ("get"); the values come from the environment it inherits.
_HELPER = (
    '!f() { test "$1" = get && '
    'printf \'username=%s\\npassword=%s\\n\' "$GITREG_CRED_{i}_USER" "$GITREG_CRED_{i}_PASS"; }; f'
)


def remember_credentials(url: str) -> str:
    """``url`` without its ``user:secret@``, which git and git-lfs of this process will still use."""
    from urllib.parse import unquote, urlsplit

    try:
        parts = urlsplit(url)
        has_userinfo = parts.scheme in ("http", "https") and "@" in parts.netloc
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # a malformed port: git will say what is wrong with it, without the secret
        return strip_credentials(url)
    if not has_userinfo:
        return url
    key = f"{parts.scheme}://{host}" + (f":{port}" if port else "")
    _CREDENTIALS[key] = (unquote(parts.username or ""), unquote(parts.password or ""))
    return strip_credentials(url)


def add_helpers(env: dict[str, str]) -> None:
    """Add to ``env`` (a git or git-lfs process's) a credential helper per host this process has
    credentials for, matched by git as ``credential.<scheme://host>``."""
    if not _CREDENTIALS:
        return
    count = int(env.get("GIT_CONFIG_COUNT", "0") or 0)
    for i, (key, (user, password)) in enumerate(sorted(_CREDENTIALS.items())):
        n = count + i
        env[f"GIT_CONFIG_KEY_{n}"] = f"credential.{key}.helper"
        env[f"GIT_CONFIG_VALUE_{n}"] = _HELPER.replace("{i}", str(i))
        env[f"GITREG_CRED_{i}_USER"], env[f"GITREG_CRED_{i}_PASS"] = user, password
    env["GIT_CONFIG_COUNT"] = str(count + len(_CREDENTIALS))


def strip_credentials(text: str) -> str:
    """Never record or show a token: every ``scheme://user:secret@host`` in ``text`` loses its
    ``user:secret@`` (a URL, or a message that quotes one)."""
    return _USERINFO.sub(r"\1", text)


_USERINFO = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s'\"]*@")
