"""Custom actions of the Yiwu expat assistant.

Served by rasa-sdk: `python -m rasa_sdk --actions actions`.
"""

from actions.conversation import (
    ActionAffirm,
    ActionBotChallenge,
    ActionDeny,
    ActionGoodbye,
    ActionGreet,
    ActionHelp,
    ActionOutOfScope,
    ActionThank,
)
from actions.fallback import ActionClarify
from actions.faq import ActionAnswerFaq
from actions.language import ActionChangeLanguage
from actions.not_yet import ActionRecordsNotYet, ActionRequestHuman

__all__ = [
    "ActionAffirm",
    "ActionAnswerFaq",
    "ActionBotChallenge",
    "ActionChangeLanguage",
    "ActionClarify",
    "ActionDeny",
    "ActionGoodbye",
    "ActionGreet",
    "ActionHelp",
    "ActionOutOfScope",
    "ActionRecordsNotYet",
    "ActionRequestHuman",
    "ActionThank",
]
