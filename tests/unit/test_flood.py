"""One chat sending a hundred messages at once is told once to slow down; its messages
are stored and end `rejected` without reaching Rasa, and the other chats are answered as
usual. The counters live in Redis when REDIS_URL is set (every gateway counts together)."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.db.models import Message
from bot.messages import Inbound
from bot.nlu.rasa_runtime import domain_intents
from bot.pipeline.assistant import Assistant
from bot.pipeline.flood import FloodGuard, Verdict
from bot.pipeline.rasa_client import RasaClient
from tests.conftest import REDIS_URL, FakeRasa, redis_or_skip
from tests.helpers import REGISTRY_KEY, new_id


async def test_twenty_in_ten_seconds_then_one_notice_then_silence() -> None:
    guard = FloodGuard()
    verdicts = [await guard.check(1) for _ in range(23)]
    assert verdicts[:20] == [Verdict.OK] * 20
    assert verdicts[20:] == [Verdict.NOTICE, Verdict.SILENT, Verdict.SILENT]
    assert await guard.check(2) is Verdict.OK  # another chat is not counted with it


async def test_the_limit_is_configurable() -> None:
    guard = FloodGuard(limits="2 per second")
    assert [await guard.check(7) for _ in range(3)] == [Verdict.OK, Verdict.OK, Verdict.NOTICE]


async def test_two_gateways_count_one_chat_together_in_redis() -> None:
    redis_or_skip()
    chat = time.time_ns()  # a key no earlier run used
    first, second = FloodGuard(REDIS_URL), FloodGuard(REDIS_URL)
    verdicts = [await (first if i % 2 else second).check(chat) for i in range(22)]
    assert verdicts[:20] == [Verdict.OK] * 20
    assert verdicts[20:] == [Verdict.NOTICE, Verdict.SILENT]


async def test_redis_down_lets_messages_through_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard = FloodGuard("redis://127.0.0.1:1/0")  # nothing listens on port 1
    with caplog.at_level(logging.WARNING, logger="bot.pipeline.flood"):
        verdicts = [await guard.check(3) for _ in range(25)]
    assert verdicts == [Verdict.OK] * 25
    warnings = [r for r in caplog.records if "flood guard unavailable" in r.getMessage()]
    assert len(warnings) == 1  # once a minute, not once a message


async def test_a_hundred_messages_at_once_do_not_reach_rasa_and_others_are_answered(
    sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    assistant = Assistant(
        sessions=sessions,
        rasa=RasaClient("http://rasa.test", transport=fake_rasa.transport()),
        intents=domain_intents(),
        registry_key=REGISTRY_KEY,
        flood=FloodGuard(),
    )

    def message(user: str, text: str) -> Inbound:
        return Inbound(channel="telegram", external_id=user, message_id=new_id(), text=text)

    flood = [assistant.receive(message("flooder", f"spam {i}")) for i in range(100)]
    others = [assistant.receive(message(f"user-{i}", "How do I extend my visa?")) for i in range(5)]
    results = await asyncio.gather(*flood, *others)
    flooded, answered = results[:100], results[100:]
    # The others: answered by Rasa, each.
    assert [r.status for r in answered] == ["answered"] * 5
    # The flooder: twenty reached Rasa, the rest were rejected, and one was told why.
    statuses = sorted(r.status for r in flooded)
    assert statuses.count("answered") == 20 and statuses.count("rejected") == 80
    notices = [r for r in flooded if r.replies and texts.SLOW_DOWN in r.replies[0].text]
    assert len(notices) == 1
    assert notices[0].replies[0].text.startswith("You are sending messages faster")
    to_rasa = [b["message"] for b in fake_rasa.requests]
    assert sum(t.startswith("spam") for t in to_rasa) == 20 and len(to_rasa) == 25
    # Nothing lost: every message is stored, in a final state.
    with sessions() as session:
        stored = session.scalars(select(Message.status).where(Message.direction == "in")).all()
    assert len(stored) == 105 and "received" not in stored


async def test_memory_window_slides_and_forgets_quiet_chats(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The in-process window is a moving one (as limits' is) and does not grow with
    every chat ever seen: chats quiet for longer than the longest window are dropped."""
    from limits import parse

    from bot.pipeline import flood

    clock = [1000.0]
    monkeypatch.setattr(flood.time, "monotonic", lambda: clock[0])
    windows = flood.MemoryWindows()
    item = parse("3 per 10 seconds")
    for t in (0.0, 4.0, 8.0):
        clock[0] = 1000.0 + t
        assert await windows.hit(item, "chat", "1")
    assert not await windows.hit(item, "chat", "1")  # 3 in the last 10 s
    clock[0] = 1010.5  # the hit at 0 s has left the window, the others have not
    assert await windows.hit(item, "chat", "1")
    assert not await windows.hit(item, "chat", "1")
    for chat in range(100):
        await windows.hit(item, "chat", str(chat + 2))
    assert len(windows) == 101
    clock[0] = 1010.5 + windows.SWEEP_EVERY_S + 11
    await windows.hit(item, "chat", "new")
    assert len(windows) == 1
