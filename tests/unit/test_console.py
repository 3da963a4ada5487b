"""The staff console (issue 11, items 5-10 and the bad input), over ASGI like a browser, on
SQLite and PostgreSQL: the console's own routes (bot.staff.console.pages.Console) behind
the gateway's security headers, and the gateway itself (create_app) for what it wires.

Staff log in through the login form (its double-submit token first), forms carry the
session's CSRF token, and what an action did is read back from the database: the outbox
(what the user gets), the handoff, the chat's mode, the audit log.

The live route is an event stream that never finishes: ``LiveStream`` calls the app
itself and reads the events as they are sent, with a deadline, so that a broken stream
fails the test instead of hanging it (as tests/unit/test_webchat_events.py does).
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import pyotp
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import Message as AsgiMessage

from bot import protocol, texts
from bot.answers.store import AnswerStore
from bot.app import create_app
from bot.channels.web_security import CONTENT_SECURITY_POLICY, SecurityHeaders
from bot.db import conversations, transaction
from bot.db.models import (
    AuditEntry,
    ChatIdentity,
    Handoff,
    HandoffNote,
    MerchantCard,
    Message,
    Outbox,
    StaffSession,
    StaffUser,
    utcnow,
)
from bot.handoff import canned, handoffs
from bot.i18n import gettext
from bot.records.registry.demo import demo_csv
from bot.records.registry.importer import import_registry
from bot.settings import PROJECT_ROOT, Settings, get_settings
from bot.staff import accounts
from bot.staff import login as staff_login
from bot.staff import sessions as staff_sessions
from bot.staff import texts as staff_texts
from bot.staff.console import live
from bot.staff.console.login import LOGIN_COOKIE
from bot.staff.console.pages import Console, RouteSpec
from bot.staff.console.templating import staff_gettext
from tests.helpers import REGISTRY_KEY, new_id

BASE = "http://console.test"
PASSWORD = "a long enough password"
WAIT_S = 10.0
XSS = "<script>alert(1)</script><img src=x onerror=alert(1)>"
# Everything a form could send: whichever route gets it has what it needs to act.
FORM = {
    "text": "a reply that must not be sent",
    "key": "form-key",
    "canned": "documents_received",
    "to": "ben",
    "outcome": "resolved",
    "name": "newcomer",
    "role": "agent",
    "password": "another long password",
    "language": "en",
}
# One account per role, and a second agent.
ROLES = {"ana": "agent", "ben": "agent", "sam": "supervisor", "eda": "editor", "adam": "admin"}


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found[1]


def notice_of(resp: httpx.Response) -> str | None:
    """The notice a form's redirect names (None: done)."""
    assert resp.status_code == 303, (resp.status_code, resp.text[:300])
    found = re.search(r"[?&]notice=([^&]+)", resp.headers["location"])
    return found[1] if found else None


def identities_listed(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr [^>]*data-identity="(\d+)"', html)]


def count(sessions: sessionmaker[Session], model: Any, *where: Any) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def snapshot(sessions: sessionmaker[Session]) -> dict[str, Any]:
    """What an action could change (not the sessions' last_seen_at)."""
    with sessions() as s:
        return {
            "outbox": s.execute(select(Outbox.id, Outbox.status).order_by(Outbox.id)).all(),
            "messages": s.scalar(select(func.count()).select_from(Message)),
            "notes": s.scalar(select(func.count()).select_from(HandoffNote)),
            "audit": s.scalar(select(func.count()).select_from(AuditEntry)),
            "handoffs": s.execute(
                select(Handoff.id, Handoff.status, Handoff.assignee_id, Handoff.outcome)
            ).all(),
            "modes": s.execute(select(ChatIdentity.id, ChatIdentity.mode)).all(),
            "staff": s.execute(select(StaffUser.name, StaffUser.active)).all(),
            "sessions": s.scalar(select(func.count()).select_from(StaffSession)),
        }


def path_of(spec: RouteSpec, identity_id: int) -> str:
    """The route's path with every id in it (a chat's, a ticket's, a file's) filled in:
    the guard answers before any handler looks the id up."""
    return re.sub(r"\{\w+:int\}", str(identity_id), spec.path)


@dataclass
class Staff:
    """A logged-in member of staff: their own browser (cookie jar) and CSRF token."""

    name: str
    client: httpx.AsyncClient
    csrf: str

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(path)

    async def act(self, identity_id: int, action: str, **data: str) -> httpx.Response:
        """Send one of the chat page's forms (with this session's CSRF token)."""
        return await self.client.post(
            f"/staff/chats/{identity_id}/{action}", data={"csrf": self.csrf, **data}
        )

    async def reply(self, identity_id: int, text: str, key: str | None = None) -> httpx.Response:
        return await self.act(identity_id, "reply", text=text, key=key or new_id())


@dataclass
class Rig:
    sessions: sessionmaker[Session]
    app: Starlette
    console: Console
    kicks: list[int] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    _clients: list[httpx.AsyncClient] = field(default_factory=list)

    def browser(self, **kwargs: Any) -> httpx.AsyncClient:
        """A new browser: its own cookie jar."""
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=BASE, **kwargs
        )
        self._clients.append(client)
        return client

    async def login_as(self, name: str) -> Staff:
        client = self.browser()
        resp = await submit_login(client, name, PASSWORD)
        assert resp.status_code == 303, resp.text
        home = await client.get("/staff", follow_redirects=True)
        assert home.status_code == 200, home.text
        return Staff(name, client, csrf_of(home.text))

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()


async def submit_login(
    client: httpx.AsyncClient, name: str, password: str, *, code: str | None = None,
    next_path: str = "/staff",
) -> httpx.Response:  # fmt: skip
    """The login as a browser does it: the form first (its token and cookie), then POST."""
    form = await client.get("/staff/login")
    assert form.status_code == 200
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token
    data = {"login_token": token[1], "name": name, "password": password, "next": next_path}
    if code is not None:
        data["code"] = code
    return await client.post("/staff/login", data=data)


def add_staff(sessions: sessionmaker[Session], name: str, role: str, language: str = "en") -> None:
    with transaction(sessions) as s:
        accounts.add(s, name=name, role=role, password=PASSWORD, language=language)


