"""Staff alerts reach the staff's chat through the outbox: once each, even with two
processes running the job, in the staff's language."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.db import transaction
from bot.db.models import ChatIdentity, Outbox, StaffAlert
from bot.i18n import gettext
from bot.jobs.alerts import forward_alerts
from bot.records import accounts


def raise_two(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        me = ChatIdentity(channel="telegram", external_id="77", public_id="abcdef12-0000")
        s.add(me)
        s.flush()
        for n in (5, 6):
            params = {"failures": n, "channel": "telegram", "chat": "abcdef12", "hours": "24"}
            accounts.raise_alert(s, kind="link_lockout", identity_id=me.id, params=params)


def rows(sessions: sessionmaker[Session]) -> list[Outbox]:
    with sessions() as s:
        return list(s.scalars(select(Outbox).order_by(Outbox.id)))


async def test_each_alert_is_queued_once_for_the_staff_chat(
    sessions: sessionmaker[Session],
) -> None:
    raise_two(sessions)
    assert await forward_alerts(sessions, chat_id="-1001", lang="en") == 2
    assert await forward_alerts(sessions, chat_id="-1001", lang="en") == 0
    queued = rows(sessions)
    assert [(r.channel, r.recipient, r.kind, r.status) for r in queued] == [
        ("telegram", "-1001", "staff_alert", "pending")
    ] * 2
    assert [r.idempotency_key for r in queued] == ["alert:1", "alert:2"]
    assert queued[0].text == (
        "Staff alert #1 (link_lockout): 5 failed attempts to link telegram chat abcdef12 in "
        "24 hours; locked. List open alerts with: expatbot staff alerts"
    )
    with sessions() as s:
        assert all(a.notified_at is not None for a in s.scalars(select(StaffAlert)))


async def test_staff_read_alerts_in_their_language(sessions: sessionmaker[Session]) -> None:
    raise_two(sessions)
    await forward_alerts(sessions, chat_id="-1001", lang="zh")
    first = rows(sessions)[0]
    assert first.language == "zh"
    details = gettext(
        "zh", texts.ALERT_LINK_LOCKOUT, failures=5, channel="telegram", chat="abcdef12", hours="24"
    )
    assert details in first.text and details != texts.ALERT_LINK_LOCKOUT
    with sessions() as s:  # the command line keeps the English rendering
        alert = s.scalars(select(StaffAlert).order_by(StaffAlert.id)).first()
        assert alert is not None and alert.details.startswith("5 failed attempts to link")


async def test_two_processes_at_once_queue_each_alert_once(
    sessions: sessionmaker[Session],
) -> None:
    raise_two(sessions)
    counts = await asyncio.gather(
        forward_alerts(sessions, chat_id="-1001", lang="en"),
        forward_alerts(sessions, chat_id="-1001", lang="en"),
    )
    assert sum(counts) >= 2  # both may see them; the outbox's key keeps one row each
    assert sorted(r.idempotency_key for r in rows(sessions)) == ["alert:1", "alert:2"]
