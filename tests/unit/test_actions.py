"""Custom actions, run as rasa-sdk runs them, on trackers from JSON fixtures."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import (
    ActionAnswerFaq,
    ActionBotChallenge,
    ActionChangeLanguage,
    ActionClarify,
    ActionGreet,
    ActionHelp,
    ActionThank,
)
from bot import texts
from bot.i18n import gettext

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "trackers"
ROOT = Path(__file__).resolve().parents[2]
DOMAIN: dict[str, Any] = yaml.safe_load((ROOT / "domain.yml").read_text())


def tracker(name: str) -> Tracker:
    return Tracker.from_dict(json.loads((FIXTURES / f"{name}.json").read_text()))


async def run(action: Action, name: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker(name), DOMAIN)
    return dispatcher.messages, events


def visible(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("text")]


def turn_report(messages: list[dict[str, Any]]) -> dict[str, Any]:
    (report,) = [m["custom"]["turn"] for m in messages if m.get("custom")]
    return report


def answer_file(lang: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "locales" / lang / "answers.yml").read_text())


@pytest.mark.parametrize(
    ("fixture", "lang", "topic"),
    [
        ("faq_visa_extension_ru", "ru", "faq_visa_extension"),
        ("faq_accommodation_ar", "ar", "faq_accommodation_registration"),
    ],
)
async def test_faq_answer_in_user_language(fixture: str, lang: str, topic: str) -> None:
    messages, events = await run(ActionAnswerFaq(), fixture)
    (msg,) = visible(messages)
    entry = answer_file(lang)[topic]
    assert msg["text"].startswith(entry["title"].strip())
    assert entry["text"].strip().splitlines()[0][:30] in msg["text"]
    assert "{" not in msg["text"]  # every placeholder filled from locales/office.yml
    assert {"event": "slot", "name": "language", "value": lang, "timestamp": None} in events
    assert turn_report(messages)["intent"] == topic


async def test_greet_in_chinese_with_menu_button() -> None:
    messages, _ = await run(ActionGreet(), "greet_zh")
    (msg,) = visible(messages)
    assert msg["text"] == gettext("zh", texts.GREETING)
    assert msg["buttons"] == [{"title": gettext("zh", texts.MENU), "payload": "/help"}]


async def test_help_offers_topics_as_buttons_titled_from_answer_files() -> None:
    messages, _ = await run(ActionHelp(), "help_es")
    (msg,) = visible(messages)
    titles = {entry["title"].strip() for entry in answer_file("es").values()}
    *topics, complaint, person = msg["buttons"]
    assert len(topics) >= 6
    assert all(b["title"] in titles and b["payload"].startswith("/faq_") for b in topics)
    # Then filing a complaint (the open_dispute intent: the dispute form).
    assert complaint == {"title": gettext("es", texts.FILE_A_COMPLAINT), "payload": "/open_dispute"}
    # And a person, last on the menu (the gateway answers "/human" itself).
    assert person == {"title": gettext("es", texts.TALK_TO_A_PERSON), "payload": "/human"}


async def test_language_falls_back_to_slot_without_metadata() -> None:
    messages, events = await run(ActionThank(), "no_metadata_slot_fr")
    assert visible(messages)[0]["text"] == gettext("fr", texts.THANKS_REPLY)
    assert events == []  # slot already right


async def test_fallback_offers_two_likeliest_topics_and_none_of_these() -> None:
    messages, _ = await run(ActionClarify(), "fallback_en")
    (msg,) = visible(messages)
    payloads = [b["payload"] for b in msg["buttons"]]
    assert payloads == ["/faq_merchant_card_apply", "/faq_visa_types", "/deny"]
    assert msg["buttons"][0]["title"] == answer_file("en")["faq_merchant_card_apply"]["title"]


async def test_change_language_shows_picker() -> None:
    messages, _ = await run(ActionChangeLanguage(), "change_language_fr")
    (msg,) = visible(messages)
    assert [b["payload"] for b in msg["buttons"]] == [
        f"/language {c}" for c in ("en", "zh", "ar", "ru", "fr", "es")
    ]
    assert "العربية" in [b["title"] for b in msg["buttons"]]


async def test_bot_challenge_is_honest_and_offers_a_person() -> None:
    messages, _ = await run(ActionBotChallenge(), "bot_challenge_ru")
    text = visible(messages)[0]["text"]
    assert text == gettext("ru", texts.BOT_CHALLENGE, hotline="12367")
    assert "12367" in text


def test_every_domain_action_is_implemented() -> None:
    import actions

    implemented = {
        cls().name()
        for cls in vars(actions).values()
        if isinstance(cls, type) and issubclass(cls, Action) and cls is not Action
    }
    assert set(DOMAIN["actions"]) <= implemented


async def test_answer_offers_menu_and_show_in_chinese(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    edit_russian(tmp_path, monkeypatch, lambda d: d["faq_visa_extension"].pop("details", None))
    messages, _ = await run(ActionAnswerFaq(), "faq_visa_extension_ru")
    (msg,) = visible(messages)
    assert msg["buttons"] == [
        {"title": gettext("ru", texts.MENU), "payload": "/help"},
        {"title": gettext("ru", texts.SHOW_OFFICER), "payload": "/officer faq_visa_extension"},
        {"title": gettext("ru", texts.HELPFUL), "payload": "/vote faq_visa_extension 1"},
        {"title": gettext("ru", texts.NOT_HELPFUL), "payload": "/vote faq_visa_extension 0"},
    ]


async def test_answer_with_details_offers_more_details_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    edit_russian(
        tmp_path,
        monkeypatch,
        lambda d: d["faq_visa_extension"].__setitem__("details", "Подробности."),
    )
    messages, _ = await run(ActionAnswerFaq(), "faq_visa_extension_ru")
    (msg,) = visible(messages)
    assert msg["buttons"][0] == {
        "title": gettext("ru", texts.MORE_DETAILS),
        "payload": "/details faq_visa_extension",
    }
    assert "Подробности" not in msg["text"]  # shown only when asked for


def edit_russian(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: Callable[[dict[str, Any]], object]
) -> dict[str, Any]:
    """Copy locales/, apply ``change`` to the Russian answers, make the actions read them."""
    import shutil

    from actions import common
    from bot.answers.store import AnswerStore

    shutil.copytree(ROOT / "locales", tmp_path / "locales")
    ru = tmp_path / "locales" / "ru" / "answers.yml"
    data: dict[str, Any] = yaml.safe_load(ru.read_text(encoding="utf-8"))
    change(data)
    ru.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    store = AnswerStore(tmp_path / "locales", tmp_path / "locales" / "office.yml")
    monkeypatch.setattr(common, "answer_store", lambda: store)
    return data


async def test_missing_translation_falls_back_to_english_with_notice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    edit_russian(tmp_path, monkeypatch, lambda data: data.pop("faq_visa_extension"))
    messages, _ = await run(ActionAnswerFaq(), "faq_visa_extension_ru")
    text = visible(messages)[0]["text"]
    assert text.startswith(gettext("ru", texts.ANSWER_IN_ENGLISH))
    assert answer_file("en")["faq_visa_extension"]["title"] in text


async def test_follow_up_topics_become_buttons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = edit_russian(
        tmp_path,
        monkeypatch,
        lambda d: d["faq_visa_extension"].__setitem__("follow_up", ["faq_overstay"]),
    )
    messages, _ = await run(ActionAnswerFaq(), "faq_visa_extension_ru")
    buttons = visible(messages)[0]["buttons"]
    # After "More details" (the answer has details), before the menu.
    assert buttons[0]["payload"] == "/details faq_visa_extension"
    assert buttons[1] == {"title": data["faq_overstay"]["title"], "payload": "/faq_overstay"}
