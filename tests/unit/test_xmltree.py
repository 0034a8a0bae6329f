"""Lookups by local name on the parsed tree: ElementTree's own search where a local name is one
tag's, a scan where it is several tags' (or a name its path syntax reads), the same answers."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
import pytest

from bridge.msnp import xmlsafe
from bridge.msnp.xmlsafe import parse_xml
from bridge.msnp.xmltree import Element

from .test_xmlsafe import _documents

_LOOKED_FOR = ["a", "b", "Contact", "Groups", "x-y", "n.m", "missing"]


def _first(node: Element, name: str) -> Element | None:
    """What "the first child with this local name" means, from the children alone."""
    return next((child for child in node.children if child.name == name), None)


def _everywhere(node: Element) -> list[Element]:
    found, stack = [], [node]
    while stack:
        here = stack.pop()
        found.append(here)
        stack.extend(reversed(here.children))
    return found


@settings(max_examples=300)
@given(_documents(), st.booleans())
def test_lookups_agree_with_the_children(doc: str, streamed: bool) -> None:
    raw = doc.encode()
    root = xmlsafe._streamed(raw, 64, 10_000, frozenset()) if streamed else parse_xml(raw)
    every = _everywhere(root)
    assert [e.name for e in root.iter()] == [e.name for e in every]
    for node in every:
        for name in _LOOKED_FOR:
            want = _first(node, name)
            assert node.child(name) == want  # (a view is never equal to None)
            assert node.findtext(name, "-") == (want.text if want is not None else "-")
            named = [c for c in node.children if c.name == name]
            assert node.children_named(name) == named
            assert node.findall(name) == named
            assert [e.text for e in node.iter(name)] == [e.text for e in _everywhere(node)
                                                         if e.name == name]  # fmt: skip
            assert node.first(name) == next((e for e in _everywhere(node) if e.name == name),
                                            None)  # fmt: skip
            if want is not None:
                for deeper in _LOOKED_FOR:
                    second = _first(want, deeper)
                    assert node.find(f"{name}/{deeper}") == second
                    assert node.findtext(f"{name}/{deeper}") == (
                        second.text if second is not None else ""
                    )


def test_the_same_local_name_in_two_namespaces() -> None:
    root = parse_xml(
        b'<r xmlns:p="urn:p" xmlns:q="urn:q"><p:a>1</p:a><q:b/><a>2</a><p:a>3</p:a>'
        b"<c><a>4</a></c><n.m>5</n.m></r>"
    )
    a = root.child("a")
    assert a is not None and (a.text, a.ns) == ("1", "urn:p")
    assert [(e.text, e.ns) for e in root.children_named("a")] == [
        ("1", "urn:p"), ("2", ""), ("3", "urn:p")
    ]  # fmt: skip
    assert [e.text for e in root.iter("a")] == ["1", "2", "3", "4"]
    assert root.findtext("c/a") == "4" and root.findtext("n.m") == "5"
    assert root.child("b") is not None and root.child("q") is None


def test_equality_is_the_whole_subtree() -> None:
    one = parse_xml(b'<r><a k="1">x<b>y</b>z</a></r>')
    assert one == parse_xml(b'<r><a k="1">x<b>y</b>z</a></r>')
    assert one == xmlsafe._streamed(b'<r><a k="1">x<b>y</b>z</a></r>', 64, 100, frozenset())
    for other in (b'<r><a k="2">x<b>y</b>z</a></r>', b'<r><a k="1">x<b>y</b></a></r>',
                  b'<r><a k="1">x<b>w</b>z</a></r>', b'<r><a k="1">x<b>y</b>z<c/></a></r>',
                  b'<r xmlns="urn:x"><a k="1">x<b>y</b>z</a></r>'):  # fmt: skip
        assert one != parse_xml(other)
    assert one != ("r", "", {}, (), "")
    with pytest.raises(TypeError):
        hash(one)


def test_a_namespace_with_whitespace_is_read_the_same_on_both_routes() -> None:
    raw = b'<a xmlns:p="\t urn:p" xmlns="urn:d"><p:b>x</p:b></a>'
    built = parse_xml(raw)
    assert built == xmlsafe._streamed(raw, 64, 100, frozenset())
    assert built.child("b") is not None and built.child("b").ns == "  urn:p"  # type: ignore
