"""Durations written the way people write them (`2w`, `90d`, `12h`) and times to show."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from envman.errors import UsageError

_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_SHOWN_UNITS = (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60))
_AGE_RE = re.compile(r"(\d+)([wdhms])\Z")
_LONGEST = int(timedelta.max.total_seconds())


def parse_age(text: str) -> timedelta:
    """`90d` -> 90 days. Raises UsageError for anything else."""
    match = _AGE_RE.match(text.strip())
    if not match:
        raise UsageError(
            f"invalid age {text!r}", hint="write a number and a unit: 2w, 90d, 12h, 30m or 45s"
        )
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds > _LONGEST:
        raise UsageError(f"age {text!r} is too long", hint="the longest is about 2.7 million years: 999999999d")
    return timedelta(seconds=seconds)


def now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def ago(moment: datetime, reference: datetime) -> str:
    """A short, human 'how long ago' such as `3d ago` or `just now`."""
    seconds = int((reference - moment).total_seconds())
    if seconds < 60:
        return "just now"
    unit, size = next((u, s) for u, s in _SHOWN_UNITS if seconds >= s)
    return f"{seconds // size}{unit} ago"
