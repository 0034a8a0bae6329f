"""Exceptions and the MSNP error-code table.

Every exception the library raises derives from :class:`MSNPException`, so a caller can
catch one base class. Servers answer a failed transaction with a three-digit command
(``911 3``); :func:`error_from_code` turns such a code into an :class:`MSNPError`.
"""

from __future__ import annotations

from typing import Final
from collections.abc import Mapping
from enum import IntEnum

__all__ = [
    "AUTH_FAILURE_CODES",
    "ERROR_CODES",
    "AuthError",
    "ConnectionClosed",
    "DeliveryFailed",
    "ErrorCode",
    "LocalProtocolError",
    "MD5LoginRefused",
    "MSNPError",
    "MSNPException",
    "P2PError",
    "P2PLimitExceeded",
    "P2PProtocolError",
    "PassportUnavailable",
    "PeerUnreachable",
    "ProtocolError",
    "ProtocolRefused",
    "RemoteProtocolError",
    "ServiceError",
    "ServiceUnavailable",
    "SoapFault",
    "SwitchboardLimitReached",
    "TicketRejected",
    "TransactionTimeout",
    "TransferDeclined",
    "TransferFailed",
    "TransferTimeout",
    "UnknownConversation",
    "error_from_code",
    "error_text",
    "is_auth_failure",
]

