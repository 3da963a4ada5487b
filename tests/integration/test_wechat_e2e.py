"""WeChat end to end: the real gateway (create_app, served over HTTP) with WeChat on in
safe mode, the real Rasa server and action server, and a fake of WeChat's servers that
speaks its protocol over HTTP (tests/fakes/wechat_api.py): callbacks signed and
encrypted as WeChat does, answered through the customer-service API.

A follower in each of the six languages asks a policy question; one links their card
and asks for their visa, then gets a visa reminder as a template message once the
48-hour window has closed; one asks for a person and gets a reply that staff send from
the console; one files a complaint with a photo downloaded through the media API."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest
import yaml
from PIL import Image
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.app import create_app
from bot.db import make_engine, make_sessionmaker, transaction
from bot.db.models import (
    ChatIdentity,
    Evidence,
    Outbox,
    Reminder,
    Resident,
    Ticket,
    WeChatWindow,
    utcnow,
)
from bot.jobs.reminders import run_reminders
from bot.settings import Settings
from bot.staff import accounts
from tests.fakes import wechat_api as wx
from tests.fakes.wechat_api import FakeWeChat, WeChatUser
from tests.helpers import free_port
from tests.integration.conftest import Stack
from tests.integration.test_tickets_e2e import POLICY, ui
from tests.people import AHMED
from tests.telegram_rig import serve
from tests.unit.test_console import csrf_of, submit_login

pytestmark = pytest.mark.integration
TEMPLATE = "visa-reminder-template-01"
PASSWORD = "staff password for the wechat test"


@dataclass
class Gateway:
    url: str
    fake: FakeWeChat
    client: httpx.AsyncClient
    sessions: sessionmaker[Session]
    stack: Stack


@asynccontextmanager
async def wechat_gateway(stack: Stack) -> AsyncIterator[Gateway]:
    """The gateway on the stack's database (the action server reads the registry and
    writes tickets there), with WeChat on in safe mode, pointed at the fake."""
    fake = FakeWeChat()
    fake.add_template(TEMPLATE)
    wx_server, wx_task = await serve(fake.app, free_port())
    config = Settings(  # type: ignore[call-arg]
        DATABASE_URL=stack.database_url,
        RASA_URL=stack.rasa_url,
        EXPATBOT_LOCALES=str(stack.locales),
        WECHAT_APP_ID=wx.APP_ID,
        WECHAT_APP_SECRET=wx.APP_SECRET,
        WECHAT_TOKEN=wx.CALLBACK_TOKEN,
        WECHAT_ENCODING_AES_KEY=wx.AES_KEY,
        WECHAT_API_BASE_URL=f"http://127.0.0.1:{wx_server.config.port}",
        WECHAT_TEMPLATE_REMINDER=TEMPLATE,
        STAFF_LANGUAGE="en",
        # The reminders job is run by the test itself, when it wants it.
        EXPATBOT_GATEWAY_JOBS="false",
    )
    gw_server, gw_task = await serve(create_app(config), free_port())
    url = f"http://127.0.0.1:{gw_server.config.port}"
    engine = make_engine(stack.database_url)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield Gateway(url, fake, client, make_sessionmaker(engine), stack)
    finally:
        gw_server.should_exit = True
        await gw_task
        wx_server.should_exit = True
        await wx_task
        engine.dispose()


@dataclass
class Follower:
    """A WeChat user writing to the account, and what the account sent them."""

    gw: Gateway
    user: WeChatUser = field(default_factory=WeChatUser)
    seen: int = 0

    def _mine(self) -> list[str]:
        return [str(m.content) for m in self.gw.fake.messages if m.openid == self.user.openid]

    async def replies(self, count: int, timeout: float = 90) -> list[str]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self._mine()) < self.seen + count:
            if loop.time() > deadline:
                raise AssertionError(f"wanted {count} more, got {self._mine()[self.seen :]}")
            await asyncio.sleep(0.05)
        new = self._mine()[self.seen : self.seen + count]
        self.seen += count
        return new

    async def push(self, xml: str) -> None:
        resp = await wx.post_encrypted(
            self.gw.client, xml, wx.CALLBACK_TOKEN, wx.AES_KEY, wx.APP_ID
        )
        assert (resp.status_code, resp.text) == (200, "success")

    async def say(self, text: str, count: int = 1) -> list[str]:
        await self.push(self.user.text(text))
        return await self.replies(count)

    def identity(self) -> ChatIdentity:
        with self.gw.sessions() as s:
            found = s.scalar(
                select(ChatIdentity).where(
                    ChatIdentity.channel == "wechat", ChatIdentity.external_id == self.user.openid
                )
            )
            assert found is not None
            s.expunge(found)
            return found


async def test_a_follower_in_each_language_gets_the_policy_answer(stack: Stack) -> None:
    async with wechat_gateway(stack) as gw:
        followers = {lang: Follower(gw) for lang in POLICY}
        for lang, question in POLICY.items():
            await followers[lang].push(followers[lang].user.text(question))
        for lang, follower in followers.items():
            answers = yaml.safe_load(
                (stack.locales / lang / "answers.yml").read_text(encoding="utf-8")
            )
            (first, *_rest) = await follower.replies(1)
            title = answers["faq_visa_extension"]["title"].strip()
            assert title in first, (lang, first[:200])
            assert "**" not in first and "\n- " not in first  # plain text, no markup
            assert follower.identity().language == lang
        # A new follower is welcomed in the language WeChat's user info gives, with the
        # help menu as a numbered choice.
        newcomer = Follower(gw)
        gw.fake.languages[newcomer.user.openid] = "ar"
        await newcomer.push(newcomer.user.subscribe(scene="center-desk-3"))
        (welcome,) = await newcomer.replies(1)
        assert welcome == ui("ar", texts.GREETING) + "\n\n1. " + ui("ar", texts.MENU)
        # Every reply went through the customer-service API with the one shared token.
        assert gw.fake.issued == 1


async def test_a_follower_links_their_card_asks_for_the_visa_and_gets_a_reminder(
    stack: Stack,
) -> None:
    async with wechat_gateway(stack) as gw:
        me = Follower(gw)
        intro, ask = await me.say("/link", 2)
        assert intro == ui("en", texts.LINK_INTRO)
        # Its Cancel button, as a numbered choice.
        assert ask == ui("en", texts.ASK_CARD) + "\n\n1. " + ui("en", texts.CANCEL)
        await me.say(AHMED.card)
        (linked,) = await me.say("1985-04-03")
        assert linked.startswith(ui("en", texts.LINKED) + "\n\n1. ")
        # The menu's "My visa" item: a CLICK event, its key pressed as a button.
        await me.push(me.user.click("/check_visa_status"))
        (visa,) = await me.replies(1)
        assert AHMED.document[-4:] in visa and AHMED.passport not in visa
        # 48 hours pass: a reminder now goes as a template message, not a custom one.
        past = utcnow() - dt.timedelta(minutes=1)
        with transaction(gw.sessions) as s:
            s.execute(
                update(WeChatWindow)
                .where(WeChatWindow.openid == me.user.openid)
                .values(message_until=past, event_until=past)
            )
            ahmed = s.scalars(select(Resident).where(Resident.full_name == AHMED.name)).one()
            # Today's reminders may have gone already (another test's gateway ran the job
            # on this database): this one is due again, and only for this chat; other
            # tests' chats linked to Ahmed are left alone.
            s.execute(delete(Reminder).where(Reminder.resident_id == ahmed.id))
            others = s.scalars(
                update(ChatIdentity)
                .where(
                    ChatIdentity.resident_id == ahmed.id,
                    ChatIdentity.external_id != me.user.openid,
                    ChatIdentity.reminders_enabled.is_(True),
                )
                .values(reminders_enabled=False)
                .returning(ChatIdentity.id)
            ).all()
        try:
            summary = await run_reminders(gw.sessions, today=dt.date.today())
        finally:
            with transaction(gw.sessions) as s:
                s.execute(
                    update(ChatIdentity)
                    .where(ChatIdentity.id.in_(others))
                    .values(reminders_enabled=True)
                )
        assert summary.queued >= 1
        (sent,) = await gw.fake.wait_for("message/template/send", 1, timeout=30)
        assert sent["touser"] == me.user.openid and sent["template_id"] == TEMPLATE
        reminder = sent["data"]["first"]["value"]
        assert AHMED.document[-4:] in reminder
        assert len(me._mine()) == me.seen  # nothing through the closed window


async def test_a_follower_asks_for_a_person_and_staff_reply_from_the_console(
    stack: Stack,
) -> None:
    name = f"wx.agent.{free_port()}"
    async with wechat_gateway(stack) as gw:
        with transaction(gw.sessions) as s:
            accounts.add(s, name=name, role="agent", password=PASSWORD, language="en")
        me = Follower(gw)
        queued = await me.say("Я хочу поговорить с сотрудником")
        assert queued[0]  # told, in Russian, that a person will answer
        identity = me.identity()
        assert identity.mode == "queued"
        async with httpx.AsyncClient(base_url=gw.url, timeout=30) as browser:
            assert (await submit_login(browser, name, PASSWORD)).status_code == 303
            page = await browser.get(f"/staff/chats/{identity.id}")
            assert page.status_code == 200
            csrf = csrf_of(page.text)
            took = await browser.post(f"/staff/chats/{identity.id}/take", data={"csrf": csrf})
            assert took.status_code in (200, 303)
            reply = "Здравствуйте! Принесите паспорт в центр, окно 3."
            sent = await browser.post(
                f"/staff/chats/{identity.id}/reply",
                data={"csrf": csrf, "text": reply, "key": f"wx-{identity.id}"},
            )
            assert sent.status_code in (200, 303)
            (got,) = await me.replies(1)
            assert reply in got
            # While a person has the chat, what the user writes is theirs, not Rasa's.
            await me.push(me.user.text("Спасибо, приду завтра"))
            await asyncio.sleep(1.0)
            assert len(me._mine()) == me.seen


def photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(out, "JPEG")
    return out.getvalue()


async def test_a_follower_files_a_complaint_with_a_photo(stack: Stack) -> None:
    async with wechat_gateway(stack) as gw:
        me = Follower(gw)
        opened = await me.say("I want to file a complaint against a supplier", 2)
        assert opened[0] == ui("en", texts.TICKET_INTRO)
        # The kinds are numbered choices: the number of "Supplier" presses it.
        kinds = re.findall(r"^(\d+)\. (.+)$", opened[1], flags=re.M)
        supplier = next(n for n, title in kinds if "upplier" in title)
        await me.say(supplier)
        for answer in ("Golden Star Trading Co.", "skip",
                       "They shipped 300 red umbrellas instead of blue ones.",
                       "2026-10-20", "2,500.50 USD"):  # fmt: skip
            await me.say(answer)
        (evidence_question,) = await me.say("replacement")
        assert evidence_question.startswith(
            ui("en", texts.ASK_TICKET_EVIDENCE, files=10, mb=10)[:12]
        )
        # An image WeChat no longer has (its download fails): said so, the form goes on.
        await me.push(me.user.image("expired-media-id-000"))
        (failed,) = await me.replies(1)
        assert failed.startswith(ui("en", texts.EVIDENCE_UNAVAILABLE))
        media_id = gw.fake.add_media(photo(), "image/jpeg")
        await me.push(me.user.image(media_id))
        (received,) = await me.replies(1)
        assert received.startswith(ui("en", texts.EVIDENCE_RECEIVED) + "\n\n1. ")
        assert any(path == "/cgi-bin/media/get" for path, _ in gw.fake.calls)
        (summary,) = await me.say("done")
        assert summary.startswith(ui("en", texts.TICKET_SUMMARY))
        choices = dict((title, n) for n, title in re.findall(r"^(\d+)\. (.+)$", summary, re.M))
        (done,) = await me.say(choices[ui("en", texts.SUBMIT)])
        with gw.sessions() as s:
            ticket = s.scalars(select(Ticket).where(Ticket.identity_id == me.identity().id)).one()
            files = s.scalars(select(Evidence).where(Evidence.ticket_id == ticket.id)).all()
        assert ticket.status == "submitted" and str(ticket.number) in done
        assert len(files) == 1
        # Bad inputs a WeChat user can send: each a clear reply, nothing lost.
        assert await me.say("") == [ui("en", texts.EMPTY_MESSAGE)]
        await me.push(me.user.location(29.31, 120.07, label="Yiwu"))
        await me.push(me.user.link("Our shop", "see", "https://example.org/"))
        await me.push(me.user.unknown())
        await me.push(me.user.voice("voice-media-01"))  # no speech recognition result
        await me.push(me.user.video("video-media-01"))
        said = await me.replies(5)
        assert all(line == ui("en", texts.UNSUPPORTED_MEDIA) for line in said)
        with gw.sessions() as s:
            waiting = s.scalars(
                select(Outbox.status).where(Outbox.identity_id == me.identity().id)
            ).all()
        assert set(waiting) <= {"delivered", "pending", "sending"}
