"""Rasa forgets too: "forget me" asks, in the same transaction, for Rasa's copy of the
conversation to be deleted (bot.db.erasures); the erasure job (bot.jobs.erasures) asks
Rasa's channel and keeps the request until Rasa has done it. Rasa is faked at its HTTP
edge (tests/integration/test_rasa_channel.py and test_rasa_forget.py: the real one)."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import ChatIdentity, RasaErasure
from bot.jobs.erasures import erase_in_rasa
from bot.messages import Inbound
from bot.pipeline.assistant import Assistant
from bot.pipeline.rasa_client import RasaClient
from tests.conftest import FakeRasa
from tests.helpers import new_id


async def forget_me(assistant: Assistant, sessions: sessionmaker[Session], user: str) -> str:
    """The chat's public id before it was forgotten (all Rasa knows it by)."""
    with sessions() as s:
        before = set(s.scalars(select(RasaErasure.sender)))
    for text in ("hello", "/forget yes"):
        await assistant.handle(
            Inbound(message_id=new_id(), channel="telegram", external_id=user, text=text)
        )
    with sessions() as s:
        (asked,) = set(s.scalars(select(RasaErasure.sender))) - before
        now = s.scalars(select(ChatIdentity.public_id).where(ChatIdentity.external_id == user))
        assert now.one() != asked
    return asked


def waiting(sessions: sessionmaker[Session]) -> list[RasaErasure]:
    with sessions() as s:
        return list(s.scalars(select(RasaErasure).order_by(RasaErasure.requested_at)))


async def test_forgetting_asks_rasa_to_forget_the_old_conversation_once(
    assistant: Assistant, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    old = await forget_me(assistant, sessions, "u1")
    # Rasa saw the chat under its old id, and is asked to forget exactly that one.
    assert [r["sender"] for r in fake_rasa.requests] == [old]
    assert [e.sender for e in waiting(sessions)] == [old]
    rasa = RasaClient("http://rasa.test", transport=fake_rasa.transport())
    result = await erase_in_rasa(sessions, rasa)
    assert (result.erased, result.left) == (1, 0)
    assert fake_rasa.forgotten == [old] and waiting(sessions) == []
    # Nothing more to do: Rasa is not asked again.
    assert (await erase_in_rasa(sessions, rasa)).erased == 0 and fake_rasa.forgotten == [old]


async def test_while_rasa_fails_the_requests_wait_and_are_done_later_in_order(
    assistant: Assistant, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    first = await forget_me(assistant, sessions, "u1")
    second = await forget_me(assistant, sessions, "u2")
    rasa = RasaClient("http://rasa.test", transport=fake_rasa.transport())
    answers = {
        "down": lambda body: httpx.Response(503, json={"error": "OperationalError"}),
        "not the protocol": lambda body: httpx.Response(200, text="<html>proxy page</html>"),
        "another store": lambda body: httpx.Response(501, json={"error": "cannot delete"}),
    }
    for attempt, (name, answer) in enumerate(answers.items(), start=1):
        fake_rasa.forget_handler = answer
        result = await erase_in_rasa(sessions, rasa)
        # The first failure stops the run: the others would fail the same way.
        assert (result.erased, result.left) == (0, 2), name
        kept = waiting(sessions)
        assert [e.sender for e in kept] == [first, second], name
        assert kept[0].attempts == attempt and kept[0].last_error, name
        assert kept[1].attempts == 0, name
    fake_rasa.forget_handler = lambda body: httpx.Response(200, json={"deleted": 0})
    result = await erase_in_rasa(sessions, rasa)
    assert (result.erased, result.left) == (2, 0) and waiting(sessions) == []
    assert fake_rasa.forgotten[-2:] == [first, second]


async def test_rasa_unreachable_keeps_the_request(
    assistant: Assistant, sessions: sessionmaker[Session]
) -> None:
    old = await forget_me(assistant, sessions, "u1")

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    rasa = RasaClient("http://rasa.test", transport=httpx.MockTransport(refuse))
    result = await erase_in_rasa(sessions, rasa)
    assert (result.erased, result.left) == (0, 1)
    (kept,) = waiting(sessions)
    assert kept.sender == old and "unreachable" in (kept.last_error or "")
