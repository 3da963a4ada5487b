"""The registry import: validated whole, written whole or not at all, idempotent, and
never storing a readable card or passport number."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import MerchantCard, Resident, TravelDocument
from bot.records.registry.demo import demo_csv
from bot.records.registry.importer import REQUIRED, import_registry
from bot.records.registry.secrets import mask, mask_numbers_in, normalise_number, number_hash

KEY = b"test-registry-key-0123456789"
HEADER = ",".join(REQUIRED)
ROW = (
    "YW 2016 0012 34,active,2024-01-10,2027-01-10,Ahmed Hassan,1985-04-03,A1234567,visa,M,"
    "V123456789,2026-12-20,valid"
)


def run_import(sessions: sessionmaker[Session], raw: bytes):  # type: ignore[no-untyped-def]
    with sessions() as s:
        report = import_registry(s, raw, key=KEY)
        if report.ok:
            s.commit()
        else:
            s.rollback()
    return report


def count(sessions: sessionmaker[Session], model: type) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_import_then_reimport_changes_nothing(sessions: sessionmaker[Session]) -> None:
    raw = demo_csv(count=12, today=dt.date(2026, 11, 27)).encode()
    first = run_import(sessions, raw)
    assert first.ok and first.created == 12, str(first)
    second = run_import(sessions, raw)
    assert second.ok and second.unchanged == 12 and second.created == second.updated == 0
    assert count(sessions, Resident) == 12 and count(sessions, MerchantCard) == 12


def test_numbers_are_stored_hashed_and_last4_only(sessions: sessionmaker[Session]) -> None:
    assert run_import(sessions, f"{HEADER}\n{ROW}\n".encode()).ok
    with sessions() as s:
        card = s.scalars(select(MerchantCard)).one()
        assert card.number_hash == number_hash("YW2016001234", key=KEY)
        assert card.number_last4 == "1234"
        dumped = " ".join(
            str(v) for row in s.execute(text("SELECT * FROM merchant_card")) for v in row
        )
        dumped += " ".join(str(v) for row in s.execute(text("SELECT * FROM resident")) for v in row)
        dumped += " ".join(
            str(v) for row in s.execute(text("SELECT * FROM travel_document")) for v in row
        )
    for secret in ("YW2016001234", "2016001234", "A1234567", "V123456789"):
        assert secret not in dumped


@pytest.mark.parametrize(
    ("csv_text", "message"),
    [
        ("card_number,full_name\nYW1,A\n", "missing columns: card_status"),
        (
            f"{HEADER}\n{ROW.replace('2026-12-20', '20/12/2026')}\n",
            "row 2: document_expires_on '20/12/2026' is not a date",
        ),
        (
            f"{HEADER}\n{ROW}\n{ROW.replace('A1234567', 'B7654321')}\n",
            "row 3: card number also on row 2",
        ),
        (
            f"{HEADER}\n{ROW.replace('active', 'blocked')}\n",
            "row 2: card_status 'blocked' must be one of",
        ),
        (f"{HEADER}\n{ROW.replace('Ahmed Hassan', '')}\n", "row 2: full_name is empty"),
    ],
)
def test_bad_file_is_reported_and_nothing_imported(
    sessions: sessionmaker[Session], csv_text: str, message: str
) -> None:
    good_first = (
        f"{HEADER}\n{ROW.replace('YW 2016 0012 34', 'YW9999999999').replace('A1234567', 'Z1')}\n"
    )
    report = run_import(
        sessions,
        (csv_text if "missing" in message else csv_text + good_first.split("\n", 1)[1]).encode(),
    )
    assert not report.ok
    assert any(message in e for e in report.errors), report.errors
    assert count(sessions, Resident) == 0 and count(sessions, TravelDocument) == 0


def test_other_encoding_is_refused(sessions: sessionmaker[Session]) -> None:
    report = run_import(
        sessions, f"{HEADER}\n{ROW.replace('Ahmed Hassan', 'José Müller')}\n".encode("latin-1")
    )
    assert not report.ok and "not UTF-8" in report.errors[0]


def test_card_numbers_as_users_type_them() -> None:
    for typed in ("yw 2016-0012 34", "ＹＷ２０１６００１２３４", "YW٢٠١٦٠٠١٢٣٤"):
        assert normalise_number(typed) == "YW2016001234"
        assert number_hash(typed, key=KEY) == number_hash("YW2016001234", key=KEY)


@given(st.from_regex(r"[A-Z]{0,2}[0-9]{6,14}", fullmatch=True))
def test_masking_never_shows_more_than_four(number: str) -> None:
    assert mask(number) == "••••" + number[-4:]
    masked = mask_numbers_in(f"user sent card {number} today")
    assert number not in masked or len(number) <= 4


def test_cli_demo_then_import_twice(tmp_path: object) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    from bot.settings import PROJECT_ROOT

    tmp = Path(str(tmp_path))
    env = dict(os.environ) | {"EXPATBOT_VAR": str(tmp)}
    env.pop("DATABASE_URL", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot.ops.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=PROJECT_ROOT,
        )

    assert cli("db", "upgrade").returncode == 0
    assert cli("registry", "demo", "--out", str(tmp / "demo.csv")).returncode == 0
    first = cli("registry", "import", str(tmp / "demo.csv"))
    assert first.returncode == 0 and "24 rows imported: 24 new" in first.stdout
    again = cli("registry", "import", str(tmp / "demo.csv"))
    assert "0 new, 0 updated, 24 unchanged" in again.stdout
    (tmp / "bad.csv").write_text("card_number\n1\n", encoding="utf-8")
    bad = cli("registry", "import", str(tmp / "bad.csv"))
    assert bad.returncode == 1 and "nothing was imported" in bad.stdout


def test_logs_never_contain_a_full_number(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from bot.logging_setup import MaskNumbers

    logger = logging.getLogger("expatbot.test")
    caplog.handler.addFilter(MaskNumbers())
    with caplog.at_level(logging.INFO, logger="expatbot.test"):
        logger.info("user %s sent card %s and passport %s", "u1", "YW2016001234", "E12345678")
    assert "YW2016001234" not in caplog.text and "E12345678" not in caplog.text
    assert "••••1234" in caplog.text and "••••5678" in caplog.text


def test_same_card_typed_differently_is_a_duplicate(sessions: sessionmaker[Session]) -> None:
    """Two rows whose card numbers differ only in case, spaces and dashes name one card:
    importing both would silently move that card from the first resident to the second."""
    second = ROW.replace("YW 2016 0012 34", "yw2016-0012-34").replace("A1234567", "B7654321")
    report = run_import(sessions, f"{HEADER}\n{ROW}\n{second}\n".encode())
    assert report.errors == ["row 3: card number also on row 2"]
    assert "nothing was imported" in str(report)
    assert count(sessions, Resident) == 0 and count(sessions, MerchantCard) == 0


# --- what an import reports and writes, exactly (mutation testing found these unchecked) ---


def test_every_bad_row_is_reported_with_the_choices(sessions: sessionmaker[Session]) -> None:
    header = HEADER + ",entries"
    rows = [
        ROW.replace("visa,M", "passport,M") + ",",
        ROW.replace("YW 2016 0012 34", "YW1").replace(",valid", ",revoked") + ",",
        ROW.replace("YW 2016 0012 34", "YW2") + ",twice",
    ]
    report = run_import(sessions, "\n".join([header, *rows, ""]).encode())
    assert report.errors == [
        "row 2: document_kind 'passport' must be one of residence_permit, visa",
        "row 3: document_status 'revoked' must be one of cancelled, expired, valid",
        "row 4: entries 'twice' must be one of double, multiple, single",
    ]
    assert report.rows == 3
    assert str(report) == "\n".join(
        ["3 problems in 3 rows; nothing was imported:", *(f"  {e}" for e in report.errors)]
    )
    assert count(sessions, Resident) == 0


def test_missing_columns_are_listed() -> None:
    from bot.records.registry.importer import ImportReport, parse

    report = ImportReport()
    assert parse(b"card_number,full_name\nYW1,A\n", report) == []
    assert report.errors == ["missing columns: " + ", ".join(REQUIRED[1:4] + REQUIRED[5:])]


def test_reimport_counts_and_stamps_what_changed(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One row unchanged, one with a new card status, one with a new visa: two updated,
    and only those two residents get a new updated_at."""
    raw = demo_csv(count=3, today=dt.date(2026, 11, 27))
    first = run_import(sessions, raw.encode())
    assert (first.rows, first.created, first.updated, first.unchanged) == (3, 3, 0, 0)
    assert str(first) == "3 rows imported: 3 new, 0 updated, 0 unchanged"
    header, *rows = raw.strip().split("\n")
    rows[1] = rows[1].replace(",active,", ",suspended,")
    old_visa = rows[2].split(",")[REQUIRED.index("document_number")]
    rows[2] = rows[2].replace(old_visa, "V999999999")
    later = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    monkeypatch.setattr("bot.records.registry.importer.utcnow", lambda: later)
    second = run_import(sessions, "\n".join([header, *rows, ""]).encode())
    assert (second.rows, second.created, second.updated, second.unchanged) == (3, 0, 2, 1)
    with sessions() as s:
        stamped = [
            r.updated_at.replace(tzinfo=None) == later.replace(tzinfo=None)
            for r in s.scalars(select(Resident).order_by(Resident.id))
        ]
        assert stamped == [False, True, True]
        assert s.scalar(select(func.count()).select_from(TravelDocument)) == 4
    # A change to the resident alone, or to the visa alone, is an update too.
    name = rows[0].split(",")[REQUIRED.index("full_name")]
    rows[0] = rows[0].replace(name, name + " Jr")
    rows[2] = rows[2].replace(",valid", ",cancelled")
    third = run_import(sessions, "\n".join([header, *rows, ""]).encode())
    assert (third.created, third.updated, third.unchanged) == (0, 2, 1)


