"""Keeps the passwords and tokens that users send the bot out of the log, at every level.

A user sends secrets in Matrix messages: ``login EMAIL PASSWORD``, the answer to the bot's
password prompt, ``login-matrix ACCESS_TOKEN``. The bot redacts those messages in the room,
but mautrix logs what arrives before the bridge sees it: every received event at TRACE
(``Received event: ...``), the content of each message at TRACE, a raw event it cannot
deserialize at ERROR, and a failed command with its arguments. :class:`SecretFilter` rewrites
such records before any handler formats them; :func:`install` puts it on the log handlers and
on mautrix's loggers.

Which messages hold a secret: those whose command (after the optional command prefix, or
``* `` of an edit) is ``login`` or ``login-matrix``, and any message from a user in the room
where the bot asked them for their password (``awaiting(sender, room_id)``).
"""

from __future__ import annotations

from typing import Any
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
import logging
import re

from mautrix.bridge.commands.handler import command_aliases, command_handlers
from mautrix.types import BaseEvent, BaseMessageEventContent

__all__ = [
    "MAUTRIX_LOGGERS",
    "SECRET_COMMANDS",
    "SecretFilter",
    "add_everywhere",
    "install",
    "note_event",
]

#: Commands whose arguments are a password or an access token.
SECRET_COMMANDS = frozenset({"login", "login-matrix"})
#: The loggers mautrix prints received events and failed commands with.
MAUTRIX_LOGGERS = ("mau.mx", "mau.as", "mau.commands")
#: How many event IDs of secret messages are remembered (their content is logged later).
_REMEMBERED = 1024

Awaiting = Callable[[str, str], bool]

_FAILED_COMMAND = re.compile(
    r"^(?P<head>Unhandled error while handling command |Error handling command )"
    r"(?P<command>.*?)(?P<tail> from @.*)$",
    re.S,
)


class SecretFilter(logging.Filter):
    """Rewrites log records that would show a secret (see the module documentation)."""

    def __init__(self, command_prefix: str, awaiting: Awaiting | None = None) -> None:
        super().__init__()
        prefix = re.escape(command_prefix.strip())
        self._command = re.compile(
            rf"^\s*(?:\*\s*)?(?:{prefix}\s+)?(?P<command>\S+)", re.I if prefix else 0
        )
        self._awaiting = awaiting
        self._secret_ids: OrderedDict[str, None] = OrderedDict()

    # region what is secret

    def _holds_secret_command(self, text: object) -> bool:
        if not isinstance(text, str):
            return False
        match = self._command.match(text)
        return match is not None and match.group("command").lower() in SECRET_COMMANDS

    def _content_is_secret(self, content: Any) -> bool:
        if isinstance(content, BaseMessageEventContent):
            content = content.serialize()
        if not isinstance(content, Mapping):
            return False
        texts = [content.get("body"), content.get("formatted_body")]
        new_content = content.get("m.new_content")
        if isinstance(new_content, Mapping):
            texts += [new_content.get("body"), new_content.get("formatted_body")]
        return any(self._holds_secret_command(text) for text in texts)

    def is_secret_event(self, evt: BaseEvent | Mapping[str, Any]) -> bool:
        """Whether ``evt`` (an event or its raw JSON) is a message that holds a secret; if so,
        its ID is remembered for the records that show only the ID and the content."""
        get = evt.get if isinstance(evt, Mapping) else lambda key: getattr(evt, key, None)
        event_type = get("type")
        if getattr(event_type, "t", event_type) != "m.room.message":
            return False
        sender, room_id = str(get("sender") or ""), str(get("room_id") or "")
        secret = self._content_is_secret(get("content")) or bool(
            self._awaiting is not None and sender and self._awaiting(sender, room_id)
        )
        event_id = get("event_id")
        if secret and event_id:
            self.remember(str(event_id))
        return secret

    def remember(self, event_id: str) -> None:
        """Treat the content logged with ``event_id`` as secret."""
        self._secret_ids[event_id] = None
        self._secret_ids.move_to_end(event_id)
        while len(self._secret_ids) > _REMEMBERED:
            self._secret_ids.popitem(last=False)

    # endregion
    # region rewriting records

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "msn_secrets_checked", False):
            return True  # (the filter sits on loggers and on handlers: once is enough)
        record.msn_secrets_checked = True
        args = record.args
        if isinstance(args, tuple) and args:
            record.args = tuple(self._clean_args(args))
        elif isinstance(args, Mapping) and self._looks_like_event(args):
            record.args = (self._redacted(args),) if self.is_secret_event(args) else args
        if not args and isinstance(record.msg, str) and "command" in record.msg:
            record.msg = self._clean_failed_command(record.msg)
        return True

    def _clean_args(self, args: Iterable[Any]) -> Iterable[Any]:
        args = list(args)
        event_ids = {str(a) for a in args if isinstance(a, str) and a.startswith("$")}
        for arg in args:
            if isinstance(arg, BaseEvent) or (
                isinstance(arg, Mapping) and self._looks_like_event(arg)
            ):
                yield self._redacted(arg) if self.is_secret_event(arg) else arg
            elif (
                isinstance(arg, BaseMessageEventContent)
                or (isinstance(arg, Mapping) and "body" in arg)
            ) and (event_ids & self._secret_ids.keys() or self._content_is_secret(arg)):
                yield "<message content left out: it holds a password or a token>"
            else:
                yield arg

    @staticmethod
    def _looks_like_event(value: Mapping[Any, Any]) -> bool:
        return "type" in value and "content" in value

    @staticmethod
    def _redacted(evt: BaseEvent | Mapping[str, Any]) -> str:
        get = evt.get if isinstance(evt, Mapping) else lambda key: getattr(evt, key, None)
        return (
            f"<message {get('event_id')} from {get('sender')} in {get('room_id')}: content "
            "left out, it holds a password or a token>"
        )

    def _clean_failed_command(self, message: str) -> str:
        """mautrix's "Unhandled error while handling command NAME ARGS from USER" (and the
        debug line without the arguments): only a registered command's name is kept."""
        match = _FAILED_COMMAND.match(message)
        if match is None:
            return message
        words = match.group("command").split()
        name = words[0].lower() if words else ""
        known = name in command_handlers or name in command_aliases
        kept = name if known and name not in SECRET_COMMANDS else "<left out>"
        if len(words) > 1:
            kept += " <arguments left out>"
        return f"{match.group('head')}{kept}{match.group('tail')}"

    # endregion


_installed: SecretFilter | None = None


def install(
    command_prefix: str,
    awaiting: Awaiting | None = None,
    loggers: Iterable[str] = MAUTRIX_LOGGERS,
) -> SecretFilter:
    """Put one :class:`SecretFilter` on every log handler configured now (so records of any
    logger pass it) and on mautrix's ``loggers`` (so handlers added later are covered too)."""
    global _installed
    secret_filter = _installed = SecretFilter(command_prefix, awaiting)
    add_everywhere(secret_filter, loggers)
    return secret_filter


def add_everywhere(log_filter: logging.Filter, loggers: Iterable[str]) -> None:
    """Put ``log_filter`` on every log handler configured now and on the ``loggers``."""
    handlers = set(logging.getLogger().handlers)
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            handlers.update(logger.handlers)
    for handler in handlers:
        handler.addFilter(log_filter)
    for name in loggers:
        logging.getLogger(name).addFilter(log_filter)


def note_event(evt: BaseEvent) -> None:
    """Called for each received message before mautrix logs its content: remember it when it
    holds a secret (so that a record showing only its ID and content is rewritten too)."""
    if _installed is not None:
        _installed.is_secret_event(evt)
