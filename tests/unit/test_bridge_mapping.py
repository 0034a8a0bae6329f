"""Pure mappings of the bridge layer: MSN status -> Matrix presence, errors -> readable text."""

from __future__ import annotations

from mautrix.types import PresenceState
import pytest

from bridge.msnp.errors import (
    AuthError,
    ConnectionClosed,
    MD5LoginRefused,
    MSNPError,
    ProtocolRefused,
    TransactionTimeout,
)
from bridge.msnp.values import Status
from bridge.puppet import presence_for
from bridge.texts import describe_login_error, describe_send_error


@pytest.mark.parametrize(
    ("status", "psm", "expected"),
    [
        (Status.ONLINE, "", (PresenceState.ONLINE, None)),
        (Status.ONLINE, "at work", (PresenceState.ONLINE, "at work")),
        (Status.BUSY, "", (PresenceState.UNAVAILABLE, "Busy")),
        (Status.AWAY, "gone", (PresenceState.UNAVAILABLE, "Away - gone")),
        (Status.IDLE, "", (PresenceState.UNAVAILABLE, "Idle")),
        (Status.BE_RIGHT_BACK, "", (PresenceState.UNAVAILABLE, "Be Right Back")),
        (Status.ON_THE_PHONE, "", (PresenceState.UNAVAILABLE, "On the Phone")),
        (Status.OUT_TO_LUNCH, "", (PresenceState.UNAVAILABLE, "Out to Lunch")),
        (Status.HIDDEN, "", (PresenceState.OFFLINE, None)),
        (Status.OFFLINE, "", (PresenceState.OFFLINE, None)),
        ("XYZ", "", (PresenceState.OFFLINE, None)),
        (None, "", (PresenceState.OFFLINE, None)),
    ],
)
def test_presence_mapping(status: Status | str | None, psm: str, expected: tuple) -> None:
    assert presence_for(status, psm) == expected


@pytest.mark.parametrize(
    ("error", "needle"),
    [
        (AuthError("bad"), "Wrong e-mail address or password"),
        (ConnectionRefusedError(111, "Connection refused"), "Could not reach the MSN server"),
        (ConnectionClosed("USR"), "closed during USR"),
        (ProtocolRefused("no"), "protocol version"),
        (MD5LoginRefused("the server chose MSNP7"), "msn.allow_md5_login"),
        (MSNPError(600), "error 600"),
        (TransactionTimeout("x"), "did not answer in time"),
    ],
)
def test_login_errors_are_readable(error: BaseException, needle: str) -> None:
    assert needle in describe_login_error(error)


def test_send_errors_are_readable() -> None:
    offline = describe_send_error(MSNPError(217), "Bob")
    assert offline.message == "Bob is offline"
    assert not offline.retriable
    assert describe_send_error(TransactionTimeout("t"), "Bob").retriable
    assert "not connected" in describe_send_error(ConnectionResetError(), "Bob").message
