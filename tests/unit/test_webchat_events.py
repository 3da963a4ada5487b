"""The web chat's event stream and message ids (bot/channels/webchat.py), over ASGI with
the fake Rasa, on SQLite and PostgreSQL: what the outbox holds for a chat reaches its open
page once, a reconnect or reload gets what it missed, and a message sent again with its
id is answered once.

httpx's ASGITransport returns a response only once the app has finished with it, and an
event stream never finishes: ``EventStream`` calls the app itself, reads the events as
they are sent, and disconnects like a browser that closes the page. Every wait has a
deadline (``WAIT_S``), so that a broken stream fails a test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette
from starlette.types import Message as AsgiMessage

from bot import texts
from bot.answers.render import to_html
from bot.channels import webchat, webchat_sessions
from bot.channels.webchat import SESSION_COOKIE, WebChat
from bot.db import transaction
from bot.db.models import ChatIdentity, Message, Outbox
from bot.delivery import outbox
from bot.delivery.mailbox import Mailbox
from bot.delivery.outbox import Item
from bot.i18n import gettext
from bot.nlu.rasa_runtime import domain_intents
from bot.pipeline.assistant import Assistant, InboxTiming
from bot.pipeline.rasa_client import RasaClient
from tests.conftest import FakeRasa
from tests.fakes.gated_rasa import GatedRasa
from tests.helpers import REGISTRY_KEY

WAIT_S = 10.0
EVENTS = "/api/webchat/events"
MESSAGES = "/api/webchat/messages"


@dataclass(frozen=True)
class Event:
    id: str
    data: dict[str, Any]


class EventStream:
    """``GET /api/webchat/events`` as a browser's EventSource makes it, on the ASGI app."""

    def __init__(
        self,
        app: Starlette,
        *,
        token: str,
        query: str = "",
        last_event_id: str | None = None,
    ) -> None:
        headers = [(b"host", b"gw.test"), (b"cookie", f"{SESSION_COOKIE}={token}".encode())]
        if last_event_id is not None:
            headers.append((b"last-event-id", last_event_id.encode()))
        self._scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": EVENTS,
            "raw_path": EVENTS.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("gw.test", 80),
        }
        self._app = app
        self._closed = asyncio.Event()
        self._changed = asyncio.Event()
        self._buffer = ""
        self.status: int | None = None
        self.events: list[Event] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> EventStream:
        self._task = asyncio.create_task(self._app(self._scope, self._receive, self._send))
        self._task.add_done_callback(lambda _t: self._changed.set())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closed.set()  # the browser goes away
        assert self._task is not None
        await asyncio.wait_for(self._task, WAIT_S)

    async def take(self, n: int) -> list[Event]:
        """The stream's first ``n`` events, once they have been sent."""

        async def enough() -> None:
            assert self._task is not None
            while len(self.events) < n:
                if self._task.done():
                    self._task.result()  # an error in the app, raised here
                    raise AssertionError(f"stream ended ({self.status}) after {self.events}")
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(enough(), WAIT_S)
        return self.events[:n]

    async def _receive(self) -> AsgiMessage:
        await self._closed.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: AsgiMessage) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            self._buffer += message.get("body", b"").decode().replace("\r\n", "\n")
            while "\n\n" in self._buffer:
                block, self._buffer = self._buffer.split("\n\n", 1)
                fields: dict[str, list[str]] = {}
                for line in block.split("\n"):
                    if line and not line.startswith(":"):  # ":" starts a ping comment
                        name, _, value = line.partition(":")
                        fields.setdefault(name, []).append(value.removeprefix(" "))
                if "data" in fields:
                    data = json.loads("\n".join(fields["data"]))
                    self.events.append(Event(fields.get("id", [""])[-1], data))
        self._changed.set()


