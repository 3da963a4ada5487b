"""The words matched in what users type are data: locales/<lang>/words.yml (issue 10, item 7).

Every word the code used to hold is in the files, each file has the expected shape, a new
language is a new file and nothing else, and a broken file never takes away the words that
worked (rasa_addons/words.py).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from babel.numbers import list_currencies
from rasa_sdk import Tracker

from actions import linking
from bot.nlu import langid
from bot.ops.supervisor import rasa_service
from bot.pipeline import account_commands
from bot.pipeline.account_commands import Command
from bot.records import references
from bot.settings import PROJECT_ROOT, Settings, get_settings
from bot.tickets import choices
from rasa_addons import words
from rasa_addons.entities import extract, month_numbers
from rasa_addons.words import CODES, KEYS, Words, WordsError, find, fold, load_words, parse_words

LOCALES = PROJECT_ROOT / "locales"
LANGUAGES = ("en", "zh", "ar", "ru", "fr", "es")

# --- the lists as the code held them before they became data (copied verbatim) ---------

OLD_FORGET_PHRASES = frozenset({
    "forget me", "delete my data", "delete my data please", "please forget me",
    "忘记我", "删除我的数据", "删除我的信息", "انسني", "احذف بياناتي", "امسح بياناتي",
    "забудь меня", "забудьте меня", "удалите мои данные", "удали мои данные",
    "oublie-moi", "oubliez-moi", "supprimez mes données", "supprime mes données",
    "olvídame", "olvidame", "borra mis datos", "borren mis datos", "eliminar mis datos",
})  # fmt: skip
OLD_CANCEL_WORDS = frozenset({
    "cancel", "stop", "quit", "exit", "取消", "算了", "不要了", "停止", "إلغاء", "الغاء", "توقف",
    "отмена", "стоп", "хватит", "annuler", "arrêter", "arreter", "cancelar", "parar", "salir",
})  # fmt: skip
OLD_SHORT_WORDS = {
    "en": ("hello", "hi", "hey", "thanks", "thank", "you", "bye", "goodbye", "yes", "please",
           "help",
           # Issue 15: traders' own greetings in Latin letters, in English chats.
           "ni", "hao", "nihao", "xie", "xiexie", "zaijian", "asante", "sana", "jambo",
           "shukran", "habibi", "bhai", "spasibo", "privet"),
    "fr": ("bonjour", "salut", "merci", "bonsoir", "oui", "svp", "aide", "revoir"),
    "es": ("hola", "gracias", "buenas", "adiós", "adios", "sí", "ayuda", "vale", "chao"),
}  # fmt: skip
OLD_KEYBOARD_PUNCTUATION = {"zh": "？！，。：；（）", "ar": "؟،؛"}
OLD_MONTH_NAMES = (
    "january february march april may june july august september october november december",
    "jan feb mar apr may jun jul aug sep oct nov dec",
    "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
    "января февраля марта апреля мая июня июля августа сентября октября ноября декабря",
    "январь февраль март апрель май июнь июль август сентябрь октябрь ноябрь декабрь",
    "يناير فبراير مارس أبريل مايو يونيو يوليو أغسطس سبتمبر أكتوبر نوفمبر ديسمبر",
)
OLD_MONTHS = {name: i for names in OLD_MONTH_NAMES for i, name in enumerate(names.split(), 1)}
# Which language each old list belongs to.
FORGET_BY_LANGUAGE = {
    "en": {"forget me", "delete my data", "delete my data please", "please forget me"},
    "zh": {"忘记我", "删除我的数据", "删除我的信息"},
    "ar": {"انسني", "احذف بياناتي", "امسح بياناتي"},
    "ru": {"забудь меня", "забудьте меня", "удалите мои данные", "удали мои данные"},
    "fr": {"oublie-moi", "oubliez-moi", "supprimez mes données", "supprime mes données"},
    "es": {"olvídame", "olvidame", "borra mis datos", "borren mis datos", "eliminar mis datos"},
}
CANCEL_BY_LANGUAGE = {
    "en": {"cancel", "stop", "quit", "exit"},
    "zh": {"取消", "算了", "不要了", "停止"},
    "ar": {"إلغاء", "الغاء", "توقف"},
    "ru": {"отмена", "стоп", "хватит"},
    "fr": {"annuler", "arrêter", "arreter"},
    "es": {"cancelar", "parar", "salir"},
}
MONTHS_BY_LANGUAGE = {
    "en": OLD_MONTH_NAMES[0:2],
    "fr": OLD_MONTH_NAMES[2:3],
    "es": OLD_MONTH_NAMES[3:4],
    "ru": OLD_MONTH_NAMES[4:6],
    "ar": OLD_MONTH_NAMES[6:7],
    "zh": (),
}

GERMAN = """\
# Words matched in what users type in German (de): never shown to users.
forget_me: ["vergiss mich", "lösche meine daten"]
cancel: ["abbrechen"]
short_words: ["hallo", "danke"]
keyboard_punctuation: []
months:
  - ["januar", "februar", "märz", "april", "mai", "juni",
     "juli", "august", "september", "oktober", "november", "dezember"]
