"""The training data as Rasa sees it: valid and warning-free (the example counts per
intent and language, which need no Rasa, are in tests/unit/test_training_data.py)."""

from __future__ import annotations

import subprocess

import pytest

from bot.nlu.rasa_runtime import RASA_VENV, quiet_env
from bot.settings import PROJECT_ROOT

pytestmark = pytest.mark.integration


def test_rasa_data_validate_has_no_warnings() -> None:
    result = subprocess.run(
        [str(RASA_VENV / "bin" / "rasa"), "data", "validate", "--fail-on-warnings",
         "--data", "nlu_data", "--domain", "domain.yml", "--config", "config.yml"],
        cwd=PROJECT_ROOT, env=quiet_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
