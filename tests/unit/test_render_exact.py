"""The exact HTML of the answers' markup: what Telegram and the web chat receive.

tests/unit/test_sanitize_render.py checks that markup renders and HTML is escaped; these
pin the whole output, so that a stray character or a lost escape shows."""

from __future__ import annotations

from bot.answers.render import to_html


def test_text_is_escaped_whole_quotes_included() -> None:
    assert to_html('say "hi" & it\'s <b>x</b>') == (
        "say &quot;hi&quot; &amp; it&#x27;s &lt;b&gt;x&lt;/b&gt;"
    )


def test_bold_bullets_and_link_exactly() -> None:
    assert to_html('**Hotline** 12367\n- [NIA](https://www.nia.gov.cn/?a=1&b="2")') == (
        '<b>Hotline</b> 12367\n• <a href="https://www.nia.gov.cn/?a=1&amp;b=&quot;2&quot;">NIA</a>'
    )


def test_unsafe_link_stays_the_text_it_was() -> None:
    assert to_html("see [this](javascript:alert(1)) now") == ("see [this](javascript:alert(1)) now")
    assert to_html("[call](tel:12367)") == '<a href="tel:12367">call</a>'
