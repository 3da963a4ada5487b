"""Rasa's SQL tracker store, with the same tables and rows and one query less per turn.

Rasa's `SQLTrackerStore.save` asks the database how many events of the conversation's
current session it holds (a COUNT over a subquery for the session's start), then inserts
the tracker's events after that many, one ORM object each. Within a turn that number is
known: the turn began by loading exactly those events (`retrieve`), under the
conversation's lock (the lock store), so no other server wrote any since. Profiled under
load (py-spy on a cluster Rasa server, docs/operations.md), the count and its query were
about a tenth of the server's CPU, and the ORM flush another few percent.

`LeanSQLTrackerStore` notes on each tracker it loads how many of its events are stored;
`save` inserts the events after those (one multi-row INSERT) and moves the mark. A
tracker without the mark (one just created, or a bounded one) is saved by Rasa's own
code. Configured in deploy/rasa-endpoints.yml as
`type: rasa_addons.tracker_store.LeanSQLTrackerStore`, with the `SQL` type's settings.
Runs inside Rasa (.venv-rasa).
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

# The attribute set on a tracker: how many of its events (from the first) are stored.
STORED = "_expatbot_stored_events"


def stored_mark(tracker: DialogueStateTracker) -> int | None:
    mark = tracker.__dict__.get(STORED)
    # A bounded tracker drops its first events as it grows: its indices move.
    return mark if isinstance(mark, int) and tracker.events.maxlen is None else None


class LeanSQLTrackerStore(SQLTrackerStore):
    async def _retrieve(
        self, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> DialogueStateTracker | None:
        tracker = await super()._retrieve(sender_id, fetch_events_from_all_sessions)
        if tracker is not None and not fetch_events_from_all_sessions:
            # Every event it holds was read from the database: all are stored.
            tracker.__dict__[STORED] = len(tracker.events)
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        stored = stored_mark(tracker)
        if stored is None or stored > len(tracker.events):
            await super().save(tracker)
        else:
            await self.stream_events(tracker)
            rows = [
                self._row(tracker.sender_id, event)
                for event in itertools.islice(tracker.events, stored, len(tracker.events))
            ]
            if rows:
                with self.session_scope() as session:
                    session.execute(self.SQLEvent.__table__.insert(), rows)
                    session.commit()
        tracker.__dict__[STORED] = len(tracker.events)

    @staticmethod
    def _row(sender_id: str, event: Any) -> dict[str, Any]:
        """The row Rasa's own `save` writes for the event."""
        data = event.as_dict()
        return {
            "sender_id": sender_id,
            "type_name": event.type_name,
            "timestamp": data.get("timestamp"),
            "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
            "action_name": data.get("name"),
            "data": json.dumps(data),
        }
