"""The WeChat official-account channel against a fake of WeChat's servers that speaks the
real protocol over HTTP (tests/fakes/wechat_api.py): signed and encrypted callbacks to
the gateway's /wechat, replies through the customer-service API, the shared access token.
Rasa is faked at its HTTP edge (tests/conftest.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from bot.channels.wechat import split_text, with_choices
from bot.channels.wechat_api import WeChatApi, current_token
from bot.db.models import ChatIdentity, Outbox
from bot.pipeline.assistant import Assistant
from tests.conftest import FakeRasa
from tests.fakes import wechat_api as wx
from tests.fakes.wechat_api import WeChatUser
from tests.wechat_rig import Rig, post, stored, wechat_rig


@pytest.fixture
async def plain(assistant: Assistant) -> AsyncIterator[Rig]:
    async for rig in wechat_rig(assistant, aes=False):
        yield rig


@pytest.fixture
async def safe(assistant: Assistant) -> AsyncIterator[Rig]:
    async for rig in wechat_rig(assistant, aes=True):
        yield rig


# --- the URL check and the callbacks' signatures ---------------------------------------------


async def test_the_url_check_echoes_only_with_a_good_signature(plain: Rig) -> None:
    good = wx.signed_get(wx.CALLBACK_TOKEN, echostr="hello-wechat")
    resp = await plain.gateway.get("/wechat", params=good)
    assert (resp.status_code, resp.text) == (200, "hello-wechat")
    forged = wx.signed_get(wx.CALLBACK_TOKEN, echostr="x", signature="0" * 40)
    assert (await plain.gateway.get("/wechat", params=forged)).status_code == 403


async def test_a_text_is_answered_success_at_once_and_replied_through_the_api(
    plain: Rig, fake_rasa: FakeRasa
) -> None:
    user = WeChatUser()
    resp = await post(plain, user.text("How do I extend my visa?"))
    assert (resp.status_code, resp.text) == (200, "success")
    (sent,) = await plain.fake.wait_for("message/custom/send", 1)
    assert sent["touser"] == user.openid and sent["msgtype"] == "text"
    assert sent["text"]["content"] == "reply to " + "How do I extend my visa?"[:20]
    assert fake_rasa.requests[0]["metadata"]["channel"] == "wechat"
    assert plain.fake.issued == 1  # one token, from the stable-token endpoint
    assert any(path.endswith("stable_token") for path, _ in plain.fake.calls)


async def test_safe_mode_decrypts_and_checks_the_app_id(safe: Rig, fake_rasa: FakeRasa) -> None:
    user = WeChatUser()
    resp = await post(safe, user.text("签证怎么延期？"), encrypted=True)
    assert (resp.status_code, resp.text) == (200, "success")
    await safe.fake.wait_for("message/custom/send", 1)
    assert fake_rasa.requests[0]["message"] == "签证怎么延期？"
    # Encrypted for another account: refused, nothing stored.
    resp = await post(
        safe, WeChatUser().text("hi"), encrypted=True, payload_app_id="wx0000000000000000"
    )
    assert resp.status_code == 403
    assert stored(safe.sessions) == 1


@pytest.mark.parametrize(
    "forge",
    [
        {"signature": "0" * 40},
        {"timestamp": int(time.time()) - 3600},
        {"timestamp": int(time.time()) + 3600},
    ],
    ids=["forged-signature", "an-hour-old", "an-hour-ahead"],
)
async def test_forged_or_old_callbacks_are_refused_with_nothing_stored(
    plain: Rig, fake_rasa: FakeRasa, forge: dict[str, object]
) -> None:
    resp = await post(plain, WeChatUser().text("hello"), **forge)
    assert resp.status_code == 403
    assert stored(plain.sessions) == 0 and fake_rasa.requests == []


async def test_a_forged_msg_signature_in_safe_mode_is_refused(safe: Rig) -> None:
    resp = await post(safe, WeChatUser().text("hello"), encrypted=True, msg_signature="0" * 40)
    assert resp.status_code == 403 and stored(safe.sessions) == 0


async def test_a_replayed_nonce_is_refused(plain: Rig) -> None:
    user = WeChatUser()
    first = await post(plain, user.text("one", msg_id=1001), nonce="n-replay-1")
    again = await post(plain, user.text("two", msg_id=1002), nonce="n-replay-1")
    assert (first.status_code, again.status_code) == (200, 403)
    assert stored(plain.sessions) == 1


@pytest.mark.parametrize("body", ["malformed", "xxe", "billion_laughs", "oversized"])
async def test_bad_bodies_are_refused_and_entities_never_resolved(plain: Rig, body: str) -> None:
    user = WeChatUser()
    xml = {
        "malformed": lambda: user.malformed(),
        "xxe": lambda: user.xxe("file:///etc/passwd"),
        "billion_laughs": lambda: user.billion_laughs(),
        "oversized": lambda: user.oversized(),
    }[body]()
    resp = await post(plain, xml)
    assert resp.status_code in (400, 413)
    assert stored(plain.sessions) == 0


# --- the 5-second rule ---------------------------------------------------------------------


async def test_the_same_msgid_three_times_is_one_turn_and_one_reply(
    plain: Rig, fake_rasa: FakeRasa
) -> None:
    xml = WeChatUser().text("What is the merchant card?", msg_id=424242)
    for _ in range(3):  # WeChat's retries after 5 seconds
        assert (await post(plain, xml)).text == "success"
    await plain.fake.wait_for("message/custom/send", 1)
    await asyncio.sleep(0.5)
    assert len(fake_rasa.requests) == 1
    assert len(plain.fake.sent("message/custom/send")) == 1
    assert stored(plain.sessions) == 1


async def test_a_slow_answer_still_reaches_the_user_and_success_comes_at_once(
    plain: Rig, fake_rasa: FakeRasa
) -> None:
    gate = asyncio.Event()
    answer = fake_rasa.handler

    def slow(body: dict) -> httpx.Response:  # type: ignore[type-arg]
        # Rasa thinking: the callback has long been answered before this returns.
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline and not gate.is_set():
            time.sleep(0.05)
        return answer(body)

    fake_rasa.handler = slow
    started = time.monotonic()
    resp = await post(plain, WeChatUser().text("slow question"))
    took = time.monotonic() - started
    assert resp.text == "success" and took < 5
    (sent,) = await plain.fake.wait_for("message/custom/send", 1, timeout=30)
    assert sent["text"]["content"] == "reply to slow question"


# --- sending ---------------------------------------------------------------------------------


async def test_two_gateways_refreshing_the_token_at_once_make_one(plain: Rig) -> None:
    apis = [
        WeChatApi(plain.sessions, app_id=wx.APP_ID, secret=wx.APP_SECRET, base_url=plain.base_url)
        for _ in range(2)
    ]
    tokens = await asyncio.gather(*(api.token() for api in apis))
    assert tokens[0] == tokens[1] and plain.fake.issued == 1
    assert await current_token(plain.sessions, wx.APP_ID) == tokens[0]
    assert plain.fake.token_state(tokens[0]) == "valid"
    for api in apis:
        await api.aclose()


async def test_an_invalid_token_is_refreshed_once_and_the_message_sent(plain: Rig) -> None:
    user = WeChatUser()
    await post(plain, user.text("first"))
    await plain.fake.wait_for("message/custom/send", 1)
    plain.fake.revoke()  # WeChat now answers 40001 for the cached token
    await post(plain, user.text("second"))
    await plain.fake.wait_for("message/custom/send", 3)  # refused once, then sent
    for _ in range(100):  # sent() counts the refused call too: wait for the accepted one
        if len(plain.fake.messages) == 2:
            break
        await asyncio.sleep(0.05)
    assert [m.content for m in plain.fake.messages] == ["reply to first", "reply to second"]
    assert plain.fake.issued == 2


async def test_a_closed_window_ends_the_message_failed_with_its_reason(plain: Rig) -> None:
    user = WeChatUser()
    plain.fake.window_closed.add(user.openid)
    await post(plain, user.text("hello"))
    for _ in range(200):
        with plain.sessions() as s:
            row = s.scalar(select(Outbox).where(Outbox.channel == "wechat"))
            if row is not None and row.status == "failed":
                break
        await asyncio.sleep(0.05)
    assert row is not None and row.status == "failed" and "45015" in (row.last_error or "")


async def test_an_unfollow_stops_what_is_sent_and_the_reminders(plain: Rig) -> None:
    user = WeChatUser()
    await post(plain, user.text("hello"))
    await plain.fake.wait_for("message/custom/send", 1)
    assert (await post(plain, user.unsubscribe())).text == "success"
    with plain.sessions() as s:
        me = s.scalar(select(ChatIdentity).where(ChatIdentity.external_id == user.openid))
        assert me is not None and me.blocked_at is not None and not me.reminders_enabled


# --- messages ---------------------------------------------------------------------------------


def test_long_text_is_split_at_the_limit_never_inside_a_character() -> None:
    text = ("签证延期需要准备护照和照片。" * 200) + " end"
    pieces = split_text(text)
    assert all(len(p.encode("utf-8")) <= 2048 for p in pieces)
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")
    words = split_text("word " * 1000)
    assert all(not p.endswith("wor") for p in words) and all(p.split() for p in words)


async def test_buttons_are_numbered_choices_and_a_number_presses_one(
    plain: Rig, fake_rasa: FakeRasa
) -> None:
    def with_buttons(body: dict) -> httpx.Response:  # type: ignore[type-arg]
        return httpx.Response(
            200,
            json=[
                {
                    "recipient_id": body["sender"],
                    "text": "Choose a topic",
                    "buttons": [
                        {"title": "Visa extension", "payload": "/faq_visa_extension"},
                        {"title": "Residence permit", "payload": "/faq_residence_permit"},
                    ],
                }
            ],
        )

    fake_rasa.handler = with_buttons
    user = WeChatUser()
    await post(plain, user.text("help"))
    (sent,) = await plain.fake.wait_for("message/custom/send", 1)
    assert sent["text"]["content"] == with_choices(
        "Choose a topic", [("Visa extension", ""), ("Residence permit", "")]
    )
    await post(plain, user.text("2"))
    await plain.fake.wait_for("message/custom/send", 2)
    assert fake_rasa.requests[-1]["message"] == "/faq_residence_permit"


async def test_a_voice_message_with_recognition_is_answered_as_text(
    plain: Rig, fake_rasa: FakeRasa
) -> None:
    await post(plain, WeChatUser().voice("media-1", recognition="怎么办理签证延期"))
    await plain.fake.wait_for("message/custom/send", 1)
    assert fake_rasa.requests[0]["message"] == "怎么办理签证延期"


async def test_the_answers_markup_reaches_wechat_as_plain_text(
    plain: Rig, fake_rasa: FakeRasa
) -> None:
    def marked_up(body: dict) -> httpx.Response:  # type: ignore[type-arg]
        text = (
            "**Go at once** to the office.\n- bring your passport\nSee [NIA](https://s.nia.gov.cn)"
        )
        return httpx.Response(200, json=[{"recipient_id": body["sender"], "text": text}])

    fake_rasa.handler = marked_up
    await post(plain, WeChatUser().text("I overstayed"))
    (sent,) = await plain.fake.wait_for("message/custom/send", 1)
    assert sent["text"]["content"] == (
        "Go at once to the office.\n• bring your passport\nSee NIA (https://s.nia.gov.cn)"
    )
