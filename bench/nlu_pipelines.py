"""Compare NLU pipelines on the held-out split: accuracy per language, macro F1, training
time, model size and parse latency. Each candidate is a config in bench/pipelines/.

Usage: .venv/bin/python bench/nlu_pipelines.py [NAME ...]   (default: all candidates)
Prints one row per pipeline; docs/nlu.md records the results.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot.nlu.evaluation import evaluate, heldout_files, load_examples
from bot.nlu.rasa_runtime import RASA_VENV, quiet_env
from bot.settings import PROJECT_ROOT

PIPELINES = PROJECT_ROOT / "bench" / "pipelines"
LATENCY_PROBE = """
import asyncio, json, sys, time
from rasa.core.agent import Agent

async def main():
    agent = Agent.load(sys.argv[1])
    texts = json.load(open(sys.argv[2]))
    for t in texts[:20]:
        await agent.parse_message(t)
    times = []
    for t in texts:
        t0 = time.perf_counter()
        await agent.parse_message(t)
        times.append(time.perf_counter() - t0)
    times.sort()
    print(json.dumps({"p95": times[int(len(times) * 0.95)] * 1000}))

asyncio.run(main())
"""
HEADER = "pipeline | en | zh | ar | ru | fr | es | overall | macro F1 | train s | MB | p95 ms"


def parse_p95_ms(model: Path, texts: list[str], tmp: Path) -> float:
    """95th-percentile time of one parse, in the Rasa runtime, after a warm-up."""
    source = tmp / "latency.json"
    source.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    probe = subprocess.run(
        [str(RASA_VENV / "bin" / "python"), "-c", LATENCY_PROBE, str(model), str(source)],
        cwd=PROJECT_ROOT,
        env=quiet_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return float("nan")
    return float(json.loads(probe.stdout.strip().splitlines()[-1])["p95"])


def main(names: list[str]) -> None:
    configs = [PIPELINES / f"{n}.yml" for n in names] or sorted(PIPELINES.glob("*.yml"))
    examples = [e for p in heldout_files() for e in load_examples(p)]
    print(f"held-out examples: {len(examples)}; training data: nlu_data/ (all languages)")
    print(HEADER)
    for config in configs:
        with tempfile.TemporaryDirectory() as tmp_dir:
            tmp = Path(tmp_dir)
            t0 = time.monotonic()
            subprocess.run(
                [
                    str(RASA_VENV / "bin" / "rasa"),
                    "train",
                    "nlu",
                    "--nlu",
                    "nlu_data",
                    "--config",
                    str(config),
                    "--out",
                    str(tmp),
                    "--fixed-model-name",
                    "m",
                ],
                cwd=PROJECT_ROOT,
                env=quiet_env(),
                check=True,
                capture_output=True,
            )
            train_s = time.monotonic() - t0
            model = tmp / "m.tar.gz"
            report = evaluate(examples, model)
            p95 = parse_p95_ms(model, [e.text for e in examples[::3]], tmp)
            langs = " | ".join(
                f"{report.languages[lang].accuracy:.3f}"
                for lang in ("en", "zh", "ar", "ru", "fr", "es")
            )
            overall = report.overall
            size_mb = model.stat().st_size / 1e6
            print(
                f"{config.stem} | {langs} | {overall.accuracy:.3f} | {overall.macro_f1:.3f} | "
                f"{train_s:.0f} | {size_mb:.1f} | {p95:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main(sys.argv[1:])
