"""Custom actions of the Yiwu expat assistant.

Served by rasa-sdk: `python -m rasa_sdk --actions actions`.
"""

import logging

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
from actions.handoff import ActionRequestHuman
from actions.language import ActionChangeLanguage
from actions.linking import (
    ActionAskLinkCard,
    ActionAskLinkDob,
    ActionAskLinkPassport,
    ActionLinkStart,
    ActionLinkSubmit,
    ValidateLinkForm,
)
from actions.records import ActionCheckCardStatus, ActionCheckVisaStatus
from actions.tickets import (
    ActionAskTicketAmount,
    ActionAskTicketConfirm,
    ActionAskTicketContact,
    ActionAskTicketEvidence,
    ActionAskTicketKind,
    ActionAskTicketParty,
    ActionAskTicketPlace,
    ActionAskTicketStory,
    ActionAskTicketWants,
    ActionAskTicketWhen,
    ActionTicketStart,
    ActionTicketStatus,
    ActionTicketSubmit,
    ValidateTicketForm,
)
from bot.logging_setup import add_filters

# rasa-sdk configures its own handlers; mask numbers and database details on all of them.
for _handler in logging.getLogger().handlers:
    add_filters(_handler)

__all__ = [
    "ActionAffirm",
    "ActionAnswerFaq",
    "ActionAskLinkCard",
    "ActionAskLinkDob",
    "ActionAskLinkPassport",
    "ActionAskTicketAmount",
    "ActionAskTicketConfirm",
    "ActionAskTicketContact",
    "ActionAskTicketEvidence",
    "ActionAskTicketKind",
    "ActionAskTicketParty",
    "ActionAskTicketPlace",
    "ActionAskTicketStory",
    "ActionAskTicketWants",
    "ActionAskTicketWhen",
    "ActionBotChallenge",
    "ActionChangeLanguage",
    "ActionCheckCardStatus",
    "ActionCheckVisaStatus",
    "ActionClarify",
    "ActionDeny",
    "ActionGoodbye",
    "ActionGreet",
    "ActionHelp",
    "ActionLinkStart",
    "ActionLinkSubmit",
    "ActionOutOfScope",
    "ActionRequestHuman",
    "ActionThank",
    "ActionTicketStart",
    "ActionTicketStatus",
    "ActionTicketSubmit",
    "ValidateLinkForm",
    "ValidateTicketForm",
]
