"""Evidence for a dispute ticket through the gateway: photos and documents over the fake
Bot API with the real python-telegram-bot client (tests/telegram_rig.py), uploads to the
web chat's route, and the buttons of one's own tickets (add, withdraw, confirm, reopen)
through the Assistant with a fake Rasa. The chat awaits what the form's question would
make it await ("ticket_evidence", "ticket_story"); the draft is started the form's way
(bot.tickets.tickets.start_draft). Pictures are made with Pillow in code."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.answers.render import to_html
from bot.db import conversations, transaction
from bot.db.models import ChatIdentity, Evidence, Message, Outbox, Ticket, TicketEvent
from bot.i18n import gettext
from bot.messages import Attachment, Inbound, Outbound
from bot.pipeline.assistant import Assistant
from bot.tickets import evidence, lifecycle, notify, render, tickets
from tests.conftest import FakeRasa
from tests.helpers import new_id
from tests.telegram_rig import Rig, telegram_rig
from tests.tickets_helpers import (
    ELF,
    chat,
    count,
    evidence_dir,
    fake_sha,
    file_ticket,
    files_under,
    jpeg,
    jpeg_with_gps,
    png,
    put_status,
    resident,
)

MB = 1024 * 1024
FINAL = ("answered", "rejected", "with_staff", "failed")
DENY = {"title": "Cancel", "payload": "/deny"}


@pytest.fixture(autouse=True)
def evidence_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    with evidence_dir(tmp_path / "evidence", monkeypatch) as root:
        yield root


def en(msgid: str, **params: Any) -> str:
    return gettext("en", msgid, **params)


def prepare(
    sessions: sessionmaker[Session],
    external_id: str,
    awaiting: str | None,
    channel: str = "telegram",
) -> int:
    """The chat as the dispute form leaves it: its draft, and what the question awaits."""
    with transaction(sessions) as s:
        identity = chat(s, external_id, channel=channel, awaiting=awaiting)
        return tickets.start_draft(s, identity=identity, language="en").id


def evidence_of(sessions: sessionmaker[Session], ticket_id: int) -> list[Evidence]:
    with sessions() as s:
        return tickets.evidence_of(s, ticket_id=ticket_id)


def inbound(sessions: sessionmaker[Session], external_id: str) -> list[Message]:
    with sessions() as s:
        return list(
            s.scalars(
                select(Message)
                .join(ChatIdentity, Message.identity_id == ChatIdentity.id)
                .where(Message.direction == "in", ChatIdentity.external_id == external_id)
                .order_by(Message.id)
            )
        )


# --- Telegram, over the fake Bot API ------------------------------------------------------


@pytest.fixture
async def rig(assistant: Assistant) -> AsyncIterator[Rig]:
    async with telegram_rig(assistant) as running:
        yield running


async def told(sessions: sessionmaker[Session], rig: Rig, user: int, messages: int) -> list[Outbox]:
    """Once the chat's ``messages`` inbound messages are handled and every reply they
    caused has gone out: those replies, in order (each one sent to Telegram)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with sessions() as s:
            handled = [m.status for m in inbound(sessions, str(user))]
            rows = list(
                s.scalars(select(Outbox).where(Outbox.recipient == str(user)).order_by(Outbox.id))
            )
        settled = len(handled) >= messages and all(st in FINAL for st in handled)
        if settled and all(r.status == "delivered" for r in rows):
            sent = [p for p in rig.fake.sent("sendMessage") if str(p["chat_id"]) == str(user)]
            assert len(sent) == len(rows)
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError(f"chat {user}: {handled} handled, replies {[r.status for r in rows]}")


def fetched(rig: Rig) -> list[str]:
    return [name for name, _ in rig.fake.calls if name in ("getFile", "download")]


