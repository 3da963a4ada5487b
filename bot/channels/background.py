"""Answers worked on after the platform got its acknowledgement (a Telegram webhook's 200,
WeChat's ``success``): kept referenced so that none is garbage-collected half-way, logged
when one fails, waited for at shutdown. What does not finish in time is answered by the
sweeper after a restart (the message was stored before it was acknowledged)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class BackgroundAnswers:
    def __init__(self, what: str) -> None:
        self._what = what  # for the log: "a Telegram update", "a WeChat message"
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("answering %s failed", self._what, exc_info=task.exception())

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for the answers under way (at shutdown, and in tests)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
