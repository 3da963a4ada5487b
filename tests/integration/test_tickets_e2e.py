"""Dispute tickets end to end, against the real Rasa server and action server over HTTP:
a complaint filed in each of the six languages (one kind of dispute each), with evidence;
"cancel" in the middle of the form in every language; a policy question and a request
for a person in the middle of the form; and the user's own tickets afterwards."""

from __future__ import annotations

import asyncio
import html
import io
import itertools
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
import yaml
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.channels.webchat import WebChat
from bot.db import make_engine, make_sessionmaker, transaction
from bot.db.models import ChatIdentity, Evidence, Outbox, StaffUser, Ticket
from bot.i18n import gettext
from bot.messages import Attachment, Inbound, Outbound
from bot.nlu.rasa_runtime import domain_intents
from bot.pipeline.assistant import Assistant
from bot.pipeline.rasa_client import RasaClient
from bot.tickets import evidence, lifecycle, tickets
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import new_id
from tests.integration.conftest import Stack
from tests.integration.test_telegram_gateway import gateway_and_fake_telegram
from tests.people import registry_key

pytestmark = pytest.mark.integration
# Payloads of the form's buttons (actions/tickets.py): pressed, not typed.
BUTTONS = frozenset({
    "supplier", "landlord", "shop", "logistics", "other", "refund", "replacement",
    "deposit_back", "mediation", "skip", "done", "edit", "/affirm", "/deny",
})  # fmt: skip
_users = itertools.count()


