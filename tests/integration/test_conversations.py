"""Conversations in six languages through the gateway's core path, against the real
Rasa server and action server over HTTP, checking each reply's text and language."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.db import conversations
from bot.i18n import gettext
from bot.messages import Inbound, Outbound
from bot.nlu.rasa_runtime import domain_intents
from bot.pipeline.assistant import Assistant
from bot.pipeline.rasa_client import RasaClient
from tests.helpers import REGISTRY_KEY, new_id
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration

# (what the user writes, the intent it must be understood as)
CONVERSATIONS: dict[str, list[tuple[str, str]]] = {
    "en": [
        ("Hi there!", "greet"),
        ("My visa runs out next week, how can I extend it?", "faq_visa_extension"),
        ("I lost my passport yesterday, what should I do?", "faq_lost_passport"),
        ("am I chatting with a robot?", "bot_challenge"),
        ("thanks a lot", "thank"),
    ],
    "zh": [
        ("你好", "greet"),
        ("我的签证下周到期，怎么延期？", "faq_visa_extension"),
        ("护照丢了怎么办", "faq_lost_passport"),
        ("你是机器人吗", "bot_challenge"),
        ("谢谢你", "thank"),
    ],
    "ar": [
        ("مرحبا", "greet"),
        ("تأشيرتي تنتهي الأسبوع القادم، كيف أمددها؟", "faq_visa_extension"),
        ("ضاع جواز سفري، ماذا أفعل؟", "faq_lost_passport"),
        ("هل أنت روبوت؟", "bot_challenge"),
        ("شكرا جزيلا", "thank"),
    ],
    "ru": [
        ("Здравствуйте", "greet"),
        ("Моя виза заканчивается через неделю, как её продлить?", "faq_visa_extension"),
        ("Я потерял паспорт, что мне делать?", "faq_lost_passport"),
        ("ты бот?", "bot_challenge"),
        ("спасибо большое", "thank"),
    ],
    "fr": [
        ("Bonjour", "greet"),
        ("Mon visa expire la semaine prochaine, comment le prolonger ?", "faq_visa_extension"),
        ("J'ai perdu mon passeport, que dois-je faire ?", "faq_lost_passport"),
        ("est-ce que vous êtes un robot ?", "bot_challenge"),
        ("merci beaucoup", "thank"),
    ],
    "es": [
        ("Hola, buenos días", "greet"),
        ("Mi visado vence la próxima semana, ¿cómo lo prorrogo?", "faq_visa_extension"),
        ("Perdí mi pasaporte, ¿qué hago?", "faq_lost_passport"),
        ("¿eres un robot?", "bot_challenge"),
        ("muchas gracias", "thank"),
    ],
}
UI_REPLIES = {
    "greet": texts.GREETING,
    "bot_challenge": texts.BOT_CHALLENGE,
    "thank": texts.THANKS_REPLY,
}


def answers(locales: Path, lang: str) -> dict[str, Any]:
    return yaml.safe_load((locales / lang / "answers.yml").read_text(encoding="utf-8"))


def expected_start(stack: Stack, lang: str, intent: str) -> str:
    if intent.startswith("faq_"):
        return str(answers(stack.locales, lang)[intent]["title"]).strip()
    return gettext(lang, UI_REPLIES[intent], hotline="12367")


@pytest.fixture
async def live_assistant(stack: Stack, sessions: sessionmaker[Session]) -> AsyncIterator[Assistant]:
    rasa = RasaClient(stack.rasa_url, token=stack.token, timeout_s=60)
    yield Assistant(
        sessions=sessions, rasa=rasa, intents=domain_intents(), registry_key=REGISTRY_KEY
    )
    await rasa.aclose()


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    from bot.db import upgrade

    url = f"sqlite:///{tmp_path / 'integration.db'}"
    upgrade(url)
    return url


async def say(assistant: Assistant, user: str, text: str, kind: str = "text") -> list[Outbound]:
    return await assistant.handle(
        Inbound(message_id=new_id(), channel="webchat", external_id=user, text=text, kind=kind)
    )  # type: ignore[arg-type]


@pytest.mark.parametrize("lang", list(CONVERSATIONS))
async def test_conversation_in_each_language(
    stack: Stack, live_assistant: Assistant, sessions: sessionmaker[Session], lang: str
) -> None:
    user = f"user-{lang}"
    for text, intent in CONVERSATIONS[lang]:
        replies = await say(live_assistant, user, text)
        assert replies, text
        assert all(r.language == lang for r in replies), (text, [r.language for r in replies])
        assert replies[0].text.startswith(expected_start(stack, lang, intent)), (
            text,
            replies[0].text[:80],
        )
    with sessions() as s:
        inbound = [
            m
            for m in conversations.transcript(s, channel="webchat", external_id=user)
            if m.direction == "in"
        ]
    assert [m.intent for m in inbound] == [intent for _, intent in CONVERSATIONS[lang]]
    assert all(m.status == "answered" and m.language == lang for m in inbound)
    assert all(m.confidence is not None and 0 < m.confidence <= 1 for m in inbound)


async def test_help_menu_buttons_lead_to_answers(stack: Stack, live_assistant: Assistant) -> None:
    replies = await say(live_assistant, "menu-user", "/help", kind="button")
    (menu,) = replies
    assert menu.text == gettext("en", texts.HELP_INTRO)
    first = menu.buttons[0]
    answer = await say(live_assistant, "menu-user", first.payload, kind="button")
    assert answer[0].text.startswith(first.title)


async def test_language_picker_then_choice(stack: Stack, live_assistant: Assistant) -> None:
    (picker,) = await say(live_assistant, "picker", "I want to change the language")
    assert picker.text == gettext("en", texts.CHOOSE_LANGUAGE)
    ru = next(b for b in picker.buttons if b.payload == "/language ru")
    (done,) = await say(live_assistant, "picker", ru.payload, kind="button")
    assert done.language == "ru" and done.text == gettext("ru", texts.LANGUAGE_CHANGED)
    replies = await say(live_assistant, "picker", "what are the emergency phone numbers?")
    assert replies[0].language == "ru"
    assert replies[0].text.startswith(
        answers(stack.locales, "ru")["faq_emergency"]["title"].strip()
    )


async def test_answer_edit_takes_effect_without_restart(
    stack: Stack, live_assistant: Assistant
) -> None:
    path = stack.locales / "fr" / "answers.yml"
    data = answers(stack.locales, "fr")
    data["faq_emergency"]["text"] = "Texte modifié par un éditeur : appelez le {police_phone}."
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    replies = await say(live_assistant, "editor-check", "/faq_emergency", kind="button")
    await say(live_assistant, "editor-check", "Bonjour, j'ai une question")
    replies = await say(live_assistant, "editor-check", "/faq_emergency", kind="button")
    assert "Texte modifié par un éditeur : appelez le 110." in replies[0].text


async def test_web_chat_over_http_through_the_gateway_app(stack: Stack, tmp_path: Path) -> None:
    from bot.app import create_app
    from bot.db import upgrade
    from bot.settings import Settings

    url = f"sqlite:///{tmp_path / 'gw.db'}"
    upgrade(url)
    settings = Settings(DATABASE_URL=url, RASA_URL=stack.rasa_url)  # type: ignore[call-arg]
    app = create_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gw"
    ) as client:
        assert (await client.get("/healthz")).json()["status"] == "ok"
        resp = await client.post(
            "/api/webchat/messages", json={"text": "كيف أسجل مكان إقامتي عند الشرطة؟"}
        )
        reply = resp.json()["replies"][0]
        assert reply["language"] == "ar" and reply["dir"] == "rtl"
        title = answers(stack.locales, "ar")["faq_accommodation_registration"]["title"].strip()
        assert reply["html"].startswith(title)


async def test_gibberish_gets_the_two_likeliest_topics(
    stack: Stack, live_assistant: Assistant
) -> None:
    await say(live_assistant, "unsure", "Bonjour, j'ai une question sur mon séjour")
    (reply,) = await say(live_assistant, "unsure", "qwx zzv plm")
    assert reply.language == "fr"
    assert reply.text == gettext("fr", texts.FALLBACK)
    payloads = [b.payload for b in reply.buttons]
    assert len(payloads) == 3 and payloads[-1] == "/deny"
    assert all(p.startswith("/faq_") for p in payloads[:2])
    titles = {e["title"].strip() for e in answers(stack.locales, "fr").values()}
    assert {b.title for b in reply.buttons[:2]} <= titles


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        ("что с моей жалобой №1023?", "ticket_number", "1023"),
        ("我的卡号是１２３４ ５６７８ ９０１２", "card_number", "123456789012"),
        ("تاريخ ميلادي ٣/٤/١٩٩٠", "date", "03/04/1990|04/03/1990"),
    ],
)
async def test_entities_come_back_from_the_rasa_server(
    stack: Stack, text: str, entity: str, value: str
) -> None:
    async with httpx.AsyncClient(base_url=stack.rasa_url) as client:
        resp = await client.post("/model/parse", params={"token": stack.token}, json={"text": text})
    found = [(e["entity"], e["value"]) for e in resp.json()["entities"]]
    assert (entity, value) in found
