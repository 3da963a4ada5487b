"""Reminders: due at 30/14/7/1 days (and card expiry), claimed and put in the outbox once
however often or concurrently the job runs, never for a renewed document, never to a
chat that blocked the bot; delivered by the dispatcher (Telegram) or collected by the
client (the web chat), and only then delivered."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import os
import re
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from babel.dates import format_date, format_timedelta
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.db import conversations, transaction
from bot.db.models import (
    ChatIdentity,
    Conversation,
    MerchantCard,
    Message,
    Outbox,
    Reminder,
    Resident,
    TravelDocument,
)
from bot.delivery import outbox
from bot.delivery.channel import Blocked, Delivered, DeliveryResult, Rate
from bot.delivery.dispatcher import Dispatcher, RetryPolicy
from bot.delivery.outbox import Item
from bot.i18n import days_away, gettext
from bot.jobs import reminders
from bot.jobs.reminders import (
    Due,
    RunSummary,
    claim,
    claim_and_enqueue,
    due_reminders,
    reminder_text,
    run_reminders,
)
from bot.records.registry.demo import demo_csv
from bot.records.registry.importer import import_registry
from bot.records.registry.secrets import digits_only, normalise_number
from bot.settings import PROJECT_ROOT

KEY = b"test-registry-key-0123456789"
TODAY = dt.date(2026, 11, 27)
FAST_RETRIES = RetryPolicy(max_attempts=3, base_s=0.05, cap_s=0.1)


# --- the registry, the chats, and what the database holds afterwards ---


def setup_registry(
    sessions: sessionmaker[Session], *, link_lang: str | None = "ru", channel: str = "telegram"
) -> None:
    """Demo residents (documents expiring at -20, 1, 7, 14, 30, 45, 200 and 400 days;
    the first card at 10 days), every one linked to a chat on ``channel`` in
    ``link_lang``; the chat's external id is 1000 + the resident's id."""
    with transaction(sessions) as s:
        assert import_registry(s, demo_csv(count=8, today=TODAY).encode(), key=KEY).ok
        for resident in s.scalars(select(Resident)):
            chat = conversations.get_or_create_identity(
                s, channel=channel, external_id=f"{1000 + resident.id}"
            )
            chat.resident_id, chat.language = resident.id, link_lang


def link_another_chat(
    sessions: sessionmaker[Session], *, days: int, channel: str, external_id: str, lang: str
) -> int:
    """Link one more chat to the resident whose document expires in ``days``: its id."""
    with transaction(sessions) as s:
        doc = document_expiring_in(s, days)
        chat = conversations.get_or_create_identity(s, channel=channel, external_id=external_id)
        chat.resident_id, chat.language = doc.resident_id, lang
        return chat.id


def demo_rows() -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(demo_csv(count=8, today=TODAY))))


def document_expiring_in(s: Session, days: int) -> TravelDocument:
    return s.scalars(
        select(TravelDocument).where(TravelDocument.expires_on == TODAY + dt.timedelta(days=days))
    ).one()


def chat_of_document(s: Session, days: int, channel: str = "telegram") -> ChatIdentity:
    doc = document_expiring_in(s, days)
    return s.scalars(
        select(ChatIdentity).where(
            ChatIdentity.resident_id == doc.resident_id, ChatIdentity.channel == channel
        )
    ).one()


def outbox_rows(sessions: sessionmaker[Session]) -> list[Outbox]:
    with sessions() as s:
        return list(s.scalars(select(Outbox).order_by(Outbox.id)))


def reminder_rows(sessions: sessionmaker[Session]) -> list[Reminder]:
    with sessions() as s:
        return list(s.scalars(select(Reminder).order_by(Reminder.id)))


def message_status(sessions: sessionmaker[Session]) -> dict[int, str]:
    with sessions() as s:
        return {m.id: m.status for m in s.scalars(select(Message))}


def expected_keys(sessions: sessionmaker[Session]) -> set[str]:
    """One idempotency key per reminder row and per chat of its resident that takes
    reminders (enabled, not blocked)."""
    with sessions() as s:
        return {
            f"reminder:{r.id}:{c.id}"
            for r in s.scalars(select(Reminder))
            for c in s.scalars(
                select(ChatIdentity).where(
                    ChatIdentity.resident_id == r.resident_id,
                    ChatIdentity.reminders_enabled.is_(True),
                    ChatIdentity.blocked_at.is_(None),
                )
            )
        }


def due_on(sessions: sessionmaker[Session], day: dt.date) -> tuple[list[tuple[int, int]], ...]:
    """(days left, threshold) of the documents and of the cards due on ``day``."""
    with sessions() as s:
        due = due_reminders(s, today=day)
    documents = sorted((d.days_left, d.threshold) for d in due if d.document == "travel_document")
    cards = sorted((d.days_left, d.threshold) for d in due if d.document == "merchant_card")
    return documents, cards


@dataclass
class FakePush:
    """A pushing channel: records what it was given; blocked for the recipients named."""

    name: str = "telegram"
    blocked: frozenset[str] = frozenset()
    tried: list[Item] = field(default_factory=list)

    def rates(self, item: Item) -> Sequence[Rate]:
        return ()

    async def deliver(self, item: Item) -> DeliveryResult:
        self.tried.append(item)
        if item.recipient in self.blocked:
            return Blocked(reason="Forbidden: bot was blocked by the user")
        return Delivered()


def dispatcher_for(sessions: sessionmaker[Session], channel: FakePush) -> Dispatcher:
    return Dispatcher(sessions, {channel.name: channel}, policy=FAST_RETRIES, idle_s=0.05)


# --- which reminders are due ---


def test_due_thresholds(sessions: sessionmaker[Session]) -> None:
    setup_registry(sessions)
    assert due_on(sessions, TODAY) == ([(1, 1), (7, 7), (14, 14), (30, 30)], [])


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


def test_a_card_after_one_without_a_reminder_is_still_due(
    sessions: sessionmaker[Session],
) -> None:
    """31 days on, the second resident's card expires; the first card (expired ten days
    earlier) comes first and gets nothing, which must not end the search."""
    setup_registry(sessions)
    assert due_on(sessions, TODAY + dt.timedelta(days=31)) == ([(14, 14)], [(0, 0)])


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


def test_renewed_card_gets_no_expiry_reminder(sessions: sessionmaker[Session]) -> None:
    setup_registry(sessions)
    day = TODAY + dt.timedelta(days=10)
    assert due_on(sessions, day)[1] == [(0, 0)]
    with transaction(sessions) as s:
        card = s.scalars(select(MerchantCard).where(MerchantCard.expires_on == day)).one()
        s.add(
            MerchantCard(resident_id=card.resident_id, number_hash="renewed" * 9,
                         digits_hash="renewed" * 9, number_last4="9999", status="active",
                         issued_on=day, expires_on=day + dt.timedelta(days=730))
        )  # fmt: skip
    assert due_on(sessions, day)[1] == []


async def test_renewed_document_gets_no_reminder(sessions: sessionmaker[Session]) -> None:
    setup_registry(sessions)
    with transaction(sessions) as s:
        doc = document_expiring_in(s, 7)
        s.add(
            TravelDocument(resident_id=doc.resident_id, kind=doc.kind, visa_type=doc.visa_type,
                           number_hash="renewed" * 9, number_last4="9999", entries=doc.entries,
                           expires_on=TODAY + dt.timedelta(days=365), status="valid")
        )  # fmt: skip
        renewed_id = doc.id
    summary = await run_reminders(sessions, today=TODAY)
    assert (summary.due, summary.queued) == (3, 3)
    assert renewed_id not in {r.document_id for r in reminder_rows(sessions)}
    assert due_on(sessions, TODAY)[0] == []


# --- claiming and queueing ---


def test_claim_inserts_a_claimed_row(sessions: sessionmaker[Session]) -> None:
    setup_registry(sessions)
    with sessions() as s:
        item = due_reminders(s, today=TODAY)[0]
    with transaction(sessions) as s:
        first = claim(s, item)
        assert first is not None
        assert claim(s, item) is None
    row = reminder_rows(sessions)[0]
    assert len(reminder_rows(sessions)) == 1
    assert (row.id, row.document, row.document_id, row.threshold_days, row.expires_on) == (
        first, item.document, item.document_id, item.threshold, item.expires_on
    )  # fmt: skip
    assert (row.resident_id, row.status, row.sent_at) == (item.resident_id, "claimed", None)
    assert outbox_rows(sessions) == []


def test_claim_and_enqueue_queues_one_row_per_chat_with_its_transcript_copy(
    sessions: sessionmaker[Session],
) -> None:
    """A resident with a Telegram chat in Russian and a web chat in Arabic: one outbox
    row each, in each chat's language, with a queued copy in each chat's transcript."""
    setup_registry(sessions)
    web_id = link_another_chat(sessions, days=7, channel="webchat", external_id="web", lang="ar")
    with sessions() as s:
        item = next(d for d in due_reminders(s, today=TODAY) if d.days_left == 7)
        telegram = chat_of_document(s, 7)
    with transaction(sessions) as s:
        assert claim_and_enqueue(s, item) == 2
    with transaction(sessions) as s:
        assert claim_and_enqueue(s, item) is None
    (reminder,) = reminder_rows(sessions)
    assert reminder.status == "queued" and reminder.sent_at is not None
    rows = outbox_rows(sessions)
    chats = {
        "telegram": (telegram.id, telegram.external_id, "ru"),
        "webchat": (web_id, "web", "ar"),
    }
    assert len(rows) == 2
    with sessions() as s:
        for row in rows:
            identity_id, recipient, lang = chats[row.channel]
            assert row.idempotency_key == f"reminder:{reminder.id}:{identity_id}"
            assert (row.identity_id, row.recipient, row.kind) == (
                identity_id,
                recipient,
                "reminder",
            )
            assert (row.language, row.text) == (lang, reminder_text(item, lang))
            assert (row.status, row.attempts) == ("pending", 0)
            assert row.message_id is not None
            copy = s.get(Message, row.message_id)
            assert copy is not None
            conversation = s.get(Conversation, copy.conversation_id)
            assert conversation is not None and conversation.identity_id == identity_id
            assert (copy.direction, copy.status, copy.text, copy.language) == (
                "out", "queued", row.text, lang
            )  # fmt: skip


async def test_run_twice_queues_each_reminder_once(sessions: sessionmaker[Session]) -> None:
    setup_registry(sessions)
    first = await run_reminders(sessions, today=TODAY)
    second = await run_reminders(sessions, today=TODAY)
    assert (first.due, first.queued, first.already_claimed, first.no_chat) == (4, 4, 0, 0)
    assert (second.due, second.queued, second.already_claimed, second.no_chat) == (0, 0, 0, 0)
    rows = outbox_rows(sessions)
    assert len(rows) == 4 and len(reminder_rows(sessions)) == 4
    assert {r.idempotency_key for r in rows} == expected_keys(sessions)
    assert {r.kind for r in rows} == {"reminder"}
    # The reminders name documents by their last four characters, never the whole number.
    demo = demo_rows()
    numbers = [r[c] for r in demo for c in ("card_number", "document_number", "passport_number")]
    due_numbers = [
        r["document_number"]
        for r in demo
        if (dt.date.fromisoformat(r["document_expires_on"]) - TODAY).days in (1, 7, 14, 30)
    ]
    last4s = sorted(normalise_number(n)[-4:] for n in due_numbers)
    assert len(last4s) == 4
    assert sorted(tail for tail in last4s for row in rows if tail in row.text) == last4s
    for row in rows:
        flat = re.sub(r"\s", "", row.text)
        for number in numbers:
            assert normalise_number(number) not in flat
            assert digits_only(number) not in flat


async def test_catch_up_skips_thresholds_already_claimed(sessions: sessionmaker[Session]) -> None:
    """Queued on the registry's day, then nothing for ten days: only the reminders not
    queued yet go out (the 7-day one for 4 days left, and the card expiring)."""
    setup_registry(sessions, link_lang="en")
    assert (await run_reminders(sessions, today=TODAY)).queued == 4
    before = {r.id for r in outbox_rows(sessions)}
    later = await run_reminders(sessions, today=TODAY + dt.timedelta(days=10))
    assert (later.due, later.queued) == (2, 2)
    new = [r.text for r in outbox_rows(sessions) if r.id not in before]
    card_expiry = format_date(TODAY + dt.timedelta(days=10), format="long", locale="en")
    assert len(new) == 2
    assert sum("merchant card" in text and card_expiry in text for text in new) == 1
    assert sum("(in 4 days)" in text for text in new) == 1


async def test_card_reminder_is_queued_once_with_its_last_four(
    sessions: sessionmaker[Session],
) -> None:
    setup_registry(sessions, link_lang="fr")
    day = TODAY + dt.timedelta(days=10)
    first = await run_reminders(sessions, today=day)
    again = await run_reminders(sessions, today=day)
    assert (first.queued, again.due, again.queued) == (3, 0, 0)
    card_number = demo_rows()[0]["card_number"]
    expected = gettext(
        "fr",
        texts.REMINDER_CARD,
        last4=normalise_number(card_number)[-4:],
        date=format_date(day, format="long", locale="fr"),
    )
    assert [r.text for r in outbox_rows(sessions)].count(expected) == 1


async def test_each_reminder_row_records_what_happened(sessions: sessionmaker[Session]) -> None:
    """queued (one chat); queued to two chats; no_chat for a resident whose only chat
    blocked the bot, and for one whose only chat turned reminders off."""
    setup_registry(sessions)
    web_id = link_another_chat(sessions, days=14, channel="webchat", external_id="w", lang="en")
    with transaction(sessions) as s:
        ids = {days: document_expiring_in(s, days).id for days in (1, 7, 14, 30)}
        chat_of_document(s, 7).blocked_at = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
        chat_of_document(s, 30).reminders_enabled = False
    summary = await run_reminders(sessions, today=TODAY)
    assert (summary.due, summary.queued, summary.no_chat, summary.already_claimed) == (4, 3, 2, 0)
    rows = {r.document_id: r for r in reminder_rows(sessions)}
    status = {days: rows[ids[days]].status for days in ids}
    assert status == {1: "queued", 7: "no_chat", 14: "queued", 30: "no_chat"}
    assert all(r.sent_at is not None for r in rows.values())
    queued = outbox_rows(sessions)
    days_of = {rows[doc_id].id: days for days, doc_id in ids.items()}
    per_reminder = Counter(days_of[int(r.idempotency_key.split(":")[1])] for r in queued)
    assert per_reminder == {1: 1, 14: 2}
    assert web_id in {r.identity_id for r in queued}
    assert {r.idempotency_key for r in queued} == expected_keys(sessions)


async def test_each_days_rows_are_marked_queued(sessions: sessionmaker[Session]) -> None:
    """Runs on three days: one document gets its 14- and then its 7-day reminder, and
    two documents get a 14-day one; each run marks its own rows, not earlier ones."""
    setup_registry(sessions)
    queued = [
        (await run_reminders(sessions, today=TODAY + dt.timedelta(days=d))).queued
        for d in (0, 7, 16)
    ]
    assert queued == [4, 1, 2]
    rows = reminder_rows(sessions)
    assert sorted(r.threshold_days for r in rows) == [1, 7, 7, 14, 14, 30, 30]
    assert {r.status for r in rows} == {"queued"}
    assert all(r.sent_at is not None for r in rows)
    assert len(outbox_rows(sessions)) == 7


async def test_blocked_chat_gets_no_reminder(sessions: sessionmaker[Session]) -> None:
    setup_registry(sessions)
    with transaction(sessions) as s:
        for chat in s.scalars(select(ChatIdentity)):
            chat.blocked_at = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    summary = await run_reminders(sessions, today=TODAY)
    assert (summary.due, summary.queued, summary.no_chat) == (4, 0, 4)
    assert outbox_rows(sessions) == []
    assert {r.status for r in reminder_rows(sessions)} == {"no_chat"}
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 0


# --- several jobs at once ---


def test_concurrent_claims_only_one_wins(sessions: sessionmaker[Session]) -> None:
    setup_registry(sessions)
    with sessions() as s:
        item = due_reminders(s, today=TODAY)[0]
    results: list[int | None] = []
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
    assert len(results) == 4 and results.count(None) == 3
    assert [r for r in results if r is not None] == [r.id for r in reminder_rows(sessions)]


def test_concurrent_claim_and_enqueue_queues_once(sessions: sessionmaker[Session]) -> None:
    setup_registry(sessions)
    with sessions() as s:
        item = due_reminders(s, today=TODAY)[0]
    results: list[int | None] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        with transaction(sessions) as s:
            results.append(claim_and_enqueue(s, item))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=lambda r: r is not None) == [None, None, None, 1]
    assert len(reminder_rows(sessions)) == 1
    assert [r.idempotency_key for r in outbox_rows(sessions)] == sorted(expected_keys(sessions))
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 1


def assert_queued_once(sessions: sessionmaker[Session], summaries: Sequence[RunSummary]) -> None:
    """Five messages for four reminders (one resident has two chats), each queued by
    exactly one of the jobs; whatever the other job saw was counted as claimed."""
    assert sum(s.queued for s in summaries) == 5
    assert sum(s.already_claimed for s in summaries) == sum(s.due for s in summaries) - 4
    assert sum(s.no_chat for s in summaries) == 0
    rows = outbox_rows(sessions)
    assert len(rows) == 5 and len(reminder_rows(sessions)) == 4
    assert {r.idempotency_key for r in rows} == expected_keys(sessions)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 5


async def test_two_jobs_at_once_queue_once(sessions: sessionmaker[Session]) -> None:
    setup_registry(sessions)
    link_another_chat(sessions, days=14, channel="webchat", external_id="web", lang="en")
    summaries = await asyncio.gather(
        run_reminders(sessions, today=TODAY), run_reminders(sessions, today=TODAY)
    )
    assert_queued_once(sessions, summaries)


def test_two_jobs_in_threads_queue_once(sessions: sessionmaker[Session]) -> None:
    setup_registry(sessions)
    link_another_chat(sessions, days=14, channel="webchat", external_id="web", lang="en")
    summaries: list[RunSummary] = []
    barrier = threading.Barrier(2)

    def job() -> None:
        barrier.wait()
        summaries.append(asyncio.run(run_reminders(sessions, today=TODAY)))

    threads = [threading.Thread(target=job) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(summaries) == 2
    assert_queued_once(sessions, summaries)


async def test_reminder_claimed_by_another_job_is_counted_and_the_rest_queued(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another job claims two reminders between this job's listing and its claims."""
    setup_registry(sessions)
    with sessions() as s:
        due = due_reminders(s, today=TODAY)
    with transaction(sessions) as s:
        assert claim(s, due[0]) is not None and claim(s, due[2]) is not None
    monkeypatch.setattr(reminders, "due_reminders", lambda _session, *, today: due)
    summary = await run_reminders(sessions, today=TODAY)
    assert (summary.due, summary.already_claimed, summary.queued, summary.no_chat) == (4, 2, 2, 0)
    rows = outbox_rows(sessions)
    assert sorted(r.text for r in rows) == sorted(reminder_text(d, "ru") for d in (due[1], due[3]))
    # The rows the other job claimed are its own: this job did not mark them.
    assert sorted(r.status for r in reminder_rows(sessions)) == [
        "claimed", "claimed", "queued", "queued"
    ]  # fmt: skip


