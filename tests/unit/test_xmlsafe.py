"""Bounded XML parsing (no DTDs, no entities, size/depth/element caps) and escaping."""

from __future__ import annotations

from hypothesis import given, strategies as st
import pytest

from bridge.msnp.errors import LocalProtocolError, ProtocolError
from bridge.msnp.xmlsafe import attr, parse_xml, strict_text, text


def test_tree_by_local_names() -> None:
    root = parse_xml(
        b'<?xml version="1.0" encoding="utf-8"?>'
        b'<s:Envelope xmlns:s="urn:soap" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        b'<s:Body><Item xsi:type="Passport" n="1">a &amp; b<b>x</b> c</Item>'
        b'<Item n="2"/><Other/></s:Body></s:Envelope>'
    )
    assert (root.name, root.ns) == ("Envelope", "urn:soap")
    items = root.findall("Body/Item")
    assert [i.get("n") for i in items] == ["1", "2"]
    assert items[0].get("type") == "Passport"
    assert items[0].text == "a & b c"
    assert root.findtext("Body/Item/b") == "x"
    assert root.findtext("Body/Missing/x", "dflt") == "dflt"
    assert root.find("Body/Nope") is None
    assert [e.name for e in root.iter()] == ["Envelope", "Body", "Item", "b", "Item", "Other"]
    assert root.first("Other") is not None and root.first("Zed") is None
    assert root.findall("Nope/Item") == []


@pytest.mark.parametrize(
    "document",
    [
        # billion laughs
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><a>&lol2;</a>',
        # external entity
        b'<!DOCTYPE a [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><a>&xxe;</a>',
        # external DTD
        b'<!DOCTYPE a SYSTEM "http://127.0.0.1:1/evil.dtd"><a/>',
        # parameter entities
        b'<!DOCTYPE a [<!ENTITY % p "x"> %p;]><a/>',
        # no DTD at all but an entity reference
        b"<a>&undefined;</a>",
    ],
)
def test_dtds_and_entities_are_refused(document: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_xml(document)


def test_limits() -> None:
    with pytest.raises(ProtocolError, match="nested deeper"):
        parse_xml(b"<a>" * 65 + b"</a>" * 65)
    parse_xml(b"<a>" * 64 + b"</a>" * 64)
    with pytest.raises(ProtocolError, match="elements"):
        parse_xml(b"<a>" + b"<b/>" * 10 + b"</a>", max_elements=10)
    parse_xml(b"<a>" + b"<b/>" * 9 + b"</a>", max_elements=10)
    with pytest.raises(ProtocolError, match="exceeds"):
        parse_xml(b"<a>" + b"x" * 100 + b"</a>", max_bytes=50)


def test_skipped_elements_are_left_out_and_still_bounded() -> None:
    doc = (
        b'<r xmlns:n="urn:x"><n:Contacts><c>1<d>2</d></c><Groups/></n:Contacts>kept'
        b"<Circles><Id>c1</Id><Groups>g</Groups></Circles><Contacts/></r>"
    )
    root = parse_xml(doc, skip=frozenset({"Contacts", "Groups"}))
    assert [e.name for e in root.iter()] == ["r", "Circles", "Id"]
    assert (root.text, root.findtext("Circles/Id")) == ("kept", "c1")
    assert parse_xml(doc).find("Contacts/c/d") is not None  # (without skip: all of it)
    # what is left out still counts: depth, elements, malformed input
    deep = b"<r><Contacts>" + b"<a>" * 63 + b"</a>" * 63 + b"</Contacts></r>"
    with pytest.raises(ProtocolError, match="nested deeper"):
        parse_xml(deep, skip=frozenset({"Contacts"}))
    with pytest.raises(ProtocolError, match="elements"):
        parse_xml(b"<r><Contacts>" + b"<b/>" * 10 + b"</Contacts></r>", max_elements=10,
                  skip=frozenset({"Contacts"}))  # fmt: skip
    with pytest.raises(ProtocolError, match="malformed"):
        parse_xml(b"<r><Contacts><a></b></Contacts></r>", skip=frozenset({"Contacts"}))


@pytest.mark.parametrize("document", [b"", b"<a>", b"<a></b>", b"x", b"<a/><b/>", b"\xff\xfe<"])
def test_malformed(document: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_xml(document)


def test_str_input_and_character_references() -> None:
    assert parse_xml("<a>zoë &#x1F600; &#233;</a>").text == "zoë \U0001f600 é"


XML_CHARS = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), max_codepoint=0x10FFFF), max_size=80
)


@given(XML_CHARS)
def test_text_round_trip(value: str) -> None:
    parsed = parse_xml(f"<a>{text(value)}</a>").text
    expected = "".join(
        (
            ch
            if ch in "\t\n\r"
            or 0x20 <= ord(ch) <= 0xD7FF
            or 0xE000 <= ord(ch) <= 0xFFFD
            or ord(ch) >= 0x10000
            else "\ufffd"
        )
        for ch in value
    )
    # XML normalises line ends in content
    assert parsed == expected.replace("\r\n", "\n").replace("\r", "\n")


@given(XML_CHARS)
def test_attr_round_trip_keeps_whitespace(value: str) -> None:
    parsed = parse_xml(f"<a v=\"{attr(value)}\" w='{attr(value)}'/>")
    assert parsed.get("v") == parsed.get("w")
    if all(ch in "\t\n\r" or 0x20 <= ord(ch) <= 0xD7FF for ch in value):
        assert parsed.get("v") == value


def test_strict_text() -> None:
    assert strict_text("a<&>b", "password") == "a&lt;&amp;&gt;b"
    with pytest.raises(LocalProtocolError) as info:
        strict_text("sec\x00ret", "password")
    assert "sec" not in str(info.value) and "password" in str(info.value)


@pytest.mark.parametrize("encoding", ["no-such-encoding", "Atf-8", "utf-16"])
def test_declared_encodings_that_do_not_fit(encoding: str) -> None:
    # an unknown codec made expat's lookup raise LookupError (found by the fuzzer)
    with pytest.raises(ProtocolError):
        parse_xml(f'<?xml version="1.0" encoding="{encoding}"?><a>x</a>'.encode())


def test_element_budget_checked_before_parsing() -> None:
    # far more tags than the budget allows: refused up front, even though it is not even
    # well-formed (the parser never runs)
    with pytest.raises(ProtocolError, match="more than 10 elements"):
        parse_xml(b"<a>" + b"<b>" * 100, max_elements=10)
