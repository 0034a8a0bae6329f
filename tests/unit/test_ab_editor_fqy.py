"""AbListEditor.add_contact asks FQY first (MSNP14+) and adds the contact on the network the
answer names: a Yahoo (t="32") address becomes an e-mail contact with that capability, and the
ADL names the network. No sockets: a recording connection and web poster."""

from __future__ import annotations

from typing import Any

from bridge.msnp.ab_editor import AbListEditor
from bridge.msnp.abch import ABCH_NS
from bridge.msnp.command import Command
from bridge.msnp.roster import Roster
from bridge.msnp.soap import SoapRequest
from bridge.msnp.sso import CONTACTS, SecurityToken, SecurityTokens
from bridge.msnp.tickets import TicketKeeper


class _Conn:
    def __init__(self, fqy: bytes) -> None:
        self.sent: list[tuple[str, bytes | None]] = []
        self.fqy = fqy

    async def transaction(
        self, name: str, args: tuple[str, ...] = (), payload: Any = None
    ) -> Command:
        self.sent.append((name, payload))
        return Command(
            name, 1, ("0",) if name != "FQY" else (), self.fqy if name == "FQY" else None
        )


class _Web:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def post(self, url: str, request: SoapRequest) -> bytes:
        self.bodies.append(request.body)
        return (
            '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            f'<ABContactAddResponse xmlns="{ABCH_NS}"><ABContactAddResult><guid>c-1</guid>'
            "</ABContactAddResult></ABContactAddResponse></soap:Body></soap:Envelope>"
        ).encode()

    async def security_tokens(self, *args: Any) -> SecurityTokens:
        raise AssertionError("no renewal expected")


async def test_a_yahoo_address_is_added_on_the_yahoo_network() -> None:
    conn = _Conn(b'<ml><d n="yahoo.com"><c n="yuki" t="32" /></d></ml>')
    web = _Web()
    tokens = SecurityTokens({CONTACTS: SecurityToken(CONTACTS, "t=x&p=y")})
    keeper = TicketKeeper(web, "me@example.com", None, tokens)  # type: ignore[arg-type]
    events: list[Any] = []
    editor = AbListEditor(
        Roster(18), lambda: conn, events.append, web, "http://ab", keeper  # type: ignore[arg-type]
    )
    await editor.add_contact("yuki@yahoo.com")
    assert [name for name, _ in conn.sent] == ["FQY", "ADL"]
    (body,) = web.bodies
    assert b"<Capability>32</Capability>" in body and b"yuki@yahoo.com" in body
    assert b"passportName" not in body  # not a Messenger (Passport) contact
    adl = conn.sent[1][1]
    assert adl is not None and b't="32"' in adl
    assert editor.roster.get("yuki@yahoo.com") is not None
