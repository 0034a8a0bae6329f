"""Failures of the homeserver or the network are logged in two lines, without their traceback.

Such a failure is an outside event, not a fault of the bridge: the homeserver refused a request,
answered late or closed the connection. The warning names what failed (its message) and the
exception's last line (``ServerDisconnectedError: Server disconnected``, ``M_FORBIDDEN ...``),
which is all a traceback adds to it. The traceback itself is costly: Python 3.11 looks up the
position of every frame in its code (``traceback._get_code_position``): 0.57 ms for the six
frames of an aiohttp request's failure against 0.03 ms for the two lines
(``bench/log_failures.py``). When the homeserver failed hundreds of requests at once (10,000
users at a first start, Synapse behind by thousands of rooms), formatting them took 38 % of the
idle bridge's CPU and up to 330 ms of it between two 10 ms ticks of the event loop.

:class:`BriefFailures` rewrites records of level WARNING and below whose exception is one of
:data:`OUTSIDE_FAILURES` before any handler formats them; an ERROR keeps its traceback, as does
any other exception (a bug is found by its traceback). :func:`install` puts it on the log
handlers configured now and on mautrix's loggers, as :mod:`bridge.log_redaction` does.
"""

from __future__ import annotations

from typing import Final
from collections.abc import Iterable
import logging

from aiohttp import ClientError
from mautrix.errors import (
    IntentError,
    MatrixConnectionError,
    MatrixRequestError,
    MatrixResponseError,
)

from bridge.log_redaction import MAUTRIX_LOGGERS, add_everywhere

__all__ = ["OUTSIDE_FAILURES", "BriefFailures", "install"]

#: What the homeserver or the network caused.
OUTSIDE_FAILURES: Final = (
    MatrixRequestError,
    MatrixConnectionError,
    MatrixResponseError,
    IntentError,
    ClientError,
    ConnectionError,
    TimeoutError,
)


class BriefFailures(logging.Filter):
    """Replaces the traceback of an outside failure with its last line (see the module)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.levelno <= logging.WARNING:
            error = record.exc_info[1]
            if isinstance(error, OUTSIDE_FAILURES):
                text = str(error)
                name = type(error).__name__
                record.exc_info = None
                record.exc_text = f"{name}: {text}" if text else name
        return True


def install(loggers: Iterable[str] = MAUTRIX_LOGGERS) -> BriefFailures:
    """Put one :class:`BriefFailures` on every log handler configured now and on mautrix's
    ``loggers`` (records of handlers added later pass those)."""
    brief = BriefFailures()
    add_everywhere(brief, loggers)
    return brief
