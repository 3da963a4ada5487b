"""The contract between the gateway and the action server, in one module both import.

The gateway (bot.pipeline) and the actions (actions/) run in different processes and
talk only through Rasa. What one side writes and the other reads is defined here:

- **button payloads** the gateway handles itself (a language choice, a vote, the
  officer's view, an answer's details) and the channels' limits on buttons, checked
  when a button is built;
- **the turn report**: what the actions tell the gateway about a turn (intent,
  confidence, languages, what the last question awaits, whether the user's answer must
  be kept out of the transcript), sent as custom messages of Rasa's REST protocol and
  stripped by the gateway before anything reaches a user;
- **references**: the tokens that stand in for card and passport numbers and dates of
  birth in every message (bot.records.references makes them; the actions read them);
- **what the gateway tells Rasa** about a message (its metadata keys).

The module imports nothing of the project: it is the lowest layer of both sides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# Button payloads that never reach Rasa: the gateway answers them (bot.pipeline.handlers).
LANGUAGE_PAYLOAD = "/language "
VOTE_PAYLOAD = "/vote "
OFFICER_PAYLOAD = "/officer "
# The rest of a policy answer: "/details <topic>".
DETAILS_PAYLOAD = "/details "
# A person, please (a button); back to the bot (a button or typed); a rating of a person's
# help: "/rate <handoff> <1-5>".
HUMAN_PAYLOAD = "/human"
BOT_PAYLOAD = "/bot"
RATE_PAYLOAD = "/rate "
# What the user does with one of their tickets: "/ticket <number> <verb>", verbs in
# TICKET_VERBS (show it, add to it, withdraw it and confirm that, confirm it is resolved,
# reopen it, finish adding).
TICKET_PAYLOAD = "/ticket "
TICKET_VERBS = frozenset({"show", "add", "withdraw", "withdraw!", "ok", "reopen", "done"})

# Telegram allows 1-64 bytes of callback data per inline button; WeChat's menu keys and
# the web chat allow more, so Telegram's limit is everyone's.
BUTTON_PAYLOAD_MAX_BYTES = 64
# Longer titles are cut by the clients anyway; kept short so that a row stays readable.
BUTTON_TITLE_MAX_CHARS = 64


class ButtonTooLong(ValueError):
    """A button whose payload no channel can carry: a bug where the button is built."""


def check_payload(payload: str) -> str:
    size = len(payload.encode("utf-8"))
    if not payload or size > BUTTON_PAYLOAD_MAX_BYTES:
        raise ButtonTooLong(
            f"button payload of {size} bytes, 1-{BUTTON_PAYLOAD_MAX_BYTES} allowed: "
            f"{payload[:80]!r}"
        )
    return payload


def button(title: str, payload: str) -> dict[str, str]:
    """A button as Rasa's dispatcher takes it, refused here rather than dropped later."""
    return {"title": title[:BUTTON_TITLE_MAX_CHARS], "payload": check_payload(payload)}


# What the gateway sends with each message to Rasa (rasa_addons/channel.py keeps it as
# the message's metadata; actions read it from tracker.latest_message).
METADATA_LANGUAGE = "language"
METADATA_CHANNEL = "channel"
# The gateway's id of the stored message: an action that must keep the user's words whole
# (a complaint's description) reads them from the database, not from Rasa's cut copy.
METADATA_MESSAGE = "message"
# What the dispute form's questions ask for (the turn report's ``awaiting``): every one
# starts with this, and while one is awaited a photo or document is evidence.
TICKET_AWAITING_PREFIX = "ticket_"
AWAITING_TICKET_EVIDENCE = "ticket_evidence"
# Answers that tell nothing of the user's language (names, places, phone numbers,
# amounts, dates): the gateway keeps the conversation's language for them.
NOT_LANGUAGE = frozenset(
    {"ticket_party", "ticket_place", "ticket_contact", "ticket_when", "ticket_amount"}
)
# Answers kept whole however long (a complaint's description: the action reads the
# stored message), so the gateway does not say it read only the beginning.
KEPT_WHOLE = frozenset({"ticket_story"})
# Adding to one's open ticket: "ticket_add:<ticket id>".
AWAITING_TICKET_ADD = "ticket_add:"

# What the link form's questions ask for (the turn report's ``awaiting``): the gateway
# treats the next message as the answer (bot.records.references.protect).
AWAITING_CARD = "card_number"
AWAITING_BIRTH = "date_of_birth"
AWAITING_PASSPORT = "passport_last4"
LINK_AWAITING = frozenset({AWAITING_CARD, AWAITING_BIRTH, AWAITING_PASSPORT})


