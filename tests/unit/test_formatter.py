"""bridge.formatter: Matrix HTML <-> MSN text + MessageFormat."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
import pytest

from bridge import formatter
from bridge.formatter import (
    MAX_HTML,
    emote_text,
    html_to_msn,
    matrix_to_msn,
    msn_to_matrix,
    quote_text,
    strip_reply_fallback,
)
from bridge.msnp.values import MessageFormat
from tests.support.scaling import assert_linear

F = MessageFormat


@pytest.mark.parametrize(
    ("html", "text", "fmt"),
    [
        ("plain", "plain", F()),
        ("<b>all bold</b>", "all bold", F(effects="B")),
        ("<strong>strong</strong>", "strong", F(effects="B")),
        ("<i>it</i>", "it", F(effects="I")),
        ("<em>em</em>", "em", F(effects="I")),
        ("<u>under</u>", "under", F(effects="U")),
        ("<del>gone</del>", "gone", F(effects="S")),
        ("<s>gone</s>", "gone", F(effects="S")),
        ("<strike>gone</strike>", "gone", F(effects="S")),
        ("<b><i><u><del>all</del></u></i></b>", "all", F(effects="BIUS")),
        ("<i><b>x</b></i>", "x", F(effects="BI")),
        # whitespace around a whole-message style does not break it
        ("  <b>x</b>\n", "x", F(effects="B")),
        # partial styles become readable markers
        ("hello <b>bob</b>", "hello *bob*", F()),
        ("a <i>b</i> c", "a _b_ c", F()),
        ("a <u>b</u> c", "a _b_ c", F()),
        ("a <del>b</del> c", "a ~b~ c", F()),
        ("a<b> b </b>c", "a *b* c", F()),
        ("<b>bold <i>both</i></b>", "bold _both_", F(effects="B")),
        ("<b>x</b><b>y</b>", "xy", F(effects="B")),
        ("<b>x</b> y", "*x* y", F()),
        # colours: data-mx-color, <font color>, CSS; #rgb is expanded; case folded
        ('<font color="#ff0000">red</font>', "red", F(color="ff0000")),
        ('<font color="#FF0000">red</font>', "red", F(color="ff0000")),
        ('<span data-mx-color="#00ff00">green</span>', "green", F(color="00ff00")),
        ('<span style="color: #0000ff">blue</span>', "blue", F(color="0000ff")),
        ('<font color="#f00">red</font>', "red", F(color="ff0000")),
        ('<font color="#000000">black</font>', "black", F(color="000000")),
        ('<font color="red">named</font>', "named", F()),
        ('<font color="#ff0000">red</font> plain', "red plain", F()),
        (
            '<font color="#ff0000"><b>x</b></font><b>y</b>',
            "xy",
            F(effects="B"),
        ),
        # fonts
        ('<font face="Comic Sans MS">hi</font>', "hi", F(font="Comic Sans MS")),
        (
            "<span style=\"font-family: 'Courier New', monospace\">hi</span>",
            "hi",
            F(font="Courier New"),
        ),
        # links
        ('<a href="https://example.org">site</a>', "site (https://example.org)", F()),
        ('<a href="https://example.org">https://example.org</a>', "https://example.org", F()),
        ('<a href="mailto:a@b.c">a@b.c</a>', "a@b.c", F()),
        ('<a href="https://example.org"></a>', "https://example.org", F()),
        (
            'see <a href="https://x.y/?a=1&amp;b=2">this</a>',
            "see this (https://x.y/?a=1&b=2)",
            F(),
        ),
        ('<a href="https://matrix.to/#/@bob:msn.test">Bob</a>: hi', "Bob: hi", F()),
        # blocks, lines, lists, quotes, code
        ("a<br>b", "a\nb", F()),
        ("a<br/>b<br />c", "a\nb\nc", F()),
        ("<p>a</p>\n<p>b</p>", "a\n\nb", F()),
        ("<p>one</p><p>two</p><p>three</p>", "one\n\ntwo\n\nthree", F()),
        ("<ul><li>a</li><li>b</li></ul>", "- a\n- b", F()),
        ('<ol start="3"><li>a</li><li>b</li></ol>', "3. a\n4. b", F()),
        ("intro<ul>\n<li>x</li>\n</ul>outro", "intro\n- x\noutro", F()),
        ("<blockquote>quoted<br>two</blockquote>after", "> quoted\n> two\nafter", F()),
        ("run <code>ls -l</code> now", "run `ls -l` now", F()),
        ("<pre><code>  x = 1\n  y\n</code></pre>", "```\n  x = 1\n  y\n```", F()),
        ("<pre>a\n\n\nb</pre>", "```\na\n\n\nb\n```", F()),
        ("x<pre>p</pre>y", "x\n```\np\n```\ny", F()),
        ("<ul><li><p>a</p></li><li>b<ul><li>c</li></ul></li></ul>", "- a\n- b\n  - c", F()),
        ("<ol><li>x<br>y</li></ol>", "1. x\n   y", F()),
        (
            "<table><tr><th>h1</th><th>h2</th></tr><tr><td>a</td><td>b</td></tr></table>",
            "h1 | h2\na | b",
            F(),
        ),
        ("a\u00a0\u00a0b", "a\u00a0\u00a0b", F()),
        ("a\x00b\x01c", "abc", F()),
        ("<h1>Title</h1>text", "Title\ntext", F()),
        ("a<hr>b", "a\n----\nb", F()),
        ('<img src="mxc://a/b" alt=":cat:">', ":cat:", F()),
        ('<img src="mxc://a/b">', "[image]", F()),
        ('<span data-mx-spoiler="">secret</span>', "[spoiler: secret]", F()),
        ('<span data-mx-spoiler="plot">secret</span>', "[spoiler: plot: secret]", F()),
        # reply fallback is dropped
        (
            '<mx-reply><blockquote><a href="https://matrix.to/#/!r/$e">In reply to</a> '
            "<a>@bob:msn.test</a><br>original</blockquote></mx-reply>answer",
            "answer",
            F(),
        ),
        # HTML entities and dangerous markup
        ("a &amp; b &lt;c&gt; &quot;d&quot;", 'a & b <c> "d"', F()),
        ("<script>alert(1)</script>safe", "safe", F()),
        ("<style>b{}</style>x", "x", F()),
        ("<b>unclosed", "unclosed", F(effects="B")),
        ("</b>stray close", "stray close", F()),
        ("<unknown-tag>kept</unknown-tag>", "kept", F()),
        # whitespace is collapsed as in HTML
        ("a   b\n\tc", "a b c", F()),
        # unicode survives untouched
        ("<b>héllo wörld 👋 日本語</b>", "héllo wörld 👋 日本語", F(effects="B")),
        ("", "", F()),
    ],
)
def test_html_to_msn(html: str, text: str, fmt: MessageFormat) -> None:
    assert html_to_msn(html) == (text, fmt)


@pytest.mark.parametrize(
    ("content", "kwargs", "text", "fmt"),
    [
        ({"msgtype": "m.text", "body": "hi"}, {}, "hi", F()),
        ({"msgtype": "m.text", "body": "a\nb"}, {}, "a\r\nb", F()),
        ({"msgtype": "m.text", "body": "a\nb"}, {"newline": "\n"}, "a\nb", F()),
        ({"msgtype": "m.text", "body": "a\r\nb"}, {"newline": "\n"}, "a\nb", F()),
        # formatted_body wins over body
        (
            {
                "msgtype": "m.text",
                "body": "**hi**",
                "format": "org.matrix.custom.html",
                "formatted_body": "<strong>hi</strong>",
            },
            {},
            "hi",
            F(effects="B"),
        ),
        # an unknown format is ignored: the body is used
        (
            {"msgtype": "m.text", "body": "x", "format": "other", "formatted_body": "<b>y</b>"},
            {},
            "x",
            F(),
        ),
        # HTML that renders to nothing falls back to the body
        (
            {
                "msgtype": "m.text",
                "body": "body text",
                "format": "org.matrix.custom.html",
                "formatted_body": "<img>",
            },
            {},
            "[image]",
            F(),
        ),
        (
            {
                "msgtype": "m.text",
                "body": "body text",
                "format": "org.matrix.custom.html",
                "formatted_body": "<script>x</script>",
            },
            {},
            "body text",
            F(),
        ),
        # emotes
        ({"msgtype": "m.emote", "body": "waves"}, {"sender_name": "Alice"}, "* Alice waves", F()),
        ({"msgtype": "m.emote", "body": "waves"}, {}, "* waves", F()),
        # edits: the new content, marked with "* "
        (
            {
                "msgtype": "m.text",
                "body": " * fixed",
                "m.new_content": {"msgtype": "m.text", "body": "fixed"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": "$x"},
            },
            {},
            "* fixed",
            F(),
        ),
        (
            {
                "msgtype": "m.text",
                "body": " * fixed",
                "m.new_content": {
                    "msgtype": "m.text",
                    "body": "fixed",
                    "format": "org.matrix.custom.html",
                    "formatted_body": "<i>fixed</i>",
                },
                "m.relates_to": {"rel_type": "m.replace", "event_id": "$x"},
            },
            {},
            "* fixed",
            F(effects="I"),
        ),
        # replies: fallback stripped from the body and the HTML; the quote is put in front
        (
            {
                "msgtype": "m.text",
                "body": "> <@bob:msn.test> original\n> second\n\nanswer",
                "m.relates_to": {"m.in_reply_to": {"event_id": "$orig"}},
            },
            {},
            "answer",
            F(),
        ),
        (
            {
                "msgtype": "m.text",
                "body": "> <@bob:msn.test> original\n\nanswer",
                "m.relates_to": {"m.in_reply_to": {"event_id": "$orig"}},
            },
            {"quote": "original", "quote_sender": "Bob", "newline": "\n"},
            "> Bob: original\nanswer",
            F(),
        ),
        (
            {
                "msgtype": "m.text",
                "body": "> <@bob:msn.test> original\n\nanswer",
                "format": "org.matrix.custom.html",
                "formatted_body": "<mx-reply><blockquote>original</blockquote></mx-reply>"
                "<b>answer</b>",
                "m.relates_to": {"m.in_reply_to": {"event_id": "$orig"}},
            },
            {"quote": "line1\nline2"},
            "> line1\r\n> line2\r\nanswer",
            F(effects="B"),
        ),
        # a body that merely starts with "> " is not a reply: kept
        ({"msgtype": "m.text", "body": "> not a reply"}, {}, "> not a reply", F()),
        # no body at all
        ({"msgtype": "m.text"}, {}, "", F()),
        ({"msgtype": "m.text", "body": 5}, {}, "", F()),
    ],
)
def test_matrix_to_msn(content, kwargs, text: str, fmt: MessageFormat) -> None:
    assert matrix_to_msn(content, **kwargs) == (text, fmt)


@pytest.mark.parametrize(
    ("text", "fmt", "content"),
    [
        ("hi", None, {"msgtype": "m.text", "body": "hi"}),
        ("hi", F(), {"msgtype": "m.text", "body": "hi"}),
        ("a\r\nb", None, {"msgtype": "m.text", "body": "a\nb"}),
        ("a\rb", None, {"msgtype": "m.text", "body": "a\nb"}),
        # default font and black: nothing worth HTML
        ("hi", F(font="MS Sans Serif", color="000000"), {"msgtype": "m.text", "body": "hi"}),
        ("hi", F(font="Segoe UI"), {"msgtype": "m.text", "body": "hi"}),
        (
            "hi",
            F(effects="B"),
            {
                "msgtype": "m.text",
                "body": "hi",
                "format": "org.matrix.custom.html",
                "formatted_body": "<b>hi</b>",
            },
        ),
        (
            "hi",
            F(effects="BIUS"),
            {
                "msgtype": "m.text",
                "body": "hi",
                "format": "org.matrix.custom.html",
                "formatted_body": "<b><i><u><del>hi</del></u></i></b>",
            },
        ),
        (
            "red",
            F(color="ff0000"),
            {
                "msgtype": "m.text",
                "body": "red",
                "format": "org.matrix.custom.html",
                "formatted_body": '<font color="#ff0000">red</font>',
            },
        ),
        (
            "x",
            F(color="FF0000", effects="I"),
            {
                "msgtype": "m.text",
                "body": "x",
                "format": "org.matrix.custom.html",
                "formatted_body": '<font color="#ff0000"><i>x</i></font>',
            },
        ),
        # an invalid colour is dropped rather than injected
        ('x"><script>', F(color='"><b>'), {"msgtype": "m.text", "body": 'x"><script>'}),
        (
            "hi",
            F(font="Comic Sans MS"),
            {
                "msgtype": "m.text",
                "body": "hi",
                "format": "org.matrix.custom.html",
                "formatted_body": '<span style="font-family: Comic Sans MS">hi</span>',
            },
        ),
        # a font name that is not one never reaches the style attribute
        ("hi", F(font='Evil"><script>'), {"msgtype": "m.text", "body": "hi"}),
        (
            "hi",
            F(font="Arial; background: url(//x.example/t)"),
            {"msgtype": "m.text", "body": "hi"},
        ),
        (
            "hi",
            F(font="A" * 65, effects="B"),
            {
                "msgtype": "m.text",
                "body": "hi",
                "format": "org.matrix.custom.html",
                "formatted_body": "<b>hi</b>",
            },
        ),
        (
            "hi",
            F(font="Comic Sans MS"),
            {
                "msgtype": "m.text",
                "body": "hi",
                "format": "org.matrix.custom.html",
                "formatted_body": '<span style="font-family: Comic Sans MS">hi</span>',
            },
        ),
        (
            "hi",
            F(font="\uff2d\uff33 \u30b4\u30b7\u30c3\u30af"),
            {
                "msgtype": "m.text",
                "body": "hi",
                "format": "org.matrix.custom.html",
                "formatted_body": '<span style="font-family: \uff2d\uff33 \u30b4\u30b7\u30c3\u30af">hi</span>',
            },
        ),
        # escaping and newlines in formatted bodies
        (
            "<script>alert('x') & \"y\"</script>\r\nline 2",
            F(effects="B"),
            {
                "msgtype": "m.text",
                "body": "<script>alert('x') & \"y\"</script>\nline 2",
                "format": "org.matrix.custom.html",
                "formatted_body": "<b>&lt;script&gt;alert('x') &amp; \"y\"&lt;/script&gt;<br>"
                "line 2</b>",
            },
        ),
        (
            "héllo 👋 日本語",
            F(effects="U"),
            {
                "msgtype": "m.text",
                "body": "héllo 👋 日本語",
                "format": "org.matrix.custom.html",
                "formatted_body": "<u>héllo 👋 日本語</u>",
            },
        ),
    ],
)
def test_msn_to_matrix(text: str, fmt: MessageFormat | None, content: dict) -> None:
    assert msn_to_matrix(text, fmt) == content


def test_msn_to_matrix_msgtype() -> None:
    assert msn_to_matrix("x", msgtype="m.notice") == {"msgtype": "m.notice", "body": "x"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("> <@a:b> q\n\nanswer", "answer"),
        ("> <@a:b> q\n> q2\n\nanswer\nmore", "answer\nmore"),
        ("no fallback", "no fallback"),
        ("> <@a:b> only quote", ""),
        ("", ""),
    ],
)
def test_strip_reply_fallback(body: str, expected: str) -> None:
    assert strip_reply_fallback(body) == expected


def test_quote_text_limits() -> None:
    assert quote_text("a\nb\nc\nd\ne") == "> a\n> b\n> c\n> ..."
    long = quote_text("x" * 500)
    assert long.startswith("> xxx") and long.endswith("...") and len(long) <= 202
    assert quote_text("hi", "Bob") == "> Bob: hi"
    assert quote_text("a\n\nb") == "> a\n>\n> b"


def test_emote_text() -> None:
    assert emote_text("Alice", "waves") == "* Alice waves"


@pytest.mark.parametrize(
    "fmt",
    [F(effects="B"), F(effects="IS"), F(color="ff0000"), F(effects="BU", color="12ab34")],
)
def test_round_trip_whole_message_format(fmt: MessageFormat) -> None:
    """MSN -> Matrix -> MSN keeps a whole-message format and the text."""
    text = 'line <1> & "2"\nline 2 ✓'
    content = msn_to_matrix(text, fmt)
    assert matrix_to_msn(content, newline="\n") == (text, fmt)


_WORD = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), blacklist_characters="\x00\x01"
    ),
    min_size=1,
    max_size=8,
)
_LINE = st.lists(_WORD, min_size=1, max_size=6).map(" ".join)


@given(
    lines=st.lists(_LINE, min_size=1, max_size=4),
    effects=st.sets(st.sampled_from("BIUS")),
    color=st.one_of(st.just(""), st.from_regex(r"\A[0-9a-f]{6}\Z")),
)
@settings(max_examples=200, deadline=None)
def test_round_trip_property(lines: list[str], effects: set[str], color: str) -> None:
    """Any single-spaced text with any whole-message format survives MSN -> Matrix -> MSN."""
    text = "\n".join(lines)
    fmt = F(effects="".join(e for e in "BIUS" if e in effects), color=color)
    content = msn_to_matrix(text, fmt)
    expected_fmt = fmt if color != "000000" else F(effects=fmt.effects)
    assert matrix_to_msn(content, newline="\n") == (text, expected_fmt)


# --- hostile HTML ---------------------------------------------------------------------------


def test_html_longer_than_one_msn_message_is_not_parsed() -> None:
    content = {
        "msgtype": "m.text",
        "body": "the whole text",
        "format": "org.matrix.custom.html",
        "formatted_body": "<b>x</b>" * MAX_HTML,
    }
    assert matrix_to_msn(content, newline="\n") == ("the whole text", F())
    # without a body, the HTML is cut before parsing
    text, fmt = html_to_msn("<b>" + "y" * (3 * MAX_HTML) + "</b>")
    assert text == "y" * (MAX_HTML - 3) and fmt.effects == "B"


def test_deep_nesting_is_flattened() -> None:
    text, fmt = html_to_msn("<i>" * 500 + "deep" + "</i>" * 500)
    assert text == "deep" and fmt.effects == "I"
    text, _ = html_to_msn("<b>a" + "<i>" * 100 + "b" + "</b>c")
    assert text.replace("*", "").replace("_", "") == "abc"


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("a <b c <d", "a <b c <d"),
        ("x < y", "x < y"),
        ("<a <a <a", "<a <a <a"),
        ("a <!-- gone --> b", "a b"),
        ("a <!-- open <!-- <b>b</b>", "a <!-- open <!-- *b*"),
        ("<a href='x'>l</a> <", "l (x) <"),
        ('<span title="a>b">t</span>', "t"),
    ],
)
def test_stray_angle_brackets_are_text(html: str, text: str) -> None:
    assert html_to_msn(html)[0] == text


@pytest.mark.parametrize(
    "unit",
    ["<a ", "<a b='", '<a b="', "<a\n", "</", "<!--", "<b>", "<b>x</i>", "<a b=c/ ", "&#x"],
)
def test_hostile_html_costs_linear_time(unit: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # the cut at MAX_HTML bounds the work; this checks the parsing below it scales linearly
    monkeypatch.setattr(formatter, "MAX_HTML", 10**9, raising=False)
    small, large = unit * (8000 // len(unit)), unit * (32000 // len(unit))
    assert_linear(html_to_msn, small, large)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("html", "font"),
    [
        ('<font face="Comic Sans MS">t</font>', "Comic Sans MS"),
        ("<span style=\"font-family: 'Segoe UI', sans-serif\">t</span>", "Segoe UI"),
        ('<font face="Arial; color: red">t</font>', ""),
        ('<span style="font-family: url(x)">t</span>', ""),
        (f'<font face="{"A" * 65}">t</font>', ""),
    ],
)
def test_font_names_from_matrix_are_validated(html: str, font: str) -> None:
    assert html_to_msn(html)[1].font == font
