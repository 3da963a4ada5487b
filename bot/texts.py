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
# Rasa, the action server or a handler failed: the message is stored and ends "failed";
# nothing will answer it later, so the user is asked to send it again (UNAVAILABLE's
# promise holds only where the message stays waiting: a database failure, answered by
# the sweeper).
NOT_ANSWERED = N_(
    "Sorry, the assistant cannot answer right now. Please send your question again in a few "
    "minutes, or ask for a person. For urgent help, call the immigration hotline %(hotline)s."
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
# A chat sending more messages than a person can type (bot.pipeline.flood).
SLOW_DOWN = N_(
    "You are sending messages faster than I can read them. Please wait a few seconds, then "
    "send your question again in one message."
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
# Once, at the end of an answer: the office facts it names that are not yet published
# (their names from locales/<lang>/facts.yml, as one list), bot.answers.facts.
FACTS_NOT_PUBLISHED = N_(
    "Not yet published: %(facts)s. The immigration hotline %(hotline)s can tell you."
)
FACTS_NOT_PUBLISHED_NO_HOTLINE = N_("Not yet published: %(facts)s.")
# Web chat page and Telegram command menu.
WEBCHAT_TITLE = N_("Yiwu Immigration Assistant")
WEBCHAT_PLACEHOLDER = N_("Type your question…")
WEBCHAT_SEND = N_("Send")
WEBCHAT_ATTACH = N_("Attach a photo or document")
COMMAND_START = N_("Start the conversation")
COMMAND_LANGUAGE = N_("Choose your language")
COMMAND_HELP = N_("What I can help with")
# Policy answers.
SHOW_OFFICER = N_("Show in Chinese")
MORE_DETAILS = N_("More details")
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
# Dispute tickets: the form (actions/tickets.py), evidence (bot/tickets), the user's own
# tickets and what they are told of each change (bot/tickets/notify.py).
FILE_A_COMPLAINT = N_("File a complaint")
TICKET_INTRO = N_(
    "I will help you file a complaint with the service center: a few questions, then you "
    "check everything before it is sent. You can cancel at any time."
)
TICKET_RESUMED = N_("You have a complaint that is not sent yet; let us continue where you were.")
ASK_TICKET_KIND = N_("Who is your complaint against?")
KIND_SUPPLIER = N_("A supplier or factory")
KIND_LANDLORD = N_("A landlord or housing")
KIND_SHOP = N_("A shop or market stall")
KIND_LOGISTICS = N_("A logistics company")
KIND_OTHER = N_("Someone else")
ASK_TICKET_PARTY = N_("What is the name of the other party (the company, shop or person)?")
ASK_TICKET_PLACE = N_(
    "Where is the stall? Write the district and booth of the International Trade City as you "
    "know them, for example: District 2, Gate 7, Street 3, Booth 12345."
)
ASK_TICKET_CONTACT = N_(
    "Do you have a phone number or WeChat ID of the other party? Write it, or press Skip."
)
SKIP = N_("Skip")
ASK_TICKET_STORY = N_("What happened? Please describe it in your own words.")
TICKET_STORY_EMPTY = N_("Please write a few words about what happened.")
ASK_TICKET_WHEN = N_(
    "When did it happen? Write the date, for example %(example)s. Press Skip if you are not sure."
)
TICKET_DATE_AMBIGUOUS = N_("Which date do you mean?")
TICKET_DATE_FUTURE = N_("That date is in the future. When did it happen?")
NOT_A_TICKET_DATE = N_(
    "I could not read a date. Write it like %(example)s, or press Skip if you are not sure."
)
ASK_TICKET_AMOUNT = N_(
    "How much money is at stake, and in which currency? For example: 2,500 USD or 5万元. "
    "Press Skip if there is none."
)
NOT_AN_AMOUNT = N_("I could not read an amount. Write it like 2,500 USD or 5万元, or press Skip.")
ASK_TICKET_CURRENCY = N_("In which currency is %(amount)s? Choose one or write its code.")
TICKET_UNKNOWN_CURRENCY = N_(
    'I do not know the currency "%(unit)s". Choose one, or write its code (for example USD, '
    "CNY, EUR)."
)
ASK_TICKET_WANTS = N_("What would you like to achieve?")
WANT_REFUND = N_("A refund")
WANT_REPLACEMENT = N_("A replacement")
WANT_DEPOSIT_BACK = N_("My deposit back")
WANT_MEDIATION = N_("Mediation")
ASK_TICKET_EVIDENCE = N_(
    "Do you have photos or documents (invoices, contracts, screenshots of chats)? Send them now, "
    "up to %(files)s files of at most %(mb)s MB each, then press Done. Press Done as well if "
    "you have none."
)
DONE = N_("Done")
EVIDENCE_RECEIVED = N_("Received. Send more, or press Done.")
EVIDENCE_KEPT = N_("I kept this as evidence for your complaint.")
EVIDENCE_TOO_BIG = N_(
    "This file is larger than %(mb)s MB and was not kept. Please send a smaller file, or a "
    "photo of it."
)
EVIDENCE_NOT_ACCEPTED = N_(
    "This file was not kept: only photos (JPEG, PNG, WebP) and PDF documents are accepted, and "
    "its content is none of these, whatever its name says."
)
EVIDENCE_UNREADABLE = N_("This file could not be read and was not kept. Please send it again.")
EVIDENCE_TOO_MANY = N_("A complaint can hold %(files)s files; this one was not kept.")
EVIDENCE_UNAVAILABLE = N_("I could not receive this file. Please send it again in a moment.")
TICKET_SUMMARY = N_("Please check your complaint before it is sent:")
LABEL_AGAINST = N_("Against")
LABEL_PARTY = N_("Other party")
LABEL_PLACE = N_("Stall")
LABEL_CONTACT = N_("Their phone or WeChat")
LABEL_STORY = N_("What happened")
LABEL_WHEN = N_("When")
LABEL_AMOUNT = N_("Amount")
LABEL_WANTS = N_("You would like")
LABEL_FILES = N_("Files")
NOT_GIVEN = N_("not given")
# One line of the summary: French puts a space before the colon, Chinese a full-width one.
LABELLED = N_("%(label)s: %(value)s")
SUBMIT = N_("Send")
EDIT = N_("Change something")
ASK_TICKET_EDIT = N_("What would you like to change?")
BACK_TO_SUMMARY = N_("Back to the summary")
TICKET_SUBMITTED = N_(
    "Your complaint is filed. Its number is %(number)s: please keep it, and give it at the "
    "service center's counter or on the phone. Staff will look at it within %(hours)s hours, "
    "and you will be told here of every step. Send /tickets to see your complaints."
)
TICKET_ALREADY_SUBMITTED = N_("Your complaint was already filed as %(number)s.")
TICKET_CANCELLED = N_("The complaint is cancelled; nothing was sent.")
TICKET_GAVE_UP = N_(
    'I stopped the complaint form, as I could not read the answers. Write "file a complaint" '
    "to start again, or talk to a person."
)
TICKETS_UNAVAILABLE = N_(
    "Sorry, complaints cannot be handled right now. Please try again later, or call the "
    "immigration hotline %(hotline)s."
)
MY_TICKETS_NONE = N_("You have no complaints filed from this chat.")
MY_TICKETS = N_("Your complaints:")
TICKET_LINE = N_("%(number)s: %(status)s, last update %(date)s")
TICKET_NOT_FOUND = N_("I find no complaint %(number)s among yours.")
TICKET_HEADLINE = N_("Complaint %(number)s against %(party)s: %(status)s (since %(date)s).")
TICKET_REPLY_LINE = N_("Service center, %(date)s: %(text)s")
TICKET_REJECT_LINE = N_("Reason: %(reason)s")
SHOW_TICKET = N_("Show %(number)s")
ADD_TO_TICKET = N_("Add a message or files")
WITHDRAW_TICKET = N_("Withdraw")
TICKET_WITHDRAW_CONFIRM = N_(
    "Do you want to withdraw complaint %(number)s? Staff will stop working on it."
)
YES_WITHDRAW = N_("Yes, withdraw it")
KEEP_IT = N_("No, keep it")
CONFIRM_RESOLVED = N_("Yes, it is resolved")
REOPEN_TICKET = N_("No, reopen it")
TICKET_ADD_PROMPT = N_(
    "Write your message for complaint %(number)s, or send photos or documents. Press Done when "
    "you have finished."
)
TICKET_ADDED = N_("Added to complaint %(number)s.")
TICKET_ADD_CANCELLED = N_("Nothing more was added to complaint %(number)s.")
TICKET_CLOSED_FOR_INPUT = N_(
    "Complaint %(number)s is %(status)s: nothing more can be added to it. You can file a new "
    "complaint."
)
# Status names, as users read them.
TICKET_STATUS_SUBMITTED = N_("submitted")
TICKET_STATUS_TRIAGED = N_("being reviewed")
TICKET_STATUS_IN_PROGRESS = N_("in progress")
TICKET_STATUS_WAITING_USER = N_("waiting for your answer")
TICKET_STATUS_RESOLVED = N_("resolved, waiting for your confirmation")
TICKET_STATUS_CLOSED = N_("closed")
TICKET_STATUS_REJECTED = N_("not accepted")
TICKET_STATUS_DUPLICATE = N_("handled with another complaint")
TICKET_STATUS_WITHDRAWN = N_("withdrawn")
# What the user is told of each change (bot/tickets/notify.py).
TICKET_NOW = N_("Your complaint %(number)s is now: %(status)s.")
TICKET_NOW_REJECTED = N_("Your complaint %(number)s was not accepted. Reason: %(reason)s")
TICKET_NOW_DUPLICATE = N_(
    "Your complaint %(number)s is handled together with complaint %(original)s."
)
TICKET_NOW_WAITING = N_(
    "Staff need something from you on complaint %(number)s. Please read their message and "
    'answer with "Add a message or files".'
)
TICKET_NOW_RESOLVED = N_(
    "Staff marked your complaint %(number)s as resolved. Is it resolved for you? Without an "
    "answer it closes in %(days)s days."
)
TICKET_NOW_CLOSED = N_("Your complaint %(number)s is closed.")
TICKET_NOW_REOPENED = N_("Your complaint %(number)s is open again; staff will look at it.")
TICKET_NOW_WITHDRAWN = N_("Your complaint %(number)s is withdrawn.")
TICKET_STAFF_REPLY = N_("The service center, on your complaint %(number)s:\n%(text)s")
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
FORGOTTEN_TICKETS_KEPT = N_(
    "Your complaints %(numbers)s are kept: they are case files of the service center, and you "
    "will still be told here when they change."
)
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