# --- dry run ---


async def test_dry_run_claims_nothing(sessions: sessionmaker[Session]) -> None:
    setup_registry(sessions)
    summary = await run_reminders(sessions, today=TODAY, dry_run=True)
    assert (summary.due, len(summary.lines), summary.queued) == (4, 4, 0)
    assert reminder_rows(sessions) == [] and outbox_rows(sessions) == []
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 0
    # Nothing was claimed: a real run afterwards queues all of them.
    assert (await run_reminders(sessions, today=TODAY)).queued == 4


async def test_dry_run_lines_say_chat_document_and_threshold(
    sessions: sessionmaker[Session],
) -> None:
    setup_registry(sessions)
    with sessions() as s:
        expected = []
        for days in (1, 7, 14, 30):
            doc = document_expiring_in(s, days)
            chat = chat_of_document(s, days)
            expected.append(
                f"telegram:{chat.public_id[:8]} {doc.kind} ••••{doc.number_last4} "
                f"expires {doc.expires_on} ({days}-day reminder, ru)"
            )
    summary = await run_reminders(sessions, today=TODAY, dry_run=True)
    assert sorted(summary.lines) == sorted(expected)


async def test_chat_without_a_language_gets_english(sessions: sessionmaker[Session]) -> None:
    setup_registry(sessions, link_lang=None)
    dry = await run_reminders(sessions, today=TODAY, dry_run=True)
    assert len(dry.lines) == 4
    assert all(line.endswith("-day reminder, en)") for line in dry.lines)
    with sessions() as s:
        expected = sorted(reminder_text(d, "en") for d in due_reminders(s, today=TODAY))
    await run_reminders(sessions, today=TODAY)
    rows = outbox_rows(sessions)
    assert sorted(r.text for r in rows) == expected
    assert {r.language for r in rows} == {"en"}


