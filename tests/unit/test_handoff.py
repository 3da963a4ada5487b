"""The handoff in the gateway (bot/handoff, the pipeline's handlers): a user asks for a
person, everything they send then goes to staff and never to Rasa, staff take it (one
owner), reply through the outbox, hand it back; reminders wait meanwhile. On SQLite and
PostgreSQL, with a fake Rasa."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.db import transaction
from bot.db.models import ChatIdentity, Handoff, Message, Outbox, StaffUser
from bot.delivery import outbox
from bot.delivery.channel import Blocked, Delivered, DeliveryResult, Rate
from bot.delivery.dispatcher import Dispatcher
from bot.delivery.outbox import Item
from bot.handoff import handoffs, hours, modes
from bot.i18n import gettext
from bot.messages import Inbound, Kind, Outbound
from bot.nlu.rasa_runtime import domain_intents
from bot.pipeline.assistant import Assistant
from bot.pipeline.rasa_client import RasaClient
from bot.staff import accounts
from tests.conftest import FakeRasa
from tests.fakes.gated_rasa import GatedRasa
from tests.helpers import REGISTRY_KEY, new_id

HOTLINE = "12367"


def ask_for_a_person(body: dict[str, Any]) -> httpx.Response:
    """Rasa's answer to "I want to talk to a person": only the turn report."""
    turn = {"intent": "request_human", "confidence": 0.97, "language": body["metadata"]["language"],
            "handoff": "request_human"}  # fmt: skip
    return httpx.Response(200, json=[{"recipient_id": body["sender"], "custom": {"turn": turn}}])


async def say(
    assistant: Assistant,
    text: str,
    *,
    user: str = "u1",
    kind: Kind = "text",
    channel: str = "webchat",
    client: str | None = None,
) -> list[Outbound]:
    message = Inbound(
        channel=channel,
        external_id=user,
        message_id=new_id(),
        text=text,
        kind=kind,
        client_language=client,
    )
    return await assistant.handle(message)


def staff(sessions: sessionmaker[Session], name: str, role: str = "agent") -> int:
    with transaction(sessions) as s:
        return accounts.add(s, name=name, role=role, password="a long password 1").id


def the_handoff(sessions: sessionmaker[Session]) -> Handoff:
    with sessions() as s:
        return s.scalars(select(Handoff).order_by(Handoff.id.desc())).first()  # type: ignore[return-value]


def mode_of(sessions: sessionmaker[Session], user: str = "u1") -> str:
    with sessions() as s:
        return str(s.scalar(select(ChatIdentity.mode).where(ChatIdentity.external_id == user)))


def inbound(sessions: sessionmaker[Session]) -> list[Message]:
    with sessions() as s:
        return list(
            s.scalars(select(Message).where(Message.direction == "in").order_by(Message.id))
        )


def act(sessions: sessionmaker[Session], fn: Any, staff_id: int, **kwargs: Any) -> Any:
    with transaction(sessions) as s:
        me = s.get(StaffUser, staff_id)
        return fn(s, staff=me, **kwargs)


