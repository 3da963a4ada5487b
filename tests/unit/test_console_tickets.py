"""The staff console's dispute tickets (bot/staff/console/ticket_pages.py, over
bot/tickets/listing.py), over ASGI like a browser, on SQLite and PostgreSQL, with the
console's own fixtures (tests/unit/test_console.py): staff log in through the form, forms
carry the session's CSRF token, and what an action did is read back from the database —
the ticket, its events, the audit log, the outbox (what the user gets, in the ticket's
language, checked against bot.texts through bot.i18n.gettext).

Tickets are filed as the chat's form files them: bot.tickets.tickets.start_draft,
update_draft and submit, on chat identities made here.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.db import conversations, transaction
from bot.db.models import (
    AuditEntry,
    ChatIdentity,
    Evidence,
    Outbox,
    StaffUser,
    Ticket,
    TicketEvent,
    utcnow,
)
from bot.handoff import canned
from bot.i18n import gettext
from bot.settings import get_settings
from bot.staff import accounts
from bot.staff import sessions as staff_sessions
from bot.staff.console import live
from bot.staff.console.pages import RouteSpec
from bot.tickets import evidence, lifecycle, listing, tickets
from tests import tickets_helpers
from tests.helpers import new_id
from tests.unit import test_console as console
from tests.unit.test_console import (
    FORM,
    ROLES,
    XSS,
    LiveStream,
    Rig,
    Staff,
    add_staff,
    link_to_a_resident,
    path_of,
)

# The console's fixtures: its routes behind the gateway's headers with an account per
# role (rig), and a copy of locales/ with an Arabic canned reply missing (crafted_locales).
rig = console.rig
crafted_locales = console.crafted_locales

PNG_COLOUR = (10, 120, 200)
PDF = b"%PDF-1.4\n1 0 obj <</Type /Catalog>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n"
EVIDENCE_CSP = "default-src 'none'; img-src 'self'; style-src 'none'; sandbox"


# Filing tickets, and reading back what happened -----------------------------------------


def file_ticket(
    sessions: sessionmaker[Session],
    *,
    lang: str = "ru",
    kind: str = "supplier",
    party: str | None = "Yiwu Star Trading Co., Ltd.",
    description: str = "They kept my deposit.\nTwice.",
    days_ago: float = 0.0,
    channel: str = "telegram",
) -> int:
    """A ticket filed in chat by a new user: the draft, its answers, the submission."""
    with transaction(sessions) as s:
        identity = conversations.get_or_create_identity(
            s, channel=channel, external_id=new_id()[:12]
        )
        identity.language = lang
        tickets.start_draft(s, identity=identity, language=lang)
        values: dict[str, Any] = {
            "kind": kind,
            "party_name": party,
            "description": description,
            "happened_on": dt.date(2026, 11, 3),
            "amount": "2500.50",
            "currency": "CNY",
            "wants": "refund",
        }
        tickets.update_draft(s, identity_id=identity.id, values=values)
        done = tickets.submit(s, identity=identity, now=utcnow() - dt.timedelta(days=days_ago))
        assert done is not None and done.created
        return done.ticket.id


def draft_ticket(sessions: sessionmaker[Session], *, party: str = "Draft Party") -> int:
    """A form the user is still filling in: never a ticket staff see."""
    with transaction(sessions) as s:
        identity = conversations.get_or_create_identity(
            s, channel="webchat", external_id=new_id()[:12]
        )
        draft = tickets.start_draft(s, identity=identity, language="en")
        tickets.update_draft(
            s, identity_id=identity.id, values={"kind": "shop", "party_name": party}
        )
        return draft.id


def move(sessions: sessionmaker[Session], ticket_id: int, *path: str, by: str = "sam") -> None:
    """Status changes made directly (for the list's tests), by a member of staff."""
    with transaction(sessions) as s:
        ticket = s.get(Ticket, ticket_id)
        staff = accounts.find(s, name=by)
        assert ticket is not None and staff is not None
        for to in path:
            reason = "not a dispute we handle" if to == lifecycle.REJECTED else None
            tickets.change_status(
                s, ticket=ticket, to=to, actor="staff", staff=staff, reason=reason
            )


def assign(sessions: sessionmaker[Session], ticket_id: int, to: str, by: str = "sam") -> None:
    with transaction(sessions) as s:
        ticket = s.get(Ticket, ticket_id)
        staff, boss = accounts.find(s, name=to), accounts.find(s, name=by)
        assert ticket is not None and staff is not None and boss is not None
        tickets.assign(s, ticket=ticket, to=staff, by=boss)


def ticket_of(sessions: sessionmaker[Session], ticket_id: int) -> Ticket:
    with sessions() as s:
        found = s.get(Ticket, ticket_id)
        assert found is not None
        return found


def events_of(sessions: sessionmaker[Session], ticket_id: int) -> list[TicketEvent]:
    with sessions() as s:
        return list(
            s.scalars(
                select(TicketEvent)
                .where(TicketEvent.ticket_id == ticket_id)
                .order_by(TicketEvent.id)
            )
        )


def outbox_of(sessions: sessionmaker[Session], ticket_id: int) -> list[Outbox]:
    ticket = ticket_of(sessions, ticket_id)
    with sessions() as s:
        return list(
            s.scalars(
                select(Outbox).where(Outbox.identity_id == ticket.identity_id).order_by(Outbox.id)
            )
        )


def audit_of(sessions: sessionmaker[Session], action_prefix: str = "") -> list[AuditEntry]:
    with sessions() as s:
        return [
            e
            for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))
            if e.action.startswith(action_prefix)
        ]


