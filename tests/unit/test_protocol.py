"""The contract between the gateway and the actions (bot/protocol.py): buttons refused
where they are built, the turn report written by one side and read by the other."""

from __future__ import annotations

import pytest

from actions.common import button as action_button
from bot import protocol
from bot.messages import Button
from bot.pipeline.rasa_client import parse_webhook_response


@pytest.mark.parametrize("build", [protocol.button, action_button])
def test_a_payload_telegram_cannot_carry_is_refused_where_the_button_is_built(
    build: object,
) -> None:
    assert build("ok", "x" * 64) == {"title": "ok", "payload": "x" * 64}  # type: ignore[operator]
    with pytest.raises(protocol.ButtonTooLong):
        build("too long", "x" * 65)  # type: ignore[operator]
    with pytest.raises(protocol.ButtonTooLong):  # 22 characters, 66 bytes
        build("Chinese", "/faq_" + "签" * 21 + "x")  # type: ignore[operator]
    with pytest.raises(protocol.ButtonTooLong):
        build("empty", "")  # type: ignore[operator]


def test_the_gateways_own_buttons_are_checked_too() -> None:
    Button("ok", "/language ru")
    with pytest.raises(protocol.ButtonTooLong):
        Button("no", "/vote " + "faq_" * 20 + " 1")


def test_the_turn_report_round_trips() -> None:
    report = protocol.TurnReport(
        intent="check_card_status",
        confidence=0.93,
        language="ar",
        answer_language="en",
        awaiting=protocol.AWAITING_CARD,
    )
    body = [
        {"recipient_id": "x", "text": "مرحبا", "buttons": [{"title": "Menu", "payload": "/help"}]},
        {"recipient_id": "x", "custom": protocol.turn_message(report)},
        {"recipient_id": "x", "custom": protocol.redact_message()},
    ]
    turn = parse_webhook_response(body, language="fr")
    assert turn.report == protocol.TurnReport(
        intent="check_card_status",
        confidence=0.93,
        language="ar",
        answer_language="en",
        awaiting="card_number",
        redact=True,
    )
    (reply,) = turn.replies
    assert (reply.text, reply.language, reply.buttons) == (
        "مرحبا",
        "ar",
        (Button("Menu", "/help"),),
    )


def test_what_is_not_for_users_is_never_shown() -> None:
    parsed = protocol.parse_bot_messages(
        [
            "not a dict",
            {"text": ""},
            {"custom": {"something": "else"}},
            {"text": "shown", "buttons": [{"title": "no payload"}, "junk", {"payload": "/help"}]},
        ]
    )
    assert parsed.replies == [protocol.BotReply(text="shown", buttons=(("", "/help"),))]
    assert parsed.report == protocol.TurnReport()


def test_a_button_too_long_from_rasa_is_left_out_loudly(caplog: pytest.LogCaptureFixture) -> None:
    body = [
        {
            "text": "hi",
            "buttons": [{"title": "ok", "payload": "/help"}, {"title": "bad", "payload": "y" * 80}],
        }
    ]
    turn = parse_webhook_response(body, language="en")
    assert turn.replies[0].buttons == (Button("ok", "/help"),)
    assert "button left out" in caplog.text


def test_references_are_read_back_only_in_their_own_format() -> None:
    card = "cardref:n:" + "a" * 64
    assert protocol.card_token(f"my card {card} please") == "n:" + "a" * 64
    assert protocol.card_token("cardref:n:" + "a" * 63) is None
    assert protocol.card_token("xcardref:n:" + "a" * 64) is None
    assert protocol.birth_token("dobref:invalid") == "invalid"
    two = "b" * 64 + "|" + "c" * 64
    assert protocol.birth_token(f"dobref:{two}") == two
    assert protocol.passport_token("passref:l:" + "d" * 64) == "l:" + "d" * 64


def test_a_reference_right_after_a_chinese_word_is_read() -> None:
    """Chinese has no spaces: "卡号是YW2016123456" became "卡号是cardref:..." and the card
    was "not a card number" (found by bench/load.py's Chinese users)."""
    from bot.records.references import protect

    key = b"k" * 32
    for typed in ("卡号是YW2016123456", "卡号：YW 2016 1234 56", "我的卡YW2016123456谢谢"):
        assert protocol.card_token(protect(typed, key=key, awaiting=None)) is not None, typed
    assert protocol.passport_token("护照passref:l:" + "d" * 64) == "l:" + "d" * 64
    assert protocol.birth_token("生日dobref:invalid") == "invalid"
    assert protocol.card_token("Xcardref:n:" + "a" * 64) is None  # still not inside a word
