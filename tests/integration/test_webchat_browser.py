"""The web chat in a real browser (Debian's chromium, driven by Playwright), against the
real gateway, Rasa server and action server: Arabic right to left, buttons, escaping,
the content security policy, and reminders pushed to the open page by the event stream."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.db import make_engine, make_sessionmaker, transaction, upgrade
from bot.db.models import ChatIdentity, Outbox, Resident, TravelDocument, utcnow
from bot.i18n import DEFAULT_LANGUAGE
from bot.jobs.reminders import Due, reminder_text, run_reminders
from bot.settings import Settings
from tests.helpers import serving
from tests.integration.conftest import Stack
from tests.people import AHMED, Person, load_people

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page, Response

pytestmark = [pytest.mark.integration, pytest.mark.browser]
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(os.environ.get("EXPATBOT_SCREENSHOTS", "var/screenshots"))


@pytest.fixture
def gateway_url(stack: Stack, tmp_path: Path) -> Iterator[str]:
    db = f"sqlite:///{tmp_path / 'browser.db'}"
    upgrade(db)
    settings = Settings(
        DATABASE_URL=db, RASA_URL=stack.rasa_url, EXPATBOT_LOCALES=str(stack.locales)
    )  # type: ignore[call-arg]
    with serving(settings) as url:
        yield url


def test_arabic_conversation_right_to_left_with_buttons(stack: Stack, gateway_url: str) -> None:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("Debian's chromium is not installed (make browser installs it)")
    from playwright.sync_api import sync_playwright

    ar = yaml.safe_load((stack.locales / "ar" / "answers.yml").read_text(encoding="utf-8"))
    zh = yaml.safe_load((stack.locales / "zh" / "answers.yml").read_text(encoding="utf-8"))
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        page = browser.new_page(locale="ar-EG", extra_http_headers={"Accept-Language": "ar"})
        page.goto(gateway_url)
        assert page.locator("html").get_attribute("dir") == "rtl"

        page.fill("#text", "كيف أسجل مكان إقامتي عند الشرطة خلال 24 ساعة؟")
        page.press("#text", "Enter")
        reply = page.locator(".msg.bot:not(.typing)").last
        reply.wait_for(timeout=30_000)
        assert reply.get_attribute("dir") == "rtl" and reply.get_attribute("lang") == "ar"
        assert reply.evaluate("el => getComputedStyle(el).direction") == "rtl"
        assert reply.inner_text().startswith(ar["faq_accommodation_registration"]["title"].strip())
        assert "12367" in reply.inner_text()  # embedded numbers survive the bidi layout

        # The officer button: the Chinese answer under the Arabic title.
        reply.locator("button").filter(has_text="اعرضها بالصينية").click()
        bot_replies(page).nth(1).wait_for(timeout=30_000)
        officer = page.locator(".msg.bot:not(.typing)").last
        assert zh["faq_accommodation_registration"]["title"].strip() in officer.inner_text()

        # Markup typed by a user is shown as text and never becomes HTML.
        page.fill("#text", '<img src=x onerror="window.pwned=1"> **hi**')
        page.press("#text", "Enter")
        bot_replies(page).nth(2).wait_for(timeout=30_000)
        assert (
            page.locator(".msg.user").last.inner_text()
            == '<img src=x onerror="window.pwned=1"> **hi**'
        )
        assert page.locator("main img").count() == 0
        assert page.evaluate("window.pwned") is None

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "webchat-ar.png"), full_page=True)
        browser.close()


def bot_replies(page: Page) -> Locator:
    return page.locator(".msg.bot:not(.typing)")


# page.evaluate runs outside the page's policy (the browser's own channel), while
# page.wait_for_function evaluates its string with eval, which the policy rightly forbids:
# these tests wait with locators and promises instead.
ADD_INLINE_SCRIPT = """() => new Promise((resolve) => {
  document.addEventListener("securitypolicyviolation", (e) => resolve(e.violatedDirective),
                            {once: true});
  const s = document.createElement("script");
  s.textContent = "window.inlineRan = 1";
  document.body.appendChild(s);
})"""
# Records every CSP violation of the page, from before its own script runs (init scripts
# are injected by the browser, not subject to the page's policy).
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
    (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
"""


