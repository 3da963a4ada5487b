"""Dispute tickets, the data functions (bot.tickets.tickets): the draft, its submission
once, the lifecycle for every actor, what each change writes (event, audit entry, one
notice to the ticket's chat in its language), staff replies and notes, the user's own
messages and files, the nightly close, same-party tickets, what a chat may see, and the
numbers users type. SQLite and PostgreSQL (the ``sessions`` fixture)."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.db import aware, conversations, transaction
from bot.db.models import AuditEntry, ChatIdentity, Evidence, Message, Outbox, Ticket, TicketEvent
from bot.i18n import gettext
from bot.messages import Inbound
from bot.pipeline.assistant import Assistant
from bot.settings import get_settings
from bot.tickets import lifecycle, numbers, tickets
from bot.tickets.lifecycle import TransitionRefused
from bot.tickets.targets import DEFAULT_FILE, target_for
from tests.conftest import FakeRasa
from tests.helpers import new_id
from tests.tickets_helpers import (
    chat,
    count,
    evidence_dir,
    fake_sha,
    file_ticket,
    put_status,
    resident,
    staff,
)

NOW = dt.datetime(2026, 3, 10, 4, 30, tzinfo=dt.UTC)
ACTORS: tuple[lifecycle.Actor, ...] = ("user", "staff", "system")
EVERY_STATUS = (lifecycle.DRAFT, *lifecycle.STATUSES)


@pytest.fixture(autouse=True)
def _evidence_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    with evidence_dir(tmp_path / "evidence", monkeypatch) as root:
        yield root


def outbox_of(s: Session, ticket: Ticket) -> list[Outbox]:
    return list(
        s.scalars(
            select(Outbox)
            .where(Outbox.idempotency_key.like(f"ticket:{ticket.id}:%"))
            .order_by(Outbox.id)
        )
    )


def events_of(s: Session, ticket: Ticket) -> list[TicketEvent]:
    return list(
        s.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
        )
    )


def payloads(row: Outbox) -> list[str]:
    return [b["payload"] for b in row.buttons or []]


# --- the draft and its submission -----------------------------------------------------


def test_submit_numbers_the_ticket_and_sets_the_targets_of_its_kind(
    sessions: sessionmaker[Session],
) -> None:
    targets = yaml.safe_load(DEFAULT_FILE.read_text(encoding="utf-8"))
    with transaction(sessions) as s:
        identity = chat(s, "1001")
        for kind, target in targets.items():
            draft = tickets.start_draft(s, identity=identity, language="fr")
            assert draft.status == lifecycle.DRAFT and draft.number is None
            assert tickets.start_draft(s, identity=identity, language="fr").id == draft.id
            tickets.update_draft(
                s, identity_id=identity.id, values={"kind": kind, "party_name": "Shop 12"}
            )
            done = tickets.submit(s, identity=identity, now=NOW)
            assert done is not None and done.created
            ticket = done.ticket
            assert ticket.id == draft.id
            assert ticket.number == f"YW-2026-{ticket.id:06d}"
            assert ticket.status == lifecycle.SUBMITTED
            assert aware(ticket.submitted_at) == NOW  # type: ignore[arg-type]
            hours = dt.timedelta(hours=target["first_response_hours"])
            days = dt.timedelta(days=target["resolution_days"])
            assert aware(ticket.respond_by) == NOW + hours, kind  # type: ignore[arg-type]
            assert aware(ticket.resolve_by) == NOW + days, kind  # type: ignore[arg-type]
            assert ticket.party_key == "shop12"
        with pytest.raises(ValueError):
            tickets.update_draft(s, identity_id=identity.id, values={"status": "closed"})


def test_the_year_in_the_number_is_yiwus(sessions: sessionmaker[Session]) -> None:
    """Filed at 01:00 on New Year's Day in Yiwu, 17:00 UTC the day before: 2027."""
    with transaction(sessions) as s:
        identity = chat(s, "1002")
        tickets.start_draft(s, identity=identity, language="en")
        new_year = dt.datetime(2026, 12, 31, 17, 0, tzinfo=dt.UTC)
        done = tickets.submit(s, identity=identity, now=new_year)
        assert done is not None
        assert done.ticket.number == f"YW-2027-{done.ticket.id:06d}"