# --- texts ---


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


# --- delivery: pushed by the dispatcher, or collected by the web chat ---


async def test_telegram_reminders_are_delivered_by_the_dispatcher(
    sessions: sessionmaker[Session],
) -> None:
    setup_registry(sessions)
    await run_reminders(sessions, today=TODAY)
    queued = outbox_rows(sessions)
    assert {r.status for r in queued} == {"pending"}
    assert set(message_status(sessions).values()) == {"queued"}
    channel = FakePush()
    dispatcher = dispatcher_for(sessions, channel)
    report = await dispatcher.run_round()
    assert (report.claimed, report.delivered, report.ended) == (4, 4, 0)
    assert sorted((i.recipient, i.kind, i.text) for i in channel.tried) == sorted(
        (r.recipient, "reminder", r.text) for r in queued
    )
    rows = outbox_rows(sessions)
    assert [(r.status, r.attempts) for r in rows] == [("delivered", 1)] * 4
    assert all(r.finished_at is not None for r in rows)
    assert set(message_status(sessions).values()) == {"delivered"}
    again = await dispatcher.run_round()
    assert again.claimed == 0 and len(channel.tried) == 4


async def test_a_chat_that_blocked_the_bot_gets_no_later_reminder(
    sessions: sessionmaker[Session],
) -> None:
    """The 30-day reminder finds that its chat blocked the bot; 16 days later that
    document's 14-day reminder is due, and another resident's 30-day one: only the
    other resident's is queued."""
    setup_registry(sessions)
    with sessions() as s:
        blocking = chat_of_document(s, 30)
    await run_reminders(sessions, today=TODAY)
    channel = FakePush(blocked=frozenset({blocking.external_id}))
    report = await dispatcher_for(sessions, channel).run_round()
    assert (report.claimed, report.delivered, report.ended) == (4, 3, 1)
    rows = {r.recipient: r for r in outbox_rows(sessions)}
    assert rows[blocking.external_id].status == "blocked"
    assert "blocked" in (rows[blocking.external_id].last_error or "")
    assert sorted(r.status for r in rows.values()) == [
        "blocked",
        "delivered",
        "delivered",
        "delivered",
    ]
    message_id = rows[blocking.external_id].message_id
    assert message_id is not None and message_status(sessions)[message_id] == "blocked"
    with sessions() as s:
        blocked_chats = list(
            s.scalars(select(ChatIdentity).where(ChatIdentity.blocked_at.is_not(None)))
        )
    assert [c.id for c in blocked_chats] == [blocking.id]

    later = await run_reminders(sessions, today=TODAY + dt.timedelta(days=16))
    assert (later.due, later.queued, later.no_chat) == (2, 1, 1)
    new = outbox_rows(sessions)[4:]
    assert len(new) == 1 and new[0].recipient != blocking.external_id
    with sessions() as s:
        blocked_doc = document_expiring_in(s, 30).id
    skipped = [r for r in reminder_rows(sessions) if r.document_id == blocked_doc]
    assert sorted((r.threshold_days, r.status) for r in skipped) == [
        (14, "no_chat"),
        (30, "queued"),
    ]


