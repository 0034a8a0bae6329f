"""ADL/RML/FQY ``<ml>`` payloads: building, splitting at 7500 bytes, parsing server pushes."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
import pytest

from bridge.msnp.adl import (
    MAX_ML_PAYLOAD,
    ListEntry,
    build_fqy,
    build_ml,
    parse_ml,
    split_email,
)
from bridge.msnp.endpoints import NetworkId
from bridge.msnp.errors import LocalProtocolError, ProtocolError
from bridge.msnp.values import Lists
from bridge.msnp.xmlsafe import parse_xml

FL, AL, BL, RL, PL = Lists.FORWARD, Lists.ALLOW, Lists.BLOCK, Lists.REVERSE, Lists.PENDING


def test_initial_adl_groups_by_domain() -> None:
    payloads = build_ml(
        [
            ListEntry("bob@example.com", FL | AL),
            ListEntry("yo@yahoo.com", FL | AL, NetworkId.YAHOO),
            ListEntry("Carol@Example.COM", BL | RL),
            ListEntry("dave@example.com", RL | PL),  # nothing a client may send: left out
        ],
        initial=True,
    )
    assert payloads == [
        b'<ml l="1"><d n="example.com"><c n="bob" l="3" t="1"/><c n="Carol" l="4" t="1"/></d>'
        b'<d n="yahoo.com"><c n="yo" l="3" t="32"/></d></ml>'
    ]


def test_rml_and_empty() -> None:
    assert build_ml([ListEntry("a@b.c", FL)]) == [
        b'<ml><d n="b.c"><c n="a" l="1" t="1"/></d></ml>'
    ]
    assert build_ml([ListEntry("a@b.c")], with_lists=False) == [
        b'<ml><d n="b.c"><c n="a" t="1"/></d></ml>'
    ]
    assert build_ml([]) == []
    assert build_ml([ListEntry("a@b.c", RL)]) == []


def test_escaping() -> None:
    (payload,) = build_ml([ListEntry('o"brien&co@ex<ample.com', FL)])
    entry = parse_ml(payload)[0]
    assert entry.email == 'o"brien&co@ex<ample.com'


def test_split_email() -> None:
    assert split_email("Bob@Example.COM") == ("Bob", "example.com")
    for bad in ("bob", "@x.com", "bob@", "a@b@c"):
        with pytest.raises(LocalProtocolError):
            split_email(bad)


def _entries(n: int, domains: int) -> list[ListEntry]:
    return [
        ListEntry(f"user{i:05d}.with.a.long.name@domain{i % domains}.example.com", FL | AL)
        for i in range(n)
    ]


def test_large_list_is_split_under_the_limit() -> None:
    entries = _entries(2000, 7)
    payloads = build_ml(entries, initial=True)
    assert len(payloads) > 1
    seen = []
    for payload in payloads:
        assert len(payload) <= MAX_ML_PAYLOAD
        root = parse_xml(payload)
        assert root.get("l") == "1"
        names = [d.get("n") for d in root.children_named("d")]
        assert len(names) == len(set(names)), "a domain twice in one payload"
        assert all(d.children for d in root.children_named("d")), "an empty domain"
        seen.extend(parse_ml(payload))
    assert sorted(e.email for e in seen) == sorted(e.email for e in entries)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(alphabet="abcdefghij.-_", min_size=1, max_size=40),
            st.sampled_from(["a.com", "b.org", "c.net", "yahoo.com"]),
            st.integers(min_value=1, max_value=7),
        ),
        max_size=400,
    ),
    st.integers(min_value=300, max_value=MAX_ML_PAYLOAD),
)
def test_split_property(items: list[tuple[str, str, int]], limit: int) -> None:
    entries = [ListEntry(f"{user}@{domain}", Lists(bits)) for user, domain, bits in items]
    payloads = build_ml(entries, limit=limit)
    got = []
    for payload in payloads:
        assert len(payload) <= limit
        names = [d.get("n") for d in parse_xml(payload).children_named("d")]
        assert len(names) == len(set(names))
        got.extend((e.email, e.lists) for e in parse_ml(payload))
    assert sorted(got) == sorted((e.email, e.lists) for e in entries)


def test_single_contact_too_big() -> None:
    with pytest.raises(LocalProtocolError):
        build_ml([ListEntry("x" * 200 + "@y.com", FL)], limit=100)


def test_fqy() -> None:
    assert build_fqy("yo@Yahoo.com") == b'<ml><d n="yahoo.com"><c n="yo"/></d></ml>'
    assert build_fqy("yo@yahoo.com", NetworkId.YAHOO) == (
        b'<ml><d n="yahoo.com"><c n="yo" t="32"/></d></ml>'
    )


def test_parse_server_push() -> None:
    entries = parse_ml(
        b'<ml><d n="example.com"><c n="bob" t="1" l="8" f="Bob%20%26%20Co" />'
        b'<c n="eve" l="24"/><c n="" l="8"/><c n="bad" t="99" l="8"/></d>'
        b'<d n=""><c n="x"/></d><d n="yahoo.com"><c n="yo" t="32"/></d></ml>'
    )
    assert entries == [
        ListEntry("bob@example.com", RL, NetworkId.WINDOWS_LIVE, "Bob & Co"),
        ListEntry("eve@example.com", RL | PL),
        ListEntry("yo@yahoo.com", Lists.NONE, NetworkId.YAHOO),
    ]


@pytest.mark.parametrize("payload", [b"<notml/>", b"<ml>", b"", b"<!DOCTYPE ml []><ml/>"])
def test_parse_rejects(payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_ml(payload)
