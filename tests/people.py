"""A small registry with known numbers, for the tests of linking and lookups.

Expiry dates are relative to the day the tests run, so that "expires within 30 days"
and "expired" stay true. Two residents share a birthday and the digits of their card
numbers (only the letter prefix differs): typing the digits alone fits both of them,
and the passport's last four characters tell them apart.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from bot.db import transaction
from bot.records.registry.importer import OPTIONAL, REQUIRED, import_registry
from bot.settings import get_settings


@dataclass(frozen=True)
class Person:
    name: str
    card: str
    card_status: str
    card_days: int  # card expires this many days from today
    born: dt.date
    passport: str
    kind: str
    visa_type: str
    document: str
    document_days: int
    document_status: str = "valid"

    def expiry(self, days: int, today: dt.date | None = None) -> dt.date:
        return (today or dt.date.today()) + dt.timedelta(days=days)


AHMED = Person(
    "Ahmed Hassan",
    "YW 2016 0012 34",
    "active",
    400,
    dt.date(1985, 4, 3),
    "A1234567",
    "visa",
    "M",
    "V123456701",
    12,
)
OLGA = Person(
    "Olga Smirnova",
    "YW2016005678",
    "active",
    20,
    dt.date(1990, 4, 3),
    "K7654321",
    "residence_permit",
    "Z",
    "RP55512388",
    200,
)
TWIN_A = Person(
    "Kwame Mensah",
    "ZJ2016009999",
    "lost",
    90,
    dt.date(1979, 11, 2),
    "P11112222",
    "visa",
    "S1",
    "V900000011",
    -5,
    "expired",
)
TWIN_B = Person(
    "Kofi Mensah",
    "YW2016009999",
    "active",
    300,
    dt.date(1979, 11, 2),
    "Q33334444",
    "visa",
    "Q2",
    "V900000022",
    300,
)
PEOPLE = (AHMED, OLGA, TWIN_A, TWIN_B)  # fmt: skip


def registry_key() -> bytes:
    return get_settings().registry_hash_key.encode()


def registry_csv(people: tuple[Person, ...] = PEOPLE, today: dt.date | None = None) -> bytes:
    today = today or dt.date.today()
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[*REQUIRED, *OPTIONAL])
    writer.writeheader()
    for p in people:
        writer.writerow(
            {
                "card_number": p.card,
                "card_status": p.card_status,
                "card_issued_on": (today - dt.timedelta(days=700)).isoformat(),
                "card_expires_on": p.expiry(p.card_days, today).isoformat(),
                "full_name": p.name,
                "date_of_birth": p.born.isoformat(),
                "nationality": "",
                "passport_number": p.passport,
                "document_kind": p.kind,
                "visa_type": p.visa_type,
                "document_number": p.document,
                "entries": "multiple" if p.kind == "visa" else "",
                "document_expires_on": p.expiry(p.document_days, today).isoformat(),
                "document_status": p.document_status,
            }
        )
    return out.getvalue().encode()


def load_people(sessions: sessionmaker[Session], key: bytes | None = None) -> None:
    with transaction(sessions) as session:
        report = import_registry(session, registry_csv(), key=key or registry_key())
        assert report.ok, str(report)
