"""Intents whose capability is not built yet get an honest answer and a way to a person.

Complaints (open_dispute, ticket_status) come with their own issue; until then the
assistant says plainly that it cannot do this here.
"""

from __future__ import annotations

from rasa_sdk import Action

from actions.conversation import _UiReply
from bot import texts


class ActionDisputesNotYet(_UiReply, Action):
    action_name = "action_disputes_not_available"
    msgid = texts.DISPUTES_NOT_AVAILABLE
