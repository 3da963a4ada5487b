"""`expatbot answers check`: each kind of broken answer file gets a precise error."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from bot.answers.check import Problem, check_all, check_text, faq_topics
from bot.answers.office import load_office
from bot.settings import PROJECT_ROOT

OFFICE: dict[str, str | None] = {"immigration_hotline": "12367", "center_address": None}
TODAY = dt.date(2026, 11, 27)
GOOD = """\
faq_emergency:
  title: "Emergencies"
  text: |
    Call **{immigration_hotline}**. See [NIA](https://www.nia.gov.cn).
  sources:
    - "Exit and Entry Administration Law"
  reviewed: 2026-11-01
"""


# Beside the project's own facts.yml, whose names the check requires for every fact.
FR_ANSWERS = PROJECT_ROOT / "locales" / "fr" / "answers.yml"


def check(
    source: str | bytes,
    topics: list[str] | None = None,
    office: dict[str, str | None] | None = None,
) -> list[Problem]:
    raw = source.encode() if isinstance(source, str) else source
    _, problems = check_text(
        raw, path=FR_ANSWERS, lang="fr", office=office or OFFICE,
        topics=topics or ["faq_emergency"], today=TODAY,
    )  # fmt: skip
    return problems


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def test_good_file_has_no_problems() -> None:
    assert check(GOOD) == []


def test_yaml_syntax_error_names_the_line() -> None:
    p = only(check(GOOD.replace('title: "Emergencies"', 'title: "Emergencies')))
    assert p.level == "error" and "YAML syntax error" in p.message and p.line is not None


def test_unknown_placeholder() -> None:
    p = only(check(GOOD.replace("{immigration_hotline}", "{hotline_number}")))
    assert "unknown placeholder {hotline_number}" in p.message
    assert p.topic == "faq_emergency" and p.line == 3
    assert str(p).startswith(f"{FR_ANSWERS}:3 [faq_emergency]: error: unknown placeholder")


def test_missing_topic() -> None:
    p = only(check(GOOD, topics=["faq_emergency", "faq_overstay"]))
    assert p.topic == "faq_overstay" and "topic missing" in p.message


def test_topic_not_in_taxonomy() -> None:
    p = only(check(GOOD + GOOD.replace("faq_emergency:", "faq_weather:")))
    assert p.topic == "faq_weather" and "not a topic of the taxonomy" in p.message and p.line == 8


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ("Call **{immigration_hotline}. See", "a ** is not closed"),
        ("Call <b>{immigration_hotline}</b>. See", "HTML tags are not allowed"),
        ("[NIA](https://www.nia.gov.cn", "link is not written as [label](address)"),
        ("[NIA](javascript:alert(1))", "address must start with https://"),
    ],
)
def test_broken_markup(broken: str, message: str) -> None:
    source = (
        GOOD.replace("Call **{immigration_hotline}**. See", broken)
        if "Call" in broken
        else GOOD.replace("[NIA](https://www.nia.gov.cn)", broken)
    )
    assert any(message in p.message for p in check(source)), [str(p) for p in check(source)]


def test_answer_over_telegram_limit() -> None:
    long_text = "    " + "word " * 900 + "\n"
    source = GOOD.replace(
        "    Call **{immigration_hotline}**. See [NIA](https://www.nia.gov.cn).\n", long_text
    )
    messages = [p.message for p in check(source)]
    assert any("after rendering; the limit is 4096" in m for m in messages), messages


def with_text(*lines: str, details: str | None = None) -> str:
    body = "".join(f"    {line}\n" if line else "\n" for line in lines)
    source = GOOD.replace(
        "    Call **{immigration_hotline}**. See [NIA](https://www.nia.gov.cn).\n", body
    )
    if details is not None:
        source = source.replace("  sources:", f"  details: |\n    {details}\n  sources:")
    return source


def test_answer_over_one_and_a_half_screens_is_refused() -> None:
    """Issue 16: 1,256 characters read as a wall of text; the limit is 800 columns."""
    p = only(check(with_text("word " * 170)))
    assert "849 characters as it reads now; the limit is 800" in p.message
    assert "move the rest to details" in p.message
    assert check(with_text("word " * 150)) == []


def test_chinese_characters_count_twice_in_the_length() -> None:
    """A Chinese character takes the width of two Latin ones on a phone."""
    assert (
        "characters as it reads now; the limit is 800"
        in only(check(with_text("签证" * 201))).message
    )
    assert check(with_text("签证" * 199)) == []


def test_details_have_the_same_limit_and_checks() -> None:
    messages = [p.message for p in check(with_text("Short.", details="word " * 170))]
    assert messages == [
        "details: 849 characters as it reads now; the limit is 800 (about one and a half "
        "phone screens): put the action first and move the rest to details"
    ]
    assert (
        "details: unknown placeholder {hotline}"
        in only(check(with_text("Short.", details="Call {hotline}."))).message
    )


def test_length_holds_whatever_the_office_publishes() -> None:
    """An answer that fits with today's facts must still fit when one is withdrawn (the
    sentence saying so is added) or published (its value is shown)."""
    office: dict[str, str | None] = {**OFFICE, "center_hours": "9:00-17:00"}
    source = with_text("word " * 145, "", "- {center_hours}")
    p = only(check(source, office=office))
    assert "characters with no fact published; the limit is 800" in p.message
    fits = with_text("word " * 100, "", "- {immigration_hotline}", "- {center_hours}")
    assert check(fits, office=office) == []


def test_unset_fact_notice_typed_by_hand_is_refused() -> None:
    """The sentence saying what is not yet published is the renderer's, said once."""
    office: dict[str, str | None] = {**OFFICE, "center_hours": None}
    typed = "Pas encore publié : les horaires. Demandez au 12367."
    messages = [p.message for p in check(with_text(typed, "", "- {center_hours}"), office=office)]
    assert any(
        m.startswith("says more than once that a fact is not yet published") for m in messages
    )


