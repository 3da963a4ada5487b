"""Reminders: due at 30/14/7/1 days (and card expiry), sent once however often or
concurrently the job runs, never for a renewed document, never again to a blocked user."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re
import threading

import pytest
from babel.dates import format_date, format_timedelta
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.db import transaction
from bot.db.models import ChatIdentity, MerchantCard, Reminder, TravelDocument
from bot.i18n import days_away, gettext
from bot.jobs import reminders
from bot.jobs.reminders import Blocked, Due, claim, due_reminders, reminder_text, run_reminders
from bot.pipeline import store
from bot.records.registry.demo import demo_csv
from bot.records.registry.importer import import_registry
from bot.records.registry.secrets import digits_only, normalise_number

KEY = b"test-registry-key-0123456789"
TODAY = dt.date(2026, 11, 27)


def setup_registry(sessions: sessionmaker[Session], *, link_lang: str = "ru") -> None:
    """Demo residents (expiries at -20, 1, 7, 14, 30, 45, 200, 400 days), every one linked
    to a Telegram chat in ``link_lang``."""
    with transaction(sessions) as s:
        assert import_registry(s, demo_csv(count=8, today=TODAY).encode(), key=KEY).ok
        from bot.db.models import Resident

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


def due_on(sessions: sessionmaker[Session], day: dt.date) -> tuple[list[tuple[int, int]], ...]:
    """(days left, threshold) of the documents and of the cards due on ``day``."""
    with sessions() as s:
        due = due_reminders(s, today=day)
    documents = sorted((d.days_left, d.threshold) for d in due if d.document == "travel_document")
    cards = sorted((d.days_left, d.threshold) for d in due if d.document == "merchant_card")
    return documents, cards


@pytest.mark.parametrize(
    ("days_later", "documents", "cards"),
    [
        # No job ran for two days: 5, 12 and 28 days left still get the 7-, 14- and
        # 30-day reminders; the document with 1 day left expired meanwhile and gets none.
        (2, [(5, 7), (12, 14), (28, 30)], []),
        # Ten days: 4 and 20 days left; and the first resident's card expires that day.
        (10, [(4, 7), (20, 30)], [(0, 0)]),
    ],
)
def test_missed_days_are_caught_up(
    sessions: sessionmaker[Session],
    days_later: int,
    documents: list[tuple[int, int]],
    cards: list[tuple[int, int]],
) -> None:
    setup_registry(sessions)
    assert due_on(sessions, TODAY + dt.timedelta(days=days_later)) == (documents, cards)


async def test_catch_up_skips_thresholds_already_sent(sessions: sessionmaker[Session]) -> None:
    """Sent on the registry's day, then nothing for ten days: only the reminders that
    were not sent yet go out (the 7-day one for 4 days left, and the card expiring)."""
    setup_registry(sessions, link_lang="en")
    sent: list[str] = []

    async def send(chat: ChatIdentity, text: str) -> None:
        sent.append(text)

    assert (await run_reminders(sessions, today=TODAY, send=send)).sent == 4
    sent.clear()
    later = await run_reminders(sessions, today=TODAY + dt.timedelta(days=10), send=send)
    assert later.sent == 2
    card_expiry = format_date(TODAY + dt.timedelta(days=10), format="long", locale="en")
    assert sum("merchant card" in text and card_expiry in text for text in sent) == 1
    assert sum("(in 4 days)" in text for text in sent) == 1


def test_renewed_card_gets_no_expiry_reminder(sessions: sessionmaker[Session]) -> None:
    setup_registry(sessions)
    day = TODAY + dt.timedelta(days=10)
    with transaction(sessions) as s:
        card = s.scalars(select(MerchantCard).where(MerchantCard.expires_on == day)).one()
        s.add(
            MerchantCard(resident_id=card.resident_id, number_hash="renewed" * 9,
                         digits_hash="renewed" * 9, number_last4="9999", status="active",
                         issued_on=day, expires_on=day + dt.timedelta(days=730))
        )  # fmt: skip
    assert due_on(sessions, day)[1] == []


async def test_run_twice_sends_each_reminder_once(sessions: sessionmaker[Session]) -> None:
    setup_registry(sessions)
    sent: list[tuple[str, str]] = []

    async def send(chat: ChatIdentity, text: str) -> None:
        sent.append((chat.external_id, text))

    first = await run_reminders(sessions, today=TODAY, send=send)
    second = await run_reminders(sessions, today=TODAY, send=send)
    assert first.sent == 4 and second.due == 0 and len(sent) == 4
    # The reminders name documents by their last four characters, never the whole number.
    rows = list(csv.DictReader(io.StringIO(demo_csv(count=8, today=TODAY))))
    numbers = [r[c] for r in rows for c in ("card_number", "document_number", "passport_number")]
    due_numbers = [
        r["document_number"]
        for r in rows
        if (dt.date.fromisoformat(r["document_expires_on"]) - TODAY).days in (1, 7, 14, 30)
    ]
    last4s = sorted(normalise_number(n)[-4:] for n in due_numbers)
    assert len(last4s) == 4
    assert sorted(tail for tail in last4s for _, text in sent if tail in text) == last4s
    for _, text in sent:
        flat = re.sub(r"\s", "", text)
        for number in numbers:
            assert normalise_number(number) not in flat
            assert digits_only(number) not in flat


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
        [sys.executable, "-m", "bot.ops.cli", "db", "upgrade"],
        env=env,
        check=True,
        cwd=PROJECT_ROOT,
    )
    from bot.db import make_engine, make_sessionmaker

    engine = make_engine(f"sqlite:///{tmp / 'expatbot.db'}")
    try:
        setup_registry(make_sessionmaker(engine))
    finally:
        engine.dispose()
    command = ["reminders", "run", "--dry-run", "--date", TODAY.isoformat()]
    out = subprocess.run(
        [sys.executable, "-m", "bot.ops.cli", *command],
        env=env,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
    )
    assert out.returncode == 0, out.stderr
    assert "4 reminders due on 2026-11-27 (dry run" in out.stdout
    assert "visa" in out.stdout or "residence_permit" in out.stdout


# --- what a run records and sends, exactly (mutation testing found these unchecked) ---


def demo_rows() -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(demo_csv(count=8, today=TODAY))))


def document_expiring_in(s: Session, days: int) -> TravelDocument:
    return s.scalars(
        select(TravelDocument).where(TravelDocument.expires_on == TODAY + dt.timedelta(days=days))
    ).one()


def test_due_reminders_name_the_document_kind(sessions: sessionmaker[Session]) -> None:
    setup_registry(sessions)
    with sessions() as s:
        due = due_reminders(s, today=TODAY)
    kinds = sorted((d.days_left, d.kind, d.last4) for d in due)
    expected = sorted(
        (
            (dt.date.fromisoformat(r["document_expires_on"]) - TODAY).days,
            r["document_kind"],
            normalise_number(r["document_number"])[-4:],
        )
        for r in demo_rows()
        if (dt.date.fromisoformat(r["document_expires_on"]) - TODAY).days in (1, 7, 14, 30)
    )
    assert kinds == expected
    assert {k for _, k, _ in kinds} == {"visa", "residence_permit"}


def test_a_card_after_one_without_a_reminder_is_still_due(
    sessions: sessionmaker[Session],
) -> None:
    """31 days on, the second resident's card expires; the first card (expired ten days
    earlier) comes first and gets nothing, which must not end the search."""
    setup_registry(sessions)
    assert due_on(sessions, TODAY + dt.timedelta(days=31)) == ([(14, 14)], [(0, 0)])


async def test_card_reminder_is_sent_once_with_its_last_four(
    sessions: sessionmaker[Session],
) -> None:
    setup_registry(sessions, link_lang="fr")
    day = TODAY + dt.timedelta(days=10)
    sent: list[str] = []

    async def send(chat: ChatIdentity, text: str) -> None:
        sent.append(text)

    first = await run_reminders(sessions, today=day, send=send)
    again = await run_reminders(sessions, today=day, send=send)
    assert (first.sent, again.due, again.sent) == (3, 0, 0)
    card_number = demo_rows()[0]["card_number"]
    expected = gettext(
        "fr",
        texts.REMINDER_CARD,
        last4=normalise_number(card_number)[-4:],
        date=format_date(day, format="long", locale="fr"),
    )
    assert sent.count(expected) == 1


async def test_each_reminder_row_records_what_happened(sessions: sessionmaker[Session]) -> None:
    """sent; blocked; sent to one chat though another blocked the bot; and no_chat for a
    resident whose only chat turned reminders off."""
    setup_registry(sessions)
    with transaction(sessions) as s:
        by_days = {days: document_expiring_in(s, days) for days in (1, 7, 14, 30)}
        chats = {
            days: s.scalars(
                select(ChatIdentity).where(ChatIdentity.resident_id == doc.resident_id)
            ).one()
            for days, doc in by_days.items()
        }
        second = store.get_or_create_identity(s, channel="webchat", external_id="second-chat")
        second.resident_id, second.language = by_days[14].resident_id, "en"
        chats[30].reminders_enabled = False
        blocking = {chats[7].external_id, "second-chat"}
        ids = {days: doc.id for days, doc in by_days.items()}

    async def send(chat: ChatIdentity, text: str) -> None:
        if chat.external_id in blocking:
            raise Blocked

    summary = await run_reminders(sessions, today=TODAY, send=send)
    assert (summary.due, summary.sent, summary.blocked) == (4, 2, 2)
    with sessions() as s:
        rows = {r.document_id: r for r in s.scalars(select(Reminder))}
    status = {days: rows[ids[days]].status for days in ids}
    assert status == {1: "sent", 7: "blocked", 14: "sent", 30: "no_chat"}
    assert all(r.sent_at is not None for r in rows.values())


async def test_reminder_claimed_by_another_job_is_counted_and_the_rest_sent(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another job claims one reminder between this job's listing and its claim."""
    setup_registry(sessions)
    with sessions() as s:
        due = due_reminders(s, today=TODAY)
    with transaction(sessions) as s:
        assert claim(s, due[0]) and claim(s, due[2])
    monkeypatch.setattr(reminders, "due_reminders", lambda _session, *, today: due)
    sent: list[str] = []

    async def send(chat: ChatIdentity, text: str) -> None:
        sent.append(text)

    summary = await run_reminders(sessions, today=TODAY, send=send)
    assert (summary.due, summary.already_claimed, summary.sent, len(sent)) == (4, 2, 2, 2)


