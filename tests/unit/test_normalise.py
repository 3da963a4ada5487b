from __future__ import annotations

from rasa_addons.normalise import normalise, spaced_han


def test_digits_of_every_script_become_ascii() -> None:
    assert normalise("٣٠ يوم ۱۲ ３０") == "30 يوم 12 30"


def test_arabic_variants_diacritics_and_tatweel() -> None:
    assert normalise("أَهْلاً بِكُمْ") == normalise("اهلا بكم")
    assert normalise("مـــرحبا") == "مرحبا"
    assert normalise("إقامة") == normalise("اقامه")
    assert normalise("تأشيرة مستشفى") == "تاشيره مستشفي"


def test_letters_typed_for_english_words_and_dialect_sounds() -> None:
    """Issue 15: the same word typed with the letters people use for v, p, g and ch."""
    assert normalise("ڤيزا") == normalise("فيزا")
    assert normalise("الپاسبور") == normalise("الباسبور")
    assert normalise("گرت التاجر") == normalise("كرت التاجر")
    assert normalise("ڨاع") == normalise("قاع")
    assert normalise("چم يوم") == normalise("جم يوم")
    assert normalise("اقامۃ ھنا") == normalise("اقامة هنا")


def test_zero_width_and_direction_marks_removed() -> None:
    assert normalise("vi\u200bsa\u200f") == "visa"


def test_long_letter_runs_shortened() -> None:
    assert normalise("pleeeeease") == "pleease"
    assert normalise("спасибоооо") == "спасибоо"


def test_case_and_fullwidth() -> None:
    assert normalise("ＶＩＳＡ Extension") == "visa extension"


def test_han_characters_spaced() -> None:
    assert spaced_han("visa怎么办").split() == ["visa", "怎", "么", "办"]