def test_nationality_is_kept_and_empty_is_none(sessions: sessionmaker[Session]) -> None:
    header = HEADER + ",nationality"
    other = ROW.replace("YW 2016 0012 34", "YW9999999999").replace("A1234567", "Z1")
    other = other.replace("V123456789", "V987654321")
    assert run_import(sessions, f"{header}\n{ROW},EGY\n{other},\n".encode()).ok
    with sessions() as s:
        assert list(s.scalars(select(Resident.nationality).order_by(Resident.id))) == [
            "EGY",
            None,
        ]


def test_hashes_are_keyed_hmacs_of_the_normalised_number() -> None:
    """The stored hashes must stay exactly these: a registry imported before a change
    would no longer match what users type."""
    import hashlib
    import hmac

    from bot.records.registry.secrets import digits_hash

    def expected(message: bytes) -> str:
        return hmac.new(KEY, message, hashlib.sha256).hexdigest()

    assert number_hash("yw 2016-0012 34", key=KEY) == expected(b"YW2016001234")
    assert digits_hash("yw 2016-0012 34", key=KEY) == expected(b"digits:2016001234")
    assert digits_hash("ZJ2016009999", key=KEY) == digits_hash("2016009999", key=KEY)
    assert digits_hash("YW2016009999", key=KEY) != digits_hash("YW2016009998", key=KEY)
    assert digits_hash("2016001234", key=KEY) != number_hash("2016001234", key=KEY)
    from bot.records.registry import secrets

    if hasattr(secrets, "last4_hash"):  # passports' last four, compared by the link form
        assert secrets.last4_hash("q3333-4444", key=KEY) == expected(b"last4:4444")
