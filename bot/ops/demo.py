"""Demo data for a fresh development database, so that every view has something to show.

Only `expatbot run` seeds, and only a database with no chat identities at all; the
demo rows live on their own channel ("demo"), never mixed with real users' chats.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.db import conversations
from bot.db.models import ChatIdentity

DEMO_CHANNEL = "demo"
# (user, language, [(inbound text, intent, status, reply)])
DEMO_CHATS: list[tuple[str, str, list[tuple[str, str | None, str, str | None]]]] = [
    (
        "demo-amina",
        "ar",
        [
            (
                "مرحبا",
                "greet",
                "answered",
                "مرحبًا! أنا المساعد الآلي لمركز خدمات شؤون الهجرة في ييوو.",
            ),
            ("كيف أسجل السكن عند الشرطة؟", "faq_accommodation_registration", "answered", None),
        ],
    ),
    (
        "demo-ivan",
        "ru",
        [
            ("как продлить визу?", "faq_visa_extension", "answered", None),
            ("поставщик не вернул предоплату, что делать", None, "failed", None),
        ],
    ),
    ("demo-li", "zh", [("外商卡丢了怎么补办", "faq_merchant_card_replace", "answered", None)]),
]


def seed_demo(session: Session) -> bool:
    """Add the demo chats to an empty database; returns whether it seeded."""
    if session.scalar(select(func.count()).select_from(ChatIdentity)):
        return False
    for user, lang, turns in DEMO_CHATS:
        identity = conversations.get_or_create_identity(
            session, channel=DEMO_CHANNEL, external_id=user
        )
        identity.language = lang
        conv = conversations.current_conversation(session, identity=identity)
        conv.language = lang
        for text, intent, status, reply in turns:
            msg = conversations.record_inbound(session, conversation=conv, text=text, kind="text")
            msg.language, msg.intent, msg.status = lang, intent, status
            msg.confidence = 0.9 if intent else None
            if reply:
                conversations.record_outbound(
                    session, conversation_id=conv.id, text=reply, language=lang, reply_to=msg.id
                )
    return True
