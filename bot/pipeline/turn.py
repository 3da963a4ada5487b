"""What a handler of the chain sees of a message (Turn) and what it decides (Outcome).

A handler (bot.pipeline.handlers) gets a Turn and returns an Outcome when the message is
its to answer, or None to pass it on; the order of the handlers is written once, in
bot.pipeline.chain. The Turn is narrow on purpose: a handler reads the message and its
chat's state from it, never a database row or a platform object.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal, Protocol

from bot.i18n import DEFAULT_LANGUAGE
from bot.messages import Attachment, Kind, Outbound
from bot.protocol import TurnReport

# The final states of an inbound message (bot.db.models.Message).
Status = Literal["answered", "rejected", "with_staff", "failed"]


@dataclass
class Turn:
    message_id: int
    identity_id: int
    channel: str
    kind: Kind
    text: str  # cleaned (bot.nlu.sanitize), references in place of numbers
    truncated: bool
    has_words: bool
    sender: str  # the chat's public id: what Rasa knows of the user
    chosen: str | None
    conversation_language: str | None
    client_language: str | None
    awaiting: str | None
    mode: str
    received_at: dt.datetime
    # A photo or document, as the channel named it (fetched only by who needs it).
    attachment: Attachment | None = None
    # Set by the language step (bot.pipeline.handlers.language), read by those after it.
    language: str = DEFAULT_LANGUAGE
    # Whether the language was decided from this message (a choice or a detection): only
    # then may it become the conversation's language.
    settles: bool = False


@dataclass
class Outcome:
    status: Status
    replies: list[Outbound] = field(default_factory=list)
    # The language decided for the message, stored with it; None leaves it unset.
    language: str | None = None
    chosen: bool = False  # an explicit choice: remembered for the chat
    settles: bool = False
    report: TurnReport | None = None
    # Rasa's answer: not sent if a person took the chat while Rasa was thinking.
    by_bot: bool = False
    # False after "forget me": the message and its transcript are gone.
    transcript_kept: bool = True
    # The chat goes to a person (the reason), or comes back from one: done in the
    # transaction that stores the outcome, which adds what the user is told.
    start_handoff: str | None = None
    end_handoff: bool = False


class Handler(Protocol):
    """One rule of the inbound path."""

    async def __call__(self, turn: Turn) -> Outcome | None: ...
