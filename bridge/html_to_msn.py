"""Matrix HTML -> MSN text and one message format: the style common to the whole visible text
goes into the :class:`MessageFormat`; a style on part of it becomes readable plain-text markers
(``*bold*``, ``_italic_``, ``~strike~``, ```code```); links become ``text (url)``, lists ``- item``
lines, quotes ``> line`` lines, and a reply's ``<mx-reply>`` fallback is dropped. Hostile HTML
costs linear time and bounded depth (:mod:`bridge.html_limits`).

This module is pure: no I/O, no bridge state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
import re

from bridge import html_limits
from bridge.html_limits import MAX_DEPTH, escape_stray_lt, valid_font_name
from bridge.msnp.values import MessageFormat

__all__ = ["html_to_msn", "parse_color"]

_EFFECT_TAGS = {"b": "B", "strong": "B", "i": "I", "em": "I", "u": "U", "ins": "U"}
_EFFECT_TAGS.update({"del": "S", "s": "S", "strike": "S"})
_MARKERS = {"B": "*", "I": "_", "U": "_", "S": "~"}
_BLOCK_TAGS = frozenset(
    {"p", "div", "blockquote", "pre", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6"}
    | {"table", "tr", "hr", "details", "summary", "dl", "dt", "dd"}
)
_SKIPPED_TAGS = frozenset({"mx-reply", "script", "style", "head", "title", "template"})
_VOID_TAGS = frozenset({"br", "hr", "img", "wbr", "area", "col", "embed", "input", "source"})
_HEX_COLOR = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")
_CSS_FONT = re.compile(r"font-family\s*:\s*([^;]+)", re.I)
_CSS_COLOR = re.compile(r"(?<![-\w])color\s*:\s*([^;]+)", re.I)
# Spaces and newlines that must survive the line clean-up in _TextWriter.text() (code blocks,
# list indentation) are written as these placeholders and restored at the very end.
_PRE_SPACE = "\x00"
_PRE_NEWLINE = "\x01"
_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")
_MATRIX_TO = re.compile(r"^https://matrix\.to/#/[@!#]")


def parse_color(value: str | None) -> str:
    """``#RRGGBB`` / ``RRGGBB`` / ``#RGB`` -> ``rrggbb`` ('' when unusable)."""
    if not value:
        return ""
    match = _HEX_COLOR.match(value.strip())
    if not match:
        return ""
    digits = match.group(1).lower()
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return digits


# --- HTML -> tree ---------------------------------------------------------------------------


@dataclass
class _Node:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[_Node | str] = field(default_factory=list)
    parent: _Node | None = None