@dataclass
class Gateway:
    """The web chat's routes over ASGI (WebChat itself, so that tests can reach it)."""

    chat: WebChat
    app: Starlette
    client: httpx.AsyncClient

    @property
    def token(self) -> str:
        return self.client.cookies[SESSION_COOKIE]

    async def say(self, text: str, message_id: str | None = None) -> httpx.Response:
        body: dict[str, Any] = {"text": text}
        if message_id is not None:
            body["id"] = message_id
        resp = await self.client.post(MESSAGES, json=body)
        assert resp.status_code == 200, resp.text
        return resp

    def stream(self, *, query: str = "", last_event_id: str | None = None) -> EventStream:
        return EventStream(self.app, token=self.token, query=query, last_event_id=last_event_id)


@contextlib.asynccontextmanager
async def gateway_of(
    assistant: Assistant, mailbox: Mailbox | None = None
) -> AsyncIterator[Gateway]:
    chat = WebChat(assistant, mailbox=mailbox)
    app = Starlette(routes=chat.routes())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
        yield Gateway(chat, app, client)


@pytest.fixture
async def gw(assistant: Assistant) -> AsyncIterator[Gateway]:
    async with gateway_of(assistant) as gateway:
        yield gateway


_keys = itertools.count()


def enqueue(
    sessions: sessionmaker[Session],
    token: str,
    text: str,
    *,
    language: str = "en",
    buttons: list[dict[str, Any]] | None = None,
) -> int:
    """A reminder for the chat of session ``token``, as the reminders job queues it."""
    with transaction(sessions) as session:
        identity = session.scalars(
            select(ChatIdentity).where(
                ChatIdentity.channel == "webchat",
                ChatIdentity.external_id == webchat_sessions.external_id(token),
            )
        ).one()
        row_id = outbox.to_chat(
            session,
            key=f"test:{next(_keys)}",
            identity=identity,
            kind="reminder",
            text=text,
            language=language,
            buttons=buttons,
        )
    assert row_id is not None
    return row_id


def collected_elsewhere(sessions: sessionmaker[Session], *row_ids: int) -> None:
    """What another open tab of the same chat does to the rows it was sent."""
    with transaction(sessions) as session:
        outbox.mark_collected(session, row_ids=row_ids)


def status_of(sessions: sessionmaker[Session], row_id: int) -> str:
    with sessions() as session:
        row = session.get(Outbox, row_id)
        assert row is not None
        return row.status


def count(sessions: sessionmaker[Session], model: type[Any]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


async def eventually(check: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not check():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), WAIT_S)


def ids(events: list[Event]) -> list[str]:
    return [e.id for e in events]


# The event stream ---------------------------------------------------------------------


async def test_without_a_session_the_stream_is_refused_with_204(
    gw: Gateway, sessions: sessionmaker[Session]
) -> None:
    """204 is what makes EventSource stop reconnecting until the page opens it again."""
    resp = await gw.client.get(EVENTS)
    assert (resp.status_code, resp.content) == (204, b"")
    # A token of the right shape that this server never issued is no session either.
    gw.client.cookies.set(SESSION_COOKIE, "A" * 43)
    resp = await gw.client.get(EVENTS)
    assert (resp.status_code, resp.content) == (204, b"")
    assert count(sessions, ChatIdentity) == 0


async def test_a_pending_row_is_streamed_with_its_id_and_then_delivered(
    gw: Gateway, sessions: sessionmaker[Session]
) -> None:
    await gw.say("hello there, a question")
    text = "تنتهي تأشيرتك ••••0001 في **12 مايو**"
    row = enqueue(
        sessions, gw.token, text, language="ar", buttons=[{"title": "القائمة", "payload": "/menu"}]
    )
    async with gw.stream() as stream:
        (event,) = await stream.take(1)
        assert stream.status == 200
        assert event == Event(
            str(row),
            {
                "kind": "reminder",
                "html": to_html(text),
                "language": "ar",
                "dir": "rtl",
                "buttons": [{"title": "القائمة", "payload": "/menu"}],
            },
        )
        await eventually(lambda: status_of(sessions, row) == "delivered")
    # A page opened later (no Last-Event-ID, no ?after=) is not sent it again: its first
    # event is the next row.
    later = enqueue(sessions, gw.token, "a second reminder")
    async with gw.stream() as stream:
        assert ids(await stream.take(1)) == [str(later)]


