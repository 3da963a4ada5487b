"""The one path every message takes, whatever channel it came from.

store it first -> clean it -> decide its language -> ask Rasa -> store and return the replies.
A message is never lost: it is stored before anything can fail, and when Rasa or the
action server fails the user gets a clear reply in their language and the message stays
marked ``unanswered`` for staff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TypeVar

from babel.numbers import format_decimal
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot import texts
from bot.answers.office import office_value
from bot.answers.store import AnswerStore
from bot.db import transaction
from bot.db.models import Message
from bot.errors import AssistantUnavailable
from bot.i18n import DEFAULT_LANGUAGE, gettext, language_name, normalise_language
from bot.i18n import SUPPORTED_LANGUAGES as LANGS
from bot.messages import Button, Inbound, Outbound
from bot.nlu import langid
from bot.nlu.sanitize import clean
from bot.pipeline import account_commands, bare_number, store
from bot.pipeline.rasa_client import RasaClient, RasaTurn
from bot.records import references

log = logging.getLogger(__name__)
T = TypeVar("T")

# Commands of the chat platforms, mapped onto intents so that they take the Rasa path.
COMMAND_INTENTS = {
    "/start": "greet",
    "/help": "help",
    "/menu": "help",
    "/language": "change_language",
    "/link": "link_account",
    "/cancel": "deny",
}
LANGUAGE_PAYLOAD = "/language "
OFFICER_PAYLOAD = "/officer "
VOTE_PAYLOAD = "/vote "


def language_buttons() -> tuple[Button, ...]:
    return tuple(
        Button(title=language_name(code), payload=f"{LANGUAGE_PAYLOAD}{code}") for code in LANGS
    )


@dataclass(frozen=True)
class Stored:
    """What the first transaction of a message leaves for the rest of its handling."""

    message_id: int
    text: str  # as stored: with references in place of numbers and dates of birth
    sender: str  # the chat identity's public id: all that Rasa knows of the user
    chosen: str | None  # the language the user chose explicitly
    language: str | None  # the conversation's language so far
    awaiting: str | None  # what the assistant's last question asked for


class Assistant:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        rasa: RasaClient,
        intents: frozenset[str],
        max_message_chars: int = 2000,
        registry_key: bytes,
        answers: AnswerStore | None = None,
    ) -> None:
        self.sessions = sessions
        # With the registry's key, card and passport numbers and dates of birth are
        # replaced by keyed hashes before a message is stored or reaches Rasa.
        self._registry_key = registry_key
        self._rasa = rasa
        self._intents = intents
        self._max_chars = max_message_chars
        self._answers = answers

    async def _db(self, fn: Callable[[Session], T]) -> T:
        def run() -> T:
            with transaction(self.sessions) as session:
                return fn(session)

        return await asyncio.to_thread(run)

    async def handle(self, inbound: Inbound) -> list[Outbound]:
        lang = normalise_language(inbound.client_language) or DEFAULT_LANGUAGE
        try:
            stored = await self._db(lambda session: self._store_inbound(session, inbound))
        except SQLAlchemyError:
            # Not stored: say so, rather than promise an answer to a message we do not have.
            log.exception("database failure while storing a %s message", inbound.channel)
            return [self._ui(lang, texts.NOT_SAVED)]
        try:
            return await self._handle(inbound, stored)
        except SQLAlchemyError:
            # Stored, but the database failed afterwards: the message stays "received",
            # so staff (and a later retry) find it.
            log.exception("database failure while handling a %s message", inbound.channel)
            return [self._ui(stored.language or lang, texts.UNAVAILABLE)]

    def _ui(self, lang: str, msgid: str, buttons: tuple[Button, ...] = ()) -> Outbound:
        text = gettext(lang, msgid, hotline=office_value("immigration_hotline"))
        return Outbound(text=text, language=lang, buttons=buttons)

    def _store_inbound(self, session: Session, inbound: Inbound) -> Stored:
        """Store first, before anything can fail: exactly as received, except that card
        and passport numbers and dates of birth are replaced by references first
        (bot.records.references), so that they are never kept or passed on in clear."""
        identity = store.get_or_create_identity(
            session,
            channel=inbound.channel,
            external_id=inbound.external_id,
            client_language=inbound.client_language,
        )
        conv = store.current_conversation(session, identity=identity)
        text = references.protect(inbound.text, key=self._registry_key, awaiting=identity.awaiting)
        msg = store.record_inbound(session, conversation=conv, text=text, kind=inbound.kind)
        return Stored(
            message_id=msg.id,
            text=text,
            sender=identity.public_id,
            chosen=identity.language if identity.language_chosen else None,
            language=conv.language or identity.language,
            awaiting=identity.awaiting,
        )

    async def _handle(self, inbound: Inbound, stored: Stored) -> list[Outbound]:
        msg_id, sender, chosen = stored.message_id, stored.sender, stored.chosen
        conv_lang, awaiting = stored.language, stored.awaiting
        cleaned = clean(stored.text, max_chars=self._max_chars)
        text = cleaned.text

        # 2. Language: an explicit choice by button or command wins and is remembered.
        if text.startswith(LANGUAGE_PAYLOAD) and normalise_language(text[len(LANGUAGE_PAYLOAD) :]):
            lang = normalise_language(text[len(LANGUAGE_PAYLOAD) :]) or DEFAULT_LANGUAGE
            changed = [self._ui(lang, texts.LANGUAGE_CHANGED)]
            return await self._reply(msg_id, "answered", changed, language=lang, chosen=True)

        if text.startswith(VOTE_PAYLOAD):
            vote = await self._vote(msg_id, text[len(VOTE_PAYLOAD) :], chosen or conv_lang)
            if vote is not None:
                return vote

        if text.startswith(OFFICER_PAYLOAD) and self._answers is not None:
            officer = self._officer_view(text[len(OFFICER_PAYLOAD) :].strip(), conv_lang, chosen)
            if officer is not None:
                return await self._reply(msg_id, "answered", [officer])

        decision = langid.decide(
            text, chosen=chosen, conversation=conv_lang, client=inbound.client_language
        )
        lang = decision.language
        # Only a choice or a detection may change the conversation's language: a language
        # taken from the conversation itself, written back, could undo a switch made
        # meanwhile by another message of the same chat.
        settles = decision.source in ("chosen", "detected")

        command = account_commands.parse(text)
        if command is not None:
            return await self._account_command(msg_id, command, lang, settles)

        # 3. Input we can answer without Rasa.
        if inbound.kind not in ("text", "button"):
            return await self._reply(
                msg_id,
                "rejected",
                [self._ui(lang, texts.UNSUPPORTED_MEDIA)],
                language=lang,
                settles=settles,
            )
        if not text:
            return await self._reply(
                msg_id,
                "rejected",
                [self._ui(lang, texts.EMPTY_MESSAGE)],
                language=lang,
                settles=settles,
            )
        if not cleaned.has_words:
            return await self._reply(
                msg_id, "rejected", [self._ui(lang, texts.NO_WORDS)], language=lang, settles=settles
            )
        if awaiting is None and bare_number.is_bare_number(inbound.text):
            # "123" alone is no question (Rasa took it for a ticket number); unless a
            # question of ours just asked for a number, ask what it is about.
            menu = (Button(title=gettext(lang, texts.MENU), payload="/help"),)
            only_number = [self._ui(lang, texts.ONLY_A_NUMBER, menu)]
            return await self._reply(
                msg_id, "answered", only_number, language=lang, settles=settles
            )

        rasa_text = self._rasa_text(text)
        notices: list[Outbound] = []
        if cleaned.truncated:
            notices.append(
                Outbound(
                    text=gettext(
                        lang, texts.TOO_LONG, limit=format_decimal(self._max_chars, locale=lang)
                    ),
                    language=lang,
                )
            )

        # 4. Ask Rasa.
        try:
            turn = await self._rasa.send(
                sender=sender,
                text=rasa_text,
                metadata={"language": lang, "channel": inbound.channel},
            )
        except AssistantUnavailable as exc:
            log.warning("message %s unanswered: %s", msg_id, exc)
            return await self._reply(
                msg_id,
                "unanswered",
                [self._ui(lang, texts.UNAVAILABLE)],
                language=lang,
                settles=settles,
            )

        replies = notices + [
            Outbound(text=r.text, language=turn.language or lang, buttons=r.buttons)
            for r in turn.replies
        ]
        return await self._reply(
            msg_id, "answered", replies, turn=turn, language=lang, settles=settles
        )

    async def _account_command(
        self, msg_id: int, command: account_commands.Command, lang: str, settles: bool
    ) -> list[Outbound]:
        def run(session: Session) -> tuple[list[Outbound], bool]:
            msg = session.get(Message, msg_id)
            assert msg is not None
            return account_commands.run(
                session, identity=msg.conversation.identity, command=command, lang=lang
            )

        replies, transcript_kept = await self._db(run)
        if not transcript_kept:
            return replies  # forgotten: not even this exchange is stored
        return await self._reply(msg_id, "answered", replies, language=lang, settles=settles)

    async def _vote(self, msg_id: int, args: str, lang: str | None) -> list[Outbound] | None:
        """Store "helpful / not helpful" on an answer; "not helpful" offers a person.

        A vote counts only for an answer this chat was shown (its vote button was sent
        to this chat identity), and only once per chat and topic: anyone can type a
        "/vote" payload, and the counts guide the editors.
        """
        parts = args.split()
        if len(parts) != 2 or not parts[0].startswith("faq_") or parts[1] not in ("1", "0"):
            return None
        topic, helpful = parts[0], parts[1] == "1"
        lang = lang or DEFAULT_LANGUAGE
        payload = f"{VOTE_PAYLOAD}{topic} {parts[1]}"

        def save(session: Session) -> str | None:
            """The reason the vote is not counted, or None once it is stored."""
            msg = session.get(Message, msg_id)
            assert msg is not None
            identity_id = msg.conversation.identity_id
            # Checked and written under the identity's lock: a double tap counts once.
            store.lock_identity(session, identity_id=identity_id)
            if not store.was_shown_button(session, identity_id=identity_id, payload=payload):
                return texts.VOTE_NOT_COUNTED
            if store.has_voted(session, identity_id=identity_id, topic=topic):
                return texts.ALREADY_RATED
            store.record_vote(
                session, identity_id=identity_id, topic=topic, language=lang, helpful=helpful
            )
            return None

        refused = await self._db(save)
        offer = [] if helpful else [self._ui(lang, texts.NOT_HELPFUL_REPLY)]
        if refused is None:
            thanks = [] if offer else [self._ui(lang, texts.THANKS_FOR_FEEDBACK)]
            return await self._reply(msg_id, "answered", thanks + offer)
        if refused == texts.ALREADY_RATED:
            # Not counted again, but someone who now finds it unhelpful still gets a person.
            return await self._reply(msg_id, "rejected", [self._ui(lang, refused), *offer])
        return await self._reply(msg_id, "rejected", [self._ui(lang, refused)])

    def _officer_view(
        self, topic: str, conv_lang: str | None, chosen: str | None
    ) -> Outbound | None:
        """The answer in Chinese for an officer, under its title in the user's language."""
        assert self._answers is not None
        lang = chosen or conv_lang or DEFAULT_LANGUAGE
        zh = self._answers.get(topic, "zh")
        if zh is None or zh.language != "zh":
            return None
        own_title = self._answers.title(topic, lang)
        return Outbound(text=f"{own_title}\n{zh.title}\n\n{zh.text}", language="zh")

    def _rasa_text(self, text: str) -> str:
        """Known commands and button payloads go to Rasa as intents; anything else as text."""
        first = text.split(maxsplit=1)[0].split("@", 1)[0].lower()
        if first in COMMAND_INTENTS:
            return "/" + COMMAND_INTENTS[first]
        if text.startswith("/"):
            intent = text[1:].split("{", 1)[0].strip()
            if intent in self._intents:
                # Only the intent: entities in a payload ("/link_account{...}") would set
                # Rasa's slots straight from what the client sent. No button of ours has any.
                return "/" + intent
            # An unknown "/something" must not reach Rasa as an intent name.
            return text.lstrip("/") or text
        return text

    async def _reply(
        self,
        msg_id: int,
        status: str,
        replies: list[Outbound],
        turn: RasaTurn | None = None,
        *,
        language: str | None = None,
        chosen: bool = False,
        settles: bool = True,
    ) -> list[Outbound]:
        """Store the replies and the message's outcome, and the language decided for it
        (in the same transaction: one database round trip per message after storing).

        The conversation's language and what its last question awaited are written only
        by the newest message that got this far: a slow answer to an older message must
        not write its older state over a newer one's.
        """

        def save(session: Session) -> None:
            msg = session.get(Message, msg_id)
            assert msg is not None
            conv = msg.conversation
            # The identity's row first, as when a message is stored: transactions that
            # update both lock them in one order, so two messages never deadlock.
            store.lock_identity(session, identity_id=conv.identity_id)
            identity = conv.identity
            newest = not store.newer_answered_inbound(
                session, conversation_id=conv.id, after=msg.id
            )
            msg.status = status
            if language is not None:
                msg.language = language
                if chosen or (settles and newest) or conv.language is None:
                    conv.language = identity.language = language
                identity.language_chosen = identity.language_chosen or chosen
            if turn is not None:
                if turn.redact:
                    # An answer to an identity question (card number, date of birth):
                    # compared by the action server, never kept in the transcript.
                    msg.text = store.REDACTED
                msg.intent = turn.intent
                msg.confidence = turn.confidence
                if newest:
                    identity.awaiting = turn.awaiting
                msg.answer_language = turn.answer_language
            for out in replies:
                store.record_outbound(
                    session,
                    conversation=conv,
                    text=out.text,
                    language=out.language,
                    reply_to=msg.id,
                    buttons=[asdict(b) for b in out.buttons],
                )

        await self._db(save)
        return replies
