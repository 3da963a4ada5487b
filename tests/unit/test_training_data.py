"""The training data: every intent of the domain in every language, with enough
examples and no duplicates (Rasa's own validation is in tests/integration/)."""

from __future__ import annotations

import pytest
import yaml

from bot.i18n import SUPPORTED_LANGUAGES
from bot.nlu.evaluation import load_examples
from bot.settings import PROJECT_ROOT

MIN_EXAMPLES = 40


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


@pytest.mark.parametrize(
    "path",
    ["nlu_data/en/nonnative.yml", "nlu_data/ar/dialects.yml"],
    ids=["en-nonnative", "ar-dialects"],
)
def test_writer_groups_have_twenty_examples_per_intent(path: str) -> None:
    """Issue 15: non-native English and the Arabic dialects, at least 20 per intent."""
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    examples = load_examples(PROJECT_ROOT / path)
    counts = {intent: sum(e.intent == intent for e in examples) for intent in domain["intents"]}
    assert min(counts.values()) >= 20, {i: n for i, n in counts.items() if n < 20}
    assert len({e.text.casefold() for e in examples}) == len(examples), "duplicates"
