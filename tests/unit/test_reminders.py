"""Reminders: due at 30/14/7/1 days (and card expiry), sent once however often or
concurrently the job runs, never for a renewed document, never again to a blocked user."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading

import pytest
from babel.dates import format_date, format_timedelta
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot import store, texts
from bot.db import transaction
from bot.i18n import gettext
from bot.models import ChatIdentity, Reminder, TravelDocument
from bot.registry.demo import demo_csv
from bot.registry.importer import import_registry
from bot.reminders import Blocked, Due, claim, due_reminders, reminder_text, run_reminders

KEY = b"test-registry-key-0123456789"
TODAY = dt.date(2026, 11, 27)


def setup_registry(sessions: sessionmaker[Session], *, link_lang: str = "ru") -> None:
    """Demo residents (expiries at -20, 1, 7, 14, 30, 45, 200, 400 days), every one linked
    to a Telegram chat in ``link_lang``."""
    with transaction(sessions) as s:
        assert import_registry(s, demo_csv(count=8, today=TODAY).encode(), key=KEY).ok
        from bot.models import Resident

        for resident in s.scalars(select(Resident)):
            chat = store.get_or_create_identity(
                s, channel="telegram", external_id=f"{1000 + resident.id}"
            )
            chat.resident_id, chat.language = resident.id, link_lang


def test_due_thresholds(sessions: sessionmaker[Session]) -> None:
    setup_registry(sessions)
    with sessions() as s:
        due = due_reminders(s, today=TODAY)
    documents = sorted((d.days_left, d.threshold) for d in due if d.document == "travel_document")
    assert documents == [(1, 1), (7, 7), (14, 14), (30, 30)]


async def test_run_twice_sends_each_reminder_once(sessions: sessionmaker[Session]) -> None:
    setup_registry(sessions)
    sent: list[tuple[str, str]] = []

    async def send(chat: ChatIdentity, text: str) -> None:
        sent.append((chat.external_id, text))

    first = await run_reminders(sessions, today=TODAY, send=send)
    second = await run_reminders(sessions, today=TODAY, send=send)
    assert first.sent == 4 and second.due == 0 and len(sent) == 4
    assert all("••" not in text for _, text in sent)  # last four shown, never the number


def test_concurrent_claims_only_one_wins(sessions: sessionmaker[Session]) -> None:
    setup_registry(sessions)
    with sessions() as s:
        item = due_reminders(s, today=TODAY)[0]
    results: list[bool] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        with transaction(sessions) as s:
            results.append(claim(s, item))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Reminder)) == 1


async def test_two_jobs_at_once_send_once(sessions: sessionmaker[Session]) -> None:
    setup_registry(sessions)
    sent: list[str] = []

    async def send(chat: ChatIdentity, text: str) -> None:
        sent.append(text)
        await asyncio.sleep(0)

    await asyncio.gather(
        run_reminders(sessions, today=TODAY, send=send),
        run_reminders(sessions, today=TODAY, send=send),
    )
    assert len(sent) == 4


async def test_renewed_document_gets_no_reminder(sessions: sessionmaker[Session]) -> None:
    setup_registry(sessions)
    with transaction(sessions) as s:
        doc = s.scalars(
            select(TravelDocument).where(TravelDocument.expires_on == TODAY + dt.timedelta(days=7))
        ).one()
        s.add(
            TravelDocument(resident_id=doc.resident_id, kind=doc.kind, visa_type=doc.visa_type,
                           number_hash="renewed" * 9, number_last4="9999", entries=doc.entries,
                           expires_on=TODAY + dt.timedelta(days=365), status="valid")
        )  # fmt: skip
    with sessions() as s:
        assert 7 not in {d.days_left for d in due_reminders(s, today=TODAY)}


async def test_blocked_user_is_recorded_and_not_retried(sessions: sessionmaker[Session]) -> None:
    setup_registry(sessions)

    async def blocked(chat: ChatIdentity, text: str) -> None:
        raise Blocked

    summary = await run_reminders(sessions, today=TODAY, send=blocked)
    assert summary.blocked == 4
    with sessions() as s:
        assert s.scalar(select(func.count()).where(ChatIdentity.blocked_at.is_not(None))) == 4
    tomorrow = await run_reminders(sessions, today=TODAY + dt.timedelta(days=6), send=blocked)
    assert tomorrow.blocked == 0  # the next threshold is due, but blocked chats are skipped


def test_dry_run_claims_nothing(sessions: sessionmaker[Session]) -> None:
    setup_registry(sessions)
    summary = asyncio.run(run_reminders(sessions, today=TODAY, send=None))
    assert summary.due == 4 and len(summary.lines) == 4
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Reminder)) == 0


@pytest.mark.parametrize("lang", ["en", "zh", "ar", "ru", "fr", "es"])
def test_reminder_text_in_language_with_babel_date(lang: str) -> None:
    due = Due(1, "travel_document", 1, "visa", "1234", dt.date(2026, 12, 4), 7, 7)
    text = reminder_text(due, lang)
    assert "1234" in text and "7" in text
    date = format_date(due.expires_on, format="long", locale=lang)
    document = gettext(lang, texts.DOCUMENT_VISA)
    when = format_timedelta(
        dt.timedelta(days=7), granularity="day", threshold=1000, add_direction=True, locale=lang
    )
    expected = gettext(
        lang, texts.REMINDER_DOCUMENT, document=document, last4="1234", date=date, when=when
    )
    assert text == expected


def test_one_day_left_is_singular() -> None:
    due = Due(1, "travel_document", 1, "visa", "1234", dt.date(2026, 12, 4), 1, 1)
    assert "(in 1 day)" in reminder_text(due, "en")
    assert "(через 1 день)" in reminder_text(due, "ru")


def test_cli_dry_run_lists_todays_reminders(tmp_path: object) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    from bot.settings import PROJECT_ROOT

    tmp = Path(str(tmp_path))
    env = dict(os.environ) | {"EXPATBOT_VAR": str(tmp)}
    env.pop("DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "-m", "bot.cli", "db", "upgrade"], env=env, check=True, cwd=PROJECT_ROOT
    )
    from bot.db import make_engine, make_sessionmaker

    engine = make_engine(f"sqlite:///{tmp / 'expatbot.db'}")
    try:
        setup_registry(make_sessionmaker(engine))
    finally:
        engine.dispose()
    command = ["reminders", "run", "--dry-run", "--date", TODAY.isoformat()]
    out = subprocess.run(
        [sys.executable, "-m", "bot.cli", *command],
        env=env,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
    )
    assert out.returncode == 0, out.stderr
    assert "4 reminders due on 2026-11-27 (dry run" in out.stdout
    assert "visa" in out.stdout or "residence_permit" in out.stdout
