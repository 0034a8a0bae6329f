"""Passport <-> Matrix ID escaping."""

from __future__ import annotations

import re

from hypothesis import given, strategies as st
import pytest

from bridge.ids import (
    InvalidEscape,
    escape_passport,
    ghost_mxid,
    passport_from_mxid,
    unescape_passport,
)

LOCALPART_RE = re.compile(r"^[a-z0-9._=/\-]+$")
TEMPLATE = "msn_{userid}"


def test_examples() -> None:
    assert escape_passport("alice@example.com") == "alice=40example.com"
    assert escape_passport("Alice.Smith+MSN@Hotmail.COM") == "alice.smith=2bmsn=40hotmail.com"
    assert escape_passport("a=b@x.y") == "a=3db=40x.y"
    assert escape_passport("zoë@x.y") == "zo=c3=ab=40x.y"
    assert unescape_passport("zo=c3=ab=40x.y") == "zoë@x.y"
    assert escape_passport("a_b-c/d@x.y") == "a_b-c/d=40x.y"


@pytest.mark.parametrize(
    "bad",
    ["", "Alice=40x", "alice=4", "alice=zz", "alice=", "a b", "é", "a=61", "=ff=fe"],
)
def test_unescape_rejects_non_canonical(bad: str) -> None:
    with pytest.raises(InvalidEscape):
        unescape_passport(bad)


def test_escape_rejects_empty() -> None:
    with pytest.raises(ValueError):
        escape_passport("")


def test_mxids() -> None:
    mxid = ghost_mxid("Bob@Example.com", TEMPLATE, "hs.test")
    assert mxid == "@msn_bob=40example.com:hs.test"
    assert passport_from_mxid(mxid, TEMPLATE, "hs.test") == "bob@example.com"
    assert passport_from_mxid(mxid, TEMPLATE, "other.test") is None
    assert passport_from_mxid("@msn_:hs.test", TEMPLATE, "hs.test") is None
    assert passport_from_mxid("@msnbot:hs.test", TEMPLATE, "hs.test") is None
    assert passport_from_mxid("@msn_Bad=zz:hs.test", TEMPLATE, "hs.test") is None
    assert passport_from_mxid("@alice:hs.test", TEMPLATE, "hs.test") is None
    # a template with a suffix
    assert ghost_mxid("x@y.z", "{userid}_msn", "hs") == "@x=40y.z_msn:hs"
    assert passport_from_mxid("@x=40y.z_msn:hs", "{userid}_msn", "hs") == "x@y.z"
    assert passport_from_mxid("@_msn:hs", "{userid}_msn", "hs") is None
    with pytest.raises(ValueError):
        ghost_mxid("x@y.z", "msn_user", "hs")


@given(st.emails())
def test_round_trip_emails(email: str) -> None:
    escaped = escape_passport(email)
    assert LOCALPART_RE.match(escaped)
    assert unescape_passport(escaped) == email.lower()
    mxid = ghost_mxid(email, TEMPLATE, "hs.test")
    assert passport_from_mxid(mxid, TEMPLATE, "hs.test") == email.lower()


@given(st.text(min_size=1))
def test_round_trip_any_text(text: str) -> None:
    escaped = escape_passport(text)
    assert LOCALPART_RE.match(escaped)
    assert unescape_passport(escaped) == text.lower()
    # escaping is injective on lower-cased input
    assert escape_passport(unescape_passport(escaped)) == escaped
