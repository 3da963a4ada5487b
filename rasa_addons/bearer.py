"""The shared-secret check of the gateway's Rasa channel and of the action server.

Standard library only: it runs inside Rasa (.venv-rasa, Python 3.10) and in the action
server (.venv), so both compare secrets the same way.
"""

from __future__ import annotations

import hmac


def bearer_matches(header: str | None, secret: str) -> bool:
    """True when `header` is "Bearer <secret>".

    Constant-time comparison, so that response times do not reveal how much of a guess
    was right. An empty secret matches nothing: a missing setting must lock the door,
    not open it.
    """
    if not secret or not header:
        return False
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode(), secret.encode())
