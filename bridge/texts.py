"""Every sentence the bridge says to a user about a failure: failed logins, lost connections,
bridge-state errors, refused commands and undelivered messages.

Nothing here has side effects; the callers decide where a text goes (a notice, a command reply,
a message status event). No text ever contains a password or a ticket.
"""

from __future__ import annotations

from mautrix.types import MessageStatusReason
from mautrix.util.bridge_state import BridgeState

from bridge.msnp.client import DeliveryFailed, ProtocolRefused
from bridge.msnp.errors import (
    AuthError,
    ConnectionClosed,
    ErrorCode,
    MD5LoginRefused,
    MSNPError,
    MSNPException,
    ProtocolError,
    TransactionTimeout,
    is_auth_failure,
)
from bridge.msnp.events import DisconnectReason

__all__ = [
    "CREDENTIALS_REJECTED",
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
    "not_connected_state",
]

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


def disconnected(reason: DisconnectReason, retry_in: float) -> str:
    return f"Disconnected from MSN: {disconnect_reason(reason)}. Reconnecting in {retry_in:g} seconds."


def connect_failed(err: BaseException, retry_in: float) -> str:
    return (
        f"{describe_login_error(err)} The bridge keeps retrying "
        f"(next attempt in {retry_in:g} seconds)."
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
    """What `ping` says about a logged-in user who is not connected."""
    if connecting:
        detail = f" (last error: {last_message})" if last_message else ""
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
        return f"disconnected ({last_message}); use `reconnect` to retry"
    return "disconnected; use `reconnect` to connect"


# endregion
# region commands

NOT_CONNECTED = "You are not connected to MSN right now. Use `$cmdprefix+sp ping` for details."


def command_failure(error: MSNPException, action: str) -> str:
    """The reply when an MSN operation failed; ``action`` completes "to ...", e.g. "add x"."""
    if isinstance(error, MSNPError):
        return f"MSN refused to {action}: {error.text}."
    return f"Failed to {action}: {error}."


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


# endregion
