"""`expatbot nlu eval` without Rasa: which examples make up the set, how they are scored
and reported. A stand-in classifier takes the model's place; the rest runs as it does
for the real command (tests/integration/test_nlu_eval.py runs it with the real model)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bot.errors import ConfigurationError
from bot.nlu import evaluation as nlu_eval
from bot.nlu.evaluation import Example, Scores, load_examples, macro_f1
from bot.settings import PROJECT_ROOT

EN = """nlu:
- intent: greet
  examples: |
    - hello there, good morning
    - good evening to you all
- intent: faq_emergency
  examples: |
    - what number do I call for an ambulance
"""
FR = """nlu:
- intent: greet
  examples: |
    - bonjour à vous tous
- intent: faq_emergency
  examples: |
    - quel numéro appeler pour une ambulance
    - il y a un incendie dans mon magasin
"""
# The stand-in model gets these wrong, so that each language has its own accuracy.
WRONG = {"good evening to you all": "faq_emergency", "il y a un incendie dans mon magasin": "greet"}


def stand_in(gold: dict[str, str]) -> nlu_eval.Classifier:
    def classify(texts: list[str], model: Path) -> list[dict[str, Any]]:
        return [{"intent": WRONG.get(t, gold.get(t, ""))} for t in texts]

    return classify


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def two_files(tmp_path: Path) -> list[Path]:
    return [write(tmp_path, "en.yml", EN), write(tmp_path, "fr.yml", FR)]


def gold_of(files: list[Path]) -> dict[str, str]:
    return {e.text: e.intent for f in files for e in load_examples(f)}


def test_several_files_are_evaluated_together(
    two_files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 9, item 12: every file named counts, each under its own language (the
    last file's figures alone were printed)."""
    # As the command runs: no model is trained or loaded here.
    monkeypatch.setattr(nlu_eval, "ensure_model", lambda: (Path("model.tar.gz"), None))
    monkeypatch.setattr(nlu_eval, "classify", stand_in(gold_of(two_files)))
    text, code = nlu_eval.run(two_files, as_json=True)
    report = json.loads(text)
    assert report["overall"]["n"] == 6
    assert report["overall"]["accuracy"] == round(4 / 6, 4)
    assert {lang: s["n"] for lang, s in report["languages"].items()} == {"en": 3, "fr": 3}
    assert report["languages"]["en"]["accuracy"] == report["languages"]["fr"]["accuracy"]
    assert report["languages"]["en"]["accuracy"] == round(2 / 3, 4)
    assert report["languages"]["fr"]["langid_accuracy"] is not None
    assert code == 1  # 2 of 3 right is below every threshold
    assert report["below_threshold"]


def test_table_says_what_the_json_says(two_files: list[Path]) -> None:
    classifier = stand_in(gold_of(two_files))
    as_json, json_code = nlu_eval.run(
        two_files, as_json=True, classifier=classifier, model=Path("m")
    )
    table, table_code = nlu_eval.run(
        two_files, as_json=False, classifier=classifier, model=Path("m")
    )
    assert json_code == table_code
    report = json.loads(as_json)
    rows = {
        m.group(1): m.groups()[1:]
        for m in re.finditer(r"^(\w+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s*([\d.-]*)$", table, re.M)
    }
    assert set(rows) == {"en", "fr", "all"}
    for lang, s in report["languages"].items():
        n, accuracy, f1, langid = rows[lang]
        assert (int(n), float(accuracy), float(f1), float(langid)) == (
            s["n"], s["accuracy"], s["macro_f1"], s["langid_accuracy"]
        )  # fmt: skip
    n, accuracy, f1, _ = rows["all"]
    o = report["overall"]
    assert (int(n), float(accuracy), float(f1)) == (o["n"], o["accuracy"], o["macro_f1"])
    assert all(str(f) in table for f in two_files)
    assert "BELOW THRESHOLD" in table