async def test_an_album_of_five_photos_is_one_draft_five_files_and_one_acknowledgement(
    rig: Rig, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    draft_id = prepare(sessions, "901", "ticket_evidence")
    for i in range(5):
        rig.fake.push_image(901, jpeg(i), album="13960472848")
    (ack,) = await told(sessions, rig, 901, 5)
    assert ack.text == en(texts.EVIDENCE_RECEIVED)
    assert ack.buttons == [{"title": en(texts.DONE), "payload": "done"}]
    files = evidence_of(sessions, draft_id)
    assert len(files) == 5 and len({f.sha256 for f in files}) == 5
    assert {f.album for f in files} == {"13960472848"}
    assert {f.mime for f in files} == {"image/jpeg"}
    assert [m.status for m in inbound(sessions, "901")] == ["answered"] * 5
    with sessions() as s:
        (draft,) = s.scalars(select(Ticket)).all()
        assert draft.id == draft_id and draft.status == lifecycle.DRAFT
    assert fake_rasa.requests == []


async def test_a_photos_gps_position_is_not_kept(
    rig: Rig, sessions: sessionmaker[Session], evidence_root: Path
) -> None:
    draft_id = prepare(sessions, "902", "ticket_evidence")
    raw = jpeg_with_gps()
    assert Image.open(io.BytesIO(raw)).getexif().get_ifd(0x8825)  # the fixture has GPS
    rig.fake.push_document(902, raw, name="IMG_0001.JPG", mime="image/jpeg")
    (ack,) = await told(sessions, rig, 902, 1)
    assert ack.text == en(texts.EVIDENCE_RECEIVED)
    (kept,) = evidence_of(sessions, draft_id)
    assert (kept.mime, kept.name) == ("image/jpeg", "IMG_0001.jpg")
    data = evidence.read(kept.sha256)
    assert evidence.path_of(kept.sha256).is_relative_to(evidence_root)
    image = Image.open(io.BytesIO(data))
    assert not image.getexif().get_ifd(0x8825)
    assert b"GPS" not in data and b"SecretPhone" not in data


async def test_a_program_named_photo_jpg_is_refused_and_nothing_kept(
    rig: Rig, sessions: sessionmaker[Session], evidence_root: Path
) -> None:
    draft_id = prepare(sessions, "903", "ticket_evidence")
    rig.fake.push_document(903, ELF, name="photo.jpg", mime="image/jpeg")
    (reply,) = await told(sessions, rig, 903, 1)
    assert reply.text == en(texts.EVIDENCE_NOT_ACCEPTED)
    assert evidence_of(sessions, draft_id) == []
    assert files_under(evidence_root) == []
    assert [m.status for m in inbound(sessions, "903")] == ["rejected"]


async def test_a_document_declared_50_mb_is_refused_without_downloading_it(
    rig: Rig, sessions: sessionmaker[Session], evidence_root: Path
) -> None:
    draft_id = prepare(sessions, "904", "ticket_evidence")
    rig.fake.push_document(
        904, b"%PDF-1.4\n%%EOF\n", name="contract.pdf", mime="application/pdf",
        declared_size=50 * MB,
    )  # fmt: skip
    (reply,) = await told(sessions, rig, 904, 1)
    assert reply.text == en(texts.EVIDENCE_TOO_BIG, mb=10)
    assert fetched(rig) == []
    assert evidence_of(sessions, draft_id) == [] and files_under(evidence_root) == []


async def test_an_eleventh_file_is_refused(
    rig: Rig, sessions: sessionmaker[Session], evidence_root: Path
) -> None:
    draft_id = prepare(sessions, "905", "ticket_evidence")
    with transaction(sessions) as s:
        draft = s.get(Ticket, draft_id)
        assert draft is not None
        for n in range(10):
            tickets.add_evidence(
                s, ticket=draft, sha256=fake_sha(n), mime="image/png", size=10,
                name=f"{n}.png", message_id=None, album=None,
            )  # fmt: skip
    rig.fake.push_image(905, jpeg(11))
    (reply,) = await told(sessions, rig, 905, 1)
    assert reply.text == en(texts.EVIDENCE_TOO_MANY, files=10)
    assert len(evidence_of(sessions, draft_id)) == 10
    assert files_under(evidence_root) == []  # stored, refused, removed again
    assert [m.status for m in inbound(sessions, "905")] == ["rejected"]


async def test_a_photo_when_text_is_expected_is_kept_and_the_question_asked_again(
    rig: Rig, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    draft_id = prepare(sessions, "906", "ticket_story")
    question = en(texts.ASK_TICKET_STORY)
    with transaction(sessions) as s:
        identity = s.scalars(select(ChatIdentity)).one()
        conv = conversations.current_conversation(s, identity=identity)
        conversations.record_outbound(
            s, conversation_id=conv.id, text="Something earlier", language="en", reply_to=None
        )
        conversations.record_outbound(
            s, conversation_id=conv.id, text=question, language="en", reply_to=None,
            buttons=[DENY],
        )  # fmt: skip
    rig.fake.push_image(906, jpeg(6))
    kept, again = await told(sessions, rig, 906, 1)
    assert kept.text == en(texts.EVIDENCE_KEPT)
    assert (again.text, again.buttons) == (question, [DENY])
    assert len(evidence_of(sessions, draft_id)) == 1
    with sessions() as s:
        assert s.scalars(select(ChatIdentity.awaiting)).one() == "ticket_story"  # still
    assert fake_rasa.requests == []


async def test_a_photo_without_a_form_open_is_still_unsupported(
    rig: Rig, sessions: sessionmaker[Session], fake_rasa: FakeRasa
) -> None:
    prepare(sessions, "907", None)  # a draft left, but no question of the form awaits
    rig.fake.push_image(907, jpeg(7))
    (reply,) = await told(sessions, rig, 907, 1)
    assert reply.text == en(texts.UNSUPPORTED_MEDIA)
    assert fetched(rig) == []
    with sessions() as s:
        assert count(s, Evidence) == 0
    assert fake_rasa.requests == []


async def test_a_file_telegram_cannot_give_is_asked_again_and_nothing_is_lost(
    rig: Rig, sessions: sessionmaker[Session]
) -> None:
    draft_id = prepare(sessions, "908", "ticket_evidence")
    rig.fake.push_photo(908, "the receipt")  # a file_id the fake does not know: getFile 400
    (reply,) = await told(sessions, rig, 908, 1)
    assert reply.text == en(texts.EVIDENCE_UNAVAILABLE)
    assert fetched(rig) == ["getFile"]
    (message,) = inbound(sessions, "908")
    assert (message.kind, message.status, message.text) == ("photo", "rejected", "the receipt")
    assert message.attachment == {
        "ref": "AgACAgIAAxk", "name": None, "mime": "image/jpeg", "size": None, "album": None,
    }  # fmt: skip
    assert evidence_of(sessions, draft_id) == []


# --- the web chat's upload route ---------------------------------------------------------------


UPLOAD = "/api/webchat/upload"


def upload_headers(message_id: str, name: str = "receipt.png", **more: str) -> dict[str, str]:
    return {
        "Content-Type": "application/octet-stream",
        "X-Message-Id": message_id,
        "X-File-Name": name,
        **more,
    }


async def webchat_draft(webchat: httpx.AsyncClient, sessions: sessionmaker[Session]) -> int:
    assert (await webchat.post("/api/webchat/session", json={})).status_code == 204
    with sessions() as s:
        external_id = s.scalars(
            select(ChatIdentity.external_id).where(ChatIdentity.channel == "webchat")
        ).one()
    return prepare(sessions, external_id, "ticket_evidence", channel="webchat")


async def test_a_web_upload_is_kept_once_however_often_it_is_sent(
    webchat: httpx.AsyncClient, sessions: sessionmaker[Session], evidence_root: Path
) -> None:
    draft_id = await webchat_draft(webchat, sessions)
    picture = png(3)
    first = await webchat.post(UPLOAD, content=picture, headers=upload_headers("up-1"))
    assert first.status_code == 200
    assert [r["html"] for r in first.json()["replies"]] == [to_html(en(texts.EVIDENCE_RECEIVED))]
    again = await webchat.post(UPLOAD, content=picture, headers=upload_headers("up-1"))
    assert again.json()["replies"] == first.json()["replies"]
    (kept,) = evidence_of(sessions, draft_id)
    assert (kept.mime, kept.name) == ("image/png", "receipt.png")
    assert Image.open(io.BytesIO(evidence.read(kept.sha256))).format == "PNG"


async def test_a_web_upload_over_10_mb_is_answered_and_not_kept(
    webchat: httpx.AsyncClient, sessions: sessionmaker[Session], evidence_root: Path
) -> None:
    draft_id = await webchat_draft(webchat, sessions)
    body = png(4) + b"\0" * (10 * MB + 1 - len(png(4)))
    resp = await webchat.post(UPLOAD, content=body, headers=upload_headers("big-1"))
    assert resp.status_code == 200
    assert [r["html"] for r in resp.json()["replies"]] == [
        to_html(en(texts.EVIDENCE_TOO_BIG, mb=10))
    ]
    assert evidence_of(sessions, draft_id) == []
    assert files_under(evidence_root) == []


async def test_the_upload_route_refuses_other_formats_other_sites_and_no_session(
    webchat: httpx.AsyncClient, sessions: sessionmaker[Session], evidence_root: Path
) -> None:
    no_session = await webchat.post(UPLOAD, content=png(), headers=upload_headers("n-1"))
    assert no_session.status_code == 401
    await webchat_draft(webchat, sessions)
    wrong_type = upload_headers("n-2") | {"Content-Type": "image/png"}
    assert (await webchat.post(UPLOAD, content=png(), headers=wrong_type)).status_code == 415
    other_site = upload_headers("n-3", Origin="https://evil.example")
    assert (await webchat.post(UPLOAD, content=png(), headers=other_site)).status_code == 403
    with sessions() as s:
        assert count(s, Evidence) == 0
        assert count(s, Message, Message.direction == "in") == 0
    assert files_under(evidence_root) == []


# --- the buttons of one's own tickets, through the Assistant ---------------------------------


class Files:
    """A channel's files (bot.messages.Fetcher) by reference."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    async def fetch(self, attachment: Attachment, *, max_bytes: int) -> bytes:
        return self.data[attachment.ref]


@pytest.fixture
def files(assistant: Assistant) -> Files:
    store = Files()
    assistant.fetchers["telegram"] = store
    return store


async def press(assistant: Assistant, payload: str, user: str = "u1") -> list[Outbound]:
    return await assistant.handle(
        Inbound(
            channel="telegram", external_id=user, message_id=new_id(), text=payload, kind="button"
        )
    )


async def write(assistant: Assistant, text: str, user: str = "u1") -> list[Outbound]:
    return await assistant.handle(
        Inbound(channel="telegram", external_id=user, message_id=new_id(), text=text)
    )


async def photo(
    assistant: Assistant, files: Files, data: bytes, user: str = "u1"
) -> list[Outbound]:
    ref = f"file-{len(files.data)}"
    files.data[ref] = data
    return await assistant.handle(
        Inbound(
            channel="telegram", external_id=user, message_id=new_id(), kind="photo",
            attachment=Attachment(ref=ref, mime="image/jpeg", size=len(data)),
        )
    )  # fmt: skip


def a_ticket(
    sessions: sessionmaker[Session], status: str = lifecycle.SUBMITTED, user: str = "u1"
) -> tuple[int, str]:
    with transaction(sessions) as s:
        ticket = file_ticket(s, chat(s, user))
        put_status(s, ticket, status)
        return ticket.id, str(ticket.number)


def state(
    sessions: sessionmaker[Session], ticket_id: int
) -> tuple[str, list[tuple[str, str | None]]]:
    with sessions() as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None
        events = s.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
        )
        return ticket.status, [(e.kind, e.to_status) for e in events]


def awaiting(sessions: sessionmaker[Session], user: str = "u1") -> str | None:
    with sessions() as s:
        return s.scalar(select(ChatIdentity.awaiting).where(ChatIdentity.external_id == user))


def detail(sessions: sessionmaker[Session], ticket_id: int) -> str:
    with sessions() as s:
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None
        return render.ticket_detail(s, "en", ticket)[0]


async def test_add_to_an_open_ticket_a_photo_then_a_message(
    assistant: Assistant, sessions: sessionmaker[Session], files: Files, fake_rasa: FakeRasa
) -> None:
    ticket_id, number = a_ticket(sessions, lifecycle.WAITING_USER)
    (prompt,) = await press(assistant, f"/ticket {number} add")
    assert prompt.text == en(texts.TICKET_ADD_PROMPT, number=number)
    assert [b.payload for b in prompt.buttons] == [f"/ticket {number} done"]
    assert awaiting(sessions) == f"ticket_add:{ticket_id}"

    (added,) = await photo(assistant, files, jpeg(1))
    assert added.text == en(texts.TICKET_ADDED, number=number)
    (kept,) = evidence_of(sessions, ticket_id)
    assert kept.mime == "image/jpeg"
    assert awaiting(sessions) == f"ticket_add:{ticket_id}"

    (thanks,) = await write(assistant, "The supplier called me back today.")
    assert thanks.text == en(texts.TICKET_ADDED, number=number)
    status, events = state(sessions, ticket_id)
    assert events[-3:] == [("evidence", None), ("user_message", None), ("status", "in_progress")]
    assert status == lifecycle.IN_PROGRESS  # it waited for the user: back to work
    with sessions() as s:
        said = s.scalars(select(TicketEvent).where(TicketEvent.kind == "user_message")).one()
        assert said.text == "The supplier called me back today."
    # Everything goes to the ticket until Done; then the assistant answers again.
    assert awaiting(sessions) == f"ticket_add:{ticket_id}"
    (done,) = await press(assistant, f"/ticket {number} done")
    assert done.text == en(texts.TICKET_ADDED, number=number)
    assert awaiting(sessions) is None
    assert fake_rasa.requests == []


async def test_add_a_message_then_a_photo(
    assistant: Assistant, sessions: sessionmaker[Session], files: Files
) -> None:
    ticket_id, number = a_ticket(sessions)
    await press(assistant, f"/ticket {number} add")
    (thanks,) = await write(assistant, "Photos of the broken goods follow.")
    assert thanks.text == en(texts.TICKET_ADDED, number=number)
    (added,) = await photo(assistant, files, jpeg(2))
    assert added.text == en(texts.TICKET_ADDED, number=number)
    assert len(evidence_of(sessions, ticket_id)) == 1


async def test_nothing_can_be_added_to_a_closed_ticket(
    assistant: Assistant, sessions: sessionmaker[Session]
) -> None:
    ticket_id, number = a_ticket(sessions, lifecycle.CLOSED)
    (reply,) = await press(assistant, f"/ticket {number} add")
    status = notify.status_label("en", lifecycle.CLOSED)
    assert reply.text == en(texts.TICKET_CLOSED_FOR_INPUT, number=number, status=status)
    assert awaiting(sessions) is None
    assert state(sessions, ticket_id) == (lifecycle.CLOSED, [("status", "submitted")])


@pytest.mark.parametrize(
    ("start", "verb", "end", "msgid"),
    [
        (lifecycle.TRIAGED, "withdraw!", lifecycle.WITHDRAWN, texts.TICKET_NOW_WITHDRAWN),
        (lifecycle.RESOLVED, "ok", lifecycle.CLOSED, texts.TICKET_NOW_CLOSED),
        (lifecycle.RESOLVED, "reopen", lifecycle.IN_PROGRESS, texts.TICKET_NOW_REOPENED),
    ],
)
async def test_a_press_changes_the_ticket_once_and_again_shows_it_as_it_is(
    assistant: Assistant,
    sessions: sessionmaker[Session],
    start: str,
    verb: str,
    end: str,
    msgid: str,
) -> None:
    ticket_id, number = a_ticket(sessions, start)
    (done,) = await press(assistant, f"/ticket {number} {verb}")
    assert done.text == en(msgid, number=number)
    status, events = state(sessions, ticket_id)
    assert (status, events[-1]) == (end, ("status", end))
    with sessions() as s:
        last = s.scalars(select(TicketEvent).order_by(TicketEvent.id.desc())).first()
        assert last is not None and last.actor == "user"
        assert s.scalars(select(Outbox)).all() == []  # told in the reply, not twice

    (again,) = await press(assistant, f"/ticket {number} {verb}")
    assert again.text == detail(sessions, ticket_id)
    assert state(sessions, ticket_id) == (status, events)
    assert [m.status for m in inbound(sessions, "u1")] == ["answered", "rejected"]


async def test_withdraw_asks_first(assistant: Assistant, sessions: sessionmaker[Session]) -> None:
    ticket_id, number = a_ticket(sessions)
    (question,) = await press(assistant, f"/ticket {number} withdraw")
    assert question.text == en(texts.TICKET_WITHDRAW_CONFIRM, number=number)
    assert [b.payload for b in question.buttons] == [
        f"/ticket {number} withdraw!",
        f"/ticket {number} show",
    ]
    assert state(sessions, ticket_id)[0] == lifecycle.SUBMITTED


async def test_the_residents_other_chat_can_add_to_a_ticket_it_is_shown(
    assistant: Assistant, sessions: sessionmaker[Session]
) -> None:
    with transaction(sessions) as s:
        olga = resident(s)
        ticket = file_ticket(s, chat(s, "olga-phone", resident=olga))
        chat(s, "olga-laptop", resident=olga)
        ticket_id, number = ticket.id, str(ticket.number)
    (prompt,) = await press(assistant, f"/ticket {number} add", user="olga-laptop")
    assert prompt.text == en(texts.TICKET_ADD_PROMPT, number=number)
    (reply,) = await write(assistant, "Another receipt was found.", user="olga-laptop")
    assert reply.text == en(texts.TICKET_ADDED, number=number)
    assert state(sessions, ticket_id)[1][-1] == ("user_message", None)
