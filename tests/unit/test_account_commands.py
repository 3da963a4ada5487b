"""/unlink, /forget ("forget me"), /reminders and the redaction of identity answers,
through the gateway's core path (Rasa faked at its HTTP edge)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.db import conversations, transaction
from bot.db.models import AnswerVote, ChatIdentity, LinkAttempt, Message, Resident
from bot.i18n import gettext
from bot.messages import Inbound, Outbound
from bot.pipeline import account_commands
from bot.pipeline.assistant import Assistant
from bot.records import accounts, references
from tests.conftest import FakeRasa
from tests.helpers import new_id
from tests.people import AHMED, load_people, registry_key


async def say(assistant: Assistant, text: str, user: str = "u1") -> list[Outbound]:
    return await assistant.handle(
        Inbound(message_id=new_id(), channel="telegram", external_id=user, text=text)
    )


def identity(sessions: sessionmaker[Session], user: str = "u1") -> ChatIdentity:
    with sessions() as s:
        return s.scalars(select(ChatIdentity).where(ChatIdentity.external_id == user)).one()


def link(sessions: sessionmaker[Session], user: str = "u1") -> None:
    with transaction(sessions) as s:
        me = s.scalars(select(ChatIdentity).where(ChatIdentity.external_id == user)).one()
        resident = s.scalars(select(Resident).where(Resident.full_name == AHMED.name)).one()
        me.resident_id = resident.id


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/unlink", account_commands.Command("unlink")),
        ("/reminders OFF", account_commands.Command("reminders", "off")),
        ("/forget@yiwu_bot", account_commands.Command("forget")),
        ("Forget me!", account_commands.Command("forget")),
        ("忘记我", account_commands.Command("forget")),
        ("احذف بياناتي", account_commands.Command("forget")),
        ("Забудьте меня.", account_commands.Command("forget")),
        ("oubliez-moi", account_commands.Command("forget")),
        ("olvídame", account_commands.Command("forget")),
        ("how do you use my data?", None),
        ("forget me not is a flower", None),
    ],
)
def test_parse(text: str, expected: account_commands.Command | None) -> None:
    assert account_commands.parse(text) == expected


@pytest.fixture
async def linked(assistant: Assistant, sessions: sessionmaker[Session]) -> Assistant:
    """The assistant, with user u1 known and linked to Ahmed."""
    load_people(sessions)
    await say(assistant, "hello")
    link(sessions)
    return assistant


async def test_unlink(linked: Assistant, sessions: sessionmaker[Session]) -> None:
    assistant = linked
    (reply,) = await say(assistant, "/unlink")
    assert reply.text == gettext("en", texts.UNLINKED)
    assert identity(sessions).resident_id is None
    (reply,) = await say(assistant, "/unlink")
    assert reply.text == gettext("en", texts.NOT_LINKED)


async def test_reminders_off_and_on(linked: Assistant, sessions: sessionmaker[Session]) -> None:
    assistant = linked
    (off,) = await say(assistant, "/reminders off")
    assert off.text == gettext("en", texts.REMINDERS_OFF)
    assert [b.payload for b in off.buttons] == ["/reminders on"]
    assert identity(sessions).reminders_enabled is False
    (on,) = await say(assistant, off.buttons[0].payload)
    assert on.text == gettext("en", texts.REMINDERS_ON)
    assert identity(sessions).reminders_enabled is True


async def test_reminders_before_linking_say_how(assistant: Assistant) -> None:
    on, hint = await say(assistant, "/reminders")
    assert on.text == gettext("en", texts.REMINDERS_ON)
    assert hint.text == gettext("en", texts.REMINDERS_NEED_LINK)


async def test_forget_me_asks_then_deletes_link_and_transcript(
    assistant: Assistant, sessions: sessionmaker[Session]
) -> None:
    load_people(sessions)
    await say(assistant, "/language ru")
    await say(assistant, "hello there, a question")
    await say(assistant, "hello from someone else", user="u2")
    link(sessions)
    before = identity(sessions)
    with transaction(sessions) as s:
        s.add(
            AnswerVote(identity_id=before.id, topic="faq_visa_types", language="ru", helpful=True)
        )
        accounts.attempt_link(
            s, identity=s.get(ChatIdentity, before.id), card_ref="n:0",
            birth_ref=references.birth_reference(AHMED.born.isoformat(), key=registry_key()),
            passport_ref=None, key=registry_key(),
        )  # fmt: skip
    (question,) = await say(assistant, "Забудьте меня")
    assert question.text == gettext("ru", texts.FORGET_CONFIRM)
    assert [b.payload for b in question.buttons] == ["/forget yes", "/forget no"]
    (kept,) = await say(assistant, "/forget no")
    assert kept.text == gettext("ru", texts.NOTHING_DELETED)
    assert identity(sessions).resident_id is not None

    (done,) = await say(assistant, "/forget yes")
    assert done.text == gettext("ru", texts.FORGOTTEN)
    after = identity(sessions)
    assert after.resident_id is None and after.language is None
    assert after.public_id != before.public_id  # Rasa starts afresh for this chat
    with sessions() as s:
        assert conversations.transcript(s, channel="telegram", external_id="u1") == []
        assert len(conversations.transcript(s, channel="telegram", external_id="u2")) == 2
        vote = s.scalars(select(AnswerVote)).one()
        assert vote.identity_id is None and vote.topic == "faq_visa_types"  # anonymous count
        # The lockout cannot be reset by forgetting.
        assert s.scalar(select(func.count()).select_from(LinkAttempt)) == 1


async def test_answers_to_identity_questions_are_not_kept(
    assistant: Assistant, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    def form_turn(body: dict) -> httpx.Response:  # type: ignore[type-arg]
        return httpx.Response(
            200,
            json=[
                {"custom": {"redact": True}},
                {"text": "Now your date of birth"},
                {"custom": {"turn": {"intent": "nlu_fallback", "language": "en"}}},
            ],
        )

    fake_rasa.handler = form_turn
    await say(assistant, "YW 2016 0012 34")
    fake_rasa.handler = fake_rasa.echo_intent
    await say(assistant, "what about my visa")
    with sessions() as s:
        inbound = [m.text for m in s.scalars(select(Message).where(Message.direction == "in"))]
    assert inbound == [conversations.REDACTED, "what about my visa"]
    # ...and Rasa got only the number's keyed hash, which the action server compares.
    ref = accounts.card_reference("YW 2016 0012 34", key=registry_key())
    assert ref.startswith("n:")
    assert fake_rasa.requests[0]["message"] == "cardref:" + ref


def test_cli_lists_open_staff_alerts(
    sessions: sessionmaker[Session],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bot.ops import cli
    from bot.settings import get_settings

    with transaction(sessions) as s:
        me = ChatIdentity(channel="telegram", external_id="x")
        s.add(me)
        s.flush()
        accounts.raise_alert(s, kind="link_lockout", identity_id=me.id, details="5 failed attempts")
    monkeypatch.setenv("DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        assert cli.main(["staff", "alerts"]) == 0
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert "link_lockout: 5 failed attempts" in out and "1 open alerts" in out


async def test_card_number_reaches_rasa_only_as_its_keyed_hash(
    sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    from bot.nlu.rasa_runtime import domain_intents
    from bot.pipeline.rasa_client import RasaClient

    key = registry_key()
    assistant = Assistant(
        sessions=sessions,
        rasa=RasaClient("http://rasa.test", transport=fake_rasa.transport()),
        intents=domain_intents(),
        registry_key=key,
    )

    def asks_for_card(body: dict) -> httpx.Response:  # type: ignore[type-arg]
        return httpx.Response(
            200,
            json=[
                {"text": "Please type your card number"},
                {"custom": {"turn": {"intent": "link_account", "awaiting": "card_number"}}},
            ],
        )

    fake_rasa.handler = asks_for_card
    await say(assistant, "link my card")
    fake_rasa.handler = fake_rasa.echo_intent  # the next turn asks for nothing
    await say(assistant, "ｙｗ ２０１６ ００１２ ３４")
    await say(assistant, "YW 2016 0012 34")
    sent = [r["message"] for r in fake_rasa.requests]
    assert sent[0] == "link my card"
    assert sent[1] == "cardref:" + accounts.card_reference("YW2016001234", key=key)
    # Not awaited any more, and still replaced: a card number is never sent in clear.
    assert sent[2] == sent[1]


def test_card_number_inside_a_sentence_is_replaced_and_the_words_stay() -> None:
    key = registry_key()
    ref = accounts.card_reference("YW2016001234", key=key)
    assert accounts.replace_card_number("my card YW 2016 0012 34 is lost", key=key) == (
        f"my card cardref:{ref} is lost"
    )
    assert accounts.replace_card_number("بطاقتي YW٢٠١٦٠٠١٢٣٤ ضاعت", key=key) == (
        f"بطاقتي cardref:{ref} ضاعت"
    )
    assert accounts.replace_card_number("no number here", key=key) is None
    assert accounts.card_reference_in(f"my card cardref:{ref} is lost", key=key) == ref