@dataclass
class TurnReport:
    """What the actions report about one turn (see ``turn_message``)."""

    intent: str | None = None
    confidence: float | None = None
    language: str | None = None
    # The language the policy answer was given in, when it differs (a missing translation).
    answer_language: str | None = None
    # What the last question asked for (one of LINK_AWAITING), or None.
    awaiting: str | None = None
    # The user's message answered an identity question: keep it out of the transcript.
    redact: bool = False
    # The user asked for a person (the reason, e.g. "request_human"): the gateway queues
    # the chat for staff and says so; the action utters nothing itself.
    handoff: str | None = None


def turn_message(report: TurnReport) -> dict[str, Any]:
    """The custom message (``dispatcher.utter_message(json_message=...)``) of a report."""
    return {
        "turn": {
            "intent": report.intent,
            "confidence": report.confidence,
            "language": report.language,
            "answer_language": report.answer_language,
            "awaiting": report.awaiting,
            "handoff": report.handoff,
        }
    }


def redact_message() -> dict[str, Any]:
    """The custom message that keeps the user's last message out of the transcript."""
    return {"redact": True}


@dataclass(frozen=True)
class BotReply:
    """One message the actions uttered for the user."""

    text: str
    buttons: tuple[tuple[str, str], ...] = ()  # (title, payload)


@dataclass
class ParsedTurn:
    replies: list[BotReply] = field(default_factory=list)
    report: TurnReport = field(default_factory=TurnReport)


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_bot_messages(items: list[Any]) -> ParsedTurn:
    """Rasa's REST answer: the replies for the user, and the report, stripped out of them.

    Anything malformed is skipped, never shown: a custom message is not for users, and a
    button without a payload cannot be pressed.
    """
    parsed = ParsedTurn()
    for item in items:
        if not isinstance(item, dict):
            continue
        custom = item.get("custom")
        if isinstance(custom, dict):
            if custom.get("redact") is True:
                parsed.report.redact = True
            meta = custom.get("turn")
            if isinstance(meta, dict):
                conf = meta.get("confidence")
                report = parsed.report
                report.intent = _optional_str(meta.get("intent"))
                report.confidence = float(conf) if isinstance(conf, int | float) else None
                report.language = _optional_str(meta.get("language"))
                report.answer_language = _optional_str(meta.get("answer_language"))
                report.awaiting = _optional_str(meta.get("awaiting"))
                report.handoff = _optional_str(meta.get("handoff"))
            continue
        text = item.get("text")
        if not isinstance(text, str) or not text:
            continue
        buttons = tuple(
            (str(b.get("title", "")), str(b["payload"]))
            for b in item.get("buttons") or []
            if isinstance(b, dict) and b.get("payload")
        )
        parsed.replies.append(BotReply(text=text, buttons=buttons))
    return parsed


# References: a card number, a passport number or a date of birth as it travels through
# the gateway, Rasa and the actions. The hashes are keyed (bot.records.registry.secrets).
#   cardref:n:<hash>    a card number with its letter prefix
#   cardref:d:<hash>    a card number's digits alone
#   passref:p:<hash>    a whole passport number
#   passref:l:<hash>    the last four characters of a passport number
#   dobref:<hash>       a date of birth; "<hash>|<hash>" for both readings of 3/4/1990
#   dobref:invalid      a date no one can have been born on
CARD, PASSPORT, BIRTH = "cardref:", "passref:", "dobref:"
INVALID = "invalid"
_HEX = "[0-9a-f]{64}"
# Not preceded by a Latin letter, a digit, "_" or ":" (a longer word that only ends so).
# Any other letter may stand right before it: Chinese is written without spaces, and
# "卡号是YW2016123456" becomes "卡号是cardref:...". (\w here missed it: found by the load
# benchmark's Chinese users, whose card was "not a card number".)
_BEFORE = r"(?<![A-Za-z0-9_:])"
_CARD_REF = re.compile(rf"{_BEFORE}cardref:([nd]:{_HEX})(?![0-9a-f])")
_PASSPORT_REF = re.compile(rf"{_BEFORE}passref:([pl]:{_HEX})(?![0-9a-f])")
_BIRTH_REF = re.compile(rf"{_BEFORE}dobref:({INVALID}|{_HEX}(?:\|{_HEX})?)(?![0-9a-f|])")
# Any reference, for readers that must ignore them (the language detector).
ANY_REFERENCE = re.compile(rf"{_BEFORE}(?:cardref|passref|dobref):[0-9a-z:|]*")


def card_token(text: str) -> str | None:
    """The card reference in a text (without ``cardref:``), if the gateway put one."""
    found = _CARD_REF.search(text)
    return found.group(1) if found else None


def passport_token(text: str) -> str | None:
    found = _PASSPORT_REF.search(text)
    return found.group(1) if found else None


def birth_token(text: str) -> str | None:
    found = _BIRTH_REF.search(text)
    return found.group(1) if found else None
