"""Claims a check of the answers against the law found wrong (issue 16) stay gone: each
language keeps, beside its answers, the wrong wordings as they once read
(locales/<lang>/forbidden.yml), and none may come back in what a user reads."""

from __future__ import annotations

import pytest
import yaml

from bot.answers.check import fill_placeholders, language_names
from bot.answers.office import load_office
from bot.answers.store import AnswerStore
from bot.i18n import SUPPORTED_LANGUAGES
from bot.settings import PROJECT_ROOT

LOCALES = PROJECT_ROOT / "locales"
# The corrected topics: every language lists its wrong wordings for each.
CORRECTED = {
    "faq_online_services",
    "faq_emergency",
    "faq_overstay",
    "faq_accommodation_registration",
    # Missing warnings and claims stated with more certainty than the sources allow.
    "faq_work_permit",
    "faq_visa_extension",
    "faq_merchant_card_apply",
    "faq_merchant_card_uses",
    "faq_service_center",
    "faq_dispute_process",
    "faq_preferential_policies",
}


def forbidden(lang: str) -> dict[str, list[str]]:
    data = yaml.safe_load((LOCALES / lang / "forbidden.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return {str(topic): [str(p) for p in phrases] for topic, phrases in data.items()}


@pytest.mark.parametrize("lang", sorted(SUPPORTED_LANGUAGES))
def test_no_wrong_wording_comes_back(lang: str) -> None:
    store = AnswerStore(LOCALES, LOCALES / "office.yml")
    listed = forbidden(lang)
    assert set(listed) >= CORRECTED, f"{lang}: forbidden.yml lacks {CORRECTED - set(listed)}"
    for topic, phrases in listed.items():
        answer = store.get(topic, lang)
        assert answer is not None and answer.language == lang, (lang, topic)
        shown = "\n".join((answer.title, answer.text, answer.details)).casefold()
        assert phrases, (lang, topic)
        for phrase in phrases:
            assert phrase.casefold() not in shown, (lang, topic, phrase)


@pytest.mark.parametrize("lang", sorted(SUPPORTED_LANGUAGES))
def test_the_hotline_is_said_to_answer_in_chinese_and_english(lang: str) -> None:
    """The languages come from office.yml, named in the reader's language."""
    store = AnswerStore(LOCALES, LOCALES / "office.yml")
    names = language_names("zh en", lang)
    for topic in ("faq_online_services", "faq_emergency"):
        answer = store.get(topic, lang)
        assert answer is not None and names in answer.text, (lang, topic)


def test_language_names_follow_the_reader() -> None:
    assert language_names("zh en", "en") == "Chinese and English"
    assert language_names("zh en", "fr") == "chinois et anglais"
    assert language_names("zh, en, ar", "es") == "chino, inglés y árabe"
    assert language_names("zh en", "es") == "chino e inglés"  # "e" before an "i" sound
    assert language_names("zh xx-notalang", "en").startswith("Chinese")  # shown as typed
    office = {"immigration_hotline_languages": "zh en", "immigration_hotline": "12367"}
    assert fill_placeholders("in {immigration_hotline_languages}", office, "ru") == (
        "in китайский и английский"
    )
    assert load_office(LOCALES / "office.yml")["immigration_hotline_languages"] == "zh en"