#: code -> (symbolic name, human-readable text)
ERROR_CODES: Final[dict[int, tuple[str, str]]] = {
    200: ("ERR_SYNTAX_ERROR", "Syntax error"),
    201: ("ERR_INVALID_PARAMETER", "Invalid parameter"),
    205: ("ERR_INVALID_USER", "Invalid user: the account does not exist"),
    206: ("ERR_FQDN_MISSING", "Domain name missing from the address"),
    207: ("ERR_ALREADY_LOGIN", "Already logged in"),
    208: ("ERR_INVALID_USERNAME", "Invalid user name"),
    209: ("ERR_INVALID_FRIENDLY_NAME", "Invalid friendly name"),
    210: ("ERR_LIST_FULL", "The contact list is full"),
    215: ("ERR_ALREADY_THERE", "The contact is already on this list or in this conversation"),
    216: ("ERR_NOT_ON_LIST", "The contact is not on this list"),
    217: ("ERR_NOT_ONLINE", "The contact is offline or not available"),
    218: ("ERR_ALREADY_IN_THE_MODE", "Already in that mode"),
    219: ("ERR_ALREADY_IN_OPPOSITE_LIST", "The contact is already on the opposite list"),
    223: ("ERR_TOO_MANY_GROUPS", "Too many groups"),
    224: ("ERR_INVALID_GROUP", "Invalid group"),
    225: ("ERR_USER_NOT_IN_GROUP", "The contact is not in that group"),
    226: ("ERR_GROUP_NOT_EMPTY", "The group is not empty"),
    227: ("ERR_GROUP_NOT_EMPTY_OR_INVALID", "The group is not empty or does not exist"),
    228: ("ERR_GROUP_NAME_TOO_LONG", "The group name is too long"),
    229: ("ERR_GROUP_ZERO", "Group 0 cannot be changed"),
    230: ("ERR_INVALID_GROUP_NAME", "Invalid group name"),
    231: ("ERR_GROUP_ALREADY_EXISTS", "A group with that name already exists"),
    232: ("ERR_INVALID_PASSPORT", "Invalid account name"),
    233: ("ERR_CANNOT_RENAME", "The contact cannot be renamed"),
    234: ("ERR_GROUP_LIMIT", "Group limit reached"),
    280: ("ERR_SWITCHBOARD_FAILED", "The switchboard failed"),
    281: ("ERR_NOTIFY_XFR_FAILED", "Transfer to the switchboard failed"),
    300: ("ERR_REQUIRED_FIELDS_MISSING", "Required fields are missing"),
    301: ("ERR_TOO_MANY_HITS", "Too many results"),
    302: ("ERR_NOT_LOGGED_IN", "Not logged in"),
    500: ("ERR_INTERNAL_SERVER", "Internal server error"),
    501: ("ERR_DB_SERVER", "Database server error"),
    502: ("ERR_COMMAND_DISABLED", "That command is disabled on this server"),
    503: ("ERR_USER_NOT_FOUND", "User not found"),
    540: ("ERR_CHALLENGE_FAILED", "The challenge response (QRY) was rejected"),
    600: ("ERR_SERVER_BUSY", "The server is busy"),
    601: ("ERR_SERVER_UNAVAILABLE", "The server is unavailable"),
    603: ("ERR_DB_CONNECT", "The server could not reach its database"),
    604: ("ERR_SERVER_GOING_DOWN", "The server is going down"),
    605: ("ERR_SERVER_UNAVAILABLE_2", "The server is unavailable"),
    707: ("ERR_CREATE_CONNECTION", "The server could not create a connection"),
    710: ("ERR_BAD_CVR", "The client version (CVR) parameters were rejected"),
    711: ("ERR_BLOCKING_WRITE", "Write is blocking"),
    712: ("ERR_SESSION_OVERLOAD", "Session overload"),
    713: ("ERR_TOO_MANY_REQUESTS", "Too many requests: slow down"),
    715: ("ERR_NOT_EXPECTED", "Command not expected at this point"),
    717: ("ERR_BAD_FRIEND_FILE", "Bad friend file"),
    800: ("ERR_CHANGING_TOO_FAST", "Changing too fast: slow down"),
    910: ("ERR_SERVER_TOO_BUSY", "The server is too busy"),
    911: ("ERR_AUTHENTICATION_FAILED", "Authentication failed: wrong e-mail address or password"),
    912: ("ERR_SERVER_TOO_BUSY_2", "The server is too busy"),
    913: ("ERR_NOT_ALLOWED_WHEN_OFFLINE", "Not allowed while appearing offline"),
    914: ("ERR_SERVER_UNAVAILABLE_3", "The server is unavailable"),
    915: ("ERR_SERVER_UNAVAILABLE_4", "The server is unavailable"),
    916: ("ERR_SERVER_UNAVAILABLE_5", "The server is unavailable"),
    917: ("ERR_AUTHENTICATION_FAILED_2", "Authentication failed"),
    918: ("ERR_SERVER_TOO_BUSY_3", "The server is too busy"),
    919: ("ERR_SERVER_TOO_BUSY_4", "The server is too busy"),
    920: ("ERR_NOT_ACCEPTING_NEW_USERS", "The server is not accepting new users"),
    921: ("ERR_SERVER_TOO_BUSY_5", "The server is too busy"),
    923: ("ERR_KIDS_WITHOUT_CONSENT", "Kids Passport account without parental consent"),
    924: ("ERR_PASSPORT_NOT_VERIFIED", "The account's e-mail address is not verified"),
    928: ("ERR_BAD_TICKET", "The Passport ticket is invalid or expired"),
}


def error_text(code: int) -> str:
    """The human-readable text for an MSNP error code (a generic text for unknown codes)."""
    entry = ERROR_CODES.get(code)
    return entry[1] if entry else f"Unknown server error {code}"


class MSNPException(Exception):
    """Base class of everything this library raises."""


class ProtocolError(MSNPException):
    """Something breaks the protocol: :class:`RemoteProtocolError` when the other side sent it,
    :class:`LocalProtocolError` when we were asked to send it (as in h11)."""


class RemoteProtocolError(ProtocolError):
    """The remote side sent something that breaks the protocol (malformed line, oversized data,
    an answer that makes no sense); the connection or document cannot be trusted further."""


class LocalProtocolError(ProtocolError, ValueError):
    """We were asked to send something that cannot be put on the wire."""


class MSNPError(MSNPException):
    """A transaction failed: the server answered with a numeric error code."""

    def __init__(self, code: int, text: str | None = None, command: str | None = None) -> None:
        self.code = code
        self.name = ERROR_CODES.get(code, (f"ERR_{code}", ""))[0]
        self.text = text or error_text(code)
        self.command = command
        where = f" (in reply to {command})" if command else ""
        super().__init__(f"{code} {self.text}{where}")


