"""Passport 1.4 login (``/login``) and the nexus (``/rdr/pprdr.asp``) over HTTP."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote
import logging
import secrets

from aiohttp import web

if TYPE_CHECKING:
    from .server import MSNServer

__all__ = ["make_app", "parse_passport_header"]

log = logging.getLogger("msn_server")


def parse_passport_header(value: str) -> dict[str, str] | None:
    """The ``k=v`` fields of a ``Passport1.4 k=v,k=v`` header, URL-decoded; None if not one."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "passport1.4":
        return None
    fields: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, val = item.strip().partition("=")
        if sep:
            fields.setdefault(key.strip().lower(), unquote(val.strip()))
    return fields


def make_app(server: MSNServer) -> web.Application:
    async def login(request: web.Request) -> web.Response:
        server.counters["http_login"] += 1
        header = request.headers.get("Authorization")
        if header is None:
            status = 500 if server.config.escargot_mode else 400
            return web.Response(status=status, text="missing Authorization header")
        fields = parse_passport_header(header)
        if fields is None or "sign-in" not in fields or "pwd" not in fields:
            return web.Response(status=400, text="malformed Passport1.4 header")
        account = server.directory.get(fields["sign-in"])
        if account is None or not secrets.compare_digest(
            account.password.encode("utf-8"), fields["pwd"].encode("utf-8")
        ):
            log.info("passport: failed login for %s", fields["sign-in"])
            return web.Response(
                status=401,
                headers={"WWW-Authenticate": "Passport1.4 da-status=failed"},
                text="authentication failed",
            )
        token = server.tickets.issue(account.email)
        from_pp = token if server.config.escargot_mode else f"t={token}&p={secrets.token_hex(16)}"
        info = (
            "Passport1.4 da-status=success,tname=MSPAuth,tname=MSPProf,tname=MSPSec,"
            f"from-PP='{from_pp}',ru=http://messenger.msn.com"
        )
        log.debug("passport: issued a ticket for %s", account.email)
        return web.Response(status=200, headers={"Authentication-Info": info}, text="OK")

    async def nexus(request: web.Request) -> web.Response:
        server.counters["http_nexus"] += 1
        host = f"{server.config.host}:{server.http_port}"
        scheme = server.config.nexus_dalogin_scheme
        dalogin = f"{scheme}://{host}/login" if scheme else f"{host}/login"
        urls = (
            f"DARealm=Passport.Net,DALogin={dalogin},DAReg=http://{host}/reg,"
            f"Properties=http://{host}/properties,Privacy=http://{host}/privacy,"
            f"GeneralRedir=http://{host}/redir,Help=http://{host}/help,ConfigVersion=11"
        )
        return web.Response(status=200, headers={"PassportURLs": urls}, text="")

    app = web.Application()
    app.router.add_get("/login", login)
    app.router.add_get("/rdr/pprdr.asp", nexus)
    return app