def snapshot(sessions: sessionmaker[Session]) -> dict[str, Any]:
    """Everything a ticket form could change."""
    with sessions() as s:
        return {
            "tickets": s.execute(
                select(
                    Ticket.id,
                    Ticket.status,
                    Ticket.assignee_id,
                    Ticket.reason,
                    Ticket.duplicate_of_id,
                    Ticket.first_response_at,
                    Ticket.updated_at,
                ).order_by(Ticket.id)
            ).all(),
            "events": s.scalar(select(func.count()).select_from(TicketEvent)),
            "audit": s.scalar(select(func.count()).select_from(AuditEntry)),
            "outbox": s.execute(select(Outbox.id, Outbox.text).order_by(Outbox.id)).all(),
        }


def listed(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr class="ticket-row[^"]*" data-ticket="(\d+)"', html)]


def row_of(html: str, ticket_id: int) -> str:
    found = re.search(rf'<tr [^>]*data-ticket="{ticket_id}"[^>]*>(.*?)</tr>', html, re.S)
    assert found, f"ticket {ticket_id} is not listed"
    return found[0]


async def work(staff: Staff, ticket_id: int, action: str, **data: str) -> httpx.Response:
    """Send one of the ticket page's forms (with this session's CSRF token)."""
    return await staff.client.post(
        f"/staff/tickets/{ticket_id}/{action}", data={"csrf": staff.csrf, **data}
    )


def notice_of(resp: httpx.Response, ticket_id: int) -> str | None:
    """The notice a form's redirect names (None: done), back to its ticket."""
    assert resp.status_code == 303, (resp.status_code, resp.text[:300])
    location = resp.headers["location"]
    assert location.split("?")[0] == f"/staff/tickets/{ticket_id}", location
    found = re.search(r"[?&]notice=([^&]+)", location)
    return found[1] if found else None


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (12, 8), PNG_COLOUR).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def evidence_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    with tickets_helpers.evidence_dir(tmp_path / "evidence", monkeypatch) as root:
        yield root


def attach(sessions: sessionmaker[Session], ticket_id: int, data: bytes, name: str) -> int:
    stored = evidence.store(data, name=name)
    with transaction(sessions) as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None
        done = tickets.add_evidence(
            s, ticket=ticket, sha256=stored.sha256, mime=stored.mime, size=stored.size,
            name=stored.name, message_id=None, album=None,
        )  # fmt: skip
        assert not isinstance(done, str), done
        return done.evidence.id


def ticket_routes(rig: Rig) -> list[RouteSpec]:
    specs = rig.console.tickets.table(RouteSpec)
    assert {s.path for s in specs} <= {s.path for s in rig.console.table()}
    assert len(specs) == 9
    return specs


# Every route: a login, the right role, the CSRF token ----------------------------------


async def test_every_ticket_route_is_refused_without_a_login(rig: Rig) -> None:
    ticket = file_ticket(rig.sessions)
    browser = rig.browser()
    before = snapshot(rig.sessions)
    for spec in ticket_routes(rig):
        path = path_of(spec, ticket)
        for method in spec.methods:
            resp = await browser.request(method, path, data=FORM if method == "POST" else None)
            where = f"{method} {path}"
            if spec.path.endswith("/live"):
                assert resp.status_code == 401, where
            elif method == "GET":
                assert resp.status_code == 303, where
                assert resp.headers["location"] == f"/staff/login?next={path}", where
            else:
                assert resp.status_code in (303, 401), where
                if resp.status_code == 303:
                    assert resp.headers["location"].startswith("/staff/login"), where
    assert snapshot(rig.sessions) == before


async def test_editors_and_admins_have_no_ticket_pages(rig: Rig) -> None:
    ticket = file_ticket(rig.sessions)
    eda, adam = await rig.login_as("eda"), await rig.login_as("adam")
    before = snapshot(rig.sessions)
    checked = 0
    for staff in (eda, adam):
        for spec in ticket_routes(rig):
            assert spec.permission is not None
            assert ROLES[staff.name] not in accounts.PERMISSIONS[spec.permission]
            path = path_of(spec, ticket)
            for method in spec.methods:
                data = {**FORM, "csrf": staff.csrf, "do": "take"} if method == "POST" else None
                resp = await staff.client.request(method, path, data=data)
                assert resp.status_code == 403, f"{staff.name}: {method} {path}"
                assert "Your role does not allow this page." in resp.text
                checked += 1
        # No link to them either.
        home = (await staff.get("/staff/audit" if staff.name == "adam" else "/staff/answers")).text
        assert 'href="/staff/tickets"' not in home
    assert checked == 18
    assert snapshot(rig.sessions) == before
    for name in ("ana", "sam"):
        staff = await rig.login_as(name)
        page = await staff.get("/staff/tickets")
        assert page.status_code == 200 and 'href="/staff/tickets"' in page.text


async def test_every_ticket_form_without_its_csrf_token_is_refused(rig: Rig) -> None:
    ticket = file_ticket(rig.sessions)
    sam, ana = await rig.login_as("sam"), await rig.login_as("ana")
    posts = [s for s in ticket_routes(rig) if "POST" in s.methods]
    assert len(posts) == 5
    data = {**FORM, "do": "take", "to": "triaged", "text": "must not be sent"}
    before = snapshot(rig.sessions)
    for spec in posts:
        path = path_of(spec, ticket)
        for label, extra, headers in (
            ("no token", {}, {}),
            ("a wrong token", {"csrf": "not-" + sam.csrf}, {}),
            ("an empty token", {"csrf": ""}, {}),
            ("a wrong header", {}, {"x-csrf-token": sam.csrf[::-1]}),
            ("another session's token", {"csrf": ana.csrf}, {}),
        ):
            resp = await sam.client.post(path, data={**data, **extra}, headers=headers)
            assert resp.status_code == 403, f"{path} with {label}: {resp.status_code}"
            assert "This form has expired." in resp.text
    assert snapshot(rig.sessions) == before
    # With the token in the header (how a script would send it): done.
    resp = await sam.client.post(
        f"/staff/tickets/{ticket}/status",
        data={"to": "triaged"},
        headers={"x-csrf-token": sam.csrf},
    )
    assert notice_of(resp, ticket) is None
    assert ticket_of(rig.sessions, ticket).status == "triaged"


