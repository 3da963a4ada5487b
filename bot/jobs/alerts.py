"""Staff alerts (bot.records.accounts.raise_alert) forwarded to the staff's Telegram chat.

Until the staff console exists, a lockout must still reach a person: the gateway's
JobQueue forwards every new alert to STAFF_TELEGRAM_CHAT_ID. Each alert is claimed
(notified_at set where it was empty) before it is sent, so two gateways never both send
it; a failed send releases the claim, and the next run tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.db import transaction
from bot.db.models import StaffAlert, utcnow

log = logging.getLogger(__name__)

SendText = Callable[[str], Awaitable[None]]


def alert_text(alert: StaffAlert) -> str:
    return (
        f"Staff alert #{alert.id} ({alert.kind}): {alert.details}. "
        "List open alerts with: expatbot staff alerts"
    )


def _claim(session: Session, alert_id: int) -> bool:
    claimed = session.execute(
        update(StaffAlert)
        .where(StaffAlert.id == alert_id, StaffAlert.notified_at.is_(None))
        .values(notified_at=utcnow())
        .returning(StaffAlert.id)
    ).scalar_one_or_none()
    return claimed is not None


async def forward_alerts(sessions: sessionmaker[Session], *, send: SendText) -> int:
    """Send every alert not yet sent; how many were sent by this call."""
    with sessions() as session:
        pending = list(
            session.scalars(
                select(StaffAlert).where(StaffAlert.notified_at.is_(None)).order_by(StaffAlert.id)
            )
        )
    sent = 0
    for alert in pending:
        with transaction(sessions) as session:
            if not _claim(session, alert.id):
                continue  # another gateway has it
        try:
            await send(alert_text(alert))
            sent += 1
        except Exception:
            log.exception("staff alert #%s not delivered; will retry", alert.id)
            with transaction(sessions) as session:
                session.execute(
                    update(StaffAlert).where(StaffAlert.id == alert.id).values(notified_at=None)
                )
    return sent
