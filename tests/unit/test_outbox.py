"""The outbox (bot/delivery): one row per idempotency key, claimed with a lease, retried
with backoff that honours Telegram's retry_after, a final state with its reason, and
rate limits shared by every process. Sent through the real python-telegram-bot client
to the fake Bot API over HTTP. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import AsyncIterator, Sequence

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.db import transaction
from bot.db.models import ChatIdentity, Outbox, RateLimit, utcnow
from bot.delivery import outbox
from bot.delivery.channel import Delivered, DeliveryResult, Rate
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.outbox import Item
from bot.delivery.rate_limit import RateLimiter, Slot, book
from bot.pipeline.assistant import Assistant
from tests.helpers import GCRA_BURST_ANSWERS, GCRA_BURST_MOMENTS, GCRA_QUEUE_ANSWERS
from tests.telegram_rig import Rig, telegram_rig


@pytest.fixture
async def rig(assistant: Assistant) -> AsyncIterator[Rig]:
    async with telegram_rig(assistant) as rig:
        yield rig


def chat(sessions: sessionmaker[Session], external_id: str = "4242") -> int:
    with transaction(sessions) as s:
        identity = ChatIdentity(channel="telegram", external_id=external_id)
        s.add(identity)
        s.flush()
        return identity.id


def enqueue(
    sessions: sessionmaker[Session], key: str, *, recipient: str = "4242", text: str = "hi"
) -> int | None:
    with transaction(sessions) as s:
        identity = s.scalar(select(ChatIdentity).where(ChatIdentity.external_id == recipient))
        return outbox.enqueue(
            s,
            key=key,
            channel="telegram",
            recipient=recipient,
            identity_id=identity.id if identity else None,
            kind="reminder",
            text=text,
            language="en",
        )


def row(sessions: sessionmaker[Session], row_id: int) -> Outbox:
    with sessions() as s:
        found = s.get(Outbox, row_id)
        assert found is not None
        return found


async def until_final(sessions: sessionmaker[Session], row_id: int, timeout: float = 15) -> Outbox:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        found = row(sessions, row_id)
        if found.status in outbox.FINAL:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"row {row_id} still {row(sessions, row_id).status}")


def test_one_row_per_idempotency_key(sessions: sessionmaker[Session]) -> None:
    chat(sessions)
    first = enqueue(sessions, "reminder:1:1")
    assert first is not None
    assert enqueue(sessions, "reminder:1:1", text="again") is None
    with sessions() as s:
        assert [r.text for r in s.scalars(select(Outbox))] == ["hi"]


async def test_a_send_that_fails_twice_then_succeeds_is_delivered_once(
    rig: Rig, sessions: sessionmaker[Session]
) -> None:
    chat(sessions)
    rig.fake.send_failures = [(500, "Internal Server Error", None)] * 2
    row_id = enqueue(sessions, "k1")
    assert row_id is not None
    rig.dispatcher.kick()
    done = await until_final(sessions, row_id)
    assert (done.status, done.attempts, done.last_error) == ("delivered", 3, None)
    assert len(rig.fake.attempts) == 3 and len(rig.fake.delivered) == 1


async def test_a_429_with_retry_after_is_honoured(
    rig: Rig, sessions: sessionmaker[Session]
) -> None:
    chat(sessions)
    rig.fake.send_failures = [(429, "Too Many Requests: retry after 1", 1)]
    row_id = enqueue(sessions, "k-flood")
    assert row_id is not None
    rig.dispatcher.kick()
    done = await until_final(sessions, row_id)
    assert done.status == "delivered" and done.attempts == 2
    (first, _), (second, _) = rig.fake.attempts
    # The fast test policy's own backoff is 0.05 s: the 1 s wait is Telegram's.
    assert second - first >= 1.0


async def test_a_user_who_blocked_the_bot_ends_blocked_and_is_not_written_to_again(
    rig: Rig, sessions: sessionmaker[Session]
) -> None:
    identity_id = chat(sessions)
    rig.fake.blocked.add(4242)
    row_id = enqueue(sessions, "k-blocked")
    assert row_id is not None
    rig.dispatcher.kick()
    done = await until_final(sessions, row_id)
    assert done.status == "blocked" and "blocked by the user" in (done.last_error or "")
    assert len(rig.fake.attempts) == 1  # a block is final: no retries
    with sessions() as s:
        identity = s.get(ChatIdentity, identity_id)
        assert identity is not None and identity.blocked_at is not None
    # What is queued for them afterwards ends "blocked" untried (a ticket's update, say),
    # until they write again.
    later = enqueue(sessions, "k-after-block")
    assert later is not None
    rig.dispatcher.kick()
    done = await until_final(sessions, later)
    assert done.status == "blocked" and done.attempts == 0
    assert len(rig.fake.attempts) == 1


def test_a_blocked_chats_rows_end_as_they_come_up_without_the_sweep(
    sessions: sessionmaker[Session],
) -> None:
    """The sweep of everything a blocked chat waits for runs now and then (it looks at
    every blocked chat); between sweeps, its due rows still end "blocked", untried, and
    are never handed to a sender."""
    identity_id = chat(sessions)
    other = chat(sessions, "5151")
    with transaction(sessions) as s:
        s.execute(
            update(ChatIdentity).where(ChatIdentity.id == identity_id).values(blocked_at=utcnow())
        )
    first, second = enqueue(sessions, "b-1"), enqueue(sessions, "b-2")
    fine = enqueue(sessions, "ok-1", recipient="5151")
    assert first and second and fine and other

    def claim() -> list[Item]:
        with transaction(sessions) as s:
            return outbox.claim_due(
                s, channels=["telegram"], owner="t", lease=dt.timedelta(seconds=60),
                limit=10, end_blocked=False,
            )  # fmt: skip

    assert [i.id for i in claim()] == [fine]
    assert (row(sessions, first).status, row(sessions, first).attempts) == ("blocked", 0)
    assert row(sessions, second).status == "pending"  # behind the first, its turn next
    assert claim() == []
    assert row(sessions, second).status == "blocked"


async def test_a_refused_message_fails_at_once_with_its_reason(
    rig: Rig, sessions: sessionmaker[Session]
) -> None:
    chat(sessions)
    rig.fake.send_failures = [(400, "Bad Request: chat not found", None)]
    row_id = enqueue(sessions, "k-bad")
    assert row_id is not None
    rig.dispatcher.kick()
    done = await until_final(sessions, row_id)
    assert (done.status, done.attempts) == ("failed", 1)
    assert done.last_error == "Telegram: Chat not found"


async def test_failed_after_the_last_try(rig: Rig, sessions: sessionmaker[Session]) -> None:
    chat(sessions)
    rig.fake.send_failures = [(502, "Bad Gateway", None)] * 10
    row_id = enqueue(sessions, "k-down")
    assert row_id is not None
    rig.dispatcher.kick()
    done = await until_final(sessions, row_id)
    tries = rig.dispatcher.policy.max_attempts
    assert (done.status, done.attempts) == ("failed", tries)
    assert (done.last_error or "").startswith(f"failed after {tries} tries")
    assert len(rig.fake.attempts) == tries and rig.fake.delivered == []


async def test_rows_to_one_chat_go_out_in_order(rig: Rig, sessions: sessionmaker[Session]) -> None:
    """The first row waits for a retry; the second must not overtake it."""
    chat(sessions)
    rig.fake.send_failures = [(429, "Too Many Requests: retry after 1", 1)]
    first = enqueue(sessions, "k-a", text="first")
    second = enqueue(sessions, "k-b", text="second")
    assert first is not None and second is not None
    rig.dispatcher.kick()
    await until_final(sessions, second)
    texts = [p["text"] for p in rig.fake.sent("sendMessage")]
    assert texts == ["first", "first", "second"]


class CountingChannel:
    """A push channel that counts deliveries (and can be slow), for claim tests."""

    name = "telegram"

    def __init__(self, delay: float = 0.0) -> None:
        self.delivered: list[int] = []
        self.delay = delay

    def rates(self, item: Item) -> Sequence[Rate]:
        return ()

    async def deliver(self, item: Item) -> DeliveryResult:
        await asyncio.sleep(self.delay)
        self.delivered.append(item.id)
        return Delivered()


async def test_two_senders_never_send_one_row_twice(sessions: sessionmaker[Session]) -> None:
    for n in range(12):
        chat(sessions, external_id=str(n))
        enqueue(sessions, f"k{n}", recipient=str(n))
    channel = CountingChannel(delay=0.02)
    a = Dispatcher(sessions, {"telegram": channel})
    b = Dispatcher(sessions, {"telegram": channel})
    for _ in range(3):
        await asyncio.gather(a.run_round(), b.run_round())
    assert sorted(channel.delivered) == sorted(set(channel.delivered))
    assert len(channel.delivered) == 12


async def test_a_crash_mid_send_leads_to_a_resend_once_the_lease_expires(
    sessions: sessionmaker[Session],
) -> None:
    chat(sessions)
    row_id = enqueue(sessions, "k-crash")
    assert row_id is not None
    with transaction(sessions) as s:  # a sender claimed it, then its process died
        claimed = outbox.claim_due(
            s, channels=["telegram"], owner="dead", lease=dt.timedelta(seconds=60), limit=10
        )
        assert [c.id for c in claimed] == [row_id]
    channel = CountingChannel()
    alive = Dispatcher(sessions, {"telegram": channel})
    await alive.run_round()
    assert channel.delivered == []  # the lease still holds: nobody else sends it
    with transaction(sessions) as s:
        s.execute(update(Outbox).values(lease_until=utcnow() - dt.timedelta(seconds=1)))
    await alive.run_round()
    assert channel.delivered == [row_id]
    assert row(sessions, row_id).status == "delivered"
    # The dead sender's late answer no longer counts: the row is not its any more.
    with transaction(sessions) as s:
        assert not outbox.delivered(s, row_id=row_id, owner="dead")


def test_gcra_allows_a_burst_then_the_rate(sessions: sessionmaker[Session]) -> None:
    rate = Rate("chat:1", per_second=1.0, burst=3)
    results = []
    for t in GCRA_BURST_MOMENTS:
        with transaction(sessions) as s:
            slot = book(s, [rate], now=1000 + t, max_wait=0.0)
            results.append((round(slot.delay, 3), slot.booked))
    assert results == GCRA_BURST_ANSWERS


def test_a_near_moment_is_booked_a_far_one_is_not(sessions: sessionmaker[Session]) -> None:
    """Senders queueing for one limit are spaced out, each with its own booked moment,
    instead of all trying again at once; a moment too far off is not booked."""
    rate = Rate("telegram:bot", per_second=2.0, burst=1)
    slots = []
    for _ in range(6):
        with transaction(sessions) as s:
            slots.append(book(s, [rate], now=50.0, max_wait=2.0))
    assert [(s.delay, s.booked) for s in slots] == GCRA_QUEUE_ANSWERS


def test_a_send_refused_by_one_limit_consumes_none(sessions: sessionmaker[Session]) -> None:
    chat_rate = Rate("chat:1", per_second=1.0, burst=1)
    bot_rate = Rate("bot", per_second=30.0, burst=1)
    with transaction(sessions) as s:
        assert book(s, [chat_rate, bot_rate], now=100.0, max_wait=0.0) == Slot(0.0, True)
    with transaction(sessions) as s:
        bot_before = s.get(RateLimit, "bot")
        assert bot_before is not None
        tat = bot_before.tat
    with transaction(sessions) as s:
        refused = book(s, [chat_rate, bot_rate], now=100.5, max_wait=0.0)
        assert refused.delay == pytest.approx(0.5) and not refused.booked
    with transaction(sessions) as s:
        bot_after = s.get(RateLimit, "bot")
        assert bot_after is not None and bot_after.tat == tat


def test_limits_hold_across_processes(sessions: sessionmaker[Session]) -> None:
    """Four threads (as four gateways would) asking at once: each moment is booked once,
    so no more than the burst goes at one instant and the rest are spaced at the rate,
    however the requests interleave."""
    rate = Rate("telegram:bot", per_second=5.0, burst=5)
    limiter = RateLimiter(sessions, clock=lambda: 5000.0, max_wait=10.0)
    delays: list[float] = []

    def ask() -> None:
        for _ in range(5):
            slot = asyncio.run(limiter.acquire([rate]))
            assert slot.booked
            delays.append(round(slot.delay, 6))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(delays) == [0.0] * 5 + [round(0.2 * k, 6) for k in range(1, 16)]
