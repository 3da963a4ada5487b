"""Staff alerts (bot.records.alerts) forwarded to the staff's Telegram chat.

Until the staff console exists, a lockout must still reach a person: this job puts
every new alert in the outbox for STAFF_TELEGRAM_CHAT_ID, in the staff's language
(STAFF_LANGUAGE), and marks it forwarded in the same transaction, so that an alert is
queued once however many processes run the job. Delivery, retries and the final state
are the outbox's (bot.delivery).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.db import in_transaction
from bot.db.models import StaffAlert, utcnow
from bot.delivery import outbox
from bot.i18n import gettext
from bot.records import alerts

LIST_COMMAND = "expatbot staff alerts"


def alert_text(alert: StaffAlert, lang: str) -> str:
    details = alerts.render(alert.kind, alert.params, alert.details, lang)
    return gettext(
        lang,
        texts.STAFF_ALERT,
        id=alert.id,
        kind=alert.kind,
        details=details,
        command=LIST_COMMAND,
    )


def queue_alerts(session: Session, *, channel: str, chat_id: str, lang: str) -> int:
    """Put every alert not yet forwarded in the outbox; how many."""
    pending = list(
        session.scalars(
            select(StaffAlert)
            .where(StaffAlert.notified_at.is_(None))
            .order_by(StaffAlert.id)
            .with_for_update(skip_locked=True)
        )
    )
    for alert in pending:
        outbox.enqueue(
            session,
            key=f"alert:{alert.id}",
            channel=channel,
            recipient=chat_id,
            kind="staff_alert",
            text=alert_text(alert, lang),
            language=lang,
        )
        alert.notified_at = utcnow()
    return len(pending)


async def forward_alerts(
    sessions: sessionmaker[Session], *, chat_id: str, lang: str, channel: str = "telegram"
) -> int:
    return await in_transaction(
        sessions, lambda s: queue_alerts(s, channel=channel, chat_id=chat_id, lang=lang)
    )
