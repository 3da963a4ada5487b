""" "Forget me" and a chat's tickets (what is deleted, what is kept, which files go), and
`expatbot tickets export --since DATE` (what the report holds, and what it never holds)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.db import transaction
from bot.db.models import ChatIdentity, Evidence, StaffUser, Ticket
from bot.i18n import gettext
from bot.messages import Inbound
from bot.pipeline.assistant import Assistant
from bot.settings import SERVICE_TZ
from bot.tickets import evidence, export, lifecycle, tickets
from tests.helpers import new_id


def jpeg(colour: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), colour).save(out, "JPEG")
    return out.getvalue()


def file_ticket(
    s: Session, identity: ChatIdentity, *, party: str, colour: str | None = None,
    submit: bool = True,
) -> Ticket:  # fmt: skip
    draft = tickets.start_draft(s, identity=identity, language="en")
    tickets.update_draft(
        s,
        identity_id=identity.id,
        values={"kind": "supplier", "party_name": party, "description": "secret story",
                "party_contact": "+86 138 0000 1111", "amount": "2500.50", "currency": "USD"},
    )  # fmt: skip
    if colour:
        stored = evidence.store(jpeg(colour), name=f"{colour}.jpg")
        tickets.add_evidence(
            s, ticket=draft, sha256=stored.sha256, mime=stored.mime, size=stored.size,
            name=stored.name, message_id=None, album=None,
        )  # fmt: skip
    if not submit:
        return draft
    result = tickets.submit(s, identity=identity)
    assert result is not None
    return result.ticket


async def test_forget_me_deletes_drafts_and_untouched_withdrawals_and_keeps_case_files(
    assistant: Assistant, sessions: sessionmaker[Session]
) -> None:
    await assistant.handle(
        Inbound(message_id=new_id(), channel="telegram", external_id="u1", text="hi")
    )
    with transaction(sessions) as s:
        me = s.scalars(select(ChatIdentity).where(ChatIdentity.external_id == "u1")).one()
        staff = StaffUser(name="li.wei", role="agent", password_hash="x")
        s.add(staff)
        s.flush()
        kept = file_ticket(s, me, party="Kept Co", colour="red")
        worked = file_ticket(s, me, party="Worked Co", colour="green")
        tickets.change_status(s, ticket=worked, to=lifecycle.TRIAGED, actor="staff", staff=staff)
        tickets.change_status(s, ticket=worked, to=lifecycle.WITHDRAWN, actor="user")
        withdrawn = file_ticket(s, me, party="Withdrawn Co", colour="blue")
        tickets.change_status(s, ticket=withdrawn, to=lifecycle.WITHDRAWN, actor="user")
        draft = file_ticket(s, me, party="Draft Co", colour="yellow", submit=False)
        blue = s.scalar(select(Evidence.sha256).where(Evidence.ticket_id == withdrawn.id))
        yellow = s.scalar(select(Evidence.sha256).where(Evidence.ticket_id == draft.id))
        red = s.scalar(select(Evidence.sha256).where(Evidence.ticket_id == kept.id))
        numbers = sorted([str(kept.number), str(worked.number)])
    assert blue and yellow and red
    await assistant.handle(
        Inbound(message_id=new_id(), channel="telegram", external_id="u1", text="/forget")
    )
    replies = await assistant.handle(
        Inbound(
            message_id=new_id(),
            channel="telegram",
            external_id="u1",
            text="/forget yes",
            kind="button",
        )
    )
    assert [r.text for r in replies] == [
        gettext("en", texts.FORGOTTEN),
        gettext("en", texts.FORGOTTEN_TICKETS_KEPT, numbers=", ".join(numbers)),
    ]
    with sessions() as s:
        left = sorted(str(t.number) for t in s.scalars(select(Ticket)))
        assert left == numbers  # the draft and the untouched withdrawal are gone
        assert s.scalar(select(func.count()).select_from(Evidence)) == 2
    with pytest.raises(FileNotFoundError):
        evidence.read(blue)
    with pytest.raises(FileNotFoundError):
        evidence.read(yellow)
    assert evidence.read(red)  # a kept ticket keeps its evidence


def test_the_report_holds_what_reporting_needs_and_nothing_of_the_case(
    sessions: sessionmaker[Session],
) -> None:
    with transaction(sessions) as s:
        me = ChatIdentity(channel="telegram", external_id="u9")
        s.add(me)
        s.flush()
        old = file_ticket(s, me, party="Old Co")
        old.submitted_at = dt.datetime(2026, 1, 5, 12, tzinfo=SERVICE_TZ)
        new = file_ticket(s, me, party='=HYPERLINK("http://evil")', colour="red")
        file_ticket(s, me, party="Draft Co", submit=False)
        number = new.number
    out = io.StringIO()
    with sessions() as s:
        count = export.write_csv(s, out, since=dt.date(2026, 2, 1))
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert count == 1 and [r["number"] for r in rows] == [number]
    (row,) = rows
    assert tuple(rows[0]) == export.COLUMNS
    assert row["party_name"].startswith("'=")  # a spreadsheet shows it, never runs it
    assert (row["amount"], row["currency"], row["evidence_files"]) == ("2500.50", "USD", "1")
    assert row["status"] == "submitted" and row["channel"] == "telegram" and row["linked"] == "no"
    text = out.getvalue()
    assert "secret story" not in text and "138" not in text  # no description, no phone


def test_the_export_command_writes_a_file(
    sessions: sessionmaker[Session],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: object,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from pathlib import Path

    from bot.ops import cli
    from bot.settings import get_settings

    with transaction(sessions) as s:
        me = ChatIdentity(channel="webchat", external_id="w1")
        s.add(me)
        s.flush()
        number = file_ticket(s, me, party="Star Co").number
    target = Path(str(tmp_path)) / "tickets.csv"
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        assert cli.main(["tickets", "export", "--since", "2026-01-01", "-o", str(target)]) == 0
        with pytest.raises(SystemExit):
            cli.main(["tickets", "export", "--since", "3/4/2026"])  # not a date: usage error
    finally:
        get_settings.cache_clear()
    assert str(number) in target.read_text(encoding="utf-8")
    assert "1 tickets submitted since 2026-01-01" in capsys.readouterr().err