@pytest.fixture
def stack_sessions(stack: Stack) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(stack.database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
async def live(stack: Stack, stack_sessions: sessionmaker[Session]) -> AsyncIterator[Assistant]:
    rasa = RasaClient(stack.rasa_url, token=stack.token, timeout_s=60)
    assistant = Assistant(
        sessions=stack_sessions, rasa=rasa, intents=domain_intents(), registry_key=registry_key()
    )
    WebChat(assistant)  # the web chat's uploads: its fetcher
    yield assistant
    await rasa.aclose()


def ui(lang: str, msgid: str, **params: object) -> str:
    return gettext(lang, msgid, hotline="12367", **params)


def photo(colour: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, "JPEG")
    return out.getvalue()


class Chat:
    def __init__(self, assistant: Assistant) -> None:
        self.assistant, self.user = assistant, f"tickets-{next(_users)}"

    async def say(self, text: str) -> list[Outbound]:
        return await self.assistant.handle(
            Inbound(message_id=new_id(), channel="webchat", external_id=self.user, text=text)
        )

    async def press(self, payload: str) -> list[Outbound]:
        """A button of the assistant's: its payload, as the channels send it."""
        return await self.assistant.handle(
            Inbound(
                message_id=new_id(), channel="webchat", external_id=self.user, text=payload,
                kind="button",
            )
        )  # fmt: skip

    async def texts(self, text: str) -> list[str]:
        """Typed text; the payloads of the form's buttons are pressed."""
        if text in BUTTONS:
            return [r.text for r in await self.press(text)]
        return [r.text for r in await self.say(text)]

    async def send_photo(self, data: bytes, name: str = "receipt.jpg") -> list[str]:
        ref = evidence.quarantine(data)
        replies = await self.assistant.handle(
            Inbound(
                message_id=new_id(), channel="webchat", external_id=self.user, kind="photo",
                attachment=Attachment(ref=ref, name=name, size=len(data)),
            )
        )  # fmt: skip
        return [r.text for r in replies]


@dataclass(frozen=True)
class Filing:
    """One user's complaint, in their own words, as the form asks for it."""

    lang: str
    opening: str
    kind: str
    answers: tuple[str, ...]  # party, (place,) contact, story, when, amount, wants
    amount: tuple[str | None, str | None]


FILINGS = [
    Filing("en", "I want to file a complaint against a supplier", "supplier",
           ("Golden Star Trading Co.", "skip",
            "They shipped 300 red umbrellas instead of blue ones and refuse to exchange them.",
            "2026-10-20", "2,500.50 USD", "replacement"), ("2500.50", "USD")),
    Filing("zh", "我要投诉房东", "landlord",
           ("王先生", "13800001111", "我十月搬走了，房东到现在不退押金，也不接电话。",
            "2026年11月2日", "5千元", "退还押金"), ("5000", "CNY")),
    Filing("ar", "أريد تقديم شكوى ضد محل", "shop",
           ("محل النور للأقمشة", "المنطقة 2، البوابة 7، الشارع 3، الكشك 12345", "skip",
            "دفعت ثمن البضاعة ولم أستلمها حتى الآن.", "2026-11-15", "١٥٠٠٠ دولار",
            "استرداد المبلغ"), ("15000", "USD")),
    Filing("ru", "Хочу подать жалобу на транспортную компанию", "logistics",
           ("Быстрая доставка", "skip", "Груз потерян в пути, компания не отвечает.",
            "вчера", "15 000 руб.", "refund"), ("15000", "RUB")),
    Filing("fr", "Je veux déposer une réclamation", "other",
           ("Agence de traduction Lumière", "skip",
            "Ils ont pris un acompte et n'ont jamais livré la traduction.",
            "2026-09-30", "skip", "mediation"), (None, None)),
    Filing("es", "Quiero presentar una reclamación contra un proveedor", "supplier",
           ("Fábrica Hongda", "skip", "La mercancía llegó rota y no quieren devolver el dinero.",
            "2026-11-01", "3000 USD", "reembolso"), ("3000", "USD")),
]  # fmt: skip


@pytest.mark.parametrize("filing", FILINGS, ids=[f.lang for f in FILINGS])
async def test_a_complaint_filed_in_each_language(
    live: Assistant, stack_sessions: sessionmaker[Session], filing: Filing
) -> None:
    lang = filing.lang
    chat = Chat(live)
    opened = await chat.texts(filing.opening)
    assert opened == [ui(lang, texts.TICKET_INTRO), ui(lang, texts.ASK_TICKET_KIND)]
    asked = await chat.texts(filing.kind)  # the button's payload
    assert asked == [ui(lang, texts.ASK_TICKET_PARTY)]
    for answer in filing.answers:
        replies = await chat.texts(answer)
        assert replies, answer
        assert ui(lang, texts.TICKETS_UNAVAILABLE) not in replies
    # Now the evidence question: two photos, then Done.
    assert replies[-1].startswith(ui(lang, texts.ASK_TICKET_EVIDENCE, files=10, mb=10)[:12])
    assert await chat.send_photo(photo("red")) == [ui(lang, texts.EVIDENCE_RECEIVED)]
    assert await chat.send_photo(photo("blue"), "contract.jpg") == [
        ui(lang, texts.EVIDENCE_RECEIVED)
    ]
    summary = await chat.press("done")
    assert summary[-1].text.startswith(ui(lang, texts.TICKET_SUMMARY))
    assert [b.payload for b in summary[-1].buttons] == ["/affirm", "edit", "/deny"]
    done = await chat.texts("/affirm")
    with stack_sessions() as s:
        identity = s.scalar(select(ChatIdentity).where(ChatIdentity.external_id == chat.user))
        assert identity is not None
        ticket = s.scalar(select(Ticket).where(Ticket.identity_id == identity.id))
        assert ticket is not None
        files = s.scalars(select(Evidence).where(Evidence.ticket_id == ticket.id)).all()
    assert done == [
        ui(
            lang,
            texts.TICKET_SUBMITTED,
            number=ticket.number,
            hours=24 if filing.kind != "other" else 48,
        )
    ]
    assert ticket.status == "submitted" and ticket.kind == filing.kind and ticket.language == lang
    assert (ticket.amount, ticket.currency) == filing.amount
    assert len(files) == 2
    # And the user follows it: /tickets lists it, in their language.
    listed = await chat.texts("/tickets")
    assert ticket.number in listed[0] and listed[0].startswith(ui(lang, texts.MY_TICKETS))


CANCEL = {"en": "cancel", "zh": "取消", "ar": "إلغاء", "ru": "отмена", "fr": "annuler",
          "es": "cancelar"}  # fmt: skip
OPEN = {f.lang: f.opening for f in FILINGS}
PARTY = {f.lang: f.answers[0] for f in FILINGS}


@pytest.mark.parametrize("lang", list(CANCEL))
async def test_cancel_in_the_middle_of_the_form(
    live: Assistant, stack_sessions: sessionmaker[Session], lang: str
) -> None:
    chat = Chat(live)
    await chat.texts(OPEN[lang])
    await chat.texts("supplier")
    assert await chat.texts(PARTY[lang]) == [ui(lang, texts.ASK_TICKET_CONTACT)]
    assert await chat.texts(CANCEL[lang]) == [ui(lang, texts.TICKET_CANCELLED)]
    with stack_sessions() as s:
        identity = s.scalar(select(ChatIdentity).where(ChatIdentity.external_id == chat.user))
        assert identity is not None
        assert s.scalar(select(Ticket).where(Ticket.identity_id == identity.id)) is None
    # The form is over: the next message is an ordinary one.
    assert await chat.texts("supplier") != [ui(lang, texts.ASK_TICKET_PARTY)]


async def test_a_policy_question_in_the_form_is_answered_and_the_form_goes_on(
    live: Assistant,
) -> None:
    chat = Chat(live)
    await chat.texts(OPEN["en"])
    await chat.texts("supplier")
    await chat.texts("Golden Star")
    assert await chat.texts("skip") == [ui("en", texts.ASK_TICKET_STORY)]
    replies = await chat.texts("How can I extend my visa?")
    assert len(replies) >= 2 and replies[-1] == ui("en", texts.ASK_TICKET_STORY)
    assert "visa" in replies[0].lower()
    # The description now is the answer: the next question is about the date.
    assert (await chat.texts("They never delivered."))[0].startswith(
        ui("en", texts.ASK_TICKET_WHEN, example="")[:20]
    )


async def test_a_photo_when_text_is_expected_is_kept_and_the_question_asked_again(
    live: Assistant, stack_sessions: sessionmaker[Session]
) -> None:
    chat = Chat(live)
    await chat.texts(OPEN["en"])
    await chat.texts("supplier")
    assert await chat.send_photo(photo()) == [
        ui("en", texts.EVIDENCE_KEPT),
        ui("en", texts.ASK_TICKET_PARTY),
    ]
    with stack_sessions() as s:
        assert s.scalar(select(Evidence).order_by(Evidence.id.desc())) is not None


async def test_asking_for_a_person_in_the_form_queues_the_chat(live: Assistant) -> None:
    chat = Chat(live)
    await chat.texts(OPEN["en"])
    await chat.texts("landlord")
    replies = await chat.say("I want to talk to a real person")
    assert replies and "queue" in replies[0].text.lower()


# --- Telegram: the real python-telegram-bot client against the fake Bot API ------------------


class TelegramUser:
    def __init__(self, fake: FakeTelegram, user_id: int) -> None:
        self.fake, self.user_id, self.seen = fake, user_id, 0

    def _mine(self) -> list[dict[str, object]]:
        return [m for m in self.fake.sent("sendMessage") if int(str(m["chat_id"])) == self.user_id]

    async def replies(self, count: int) -> list[dict[str, object]]:
        """The next ``count`` messages the bot sent this user."""
        deadline = asyncio.get_running_loop().time() + 60
        while len(self._mine()) < self.seen + count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(
                    f"wanted {count} more messages, got {self._mine()[self.seen :]}"
                )
            await asyncio.sleep(0.05)
        new = self._mine()[self.seen : self.seen + count]
        self.seen += count
        return new

    async def say(self, text: str, count: int = 1) -> list[str]:
        if text in BUTTONS:
            self.fake.push_button(self.user_id, text)
        else:
            self.fake.push_text(self.user_id, text, language_code="ru")
        return [str(m["text"]) for m in await self.replies(count)]


async def test_a_telegram_user_files_with_an_album_and_follows_the_ticket(
    stack: Stack, stack_sessions: sessionmaker[Session]
) -> None:
    """An album of five photos is one acknowledgement and five files on one ticket; staff's
    changes reach the chat; a user who blocked the bot is not written to until they write."""
    async with gateway_and_fake_telegram(stack.database_url, stack.rasa_url) as fake:
        user = TelegramUser(fake, 7301)
        lang = "ru"
        assert await user.say("Хочу подать жалобу на поставщика", 2) == [
            html.escape(ui(lang, texts.TICKET_INTRO)),
            html.escape(ui(lang, texts.ASK_TICKET_KIND)),
        ]
        for answer in ("supplier", "Фабрика Хунда", "skip", "Прислали бракованный товар.",
                       "2026-11-01", "3000 USD", "refund"):  # fmt: skip
            await user.say(answer)
        for i in range(5):
            fake.push_image(user.user_id, photo(["red", "green", "blue", "white", "black"][i]),
                            album="album-1")  # fmt: skip
        (ack,) = await user.replies(1)
        assert ack["text"] == html.escape(ui(lang, texts.EVIDENCE_RECEIVED))
        summary = await user.say("done")
        assert ui(lang, texts.LABELLED, label=ui(lang, texts.LABEL_FILES), value=5) in summary[0]
        assert len(fake.sent("getFile")) == 5  # one download per photo, the largest size
        (done,) = await user.say("/affirm")
        with stack_sessions() as s:
            identity = s.scalars(
                select(ChatIdentity).where(ChatIdentity.external_id == str(user.user_id))
            ).one()
            ticket = s.scalars(select(Ticket).where(Ticket.identity_id == identity.id)).one()
            assert (
                len(s.scalars(select(Evidence).where(Evidence.ticket_id == ticket.id)).all()) == 5
            )
        assert str(ticket.number) in done
        # Staff take it up: the user is told, in Russian, with what they can do next.
        change(stack_sessions, ticket.id, lifecycle.IN_PROGRESS)
        (told,) = await user.replies(1)
        assert told["text"] == html.escape(
            ui(lang, texts.TICKET_NOW, number=ticket.number,
               status=ui(lang, texts.TICKET_STATUS_IN_PROGRESS))
        )  # fmt: skip
        # The user blocks the bot: the next notice ends "blocked", the one after is not tried.
        fake.blocked.add(user.user_id)
        change(stack_sessions, ticket.id, lifecycle.WAITING_USER)
        await until_outbox(stack_sessions, identity.id, "blocked")
        user.seen += 1  # the fake logs the refused try too
        tried = len(fake.attempts)
        change(stack_sessions, ticket.id, lifecycle.IN_PROGRESS)
        await asyncio.sleep(1.5)
        assert len(fake.attempts) == tried
        # They unblock and write: written to again.
        fake.blocked.discard(user.user_id)
        await user.say("/tickets")
        change(stack_sessions, ticket.id, lifecycle.RESOLVED)
        (resolved,) = await user.replies(1)
        assert resolved["text"].startswith(
            html.escape(ui(lang, texts.TICKET_NOW_RESOLVED, number=ticket.number, days=7))[:30]
        )
        payloads = [
            b["callback_data"] for row in resolved["reply_markup"]["inline_keyboard"] for b in row
        ]  # type: ignore[index]
        assert payloads == [f"/ticket {ticket.number} ok", f"/ticket {ticket.number} reopen"]
        (closed,) = await user.say(f"/ticket {ticket.number} ok")
        assert closed == html.escape(ui(lang, texts.TICKET_NOW_CLOSED, number=ticket.number))
        with stack_sessions() as s:
            assert s.get(Ticket, ticket.id).status == "closed"  # type: ignore[union-attr]


def change(sessions: sessionmaker[Session], ticket_id: int, to: str) -> None:
    with transaction(sessions) as s:
        staff = s.scalar(select(StaffUser).where(StaffUser.name == "e2e.agent"))
        if staff is None:
            staff = StaffUser(name="e2e.agent", role="agent", password_hash="x")
            s.add(staff)
            s.flush()
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None
        tickets.change_status(s, ticket=ticket, to=to, actor="staff", staff=staff)


async def until_outbox(sessions: sessionmaker[Session], identity_id: int, status: str) -> None:
    for _ in range(300):
        with sessions() as s:
            found = s.scalar(
                select(Outbox.status)
                .where(Outbox.identity_id == identity_id, Outbox.kind == "ticket_update")
                .order_by(Outbox.id.desc())
                .limit(1)
            )
        if found == status:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the last ticket update never ended {status}")


# How users of each language ask, in the middle of the form, for a person or about policy.
PERSON = {
    "en": "I want to talk to a real person",
    "zh": "我想和工作人员谈谈",
    "ar": "أريد التحدث مع موظف",
    "ru": "Я хочу поговорить с сотрудником",
    "fr": "Je voudrais parler à un agent",
    "es": "Quiero hablar con una persona",
}
POLICY = {
    "en": "How do I extend my visa?",
    "zh": "签证怎么延期？",
    "ar": "كيف يمكنني تمديد التأشيرة؟",
    "ru": "Как продлить визу?",
    "fr": "Comment prolonger mon visa ?",
    "es": "¿Cómo puedo prorrogar mi visado?",
}


@pytest.mark.parametrize("lang", list(PERSON))
async def test_a_person_or_a_policy_question_mid_form_in_every_language(
    live: Assistant, stack: Stack, lang: str
) -> None:
    answers = yaml.safe_load((stack.locales / lang / "answers.yml").read_text(encoding="utf-8"))
    chat = Chat(live)
    await chat.texts(OPEN[lang])
    await chat.texts("supplier")
    await chat.texts(PARTY[lang])
    assert await chat.texts("skip") == [ui(lang, texts.ASK_TICKET_STORY)]
    replies = await chat.texts(POLICY[lang])
    assert replies[0].startswith(answers["faq_visa_extension"]["title"].strip()), replies[0]
    assert replies[-1] == ui(lang, texts.ASK_TICKET_STORY)
    queued = await chat.texts(PERSON[lang])
    assert len(queued) == 1 and ui(lang, texts.ASK_TICKET_STORY) not in queued
    with live.sessions() as s:
        identity = s.scalar(select(ChatIdentity).where(ChatIdentity.external_id == chat.user))
        assert identity is not None and identity.mode == "queued"
