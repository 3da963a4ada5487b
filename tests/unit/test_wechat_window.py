"""WeChat's customer-service window, the menu, and the welcome: tracked and used against
the fake WeChat servers (tests/fakes/wechat_api.py), Rasa faked at its HTTP edge.

The window: 5 messages in the 48 hours after a user's message, 3 in the minute after a
click, a follow or a scan. What it does not allow is never tried: it is held until the
user writes again, or goes as a template message when one is configured (reminders)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.channels import wechat_menu
from bot.channels.wechat_menu import MenuError
from bot.db import transaction
from bot.db.models import ChatIdentity, Message, Outbox, WeChatWindow, utcnow
from bot.delivery import outbox
from bot.nlu.rasa_runtime import domain_intents
from bot.pipeline.assistant import Assistant
from bot.settings import PROJECT_ROOT
from tests.conftest import FakeRasa
from tests.fakes import wechat_api as wx
from tests.fakes.wechat_api import WeChatUser
from tests.wechat_rig import Rig, outbox_rows, post, wechat_rig

TEMPLATE = "tmpl-visa-reminder-0001"


@pytest.fixture
async def rig(assistant: Assistant) -> AsyncIterator[Rig]:
    async for made in wechat_rig(assistant, aes=False, templates={"reminder": TEMPLATE}):
        made.fake.add_template(TEMPLATE)
        yield made


@pytest.fixture
async def no_templates(assistant: Assistant) -> AsyncIterator[Rig]:
    async for made in wechat_rig(assistant, aes=False):
        yield made


async def wrote(rig: Rig, user: WeChatUser, text: str, replies: int) -> None:
    """The user writes; wait until WeChat has accepted ``replies`` messages in all."""
    assert (await post(rig, user.text(text))).text == "success"
    await wait_messages(rig, replies)


async def wait_messages(rig: Rig, count: int, timeout: float = 15) -> None:
    for _ in range(int(timeout / 0.05)):
        if len(rig.fake.messages) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(rig.fake.messages)} messages, not {count}")


def queue(sessions: sessionmaker[Session], openid: str, texts: list[str], kind: str) -> None:
    """Messages the assistant starts (a staff reply, a reminder), into the outbox."""
    with transaction(sessions) as s:
        me = s.scalar(select(ChatIdentity).where(ChatIdentity.external_id == openid))
        assert me is not None
        conv_id = s.scalar(select(Message.conversation_id).order_by(Message.id.desc()))
        for n, text in enumerate(texts):
            outbox.to_chat(
                s,
                key=f"test:{kind}:{openid}:{n}:{text}",
                identity=me,
                kind=kind,
                text=text,
                language="en",
                conversation_id=conv_id,
            )


def close_window(sessions: sessionmaker[Session], openid: str) -> None:
    """48 hours pass."""
    past = utcnow() - dt.timedelta(minutes=1)
    with transaction(sessions) as s:
        s.execute(
            update(WeChatWindow)
            .where(WeChatWindow.openid == openid)
            .values(message_until=past, event_until=past)
        )


def settled(rows: list[Outbox]) -> bool:
    return bool(rows) and all(r.status not in ("pending", "sending") for r in rows)


async def test_a_reply_outside_the_window_is_held_untried_and_sent_when_the_user_writes(
    rig: Rig,
) -> None:
    user = WeChatUser()
    await wrote(rig, user, "hello", 1)
    close_window(rig.sessions, user.openid)
    tried = len(rig.fake.attempts)
    queue(rig.sessions, user.openid, ["Staff: your passport is ready."], kind="reply")
    rig.dispatcher.kick()
    rows = await outbox_rows(rig.sessions, settled)
    held = rows[-1]
    assert held.status == "held" and "48 hours" in (held.last_error or "")
    assert len(rig.fake.attempts) == tried  # never tried: WeChat would answer 45015
    with rig.sessions() as s:
        assert s.scalar(select(Message.status).where(Message.id == held.message_id)) == "held"
    # The user writes again: what waited goes first, then the new reply.
    await wrote(rig, user, "any news?", 3)
    assert [m.content for m in rig.fake.messages[1:]] == [
        "Staff: your passport is ready.",
        "reply to any news?",
    ]
    rows = await outbox_rows(rig.sessions, lambda rs: all(r.status == "delivered" for r in rs))
    assert {r.status for r in rows} == {"delivered"}


async def test_five_messages_per_user_message_then_the_rest_waits(rig: Rig) -> None:
    user = WeChatUser()
    await wrote(rig, user, "hello", 1)  # the reply takes one of the five
    queue(rig.sessions, user.openid, [f"update {n}" for n in range(6)], kind="reply")
    rig.dispatcher.kick()
    rows = await outbox_rows(rig.sessions, lambda rs: len(rs) == 7 and settled(rs))
    assert [r.status for r in rows] == ["delivered"] * 5 + ["held"] * 2
    assert "no more messages" in (rows[-1].last_error or "")
    assert len(rig.fake.messages) == 5


async def test_a_reminder_outside_the_window_goes_as_a_template_message(rig: Rig) -> None:
    user = WeChatUser()
    await wrote(rig, user, "hello", 1)
    close_window(rig.sessions, user.openid)
    queue(rig.sessions, user.openid, ["Your visa ••••1234 expires in 7 days."], kind="reminder")
    rig.dispatcher.kick()
    (sent,) = await rig.fake.wait_for("message/template/send", 1)
    assert sent["touser"] == user.openid and sent["template_id"] == TEMPLATE
    assert sent["data"]["first"]["value"] == "Your visa ••••1234 expires in 7 days."
    rows = await outbox_rows(rig.sessions, settled)
    assert rows[-1].status == "delivered"
    assert len(rig.fake.messages) == 1  # not through the customer-service API


async def test_without_a_template_a_reminder_waits_for_the_user(no_templates: Rig) -> None:
    user = WeChatUser()
    await wrote(no_templates, user, "hello", 1)
    close_window(no_templates.sessions, user.openid)
    queue(no_templates.sessions, user.openid, ["Your visa expires soon."], kind="reminder")
    no_templates.dispatcher.kick()
    rows = await outbox_rows(no_templates.sessions, settled)
    assert rows[-1].status == "held"
    assert no_templates.fake.sent("message/template/send") == []


async def test_a_template_refused_ends_failed_with_its_reason(rig: Rig) -> None:
    user = WeChatUser()
    await wrote(rig, user, "hello", 1)
    close_window(rig.sessions, user.openid)
    rig.fake.template_failures.append((40037, "invalid template_id"))
    queue(rig.sessions, user.openid, ["Your visa expires soon."], kind="reminder")
    rig.dispatcher.kick()
    rows = await outbox_rows(rig.sessions, settled)
    assert rows[-1].status == "failed" and "40037" in (rows[-1].last_error or "")


async def test_a_menu_click_is_a_pressed_button_with_a_minute_for_three(
    rig: Rig, fake_rasa: FakeRasa
) -> None:
    user = WeChatUser()
    assert (await post(rig, user.click("/faq_visa_extension"))).text == "success"
    await wait_messages(rig, 1)
    assert fake_rasa.requests[0]["message"] == "/faq_visa_extension"
    with rig.sessions() as s:
        window = s.get(WeChatWindow, user.openid)
        assert window is not None and window.message_until is None
        assert window.event_left == 2  # three in the minute, one spent
        assert window.event_until is not None


async def test_a_follow_is_welcomed_in_the_language_wechat_gives(
    rig: Rig, fake_rasa: FakeRasa
) -> None:
    user = WeChatUser()
    rig.fake.languages[user.openid] = "ru"
    assert (await post(rig, user.subscribe())).text == "success"
    await wait_messages(rig, 1)
    assert fake_rasa.requests[0]["message"] == "/greet"
    assert fake_rasa.requests[0]["metadata"]["language"] == "ru"
    assert any(path == "/cgi-bin/user/info" for path, _ in rig.fake.calls)


async def test_a_follow_without_user_info_is_welcomed_in_the_default_language(
    rig: Rig, fake_rasa: FakeRasa
) -> None:
    user = WeChatUser()
    rig.fake.languages[user.openid] = "ko"  # not one of ours
    await post(rig, user.subscribe(scene="desk-3"))
    await wait_messages(rig, 1)
    assert fake_rasa.requests[0]["metadata"]["language"] == "en"


async def test_a_scan_of_the_account_code_is_a_welcome_too(rig: Rig, fake_rasa: FakeRasa) -> None:
    user = WeChatUser()
    await post(rig, user.scan("desk-3"))
    await wait_messages(rig, 1)
    assert fake_rasa.requests[0]["message"] == "/greet"


@pytest.mark.parametrize("push", ["view", "location_event"])
async def test_events_that_need_no_answer_get_none(
    rig: Rig, fake_rasa: FakeRasa, push: str
) -> None:
    user = WeChatUser()
    xml = user.view("https://example.org/") if push == "view" else user.location_event(29.3, 120.1)
    assert (await post(rig, xml)).text == "success"
    await asyncio.sleep(0.3)
    assert fake_rasa.requests == [] and rig.fake.messages == []


async def test_held_messages_are_given_up_after_a_week(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        me = ChatIdentity(channel="wechat", external_id="o-held")
        s.add(me)
        s.flush()
        row_id = outbox.enqueue(
            s, key="held-1", channel="wechat", recipient="o-held", identity_id=me.id,
            kind="reply", text="late", language="en",
        )  # fmt: skip
        s.execute(
            update(Outbox)
            .where(Outbox.id == row_id)
            .values(
                status="held",
                last_error="waiting for the user's next message",
                created_at=utcnow() - dt.timedelta(days=8),
            )
        )
    with transaction(sessions) as s:
        assert outbox.expire_held(s, older_than=utcnow() - dt.timedelta(days=7)) == 1
    with sessions() as s:
        row = s.get(Outbox, row_id)
        assert row is not None and row.status == "failed"
        assert (row.last_error or "").startswith("the user did not write again; waiting")


async def test_staff_see_why_a_reply_waits(rig: Rig) -> None:
    from bot.answers.store import AnswerStore
    from bot.staff.console import chat_view

    user = WeChatUser()
    await wrote(rig, user, "hello", 1)
    close_window(rig.sessions, user.openid)
    queue(rig.sessions, user.openid, ["Staff: call us."], kind="reply")
    rig.dispatcher.kick()
    await outbox_rows(rig.sessions, settled)
    with rig.sessions() as s:
        me = s.scalar(select(ChatIdentity).where(ChatIdentity.external_id == user.openid))
        assert me is not None
        view = chat_view.build(s, identity_id=me.id, staff_id=0, answers=AnswerStore())
    assert view is not None
    (line,) = [ln for ln in view.lines if ln.text == "Staff: call us."]
    assert line.delivery == "held" and "48 hours" in (line.delivery_note or "")


# --- the menu ----------------------------------------------------------------------------


def test_the_menu_file_is_valid_and_every_key_reaches_an_intent_or_a_command() -> None:
    menu = wechat_menu.load(PROJECT_ROOT / "locales", intents=domain_intents())
    assert wx.menu_error(menu) is None  # what WeChat's menu/create would answer
    keys = [i["key"] for top in menu["button"] for i in top.get("sub_button", [top])]
    assert "/human" in keys and "/tickets" in keys and "/language" in keys
    assert "/check_visa_status" in keys and "/faq_visa_extension" in keys


@pytest.mark.parametrize(
    ("menu", "says"),
    [
        ({"button": [{"name": f"m{i}", "key": "/help"} for i in range(4)]}, "1 to 3"),
        ({"button": [{"name": "签证延期服务中心", "key": "/help"}]}, "16 bytes"),
        ({"button": [{"name": "x", "key": "/not_an_intent"}]}, "neither a command"),
        ({"button": [{"name": "x", "url": "http://example.org"}]}, "https://"),
        ({"button": [{"name": "x"}]}, "either a key or a url"),
        ({"button": [{"name": "x", "sub_button": [{"name": "y", "key": "/help"}] * 6}]}, "1 to 5"),
        ({"menu": []}, "'button' list"),
    ],
    ids=["four-items", "long-name", "unknown-key", "http-url", "no-action", "six-subs", "no-list"],
)
def test_a_bad_menu_is_refused_saying_where(menu: dict, says: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(MenuError, match=says):
        wechat_menu.build(menu, intents=domain_intents())


async def test_menu_publish_sends_the_file_to_wechat(
    rig: Rig,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bot.ops import cli
    from bot.settings import get_settings

    for name, value in {
        "DATABASE_URL": database_url,
        "WECHAT_APP_ID": wx.APP_ID,
        "WECHAT_APP_SECRET": wx.APP_SECRET,
        "WECHAT_TOKEN": wx.CALLBACK_TOKEN,
        "WECHAT_API_BASE_URL": rig.base_url,
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        code = await asyncio.to_thread(cli.main, ["wechat", "menu", "publish"])
        assert code == 0
        rig.fake.failures.clear()
        monkeypatch.setenv("WECHAT_API_BASE_URL", "http://127.0.0.1:9")  # nothing listens
        get_settings.cache_clear()
        assert await asyncio.to_thread(cli.main, ["wechat", "menu", "publish"]) == 1
    finally:
        get_settings.cache_clear()
    published = yaml.safe_load((Path(PROJECT_ROOT) / "locales" / "wechat_menu.yml").read_text())
    assert rig.fake.menu is not None
    assert [b["name"] for b in rig.fake.menu["button"]] == [b["name"] for b in published["button"]]
    said = capsys.readouterr()
    assert "menu published: 3 top-level items, 13 entries" in said.out
    assert "unreachable" in said.err
