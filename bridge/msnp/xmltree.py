"""A read-only view, by local names, of a document parsed by :func:`~.xmlsafe.parse_xml`.

The tree itself is ElementTree's (C objects, made by expat's C tree builder or, on the
streamed route, by the checking handlers); an :class:`Element` is a small view of one of its
nodes, made only for the nodes a reader asks for. Names are local names: the same element
arrives from MSN's services under several namespace versions, so ``child("Contact")`` finds
the first child named ``Contact`` in any namespace.

Most lookups run inside ElementTree: a document's tags are indexed once (:class:`Names`), and
a local name that only one tag of the document bears is searched for as that tag by
ElementTree's C ``find``/``findall``/``iter``. A local name borne by several tags (the same
name in two namespaces) is searched by comparing each child's local name, with the same
result. (Before, every element of a document was copied into a tuple, whether read or not;
``bench/xml_parse.py`` measures the difference.)
"""

from __future__ import annotations

from typing import Final
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from xml.etree.ElementTree import Element as Node

__all__ = ["Element", "Names"]

_NO_ATTRS: Final[Mapping[str, str]] = MappingProxyType({})
#: No tag of the document bears the local name.
_ABSENT: Final = ""


class Names:
    """What the tags of one document are: each tag's local name and namespace URI, and for
    each local name the one tag ElementTree may search for (None: compare local names)."""

    __slots__ = ("local", "searchable")

    def __init__(self, tags: set[str]) -> None:
        self.local: dict[str, tuple[str, str]] = {}
        self.searchable: dict[str, str | None] = {}
        local = self.local
        searchable = self.searchable
        for tag in tags:
            if tag[:1] == "{":
                ns, _, name = tag[1:].rpartition("}")
            else:
                ns, name = "", tag
            local[tag] = (name, ns)
            # (a brace in the namespace would end ElementTree's reading of it early)
            searchable[name] = None if name in searchable or "{" in ns else tag

    def first(self, node: Node, name: str) -> Node | None:
        """The first child of ``node`` with the local name ``name``."""
        tag = self.searchable.get(name, _ABSENT)
        if tag:
            return node.find(tag)
        if tag is None:
            local = self.local
            for child in node:
                if local[child.tag][0] == name:
                    return child
        return None

    def all(self, node: Node, name: str) -> list[Node]:
        """The children of ``node`` with the local name ``name``, in document order."""
        tag = self.searchable.get(name, _ABSENT)
        if tag:
            return node.findall(tag)
        if tag is None:
            local = self.local
            return [child for child in node if local[child.tag][0] == name]
        return []


def _text(node: Node) -> str:
    text = node.text or ""
    if len(node):
        tails = [child.tail for child in node if child.tail]
        if tails:
            text += "".join(tails)
    return text


class Element:
    """One element (read-only): local ``name``, namespace URI ``ns``, attributes by local
    name, children in document order and ``text``, the concatenation of its direct character
    data. Two elements are equal when all of that is equal, children included."""

    __slots__ = ("_names", "_node")

    def __init__(self, node: Node, names: Names) -> None:
        self._node = node
        self._names = names

    @property
    def name(self) -> str:
        return self._names.local[self._node.tag][0]

    @property
    def ns(self) -> str:
        return self._names.local[self._node.tag][1]

    @property
    def attrs(self) -> Mapping[str, str]:
        found = self._node.attrib
        if not found:
            return _NO_ATTRS
        return {key.rpartition("}")[2]: value for key, value in found.items()}

    @property
    def children(self) -> tuple[Element, ...]:
        names = self._names
        return tuple([Element(node, names) for node in self._node])

    @property
    def text(self) -> str:
        return _text(self._node)

    def get(self, attribute: str, default: str = "") -> str:
        """An attribute by local name."""
        return self.attrs.get(attribute, default)

    def child(self, name: str) -> Element | None:
        """The first direct child with this local name."""
        node = self._names.first(self._node, name)
        return Element(node, self._names) if node is not None else None

    def children_named(self, name: str) -> list[Element]:
        names = self._names
        return [Element(node, names) for node in names.all(self._node, name)]

    def _follow(self, path: str) -> Node | None:
        node: Node | None = self._node
        first = self._names.first
        for step in path.split("/"):
            if node is None:
                return None
            node = first(node, step)
        return node

    def find(self, path: str) -> Element | None:
        """Follow ``a/b/c`` through direct children (first match at each step)."""
        node = self._follow(path)
        return Element(node, self._names) if node is not None else None

    def findtext(self, path: str, default: str = "") -> str:
        node = self._follow(path) if "/" in path else self._names.first(self._node, path)
        return _text(node) if node is not None else default

    def findall(self, path: str) -> list[Element]:
        """All elements at the end of ``a/b/c`` (every match at the last step only)."""
        head, _, last = path.rpartition("/")
        parent = self._follow(head) if head else self._node
        if parent is None:
            return []
        names = self._names
        return [Element(node, names) for node in names.all(parent, last)]

    def iter(self, name: str | None = None) -> Iterator[Element]:
        """This element and its descendants in document order, optionally by local name."""
        names = self._names
        if name is None:
            nodes: Iterator[Node] = self._node.iter()
        else:
            tag = names.searchable.get(name, _ABSENT)
            if tag:
                nodes = self._node.iter(tag)
            elif tag is None:
                local = names.local
                nodes = (node for node in self._node.iter() if local[node.tag][0] == name)
            else:
                return
        for node in nodes:
            yield Element(node, names)

    def first(self, name: str) -> Element | None:
        """The first element named ``name`` at any depth (this one included)."""
        return next(self.iter(name), None)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Element):
            return NotImplemented
        pairs = [(self, other)]
        while pairs:
            a, b = pairs.pop()
            if (a.name, a.ns, a.text, len(a._node)) != (b.name, b.ns, b.text, len(b._node)):
                return False
            if a.attrs != b.attrs:
                return False
            pairs.extend(zip(a.children, b.children, strict=True))
        return True

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<Element {self.name!r} ns={self.ns!r} children={len(self._node)}>"
