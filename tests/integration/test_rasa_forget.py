"""rasa_addons/forget.py inside Rasa's runtime: a conversation deleted from the SQL
tracker store (the cluster's) and from the in-memory one (`expatbot run`'s), through
Rasa's wrappers; others' conversations untouched; a second time is not an error; a store
it cannot delete from is refused, not pretended forgotten."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster_rig import run_in_rasa

pytestmark = pytest.mark.integration

SCRIPT = """
import asyncio, json, sys
from rasa.core.tracker_store import (
    AwaitableTrackerStore, FailSafeTrackerStore, InMemoryTrackerStore, TrackerStore,
)
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa_addons import forget
from rasa_addons.tracker_store import LeanSQLTrackerStore

DOMAIN = Domain.from_yaml('version: "3.1"\\nintents: [greet]\\n')

async def fill(store, sender, turns):
    tracker = await store.get_or_create_tracker(sender)
    for i in range(turns):
        tracker.update(UserUttered(f"hello {i}", {"name": "greet", "confidence": 1.0}))
    await store.save(tracker)
    return len(tracker.events)

async def check(store):
    wrapped = FailSafeTrackerStore(AwaitableTrackerStore(store))
    kept = await fill(store, "other", 2)
    held = await fill(store, "gone", 3)
    first = await forget.forget(wrapped, "gone")
    second = await forget.forget(wrapped, "gone")
    other = await store.retrieve("other")
    return {
        "held": held, "first": first, "second": second,
        "gone": await store.retrieve("gone") is None,
        "other": len(other.events) if other else 0, "kept": kept,
    }

class Unknown(TrackerStore):
    async def save(self, tracker): pass
    async def retrieve(self, sender_id): return None
    async def keys(self): return []

async def main():
    sql = LeanSQLTrackerStore(DOMAIN, dialect="sqlite", db=sys.argv[1])
    out = {"sql": await check(sql), "memory": await check(InMemoryTrackerStore(DOMAIN))}
    try:
        await forget.forget(FailSafeTrackerStore(Unknown(DOMAIN)), "gone")
        out["unknown"] = "forgotten?"
    except forget.CannotForget as exc:
        out["unknown"] = str(exc)
    print(json.dumps(out))

asyncio.run(main())
"""


def test_a_conversation_is_deleted_from_the_stores_the_project_configures(tmp_path: Path) -> None:
    out = run_in_rasa(SCRIPT, str(tmp_path / "tracker.db"))
    for kind in ("sql", "memory"):
        result = out[kind]
        # Every event of the conversation counted and deleted; the other one kept whole.
        assert result["first"] == result["held"] >= 4, (kind, result)
        assert result["second"] == 0 and result["gone"], (kind, result)
        assert result["other"] == result["kept"], (kind, result)
    assert out["unknown"] == "cannot delete from a Unknown"
