"""Low-confidence messages: offer the two likeliest topics instead of guessing."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import (
    FAQ_PREFIX,
    answer_store,
    button,
    finish,
    talk_to_a_person,
    ui,
    user_language,
)
from bot import texts

OFFERED = 2


def likeliest_topics(tracker: Tracker, n: int = OFFERED) -> list[str]:
    ranking = tracker.latest_message.get("intent_ranking") or []
    ranked = sorted(ranking, key=lambda r: r.get("confidence") or 0.0, reverse=True)
    return [r["name"] for r in ranked if str(r.get("name", "")).startswith(FAQ_PREFIX)][:n]


class ActionClarify(Action):
    def name(self) -> str:
        return "action_clarify"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        lang = user_language(tracker)
        store = answer_store()
        buttons = [button(store.title(t, lang), f"/{t}") for t in likeliest_topics(tracker)]
        buttons.append(button(ui(lang, texts.NONE_OF_THESE), "/deny"))
        if second_in_a_row(tracker):
            buttons.append(talk_to_a_person(lang))  # not understood twice: offer a person
        dispatcher.utter_message(text=ui(lang, texts.FALLBACK), buttons=buttons)
        return finish(dispatcher, tracker, lang)


def second_in_a_row(tracker: Tracker) -> bool:
    """Whether the previous message of the user was not understood either: the last
    action before this message's was this one."""
    seen_this_message = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_this_message:
                return False  # an earlier message, and no action for it found yet
            seen_this_message = True
        elif seen_this_message and event.get("event") == "action":
            name = event.get("name")
            if name in ("action_listen", None):
                continue
            return bool(name == "action_clarify")
    return False
