"""Commands on one's own data, answered by the gateway without Rasa.

/unlink              remove the link between this chat and the resident
/forget, "forget me" ask, then delete the link and this chat's transcript (bot.records.accounts)
/reminders [on|off]  expiry reminders for this chat

They change the database only, so they work the same on every channel and even when
the Rasa server is down.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from sqlalchemy.orm import Session

from bot import texts
from bot.answers.ui import say
from bot.db.models import ChatIdentity
from bot.handoff import handoffs
from bot.i18n import gettext
from bot.messages import Button, Outbound
from bot.records import accounts
from bot.settings import get_settings
from bot.tickets import tickets
from rasa_addons.words import Words, load_words

# What users write to be forgotten: "forget_me" of every locales/<lang>/words.yml, compared
# after lower-casing and dropping punctuation, on both sides. Whole messages only: a
# question about deleting data in general stays with Rasa.
_PUNCTUATION = re.compile(r"[\s.!?,;:。！？，،؟]+")


def _plain(text: str) -> str:
    return _PUNCTUATION.sub(" ", text.casefold()).strip()


@lru_cache(maxsize=4)
def _forget_phrases(words: tuple[Words, ...]) -> frozenset[str]:
    return frozenset(_plain(phrase) for lang in words for phrase in lang.forget_me)


def forget_phrases() -> frozenset[str]:
    """Every language's "forget me" phrases, as compared (the locales of the settings)."""
    return _forget_phrases(load_words(get_settings().locales_dir))


ON, OFF = ("on", "1", "yes"), ("off", "0", "no")


@dataclass(frozen=True)
class Command:
    name: str  # unlink | forget | reminders
    arg: str = ""


def parse(text: str) -> Command | None:
    head, _, rest = text.strip().partition(" ")
    head = head.split("@", 1)[0].lower()
    if head in ("/unlink", "/forget", "/reminders"):
        return Command(head[1:], rest.strip().lower())
    if _plain(text) in forget_phrases():
        return Command("forget")
    return None


@dataclass(frozen=True)
class Done:
    replies: list[Outbound]
    kept: bool  # whether this exchange may be stored (not after forgetting)
    # Evidence files no ticket holds any more: deleted once the transaction is committed.
    files: list[str] = field(default_factory=list)


def run(session: Session, *, identity: ChatIdentity, command: Command, lang: str) -> Done:
    if command.name == "unlink":
        was_linked = accounts.unlink(session, identity=identity)
        return Done([say(lang, texts.UNLINKED if was_linked else texts.NOT_LINKED)], True)
    if command.name == "forget":
        if command.arg == "yes":
            handoffs.forget(session, identity=identity)
            dropped = tickets.forget(session, identity=identity)
            accounts.forget(session, identity=identity)
            replies = [say(lang, texts.FORGOTTEN)]
            if dropped.kept:
                numbers = ", ".join(dropped.kept)
                replies.append(say(lang, texts.FORGOTTEN_TICKETS_KEPT, numbers=numbers))
            return Done(replies, False, dropped.files)
        if command.arg == "no":
            return Done([say(lang, texts.NOTHING_DELETED)], True)
        buttons = (
            Button(gettext(lang, texts.FORGET_YES), "/forget yes"),
            Button(gettext(lang, texts.FORGET_NO), "/forget no"),
        )
        return Done([say(lang, texts.FORGET_CONFIRM, buttons)], True)
    # reminders
    if command.arg in ON or command.arg in OFF:
        accounts.set_reminders(session, identity=identity, enabled=command.arg in ON)
    replies = [
        say(
            lang,
            texts.REMINDERS_ON if identity.reminders_enabled else texts.REMINDERS_OFF,
            (
                Button(gettext(lang, texts.TURN_REMINDERS_OFF), "/reminders off")
                if identity.reminders_enabled
                else Button(gettext(lang, texts.TURN_REMINDERS_ON), "/reminders on"),
            ),
        )
    ]
    if identity.reminders_enabled and identity.resident_id is None:
        replies.append(say(lang, texts.REMINDERS_NEED_LINK))
    return Done(replies, True)
