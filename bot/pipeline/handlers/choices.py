"""Buttons on a channel that has none (WeChat's text messages): the assistant writes them
as numbered choices (bot.channels.wechat.with_choices), and the user answers "2" or the
choice's title. The answer becomes the pressed button's payload, so that every rule after
this one sees a button, as on Telegram or the web chat.

Only the newest message that offered choices counts, and only within its conversation's
last few messages: a "2" long after is a number again.
"""

from __future__ import annotations

import unicodedata

from sqlalchemy.orm import Session, sessionmaker

from bot.db import conversations, in_transaction
from bot.pipeline.turn import Turn

# Channels whose messages cannot carry buttons.
NUMBERED_CHANNELS = frozenset({"wechat"})
# How many of the chat's latest replies are searched for the choices.
WITHIN = 3


def _plain(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().strip(".。").casefold()


def chosen_payload(text: str, buttons: list[tuple[str, str]]) -> str | None:
    """The payload the answer picks: its number (1-based) or its title; None otherwise."""
    answer = _plain(text)
    if answer.isdigit() and 1 <= int(answer) <= len(buttons):
        return buttons[int(answer) - 1][1]
    for title, payload in buttons:
        if _plain(title) == answer:
            return payload
    return None


class NumberedChoice:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    async def __call__(self, turn: Turn) -> None:
        """Never answers: it turns a chosen number into the button it stands for."""
        if turn.channel not in NUMBERED_CHANNELS or turn.kind != "text" or not turn.text:
            return None
        if len(turn.text) > 80:
            return None

        def offered(session: Session) -> list[tuple[str, str]]:
            found = conversations.last_offered_buttons(
                session, identity_id=turn.identity_id, within=WITHIN
            )
            return found or []

        buttons = await in_transaction(self._sessions, offered)
        payload = chosen_payload(turn.text, buttons)
        if payload is not None:
            turn.text, turn.kind = payload, "button"
        return None
