"""Who answers a chat: the conversation's mode, owned by the gateway.

``bot``: Rasa answers. ``queued`` and ``human`` (the staff console, issue 11): a person
has the chat, every message goes to staff and Rasa is not asked (handlers.mode). The
mode is kept on the chat identity and changed only by compare-and-set, so that two
members of staff, or staff and the user, cannot both win a change.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.db.models import ChatIdentity

BOT: Final = "bot"
QUEUED: Final = "queued"
HUMAN: Final = "human"
MODES = frozenset({BOT, QUEUED, HUMAN})


def change_mode(session: Session, *, identity_id: int, expected: str, new: str) -> bool:
    """Set the chat's mode to ``new`` if it is ``expected``; whether it was."""
    if new not in MODES:
        raise ValueError(f"unknown conversation mode: {new!r}")
    changed = session.execute(
        update(ChatIdentity)
        .where(ChatIdentity.id == identity_id, ChatIdentity.mode == expected)
        .values(mode=new)
        .returning(ChatIdentity.id)
    ).scalar_one_or_none()
    return changed is not None
