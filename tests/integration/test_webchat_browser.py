"""The web chat in a real browser (Debian's chromium, driven by Playwright), against the
real gateway, Rasa server and action server: Arabic right to left, buttons, escaping."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
import yaml

from bot.db import upgrade
from bot.gateway import create_app
from bot.settings import Settings
from tests.helpers import free_port
from tests.integration.conftest import Stack

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
        page.wait_for_function("document.querySelectorAll('.msg.bot:not(.typing)').length >= 2")
        officer = page.locator(".msg.bot:not(.typing)").last
        assert zh["faq_accommodation_registration"]["title"].strip() in officer.inner_text()

        # Markup typed by a user is shown as text and never becomes HTML.
        page.fill("#text", '<img src=x onerror="window.pwned=1"> **hi**')
        page.press("#text", "Enter")
        page.wait_for_function("document.querySelectorAll('.msg.bot:not(.typing)').length >= 3")
        assert (
            page.locator(".msg.user").last.inner_text()
            == '<img src=x onerror="window.pwned=1"> **hi**'
        )
        assert page.locator("main img").count() == 0
        assert page.evaluate("window.pwned") is None

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "webchat-ar.png"), full_page=True)
        browser.close()