class AuthError(MSNPException):
    """Login failed: wrong password, unknown account or a rejected Passport ticket."""

    def __init__(self, message: str, code: int | None = None) -> None:
        self.code = code
        super().__init__(message)


class TicketRejected(AuthError):
    """The server refused a stored Passport ticket (expired or revoked): a login with the
    password gets a new one."""


class ConnectionClosed(MSNPException):
    """The connection closed; ``stage`` says what we were doing (e.g. ``"VER"``, ``"USR"``)."""

    def __init__(self, stage: str, reason: str = "connection closed by the server") -> None:
        self.stage = stage
        self.reason = reason
        super().__init__(f"{reason} during {stage}")


class ProtocolRefused(MSNPException):
    """No protocol version both sides accept (the server chose none of those we offered)."""


class MD5LoginRefused(ProtocolRefused):
    """The server speaks only MSNP2-7, whose MD5 login we refuse (``allow_md5_login`` is off).

    Those versions send ``md5(salt + password)``: anyone who sees the connection can test
    password guesses against it offline.
    """


class SwitchboardLimitReached(MSNPException):
    """No conversation can be opened: ``max_switchboards`` are open and all in use."""


class TransactionTimeout(MSNPException, TimeoutError):
    """The server did not answer a transaction in time."""


class DeliveryFailed(MSNPException):
    """The switchboard answered a message with ``NAK``."""


class UnknownConversation(MSNPException, ValueError):
    """A group conversation key this client has never seen (e.g. from before a reconnect).

    :meth:`MSNClient.restore_group` makes such a key usable again.
    """


class PassportUnavailable(MSNPException, ConnectionError):
    """The Passport (nexus / login) server could not be reached or answered nonsense."""


def error_from_code(code: int, command: str | None = None) -> MSNPError:
    return MSNPError(code, command=command)


class P2PError(MSNPException):
    """Something went wrong in a P2P (MSNSLP) session; the switchboard itself is unaffected."""


class P2PProtocolError(P2PError):
    """The other client sent a P2P frame or MSNSLP message that breaks the protocol."""


class P2PLimitExceeded(P2PError):
    """A P2P limit (sessions, sizes, buffered data) was reached; the session was refused."""


class TransferDeclined(P2PError):
    """The contact declined the invitation (``603 Decline``) or has no such object."""


class TransferTimeout(P2PError, TimeoutError):
    """The contact did not answer or stopped sending/acknowledging data in time."""


class TransferFailed(P2PError):
    """A transfer broke off: cancelled by either side, the switchboard closed, bad data."""


class PeerUnreachable(TransferFailed):
    """An MSNFTP sender's computer could not be reached (refused, timed out, or an address
    the client does not connect to)."""


# --- web services (Passport SSO, address book, offline messages) -------------------------


class ServiceError(MSNPException):
    """A web service the client talks SOAP to (Passport, ABCH, OIM) failed."""


