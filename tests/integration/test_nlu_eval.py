"""`expatbot nlu eval` with the real model, as the assistant runs it (the pure logic is
tested without Rasa in tests/unit/test_nlu_eval.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.i18n import SUPPORTED_LANGUAGES
from bot.settings import PROJECT_ROOT

pytestmark = pytest.mark.integration


def nlu_eval(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "bot.ops.cli", "nlu", "eval", *args],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=600,
    )
    print(result.stdout)
    return result


def test_eval_json_on_named_files_together(tmp_path: Path) -> None:
    french = tmp_path / "fr.yml"
    french.write_text(
        'version: "3.1"\nnlu:\n- intent: faq_emergency\n  examples: |\n'
        "    - c quoi le numéro pour appeler une ambulance\n"
        "- intent: greet\n  examples: |\n    - bonjour à vous\n",
        encoding="utf-8",
    )
    spanish = tmp_path / "es.yml"
    spanish.write_text(
        'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - hola, buenos días\n',
        encoding="utf-8",
    )
    result = nlu_eval("--json", str(french), str(spanish))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # Both files, each under its own language.
    assert report["overall"]["n"] == 3
    assert {lang: s["n"] for lang, s in report["languages"].items()} == {"fr": 2, "es": 1}
    assert report["languages"]["fr"]["langid_accuracy"] is not None
    assert report["files"] == [str(french), str(spanish)]


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
    for lang in SUPPORTED_LANGUAGES:
        assert f"\n{lang} " in result.stdout
