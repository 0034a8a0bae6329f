"""No log record of the MSN library, at any level (TRACE included), carries a password, a
Passport ticket (nor the profile's MSPAuth, which holds it) or a switchboard cookie: not the
wire log, not the warnings about malformed invitations, not a failed handler's event."""

from __future__ import annotations

import asyncio
import logging
import re

import pytest

from bridge.msnp.client import MSNClient
from bridge.msnp.events import Event, LoggedIn, SwitchboardJoined, TextMessageReceived
from tests.msn_server.fixtures import running_server
from tests.support.client_fixtures import PASSWORDS, Recorder, client_config

ALICE, BOB = "alice@example.com", "bob@example.com"


class FailingOnLogin(Recorder):
    """A handler that fails on the login event (the client logs the event it failed on)."""

    async def __call__(self, event: Event) -> None:
        await super().__call__(event)
        if isinstance(event, LoggedIn):
            raise RuntimeError("handler bug")


def _text(caplog: pytest.LogCaptureFixture) -> str:
    """What the library logged (the test server logs everything it sees, secrets included)."""
    lines = []
    for record in caplog.records:
        if not record.name.startswith("msnp"):
            continue
        lines.append(record.getMessage())
        if record.exc_info:
            lines.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(lines)


@pytest.mark.parametrize("protocol", [7, 12])
async def test_no_secret_in_any_log_record(
    protocol: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(1)  # everything, below TRACE too
    async with running_server() as server:
        issued: list[str] = []
        issue = server.issue_sb_cookie

        def recording_issue(*args: object, **kwargs: object) -> str:
            cookie = issue(*args, **kwargs)  # type: ignore[arg-type]
            issued.append(cookie)
            return cookie

        server.issue_sb_cookie = recording_issue  # type: ignore[method-assign]
        alice_events, bob_events = FailingOnLogin(), Recorder()
        alice = MSNClient(client_config(server, protocol), alice_events)
        bob = MSNClient(client_config(server, protocol), bob_events)
        try:
            alice_login = await alice.login(ALICE, PASSWORDS[ALICE])
            bob_login = await bob.login(BOB, PASSWORDS[BOB])
            await alice_events.wait(LoggedIn)
            # a conversation: XFR SB and USR with a cookie on one side, RNG and ANS on the other
            await alice.send_text(BOB, "hello")
            await bob_events.wait(TextMessageReceived, text="hello")
            await bob_events.wait(SwitchboardJoined)
            # invitations the client refuses, with a warning
            await server.send_raw(ALICE, b"RNG 99 127.0.0.1:1 CKI cookie-of-a-short-ring\r\n")
            await server.send_raw(
                ALICE, b"RNG 98 no-port CKI cookie-of-a-bad-address bob@example.com Bob\r\n"
            )
            await asyncio.wait_for(_logged(caplog, "cookie-of-a-bad-address", "bad-address"), 5)
        finally:
            await alice.close()
            await bob.close()
    text = _text(caplog)
    assert "handler bug" in text  # the failed handler was logged, with its event
    assert "RNG" in text and "USR" in text  # the wire log ran
    secrets = [PASSWORDS[ALICE], PASSWORDS[BOB], "cookie-of-a-short-ring"]
    secrets += ["cookie-of-a-bad-address", *issued]
    secrets += [t for t in (alice_login.ticket, bob_login.ticket) if t]
    assert len(issued) >= 2
    leaked = [secret for secret in secrets if secret in text]
    assert not leaked, f"secrets in the log: {leaked}"
    assert "MSPAuth" not in text
    assert not re.search(r"MD5 S (?!<redacted>)", text)
    assert repr(alice_login).count("<redacted>") == 0 and "ticket" not in repr(alice_login)


async def _logged(caplog: pytest.LogCaptureFixture, *needles: str) -> None:
    """Until a record mentions one of ``needles`` (or the bad address was refused)."""
    while not any(
        "bad switchboard address" in r.getMessage() or any(n in r.getMessage() for n in needles)
        for r in caplog.records
    ):
        await asyncio.sleep(0.02)