class ServiceUnavailable(ServiceError, ConnectionError):
    """The service could not be reached, timed out, or gave no usable SOAP answer.

    ``status`` is the HTTP status when there was one. The message never holds the request or
    response body (they carry passwords and tickets).
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class SoapFault(ServiceError):
    """The service answered with a SOAP fault.

    ``code`` is the local part of the fault code (``FailedAuthentication``, ``Client``,
    ``AuthenticationFailed``), ``error_code`` the ABCH ``<errorcode>`` (``FullSyncRequired``,
    ``ContactDoesNotExist``...) when present, ``detail`` the text of the other leaf elements of
    the fault detail by local name (``LockKeyChallenge``, ``TweenerChallenge``...).
    """

    def __init__(
        self,
        code: str,
        text: str = "",
        *,
        error_code: str = "",
        detail: Mapping[str, str] | None = None,
        status: int | None = None,
    ) -> None:
        self.code = code
        self.text = text
        self.error_code = error_code
        self.detail: dict[str, str] = dict(detail or {})
        self.status = status
        shown = error_code or code
        super().__init__(f"SOAP fault {shown}: {text}" if text else f"SOAP fault {shown}")


class ErrorCode(IntEnum):
    """The codes of :data:`ERROR_CODES` by name (the table's ``ERR_`` names without the prefix),
    for code that tests for one error: ``e.code == ErrorCode.NOT_ONLINE``."""

    SYNTAX_ERROR = 200
    INVALID_PARAMETER = 201
    INVALID_USER = 205
    FQDN_MISSING = 206
    ALREADY_LOGIN = 207
    INVALID_USERNAME = 208
    INVALID_FRIENDLY_NAME = 209
    LIST_FULL = 210
    ALREADY_THERE = 215
    NOT_ON_LIST = 216
    NOT_ONLINE = 217
    ALREADY_IN_THE_MODE = 218
    ALREADY_IN_OPPOSITE_LIST = 219
    TOO_MANY_GROUPS = 223
    INVALID_GROUP = 224
    USER_NOT_IN_GROUP = 225
    GROUP_NOT_EMPTY = 226
    GROUP_NOT_EMPTY_OR_INVALID = 227
    GROUP_NAME_TOO_LONG = 228
    GROUP_ZERO = 229
    INVALID_GROUP_NAME = 230
    GROUP_ALREADY_EXISTS = 231
    INVALID_PASSPORT = 232
    CANNOT_RENAME = 233
    GROUP_LIMIT = 234
    SWITCHBOARD_FAILED = 280
    NOTIFY_XFR_FAILED = 281
    REQUIRED_FIELDS_MISSING = 300
    TOO_MANY_HITS = 301
    NOT_LOGGED_IN = 302
    INTERNAL_SERVER = 500
    DB_SERVER = 501
    COMMAND_DISABLED = 502
    USER_NOT_FOUND = 503
    CHALLENGE_FAILED = 540
    SERVER_BUSY = 600
    SERVER_UNAVAILABLE = 601
    DB_CONNECT = 603
    SERVER_GOING_DOWN = 604
    SERVER_UNAVAILABLE_2 = 605
    CREATE_CONNECTION = 707
    BAD_CVR = 710
    BLOCKING_WRITE = 711
    SESSION_OVERLOAD = 712
    TOO_MANY_REQUESTS = 713
    NOT_EXPECTED = 715
    BAD_FRIEND_FILE = 717
    CHANGING_TOO_FAST = 800
    SERVER_TOO_BUSY = 910
    AUTHENTICATION_FAILED = 911
    SERVER_TOO_BUSY_2 = 912
    NOT_ALLOWED_WHEN_OFFLINE = 913
    SERVER_UNAVAILABLE_3 = 914
    SERVER_UNAVAILABLE_4 = 915
    SERVER_UNAVAILABLE_5 = 916
    AUTHENTICATION_FAILED_2 = 917
    SERVER_TOO_BUSY_3 = 918
    SERVER_TOO_BUSY_4 = 919
    NOT_ACCEPTING_NEW_USERS = 920
    SERVER_TOO_BUSY_5 = 921
    KIDS_WITHOUT_CONSENT = 923
    PASSPORT_NOT_VERIFIED = 924
    BAD_TICKET = 928


#: Codes that say the credentials themselves were refused: retrying them cannot succeed.
AUTH_FAILURE_CODES: Final = frozenset(
    {
        ErrorCode.AUTHENTICATION_FAILED,
        ErrorCode.AUTHENTICATION_FAILED_2,
        ErrorCode.KIDS_WITHOUT_CONSENT,
        ErrorCode.PASSPORT_NOT_VERIFIED,
        ErrorCode.BAD_TICKET,
    }
)


def is_auth_failure(error: BaseException) -> bool:
    """Whether ``error`` means the account or its credentials were refused (an
    :class:`AuthError`, or an :class:`MSNPError` with a code of :data:`AUTH_FAILURE_CODES`),
    as opposed to a failure that a later attempt may not meet."""
    if isinstance(error, AuthError):
        return True
    return isinstance(error, MSNPError) and error.code in AUTH_FAILURE_CODES
