"""Passport <-> Matrix ID escaping."""

from __future__ import annotations

import re

from hypothesis import given, strategies as st
import pytest

from bridge.ids import GhostIDs, InvalidEscape, escape_passport, unescape_passport

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
    ghosts = GhostIDs(TEMPLATE, "hs.test")
    mxid = ghosts.mxid("Bob@Example.com")
    assert mxid == "@msn_bob=40example.com:hs.test"
    assert ghosts.passport(mxid) == "bob@example.com"
    assert GhostIDs(TEMPLATE, "other.test").passport(mxid) is None
    assert ghosts.passport("@msn_:hs.test") is None
    assert ghosts.passport("@msnbot:hs.test") is None
    assert ghosts.passport("@msn_Bad=zz:hs.test") is None
    assert ghosts.passport("@alice:hs.test") is None
    assert ghosts.is_ghost(mxid) and not ghosts.is_ghost("@alice:hs.test")
    assert (ghosts.mxid_prefix, ghosts.mxid_suffix) == ("@msn_", ":hs.test")
    # a template with a suffix
    suffixed = GhostIDs("{userid}_msn", "hs")
    assert suffixed.mxid("x@y.z") == "@x=40y.z_msn:hs"
    assert suffixed.passport("@x=40y.z_msn:hs") == "x@y.z"
    assert suffixed.passport("@_msn:hs") is None
    with pytest.raises(ValueError):
        GhostIDs("msn_user", "hs")


def test_namespace_regex_claims_exactly_the_ghosts() -> None:
    ghosts = GhostIDs("msn.{userid}_x", "hs.test")
    regex = re.compile(ghosts.namespace_regex)
    assert regex.fullmatch(ghosts.mxid("Zoë+x@Example.com"))
    assert not regex.fullmatch("@msnXbob=40x.y_x:hs.test")  # the "." of the template is literal
    assert not regex.fullmatch("@msn.bob=40x.y_x:hs.tes")
    assert not regex.fullmatch("@msn.bob=40x.y_x:hsxtest")


@given(st.emails())
def test_round_trip_emails(email: str) -> None:
    escaped = escape_passport(email)
    assert LOCALPART_RE.match(escaped)
    assert unescape_passport(escaped) == email.lower()
    ghosts = GhostIDs(TEMPLATE, "hs.test")
    assert ghosts.passport(ghosts.mxid(email)) == email.lower()


@given(st.text(min_size=1))
def test_round_trip_any_text(text: str) -> None:
    escaped = escape_passport(text)
    assert LOCALPART_RE.match(escaped)
    assert unescape_passport(escaped) == text.lower()
    # escaping is injective on lower-cased input
    assert escape_passport(unescape_passport(escaped)) == escaped