def test_page_works_under_its_content_security_policy(
    stack: Stack, gateway_url: str, tmp_path: Path
) -> None:
    """Issue 9, item 11: the headers reach the browser, the page's script and style load
    under the policy without a violation, a message round-trips, inline script is
    blocked, and a cross-site form posting text/plain is refused and stores nothing."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("Debian's chromium is not installed (make browser installs it)")
    from playwright.sync_api import ConsoleMessage, sync_playwright

    from bot.channels.web_security import CONTENT_SECURITY_POLICY

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        page = browser.new_page(locale="en-US")
        console: list[str] = []

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                console.append(message.text)

        page.on("console", on_console)
        page.add_init_script(RECORD_VIOLATIONS)
        response = page.goto(gateway_url)
        assert response is not None and response.ok
        headers = response.headers
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        # The style sheet applied (the header's colour comes from webchat.css only).
        background = page.evaluate(
            "getComputedStyle(document.querySelector('header')).backgroundColor"
        )
        assert background == "rgb(192, 57, 43)"

        page.fill("#text", "How do I extend my visa?")
        page.press("#text", "Enter")
        reply = page.locator(".msg.bot:not(.typing)").last
        reply.wait_for(timeout=30_000)
        assert reply.get_attribute("lang") == "en" and reply.locator("button").count() > 0
        reply.locator("button").filter(has_text="Menu").click()
        bot_replies(page).nth(1).wait_for(timeout=30_000)
        assert page.evaluate("window.__csp") == []
        assert not [m for m in console if "Content Security Policy" in m], console

        # The policy is in force: a script added inline does not run.
        violated = page.evaluate(ADD_INLINE_SCRIPT)
        assert violated.startswith("script-src")
        assert page.evaluate("window.inlineRan") is None

        # Another site's page posts a form to the message API, as text/plain (no preflight).
        with sessions_of(tmp_path) as count_messages:
            before = count_messages()
            attacker = "http://attacker.test/"
            page.route(
                attacker,
                lambda route: route.fulfill(
                    content_type="text/html",
                    body=f'<form method="post" enctype="text/plain" '
                    f'action="{gateway_url}api/webchat/messages">'
                    '<input name=\'{"text": "forged", "x": "\' value=\'"}\'></form>'
                    "<script>document.forms[0].submit()</script>",
                ),
            )
            with page.expect_response(f"{gateway_url}api/webchat/messages") as posted:
                page.goto(attacker)
            assert posted.value.status == 403
            assert count_messages() == before
        browser.close()


@contextmanager
def sessions_of(tmp_path: Path) -> Iterator[Callable[[], int]]:
    """Counts the messages in the gateway's database (gateway_url's)."""
    from sqlalchemy import func, select

    from bot.db import make_engine, make_sessionmaker
    from bot.db.models import Message

    engine = make_engine(f"sqlite:///{tmp_path / 'browser.db'}")
    sessions = make_sessionmaker(engine)

    def count() -> int:
        with sessions() as s:
            return int(s.scalar(select(func.count()).select_from(Message)) or 0)

    try:
        yield count
    finally:
        engine.dispose()


# Reminders on the open page -------------------------------------------------------------


@dataclass(frozen=True)
class PeopleGateway:
    url: str
    sessions: sessionmaker[Session]


@pytest.fixture
def people_gateway(stack: Stack, tmp_path: Path) -> Iterator[PeopleGateway]:
    """A gateway on a database of its own that holds the residents of tests/people.py,
    without the scheduled jobs: the only reminders are the ones a test makes (the daily
    job would otherwise send one for today's date at 09:00 in Yiwu)."""
    db = f"sqlite:///{tmp_path / 'reminders.db'}"
    upgrade(db)
    engine = make_engine(db)
    sessions = make_sessionmaker(engine)
    load_people(sessions)
    settings = Settings(
        DATABASE_URL=db,
        RASA_URL=stack.rasa_url,
        EXPATBOT_LOCALES=stack.locales,
        EXPATBOT_GATEWAY_JOBS=False,
    )
    try:
        with serving(settings) as url:
            yield PeopleGateway(url, sessions)
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Linked:
    """The web chat linked to a resident, and the resident's visa."""

    language: str
    visa: Due  # threshold and days_left are set per reminder


def link_the_web_chat(sessions: sessionmaker[Session], person: Person) -> Linked:
    """What a successful /link leaves in the database (tests/integration/test_records.py
    links through the action server, which reads the stack's database, not this one)."""
    with transaction(sessions) as session:
        resident = session.scalars(select(Resident).where(Resident.full_name == person.name)).one()
        chat = session.scalars(select(ChatIdentity).where(ChatIdentity.channel == "webchat")).one()
        chat.resident_id, chat.linked_at = resident.id, utcnow()
        visa = session.scalars(
            select(TravelDocument).where(
                TravelDocument.resident_id == resident.id, TravelDocument.kind == "visa"
            )
        ).one()
        due = Due(resident.id, "travel_document", visa.id, visa.kind, visa.number_last4,
                  visa.expires_on, threshold=0, days_left=0)  # fmt: skip
        return Linked(chat.language or DEFAULT_LANGUAGE, due)


def run_the_reminders_job(sessions: sessionmaker[Session], linked: Linked, days_before: int) -> str:
    """The real job, on the day the visa is ``days_before`` days from expiring (a
    threshold); the text of the one reminder it must queue."""
    today = linked.visa.expires_on - dt.timedelta(days=days_before)
    # In a thread of its own: Playwright's sync API keeps an event loop in this one.
    with ThreadPoolExecutor(1) as pool:
        summary = pool.submit(asyncio.run, run_reminders(sessions, today=today)).result(60)
    assert (summary.due, summary.queued) == (1, 1), summary
    due = replace(linked.visa, threshold=days_before, days_left=days_before)
    return reminder_text(due, linked.language)


def outbox_rows(sessions: sessionmaker[Session]) -> list[tuple[int, str, str]]:
    with sessions() as session:
        rows = session.execute(select(Outbox.id, Outbox.status, Outbox.text).order_by(Outbox.id))
        return [(row_id, status, text) for row_id, status, text in rows]


def wait_until(check: Callable[[], bool], what: str, timeout_s: float = 15) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {timeout_s}s")
        time.sleep(0.05)


def delivered(sessions: sessionmaker[Session], row_id: int) -> Callable[[], bool]:
    return lambda: dict((i, s) for i, s, _t in outbox_rows(sessions))[row_id] == "delivered"


def stream_opened(response: Response) -> bool:
    """The page's event stream, answered (204 is the answer when there is no chat yet)."""
    return response.url.endswith("/api/webchat/events") and response.status == 200


def showing(page: Page, text: str) -> Locator:
    return bot_replies(page).filter(has_text=text)


def test_reminders_reach_the_open_page_and_a_reload_gets_the_ones_it_missed(
    stack: Stack, people_gateway: PeopleGateway
) -> None:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("Debian's chromium is not installed (make browser installs it)")
    from playwright.sync_api import sync_playwright

    gw, sessions = people_gateway, people_gateway.sessions
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        context = browser.new_context(locale="en-US")
        page = context.new_page()
        page.goto(gw.url)  # no chat yet: the stream is answered 204
        # The first message makes the chat and its session cookie; the page then opens
        # its event stream.
        with page.expect_response(stream_opened, timeout=30_000):
            page.fill("#text", "How do I extend my visa?")
            page.press("#text", "Enter")
            bot_replies(page).first.wait_for(timeout=30_000)
        linked = link_the_web_chat(sessions, AHMED)

        # (a) The job queues a reminder: the open page shows it, without a reload.
        first = run_the_reminders_job(sessions, linked, days_before=30)
        ((first_id, _status, queued),) = outbox_rows(sessions)
        assert queued == first and "(number ending 6701)" in first and "in 30 days" in first
        showing(page, first).wait_for(timeout=30_000)
        shown = bot_replies(page).last
        assert shown.inner_text() == first
        assert shown.get_attribute("data-event-id") == str(first_id)
        wait_until(delivered(sessions, first_id), "delivered")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "webchat-reminder-live.png"), full_page=True)

        # (b) The page is closed while the next one is queued; opened again in the same
        # tab, it shows that one, and not the first again. (The stream sends rows in id
        # order: had the first been sent again, it would have come before the second.)
        page.goto("about:blank")
        second = run_the_reminders_job(sessions, linked, days_before=14)
        second_id = outbox_rows(sessions)[-1][0]
        page.goto(gw.url)
        showing(page, second).wait_for(timeout=30_000)
        assert showing(page, second).count() == 1 and showing(page, first).count() == 0
        wait_until(delivered(sessions, second_id), "delivered")

        # Another tab takes the third while this one is closed: this one, opened again,
        # still shows it (it starts after the last it showed), and nothing it showed.
        page.goto("about:blank")
        third = run_the_reminders_job(sessions, linked, days_before=7)
        third_id = outbox_rows(sessions)[-1][0]
        other = context.new_page()
        other.goto(gw.url)
        showing(other, third).wait_for(timeout=30_000)
        assert [showing(other, t).count() for t in (first, second, third)] == [0, 0, 1]
        wait_until(delivered(sessions, third_id), "delivered")
        other.close()
        page.goto(gw.url)
        showing(page, third).wait_for(timeout=30_000)
        assert [showing(page, t).count() for t in (first, second, third)] == [0, 0, 1]

        # A row sent to the page whose marking was lost (the page went away as it was
        # sent) is sent again, before the next one: the page does not show it twice.
        page.goto("about:blank")
        with transaction(sessions) as session:
            session.execute(update(Outbox).where(Outbox.id == third_id).values(status="pending"))
        fourth = run_the_reminders_job(sessions, linked, days_before=1)
        page.goto(gw.url)
        showing(page, fourth).wait_for(timeout=30_000)
        assert [showing(page, t).count() for t in (first, second, third, fourth)] == [0, 0, 0, 1]
        wait_until(delivered(sessions, third_id), "sent again")
        assert [status for _i, status, _t in outbox_rows(sessions)] == ["delivered"] * 4

        page.screenshot(path=str(SCREENSHOTS / "webchat-reminder-after-reload.png"), full_page=True)
        browser.close()


