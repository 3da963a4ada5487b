"""The staff console's own gettext domain ("staff"): every msgid that Python produces
(bot/staff/texts.py) and every _("...") of the console's templates is translated in the
console's languages (zh, en), with its %(name)s placeholders intact, and the compiled
catalogs are the ones the console uses."""

from __future__ import annotations

import ast
import io
import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from jinja2.ext import babel_extract

from bot.staff import accounts
from bot.staff import texts as staff_texts
from bot.staff.console.templating import DOMAIN, TEMPLATES, render, staff_gettext

ROOT = Path(__file__).resolve().parents[2]
PARAM = re.compile(r"%\((\w+)\)s")
# _("...") or _('...') in a template, as written (the templates use no other form).
CALL = re.compile(r"""\b_\(\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*\)""")


def python_msgids() -> list[str]:
    tree = ast.parse((ROOT / "bot" / "staff" / "texts.py").read_text(encoding="utf-8"))
    found = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            assert isinstance(node.value.func, ast.Name) and node.value.func.id == "N_"
            arg = node.value.args[0]
            assert isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            found.append(arg.value)
    return found


def templates() -> list[Path]:
    return sorted(TEMPLATES.glob("*.html"))


def template_msgids() -> set[str]:
    found: set[str] = set()
    for path in templates():
        for double, single in CALL.findall(path.read_text(encoding="utf-8")):
            found.add(double or single)
    return found


def msgids() -> set[str]:
    return set(python_msgids()) | template_msgids()


def catalog(lang: str) -> Catalog:
    with (ROOT / "locales" / lang / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as f:
        return read_po(f)


def translated(po: Catalog, msgid: str) -> str:
    """The catalog's translation of ``msgid`` ("" when it has none or it is fuzzy)."""
    message = po.get(msgid)
    if message is None or message.fuzzy or not isinstance(message.string, str):
        return ""
    return message.string


def test_the_msgids_are_found() -> None:
    assert staff_texts.LOGIN_WRONG in python_msgids() and len(python_msgids()) >= 6
    ids = template_msgids()
    assert {"Queue", "Take this chat", "Transcript", "Audit log", "Log in"} <= ids
    assert len(ids) > 100


def test_the_templates_mark_texts_only_as_babel_extracts_them() -> None:
    """What the test reads from the templates is what `make extract` finds (Jinja's own
    extractor, as babel-staff.cfg uses it), and there are no {% trans %} blocks."""
    extracted: set[str] = set()
    for path in templates():
        source = path.read_text(encoding="utf-8")
        assert "{% trans" not in source and "{%- trans" not in source, path.name
        for _line, function, message, _comments in babel_extract(
            io.BytesIO(source.encode("utf-8")), ["_", "gettext"], [], {}
        ):
            assert function == "_", f"{path.name}: use _() only, not {function}()"
            assert isinstance(message, str), f"{path.name}: {message!r}"
            extracted.add(message)
    assert extracted == template_msgids()


@pytest.mark.parametrize("lang", accounts.CONSOLE_LANGUAGES)
def test_every_msgid_is_translated_with_its_placeholders(lang: str) -> None:
    po = catalog(lang)
    for msgid in sorted(msgids()):
        text = translated(po, msgid)
        assert text, f"{lang}: no translation (or a fuzzy one) for {msgid!r}"
        assert set(PARAM.findall(text)) == set(PARAM.findall(msgid)), (lang, msgid)
        # A stray % would break the formatting of the texts that are formatted.
        assert text.count("%") == len(PARAM.findall(text)), (lang, msgid)
    # Nothing in the catalog that nothing uses any more (run `make extract`).
    unused = {m.id for m in po if m.id} - msgids()
    assert not unused, f"{lang}: msgids no longer used: {sorted(unused)}"


def test_the_chinese_catalog_is_in_chinese() -> None:
    po = catalog("zh")
    names = {"Telegram"}  # a proper name stays as it is
    for msgid in sorted(msgids() - names):
        text = translated(po, msgid)
        assert re.search(r"[\u4e00-\u9fff]", text), f"not Chinese: {msgid!r} -> {text!r}"


@pytest.mark.parametrize("lang", accounts.CONSOLE_LANGUAGES)
def test_the_compiled_catalog_is_used(lang: str) -> None:
    mo = ROOT / "locales" / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
    assert mo.exists(), "run `make catalogs`"
    assert mo.stat().st_mtime >= (mo.with_suffix(".po")).stat().st_mtime, "run `make catalogs`"
    po = catalog(lang)
    for msgid in python_msgids():
        assert staff_gettext(lang, msgid) == translated(po, msgid)
    page = render("login.html", lang=lang, staff=None, login_token="t", message="", need_code=False,
                  name="", next="/staff")  # fmt: skip
    assert f"<h1>{translated(po, 'Log in')}</h1>" in page
    if lang == "zh":
        assert "<h1>登录</h1>" in page and "Log in" not in page
