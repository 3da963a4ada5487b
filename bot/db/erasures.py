"""The conversations Rasa must forget (bot.db.models.RasaErasure). Keyword-only data
functions; callers own the session. The job that works them: bot.jobs.erasures."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot.db import insert_unless_present
from bot.db.models import RasaErasure, utcnow


def request(session: Session, *, sender: str) -> None:
    """Ask for the erasure of Rasa's conversation with ``sender`` (once however often)."""
    values = {"sender": sender, "requested_at": utcnow(), "attempts": 0}
    session.execute(insert_unless_present(session, RasaErasure, values, conflict_on=["sender"]))


def waiting(session: Session, *, limit: int) -> list[str]:
    """The senders still to be erased, oldest request first."""
    return list(
        session.scalars(select(RasaErasure.sender).order_by(RasaErasure.requested_at).limit(limit))
    )


def erased(session: Session, *, sender: str) -> None:
    session.execute(delete(RasaErasure).where(RasaErasure.sender == sender))


def not_erased(session: Session, *, sender: str, error: str) -> None:
    session.execute(
        update(RasaErasure)
        .where(RasaErasure.sender == sender)
        .values(attempts=RasaErasure.attempts + 1, last_error=error[:200])
    )
