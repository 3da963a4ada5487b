"""The ticket form's free-text answers in every language (bot/tickets/choices.py; the words:
locales/*/words.yml)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.settings import PROJECT_ROOT, get_settings
from bot.tickets.choices import is_done, is_skip, match_kind, match_want, relative_day

LOCALES = PROJECT_ROOT / "locales"
TODAY = dt.date(2026, 3, 1)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("My supplier did not deliver", "supplier"),
        ("the FACTORY", "supplier"),
        ("supplier", "supplier"),
        ("工厂不发货", "supplier"),
        ("厂家", "supplier"),
        ("المورد لم يرسل البضاعة", "supplier"),
        ("Поставщик не отвечает", "supplier"),
        ("с поставщиком", "supplier"),
        ("mon fournisseur", "supplier"),
        ("el proveedor", "supplier"),
        ("landlord", "landlord"),  # the code itself: a button's payload
        ("The landlord keeps my deposit", "landlord"),
        ("房东不退押金", "landlord"),
        ("صاحب الشقة", "landlord"),
        ("хозяин квартиры", "landlord"),
        ("le propriétaire", "landlord"),
        ("mi casero", "landlord"),
        ("a market stall", "shop"),
        ("摊位", "shop"),
        ("المحل", "shop"),
        ("магазин", "shop"),
        ("la boutique", "shop"),
        ("la tienda", "shop"),
        ("freight forwarder lost my goods", "logistics"),
        ("货代", "logistics"),
        ("شركة الشحن", "logistics"),
        ("карго", "logistics"),
        ("le transitaire", "logistics"),
        ("la paquetería", "logistics"),
        ("other", "other"),
        ("其他", "other"),
        ("autre chose", "other"),
        ("the other supplier", "supplier"),  # "other" gives way
    ],
)
def test_kinds(text: str, kind: str) -> None:
    assert match_kind(text, locales=LOCALES) == kind


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "the supplier's shop",  # two kinds: asked again with buttons
        "工厂和物流",
        "shopping",  # whole words only
        "supplierss",
    ],
)
def test_no_kind(text: str) -> None:
    assert match_kind(text, locales=LOCALES) is None


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("I want a refund", "refund"),
        ("my money back please", "refund"),
        ("退款", "refund"),
        ("استرداد المبلغ", "refund"),
        ("верните деньги", "refund"),
        ("remboursement", "refund"),
        ("reembolso", "refund"),
        ("replacement", "replacement"),
        ("换货", "replacement"),
        ("استبدال", "replacement"),
        ("замена", "replacement"),
        ("échange", "replacement"),
        ("reemplazo", "replacement"),
        ("deposit_back", "deposit_back"),
        ("deposit back", "deposit_back"),
        ("refund my deposit", "deposit_back"),  # "refund" gives way
        ("退押金", "deposit_back"),
        ("استرداد التأمين", "deposit_back"),
        ("вернуть залог", "deposit_back"),
        ("ma caution", "deposit_back"),
        ("la fianza", "deposit_back"),
        ("mediation", "mediation"),
        ("调解", "mediation"),
        ("وساطة", "mediation"),
        ("посредничество", "mediation"),
        ("médiation", "mediation"),
        ("mediación", "mediation"),
    ],
)
def test_wants(text: str, want: str) -> None:
    assert match_want(text, locales=LOCALES) == want


@pytest.mark.parametrize("text", ["", "whatever", "refund or replacement", "退款或者换货"])
def test_no_want(text: str) -> None:
    assert match_want(text, locales=LOCALES) is None


@pytest.mark.parametrize(
    "text",
    [
        "skip",
        "Skip!",
        " SKIP. ",
        "none",
        "no",
        "I don't know",
        "I don\u2019t know",
        "idk 🤷",
        "跳过",
        "不知道。",
        "没有",
        "تخطي",
        "لا يوجد",
        "пропустить",
        "Нет",
        "не знаю",
        "passer",
        "aucun",
        "Je ne sais pas.",
        "omitir",
        "ninguno",
        "no sé",
        "No se",
    ],
)
def test_skip(text: str) -> None:
    assert is_skip(text, locales=LOCALES)


@pytest.mark.parametrize("text", ["", "?", "no thanks", "skip this one", "500", "done"])
def test_not_skip(text: str) -> None:
    assert not is_skip(text, locales=LOCALES)


@pytest.mark.parametrize(
    "text",
    [
        "done",
        "Done!",
        "that's all",
        "That\u2019s all.",
        "完成",
        "好了",
        "没有了",
        "تم",
        "خلاص",
        "готово",
        "Всё",
        "все!",
        "terminé",
        "Fini",
        "c'est tout",
        "listo",
        "ya está",
    ],
)
def test_done(text: str) -> None:
    assert is_done(text, locales=LOCALES)


@pytest.mark.parametrize("text", ["", "not done", "done?? no wait, one more", "没有", "skip"])
def test_not_done(text: str) -> None:
    assert not is_done(text, locales=LOCALES)


@pytest.mark.parametrize(
    ("text", "days_back"),
    [
        ("today", 0),
        ("It happened today", 0),
        ("今天", 0),
        ("اليوم", 0),
        ("сегодня", 0),
        ("aujourd'hui", 0),
        ("aujourd\u2019hui", 0),
        ("hoy", 0),
        ("yesterday", 1),
        ("昨天下午", 1),
        ("أمس", 1),
        ("امس", 1),
        ("вчера", 1),
        ("hier", 1),
        ("ayer", 1),
        ("the day before yesterday", 2),  # not "yesterday"
        ("前天", 2),
        ("أول أمس", 2),
        ("позавчера", 2),
        ("avant-hier", 2),
        ("Avant hier", 2),
        ("anteayer", 2),
        ("antes de ayer", 2),
    ],
)
def test_relative_days(text: str, days_back: int) -> None:
    assert relative_day(text, today=TODAY, locales=LOCALES) == TODAY - dt.timedelta(days_back)


@pytest.mark.parametrize("text", ["", "last week", "3 April", "yesterday or today", "hieroglyph"])
def test_no_relative_day(text: str) -> None:
    assert relative_day(text, today=TODAY, locales=LOCALES) is None


@pytest.fixture
def german(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The shipped files and a German one, as the settings' locales."""
    for lang in ("en", "zh"):
        (tmp_path / lang).mkdir()
        (tmp_path / lang / "words.yml").write_bytes((LOCALES / lang / "words.yml").read_bytes())
    (tmp_path / "de").mkdir()
    (tmp_path / "de" / "words.yml").write_text(
        'dispute_kinds: {supplier: ["lieferant"], landlord: ["vermieter"]}\n'
        'skip: ["überspringen"]\ndone: ["fertig"]\n'
        'relative_days: {yesterday: ["gestern"], day_before_yesterday: ["vorgestern"]}\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("EXPATBOT_LOCALES", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    monkeypatch.undo()
    get_settings.cache_clear()


def test_a_language_is_a_file_and_the_default_is_the_settings(german: Path) -> None:
    assert match_kind("Mein Vermieter") == "landlord"
    assert match_kind("the landlord") == "landlord"  # the others stay
    assert is_skip("Überspringen!") and is_done("fertig")
    assert relative_day("vorgestern", today=TODAY) == dt.date(2026, 2, 27)
    assert match_kind("Mein Vermieter", locales=LOCALES) is None