# Working a ticket -------------------------------------------------------------------------


async def test_an_agent_works_a_ticket_to_resolved_and_the_user_is_told_each_step(
    rig: Rig,
) -> None:
    ticket = file_ticket(rig.sessions, lang="ru")
    number = ticket_of(rig.sessions, ticket).number
    assert number
    ana = await rig.login_as("ana")
    ru = "ru"

    def now_(status_msgid: str) -> str:
        return gettext(ru, texts.TICKET_NOW, number=number, status=gettext(ru, status_msgid))

    days = get_settings().ticket_autoclose_days
    steps = [
        ("submitted", "triaged", now_(texts.TICKET_STATUS_TRIAGED)),
        ("triaged", "in_progress", now_(texts.TICKET_STATUS_IN_PROGRESS)),
        ("in_progress", "waiting_user", gettext(ru, texts.TICKET_NOW_WAITING, number=number)),
        ("waiting_user", "in_progress", now_(texts.TICKET_STATUS_IN_PROGRESS)),
        ("in_progress", "resolved",
         gettext(ru, texts.TICKET_NOW_RESOLVED, number=number, days=days)),
    ]  # fmt: skip
    with rig.sessions() as s:
        me = accounts.find(s, name="ana")
        assert me is not None
        ana_id = me.id
    for n, (before, after, told) in enumerate(steps, start=1):
        assert ticket_of(rig.sessions, ticket).status == before
        page = (await ana.get(f"/staff/tickets/{ticket}")).text
        assert f'<option value="{after}">' in page  # offered: the lifecycle allows it
        events, audit, sent = (
            len(events_of(rig.sessions, ticket)),
            len(audit_of(rig.sessions, "ticket_status")),
            len(outbox_of(rig.sessions, ticket)),
        )
        assert notice_of(await work(ana, ticket, "status", to=after), ticket) is None
        assert ticket_of(rig.sessions, ticket).status == after
        # Its event: who, from, to.
        new_events = events_of(rig.sessions, ticket)[events:]
        assert [
            (e.kind, e.actor, e.staff_id, e.from_status, e.to_status, e.public) for e in new_events
        ] == [("status", "staff", ana_id, before, after, True)]
        # Its audit entry: who, which ticket, from, to.
        entries = audit_of(rig.sessions, "ticket_status")[audit:]
        assert [(e.staff_name, e.details) for e in entries] == [
            ("ana", {"ticket": number, "from": before, "to": after})
        ]
        # What the user gets: in their chat, in Russian (not the English msgid).
        rows = outbox_of(rig.sessions, ticket)[sent:]
        assert [(r.kind, r.channel, r.language, r.text) for r in rows] == [
            ("ticket_update", "telegram", "ru", told)
        ], n
        assert told != gettext("en", texts.TICKET_NOW, number=number, status="x")
    # The first response was the first change; the history shows every step, by whom.
    final = ticket_of(rig.sessions, ticket)
    assert final.first_response_at is not None and final.resolved_at is not None
    page = (await ana.get(f"/staff/tickets/{ticket}")).text
    history = re.search(r'<ol id="ticket-history"[^>]*>(.*?)</ol>', page, re.S)
    assert history
    assert history[1].count('data-kind="status"') == 6  # the submission and five changes
    assert "Status: Submitted → Triaged" in history[1]
    assert "Status: Waiting for the user → In progress" in history[1]
    assert history[1].count("ana") == 5
    # A resolved ticket may be reopened or... nothing else but a final state by the user.
    assert re.findall(r'<select id="status-to" name="to">(.*?)</select>', page, re.S)[0].count(
        "<option"
    ) == len(lifecycle.next_statuses("resolved", "staff"))
    # The resolved buttons reach the user: confirm or reopen.
    last = outbox_of(rig.sessions, ticket)[-1]
    assert [b["payload"].rsplit(" ", 1)[1] for b in last.buttons or []] == ["ok", "reopen"]