async def test_web_chat_reminder_waits_until_the_page_collects_it(
    sessions: sessionmaker[Session],
) -> None:
    """The old bug: a linked web-chat user's reminder was recorded as sent though
    nothing reached them. Now it waits in the outbox, untouched by the Telegram
    dispatcher, and is delivered only when the page collects it."""
    setup_registry(sessions, link_lang="en", channel="webchat")
    link_another_chat(sessions, days=7, channel="telegram", external_id="777", lang="en")
    summary = await run_reminders(sessions, today=TODAY)
    assert (summary.due, summary.queued) == (4, 5)
    assert {r.status for r in reminder_rows(sessions)} == {"queued"}
    channel = FakePush()
    report = await dispatcher_for(sessions, channel).run_round()
    # Only the Telegram chat's row was pushed; the web chat's rows wait for their pages.
    assert (report.claimed, report.delivered) == (1, 1)
    assert [i.recipient for i in channel.tried] == ["777"]
    web = [r for r in outbox_rows(sessions) if r.channel == "webchat"]
    assert len(web) == 4
    assert {(r.status, r.attempts, r.lease_owner, r.finished_at) for r in web} == {
        ("pending", 0, None, None)
    }
    assert {message_status(sessions)[r.message_id or 0] for r in web} == {"queued"}

    with sessions() as s:
        page = chat_of_document(s, 7, channel="webchat")
    mine = next(r for r in web if r.identity_id == page.id)
    assert "(in 7 days)" in mine.text
    with transaction(sessions) as s:
        items = outbox.collect(s, identity_id=page.id, channel="webchat", after_id=None)
        assert [(i.id, i.kind, i.text) for i in items] == [(mine.id, "reminder", mine.text)]
        outbox.mark_collected(s, row_ids=[i.id for i in items])

    after = {r.id: r for r in outbox_rows(sessions)}
    assert (after[mine.id].status, after[mine.id].attempts) == ("delivered", 1)
    assert after[mine.id].finished_at is not None
    assert message_status(sessions)[mine.message_id or 0] == "delivered"
    others = [after[r.id] for r in web if r.id != mine.id]
    assert {r.status for r in others} == {"pending"}
    with sessions() as s:
        again = outbox.collect(s, identity_id=page.id, channel="webchat", after_id=None)
    assert again == []


