"""Every user-facing string outside the answer files, in one place.

Each constant is a gettext msgid marked with ``N_`` so that ``pybabel extract`` finds it;
it is translated at the moment of use with :func:`bot.i18n.gettext` in the user's
language. Keeping them here (rather than inline) lets the gateway and the action server
share them and lets a test check that every catalog translates every one.
"""

from __future__ import annotations


def N_(message: str) -> str:
    """Mark a msgid for extraction without translating it now."""
    return message


GREETING = N_(
    "Hello! I am the automated assistant of the Yiwu Immigration Affairs Service Center. "
    "Ask me about visas, residence permits, the foreign merchant card or registering your stay."
)
GOODBYE = N_("Goodbye! Write to me any time you need help.")
THANKS_REPLY = N_("You are welcome! Is there anything else I can help you with?")
HELP_INTRO = N_("Here is what I can help you with. Choose a topic or just write your question.")
BOT_CHALLENGE = N_(
    "I am an automated assistant, not a person. A member of staff of the service center is "
    "available too: call the immigration hotline %(hotline)s or visit the center."
)
OUT_OF_SCOPE = N_(
    "Sorry, I can only help with immigration matters in Yiwu: visas, residence permits, the "
    "merchant card, registering your stay and disputes."
)
FALLBACK = N_("Sorry, I am not sure I understood. Did you mean one of these topics?")
NONE_OF_THESE = N_("None of these")
NONE_OF_THESE_REPLY = N_(
    "Please tell me your question in other words, or tap Menu to see what I can help with."
)
MENU = N_("Menu")
CHOOSE_LANGUAGE = N_("Choose the language I should answer in:")
LANGUAGE_CHANGED = N_("OK, I will answer in this language from now on.")
UNAVAILABLE = N_(
    "Sorry, the assistant is temporarily unavailable. Your message has been saved and will be "
    "answered as soon as possible. For urgent help, call the immigration hotline %(hotline)s."
)
EMPTY_MESSAGE = N_("Your message is empty. Please write your question in words.")
TOO_LONG = N_(
    "Your message is very long. I have read the first %(limit)s characters; please send one "
    "question at a time."
)
NO_WORDS = N_("Please write your question in words: I cannot understand only symbols or emoji.")
UNSUPPORTED_MEDIA = N_("I can only read text messages. Please write your question in words.")
RECORDS_NOT_AVAILABLE = N_(
    "Looking up your own merchant card, visa or complaint is not available in this chat yet. "
    "Please visit the service center or call the immigration hotline %(hotline)s."
)
HUMAN_NOT_AVAILABLE = N_(
    "I cannot connect you to a member of staff from this chat yet. Please call the immigration "
    "hotline %(hotline)s or visit the service center."
)
AFFIRM_REPLY = N_("Good. What else would you like to know?")
DENY_REPLY = N_("All right. Please tell me your question in other words.")
NO_ANSWER_YET = N_(
    "Sorry, I do not have an answer on this topic yet. Please call the immigration hotline "
    "%(hotline)s."
)
NOT_PUBLISHED = N_("not yet published, please ask the hotline %(hotline)s")
# Web chat page and Telegram command menu.
WEBCHAT_TITLE = N_("Yiwu Immigration Assistant")
WEBCHAT_PLACEHOLDER = N_("Type your question…")
WEBCHAT_SEND = N_("Send")
COMMAND_START = N_("Start the conversation")
COMMAND_LANGUAGE = N_("Choose your language")
COMMAND_HELP = N_("What I can help with")
# Policy answers.
SHOW_OFFICER = N_("Show in Chinese")
ANSWER_IN_ENGLISH = N_("This answer is not yet available in your language; here it is in English.")
HELPFUL = N_("Helpful")
NOT_HELPFUL = N_("Not helpful")
THANKS_FOR_FEEDBACK = N_("Thank you for your feedback.")
NOT_HELPFUL_REPLY = N_(
    "Sorry this did not help. A member of staff can help you: call the immigration hotline "
    "%(hotline)s or visit the service center."
)
# Reminders before a document expires.
REMINDER_DOCUMENT = N_(
    "Reminder: your %(document)s (number ending %(last4)s) expires on %(date)s, in %(days)s "
    "days. Apply to renew it in time: at least 7 days before for a visa, 30 days before "
    "for a residence permit."
)
REMINDER_CARD = N_(
    "Reminder: your Yiwu merchant card (number ending %(last4)s) expires on %(date)s. Ask "
    "the service center about renewing it."
)
DOCUMENT_VISA = N_("visa")
DOCUMENT_RESIDENCE_PERMIT = N_("residence permit")
