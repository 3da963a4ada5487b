"""The console's dispute tickets: the list, one ticket, and what staff do with it.

    GET  /staff/tickets                      the list (filters in the query string)
    GET  /staff/tickets/live                 Server-Sent Events: "changed" (listing.version)
    GET  /staff/tickets/{id}                 one ticket, whole, with its chat's transcript
    POST /staff/tickets/{id}/reply           a public reply (free text)
    POST /staff/tickets/{id}/canned          a canned reply, in the ticket's language
    POST /staff/tickets/{id}/note            an internal note
    POST /staff/tickets/{id}/status          a status change the lifecycle allows staff
    POST /staff/tickets/{id}/assign          take it, give it up, give it to a colleague
    GET  /staff/tickets/{id}/evidence/{eid}  a file of the ticket (audited)

Tickets are a shared queue: agents and supervisors see all of them. Whoever holds a
ticket works it (replies, status changes); an unassigned one anyone may work or take; only
a supervisor ("tickets_reassign") works or reassigns one that someone else holds. Notes
need no ownership. Every change goes through bot.tickets.tickets (its event, audit entry
and what the user is told, in one transaction); a refusal is a notice code on the
redirect, said in the staff member's language by the page, and changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.answers.store import AnswerStore
from bot.db import audit, aware, in_transaction
from bot.db.models import ChatIdentity, Evidence, StaffUser, Ticket, TicketEvent, utcnow
from bot.handoff import canned
from bot.i18n import SUPPORTED_LANGUAGES
from bot.staff import accounts
from bot.staff import texts as staff_texts
from bot.staff.console import chat_view, live
from bot.staff.console.guard import Handler, Staff, current_staff, page
from bot.staff.console.templating import staff_gettext
from bot.tickets import evidence, lifecycle, listing, numbers, render, tickets
from bot.tickets.targets import KINDS

Spec = TypeVar("Spec")
# The same text from the same member of staff on the same ticket within this time is one
# form sent twice (a double click, a POST retried after a timeout): done once.
RESENT_WITHIN = dt.timedelta(seconds=60)
IMAGES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
# On the file itself, should it be opened as a page of its own: nothing runs, nothing loads.
EVIDENCE_CSP = "default-src 'none'; img-src 'self'; style-src 'none'; sandbox"
# What a refused or failed form says (ticket.html has a sentence for each).
NOTICES = frozenset({
    "not_yours", "supervisors_only", "refused", "reason_needed", "no_such_original",
    "bad_original", "invalid", "empty", "too_long", "final", "missing",
    "unknown_placeholder", "no_such_colleague",
})  # fmt: skip


class _Refused(Exception):
    """A form refused: the transaction is rolled back, the page says why (``code``)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class _NotFound(Exception):
    pass


# --- The list's filters, from the query string --------------------------------------


@dataclass(frozen=True)
class Filters:
    status: str = listing.OPEN
    kind: str | None = None
    language: str | None = None
    assignee: str = listing.ANY
    older_than: int | None = None  # days
    overdue: bool = False
    page: int = 1

    def query(self, **changes: Any) -> str:
        """The query string of these filters (with ``changes``), defaults left out."""
        values = {**asdict(self), **changes}
        default = Filters()
        kept = {
            key: ("1" if value is True else value)
            for key, value in values.items()
            if value not in (None, False) and value != getattr(default, key)
        }
        return urlencode(kept)


def _int(value: str | None, *, low: int, high: int) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    number = int(value.strip()[:9])
    return number if low <= number <= high else None


