"""rasa_addons/tracker_store.py, inside Rasa's runtime: the same conversation through
Rasa's SQL tracker store and ours writes the same rows and reads back the same
trackers, with no COUNT query when a loaded tracker is saved; and a tracker saved twice
in the turn that starts a new session stores each event once (Rasa's own stores the old
session's events again then)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cluster_rig import run_in_rasa

pytestmark = pytest.mark.integration

SCRIPT = """
import asyncio, json, sys, time
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered,
)
from rasa_addons.tracker_store import LeanSQLTrackerStore

DOMAIN = Domain.from_yaml('''
version: "3.1"
intents: [greet, link_account]
slots:
  language:
    type: text
    mappings: [{type: custom}]
''')

def counting(store):
    seen = {"count": 0, "insert": 0}
    def before(conn, cursor, statement, *args):
        text = statement.lower()
        seen["count"] += "count(" in text
        seen["insert"] += text.startswith("insert")
    sa.event.listen(store.engine, "before_cursor_execute", before)
    return seen

async def conversation(store, t0):
    # New conversation: created (Rasa's own save), then three turns, each loaded,
    # grown and saved as Rasa's processor does; the third starts a new session.
    tracker = await store.get_or_create_tracker("chat-1")
    for turn, (text, intent) in enumerate([("hi", "greet"), ("link", "link_account"),
                                           ("again", "greet")]):
        tracker = await store.retrieve("chat-1")
        t = t0 + turn * 10
        if turn == 2:
            tracker.update(ActionExecuted("action_session_start", timestamp=t))
            tracker.update(SessionStarted(timestamp=t + 0.1))
            tracker.update(ActionExecuted("action_listen", timestamp=t + 0.2))
        tracker.update(UserUttered(text, {"name": intent, "confidence": 0.9},
                                   timestamp=t + 1, metadata={"gateway_message_id": turn}))
        if turn < 2:
            await store.save(tracker)  # saved twice in one turn, as Rasa may
        tracker.update(SlotSet("language", "en", timestamp=t + 2))
        tracker.update(BotUttered(f"answer {turn}", {"buttons": []}, timestamp=t + 3))
        tracker.update(ActionExecuted("action_listen", timestamp=t + 4))
        await store.save(tracker)
    final = await store.retrieve("chat-1")
    full = await store.retrieve_full_tracker("chat-1")
    with store.engine.connect() as conn:
        rows = [list(r) for r in conn.execute(sa.text(
            "SELECT sender_id, type_name, timestamp, intent_name, action_name, data "
            "FROM events ORDER BY id"))]
    def untimed(row):  # the creation's event carries the moment it was made
        data = json.loads(row[5])
        data.pop("timestamp", None)
        return row[:2] + row[3:5] + [data]
    def untimed_event(event):
        data = event.as_dict()
        data.pop("timestamp", None)
        return data
    return {
        "rows": [untimed(r) for r in rows],
        "final": [untimed_event(e) for e in final.events],
        "full": len(full.events),
    }

async def twice_in_a_new_session(store):
    tracker = await store.get_or_create_tracker("chat-2")
    tracker = await store.retrieve("chat-2")
    t = time.time() + 1
    tracker.update(UserUttered("hi", {"name": "greet", "confidence": 0.9}, timestamp=t))
    await store.save(tracker)
    tracker = await store.retrieve("chat-2")
    tracker.update(ActionExecuted("action_session_start", timestamp=t + 10))
    tracker.update(SessionStarted(timestamp=t + 10.1))
    await store.save(tracker)
    tracker.update(ActionExecuted("action_listen", timestamp=t + 10.2))
    await store.save(tracker)
    with store.engine.connect() as conn:
        query = "SELECT count(*) FROM events WHERE sender_id = 'chat-2'"
        return conn.execute(sa.text(query)).scalar()

async def main(folder):
    out = {}
    t0 = time.time() + 1
    for label, cls in (("rasa", SQLTrackerStore), ("ours", LeanSQLTrackerStore)):
        store = cls(domain=DOMAIN, dialect="sqlite", db=f"{folder}/{label}.db")
        seen = counting(store)
        result = await conversation(store, t0)
        out[label] = result | {"queries": dict(seen)}
        out[label]["twice"] = await twice_in_a_new_session(store)
    print(json.dumps(out))

asyncio.run(main(sys.argv[1]))
"""


def test_the_same_rows_and_trackers_without_counting(tmp_path: Path) -> None:
    out = run_in_rasa(SCRIPT, str(tmp_path))
    rasa, ours = out["rasa"], out["ours"]
    # 1 at creation; 4 events in each of the first two turns; 7 in the third (a session).
    assert len(rasa["rows"]) == 16
    assert ours["rows"] == rasa["rows"]
    assert ours["final"] == rasa["final"]  # the new session's events only
    assert ours["full"] == rasa["full"] == len(rasa["rows"])
    # Rasa counts before each of its 6 saves; ours only when saving the new tracker.
    assert rasa["queries"]["count"] == 6
    assert ours["queries"]["count"] == 1
    # 1 at creation, the user's message, the new session's 3 events: 5, each once.
    assert ours["twice"] == 5
    assert rasa["twice"] > 5
