"""`expatbot registry import FILE.csv`: load the registry from the service's export.

Columns (UTF-8, with or without a byte-order mark; one row per merchant card):

| column | required | format |
|---|---|---|
| card_number | yes | the merchant card number (spaces, dashes, full-width digits accepted) |
| card_status | yes | active, expired, suspended or lost |
| card_issued_on, card_expires_on | yes | YYYY-MM-DD |
| full_name | yes | as in the passport |
| date_of_birth | yes | YYYY-MM-DD |
| nationality | no | ISO 3166 alpha-3, e.g. EGY |
| passport_number | yes | |
| document_kind | yes | visa or residence_permit |
| visa_type | yes | M, Z, X1, X2, Q1, Q2, S1, S2, L, F, R, ... |
| document_number | yes | the visa or permit number |
| entries | no | single, double or multiple |
| document_expires_on | yes | YYYY-MM-DD |
| document_status | yes | valid, expired or cancelled |

A file is imported whole or not at all: every problem is reported with its row number
and nothing is written. Re-importing the same file changes nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import MerchantCard, Resident, TravelDocument, utcnow
from bot.records.registry.secrets import (
    birth_date_hash,
    digits_hash,
    last4,
    normalise_number,
    number_hash,
)

REQUIRED = (
    "card_number", "card_status", "card_issued_on", "card_expires_on", "full_name",
    "date_of_birth", "passport_number", "document_kind", "visa_type", "document_number",
    "document_expires_on", "document_status",
)  # fmt: skip
OPTIONAL = ("nationality", "entries")
DATE_COLUMNS = ("card_issued_on", "card_expires_on", "date_of_birth", "document_expires_on")
CARD_STATUSES = {"active", "expired", "suspended", "lost"}
DOCUMENT_KINDS = {"visa", "residence_permit"}
DOCUMENT_STATUSES = {"valid", "expired", "cancelled"}
ENTRIES = {"", "single", "double", "multiple"}


@dataclass
class ImportReport:
    rows: int = 0
    errors: list[str] = field(default_factory=list)
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    def __str__(self) -> str:
        if self.errors:
            head = f"{len(self.errors)} problems in {self.rows} rows; nothing was imported:"
            return "\n".join([head, *(f"  {e}" for e in self.errors)])
        return (
            f"{self.rows} rows imported: {self.created} new, {self.updated} updated, "
            f"{self.unchanged} unchanged"
        )


@dataclass(frozen=True)
class Row:
    line: int
    values: dict[str, Any]


def _date(value: str) -> dt.date:
    return dt.date.fromisoformat(value.strip())


def parse(raw: bytes, report: ImportReport) -> list[Row]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        report.errors.append(f"the file is not UTF-8 (byte {exc.start}); export it as UTF-8 CSV")
        return []
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        report.errors.append(f"missing columns: {', '.join(missing)}")
        return []
    rows: list[Row] = []
    seen_cards: dict[str, int] = {}
    for line, record in enumerate(reader, start=2):  # line 1 is the header
        report.rows += 1
        values = {k.strip(): (v or "").strip() for k, v in record.items() if k}
        problems: list[str] = []
        for column in REQUIRED:
            if not values.get(column):
                problems.append(f"{column} is empty")
        parsed: dict[str, Any] = dict(values)
        for column in DATE_COLUMNS:
            if values.get(column):
                try:
                    parsed[column] = _date(values[column])
                except ValueError:
                    problems.append(f"{column} '{values[column]}' is not a date (YYYY-MM-DD)")
        for column, allowed in (
            ("card_status", CARD_STATUSES),
            ("document_kind", DOCUMENT_KINDS),
            ("document_status", DOCUMENT_STATUSES),
            ("entries", ENTRIES),
        ):
            value = values.get(column, "").lower()
            parsed[column] = value
            if value and value not in allowed:
                choices = ", ".join(sorted(allowed - {""}))
                problems.append(f"{column} '{values[column]}' must be one of {choices}")
        card = normalise_number(values.get("card_number", ""))
        if card:
            if card in seen_cards:
                problems.append(f"card number also on row {seen_cards[card]}")
            seen_cards.setdefault(card, line)
        if problems:
            report.errors += [f"row {line}: {p}" for p in problems]
        else:
            rows.append(Row(line, parsed))
    return rows


def _assign(obj: Any, values: dict[str, Any]) -> bool:
    """Set the attributes that differ; whether any did."""
    changed = False
    for attr, value in values.items():
        if getattr(obj, attr) != value:
            setattr(obj, attr, value)
            changed = True
    return changed


def _find_or_add(session: Session, model: Any, number_hash_value: str) -> tuple[Any, bool]:
    """The row with this number hash, or a new one; and whether it is new."""
    found = session.scalar(select(model).where(model.number_hash == number_hash_value))
    if found is not None:
        return found, False
    created = model(number_hash=number_hash_value)
    session.add(created)
    return created, True


def _upsert(session: Session, row: Row, key: bytes, report: ImportReport) -> None:
    v = row.values
    passport = number_hash(v["passport_number"], key=key)
    resident = session.scalar(select(Resident).where(Resident.passport_hash == passport))
    is_new = resident is None
    if resident is None:
        resident = Resident(passport_hash=passport)
        session.add(resident)
    changed = _assign(
        resident,
        {
            "full_name": v["full_name"],
            "birth_hash": birth_date_hash(v["date_of_birth"].isoformat(), key=key),
            "nationality": v.get("nationality") or None,
            "passport_last4": last4(v["passport_number"]),
        },
    )
    session.flush()
    card, new_card = _find_or_add(session, MerchantCard, number_hash(v["card_number"], key=key))
    changed |= new_card | _assign(
        card,
        {
            "resident_id": resident.id,
            "digits_hash": digits_hash(v["card_number"], key=key),
            "number_last4": last4(v["card_number"]),
            "status": v["card_status"],
            "issued_on": v["card_issued_on"],
            "expires_on": v["card_expires_on"],
        },
    )
    doc, new_doc = _find_or_add(session, TravelDocument, number_hash(v["document_number"], key=key))
    changed |= new_doc | _assign(
        doc,
        {
            "resident_id": resident.id,
            "kind": v["document_kind"],
            "visa_type": v["visa_type"].upper(),
            "number_last4": last4(v["document_number"]),
            "entries": v.get("entries") or None,
            "expires_on": v["document_expires_on"],
            "status": v["document_status"],
        },
    )
    if is_new:
        report.created += 1
    elif changed:
        report.updated += 1
    else:
        report.unchanged += 1
    if changed or is_new:
        resident.updated_at = utcnow()
    session.flush()


def import_registry(session: Session, raw: bytes, *, key: bytes) -> ImportReport:
    """Validate the whole file, then write it in the caller's transaction (or nothing)."""
    report = ImportReport()
    rows = parse(raw, report)
    if report.errors:
        return report
    for row in rows:
        _upsert(session, row, key, report)
    return report
