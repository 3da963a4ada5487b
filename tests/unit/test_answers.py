"""Answer files: the real ones are complete; edits apply at once; bad files never serve."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
import yaml

from bot import texts
from bot.answers.check import PLACEHOLDER
from bot.answers.office import load_office
from bot.answers.render import to_html
from bot.answers.store import AnswerStore
from bot.i18n import SUPPORTED_LANGUAGES, gettext

ROOT = Path(__file__).resolve().parents[2]
TAXONOMY_FAQ = {
    "faq_merchant_card_apply",
    "faq_merchant_card_uses",
    "faq_merchant_card_replace",
    "faq_visa_extension",
    "faq_visa_types",
    "faq_residence_permit",
    "faq_accommodation_registration",
    "faq_overstay",
    "faq_service_center",
    "faq_online_services",
    "faq_preferential_policies",
    "faq_lost_passport",
    "faq_work_permit",
    "faq_family_dependents",
    "faq_emergency",
    "faq_dispute_process",
}


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_real_answer_file_is_complete(lang: str) -> None:
    data = yaml.safe_load((ROOT / "locales" / lang / "answers.yml").read_text(encoding="utf-8"))
    assert set(data) == TAXONOMY_FAQ
    office = load_office(ROOT / "locales" / "office.yml")
    store = AnswerStore(ROOT / "locales", ROOT / "locales" / "office.yml")
    for topic, entry in data.items():
        assert entry["title"].strip() and entry["text"].strip() and entry["sources"], topic
        unknown = set(PLACEHOLDER.findall(entry["text"])) - set(office)
        assert not unknown, f"{lang}/{topic}: unknown placeholders {unknown}"
        answer = store.get(topic, lang)
        assert answer is not None and answer.language == lang
        assert len(to_html(f"{answer.title}\n\n{answer.text}")) < 4096


def entry(title: str, text: str) -> dict[str, object]:
    return {
        "title": title,
        "text": text,
        "sources": ["Exit and Entry Administration Law"],
        "reviewed": dt.date(2026, 11, 1),
    }


def write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


@pytest.fixture
def locales(tmp_path: Path) -> Path:
    write(tmp_path / "office.yml", {"immigration_hotline": "12367", "center_address": None})
    write(
        tmp_path / "en" / "answers.yml",
        {"faq_overstay": entry("Overstay", "Call {immigration_hotline}.\n- {center_address}")},
    )
    for lang in ("en", "fr"):  # the names of the facts, as users read them
        write(
            tmp_path / lang / "facts.yml",
            {"immigration_hotline": "the hotline", "center_address": "the address"},
        )
    write(
        tmp_path / "fr" / "answers.yml",
        {"faq_emergency": entry("Urgences", "Appelez le 110.")},
    )
    return tmp_path


def touch_later(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_placeholders_filled_and_unpublished_facts_explained(locales: Path) -> None:
    """The line naming an unset fact is left out; one sentence at the end names it
    (bot.answers.facts; tests/unit/test_answer_facts.py)."""
    store = AnswerStore(locales, locales / "office.yml")
    answer = store.get("faq_overstay", "en")
    assert answer is not None
    notice = gettext("en", texts.FACTS_NOT_PUBLISHED, facts="the address", hotline="12367")
    assert answer.text == f"Call 12367.\n\n{notice}"


def test_edit_takes_effect_on_next_request(locales: Path) -> None:
    store = AnswerStore(locales, locales / "office.yml")
    assert store.get("faq_emergency", "fr").text == "Appelez le 110."  # type: ignore[union-attr]
    path = locales / "fr" / "answers.yml"
    write(path, {"faq_emergency": entry("Urgences", "Appelez le 110 ou le 120.")})
    touch_later(path)
    assert store.get("faq_emergency", "fr").text == "Appelez le 110 ou le 120."  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "bad",
    [
        b"faq_emergency: [unclosed",
        b"\xff\xfe not utf-8",
        b"- just a list",
        b"faq_emergency: {title: ''}",
        b"faq_emergency: {title: U, text: 'Call {hotline}', sources: [x], reviewed: 2026-11-01}",
    ],
    ids=["yaml-syntax", "not-utf8", "wrong-shape", "empty-title", "unknown-placeholder"],
)
def test_broken_file_is_refused_and_last_good_keeps_serving(
    locales: Path, bad: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    store = AnswerStore(locales, locales / "office.yml")
    assert store.get("faq_emergency", "fr") is not None
    path = locales / "fr" / "answers.yml"
    path.write_bytes(bad)
    touch_later(path)
    answer = store.get("faq_emergency", "fr")
    assert answer is not None and answer.text == "Appelez le 110."
    assert "answer file refused" in caplog.text


def test_refused_file_is_checked_and_logged_once_per_version(
    locales: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = AnswerStore(locales, locales / "office.yml")
    assert store.get("faq_emergency", "fr") is not None
    path = locales / "fr" / "answers.yml"
    path.write_bytes(b"faq_emergency: [unclosed")
    touch_later(path)
    for _ in range(5):
        assert store.get("faq_emergency", "fr") is not None  # the last good version
    assert caplog.text.count("answer file refused") == 1
    touch_later(path)  # saved again, still broken: checked again, logged again
    store.get("faq_emergency", "fr")
    assert caplog.text.count("answer file refused") == 2


def test_missing_translation_falls_back_to_english(locales: Path) -> None:
    store = AnswerStore(locales, locales / "office.yml")
    answer = store.get("faq_overstay", "fr")
    assert answer is not None and answer.language == "en"
    assert store.get("faq_unknown", "fr") is None
