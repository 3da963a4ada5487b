"""A complaint in real browser pages (Debian's chromium, Playwright), against the real Rasa
server and action server: a user files it in the web chat with three photos attached
through the page's file button; a member of staff finds it in the console, sees the
photos, takes it, changes its status, replies, marks it resolved; each step is pushed to
the user's open page, in French, and the user confirms that it is resolved."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.db import make_engine, make_sessionmaker, transaction
from bot.db.models import Evidence, Ticket
from bot.i18n import gettext
from bot.settings import Settings
from bot.staff import accounts
from bot.tickets import notify
from tests.helpers import serving
from tests.integration.conftest import Stack

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [pytest.mark.integration, pytest.mark.browser]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
SCREENSHOTS = Path(os.environ.get("EXPATBOT_SCREENSHOTS", "var/screenshots"))
PASSWORD = "staff password for the test"
LANG = "fr"


@dataclass
class Gateway:
    url: str
    sessions: sessionmaker[Session]


@pytest.fixture
def gateway(stack: Stack) -> Iterator[Gateway]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("Debian's chromium is not installed (make browser installs it)")
    engine = make_engine(stack.database_url)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as s:
        if accounts.find(s, name="chen.jing") is None:
            accounts.add(s, name="chen.jing", role="agent", password=PASSWORD, language="en")
    settings = Settings(  # type: ignore[call-arg]
        DATABASE_URL=stack.database_url,
        RASA_URL=stack.rasa_url,
        EXPATBOT_LOCALES=str(stack.locales),
        STAFF_LANGUAGE="en",
    )
    try:
        with serving(settings) as url:
            yield Gateway(url.rstrip("/"), sessions)
    finally:
        engine.dispose()


def ui(msgid: str, **params: object) -> str:
    return gettext(LANG, msgid, hotline="12367", **params)


def bot_texts(page: Page) -> list[str]:
    bodies = page.locator(".msg.bot:not(.typing) > div:first-child")
    return [t.strip() for t in bodies.all_inner_texts()]


def wait_for_bot(page: Page, count: int) -> None:
    page.locator(".msg.bot:not(.typing)").nth(count - 1).wait_for(timeout=60_000)
    page.locator(".msg.bot.typing").wait_for(state="detached", timeout=60_000)


def type_text(page: Page, text: str) -> None:
    before = page.locator(".msg.bot:not(.typing)").count()
    page.fill("#text", text)
    page.press("#text", "Enter")
    wait_for_bot(page, before + 1)


def press(page: Page, title: str) -> None:
    before = page.locator(".msg.bot:not(.typing)").count()
    page.locator(".msg.bot .buttons button", has_text=title).last.click()
    wait_for_bot(page, before + 1)


def photos(folder: Path) -> list[str]:
    paths = []
    for i, colour in enumerate(("red", "green", "blue"), start=1):
        path = folder / f"preuve-{i}.jpg"
        image = Image.new("RGB", (640, 480), colour)
        exif = Image.Exif()
        exif[0x8825] = {1: "N", 2: (29.0, 18.0, 0.0)}  # GPS: a place in Yiwu
        out = io.BytesIO()
        image.save(out, "JPEG", exif=exif)
        path.write_bytes(out.getvalue())
        paths.append(str(path))
    return paths


def test_a_complaint_with_photos_filed_in_the_page_and_worked_in_the_console(
    gateway: Gateway, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    gw = gateway
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(locale=LANG, extra_http_headers={"Accept-Language": LANG})
        user = context.new_page()
        user.goto(gw.url + "/")
        type_text(user, "Je veux déposer une réclamation contre un fournisseur")
        assert bot_texts(user)[-2:] == [ui(texts.TICKET_INTRO), ui(texts.ASK_TICKET_KIND)]
        press(user, ui(texts.KIND_SUPPLIER))
        type_text(user, "Usine Hongda")
        press(user, ui(texts.SKIP))
        type_text(user, "Les parapluies sont arrivés cassés et l'usine refuse de les reprendre.")
        type_text(user, "2026-11-02")
        type_text(user, "2 500,50 €")
        press(user, ui(texts.WANT_REFUND))
        assert bot_texts(user)[-1].startswith(ui(texts.ASK_TICKET_EVIDENCE, files=10, mb=10)[:20])
        before = user.locator(".msg.bot:not(.typing)").count()
        user.set_input_files("#file", photos(tmp_path))
        wait_for_bot(user, before + 3)
        assert bot_texts(user)[-3:] == [ui(texts.EVIDENCE_RECEIVED)] * 3
        press(user, ui(texts.DONE))
        assert ui(texts.LABELLED, label=ui(texts.LABEL_FILES), value=3) in bot_texts(user)[-1]
        press(user, ui(texts.SUBMIT))
        with gw.sessions() as s:
            ticket = s.scalars(select(Ticket).order_by(Ticket.id.desc())).first()
            assert ticket is not None and ticket.status == "submitted"
            files = s.scalars(select(Evidence).where(Evidence.ticket_id == ticket.id)).all()
        number = str(ticket.number)
        assert bot_texts(user)[-1] == ui(texts.TICKET_SUBMITTED, number=number, hours=24)
        assert (ticket.amount, ticket.currency, len(files)) == ("2500.50", "EUR", 3)
        user.screenshot(path=str(SCREENSHOTS / "webchat-ticket-fr.png"), full_page=True)

        # A member of staff works it in the console.
        staff = browser.new_page()
        staff.goto(f"{gw.url}/staff/login")
        staff.fill("input[name=name]", "chen.jing")
        staff.fill("input[name=password]", PASSWORD)
        staff.click("form.login button[type=submit]")
        staff.wait_for_url("**/staff/**")
        staff.goto(f"{gw.url}/staff/tickets")
        staff.locator("a", has_text=number).first.click()
        staff.wait_for_url(f"**/staff/tickets/{ticket.id}**")
        images = staff.locator("ul.evidence img")
        assert images.count() == 3
        for i in range(3):  # the photos load, for staff with the right role
            assert staff.evaluate("(img) => img.naturalWidth", images.nth(i).element_handle()) > 0
        staff.click("form.take button[type=submit]")
        seen = len(bot_texts(user))

        def step(to: str, told: str) -> None:
            nonlocal seen
            staff.select_option("#status-to", to)
            staff.click("form.status-change button[type=submit]")
            staff.wait_for_url(f"**/staff/tickets/{ticket.id}**")
            user.locator(".msg.bot", has_text=told[:40]).last.wait_for(timeout=30_000)
            seen += 1

        step("in_progress", ui(texts.TICKET_NOW, number=number,
                               status=notify.status_label(LANG, "in_progress")))  # fmt: skip
        staff.fill("#reply-text", "Nous avons contacté l'usine ; elle accepte de rembourser.")
        staff.click("form.reply button[type=submit]")
        user.locator(".msg.bot", has_text="elle accepte de rembourser").wait_for(timeout=30_000)
        step("resolved", ui(texts.TICKET_NOW_RESOLVED, number=number, days=7))
        staff.screenshot(path=str(SCREENSHOTS / "console-ticket.png"), full_page=True)
        # The user confirms it is resolved, from the button of the pushed message.
        user.locator(".msg.bot .buttons button", has_text=ui(texts.CONFIRM_RESOLVED)).last.click()
        user.locator(".msg.bot", has_text=ui(texts.TICKET_NOW_CLOSED, number=number)).wait_for(
            timeout=30_000
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with gw.sessions() as s:
                if s.get(Ticket, ticket.id).status == "closed":  # type: ignore[union-attr]
                    break
            time.sleep(0.1)
        staff.reload()
        assert "closed" in staff.content().lower()
        browser.close()
    with gw.sessions() as s:
        assert s.get(Ticket, ticket.id).status == "closed"  # type: ignore[union-attr]