"""


def shipped() -> dict[str, Words]:
    return {w.language: w for w in load_words(LOCALES)}


@pytest.fixture
def use_locales(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """EXPATBOT_LOCALES set by the test, read afresh by get_settings(), and forgotten after."""
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


# --- nothing lost ---------------------------------------------------------------------


def test_every_language_has_a_words_file() -> None:
    assert sorted(shipped()) == sorted(LANGUAGES)


def test_every_old_word_is_in_its_language_file() -> None:
    files = shipped()
    assert set().union(*FORGET_BY_LANGUAGE.values()) == OLD_FORGET_PHRASES
    assert set().union(*CANCEL_BY_LANGUAGE.values()) == OLD_CANCEL_WORDS
    for lang in LANGUAGES:
        found = files[lang]
        assert set(found.forget_me) == FORGET_BY_LANGUAGE[lang], lang
        assert set(found.cancel) == CANCEL_BY_LANGUAGE[lang], lang
        assert found.short_words == OLD_SHORT_WORDS.get(lang, ()), lang
        assert "".join(found.keyboard_punctuation) == OLD_KEYBOARD_PUNCTUATION.get(lang, ""), lang
        assert found.months == tuple(tuple(f.split()) for f in MONTHS_BY_LANGUAGE[lang]), lang


def test_the_code_matches_exactly_the_old_lists() -> None:
    """What each reader compares with, after its own normalisation, is what it had."""
    assert account_commands.forget_phrases() == OLD_FORGET_PHRASES
    # The link form reads cancel words through bot.tickets.choices, as the dispute form does.
    assert choices._whole_messages(load_words(LOCALES), "cancel") == OLD_CANCEL_WORDS
    assert all(linking.is_cancel_word(word.upper() + "!") for word in OLD_CANCEL_WORDS)
    old_short = {word: lang for lang, ws in OLD_SHORT_WORDS.items() for word in ws}
    assert langid.short_words() == old_short
    assert month_numbers() == OLD_MONTHS
    assert month_numbers(LOCALES) == OLD_MONTHS


@pytest.mark.parametrize(
    ("text", "lang"),
    [("english？", "zh"), ("ok؟", "ar"), ("merci", "fr"), ("hola", "es"), ("Hi!", "en")],
)
def test_first_message_hints_still_work(text: str, lang: str) -> None:
    assert langid.detect(text).language == lang


# --- the files' shape -------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_file_parses_strictly_with_every_key(lang: str) -> None:
    path = LOCALES / lang / "words.yml"
    text = path.read_text(encoding="utf-8")
    found = parse_words(lang, text)  # raises on any problem, unlike load_words
    assert list(yaml.safe_load(text)) == list(KEYS)  # every list named, in one order
    assert all(len(form) == 12 for form in found.months)
    assert all(len(w.split()) == 1 for w in found.short_words)
    assert all(len(m) == 1 for m in found.keyboard_punctuation)
    header = text[: text.index("\nforget_me:")].lower()
    assert "never shown to users" in header and "who edits it" in header
    assert all(line.startswith("#") or not line for line in header.splitlines())


def test_no_word_is_claimed_by_two_languages() -> None:
    """A short word or keyboard mark in two files would tell neither language apart, and
    a month name in two files with two numbers would date nothing: both are left out by
    the readers, so none may be in the shipped files."""
    files = shipped().values()
    shorts = [w.casefold() for f in files for w in f.short_words]
    marks = [m for f in files for m in f.keyboard_punctuation]
    assert len(shorts) == len(set(shorts)) and len(marks) == len(set(marks))
    numbers: dict[str, set[int]] = {}
    for f in files:
        for form in f.months:
            for i, name in enumerate(form, 1):
                numbers.setdefault(name.lower(), set()).add(i)
    assert {name: n for name, n in numbers.items() if len(n) > 1} == {}


# --- a new language is data only ----------------------------------------------------------


@pytest.fixture
def with_german(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, use_locales: None) -> Path:
    locales = tmp_path / "locales"
    shutil.copytree(LOCALES, locales)
    (locales / "de").mkdir()
    (locales / "de" / "words.yml").write_text(GERMAN, encoding="utf-8")
    monkeypatch.setenv("EXPATBOT_LOCALES", str(locales))
    get_settings.cache_clear()
    return locales


def test_without_the_file_german_is_not_recognised() -> None:
    assert account_commands.parse("Vergiss mich!") is None
    assert not linking.is_cancel_word("Abbrechen")


def test_a_german_file_adds_german_with_no_code_change(with_german: Path) -> None:
    assert get_settings().locales_dir == with_german
    assert [w.language for w in load_words()] == ["ar", "de", "en", "es", "fr", "ru", "zh"]
    # "forget me" (gateway), in any case and with punctuation, like the other languages.
    assert account_commands.parse("Vergiss mich!") == Command("forget")
    assert account_commands.parse("LÖSCHE meine Daten.") == Command("forget")
    assert account_commands.parse("forget me") == Command("forget")  # the others stay
    # The link form's cancel check (action server).
    assert linking.is_cancel_word("Abbrechen!")
    tracker = Tracker(
        "u1",
        {},
        {"text": "abbrechen", "intent": {"name": "nlu_fallback"}},
        [],
        False,
        None,
        {},
        None,
    )
    assert linking._cancel_requested(tracker, "abbrechen")
    # Month names: in Rasa (the default directory is EXPATBOT_LOCALES) and in the gateway.
    assert [e.value for e in extract("geboren 3 März 1990")] == ["1990-03-03"]
    key = b"test-key"
    assert references.birth_reference_in("3 März 1990", key=key) == references.birth_reference(
        "1990-03-03", key=key
    )
    # A short German word starts a first message in German.
    assert langid.detect("hallo").language == "de"


def test_rasa_gets_the_locales_of_the_settings(tmp_path: Path) -> None:
    """The Rasa server reads month names from the same directory as the gateway, also when
    the settings were built in code (as the integration tests build them)."""
    settings = Settings(EXPATBOT_LOCALES=tmp_path / "elsewhere")
    service = rasa_service(settings, model=tmp_path / "m.tar.gz", endpoints=tmp_path, logs=tmp_path)
    assert service.env["EXPATBOT_LOCALES"] == str(tmp_path / "elsewhere")


def test_default_directory_is_the_settings_default(
    monkeypatch: pytest.MonkeyPatch, use_locales: None
) -> None:
    monkeypatch.delenv("EXPATBOT_LOCALES", raising=False)
    assert words.locales_dir() == words.DEFAULT_LOCALES == get_settings().locales_dir
    monkeypatch.setenv("EXPATBOT_LOCALES", "/somewhere/else")
    assert words.locales_dir() == Path("/somewhere/else")
    assert words.locales_dir("/named") == Path("/named")


# --- caching and broken files --------------------------------------------------------------


def write(path: Path, text: str) -> None:
    """Write and move the modification time on, so that a same-size rewrite within the
    file system's time resolution is still seen as a change."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(before + 10**9, before + 10**9))


