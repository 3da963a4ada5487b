"""The handoff end to end: the real Rasa server and action server, the real gateway, the
web chat in real browser pages (Debian's chromium, Playwright), Telegram through the
real python-telegram-bot client against the fake Bot API, and a member of staff in the
console in another browser page.

A user in each of the six languages asks for a person in their own words, then writes
three more messages that the bot does not answer; so does a Telegram user. Staff log in,
take each chat and reply: the reply reaches the open web chat page (pushed) and the
Telegram chat. Staff hand the chats back: the users are told so, may rate the help, and
the bot answers the next message again. Markup a user wrote never runs in the console.
"""

from __future__ import annotations

import html
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import uvicorn
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.answers.office import load_office
from bot.db import make_engine, make_sessionmaker, transaction, upgrade
from bot.db.models import ChatIdentity, Handoff, Message, StaffSession
from bot.i18n import gettext
from bot.settings import Settings
from bot.staff import accounts
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import free_port, serving
from tests.integration.conftest import Stack

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.integration, pytest.mark.browser]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
SCREENSHOTS = Path(os.environ.get("EXPATBOT_SCREENSHOTS", "var/screenshots"))
TOKEN = "9090:handoff-e2e"
PASSWORD = "staff password for the test"
# How users of each language ask for a person, in their own words (not training data).
ASK = {
    "en": "I want to talk to a real person",
    "zh": "我想和工作人员谈谈",
    "ar": "أريد التحدث مع موظف",
    "ru": "Я хочу поговорить с сотрудником",
    "fr": "Je voudrais parler à un agent",
    "es": "Quiero hablar con una persona",
}
MORE = {
    "en": [
        "My visa ends on Friday",
        '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>',
        "are you there?",
    ],
    "zh": ["我的签证周五到期", "我在等", "有人吗？"],
    "ar": ["تأشيرتي تنتهي يوم الجمعة", "أنا أنتظر", "هل من أحد؟"],
    "ru": ["Моя виза заканчивается в пятницу", "/start", "/help"],
    "fr": ["Mon visa expire vendredi", "restart", "vous êtes là ?"],
    "es": ["Mi visado vence el viernes", "sigo esperando", "¿hay alguien?"],
}  # fmt: skip


@dataclass
class Gateway:
    url: str
    fake: FakeTelegram
    sessions: sessionmaker[Session]
    locales: Path


