"""`expatbot nlu eval`: how well the assistant understands, per language, measured honestly.

Each example is classified exactly as the running assistant classifies a message: the
gateway's cleaning (bot.nlu.sanitize), then the trained model with its own normalisation
(rasa_addons), run by the Rasa runtime. The held-out split (tests/data/nlu_heldout/)
is never trained on: nlu_data/ holds the training data and Rasa reads only that.

With FILEs named, those files are the set: all evaluated together, each example under
its file's language (a file named <lang>.yml), and the JSON and the table give the same
figures. Without, the held-out split is the set, with the non-native English set
(tests/data/nlu_heldout_nonnative/).

Groups of writers are reported as rows of their own: a file in a directory named
nlu_heldout_<group> is the group "<lang>-<group>" (non-native English: en-nonnative),
counted in that row instead of its language's, so that the language's row stays
comparable over time; an example whose metadata names its dialect counts in its language
and in "<lang>-dialects" and "<lang>-<dialect>" (the Arabic held-out file's Egyptian,
Gulf, Levantine, Maghrebi and MSA lines).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import tomllib
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ConfigurationError
from bot.i18n import SUPPORTED_LANGUAGES
from bot.nlu import langid
from bot.nlu.rasa_runtime import RASA_VENV, ensure_model, quiet_env
from bot.nlu.sanitize import clean
from bot.settings import PROJECT_ROOT

HELDOUT_DIR = PROJECT_ROOT / "tests" / "data" / "nlu_heldout"
NONNATIVE_DIR = PROJECT_ROOT / "tests" / "data" / "nlu_heldout_nonnative"
_GROUP_DIR = "nlu_heldout_"


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    language: str | None  # known from the file name, else None
    source: str
    # The groups of writers it belongs to ("en-nonnative", "ar-dialects", "ar-gulf"):
    # rows of their own in the report.
    groups: tuple[str, ...] = ()
    # Counted in its groups only, not in its language's row (a set of its own).
    apart: bool = False


@dataclass
class Scores:
    n: int = 0
    correct: int = 0
    langid_n: int = 0
    langid_correct: int = 0
    pairs: Counter[tuple[str, str]] = field(default_factory=Counter)
    gold: list[str] = field(default_factory=list)
    predicted: list[str] = field(default_factory=list)

    def add(self, gold: str, predicted: str) -> None:
        self.n += 1
        self.correct += gold == predicted
        self.gold.append(gold)
        self.predicted.append(predicted)
        if gold != predicted:
            self.pairs[(gold, predicted)] += 1

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0

    @property
    def macro_f1(self) -> float:
        return macro_f1(self.gold, self.predicted)

    @property
    def langid_accuracy(self) -> float | None:
        return self.langid_correct / self.langid_n if self.langid_n else None

    def row(self) -> dict[str, Any]:
        """One row of the JSON report (the table rounds the same way)."""
        lid = self.langid_accuracy
        return {
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "langid_accuracy": None if lid is None else round(lid, 4),
            "n": self.n,
        }


def macro_f1(gold: list[str], predicted: list[str]) -> float:
    """Unweighted mean F1 over the intents present in the gold labels."""
    labels = sorted(set(gold))
    if not labels:
        return 0.0
    total = 0.0
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(g != label and p == label for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted, strict=True))
        total += 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return total / len(labels)


def load_examples(path: Path) -> list[Example]:
    """Examples of a Rasa-format NLU file; a file named <lang>.yml gives their language."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        # A file someone named on the command line: say which and where, in one line.
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigurationError(f"{path} is not valid YAML{where}") from exc
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path} is not a Rasa NLU file (no 'nlu:' list)")
    lang = path.stem if path.stem in SUPPORTED_LANGUAGES else None
    file_groups: tuple[str, ...] = ()
    if lang and path.parent.name.startswith(_GROUP_DIR):
        file_groups = (f"{lang}-{path.parent.name[len(_GROUP_DIR) :]}",)
    examples = []
    for block in data.get("nlu") or []:
        if not isinstance(block, dict):
            continue
        if "intent" not in block:
            continue
        intent = str(block["intent"])
        listed = block.get("examples", "")
        if isinstance(listed, list):
            # Rasa's long form: each example a mapping of text and metadata.
            for item in listed:
                if not isinstance(item, dict) or not str(item.get("text", "")).strip():
                    continue
                text = str(item["text"]).strip().removeprefix("- ").strip()
                meta = item.get("metadata") or {}
                dialect = meta.get("dialect") if isinstance(meta, dict) else None
                groups = file_groups
                if dialect and lang:
                    groups += (f"{lang}-dialects", f"{lang}-{dialect}")
                examples.append(
                    Example(text, intent, lang, path.name, groups, apart=bool(file_groups))
                )
            continue
        for line in str(listed).splitlines():
            line = line.strip()
            if line.startswith("- "):
                examples.append(
                    Example(
                        line[2:].strip(), intent, lang, path.name, file_groups, bool(file_groups)
                    )
                )
    return examples