# --- the command line, in its own process, on the test's database ---


def cli(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ) | {"EXPATBOT_VAR": str(tmp_path / "var"), "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "bot.ops.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
    )


def test_cli_dry_run_lists_todays_reminders(
    sessions: sessionmaker[Session], database_url: str, tmp_path: Path
) -> None:
    setup_registry(sessions)
    expected = asyncio.run(run_reminders(sessions, today=TODAY, dry_run=True)).lines
    out = cli(database_url, tmp_path, "reminders", "run", "--dry-run", "--date", TODAY.isoformat())
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[-1] == "4 reminders due on 2026-11-27 (dry run: nothing sent, nothing claimed)"
    assert sorted(lines[:-1]) == sorted(expected) and len(expected) == 4
    assert reminder_rows(sessions) == [] and outbox_rows(sessions) == []


def test_cli_run_queues_todays_reminders(
    sessions: sessionmaker[Session], database_url: str, tmp_path: Path
) -> None:
    setup_registry(sessions)
    with transaction(sessions) as s:
        chat_of_document(s, 30).reminders_enabled = False
    out = cli(database_url, tmp_path, "reminders", "run", "--date", TODAY.isoformat())
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == (
        "4 reminders due on 2026-11-27: 3 messages queued, 0 queued before, 1 without a chat; "
        "the gateway or `expatbot worker` delivers them"
    )
    rows = outbox_rows(sessions)
    assert len(rows) == 3 and {(r.channel, r.kind, r.status) for r in rows} == {
        ("telegram", "reminder", "pending")
    }
    assert {r.idempotency_key for r in rows} == expected_keys(sessions)
    assert sorted(r.status for r in reminder_rows(sessions)) == [
        "no_chat", "queued", "queued", "queued"
    ]  # fmt: skip
    again = cli(database_url, tmp_path, "reminders", "run", "--date", TODAY.isoformat())
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [
        "0 reminders due on 2026-11-27: 0 messages queued, 0 queued before, 0 without a chat; "
        "the gateway or `expatbot worker` delivers them"
    ]
    assert len(outbox_rows(sessions)) == 3
