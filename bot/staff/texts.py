"""What staff read in the console: gettext msgids of the "staff" domain, translated in
locales/<lang>/LC_MESSAGES/staff.po for the console's languages (zh, en). Templates mark
their own texts with _(); these are the ones Python code produces."""

from __future__ import annotations


def N_(message: str) -> str:
    return message


LOGIN_WRONG = N_("Wrong name or password.")
LOGIN_LOCKED = N_("Too many failed logins for this name. Try again in 15 minutes.")
LOGIN_CODE = N_("Enter the six-digit code of your authenticator app.")
LOGIN_EXPIRED = N_("Your session has ended. Log in again; what you were typing is kept.")
FORBIDDEN = N_("Your role does not allow this page.")
BAD_FORM = N_("This form has expired. Reload the page and try again.")
NOT_FOUND = N_("There is no such chat.")
NO_SUCH_TICKET = N_("There is no such ticket.")
NO_SUCH_FILE = N_("There is no such file.")
