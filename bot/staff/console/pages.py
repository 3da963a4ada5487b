"""The console's routes: one table, each route with the permission it needs (a route of
the console without one needs a login all the same; the login page is the only one open).

A router per resource, thin: what happens is in bot.handoff (the lifecycle, canned
replies, the audit log) and bot.staff (accounts, sessions).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.answers.store import AnswerStore
from bot.db import audit, in_transaction
from bot.db.models import ChatIdentity, StaffUser
from bot.handoff import canned, handoffs
from bot.staff import accounts
from bot.staff import texts as staff_texts
from bot.staff.console import chat_view, live
from bot.staff.console.guard import Handler, current_staff, guard, page
from bot.staff.console.login import LoginPages
from bot.staff.console.templating import staff_gettext
from bot.staff.console.ticket_pages import TicketPages

STATIC = Path(__file__).resolve().parent.parent / "static"


@dataclass(frozen=True)
class RouteSpec:
    path: str
    methods: tuple[str, ...]
    permission: str | None  # None: any logged-in member of staff
    handler: Handler


class Console:
    def __init__(
        self,
        sessions_maker: sessionmaker[Session],
        *,
        answers: AnswerStore,
        kick: Callable[[], None],
        language: str,
        secure_cookies: bool,
        long_wait_minutes: float,
    ) -> None:
        self._sessions = sessions_maker
        self._answers = answers
        self._kick = kick
        self._long_wait = long_wait_minutes
        self.login = LoginPages(sessions_maker, lang=language, secure=secure_cookies)
        self.tickets = TicketPages(sessions_maker, answers=answers, kick=kick)

    async def _db(self, fn: Callable[[Session], Any]) -> Any:
        return await in_transaction(self._sessions, fn)

    # The table -------------------------------------------------------------------------

    def table(self) -> list[RouteSpec]:
        return [
            RouteSpec("/staff", ("GET",), None, self.home),
            RouteSpec("/staff/logout", ("POST",), None, self.login.logout),
            RouteSpec("/staff/queue", ("GET",), "chats", self.queue),
            RouteSpec("/staff/queue/live", ("GET",), "chats", self.live),
            RouteSpec("/staff/chats/{identity_id:int}", ("GET",), "chats", self.chat),
            RouteSpec("/staff/chats/{identity_id:int}/take", ("POST",), "chats", self.take),
            RouteSpec("/staff/chats/{identity_id:int}/reply", ("POST",), "chats", self.reply),
            RouteSpec(
                "/staff/chats/{identity_id:int}/canned", ("POST",), "chats", self.send_canned
            ),
            RouteSpec("/staff/chats/{identity_id:int}/note", ("POST",), "chats", self.note),
            RouteSpec("/staff/chats/{identity_id:int}/transfer", ("POST",), "chats", self.transfer),
            RouteSpec(
                "/staff/chats/{identity_id:int}/handback", ("POST",), "chats", self.hand_back
            ),
            RouteSpec("/staff/chats/{identity_id:int}/answer", ("GET",), "chats", self.answer),
            RouteSpec("/staff/alerts", ("GET",), "alerts", self.alerts),
            RouteSpec("/staff/audit", ("GET",), "audit", self.audit_log),
            RouteSpec("/staff/answers", ("GET",), "answers", self.answers_status),
            RouteSpec("/staff/accounts", ("GET",), "accounts", self.accounts_page),
            RouteSpec("/staff/accounts", ("POST",), "accounts", self.add_account),
            *self.tickets.table(RouteSpec),
        ]

    def routes(self) -> list[Route]:
        routes = [
            Route("/staff/login", self.login.show, methods=["GET"]),
            Route("/staff/login", self.login.submit, methods=["POST"]),
            Route("/staff/static/{name:str}", self.static, methods=["GET"]),
        ]
        for spec in self.table():
            routes.append(
                Route(
                    spec.path,
                    guard(self._sessions, spec.permission, spec.handler),
                    methods=list(spec.methods),
                )
            )
        return routes

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        types = {"console.js": "text/javascript; charset=utf-8", "console.css": "text/css"}
        if name not in types:
            return Response(status_code=404)
        return FileResponse(
            STATIC / name, media_type=types[name], headers={"cache-control": "no-cache"}
        )

    # Pages -------------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        staff = current_staff(request)
        for permission, path in (
            ("chats", "/staff/queue"),
            ("tickets", "/staff/tickets"),
            ("answers", "/staff/answers"),
            ("accounts", "/staff/accounts"),
            ("audit", "/staff/audit"),
        ):
            if staff.may(permission):
                return RedirectResponse(path, status_code=303)
        return page(request, "error.html", message="")

    async def queue(self, request: Request) -> Response:
        staff = current_staff(request)
        view = request.query_params.get("view", "waiting")
        if view not in ("waiting", "mine", "all") or (view == "all" and not staff.may("all_chats")):
            view = "waiting"

        def read(s: Session) -> dict[str, Any]:
            me = s.get(StaffUser, staff.id)
            assert me is not None
            rows = handoffs.queue(s, view=view, staff=me)  # type: ignore[arg-type]
            return {"rows": rows, "version": handoffs.version(s)}

        found = await self._db(read)
        return page(request, "queue.html", view=view, **found)

    async def live(self, request: Request) -> Response:
        """Server-Sent Events: "changed" whenever the queue or a chat in it changes, for
        the open queue and chat pages to refresh what they show."""
        return live.changes(request, lambda: self._db(handoffs.version))

    async def chat(self, request: Request) -> Response:
        staff = current_staff(request)
        identity_id = request.path_params["identity_id"]
        # Read before the view: a change in between makes the page's live stream refresh it.
        version = await self._db(handoffs.version)
        view = await self._db(
            lambda s: chat_view.build(
                s, identity_id=identity_id, staff_id=staff.id, answers=self._answers
            )
        )
        if view is None:
            message = staff_gettext(staff.language, staff_texts.NOT_FOUND)
            return page(request, "error.html", status=404, message=message)
        colleagues = await self._db(_colleagues)
        # Labelled in the staff member's language; inserted in the user's (self.answer).
        topics = self._answers_topics(staff.language)
        return page(
            request,
            "chat.html",
            chat=view,
            colleagues=[c for c in colleagues if c != staff.name],
            canned=canned.titles(staff.language),
            topics=topics,
            outcomes=handoffs.OUTCOMES,
            notice=request.query_params.get("notice", ""),
            # The reply form's idempotency key: fresh per page, so that the same form
            # sent twice is one reply, and the next form a new one.
            key=uuid.uuid4().hex,
            version=version,
            max_chars=handoffs.MAX_REPLY_CHARS,
        )

    def _answers_topics(self, lang: str) -> list[tuple[str, str]]:
        from bot.answers.check import faq_topics

        return [(t, self._answers.title(t, lang)) for t in sorted(faq_topics())]

    async def answer(self, request: Request) -> Response:
        """The text of a policy answer in the user's language, to insert into a reply."""
        identity_id = request.path_params["identity_id"]
        topic = request.query_params.get("topic", "")
        lang = await self._db(lambda s: _language_of(s, identity_id))
        found = self._answers.get(topic, lang or "en") if lang else None
        if found is None:
            return JSONResponse({"error": "no such answer"}, status_code=404)
        return JSONResponse({"text": f"{found.title}\n\n{found.text}", "language": found.language})

    # Actions (each a form: POST, then back to the chat) ---------------------------------

    async def _act(
        self, request: Request, act: Callable[[Session, StaffUser, int, Any], str | None]
    ) -> Response:
        staff = current_staff(request)
        identity_id = request.path_params["identity_id"]
        form = await request.form()

        def run(s: Session) -> str | None:
            me = s.get(StaffUser, staff.id)
            assert me is not None
            return act(s, me, identity_id, form)

        problem = await self._db(run)
        self._kick()
        target = f"/staff/chats/{identity_id}"
        if problem:
            target += f"?notice={problem}"
        return RedirectResponse(target, status_code=303)

    async def take(self, request: Request) -> Response:
        def act(s: Session, me: StaffUser, identity_id: int, form: Any) -> str | None:
            current = handoffs.open_handoff(s, identity_id=identity_id)
            if current is None:
                return "closed"
            result = handoffs.take(s, handoff_id=current.id, staff=me)
            return None if result.result == "taken" else result.result

        return await self._act(request, act)

    async def reply(self, request: Request) -> Response:
        def act(s: Session, me: StaffUser, identity_id: int, form: Any) -> str | None:
            current = handoffs.open_handoff(s, identity_id=identity_id)
            if current is None:
                return "closed"
            text = form.get("text")
            key = form.get("key")
            sent = handoffs.reply(
                s,
                handoff_id=current.id,
                staff=me,
                text=text if isinstance(text, str) else "",
                key=key if isinstance(key, str) and key else None,
            )
            return sent if isinstance(sent, str) else None

        return await self._act(request, act)

    async def send_canned(self, request: Request) -> Response:
        def act(s: Session, me: StaffUser, identity_id: int, form: Any) -> str | None:
            current = handoffs.open_handoff(s, identity_id=identity_id)
            if current is None:
                return "closed"
            lang = _language_of(s, identity_id) or current.language
            reply_id = form.get("canned")
            rendered = canned.render(reply_id if isinstance(reply_id, str) else "", lang)
            if rendered.text is None:
                return rendered.problem
            key = form.get("key")
            sent = handoffs.reply(
                s,
                handoff_id=current.id,
                staff=me,
                text=rendered.text,
                key=key if isinstance(key, str) and key else None,
            )
            return sent if isinstance(sent, str) else None

        return await self._act(request, act)

    async def note(self, request: Request) -> Response:
        def act(s: Session, me: StaffUser, identity_id: int, form: Any) -> str | None:
            text = form.get("text")
            done = handoffs.note(
                s, identity_id=identity_id, staff=me, text=text if isinstance(text, str) else ""
            )
            return done if isinstance(done, str) else None

        return await self._act(request, act)

    async def transfer(self, request: Request) -> Response:
        def act(s: Session, me: StaffUser, identity_id: int, form: Any) -> str | None:
            current = handoffs.open_handoff(s, identity_id=identity_id)
            if current is None:
                return "closed"
            to = form.get("to")
            return handoffs.transfer(
                s, handoff_id=current.id, staff=me, to_name=to if isinstance(to, str) else ""
            )

        return await self._act(request, act)

    async def hand_back(self, request: Request) -> Response:
        def act(s: Session, me: StaffUser, identity_id: int, form: Any) -> str | None:
            current = handoffs.open_handoff(s, identity_id=identity_id)
            if current is None:
                return "closed"
            outcome = form.get("outcome")
            if outcome not in handoffs.OUTCOMES:
                outcome = "handed_back"
            return handoffs.hand_back(s, handoff_id=current.id, staff=me, outcome=str(outcome))

        return await self._act(request, act)

    # Supervisors, editors, admins ------------------------------------------------------------

    async def alerts(self, request: Request) -> Response:
        staff = current_staff(request)

        def read(s: Session) -> dict[str, Any]:
            from bot.records.alerts import open_alerts, render

            found = [
                (a, render(a.kind, a.params, a.details, staff.language)) for a in open_alerts(s)
            ]
            waiting = (
                handoffs.waiting_longer_than(s, minutes=self._long_wait)
                if staff.may("all_chats")
                else []
            )
            return {"alerts": found, "long_waits": waiting, "long_wait_minutes": self._long_wait}

        return page(request, "alerts.html", **(await self._db(read)))

    async def audit_log(self, request: Request) -> Response:
        entries = await self._db(lambda s: audit.entries(s, limit=500))
        return page(request, "audit.html", entries=entries)

    async def answers_status(self, request: Request) -> Response:
        from bot.answers.status import status_table
        from bot.db.conversations import english_fallbacks, vote_counts

        counts = await self._db(lambda s: (vote_counts(s), english_fallbacks(s)))
        table = status_table(
            self._answers_dir(), max_age_days=365, votes=counts[0], fallbacks=counts[1]
        )
        return page(request, "answers.html", table=table)

    def _answers_dir(self) -> Path:
        from bot.settings import get_settings

        return get_settings().locales_dir

    async def accounts_page(self, request: Request) -> Response:
        staff_rows = await self._db(
            lambda s: list(s.scalars(select(StaffUser).order_by(StaffUser.name)))
        )
        return page(
            request,
            "accounts.html",
            accounts=staff_rows,
            roles=accounts.ROLES,
            notice=request.query_params.get("notice", ""),
        )

    async def add_account(self, request: Request) -> Response:
        form = await request.form()
        staff = current_staff(request)

        def value(key: str) -> str:
            found = form.get(key)
            return found if isinstance(found, str) else ""

        def add(s: Session) -> str | None:
            try:
                added = accounts.add(
                    s,
                    name=value("name"),
                    role=value("role"),
                    password=value("password"),
                    language=value("language") or "zh",
                )
            except accounts.AccountError as exc:
                return exc.code
            audit.record(
                s,
                action="account_added",
                staff_name=staff.name,
                details={"name": added.name, "role": added.role},
            )
            return None

        problem = await self._db(add)
        target = "/staff/accounts" + (f"?notice={problem}" if problem else "")
        return RedirectResponse(target, status_code=303)


def _language_of(session: Session, identity_id: int) -> str | None:
    identity = session.get(ChatIdentity, identity_id)
    return (identity.language or "en") if identity is not None else None


def _colleagues(session: Session) -> list[str]:
    return list(
        session.scalars(
            select(StaffUser.name)
            .where(StaffUser.active.is_(True), StaffUser.role.in_(("agent", "supervisor")))
            .order_by(StaffUser.name)
        )
    )
