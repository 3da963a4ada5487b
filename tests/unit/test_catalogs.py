"""Every UI string is translated in every language, with its placeholders intact."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot import texts
from bot.i18n import SUPPORTED_LANGUAGES, gettext

ROOT = Path(__file__).resolve().parents[2]
PARAM = re.compile(r"%\((\w+)\)s")


def msgids() -> list[str]:
    tree = ast.parse((ROOT / "bot" / "texts.py").read_text())
    found = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            arg = node.value.args[0]
            assert isinstance(arg, ast.Constant)
            found.append(arg.value)
    return found


def test_texts_module_lists_msgids() -> None:
    assert texts.GREETING in msgids() and len(msgids()) > 20


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_catalog_translates_every_msgid(lang: str) -> None:
    po = ROOT / "locales" / lang / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as f:
        catalog = read_po(f)
    for msgid in msgids():
        message = catalog.get(msgid)
        assert message is not None and message.string, f"{lang}: no translation for {msgid!r}"
        assert not message.fuzzy, f"{lang}: fuzzy translation for {msgid!r}"
        assert set(PARAM.findall(message.string)) == set(PARAM.findall(msgid)), msgid


@pytest.mark.parametrize("lang", SUPPORTED_LANGUAGES)
def test_compiled_catalog_is_used(lang: str) -> None:
    mo = ROOT / "locales" / lang / "LC_MESSAGES" / "messages.mo"
    assert mo.exists(), "run `make catalogs`"
    if lang != "en":
        assert gettext(lang, texts.GOODBYE) != texts.GOODBYE
