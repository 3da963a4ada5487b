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

With Redis (REDIS_URL, the cluster) the same algorithm runs in Redis as one script over
every key of the send (``RedisRateLimiter``): one round trip instead of a transaction of
eight statements, which was the largest part of a cluster gateway's database work per
Telegram message. When Redis fails, the database's limiter takes over until it is back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import redis.asyncio as aioredis
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.db import in_transaction, insert_unless_present
from bot.db.models import RateLimit
from bot.delivery.channel import Rate

log = logging.getLogger(__name__)


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


class Limiter(Protocol):
    async def acquire(self, rates: Sequence[Rate]) -> Slot: ...


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


# KEYS: the limits' keys; ARGV: now, max_wait, then per_second and burst of each key.
# The same steps as ``book``; Redis runs a script alone, as the database's row locks
# make ``book`` run alone. Numbers come back as strings (Lua would round them).
_BOOK_SCRIPT = """
local now = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local at = now
local tats = {}
for i, key in ipairs(KEYS) do
  local tat = tonumber(redis.call('GET', key) or '0')
  tats[i] = tat
  local tolerance = (tonumber(ARGV[2 * i + 2]) - 1) / tonumber(ARGV[2 * i + 1])
  if tat - tolerance > at then at = tat - tolerance end
end
local delay = at - now
if delay > max_wait then return {tostring(delay), 0} end
for i, key in ipairs(KEYS) do
  local new_tat = math.max(tats[i], at) + 1.0 / tonumber(ARGV[2 * i + 1])
  -- Kept a minute past its TAT: an absent key reads as 0, which is what it would say.
  local ttl = math.ceil((new_tat - now) * 1000) + 60000
  redis.call('SET', key, string.format('%.6f', new_tat), 'PX', ttl)
end
return {tostring(delay), 1}
"""

# How often a Redis failure is logged (every send tries Redis first).
LOG_EVERY_S = 60.0


class RedisRateLimiter:
    """``book`` in Redis, with ``fallback`` (the database's limiter) while Redis fails."""

    PREFIX = "expatbot-rate:"

    def __init__(
        self,
        redis_url: str,
        fallback: Limiter,
        *,
        clock: Callable[[], float] = time.time,
        max_wait: float = 2.0,
    ) -> None:
        self._redis: Any = aioredis.Redis.from_url(
            redis_url, socket_timeout=2, socket_connect_timeout=2
        )
        self._script = self._redis.register_script(_BOOK_SCRIPT)
        self._fallback = fallback
        self._clock = clock
        self.max_wait = max_wait
        self._last_error_log = 0.0

    async def acquire(self, rates: Sequence[Rate]) -> Slot:
        if not rates:
            return Slot(0.0, booked=True)
        by_key = {r.key: r for r in rates}
        keys = sorted(by_key)
        args: list[float] = [self._clock(), self.max_wait]
        for key in keys:
            args += [by_key[key].per_second, by_key[key].burst]
        try:
            delay, booked = await self._script(keys=[self.PREFIX + k for k in keys], args=args)
        except aioredis.RedisError as exc:
            now = time.monotonic()
            if now - self._last_error_log > LOG_EVERY_S:
                self._last_error_log = now
                log.warning(
                    "rate limits in Redis unavailable (%s): counted in the database",
                    exc.__class__.__name__,
                )
            return await self._fallback.acquire(rates)
        return Slot(float(delay), booked=bool(int(booked)))

    async def aclose(self) -> None:
        await self._redis.aclose()
