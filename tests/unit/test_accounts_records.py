"""What bot.records.accounts keeps and deletes for one chat, and in which order it lists a
resident's documents: exact effects, so that a change touching another user's data, or
a lockout counting someone else's failures, shows (mutation testing found these
unchecked)."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db import conversations, transaction
from bot.db.models import (
    ChatIdentity,
    Conversation,
    MerchantCard,
    Message,
    Outbox,
    Resident,
    StaffAlert,
    TravelDocument,
)
from bot.delivery import outbox
from bot.records import accounts
from bot.records.registry.importer import import_registry
from tests.people import AHMED, registry_csv, registry_key


def chat_with_transcript(s: Session, external_id: str, lines: int) -> ChatIdentity:
    """A chat identity with one conversation of ``lines`` questions, each answered."""
    identity = conversations.get_or_create_identity(s, channel="telegram", external_id=external_id)
    conversation = conversations.current_conversation(s, identity=identity)
    for i in range(lines):
        question = conversations.record_inbound(
            s, conversation=conversation, text=f"q{i}", kind="text"
        )
        conversations.record_outbound(
            s, conversation_id=conversation.id, text=f"a{i}", language="en", reply_to=question.id
        )
    return identity


def test_forget_deletes_this_chat_only_and_resets_it(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        gone = chat_with_transcript(s, "forget-me", lines=2)
        kept = chat_with_transcript(s, "someone-else", lines=1)
        gone.language, gone.language_chosen, gone.client_language = "ru", True, "ru-RU"
        gone.reminders_enabled, gone.awaiting = False, "date_of_birth"
        old_public_id, gone_id, kept_id = gone.public_id, gone.id, kept.id
    with transaction(sessions) as s:
        identity = s.get(ChatIdentity, gone_id)
        assert identity is not None
        result = accounts.forget(s, identity=identity)
    assert (result.messages, result.conversations) == (4, 1)
    with sessions() as s:
        identity = s.get(ChatIdentity, gone_id)
        assert identity is not None
        assert (
            identity.resident_id,
            identity.language,
            identity.language_chosen,
            identity.client_language,
            identity.reminders_enabled,
            identity.awaiting,
        ) == (None, None, False, None, True, None)
        assert identity.public_id != old_public_id
        assert str(uuid.UUID(identity.public_id)) == identity.public_id
        conversations = list(s.scalars(select(Conversation)))
        assert [c.identity_id for c in conversations] == [kept_id]
        others = list(s.scalars(select(Message).order_by(Message.id)))
        assert [m.text for m in others] == ["q0", "a0"]
        # The other user's answer still points at its question.
        assert others[1].reply_to_id == others[0].id


def queue(s: Session, identity: ChatIdentity, key: str, kind: str = "reminder") -> None:
    outbox.enqueue(
        s,
        key=key,
        channel=identity.channel,
        recipient=identity.external_id,
        identity_id=identity.id,
        kind=kind,
        text="Reminder: your visa (number ending 1864) expires soon",
        language="en",
    )


def test_forget_deletes_what_the_outbox_holds_for_this_chat_only(
    sessions: sessionmaker[Session],
) -> None:
    """Queued reminders name the resident's documents: they are transcript too. Found
    by review: after "forget me" the web page still collected the pending reminder."""
    with transaction(sessions) as s:
        gone = chat_with_transcript(s, "forget-me", lines=1)
        kept = chat_with_transcript(s, "someone-else", lines=1)
        queue(s, gone, "reminder:1:gone")
        queue(s, gone, "reply:9:0", kind="reply")
        queue(s, kept, "reminder:1:kept")
        gone_id = gone.id
    with transaction(sessions) as s:
        identity = s.get(ChatIdentity, gone_id)
        assert identity is not None
        accounts.forget(s, identity=identity)
    with sessions() as s:
        assert [r.idempotency_key for r in s.scalars(select(Outbox))] == ["reminder:1:kept"]
        assert outbox.collect(s, identity_id=gone_id, channel="telegram", after_id=None) == []


def test_unlink_cancels_the_reminders_not_yet_delivered(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        me = chat_with_transcript(s, "unlink-me", lines=1)
        queue(s, me, "reminder:1:me")
        queue(s, me, "reply:1:0", kind="reply")
        me_id = me.id
    with transaction(sessions) as s:
        identity = s.get(ChatIdentity, me_id)
        assert identity is not None
        accounts.unlink(s, identity=identity)
    with sessions() as s:
        rows = {r.kind: r for r in s.scalars(select(Outbox))}
        assert rows["reminder"].status == "failed"
        assert rows["reminder"].last_error == "cancelled: the chat was unlinked"
        assert rows["reply"].status == "pending"  # a reply is not about the record


def test_forget_without_a_transcript(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        identity = conversations.get_or_create_identity(s, channel="webchat", external_id="new")
        result = accounts.forget(s, identity=identity)
        assert (result.messages, result.conversations) == (0, 0)
        conversations.current_conversation(s, identity=identity)  # a conversation, no message yet
        result = accounts.forget(s, identity=identity)
        assert (result.messages, result.conversations) == (0, 1)


def test_the_awaited_card_number_is_replaced_even_if_it_looks_like_a_phone() -> None:
    """When the form has asked for the card number, the answer is taken as one (eleven
    digits would otherwise be read as a phone number and kept)."""
    replaced = accounts.replace_card_number("13812345678", key=registry_key())
    assert replaced is not None and "13812345678" not in replaced
    assert replaced == accounts.CARD_REF_TOKEN + accounts.card_reference(
        "13812345678", key=registry_key()
    )


def test_cards_and_documents_are_listed_latest_expiry_first(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as s:
        assert import_registry(s, registry_csv((AHMED,)), key=registry_key()).ok
        resident = s.scalars(select(Resident)).one()
        card = s.scalars(select(MerchantCard)).one()
        doc = s.scalars(select(TravelDocument)).one()
        month = dt.timedelta(days=30)
        # Added after the imported ones (later ids): one expiring a month earlier, one
        # on the same day as the imported one.
        for n, shift in (("1", month), ("2", dt.timedelta(0))):
            s.add(
                MerchantCard(resident_id=resident.id, number_hash=n * 64, digits_hash=n * 64,
                             number_last4="000" + n, status="expired", issued_on=card.issued_on,
                             expires_on=card.expires_on - shift)
            )  # fmt: skip
            s.add(
                TravelDocument(resident_id=resident.id, kind="visa", visa_type="M",
                               number_hash=n * 64, number_last4="000" + n, entries=None,
                               expires_on=doc.expires_on - shift, status="expired")
            )  # fmt: skip
        s.flush()
        cards = accounts.resident_cards(s, resident_id=resident.id)
        docs = accounts.resident_documents(s, resident_id=resident.id)
        # Latest expiry first; of two with the same expiry, the one added last first.
        assert [c.number_last4 for c in cards] == ["0002", card.number_last4, "0001"]
        assert [d.number_last4 for d in docs] == ["0002", doc.number_last4, "0001"]


def test_failures_are_counted_per_chat(sessions: sessionmaker[Session]) -> None:
    from tests.unit.test_link_ambiguity import NOW, link, setup_twins

    setup_twins(sessions)
    with transaction(sessions) as s:
        other = conversations.get_or_create_identity(s, channel="webchat", external_id="other")
        assert accounts.recent_failures(s, identity_id=other.id, now=NOW) == 0
        mine = s.scalars(select(ChatIdentity).where(ChatIdentity.external_id == "4242")).one()
        for _ in range(3):
            assert link(s, mine, born=dt.date(2000, 1, 1), passport_last4=None).outcome == (
                "mismatch"
            )
        assert accounts.recent_failures(s, identity_id=mine.id, now=NOW) == 3
        assert accounts.recent_failures(s, identity_id=other.id, now=NOW) == 0
        assert not accounts.is_locked(s, identity_id=other.id, now=NOW)


def test_staff_alert_names_the_chat_and_is_logged(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    with transaction(sessions) as s:
        identity = conversations.get_or_create_identity(s, channel="telegram", external_id="77")
        with caplog.at_level(logging.WARNING, logger="bot.records.alerts"):
            accounts.raise_alert(s, kind="link_lockout", identity_id=identity.id, details="why")
        alert = s.scalars(select(StaffAlert)).one()
        assert (alert.kind, alert.identity_id, alert.details) == (
            "link_lockout",
            identity.id,
            "why",
        )
        assert accounts.open_alerts(s) == [alert]
    assert [r.getMessage() for r in caplog.records if r.name == "bot.records.alerts"] == [
        "staff alert link_lockout: why"
    ]
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(StaffAlert)) == 1
