"""A raw MSNP18 circle member for tests (written from the protocol, apart from bridge.msnp):
SSO login, the circle ticket from the address book, USR SHA A and ADL t=9 of their circles."""

from __future__ import annotations

import base64
import html

from .msnp13_helpers import caps_for
from .rawclient import RawClient, find_text, login_sso
from .server import MSNServer
from .test_circles import find_contacts_paged, sdg

__all__ = ["circle_member", "sdg"]


async def circle_member(server: MSNServer, email: str, password: str, guid: str) -> RawClient:
    """``email`` signed in (online) with the machine GUID ``guid`` and joined to every
    circle they are an accepted member of."""
    book = await find_contacts_paged(server, email, password)
    ticket = html.unescape(find_text(book, "CircleTicket") or "")
    client, _ = await login_sso(server.ns_address, server.http_base, email, password, 18,
                                machine_guid=guid)  # fmt: skip
    t = await client.cmd("CHG", "NLN", caps_for(18))
    await client.expect(f"CHG {t}")
    t = await client.cmd("USR", "SHA", "A", base64.b64encode(ticket.encode()).decode())
    await client.expect(f"USR {t}")
    ids = "".join(
        f'<c n="{c.guid}" t="9" l="1" />'
        for c in server.circles.values()
        if c.accepted(email.lower())
    )
    t = await client.cmd("ADL", payload=f'<ml><d n="live.com">{ids}</d></ml>'.encode())
    await client.expect(f"ADL {t}")
    return client
