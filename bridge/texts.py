"""Every sentence the bridge says to a user about a failure: failed logins, lost connections,
bridge-state errors, refused commands and undelivered messages. (The notices about what contacts
did, which quote the contacts' names, are :mod:`bridge.contact_notices`'.)

Nothing here has side effects; the callers decide where a text goes (a notice, a command reply,
a message status event). No text ever contains a password or a ticket.
"""

from __future__ import annotations

import re

from mautrix.types import MessageStatusReason
from mautrix.util.bridge_state import BridgeState

from bridge.msnp.errors import (
    AuthError,
    ConnectionClosed,
    DeliveryFailed,
    ErrorCode,
    MD5LoginRefused,
    MSNPError,
    MSNPException,
    ProtocolError,
    ProtocolRefused,
    TransactionTimeout,
    is_auth_failure,
)
from bridge.msnp.values import DisconnectReason

__all__ = [
    "CREDENTIALS_REJECTED",
    "ENCRYPTION_NOT_ALLOWED",
    "ENCRYPTION_REQUIRED",
    "LEFT_ON_MSN",
    "NOT_CONNECTED",
    "OTHER_LOCATION",
    "RECONNECTED",
    "STATE_BAD_CREDENTIALS",
    "STATE_CONNECTION_FAILED",
    "STATE_CREDENTIALS_LOST",
    "STATE_DISCONNECTED",
    "STATE_OTHER_LOCATION",
    "STATE_UNKNOWN_ERROR",
    "SendFailure",
    "command_failure",
    "connect_failed",
    "credentials_lost",
    "describe_login_error",
    "describe_send_error",
    "disconnect_reason",
    "disconnected",
    "md",
    "not_connected_state",
    "not_decrypted",
    "portal_owner_only",
    "queue_expired",
    "queue_full",
    "sent_uncertain",
    "wrote_elsewhere",
]

# region text from elsewhere in Markdown replies

# What formats inline Markdown (CommonMark, as mautrix renders replies), and what formats a
# line by how it starts; "@" and "." elsewhere stay as they are (e-mail addresses stay readable).
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!<>|~&])")
_MD_LINE_START = re.compile(r"^(\d+)([.)])|^([-=])")
_WHITE_SPACE = re.compile(r"\s+")


def md(text: object) -> str:
    """``text`` (a contact's name, a server's error text, what the user typed) for a bot reply,
    which is rendered as Markdown: shown literally, on one line. Without it, ``*x*``,
    ``[x](https://...)`` or ``&lt;`` in a name or an error would format the reply or add a
    link."""
    line = _MD_SPECIAL.sub(r"\\\1", _WHITE_SPACE.sub(" ", str(text)).strip())
    return _MD_LINE_START.sub(lambda m: f"{m[1]}\\{m[2]}" if m[1] else f"\\{m[3]}", line)


# endregion
# region bridge states (the error codes mautrix shows through its status endpoint)

STATE_OTHER_LOCATION = "msn-other-location"
STATE_BAD_CREDENTIALS = "msn-bad-credentials"
STATE_CREDENTIALS_LOST = "msn-credentials-lost"
STATE_CONNECTION_FAILED = "msn-connection-failed"
STATE_DISCONNECTED = "msn-disconnected"
STATE_UNKNOWN_ERROR = "msn-unknown-error"

BridgeState.human_readable_errors.update(
    {
        STATE_OTHER_LOCATION: "Logged in to MSN from another location",
        STATE_BAD_CREDENTIALS: "MSN rejected the stored e-mail address or password",
        STATE_CREDENTIALS_LOST: "The stored MSN password can no longer be decrypted: log in again",
        STATE_CONNECTION_FAILED: "Could not connect to the MSN server: {message}",
        STATE_DISCONNECTED: "Disconnected from the MSN server: {message}",
        STATE_UNKNOWN_ERROR: "Unexpected error while connecting to MSN: {message}",
    }
)

# endregion
# region logging in and staying connected

