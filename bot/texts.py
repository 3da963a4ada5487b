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
NOT_SAVED = N_(
    "Sorry, something went wrong and your message could not be saved. Please send it again in "
    "a few minutes. For urgent help, call the immigration hotline %(hotline)s."
)
# A request that waited too long for its reply (the web chat): the reply comes later.
STILL_WORKING = N_(
    "Your message has been saved. The answer is taking longer than usual; it will appear "
    "here as soon as it is ready."
)
# A message left unanswered by a breakdown, found again after too long to answer it.
LATE_APOLOGY = N_(
    "Sorry, because of a technical problem your message could not be answered in time. "
    "Please send it again if you still need an answer. For urgent help, call the "
    "immigration hotline %(hotline)s."
)
EMPTY_MESSAGE = N_("Your message is empty. Please write your question in words.")
TOO_LONG = N_(
    "Your message is very long. I have read the first %(limit)s characters; please send one "
    "question at a time."
)
NO_WORDS = N_("Please write your question in words: I cannot understand only symbols or emoji.")
# A message that is only a number ("123") when no question asked for one.
ONLY_A_NUMBER = N_(
    "I see only a number. What would you like to know about it? Please write your question "
    "in words, or tap Menu to see what I can help with."
)
UNSUPPORTED_MEDIA = N_("I can only read text messages. Please write your question in words.")
# A person takes over (bot.handoff).
TALK_TO_A_PERSON = N_("Talk to a person")
BACK_TO_THE_ASSISTANT = N_("Back to the assistant")
HANDOFF_QUEUED = N_(
    "A member of staff will answer you here, in this chat. You are number %(position)s in the "
    "queue; the wait is about %(minutes)s minutes. Everything you send now goes to them. To go "
    "back to the automated assistant, send /bot."
)
HANDOFF_CLOSED_NOW = N_(
    "The staff of the service center are not at work now. A member of staff will answer you "
    "here from %(opens)s. You can write your question now: everything you send goes to them. "
    "To go back to the automated assistant, send /bot."
)
HANDOFF_HOURS_UNKNOWN = N_(
    "A member of staff will answer you here, in this chat, during the service center's working "
    "hours (%(hours)s). You are number %(position)s in the queue. Everything you send now goes "
    "to them. To go back to the automated assistant, send /bot."
)
HANDOFF_ENDED_BY_USER = N_("You are talking to the automated assistant again.")
HANDOFF_HANDED_BACK = N_(
    "The member of staff has finished. You are talking to the automated assistant again. How "
    "helpful was the help you got?"
)
RATING_THANKS = N_("Thank you for rating the help you got.")
RATING_ALREADY = N_("You have already rated this conversation. Thank you.")
RATING_NOT_COUNTED = N_("This rating could not be counted.")
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
# A vote counts only for an answer this chat was shown, once (bot/pipeline/assistant.py: _vote).
VOTE_NOT_COUNTED = N_(
    "This rating could not be counted: you can rate only an answer I have sent you in this chat."
)
ALREADY_RATED = N_("You have already rated this answer. Thank you.")
# Reminders before a document expires.
REMINDER_DOCUMENT = N_(
    "Reminder: your %(document)s (number ending %(last4)s) expires on %(date)s (%(when)s). "
    "Apply to renew it in time: at least 7 days before for a visa, 30 days before "
    "for a residence permit."
)
REMINDER_CARD = N_(
    "Reminder: your Yiwu merchant card (number ending %(last4)s) expires on %(date)s. Ask "
    "the service center about renewing it."
)
DOCUMENT_VISA = N_("visa")
DOCUMENT_RESIDENCE_PERMIT = N_("residence permit")
# The user's own records: proving who one is (actions/linking.py).
COMMAND_LINK = N_("Link this chat to your merchant card")
COMMAND_UNLINK = N_("Remove the link to your record")
COMMAND_REMINDERS = N_("Turn expiry reminders on or off")
COMMAND_FORGET = N_("Delete your data from this chat")
COMMAND_BOT = N_("End the conversation with a person")
LINK_INTRO = N_(
    "To show your own records I first need to check who you are. Your details are only "
    "compared with the registry; they are never shown to anyone."
)
ASK_CARD = N_("Please type your Yiwu merchant card number, for example YW 2016 1234 56.")
ASK_DATE_OF_BIRTH = N_("Now your date of birth, for example 1990-04-03 or 3 April 1990.")
ASK_PASSPORT_LAST4 = N_("Please type the last four characters of your passport number.")
NOT_A_CARD_NUMBER = N_(
    "That does not look like a merchant card number: it has 8 to 18 digits, sometimes "
    "after two letters."
)
NOT_A_DATE = N_("I could not read a date in that.")
NOT_PASSPORT_LAST4 = N_("Please type only the last four letters or digits of your passport number.")
CANCEL = N_("Cancel")
LINK_CANCELLED = N_("All right, I stopped. Send /link whenever you want to try again.")
LINK_GAVE_UP = N_(
    "I stopped, because I could not read your answers. Send /link to start again, or call "
    "the immigration hotline %(hotline)s."
)
LINKED = N_(
    "Thank you, this chat is now linked to your record. I will remind you before your visa or "
    "residence permit expires (/reminders off stops this; /unlink removes the link)."
)
LINK_MISMATCH = N_(
    "These details do not match our records. Please check them and try again. Attempts left "
    "today: %(left)s."
)
LINK_LOCKED = N_(
    "Too many attempts did not match. For your security, linking is locked in this chat for 24 "
    "hours and the staff have been told. For help now, call the immigration hotline "
    "%(hotline)s or visit the service center."
)
LINK_CARD_LOCKED = N_(
    "For the security of this card, linking it to a chat is paused after too many attempts "
    "that did not match, and the staff have been told. If it is your card, please contact the "
    "service center or call the immigration hotline %(hotline)s."
)
LINK_PAUSED = N_(
    "Linking records is paused for a while for security reasons. Please try again in an hour, "
    "or call the immigration hotline %(hotline)s."
)
ALREADY_LINKED = N_(
    "This chat is already linked to your record. Send /unlink if you want to remove the link."
)
TRY_AGAIN = N_("Try again")
MY_CARD = N_("My merchant card")
MY_VISA = N_("My visa")
RECORDS_UNAVAILABLE = N_(
    "Sorry, I cannot look up your records right now. Please try again later or call the "
    "immigration hotline %(hotline)s."
)
DISPUTES_NOT_AVAILABLE = N_(
    "Complaints cannot be filed or followed in this chat yet. Please visit the service center "
    "or call the immigration hotline %(hotline)s."
)
# Lookups (actions/records.py). %(when)s is "in 12 days" or "3 days ago", from Babel.
CARD_VALID_UNTIL = N_(
    "Your Yiwu merchant card %(card)s. Status: %(status)s. Valid until %(date)s (%(when)s)."
)
CARD_ENDED_ON = N_(
    "Your Yiwu merchant card %(card)s. Status: %(status)s. Expiry date: %(date)s (%(when)s)."
)
DOCUMENT_VALID_UNTIL = N_(
    "Your %(document)s %(type)s, number %(number)s. Status: %(status)s. Valid until %(date)s "
    "(%(when)s)."
)
DOCUMENT_ENDED_ON = N_(
    "Your %(document)s %(type)s, number %(number)s. Status: %(status)s. Expiry date: %(date)s "
    "(%(when)s)."
)
ENTRIES = N_("Entries: %(entries)s.")
ENTRIES_SINGLE = N_("single")
ENTRIES_DOUBLE = N_("double")
ENTRIES_MULTIPLE = N_("multiple")
TODAY = N_("today")
STATUS_ACTIVE = N_("active")
STATUS_VALID = N_("valid")
STATUS_EXPIRED = N_("expired")
STATUS_SUSPENDED = N_("suspended")
STATUS_LOST = N_("reported lost")
STATUS_CANCELLED = N_("cancelled")
EXPIRES_SOON = N_("It expires within 30 days. Here is what to do:")
HAS_EXPIRED = N_("It has expired. Here is what to do now:")
CARD_SUSPENDED = N_("A suspended card cannot be used. The service center can tell you why:")
CARD_LOST = N_("This card was reported lost. Here is how to replace it:")
NO_CARD_RECORD = N_(
    "I find no merchant card for you in the registry. If you think this is wrong, a member of "
    "staff can check it: call the immigration hotline %(hotline)s or visit the service center."
)
NO_DOCUMENT_RECORD = N_(
    "I find no visa or residence permit for you in the registry. If you think this is wrong, "
    "a member of staff can check it: call the immigration hotline %(hotline)s or visit the "
    "service center."
)
# Commands handled by the gateway (bot/pipeline/account_commands.py).
UNLINKED = N_("This chat is no longer linked to your record, and it will get no more reminders.")
NOT_LINKED = N_("This chat is not linked to any record. Send /link to link it.")
FORGET_CONFIRM = N_(
    "This deletes the link to your record and everything written in this chat. It cannot be "
    "undone. Delete?"
)
FORGET_YES = N_("Yes, delete")
FORGET_NO = N_("No, keep")
FORGOTTEN = N_("Done: the link to your record and the messages of this chat are deleted.")
NOTHING_DELETED = N_("Nothing was deleted.")
REMINDERS_ON = N_(
    "Reminders are on: I will write 30, 14, 7 and 1 days before your visa or residence permit "
    "expires, and when your merchant card expires."
)
REMINDERS_OFF = N_("Reminders are off. Send /reminders on to turn them on again.")
REMINDERS_NEED_LINK = N_("Reminders need your record: send /link first.")
TURN_REMINDERS_ON = N_("Turn reminders on")
TURN_REMINDERS_OFF = N_("Turn reminders off")

# Staff-facing: alerts sent to the staff's chat (bot.records.alerts, bot.jobs.alerts), in
# the staff's language (STAFF_LANGUAGE).
ALERT_CARD_LOCKOUT = N_(
    "%(failures)s failed attempts at one card (reference %(ref)s) from %(chats)s chats in "
    "%(hours)s hours; the card is locked against new links"
)
ALERT_LINK_LOCKOUT = N_(
    "%(failures)s failed attempts to link %(channel)s chat %(chat)s in %(hours)s hours; locked"
)
ALERT_LINK_PAUSED = N_(
    "%(failures)s failed attempts to link in the last hour, from any chats; linking is paused "
    "for everyone until the count falls"
)
ALERT_STAFF_LOGIN_LOCKOUT = N_(
    "%(failures)s failed logins to the staff console as %(name)s; that name is locked for "
    "%(minutes)s minutes"
)
STAFF_ALERT = N_("Staff alert #%(id)s (%(kind)s): %(details)s. List open alerts with: %(command)s")
