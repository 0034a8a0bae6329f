"""The provisioning API (``/_matrix/provision/v1/...``, described in ``openapi.yaml``): log a
Matrix user in and out of MSN, show their state and contacts, open a chat, for integration
managers and admin tools that hold the shared secret.

Every request needs ``Authorization: Bearer <bridge.provisioning.shared_secret>`` (else 401) and
names the Matrix user in the ``user_id`` query parameter; the user needs the ``user`` level in
``bridge.permissions``. Every failure is JSON: ``{"errcode": ..., "error": ...}``.
"""

from __future__ import annotations

from typing import Any
from collections.abc import Awaitable, Callable
import hmac
import json
import logging

from aiohttp import web

from bridge.password_login import Outcome

from . import errors as e
from .backend import Backend, valid_user_id

__all__ = ["MAX_BODY", "MAX_PASSWORD", "ProvisioningAPI"]

log = logging.getLogger("mau.web.provisioning")

#: Largest request body accepted (the API's bodies are a few hundred bytes).
MAX_BODY = 16 * 1024
#: Longest password accepted (MSN's own limit is far lower).
MAX_PASSWORD = 1024
_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
}
_LOGIN_STATUS = {
    Outcome.ALREADY: (409, e.ALREADY_LOGGED_IN),
    Outcome.OTHER_ACCOUNT: (409, e.OTHER_ACCOUNT),
    Outcome.REFUSED: (403, e.LOGIN_REFUSED),
    Outcome.UNREACHABLE: (502, e.MSN_UNREACHABLE),
    Outcome.ERROR: (500, e.MSN_ERROR),
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _string(data: dict[str, Any], key: str, max_length: int) -> str:
    value = data.get(key)
    if value is None or value == "":
        raise e.WebError(400, e.MISSING_PARAM, f"The {key!r} field is required.")
    if not isinstance(value, str):
        raise e.WebError(400, e.INVALID_PARAM, f"The {key!r} field must be a string.")
    if len(value) > max_length:
        raise e.WebError(
            400, e.INVALID_PARAM, f"The {key!r} field is longer than {max_length} characters."
        )
    return value


async def _json_object(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise e.WebError(413, e.TOO_LARGE, f"The body is larger than {MAX_BODY} bytes.")
    body = bytearray()
    while chunk := await request.content.read(MAX_BODY + 1 - len(body)):
        body += chunk
        if len(body) > MAX_BODY:
            raise e.WebError(413, e.TOO_LARGE, f"The body is larger than {MAX_BODY} bytes.")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise e.WebError(400, e.NOT_JSON, "The body is not JSON.") from None
    if not isinstance(data, dict):
        raise e.WebError(400, e.BAD_JSON, "The body must be a JSON object.")
    return data


class ProvisioningAPI:
    """The aiohttp application mounted at ``bridge.provisioning.prefix``."""

    def __init__(self, backend: Backend, shared_secret: str) -> None:
        self.backend = backend
        self._secret = shared_secret.encode()
        self.app = web.Application(middlewares=[self._cors, self._errors, self._auth])
        add = self.app.router.add_route
        add("GET", "/v1/whoami", self.whoami)
        add("POST", "/v1/login", self.login)
        add("POST", "/v1/logout", self.logout)
        add("GET", "/v1/contacts", self.contacts)
        add("POST", "/v1/pm/{email}", self.open_chat)

    # region middlewares

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except e.WebError as err:
            return e.json_error(err.status, err.errcode, err.error)
        except web.HTTPNotFound:
            return e.json_error(404, e.UNRECOGNIZED, "Unrecognized request.")
        except web.HTTPMethodNotAllowed:
            return e.json_error(405, e.UNRECOGNIZED, "Method not allowed.")
        except web.HTTPRequestEntityTooLarge:
            return e.json_error(413, e.TOO_LARGE, "The body is too large.")
        except web.HTTPException as err:
            return e.json_error(err.status, e.UNKNOWN, err.reason)
        except Exception:
            log.exception("Provisioning request %s %s failed", request.method, request.path)
            return e.json_error(500, e.UNKNOWN, "Internal error.")

    @web.middleware
    async def _cors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "OPTIONS":
            return web.Response(status=204, headers=_CORS)
        response = await handler(request)
        response.headers.update(_CORS)
        return response

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise e.WebError(401, e.MISSING_TOKEN, "Missing the shared secret (Bearer token).")
        if not hmac.compare_digest(token.strip().encode(), self._secret):
            raise e.WebError(401, e.UNKNOWN_TOKEN, "Wrong shared secret.")
        return await handler(request)

    # endregion
    # region helpers

    def _user_id(self, request: web.Request) -> str:
        user_id = request.query.get("user_id", "")
        if not user_id:
            raise e.WebError(400, e.MISSING_PARAM, "The user_id query parameter is required.")
        if not valid_user_id(user_id):
            raise e.WebError(400, e.INVALID_PARAM, "user_id is not a Matrix user ID.")
        if self.backend.permission(user_id) not in ("user", "admin"):
            raise e.WebError(
                403, e.FORBIDDEN, "That user may not use this bridge (bridge.permissions)."
            )
        return user_id

    def _email(self, text: str) -> str:
        email = self.backend.parse_email(text)
        if email is None:
            raise e.WebError(400, e.INVALID_PARAM, "That is not a usable MSN e-mail address.")
        return email

    # endregion
    # region endpoints

    async def whoami(self, request: web.Request) -> web.Response:
        user_id = self._user_id(request)
        return web.json_response(await self.backend.whoami(user_id))

    async def login(self, request: web.Request) -> web.Response:
        user_id = self._user_id(request)
        data = await _json_object(request)
        email = self._email(_string(data, "email", 256))
        password = _string(data, "password", MAX_PASSWORD)
        outcome = await self.backend.login(user_id, email, password)
        if outcome.outcome is Outcome.LOGGED_IN:
            return web.json_response(
                {
                    "email": outcome.passport,
                    "friendly_name": outcome.friendly_name,
                    "protocol": outcome.protocol,
                    "contacts": outcome.contacts,
                }
            )
        status, errcode = _LOGIN_STATUS[outcome.outcome]
        error = outcome.error or f"You are already logged in as {outcome.passport}."
        return e.json_error(status, errcode, error)

    async def logout(self, request: web.Request) -> web.Response:
        user_id = self._user_id(request)
        email = await self.backend.logout(user_id)
        return web.json_response({"email": email})

    async def contacts(self, request: web.Request) -> web.Response:
        user_id = self._user_id(request)
        return web.json_response(await self.backend.contacts(user_id))

    async def open_chat(self, request: web.Request) -> web.Response:
        user_id = self._user_id(request)
        email = self._email(request.match_info["email"])
        return web.json_response(await self.backend.open_chat(user_id, email))

    # endregion
