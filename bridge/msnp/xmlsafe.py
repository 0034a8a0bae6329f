"""Bounded, DTD-free XML parsing into a small frozen tree, and escaping for XML we build.

Everything a server sends us as XML (SOAP answers, ``ADL``/``UBX`` payloads, mail data) goes
through :func:`parse_xml`. It uses expat directly, so the cost is linear in the input, and it
refuses what makes XML dangerous or unbounded: any document type declaration (so no entity
definitions, no billion laughs, no external entities), inputs over ``max_bytes``, nesting
deeper than ``max_depth`` and more than ``max_elements`` elements. Names are kept as local
names (namespace prefixes and URIs dropped), which is how MSN's services are read in
practice: the same element arrives under several namespace versions.

Two routes give the same tree, ElementTree's, read through :class:`~.xmltree.Element` views
(made only for what a reader asks for). A document that is plainly UTF-8 or ASCII, has no
``<!DOCTYPE`` and no more ``<`` than ``max_elements`` is built by expat's C tree builder
(ElementTree's), then walked once to check the depth and index its tags (no Python call per
element while expat runs). Anything else, and any document the C builder refuses, takes the
streamed route, whose handlers check every limit as they go and which says what is wrong.

A function that parses an answer and reads it at once is decorated with :func:`reads_xml`:
the cyclic collector then stays paused until the tree is gone.

The builders' side, :func:`text` and :func:`attr`, escapes values and replaces characters XML
1.0 cannot carry; :func:`strict_text` refuses them instead (for passwords, which must not be
altered silently).
"""

from __future__ import annotations

from typing import Final, ParamSpec, TypeVar
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from xml.etree import ElementTree
from xml.etree.ElementTree import Element as Node
import gc
import re
import xml.parsers.expat as expat

from .errors import LocalProtocolError, RemoteProtocolError
from .xmltree import Element, Names

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_ELEMENTS",
    "Element",
    "attr",
    "parse_xml",
    "reads_xml",
    "strict_text",
    "text",
]

P = ParamSpec("P")
T = TypeVar("T")

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
_ATTR_RE: Final = re.compile("[&<>\"'\t\n\r]")
#: Encodings a declaration may name for the built route (all spell ``<!DOCTYPE`` in ASCII).
_PLAIN_ENCODINGS: Final = frozenset({b"utf-8", b"utf8", b"us-ascii", b"ascii"})
_DECLARED_ENCODING: Final = re.compile(rb"encoding\s*=\s*[\"']([^\"']*)[\"']")
#: Where an XML declaration must have ended for the built route.
_DECLARATION_MAX: Final = 256


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic collector paused (and resumed only if it ran before): a parsed tree
    is acyclic and freed by reference counting, but while it is alive each young collection
    would scan all of its elements."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def reads_xml(read: Callable[P, T]) -> Callable[P, T]:
    """For a function that parses a document and reads what it needs from the tree (with
    no ``await``): it runs with the collector paused, so the collection its first
    allocations after the parse would start does not scan the whole tree, which is freed
    before the collector resumes. Only the values the function returns are left for it. (The
    answers an MSNP18 login reads: the collector's share of a login's CPU 29-31 % -> 21 %
    with Python's default thresholds, ``bench/scale.py library``.)"""

    @wraps(read)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        with _collector_paused():
            return read(*args, **kwargs)

    return run


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
    marks = raw.count(b"<")
    if marks > 2 * max_elements + 16:
        raise RemoteProtocolError(f"XML has more than {max_elements} elements")
    if marks <= max_elements and _plain(raw):
        built = _built(raw, max_depth, skip)
        if built is not None:
            return built
    return _streamed(raw, max_depth, max_elements, skip)


def _plain(raw: bytes) -> bool:
    """Whether ``raw`` is ASCII-compatible (no BOM, no UTF-16, no other declared encoding)
    and holds no ``<!DOCTYPE``: then the C tree builder cannot meet a DTD or an entity."""
    if raw[:1] != b"<" or raw[1:2] == b"\0":
        return False
    if raw.startswith(b"<?xml"):
        end = raw.find(b"?>", 0, _DECLARATION_MAX)
        if end < 0:
            return False
        declared = _DECLARED_ENCODING.search(raw, 0, end)
        if declared is not None and declared.group(1).lower() not in _PLAIN_ENCODINGS:
            return False
    return b"<!DOCTYPE" not in raw


