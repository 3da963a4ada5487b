"""The statuses of a ticket and the changes allowed between them: written here once.

    draft ─> submitted ─> triaged ─> in_progress ⇄ waiting_user ─> resolved ─> closed
                 │            │           │              │            │
                 └────────────┴───────────┴──────────────┴─> rejected, duplicate, withdrawn
                                                    resolved ─> in_progress (reopened)

Who may make each change: the user (submit a draft, withdraw an open ticket, confirm or
reopen a resolved one), staff (everything else), the system (a resolved ticket closes
after some days without an answer; a ticket waiting for the user goes back to work when
the user writes). A change not listed is refused (``check``), whoever asks.
"""

from __future__ import annotations

from typing import Literal

Actor = Literal["user", "staff", "system"]

DRAFT = "draft"
SUBMITTED = "submitted"
TRIAGED = "triaged"
IN_PROGRESS = "in_progress"
WAITING_USER = "waiting_user"
RESOLVED = "resolved"
CLOSED = "closed"
REJECTED = "rejected"
DUPLICATE = "duplicate"
WITHDRAWN = "withdrawn"

STATUSES = (
    SUBMITTED, TRIAGED, IN_PROGRESS, WAITING_USER, RESOLVED, CLOSED, REJECTED, DUPLICATE,
    WITHDRAWN,
)  # fmt: skip
# Being worked on, or waiting for the user's confirmation: counted as "open".
OPEN = frozenset({SUBMITTED, TRIAGED, IN_PROGRESS, WAITING_USER, RESOLVED})
FINAL = frozenset({CLOSED, REJECTED, DUPLICATE, WITHDRAWN})
# Statuses the user can still add messages and evidence to.
ACCEPTS_USER_INPUT = frozenset({SUBMITTED, TRIAGED, IN_PROGRESS, WAITING_USER})

_STAFF: frozenset[Actor] = frozenset({"staff"})
_USER: frozenset[Actor] = frozenset({"user"})
_ANYONE_ENDS = {REJECTED: _STAFF, DUPLICATE: _STAFF, WITHDRAWN: _USER}

TRANSITIONS: dict[str, dict[str, frozenset[Actor]]] = {
    DRAFT: {SUBMITTED: _USER},
    SUBMITTED: {
        TRIAGED: _STAFF, IN_PROGRESS: _STAFF, WAITING_USER: _STAFF, RESOLVED: _STAFF,
        **_ANYONE_ENDS,
    },
    TRIAGED: {IN_PROGRESS: _STAFF, WAITING_USER: _STAFF, RESOLVED: _STAFF, **_ANYONE_ENDS},
    IN_PROGRESS: {WAITING_USER: _STAFF, RESOLVED: _STAFF, **_ANYONE_ENDS},
    WAITING_USER: {
        IN_PROGRESS: frozenset({"staff", "system"}), RESOLVED: _STAFF, **_ANYONE_ENDS,
    },
    RESOLVED: {
        CLOSED: frozenset({"user", "staff", "system"}),
        IN_PROGRESS: frozenset({"user", "staff"}),
    },
    CLOSED: {},
    REJECTED: {},
    DUPLICATE: {},
    WITHDRAWN: {},
}  # fmt: skip


class TransitionRefused(ValueError):
    """A change the lifecycle does not allow (from, to, who)."""

    def __init__(self, current: str, target: str, actor: Actor) -> None:
        super().__init__(f"{actor} may not change a ticket from {current} to {target}")
        self.current, self.target, self.actor = current, target, actor


def allowed(current: str, target: str, actor: Actor) -> bool:
    return actor in TRANSITIONS.get(current, {}).get(target, frozenset())


def check(current: str, target: str, actor: Actor) -> None:
    if not allowed(current, target, actor):
        raise TransitionRefused(current, target, actor)


def next_statuses(current: str, actor: Actor) -> list[str]:
    """What ``actor`` may change a ticket in ``current`` to, in the lifecycle's order."""
    targets = TRANSITIONS.get(current, {})
    return [s for s in STATUSES if actor in targets.get(s, frozenset())]