def open_chat(
    sessions: sessionmaker[Session],
    *,
    lang: str = "ar",
    channel: str = "telegram",
    said: tuple[str, ...] = ("I need help with my card",),
    intent: str | None = None,
    asked_minutes_ago: float | None = None,
) -> int:
    """A chat whose user wrote ``said`` and asked for a person: queued for staff."""
    with transaction(sessions) as s:
        identity = conversations.get_or_create_identity(
            s, channel=channel, external_id=new_id()[:12]
        )
        identity.language = lang
        conv = conversations.current_conversation(s, identity=identity)
        for text in said:
            msg = conversations.record_inbound(
                s, conversation=conv, text=text, kind="text", status="with_staff"
            )
            msg.language = lang
            msg.intent = intent
        handoff = handoffs.request(s, identity=identity, reason="request_human", language=lang)
        assert handoff is not None
        if asked_minutes_ago is not None:
            handoff.requested_at = utcnow() - dt.timedelta(minutes=asked_minutes_ago)
        return identity.id


def handoff_of(sessions: sessionmaker[Session], identity_id: int) -> Handoff:
    with sessions() as s:
        found = s.scalar(
            select(Handoff).where(Handoff.identity_id == identity_id).order_by(Handoff.id.desc())
        )
        assert found is not None
        return found


def mode_of(sessions: sessionmaker[Session], identity_id: int) -> str:
    with sessions() as s:
        identity = s.get(ChatIdentity, identity_id)
        assert identity is not None
        return identity.mode


def outbox_rows(sessions: sessionmaker[Session], identity_id: int) -> list[Outbox]:
    with sessions() as s:
        return list(
            s.scalars(select(Outbox).where(Outbox.identity_id == identity_id).order_by(Outbox.id))
        )


def audit_actions(sessions: sessionmaker[Session], identity_id: int) -> list[str]:
    with sessions() as s:
        return list(
            s.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.identity_id == identity_id)
                .order_by(AuditEntry.id)
            )
        )


@pytest.fixture
async def rig(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Rig]:
    """The console's routes with the gateway's security headers, in English, and an
    account per role. A failed login's delay is recorded, not waited for."""
    kicks: list[int] = []
    console = Console(
        sessions,
        answers=AnswerStore(),
        kick=lambda: kicks.append(1),
        language="en",
        secure_cookies=False,
        long_wait_minutes=10,
    )
    app = Starlette(routes=console.routes(), middleware=[Middleware(SecurityHeaders)])
    the_rig = Rig(sessions, app, console, kicks)

    original = staff_login.delay_after

    def delay_after(failed: int) -> float:
        the_rig.delays.append(original(failed))
        return 0.0

    monkeypatch.setattr(staff_login, "delay_after", delay_after)
    monkeypatch.setattr(live, "LIVE_POLL_S", 0.05)
    for name, role in ROLES.items():
        add_staff(sessions, name, role)
    yield the_rig
    await the_rig.close()


# Every route: a login, the right role, the CSRF token ---------------------------------


def table(rig: Rig) -> list[RouteSpec]:
    specs = rig.console.table()
    assert len(specs) >= 17 and any(s.path == "/staff/queue/live" for s in specs)
    return specs


async def test_every_route_is_refused_without_a_login(rig: Rig) -> None:
    chat = open_chat(rig.sessions)
    browser = rig.browser()
    before = snapshot(rig.sessions)
    for spec in table(rig):
        path = path_of(spec, chat)
        for method in spec.methods:
            resp = await browser.request(method, path, data=FORM if method == "POST" else None)
            where = f"{method} {path}"
            if spec.path.endswith("/live"):  # event streams: the page's script asks
                assert resp.status_code == 401, where
            elif method == "GET":
                assert resp.status_code == 303, where
                assert resp.headers["location"] == f"/staff/login?next={path}", where
            else:
                assert resp.status_code in (303, 401), where
                if resp.status_code == 303:
                    assert resp.headers["location"].startswith("/staff/login"), where
    # JSON callers (the page's script) are told, not redirected.
    resp = await browser.get(
        f"/staff/chats/{chat}/answer?topic=faq_emergency", headers={"accept": "application/json"}
    )
    assert resp.status_code == 401 and resp.json() == {"error": "login required"}
    assert snapshot(rig.sessions) == before


async def test_every_route_with_a_permission_is_refused_to_a_wrong_role(rig: Rig) -> None:
    chat = open_chat(rig.sessions)
    logged = {name: await rig.login_as(name) for name in ROLES}
    by_role = {role: logged[name] for name, role in ROLES.items()}
    before = snapshot(rig.sessions)
    checked = 0
    for spec in table(rig):
        if spec.permission is None:
            continue
        allowed = accounts.PERMISSIONS[spec.permission]
        for role in set(accounts.ROLES) - allowed:
            staff = by_role[role]
            path = path_of(spec, chat)
            for method in spec.methods:
                data = {**FORM, "csrf": staff.csrf} if method == "POST" else None
                resp = await staff.client.request(method, path, data=data)
                assert resp.status_code == 403, f"{role}: {method} {path} -> {resp.status_code}"
                assert "Your role does not allow this page." in resp.text
                checked += 1
    assert checked > 20
    assert snapshot(rig.sessions) == before
    # The examples of the issue, by name.
    assert (await by_role["editor"].get("/staff/queue")).status_code == 403
    assert (await by_role["agent"].get("/staff/audit")).status_code == 403
    assert (await by_role["agent"].get("/staff/accounts")).status_code == 403
    assert (await by_role["supervisor"].get("/staff/audit")).status_code == 200
    assert (await by_role["admin"].get("/staff/audit")).status_code == 200


async def test_every_form_without_its_csrf_token_is_refused_and_changes_nothing(
    rig: Rig,
) -> None:
    chat = open_chat(rig.sessions)
    # Each route by someone allowed to use it: a supervisor for chats, the admin for
    # accounts (so that, with the token, each of these posts would change something).
    sam, adam = await rig.login_as("sam"), await rig.login_as("adam")
    posts = [s for s in table(rig) if "POST" in s.methods]
    assert len(posts) >= 8
    before = snapshot(rig.sessions)
    for spec in posts:
        staff = adam if spec.permission == "accounts" else sam
        path = path_of(spec, chat)
        for label, extra, headers in (
            ("no token", {}, {}),
            ("a wrong token", {"csrf": "not-" + staff.csrf}, {}),
            ("an empty token", {"csrf": ""}, {}),
            ("a wrong header", {}, {"x-csrf-token": staff.csrf[::-1]}),
            ("another session's token", {"csrf": adam.csrf if staff is sam else sam.csrf}, {}),
        ):
            resp = await staff.client.post(path, data={**FORM, **extra}, headers=headers)
            assert resp.status_code == 403, f"{path} with {label}: {resp.status_code}"
            assert "This form has expired." in resp.text
    assert snapshot(rig.sessions) == before
    # The session is still there: logout without the token did not end it.
    assert (await sam.get("/staff/queue")).status_code == 200
    # The same take with the token in the header (how a script sends it) is done.
    resp = await sam.client.post(f"/staff/chats/{chat}/take", headers={"x-csrf-token": sam.csrf})
    assert notice_of(resp) is None
    assert handoff_of(rig.sessions, chat).status == "active"


