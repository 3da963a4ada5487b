"""Text normalisation shared by training, prediction and evaluation (standard library only).

The same function runs inside the Rasa pipeline (rasa_addons.components) and anywhere
the project needs to see text as the model sees it, so training and prediction can
never drift apart.
"""

from __future__ import annotations

import re
import unicodedata

# Arabic-Indic (U+0660..), Persian (U+06F0..) digits; NFKC already maps full-width ones.
DIGITS = {0x0660 + i: str(i) for i in range(10)} | {0x06F0 + i: str(i) for i in range(10)}
_ARABIC_LETTERS = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ي",
        "ی": "ي",
        "ئ": "ي",
        "ک": "ك",
        "ة": "ه",
        "ۃ": "ه",
        "ھ": "ه",
        "ہ": "ه",
        "ؤ": "و",
        # Letters for sounds Arabic lacks, typed for English words and dialect sounds:
        # ڤيزا = فيزا (visa), پاسبور = باسبور (passport), گ and ڨ for the Gulf's and the
        # Maghreb's g (گرت, ڨاع), چ for the Gulf's and Iraq's ch.
        "ڤ": "ف",
        "پ": "ب",
        "گ": "ك",
        "ڨ": "ق",
        "چ": "ج",
    }
)
# Harakat, superscript alef, Quranic marks, and tatweel (a stretching stroke, not a letter).
_ARABIC_MARKS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u00ad]")
# "pleeeease", "спасибоооо", "شكراااا": three or more of one letter become two.
_REPEATS = re.compile(r"(\w)\1{2,}")
_SPACES = re.compile(r"\s+")
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_CHAR = re.compile(f"([{HAN}])")


def normalise(text: str) -> str:
    """Lower-cased, NFKC, digits to ASCII, Arabic variants unified, invisibles removed."""
    text = unicodedata.normalize("NFKC", text)
    text = INVISIBLE.sub("", text)
    text = text.translate(DIGITS)
    text = _ARABIC_MARKS.sub("", text)
    text = text.translate(_ARABIC_LETTERS)
    text = text.casefold()
    text = _REPEATS.sub(r"\1\1", text)
    return _SPACES.sub(" ", text).strip()


def spaced_han(text: str) -> str:
    """Put spaces around each Han character, so word n-grams see Chinese characters."""
    return _HAN_CHAR.sub(r" \1 ", text)
