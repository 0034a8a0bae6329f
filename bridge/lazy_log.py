"""Child loggers made when first used.

``logging`` keeps every logger it makes for good (about 0.9 KiB each, with its place in the
hierarchy). The bridge names a logger after each ghost, each room and each user's helpers, most
of which never log a line: :func:`child` stands in for ``parent.getChild(suffix)`` and makes
that logger only when something is logged through it (or anything else is asked of it).
"""

from __future__ import annotations

from typing import Any, cast
import logging

from mautrix.util.logging import TraceLogger

__all__ = ["child"]


class _LazyChild:
    __slots__ = ("_logger", "_parent", "_suffix")

    def __init__(self, parent: logging.Logger, suffix: str) -> None:
        self._parent = parent
        self._suffix = suffix
        self._logger: logging.Logger | None = None

    def __getattr__(self, name: str) -> Any:
        logger = self._logger
        if logger is None:
            logger = self._logger = self._parent.getChild(self._suffix)
        return getattr(logger, name)

    def __repr__(self) -> str:
        return f"<lazy logger {self._parent.name}.{self._suffix}>"


def child(parent: logging.Logger, suffix: str) -> TraceLogger:
    """``parent.getChild(suffix)``, made when first used."""
    return cast(TraceLogger, _LazyChild(parent, suffix))