async def test_a_row_queued_while_the_page_waits_wakes_it(
    assistant: Assistant, sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mailbox wakes the waiting stream: without it, it would wait an hour here."""
    monkeypatch.setattr(webchat, "PING_S", 3600)
    mailbox = Mailbox(sessions, ["webchat"])
    await mailbox.check()  # the first check notes where the outbox is
    async with gateway_of(assistant, mailbox) as gateway:
        await gateway.say("hello there, a question")
        empty_reads: list[int] = []
        read = gateway.chat._collect

        async def counting(identity_id: int, after: int | None) -> list[Item]:
            items = await read(identity_id, after)
            if not items:
                empty_reads.append(identity_id)
            return items

        monkeypatch.setattr(gateway.chat, "_collect", counting)
        async with gateway.stream() as stream:
            await eventually(lambda: bool(empty_reads))  # found nothing: now it waits
            row = enqueue(sessions, gateway.token, "your visa expires soon")
            await mailbox.check()
            assert ids(await stream.take(1)) == [str(row)]
            await eventually(lambda: status_of(sessions, row) == "delivered")


async def test_a_reconnect_or_reload_gets_what_other_tabs_collected_since_and_no_earlier(
    gw: Gateway, sessions: sessionmaker[Session]
) -> None:
    """Rows are sent in id order: had an earlier one been sent, it would come first."""
    await gw.say("hello there, a question")
    r1, r2, r3 = (enqueue(sessions, gw.token, f"reminder {i}") for i in range(3))
    collected_elsewhere(sessions, r1, r2, r3)
    # The browser's reconnect of an EventSource that showed r1.
    async with gw.stream(last_event_id=str(r1)) as stream:
        assert ids(await stream.take(2)) == [str(r2), str(r3)]
    # A reloaded page that showed up to r2.
    async with gw.stream(query=f"after={r2}") as stream:
        assert ids(await stream.take(1)) == [str(r3)]
    # The reconnect of a stream opened with ?after=: Last-Event-ID is the newer news.
    async with gw.stream(query=f"after={r1}", last_event_id=str(r2)) as stream:
        assert ids(await stream.take(1)) == [str(r3)]
    # A row no tab has collected is sent, whatever the page showed after it.
    r4, r5 = enqueue(sessions, gw.token, "reminder 4"), enqueue(sessions, gw.token, "reminder 5")
    collected_elsewhere(sessions, r5)
    async with gw.stream(query=f"after={r5}") as stream:
        assert ids(await stream.take(1)) == [str(r4)]
        await eventually(lambda: status_of(sessions, r4) == "delivered")


@pytest.mark.parametrize("seen", ["abc", "-1", "1.5", "²", "9" * 30])
@pytest.mark.parametrize("sent_as", ["query", "header"])
async def test_a_nonsense_last_seen_id_counts_as_none(
    gw: Gateway, sessions: sessionmaker[Session], seen: str, sent_as: str
) -> None:
    await gw.say("hello there, a question")
    first, second = enqueue(sessions, gw.token, "one"), enqueue(sessions, gw.token, "two")
    collected_elsewhere(sessions, first)
    if sent_as == "query":
        opened = gw.stream(query=urlencode({"after": seen}))
    else:
        opened = gw.stream(last_event_id=seen)
    async with opened as stream:
        # As for a new page: the row not collected yet, not the one collected already.
        assert ids(await stream.take(1)) == [str(second)]


async def test_another_chats_rows_never_reach_this_page(
    gw: Gateway, sessions: sessionmaker[Session]
) -> None:
    await gw.say("hello there, a question")
    mine = gw.token
    gw.client.cookies.clear()
    await gw.say("hello, another visitor")
    theirs = gw.token
    assert theirs != mine
    enqueue(sessions, theirs, "someone else's reminder")
    own = enqueue(sessions, mine, "my reminder")
    async with EventStream(gw.app, token=mine) as stream:
        (event,) = await stream.take(1)
    assert (event.id, event.data["html"]) == (str(own), to_html("my reminder"))


async def test_an_answer_too_slow_for_the_request_comes_on_the_stream(
    sessions: sessionmaker[Session],
) -> None:
    rasa = GatedRasa("slow question")
    assistant = Assistant(
        sessions=sessions,
        rasa=RasaClient("http://rasa.test", transport=rasa),
        intents=domain_intents(),
        registry_key=REGISTRY_KEY,
        timing=InboxTiming(wait_s=0.3, poll_s=0.05, orphan_after=dt.timedelta(0)),
    )
    async with gateway_of(assistant) as gateway:
        await gateway.say("hello, good morning to you")
        slow = asyncio.create_task(gateway.say("slow question", "slow-1"))
        await asyncio.wait_for(rasa.arrived["slow question"].wait(), WAIT_S)
        # The chat is busy with the slow question: this request stops waiting.
        quick = await gateway.say("quick question", "quick-1")
        notice = gettext("en", texts.STILL_WORKING)
        assert quick.json() == {
            "id": "quick-1",
            "replies": [{"html": to_html(notice), "language": "en", "dir": "ltr", "buttons": []}],
            "pending": True,
        }
        async with gateway.stream() as stream:
            rasa.release["slow question"].set()
            await asyncio.wait_for(slow, WAIT_S)
            assert await assistant.recover() == 1  # the sweeper answers it, into the outbox
            (event,) = await stream.take(1)
        assert event.data["kind"] == "reply"
        assert event.data["html"] == to_html("reply to quick question")


# Message ids --------------------------------------------------------------------------


async def test_the_same_id_twice_is_answered_once_with_the_same_replies(
    gw: Gateway, fake_rasa: FakeRasa, sessions: sessionmaker[Session]
) -> None:
    message_id = str(uuid.uuid4())  # what crypto.randomUUID() makes
    first = await gw.say("How do I extend my visa?", message_id)
    again = await gw.say("How do I extend my visa?", message_id)
    assert len(fake_rasa.requests) == 1
    assert first.json()["id"] == message_id and first.json()["replies"]
    assert again.json() == first.json()
    with sessions() as session:
        inbound = session.scalars(select(Message).where(Message.direction == "in")).all()
        assert [m.channel_message_id for m in inbound] == [message_id]
    # Ids are the page's, per chat: another visitor's message with the same id is new.
    transport = httpx.ASGITransport(app=gw.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as other:
        resp = await other.post(MESSAGES, json={"text": "hello", "id": message_id})
    assert resp.status_code == 200 and len(fake_rasa.requests) == 2


async def test_without_an_id_every_request_is_a_new_message(
    gw: Gateway, fake_rasa: FakeRasa
) -> None:
    first = await gw.say("How do I extend my visa?")
    again = await gw.say("How do I extend my visa?")
    assert len(fake_rasa.requests) == 2
    assert first.json()["id"] != again.json()["id"]


@pytest.mark.parametrize(
    "bad", ["x" * 65, "", "a b", "id/1", "ünï", "abc\n", "١٢٣", 5, 1.5, True, ["a"], {"a": 1}]
)
async def test_a_bad_id_is_refused_and_nothing_is_stored(
    gw: Gateway, fake_rasa: FakeRasa, sessions: sessionmaker[Session], bad: object
) -> None:
    resp = await gw.client.post(MESSAGES, json={"text": "hello there", "id": bad})
    assert resp.status_code == 400 and "id" in resp.json()["error"]
    assert SESSION_COOKIE not in resp.cookies
    assert fake_rasa.requests == []
    assert count(sessions, Message) == 0 and count(sessions, ChatIdentity) == 0


async def test_a_good_id_of_64_characters_is_taken(gw: Gateway, fake_rasa: FakeRasa) -> None:
    resp = await gw.say("hello there", "A-z_9" * 12 + "abcd")
    assert resp.json()["id"] == "A-z_9" * 12 + "abcd" and len(fake_rasa.requests) == 1