def _built(raw: bytes, max_depth: int, skip: frozenset[str]) -> Element | None:
    """The tree through ElementTree's C builder, or None when it refuses the document (the
    streamed route then finds and names the fault)."""
    with _collector_paused():
        builder = ElementTree.XMLParser()
        try:
            builder.feed(raw)
            root = builder.close()
        except (ElementTree.ParseError, UnicodeError, ValueError, LookupError):
            return None
    if skip and root.tag.rpartition("}")[2] in skip:
        return None
    names = Names(_checked(root, max_depth))
    if skip:
        _cut(root, {tag for tag, (name, _) in names.local.items() if name in skip})
    return Element(root, names)


def _checked(root: Node, max_depth: int) -> set[str]:
    """The tags of a tree no deeper than ``max_depth`` (the root at depth 1, as in the
    streamed route); raises for a deeper one."""
    if len(root) and max_depth <= 1:
        raise RemoteProtocolError(f"XML nested deeper than {max_depth} levels")
    tags = {root.tag}
    add = tags.add
    open_ = [iter(root)]
    while open_:
        for child in open_[-1]:
            add(child.tag)
            if len(child):
                if len(open_) + 1 >= max_depth:  # its children would be deeper than allowed
                    raise RemoteProtocolError(f"XML nested deeper than {max_depth} levels")
                open_.append(iter(child))
                break
        else:
            open_.pop()
    return tags


def _cut(root: Node, tags: set[str]) -> None:
    """Take the elements with these tags out of the tree, leaving the text after each to
    the element before it (or to the parent), where the tree's text is read from."""
    if not tags:
        return
    for parent, child in [(p, c) for p in root.iter() for c in p if c.tag in tags]:
        if child.tail:
            index = list(parent).index(child)
            if index:
                before = parent[index - 1]
                before.tail = (before.tail or "") + child.tail
            else:
                parent.text = (parent.text or "") + child.tail
        parent.remove(child)


def _streamed(raw: bytes, max_depth: int, max_elements: int, skip: frozenset[str]) -> Element:
    """The tree through expat's handlers, every limit checked as the document goes by."""
    # The handlers are closures over plain lists: they run once per element of documents
    # that can be megabytes long, so they do as little as possible.
    stack: list[tuple[Node, list[str]]] = []
    roots: list[Node] = []
    budget = [max_elements]
    skipping = [0]  # depth inside a left-out element

    def start(tag: str, attributes: dict[str, str]) -> None:
        if len(stack) + skipping[0] >= max_depth:
            raise RemoteProtocolError(f"XML nested deeper than {max_depth} levels")
        budget[0] -= 1
        if budget[0] < 0:
            raise RemoteProtocolError(f"XML has more than {max_elements} elements")
        ns, _, name = tag.rpartition("}")
        if skipping[0] or (skip and name in skip):
            skipping[0] += 1
            return
        attrs = {key.rpartition("}")[2]: value for key, value in attributes.items()}
        stack.append((Node(f"{{{ns}}}{name}" if ns else name, attrs), []))

    def end(_tag: str) -> None:
        if skipping[0]:
            skipping[0] -= 1
            return
        node, chunks = stack.pop()
        if chunks:
            node.text = "".join(chunks)
        (stack[-1][0] if stack else roots).append(node)

    def chars(chunk: str) -> None:
        if stack and not skipping[0]:
            stack[-1][1].append(chunk)

    # (the C builder's separator: expat refuses a namespace URI holding it, on both routes)
    parser = expat.ParserCreate(namespace_separator="}")
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
    with _collector_paused():
        try:
            parser.Parse(raw, True)
        except expat.ExpatError as e:
            raise RemoteProtocolError(f"malformed XML: {expat.errors.messages[e.code]}") from e
        except (UnicodeError, ValueError, LookupError) as e:  # LookupError: unknown encoding
            raise RemoteProtocolError(f"malformed XML: {e}") from e
    if not roots:  # pragma: no cover - expat reports "no element found" first
        raise RemoteProtocolError("XML document without a root element")
    root = roots[0]
    return Element(root, Names({node.tag for node in root.iter()}))


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
