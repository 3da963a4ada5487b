"""The inbox (bot/pipeline/inbox.py, bot/pipeline/assistant.py): stored once per channel
message id, one turn per chat at a time across processes, exactly one final state, and
what a stopped process left answered after a restart. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.answers.office import office_value
from bot.db import transaction
from bot.db.models import ChatIdentity, Message, Outbox, utcnow
from bot.i18n import gettext
from bot.messages import Inbound, Kind
from bot.nlu.rasa_runtime import domain_intents
from bot.pipeline.assistant import Assistant, InboxTiming
from bot.pipeline.inbox import FINAL
from bot.pipeline.rasa_client import RasaClient
from tests.conftest import FakeRasa
from tests.fakes.gated_rasa import GatedRasa
from tests.helpers import REGISTRY_KEY, new_id

QUICK = InboxTiming(
    lease=dt.timedelta(seconds=30),
    wait_s=20,
    poll_s=0.05,
    orphan_after=dt.timedelta(seconds=0),
)


def gateway(
    sessions: sessionmaker[Session],
    transport: httpx.AsyncBaseTransport,
    timing: InboxTiming = QUICK,
) -> Assistant:
    """One gateway process's pipeline: tests make two over one database."""
    return Assistant(
        sessions=sessions,
        rasa=RasaClient("http://rasa.test", transport=transport),
        intents=domain_intents(),
        registry_key=REGISTRY_KEY,
        timing=timing,
    )


def message(
    text: str, *, msg_id: str | None = None, channel: str = "webchat", kind: Kind = "text"
) -> Inbound:
    return Inbound(
        channel=channel, external_id="u1", message_id=msg_id or new_id(), text=text, kind=kind
    )


def inbound_rows(sessions: sessionmaker[Session]) -> list[Message]:
    with sessions() as s:
        return list(
            s.scalars(select(Message).where(Message.direction == "in").order_by(Message.id))
        )


def outbox_rows(sessions: sessionmaker[Session]) -> list[Outbox]:
    with sessions() as s:
        return list(s.scalars(select(Outbox).order_by(Outbox.id)))


