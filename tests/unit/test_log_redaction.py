"""The log filter that keeps passwords and tokens sent to the bot out of every log record,
fed the records mautrix writes (the same calls, formats and arguments)."""

from __future__ import annotations

from collections.abc import Iterator
import io
import logging

from mautrix.types import Event, MessageEvent
from mautrix.util.logging import TraceLogger
import pytest

from bridge import log_redaction

SENDER, ROOM, OTHER_ROOM = "@alice:hs", "!mgmt:hs", "!portal:hs"
PASSWORD, TOKEN = "hunter2-secret", "syt_c2VjcmV0_token"


def message(body: str, event_id: str = "$e1", room: str = ROOM, **content: object) -> MessageEvent:
    evt = Event.deserialize(
        {
            "type": "m.room.message",
            "room_id": room,
            "sender": SENDER,
            "event_id": event_id,
            "origin_server_ts": 1,
            "content": {"msgtype": "m.text", "body": body, **content},
        }
    )
    assert isinstance(evt, MessageEvent)
    return evt


@pytest.fixture
def logs() -> Iterator[tuple[io.StringIO, set[tuple[str, str]]]]:
    """A fresh handler on mautrix's loggers with the filter installed; the set says who the bot
    asked for a password, and where."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(1)
    prompted: set[tuple[str, str]] = set()
    loggers = [logging.getLogger(name) for name in log_redaction.MAUTRIX_LOGGERS]
    levels = [(lg, lg.level, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(1)
        lg.propagate = False
    secret_filter = log_redaction.install("!msn", lambda s, r: (s, r) in prompted)
    try:
        yield stream, prompted
    finally:
        for lg, level, propagate in levels:
            lg.removeHandler(handler)
            lg.removeFilter(secret_filter)
            lg.setLevel(level)
            lg.propagate = propagate
        log_redaction._installed = None


def _mx() -> TraceLogger:
    log = logging.getLogger("mau.mx")
    assert isinstance(log, TraceLogger)
    return log


@pytest.mark.parametrize(
    "body",
    [
        f"login alice@example.com {PASSWORD}",
        f"!msn login alice@example.com {PASSWORD}",
        f"  !MSN   LOGIN alice@example.com {PASSWORD}",
        f"login-matrix {PASSWORD}",
    ],
)
def test_received_login_messages_are_left_out(logs: tuple[io.StringIO, set], body: str) -> None:
    stream, _ = logs
    evt = message(body)
    _mx().trace("Received event: %s", evt)  # mautrix/bridge/matrix.py, int_handle_event
    log_redaction.note_event(evt)  # what MatrixHandler.handle_message does next
    _mx().trace("Event %s content: %s", evt.event_id, evt.content)  # handle_message
    text = stream.getvalue()
    assert PASSWORD not in text
    assert "$e1" in text and SENDER in text and "left out" in text


def test_an_edit_and_html_of_a_login_message_are_left_out(logs: tuple[io.StringIO, set]) -> None:
    stream, _ = logs
    edit = message(
        f"* login a@b.c {PASSWORD}",
        "$e2",
        **{"m.new_content": {"msgtype": "m.text", "body": f"login a@b.c {PASSWORD}"}},
    )
    _mx().trace("Received event: %s", edit)
    html = message("hi", "$e3", format="org.matrix.custom.html", formatted_body=f"login {TOKEN}")
    _mx().trace("Received event: %s", html)
    assert PASSWORD not in stream.getvalue() and TOKEN not in stream.getvalue()


def test_the_answer_to_the_password_prompt_is_left_out(logs: tuple[io.StringIO, set]) -> None:
    stream, prompted = logs
    prompted.add((SENDER, ROOM))
    answer = message(PASSWORD, "$answer")
    _mx().trace("Received event: %s", answer)
    _mx().trace("Event %s content: %s", answer.event_id, answer.content)
    # only in the room where the bot asked
    elsewhere = message("an ordinary message", "$other", room=OTHER_ROOM)
    _mx().trace("Received event: %s", elsewhere)
    _mx().trace("Event %s content: %s", elsewhere.event_id, elsewhere.content)
    text = stream.getvalue()
    assert PASSWORD not in text
    assert text.count("an ordinary message") == 2


def test_failed_commands_are_logged_without_their_arguments(
    logs: tuple[io.StringIO, set],
) -> None:
    stream, _ = logs
    commands = logging.getLogger("mau.commands")
    # mautrix/bridge/commands/handler.py: the command and ' '.join(args) in an f-string; for
    # the answer to a prompt, the command is "" and the password is in the arguments
    for command, args in (("login", ["a@b.c", PASSWORD]), ("", [PASSWORD]), ("help", ["x"])):
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            commands.exception(
                "Unhandled error while handling command "
                f"{command} {' '.join(args)} from {SENDER} (ref: 7)"
            )
    # mautrix/bridge/matrix.py: the first word of the message as the command
    _mx().debug(f"Error handling command {PASSWORD} from {SENDER}: boom")
    text = stream.getvalue()
    assert PASSWORD not in text
    assert "command help <arguments left out> from @alice:hs (ref: 7)" in text
    assert f"Error handling command <left out> from {SENDER}: boom" in text
    assert "RuntimeError: boom" in text


def test_a_raw_event_mautrix_could_not_read_is_left_out(logs: tuple[io.StringIO, set]) -> None:
    stream, _ = logs
    raw = {"type": "m.room.message", "sender": SENDER, "room_id": ROOM, "event_id": "$raw"}
    raw["content"] = {"body": f"login a@b.c {PASSWORD}", "msgtype": 5}
    logging.getLogger("mau.as").error("Failed to deserialize event %s", raw)
    assert PASSWORD not in stream.getvalue() and "$raw" in stream.getvalue()


def test_other_records_are_untouched(logs: tuple[io.StringIO, set]) -> None:
    stream, _ = logs
    evt = message("log in later, and login-matrix is a command", "$plain")
    _mx().trace("Received event: %s", evt)
    _mx().trace("Event %s content: %s", evt.event_id, evt.content)
    _mx().info("Answered %d of %s", 3, "them")
    text = stream.getvalue()
    assert text.count("log in later, and login-matrix is a command") == 2
    assert "Answered 3 of them" in text