def test_read_once_and_again_when_changed(tmp_path: Path) -> None:
    path = tmp_path / "en" / "words.yml"
    write(path, 'cancel: ["stop"]\n')
    first = load_words(tmp_path)
    assert load_words(tmp_path) is first  # cached: nothing parsed again
    write(path, 'cancel: ["halt"]\n')
    assert load_words(tmp_path)[0].cancel == ("halt",)
    write(tmp_path / "it" / "words.yml", "# nothing yet\n")
    assert [w.language for w in load_words(tmp_path)] == ["en", "it"]


def test_a_broken_file_keeps_the_last_good_version(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "en" / "words.yml"
    write(path, 'short_words: ["yes"]\n')
    assert load_words(tmp_path)[0].short_words == ("yes",)
    write(path, "short_words: [yes, no]\n")  # unquoted: YAML reads true and false
    with caplog.at_level(logging.ERROR, logger="rasa_addons.words"):
        assert load_words(tmp_path)[0].short_words == ("yes",)
        assert load_words(tmp_path)[0].short_words == ("yes",)
    refusals = [r.getMessage() for r in caplog.records]
    assert len(refusals) == 1  # once per change, not once per message
    assert str(path) in refusals[0] and "last good version" in refusals[0]
    assert "double quotes" in refusals[0]
    write(path, 'short_words: ["yes", "no"]\n')  # fixed: used from the next read on
    assert load_words(tmp_path)[0].short_words == ("yes", "no")


def test_a_broken_file_at_start_up_leaves_its_language_without_lists(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path / "en" / "words.yml", 'cancel: ["stop"]\n')
    write(tmp_path / "xx" / "words.yml", "cancel: [stop\n")  # not YAML
    with caplog.at_level(logging.ERROR, logger="rasa_addons.words"):
        found = load_words(tmp_path)  # never raises: a message must not fail for it
    assert found == (Words("en", cancel=("stop",)), Words("xx"))
    assert "xx" in caplog.text and "until fixed" in caplog.text


def test_a_missing_directory_gives_no_words(tmp_path: Path) -> None:
    assert load_words(tmp_path / "nowhere") == ()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("- forget me\n", "must be a mapping"),
        ('cancle: ["stop"]\n', "unknown key(s) cancle"),
        ('cancel: "stop"\n', "cancel: expected a list"),
        ("cancel: [1]\n", "cancel, item 1: 1 is not text; put it in double quotes"),
        ('cancel: ["  "]\n', "cancel, item 1: empty"),
        ('short_words: ["au revoir"]\n', "is not one word"),
        ('keyboard_punctuation: ["？！"]\n', "is not one character"),
        ('months: [["jan", "feb"]]\n', "months, form 1: expected a list of the 12"),
        ('months: [["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", 12]]\n', "month 12"),
    ],
)
def test_what_is_wrong_is_said(text: str, problem: str) -> None:
    with pytest.raises(WordsError) as raised:
        parse_words("en", text)
    assert problem in str(raised.value)