def test_without_files_the_heldout_split_is_the_set() -> None:
    title, paths = nlu_eval.evaluation_set([])
    assert "held-out" in title and "nonnative" in title
    heldout = sorted((PROJECT_ROOT / "tests/data/nlu_heldout").glob("*.yml"))
    assert len(heldout) == 6
    assert paths == [*heldout, PROJECT_ROOT / "tests/data/nlu_heldout_nonnative/en.yml"]


def test_a_file_without_examples_fails_and_the_others_still_count(
    two_files: list[Path], tmp_path: Path
) -> None:
    empty = write(tmp_path, "es.yml", "nlu: []\n")
    files = [*two_files, empty]
    text, code = nlu_eval.run(
        files, as_json=True, classifier=stand_in(gold_of(two_files)), model=Path("m")
    )
    report = json.loads(text)
    assert code == 1 and f"{empty}: no examples" in report["below_threshold"]
    assert report["overall"]["n"] == 6


def test_no_examples_at_all_needs_no_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_model(**_kwargs: object) -> tuple[Path, None]:
        raise AssertionError("no model is needed for an empty set")

    monkeypatch.setattr(nlu_eval, "ensure_model", no_model)
    empty = write(tmp_path, "ar.yml", "version: '3.1'\n")
    text, code = nlu_eval.run([empty], as_json=False, classifier=stand_in({}))
    assert (text, code) == (f"{empty}: no examples", 1)


def test_a_file_that_is_not_yaml_is_a_clear_error(tmp_path: Path) -> None:
    bad = write(tmp_path, "ru.yml", "nlu:\n- intent: greet\n  examples: [unclosed\n")
    with pytest.raises(ConfigurationError, match=r"ru\.yml is not valid YAML \(line \d+\)"):
        load_examples(bad)
    with pytest.raises(ConfigurationError, match="not a Rasa NLU file"):
        load_examples(write(tmp_path, "zh.yml", "- just a list\n"))


# Moved from tests/integration/test_nlu_eval.py: pure logic, no Rasa needed.


@pytest.mark.parametrize(
    ("split", "at_least"),
    [("nlu_heldout", 1600), ("nlu_independent", 450), ("nlu_heldout_nonnative", 155)],
)
def test_evaluation_sets_are_never_trained_on(split: str, at_least: int) -> None:
    held = {
        e.text.casefold()
        for p in (PROJECT_ROOT / "tests/data" / split).glob("*.yml")
        for e in load_examples(p)
    }
    training = {
        e.text.casefold()
        for p in (PROJECT_ROOT / "nlu_data").rglob("*.yml")
        for e in load_examples(p)
    }
    assert len(held) > at_least
    assert not held & training


@pytest.mark.parametrize(
    ("path", "group"),
    [("tests/data/nlu_heldout_nonnative/en.yml", None), ("tests/data/nlu_heldout/ar.yml", "ar-")],
)
def test_writer_groups_have_five_examples_per_intent(path: str, group: str | None) -> None:
    """Issue 15: non-native English and each Arabic dialect are measured on their own."""
    import yaml

    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    examples = load_examples(PROJECT_ROOT / path)
    if group is None:
        assert all(e.groups == ("en-nonnative",) and e.apart for e in examples)
        counts = {i: sum(e.intent == i for e in examples) for i in domain["intents"]}
        assert min(counts.values()) >= 5, counts
        return
    for dialect in ("egyptian", "gulf", "levantine", "maghrebi", "msa"):
        lines = [e for e in examples if f"ar-{dialect}" in e.groups]
        assert len(lines) >= 31, dialect
    dialect_lines = [e for e in examples if "ar-dialects" in e.groups]
    counts = {i: sum(e.intent == i for e in dialect_lines) for i in domain["intents"]}
    assert min(counts.values()) >= 5, counts


