"""The training data as Rasa sees it: valid, warning-free, every intent of the taxonomy
in every language with enough examples."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from bot.i18n import SUPPORTED_LANGUAGES
from bot.nlu_eval import load_examples
from bot.rasa_runtime import RASA_VENV, quiet_env
from bot.settings import PROJECT_ROOT

pytestmark = pytest.mark.integration
MIN_EXAMPLES = 40


def test_rasa_data_validate_has_no_warnings() -> None:
    result = subprocess.run(
        [str(RASA_VENV / "bin" / "rasa"), "data", "validate", "--fail-on-warnings",
         "--data", "nlu_data", "--domain", "domain.yml", "--config", "config.yml"],
        cwd=PROJECT_ROOT, env=quiet_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_every_domain_intent_has_enough_examples(lang: str) -> None:
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    examples = load_examples(PROJECT_ROOT / "nlu_data" / lang / "nlu.yml")
    counts = {intent: 0 for intent in domain["intents"]}
    for e in examples:
        assert e.intent in counts, f"{lang}: {e.intent} is not in domain.yml"
        counts[e.intent] += 1
    thin = {i: n for i, n in counts.items() if n < MIN_EXAMPLES}
    assert not thin, f"{lang}: fewer than {MIN_EXAMPLES} examples: {thin}"
    assert len({e.text.casefold() for e in examples}) == len(examples), f"{lang}: duplicates"