async def test_each_days_rows_are_marked_sent(sessions: sessionmaker[Session]) -> None:
    """Runs on three days: one document gets its 14- and then its 7-day reminder, and
    two documents get a 14-day one; each run marks its own rows, not earlier ones."""
    setup_registry(sessions)

    async def send(chat: ChatIdentity, text: str) -> None:
        pass

    sent = [
        (await run_reminders(sessions, today=TODAY + dt.timedelta(days=d), send=send)).sent
        for d in (0, 7, 16)
    ]
    assert sent == [4, 1, 2]
    with sessions() as s:
        rows = list(s.scalars(select(Reminder)))
    assert sorted(r.threshold_days for r in rows) == [1, 7, 7, 14, 14, 30, 30]
    assert {r.status for r in rows} == {"sent"}


def test_claim_inserts_a_claimed_row(sessions: sessionmaker[Session]) -> None:
    setup_registry(sessions)
    with sessions() as s:
        item = due_reminders(s, today=TODAY)[0]
    with transaction(sessions) as s:
        assert claim(s, item)
        assert not claim(s, item)
    with sessions() as s:
        row = s.scalars(select(Reminder)).one()
    assert (row.document, row.document_id, row.threshold_days, row.status, row.sent_at) == (
        item.document, item.document_id, item.threshold, "claimed", None
    )  # fmt: skip


