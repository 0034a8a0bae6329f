"""The web login page, served under ``appservice.public.prefix``: the bot's ``login`` sends a
one-time link (``<external>/login/<token>``); the page's form posts the e-mail address and
password straight to the bridge, so the password never passes through Matrix.

``GET`` shows the form (spending nothing); ``POST`` logs in. Each page carries the headers of
:data:`bridge.web.pages.SECURITY_HEADERS`. See :mod:`bridge.web.login_links` for the rules of a
link's life.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
import logging
import re

from aiohttp import web

from bridge.password_login import Outcome

from . import pages
from .backend import Backend
from .login_links import Link, LinkState, LoginLinks

__all__ = ["MAX_FORM", "LoginPage", "redact_login_paths"]

log = logging.getLogger("mau.web.login")

#: Largest form body accepted (an address and a password).
MAX_FORM = 8 * 1024
_MAX_PASSWORD = 1024
_LOGIN_PATH = re.compile(r"/login/[^\s?\"]+")
_STATE_TEXT = {
    LinkState.UNKNOWN: (
        404,
        "Unknown link",
        "This login link is not valid: it may have been replaced by a newer one, or the "
        "bridge was restarted. Send `login` to the bridge bot for a new link.",
    ),
    LinkState.EXPIRED: (
        410,
        "Link expired",
        "This login link has expired. Send `login` to the bridge bot for a new link.",
    ),
    LinkState.USED: (
        410,
        "Link already used",
        "This login link was already used. Send `login` to the bridge bot for a new link.",
    ),
    LinkState.BUSY: (
        409,
        "Login in progress",
        "A login with this link is already running. Wait for it to finish.",
    ),
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def redact_login_paths(text: str) -> str:
    """``text`` with the tokens of login page paths replaced (for access logs)."""
    return _LOGIN_PATH.sub("/login/<redacted>", text)


class _RedactTokens(logging.Filter):
    """Keeps login tokens out of aiohttp's access log (it logs each request line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "/login/" in record.getMessage():
            record.msg = redact_login_paths(record.getMessage())
            record.args = None
        return True


_ACCESS_FILTER = _RedactTokens()


class LoginPage:
    """The aiohttp application mounted at ``appservice.public.prefix``."""

    def __init__(self, backend: Backend, links: LoginLinks) -> None:
        self.backend = backend
        self.links = links
        self.app = web.Application(middlewares=[self._headers])
        self.app.router.add_get("/login/{token}", self.show)
        self.app.router.add_post("/login/{token}", self.submit)
        access = logging.getLogger("aiohttp.access")
        if _ACCESS_FILTER not in access.filters:
            access.addFilter(_ACCESS_FILTER)

    @web.middleware
    async def _headers(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as err:
            if err.status < 400:
                raise
            response = self._html(err.status, pages.message_page(self.name, err.reason, ""))
        response.headers.update(pages.SECURITY_HEADERS)
        return response

    @property
    def name(self) -> str:
        return self.backend.bridge_name

    @staticmethod
    def _html(status: int, body: str) -> web.Response:
        return web.Response(status=status, text=body, content_type="text/html", charset="utf-8")

    def _refusal(self, state: LinkState) -> web.Response:
        status, title, text = _STATE_TEXT[state]
        return self._html(status, pages.message_page(self.name, title, text))

    def _form(
        self, link: Link, email: str, error: str | None = None, status: int = 200
    ) -> web.Response:
        return self._html(status, pages.form_page(self.name, link.mxid, email, error))

    async def show(self, request: web.Request) -> web.Response:
        state, link = self.links.check(request.match_info["token"])
        if state is not LinkState.VALID or link is None:
            return self._refusal(state)
        return self._form(link, link.passport or "")

    async def submit(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        state, link = self.links.check(token)
        if state is not LinkState.VALID or link is None:
            return self._refusal(state)
        if request.content_type != "application/x-www-form-urlencoded":
            return self._form(link, link.passport or "", "Send the form from this page.", 415)
        if (request.content_length or 0) > MAX_FORM:
            return self._form(link, link.passport or "", "The form is too large.", 413)
        form = await request.post()
        raw_email = form.get("email")
        password = form.get("password")
        shown_email = raw_email[:129] if isinstance(raw_email, str) else ""
        email = self.backend.parse_email(raw_email) if isinstance(raw_email, str) else None
        if email is None:
            return self._form(link, shown_email, "Enter a valid e-mail address.", 400)
        if not isinstance(password, str) or not password or len(password) > _MAX_PASSWORD:
            return self._form(link, email, "Enter your password.", 400)
        if self.backend.permission(link.mxid) not in ("user", "admin"):
            self.links.finish(token, success=True)
            return self._html(
                403,
                pages.message_page(
                    self.name, "Not allowed", "Your Matrix account may not use this bridge."
                ),
            )
        state, link = self.links.begin(token)
        if state is not LinkState.VALID or link is None:
            return self._refusal(state)
        try:
            outcome = await self.backend.login(link.mxid, email, password)
        except BaseException:
            self.links.finish(token, success=False)
            raise
        self.links.finish(token, success=outcome.logged_in)
        if not outcome.logged_in:
            log.info("Web login of %s failed: %s", link.mxid, outcome.outcome.value)
            state, _ = self.links.check(token)
            if state is LinkState.USED:
                text = f"{outcome.error} This link is now spent: send `login` for a new one."
                return self._html(403, pages.message_page(self.name, "Login failed", text))
            return self._form(link, email, outcome.error, 403)
        log.info("Web login of %s as %s: %s", link.mxid, email, outcome.outcome.value)
        if outcome.outcome is Outcome.LOGGED_IN:
            await self.backend.notify(
                link.mxid,
                f"Logged in to MSN as {outcome.friendly_name} ({email}) through the web login "
                "page.",
            )
        return self._html(
            200,
            pages.success_page(self.name, email, outcome.friendly_name, outcome.contacts),
        )
