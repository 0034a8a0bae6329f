"""Logging a Matrix user in to MSN with a password, the same way for the ``login`` command, the
web login page and the provisioning API: the already-logged-in rule, the login itself, and an
outcome each front end words in its own format.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from dataclasses import dataclass
from enum import Enum
import asyncio
import logging

from bridge.msnp.errors import (
    AuthError,
    ConnectionClosed,
    MSNPError,
    MSNPException,
    ProtocolError,
    TransactionTimeout,
)
from bridge.user import AUTH_ERROR_CODES, describe_login_error

if TYPE_CHECKING:
    from bridge.user import User

__all__ = ["LoginOutcome", "Outcome", "password_login"]

log = logging.getLogger("mau.login")


class Outcome(Enum):
    LOGGED_IN = "logged_in"
    ALREADY = "already_logged_in"  # connected with this address already; nothing was done
    REFUSED = "refused"  # wrong address or password, or the account was refused
    UNREACHABLE = "unreachable"  # the MSN server could not be reached or did not answer
    ERROR = "error"  # anything else (a bug, a protocol mismatch)


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    outcome: Outcome
    passport: str
    #: Why it failed, as a sentence for the user (never contains the password).
    error: str = ""
    friendly_name: str = ""
    protocol: int | None = None
    contacts: int = 0

    @property
    def logged_in(self) -> bool:
        """The user is connected as :attr:`passport` now."""
        return self.outcome in (Outcome.LOGGED_IN, Outcome.ALREADY)


def _classify(err: BaseException) -> Outcome:
    if isinstance(err, AuthError) or (isinstance(err, MSNPError) and err.code in AUTH_ERROR_CODES):
        return Outcome.REFUSED
    if isinstance(err, ProtocolError):
        return Outcome.ERROR
    if isinstance(err, ConnectionClosed | TransactionTimeout | OSError | asyncio.TimeoutError):
        return Outcome.UNREACHABLE
    if isinstance(err, MSNPException):
        return Outcome.REFUSED if isinstance(err, MSNPError) else Outcome.ERROR
    return Outcome.ERROR


def _contact_count(user: User) -> int:
    return len(user.client.contacts) if user.client else 0


async def password_login(user: User, passport: str, password: str) -> LoginOutcome:
    """Log ``user`` in as ``passport`` (already validated and lower-cased)."""
    if user.connected and user.passport == passport:
        name = user.client.friendly_name if user.client else ""
        return LoginOutcome(
            Outcome.ALREADY,
            passport,
            friendly_name=name or passport,
            protocol=user.client.protocol if user.client else None,
            contacts=_contact_count(user),
        )
    try:
        result = await user.login(passport, password)
    except Exception as e:
        outcome = _classify(e)
        if outcome is Outcome.ERROR and not isinstance(e, MSNPException):
            log.exception("Unexpected error during the login of %s", user.mxid)
        else:
            log.info("Login of %s as %s failed: %s", user.mxid, passport, type(e).__name__)
        return LoginOutcome(outcome, passport, error=describe_login_error(e))
    return LoginOutcome(
        Outcome.LOGGED_IN,
        passport,
        friendly_name=result.friendly_name or passport,
        protocol=result.protocol,
        contacts=_contact_count(user),
    )
