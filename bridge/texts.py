"""Every sentence the bridge says to a user about a failure: failed logins, lost connections,
bridge-state errors, refused commands and undelivered messages; and the notices about what
contacts did (added the user, opened too many group chats), which quote the contacts' names.

Nothing here has side effects; the callers decide where a text goes (a notice, a command reply,
a message status event). No text ever contains a password or a ticket.
"""

from __future__ import annotations

from collections.abc import Sequence
import html as html_lib
import re
import unicodedata

from mautrix.types import MessageStatusReason
from mautrix.util.bridge_state import BridgeState

from bridge.clean_text import clean_line
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
    "added_you",
    "command_failure",
    "connect_failed",
    "credentials_lost",
    "describe_login_error",
    "describe_send_error",
    "disconnect_reason",
    "disconnected",
    "group_rooms_limited",
    "md",
    "not_connected_state",
    "not_decrypted",
    "portal_owner_only",
    "queue_expired",
    "queue_full",
    "quoted",
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


def command_failure(error: MSNPException, action: str) -> str:
    """The reply (Markdown) when an MSN operation failed; ``action`` completes "to ...", e.g.
    "add x"."""
    if isinstance(error, MSNPError):
        return f"MSN refused to {md(action)}: {md(error.text)}."
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


# region notices about what contacts did (their names are theirs: quoted, never first)

#: A quoted name is cut after this many characters.
QUOTED_NAME_LENGTH = 64
_QUOTES = str.maketrans({"\u201c": "'", "\u201d": "'", '"': "'"})


def quoted(name: str) -> tuple[str, str]:
    """``name`` (chosen by a contact, so by anyone) for the middle of a notice: one line
    without control or formatting characters (no line breaks, no right-to-left overrides),
    at most :data:`QUOTED_NAME_LENGTH` characters, between quotation marks it cannot close;
    as plain text and as HTML (escaped)."""
    # the names rule (bridge.clean_text), then stricter for a quote: no format characters at all
    text = "".join(
        ch for ch in clean_line(name, max_length=len(name)) if unicodedata.category(ch)[0] != "C"
    )
    text = " ".join(text.translate(_QUOTES).split())
    if len(text) > QUOTED_NAME_LENGTH:
        text = text[: QUOTED_NAME_LENGTH - 1].rstrip() + "\u2026"
    return f"\u201c{text}\u201d", f"\u201c{html_lib.escape(text)}\u201d"


def _address(passport: str) -> tuple[str, str]:
    text = quoted(passport)[0][1:-1]
    return text, html_lib.escape(text)


def added_you(people: Sequence[tuple[str, str]], more: int = 0) -> tuple[str, str]:
    """The notice that ``people`` (passport, name) and ``more`` others added the user to their
    contact list; plain text and HTML."""
    plain: list[str] = []
    rich: list[str] = []
    for passport, name in people:
        name_text, name_html = quoted(name or passport)
        addr_text, addr_html = _address(passport)
        plain.append(f"{name_text} ({addr_text})")
        rich.append(f"{name_html} (<code>{addr_html}</code>)")
    listed_text, listed_html = ", ".join(plain), ", ".join(rich)
    if more:
        listed_text += f" and {more} more"
        listed_html += f" and {more} more"
    single = len(people) == 1 and not more
    head = (
        "Someone added you to their MSN contact list: "
        if single
        else "New people added you to their MSN contact list: "
    )
    if single:
        addr_text, addr_html = _address(people[0][0])
        tail_text = f". Use `add {addr_text}` to add them back."
        tail_html = f". Use <code>add {addr_html}</code> to add them back."
    else:
        tail_text = ". Use `add EMAIL` to add someone back."
        tail_html = ". Use <code>add EMAIL</code> to add someone back."
    return head + listed_text + tail_text, head + listed_html + tail_html


def group_rooms_limited(passport: str, name: str, limit: int, window: float) -> tuple[str, str]:
    """The notice that the contact ``passport`` opened more group chat rooms than allowed."""
    name_text, name_html = quoted(name or passport)
    addr_text, addr_html = _address(passport)
    per = f"{limit} per {_duration(window)}"
    text = (
        "A contact started more new group chats than the bridge opens rooms for "
        f"({per}): {name_text} ({addr_text}). Until that eases, messages in their new group "
        "chats are shown in your direct chat with whoever wrote them (replies there go to "
        "that person only)."
    )
    rich = (
        "A contact started more new group chats than the bridge opens rooms for "
        f"({per}): {name_html} (<code>{addr_html}</code>). Until that eases, messages in "
        "their new group chats are shown in your direct chat with whoever wrote them "
        "(replies there go to that person only)."
    )
    return text, rich


def _duration(seconds: float) -> str:
    if seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return "hour" if hours == 1 else f"{hours} hours"
    if seconds % 60 == 0:
        minutes = int(seconds // 60)
        return "minute" if minutes == 1 else f"{minutes} minutes"
    return f"{seconds:g} seconds"


# endregion