def read_filters(params: Mapping[str, str]) -> Filters:
    """Leniently: a value the list does not know is the default, never an error."""
    status = params.get("status", listing.OPEN)
    kind = params.get("kind") or None
    language = params.get("language") or None
    assignee = params.get("assignee") or listing.ANY
    if assignee not in (listing.ANY, listing.ME, listing.NOBODY) and not (
        assignee.isdigit() and len(assignee) < 10
    ):
        assignee = listing.ANY
    return Filters(
        status=status if status in listing.STATUS_FILTERS else listing.OPEN,
        kind=kind if kind in KINDS else None,
        language=language if language in SUPPORTED_LANGUAGES else None,
        assignee=assignee,
        older_than=_int(params.get("older_than"), low=0, high=listing.MAX_AGE_DAYS),
        overdue=params.get("overdue", "") in ("1", "on", "true"),
        page=_int(params.get("page"), low=1, high=10**6) or 1,
    )


# --- One ticket, as staff see it ----------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One line of a ticket's history."""

    at: dt.datetime
    kind: str  # status | reply | note | user_message | evidence | assign
    actor: str  # user | staff | system
    staff: str | None
    from_status: str | None
    to_status: str | None
    text: str | None
    public: bool


@dataclass
class TicketView:
    ticket: Ticket
    overdue: bool
    assignee: str | None
    mine: bool
    may_work: bool  # reply and change the status
    may_reassign: bool
    amount: str | None
    happened_on: str | None
    channel: str | None
    linked: bool
    chat: chat_view.ChatView | None
    duplicate_of: Ticket | None
    next_statuses: list[str]
    events: list[Entry] = field(default_factory=list)
    files: list[Evidence] = field(default_factory=list)
    others: list[Ticket] = field(default_factory=list)
    canned_missing: list[str] = field(default_factory=list)
    # The ticket's moments, with their time zone (SQLite returns them without).
    at: dict[str, dt.datetime | None] = field(default_factory=dict)


MOMENTS = (
    "submitted_at", "respond_by", "resolve_by", "first_response_at", "resolved_at",
    "closed_at", "updated_at",
)  # fmt: skip


def _visible(session: Session, ticket_id: int, *, lock: bool = False) -> Ticket | None:
    """The ticket if staff may see it (drafts are the user's, not yet a ticket)."""
    query = select(Ticket).where(Ticket.id == ticket_id, Ticket.status != lifecycle.DRAFT)
    if lock:
        query = query.with_for_update()
    return session.scalar(query)


def may_work(staff: Staff, ticket: Ticket) -> bool:
    return ticket.assignee_id in (None, staff.id) or staff.may("tickets_reassign")


def build(
    session: Session, *, ticket_id: int, staff: Staff, answers: AnswerStore
) -> TicketView | None:
    ticket = _visible(session, ticket_id)
    if ticket is None:
        return None
    names = {i: n for i, n in session.execute(select(StaffUser.id, StaffUser.name)).all()}
    identity = session.get(ChatIdentity, ticket.identity_id) if ticket.identity_id else None
    chat = (
        chat_view.build(session, identity_id=identity.id, staff_id=staff.id, answers=answers)
        if identity is not None
        else None
    )
    view = TicketView(
        ticket=ticket,
        overdue=tickets.is_overdue(ticket),
        assignee=names.get(ticket.assignee_id) if ticket.assignee_id else None,
        mine=ticket.assignee_id == staff.id,
        may_work=may_work(staff, ticket),
        may_reassign=staff.may("tickets_reassign"),
        amount=render.amount_text(staff.language, ticket.amount, ticket.currency),
        happened_on=render.date_text(staff.language, ticket.happened_on),
        channel=identity.channel if identity is not None else None,
        linked=ticket.resident_id is not None or (chat is not None and chat.linked),
        chat=chat,
        duplicate_of=session.get(Ticket, ticket.duplicate_of_id)
        if ticket.duplicate_of_id
        else None,
        next_statuses=lifecycle.next_statuses(ticket.status, "staff"),
    )
    for e in session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
    ):
        view.events.append(
            Entry(
                at=aware(e.at),
                kind=e.kind,
                actor=e.actor,
                staff=names.get(e.staff_id) if e.staff_id else None,
                from_status=e.from_status,
                to_status=e.to_status,
                text=e.text,
                public=e.public,
            )
        )
    for name in MOMENTS:
        moment = getattr(ticket, name)
        view.at[name] = aware(moment) if moment is not None else None
    view.files = tickets.evidence_of(session, ticket_id=ticket.id)
    view.others = tickets.others_against_same_party(session, ticket=ticket)
    view.canned_missing = sorted(
        set(canned.titles(staff.language)) - set(canned.replies(ticket.language))
    )
    return view


