"""Sends the outbox's rows through their channels: the one sender of every process.

Every gateway and worker runs one. It keeps up to ``batch`` sends in flight: it claims
the due rows of the channels this process can push to (one per recipient, the oldest:
rows to one chat go out in order), and sends each as soon as its rate limits allow (a
moment booked in the shared limits, bot.delivery.rate_limit; a row whose moment is too
far off goes back to wait). A send goes to the channel's ``deliver``, whose answer
decides the row's next state:

- delivered: final;
- retry later: again after the platform's own delay (Telegram's ``retry_after``) or an
  exponential backoff, until ``max_attempts`` tries have failed: then ``failed``;
- blocked (the user blocked the bot): final, and the chat gets no more messages until
  the user writes again;
- failed (the platform refuses the message for good): final, with the reason;
- held (the platform would refuse it until the user writes again): not tried, it waits
  for the user's next message, with its reason for staff.

A send that raises is a retry. When nothing is due the dispatcher sleeps until it is
kicked (a turn or a job enqueued something), a send finishes, or ``idle_s`` passed (for
rows enqueued by other processes).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot import metrics
from bot.db import in_transaction
from bot.db.models import ChatIdentity, utcnow
from bot.delivery import outbox
from bot.delivery.channel import (
    Blocked,
    Delivered,
    DeliveryResult,
    Failed,
    Held,
    PushChannel,
    RetryLater,
)
from bot.delivery.outbox import Item
from bot.delivery.rate_limit import Limiter, RateLimiter

log = logging.getLogger(__name__)

# How often a dispatcher ends the rows of chats that blocked the bot (see _claim).
BLOCKED_SWEEP_S = 30.0


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    # 5 s, 10 s, 20 s ... at most 10 minutes between tries (about 20 minutes in all).
    base_s: float = 5.0
    cap_s: float = 600.0

    def backoff(self, attempts: int) -> float:
        """The delay after the ``attempts``-th failed try, with jitter, so that rows that
        failed together do not all come back at the same moment."""
        delay = min(self.cap_s, self.base_s * 2.0 ** max(0, attempts - 1))
        return float(delay * random.uniform(0.8, 1.0))


@dataclass
class RoundReport:
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    postponed: int = 0
    ended: int = 0
    held: int = 0


class Dispatcher:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        channels: Mapping[str, PushChannel],
        *,
        limiter: Limiter | None = None,
        policy: RetryPolicy | None = None,
        batch: int = 64,
        lease: dt.timedelta = dt.timedelta(seconds=60),
        idle_s: float = 1.0,
    ) -> None:
        self._sessions = sessions
        self._channels = dict(channels)
        self._limiter: Limiter = limiter or RateLimiter(sessions)
        self.policy = policy or RetryPolicy()
        self._batch = batch
        self._lease = lease
        self._idle_s = idle_s
        self._owner = uuid.uuid4().hex
        self._next_blocked_sweep = 0.0
        self._kicked = asyncio.Event()
        # Recording that a message went out gets threads of its own: queued behind the
        # claims and rate-limit bookings of the other sends in flight, a recording took
        # long enough that a process killed meanwhile left messages Telegram had accepted
        # unrecorded, and another process sent them again (measured: 3 reminders of 92).
        self._recorder = ThreadPoolExecutor(max_workers=2, thread_name_prefix="outbox-record")

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(self._channels)

    async def aclose(self) -> None:
        """Close the rate limiter's connection, if it has one (Redis)."""
        close = getattr(self._limiter, "aclose", None)
        if close is not None:
            await close()

    def kick(self) -> None:
        """Something was enqueued: send it now rather than at the next idle poll."""
        self._kicked.set()

    async def _claim(self, limit: int) -> list[Item]:
        # A blocked chat's due rows end "blocked" as they come up; the sweep of all it
        # waits for looks at every blocked chat, so it runs every BLOCKED_SWEEP_S, not on
        # each of the many claims a second under load (a cluster gateway spent 6% of its
        # time there).
        now = time.monotonic()
        end_blocked = now >= self._next_blocked_sweep
        if end_blocked:
            self._next_blocked_sweep = now + BLOCKED_SWEEP_S
        return await in_transaction(
            self._sessions,
            lambda s: outbox.claim_due(
                s,
                channels=self._channels,
                owner=self._owner,
                lease=self._lease,
                limit=limit,
                end_blocked=end_blocked,
            ),
        )

    async def run_round(self) -> RoundReport:
        """Claim what is due and send it, all at once: one step, for tests and benches."""
        report = RoundReport()
        if not self._channels:
            return report
        items = await self._claim(self._batch)
        report.claimed = len(items)
        for outcome in await asyncio.gather(*(self._send(item) for item in items)):
            setattr(report, outcome, getattr(report, outcome) + 1)
        return report

    async def run(self, stop: asyncio.Event) -> None:
        """Send until ``stop`` is set, with up to ``batch`` sends in flight; a database
        that is down is waited out."""
        inflight: set[asyncio.Task[str]] = set()
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                free = self._batch - len(inflight)
                items: list[Item] = []
                # Cleared before the claim: a row enqueued while it runs kicks again, and
                # is claimed next, without a second claim after every one "in case".
                self._kicked.clear()
                if free > 0 and self._channels:
                    try:
                        items = await self._claim(free)
                    except SQLAlchemyError:
                        log.exception("outbox: database failure; trying again shortly")
                inflight |= {asyncio.create_task(self._send(item)) for item in items}
                kicked = asyncio.ensure_future(self._kicked.wait())
                done, _ = await asyncio.wait(
                    {kicked, stopping, *inflight},
                    timeout=self._idle_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                kicked.cancel()
                for task in done & inflight:
                    inflight.discard(task)
                    if task.exception() is not None:
                        log.error("outbox: a send failed", exc_info=task.exception())
        finally:
            stopping.cancel()
            if inflight:  # sends under way finish; their rows would be sent again anyway
                await asyncio.wait(inflight, timeout=10)

    async def _send(self, item: Item) -> str:
        channel = self._channels[item.channel]
        slot = await self._limiter.acquire(channel.rates(item))
        if not slot.booked:
            at = utcnow() + dt.timedelta(seconds=slot.delay)
            await in_transaction(
                self._sessions,
                lambda s: outbox.postpone(s, row_id=item.id, owner=self._owner, at=at),
            )
            return "postponed"
        if slot.delay > 0:
            await asyncio.sleep(slot.delay)
        try:
            result: DeliveryResult = await channel.deliver(item)
        except Exception as exc:  # a bug or an unforeseen error of the platform's client
            log.exception("outbox row %s: %s deliver raised", item.id, item.channel)
            result = RetryLater(reason=f"{exc.__class__.__name__}")
        outcome = await in_transaction(
            self._sessions, lambda s: self._record(s, item, result), executor=self._recorder
        )
        metrics.DELIVERIES.labels(item.channel, item.kind, outcome).inc()
        if outcome == "delivered":
            metrics.REPLIES.labels(item.channel, item.language, "outbox").inc()
        return outcome

    def _record(self, session: Session, item: Item, result: DeliveryResult) -> str:
        now = utcnow()
        attempts = item.attempts + 1
        if isinstance(result, Delivered):
            outbox.delivered(session, row_id=item.id, owner=self._owner, now=now)
            return "delivered"
        if isinstance(result, Held):
            outbox.hold(session, row_id=item.id, owner=self._owner, reason=result.reason)
            log.info("outbox row %s (%s): held, %s", item.id, item.kind, result.reason)
            return "held"
        if isinstance(result, RetryLater) and attempts < self.policy.max_attempts:
            delay = result.after_s if result.after_s is not None else self.policy.backoff(attempts)
            at = now + dt.timedelta(seconds=delay)
            outbox.retry_at(session, row_id=item.id, owner=self._owner, at=at, error=result.reason)
            log.info(
                "outbox row %s: try %s failed (%s); next in %.1fs",
                item.id,
                attempts,
                result.reason,
                delay,
            )
            return "retried"
        if isinstance(result, Blocked):
            status, reason = "blocked", result.reason
            if item.identity_id is not None:
                session.execute(
                    update(ChatIdentity)
                    .where(ChatIdentity.id == item.identity_id)
                    .values(blocked_at=now)
                )
        elif isinstance(result, Failed):
            status, reason = "failed", result.reason
        else:
            status, reason = "failed", f"failed after {attempts} tries: {result.reason}"
        outbox.ended(
            session, row_id=item.id, owner=self._owner, status=status, error=reason, now=now
        )
        log.warning("outbox row %s (%s): %s, %s", item.id, item.kind, status, reason)
        return "ended"
