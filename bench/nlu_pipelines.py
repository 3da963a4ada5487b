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

from bot.nlu_eval import evaluate, heldout_files, load_examples
from bot.rasa_runtime import RASA_VENV, quiet_env
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
        t0 = time.perf_counter(); await agent.parse_message(t); times.append(time.perf_counter() - t0)
    times.sort()
    print(json.dumps({"p50": times[len(times) // 2] * 1000, "p95": times[int(len(times) * 0.95)] * 1000}))
asyncio.run(main())
"""


def main(names: list[str]) -> None:
    configs = [PIPELINES / f"{n}.yml" for n in names] or sorted(PIPELINES.glob("*.yml"))
    examples = [e for p in heldout_files() for e in load_examples(p)]
    print(f"held-out examples: {len(examples)}; training data: nlu_data/ (all languages)")
    print("pipeline | en | zh | ar | ru | fr | es | overall | macro F1 | train s | model MB | parse p95 ms")
    for config in configs:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.monotonic()
            subprocess.run(
                [str(RASA_VENV / "bin" / "rasa"), "train", "nlu", "--nlu", "nlu_data",
                 "--config", str(config), "--out", tmp, "--fixed-model-name", "m"],
                cwd=PROJECT_ROOT, env=quiet_env(), check=True, capture_output=True,
            )  # fmt: skip
            train_s = time.monotonic() - t0
            model = Path(tmp) / "m.tar.gz"
            report = evaluate(examples, model)
            probe = subprocess.run(
                [str(RASA_VENV / "bin" / "python"), "-c", LATENCY_PROBE, str(model), str(Path(tmp) / "t.json")],
                cwd=PROJECT_ROOT, env=quiet_env(), capture_output=True, text=True,
                input=None, check=False,
            ) if (Path(tmp) / "t.json").write_text(json.dumps([e.text for e in examples[::3]])) else None  # fmt: skip
            lat = json.loads(probe.stdout.strip().splitlines()[-1]) if probe and probe.returncode == 0 else {"p95": float("nan")}
            langs = " | ".join(f"{report.languages[lang].accuracy:.3f}" for lang in ("en", "zh", "ar", "ru", "fr", "es"))
            print(
                f"{config.stem} | {langs} | {report.overall.accuracy:.3f} | {report.overall.macro_f1:.3f} | "
                f"{train_s:.0f} | {model.stat().st_size / 1e6:.1f} | {lat['p95']:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main(sys.argv[1:])
