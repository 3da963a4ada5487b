"""Staff alerts reach the staff's Telegram chat once each, even with two gateways."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db import transaction
from bot.db.models import ChatIdentity, StaffAlert
from bot.jobs.alerts import forward_alerts
from bot.records import accounts


def raise_two(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        me = ChatIdentity(channel="telegram", external_id="77")
        s.add(me)
        s.flush()
        for n in (5, 6):
            accounts.raise_alert(s, kind="link_lockout", identity_id=me.id, details=f"{n} failed")


async def test_each_alert_is_sent_once(sessions: sessionmaker[Session]) -> None:
    raise_two(sessions)
    sent: list[str] = []

    async def send(text: str) -> None:
        sent.append(text)

    assert await forward_alerts(sessions, send=send) == 2
    assert await forward_alerts(sessions, send=send) == 0
    assert [t.split(":")[0] for t in sent] == [
        "Staff alert #1 (link_lockout)",
        "Staff alert #2 (link_lockout)",
    ]
    assert all("expatbot staff alerts" in t for t in sent)


async def test_two_gateways_at_once_send_each_alert_once(sessions: sessionmaker[Session]) -> None:
    raise_two(sessions)
    sent: list[str] = []

    async def send(text: str) -> None:
        await asyncio.sleep(0.01)
        sent.append(text)

    counts = await asyncio.gather(
        forward_alerts(sessions, send=send), forward_alerts(sessions, send=send)
    )
    assert sum(counts) == 2 and sorted(sent) == sorted(set(sent))


async def test_a_failed_send_is_retried(sessions: sessionmaker[Session]) -> None:
    raise_two(sessions)

    async def down(text: str) -> None:
        raise ConnectionError("telegram unreachable")

    assert await forward_alerts(sessions, send=down) == 0
    with sessions() as s:
        assert all(a.notified_at is None for a in s.scalars(select(StaffAlert)))
    sent: list[str] = []

    async def send(text: str) -> None:
        sent.append(text)

    assert await forward_alerts(sessions, send=send) == 2