def heldout_files() -> list[Path]:
    """The held-out split, then the non-native English set."""
    return sorted(HELDOUT_DIR.glob("*.yml")) + sorted(NONNATIVE_DIR.glob("*.yml"))


# What classifies the cleaned texts with a model: Rasa's own parser, or a stand-in in tests.
Classifier = Callable[[list[str], Path], list[dict[str, Any]]]


def classify(texts: list[str], model: Path) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "in.json", Path(tmp) / "out.json"
        source.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        result = subprocess.run(
            [
                str(RASA_VENV / "bin" / "python"),
                "-m",
                "rasa_addons.parse_batch",
                str(model),
                str(source),
                str(target),
            ],
            capture_output=True,
            text=True,
            cwd=PROJECT_ROOT,
            env=quiet_env(),
            check=False,
        )
        if result.returncode != 0 or not target.exists():
            raise RuntimeError(f"parse_batch failed:\n{result.stderr[-3000:]}")
        parsed: list[dict[str, Any]] = json.loads(target.read_text(encoding="utf-8"))
    return parsed


@dataclass
class Report:
    overall: Scores
    languages: dict[str, Scores]
    groups: dict[str, Scores] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "overall": {
                "accuracy": round(self.overall.accuracy, 4),
                "macro_f1": round(self.overall.macro_f1, 4),
                "n": self.overall.n,
            },
            "languages": {lang: s.row() for lang, s in sorted(self.languages.items())},
            "groups": {name: s.row() for name, s in sorted(self.groups.items())},
        }


def evaluate(
    examples: list[Example], model: Path, *, classifier: Classifier | None = None
) -> Report:
    """Scores of one set: every example counts once overall and once in its language
    (its file's, else the detected one)."""
    cleaned = [clean(e.text, max_chars=2000).text for e in examples]
    predictions = (classifier or classify)(cleaned, model)
    overall = Scores()
    languages: dict[str, Scores] = defaultdict(Scores)
    groups: dict[str, Scores] = defaultdict(Scores)
    for example, text, pred in zip(examples, cleaned, predictions, strict=True):
        detected = langid.decide(text, chosen=None, conversation=None, client=None).language
        lang = example.language or detected
        predicted = pred["intent"] or ""
        overall.add(example.intent, predicted)
        rows = [groups[g] for g in example.groups]
        if not example.apart:
            rows.append(languages[lang])
        for scores in rows:
            scores.add(example.intent, predicted)
            if example.language:
                scores.langid_n += 1
                scores.langid_correct += detected == example.language
    return Report(overall, dict(languages), dict(groups))


@dataclass(frozen=True)
class Thresholds:
    language_accuracy: float
    overall_accuracy: float
    langid_accuracy: float
    # Language equity: no language, nor a group held to it, more than this below the
    # best language.
    max_gap_to_best: float = 1.0
    equity_groups: tuple[str, ...] = ()


def thresholds() -> Thresholds:
    data = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    t = data["tool"]["expatbot"]["nlu_eval"]
    return Thresholds(
        float(t["min_language_accuracy"]),
        float(t["min_overall_accuracy"]),
        float(t["min_langid_accuracy"]),
        float(t.get("max_gap_to_best", 1.0)),
        tuple(str(g) for g in t.get("equity_groups", ())),
    )


