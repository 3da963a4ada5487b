"""request_human: the user wants a person. The action only tells the gateway so (the turn
report's ``handoff``): the gateway owns the conversation's mode, queues the chat for
staff and tells the user their place in the queue (bot.handoff)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import finish, user_language


class ActionRequestHuman(Action):
    def name(self) -> str:
        return "action_request_human"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        return finish(dispatcher, tracker, user_language(tracker), handoff="request_human")
