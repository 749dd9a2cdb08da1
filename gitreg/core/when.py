"""Points in time a user names for ``--at``, ``--since`` and ``--until`` (pure).

``2026-11-03`` (the start of that day), ``2026-11-03 14:00``, ``2026-11-03T14:00:05``, each
optionally with ``Z`` or an offset (``+01:00``); without one, the time is this machine's local
time, as ``git log --since`` reads it. ``@1730642400`` is epoch seconds. A commit id is not parsed
here: the registry layer resolves it to its commit time.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from gitreg.errors import UsageError

_EPOCH = re.compile(r"@(\d{1,12})\Z")
_COMMIT = re.compile(r"[0-9a-f]{7,64}\Z")
_DATE = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<time>\d{2}:\d{2}(?::\d{2})?))?"
    r"\s*(?P<tz>Z|[+-]\d{2}:?\d{2})?\Z"
)
FORMS = "2026-11-03, '2026-11-03 14:00', 2026-11-03T14:00:00Z, @EPOCH or a registry commit"


def looks_like_commit(text: str) -> bool:
    """A hex string that is no date: resolved as a commit of the registry."""
    return bool(_COMMIT.match(text)) and not text.isdigit()


def parse_when(text: str, option: str = "--at") -> int:
    """Epoch seconds for ``text``; UsageError naming ``option`` and the accepted forms."""
    raw = text.strip()
    m = _EPOCH.match(raw)
    if m:
        return int(m.group(1))
    m = _DATE.match(raw)
    if not m:
        raise UsageError(f"{option} {text!r} is not a date or time: use {FORMS}")
    clock = m["time"] or "00:00"
    if clock.count(":") == 1:
        clock += ":00"
    tz = m["tz"]
    if tz and tz != "Z" and ":" not in tz:
        tz = f"{tz[:3]}:{tz[3:]}"
    try:
        stamp = datetime.fromisoformat(f"{m['date']}T{clock}{'+00:00' if tz == 'Z' else (tz or '')}")
    except ValueError as e:
        raise UsageError(f"{option} {text!r} is not a valid date or time ({e})") from None
    if stamp.tzinfo is None:
        stamp = stamp.astimezone()  # this machine's local time, as git reads a date without a zone
    return int(stamp.astimezone(timezone.utc).timestamp())