async def test_a_public_reply_reaches_the_user_and_a_note_does_not(rig: Rig) -> None:
    ticket = file_ticket(rig.sessions, lang="ar")
    number = ticket_of(rig.sessions, ticket).number
    ana = await rig.login_as("ana")
    text = "مرحبًا، نحن نتواصل مع المورد."
    assert notice_of(await work(ana, ticket, "reply", text=text), ticket) is None
    # The same form sent again at once (a double click): one reply.
    assert notice_of(await work(ana, ticket, "reply", text=text), ticket) is None
    (row,) = outbox_of(rig.sessions, ticket)
    assert (row.kind, row.language) == ("ticket_update", "ar")
    assert row.text == gettext("ar", texts.TICKET_STAFF_REPLY, number=number, text=text)
    assert ticket_of(rig.sessions, ticket).first_response_at is not None
    # A note: kept for staff, never sent.
    note = "Called the supplier <b>twice</b>, no answer"
    assert notice_of(await work(ana, ticket, "note", text=note), ticket) is None
    assert len(outbox_of(rig.sessions, ticket)) == 1
    kinds = [(e.kind, e.public) for e in events_of(rig.sessions, ticket)]
    assert kinds == [("status", True), ("reply", True), ("note", False)]
    assert [e.action for e in audit_of(rig.sessions, "ticket_")] == [
        "ticket_submitted", "ticket_reply", "ticket_note"
    ]  # fmt: skip
    assert all(note not in json.dumps(e.details) and text not in json.dumps(e.details)
               for e in audit_of(rig.sessions))  # fmt: skip
    page = (await ana.get(f"/staff/tickets/{ticket}")).text
    shown = re.search(r'<li class="line event-note internal-event"[^>]*>(.*?)</li>', page, re.S)
    assert shown and "Internal: never sent to the user" in shown[1]
    assert "Called the supplier &lt;b&gt;twice&lt;/b&gt;" in shown[1]
    # Empty and too long: refused, nothing sent.
    for bad, code in (("  ", "empty"), ("x" * (tickets.MAX_TEXT_CHARS + 1), "too_long")):
        resp = await work(ana, ticket, "reply", text=bad)
        assert notice_of(resp, ticket) == code
        shown_page = (await ana.get(resp.headers["location"])).text
        assert f'data-notice="{code}"' in shown_page
    assert len(outbox_of(rig.sessions, ticket)) == 1


async def test_a_canned_reply_goes_out_in_the_tickets_language(rig: Rig) -> None:
    ticket = file_ticket(rig.sessions, lang="ar")
    number = ticket_of(rig.sessions, ticket).number
    ana = await rig.login_as("ana")
    page = (await ana.get(f"/staff/tickets/{ticket}")).text
    # Titles in the agent's language, none flagged: Arabic has them all.
    assert f'<option value="call_hotline">{canned.titles("en")["call_hotline"]}</option>' in page
    assert 'data-missing="1"' not in page
    assert notice_of(await work(ana, ticket, "canned", canned="call_hotline"), ticket) is None
    arabic = canned.render("call_hotline", "ar").text
    assert arabic and "12367" in arabic
    (row,) = outbox_of(rig.sessions, ticket)
    assert row.language == "ar"
    assert row.text == gettext("ar", texts.TICKET_STAFF_REPLY, number=number, text=arabic)


async def test_a_canned_reply_missing_in_the_tickets_language_is_flagged_and_refused(
    rig: Rig, crafted_locales: Path
) -> None:
    ticket = file_ticket(rig.sessions, lang="ar")
    ana = await rig.login_as("ana")
    page = (await ana.get(f"/staff/tickets/{ticket}")).text
    flagged = re.search(r'<option value="goodbye" data-missing="1">([^<]*)</option>', page)
    assert flagged and "missing in the user's language" in flagged[1].replace("&#39;", "'")
    assert '<option value="call_hotline">' in page
    before = snapshot(rig.sessions)
    resp = await work(ana, ticket, "canned", canned="goodbye")
    assert notice_of(resp, ticket) == "missing"
    shown = (await ana.get(resp.headers["location"])).text
    assert "this canned reply has no text in the user&#39;s language" in shown
    resp = await work(ana, ticket, "canned", canned="anything_else")
    assert notice_of(resp, ticket) == "unknown_placeholder"
    assert snapshot(rig.sessions) == before


async def test_a_transition_the_lifecycle_refuses_is_an_error_and_changes_nothing(
    rig: Rig,
) -> None:
    ticket = file_ticket(rig.sessions)
    ana = await rig.login_as("ana")
    page = (await ana.get(f"/staff/tickets/{ticket}")).text
    assert '<option value="closed">' not in page  # not offered
    before = snapshot(rig.sessions)
    for target in ("closed", "withdrawn", "draft", "flying"):
        resp = await work(ana, ticket, "status", to=target)
        assert notice_of(resp, ticket) == "refused", target
    shown = (await ana.get(resp.headers["location"])).text
    assert "this status change is not allowed" in shown and 'role="alert"' in shown
    assert snapshot(rig.sessions) == before
    # A notice is a code, never a sentence taken from the link.
    crafted = (await ana.get(f"/staff/tickets/{ticket}?notice=Call+0000+now")).text
    assert "Call 0000 now" not in crafted and 'class="notice"' not in crafted


async def test_a_rejection_needs_a_reason_which_the_user_is_told(rig: Rig) -> None:
    ticket = file_ticket(rig.sessions, lang="fr")
    number = ticket_of(rig.sessions, ticket).number
    ana = await rig.login_as("ana")
    before = snapshot(rig.sessions)
    for reason in ("", "   \n "):
        resp = await work(ana, ticket, "status", to="rejected", reason=reason)
        assert notice_of(resp, ticket) == "reason_needed"
    assert "a rejection needs a reason" in (await ana.get(resp.headers["location"])).text
    assert snapshot(rig.sessions) == before
    reason = "Nous ne traitons pas les litiges <hors de Yiwu>."
    assert (
        notice_of(await work(ana, ticket, "status", to="rejected", reason=reason), ticket) is None
    )
    done = ticket_of(rig.sessions, ticket)
    assert (done.status, done.reason) == ("rejected", reason)
    (row,) = outbox_of(rig.sessions, ticket)
    assert row.text == gettext("fr", texts.TICKET_NOW_REJECTED, number=number, reason=reason)
    page = (await ana.get(f"/staff/tickets/{ticket}")).text
    assert "Nous ne traitons pas les litiges &lt;hors de Yiwu&gt;." in page
    assert "This ticket is final" in page
    assert f'action="/staff/tickets/{ticket}/reply"' not in page