async def test_chat_without_a_language_gets_english(sessions: sessionmaker[Session]) -> None:
    setup_registry(sessions)
    with transaction(sessions) as s:
        for chat in s.scalars(select(ChatIdentity)):
            chat.language = None
    sent: list[str] = []

    async def send(chat: ChatIdentity, text: str) -> None:
        sent.append(text)

    dry = await run_reminders(sessions, today=TODAY, send=None)
    assert len(dry.lines) == 4
    assert all(line.endswith("-day reminder, en)") for line in dry.lines)
    with sessions() as s:
        expected = sorted(reminder_text(d, "en") for d in due_reminders(s, today=TODAY))
    await run_reminders(sessions, today=TODAY, send=send)
    assert sorted(sent) == expected


def test_dry_run_lines_say_chat_document_and_threshold(sessions: sessionmaker[Session]) -> None:
    setup_registry(sessions)
    with sessions() as s:
        expected = []
        for days in (1, 7, 14, 30):
            doc = document_expiring_in(s, days)
            chat = s.scalars(
                select(ChatIdentity).where(ChatIdentity.resident_id == doc.resident_id)
            ).one()
            expected.append(
                f"telegram:{chat.public_id[:8]} {doc.kind} ••••{doc.number_last4} "
                f"expires {doc.expires_on} ({days}-day reminder, ru)"
            )
    summary = asyncio.run(run_reminders(sessions, today=TODAY, send=None))
    assert sorted(summary.lines) == sorted(expected)


async def test_messages_are_paced_under_telegrams_limit(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_registry(sessions)
    pauses: list[float] = []

    async def record(seconds: float) -> None:
        pauses.append(seconds)

    async def send(chat: ChatIdentity, text: str) -> None:
        pass

    monkeypatch.setattr(reminders.asyncio, "sleep", record)
    await run_reminders(sessions, today=TODAY, send=send)
    assert pauses == [1 / reminders.MESSAGES_PER_SECOND] * 4
    assert reminders.MESSAGES_PER_SECOND <= 30


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_card_and_permit_texts(lang: str) -> None:
    card = Due(1, "merchant_card", 1, "merchant_card", "0042", dt.date(2027, 1, 10), 0, 0)
    date = format_date(card.expires_on, format="long", locale=lang)
    assert reminder_text(card, lang) == gettext(lang, texts.REMINDER_CARD, last4="0042", date=date)
    permit = Due(1, "travel_document", 2, "residence_permit", "7788", dt.date(2027, 1, 10), 7, 7)
    assert reminder_text(permit, lang) == gettext(
        lang,
        texts.REMINDER_DOCUMENT,
        document=gettext(lang, texts.DOCUMENT_RESIDENCE_PERMIT),
        last4="7788",
        date=date,
        when=days_away(lang, 7),
    )
