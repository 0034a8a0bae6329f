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

from typing import Final, NamedTuple
from collections.abc import Iterator, Mapping
from types import MappingProxyType
import gc
import re
import xml.parsers.expat as expat

from .errors import LocalProtocolError, RemoteProtocolError

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


class Element(NamedTuple):
    """One element (immutable): local ``name``, namespace URI ``ns``, attributes by local
    name, children in document order and ``text``, the concatenation of its direct character
    data. (A named tuple because it is built once per element of large documents.)"""

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


def _refuse_doctype(*_args: object) -> None:
    raise RemoteProtocolError("XML with a document type declaration is refused")


def parse_xml(
    data: bytes | str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
    skip: frozenset[str] = frozenset(),
) -> Element:
    """Parse a whole document; raises :class:`ProtocolError` for anything malformed or over
    the limits. ``str`` input is encoded as UTF-8 first (any encoding declaration must agree).

    Elements whose local name is in ``skip`` are left out of the tree with everything in them
    (still parsed and checked against the limits, never built): for an answer of which the
    caller reads one part, such as the circles in an address book."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise RemoteProtocolError(f"XML document of {len(raw)} bytes exceeds {max_bytes}")
    # every element costs at least one "<" (two unless empty): refuse hopeless documents
    # before building anything
    if raw.count(b"<") > 2 * max_elements + 16:
        raise RemoteProtocolError(f"XML has more than {max_elements} elements")
    # The handlers are closures over plain lists: they run once per element of documents
    # that can be megabytes long, so they do as little as possible.
    stack: list[tuple[str, Mapping[str, str], list[Element], list[str]]] = []
    roots: list[Element] = []
    budget = [max_elements]
    skipping = [0]  # depth inside a left-out element
    new = tuple.__new__

    def start(tag: str, attributes: dict[str, str]) -> None:
        if len(stack) + skipping[0] >= max_depth:
            raise RemoteProtocolError(f"XML nested deeper than {max_depth} levels")
        budget[0] -= 1
        if budget[0] < 0:
            raise RemoteProtocolError(f"XML has more than {max_elements} elements")
        if skipping[0] or (skip and tag.rpartition(" ")[2] in skip):
            skipping[0] += 1
            return
        attrs: Mapping[str, str] = (
            {key.rpartition(" ")[2]: value for key, value in attributes.items()}
            if attributes
            else _NO_ATTRS
        )
        stack.append((tag, attrs, [], []))

    def end(_tag: str) -> None:
        if skipping[0]:
            skipping[0] -= 1
            return
        tag, attrs, children, chunks = stack.pop()
        ns, _, name = tag.rpartition(" ")
        element = new(Element, (name, ns, attrs, tuple(children), "".join(chunks)))
        (stack[-1][2] if stack else roots).append(element)

    def chars(chunk: str) -> None:
        if stack and not skipping[0]:
            stack[-1][3].append(chunk)

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    parser.ordered_attributes = False
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_doctype
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    # The tree is acyclic: pausing the cyclic collector while it grows saves the repeated
    # full collections a large document would otherwise trigger (about a third of the time).
    collecting = gc.isenabled()
    gc.disable()
    try:
        parser.Parse(raw, True)
    except expat.ExpatError as e:
        raise RemoteProtocolError(f"malformed XML: {expat.errors.messages[e.code]}") from e
    except (UnicodeError, ValueError, LookupError) as e:  # LookupError: unknown encoding
        raise RemoteProtocolError(f"malformed XML: {e}") from e
    finally:
        if collecting:
            gc.enable()
    if not roots:  # pragma: no cover - expat reports "no element found" first
        raise RemoteProtocolError("XML document without a root element")
    return roots[0]


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
