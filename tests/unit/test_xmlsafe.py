"""Bounded XML parsing (no DTDs, no entities, size/depth/element caps) and escaping."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
import gc

from hypothesis import given, strategies as st
import pytest

from bridge.msnp import addressbook, sharing, sso, xmlsafe
from bridge.msnp.errors import LocalProtocolError, ProtocolError
from bridge.msnp.xmlsafe import attr, parse_xml, strict_text, text
from tests.unit.test_addressbook import FIND_ALL
from tests.unit.test_sharing import FIND_MEMBERSHIP
from tests.unit.test_sso import RST_OK


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


# --- the built route (ElementTree's C builder) and the streamed route give the same answer ---

_NAMES = st.sampled_from(["a", "b", "Contact", "Groups", "x-y", "n.m"])
_PREFIXES = st.sampled_from(["", "p:", "q:"])
_TEXT = st.text(alphabet="ab <>&\"'\t\n\r\u00e9\U0001f600]", max_size=6)


@st.composite
def _documents(draw: st.DrawFn, depth: int = 0) -> str:
    name = draw(_PREFIXES) + draw(_NAMES)
    attrs = "".join(
        f' {prefix}k{i}="{attr(value)}"'
        for i, (prefix, value) in enumerate(
            draw(st.lists(st.tuples(st.sampled_from(["", "p:"]), _TEXT), max_size=3))
        )
    )
    parts = []
    for _ in range(draw(st.integers(0, 4 if depth < 5 else 0))):
        kind = draw(st.sampled_from(["text", "child", "cdata", "comment", "pi", "ref"]))
        if kind == "text":
            parts.append(text(draw(_TEXT)))
        elif kind == "child":
            parts.append(draw(_documents(depth + 1)))
        elif kind == "cdata":
            parts.append(f"<![CDATA[{draw(_TEXT).replace(']', '')}]]>")
        elif kind == "comment":
            parts.append("<!-- c -->")
        elif kind == "pi":
            parts.append("<?pi data?>")
        else:
            parts.append("&#233;&amp;&#x1F600;")
    body = "".join(parts)
    ns = ' xmlns:p="urn:p" xmlns:q="urn:q" xmlns="urn:default"' if depth == 0 else ""
    return (
        f"<{name}{ns}{attrs}>{body}</{name}>"
        if body or draw(st.booleans())
        else (f"<{name}{ns}{attrs}/>")
    )


_SKIPS = st.sampled_from([frozenset(), frozenset({"Groups"}), frozenset({"Contact", "b"})])


def _outcome(route: object, *args: object) -> object:
    try:
        return route(*args)  # type: ignore[operator]
    except ProtocolError as e:
        return ("refused", str(e))


@given(_documents(), st.sampled_from(['', '<?xml version="1.0" encoding="UTF-8"?>']),
       _SKIPS, st.integers(2, 7))  # fmt: skip
def test_built_route_matches_streamed_route(doc: str, decl: str, skip: frozenset[str],
                                            depth: int) -> None:  # fmt: skip
    raw = (decl + doc).encode()
    assert xmlsafe._plain(raw)
    built = _outcome(xmlsafe._built, raw, depth, skip)
    streamed = _outcome(xmlsafe._streamed, raw, depth, 10_000, skip)
    if built is None:  # only a skipped root takes the streamed route for that reason
        assert xmlsafe._streamed(raw, 64, 10_000, frozenset()).name in skip
    else:
        assert built == streamed


@given(st.binary(max_size=60), _documents())
def test_broken_documents_get_the_streamed_routes_answer(noise: bytes, doc: str) -> None:
    raw = doc.encode()
    cut = len(noise) % (len(raw) + 1)
    for broken in (raw[:cut] + noise + raw[cut:], raw[:cut], b"<" + noise):
        assert _outcome(parse_xml, broken) == _outcome(
            xmlsafe._streamed, broken, 64, 50_000, frozenset()
        )


@pytest.mark.parametrize(
    "document",
    [
        b"<a>" * 64 + b"</a>" * 64,
        b"<a>" * 65 + b"</a>" * 65,
        b"<a>" * 64 + b"<b/>" + b"</a>" * 64,
        b"<r><Contacts>" + b"<a>" * 62 + b"</a>" * 62 + b"</Contacts></r>",
        b"<r><Contacts>" + b"<a>" * 63 + b"</a>" * 63 + b"</Contacts></r>",
        b'<?xml version="1.0" encoding="iso-8859-1"?><a>\xe9</a>',
        b'<?xml version="1.0" encoding="utf-16"?><a>x</a>',
        b"\xef\xbb\xbf<a>x</a>",
        b" <a>x</a>",
        b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>',
        b"<a><!DOCTYPE a></a>",
        b"<a>&e;</a>",
        b"<Contacts>x</Contacts>",
        b'<a xmlns:q="urn:q{}"><q:b q:c="1">x</q:b></a>',  # (a brace: both routes refuse)
    ],
)
def test_route_edges(document: bytes) -> None:
    skip = frozenset({"Contacts"})
    got = _outcome(lambda: parse_xml(document, skip=skip))
    want = _outcome(lambda: xmlsafe._streamed(document, 64, 50_000, skip))
    assert got == want


def test_which_documents_take_the_built_route() -> None:
    assert xmlsafe._plain(b'<?xml version="1.0" encoding="utf-8"?><a/>')
    assert xmlsafe._plain(b"<?xml version='1.0'?><a/>")
    assert xmlsafe._plain(b"<a/>")
    assert not xmlsafe._plain(b'<?xml version="1.0" encoding="iso-8859-1"?><a/>')
    assert not xmlsafe._plain(b"<!DOCTYPE a><a/>")
    assert not xmlsafe._plain("<a/>".encode("utf-16-le"))
    assert not xmlsafe._plain(b"\xff\xfe<\x00")
    assert not xmlsafe._plain(b"<?xml version='1.0'" + b" " * 300 + b"?><a/>")


def test_a_reader_runs_with_the_collector_paused() -> None:
    seen: list[bool] = []

    @xmlsafe.reads_xml
    def read(data: bytes) -> str:
        seen.append(gc.isenabled())
        if not data:
            raise ValueError("empty")
        return parse_xml(data).name

    assert read(b"<a/>") == "a" and seen == [False]
    assert gc.isenabled()  # resumed after it
    with pytest.raises(ValueError):
        read(b"")
    assert gc.isenabled()  # resumed after a failure too
    gc.disable()
    try:
        assert read(b"<b/>") == "b"
        assert not gc.isenabled()  # one that was off stays off
    finally:
        gc.enable()


@pytest.mark.parametrize(
    ("owner", "parse", "part", "answer"),
    [
        (sharing, sharing.parse_find_membership, "_member", FIND_MEMBERSHIP),
        (addressbook, addressbook.parse_find_all, "_contact", FIND_ALL),
        (sso, sso.parse_rst_response, "_parse_time", RST_OK),
    ],
)
def test_a_login_answer_is_read_with_the_collector_paused(
    monkeypatch: pytest.MonkeyPatch,
    owner: ModuleType,
    parse: Callable[[bytes], object],
    part: str,
    answer: bytes,
) -> None:
    """Each part of the answer is read while the tree is alive: with the collector on, the
    first allocations after the parse would start collections that scan the whole tree."""
    real = getattr(owner, part)
    seen: list[bool] = []

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, part, spy)
    parse(answer)
    assert seen and not any(seen)
    assert gc.isenabled()
