"""Rate limits that hold across processes: the generic cell rate algorithm in the database.

Each limit keeps one number, its theoretical arrival time (TAT), in ``rate_limit``. A
send is allowed when the TAT is at most ``(burst - 1) / rate`` seconds ahead of now;
it then moves the TAT on by ``1 / rate``. Several limits (Telegram: 30 a second per bot,
about 1 a second per chat) are checked and consumed together, in one transaction that
holds their rows, so that two gateways sending at the same moment are counted one after
the other, and a send refused by one limit consumes none of the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.db import in_transaction, insert_unless_present
from bot.db.models import RateLimit
from bot.delivery.channel import Rate


def check_and_consume(session: Session, rates: Sequence[Rate], *, now: float) -> float:
    """0.0 when every limit allows a send now (and the send is counted); otherwise how
    many seconds to wait before trying again (and nothing is counted)."""
    by_key = {r.key: r for r in rates}
    tats: dict[str, float] = {}
    for key in sorted(by_key):  # one order everywhere: no two transactions deadlock
        session.execute(insert_unless_present(session, RateLimit, {"key": key, "tat": 0.0}))
        # A write first: it takes the row's lock on PostgreSQL and the write lock on
        # SQLite before the value is read, so that no other process reads it meanwhile.
        session.execute(update(RateLimit).where(RateLimit.key == key).values(tat=RateLimit.tat))
        tats[key] = float(session.scalar(select(RateLimit.tat).where(RateLimit.key == key)) or 0)
    wait = 0.0
    for key, rate in by_key.items():
        interval = 1.0 / rate.per_second
        tolerance = (rate.burst - 1) * interval
        tat = max(tats[key], now)
        wait = max(wait, tat - now - tolerance)
    if wait > 0:
        return wait
    for key, rate in by_key.items():
        new_tat = max(tats[key], now) + 1.0 / rate.per_second
        session.execute(update(RateLimit).where(RateLimit.key == key).values(tat=new_tat))
    return 0.0


class RateLimiter:
    def __init__(
        self, sessions: sessionmaker[Session], *, clock: Callable[[], float] = time.time
    ) -> None:
        self._sessions = sessions
        # Wall-clock seconds: the processes sharing a limit share no monotonic clock.
        self._clock = clock

    async def acquire(self, rates: Sequence[Rate]) -> float:
        if not rates:
            return 0.0
        return await in_transaction(
            self._sessions, lambda s: check_and_consume(s, rates, now=self._clock())
        )