# Login ----------------------------------------------------------------------------------


async def test_a_wrong_password_is_refused_and_audited(rig: Rig) -> None:
    browser = rig.browser()
    resp = await submit_login(browser, "ana", "not the password at all")
    assert resp.status_code == 401
    assert "Wrong name or password." in resp.text
    assert staff_sessions.COOKIE not in browser.cookies
    assert (await browser.get("/staff/queue")).status_code == 303
    with rig.sessions() as s:
        assert s.scalar(select(AuditEntry.action).order_by(AuditEntry.id.desc())) == "login_failed"


async def test_an_unknown_name_is_answered_like_a_wrong_password(rig: Rig) -> None:
    def without_tokens(html: str) -> str:
        html = re.sub(r'name="login_token" value="[^"]*"', "", html)
        return re.sub(r'name="name" autocomplete="username" required value="[^"]*"', "", html)

    wrong = await submit_login(rig.browser(), "ana", "not the password at all")
    unknown = await submit_login(rig.browser(), "nobody-here", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    assert without_tokens(wrong.text) == without_tokens(unknown.text)
    assert rig.delays == [0.5, 0.5]  # answered as slowly


async def test_the_sixth_attempt_of_a_name_is_locked_even_with_the_right_password(
    rig: Rig,
) -> None:
    for _ in range(staff_login.MAX_FAILURES):
        resp = await submit_login(rig.browser(), "ana", "not the password at all")
        assert resp.status_code == 401
    # Each failure was answered more slowly than the one before.
    assert rig.delays == [0.5, 1.0, 1.5, 2.0, 2.5]
    # A new browser (cookie jar) with the right password: the name is locked, not the
    # browser.
    fresh = rig.browser()
    resp = await submit_login(fresh, "ana", PASSWORD)
    assert resp.status_code == 401
    assert "Too many failed logins for this name." in resp.text
    assert staff_sessions.COOKIE not in fresh.cookies
    assert (await fresh.get("/staff/queue")).status_code == 303
    # Another name is not locked by them.
    assert (await submit_login(rig.browser(), "ben", PASSWORD)).status_code == 303
    with rig.sessions() as s:
        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.staff_name == "ana")))
    assert actions.count("login_failed") == staff_login.MAX_FAILURES
    assert actions[-1] == "login_locked" and "login" not in actions


async def test_a_second_factor_is_needed_when_the_account_has_one(rig: Rig) -> None:
    with transaction(rig.sessions) as s:
        staff = accounts.find(s, name="ana")
        assert staff is not None
        accounts.enable_totp(staff)
        secret = staff.totp_secret
    assert secret
    totp = pyotp.TOTP(secret)
    # The password alone: the form asks for the code, and there is no session.
    browser = rig.browser()
    resp = await submit_login(browser, "ana", PASSWORD)
    assert resp.status_code == 200 and 'name="code"' in resp.text
    assert staff_sessions.COOKIE not in browser.cookies
    # A wrong code: refused.
    now = dt.datetime.now(dt.UTC)
    near = {totp.at(now + dt.timedelta(seconds=s)) for s in (-60, -30, 0, 30, 60)}
    wrong = next(c for c in (f"{n:06d}" for n in range(123456, 999999, 111111)) if c not in near)
    resp = await submit_login(browser, "ana", PASSWORD, code=wrong)
    assert resp.status_code == 401
    assert staff_sessions.COOKIE not in browser.cookies
    # The password and the right code: in.
    resp = await submit_login(browser, "ana", PASSWORD, code=totp.now())
    assert resp.status_code == 303
    assert (await browser.get("/staff/queue")).status_code == 200


async def test_logout_ends_the_session(rig: Rig) -> None:
    ana = await rig.login_as("ana")
    token = ana.client.cookies[staff_sessions.COOKIE]
    resp = await ana.client.post("/staff/logout", data={"csrf": ana.csrf})
    assert resp.status_code == 303 and resp.headers["location"] == "/staff/login"
    # The old cookie, kept by someone, no longer works.
    replay = rig.browser(cookies={staff_sessions.COOKIE: token})
    resp = await replay.get("/staff/queue")
    assert resp.status_code == 303 and resp.headers["location"].startswith("/staff/login")
    assert count(rig.sessions, StaffSession) == 0
    with rig.sessions() as s:
        assert s.scalar(select(AuditEntry.action).order_by(AuditEntry.id.desc())) == "logout"


async def test_a_session_past_its_idle_time_is_refused(rig: Rig) -> None:
    ana = await rig.login_as("ana")
    assert (await ana.get("/staff/queue")).status_code == 200
    with transaction(rig.sessions) as s:
        idle_since = utcnow() - staff_sessions.IDLE - dt.timedelta(minutes=1)
        s.execute(update(StaffSession).values(last_seen_at=idle_since))
    resp = await ana.get("/staff/queue")
    assert resp.status_code == 303
    assert resp.headers["location"] == "/staff/login?next=/staff/queue"
    assert count(rig.sessions, StaffSession) == 0


async def test_a_form_sent_after_the_session_ended_comes_back_to_its_page(rig: Rig) -> None:
    """The reply typed while the session ended: refused, nothing sent, and the login
    leads back to the chat (whose script restores the text, console.js)."""
    chat = open_chat(rig.sessions)
    ana = await rig.login_as("ana")
    assert notice_of(await ana.act(chat, "take")) is None
    with transaction(rig.sessions) as s:
        s.execute(update(StaffSession).values(last_seen_at=utcnow() - dt.timedelta(hours=3)))
    resp = await ana.client.post(
        f"/staff/chats/{chat}/reply",
        data={"csrf": ana.csrf, "text": "typed for a long time", "key": "k"},
        headers={"referer": f"{BASE}/staff/chats/{chat}"},
    )
    assert resp.status_code == 303
    assert resp.headers["location"] == f"/staff/login?next=/staff/chats/{chat}"
    assert outbox_rows(rig.sessions, chat) == []
    page = await ana.client.get(resp.headers["location"])
    assert "Your session has ended." in page.text
    assert f'name="next" value="/staff/chats/{chat}"' in page.text
    again = await submit_login(ana.client, "ana", PASSWORD, next_path=f"/staff/chats/{chat}")
    assert again.headers["location"] == f"/staff/chats/{chat}"
    # Every console page asks the browser to name it to the gateway (only), so that the
    # redirect above knows the page even though the gateway's default is no-referrer.
    assert '<meta name="referrer" content="same-origin">' in page.text