def test_a_submission_retried_finds_the_ticket_it_made(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        identity = chat(s, "1003")
        assert tickets.submit(s, identity=identity) is None  # nothing to submit
        tickets.start_draft(s, identity=identity, language="en")
        first = tickets.submit(s, identity=identity)
        again = tickets.submit(s, identity=identity)
        assert first is not None and again is not None
        assert (first.created, again.created) == (True, False)
        assert again.ticket.id == first.ticket.id
        assert count(s, Ticket) == 1
        submitted = [e for e in events_of(s, first.ticket) if e.to_status == "submitted"]
        assert len(submitted) == 1
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "ticket_submitted")).all()
        assert [a.details for a in audit] == [{"ticket": first.ticket.number}]


def test_two_submissions_racing_make_one_ticket(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both read the draft before either writes (a barrier between the read and the
    compare-and-set): one submits it, the other finds it submitted."""
    with transaction(sessions) as s:
        identity_id = chat(s, "1004").id
        tickets.start_draft(s, identity=s.get(ChatIdentity, identity_id), language="en")  # type: ignore[arg-type]
    barrier = threading.Barrier(2)

    def target_for_after_both_read(kind: str | None) -> Any:
        barrier.wait(timeout=20)
        return target_for(kind)

    monkeypatch.setattr("bot.tickets.tickets.target_for", target_for_after_both_read)
    results: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def submit() -> None:
        try:
            with transaction(sessions) as s:
                identity = s.get(ChatIdentity, identity_id)
                assert identity is not None
                done = tickets.submit(s, identity=identity)
                assert done is not None
                results.append((done.ticket.id, done.created))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(created for _, created in results) == [False, True]
    assert len({ticket_id for ticket_id, _ in results}) == 1
    with sessions() as s:
        (ticket,) = s.scalars(select(Ticket)).all()
        assert ticket.status == lifecycle.SUBMITTED
        assert [e.to_status for e in events_of(s, ticket)] == ["submitted"]


def test_discarding_a_draft_returns_the_files_no_other_ticket_holds(
    sessions: sessionmaker[Session],
) -> None:
    shared, own = fake_sha(1), fake_sha(2)
    with transaction(sessions) as s:
        other = file_ticket(s, chat(s, "1005"))
        tickets.add_evidence(
            s, ticket=other, sha256=shared, mime="image/png", size=10, name="a.png",
            message_id=None, album=None,
        )  # fmt: skip
        identity = chat(s, "1006")
        draft = tickets.start_draft(s, identity=identity, language="en")
        for sha in (shared, own):
            tickets.add_evidence(
                s, ticket=draft, sha256=sha, mime="image/png", size=10, name="b.png",
                message_id=None, album=None,
            )  # fmt: skip
        draft_id = draft.id
    with transaction(sessions) as s:
        assert tickets.discard_draft(s, identity_id=identity.id) == [own]
    with sessions() as s:
        assert s.get(Ticket, draft_id) is None
        assert s.scalars(select(Evidence.sha256).order_by(Evidence.id)).all() == [shared]
        assert tickets.discard_draft(s, identity_id=identity.id) == []


# --- the lifecycle ------------------------------------------------------------------------


def test_every_change_is_allowed_to_exactly_its_actors(sessions: sessionmaker[Session]) -> None:
    """Every (from, to) pair, for each actor: the lifecycle's table says yes or no, and
    change_status does that; a refusal writes nothing."""
    allowed_seen = 0
    serial = itertools.count(1)
    with transaction(sessions) as s:
        identity = chat(s, "1010")
        original = file_ticket(s, identity)
        for current in EVERY_STATUS:
            for target in EVERY_STATUS:
                for actor in ACTORS:
                    ticket = Ticket(
                        idempotency_key=uuid.uuid4().hex,
                        identity_id=identity.id,
                        language="en",
                        status=current,
                        number=f"YW-2026-9{next(serial):05d}",
                    )
                    s.add(ticket)
                    s.flush()
                    expected = actor in lifecycle.TRANSITIONS[current].get(target, frozenset())
                    assert lifecycle.allowed(current, target, actor) == expected
                    kwargs: dict[str, Any] = {"reason": "No contract", "duplicate_of": original}
                    if expected:
                        event = tickets.change_status(
                            s, ticket=ticket, to=target, actor=actor, **kwargs
                        )
                        assert (event.from_status, event.to_status, event.actor) == (
                            current,
                            target,
                            actor,
                        )
                        assert ticket.status == target
                        allowed_seen += 1
                    else:
                        with pytest.raises(TransitionRefused):
                            tickets.change_status(
                                s, ticket=ticket, to=target, actor=actor, **kwargs
                            )
                        assert ticket.status == current
                        assert events_of(s, ticket) == [] and outbox_of(s, ticket) == []
    table = sum(len(who) for to in lifecycle.TRANSITIONS.values() for who in to.values())
    assert allowed_seen == table


def test_next_statuses_follow_the_table() -> None:
    assert lifecycle.next_statuses(lifecycle.RESOLVED, "user") == ["in_progress", "closed"]
    assert lifecycle.next_statuses(lifecycle.WAITING_USER, "system") == ["in_progress"]
    assert lifecycle.next_statuses(lifecycle.CLOSED, "staff") == []


@pytest.mark.parametrize(
    ("to", "msgid", "verbs"),
    [
        (lifecycle.RESOLVED, texts.TICKET_NOW_RESOLVED, ["ok", "reopen"]),
        (lifecycle.WAITING_USER, texts.TICKET_NOW_WAITING, ["add"]),
    ],
)
def test_a_change_writes_its_event_audit_entry_and_one_notice_in_the_tickets_language(
    sessions: sessionmaker[Session], to: str, msgid: str, verbs: list[str]
) -> None:
    with transaction(sessions) as s:
        agent = staff(s)
        # The chat now speaks English; the ticket was filed in Russian: told in Russian.
        identity = chat(s, "1011", language="en")
        ticket = file_ticket(s, identity, language="ru")
        put_status(s, ticket, lifecycle.IN_PROGRESS)
        event = tickets.change_status(s, ticket=ticket, to=to, actor="staff", staff=agent, now=NOW)
        number = str(ticket.number)

        assert (event.kind, event.from_status, event.to_status, event.actor, event.staff_id) == (
            "status", "in_progress", to, "staff", agent.id,
        )  # fmt: skip
        assert event.public
        (entry,) = s.scalars(select(AuditEntry).where(AuditEntry.action == "ticket_status"))
        assert (entry.staff_id, entry.staff_name, entry.identity_id) == (
            agent.id, agent.name, identity.id,
        )  # fmt: skip
        assert entry.details == {"ticket": number, "from": "in_progress", "to": to}
        assert aware(ticket.first_response_at) == NOW  # type: ignore[arg-type]

        (row,) = outbox_of(s, ticket)
        assert (row.kind, row.channel, row.recipient, row.identity_id, row.language) == (
            "ticket_update", "telegram", "1011", identity.id, "ru",
        )  # fmt: skip
        days = get_settings().ticket_autoclose_days
        assert row.text == gettext("ru", msgid, number=number, days=days)
        assert payloads(row) == [f"/ticket {number} {verb}" for verb in verbs]
        copy = s.get(Message, row.message_id)
        assert copy is not None and copy.author == "staff" and copy.text == row.text


def test_a_rejection_needs_a_reason_and_is_told_with_it(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        ticket = file_ticket(s, chat(s, "1012"))
        for blank in (None, "", "   "):
            with pytest.raises(ValueError):
                tickets.change_status(
                    s, ticket=ticket, to=lifecycle.REJECTED, actor="staff", reason=blank
                )
        assert ticket.status == lifecycle.SUBMITTED
        assert outbox_of(s, ticket) == []
        tickets.change_status(
            s, ticket=ticket, to=lifecycle.REJECTED, actor="staff", reason=" Not in Yiwu "
        )
        assert ticket.reason == "Not in Yiwu" and ticket.closed_at is not None
        (row,) = outbox_of(s, ticket)
        assert row.text == gettext(
            "en", texts.TICKET_NOW_REJECTED, number=str(ticket.number), reason="Not in Yiwu"
        )
        assert payloads(row) == []


def test_a_duplicate_links_its_original(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        identity = chat(s, "1013")
        original = file_ticket(s, identity)
        copy = file_ticket(s, identity)
        with pytest.raises(ValueError):
            tickets.change_status(s, ticket=copy, to=lifecycle.DUPLICATE, actor="staff")
        with pytest.raises(ValueError):
            tickets.change_status(
                s, ticket=copy, to=lifecycle.DUPLICATE, actor="staff", duplicate_of=copy
            )
        tickets.change_status(
            s, ticket=copy, to=lifecycle.DUPLICATE, actor="staff", duplicate_of=original
        )
        assert copy.duplicate_of_id == original.id
        (row,) = outbox_of(s, copy)
        assert row.text == gettext(
            "en", texts.TICKET_NOW_DUPLICATE, number=str(copy.number), original=original.number
        )


def test_tell_false_sends_nothing(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        ticket = file_ticket(s, chat(s, "1014"))
        tickets.change_status(s, ticket=ticket, to=lifecycle.WITHDRAWN, actor="user", tell=False)
        assert ticket.status == lifecycle.WITHDRAWN
        assert outbox_of(s, ticket) == []
        assert [e.to_status for e in events_of(s, ticket)] == ["submitted", "withdrawn"]


def test_a_status_changed_meanwhile_refuses_the_stale_change_and_writes_nothing(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as s:
        ticket_id = file_ticket(s, chat(s, "1015")).id
    with sessions() as stale_session:
        stale = stale_session.get(Ticket, ticket_id)
        assert stale is not None and stale.status == lifecycle.SUBMITTED
        with transaction(sessions) as s:  # another member of staff, meanwhile
            fresh = s.get(Ticket, ticket_id)
            assert fresh is not None
            tickets.change_status(s, ticket=fresh, to=lifecycle.TRIAGED, actor="staff")
        with pytest.raises(TransitionRefused) as refused:
            tickets.change_status(
                stale_session, ticket=stale, to=lifecycle.IN_PROGRESS, actor="staff"
            )
        assert refused.value.current == lifecycle.TRIAGED
        stale_session.commit()
    with sessions() as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None and ticket.status == lifecycle.TRIAGED
        assert [e.to_status for e in events_of(s, ticket)] == ["submitted", "triaged"]
        assert count(s, AuditEntry, AuditEntry.action == "ticket_status") == 1
        assert len(outbox_of(s, ticket)) == 1


# --- staff replies and notes; the user's messages ---------------------------------------------


def test_a_reply_is_public_and_told_a_note_is_neither(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        agent = staff(s)
        ticket = file_ticket(s, chat(s, "1020"), language="zh")
        answer = tickets.reply(s, ticket=ticket, staff=agent, text="  我们已联系供应商。 ")
        assert isinstance(answer, TicketEvent)
        assert (answer.kind, answer.public, answer.actor, answer.text) == (
            "reply", True, "staff", "我们已联系供应商。",
        )  # fmt: skip
        assert ticket.first_response_at is not None
        (row,) = outbox_of(s, ticket)
        assert row.text == gettext(
            "zh", texts.TICKET_STAFF_REPLY, number=str(ticket.number), text="我们已联系供应商。"
        )
        assert row.language == "zh" and payloads(row) == [f"/ticket {ticket.number} add"]

        private = tickets.note(s, ticket=ticket, staff=agent, text="Supplier known for this.")
        assert isinstance(private, TicketEvent) and not private.public
        assert len(outbox_of(s, ticket)) == 1
        assert [e.kind for e in tickets.public_events(s, ticket_id=ticket.id)] == [
            "status",
            "reply",
        ]
        actions = s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
        assert actions[-2:] == ["ticket_reply", "ticket_note"]

        assert tickets.reply(s, ticket=ticket, staff=agent, text="   ") == "empty"
        assert tickets.reply(s, ticket=ticket, staff=agent, text="x" * 4001) == "too_long"
        put_status(s, ticket, lifecycle.CLOSED)
        assert tickets.reply(s, ticket=ticket, staff=agent, text="Late") == "final"
        assert len(outbox_of(s, ticket)) == 1


def test_a_message_on_a_ticket_waiting_for_the_user_puts_it_back_to_work(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as s:
        ticket = file_ticket(s, chat(s, "1021"))
        put_status(s, ticket, lifecycle.WAITING_USER)
        event = tickets.user_message(s, ticket=ticket, text=" Here is the invoice number ")
        assert isinstance(event, TicketEvent)
        assert (event.kind, event.actor, event.text, event.public) == (
            "user_message", "user", "Here is the invoice number", True,
        )  # fmt: skip
        assert ticket.status == lifecycle.IN_PROGRESS
        last = events_of(s, ticket)[-1]
        assert (last.from_status, last.to_status, last.actor) == (
            "waiting_user",
            "in_progress",
            "system",
        )
        assert tickets.user_message(s, ticket=ticket, text="  ") == "empty"
        put_status(s, ticket, lifecycle.CLOSED)
        before = len(events_of(s, ticket))
        assert tickets.user_message(s, ticket=ticket, text="one more thing") == "final"
        assert len(events_of(s, ticket)) == before


def test_evidence_at_most_ten_once_per_message_and_one_first_per_album(
    sessions: sessionmaker[Session],
) -> None:
    def add(ticket: Ticket, n: int, *, message: int | None = None, album: str | None = None) -> Any:
        return tickets.add_evidence(
            s, ticket=ticket, sha256=fake_sha(n), mime="image/jpeg", size=100, name=f"{n}.jpg",
            message_id=message, album=album,
        )  # fmt: skip

    assert get_settings().evidence_max_files == 10
    with transaction(sessions) as s:
        identity = chat(s, "1022")
        conv = conversations.current_conversation(s, identity=identity)
        message = conversations.record_inbound(s, conversation=conv, text="", kind="photo").id
        ticket = file_ticket(s, identity)

        first = add(ticket, 1, message=message, album="g1")
        again = add(ticket, 1, message=message, album="g1")  # the same message, processed twice
        assert first.first_of_album and not again.first_of_album
        assert again.evidence.id == first.evidence.id
        assert [add(ticket, n, album="g1").first_of_album for n in (2, 3)] == [False, False]
        assert add(ticket, 4, album="g2").first_of_album
        assert all(add(ticket, n).first_of_album for n in range(5, 11))  # no album: each its own
        assert tickets.evidence_count(s, ticket_id=ticket.id) == 10
        assert add(ticket, 11) == "too_many"
        assert add(ticket, 1, message=message, album="g1").evidence.id == first.evidence.id
        assert tickets.evidence_count(s, ticket_id=ticket.id) == 10
        evidence_events = [e for e in events_of(s, ticket) if e.kind == "evidence"]
        assert len(evidence_events) == 10 and not any(e.public for e in evidence_events)

        done = file_ticket(s, identity)
        put_status(s, done, lifecycle.CLOSED)
        assert add(done, 12) == "final"


# --- the nightly close; the same party; what a chat may see --------------------------------------


def test_close_unconfirmed_closes_resolved_tickets_past_the_days_and_tells_the_user(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    with transaction(sessions) as s:
        old = file_ticket(s, chat(s, "1030"), language="es")
        young = file_ticket(s, chat(s, "1031"))
        working = file_ticket(s, chat(s, "1032"))
        put_status(s, old, lifecycle.RESOLVED, resolved_at=NOW - dt.timedelta(days=8))
        put_status(s, young, lifecycle.RESOLVED, resolved_at=NOW - dt.timedelta(days=2))
        put_status(s, working, lifecycle.IN_PROGRESS, resolved_at=NOW - dt.timedelta(days=30))
    assert get_settings().ticket_autoclose_days == 7
    with transaction(sessions) as s:
        assert tickets.close_unconfirmed(s, now=NOW) == [old.number]
    with sessions() as s:
        statuses = {t.id: t.status for t in s.scalars(select(Ticket))}
        assert statuses == {old.id: "closed", young.id: "resolved", working.id: "in_progress"}
        (row,) = outbox_of(s, old)
        assert (row.recipient, row.language) == ("1030", "es")
        assert row.text == gettext("es", texts.TICKET_NOW_CLOSED, number=str(old.number))
        last = events_of(s, old)[-1]
        assert (last.from_status, last.to_status, last.actor) == ("resolved", "closed", "system")
        assert outbox_of(s, young) == []
    monkeypatch.setenv("TICKET_AUTOCLOSE_DAYS", "1")
    get_settings.cache_clear()
    with transaction(sessions) as s:
        assert tickets.close_unconfirmed(s, now=NOW) == [young.number]


def test_other_open_tickets_against_the_same_party(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        mine = file_ticket(s, chat(s, "1040"), party="Yiwu Star Trading Co., Ltd.")
        theirs = file_ticket(s, chat(s, "1041"), party="yiwu star trading co ltd")
        wide = file_ticket(s, chat(s, "1042"), party="Ｙｉｗｕ Ｓｔａｒ Ｔｒａｄｉｎｇ Ｃｏ．")
        put_status(s, wide, lifecycle.RESOLVED)  # resolved is still open
        closed = file_ticket(s, chat(s, "1043"), party="YIWU STAR TRADING CO LTD")
        put_status(s, closed, lifecycle.CLOSED)
        file_ticket(s, chat(s, "1044"), party="Yiwu Moon Trading Co., Ltd.")
        drafting = chat(s, "1045")
        tickets.start_draft(s, identity=drafting, language="en")
        tickets.update_draft(
            s, identity_id=drafting.id, values={"party_name": "Yiwu Star Trading Co Ltd"}
        )
        assert mine.party_key == theirs.party_key == "yiwustartradingcoltd"
        found = tickets.others_against_same_party(s, ticket=mine)
        assert [t.id for t in found] == [theirs.id]
        nameless = file_ticket(s, chat(s, "1046"), party="")
        assert tickets.others_against_same_party(s, ticket=nameless) == []
        assert wide.party_key == "yiwustartradingco"  # "Co." alone: another key


def test_a_chat_sees_its_own_tickets_and_its_residents_never_anothers_nor_drafts(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as s:
        olga, ahmed = resident(s, "Olga"), resident(s, "Ahmed")
        a = chat(s, "2001", resident=olga)
        c = chat(s, "web-olga", channel="webchat", resident=olga)
        b = chat(s, "2002")
        d = chat(s, "2003", resident=ahmed)
        ta, tc, tb, td = (file_ticket(s, x) for x in (a, c, b, d))
        assert ta.resident_id == olga.id and tb.resident_id is None
        tickets.start_draft(s, identity=a, language="en")  # never listed
        draft_b = tickets.start_draft(s, identity=b, language="en")

        def seen(identity: ChatIdentity) -> set[int]:
            return {t.id for t in tickets.own_tickets(s, identity=identity)}

        assert seen(a) == seen(c) == {ta.id, tc.id}
        assert seen(b) == {tb.id}
        assert seen(d) == {td.id}
        for identity, ticket, expected in [
            (a, tc, tc.id),
            (c, ta, ta.id),
            (b, tb, tb.id),
            (b, ta, None),
            (a, tb, None),
            (d, ta, None),
        ]:
            found = tickets.own_ticket(s, identity=identity, number=str(ticket.number))
            assert (found.id if found else None) == expected
        # A draft has no number yet; given one, it is still never shown.
        draft_b.number = "YW-2026-999999"
        s.flush()
        assert tickets.own_ticket(s, identity=b, number="YW-2026-999999") is None
        assert tickets.own_ticket(s, identity=b, number="YW-2026-123456") is None


def test_adopt_gives_a_chats_tickets_to_the_resident_it_proved_to_be(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as s:
        olga = resident(s)
        other_chat = chat(s, "web-olga", channel="webchat", resident=olga)
        telegram = chat(s, "3001")
        earlier = file_ticket(s, telegram)
        assert earlier.resident_id is None
        assert tickets.adopt(s, identity=telegram) == 0  # not linked yet
        assert tickets.own_tickets(s, identity=other_chat) == []
        telegram.resident_id = olga.id
        s.flush()
        assert tickets.adopt(s, identity=telegram) == 1
        s.refresh(earlier)
        assert earlier.resident_id == olga.id
        assert [t.id for t in tickets.own_tickets(s, identity=other_chat)] == [earlier.id]
        assert tickets.adopt(s, identity=telegram) == 0  # once


# --- numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "number"),
    [
        ("yw 2026 000123", "YW-2026-000123"),
        ("YW-2026-123", "YW-2026-000123"),
        ("yw2026000123", "YW-2026-000123"),
        ("ＹＷ－２０２６－０００１２３", "YW-2026-000123"),
        ("YW-٢٠٢٦-٠٠٠١٢٣", "YW-2026-000123"),
        ("my complaint yw-2026-000123, please", "YW-2026-000123"),
        ("YW_2026/000123", "YW-2026-000123"),
        ("YW-2026-1234567", "YW-2026-1234567"),
        ("YW-26-1", None),
        ("KYW-2026-000123", None),
        ("YW-2026-", None),
        ("", None),
    ],
)
def test_numbers_are_read_however_typed(typed: str, number: str | None) -> None:
    assert numbers.find(typed) == number


# A ticket number has the shape of a merchant card number ("YW" and ten digits): the
# gateway's reference replacement must not hide the chat's own from the action that looks
# it up, and must hide any other, as it would a card number.


@pytest.mark.parametrize(
    "spelling",
    [
        "{n}",
        "what about {compact} please",
        "{spaced}",
        "my complaint {n}",
        "status of {lower_spaced}",
        "{short}",
    ],
)
async def test_a_typed_ticket_number_reaches_rasa_readable(
    assistant: Assistant, fake_rasa: FakeRasa, sessions: sessionmaker[Session], spelling: str
) -> None:
    """The user asks for their own ticket by number: the action server (ticket_status)
    finds it with numbers.find in the text the gateway sent on."""
    with transaction(sessions) as s:
        ticket = file_ticket(s, chat(s, "u1"))
        number = str(ticket.number)
    year, digits = number.split("-")[1:]
    text = spelling.format(
        n=number,
        compact=f"yw{year}{digits}",
        spaced=f"YW {year} {digits}",
        lower_spaced=f"yw {year} {digits}",
        short=f"YW-{year}-{int(digits)}",
    )
    await assistant.handle(
        Inbound(channel="telegram", external_id="u1", message_id=new_id(), text=text)
    )
    (request,) = fake_rasa.requests
    assert numbers.find(request["message"]) == number, request["message"]


async def test_a_number_that_is_not_the_chats_own_ticket_never_reaches_rasa_in_clear(
    assistant: Assistant, fake_rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    with transaction(sessions) as s:
        theirs = str(file_ticket(s, chat(s, "someone-else")).number)
        chat(s, "u1")
    for text in (f"status of {theirs}", "status of YW-2026-999999", "my card YW2016001234"):
        await assistant.handle(
            Inbound(channel="telegram", external_id="u1", message_id=new_id(), text=text)
        )
    sent = [r["message"] for r in fake_rasa.requests]
    assert all("cardref:" in m for m in sent), sent
    assert not any(numbers.find(m) for m in sent)


async def test_a_long_description_is_not_said_to_be_cut(
    assistant: Assistant, fake_rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    """The form keeps a description whole (it reads the stored message), so the gateway's
    "I have read the first 2,000 characters" would be untrue there; elsewhere it holds."""
    with transaction(sessions) as s:
        chat(s, "u1").awaiting = "ticket_story"
    long_text = "The goods were wrong. " * 200
    replies = await assistant.handle(
        Inbound(channel="telegram", external_id="u1", message_id=new_id(), text=long_text)
    )
    too_long = gettext("en", texts.TOO_LONG, limit="2,000")
    assert too_long not in [r.text for r in replies]
    with transaction(sessions) as s:
        chat(s, "u1").awaiting = None
    replies = await assistant.handle(
        Inbound(channel="telegram", external_id="u1", message_id=new_id(), text=long_text)
    )
    assert too_long in [r.text for r in replies]
