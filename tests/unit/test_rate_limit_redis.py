"""The outbox's rate limits in Redis (the cluster): the same generic cell rate algorithm
as the database's (bot.delivery.rate_limit.book), one script per send, shared by every
process; while Redis fails, the database's limiter counts instead."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.delivery.channel import Rate
from bot.delivery.rate_limit import RateLimiter, RedisRateLimiter, Slot
from tests.conftest import REDIS_URL, redis_or_skip
from tests.helpers import GCRA_BURST_ANSWERS, GCRA_BURST_MOMENTS, GCRA_QUEUE_ANSWERS


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class NoFallback:
    async def acquire(self, rates: object) -> Slot:
        raise AssertionError("Redis is up: the database's limiter must not be asked")


MakeLimiter = Callable[..., RedisRateLimiter]


def key() -> str:
    return f"test:{uuid.uuid4().hex}"  # a key no other run used


@pytest.fixture
async def limiter_at() -> AsyncIterator[MakeLimiter]:
    redis_or_skip()
    made: list[RedisRateLimiter] = []

    def make(clock: Clock, max_wait: float = 0.0) -> RedisRateLimiter:
        limiter = RedisRateLimiter(REDIS_URL, NoFallback(), clock=clock, max_wait=max_wait)
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        await limiter.aclose()


async def test_a_burst_then_the_rate_as_the_database_does(limiter_at: MakeLimiter) -> None:
    clock = Clock(1000.0)
    limiter = limiter_at(clock)
    rate = Rate(key(), per_second=1.0, burst=3)
    results = []
    for t in GCRA_BURST_MOMENTS:
        clock.now = 1000.0 + t
        slot = await limiter.acquire([rate])
        results.append((round(slot.delay, 3), slot.booked))
    assert results == GCRA_BURST_ANSWERS


async def test_near_moments_are_booked_far_ones_are_not(limiter_at: MakeLimiter) -> None:
    limiter = limiter_at(Clock(50.0), max_wait=2.0)
    rate = Rate(key(), per_second=2.0, burst=1)
    slots = [await limiter.acquire([rate]) for _ in range(6)]
    assert [(round(s.delay, 6), s.booked) for s in slots] == GCRA_QUEUE_ANSWERS


async def test_a_send_refused_by_one_limit_consumes_none(limiter_at: MakeLimiter) -> None:
    clock = Clock(100.0)
    limiter = limiter_at(clock)
    chat, bot = Rate(key(), per_second=1.0, burst=1), Rate(key(), per_second=30.0, burst=1)
    assert await limiter.acquire([chat, bot]) == Slot(0.0, True)
    clock.now = 100.5
    refused = await limiter.acquire([chat, bot])
    assert refused.delay == pytest.approx(0.5) and not refused.booked
    # The bot's limit did not count the refused send: another chat may send at once.
    other = Rate(key(), per_second=1.0, burst=1)
    clock.now = 100.0 + 1 / 30
    assert await limiter.acquire([other, bot]) == Slot(0.0, True)


async def test_two_gateways_asking_at_once_book_each_moment_once(limiter_at: MakeLimiter) -> None:
    clock = Clock(5000.0)
    first, second = limiter_at(clock, 10.0), limiter_at(clock, 10.0)
    rate = Rate(key(), per_second=5.0, burst=5)
    slots = await asyncio.gather(*(
        (first if i % 2 else second).acquire([rate]) for i in range(20)
    ))  # fmt: skip
    assert all(s.booked for s in slots)
    assert sorted(round(s.delay, 6) for s in slots) == [0.0] * 5 + [
        round(0.2 * k, 6) for k in range(1, 16)
    ]


async def test_redis_down_the_database_counts_and_it_is_said_once(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(7000.0)
    fallback = RateLimiter(sessions, clock=clock, max_wait=0.0)
    # Nothing listens on port 1.
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", fallback, clock=clock, max_wait=0.0)
    rate = Rate(key(), per_second=1.0, burst=2)
    with caplog.at_level(logging.WARNING, logger="bot.delivery.rate_limit"):
        slots = [await limiter.acquire([rate]) for _ in range(3)]
    await limiter.aclose()
    # The limit still holds: the database counted the burst of 2 and refused the third.
    assert [s.booked for s in slots] == [True, True, False]
    warnings = [r for r in caplog.records if "rate limits in Redis unavailable" in r.getMessage()]
    assert len(warnings) == 1