async def test_a_duplicate_names_an_existing_original(rig: Rig) -> None:
    original = file_ticket(rig.sessions, lang="en", days_ago=3)
    ticket = file_ticket(rig.sessions, lang="es")
    first, number = ticket_of(rig.sessions, original).number, ticket_of(rig.sessions, ticket).number
    assert first and number
    ana = await rig.login_as("ana")
    before = snapshot(rig.sessions)
    for given, code in (
        ("", "no_such_original"),
        ("YW-1999-999999", "no_such_original"),
        ("not a number", "no_such_original"),
        (number, "bad_original"),  # itself
    ):
        resp = await work(ana, ticket, "status", to="duplicate", original=given)
        assert notice_of(resp, ticket) == code, given
    assert snapshot(rig.sessions) == before
    # As staff type it: lower case, spaces.
    typed = first.lower().replace("-", " ")
    assert (
        notice_of(await work(ana, ticket, "status", to="duplicate", original=typed), ticket) is None
    )
    done = ticket_of(rig.sessions, ticket)
    assert (done.status, done.duplicate_of_id) == ("duplicate", original)
    (row,) = outbox_of(rig.sessions, ticket)
    assert row.language == "es"
    assert row.text == gettext("es", texts.TICKET_NOW_DUPLICATE, number=number, original=first)
    page = (await ana.get(f"/staff/tickets/{ticket}")).text
    assert f'<a href="/staff/tickets/{original}" data-original="{first}">{first}</a>' in page


async def test_who_may_take_work_and_reassign_a_ticket(rig: Rig) -> None:
    ticket = file_ticket(rig.sessions)
    ana, ben, sam = await rig.login_as("ana"), await rig.login_as("ben"), await rig.login_as("sam")
    with rig.sessions() as s:
        ids = {n: s.scalar(select(StaffUser.id).where(StaffUser.name == n)) for n in ROLES}
    # Unassigned: anyone may work it, or take it.
    assert notice_of(await work(ana, ticket, "assign", do="take"), ticket) is None
    assert ticket_of(rig.sessions, ticket).assignee_id == ids["ana"]
    assert notice_of(await work(ana, ticket, "assign", do="take"), ticket) is None  # twice: once
    # Another agent: may not take it, answer it, or change it; may leave a note.
    before = snapshot(rig.sessions)
    for action, data in (
        ("assign", {"do": "take"}),
        ("assign", {"do": "unassign"}),
        ("reply", {"text": "hello"}),
        ("canned", {"canned": "call_hotline"}),
        ("status", {"to": "triaged"}),
    ):
        assert notice_of(await work(ben, ticket, action, **data), ticket) == "not_yours", action
    assert notice_of(await work(ben, ticket, "assign", do="transfer", to="ben"), ticket) == (
        "supervisors_only"
    )
    assert notice_of(await work(ana, ticket, "assign", do="transfer", to="ben"), ticket) == (
        "supervisors_only"
    )
    assert snapshot(rig.sessions) == before
    page = (await ben.get(f"/staff/tickets/{ticket}")).text
    assert "ana has this ticket: only they, or a supervisor" in page
    assert f'action="/staff/tickets/{ticket}/reply"' not in page
    assert f'action="/staff/tickets/{ticket}/note"' in page
    assert notice_of(await work(ben, ticket, "note", text="I know this supplier"), ticket) is None
    # A supervisor: gives it to a colleague (an active agent or supervisor only), takes it
    # over, answers it, gives it back to the queue.
    for name in ("nobody", "eda", "adam"):
        resp = await work(sam, ticket, "assign", do="transfer", to=name)
        assert notice_of(resp, ticket) == "no_such_colleague", name
    assert notice_of(await work(sam, ticket, "assign", do="transfer", to="ben"), ticket) is None
    assert ticket_of(rig.sessions, ticket).assignee_id == ids["ben"]
    assert notice_of(await work(sam, ticket, "status", to="triaged"), ticket) is None
    assert notice_of(await work(sam, ticket, "assign", do="take"), ticket) is None
    assert ticket_of(rig.sessions, ticket).assignee_id == ids["sam"]
    assert notice_of(await work(sam, ticket, "assign", do="unassign"), ticket) is None
    assert ticket_of(rig.sessions, ticket).assignee_id is None
    assert notice_of(await work(ben, ticket, "assign", do="nonsense"), ticket) == "invalid"
    assigns = [
        (e.staff_name, (e.details or {}).get("to")) for e in audit_of(rig.sessions, "ticket_assign")
    ]
    assert assigns == [("ana", "ana"), ("sam", "ben"), ("sam", "sam"), ("sam", None)]
    history = [
        (e.kind, e.text, e.public) for e in events_of(rig.sessions, ticket) if e.kind == "assign"
    ]
    assert history == [("assign", "ana", False), ("assign", "ben", False),
                       ("assign", "sam", False), ("assign", None, False)]  # fmt: skip
    page = (await sam.get(f"/staff/tickets/{ticket}")).text
    assert "Assigned to ben" in page and "Unassigned" in page


async def test_a_ticket_that_is_a_draft_or_missing_is_404(rig: Rig) -> None:
    draft = draft_ticket(rig.sessions)
    ana = await rig.login_as("ana")
    for ticket_id in (draft, 999_999):
        resp = await ana.get(f"/staff/tickets/{ticket_id}")
        assert resp.status_code == 404 and "There is no such ticket." in resp.text
        before = snapshot(rig.sessions)
        resp = await work(ana, ticket_id, "note", text="hello")
        assert resp.status_code == 404
        assert snapshot(rig.sessions) == before