@pytest.fixture
def gateway(stack: Stack, tmp_path: Path) -> Iterator[Gateway]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("Debian's chromium is not installed (make browser installs it)")
    db = f"sqlite:///{tmp_path / 'handoff.db'}"
    upgrade(db)
    engine = make_engine(db)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as s:
        accounts.add(s, name="li.wei", role="agent", password=PASSWORD, language="en")
    fake = FakeTelegram(TOKEN)
    port = free_port()
    tg = uvicorn.Server(uvicorn.Config(fake.app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=tg.run, daemon=True)
    thread.start()
    while not tg.started:
        time.sleep(0.05)
    settings = Settings(  # type: ignore[call-arg]
        DATABASE_URL=db,
        RASA_URL=stack.rasa_url,
        EXPATBOT_LOCALES=str(stack.locales),
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_BASE_URL=f"http://127.0.0.1:{port}/bot",
        STAFF_LANGUAGE="en",
    )
    try:
        with serving(settings) as url:
            yield Gateway(url.rstrip("/"), fake, sessions, stack.locales)
    finally:
        tg.should_exit = True
        thread.join(10)
        engine.dispose()


def wait_until(check: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def queued_notice(lang: str, position: int, locales: Path) -> str:
    office = load_office(locales / "office.yml")
    hotline = office["immigration_hotline"] or ""
    unknown = gettext(lang, texts.NOT_PUBLISHED, hotline=hotline)
    return gettext(
        lang, texts.HANDOFF_HOURS_UNKNOWN, hotline=hotline, hours=unknown, position=position
    )


def bot_messages(page: Page) -> list[str]:
    """The texts of the assistant's messages on the page (without their buttons)."""
    bodies = page.locator(".msg.bot:not(.typing) > div:first-child")
    return [t.strip() for t in bodies.all_inner_texts()]


def send(page: Page, text: str) -> None:
    before = page.locator(".msg.user").count()
    page.fill("#text", text)
    page.press("#text", "Enter")
    page.locator(".msg.user").nth(before).wait_for(timeout=30_000)
    # Until the page has its answer (the typing bubble appears only once the page's
    # session is made, so waiting for it to go could pass before it came).
    page.locator('#log[aria-busy="false"]').wait_for(state="attached", timeout=60_000)


def sent_texts(gw: Gateway) -> list[str]:
    """What the bot sent on Telegram, as the user reads it (sent as escaped HTML)."""
    return [html.unescape(m["text"]) for m in gw.fake.sent("sendMessage")]


def statuses(gw: Gateway, identity_id: int) -> list[str]:
    with gw.sessions() as s:
        return list(
            s.scalars(
                select(Message.status)
                .where(Message.identity_id == identity_id, Message.direction == "in")
                .order_by(Message.id)
            )
        )


def identity_of(gw: Gateway, handoff_order: int) -> ChatIdentity:
    with gw.sessions() as s:
        handoff = s.scalars(select(Handoff).order_by(Handoff.id)).all()[handoff_order]
        identity = s.get(ChatIdentity, handoff.identity_id)
        assert identity is not None
        return identity


def rasa_turns(stack: Stack, sender: str) -> int:
    events = httpx.get(
        f"{stack.rasa_url}/conversations/{sender}/tracker", params={"token": stack.token}
    ).json()["events"]
    return sum(1 for e in events if e.get("event") == "user")


def log_in(browser: Browser, url: str) -> Page:
    staff = browser.new_page()
    staff.goto(f"{url}/staff/login")
    staff.fill("input[name=name]", "li.wei")
    staff.fill("input[name=password]", PASSWORD)
    staff.click("form.login button[type=submit]")
    staff.wait_for_url("**/staff/queue**")
    return staff


def test_the_handoff_end_to_end_in_six_languages_and_on_telegram(
    stack: Stack, gateway: Gateway
) -> None:
    from playwright.sync_api import sync_playwright

    gw = gateway
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        users: dict[str, Page] = {}
        # Each user asks for a person in their own words, through the real Rasa.
        for position, (lang, ask) in enumerate(ASK.items(), start=1):
            context = browser.new_context(locale=lang, extra_http_headers={"Accept-Language": lang})
            page = context.new_page()
            page.goto(gw.url + "/")
            send(page, ask)
            assert bot_messages(page) == [queued_notice(lang, position, gw.locales)], lang
            for text in MORE[lang]:
                send(page, text)
            assert len(bot_messages(page)) == 1, f"{lang}: the bot answered while a person had it"
            users[lang] = page
        # A Telegram user too.
        gw.fake.push_text(4242, "I want to talk to a real person", language_code="en")
        wait_until(lambda: len(gw.fake.sent("sendMessage")) >= 1, "the Telegram queue notice")
        assert sent_texts(gw)[0] == queued_notice("en", 7, gw.locales)
        for text in ("hello?", "/start", "I am still here"):
            gw.fake.push_text(4242, text, language_code="en")
        telegram = identity_of(gw, 6)
        wait_until(lambda: len(statuses(gw, telegram.id)) == 4, "the Telegram messages stored")
        wait_until(lambda: statuses(gw, telegram.id)[1:] == ["with_staff"] * 3, "with staff")
        assert len(gw.fake.sent("sendMessage")) == 1
        # Everything went to staff, and Rasa was asked once per chat: for the request.
        chats = [identity_of(gw, i) for i in range(7)]
        for identity in chats:
            assert statuses(gw, identity.id) == ["answered"] + ["with_staff"] * 3
            assert rasa_turns(stack, identity.public_id) == 1
        # Staff log in, take each chat and reply.
        staff = log_in(browser, gw.url)
        for lang, identity in zip([*users, "tg"], chats, strict=True):
            staff.goto(f"{gw.url}/staff/chats/{identity.id}")
            if lang == "en":  # what the user typed is shown as text, never run
                assert staff.evaluate("window.pwned") is None
                shown = staff.locator("#transcript .line-user .text").all_inner_texts()
                assert MORE["en"][1] in shown
            staff.click("form.take button[type=submit]")
            staff.locator("#reply-text").wait_for()
            staff.fill("#reply-text", f"Staff reply for {lang}: we are checking your case.")
            staff.click("form.reply button[type=submit]")
            staff.locator("#transcript .line-staff").first.wait_for(timeout=30_000)
        for lang, page in users.items():
            reply = f"Staff reply for {lang}: we are checking your case."
            page.locator(".msg.bot", has_text=reply).wait_for(timeout=30_000)  # pushed
        wait_until(
            lambda: any("Staff reply for tg" in t for t in sent_texts(gw)),
            "the staff reply on Telegram",
        )
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        staff.screenshot(path=str(SCREENSHOTS / "console-chat.png"), full_page=True)
        # Staff hand the chats back; the users are told so and may rate the help.
        for identity in chats:
            staff.goto(f"{gw.url}/staff/chats/{identity.id}")
            staff.click("form.handback button[type=submit]")
            staff.wait_for_url(f"**/staff/chats/{identity.id}**")
        for lang, page in users.items():
            back = gettext(lang, texts.HANDOFF_HANDED_BACK)
            page.locator(".msg.bot", has_text=back).wait_for(timeout=30_000)
        es = users["es"]
        es.locator(".msg.bot button", has_text="★★★★★").last.click()
        es.locator(".msg.bot", has_text=gettext("es", texts.RATING_THANKS)).wait_for(timeout=30_000)
        users["es"].screenshot(path=str(SCREENSHOTS / "webchat-handoff-es.png"), full_page=True)
        # The bot answers the next message again (the real Rasa).
        answers = yaml.safe_load((gw.locales / "es" / "answers.yml").read_text(encoding="utf-8"))
        send(es, "¿Dónde está el centro de servicios?")
        title = answers["faq_service_center"]["title"].strip()
        assert any(m.startswith(title) for m in bot_messages(es))
        wait_until(
            lambda: gettext("en", texts.HANDOFF_HANDED_BACK) in sent_texts(gw),
            "the hand-back notice on Telegram",
        )
        sent_before = len(gw.fake.sent("sendMessage"))
        gw.fake.push_text(4242, "How do I extend my visa?", language_code="en")
        en = yaml.safe_load((gw.locales / "en" / "answers.yml").read_text(encoding="utf-8"))
        wait_until(
            lambda: any(
                t.startswith(en["faq_visa_extension"]["title"].strip())
                for t in sent_texts(gw)[sent_before:]
            ),
            "the bot's answer on Telegram after the hand-back",
        )
        with gw.sessions() as s:
            rated = s.scalar(select(Handoff.rating).where(Handoff.identity_id == chats[5].id))
        assert rated == 5
        browser.close()


def test_what_staff_were_typing_survives_an_expired_session(stack: Stack, gateway: Gateway) -> None:
    from playwright.sync_api import sync_playwright

    gw = gateway
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        user = browser.new_page()
        user.goto(gw.url + "/")
        send(user, "I want to talk to a real person")
        identity = identity_of(gw, 0)
        staff = log_in(browser, gw.url)
        staff.goto(f"{gw.url}/staff/chats/{identity.id}")
        staff.click("form.take button[type=submit]")
        draft = "Dear user, your documents are complete; you can come on Monday."
        staff.fill("#reply-text", draft)
        with transaction(gw.sessions) as s:  # the session ends while they type
            for row in s.scalars(select(StaffSession)):
                s.delete(row)
        staff.click("form.reply button[type=submit]")
        staff.wait_for_url("**/staff/login**")
        staff.fill("input[name=name]", "li.wei")
        staff.fill("input[name=password]", PASSWORD)
        staff.click("form.login button[type=submit]")
        staff.wait_for_url(f"**/staff/chats/{identity.id}**")
        assert staff.input_value("#reply-text") == draft
        with gw.sessions() as s:  # nothing was sent meanwhile
            assert s.scalars(select(Message).where(Message.author == "staff")).all() == []
        browser.close()