class _TreeBuilder(HTMLParser):
    """A forgiving HTML -> tree parser (unclosed tags are closed at the end)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Node("#root")
        self.current = self.root
        self.depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = _Node(tag, {k: v or "" for k, v in attrs}, parent=self.current)
        self.current.children.append(node)
        if tag not in _VOID_TAGS and self.depth < MAX_DEPTH:
            self.current = node
            self.depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(
            _Node(tag, {k: v or "" for k, v in attrs}, parent=self.current)
        )

    def handle_endtag(self, tag: str) -> None:
        node: _Node | None = self.current
        depth = self.depth
        while node is not None and node.tag != tag:
            node = node.parent
            depth -= 1
        if node is not None and node.parent is not None:
            self.current = node.parent
            self.depth = depth - 1

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def _parse_html(html: str) -> _Node:
    builder = _TreeBuilder()
    builder.feed(escape_stray_lt(html[: html_limits.MAX_HTML]))
    builder.close()
    return builder.root


# --- tree -> styled segments ----------------------------------------------------------------


@dataclass(frozen=True)
class _Style:
    effects: frozenset[str] = frozenset()
    color: str = ""
    font: str = ""


def _node_style(node: _Node, style: _Style) -> _Style:
    effects = style.effects
    color = style.color
    font = style.font
    effect = _EFFECT_TAGS.get(node.tag)
    if effect:
        effects = effects | {effect}
    if node.tag in ("font", "span"):
        color = (
            parse_color(node.attrs.get("data-mx-color"))
            or parse_color(node.attrs.get("color"))
            or color
        )
        face = valid_font_name(node.attrs.get("face", ""))
        css = node.attrs.get("style", "")
        css_color = _CSS_COLOR.search(css)
        if css_color:
            color = parse_color(css_color.group(1)) or color
        css_font = _CSS_FONT.search(css)
        if css_font:
            face = valid_font_name(css_font.group(1).split(",")[0].strip().strip("'\"")) or face
        font = face or font
    return _Style(frozenset(effects), color, font)


def _visible_styles(node: _Node, style: _Style, out: list[_Style]) -> None:
    """Collect the style of every non-blank text run (to find what covers the whole message)."""
    if node.tag in _SKIPPED_TAGS:
        return
    style = _node_style(node, style)
    if node.tag in ("code", "pre"):
        # Code is written with markers; it cannot be expressed as a message format.
        style = _Style(style.effects | {"code"}, style.color, style.font)
    for child in node.children:
        if isinstance(child, str):
            if child.strip():
                out.append(style)
        elif child.tag == "img":
            out.append(style)
        else:
            _visible_styles(child, style, out)


def _common_style(root: _Node) -> _Style:
    styles: list[_Style] = []
    _visible_styles(root, _Style(), styles)
    if not styles:
        return _Style()
    effects = frozenset.intersection(*(s.effects for s in styles)) - {"code"}
    colors = {s.color for s in styles}
    fonts = {s.font for s in styles}
    return _Style(
        effects,
        colors.pop() if len(colors) == 1 else "",
        fonts.pop() if len(fonts) == 1 else "",
    )


# --- tree -> text ---------------------------------------------------------------------------


class _TextWriter:
    """Renders the tree to plain text; ``whole`` effects are not written as markers."""

    def __init__(self, whole: frozenset[str]) -> None:
        self.whole = whole
        self.parts: list[str] = []

    def text(self) -> str:
        raw = "".join(self.parts)
        lines = [line.strip(" ") for line in raw.split("\n")]
        # No more than one blank line in a row, none at the ends.
        out: list[str] = []
        for line in lines:
            if not line and (not out or not out[-1]):
                continue
            out.append(line)
        while out and not out[-1]:
            out.pop()
        return "\n".join(out).replace(_PRE_SPACE, " ").replace(_PRE_NEWLINE, "\n")

    def newline(self) -> None:
        if self.parts and not "".join(self.parts[-2:]).endswith("\n"):
            self.parts.append("\n")

    def render(self, node: _Node, pre: bool = False) -> None:
        for child in node.children:
            if isinstance(child, str):
                if pre:
                    # Protected from the line stripping in text(); restored there.
                    protected = child.replace(" ", _PRE_SPACE).replace("\n", _PRE_NEWLINE)
                    self.parts.append(protected)
                else:
                    self.parts.append(_HTML_SPACE.sub(" ", child))
            else:
                self.element(child, pre)

    def _render_text(self, node: _Node, pre: bool) -> str:
        self.render(node, pre)
        return self.text()

    def _inner(self, node: _Node, pre: bool = False) -> str:
        sub = _TextWriter(self.whole)
        sub.render(node, pre)
        return "".join(sub.parts)

    def element(self, node: _Node, pre: bool) -> None:
        tag = node.tag
        if tag in _SKIPPED_TAGS:
            return
        if tag == "br":
            self.parts.append("\n")
            return
        if tag == "hr":
            self.newline()
            self.parts.append("----\n")
            return
        if tag == "img":
            alt = node.attrs.get("alt") or node.attrs.get("title") or ""
            self.parts.append(alt or "[image]")
            return
        if tag == "a":
            self.link(node, pre)
            return
        if tag == "pre":
            self.newline()
            inner = self._inner(node, pre=True).strip(_PRE_NEWLINE)
            self.parts.append(f"```\n{inner}\n```\n")
            return
        if tag == "code":
            inner = self._inner(node, pre)
            self.parts.append(inner if pre else f"`{inner}`")
            return
        if tag == "blockquote":
            self.newline()
            quoted = _TextWriter(self.whole)
            quoted.render(node, pre)
            for line in quoted.text().split("\n"):
                self.parts.append(f"> {line}".rstrip() + "\n")
            return
        if tag == "tr":
            self.newline()
            cells = [
                _TextWriter(self.whole)._render_text(child, pre)
                for child in node.children
                if not isinstance(child, str) and child.tag in ("td", "th")
            ]
            self.parts.append(" | ".join(c.replace("\n", " ") for c in cells) + "\n")
            return
        if tag in ("ul", "ol"):
            self.newline()
            self.list(node, ordered=tag == "ol", pre=pre)
            return
        if tag == "span" and "data-mx-spoiler" in node.attrs:
            reason = node.attrs.get("data-mx-spoiler", "")
            inner = self._inner(node, pre)
            self.parts.append(f"[spoiler{': ' + reason if reason else ''}: {inner}]")
            return
        effect = _EFFECT_TAGS.get(tag)
        if effect and effect not in self.whole:
            inner = self._inner(node, pre)
            marker = _MARKERS[effect]
            stripped = inner.strip()
            if stripped:
                lead = inner[: len(inner) - len(inner.lstrip())]
                trail = inner[len(inner.rstrip()) :]
                self.parts.append(f"{lead}{marker}{stripped}{marker}{trail}")
            else:
                self.parts.append(inner)
            return
        block = tag in _BLOCK_TAGS
        if block:
            self.newline()
        self.render(node, pre)
        if block:
            self.newline()
            if tag == "p":
                self.parts.append("\n")

    def link(self, node: _Node, pre: bool) -> None:
        href = node.attrs.get("href", "").strip()
        text = self._inner(node, pre)
        if not href or _MATRIX_TO.match(href):
            # Mentions (pills) are written as their display text.
            self.parts.append(text)
            return
        bare = href.removeprefix("mailto:")
        if not text.strip() or text.strip() in (href, bare):
            self.parts.append(bare if href.startswith("mailto:") else href)
            return
        self.parts.append(f"{text} ({href})")

    def list(self, node: _Node, ordered: bool, pre: bool) -> None:
        number = 1
        if ordered:
            try:
                number = int(node.attrs.get("start", "1"))
            except ValueError:
                number = 1
        for child in node.children:
            if isinstance(child, str) or child.tag != "li":
                continue
            inner = _TextWriter(self.whole)
            inner.render(child, pre)
            lines = inner.text().split("\n")
            bullet = f"{number}. " if ordered else "- "
            indent = _PRE_SPACE * len(bullet)
            self.parts.append(bullet + lines[0] + "\n")
            self.parts.extend(indent + line + "\n" for line in lines[1:])
            number += 1


def html_to_msn(html: str) -> tuple[str, MessageFormat]:
    """Matrix HTML -> (text with ``\\n`` newlines, message format); HTML beyond
    :data:`~bridge.html_limits.MAX_HTML` characters is cut off (:func:`bridge.formatter.matrix_to_msn`
    uses the plain body then)."""
    # The placeholders must not come from the input (they are control characters anyway).
    root = _parse_html(html.replace(_PRE_SPACE, "").replace(_PRE_NEWLINE, ""))
    common = _common_style(root)
    writer = _TextWriter(common.effects)
    writer.render(root)
    effects = "".join(e for e in "BIUS" if e in common.effects)
    return writer.text(), MessageFormat(font=common.font, effects=effects, color=common.color)
