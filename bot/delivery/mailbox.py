"""Where the clients of collecting channels (the web chat's open pages, the terminal
chat) learn that the outbox holds something for them.

A client waits on its chat's event; the event is set when this process enqueued a row
(``kick``), or when the mailbox's poll finds rows that another process enqueued (a
reminder from the worker, a reply sent later by another gateway). The rows themselves
are read and marked collected with bot.delivery.outbox.collect and mark_collected.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Collection

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.db import in_transaction
from bot.delivery import outbox

log = logging.getLogger(__name__)


class Mailbox:
    def __init__(
        self, sessions: sessionmaker[Session], channels: Collection[str], *, poll_s: float = 1.0
    ) -> None:
        self._sessions = sessions
        self._channels = tuple(channels)
        self._poll_s = poll_s
        # Weak: the event of a page that went away goes with it.
        self._events: weakref.WeakValueDictionary[int, asyncio.Event] = (
            weakref.WeakValueDictionary()
        )
        self._kicked = asyncio.Event()
        self._seen = -1

    def event(self, identity_id: int) -> asyncio.Event:
        """Set at the next row for this chat; take it before reading, then wait on it."""
        event = self._events.get(identity_id)
        if event is None:
            event = self._events[identity_id] = asyncio.Event()
        return event

    def kick(self) -> None:
        self._kicked.set()

    async def check(self) -> None:
        """Wake the clients of chats that got rows since the last check."""
        channels = self._channels
        if self._seen < 0:
            self._seen = await in_transaction(
                self._sessions, lambda s: outbox.newest_id(s, channels=channels)
            )
            return
        newest = await in_transaction(
            self._sessions, lambda s: outbox.newest_id(s, channels=channels)
        )
        if newest <= self._seen:
            return
        seen = self._seen
        chats = await in_transaction(
            self._sessions, lambda s: outbox.identities_since(s, channels=channels, after_id=seen)
        )
        self._seen = newest
        for identity_id in chats:
            event = self._events.pop(identity_id, None)
            if event is not None:
                event.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.check()
            except SQLAlchemyError:
                log.warning("mailbox: database unavailable; trying again shortly")
            self._kicked.clear()
            waiters = [
                asyncio.ensure_future(self._kicked.wait()),
                asyncio.ensure_future(stop.wait()),
            ]
            try:
                await asyncio.wait(
                    waiters, timeout=self._poll_s, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for w in waiters:
                    w.cancel()
