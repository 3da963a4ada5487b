"""When staff are at work: ``staff_hours`` in locales/office.yml, e.g. "Mon-Fri 08:30-17:30"
or "Mon-Fri 08:30-17:30, Sat 09:00-12:00", in Yiwu's time. Unknown (~) until the service
publishes them: then nothing is promised and users are told to ask the hotline.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PART = re.compile(
    r"^\s*(?P<days>[a-z]{3}(?:\s*-\s*[a-z]{3})?(?:\s*,\s*[a-z]{3}(?:\s*-\s*[a-z]{3})?)*)"
    r"\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$",
    re.IGNORECASE,
)


class HoursError(ValueError):
    pass


@dataclass(frozen=True)
class Span:
    weekday: int  # Monday is 0
    start: dt.time
    end: dt.time


def _days(spec: str) -> list[int]:
    found: list[int] = []
    for piece in spec.lower().split(","):
        ends = [d.strip() for d in piece.split("-")]
        if any(d not in DAYS for d in ends):
            raise HoursError(f"not a day: {piece.strip()!r} (use {', '.join(DAYS)})")
        first, last = DAYS.index(ends[0]), DAYS.index(ends[-1])
        found += list(range(first, last + 1)) if first <= last else []
    return found


def parse(text: str) -> list[Span]:
    """The spans of a ``staff_hours`` value; HoursError when it cannot be read."""
    spans: list[Span] = []
    for part in re.split(r";|,(?=\s*[a-z]{3}(?:\s*-\s*[a-z]{3})?\s+\d)", text, flags=re.I):
        m = _PART.match(part)
        if m is None:
            raise HoursError(f"cannot read {part.strip()!r}: write e.g. 'Mon-Fri 08:30-17:30'")
        start, end = (dt.time.fromisoformat(m[k].zfill(5)) for k in ("start", "end"))
        if end <= start:
            raise HoursError(f"{part.strip()!r}: the end must be after the start")
        spans += [Span(day, start, end) for day in _days(m["days"])]
    return spans


def is_open(spans: list[Span], at: dt.datetime) -> bool:
    local = at
    return any(s.weekday == local.weekday() and s.start <= local.time() < s.end for s in spans)


def next_opening(spans: list[Span], at: dt.datetime) -> dt.datetime | None:
    """The next moment staff start work after ``at`` (``at``'s time zone), or None."""
    if not spans:
        return None
    for days_ahead in range(0, 8):
        day = (at + dt.timedelta(days=days_ahead)).date()
        starts = sorted(
            dt.datetime.combine(day, s.start, at.tzinfo)
            for s in spans
            if s.weekday == day.weekday()
        )
        for start in starts:
            if start > at:
                return start
    return None
