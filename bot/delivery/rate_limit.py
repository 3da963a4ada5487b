"""Rate limits that hold across processes: the generic cell rate algorithm in the database.

Each limit keeps one number, its theoretical arrival time (TAT), in ``rate_limit``. A
send at time t conforms when the TAT is at most ``(burst - 1) / rate`` seconds ahead of
t; it then moves the TAT on by ``1 / rate``. Several limits (Telegram: 30 a second per
bot, about 1 a second per chat) are checked together, in one transaction that holds
their rows, so that two gateways sending at the same moment are counted one after the
other.

A sender asks for the earliest moment at which every limit allows its send. When that
moment is near (``max_wait``), it is booked for the sender, which waits until then and
sends: a queue of senders is spaced out instead of all retrying at once. When it is
further away, nothing is booked (a booking that far ahead would hold up everyone
behind it) and the sender tries again later.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.db import in_transaction, insert_unless_present
from bot.db.models import RateLimit
from bot.delivery.channel import Rate


@dataclass(frozen=True)
class Slot:
    """When a send may go: after ``delay`` seconds. ``booked``: the limits count it
    already, so it must go then; otherwise try again after ``delay``."""

    delay: float
    booked: bool


def book(session: Session, rates: Sequence[Rate], *, now: float, max_wait: float) -> Slot:
    """The earliest moment every limit allows a send, booked when it is at most
    ``max_wait`` seconds away (and nothing counted otherwise)."""
    by_key = {r.key: r for r in rates}
    tats: dict[str, float] = {}
    for key in sorted(by_key):  # one order everywhere: no two transactions deadlock
        session.execute(insert_unless_present(session, RateLimit, {"key": key, "tat": 0.0}))
        # A write first: it takes the row's lock on PostgreSQL and the write lock on
        # SQLite before the value is read, so that no other process reads it meanwhile.
        session.execute(update(RateLimit).where(RateLimit.key == key).values(tat=RateLimit.tat))
        tats[key] = float(session.scalar(select(RateLimit.tat).where(RateLimit.key == key)) or 0)
    at = now
    for key, rate in by_key.items():
        tolerance = (rate.burst - 1) / rate.per_second
        at = max(at, tats[key] - tolerance)
    delay = at - now
    if delay > max_wait:
        return Slot(delay, booked=False)
    for key, rate in by_key.items():
        new_tat = max(tats[key], at) + 1.0 / rate.per_second
        session.execute(update(RateLimit).where(RateLimit.key == key).values(tat=new_tat))
    return Slot(delay, booked=True)


class RateLimiter:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        clock: Callable[[], float] = time.time,
        max_wait: float = 2.0,
    ) -> None:
        self._sessions = sessions
        # Wall-clock seconds: the processes sharing a limit share no monotonic clock.
        self._clock = clock
        self.max_wait = max_wait

    async def acquire(self, rates: Sequence[Rate]) -> Slot:
        if not rates:
            return Slot(0.0, booked=True)
        return await in_transaction(
            self._sessions,
            lambda s: book(s, rates, now=self._clock(), max_wait=self.max_wait),
        )
