"""The amount at stake, as users type it: "2,500.50 USD", "2.500,50 €", "5万元", "三千五",
"١٥٠٠٠ دولار", "15 000 руб.", "3k".

Words are data (locales/<lang>/words.yml, every language together): ``currencies`` (ISO
4217 code: words and symbols) and ``multipliers`` ("万", "k", "тыс", "mil" after a number).
The notation is here: digits of every script (rasa_addons.entities.ascii_digits, NFKC for
full-width ones), separators, and Chinese numerals (两万, 三千五, 十万, 一百零五).

Separators: with both "," and ".", the last one is the decimal mark ("2,500.50",
"2.500,50"); groups of three after a space, "," or "." are thousands ("15 000", "2,500",
"2.500"), unless the number starts with 0 ("0.500"); any other "," or "." is a decimal
mark ("2,50", "1.5万"). Values are rounded half-up to cents.

A number is not an amount when it is 0, negative ("-500"), a percentage, more than 10^12,
or part of a date, a time, a range or a code ("3/4", "10:30", "500-600", "YW-2026-000123").

Which number: the first one with a currency next to it (before it, "$1,200", "USD 1200",
or after it, "1200usd", "500 dollars"); else the first number, with the currency the
text names elsewhere if it names exactly one ("5万, 人民币"). So with two amounts and two
currencies ("500 USD or 3000 CNY") the first amount is taken, with its own currency. A
word right after the number that ends the message and is no currency ("500 zorkmids") is
returned as ``unknown_unit``, for the form to ask back.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency, format_decimal

from bot.settings import get_settings
from rasa_addons.entities import ascii_digits
from rasa_addons.words import Hit, Words, find, fold, is_unspaced, load_words

log = logging.getLogger(__name__)

Locales = str | os.PathLike[str] | None
MAX_AMOUNT = Decimal(10) ** 12
CENT = Decimal("0.01")
FACTORS = {
    "hundred": 100,
    "thousand": 1_000,
    "ten_thousand": 10_000,
    "million": 1_000_000,
    "hundred_million": 100_000_000,
}
# Arabic decimal and thousands separators (NFKC keeps them).
_ARABIC_SEPARATORS = str.maketrans({"\u066b": ".", "\u066c": ","})
_NUMBER = re.compile(
    r"(?<![\d.,'])(?:"
    # grouped by three: "2,500", "2.500,50", "15 000", "1'000'000"
    r"(?P<lead>[1-9]\d{0,2})(?P<sep>[,. '])\d{3}(?:(?P=sep)\d{3})*"
    r"(?:(?!(?P=sep))[.,](?P<frac>\d+))?(?!\d)"
    # plain: "2500", "2,50", "1.5"
    r"|(?P<int>\d+)(?:[.,](?P<dec>\d+))?(?!\d))"
)
_CN_DIGITS = {
    "零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4,
    "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}  # fmt: skip
_CN_UNITS = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CN_BIG = {"万": 10**4, "萬": 10**4, "亿": 10**8, "億": 10**8}
_CN_NUMBER = re.compile(
    f"[{''.join(_CN_DIGITS)}十拾][{''.join(_CN_DIGITS)}{''.join(_CN_UNITS)}{''.join(_CN_BIG)}]*"
)
# What joins a number to another into a date, time, range or code: "3/4", "10:30", "5-6".
_JOINERS = "/:-–"
_WORD_AFTER = re.compile(r" ?([^\W\d_][^\W\d_'.-]*)")
_END = re.compile(r"[\s\W]*")


@dataclass(frozen=True)
class Amount:
    value: Decimal  # > 0, at most 2 decimals (rounded half-up)
    currency: str | None  # ISO 4217 code, None when the text names none
    # A word after the number that is no known currency ("500 zorkmids"): the form asks.
    unknown_unit: str | None = None


@dataclass(frozen=True)
class _Number:
    value: Decimal
    start: int
    end: int  # after the multiplier words, if any


def _words(locales: Locales) -> tuple[Words, ...]:
    return load_words(get_settings().locales_dir if locales is None else locales)


def _prepare(text: str) -> str:
    """Folded (rasa_addons.words.fold) with every digit and decimal mark in ASCII."""
    return ascii_digits(fold(text.translate(_ARABIC_SEPARATORS)))


def currency_in(text: str, *, locales: Locales = None) -> str | None:
    """The one currency the text names ("USD", "dollars", "元", "в рублях"); None when it
    names none, or several."""
    codes = {hit.code for hit in find(_prepare(text), _words(locales), "currencies")}
    return codes.pop() if len(codes) == 1 else None


def parse_amount(text: str, *, locales: Locales = None) -> Amount | None:
    """The amount in the text (see the module docstring); None when there is none."""
    words = _words(locales)
    folded = _prepare(text)
    currencies = find(folded, words, "currencies")
    numbers = _numbers(folded, words, currencies)
    if not numbers:
        return None
    for number in numbers:
        hit = _currency_next_to(folded, number, currencies)
        if hit is not None:
            return Amount(number.value, hit.code)
    first = numbers[0]
    named = {hit.code for hit in currencies}
    if len(named) == 1:
        return Amount(first.value, named.pop())
    return Amount(first.value, None, _unknown_unit(folded, first) if not named else None)


def _numbers(text: str, words: tuple[Words, ...], currencies: list[Hit]) -> list[_Number]:
    multipliers = {hit.start: hit for hit in find(text, words, "multipliers")}
    currency_starts = {hit.start for hit in currencies}
    found: list[_Number] = []
    for m in _NUMBER.finditer(text):
        if _not_an_amount(text, m.start(), m.end()):
            continue
        value, end = _multiplied(text, _digits_value(m), m.end(), multipliers)
        found.append(_Number(value, m.start(), end))
    for m in _CN_NUMBER.finditer(text):
        integer = _chinese_value(m.group())
        after = m.end() + (text[m.end() : m.end() + 1] == " ")
        # A lone digit ("一共", "两个") is no amount unless a currency follows ("两块").
        alone = not any(ch in _CN_UNITS or ch in _CN_BIG for ch in m.group())
        if integer is None or (alone and after not in currency_starts):
            continue
        if _not_an_amount(text, m.start(), m.end()):
            continue
        value, end = _multiplied(text, Decimal(integer), m.end(), multipliers)
        found.append(_Number(value, m.start(), end))
    amounts = []
    for number in sorted(found, key=lambda n: n.start):
        value = number.value.quantize(CENT, rounding=ROUND_HALF_UP)
        if value <= 0 or value > MAX_AMOUNT:
            continue
        if value == value.to_integral_value():
            value = value.quantize(Decimal(1))
        amounts.append(_Number(value, number.start, number.end))
    return amounts


def _digits_value(m: re.Match[str]) -> Decimal:
    frac = m["frac"]
    if m["lead"]:
        grouped = m.group()[: -len(frac) - 1] if frac else m.group()
        integer = re.sub(r"\D", "", grouped)
        return Decimal(f"{integer}.{frac}" if frac else integer)
    return Decimal(f"{m['int']}.{m['dec']}" if m["dec"] else m["int"])


def _chinese_value(numeral: str) -> int | None:
    """两万 20000, 三千五 3500, 十万 100000, 一百零五 105, 两万五 25000, 二〇二四 2024."""
    if len(numeral) > 1 and all(ch in _CN_DIGITS for ch in numeral):
        return int("".join(str(_CN_DIGITS[ch]) for ch in numeral))  # read digit by digit
    total = section = 0
    digit: int | None = None
    last_unit = 1  # the unit just before a last lone digit: 三千五 is 3500
    after_unit = False
    for ch in numeral:
        if ch in _CN_DIGITS:
            if digit:  # two digits in a row, but for zero: no number
                return None
            digit = _CN_DIGITS[ch]
            after_unit = after_unit and digit != 0  # 一百零五 is 105
        elif ch in _CN_UNITS:
            section += (1 if digit is None else digit) * _CN_UNITS[ch]
            digit, last_unit, after_unit = None, _CN_UNITS[ch], True
        else:
            big = _CN_BIG[ch]
            section += digit or 0
            if not section:
                return None  # 万万
            total += section * big
            section, digit, last_unit, after_unit = 0, None, big, True
    if digit:
        # A lone digit right after a unit counts in the next unit down (三千五, 两万五).
        section += digit * last_unit // 10 if after_unit and last_unit >= 100 else digit
    return total + section


def _not_an_amount(text: str, start: int, end: int) -> bool:
    """Negative, a percentage, or joined to more into a date, time, range or code."""
    before = text[max(start - 2, 0) : start].rjust(2)
    after = text[end : end + 2].ljust(2)
    if before[1] in "-\u2212" and not before[0].isalnum():
        return True  # "-500"
    if before[1] == "#" or before[1] == "\u2116":
        return True  # "#123", "№ 5": a number of something
    if (before[1] in _JOINERS and before[0].isalnum()) or (
        after[0] in _JOINERS and after[1].isalnum()
    ):
        return True  # "3/4", "10:30", "500-600", "YW-2026-000123"
    if after[0] in ".," and after[1].isdigit():
        return True  # "03.04.2024", "1.2.3"
    return text[end : end + 2].lstrip().startswith("%")


def _multiplied(
    text: str, value: Decimal, end: int, multipliers: dict[int, Hit]
) -> tuple[Decimal, int]:
    """The value times the number words right after it ("5万", "3k", "15 тыс.", "5千万")."""
    while True:
        at = end + (text[end : end + 1] == " ")
        hit = multipliers.get(at)
        if hit is None:
            return value, end
        value *= FACTORS[hit.code]
        end = hit.end + (text[hit.end : hit.end + 1] == "." and not is_unspaced(text[at]))


def _currency_next_to(text: str, number: _Number, currencies: list[Hit]) -> Hit | None:
    """The currency right before the number ("$5", "USD 5") or right after it ("5 USD")."""
    for hit in currencies:
        if hit.end <= number.start and text[hit.end : number.start].strip() == "":
            return hit
    for hit in currencies:
        if hit.start >= number.end and text[number.end : hit.start].strip(" .") == "":
            return hit
    return None


def _unknown_unit(text: str, number: _Number) -> str | None:
    """The word right after the number, when it ends the message ("500 zorkmids")."""
    m = _WORD_AFTER.match(text, number.end)
    if m is None or is_unspaced(m[1]) or not _END.fullmatch(text, m.end()):
        return None
    return m[1].rstrip(".'-") or None


def format_amount(amount: Amount, lang: str) -> str:
    """The amount as the user's language writes it: "CN¥50,000", "2 500,50 $"."""
    locale = _locale(lang)
    integral = amount.value == amount.value.to_integral_value()
    if amount.currency:
        if integral:
            # The locale's pattern without cents: "CN¥50,000", not "CN¥50,000.00".
            pattern = locale.currency_formats["standard"].pattern
            return format_currency(
                amount.value,
                amount.currency,
                format=re.sub(r"\.0+", "", pattern),
                locale=locale,
                currency_digits=False,
            )
        return format_currency(amount.value, amount.currency, locale=locale)
    if integral:
        return format_decimal(amount.value, locale=locale)
    return format_decimal(amount.value, format="#,##0.00", locale=locale)


@lru_cache(maxsize=16)
def _locale(lang: str) -> Locale:
    try:
        return Locale.parse(lang.replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        log.warning("no number formats for language %r: English ones", lang)
        return Locale.parse("en")
