"""Outside failures (homeserver, network) are logged without their traceback; bugs keep theirs."""

from __future__ import annotations

from collections.abc import Iterator
import io
import logging

from aiohttp import ServerDisconnectedError
from mautrix.errors import MNotFound
import pytest

from bridge import log_failures
from bridge.log_failures import BriefFailures

FORMAT = "%(levelname)s %(name)s: %(message)s"


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    log = logging.getLogger("mau.test.failures")
    log.setLevel(logging.DEBUG)
    try:
        yield log, out
    finally:
        root.removeHandler(handler)


def raised(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as e:
        return e


def test_a_homeserver_failure_is_one_line_with_the_exception(
    logged: tuple[logging.Logger, io.StringIO],
) -> None:
    log, out = logged
    brief = log_failures.install()
    try:
        for error in (MNotFound(404, "Room not found"), ServerDisconnectedError(), TimeoutError()):
            try:
                raise error
            except Exception:
                log.warning("Failed to create the space %r", "MSN", exc_info=True)
    finally:
        for handler in logging.getLogger().handlers:
            handler.removeFilter(brief)
        for name in log_failures.MAUTRIX_LOGGERS:
            logging.getLogger(name).removeFilter(brief)
    assert out.getvalue().splitlines() == [
        "WARNING mau.test.failures: Failed to create the space 'MSN'",
        "MNotFound: Room not found",
        "WARNING mau.test.failures: Failed to create the space 'MSN'",
        "ServerDisconnectedError: Server disconnected",
        "WARNING mau.test.failures: Failed to create the space 'MSN'",
        "TimeoutError",
    ]


@pytest.mark.parametrize(
    ("level", "error"),
    [
        (logging.WARNING, ValueError("a bug")),  # not an outside failure
        (logging.ERROR, MNotFound(404, "Room not found")),  # an error keeps its traceback
    ],
)
def test_other_exceptions_and_errors_keep_their_traceback(
    logged: tuple[logging.Logger, io.StringIO], level: int, error: BaseException
) -> None:
    log, out = logged
    brief = BriefFailures()
    for handler in logging.getLogger().handlers:
        handler.addFilter(brief)
    try:
        log.log(level, "Something failed", exc_info=raised(error))
    finally:
        for handler in logging.getLogger().handlers:
            handler.removeFilter(brief)
    text = out.getvalue()
    assert "Traceback (most recent call last):" in text and "in raised" in text
    assert text.rstrip().endswith(f"{type(error).__name__}: {error}")
