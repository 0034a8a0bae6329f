"""The MSNP error table and the exception hierarchy."""

from __future__ import annotations

from pathlib import Path
import importlib

import pytest

from bridge import msnp
from bridge.msnp.codec import Command, Parser
from bridge.msnp.errors import (
    AUTH_FAILURE_CODES,
    ERROR_CODES,
    AuthError,
    ConnectionClosed,
    ErrorCode,
    LocalProtocolError,
    MSNPError,
    MSNPException,
    ProtocolError,
    RemoteProtocolError,
    TransactionTimeout,
    error_from_code,
    error_text,
    is_auth_failure,
)

#: Every code the issue lists.
REQUIRED_CODES = [
    *(200, 201, 205, 206, 207, 208, 209, 210, 215, 216, 217, 218, 219),
    *(223, 224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234, 280, 281),
    *(300, 301, 302, 500, 501, 502, 503, 540, 600, 601, 603, 604, 605),
    *(707, 710, 711, 712, 713, 715, 717, 800),
    *range(910, 922),
    *(923, 924, 928),
]


@pytest.mark.parametrize("code", REQUIRED_CODES)
def test_every_listed_code_has_a_name_and_text(code: int) -> None:
    name, text = ERROR_CODES[code]
    assert name.startswith("ERR_") and name == name.upper() and " " not in name
    assert text and text[0].isupper() and text == text.strip()
    assert error_text(code) == text


def test_names_are_unique() -> None:
    names = [name for name, _ in ERROR_CODES.values()]
    assert len(names) == len(set(names))


def test_table_has_only_three_digit_codes() -> None:
    assert all(100 <= code <= 999 for code in ERROR_CODES)


@pytest.mark.parametrize("code", REQUIRED_CODES)
def test_msnp_error_carries_code_and_text(code: int) -> None:
    err = MSNPError(code)
    assert err.code == code
    assert err.name == ERROR_CODES[code][0]
    assert err.text == ERROR_CODES[code][1]
    assert str(err) == f"{code} {err.text}"
    assert err.command is None
    assert isinstance(err, MSNPException)


def test_msnp_error_with_command_and_custom_text() -> None:
    err = MSNPError(217, command="CAL")
    assert err.command == "CAL"
    assert str(err) == f"217 {ERROR_CODES[217][1]} (in reply to CAL)"
    custom = MSNPError(911, text="Wrong password")
    assert custom.text == "Wrong password" and custom.name == "ERR_AUTHENTICATION_FAILED"
    via_helper = error_from_code(540, "QRY")
    assert (via_helper.code, via_helper.command) == (540, "QRY")


def test_unknown_code() -> None:
    err = MSNPError(999)
    assert err.code == 999 and err.name == "ERR_999"
    assert err.text == error_text(999) == "Unknown server error 999"


def test_parsed_error_command_maps_to_msnp_error() -> None:
    parser = Parser()
    parser.feed(b"911 3\r\n")
    cmd = parser.next_command()
    assert cmd == Command("911", 3)
    assert cmd.error_code is not None
    err = error_from_code(cmd.error_code, "USR")
    assert err.code == 911 and "Authentication failed" in str(err)


def test_exception_hierarchy() -> None:
    for cls in (ProtocolError, LocalProtocolError, MSNPError, AuthError, ConnectionClosed):
        assert issubclass(cls, MSNPException)
    assert issubclass(TransactionTimeout, MSNPException)
    assert issubclass(TransactionTimeout, TimeoutError)
    auth = AuthError("bad password", code=911)
    assert auth.code == 911 and str(auth) == "bad password"
    closed = ConnectionClosed("USR")
    assert closed.stage == "USR" and "during USR" in str(closed)
    closed2 = ConnectionClosed("VER", "reset by peer")
    assert str(closed2) == "reset by peer during VER"


def test_local_and_remote_protocol_errors_are_siblings() -> None:
    # as in h11: one base to catch both, neither a kind of the other
    assert issubclass(RemoteProtocolError, ProtocolError)
    assert issubclass(LocalProtocolError, ProtocolError)
    assert not issubclass(LocalProtocolError, RemoteProtocolError)
    assert not issubclass(RemoteProtocolError, LocalProtocolError)
    parser = Parser()
    with pytest.raises(RemoteProtocolError):
        parser.feed(b"!!garbage!!\r\n")
        parser.next_command()


def test_every_exception_of_the_library_is_defined_in_errors() -> None:
    """One home for exceptions (as aiohttp's client_exceptions): any module of bridge/msnp
    that defines an exception class breaks this."""
    stray = []
    for path in sorted(Path(msnp.__file__).parent.glob("*.py")):
        if path.name in ("__main__.py", "errors.py"):
            continue
        module = importlib.import_module(f"bridge.msnp.{path.stem}")
        stray += [
            f"{path.name}: {name}"
            for name, value in vars(module).items()
            if isinstance(value, type)
            and issubclass(value, BaseException)
            and value.__module__ == module.__name__
        ]
    assert not stray


def test_error_code_enum_names_the_table() -> None:
    assert {code.value: f"ERR_{code.name}" for code in ErrorCode} == {
        code: name for code, (name, _) in ERROR_CODES.items()
    }
    assert ErrorCode.NOT_ONLINE == 217 and MSNPError(217).code == ErrorCode.NOT_ONLINE


@pytest.mark.parametrize(
    ("error", "refused"),
    [
        (AuthError("wrong password", 911), True),
        (AuthError("no password known"), True),
        (MSNPError(911), True),
        (MSNPError(917), True),
        (MSNPError(923), True),
        (MSNPError(924), True),
        (MSNPError(928), True),
        (MSNPError(910), False),  # server too busy: worth another try
        (MSNPError(600), False),
        (ConnectionClosed("USR"), False),
        (TransactionTimeout("USR"), False),
        (OSError("unreachable"), False),
    ],
)
def test_auth_failures_are_told_apart_from_transient_ones(
    error: BaseException, refused: bool
) -> None:
    assert is_auth_failure(error) is refused
    if isinstance(error, MSNPError):
        assert (error.code in AUTH_FAILURE_CODES) is refused
