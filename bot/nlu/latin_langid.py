"""Telling English, French and Spanish apart in short, code-mixed chat messages.

lingua is trained on well-formed text; our users write "la merchant card sirve pa el
bus?" or "statut ticket 452". This small multinomial naive Bayes over character
n-grams is trained, at start-up, on the project's own training data for those three
languages (nlu_data/<lang>/), which is written the way our users write, and is
combined with lingua's opinion.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import yaml

from bot.settings import PROJECT_ROOT
from rasa_addons.normalise import normalise

LANGUAGES = ("en", "fr", "es")
_WORD = re.compile(r"[^\W\d_]+")
MAX_N = 4
ALPHA = 0.5
# Whole words count this many times besides their character n-grams: in a code-mixed
# message ("ma merchant card est active ?") the few function words of the main language
# ("ma", "est") decide, and their n-grams alone are drowned by the English terms.
WORD_WEIGHT = 2
# Training files whose lines carry other languages' words on purpose (non-native English
# with "s'il vous plaît", "por favor", "bratan"): as examples of English they taught this
# model that French and Spanish words are English. Measured (issue 15, docs/nlu.md):
# without them, the informal English set's errors went from 2 to 1 of 80.
CODE_MIXED = frozenset({"nonnative.yml"})


def ngrams(text: str) -> Iterable[str]:
    for word in _WORD.findall(normalise(text)):
        padded = f" {word} "
        for n in range(1, MAX_N + 1):
            for i in range(len(padded) - n + 1):
                yield padded[i : i + n]
        for _ in range(WORD_WEIGHT):
            yield "w:" + word


class NaiveBayes:
    def __init__(self, examples: dict[str, list[str]]) -> None:
        self.counts = {
            lang: Counter(g for t in texts for g in ngrams(t)) for lang, texts in examples.items()
        }
        self.totals = {lang: sum(c.values()) for lang, c in self.counts.items()}
        self.vocab = len(set().union(*self.counts.values())) or 1
        total_docs = sum(len(t) for t in examples.values()) or 1
        self.prior = {lang: math.log(len(t) / total_docs) for lang, t in examples.items() if t}

    def probabilities(self, text: str) -> dict[str, float]:
        grams = list(ngrams(text))
        if not grams:
            return {}
        scores = {}
        for lang, prior in self.prior.items():
            counts, denom = self.counts[lang], self.totals[lang] + ALPHA * self.vocab
            scores[lang] = prior + sum(math.log((counts[g] + ALPHA) / denom) for g in grams)
        top = max(scores.values())
        exp = {k: math.exp(v - top) for k, v in scores.items()}
        total = sum(exp.values())
        return {k: v / total for k, v in exp.items()}


def _examples(root: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for lang in LANGUAGES:
        texts: list[str] = []
        for path in sorted((root / "nlu_data" / lang).glob("*.yml")):
            if path.name in CODE_MIXED:
                continue
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            for block in data.get("nlu", []):
                texts += [
                    line.strip()[2:]
                    for line in str(block.get("examples", "")).splitlines()
                    if line.strip().startswith("- ")
                ]
        found[lang] = texts
    return found


@lru_cache(maxsize=1)
def model(root: Path = PROJECT_ROOT) -> NaiveBayes:
    return NaiveBayes(_examples(root))
