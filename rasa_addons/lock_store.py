"""Rasa's Redis lock store, which keeps serving while Redis is unreachable.

Rasa takes a lock per conversation around each turn, so that two Rasa servers never run
turns of one conversation at once. With Rasa's own Redis lock store, every turn fails
while Redis is down (measured: 120 of 150 messages apologised for during a 60-second
outage). The gateway already sends a conversation's messages one at a time, across all
gateways (the inbox lease in the database), so Rasa's lock is a second guard: while Redis
cannot be reached, this store takes the lock in this server's memory instead, says so
in the log and in /metrics, and goes back to Redis as soon as it answers.

Configured in deploy/rasa-endpoints.yml as `type: rasa_addons.lock_store.RedisOrLocalLockStore`
with the same settings as Rasa's `redis` type. Runs inside Rasa (.venv-rasa).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

from rasa.core.lock import TicketLock
from rasa.core.lock_store import (
    LOCK_LIFETIME,
    InMemoryLockStore,
    LockError,
    LockStore,
    RedisLockStore,
)
from rasa.utils.endpoints import EndpointConfig
from redis.exceptions import RedisError

from rasa_addons import metrics

log = logging.getLogger(__name__)
LOG_EVERY_S = 30.0


def redis_failed(error: BaseException) -> bool:
    """Whether an error taking the lock is Redis being unreachable (Rasa wraps it in a
    LockError when it happens while issuing the ticket)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, RedisError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class RedisOrLocalLockStore(LockStore):
    def __init__(self, endpoint_config: EndpointConfig) -> None:
        self._redis = RedisLockStore(host=endpoint_config.url, **endpoint_config.kwargs)
        self._local = InMemoryLockStore()
        self._last_log = 0.0

    # Rasa's interface, for anything that reads the store directly: Redis's.
    def get_lock(self, conversation_id: str) -> TicketLock | None:
        return self._redis.get_lock(conversation_id)

    def delete_lock(self, conversation_id: str) -> None:
        self._redis.delete_lock(conversation_id)

    def save_lock(self, lock: TicketLock) -> None:
        self._redis.save_lock(lock)

    def _fell_back(self, error: BaseException) -> None:
        metrics.LOCK_STORE_FALLBACKS.inc()
        now = time.monotonic()
        if now - self._last_log > LOG_EVERY_S:
            self._last_log = now
            log.warning(
                "Redis lock store unreachable (%s): locking in this server's memory",
                error.__class__.__name__,
            )

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = 1,
    ) -> AsyncGenerator[TicketLock, None]:
        manager = self._redis.lock(conversation_id, lock_lifetime, wait_time_in_seconds)
        try:
            ticket_lock = await manager.__aenter__()
        except (LockError, RedisError) as error:
            if not redis_failed(error):
                raise  # a lock that expired while waiting: Rasa's own answer
            self._fell_back(error)
            async with self._local.lock(
                conversation_id, lock_lifetime, wait_time_in_seconds
            ) as local:
                yield local
            return
        try:
            yield ticket_lock
        except BaseException:
            if not await self._release(manager, *sys.exc_info()):
                raise
        else:
            await self._release(manager, None, None, None)

    async def _release(self, manager: Any, *exc_info: Any) -> bool:
        """Give the Redis ticket back; if Redis went away meanwhile, the ticket expires
        by itself (its lifetime)."""
        try:
            return bool(await manager.__aexit__(*exc_info))
        except RedisError as error:
            self._fell_back(error)
            return False