_DISCONNECT_TEXT = {
    DisconnectReason.SERVER_SHUTDOWN: "the MSN server is shutting down",
    DisconnectReason.CONNECTION_LOST: "the connection to the MSN server was lost",
    DisconnectReason.KEEPALIVE_TIMEOUT: "the MSN server stopped answering",
    DisconnectReason.PROTOCOL_ERROR: "the MSN server sent something the bridge did not understand",
    DisconnectReason.OTHER_LOCATION: "you logged in to MSN from another location",
    DisconnectReason.CLIENT: "the bridge closed the connection",
}

RECONNECTED = "Reconnected to MSN."
OTHER_LOCATION = (
    "You were disconnected from MSN because you logged in from another location. "
    "The bridge will not reconnect by itself: use `reconnect` to take the session "
    "back, or `login EMAIL` to log in again."
)
CREDENTIALS_REJECTED = (
    "MSN rejected your stored e-mail address or password. Use `login EMAIL` to log in again."
)


def describe_login_error(err: BaseException) -> str:
    """A readable sentence for a failed login (never includes the password)."""
    if isinstance(err, MD5LoginRefused):
        return (
            "The MSN server only speaks MSNP2-7, whose login would send your password as an "
            "MD5 hash that anyone on the network path can crack; the bridge refused. An admin "
            "can allow it with msn.allow_md5_login (not recommended)."
        )
    if isinstance(err, ProtocolRefused):
        return (
            "The MSN server refused every protocol version the bridge offered "
            "(check msn.protocol_min / msn.protocol_max)."
        )
    if isinstance(err, AuthError):
        return "Wrong e-mail address or password (the MSN server refused the login)."
    if isinstance(err, MSNPError):
        if is_auth_failure(err):
            return f"The MSN server refused the login: {err.text}."
        return f"The MSN server refused the login: error {err.code} ({err.text})."
    if isinstance(err, ConnectionClosed):
        return f"Could not reach the MSN server: the connection closed during {err.stage}."
    if isinstance(err, TransactionTimeout):
        return "Could not log in: the MSN server did not answer in time."
    if isinstance(err, ProtocolError):
        return f"Could not log in: the MSN server broke the protocol ({err})."
    if isinstance(err, OSError | TimeoutError):
        detail = getattr(err, "strerror", None) or str(err) or type(err).__name__
        return f"Could not reach the MSN server ({detail})."
    return f"Could not log in: unexpected error ({type(err).__name__})."


def disconnect_reason(reason: DisconnectReason) -> str:
    """Why the connection ended, as the end of "Disconnected from MSN: ..."."""
    return _DISCONNECT_TEXT.get(reason, reason.value)


def _seconds(value: float) -> str:
    whole = max(1, round(value))
    return f"{whole} second{'s' if whole != 1 else ''}"


def disconnected(reason: DisconnectReason, retry_in: float) -> str:
    return (
        f"Disconnected from MSN: {disconnect_reason(reason)}. Reconnecting in "
        f"{_seconds(retry_in)}; the bridge keeps trying and tells you when the connection is back. "
        "Messages you send meanwhile wait and are delivered then."
    )


def connect_failed(err: BaseException, retry_in: float) -> str:
    return (
        f"{describe_login_error(err)} The bridge keeps retrying (next attempt in "
        f"{_seconds(retry_in)}) and tells you when it is connected."
    )


def credentials_lost(passport: str | None) -> str:
    return (
        f"The bridge can no longer read your stored MSN password for {passport} (its "
        "encryption key was changed), so it cannot connect you to MSN. Please log in again "
        f"with `login {passport}`."
    )


