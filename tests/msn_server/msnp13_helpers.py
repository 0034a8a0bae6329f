"""Shared helpers of the MSNP13-18 tests: sign-in with the initial ADL and CHG."""

from __future__ import annotations

from tests.msn_server import FL, MSNServer
from tests.msn_server.rawclient import RawClient, login_sso, login_twn

PASSWORDS = {
    "alice@example.com": "alice123",
    "bob@example.com": "bob123",
    "carol@example.com": "carol123",
    "dave@example.com": "dave123",
}
GUID_A = "{aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa}"
GUID_B = "{bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb}"


def caps_for(version: int) -> str:
    return "2788999228:48" if version >= 16 else "1342177280"


def initial_ml(server: MSNServer, email: str) -> bytes:
    """The initial ADL of ``email``: every FL contact, lists as the server has them."""
    account = server.account(email)
    domains: dict[str, list[str]] = {}
    for entry in account.contacts.values():
        if entry.lists & FL:
            user, _, domain = entry.email.partition("@")
            lists = int(entry.lists) & 7
            domains.setdefault(domain, []).append(f'<c n="{user}" l="{lists}" t="1" />')
    body = "".join(f'<d n="{d}">{"".join(cs)}</d>' for d, cs in domains.items())
    return f'<ml l="1">{body}</ml>'.encode()


async def sign_in(
    server: MSNServer,
    email: str,
    version: int = 18,
    *,
    guid: str | None = GUID_A,
    adl: bool = True,
    status: str | None = "NLN",
) -> RawClient:
    """Log in (SSO from 15, TWN below), send the initial ADL and CHG; what the server sends
    after the CHG reply stays unread."""
    password = PASSWORDS[email]
    if version >= 15:
        client, _ = await login_sso(server.ns_address, server.http_base, email, password,
                                    version, machine_guid=guid)  # fmt: skip
    else:
        client = await login_twn(server.ns_address, server.passport_url, email, password, version)
    if adl and version >= 13 and server.account(email).contacts:
        t = await client.cmd("ADL", payload=initial_ml(server, email))
        assert (await client.expect(f"ADL {t}")).line == f"ADL {t} OK"
    if status is not None:
        t = await client.cmd("CHG", status, caps_for(version))
        await client.expect(f"CHG {t}")
    return client
