"""How fast one chat may write: a person types a few messages in ten seconds; a script
or a stuck key sends a hundred. Beyond the limit a chat is told once to slow down, and
its messages are stored and rejected without reaching Rasa, so that one chat cannot slow
everyone else's answers.

The `limits` library's moving window, in Redis when REDIS_URL is set (every gateway of a
deployment counts the same chat together), else in this process's memory (the
one-process default), with the same rules: `limits`' syntax, a moving window. When
Redis is unreachable the guard lets messages through and says so in the log: a broken
counter must not silence users.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from enum import Enum
from typing import Protocol

from limits import RateLimitItem, parse_many
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

log = logging.getLogger(__name__)

# Two messages a second at most, sustained for ten seconds, and fewer over a minute. A
# complaint's album of ten photos with its form's answers still fits (10 a 10 s did not:
# the end-to-end tests of complaints with photos, which write as fast as a script).
DEFAULT_LIMITS = "20 per 10 seconds; 60 per minute"
# One "slow down" per chat in this window; the chat's other rejected messages get none.
NOTICE = "1 per 30 seconds"
# How often a Redis failure is logged (it is retried on every message).
LOG_EVERY_S = 60.0


class Verdict(Enum):
    OK = "ok"
    NOTICE = "notice"  # over the limit: tell the user to slow down
    SILENT = "silent"  # over the limit, and told already


class Windows(Protocol):
    async def hit(self, item: RateLimitItem, *identifiers: str) -> bool: ...


class MemoryWindows:
    """A moving window per chat in this process's memory: the times of its last hits.

    Not limits' own memory storage: its asyncio version, on every hit, walks every chat
    counted in the last minute with a hop to a thread for each (one chat a message, at
    20 messages a second, is over a thousand hops per hit; it was the gateway's largest
    cost in bench/turn_profile.py). Here a hit costs a few list operations, and chats
    gone quiet are dropped once a minute.
    """

    SWEEP_EVERY_S = 60.0

    def __init__(self) -> None:
        self._hits: dict[str, deque[float]] = {}
        self._longest = 0.0
        self._next_sweep = 0.0

    async def hit(self, item: RateLimitItem, *identifiers: str) -> bool:
        now = time.monotonic()
        window = float(item.get_expiry())
        self._longest = max(self._longest, window)
        if now >= self._next_sweep:
            self._sweep(now)
        hits = self._hits.setdefault(item.key_for(*identifiers), deque())
        while hits and hits[0] <= now - window:
            hits.popleft()
        if len(hits) >= item.amount:
            return False
        hits.append(now)
        return True

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + self.SWEEP_EVERY_S
        stale = [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - self._longest]
        for key in stale:
            del self._hits[key]

    def __len__(self) -> int:
        return len(self._hits)


class FloodGuard:
    def __init__(self, redis_url: str = "", *, limits: str = DEFAULT_LIMITS) -> None:
        self._limiter: Windows
        if redis_url:
            # limits' own scheme for its asyncio Redis storage, with redis-py underneath.
            uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
            storage = RedisStorage(uri, implementation="redispy", key_prefix="expatbot-flood")
            self._limiter = MovingWindowRateLimiter(storage)
        else:
            self._limiter = MemoryWindows()
        self._limits: list[RateLimitItem] = parse_many(limits or DEFAULT_LIMITS)
        self._notice: RateLimitItem = parse_many(NOTICE)[0]
        self._last_error_log = 0.0

    async def check(self, chat: int) -> Verdict:
        key = str(chat)
        try:
            allowed = [await self._limiter.hit(item, "chat", key) for item in self._limits]
            if all(allowed):
                return Verdict.OK
            first = await self._limiter.hit(self._notice, "notice", key)
        except Exception as exc:
            now = time.monotonic()
            if now - self._last_error_log > LOG_EVERY_S:
                self._last_error_log = now
                log.warning("flood guard unavailable (%s): not limiting", exc.__class__.__name__)
            return Verdict.OK
        return Verdict.NOTICE if first else Verdict.SILENT