def test_one_form_of_months_may_be_a_plain_list() -> None:
    names = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    assert parse_words("en", yaml.safe_dump({"months": names})).months == (tuple(names),)


def test_a_month_name_of_two_months_is_left_out(tmp_path: Path) -> None:
    one = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9", "m10", "m11", "xx"]
    other = ["xx", "n2", "n3", "n4", "n5", "n6", "n7", "n8", "n9", "n10", "n11", "n12"]
    write(tmp_path / "aa" / "words.yml", yaml.safe_dump({"months": [one]}))
    write(tmp_path / "bb" / "words.yml", yaml.safe_dump({"months": [other]}))
    numbers = month_numbers(tmp_path)
    assert "xx" not in numbers and numbers["m3"] == 3 and numbers["n12"] == 12
    assert [e.value for e in extract("3 m3 1990", locales=tmp_path)] == ["1990-03-03"]
    assert extract("3 xx 1990", locales=tmp_path) == []


# --- the dispute ticket form's lists (bot.tickets.choices, bot.tickets.amounts) -----------

CODED_KEYS = ("dispute_kinds", "wants", "currencies", "multipliers", "relative_days")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_file_has_every_code_of_the_form(lang: str) -> None:
    found = shipped()[lang]
    for key in ("dispute_kinds", "wants", "relative_days"):
        coded = dict(getattr(found, key))
        assert list(coded) == list(CODES[key]), (lang, key)  # every code, in one order
        assert all(coded.values()), (lang, key)  # each with words in every language
    assert [code for code, _ in found.multipliers] == list(CODES["multipliers"]), lang
    assert found.skip and found.done, lang


def test_every_currency_is_an_iso_code_babel_formats() -> None:
    codes = {code for f in shipped().values() for code, _ in f.currencies}
    assert set(list_currencies()) >= codes
    assert {"CNY", "USD", "EUR", "RUB", "AED", "SAR", "EGP", "GBP", "HKD"} <= codes


def test_symbols_are_listed_once_in_english() -> None:
    files = shipped()
    for lang, found in files.items():
        for code, texts in found.currencies:
            symbols = [t for t in texts if not any(ch.isalpha() for ch in t)]
            assert lang == "en" or symbols == [], (lang, code, symbols)