def failures(report: Report, limits: Thresholds) -> list[str]:
    found = []
    if report.overall.accuracy < limits.overall_accuracy:
        found.append(f"overall accuracy {report.overall.accuracy:.3f} < {limits.overall_accuracy}")
    for lang, s in sorted((report.languages | report.groups).items()):
        if s.accuracy < limits.language_accuracy:
            found.append(f"{lang}: accuracy {s.accuracy:.3f} < {limits.language_accuracy}")
        if s.langid_accuracy is not None and s.langid_accuracy < limits.langid_accuracy:
            found.append(f"{lang}: lang-id {s.langid_accuracy:.3f} < {limits.langid_accuracy}")
    if report.languages:
        best = max(report.languages, key=lambda lang: report.languages[lang].accuracy)
        top = report.languages[best].accuracy
        held = dict(report.languages)
        held |= {g: report.groups[g] for g in limits.equity_groups if g in report.groups}
        for name, s in sorted(held.items()):
            if top - s.accuracy > limits.max_gap_to_best + 1e-9:
                found.append(
                    f"{name}: accuracy {s.accuracy:.3f} is more than "
                    f"{limits.max_gap_to_best * 100:.0f} points below the best ({best} {top:.3f})"
                )
    return found


def format_report(report: Report, *, title: str) -> str:
    """The table of ``report``, with the figures of Report.as_json (same rounding)."""
    lines = [title, f"{'lang':<13}{'n':>6}{'accuracy':>10}{'macro F1':>10}{'lang-id':>9}"]
    for lang, s in sorted(report.languages.items()):
        lid = "-" if s.langid_accuracy is None else f"{s.langid_accuracy:.4f}"
        lines.append(f"{lang:<13}{s.n:>6}{s.accuracy:>10.4f}{s.macro_f1:>10.4f}{lid:>9}")
    for name, s in sorted(report.groups.items()):
        lid = "-" if s.langid_accuracy is None else f"{s.langid_accuracy:.4f}"
        lines.append(f"{name:<13}{s.n:>6}{s.accuracy:>10.4f}{s.macro_f1:>10.4f}{lid:>9}")
    o = report.overall
    lines.append(f"{'all':<13}{o.n:>6}{o.accuracy:>10.4f}{o.macro_f1:>10.4f}")
    if o.pairs:
        lines.append("most confused (gold -> predicted):")
        for (gold, pred), count in o.pairs.most_common(8):
            lines.append(f"  {count:>3}  {gold} -> {pred}")
    return "\n".join(lines)


def evaluation_set(files: list[Path]) -> tuple[str, list[Path]]:
    """What is evaluated: the FILEs named, together; without any, the held-out split."""
    if files:
        return ", ".join(str(f) for f in files), list(files)
    return (
        "held-out split (tests/data/nlu_heldout, with tests/data/nlu_heldout_nonnative)",
        heldout_files(),
    )


def run(
    files: list[Path],
    *,
    as_json: bool,
    classifier: Classifier | None = None,
    model: Path | None = None,
) -> tuple[str, int]:
    """The report of one evaluation set (see evaluation_set) and the exit code: 1 when
    it is below a threshold of pyproject.toml or a file named holds no examples."""
    title, paths = evaluation_set(files)
    limits = thresholds()
    failed: list[str] = []
    examples: list[Example] = []
    for path in paths:
        found = load_examples(path)
        if not found:
            failed.append(f"{path}: no examples")
        examples += found
    if not examples:
        failed = failed or [f"{title}: no examples"]
        return (json.dumps({"below_threshold": failed}) if as_json else "\n".join(failed)), 1
    if model is None:
        model, _ = ensure_model()
    report = evaluate(examples, model, classifier=classifier)
    failed += failures(report, limits)
    if as_json:
        out = report.as_json()
        out["files"] = [str(p) for p in paths]
        out["below_threshold"] = failed
        return json.dumps(out, ensure_ascii=False), 1 if failed else 0
    text = format_report(report, title=title)
    if failed:
        text += "\n\nBELOW THRESHOLD:\n" + "\n".join(f"  {f}" for f in failed)
    return text, 1 if failed else 0
