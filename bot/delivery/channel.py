"""What a channel implements to deliver a message from the outbox, and what it answers.

A pushing channel (Telegram, WeChat) sends an outbox item to the platform and says how
it went; the dispatcher (bot.delivery.dispatcher) turns the answer into the row's next
state. A collecting channel (the web chat, the terminal chat) has no ``deliver``: its
clients take their rows from the outbox themselves (bot.delivery.mailbox).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.delivery.outbox import Item


@dataclass(frozen=True)
class Rate:
    """A rate limit shared by every process: ``per_second`` on average, bursts of up to
    ``burst`` at once (bot.delivery.rate_limit)."""

    key: str
    per_second: float
    burst: int = 1


@dataclass(frozen=True)
class Delivered:
    pass


@dataclass(frozen=True)
class RetryLater:
    """Not delivered, worth trying again: after ``after_s`` (the platform said so, e.g.
    Telegram's retry_after), or after the dispatcher's backoff when None."""

    reason: str
    after_s: float | None = None


@dataclass(frozen=True)
class Blocked:
    """The user blocked the bot: nothing more is sent to them until they write again."""

    reason: str


@dataclass(frozen=True)
class Failed:
    """Never deliverable as it is (a chat that does not exist, a message refused)."""

    reason: str


@dataclass(frozen=True)
class Held:
    """Not tried: the platform allows it only after the user writes again (WeChat's
    customer-service window). The row waits for that (bot.delivery.outbox.release_held)."""

    reason: str


DeliveryResult = Delivered | RetryLater | Blocked | Failed | Held


class PushChannel(Protocol):
    name: str

    def rates(self, item: Item) -> Sequence[Rate]:
        """The rate limits that this item counts against."""
        ...

    async def deliver(self, item: Item) -> DeliveryResult: ...
