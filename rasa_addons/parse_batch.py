"""Parse many texts with a trained model, inside the Rasa runtime (.venv-rasa).

Used by `expatbot nlu eval`: the same model file and the same graph as the Rasa server,
without starting a server. Reads a JSON list of texts from IN, writes a JSON list of
{"intent", "confidence", "fallback", "entities"} to OUT (not stdout: Rasa logs there).

    .venv-rasa/bin/python -m rasa_addons.parse_batch models/model-<hash>.tar.gz IN OUT
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys


async def main(model: str, source: str, target: str) -> None:
    from rasa.core.agent import Agent

    with open(source, encoding="utf-8") as f:
        texts = json.load(f)
    agent = Agent.load(model)
    out = []
    for text in texts:
        parsed = await agent.parse_message(text)
        ranking = [r for r in parsed.get("intent_ranking", []) if r["name"] != "nlu_fallback"]
        top = ranking[0] if ranking else {"name": None, "confidence": 0.0}
        out.append(
            {
                "intent": top["name"],
                "confidence": top["confidence"],
                "fallback": parsed["intent"]["name"] == "nlu_fallback",
                "entities": [
                    {"entity": e["entity"], "value": e["value"]} for e in parsed.get("entities", [])
                ],
            }
        )
    with open(target, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False)


if __name__ == "__main__":
    logging.disable(logging.WARNING)
    asyncio.run(main(*sys.argv[1:4]))