# The page ---------------------------------------------------------------------------------


async def test_the_ticket_page_shows_every_field_and_escapes_what_the_user_wrote(
    rig: Rig,
) -> None:
    story = XSS + "\n\nThe second paragraph, whole: " + "x" * 600 + " END"
    ticket = file_ticket(rig.sessions, lang="ar", party=XSS, description=story)
    with transaction(rig.sessions) as s:
        found = s.get(Ticket, ticket)
        assert found is not None and found.identity_id is not None
        identity = s.get(ChatIdentity, found.identity_id)
        assert identity is not None
        conv = conversations.current_conversation(s, identity=identity)
        conversations.record_inbound(s, conversation=conv, text="<b>in the chat</b>", kind="text")
    ana = await rig.login_as("ana")
    resp = await ana.get(f"/staff/tickets/{ticket}")
    assert resp.status_code == 200
    html = resp.text
    # What the user wrote is text: escaped, never markup; the description whole, pre-wrapped.
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
    description = re.search(
        r'<pre class="description" dir="auto" lang="ar">(.*?)</pre>', html, re.S
    )
    assert description and description[1].startswith(escaped)
    assert (
        description[1].endswith(" END") and "x" * 600 in description[1] and "\n\n" in description[1]
    )
    assert "<script>alert" not in html and not re.search(r"<img\b", html)
    assert "&lt;b&gt;in the chat&lt;/b&gt;" in html  # the transcript, escaped
    for text in ("Arabic (ar)", "Telegram", "Supplier or factory", "A refund", "Not linked.",
                 "Nobody yet", "2,500.50", "Nov 3, 2026"):  # fmt: skip
        assert text in html, text
    # Nothing inline (the CSP forbids it anyway).
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert "<style" not in html and " style=" not in html and " onclick=" not in html
    # The list escapes the party's name too.
    listing_page = (await ana.get("/staff/tickets")).text
    assert escaped in row_of(listing_page, ticket)
    assert "<script>alert" not in listing_page


async def test_status_names_in_the_history_are_escaped_once(rig: Rig) -> None:
    """A status's name with an apostrophe ("the user's confirmation") went through a macro
    (already markup) into a formatted text, and was shown as "user&#39;s"."""
    ticket = file_ticket(rig.sessions, lang="en")
    move(rig.sessions, ticket, "in_progress", "resolved")
    html = (await (await rig.login_as("ana")).get(f"/staff/tickets/{ticket}")).text
    assert "In progress → Resolved, waiting for the user&#39;s confirmation" in html
    assert "&amp;#39;" not in html and "&amp;amp;" not in html


async def test_the_ticket_page_masks_a_linked_residents_numbers(rig: Rig) -> None:
    ticket = file_ticket(rig.sessions)
    numbers = link_to_a_resident(rig.sessions, ticket_of(rig.sessions, ticket).identity_id or 0)
    ana = await rig.login_as("ana")
    html = (await ana.get(f"/staff/tickets/{ticket}")).text
    assert 'data-linked="1"' in html and "••••" in html
    for number in numbers:
        digits = re.sub(r"\D", "", number)
        for start in range(len(digits) - 7):
            assert digits[start : start + 8] not in html, number


# Evidence -----------------------------------------------------------------------------------


async def test_evidence_is_served_to_agents_with_safe_headers_and_audited(
    rig: Rig, evidence_root: Path
) -> None:
    ticket = file_ticket(rig.sessions)
    other = file_ticket(rig.sessions, party="Another Party")
    image = attach(rig.sessions, ticket, png_bytes(), "photo of the goods.png")
    pdf = attach(rig.sessions, ticket, PDF, "invoice 发票.pdf")
    elsewhere = attach(rig.sessions, other, png_bytes(), "theirs.png")
    number = ticket_of(rig.sessions, ticket).number
    ana, eda = await rig.login_as("ana"), await rig.login_as("eda")
    page = (await ana.get(f"/staff/tickets/{ticket}")).text
    url = f"/staff/tickets/{ticket}/evidence/{image}"
    assert f'<img src="{url}" alt="photo of the goods.png" loading="lazy">' in page
    pdf_url = f"/staff/tickets/{ticket}/evidence/{pdf}"
    assert re.search(rf'<a href="{pdf_url}" download>invoice 发票.pdf</a>', page)
    assert "application/pdf" in page and "image/png" in page
    assert 'data-kind="evidence"' in page and "Added a file: photo of the goods.png" in page
    viewed_before = len(audit_of(rig.sessions, "evidence_viewed"))

    resp = await ana.get(url)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "image/png"
    assert resp.headers["content-disposition"].startswith("inline;")
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["cache-control"] == "private, no-store"
    assert resp.headers["content-security-policy"] == EVIDENCE_CSP
    shown = Image.open(io.BytesIO(resp.content))
    assert shown.size == (12, 8) and shown.convert("RGB").getpixel((0, 0)) == PNG_COLOUR

    resp = await ana.get(pdf_url)
    assert resp.status_code == 200 and resp.content == PDF
    assert resp.headers["content-type"] == "application/pdf"
    disposition = resp.headers["content-disposition"]
    assert (
        disposition.startswith("attachment;")
        and "filename*=UTF-8''invoice%20%E5%8F%91%E7%A5%A8.pdf" in disposition
    )
    assert resp.headers["content-security-policy"] == EVIDENCE_CSP
    assert resp.headers["x-content-type-options"] == "nosniff"

    viewed = audit_of(rig.sessions, "evidence_viewed")[viewed_before:]
    assert [(e.staff_name, e.details) for e in viewed] == [
        ("ana", {"ticket": number, "evidence": image}),
        ("ana", {"ticket": number, "evidence": pdf}),
    ]
    # An editor: refused. Another ticket's file under this ticket: 404. Neither audited.
    assert (await eda.get(url)).status_code == 403
    assert (await ana.get(f"/staff/tickets/{ticket}/evidence/{elsewhere}")).status_code == 404
    assert (await ana.get(f"/staff/tickets/{ticket}/evidence/999999")).status_code == 404
    assert (await ana.get(f"/staff/tickets/{other}/evidence/{elsewhere}")).status_code == 200
    assert len(audit_of(rig.sessions, "evidence_viewed")) == viewed_before + 3
    # A file gone from the disk: 404, not a 500.
    with rig.sessions() as s:
        row = s.get(Evidence, image)
        assert row is not None
        evidence.delete(row.sha256)
    assert (await ana.get(url)).status_code == 404
    # The audit page names it.
    sam = await rig.login_as("sam")
    assert "viewed a ticket&#39;s file" in (await sam.get("/staff/audit")).text


