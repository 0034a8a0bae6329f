"""The login page's HTML: everything shown is escaped, nothing is loaded from elsewhere, the
inline style is the one the Content-Security-Policy allows."""

from __future__ import annotations

from html.parser import HTMLParser
import base64
import hashlib
import re

from bridge.web import pages

HOSTILE = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>&amp;"


class Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.styles: list[str] = []
        self._in_style = False
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)
        else:
            self.text.append(data)


def parse(html: str) -> Collect:
    parser = Collect()
    parser.feed(html)
    parser.close()
    return parser


def all_pages() -> list[str]:
    return [
        pages.form_page(HOSTILE, HOSTILE, HOSTILE, HOSTILE),
        pages.success_page(HOSTILE, HOSTILE, HOSTILE, 3),
        pages.message_page(HOSTILE, HOSTILE, HOSTILE),
    ]


def test_hostile_values_are_text_not_markup() -> None:
    for html in all_pages():
        parsed = parse(html)
        tags = [tag for tag, _ in parsed.tags]
        assert "script" not in tags and "img" not in tags
        assert HOSTILE in "".join(parsed.text) or any(
            attrs.get("value") == HOSTILE for _, attrs in parsed.tags
        )


def test_the_form_prefills_the_address_as_an_attribute_value() -> None:
    parsed = parse(pages.form_page("Bridge", "@a:hs.test", HOSTILE, "Wrong password"))
    inputs = {attrs.get("name"): attrs for tag, attrs in parsed.tags if tag == "input"}
    assert inputs["email"]["value"] == HOSTILE
    assert inputs["password"]["type"] == "password"
    assert "value" not in inputs["password"]
    forms = [attrs for tag, attrs in parsed.tags if tag == "form"]
    assert forms == [{"method": "post", "autocomplete": "on"}]  # posts to its own address


def test_nothing_is_loaded_from_elsewhere_and_no_script_runs() -> None:
    for html in all_pages():
        parsed = parse(html)
        for tag, attrs in parsed.tags:
            assert tag not in ("script", "link", "iframe", "object", "embed", "img")
            for name in attrs:
                assert not name.startswith("on")
                assert name not in ("src", "href", "action")
        assert not re.search(r"url\(|@import|https?://", "".join(parsed.styles))


def test_the_csp_allows_exactly_the_inline_style() -> None:
    csp = pages.SECURITY_HEADERS["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "form-action 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "script-src" not in csp  # falls back to default-src 'none'
    (style,) = parse(pages.message_page("B", "T", "x")).styles
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in csp


def test_pages_are_not_cached_or_framed() -> None:
    headers = pages.SECURITY_HEADERS
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
