"""Staff alerts: something a member of staff must look at (a chat or a card locked out
of linking, linking paused everywhere). Raised where it happens (bot.records.accounts),
forwarded to the staff's chat by bot.jobs.alerts, listed by `expatbot staff alerts`.

An alert keeps its kind and parameters, so that staff read it in their own language,
rendered through the catalogs like every other text; ``details`` keeps the English
rendering for the command line and the logs.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot import texts
from bot.db.models import StaffAlert, utcnow
from bot.i18n import gettext

log = logging.getLogger(__name__)

TEXTS = {
    "card_lockout": texts.ALERT_CARD_LOCKOUT,
    "link_lockout": texts.ALERT_LINK_LOCKOUT,
    "link_paused": texts.ALERT_LINK_PAUSED,
    "staff_login_lockout": texts.ALERT_STAFF_LOGIN_LOCKOUT,
}


def render(kind: str, params: dict[str, Any] | None, details: str, lang: str) -> str:
    """The alert's description in ``lang``; its stored details when it has no text."""
    msgid = TEXTS.get(kind)
    if msgid is None or params is None:
        return details
    return gettext(lang, msgid, **params)


def raise_alert(
    session: Session,
    *,
    kind: str,
    identity_id: int | None,
    params: dict[str, Any] | None = None,
    details: str | None = None,
    now: dt.datetime | None = None,
) -> StaffAlert:
    text = details if details is not None else render(kind, params, "", "en")
    alert = StaffAlert(
        kind=kind,
        identity_id=identity_id,
        details=text,
        params=params,
        created_at=now or utcnow(),
    )
    session.add(alert)
    session.flush()
    log.warning("staff alert %s: %s", kind, text)
    return alert


def open_alerts(session: Session) -> list[StaffAlert]:
    return list(
        session.scalars(
            select(StaffAlert).where(StaffAlert.resolved_at.is_(None)).order_by(StaffAlert.id)
        )
    )