# The list -----------------------------------------------------------------------------------


async def test_the_list_filters_and_never_shows_drafts(rig: Rig) -> None:
    a = file_ticket(rig.sessions, kind="supplier", lang="ru", party="Alpha")
    b = file_ticket(rig.sessions, kind="landlord", lang="ar", party="Beta", days_ago=5)
    c = file_ticket(rig.sessions, kind="shop", lang="ru", party="Gamma", days_ago=40)
    d = file_ticket(rig.sessions, kind="logistics", lang="en", party="Delta", days_ago=20)
    f = file_ticket(rig.sessions, kind="supplier", lang="ar", party="Phi", days_ago=25)
    draft = draft_ticket(rig.sessions, party="Alpha")
    move(rig.sessions, b, "in_progress")
    assign(rig.sessions, b, "ana")
    move(rig.sessions, d, "resolved", "closed")
    move(rig.sessions, f, "rejected")
    ana, sam = await rig.login_as("ana"), await rig.login_as("sam")
    with rig.sessions() as s:
        ana_id = s.scalar(select(StaffUser.id).where(StaffUser.name == "ana"))

    async def shown(query: str, who: Staff = ana) -> list[int]:
        resp = await who.get(f"/staff/tickets?{query}")
        assert resp.status_code == 200
        return listed(resp.text)

    assert await shown("") == [c, b, a]  # open ones, the oldest filed first
    assert await shown("status=open") == [c, b, a]
    assert await shown("status=all") == [c, f, d, b, a]
    assert await shown("status=rejected") == [f]
    assert await shown("status=closed") == [d]
    assert await shown("status=in_progress") == [b]
    assert await shown("kind=shop") == [c]
    assert await shown("language=ru") == [c, a]
    assert await shown("status=all&kind=supplier&language=ar") == [f]
    assert await shown("assignee=me") == [b]
    assert await shown("assignee=me", sam) == []
    assert await shown(f"assignee={ana_id}", sam) == [b]
    assert await shown("assignee=nobody") == [c, a]
    assert await shown("older_than=3") == [c, b]
    assert await shown("older_than=30&status=all") == [c]
    assert await shown("overdue=1") == [c]
    # Values the list does not know are its defaults; a draft is never shown.
    assert await shown("status=draft&kind=spaceship&language=xx&assignee=x1&older_than=-4") == [
        c, b, a
    ]  # fmt: skip
    for query in ("status=all", "status=draft", "kind=shop&status=all"):
        assert draft not in await shown(query)
    # Each row: number, kind, party, language, status, assignee, age, due, overdue.
    page = (await ana.get("/staff/tickets")).text
    row = row_of(page, c)
    number = ticket_of(rig.sessions, c).number
    for text in (f">{number}</a>", "Shop or market stall", "Gamma", "Russian (ru)", "Submitted",
                 "First answer by", "Resolution by", "Overdue", "6 weeks"):  # fmt: skip
        assert text in row, text
    assert 'class="ticket-row overdue"' in row
    assert "Overdue" not in row_of(page, a) and "ana" in row_of(page, b)
    assert "Tickets found: 3, of which overdue: 1." in page
    assert 'href="/staff/tickets?overdue=1"' in page


async def test_the_list_counts_other_open_tickets_against_the_same_party(rig: Rig) -> None:
    one = file_ticket(rig.sessions, party="Yiwu Star Trading Co., Ltd.", days_ago=3)
    two = file_ticket(rig.sessions, party="YIWU STAR TRADING CO LTD", days_ago=2)
    done = file_ticket(rig.sessions, party="Yiwu Star Trading Co. Ltd", days_ago=1)
    alone = file_ticket(rig.sessions, party="Someone Else")
    nameless = file_ticket(rig.sessions, party=None)
    move(rig.sessions, done, "resolved", "closed")
    ana = await rig.login_as("ana")
    page = (await ana.get("/staff/tickets?status=all")).text
    counts = {t: int(re.findall(r'data-others="(\d+)"', row_of(page, t))[0])
              for t in (one, two, done, alone, nameless)}  # fmt: skip
    assert counts == {one: 1, two: 1, done: 2, alone: 0, nameless: 0}
    detail = (await ana.get(f"/staff/tickets/{one}")).text
    others = re.search(r'<section id="ticket-others".*?</section>', detail, re.S)
    assert others and re.findall(r'data-other="(\d+)"', others[0]) == [str(two)]


