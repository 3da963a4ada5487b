"""WeChat's customer-service window, tracked per user, so that a send WeChat would refuse
is never tried.

An official account may answer a user through the customer-service API only for a while
after the user did something, and only a few times (WeChat's rules since June 2023):

- the user sent a message: 5 messages within 48 hours;
- the user clicked a menu item, followed the account or scanned its code: 3 messages
  within 1 minute.

Each user action gives its own allowance; the shorter one is spent first. A send counts
each message WeChat receives (a long text split in two is two). What the window does not
allow waits, ``held`` in the outbox, for the user's next message (``opened`` releases it),
unless a template message is configured for its kind (reminders): those do not need the
window (bot.channels.wechat).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.db import aware, insert_unless_present
from bot.db.models import WeChatWindow, utcnow
from bot.delivery import outbox

MESSAGE_WINDOW = dt.timedelta(hours=48)
MESSAGE_QUOTA = 5
EVENT_WINDOW = dt.timedelta(minutes=1)
EVENT_QUOTA = 3

CLOSED = "WeChat's window is closed: the 48 hours after the user's last message are over"
SPENT = "WeChat's window allows no more messages until the user writes again"
# What staff read on a held message starts with this (bot.staff.console.chat_view).
WAITING = "waiting for the user's next message"


def opened(session: Session, *, channel: str, openid: str, by_message: bool) -> int:
    """The user did something: a new allowance, and what was held for them is due now
    (how many rows)."""
    now = utcnow()
    session.execute(
        insert_unless_present(
            session,
            WeChatWindow,
            {"openid": openid, "message_left": 0, "event_left": 0},
            conflict_on=["openid"],
        )
    )
    values = (
        {"message_until": now + MESSAGE_WINDOW, "message_left": MESSAGE_QUOTA}
        if by_message
        else {"event_until": now + EVENT_WINDOW, "event_left": EVENT_QUOTA}
    )
    session.execute(update(WeChatWindow).where(WeChatWindow.openid == openid).values(**values))
    return outbox.release_held(session, channel=channel, recipient=openid, now=now)


def reserve(session: Session, *, openid: str, count: int) -> str | None:
    """Take ``count`` messages from the user's allowance: None when taken, else why not
    (for staff). Compare-and-set, so that two senders cannot spend one allowance twice."""
    now = utcnow()
    for until, left in (
        (WeChatWindow.event_until, WeChatWindow.event_left),
        (WeChatWindow.message_until, WeChatWindow.message_left),
    ):
        taken = session.execute(
            update(WeChatWindow)
            .where(WeChatWindow.openid == openid, until > now, left >= count)
            .values({left: left - count})
            .execution_options(synchronize_session=False)
        )
        if getattr(taken, "rowcount", 0):
            return None
    row = session.get(WeChatWindow, openid)
    if row is None or row.message_until is None or aware(row.message_until) <= now:
        return f"{WAITING}: {CLOSED}"
    return f"{WAITING}: {SPENT}"
