""" "Helpful" / "not helpful" on a policy answer; "not helpful" offers a person.

A vote counts only for an answer this chat was shown (its vote button was sent to this
chat identity), and only once per chat and topic: anyone can type a "/vote" payload,
and the counts guide the editors.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.answers.ui import say
from bot.db import conversations, in_transaction
from bot.i18n import DEFAULT_LANGUAGE, gettext
from bot.messages import Button
from bot.pipeline.turn import Outcome, Turn
from bot.protocol import HUMAN_PAYLOAD, VOTE_PAYLOAD


class Votes:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    async def __call__(self, turn: Turn) -> Outcome | None:
        if not turn.text.startswith(VOTE_PAYLOAD):
            return None
        parts = turn.text[len(VOTE_PAYLOAD) :].split()
        if len(parts) != 2 or not parts[0].startswith("faq_") or parts[1] not in ("1", "0"):
            return None  # a malformed vote is just text
        topic, helpful = parts[0], parts[1] == "1"
        lang = turn.chosen or turn.conversation_language or DEFAULT_LANGUAGE
        payload = f"{VOTE_PAYLOAD}{topic} {parts[1]}"

        def save(session: Session) -> str | None:
            """The reason the vote is not counted, or None once it is stored."""
            # Checked and written under the chat's lock: a double tap counts once.
            conversations.lock_identity(session, identity_id=turn.identity_id)
            if not conversations.was_shown_button(
                session, identity_id=turn.identity_id, payload=payload
            ):
                return texts.VOTE_NOT_COUNTED
            if conversations.has_voted(session, identity_id=turn.identity_id, topic=topic):
                return texts.ALREADY_RATED
            conversations.record_vote(
                session, identity_id=turn.identity_id, topic=topic, language=lang, helpful=helpful
            )
            return None

        refused = await in_transaction(self._sessions, save)
        person = (Button(gettext(lang, texts.TALK_TO_A_PERSON), HUMAN_PAYLOAD),)
        offer = [] if helpful else [say(lang, texts.NOT_HELPFUL_REPLY, person)]
        if refused is None:
            thanks = [] if offer else [say(lang, texts.THANKS_FOR_FEEDBACK)]
            return Outcome("answered", thanks + offer)
        if refused == texts.ALREADY_RATED:
            # Not counted again, but someone who now finds it unhelpful still gets a person.
            return Outcome("rejected", [say(lang, refused), *offer])
        return Outcome("rejected", [say(lang, refused)])