async def test_the_list_is_paged_by_fifty(rig: Rig) -> None:
    made = [file_ticket(rig.sessions, party=f"P{i}", days_ago=60 - i) for i in range(51)]
    ana = await rig.login_as("ana")
    first = (await ana.get("/staff/tickets")).text
    assert listed(first) == made[:50]
    assert "Page 1 of 2" in first and 'href="/staff/tickets?page=2"' in first
    assert listed((await ana.get("/staff/tickets?page=2")).text) == made[50:]
    last = (await ana.get("/staff/tickets?page=99")).text  # past the end: the last page
    assert listed(last) == made[50:] and "Page 2 of 2" in last
    # Filters are kept from page to page.
    kept = (await ana.get("/staff/tickets?kind=supplier&language=ru")).text
    assert 'href="/staff/tickets?kind=supplier&amp;language=ru&amp;page=2"' in kept


def test_the_list_data_function_pages_counts_and_matches_is_overdue(
    sessions: sessionmaker[Session],
) -> None:
    add_staff(sessions, "sam", "supervisor")
    made = []
    for days in (0, 0.5, 2, 12, 30):
        for path in ((), ("triaged",), ("waiting_user",), ("resolved",), ("resolved", "closed")):
            ticket = file_ticket(sessions, kind="landlord", days_ago=days)
            move(sessions, ticket, *path)
            made.append(ticket)
    with sessions() as s:
        everything = listing.ticket_page(s, status="all", page_size=1000)
        assert [r.id for r in everything.rows] == sorted(made, key=lambda t: (-ticket_age(s, t), t))
        flags = {r.id: r.overdue for r in everything.rows}
        for ticket_id in made:
            row = s.get(Ticket, ticket_id)
            assert row is not None
            assert flags[ticket_id] == tickets.is_overdue(row), (ticket_id, row.status)
        assert any(flags.values()) and not all(flags.values())
        assert everything.overdue == sum(flags.values())
        late = listing.ticket_page(s, status="all", overdue_only=True)
        assert [r.id for r in late.rows] == [r.id for r in everything.rows if r.overdue]
        # Pages of three.
        paged = listing.ticket_page(s, status="all", page=2, page_size=3)
        assert (paged.total, paged.pages, paged.page) == (25, 9, 2)
        assert [r.id for r in paged.rows] == [r.id for r in everything.rows[3:6]]
        beyond = listing.ticket_page(s, status="all", page=50, page_size=3)
        assert beyond.page == 9 and [r.id for r in beyond.rows] == [everything.rows[24].id]
        with pytest.raises(ValueError):
            listing.ticket_page(s, status="draft")
        with pytest.raises(ValueError):
            listing.ticket_page(s, assignee="me")  # whose?


def ticket_age(session: Session, ticket_id: int) -> float:
    row = session.get(Ticket, ticket_id)
    assert row is not None and row.submitted_at is not None
    submitted = row.submitted_at
    if submitted.tzinfo is None:
        submitted = submitted.replace(tzinfo=dt.UTC)
    return (utcnow() - submitted).total_seconds()


async def test_the_live_list_says_changed_when_a_ticket_changes(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "LIVE_POLL_S", 0.05)
    ticket = file_ticket(rig.sessions)
    ana = await rig.login_as("ana")
    page = await ana.get("/staff/tickets")
    found = re.search(r'data-live-url="([^"]+)"', page.text)
    assert found and found[1].startswith("/staff/tickets/live?version=")
    url = httpx.URL(found[1].replace("&amp;", "&"))
    seen = url.params["version"]
    token = ana.client.cookies[staff_sessions.COOKIE]
    async with LiveStream(rig.app, url.raw_path.decode(), token=token) as stream:
        draft_ticket(rig.sessions)  # a draft changes nothing staff see
        move(rig.sessions, ticket, "triaged")
        (event,) = await stream.take(1)
    version = json.loads(event["data"])["version"]
    assert version != seen
    with rig.sessions() as s:
        assert version == listing.version(s)


async def test_the_ticket_pages_speak_the_staff_members_language(rig: Rig) -> None:
    add_staff(rig.sessions, "wang", "agent", language="zh")
    ticket = file_ticket(rig.sessions, lang="ar", days_ago=40)
    wang = await rig.login_as("wang")
    page = (await wang.get("/staff/tickets")).text
    assert '<html lang="zh">' in page
    assert "Dispute tickets" not in page and "Overdue" not in page
    assert "工单" in page and "阿拉伯语 (ar)" in page
    detail = (await wang.get(f"/staff/tickets/{ticket}")).text
    assert "Take this ticket" not in detail and "History" not in detail
    resp = await work(Staff("wang", wang.client, wang.csrf), ticket, "status", to="closed")
    shown = (await wang.get(resp.headers["location"])).text
    assert 'data-notice="refused"' in shown and "not allowed" not in shown


# The data layer's own rules, as the console relies on them ------------------------------


def test_a_draft_is_never_the_original_of_a_duplicate(sessions: sessionmaker[Session]) -> None:
    add_staff(sessions, "sam", "supervisor")
    ticket = file_ticket(sessions, lang="en")
    draft = draft_ticket(sessions)
    with transaction(sessions) as s:
        found, original, staff = (
            s.get(Ticket, ticket),
            s.get(Ticket, draft),
            accounts.find(s, name="sam"),
        )
        assert found is not None and original is not None and original.number is None
        with pytest.raises(ValueError):
            tickets.change_status(
                s, ticket=found, to="duplicate", actor="staff", staff=staff, duplicate_of=original
            )
    assert all("None" not in row.text for row in outbox_of(sessions, ticket))