async def test_a_user_who_asks_for_a_person_is_queued_and_told_in_their_language(
    assistant: Assistant, fake_rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    fake_rasa.handler = ask_for_a_person
    (reply,) = await say(assistant, "Я хочу поговорить с сотрудником, пожалуйста")
    unknown = gettext("ru", texts.NOT_PUBLISHED, hotline=HOTLINE)
    assert reply.text == gettext(
        "ru", texts.HANDOFF_HOURS_UNKNOWN, hotline=HOTLINE, hours=unknown, position=1
    )
    assert [b.payload for b in reply.buttons] == ["/bot"]
    handoff = the_handoff(sessions)
    assert (handoff.status, handoff.reason, handoff.language) == ("queued", "request_human", "ru")
    assert mode_of(sessions) == modes.QUEUED


async def test_then_nothing_the_user_sends_reaches_rasa(
    assistant: Assistant, fake_rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    """Text, a photo, a sticker, /start, /help, "restart": all go to staff, unanswered."""
    await say(assistant, "/human", kind="button")
    asked = len(fake_rasa.requests)
    for text, kind in [("my visa expires", "text"), ("", "photo"), ("", "sticker"),
                       ("/start", "text"), ("/help", "text"), ("restart", "text")]:  # fmt: skip
        assert await say(assistant, text, kind=kind) == []  # type: ignore[arg-type]
    assert len(fake_rasa.requests) == asked == 0
    assert [m.status for m in inbound(sessions)][1:] == ["with_staff"] * 6
    assert mode_of(sessions) == modes.QUEUED


async def test_the_user_ends_it_with_bot_and_the_bot_answers_again(
    assistant: Assistant, fake_rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    await say(assistant, "/human", kind="button", client="fr")
    (back,) = await say(assistant, "/bot")
    assert back.text == gettext("fr", texts.HANDOFF_ENDED_BY_USER)
    assert the_handoff(sessions).outcome == "user_ended"
    assert mode_of(sessions) == modes.BOT
    (answer,) = await say(assistant, "Comment prolonger mon visa ?")
    assert answer.text.startswith("reply to Comment")


async def test_places_in_the_queue_and_the_wait(
    assistant: Assistant, sessions: sessionmaker[Session]
) -> None:
    for user in ("a", "b", "c"):
        await say(assistant, "/human", kind="button", user=user)
    with sessions() as s:
        rows = list(s.scalars(select(Handoff).order_by(Handoff.id)))
        assert [handoffs.position(s, handoff=h) for h in rows] == [1, 2, 3]
        # No history yet: minutes per chat times the place.
        assert handoffs.wait_minutes(s, position=3, default_per_chat=5) == 15


async def test_outside_the_staffs_hours_the_user_is_told_when(
    assistant: Assistant, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.handoff import notices

    facts = {"staff_hours": "Sat 09:00-09:01"}
    monkeypatch.setattr(notices, "office_value", lambda name: facts.get(name, HOTLINE))
    spans = hours.parse("Sat 09:00-09:01")
    monday = dt.datetime(2026, 12, 7, 10, 0, tzinfo=notices.SERVICE_TZ)
    assert not hours.is_open(spans, monday)
    (reply,) = await say(assistant, "/human", kind="button", client="es")
    template = gettext("es", texts.HANDOFF_CLOSED_NOW, hotline=HOTLINE, opens="@@")
    before, after = template.split("@@")
    assert reply.text.startswith(before) and reply.text.endswith(after)
    assert "09:00" in reply.text


def test_staff_hours_are_read_as_written() -> None:
    spans = hours.parse("Mon-Fri 08:30-12:00, Mon-Fri 13:30-17:30; Sat 09:00-12:00")
    tz = dt.timezone(dt.timedelta(hours=8))
    assert hours.is_open(spans, dt.datetime(2026, 12, 7, 8, 30, tzinfo=tz))  # Monday
    assert not hours.is_open(spans, dt.datetime(2026, 12, 7, 12, 30, tzinfo=tz))  # lunch
    assert not hours.is_open(spans, dt.datetime(2026, 12, 6, 12, 0, tzinfo=tz))  # Sunday
    friday_evening = dt.datetime(2026, 12, 11, 18, 0, tzinfo=tz)
    assert hours.next_opening(spans, friday_evening) == dt.datetime(2026, 12, 12, 9, 0, tzinfo=tz)
    for bad in ("Mon-Fri", "Mon-Fri 9-17", "Xyz 09:00-10:00", "Mon 17:00-09:00"):
        with pytest.raises(hours.HoursError):
            hours.parse(bad)


async def test_one_owner_when_two_agents_take_at_once(
    assistant: Assistant, sessions: sessionmaker[Session]
) -> None:
    await say(assistant, "/human", kind="button")
    handoff_id = the_handoff(sessions).id
    agents = [staff(sessions, "li.wei"), staff(sessions, "ana.ruiz")]
    results: list[str] = []

    def take(agent: int) -> None:
        results.append(act(sessions, handoffs.take, agent, handoff_id=handoff_id).result)

    threads = [threading.Thread(target=take, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["someone_else", "taken"]
    handoff = the_handoff(sessions)
    assert handoff.status == "active" and handoff.assignee_id in agents
    loser = next(a for a in agents if a != handoff.assignee_id)
    refused = act(sessions, handoffs.reply, loser, handoff_id=handoff_id, text="I have it")
    assert refused == "not_yours"
    assert mode_of(sessions) == modes.HUMAN


async def test_a_message_arriving_as_staff_take_over_is_kept_and_not_answered_by_the_bot(
    sessions: sessionmaker[Session],
) -> None:
    """The message reaches Rasa while the chat is still the bot's; staff take it over
    meanwhile: Rasa's answer is not sent, the message stays, with staff."""
    rasa = GatedRasa("what about my card")
    assistant = Assistant(
        sessions=sessions,
        rasa=RasaClient("http://rasa.test", transport=rasa),
        intents=domain_intents(),
        registry_key=REGISTRY_KEY,
    )
    await say(assistant, "hello there, good morning")
    with transaction(sessions) as s:
        me = s.scalar(select(ChatIdentity))
        assert me is not None
        handoff = handoffs.request(s, identity=me, reason="button", language="en")
        assert handoff is not None
        handoff_id = handoff.id
        # The bot still had the chat when the message arrived.
        assert modes.change_mode(s, identity_id=me.id, expected=modes.QUEUED, new=modes.BOT)
    in_flight = asyncio.create_task(say(assistant, "what about my card"))
    await rasa.arrived["what about my card"].wait()
    with transaction(sessions) as s:  # staff take over now
        me = s.scalar(select(ChatIdentity))
        assert me is not None
        modes.change_mode(s, identity_id=me.id, expected=modes.BOT, new=modes.QUEUED)
    agent = staff(sessions, "li.wei")
    assert act(sessions, handoffs.take, agent, handoff_id=handoff_id).result == "taken"
    rasa.release["what about my card"].set()
    assert await in_flight == []
    last = inbound(sessions)[-1]
    assert (last.text, last.status) == ("what about my card", "with_staff")


async def test_a_staff_reply_goes_out_in_the_users_channel_and_language(
    assistant: Assistant, sessions: sessionmaker[Session]
) -> None:
    await say(assistant, "/human", kind="button", channel="telegram", user="555", client="ar")
    handoff_id = the_handoff(sessions).id
    agent = staff(sessions, "li.wei")
    act(sessions, handoffs.take, agent, handoff_id=handoff_id)
    sent = act(sessions, handoffs.reply, agent, handoff_id=handoff_id, text="مرحبا", key="k1")
    again = act(sessions, handoffs.reply, agent, handoff_id=handoff_id, text="مرحبا", key="k1")
    assert isinstance(sent, handoffs.Sent) and sent.outbox_id is not None
    assert isinstance(again, handoffs.Sent) and again.outbox_id is None  # the same form twice
    with sessions() as s:
        (row,) = s.scalars(select(Outbox).where(Outbox.kind == "staff_reply")).all()
        assert (row.channel, row.recipient, row.language, row.text) == (
            "telegram",
            "555",
            "ar",
            "مرحبا",
        )
        copy = s.get(Message, row.message_id)
        assert copy is not None and (copy.author, copy.staff_id) == ("staff", agent)


@pytest.mark.parametrize(("text", "problem"), [("   ", "empty"), ("x" * 10_000, "too_long")])
async def test_bad_staff_replies_are_refused(
    assistant: Assistant, sessions: sessionmaker[Session], text: str, problem: str
) -> None:
    await say(assistant, "/human", kind="button")
    handoff_id = the_handoff(sessions).id
    agent = staff(sessions, "li.wei")
    act(sessions, handoffs.take, agent, handoff_id=handoff_id)
    assert act(sessions, handoffs.reply, agent, handoff_id=handoff_id, text=text) == problem
    with sessions() as s:
        assert s.scalars(select(Outbox)).all() == []


async def test_hand_back_tells_the_user_and_the_rating_counts_once(
    assistant: Assistant, fake_rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    await say(assistant, "/human", kind="button", client="zh")
    handoff_id = the_handoff(sessions).id
    agent = staff(sessions, "li.wei")
    act(sessions, handoffs.take, agent, handoff_id=handoff_id)
    assert act(sessions, handoffs.hand_back, agent, handoff_id=handoff_id) is None
    assert act(sessions, handoffs.reply, agent, handoff_id=handoff_id, text="late") == "closed"
    with sessions() as s:
        (notice,) = s.scalars(select(Outbox).where(Outbox.kind == "system")).all()
        assert notice.text == gettext("zh", texts.HANDOFF_HANDED_BACK)
        assert [b["payload"] for b in notice.buttons or []] == [
            f"/rate {handoff_id} {n}" for n in (5, 4, 3, 2, 1)
        ]
    assert mode_of(sessions) == modes.BOT
    (thanks,) = await say(assistant, f"/rate {handoff_id} 4", kind="button")
    (again,) = await say(assistant, f"/rate {handoff_id} 1", kind="button")
    (forged,) = await say(assistant, f"/rate {handoff_id} 5", kind="button", user="someone")
    assert thanks.text == gettext("zh", texts.RATING_THANKS)
    assert again.text == gettext("zh", texts.RATING_ALREADY)
    assert forged.text == gettext("en", texts.RATING_NOT_COUNTED)
    assert the_handoff(sessions).rating == 4
    (answer,) = await say(assistant, "外商卡怎么办理")
    assert answer.text.startswith("reply to")  # the bot answers again


async def test_transfer_to_a_colleague_and_to_nobody(
    assistant: Assistant, sessions: sessionmaker[Session]
) -> None:
    await say(assistant, "/human", kind="button")
    handoff_id = the_handoff(sessions).id
    first, second = staff(sessions, "li.wei"), staff(sessions, "ana.ruiz")
    act(sessions, handoffs.take, first, handoff_id=handoff_id)
    assert act(sessions, handoffs.transfer, first, handoff_id=handoff_id, to_name="nobody") == (
        "no_such_colleague"
    )
    assert the_handoff(sessions).assignee_id == first
    assert (
        act(sessions, handoffs.transfer, first, handoff_id=handoff_id, to_name="ana.ruiz") is None
    )
    assert the_handoff(sessions).assignee_id == second


class Recording:
    """A push channel that records what it delivers (and can say the user blocked it)."""

    name = "telegram"

    def __init__(self, blocked: bool = False) -> None:
        self.sent: list[str] = []
        self.blocked = blocked

    def rates(self, item: Item) -> Sequence[Rate]:
        return ()

    async def deliver(self, item: Item) -> DeliveryResult:
        if self.blocked:
            return Blocked("Telegram: Forbidden: bot was blocked by the user")
        self.sent.append(item.kind)
        return Delivered()


async def test_a_reminder_due_during_a_handoff_waits_until_it_ends(
    assistant: Assistant, sessions: sessionmaker[Session]
) -> None:
    await say(assistant, "/human", kind="button", channel="telegram", user="777")
    handoff_id = the_handoff(sessions).id
    agent = staff(sessions, "li.wei")
    act(sessions, handoffs.take, agent, handoff_id=handoff_id)
    with transaction(sessions) as s:
        me = s.scalar(select(ChatIdentity).where(ChatIdentity.external_id == "777"))
        assert me is not None
        outbox.to_chat(
            s, key="reminder:1:1", identity=me, kind="reminder", text="Visa!", language="en"
        )
    act(sessions, handoffs.reply, agent, handoff_id=handoff_id, text="Hello, I am Li.")
    channel = Recording()
    dispatcher = Dispatcher(sessions, {"telegram": channel})
    await dispatcher.run_round()
    await dispatcher.run_round()
    assert channel.sent == ["staff_reply"]  # the reminder waits
    act(sessions, handoffs.hand_back, agent, handoff_id=handoff_id)
    await dispatcher.run_round()
    await dispatcher.run_round()
    assert channel.sent == ["staff_reply", "reminder", "system"]


async def test_a_reply_to_a_user_who_blocked_the_bot_ends_blocked_for_staff_to_see(
    assistant: Assistant, sessions: sessionmaker[Session]
) -> None:
    from bot.answers.store import AnswerStore
    from bot.staff.console import chat_view

    await say(assistant, "/human", kind="button", channel="telegram", user="888")
    handoff_id = the_handoff(sessions).id
    agent = staff(sessions, "li.wei")
    act(sessions, handoffs.take, agent, handoff_id=handoff_id)
    act(sessions, handoffs.reply, agent, handoff_id=handoff_id, text="Can you send the photo?")
    await Dispatcher(sessions, {"telegram": Recording(blocked=True)}).run_round()
    await Dispatcher(sessions, {"telegram": Recording(blocked=True)}).run_round()
    with sessions() as s:
        view = chat_view.build(
            s, identity_id=the_handoff(sessions).identity_id, staff_id=agent, answers=AnswerStore()
        )
        assert view is not None
        staff_lines = [line for line in view.lines if line.who == "staff"]
        assert [(line.text, line.delivery) for line in staff_lines] == [
            ("Can you send the photo?", "blocked")
        ]


async def test_forget_me_during_a_handoff_ends_it_and_deletes_the_notes(
    assistant: Assistant, sessions: sessionmaker[Session]
) -> None:
    await say(assistant, "/human", kind="button")
    handoff = the_handoff(sessions)
    agent = staff(sessions, "li.wei")
    act(sessions, handoffs.take, agent, handoff_id=handoff.id)
    act(sessions, handoffs.note, agent, identity_id=handoff.identity_id, text="asked about M visa")
    await say(assistant, "/forget")
    await say(assistant, "/forget yes", kind="button")
    assert the_handoff(sessions).outcome == "forgotten"
    assert mode_of(sessions) == modes.BOT
    from bot.db.models import HandoffNote

    with sessions() as s:
        assert s.scalars(select(HandoffNote)).all() == []


def test_the_audit_log_refuses_changes(sessions: sessionmaker[Session]) -> None:
    from sqlalchemy import delete, update
    from sqlalchemy.exc import DatabaseError

    from bot.db import audit
    from bot.db.models import AuditEntry

    with transaction(sessions) as s:
        audit.record(s, action="login", staff_name="li.wei")
    for change in (update(AuditEntry).values(staff_name="someone else"), delete(AuditEntry)):
        with pytest.raises(DatabaseError, match="append-only"), transaction(sessions) as s:
            s.execute(change)
    with sessions() as s:
        (entry,) = s.scalars(select(AuditEntry)).all()
        assert entry.staff_name == "li.wei"
