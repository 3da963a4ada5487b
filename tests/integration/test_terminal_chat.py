"""`expatbot chat`: the terminal channel, typed into as a user would, against real Rasa."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import PROJECT_ROOT
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration


def test_terminal_chat_answers_and_buttons_are_numbered(stack: Stack, tmp_path: Path) -> None:
    env = dict(os.environ) | {"RASA_URL": stack.rasa_url, "EXPATBOT_VAR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "-m", "bot.ops.cli", "db", "upgrade"],
        env=env,
        check=True,
        cwd=PROJECT_ROOT,
    )
    typed = "/help\n1\nКак зарегистрироваться в полиции после переезда?\n"
    result = subprocess.run(
        [sys.executable, "-m", "bot.ops.cli", "chat", "--user", "tester"],
        input=typed,
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "[1] " in out and "[8] " in out  # the help menu, numbered
    first_title = out.split("[1] ", 1)[1].splitlines()[0]
    assert f"bot> {first_title}" in out  # typing "1" pressed the first button
    assert "bot> Регистрация проживания" in out