async def test_the_same_message_id_twice_is_one_turn_and_the_same_replies(
    assistant: Assistant, fake_rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    first = await assistant.receive(message("How do I extend my visa?", msg_id="m-1"))
    again = await assistant.receive(message("How do I extend my visa?", msg_id="m-1"))
    assert len(fake_rasa.requests) == 1
    assert [r.text for r in again.replies] == [r.text for r in first.replies]
    assert again.duplicate and not first.duplicate
    (row,) = inbound_rows(sessions)
    assert (row.channel_message_id, row.status) == ("m-1", "answered")
    with sessions() as s:
        assert s.scalar(select(func.count()).where(Message.direction == "out")) == 1


async def test_the_same_id_in_two_chats_is_two_messages(
    assistant: Assistant, fake_rasa: FakeRasa
) -> None:
    """Ids are the channel's per chat (a web page's counter, say): never shared."""
    a = Inbound(channel="webchat", external_id="a", message_id="1", text="hello")
    b = Inbound(channel="webchat", external_id="b", message_id="1", text="hello")
    await assistant.handle(a)
    await assistant.handle(b)
    assert len(fake_rasa.requests) == 2


async def test_a_duplicate_arriving_during_the_turn_waits_for_the_same_replies(
    sessions: sessionmaker[Session],
) -> None:
    rasa = GatedRasa("Как продлить визу?")
    gw = gateway(sessions, rasa)
    first = asyncio.create_task(gw.receive(message("Как продлить визу?", msg_id="dup")))
    await rasa.arrived["Как продлить визу?"].wait()
    second = asyncio.create_task(gw.receive(message("Как продлить визу?", msg_id="dup")))
    await asyncio.sleep(0.2)
    assert not second.done()  # it waits for the turn in flight, it does not start one
    rasa.release["Как продлить визу?"].set()
    one, two = await first, await second
    assert rasa.order == ["Как продлить визу?"]
    assert [r.text for r in two.replies] == [r.text for r in one.replies] != []


async def test_two_messages_of_one_chat_at_two_gateways_are_answered_one_after_the_other(
    sessions: sessionmaker[Session],
) -> None:
    """Two gateway processes (two pipelines over one database), one chat, two messages
    at the same moment: the second reaches Rasa only after the first is answered, and
    they are answered in the order they were stored."""
    rasa_a, rasa_b = GatedRasa("first question"), GatedRasa("second question")
    gw_a, gw_b = gateway(sessions, rasa_a), gateway(sessions, rasa_b)
    await gw_a.handle(message("hello, good morning to you"))  # the chat exists
    a = asyncio.create_task(gw_a.receive(message("first question")))
    await rasa_a.arrived["first question"].wait()
    b = asyncio.create_task(gw_b.receive(message("second question")))
    with pytest.raises(TimeoutError):  # gateway B holds back while A has the chat's turn
        await asyncio.wait_for(rasa_b.arrived["second question"].wait(), timeout=0.5)
    rasa_a.release["first question"].set()
    await rasa_b.arrived["second question"].wait()
    rasa_b.release["second question"].set()
    result_a, result_b = await a, await b
    assert [r.text for r in result_a.replies] == ["reply to first question"]
    assert [r.text for r in result_b.replies] == ["reply to second question"]
    rows = inbound_rows(sessions)
    assert [m.text for m in rows] == [
        "hello, good morning to you",
        "first question",
        "second question",
    ]
    replies = {}
    with sessions() as s:
        for out in s.scalars(select(Message).where(Message.direction == "out")):
            replies[out.reply_to_id] = out.id
    assert replies[rows[1].id] < replies[rows[2].id]  # answered in order
    with sessions() as s:
        identity = s.scalars(select(ChatIdentity)).one()
        assert identity.lease_owner is None  # and the chat is free again


async def test_a_burst_of_messages_from_one_chat_is_answered_in_order_each_once(
    sessions: sessionmaker[Session],
) -> None:
    rasa = GatedRasa()
    gw_a, gw_b = gateway(sessions, rasa), gateway(sessions, rasa)
    texts_sent = [f"question number {i} about my visa" for i in range(8)]
    results = await asyncio.gather(
        *((gw_a if i % 2 else gw_b).receive(message(t)) for i, t in enumerate(texts_sent))
    )
    stored = [m.text for m in inbound_rows(sessions)]
    assert sorted(stored) == sorted(texts_sent)
    assert rasa.order == stored  # Rasa saw them in the order they were stored
    assert [r.replies[0].text for r in results] == [f"reply to {t}" for t in texts_sent]
    assert {m.status for m in inbound_rows(sessions)} == {"answered"}


async def test_a_lease_left_by_a_dead_process_expires(
    sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    gw = gateway(sessions, fake_rasa.transport())
    await gw.handle(message("hello, good morning to you"))
    with transaction(sessions) as s:  # a process died holding the chat's turn
        s.execute(
            update(ChatIdentity).values(
                lease_owner="dead", lease_until=utcnow() - dt.timedelta(seconds=1)
            )
        )
    (reply,) = await gw.handle(message("and how do I extend my visa?"))
    assert reply.text.startswith("reply to and how do I")


async def test_a_message_stored_by_a_stopped_gateway_is_answered_after_restart(
    sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    """Stored (acknowledged to the channel), then the process stopped before answering:
    the next process's sweeper answers it, through the outbox, as nobody waits for it."""
    stopped = gateway(sessions, fake_rasa.transport())
    web = await stopped.accept(message("Where is the service center?", channel="webchat"))
    tg = await stopped.accept(message("How do I extend my visa?", channel="telegram"))
    assert {r.status for r in inbound_rows(sessions)} == {"received"}
    restarted = gateway(sessions, fake_rasa.transport())
    assert await restarted.recover() == 2
    rows = inbound_rows(sessions)
    assert [r.status for r in rows] == ["answered", "answered"]
    queued = outbox_rows(sessions)
    assert {(q.channel, q.kind, q.status) for q in queued} == {
        ("webchat", "reply", "pending"),
        ("telegram", "reply", "pending"),
    }
    assert {q.idempotency_key for q in queued} == {
        f"reply:{web.message_id}:0",
        f"reply:{tg.message_id}:0",
    }
    assert await restarted.recover() == 0  # nothing answered twice


async def test_a_message_found_too_late_gets_an_apology(
    sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    stopped = gateway(sessions, fake_rasa.transport())
    await stopped.accept(message("Привет! Как продлить визу?", channel="telegram"))
    with transaction(sessions) as s:
        s.execute(update(Message).values(created_at=utcnow() - dt.timedelta(hours=2)))
    with transaction(sessions) as s:  # the chat's language was known
        s.execute(update(ChatIdentity).values(language="ru"))
    late = gateway(sessions, fake_rasa.transport(), InboxTiming(orphan_after=dt.timedelta(0)))
    assert await late.recover() == 1
    (row,) = inbound_rows(sessions)
    assert row.status == "failed"
    (apology,) = outbox_rows(sessions)
    hotline = office_value("immigration_hotline")
    assert apology.text == gettext("ru", texts.LATE_APOLOGY, hotline=hotline)
    assert fake_rasa.requests == []  # not sent to Rasa as if nothing happened


async def test_a_request_that_waits_too_long_gets_its_reply_through_the_outbox(
    sessions: sessionmaker[Session],
) -> None:
    rasa = GatedRasa("slow question")
    impatient = InboxTiming(wait_s=0.3, poll_s=0.05)
    holder = gateway(sessions, rasa)
    waiter = gateway(sessions, GatedRasa(), impatient)
    await holder.handle(message("hello, good morning to you"))
    busy = asyncio.create_task(holder.receive(message("slow question")))
    await rasa.arrived["slow question"].wait()
    result = await waiter.receive(message("quick question"))
    assert result.status == "received"
    assert [r.text for r in result.replies] == [gettext("en", texts.STILL_WORKING)]
    rasa.release["slow question"].set()
    await busy
    # The message is answered by whoever takes the chat next (here: the sweeper).
    await holder.recover()
    rows = inbound_rows(sessions)
    assert [r.status for r in rows] == ["answered"] * 3
    (later,) = outbox_rows(sessions)
    assert (later.channel, later.text) == ("webchat", "reply to quick question")


async def test_every_message_ends_in_exactly_one_final_state(
    assistant: Assistant, fake_rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    fake_rasa.handler = lambda body: (
        httpx.Response(500) if "broken" in body["message"] else FakeRasa.echo_intent(body)
    )
    for text, kind in [
        ("hello there", "text"),
        ("", "text"),
        ("🙂", "text"),
        ("123", "text"),
        ("a broken question", "text"),
        ("", "sticker"),
        ("/language fr", "button"),
        ("forget me", "photo"),
    ]:
        await assistant.handle(message(text, kind=kind))  # type: ignore[arg-type]
    statuses = [m.status for m in inbound_rows(sessions)]
    assert statuses == [
        "answered",
        "rejected",
        "rejected",
        "answered",
        "failed",
        "rejected",
        "answered",
        "rejected",
    ]
    assert set(statuses) <= FINAL


async def test_a_message_answered_through_the_outbox_is_not_answered_again_in_a_retry(
    sessions: sessionmaker[Session],
) -> None:
    """The request stopped waiting, so the answer goes to the outbox; the same message
    sent again gets no replies in the response (the page shows the outbox's): never
    shown twice, and Rasa asked once."""
    rasa = GatedRasa("slow question")
    holder = gateway(sessions, rasa)
    waiter = gateway(sessions, rasa, InboxTiming(wait_s=0.2, poll_s=0.05))
    await holder.handle(message("hello, good morning to you"))
    busy = asyncio.create_task(holder.receive(message("slow question")))
    await rasa.arrived["slow question"].wait()
    gave_up = await waiter.receive(message("quick question", msg_id="q-1"))
    assert (gave_up.status, gave_up.later) == ("received", True)
    rasa.release["slow question"].set()
    await busy
    retry = await waiter.receive(message("quick question", msg_id="q-1"))
    assert (retry.status, retry.replies, retry.later, retry.duplicate) == (
        "answered",
        [],
        True,
        True,
    )
    (row,) = outbox_rows(sessions)
    assert row.text == "reply to quick question"
    assert rasa.order.count("quick question") == 1
