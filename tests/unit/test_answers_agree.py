"""The six languages state the same rules: every number a user reads in an answer (days,
yuan, years, ages, phone numbers) is the same in each language as in English. A
translation that drops "5–15 days' detention" or turns 2,000 into 200 fails here."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from bot.answers.store import AnswerStore
from bot.i18n import SUPPORTED_LANGUAGES
from bot.settings import PROJECT_ROOT

LOCALES = PROJECT_ROOT / "locales"
# Arabic-Indic and Eastern Arabic-Indic digits read as the same numbers.
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
# A thousands separator between digit groups: 10,000 / 10 000 / 10.000 / ١٠٬٠٠٠.
_GROUPED = re.compile(r"(?<=\d)[,.\u00a0\u202f \u066c](?=\d{3}(?!\d))")
_NUMBER = re.compile(r"\d+")
_LINK = re.compile(r"\(https?://[^)]*\)|https?://\S+")


# Chinese counts in 万 (10,000: 2万 = 20,000, 22.9万 = 229,000) and writes a date's month as
# a number (2016年7月) where other languages name it (July 2016).
_WAN = re.compile(r"(\d+(?:\.\d+)?)\s*万")
_MONTH_AFTER_YEAR = re.compile(r"(?<=年)\d{1,2}月")


def numbers(text: str) -> Counter[str]:
    plain = _GROUPED.sub("", _LINK.sub("", text.translate(_DIGITS)))
    plain = _WAN.sub(lambda m: str(round(float(m.group(1)) * 10000)), plain)
    plain = _MONTH_AFTER_YEAR.sub("", plain)
    return Counter(_NUMBER.findall(plain))


@pytest.mark.parametrize("lang", sorted(set(SUPPORTED_LANGUAGES) - {"en"}))
def test_every_number_agrees_with_english(lang: str) -> None:
    store = AnswerStore(LOCALES, LOCALES / "office.yml")
    assert store.entries("en") and store.entries(lang)
    differ = {}
    for topic in store.entries("en"):
        en, other = store.get(topic, "en"), store.get(topic, lang)
        assert en is not None and other is not None and other.language == lang, topic
        want = set(numbers(en.text + "\n" + en.details))
        got = set(numbers(other.text + "\n" + other.details))
        if want != got:
            differ[topic] = {"missing": sorted(want - got), "extra": sorted(got - want)}
    assert differ == {}


def test_numbers_are_read_whatever_the_script_and_separator() -> None:
    assert set(numbers("٥٠٠ يوان حتى ١٠٬٠٠٠")) == {"500", "10000"}
    assert set(numbers("10,000 / 10 000 / 10.000 / 10\u202f000 yuan")) == {"10000"}
    assert set(numbers("5–15 jours, 1 à 5 ans")) == {"5", "15", "1"}
    assert set(numbers("[site](https://en.nia.gov.cn) 12367")) == {"12367"}
    assert set(numbers("2016年7月起，已发放22.9万张，罚款2万元")) == {"2016", "229000", "20000"}