async def test_the_login_form_without_its_token_is_refused(rig: Rig) -> None:
    browser = rig.browser()
    await browser.get("/staff/login")  # the cookie half of the token
    resp = await browser.post("/staff/login", data={"name": "ana", "password": PASSWORD})
    assert resp.status_code == 403
    # The token without its cookie (a form posted from elsewhere): refused too.
    other = rig.browser()
    form = await rig.browser().get("/staff/login")
    token = re.search(r'name="login_token" value="([^"]+)"', form.text)
    assert token
    resp = await other.post(
        "/staff/login", data={"login_token": token[1], "name": "ana", "password": PASSWORD}
    )
    assert resp.status_code == 403
    assert (
        staff_sessions.COOKIE not in browser.cookies and staff_sessions.COOKIE not in other.cookies
    )
    assert count(rig.sessions, StaffSession) == 0


def staff_cookie_header(resp: httpx.Response) -> str:
    found = [
        h for h in resp.headers.get_list("set-cookie") if h.startswith(staff_sessions.COOKIE + "=")
    ]
    assert len(found) == 1, resp.headers.get_list("set-cookie")
    return found[0]


async def test_the_session_cookie_is_httponly_samesite_strict_and_scoped_to_staff(
    rig: Rig,
) -> None:
    resp = await submit_login(rig.browser(), "ana", PASSWORD)
    assert resp.status_code == 303
    attributes = {a.strip().lower() for a in staff_cookie_header(resp).split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/staff"} <= attributes
    assert "secure" not in attributes  # development over plain http


async def test_in_production_the_gateway_sets_the_session_cookie_secure(
    database_url: str, sessions: sessionmaker[Session]
) -> None:
    add_staff(sessions, "ana", "agent")
    settings = Settings(
        DATABASE_URL=database_url,
        EXPATBOT_ENV="production",
        RASA_URL="http://127.0.0.1:9",
        RASA_TOKEN="r" * 32,
        ACTION_SERVER_TOKEN="a" * 32,
        METRICS_TOKEN="m" * 32,
        REGISTRY_HASH_KEY="k" * 32,
        STAFF_LANGUAGE="en",
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://gw.test") as browser:
        form = await browser.get("/staff/login")
        assert form.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        login_cookie = [
            h for h in form.headers.get_list("set-cookie") if h.startswith(LOGIN_COOKIE)
        ]
        assert login_cookie and "secure" in login_cookie[0].lower()
        resp = await submit_login(browser, "ana", PASSWORD)
        assert resp.status_code == 303
        attributes = {a.strip().lower() for a in staff_cookie_header(resp).split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/staff", "secure"} <= attributes
        # The gateway serves the console's pages and its files.
        assert (await browser.get("/staff/queue")).status_code == 200
        script = await browser.get("/staff/static/console.js")
        assert script.status_code == 200 and "EventSource" in script.text


# The queue ------------------------------------------------------------------------------


async def test_the_queue_shows_waiting_chats_oldest_first_with_their_language(rig: Rig) -> None:
    # Created newest first: the order is the time they asked, not the order of the rows.
    en = open_chat(rig.sessions, lang="en", channel="webchat", asked_minutes_ago=10)
    ar = open_chat(rig.sessions, lang="ar", asked_minutes_ago=20)
    ru = open_chat(rig.sessions, lang="ru", asked_minutes_ago=30)
    ana = await rig.login_as("ana")
    page = await ana.get("/staff/queue")
    assert page.status_code == 200
    assert identities_listed(page.text) == [ru, ar, en]
    rows = re.findall(r'<tr [^>]*data-identity="(\d+)"[^>]*>(.*?)</tr>', page.text, re.S)
    cells = {int(i): body for i, body in rows}
    assert "Russian (ru)" in cells[ru] and "Arabic (ar)" in cells[ar]
    assert "English (en)" in cells[en] and "Web chat" in cells[en]
    assert re.search(r"\b3[01] minutes\b", cells[ru]), cells[ru]  # waiting since 30 minutes
    assert f'href="/staff/chats/{ru}"' in cells[ru]
    assert 'data-live-url="/staff/queue/live?version=' in page.text
    # Taken: no longer waiting, but the agent's own.
    assert notice_of(await ana.act(ar, "take")) is None
    assert identities_listed((await ana.get("/staff/queue")).text) == [ru, en]
    mine = await ana.get("/staff/queue?view=mine")
    assert identities_listed(mine.text) == [ar]
    ben = await rig.login_as("ben")
    assert identities_listed((await ben.get("/staff/queue?view=mine")).text) == []


async def test_only_supervisors_see_everyones_chats(rig: Rig) -> None:
    waiting = open_chat(rig.sessions, asked_minutes_ago=5)
    taken = open_chat(rig.sessions, asked_minutes_ago=9)
    ana, sam = await rig.login_as("ana"), await rig.login_as("sam")
    assert notice_of(await ana.act(taken, "take")) is None
    # An agent asking for "all" gets the waiting chats, and no tab for "all".
    agent_all = await ana.get("/staff/queue?view=all")
    assert agent_all.status_code == 200
    assert identities_listed(agent_all.text) == [waiting]
    assert "view=all" not in agent_all.text
    everyone = await sam.get("/staff/queue?view=all")
    assert 'href="/staff/queue?view=all" aria-current="page"' in everyone.text
    assert identities_listed(everyone.text) == [taken, waiting]
    assert "ana" in everyone.text  # who has it


async def test_the_live_stream_says_changed_when_the_queue_changes(rig: Rig) -> None:
    open_chat(rig.sessions)
    ana = await rig.login_as("ana")
    page = await ana.get("/staff/queue")
    live = re.search(r'data-live-url="([^"]+)"', page.text)
    assert live
    url = httpx.URL(live[1].replace("&amp;", "&"))
    seen = url.params["version"]
    token = ana.client.cookies[staff_sessions.COOKIE]
    async with LiveStream(rig.app, url.raw_path.decode(), token=token) as stream:
        newer = open_chat(rig.sessions, lang="fr")
        (event,) = await stream.take(1)
        assert stream.status == 200
    assert event["event"] == "changed"
    version = json.loads(event["data"])["version"]
    # Not the version the page had (which would have been sent at once if the stream
    # ignored it), and the one that includes the new chat.
    assert version != seen
    with rig.sessions() as s:
        assert version == handoffs.version(s)
    assert newer in identities_listed((await ana.get("/staff/queue")).text)


class LiveStream:
    """``GET /staff/queue/live`` as the page's EventSource makes it, on the ASGI app."""

    def __init__(self, app: Starlette, path_and_query: str, *, token: str) -> None:
        path, _, query = path_and_query.partition("?")
        self._scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [
                (b"host", b"console.test"),
                (b"accept", b"text/event-stream"),
                (b"cookie", f"{staff_sessions.COOKIE}={token}".encode()),
            ],
            "client": ("127.0.0.1", 50001),
            "server": ("console.test", 80),
        }
        self._app = app
        self._closed = asyncio.Event()
        self._changed = asyncio.Event()
        self._buffer = ""
        self.status: int | None = None
        self.events: list[dict[str, str]] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LiveStream:
        self._task = asyncio.create_task(self._app(self._scope, self._receive, self._send))
        self._task.add_done_callback(lambda _t: self._changed.set())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed.set()  # the page goes away
        assert self._task is not None
        await asyncio.wait_for(self._task, WAIT_S)

    async def take(self, n: int) -> list[dict[str, str]]:
        async def enough() -> None:
            assert self._task is not None
            while len(self.events) < n:
                if self._task.done():
                    self._task.result()
                    raise AssertionError(f"stream ended ({self.status}) after {self.events}")
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(enough(), WAIT_S)
        return self.events[:n]

    async def _receive(self) -> AsgiMessage:
        await self._closed.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: AsgiMessage) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            self._buffer += message.get("body", b"").decode().replace("\r\n", "\n")
            while "\n\n" in self._buffer:
                block, self._buffer = self._buffer.split("\n\n", 1)
                fields: dict[str, str] = {}
                for line in block.split("\n"):
                    if line and not line.startswith(":"):
                        name, _, value = line.partition(":")
                        fields[name] = value.removeprefix(" ")
                if "data" in fields:
                    self.events.append(fields)
        self._changed.set()


# One chat -------------------------------------------------------------------------------


def link_to_a_resident(sessions: sessionmaker[Session], identity_id: int) -> list[str]:
    """Link the chat to a demo resident with a card; every number of the registry file
    (what must never be shown)."""
    raw = demo_csv(count=12)
    with transaction(sessions) as s:
        report = import_registry(s, raw.encode(), key=REGISTRY_KEY)
        assert not report.errors, report.errors
        card = s.scalar(select(MerchantCard).order_by(MerchantCard.id).limit(1))
        assert card is not None
        identity = s.get(ChatIdentity, identity_id)
        assert identity is not None
        identity.resident_id = card.resident_id
        identity.linked_at = utcnow()
    rows = list(csv.DictReader(io.StringIO(raw)))
    return [r[k] for r in rows for k in ("card_number", "passport_number", "document_number")]


async def test_the_chat_page_shows_the_transcript_as_text_with_the_chinese_topic(
    rig: Rig,
) -> None:
    topic = "faq_merchant_card_apply"
    chat = open_chat(rig.sessions, lang="ar", said=(XSS, "مرحبا، أريد بطاقة التاجر"), intent=topic)
    numbers = link_to_a_resident(rig.sessions, chat)
    ana = await rig.login_as("ana")
    resp = await ana.get(f"/staff/chats/{chat}")
    assert resp.status_code == 200
    html = resp.text
    assert resp.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    # What the user wrote is text: escaped, never markup.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script>alert" not in html and not re.search(r"<img\b", html)
    assert "مرحبا، أريد بطاقة التاجر" in html
    # The intent the bot understood, and the topic's Chinese title for a Chinese officer.
    zh_title = AnswerStore().get(topic, "zh")
    assert zh_title is not None and zh_title.language == "zh"
    assert topic in html and zh_title.title in html
    assert "Arabic (ar)" in html and "Telegram" in html
    # The linked resident's card, masked; no number of the registry, not even 8 digits.
    with rig.sessions() as s:
        identity = s.get(ChatIdentity, chat)
        assert identity is not None
        last4 = s.scalar(
            select(MerchantCard.number_last4).where(
                MerchantCard.resident_id == identity.resident_id
            )
        )
    assert f"••••{last4}" in html
    for number in numbers:
        digits = re.sub(r"\D", "", number)
        assert len(digits) >= 8
        for start in range(len(digits) - 7):
            assert digits[start : start + 8] not in html, number
    # Nothing on the page is inline script or style (the CSP would block it anyway).
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert "<style" not in html and " style=" not in html and " onclick=" not in html


async def test_the_chat_page_marks_notes_as_internal_and_shows_events(rig: Rig) -> None:
    chat = open_chat(rig.sessions)
    ana = await rig.login_as("ana")
    assert notice_of(await ana.act(chat, "take")) is None
    assert notice_of(await ana.act(chat, "note", text="Called the landlord <b>twice</b>")) is None
    html = (await ana.get(f"/staff/chats/{chat}")).text
    note = re.search(r'<li class="line line-note">(.*?)</li>', html, re.S)
    assert note, "no note in the transcript"
    assert "Internal: never sent to the user" in note[1]
    assert "Called the landlord &lt;b&gt;twice&lt;/b&gt;" in note[1] and "ana" in note[1]
    assert "took the chat" in html
    assert outbox_rows(rig.sessions, chat) == []
    assert audit_actions(rig.sessions, chat) == ["take", "note"]


async def test_a_chat_that_does_not_exist_is_404(rig: Rig) -> None:
    ana = await rig.login_as("ana")
    resp = await ana.get("/staff/chats/999999")
    assert resp.status_code == 404 and "There is no such chat." in resp.text


async def test_a_policy_answer_comes_in_the_users_language(rig: Rig) -> None:
    chat = open_chat(rig.sessions, lang="ru")
    ana = await rig.login_as("ana")
    resp = await ana.client.get(
        f"/staff/chats/{chat}/answer?topic=faq_emergency", headers={"accept": "application/json"}
    )
    assert resp.status_code == 200
    expected = AnswerStore().get("faq_emergency", "ru")
    assert expected is not None and expected.language == "ru"
    assert resp.json() == {"text": f"{expected.title}\n\n{expected.text}", "language": "ru"}
    missing = await ana.client.get(
        f"/staff/chats/{chat}/answer?topic=nothing", headers={"accept": "application/json"}
    )
    assert missing.status_code == 404


# The actions ----------------------------------------------------------------------------


async def test_two_agents_taking_at_once_one_wins_the_other_cannot_answer(rig: Rig) -> None:
    chat = open_chat(rig.sessions)
    ana, ben = await rig.login_as("ana"), await rig.login_as("ben")
    first, second = await asyncio.gather(ana.act(chat, "take"), ben.act(chat, "take"))
    outcomes = {"ana": notice_of(first), "ben": notice_of(second)}
    assert sorted(outcomes.values(), key=str) == [None, "someone_else"], outcomes
    winner, loser = (ana, ben) if outcomes["ana"] is None else (ben, ana)
    handoff = handoff_of(rig.sessions, chat)
    with rig.sessions() as s:
        owner = s.get(StaffUser, handoff.assignee_id)
        assert owner is not None and owner.name == winner.name
    # The loser is told who has it, has no reply form, and a reply is refused.
    page = (await loser.get(f"/staff/chats/{chat}?notice=someone_else")).text
    assert f"{winner.name} has this chat: only they can answer it." in page
    assert "Someone else took this chat a moment before you." in page
    assert f'action="/staff/chats/{chat}/reply"' not in page
    assert notice_of(await loser.reply(chat, "I answer too")) == "not_yours"
    assert outbox_rows(rig.sessions, chat) == []
    assert audit_actions(rig.sessions, chat) == ["take"]
    # A supervisor may take it over.
    sam = await rig.login_as("sam")
    assert notice_of(await sam.act(chat, "take")) is None
    assert handoff_of(rig.sessions, chat).assignee_id != handoff.assignee_id
    assert audit_actions(rig.sessions, chat) == ["take", "transfer"]


async def test_a_reply_reaches_the_outbox_in_the_users_channel_and_language_once(
    rig: Rig,
) -> None:
    chat = open_chat(rig.sessions, lang="ar", channel="telegram")
    ana = await rig.login_as("ana")
    assert notice_of(await ana.act(chat, "take")) is None
    assert mode_of(rig.sessions, chat) == "human"
    page = (await ana.get(f"/staff/chats/{chat}")).text
    key = re.search(r'name="key" value="([0-9a-f]{32})"', page)
    assert key, "the reply form has no fresh key"
    other = re.search(
        r'name="key" value="([0-9a-f]{32})"', (await ana.get(f"/staff/chats/{chat}")).text
    )
    assert other and other[1] != key[1]  # fresh per page
    text = "مرحبًا، سأساعدك الآن."
    kicks = len(rig.kicks)
    assert notice_of(await ana.reply(chat, text, key=key[1])) is None
    assert len(rig.kicks) > kicks  # the dispatcher is woken
    # The same form sent twice (a double click, a retry): one reply.
    assert notice_of(await ana.reply(chat, text, key=key[1])) is None
    rows = outbox_rows(rig.sessions, chat)
    assert [(r.kind, r.channel, r.language, r.text) for r in rows] == [
        ("staff_reply", "telegram", "ar", text)
    ]
    with rig.sessions() as s:
        identity = s.get(ChatIdentity, chat)
        assert identity is not None and rows[0].recipient == identity.external_id
    assert audit_actions(rig.sessions, chat) == ["take", "reply"]
    # The transcript shows it, by whom, and how its delivery goes.
    html = (await ana.get(f"/staff/chats/{chat}")).text
    staff_line = re.search(r'<li class="line line-staff">(.*?)</li>', html, re.S)
    assert staff_line and text in staff_line[1] and "ana" in staff_line[1]
    assert "Delivery: pending" in staff_line[1]


async def test_a_reply_sent_twice_with_one_key_is_one_line_of_the_transcript(rig: Rig) -> None:
    chat = open_chat(rig.sessions)
    ana = await rig.login_as("ana")
    assert notice_of(await ana.act(chat, "take")) is None
    for _ in range(2):
        assert notice_of(await ana.reply(chat, "once only", key="the-same-key")) is None
    assert count(rig.sessions, Outbox, Outbox.identity_id == chat) == 1
    assert count(rig.sessions, Message, Message.author == "staff") == 1


async def test_the_delivery_state_of_a_reply_is_shown(rig: Rig) -> None:
    chat = open_chat(rig.sessions)
    ana = await rig.login_as("ana")
    assert notice_of(await ana.act(chat, "take")) is None
    assert notice_of(await ana.reply(chat, "to a user who blocked the bot")) is None
    with transaction(rig.sessions) as s:
        s.execute(update(Outbox).where(Outbox.identity_id == chat).values(status="blocked"))
    html = (await ana.get(f"/staff/chats/{chat}")).text
    assert 'class="delivery delivery-blocked"' in html and "blocked by the user" in html


async def test_a_canned_reply_goes_out_in_the_users_language_with_office_facts(
    rig: Rig,
) -> None:
    chat = open_chat(rig.sessions, lang="ar")
    ana = await rig.login_as("ana")
    assert notice_of(await ana.act(chat, "take")) is None
    page = (await ana.get(f"/staff/chats/{chat}")).text
    # The agent reads the titles in their own language.
    assert f'<option value="call_hotline">{canned.titles("en")["call_hotline"]}</option>' in page
    assert notice_of(await ana.act(chat, "canned", canned="call_hotline", key=new_id())) is None
    arabic = canned.replies("ar")["call_hotline"].text
    assert "{immigration_hotline}" in arabic
    (row,) = outbox_rows(rig.sessions, chat)
    assert row.kind == "staff_reply" and row.language == "ar"
    assert row.text == arabic.replace("{immigration_hotline}", "12367")
    assert audit_actions(rig.sessions, chat) == ["take", "reply"]


@pytest.fixture
def crafted_locales(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of locales/ (EXPATBOT_LOCALES) whose Arabic canned replies lack "goodbye"
    and whose "anything_else" names a fact office.yml does not have."""
    locales = tmp_path / "locales"
    shutil.copytree(PROJECT_ROOT / "locales", locales)
    ar = locales / "ar" / "canned.yml"
    text = ar.read_text(encoding="utf-8")
    text = re.sub(r"\ngoodbye:\n(  .*\n)+", "\n", text + "\n")
    text = re.sub(
        r'(anything_else:\n  title: "[^"]*"\n  text: "[^"]*)"', r'\1 {visa_office_floor}"', text
    )
    ar.write_text(text, encoding="utf-8")
    assert "goodbye" not in canned.parse(text) and "{visa_office_floor}" in text
    monkeypatch.setenv("EXPATBOT_LOCALES", str(locales))
    get_settings.cache_clear()
    yield locales
    get_settings.cache_clear()


async def test_a_canned_reply_missing_in_the_users_language_is_flagged_and_refused(
    rig: Rig, crafted_locales: Path
) -> None:
    chat = open_chat(rig.sessions, lang="ar")
    ana = await rig.login_as("ana")
    assert notice_of(await ana.act(chat, "take")) is None
    page = (await ana.get(f"/staff/chats/{chat}")).text
    flagged = re.search(r'<option value="goodbye" data-missing="1">([^<]*)</option>', page)
    assert flagged and "missing in the user's language" in flagged[1].replace("&#39;", "'")
    assert '<option value="call_hotline">' in page  # not flagged
    assert "sending it is refused" in page
    resp = await ana.act(chat, "canned", canned="goodbye", key=new_id())
    assert notice_of(resp) == "missing"
    shown = (await ana.get(resp.headers["location"])).text
    assert "this canned reply has no text in the user&#39;s language" in shown
    assert notice_of(await ana.act(chat, "canned", canned="anything_else", key=new_id())) == (
        "unknown_placeholder"
    )
    assert outbox_rows(rig.sessions, chat) == []
    assert audit_actions(rig.sessions, chat) == ["take"]


async def test_a_note_never_reaches_the_user(rig: Rig) -> None:
    chat = open_chat(rig.sessions)
    ana = await rig.login_as("ana")
    # A note needs no ownership: a colleague may leave one on a waiting chat.
    assert notice_of(await ana.act(chat, "note", text="VIP: call back before noon")) is None
    assert notice_of(await ana.act(chat, "note", text="  ")) == "empty"
    assert outbox_rows(rig.sessions, chat) == []
    with rig.sessions() as s:
        assert list(s.scalars(select(HandoffNote.text))) == ["VIP: call back before noon"]
        assert (
            s.scalar(select(func.count()).select_from(Message).where(Message.direction == "out"))
            == 0
        )
    assert audit_actions(rig.sessions, chat) == ["note"]


async def test_a_transfer_goes_to_an_existing_colleague_only(rig: Rig) -> None:
    chat = open_chat(rig.sessions)
    ana, ben = await rig.login_as("ana"), await rig.login_as("ben")
    assert notice_of(await ana.act(chat, "take")) is None
    page = (await ana.get(f"/staff/chats/{chat}")).text
    assert '<option value="ben">ben</option>' in page and '<option value="ana">' not in page
    before = snapshot(rig.sessions)
    assert notice_of(await ana.act(chat, "transfer", to="nobody")) == "no_such_colleague"
    assert notice_of(await ana.act(chat, "transfer", to="eda")) == "no_such_colleague"  # editor
    assert snapshot(rig.sessions) == before
    shown = (await ana.get(f"/staff/chats/{chat}?notice=no_such_colleague")).text
    assert "no active colleague has that name" in shown
    assert notice_of(await ana.act(chat, "transfer", to="ben")) is None
    assert identities_listed((await ben.get("/staff/queue?view=mine")).text) == [chat]
    assert identities_listed((await ana.get("/staff/queue?view=mine")).text) == []
    assert notice_of(await ana.reply(chat, "still mine?")) == "not_yours"
    assert notice_of(await ben.reply(chat, "I have it now")) is None
    assert audit_actions(rig.sessions, chat) == ["take", "transfer", "reply"]
    assert "transferred the chat to ben" in (await ben.get(f"/staff/chats/{chat}")).text


async def test_a_transfer_that_lost_the_chat_meanwhile_says_so(rig: Rig) -> None:
    """The agent's transfer reads the chat as theirs, and a supervisor takes it over in
    the same moment: the transfer is refused, not reported as done."""
    chat = open_chat(rig.sessions)
    ana, sam = await rig.login_as("ana"), await rig.login_as("sam")
    assert notice_of(await ana.act(chat, "take")) is None
    with transaction(rig.sessions) as s:
        me = accounts.find(s, name="ana")
        current = handoffs.open_handoff(s, identity_id=chat)  # read as the page does
        assert me is not None and current is not None and current.assignee_id == me.id
        assert notice_of(await sam.act(chat, "take")) is None  # committed meanwhile
        result = handoffs.transfer(s, handoff_id=current.id, staff=me, to_name="ben")
    assert result == "not_yours"
    with rig.sessions() as s:
        owner = s.get(StaffUser, handoff_of(rig.sessions, chat).assignee_id)
        assert owner is not None and owner.name == "sam"
    assert audit_actions(rig.sessions, chat) == ["take", "transfer"]  # sam's takeover only


@pytest.mark.parametrize(
    ("outcome", "action"), [("resolved", "close"), ("handed_back", "hand_back")]
)
async def test_handing_back_tells_the_user_and_the_bot_answers_again(
    rig: Rig, outcome: str, action: str
) -> None:
    chat = open_chat(rig.sessions, lang="ar")
    ana = await rig.login_as("ana")
    assert notice_of(await ana.act(chat, "take")) is None
    assert notice_of(await ana.act(chat, "handback", outcome=outcome)) is None
    assert mode_of(rig.sessions, chat) == "bot"
    handoff = handoff_of(rig.sessions, chat)
    assert (handoff.status, handoff.outcome) == ("closed", outcome)
    (row,) = outbox_rows(rig.sessions, chat)
    assert row.kind == "system" and row.channel == "telegram" and row.language == "ar"
    assert row.text == gettext("ar", texts.HANDOFF_HANDED_BACK)
    payloads = [b["payload"] for b in row.buttons or []]
    assert payloads == [f"{protocol.RATE_PAYLOAD}{handoff.id} {n}" for n in (5, 4, 3, 2, 1)]
    assert audit_actions(rig.sessions, chat) == ["take", action]
    page = (await ana.get(f"/staff/chats/{chat}")).text
    assert "the assistant answers it" in page and 'data-mode="bot"' in page
    # The chat is closed: a reply (from a page still open) is refused, nothing is sent.
    assert notice_of(await ana.reply(chat, "one more thing")) == "closed"
    assert notice_of(await ana.act(chat, "handback", outcome=outcome)) == "closed"
    assert len(outbox_rows(rig.sessions, chat)) == 1


async def test_empty_and_too_long_replies_are_refused(rig: Rig) -> None:
    chat = open_chat(rig.sessions)
    ana = await rig.login_as("ana")
    assert notice_of(await ana.act(chat, "take")) is None
    assert notice_of(await ana.reply(chat, "")) == "empty"
    assert notice_of(await ana.reply(chat, " \n\t ")) == "empty"
    resp = await ana.reply(chat, "x" * 10_000)
    assert notice_of(resp) == "too_long"
    shown = (await ana.get(resp.headers["location"])).text
    assert "longer than 4000 characters" in shown and 'data-notice="too_long"' in shown
    assert outbox_rows(rig.sessions, chat) == []
    assert audit_actions(rig.sessions, chat) == ["take"]
    # The limit itself is allowed.
    assert notice_of(await ana.reply(chat, "y" * handoffs.MAX_REPLY_CHARS)) is None
    assert len(outbox_rows(rig.sessions, chat)) == 1


async def test_every_notice_has_a_sentence_and_unknown_ones_are_not_shown(rig: Rig) -> None:
    chat = open_chat(rig.sessions)
    ana = await rig.login_as("ana")
    for code in (
        "not_yours", "closed", "someone_else", "empty", "too_long", "missing",
        "unknown_placeholder", "no_such_colleague",
    ):  # fmt: skip
        page = (await ana.get(f"/staff/chats/{chat}?notice={code}")).text
        shown = re.search(rf'<p class="notice" role="alert" data-notice="{code}">([^<]+)</p>', page)
        assert shown and len(shown[1].strip()) > 20, code
    page = (await ana.get(f"/staff/chats/{chat}?notice=Call+this+number+now")).text
    assert 'class="notice"' not in page and "Call this number now" not in page


async def test_every_action_is_in_the_audit_log_which_supervisors_and_admins_read(
    rig: Rig,
) -> None:
    chat = open_chat(rig.sessions)
    ana = await rig.login_as("ana")
    secret = "the user's private matter 4711"
    assert notice_of(await ana.act(chat, "take")) is None
    assert notice_of(await ana.reply(chat, secret)) is None
    assert notice_of(await ana.act(chat, "note", text=secret)) is None
    assert notice_of(await ana.act(chat, "transfer", to="ben")) is None
    ben = await rig.login_as("ben")
    assert notice_of(await ben.act(chat, "handback", outcome="referred")) is None
    assert audit_actions(rig.sessions, chat) == ["take", "reply", "note", "transfer", "close"]
    with rig.sessions() as s:
        entries = list(s.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    assert [e.staff_name for e in entries if e.identity_id == chat] == ["ana"] * 4 + ["ben"]
    assert {"login"} <= {e.action for e in entries if e.identity_id is None}
    assert all(secret not in json.dumps(e.details or {}) for e in entries)
    for name in ("sam", "adam"):
        reader = await rig.login_as(name)
        page = await reader.get("/staff/audit")
        assert page.status_code == 200
        rows = re.findall(r'<tr data-action="([a-z_]+)" data-identity="(\d*)">', page.text)
        # The newest first.
        assert [a for a, i in rows if i == str(chat)] == [
            "close", "transfer", "note", "reply", "take"
        ]  # fmt: skip
        assert "login" in {a for a, i in rows if not i}
        assert secret not in page.text
        # A link to the chat for those who may open it.
        assert (f'href="/staff/chats/{chat}"' in page.text) == (name == "sam")
    for name in ("ana", "eda"):
        reader = await rig.login_as(name)
        assert (await reader.get("/staff/audit")).status_code == 403


# Alerts, answers, accounts --------------------------------------------------------------


async def test_alerts_list_lockouts_and_supervisors_see_long_waits(rig: Rig) -> None:
    old = open_chat(rig.sessions, lang="ru", asked_minutes_ago=25)
    recent = open_chat(rig.sessions, lang="en", asked_minutes_ago=2)
    for _ in range(staff_login.MAX_FAILURES):
        await submit_login(rig.browser(), "ben", "not the password at all")
    ana, sam = await rig.login_as("ana"), await rig.login_as("sam")
    for reader in (ana, sam):
        page = (await reader.get("/staff/alerts")).text
        assert "staff_login_lockout" in page
        assert "failed logins to the staff console as ben" in page
    agent_page = (await ana.get("/staff/alerts")).text
    assert "waiting longer than" not in agent_page
    supervisor_page = (await sam.get("/staff/alerts")).text
    assert "Chats waiting longer than 10 minutes" in supervisor_page
    waits = re.search(r'<table class="long-waits">(.*?)</table>', supervisor_page, re.S)
    assert waits and identities_listed(waits[1]) == [old] and recent != old


async def test_the_answer_status_page_is_for_editors(rig: Rig) -> None:
    eda = await rig.login_as("eda")
    page = await eda.get("/staff/answers")
    assert page.status_code == 200
    table = re.search(r'<pre class="status-table">(.*?)</pre>', page.text, re.S)
    assert table and "faq_emergency" in table[1]
    assert (await eda.get("/staff/queue")).status_code == 403


async def test_an_admin_adds_an_account_and_bad_ones_are_refused(rig: Rig) -> None:
    adam = await rig.login_as("adam")
    page = await adam.get("/staff/accounts")
    assert page.status_code == 200
    assert re.findall(r'<tr data-account="([^"]+)">', page.text) == sorted(ROLES)
    resp = await adam.client.post(
        "/staff/accounts",
        data={"csrf": adam.csrf, "name": "Chen.Li", "role": "agent", "password": PASSWORD,
              "language": "zh"},
    )  # fmt: skip
    assert resp.status_code == 303 and resp.headers["location"] == "/staff/accounts"
    with rig.sessions() as s:
        added = accounts.find(s, name="chen.li")
        assert added is not None and (added.role, added.language) == ("agent", "zh")
        logged = s.scalar(select(AuditEntry).order_by(AuditEntry.id.desc()))
        assert logged is not None and logged.action == "account_added"
        assert PASSWORD not in json.dumps(logged.details)
    resp = await adam.client.post(
        "/staff/accounts",
        data={"csrf": adam.csrf, "name": "short", "role": "agent", "password": "tiny"},
    )
    assert resp.status_code == 303 and "notice=" in resp.headers["location"]
    shown = (await adam.get(resp.headers["location"])).text
    assert "The account was not added:" in shown and "at least 12 characters" in shown
    # A notice is a code, never a sentence taken from the link.
    crafted = (await adam.get("/staff/accounts?notice=Call+0000+now")).text
    assert "Call 0000 now" not in crafted and "The account was not added" not in crafted
    assert count(rig.sessions, StaffUser) == len(ROLES) + 1
    # The new colleague logs in, in Chinese.
    chen = await rig.login_as("chen.li")
    assert '<html lang="zh">' in (await chen.get("/staff/queue")).text


async def test_the_console_speaks_the_staff_members_language(rig: Rig) -> None:
    add_staff(rig.sessions, "wang", "agent", language="zh")
    chat = open_chat(rig.sessions, lang="ar")
    wang = await rig.login_as("wang")
    page = (await wang.get(f"/staff/chats/{chat}")).text
    assert '<html lang="zh">' in page
    assert "Take this chat" not in page and "Transcript" not in page
    assert "接手此会话" in page and "聊天记录" in page and "阿拉伯语 (ar)" in page
    refused = await wang.client.post(f"/staff/chats/{chat}/take", data={})
    assert refused.status_code == 403
    bad_form = staff_gettext("zh", staff_texts.BAD_FORM)
    assert bad_form != staff_texts.BAD_FORM and bad_form in refused.text
    # The login page speaks the console's language (STAFF_LANGUAGE; English here).
    assert "<h1>Log in</h1>" in (await rig.browser().get("/staff/login")).text
