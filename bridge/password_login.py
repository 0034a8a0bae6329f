"""Logging a Matrix user in to MSN with a password, the same way for the ``login`` command, the
web login page and the provisioning API: the already-logged-in rule, the login itself, and an
outcome each front end words in its own format.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from dataclasses import dataclass
from enum import Enum
import logging

from bridge.clean_text import clean_line
from bridge.contact_entry import friend_count
from bridge.msnp.errors import (
    ConnectionClosed,
    MSNPError,
    MSNPException,
    ProtocolRefused,
    TransactionTimeout,
    is_auth_failure,
)
from bridge.texts import describe_login_error

if TYPE_CHECKING:
    from bridge.user import User

__all__ = ["LoginOutcome", "Outcome", "classify", "password_login"]

log = logging.getLogger("mau.login")


class Outcome(Enum):
    LOGGED_IN = "logged_in"
    ALREADY = "already_logged_in"  # connected with this address already; nothing was done
    OTHER_ACCOUNT = "other_account"  # logged in with another address: ``logout`` comes first
    REFUSED = "refused"  # wrong address or password, or the account was refused
    UNREACHABLE = "unreachable"  # the MSN server could not be reached or did not answer
    ERROR = "error"  # anything else (a protocol mismatch, a bug)


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


def classify(err: BaseException) -> Outcome:
    """What a failed login's exception means for the user."""
    if is_auth_failure(err):
        return Outcome.REFUSED
    if isinstance(err, ProtocolRefused):
        return Outcome.ERROR
    if isinstance(err, ConnectionClosed | TransactionTimeout | OSError | TimeoutError):
        return Outcome.UNREACHABLE
    if isinstance(err, MSNPError):
        return Outcome.REFUSED
    return Outcome.ERROR


def _contact_count(user: User) -> int:
    return friend_count(user.client.contacts.values()) if user.client else 0


async def password_login(user: User, passport: str, password: str) -> LoginOutcome:
    """Log ``user`` in as ``passport`` (already validated and lower-cased)."""
    current = user.passport
    if current and current != passport:
        # Switching accounts goes through ``logout``, which deletes the stored password.
        return LoginOutcome(
            Outcome.OTHER_ACCOUNT,
            passport,
            error=f"You are logged in to MSN as {current}: log out first to use {passport}.",
        )
    client = user.client
    if user.connected and user.passport == passport and client is not None:
        return LoginOutcome(
            Outcome.ALREADY,
            passport,
            friendly_name=clean_line(client.friendly_name) or passport,
            protocol=client.protocol,
            contacts=_contact_count(user),
        )
    try:
        result = await user.login(passport, password)
    except Exception as e:
        if isinstance(e, MSNPException | OSError | TimeoutError):
            log.info("Login of %s as %s failed: %s", user.mxid, passport, type(e).__name__)
        else:
            log.exception("Unexpected error during the login of %s", user.mxid)
        return LoginOutcome(classify(e), passport, error=describe_login_error(e))
    return LoginOutcome(
        Outcome.LOGGED_IN,
        passport,
        friendly_name=clean_line(result.friendly_name) or passport,
        protocol=result.protocol,
        contacts=_contact_count(user),
    )
