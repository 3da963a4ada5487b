"""Entities as users type them, in six languages and three digit systems."""

from __future__ import annotations

import pytest

from rasa_addons.entities import extract


def values(text: str) -> list[tuple[str, str]]:
    return [(e.entity, e.value) for e in extract(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my card number is 1234 5678 9012", [("card_number", "123456789012")]),
        ("номер карты 1234-5678-9012", [("card_number", "123456789012")]),
        ("卡号：１２３４５６７８９０１２", [("card_number", "123456789012")]),
        ("رقم البطاقة ١٢٣٤٥٦٧٨٩٠١٢", [("card_number", "123456789012")]),
        ("carte YW 20160712 88", [("card_number", "YW2016071288")]),
    ],
)
def test_card_numbers(text: str, expected: list[tuple[str, str]]) -> None:
    assert values(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("passport E12345678", [("passport_number", "E12345678")]),
        ("мой паспорт: 7512 345678?", [("passport_number", "7512345678")]),
        ("护照号 G3456789", [("passport_number", "G3456789")]),
        ("رقم جواز السفر A1234567", [("passport_number", "A1234567")]),
        ("mi pasaporte es XDA123456", [("passport_number", "XDA123456")]),
        ("numéro AB 1234567 svp", [("passport_number", "AB1234567")]),
    ],
)
def test_passport_numbers(text: str, expected: list[tuple[str, str]]) -> None:
    found = [v for v in values(text) if v[0] == "passport_number"]
    assert found == expected


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("status of ticket 452", "452"),
        ("что с моей жалобой №1023", "1023"),
        ("投诉单号 88017 有进展吗", "88017"),
        ("ما حالة الشكوى رقم ٥٦٧", "567"),
        ("des nouvelles de ma plainte n° 77 ?", "77"),
        ("mi queja #3310", "3310"),
        ("T-2045 any update", "T-2045"),
    ],
)
def test_ticket_numbers(text: str, value: str) -> None:
    assert ("ticket_number", value) in values(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("born 1990-04-03", "1990-04-03"),
        ("1990年4月3日出生", "1990-04-03"),
        ("3 April 1990", "1990-04-03"),
        ("April 3rd, 1990", "1990-04-03"),
        ("le 3 avril 1990", "1990-04-03"),
        ("3 de abril de 1990", "1990-04-03"),
        ("3 апреля 1990", "1990-04-03"),
        ("25/12/1988", "1988-12-25"),  # only one reading is a date
        ("3/4/1990", "03/04/1990|04/03/1990"),  # ambiguous: the asker must ask back
        ("٣/٤/١٩٩٠", "03/04/1990|04/03/1990"),
        ("05.05.1985", "1985-05-05"),
    ],
)
def test_dates(text: str, value: str) -> None:
    assert values(text) == [("date", value)]


def test_dates_are_not_card_numbers_and_phones_are_not_cards() -> None:
    assert values("1990-04-03") == [("date", "1990-04-03")]
    assert values("call me 13812345678") == []


def test_spans_point_at_the_original_text() -> None:
    text = "ticket 452 and card 1234 5678 9012"
    found = extract(text)
    assert [(e.entity, text[e.start : e.end]) for e in found] == [
        ("ticket_number", "452"),
        ("card_number", "1234 5678 9012"),
    ]
    for e in found:
        assert text[e.start : e.end].replace(" ", "") in (e.value, e.value.lower())


def test_nothing_in_plain_questions() -> None:
    assert values("how do I extend my visa for 30 days?") == []
    assert values("12367") == []