def test_no_word_belongs_to_two_codes_in_the_files_together() -> None:
    """Matching uses every language's lists together: a word of two codes (in two files)
    would be left out of the matching (rasa_addons.words.find), so none may be shipped."""
    for key in CODED_KEYS:
        owners: dict[str, set[str]] = {}
        for found in shipped().values():
            for code, texts in getattr(found, key):
                for text in (code, code.replace("_", " "), *texts):
                    owners.setdefault(fold(text), set()).add(code)
        assert {w: c for w, c in owners.items() if len(c) > 1} == {}, key


def test_skip_and_done_share_no_message() -> None:
    files = shipped().values()
    skip = {fold(w) for f in files for w in f.skip}
    done = {fold(w) for f in files for w in f.done}
    assert skip & done == set()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('wants: ["refund"]\n', "wants: expected a mapping"),
        ('wants: {refnud: ["money back"]}\n', "wants: unknown code 'refnud'; expected refund"),
        ('wants: {refund: "money back"}\n', "wants, refund: expected a list of words"),
        ("wants: {refund: }\n", "([] for none), found nothing"),
        ("wants: {refund: [no]}\n", "wants, refund, item 1: False is not text"),
        ('wants: {refund: ["x"], mediation: ["X"]}\n', "'X' is also a word of refund"),
        ('currencies: {usd: ["$"]}\n', "'usd' is not an ISO 4217 code"),
        ('currencies: {US: ["$"]}\n', "'US' is not an ISO 4217 code"),
        ('dispute_kinds: {tenant: ["rent"]}\n', "unknown code 'tenant'"),
        ('relative_days: {tomorrow: ["demain"]}\n', "unknown code 'tomorrow'"),
        ('multipliers: {billion: ["bn"]}\n', "unknown code 'billion'"),
        ("skip: [no]\n", "skip, item 1: False is not text"),
        ('done: "done"\n', "done: expected a list"),
    ],
)
def test_what_is_wrong_with_a_mapping_is_said(text: str, problem: str) -> None:
    with pytest.raises(WordsError) as raised:
        parse_words("en", text)
    assert problem in str(raised.value)


def test_a_mapping_keeps_its_codes_in_order() -> None:
    found = parse_words("en", 'wants: {mediation: ["talk"], refund: []}\nskip: ["skip"]\n')
    assert found.wants == (("mediation", ("talk",)), ("refund", ()))
    assert found.skip == ("skip",) and found.done == ()


def test_fold() -> None:
    assert fold("  Don\u2019t\u200b   KNOW ") == "don't know"
    assert fold("２ ５００\u202f€") == "2 500 €"  # full-width, narrow no-break space
    assert fold("ＵＳＤ") == "usd"


def hits(text: str, key: str, found: tuple[Words, ...]) -> list[tuple[str, str]]:
    folded = fold(text)
    return [(h.code, folded[h.start : h.end]) for h in find(folded, found, key)]


def test_find_whole_words_chinese_anywhere_longest_first() -> None:
    en = Words(
        "en",
        relative_days=(
            ("yesterday", ("yesterday",)),
            ("day_before_yesterday", ("前天",)),  # and its name: "day before yesterday"
        ),
        currencies=(("USD", ("$", "dollars")), ("HKD", ("hk$",)), ("CNY", ("元",))),
    )
    found = (en,)
    assert hits("The day before yesterday", "relative_days", found) == [
        ("day_before_yesterday", "day before yesterday")  # not "yesterday" in it
    ]
    assert hits("就是前天的事", "relative_days", found) == [("day_before_yesterday", "前天")]
    assert hits("yesterdays", "relative_days", found) == []  # whole words only
    assert hits("day_before_yesterday", "relative_days", found) == [
        ("day_before_yesterday", "day_before_yesterday")  # the code itself
    ]
    assert hits("1200usd or HK$5 or 5元 or 3dollars", "currencies", found) == [
        ("USD", "usd"),
        ("HKD", "hk$"),
        ("CNY", "元"),
        ("USD", "dollars"),
    ]
    assert hits("usdollars", "currencies", found) == []


def test_a_word_of_two_codes_in_two_files_is_left_out(caplog: pytest.LogCaptureFixture) -> None:
    one = Words("aa", wants=(("refund", ("back",)), ("mediation", ("talk",))))
    other = Words("bb", wants=(("replacement", ("back",)),))
    with caplog.at_level(logging.WARNING, logger="rasa_addons.words"):
        assert hits("back, talk", "wants", (one, other)) == [("mediation", "talk")]
    assert "back" in caplog.text