def colleagues(session: Session) -> list[tuple[int, str]]:
    """Who may hold a ticket: active agents and supervisors (id, name)."""
    found = session.execute(
        select(StaffUser.id, StaffUser.name)
        .where(
            StaffUser.active.is_(True),
            StaffUser.role.in_(sorted(accounts.PERMISSIONS["tickets"])),
        )
        .order_by(StaffUser.name)
    ).all()
    return [(i, n) for i, n in found]


def _said_just_now(
    session: Session, *, ticket: Ticket, staff: StaffUser, kind: str, text: str
) -> bool:
    """Whether this member of staff wrote exactly this on the ticket a moment ago."""
    last = session.scalar(
        select(TicketEvent)
        .where(
            TicketEvent.ticket_id == ticket.id,
            TicketEvent.kind == kind,
            TicketEvent.staff_id == staff.id,
        )
        .order_by(TicketEvent.id.desc())
        .limit(1)
    )
    return (
        last is not None
        and last.text == text.strip()
        and aware(last.at) >= utcnow() - RESENT_WITHIN
    )


def _field(form: Any, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


Act = Callable[[Session, Staff, StaffUser, Ticket, Any], str | None]


class TicketPages:
    def __init__(
        self,
        sessions_maker: sessionmaker[Session],
        *,
        answers: AnswerStore,
        kick: Callable[[], None],
    ) -> None:
        self._sessions = sessions_maker
        self._answers = answers
        self._kick = kick

    async def _db(self, fn: Callable[[Session], Any]) -> Any:
        return await in_transaction(self._sessions, fn)

    def table(
        self, make: Callable[[str, tuple[str, ...], str | None, Handler], Spec]
    ) -> list[Spec]:
        """The ticket routes, each with its permission, for the console's one table:
        ``make`` is bot.staff.console.pages.RouteSpec (passed in by pages.py, which imports
        this module: importing it here would be an import cycle)."""
        one = "/staff/tickets/{ticket_id:int}"
        return [
            make("/staff/tickets", ("GET",), "tickets", self.list_page),
            make("/staff/tickets/live", ("GET",), "tickets", self.live),
            make(one, ("GET",), "tickets", self.ticket),
            make(one + "/reply", ("POST",), "tickets", self.reply),
            make(one + "/canned", ("POST",), "tickets", self.send_canned),
            make(one + "/note", ("POST",), "tickets", self.note),
            make(one + "/status", ("POST",), "tickets", self.status),
            make(one + "/assign", ("POST",), "tickets", self.assign),
            make(one + "/evidence/{evidence_id:int}", ("GET",), "ticket_evidence", self.evidence),
        ]

    # Pages -----------------------------------------------------------------------------

    async def list_page(self, request: Request) -> Response:
        staff = current_staff(request)
        filters = read_filters(request.query_params)

        def read(s: Session) -> dict[str, Any]:
            # The version first: a change in between makes the page's stream refresh it.
            version = listing.version(s)
            found = listing.ticket_page(
                s,
                status=filters.status,
                kind=filters.kind,
                language=filters.language,
                assignee=filters.assignee,
                me=staff.id,
                older_than_days=filters.older_than,
                overdue_only=filters.overdue,
                page=filters.page,
            )
            return {"found": found, "version": version, "colleagues": colleagues(s)}

        data = await self._db(read)
        return page(
            request,
            "tickets.html",
            filters=filters,
            statuses=listing.STATUS_FILTERS,
            kinds=KINDS,
            languages=SUPPORTED_LANGUAGES,
            now=utcnow(),
            **data,
        )

    async def live(self, request: Request) -> Response:
        """Server-Sent Events: "changed" whenever a ticket changes, for the open list and
        ticket pages to refresh what they show."""
        return live.changes(request, lambda: self._db(listing.version))

    async def ticket(self, request: Request) -> Response:
        staff = current_staff(request)
        ticket_id = request.path_params["ticket_id"]

        def read(s: Session) -> dict[str, Any] | None:
            version = listing.version(s)
            view = build(s, ticket_id=ticket_id, staff=staff, answers=self._answers)
            if view is None:
                return None
            return {"t": view, "version": version, "colleagues": colleagues(s)}

        data = await self._db(read)
        if data is None:
            return self._not_found(request, staff_texts.NO_SUCH_TICKET)
        notice = request.query_params.get("notice", "")
        return page(
            request,
            "ticket.html",
            canned=canned.titles(staff.language),
            notice=notice if notice in NOTICES else "",
            max_chars=tickets.MAX_TEXT_CHARS,
            now=utcnow(),
            **data,
        )

    @staticmethod
    def _not_found(request: Request, message: str) -> Response:
        staff = current_staff(request)
        return page(
            request, "error.html", status=404, message=staff_gettext(staff.language, message)
        )

    # Actions (each a form: POST, then back to the ticket) ---------------------------------

    async def _act(self, request: Request, act: Act) -> Response:
        staff = current_staff(request)
        ticket_id = request.path_params["ticket_id"]
        form = await request.form()

        def run(s: Session) -> None:
            me = s.get(StaffUser, staff.id)
            assert me is not None
            # Locked (PostgreSQL) while it is judged and changed: two forms on one
            # ticket at once are one after the other.
            ticket = _visible(s, ticket_id, lock=True)
            if ticket is None:
                raise _NotFound
            code = act(s, staff, me, ticket, form)
            if code:
                raise _Refused(code)

        target = f"/staff/tickets/{ticket_id}"
        try:
            await self._db(run)
        except _NotFound:
            return self._not_found(request, staff_texts.NO_SUCH_TICKET)
        except _Refused as refused:
            return RedirectResponse(f"{target}?notice={refused.code}", status_code=303)
        self._kick()
        return RedirectResponse(target, status_code=303)

    @staticmethod
    def _reply(s: Session, me: StaffUser, ticket: Ticket, text: str) -> str | None:
        if _said_just_now(s, ticket=ticket, staff=me, kind="reply", text=text):
            return None
        sent = tickets.reply(s, ticket=ticket, staff=me, text=text)
        return sent if isinstance(sent, str) else None

    async def reply(self, request: Request) -> Response:
        def act(s: Session, staff: Staff, me: StaffUser, ticket: Ticket, form: Any) -> str | None:
            if not may_work(staff, ticket):
                return "not_yours"
            return self._reply(s, me, ticket, _field(form, "text"))

        return await self._act(request, act)

    async def send_canned(self, request: Request) -> Response:
        def act(s: Session, staff: Staff, me: StaffUser, ticket: Ticket, form: Any) -> str | None:
            if not may_work(staff, ticket):
                return "not_yours"
            # In the ticket's language, or not at all: never in another one.
            rendered = canned.render(_field(form, "canned"), ticket.language)
            if rendered.text is None:
                return rendered.problem
            return self._reply(s, me, ticket, rendered.text)

        return await self._act(request, act)

    async def note(self, request: Request) -> Response:
        def act(s: Session, staff: Staff, me: StaffUser, ticket: Ticket, form: Any) -> str | None:
            text = _field(form, "text")
            if _said_just_now(s, ticket=ticket, staff=me, kind="note", text=text):
                return None
            done = tickets.note(s, ticket=ticket, staff=me, text=text)
            return done if isinstance(done, str) else None

        return await self._act(request, act)

    async def status(self, request: Request) -> Response:
        def act(s: Session, staff: Staff, me: StaffUser, ticket: Ticket, form: Any) -> str | None:
            to = _field(form, "to")
            if to == ticket.status:
                return None  # done already: the same form sent twice
            if not may_work(staff, ticket):
                return "not_yours"
            if to not in lifecycle.STATUSES:
                return "refused"
            original = None
            if to == lifecycle.DUPLICATE:
                number = numbers.find(_field(form, "original"))
                original = (
                    s.scalar(select(Ticket).where(Ticket.number == number)) if number else None
                )
                if original is None:
                    return "no_such_original"
            try:
                tickets.change_status(
                    s,
                    ticket=ticket,
                    to=to,
                    actor="staff",
                    staff=me,
                    reason=_field(form, "reason") or None,
                    duplicate_of=original,
                )
            except lifecycle.TransitionRefused:
                return "refused"
            except ValueError:
                return {
                    lifecycle.REJECTED: "reason_needed",
                    lifecycle.DUPLICATE: "bad_original",
                }.get(to, "invalid")
            return None

        return await self._act(request, act)

    async def assign(self, request: Request) -> Response:
        def act(s: Session, staff: Staff, me: StaffUser, ticket: Ticket, form: Any) -> str | None:
            held_by = ticket.assignee_id
            boss = staff.may("tickets_reassign")
            do = _field(form, "do")
            if do == "take":
                if held_by == me.id:
                    return None
                if held_by is not None and not boss:
                    return "not_yours"
                tickets.assign(s, ticket=ticket, to=me, by=me)
            elif do == "unassign":
                if held_by is None:
                    return None
                if held_by != me.id and not boss:
                    return "not_yours"
                tickets.assign(s, ticket=ticket, to=None, by=me)
            elif do == "transfer":
                if not boss:
                    return "supervisors_only"
                colleague = accounts.find(s, name=_field(form, "to"))
                if colleague is None or not accounts.may(colleague, "tickets"):
                    return "no_such_colleague"
                if colleague.id != held_by:
                    tickets.assign(s, ticket=ticket, to=colleague, by=me)
            else:
                return "invalid"
            return None

        return await self._act(request, act)

    # Evidence -----------------------------------------------------------------------------

    async def evidence(self, request: Request) -> Response:
        """A file of the ticket, for staff's eyes only: an image shown, a PDF downloaded
        (never rendered on the console's origin), each view in the audit log."""
        staff = current_staff(request)
        ticket_id = request.path_params["ticket_id"]
        evidence_id = request.path_params["evidence_id"]

        def read(s: Session) -> tuple[Evidence, bytes] | None:
            ticket = _visible(s, ticket_id)
            row = s.get(Evidence, evidence_id)
            if ticket is None or row is None or row.ticket_id != ticket.id:
                return None
            try:
                data = evidence.read(row.sha256)
            except (FileNotFoundError, ValueError):
                return None  # gone from the disk, or a hash that names no file
            audit.record(
                s,
                action="evidence_viewed",
                staff=s.get(StaffUser, staff.id),
                identity_id=ticket.identity_id,
                details={"ticket": ticket.number, "evidence": row.id},
            )
            return row, data

        found = await self._db(read)
        if found is None:
            return self._not_found(request, staff_texts.NO_SUCH_FILE)
        row, data = found
        inline = row.mime in IMAGES
        media = row.mime if inline or row.mime == evidence.PDF else "application/octet-stream"
        ascii_name = (
            f"evidence-{row.id}.{row.name.rsplit('.', 1)[-1] if '.' in row.name else 'bin'}"
        )
        ascii_name = "".join(c for c in ascii_name if c.isascii() and (c.isalnum() or c in ".-_"))
        disposition = (
            f'{"inline" if inline else "attachment"}; filename="{ascii_name}"; '
            f"filename*=UTF-8''{quote(row.name, safe='')}"
        )
        return Response(
            data,
            media_type=media,
            headers={
                "content-disposition": disposition,
                "x-content-type-options": "nosniff",
                "cache-control": "private, no-store",
                "content-security-policy": EVIDENCE_CSP,
            },
        )
