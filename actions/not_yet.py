"""Intents whose capability is not built yet get an honest answer and a way to a person.

The user's own records (card, visa, tickets) and the handoff to staff come with their
own issues; until then the assistant says plainly that it cannot do this here.
"""

from __future__ import annotations

from rasa_sdk import Action

from actions.conversation import _UiReply
from bot import texts


class ActionRecordsNotYet(_UiReply, Action):
    action_name = "action_records_not_available"
    msgid = texts.RECORDS_NOT_AVAILABLE


class ActionRequestHuman(_UiReply, Action):
    action_name = "action_request_human"
    msgid = texts.HUMAN_NOT_AVAILABLE