def test_long_form_examples_carry_their_dialect(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "ar.yml",
        "nlu:\n- intent: greet\n  examples:\n  - text: |\n      هلا والله\n"
        "    metadata:\n      dialect: gulf\n- intent: greet\n  examples: |\n    - مرحبا\n",
    )
    assert load_examples(path) == [
        Example("هلا والله", "greet", "ar", "ar.yml", ("ar-dialects", "ar-gulf")),
        Example("مرحبا", "greet", "ar", "ar.yml"),
    ]
    group_dir = tmp_path / "nlu_heldout_nonnative"
    group_dir.mkdir()
    (nonnative,) = load_examples(write(group_dir, "en.yml", EN))[:1]
    assert nonnative.language == "en" and nonnative.groups == ("en-nonnative",)
    assert nonnative.apart  # a set of its own: not counted in "en"


def test_groups_are_rows_of_their_own_and_held_to_equity() -> None:
    """Issue 15, item 4: no language, nor non-native English, more than 3 points below
    the best language. Non-native English is its own row, not part of "en"."""
    examples = [Example(f"en {i}", "greet", "en", "en.yml") for i in range(100)]
    examples += [Example(f"fr {i}", "greet", "fr", "fr.yml") for i in range(100)]
    examples += [
        Example(f"nn {i}", "greet", "en", "en.yml", ("en-nonnative",), apart=True)
        for i in range(100)
    ]
    wrong = {f"nn {i}" for i in range(3)} | {"fr 0"}  # en-nonnative 0.97, fr 0.99, en 1.0

    def classifier(texts: list[str], model: Path) -> list[dict[str, Any]]:
        return [{"intent": "deny" if t in wrong else "greet"} for t in texts]

    report = nlu_eval.evaluate(examples, Path("m"), classifier=classifier)
    assert report.languages["en"].n == 100 and report.languages["en"].accuracy == 1.0
    assert report.groups["en-nonnative"].accuracy == 0.97
    assert report.as_json()["groups"]["en-nonnative"]["n"] == 100
    assert "en-nonnative" in nlu_eval.format_report(report, title="t")
    limits = nlu_eval.Thresholds(0.9, 0.9, 0.0, 0.03, ("en-nonnative",))
    assert nlu_eval.failures(report, limits) == []  # 1.0 - 0.97 is within 3 points
    wrong |= {"nn 3", "fr 1", "fr 2", "fr 3", "fr 4"}
    report = nlu_eval.evaluate(examples, Path("m"), classifier=classifier)
    assert nlu_eval.failures(report, limits) == [
        "en-nonnative: accuracy 0.960 is more than 3 points below the best (en 1.000)",
        "fr: accuracy 0.950 is more than 3 points below the best (en 1.000)",
    ]


def test_equity_limits_are_in_pyproject() -> None:
    limits = nlu_eval.thresholds()
    assert limits.max_gap_to_best == 0.03 and "en-nonnative" in limits.equity_groups


def test_scores_and_macro_f1() -> None:
    s = Scores()
    for gold, pred in [("a", "a"), ("a", "b"), ("b", "b"), ("c", "c")]:
        s.add(gold, pred)
    assert s.accuracy == 0.75
    # F1: a = 2/3, b = 2/3, c = 1
    assert abs(macro_f1(s.gold, s.predicted) - (2 / 3 + 2 / 3 + 1) / 3) < 1e-9
    assert s.pairs == {("a", "b"): 1}


def test_file_name_gives_language(tmp_path: Path) -> None:
    (tmp_path / "ar.yml").write_text(
        "nlu:\n- intent: greet\n  examples: |\n    - مرحبا\n", encoding="utf-8"
    )
    (tmp_path / "mixed.yml").write_text(
        "nlu:\n- intent: greet\n  examples: |\n    - hi\n", encoding="utf-8"
    )
    assert load_examples(tmp_path / "ar.yml") == [Example("مرحبا", "greet", "ar", "ar.yml")]
    assert load_examples(tmp_path / "mixed.yml")[0].language is None
