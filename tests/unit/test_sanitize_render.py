from __future__ import annotations

from bot.answers.render import to_html, to_plain
from bot.nlu.sanitize import clean


def test_clean_removes_invisible_and_control_characters() -> None:
    c = clean("a\u200bb\u200f c\u0000d\u0007 \u202eevil\ufeff", max_chars=100)
    assert c.text == "ab c d evil"
    assert c.has_words and not c.truncated


def test_clean_truncates_and_flags() -> None:
    c = clean("x" * 10_000, max_chars=2000)
    assert len(c.text) == 2000 and c.truncated


def test_clean_keeps_newlines_but_collapses_blank_runs() -> None:
    assert clean("a\r\n\r\n\r\n\r\nb\tc", max_chars=100).text == "a\n\nb c"


def test_emoji_only_has_no_words() -> None:
    assert not clean("😀👍🏽🇨🇳", max_chars=100).has_words


def test_html_is_escaped_and_small_markup_rendered() -> None:
    src = "Hi <script>alert(1)</script> & **bold** [NIA](https://www.nia.gov.cn)\n- one\n- two"
    out = to_html(src)
    assert "<script>" not in out and "&lt;script&gt;" in out and "&amp;" in out
    assert "<b>bold</b>" in out
    assert '<a href="https://www.nia.gov.cn">NIA</a>' in out
    assert "• one\n• two" in out


def test_unsafe_links_are_not_links() -> None:
    out = to_html('[x](javascript:alert(1)) [y](https://a.b/"onmouseover=")')
    assert 'href="javascript' not in out
    assert 'onmouseover="' not in out


def test_plain_rendering_for_wechat_and_terminal() -> None:
    assert (
        to_plain("**Hotline** [NIA](https://nia.gov.cn)\n- a")
        == "Hotline NIA (https://nia.gov.cn)\n• a"
    )
