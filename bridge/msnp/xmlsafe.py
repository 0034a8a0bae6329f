"""Bounded, DTD-free XML parsing into a small frozen tree, and escaping for XML we build.

Everything a server sends us as XML (SOAP answers, ``ADL``/``UBX`` payloads, mail data) goes
through :func:`parse_xml`. It uses expat directly, so the cost is linear in the input, and it
refuses what makes XML dangerous or unbounded: any document type declaration (so no entity
definitions, no billion laughs, no external entities), inputs over ``max_bytes``, nesting
deeper than ``max_depth`` and more than ``max_elements`` elements. Names are kept as local
names (namespace prefixes and URIs dropped), which is how MSN's services are read in
practice: the same element arrives under several namespace versions.

The builders' side, :func:`text` and :func:`attr`, escapes values and replaces characters XML
1.0 cannot carry; :func:`strict_text` refuses them instead (for passwords, which must not be
altered silently).
"""

from __future__ import annotations

from typing import Final
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
import re
import xml.parsers.expat as expat

from .errors import LocalProtocolError, ProtocolError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_ELEMENTS",
    "Element",
    "attr",
    "parse_xml",
    "strict_text",
    "text",
]

DEFAULT_MAX_BYTES: Final = 1 << 20
DEFAULT_MAX_DEPTH: Final = 64
DEFAULT_MAX_ELEMENTS: Final = 50_000

# Characters XML 1.0 cannot carry at all, not even as character references.
_INVALID_XML: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TEXT_ESCAPES: Final = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_ATTR_ESCAPES: Final = {
    **_TEXT_ESCAPES,
    '"': "&quot;",
    "'": "&apos;",
    "\t": "&#9;",
    "\n": "&#10;",
    "\r": "&#13;",
}
_TEXT_RE: Final = re.compile("[&<>]")
_NO_ATTRS: Final[Mapping[str, str]] = MappingProxyType({})
_ATTR_RE: Final = re.compile("[&<>\"'\t\n\r]")


@dataclass(frozen=True, slots=True)
class Element:
    """One element: local ``name``, namespace URI ``ns``, attributes by local name, children
    in document order and ``text``, the concatenation of its direct character data."""

    name: str
    ns: str
    attrs: Mapping[str, str]
    children: tuple[Element, ...]
    text: str

    def get(self, attribute: str, default: str = "") -> str:
        """An attribute by local name."""
        return self.attrs.get(attribute, default)

    def child(self, name: str) -> Element | None:
        """The first direct child with this local name."""
        for node in self.children:
            if node.name == name:
                return node
        return None

    def children_named(self, name: str) -> list[Element]:
        return [node for node in self.children if node.name == name]

    def find(self, path: str) -> Element | None:
        """Follow ``a/b/c`` through direct children (first match at each step)."""
        node: Element | None = self
        for step in path.split("/"):
            if node is None:
                return None
            node = node.child(step)
        return node

    def findtext(self, path: str, default: str = "") -> str:
        node = self.find(path)
        return node.text if node is not None else default

    def findall(self, path: str) -> list[Element]:
        """All elements at the end of ``a/b/c`` (every match at the last step only)."""
        head, _, last = path.rpartition("/")
        parent = self.find(head) if head else self
        return parent.children_named(last) if parent is not None else []

    def iter(self, name: str | None = None) -> Iterator[Element]:
        """This element and its descendants in document order, optionally by local name."""
        stack: list[Element] = [self]
        while stack:
            node = stack.pop()
            if name is None or node.name == name:
                yield node
            stack.extend(reversed(node.children))

    def first(self, name: str) -> Element | None:
        """The first element named ``name`` at any depth (this one included)."""
        return next(self.iter(name), None)


class _Builder:
    __slots__ = ("count", "max_depth", "max_elements", "root", "stack")

    def __init__(self, max_depth: int, max_elements: int) -> None:
        # each open element: [name, ns, attrs, children, text chunks]
        self.stack: list[tuple[str, str, Mapping[str, str], list[Element], list[str]]] = []
        self.root: Element | None = None
        self.count = 0
        self.max_depth = max_depth
        self.max_elements = max_elements

    def start(self, tag: str, attributes: dict[str, str]) -> None:
        self.count += 1
        if self.count > self.max_elements:
            raise ProtocolError(f"XML has more than {self.max_elements} elements")
        if len(self.stack) >= self.max_depth:
            raise ProtocolError(f"XML nested deeper than {self.max_depth} levels")
        ns, _, name = tag.rpartition(" ")
        attrs: Mapping[str, str] = (
            {key.rpartition(" ")[2]: value for key, value in attributes.items()}
            if attributes
            else _NO_ATTRS
        )
        self.stack.append((name, ns, attrs, [], []))

    def end(self, tag: str) -> None:
        name, ns, attrs, children, chunks = self.stack.pop()
        element = Element(name, ns, attrs, tuple(children), "".join(chunks))
        if self.stack:
            self.stack[-1][3].append(element)
        else:
            self.root = element

    def data(self, chunk: str) -> None:
        if self.stack:
            self.stack[-1][4].append(chunk)


def _refuse_doctype(*_args: object) -> None:
    raise ProtocolError("XML with a document type declaration is refused")


def parse_xml(
    data: bytes | str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> Element:
    """Parse a whole document; raises :class:`ProtocolError` for anything malformed or over
    the limits. ``str`` input is encoded as UTF-8 first (any encoding declaration must agree)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise ProtocolError(f"XML document of {len(raw)} bytes exceeds {max_bytes}")
    builder = _Builder(max_depth, max_elements)
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    parser.ordered_attributes = False
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_doctype
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(raw, True)
    except expat.ExpatError as e:
        raise ProtocolError(f"malformed XML: {expat.errors.messages[e.code]}") from e
    except (UnicodeError, ValueError) as e:
        raise ProtocolError(f"malformed XML: {e}") from e
    if builder.root is None:  # pragma: no cover - expat reports "no element found" first
        raise ProtocolError("XML document without a root element")
    return builder.root


def _clean(value: str) -> str:
    return _INVALID_XML.sub("\ufffd", value)


def text(value: str) -> str:
    """``value`` escaped for element content; characters XML cannot carry become U+FFFD."""
    return _TEXT_RE.sub(lambda m: _TEXT_ESCAPES[m.group()], _clean(value))


def attr(value: str) -> str:
    """``value`` escaped for a double- or single-quoted attribute (whitespace preserved)."""
    return _ATTR_RE.sub(lambda m: _ATTR_ESCAPES[m.group()], _clean(value))


def strict_text(value: str, what: str) -> str:
    """Like :func:`text`, but a character XML cannot carry raises :class:`LocalProtocolError`
    (``what`` names the value in the message, never the value itself)."""
    if _INVALID_XML.search(value):
        raise LocalProtocolError(f"the {what} contains a character XML cannot carry")
    return _TEXT_RE.sub(lambda m: _TEXT_ESCAPES[m.group()], value)
