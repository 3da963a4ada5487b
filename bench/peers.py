"""The chosen NLU pipeline (config.yml) on public data sets, against published results.

- CLINC150 (full; out-of-scope trained as a 151st intent): in-scope accuracy and
  out-of-scope recall on the test split. Published (Larson et al. 2019): Rasa (spaCy +
  sklearn) 91.5 / 45.3, Dialogflow 91.7 / 14.0, BERT 96.9 / 40.3.
- xSID 0.7, zh and ar: trained on the language's valid file, tested on its test file.

Data: ../shared/benchmarks (or BENCHMARKS_DIR). Usage: .venv/bin/python bench/peers.py
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bot.nlu.evaluation import classify, load_examples
from bot.nlu.rasa_runtime import RASA_VENV, quiet_env
from bot.settings import PROJECT_ROOT

BENCHMARKS = Path(os.environ.get("BENCHMARKS_DIR", PROJECT_ROOT.parent / "shared" / "benchmarks"))


def pipeline_config(tmp: Path) -> Path:
    """config.yml's pipeline as it is, less the fallback (out-of-scope is an intent here)."""
    config = yaml.safe_load((PROJECT_ROOT / "config.yml").read_text(encoding="utf-8"))
    config["pipeline"] = [c for c in config["pipeline"] if c["name"] != "FallbackClassifier"]
    config["policies"] = []
    path = tmp / "config.yml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def write_nlu(path: Path, pairs: list[tuple[str, str]]) -> None:
    by_intent: dict[str, list[str]] = {}
    for text, intent in pairs:
        by_intent.setdefault(intent, []).append(" ".join(text.split()))
    nlu = [
        {"intent": intent, "examples": "".join(f"- {t}\n" for t in texts)}
        for intent, texts in by_intent.items()
    ]
    path.write_text(
        yaml.safe_dump({"version": "3.1", "nlu": nlu}, allow_unicode=True), encoding="utf-8"
    )


def train(tmp: Path, nlu: Path) -> tuple[Path, float]:
    t0 = time.monotonic()
    subprocess.run(
        [str(RASA_VENV / "bin" / "rasa"), "train", "nlu", "--nlu", str(nlu), "--config",
         str(pipeline_config(tmp)), "--out", str(tmp), "--fixed-model-name", "m"],
        cwd=PROJECT_ROOT, env=quiet_env(), check=True, capture_output=True,
    )  # fmt: skip
    return tmp / "m.tar.gz", time.monotonic() - t0


def predict(model: Path, texts: list[str]) -> list[str]:
    return [str(p["intent"]) for p in classify(texts, model)]


def clinc150() -> None:
    data: dict[str, Any] = json.loads((BENCHMARKS / "clinc150" / "data_full.json").read_text())
    train_pairs = [(t, i) for t, i in data["train"] + data["oos_train"]]
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        write_nlu(tmp / "train.yml", train_pairs)
        model, seconds = train(tmp, tmp / "train.yml")
        test = data["test"] + data["oos_test"]
        predicted = predict(model, [t for t, _ in test])
    in_scope = [(g, p) for (_, g), p in zip(test, predicted, strict=True) if g != "oos"]
    oos = [(g, p) for (_, g), p in zip(test, predicted, strict=True) if g == "oos"]
    acc = sum(g == p for g, p in in_scope) / len(in_scope)
    recall = sum(p == "oos" for _, p in oos) / len(oos)
    print(
        f"CLINC150 full: train {len(train_pairs)} examples in {seconds:.0f}s; "
        f"in-scope accuracy {acc:.3f} (n={len(in_scope)}), out-of-scope recall {recall:.3f} "
        f"(n={len(oos)}); published: Rasa 0.915/0.453, Dialogflow 0.917/0.140, BERT 0.969/0.403"
    )


def xsid(lang: str) -> None:
    folder = BENCHMARKS / "xsid"
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        model, seconds = train(tmp, folder / f"{lang}.valid.yml")
        test = load_examples(folder / f"{lang}.test.yml")
        predicted = predict(model, [e.text for e in test])
    acc = sum(e.intent == p for e, p in zip(test, predicted, strict=True)) / len(test)
    n_train = len(load_examples(folder / f"{lang}.valid.yml"))
    print(
        f"xSID {lang}: train {n_train} (valid file) in {seconds:.0f}s; "
        f"test accuracy {acc:.3f} (n={len(test)})"
    )


if __name__ == "__main__":
    xsid("zh")
    xsid("ar")
    clinc150()
