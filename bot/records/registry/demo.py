"""Demo registry data for development: residents whose cards and visas expire at the
moments that matter (already expired, in 1, 7, 14 and 30 days, far away), generated
reproducibly, in the import file's format."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random

from bot.records.registry.importer import OPTIONAL, REQUIRED

NAMES = [
    ("Ahmed Hassan", "EGY"), ("Amina Diallo", "SEN"), ("Ivan Petrov", "RUS"),
    ("Olga Smirnova", "KAZ"), ("Carlos Méndez", "COL"), ("Lucía Fernández", "ESP"),
    ("Jean Dupont", "FRA"), ("Fatima Zahra Alaoui", "MAR"), ("Omar Khalil", "JOR"),
    ("Maria Rossi", "ITA"), ("Kwame Mensah", "GHA"), ("Yusuf Demir", "TUR"),
]  # fmt: skip
VISA_TYPES = ["M", "Z", "Q1", "S1", "X1", "L"]
PERMIT_TYPES = ["Z", "Q1", "S1", "X1"]  # residence permits: work, family, study
EXPIRY_OFFSETS = [-20, 1, 7, 14, 30, 45, 200, 400]


def demo_csv(*, count: int = 24, seed: int = 2026, today: dt.date | None = None) -> str:
    today = today or dt.date.today()
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=[*REQUIRED, *OPTIONAL])
    writer.writeheader()
    for i in range(count):
        name, nationality = NAMES[i % len(NAMES)]
        offset = EXPIRY_OFFSETS[i % len(EXPIRY_OFFSETS)]
        expires = today + dt.timedelta(days=offset)
        kind = "residence_permit" if i % 3 == 0 else "visa"
        prefix = "RP" if kind == "residence_permit" else "V"
        card_expires = today + dt.timedelta(days=offset + 30)
        card_status = (
            "expired" if card_expires < today else ("suspended" if i % 11 == 5 else "active")
        )
        writer.writerow(
            {
                "card_number": f"YW{2016000000 + rng.randrange(10_000_000):010d}",
                "card_status": card_status,
                "card_issued_on": (today - dt.timedelta(days=700 + i)).isoformat(),
                "card_expires_on": card_expires.isoformat(),
                "full_name": name if i < len(NAMES) else f"{name} {i}",
                "date_of_birth": dt.date(
                    1970 + rng.randrange(30), 1 + rng.randrange(12), 1 + rng.randrange(28)
                ).isoformat(),
                "nationality": nationality,
                "passport_number": f"{chr(65 + i % 26)}{rng.randrange(10**7, 10**8)}",
                "document_kind": kind,
                "visa_type": PERMIT_TYPES[i % len(PERMIT_TYPES)]
                if kind == "residence_permit"
                else VISA_TYPES[i % len(VISA_TYPES)],
                "document_number": f"{prefix}{rng.randrange(10**8, 10**9)}",
                "entries": ""
                if kind == "residence_permit"
                else rng.choice(["single", "double", "multiple"]),
                "document_expires_on": expires.isoformat(),
                "document_status": "expired" if offset < 0 else "valid",
            }
        )
    return out.getvalue()


def demo_identity() -> tuple[str, str]:
    """The card number and date of birth of the first demo resident, for trying /link."""
    first = next(csv.DictReader(io.StringIO(demo_csv(count=1))))
    return first["card_number"], first["date_of_birth"]
