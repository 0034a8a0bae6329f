"""The contact list kept between sessions, on the real stack: a reconnect sends SYN with the
stored version and gets no list (the kept one is used, contacts and groups intact); after a
change made elsewhere the next reconnect downloads the list again; the stored version survives
a restart. That is MSNP2-12 (SYN): the stack12 bridge; from MSNP13 the address book fetches
only its changes (tests/integration/test_client_msnp13.py)."""

from __future__ import annotations

import re

from tests.support.harness import Stack, poll


async def test_a_reconnect_uses_the_kept_list_until_it_changes(stack12: Stack) -> None:
    stack = stack12
    pair = stack.new_pair()  # bob in "Friends"
    user, mgmt = await stack.logged_in(pair)

    async def stored_version() -> str | None:
        rows = await stack.db_values(
            f"SELECT version FROM contact_list_version WHERE owner = '{pair.mxid}'"
        )
        return rows[0] if rows else None

    version = await poll(stored_version, 20, "the stored list version")

    mark = stack.bridge.log_mark()
    await stack.command(user, mgmt, "reconnect", "Reconnecting")
    await poll(
        lambda: _logged(
            stack, mark, f"contact list: kept version {version}, the server's {version}"
        ),
        30,
        "the kept list used",
    )
    listed = await stack.command(user, mgmt, "contacts", pair.contact)
    assert "Friends" in listed["content"]["body"]
    assert await stored_version() == version

    # a change made elsewhere: the next reconnect downloads the list, with the new contact
    carol = stack.unique("carol") + "@example.com"
    stack.msn.add_account(carol, "carolpw", "Carol")
    stack.msn.account(pair.passport).bump()
    stack.msn.add_contact(pair.passport, carol)
    mark = stack.bridge.log_mark()
    await stack.command(user, mgmt, "reconnect", "Reconnecting")
    await poll(
        lambda: _logged(stack, mark, f"contact list: kept version {version}, the server's 2"),
        30,
        "the list downloaded again",
    )
    listed = await stack.command(user, mgmt, "contacts", re.compile(re.escape(carol)))
    assert pair.contact in listed["content"]["body"]
    newer = await poll(
        lambda: _changed(stored_version, version), 20, "the new list version stored"
    )
    assert newer != version

    # a restart logs in with the kept list too
    await stack.restart_bridge()
    await poll(
        lambda: _logged(stack, 0, f"contact list: kept version {newer}, the server's {newer}"),
        60,
        "the kept list used after a restart",
    )
    await stack.command(user, mgmt, "contacts", re.compile(re.escape(carol)))


async def _logged(stack: Stack, mark: int, text: str) -> bool:
    return text in stack.bridge.log_since(mark)


async def _changed(read: object, old: str) -> str | None:
    value = await read()  # type: ignore[operator]
    return value if value and value != old else None
