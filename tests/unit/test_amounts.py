"""The amount at stake, as users type it (bot/tickets/amounts.py; words: locales/*/words.yml)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.settings import PROJECT_ROOT
from bot.tickets.amounts import Amount, currency_in, format_amount, parse_amount

LOCALES = PROJECT_ROOT / "locales"
NNBSP = "\u202f"


@pytest.mark.parametrize(
    ("text", "value", "currency"),
    [
        # separators
        ("2,500.50", "2500.50", None),
        ("2.500,50", "2500.50", None),
        ("2 500,50 €", "2500.50", "EUR"),
        (f"2{NNBSP}500,50{NNBSP}€", "2500.50", "EUR"),
        ("2\u00a0500,50\u00a0€", "2500.50", "EUR"),
        ("2,500", "2500", None),
        ("2,50", "2.50", None),
        ("2.500", "2500", None),  # a dot before three digits groups thousands
        ("0.500", "0.50", None),
        ("1'000'000", "1000000", None),
        ("12.345", "12345", None),
        ("19.99", "19.99", None),
        ("1,2345", "1.23", None),  # rounded half-up to cents
        ("0,125", "0.13", None),
        ("15 000 руб.", "15000", "RUB"),
        ("1 200 000,5 сум", "1200000.50", "UZS"),
        # multipliers and Chinese numerals
        ("5万", "50000", None),
        ("5万元", "50000", "CNY"),
        ("5 万块", "50000", "CNY"),
        ("1.5万", "15000", None),
        ("3千", "3000", None),
        ("5千万", "50000000", None),
        ("3k", "3000", None),
        ("3K", "3000", None),
        ("3k usd", "3000", "USD"),
        ("15к", "15000", None),
        ("15 тыс. руб", "15000", "RUB"),
        ("15 ألف دولار", "15000", "USD"),
        ("5 mil euros", "5000", "EUR"),
        ("2 million dollars", "2000000", "USD"),
        ("两万", "20000", None),
        ("十万", "100000", None),
        ("三千五", "3500", None),
        ("两万五", "25000", None),
        ("一百零五", "105", None),
        ("二十五元", "25", "CNY"),
        ("一万二千块", "12000", "CNY"),
        ("一共五千块", "5000", "CNY"),  # 一 of 一共 is no amount
        ("两块", "2", "CNY"),
        # digits of every script
        ("١٥٠٠٠ دولار", "15000", "USD"),
        ("٣٠٠٠ درهم", "3000", "AED"),
        ("١٢٫٥ دولار", "12.50", "USD"),
        ("１２００元", "1200", "CNY"),
        # currencies before and after
        ("¥3000", "3000", "CNY"),
        ("$1,200", "1200", "USD"),
        ("US$500", "500", "USD"),
        ("HK$ 300", "300", "HKD"),
        ("USD 1200", "1200", "USD"),
        ("1200usd", "1200", "USD"),
        ("1200 долларов", "1200", "USD"),
        ("3 500 ₽", "3500", "RUB"),
        ("about 500 dollars", "500", "USD"),
        ("500 dólares", "500", "USD"),
        ("20 mil pesos mexicanos", "20000", "MXN"),
        ("5000 ريال", "5000", "SAR"),
        ("5000 ريال قطري", "5000", "QAR"),
        ("300 جنيه", "300", "EGP"),
        ("300 جنيه إسترليني", "300", "GBP"),
        ("500 港币", "500", "HKD"),
        ("500 eur", "500", "EUR"),
        # the currency named elsewhere, the first amount of two
        ("5万, 人民币", "50000", "CNY"),
        ("paid 500, in dollars", "500", "USD"),
        ("500 USD or 3000 CNY", "500", "USD"),
        ("USD 500 EUR 300", "500", "USD"),
        ("order 12, paid 300 euros", "300", "EUR"),
        ("500 or 600, dollars or euros", "500", None),  # two currencies, none next to it
        # a phone-like number is a number
        ("13812345678", "13812345678", None),
        ("1000000000000", "1000000000000", None),  # 10^12: the cap, accepted
    ],
)
def test_amounts(text: str, value: str, currency: str | None) -> None:
    found = parse_amount(text, locales=LOCALES)
    assert found == Amount(Decimal(value), currency), text
    assert str(found.value) == value  # whole, or exactly two decimals


@pytest.mark.parametrize(
    "text",
    [
        "no",
        "",
        "   ",
        "abc",
        "0",
        "0.00",
        "0.001",
        "-500",
        "−500 $",
        "50%",
        "50 %",
        "1000000000001",  # more than 10^12
        "3/4/2024",
        "03.04.2024",
        "10:30",
        "500-600 USD",  # a range: the form asks again
        "YW-2026-000123",
        "#123",
        "两个",
        "千万不要",
        "dollars",
    ],
)
def test_not_amounts(text: str) -> None:
    assert parse_amount(text, locales=LOCALES) is None


@pytest.mark.parametrize(
    ("text", "unit"),
    [
        ("500 zorkmids", "zorkmids"),
        ("about 500 Zorkmids.", "zorkmids"),
        ("500 دينار", "دينار"),  # a dinar of which country: asked
        ("500 pesos", "pesos"),
        ("500 for the goods", None),  # not at the end: no unit
        ("500个", None),  # Chinese measure words are not asked about
        ("5万", None),
    ],
)
def test_unknown_units(text: str, unit: str | None) -> None:
    found = parse_amount(text, locales=LOCALES)
    assert found is not None and found.currency is None and found.unknown_unit == unit


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("USD", "USD"),
        ("usd", "USD"),
        ("dollars", "USD"),
        ("in dollars please", "USD"),
        ("元", "CNY"),
        ("人民币", "CNY"),
        ("в рублях", "RUB"),
        ("درهم", "AED"),
        ("€", "EUR"),
        ("dólares", "USD"),
        ("TRY", "TRY"),
        ("hello", None),
        ("dollars or euros", None),
        ("", None),
    ],
)
def test_currency_alone(text: str, code: str | None) -> None:
    assert currency_in(text, locales=LOCALES) == code


def test_the_settings_locales_by_default() -> None:
    assert parse_amount("5万元") == Amount(Decimal(50000), "CNY")
    assert currency_in("рублей") == "RUB"


def test_currency_words_are_data(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "words.yml").write_text(
        'currencies: {XTS: ["zorkmid", "zorkmids"]}\nmultipliers: {thousand: ["kilo"]}\n',
        encoding="utf-8",
    )
    assert parse_amount("5 kilo zorkmids", locales=tmp_path) == Amount(Decimal(5000), "XTS")
    assert parse_amount("500 dollars", locales=tmp_path) == Amount(Decimal(500), None, "dollars")


@pytest.mark.parametrize(
    ("amount", "lang", "text"),
    [
        (Amount(Decimal("50000"), "CNY"), "en", "CN¥50,000"),
        (Amount(Decimal("50000"), "CNY"), "zh", "¥50,000"),
        (Amount(Decimal("2500.50"), "USD"), "en", "$2,500.50"),
        (Amount(Decimal("2500.50"), "USD"), "zh", "US$2,500.50"),
        (Amount(Decimal("2500.50"), "USD"), "ru", "2\u00a0500,50\u00a0$"),
        (Amount(Decimal("3000"), "AED"), "ar", "\u200f3,000\u00a0د.إ.\u200f"),
        (Amount(Decimal("15000"), "RUB"), "ru", "15\u00a0000\u00a0₽"),
        (Amount(Decimal("2500.50"), None), "en", "2,500.50"),
        (Amount(Decimal("2500.50"), None), "ru", "2\u00a0500,50"),
        (Amount(Decimal("3000"), None), "ar", "3,000"),
        (Amount(Decimal("3000"), None), "zh", "3,000"),
        (Amount(Decimal("3000"), None), "xx", "3,000"),  # an unknown language: English
    ],
)
def test_format_amount(amount: Amount, lang: str, text: str) -> None:
    assert format_amount(amount, lang) == text


def test_what_is_parsed_formats_back() -> None:
    found = parse_amount("2.500,50 €", locales=LOCALES)
    assert found is not None
    assert format_amount(found, "fr") == "2\u202f500,50\u00a0€"