def not_connected_state(
    connecting: bool, state_error: str | None, last_message: str | None, bad_credentials: bool
) -> str:
    """What `ping` says (Markdown) about a logged-in user who is not connected."""
    if connecting:
        detail = f" (last error: {md(last_message)})" if last_message else ""
        return f"connecting{detail}"
    if bad_credentials:
        if state_error == STATE_OTHER_LOCATION:
            return "you logged in from another location; use `reconnect` to take over"
        if state_error == STATE_CREDENTIALS_LOST:
            return (
                "the stored password can no longer be read (the bridge's encryption key "
                "changed); use `login` to log in again"
            )
        return "the stored credentials were rejected; use `login` to log in again"
    if last_message:
        return f"disconnected ({md(last_message)}); use `reconnect` to retry"
    return "disconnected; use `reconnect` to connect"


# endregion
# region commands

NOT_CONNECTED = "You are not connected to MSN right now. Use `$cmdprefix+sp ping` for details."


def portal_owner_only(command: str) -> str:
    """The reply when someone else than the portal's owner (or an admin) runs a command that
    acts on the portal; ``command`` is the command's registered name."""
    return (
        f"Only the owner of this conversation or a bridge administrator can use "
        f"`{command}` in this room."
    )


#: Why MSN refused a change to the lists, in the user's words (the one table of these texts).
REFUSALS = {
    ErrorCode.INVALID_USER: "there is no MSN account with that address",
    ErrorCode.INVALID_USERNAME: "that is not a valid MSN address",
    ErrorCode.INVALID_PASSPORT: "that is not a valid MSN address",
    ErrorCode.LIST_FULL: "that list is full",
    ErrorCode.ALREADY_THERE: "they are already there",
    ErrorCode.NOT_ON_LIST: "they are not on that list",
    ErrorCode.ALREADY_IN_OPPOSITE_LIST: "nobody can be allowed and blocked at once",
    ErrorCode.TOO_MANY_GROUPS: "you have as many groups as MSN allows",
    ErrorCode.GROUP_LIMIT: "you have as many groups as MSN allows",
    ErrorCode.INVALID_GROUP: "that group does not exist (any more)",
    ErrorCode.USER_NOT_IN_GROUP: "they are not in that group",
    ErrorCode.GROUP_NOT_EMPTY: "the group is not empty: move its contacts out first",
    ErrorCode.GROUP_NOT_EMPTY_OR_INVALID: "the group is not empty or does not exist",
    ErrorCode.GROUP_NAME_TOO_LONG: "the group name is too long",
    ErrorCode.INVALID_GROUP_NAME: "MSN does not accept that group name",
    ErrorCode.GROUP_ZERO: "the first group cannot be renamed or deleted",
    ErrorCode.GROUP_ALREADY_EXISTS: "there is already a group with that name",
    ErrorCode.CANNOT_RENAME: "that group cannot be renamed",
    ErrorCode.CHANGING_TOO_FAST: "too many changes in a short time: try again in a minute",
    ErrorCode.NOT_ALLOWED_WHEN_OFFLINE: "not while your status is Appear Offline",
}


def command_failure(error: MSNPException, action: str) -> str:
    """The reply (Markdown) when an MSN operation failed; ``action`` completes "to ...", e.g.
    "add x"."""
    if isinstance(error, MSNPError):
        why = REFUSALS.get(error.code, error.text)  # type: ignore[call-overload]
        return f"MSN refused to {md(action)}: {md(why)} (error {error.code})."
    return f"Failed to {md(action)}: {md(error)}."


# endregion
# region messages from Matrix


_KIND_OF_REASON = {
    MessageStatusReason.NO_PERMISSION: "no_permission",
    MessageStatusReason.UNSUPPORTED: "unsupported",
}