def test_fact_on_a_long_line_is_refused() -> None:
    """The line of an unset fact is left out whole: nothing else may ride on it."""
    line = (
        "Apportez votre passeport et une photo, puis appelez le {immigration_hotline} " + "x" * 30
    )
    p = only(check(with_text(line)))
    assert "names a fact and is" in p.message and "a short line of its own" in p.message


def test_placeholder_in_a_title_is_refused() -> None:
    p = only(
        check(GOOD.replace('title: "Emergencies"', 'title: "Appelez le {immigration_hotline}"'))
    )
    assert p.message == "no {placeholders} in a title"


def test_fact_without_a_name_in_the_language_is_refused(tmp_path: Path) -> None:
    (tmp_path / "fr").mkdir()
    (tmp_path / "fr" / "facts.yml").write_text('center_address: "l\'adresse"\n', encoding="utf-8")
    _, problems = check_text(
        GOOD.encode(), path=tmp_path / "fr" / "answers.yml", lang="fr", office=OFFICE,
        topics=["faq_emergency"], today=TODAY,
    )  # fmt: skip
    p = only(problems)
    assert "{immigration_hotline} has no name in" in p.message and "facts.yml" in p.message


def test_not_utf8() -> None:
    p = only(check(GOOD.encode("utf-16")))
    assert "not UTF-8" in p.message


def test_missing_sources_and_review_date() -> None:
    source = GOOD.replace('  sources:\n    - "Exit and Entry Administration Law"\n', "").replace(
        "  reviewed: 2026-11-01\n", ""
    )
    messages = [p.message for p in check(source)]
    assert any(m.startswith("sources:") for m in messages)
    assert any(m.startswith("reviewed:") for m in messages)


def test_stale_review_is_a_warning() -> None:
    p = only(check(GOOD.replace("2026-11-01", "2024-01-01")))
    assert p.level == "warning" and "last reviewed 2024-01-01" in p.message


def test_placeholders_must_match_english(tmp_path: Path) -> None:
    office = {"immigration_hotline": "12367", "police_phone": "110"}
    for lang in ("en", "zh", "ar", "ru", "fr", "es"):
        text = GOOD if lang != "ru" else GOOD.replace("{immigration_hotline}", "{police_phone}")
        (tmp_path / lang).mkdir()
        (tmp_path / lang / "answers.yml").write_text(text, encoding="utf-8")
        facts = 'immigration_hotline: "hotline"\npolice_phone: "police"\n'
        (tmp_path / lang / "facts.yml").write_text(facts, encoding="utf-8")
    problems = check_all(tmp_path, office=office, topics=["faq_emergency"], today=TODAY)
    p = only(problems)
    assert "ru" in str(p.path) and "placeholders differ from English" in p.message


def test_project_answer_files_pass() -> None:
    problems = check_all(PROJECT_ROOT / "locales", office=load_office(), topics=faq_topics())
    assert [str(p) for p in problems if p.level == "error"] == []


def test_cli_check_exit_codes(tmp_path: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "bot.ops.cli", "answers", "check"],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "0 errors" in ok.stdout
    import shutil

    shutil.copytree(PROJECT_ROOT / "locales", tmp_path / "locales")
    bad = tmp_path / "locales" / "es" / "answers.yml"
    bad.write_text(
        bad.read_text(encoding="utf-8").replace("{immigration_hotline}", "{linea}", 1),
        encoding="utf-8",
    )
    failed = subprocess.run(
        [sys.executable, "-m", "bot.ops.cli", "answers", "check"],
        capture_output=True, text=True, cwd=PROJECT_ROOT,
        env={**__import__("os").environ, "EXPATBOT_LOCALES": str(tmp_path / "locales")},
    )  # fmt: skip
    assert failed.returncode == 1
    assert "es/answers.yml:" in failed.stdout and "unknown placeholder {linea}" in failed.stdout


def test_status_table_shows_review_dates_gaps_and_votes(tmp_path: Path) -> None:
    from bot.answers.status import status_table

    for lang in ("en", "zh", "ar", "ru", "fr", "es"):
        (tmp_path / lang).mkdir()
        text = GOOD.replace("2026-11-01", "2024-01-01") if lang == "fr" else GOOD
        (tmp_path / lang / "answers.yml").write_text(
            text if lang != "zh" else "{}\n", encoding="utf-8"
        )
    table = status_table(
        tmp_path,
        max_age_days=365,
        votes={("faq_emergency", "ar"): (3, 1)},
        fallbacks={("faq_emergency", "zh"): 2},
        today=TODAY,
    )
    row = next(line for line in table.splitlines() if line.startswith("faq_emergency"))
    assert "MISSING +0/-0 en×2" in row and "STALE 2024-01-01" in row and "2026-11-01 +3/-1" in row
