"""The gauges /metrics reads from the database when scraped: the outbox's depth and age
per channel, and the handoff queue's length and longest wait. Every gateway and worker
reports the same numbers (they share the database); Prometheus keeps one series per
process, so dashboards take the max."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Handoff, Outbox, utcnow
from bot.metrics import Sample

# Outbox rows still to go out (pending: due or backing off; held: waiting for the user).
WAITING = ("pending", "held")


def read_state(sessions: sessionmaker[Session]) -> Iterator[Sample]:
    now = utcnow()
    with sessions() as session:
        rows = session.execute(
            select(Outbox.channel, Outbox.status, func.count(), func.min(Outbox.created_at))
            .where(Outbox.status.in_(WAITING))
            .group_by(Outbox.channel, Outbox.status)
        ).all()
        queued = session.execute(
            select(func.count(), func.min(Handoff.requested_at)).where(Handoff.status == "queued")
        ).one()
    for channel, status, count, oldest in rows:
        labels = {"channel": channel, "status": status}
        yield ("expatbot_outbox_depth", "Outbox rows not yet sent", labels, float(count))
        age = _age(now, oldest)
        yield ("expatbot_outbox_oldest_seconds", "Age of the oldest such row", labels, age)
    count, oldest = queued
    yield ("expatbot_handoff_queue_length", "Chats waiting for a person", {}, float(count))
    wait = _age(now, oldest)
    yield ("expatbot_handoff_longest_wait_seconds", "Longest wait in that queue", {}, wait)


def _age(now: dt.datetime, oldest: dt.datetime | None) -> float:
    if oldest is None:
        return 0.0
    if oldest.tzinfo is None:  # SQLite gives back naive datetimes (stored in UTC)
        oldest = oldest.replace(tzinfo=dt.UTC)
    return max(0.0, (now - oldest).total_seconds())
