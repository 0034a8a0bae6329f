"""Every error the web front ends answer with: the ``errcode`` values, and the JSON body
``{"errcode": ..., "error": ...}`` of the provisioning API."""

from __future__ import annotations

from aiohttp import web

__all__ = [
    "ALREADY_LOGGED_IN",
    "BAD_JSON",
    "FORBIDDEN",
    "INVALID_PARAM",
    "LOGIN_REFUSED",
    "MISSING_PARAM",
    "MISSING_TOKEN",
    "MSN_ERROR",
    "MSN_UNREACHABLE",
    "NOT_FOUND",
    "NOT_JSON",
    "NOT_LOGGED_IN",
    "OTHER_ACCOUNT",
    "TOO_LARGE",
    "UNKNOWN",
    "UNKNOWN_TOKEN",
    "UNRECOGNIZED",
    "WebError",
    "json_error",
]

# Matrix's own codes where one fits (the same meaning as in the Matrix APIs) ...
MISSING_TOKEN = "M_MISSING_TOKEN"
UNKNOWN_TOKEN = "M_UNKNOWN_TOKEN"
FORBIDDEN = "M_FORBIDDEN"
NOT_JSON = "M_NOT_JSON"
BAD_JSON = "M_BAD_JSON"
MISSING_PARAM = "M_MISSING_PARAM"
INVALID_PARAM = "M_INVALID_PARAM"
NOT_FOUND = "M_NOT_FOUND"
UNRECOGNIZED = "M_UNRECOGNIZED"
TOO_LARGE = "M_TOO_LARGE"
UNKNOWN = "M_UNKNOWN"
# ... and the bridge's for what only MSN can answer.
NOT_LOGGED_IN = "NET.MSN.NOT_LOGGED_IN"
ALREADY_LOGGED_IN = "NET.MSN.ALREADY_LOGGED_IN"
OTHER_ACCOUNT = "NET.MSN.OTHER_ACCOUNT"
LOGIN_REFUSED = "NET.MSN.LOGIN_REFUSED"
MSN_UNREACHABLE = "NET.MSN.UNREACHABLE"
MSN_ERROR = "NET.MSN.ERROR"


class WebError(Exception):
    """An expected failure of a request: its HTTP status, errcode and readable reason."""

    def __init__(self, status: int, errcode: str, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.errcode = errcode
        self.error = error


def json_error(status: int, errcode: str, error: str) -> web.Response:
    return web.json_response({"errcode": errcode, "error": error}, status=status)
