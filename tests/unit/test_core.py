"""The core path with a fake Rasa (httpx.MockTransport): storage, language, bad input."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.answers.store import AnswerStore
from bot.db import conversations
from bot.db.models import ChatIdentity, Message
from bot.i18n import gettext
from bot.messages import Inbound
from bot.pipeline.assistant import Assistant
from tests.conftest import FakeRasa
from tests.helpers import REGISTRY_KEY, new_id


def inbound(
    text: str, *, user: str = "u1", kind: str = "text", client: str | None = None
) -> Inbound:
    return Inbound(
        message_id=new_id(),
        channel="webchat",
        external_id=user,
        text=text,
        kind=kind,
        client_language=client,
    )  # type: ignore[arg-type]


def messages(sessions: sessionmaker[Session], user: str = "u1") -> list[Message]:
    with sessions() as s:
        return conversations.transcript(s, channel="webchat", external_id=user)


async def test_message_is_stored_with_language_intent_and_reply(
    assistant: Assistant, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    replies = await assistant.handle(inbound("Как продлить визу в Иу?"))
    assert [r.text for r in replies] == ["reply to Как продлить визу в "]
    sent = fake_rasa.requests[0]
    # Rasa sees an opaque id, never the platform's user id; and the stored message's id,
    # for an action that must read the user's words whole (a complaint's description).
    assert "u1" not in sent["sender"]
    rows = messages(sessions)
    assert sent["metadata"] == {"language": "ru", "channel": "webchat", "message": rows[0].id}
    assert [(m.direction, m.status) for m in rows] == [("in", "answered"), ("out", "sent")]
    assert rows[0].language == "ru" and rows[0].intent == "greet" and rows[0].confidence == 0.9
    assert rows[1].reply_to_id == rows[0].id


@pytest.mark.parametrize("text", ["", "   ", "\n\t  \n"])
async def test_empty_message_gets_clear_answer(
    assistant: Assistant, sessions: sessionmaker[Session], fake_rasa: FakeRasa, text: str
) -> None:
    replies = await assistant.handle(inbound(text))
    assert replies[0].text == gettext("en", texts.EMPTY_MESSAGE)
    assert fake_rasa.requests == []
    assert messages(sessions)[0].status == "rejected"


async def test_emoji_only_gets_clear_answer_in_conversation_language(
    assistant: Assistant, fake_rasa: FakeRasa
) -> None:
    await assistant.handle(inbound("Bonjour, comment prolonger mon visa ?"))
    replies = await assistant.handle(inbound("👍🙏😀"))
    assert replies[0].language == "fr"
    assert replies[0].text == gettext("fr", texts.NO_WORDS)
    assert len(fake_rasa.requests) == 1


async def test_huge_message_is_stored_whole_and_truncated_for_rasa(
    assistant: Assistant, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    text = ("how do I extend my visa please " * 400)[:10_000]
    replies = await assistant.handle(inbound(text))
    assert len(fake_rasa.requests[0]["message"]) <= 2000
    assert replies[0].text == gettext("en", texts.TOO_LONG, limit="2,000")
    stored = messages(sessions)[0]
    assert len(stored.text) == 10_000 and stored.status == "answered"


async def test_arabic_mixed_with_english_is_arabic(
    assistant: Assistant, fake_rasa: FakeRasa
) -> None:
    await assistant.handle(inbound("كيف أجدد الفيزا visa في ييوو؟"))
    assert fake_rasa.requests[0]["metadata"]["language"] == "ar"


async def test_control_and_zero_width_characters_are_removed_before_rasa(
    assistant: Assistant, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    raw = "vi\u200bsa\u0000 ex\u202etension\u0007 please"
    await assistant.handle(inbound(raw))
    assert fake_rasa.requests[0]["message"] == "visa extension please"
    # Stored as received; only NUL, which PostgreSQL cannot hold, is shown as a symbol.
    assert messages(sessions)[0].text == raw.replace("\u0000", "\u2400")


async def test_markup_is_passed_as_text_never_interpreted(
    assistant: Assistant, fake_rasa: FakeRasa
) -> None:
    raw = "<b>visa</b> <script>alert(1)</script> **extension** [x](javascript:alert(1))"
    await assistant.handle(inbound(raw))
    assert fake_rasa.requests[0]["message"] == raw


async def test_sticker_gets_clear_answer(assistant: Assistant, fake_rasa: FakeRasa) -> None:
    replies = await assistant.handle(inbound("", kind="sticker", client="es-MX"))
    assert replies[0].text == gettext("es", texts.UNSUPPORTED_MEDIA)
    assert fake_rasa.requests == []


async def test_rasa_down_gives_unavailable_and_keeps_message(
    assistant: Assistant, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    def refuse(_body: object) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    fake_rasa.handler = refuse
    replies = await assistant.handle(inbound("¿Cómo renuevo mi visado de negocios?", client="ru"))
    stored = messages(sessions)
    assert stored[0].status == "failed"
    # In the message's language (detected), not the client's: the expected text is fixed.
    assert replies[0].language == "es"
    assert replies[0].text == gettext("es", texts.NOT_ANSWERED, hotline="12367")


async def test_action_server_down_gives_unavailable_in_user_language(
    assistant: Assistant, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    # What Rasa answers when its action server is unreachable: nothing at all.
    fake_rasa.handler = lambda _body: httpx.Response(200, json=[])
    replies = await assistant.handle(inbound("签证到期了怎么延期？"))
    assert replies[0].language == "zh"
    assert replies[0].text == gettext("zh", texts.NOT_ANSWERED, hotline="12367")
    assert messages(sessions)[0].status == "failed"


async def test_rasa_server_error_is_unavailable(
    assistant: Assistant, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    fake_rasa.handler = lambda _body: httpx.Response(500, text="boom")
    await assistant.handle(inbound("hello there, visa question"))
    assert messages(sessions)[0].status == "failed"


async def test_short_latin_messages_never_switch_language_but_a_script_does(
    assistant: Assistant, fake_rasa: FakeRasa
) -> None:
    """A short Latin word ("ok") could be any language; Han, Arabic and Cyrillic letters
    each name one of ours, however short (issue 9). A bare number: test_bare_number.py."""
    await assistant.handle(inbound("Здравствуйте, как продлить визу?"))
    for short in ["ok", "好的", "ok", "شكرا", "yes", "да", "merci"]:
        await assistant.handle(inbound(short))
    langs = [r["metadata"]["language"] for r in fake_rasa.requests]
    assert langs == ["ru", "ru", "zh", "zh", "ar", "ar", "ru", "ru"]


async def test_explicit_language_choice_wins_and_is_remembered(
    assistant: Assistant, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    replies = await assistant.handle(inbound("/language ar", kind="button"))
    assert replies[0].language == "ar"
    assert replies[0].text == gettext("ar", texts.LANGUAGE_CHANGED)
    await assistant.handle(inbound("How do I register my accommodation in Yiwu?"))
    assert fake_rasa.requests[-1]["metadata"]["language"] == "ar"
    with sessions() as s:
        identity = s.scalars(select(ChatIdentity)).one()
        assert identity.language == "ar" and identity.language_chosen


async def test_client_language_used_when_nothing_else(
    assistant: Assistant, fake_rasa: FakeRasa
) -> None:
    await assistant.handle(inbound("ok", client="fr-FR"))
    assert fake_rasa.requests[0]["metadata"]["language"] == "fr"


async def test_commands_and_payloads_map_to_intents(
    assistant: Assistant, fake_rasa: FakeRasa
) -> None:
    for text in ["/start", "/help@YiwuBot", "/faq_visa_extension", "/not_an_intent hello"]:
        await assistant.handle(inbound(text, kind="button"))
    assert [r["message"] for r in fake_rasa.requests] == [
        "/greet",
        "/help",
        "/faq_visa_extension",
        "not_an_intent hello",
    ]


async def test_database_down_gives_unavailable(fake_rasa: FakeRasa, tmp_path: object) -> None:
    from bot.db import make_engine, make_sessionmaker
    from bot.nlu.rasa_runtime import domain_intents
    from bot.pipeline.rasa_client import RasaClient

    # A database without tables behaves like one that fails on every statement.
    engine = make_engine(f"sqlite:///{tmp_path}/empty.db")
    broken = Assistant(
        sessions=make_sessionmaker(engine),
        rasa=RasaClient("http://rasa.test", transport=fake_rasa.transport()),
        intents=domain_intents(),
        registry_key=REGISTRY_KEY,
    )
    replies = await broken.handle(inbound("hello, I need help with my visa", client="es"))
    # Nothing could be stored: the reply must not say "your message has been saved".
    assert replies[0].text == gettext("es", texts.NOT_SAVED, hotline="12367")
    assert fake_rasa.requests == []


def with_answers(
    sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> tuple[Assistant, AnswerStore]:
    """An assistant that answers the gateway's own answer buttons from the real files."""
    from bot.nlu.rasa_runtime import domain_intents
    from bot.pipeline.rasa_client import RasaClient
    from bot.settings import PROJECT_ROOT

    answers = AnswerStore(PROJECT_ROOT / "locales", PROJECT_ROOT / "locales" / "office.yml")
    assistant = Assistant(
        sessions=sessions,
        rasa=RasaClient("http://rasa.test", transport=fake_rasa.transport()),
        intents=domain_intents(),
        answers=answers,
        registry_key=REGISTRY_KEY,
    )
    return assistant, answers