class SendFailure(Exception):
    """A Matrix event that could not be bridged, with a readable reason; ``kind`` is the
    reason's label in the metrics (one of :data:`bridge.metrics.SEND_FAILURE_REASONS`)."""

    def __init__(
        self,
        message: str,
        reason: MessageStatusReason,
        retriable: bool = False,
        kind: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.retriable = retriable
        self.kind = kind or _KIND_OF_REASON.get(reason, "error")


def describe_send_error(err: BaseException, contact: str) -> SendFailure:
    """Turn an MSNClient.send_* exception into a readable :class:`SendFailure`."""
    if isinstance(err, SendFailure):
        return err
    if isinstance(err, MSNPError) and err.code == ErrorCode.NOT_ONLINE:
        return SendFailure(
            f"{contact} is offline", MessageStatusReason.NETWORK_ERROR, kind="offline"
        )
    if isinstance(err, DeliveryFailed):
        return SendFailure(
            f"MSN reported that {contact} did not receive it",
            MessageStatusReason.NETWORK_ERROR,
            kind="not_delivered",
        )
    if isinstance(err, TransactionTimeout):
        return SendFailure(
            f"no delivery confirmation from MSN for the message to {contact}",
            MessageStatusReason.NETWORK_ERROR,
            retriable=True,
            kind="timeout",
        )
    if isinstance(err, MSNPError):
        return SendFailure(
            f"the MSN server refused it ({err.code}: {err.text})",
            MessageStatusReason.NETWORK_ERROR,
            kind="refused",
        )
    if isinstance(err, ConnectionClosed | ConnectionError | OSError):
        return SendFailure(
            "the bridge is not connected to MSN right now",
            MessageStatusReason.NETWORK_ERROR,
            retriable=True,
            kind="not_connected",
        )
    if isinstance(err, MSNPException):
        return SendFailure(f"MSN error: {err}", MessageStatusReason.NETWORK_ERROR)
    return SendFailure(
        f"unexpected error ({type(err).__name__})", MessageStatusReason.GENERIC_ERROR
    )


def queue_expired(timeout: float, last_error: str) -> SendFailure:
    """A queued message that could not be sent in time (``last_error``: the last obstacle)."""
    why = f": {last_error}" if last_error else ""
    return SendFailure(
        f"it could not be sent within {timeout:g} seconds{why}",
        MessageStatusReason.NETWORK_ERROR,
        kind="not_connected",
    )


def queue_full(limit: int) -> SendFailure:
    return SendFailure(
        f"{limit} messages are already waiting to be sent in this conversation",
        MessageStatusReason.NETWORK_ERROR,
        retriable=True,
        kind="queue_full",
    )


def sent_uncertain(err: BaseException) -> SendFailure:
    """The connection broke after the message was written, before MSN acknowledged it."""
    detail = str(err) or type(err).__name__
    return SendFailure(
        "the connection to MSN broke before MSN confirmed this message, so it may or may not "
        f"have arrived ({detail}); it is not sent again, to avoid sending it twice",
        MessageStatusReason.NETWORK_ERROR,
        kind="uncertain",
    )


def not_decrypted(reason: str, wait_seconds: int | None = None) -> str:
    """The notice about a message from Matrix the bridge cannot decrypt (``reason``: why, e.g.
    mautrix's "the bridge hasn't received the decryption keys"); while it still waits for the
    keys, ``wait_seconds`` says how long."""
    if wait_seconds:
        return (
            f"The bridge cannot decrypt your message yet ({reason}), so it has not been sent to "
            f"MSN. The bridge waits up to {wait_seconds} seconds for the keys."
        )
    return (
        f"Your message was not sent to MSN: the bridge could not decrypt it ({reason}). Send it "
        "again; if this keeps happening, your Matrix client is not sharing its keys with the "
        "bridge's device."
    )


def wrote_elsewhere(text: str) -> str:
    """The notice showing what the user wrote from their own MSN client (echoed to the bridge
    at MSNP16+) when the bridge cannot post it as their Matrix account (no double puppeting)."""
    return f"You wrote from Messenger: {text}"


LEFT_ON_MSN = "You left this conversation on MSN."

ENCRYPTION_REQUIRED = (
    "Your message was not sent to MSN: it is not encrypted, and this bridge accepts only "
    "encrypted messages (bridge.encryption.require). Send it again from a client that encrypts."
)

ENCRYPTION_NOT_ALLOWED = (
    "Your message was not sent to MSN: it is encrypted, and this bridge is not configured for "
    "encryption (bridge.encryption.allow)."
)


# endregion
