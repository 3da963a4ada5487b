"""Office facts in an answer as users read them (issue 16, item 8): a fact not yet
published is not a notice in the middle of a sentence, four times over; its line is left
out and one sentence at the end names what is missing, in the reader's language."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import texts
from bot.answers.facts import leave_out_unset, render_answer
from bot.answers.office import load_office
from bot.answers.store import AnswerStore
from bot.i18n import SUPPORTED_LANGUAGES, gettext
from bot.settings import PROJECT_ROOT

LOCALES = PROJECT_ROOT / "locales"
OFFICE: dict[str, str | None] = {
    "immigration_hotline": "12367",
    "immigration_hotline_languages": "zh en",
    "center_address": None,
    "center_hours": None,
    "merchant_card_fee": None,
    "online_portal": "https://www.nia.gov.cn",
}
ANSWER = """Bring your passport.

- Fee: {merchant_card_fee}
- Website: {online_portal}

To talk to a person, call {immigration_hotline} ({immigration_hotline_languages}).
- Service center: {center_address}

Or visit the service center:
- {center_address}
- {center_hours}"""


def test_lines_of_unset_facts_are_left_out_and_named_once_at_the_end() -> None:
    shown = render_answer(ANSWER, OFFICE, "en", locales=LOCALES)
    assert shown == (
        "Bring your passport.\n\n"
        "- Website: https://www.nia.gov.cn\n\n"
        "To talk to a person, call 12367 (Chinese and English).\n\n"
        "Not yet published: the fee for the card and the service center's address and "
        "opening hours. The immigration hotline 12367 can tell you."
    )


def test_a_paragraph_that_loses_all_its_facts_goes_with_its_introduction() -> None:
    kept, unset = leave_out_unset("Or visit us:\n- {center_address}\n- {center_hours}", OFFICE)
    assert kept == "" and unset == ["center_address", "center_hours"]
    kept, _ = leave_out_unset("Call {immigration_hotline}.\n- {center_address}", OFFICE)
    assert kept == "Call {immigration_hotline}."


@pytest.mark.parametrize("lang", sorted(SUPPORTED_LANGUAGES))
def test_the_missing_facts_are_named_in_the_readers_language(lang: str) -> None:
    shown = render_answer("Text.\n\n- {center_hours}", OFFICE, lang, locales=LOCALES)
    label = (LOCALES / lang / "facts.yml").read_text(encoding="utf-8")
    import yaml

    name = yaml.safe_load(label)["center_hours"]
    notice = gettext(lang, texts.FACTS_NOT_PUBLISHED, facts=name, hotline="12367")
    assert shown == f"Text.\n\n{notice}"
    assert "%(" not in notice and name in notice


def test_every_fact_published_reads_without_a_notice() -> None:
    office = {k: v or "x" for k, v in OFFICE.items()}
    shown = render_answer(ANSWER, office, "fr", locales=LOCALES)
    assert "- x\n- x" in shown and "publié" not in shown


def test_without_a_hotline_the_notice_says_only_what_is_missing() -> None:
    office = {**OFFICE, "immigration_hotline": None}
    shown = render_answer("Text.\n\n- {center_hours}", office, "es", locales=LOCALES)
    assert shown.endswith(
        gettext(
            "es", texts.FACTS_NOT_PUBLISHED_NO_HOTLINE, facts="el horario del centro de servicios"
        )
    )


def test_a_fact_without_a_name_in_the_language_falls_back_to_english(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "facts.yml").write_text('center_hours: "the hours"\n', encoding="utf-8")
    shown = render_answer("- {center_hours}", OFFICE, "ru", locales=tmp_path)
    assert "the hours" in shown


@pytest.mark.parametrize("lang", sorted(SUPPORTED_LANGUAGES))
def test_real_answers_never_carry_the_old_inline_notice(lang: str) -> None:
    """The closing line once read "(address: not yet published, please ask the hotline
    12367; hours: not yet published, ...)": with today's office.yml no answer, nor its
    details, holds that notice, and each says at most once what is missing."""
    store = AnswerStore(LOCALES, LOCALES / "office.yml")
    office = load_office(LOCALES / "office.yml")
    inline = gettext(lang, texts.NOT_PUBLISHED, hotline=office["immigration_hotline"] or "")
    head = gettext(lang, texts.FACTS_NOT_PUBLISHED, facts="\0", hotline="").split("\0")[0]
    assert store.entries(lang), f"{lang}: the answer file is refused"
    for topic in store.entries(lang):
        answer = store.get(topic, lang)
        assert answer is not None and answer.language == lang, (lang, topic)
        for shown in (answer.text, answer.details):
            assert inline not in shown, (lang, topic)
            assert shown.count(head) <= 1, (lang, topic)


def test_a_label_of_several_facts_names_them_together_only_when_all_are_missing(
    tmp_path: Path,
) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "facts.yml").write_text(
        'center_address: "the address"\n'
        'center_hours: "the hours"\n'
        'merchant_card_fee: "the fee"\n'
        'center_address+center_hours: "the address and hours"\n',
        encoding="utf-8",
    )
    both = render_answer("- {center_address}\n- {center_hours}", OFFICE, "en", locales=tmp_path)
    assert both.startswith("Not yet published: the address and hours.")
    office = {**OFFICE, "center_hours": "9-17", "merchant_card_fee": None}
    one = render_answer(
        "- {merchant_card_fee}\n- {center_address}\n- {center_hours}",
        office,
        "en",
        locales=tmp_path,
    )
    assert one.startswith("- 9-17\n\nNot yet published: the fee and the address.")
