"""Forgetting a conversation: Rasa deletes what its tracker store holds for one sender.

Rasa has no API for this. When a chat asks to be forgotten, the gateway gives it a new
public id (Rasa starts afresh under it) and asks, through the gateway channel's
authenticated route ``POST /webhooks/gateway/forget`` (rasa_addons/channel.py), for the
old conversation to be deleted (bot.jobs.erasures). Runs inside Rasa (.venv-rasa).

The stores this project configures: Rasa's SQL store (and rasa_addons.tracker_store's,
the same tables) in a cluster, the in-memory store of one Rasa server. Another store is
refused loudly rather than pretended forgotten.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from rasa.core.tracker_store import InMemoryTrackerStore, SQLTrackerStore


class CannotForget(Exception):
    """The configured tracker store is of a kind this module cannot delete from."""


def innermost(store: Any) -> Any:
    """The configured store inside Rasa's wrappers (fail-safe, awaitable)."""
    seen = 0
    while hasattr(store, "_tracker_store") and seen < 5:
        store, seen = store._tracker_store, seen + 1
    return store


def _delete_sql(store: SQLTrackerStore, sender: str) -> int:
    with store.session_scope() as session:
        deleted = (
            session.query(store.SQLEvent)
            .filter(store.SQLEvent.sender_id == sender)
            .delete(synchronize_session=False)
        )
        session.commit()
    return int(deleted or 0)


async def forget(store: Any, sender: str) -> int:
    """Delete every event of ``sender``'s conversation, from all its sessions; how many
    there were (0 when the store holds none: forgetting twice is not an error)."""
    primary = innermost(store)
    if isinstance(primary, SQLTrackerStore):
        # Off the event loop: the SQL store's calls block.
        return await asyncio.to_thread(_delete_sql, primary, sender)
    if isinstance(primary, InMemoryTrackerStore):
        serialised = primary.store.pop(sender, None)
        if serialised is None:
            return 0
        return len(json.loads(serialised).get("events") or [])
    raise CannotForget(f"cannot delete from a {type(primary).__name__}")
