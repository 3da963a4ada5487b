"""Commands on one's own data (bot.pipeline.account_commands): /unlink, /forget or
"forget me", /reminders. Answered by the gateway alone, so they work the same on every
channel, with a person or without Rasa; only typed text and buttons are commands (a
photo captioned "forget me" is a photo)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from bot.db import in_transaction
from bot.db.models import ChatIdentity
from bot.pipeline import account_commands
from bot.pipeline.turn import Outcome, Turn
from bot.tickets import evidence


class AccountCommands:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    async def __call__(self, turn: Turn) -> Outcome | None:
        if turn.kind not in ("text", "button"):
            return None
        command = account_commands.parse(turn.text)
        if command is None:
            return None

        def run(session: Session) -> account_commands.Done:
            identity = session.get(ChatIdentity, turn.identity_id)
            assert identity is not None
            return account_commands.run(
                session, identity=identity, command=command, lang=turn.language
            )

        done = await in_transaction(self._sessions, run)
        for sha in done.files:  # committed: no ticket holds these files any more
            evidence.delete(sha)
        return Outcome(
            "answered",
            done.replies,
            language=turn.language,
            settles=turn.settles,
            transcript_kept=done.kept,
        )