async def test_officer_view_shows_chinese_answer_under_users_title(
    sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    assistant, answers = with_answers(sessions, fake_rasa)
    await assistant.handle(inbound("كيف أمدد التأشيرة في ييوو؟"))
    (reply,) = await assistant.handle(inbound("/officer faq_visa_extension", kind="button"))
    zh, ar = answers.get("faq_visa_extension", "zh"), answers.get("faq_visa_extension", "ar")
    assert zh is not None and ar is not None
    assert reply.text.startswith(f"{ar.title}\n{zh.title}\n\n")
    assert zh.text in reply.text and reply.language == "zh"
    assert len(fake_rasa.requests) == 1  # the officer view needs no NLU


async def test_more_details_button_shows_the_rest_in_the_users_language(
    sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    """Issue 16: answers are short; the rest is behind a button the gateway answers."""
    assistant, answers = with_answers(sessions, fake_rasa)
    topic = next(t for t in answers.entries("ru") if answers.entries("ru")[t].get("details"))
    await assistant.handle(inbound("Как продлить визу в Иу?"))
    (reply,) = await assistant.handle(inbound(f"/details {topic}", kind="button"))
    ru = answers.get(topic, "ru")
    assert ru is not None and ru.details
    assert reply.text == f"{ru.title}\n\n{ru.details}" and reply.language == "ru"
    assert len(fake_rasa.requests) == 1  # the details need no NLU
    # A topic without details (or none at all) is an ordinary message for Rasa.
    await assistant.handle(inbound("/details faq_nothing", kind="button"))
    assert len(fake_rasa.requests) == 2


# Votes that count (an answer shown, once): tests/unit/test_votes.py.
async def test_malformed_vote_payload_is_just_text(
    assistant: Assistant, fake_rasa: FakeRasa
) -> None:
    await assistant.handle(inbound("/vote nonsense", kind="button"))
    assert fake_rasa.requests[0]["message"] == "vote nonsense"


async def test_english_fallback_answers_are_counted_for_editors(
    assistant: Assistant, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    def answer_in_english(body: dict[str, object]) -> httpx.Response:
        turn = {
            "intent": "faq_overstay",
            "confidence": 0.8,
            "language": "ru",
            "answer_language": "en",
        }
        return httpx.Response(200, json=[{"text": "Overstaying..."}, {"custom": {"turn": turn}}])

    fake_rasa.handler = answer_in_english
    await assistant.handle(inbound("Что будет, если я просрочил визу на неделю?"))
    with sessions() as s:
        assert conversations.english_fallbacks(s) == {("faq_overstay", "ru"): 1}
