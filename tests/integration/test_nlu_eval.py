"""`expatbot nlu eval` on the held-out split: the model as the assistant runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.i18n import SUPPORTED_LANGUAGES
from bot.nlu_eval import Example, Scores, load_examples, macro_f1
from bot.settings import PROJECT_ROOT

pytestmark = pytest.mark.integration


def test_eval_json_on_heldout_and_a_named_file(tmp_path: Path) -> None:
    extra = tmp_path / "fr.yml"
    extra.write_text(
        'version: "3.1"\nnlu:\n- intent: faq_emergency\n  examples: |\n'
        "    - c quoi le numéro pour appeler une ambulance\n"
        "- intent: greet\n  examples: |\n    - bonjour à vous\n",
        encoding="utf-8",
    )
    result = nlu_eval("--json", str(extra))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # The last set named is reported: our two French examples.
    assert report["overall"]["n"] == 2
    assert report["languages"]["fr"]["n"] == 2
    assert report["languages"]["fr"]["langid_accuracy"] is not None


def nlu_eval(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "nlu", "eval", *args],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=600,
    )
    print(result.stdout)
    return result


def test_heldout_split_meets_thresholds() -> None:
    result = nlu_eval()
    assert result.returncode == 0, result.stdout + result.stderr
    for lang in SUPPORTED_LANGUAGES:
        assert f"\n{lang} " in result.stdout


def test_independent_set_meets_thresholds() -> None:
    """tests/data/nlu_independent/: written by other authors than the training data, who
    saw neither it nor the held-out split; every file must pass the same thresholds."""
    files = sorted((PROJECT_ROOT / "tests/data/nlu_independent").glob("*.yml"))
    assert [f.stem for f in files] == sorted(SUPPORTED_LANGUAGES)
    result = nlu_eval(*map(str, files))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("split", ["nlu_heldout", "nlu_independent"])
def test_evaluation_sets_are_never_trained_on(split: str) -> None:
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
    assert len(held) > 450
    assert not held & training


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
