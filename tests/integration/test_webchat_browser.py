"""The web chat in a real browser (Debian's chromium, driven by Playwright), against the
real gateway, Rasa server and action server: Arabic right to left, buttons, escaping."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import uvicorn
import yaml

from bot.app import create_app
from bot.db import upgrade
from bot.settings import Settings
from tests.helpers import free_port
from tests.integration.conftest import Stack

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

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
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(10)


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