def test_a_message_whose_answer_was_lost_is_sent_again_and_answered_once(
    stack: Stack, gateway_url: str, tmp_path: Path
) -> None:
    """The gateway answers, the connection breaks before the answer reaches the page: the
    page sends the message again with the same id and shows the one answer."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("Debian's chromium is not installed (make browser installs it)")
    from playwright.sync_api import Route, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        page = browser.new_page(locale="en-US")
        page.goto(gateway_url)
        # A first message, answered normally: it makes the session, which ids belong to
        # (a retry of the very first message cannot be recognised: its cookie was lost).
        page.fill("#text", "hello, a question about visas")
        page.press("#text", "Enter")
        bot_replies(page).first.wait_for(timeout=30_000)

        bodies: list[dict[str, object]] = []

        def lose_the_first_answer(route: Route) -> None:
            bodies.append(json.loads(route.request.post_data or "{}"))
            if len(bodies) == 1:
                route.fetch(timeout=60_000)  # the gateway gets it and answers...
                route.abort("connectionreset")  # ...and the page never sees the answer
            else:
                route.continue_()

        page.route("**/api/webchat/messages", lose_the_first_answer)
        before = bot_replies(page).count()
        page.fill("#text", "How do I extend my visa?")
        page.press("#text", "Enter")
        bot_replies(page).nth(before).wait_for(timeout=30_000)
        page.locator(".typing").wait_for(state="detached", timeout=30_000)

        assert len(bodies) == 2 and bodies[0] == bodies[1]
        assert bodies[0]["text"] == "How do I extend my visa?"
        assert isinstance(bodies[0]["id"], str) and len(bodies[0]["id"]) == 36  # a UUID
        assert page.locator(".notice").count() == 0  # no "Network error"
        with messages_of(tmp_path) as messages:
            inbound = [text for direction, text in messages() if direction == "in"]
            outbound = [text for direction, text in messages() if direction == "out"]
        assert inbound == ["hello, a question about visas", "How do I extend my visa?"]
        # Every reply the gateway made is on the page once: none was made twice.
        assert bot_replies(page).count() == len(outbound)
        browser.close()


@contextmanager
def messages_of(tmp_path: Path) -> Iterator[Callable[[], list[tuple[str, str]]]]:
    """The messages in the database of ``gateway_url``: (direction, text), oldest first."""
    from bot.db.models import Message

    engine = make_engine(f"sqlite:///{tmp_path / 'browser.db'}")
    sessions = make_sessionmaker(engine)

    def messages() -> list[tuple[str, str]]:
        with sessions() as s:
            rows = s.execute(select(Message.direction, Message.text).order_by(Message.id))
            return [(direction, text) for direction, text in rows]

    try:
        yield messages
    finally:
        engine.dispose()
