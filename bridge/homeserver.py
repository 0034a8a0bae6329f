"""The start-up handshake with the homeserver: reachable, registration installed, ping back.

Replaces mautrix's ``wait_for_connection`` (which retries every failure forever with a
traceback, and exits on the first failed ping): failures that can pass (connection refused,
a timeout, a 502 from a proxy, Synapse's spurious ping error) are retried with backoff for a
bounded time; the others stop the start at once with a :class:`~bridge.startup.StartupError`
that names the option to fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from collections import OrderedDict
from collections.abc import Awaitable, Callable
import asyncio
import contextlib
import json
import logging
import socket
import ssl
import time

from aiohttp import (
    ClientConnectorCertificateError,
    ClientConnectorError,
    ClientError,
    ClientOSError,
    ClientSession,
    ClientSSLError,
    ClientTimeout,
    ServerDisconnectedError,
    web,
)
from mautrix.api import Method, Path
from mautrix.errors import (
    MatrixConnectionError,
    MatrixRequestError,
    MatrixResponseError,
    MExclusive,
    MForbidden,
    MUnknownToken,
)
from mautrix.types import SpecVersions, VersionsResponse
from yarl import URL

from bridge import startup
from bridge.config_doc import reason
from bridge.startup import StartupError

if TYPE_CHECKING:
    from bridge.app import MSNBridge

__all__ = ["PingTracker", "connect"]

log = logging.getLogger("mau.init")

REQUEST_TIMEOUT = 15.0
#: An https:// homeserver that has not answered after this long is probed for plain HTTP.
SCHEME_PROBE_AFTER = 2.0
SCHEME_PROBE_TIMEOUT = 3.0
PING_TIMEOUT = 45.0
PING_ATTEMPTS = 5
PING_PATH = "/_matrix/app/v1/ping"


class PingTracker:
    """Records the pings that reach the appservice (transaction id -> HTTP status answered)."""

    def __init__(self) -> None:
        self.seen: OrderedDict[str, int] = OrderedDict()

    @web.middleware
    async def middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.method != "POST" or request.path != PING_PATH:
            return await handler(request)
        try:
            txn_id = str(json.loads(await request.read() or b"{}").get("transaction_id"))
        except (ValueError, AttributeError):
            txn_id = ""
        try:
            response = await handler(request)
        except web.HTTPException as e:
            self._record(txn_id, e.status)
            raise
        self._record(txn_id, response.status)
        return response

    def _record(self, txn_id: str, status: int) -> None:
        self.seen[txn_id] = status
        while len(self.seen) > 32:
            self.seen.popitem(last=False)


def _not_registered(bridge: MSNBridge) -> StartupError:
    registration = startup.registration_file(bridge.config, bridge.args.registration)
    if startup.launcher() == "docker":
        registration += " (as the homeserver sees that file)"
    return StartupError(
        "The homeserver does not accept the bridge's as_token (M_UNKNOWN_TOKEN): the "
        f"registration is not installed. Add {registration} to app_service_config_files in "
        "the homeserver's config (homeserver.yaml) and restart the homeserver.",
        startup.EXIT_NOT_REGISTERED,
    )


def _exclusive(bridge: MSNBridge) -> StartupError:
    return StartupError(
        f"The homeserver accepted the as_token but refused the bot {bridge.az.bot_mxid} "
        "(M_EXCLUSIVE): homeserver.domain, appservice.bot_username or "
        "bridge.username_template differ from the installed registration; generate it "
        "again (-g) and install the new file in the homeserver.",
        startup.EXIT_NOT_REGISTERED,
    )


def _describe(error: BaseException, address: str) -> tuple[str, bool]:
    """(what went wrong, whether waiting may help) for a failed request to the homeserver."""
    cause = error.__cause__ if isinstance(error, MatrixConnectionError) else error
    url = URL(address)
    where = f"the homeserver at {address} (homeserver.address)"
    if isinstance(cause, ClientConnectorCertificateError):
        return (
            f"Cannot connect to {where}: its TLS certificate is not trusted "
            f"({cause.certificate_error}); fix the certificate or set "
            "homeserver.verify_ssl: false",
            False,
        )
    if isinstance(cause, ClientSSLError | ssl.SSLError) or "SSL" in str(cause):
        return (
            f"Cannot connect to {where} over TLS ({cause}): if it serves plain HTTP, use "
            f"http://{url.host}:{url.port} instead",
            False,
        )
    disconnected = isinstance(cause, ServerDisconnectedError) or (
        isinstance(cause, ClientOSError) and not isinstance(cause, ClientConnectorError)
    )
    if disconnected and url.scheme == "http":
        return (
            f"{where} closed the connection without answering: if it serves HTTPS, use "
            f"https://{url.host}:{url.port} instead",
            False,
        )
    if isinstance(cause, ClientConnectorError):
        os_error = cause.os_error
        if isinstance(os_error, ConnectionRefusedError):
            why = f"connection refused (nothing listens on {url.host}:{url.port})"
        elif isinstance(os_error, socket.gaierror):
            why = f"the name {url.host} cannot be resolved"
        else:
            why = reason(os_error)
        return f"Cannot connect to {where}: {why}", True
    if isinstance(cause, TimeoutError | asyncio.TimeoutError):
        return f"No answer from {where} within {REQUEST_TIMEOUT:.0f} s", True
    return f"Cannot connect to {where}: {cause}", True


async def _answers_http(url: URL) -> bool:
    """Whether ``url`` (http://) gets any HTTP answer quickly: the scheme probe."""
    try:
        timeout = ClientTimeout(total=SCHEME_PROBE_TIMEOUT)
        async with (
            ClientSession(timeout=timeout) as session,
            session.get(url / "_matrix/client/versions") as response,
        ):
            return response.status > 0
    except (ClientError, OSError, TimeoutError):
        return False


async def _request_versions(bridge: MSNBridge, address: str) -> Any:
    """GET /versions; an https:// address that hangs is probed for plain HTTP."""
    api = bridge.az.intent.api
    request = asyncio.ensure_future(api.request(Method.GET, Path.versions, retry_count=0))
    try:
        done, _ = await asyncio.wait({request}, timeout=SCHEME_PROBE_AFTER)
        url = URL(address)
        if not done and url.scheme == "https" and url.host:
            plain = url.with_scheme("http")
            if await _answers_http(plain):
                raise StartupError(
                    f"{address} (homeserver.address) does not answer over TLS but speaks plain "
                    f"HTTP: use {plain} instead.",
                    startup.EXIT_HOMESERVER,
                )
        return await asyncio.wait_for(request, REQUEST_TIMEOUT - SCHEME_PROBE_AFTER)
    finally:
        if not request.done():
            request.cancel()
            with contextlib.suppress(BaseException):
                await request


async def _versions(bridge: MSNBridge, wait: float) -> VersionsResponse:
    address = str(bridge.config["homeserver.address"])
    deadline = time.monotonic() + wait
    delay = 1.0
    warned = False
    while True:
        try:
            data = await _request_versions(bridge, address)
            return VersionsResponse.deserialize(data)
        except MUnknownToken:
            raise _not_registered(bridge) from None
        except MForbidden:
            # mautrix: some homeservers want the bot registered before answering
            try:
                await bridge.az.intent.ensure_registered()
            except MExclusive:
                raise _exclusive(bridge) from None
            continue
        except MatrixRequestError as e:
            if e.http_status in (502, 503, 504):
                problem, transient = f"{address} answered HTTP {e.http_status}", True
            else:
                url = URL(address)
                hint = "check the URL"
                if e.http_status == 400 and url.scheme == "http":
                    # e.g. nginx: "The plain HTTP request was sent to HTTPS port"
                    hint = f"if it serves HTTPS, use https://{url.host}:{url.port} instead"
                raise StartupError(
                    f"{address} (homeserver.address) is not a Matrix homeserver: "
                    f"/_matrix/client/versions answered HTTP {e.http_status}; {hint}",
                    startup.EXIT_HOMESERVER,
                ) from None
        except (MatrixResponseError, ValueError, KeyError, TypeError) as e:
            raise StartupError(
                f"{address} (homeserver.address) is not a Matrix homeserver: its "
                f"/_matrix/client/versions answer is not Matrix JSON ({type(e).__name__})",
                startup.EXIT_HOMESERVER,
            ) from None
        except (MatrixConnectionError, ClientError, OSError, TimeoutError) as e:
            problem, transient = _describe(e, address)
            if not transient:
                raise StartupError(problem + ".", startup.EXIT_HOMESERVER) from None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise StartupError(
                f"{problem}. Gave up after {wait:.0f} s: is the homeserver running, and is "
                "homeserver.address right?",
                startup.EXIT_HOMESERVER,
            )
        if not warned:
            log.warning("%s; retrying for up to %.0f s", problem, remaining)
            warned = True
        else:
            log.debug("%s; retrying in %.0f s", problem, min(delay, remaining))
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * 2, 10.0)


async def _whoami(bridge: MSNBridge) -> None:
    intent = bridge.az.intent
    try:
        try:
            await intent.whoami()
        except MForbidden:
            await intent.ensure_registered()
            await intent.whoami()
    except MUnknownToken:
        raise _not_registered(bridge) from None
    except MExclusive:
        raise _exclusive(bridge) from None


async def _ping(bridge: MSNBridge, tracker: PingTracker) -> None:
    """The homeserver -> bridge check; retried when the ping arrived although it "failed"."""
    api = bridge.az.intent.api
    address = bridge.config["appservice.address"]
    delay = 1.0
    for attempt in range(1, PING_ATTEMPTS + 1):
        txn_id = api.get_txn_id()
        try:
            duration = await asyncio.wait_for(
                api.request(
                    Method.POST,
                    Path.v1.appservice[bridge.az.id].ping,
                    content={"transaction_id": txn_id},
                    retry_count=0,
                ),
                PING_TIMEOUT,
            )
            log.debug("Homeserver -> bridge ping works (%s ms)", duration.get("duration_ms"))
            return
        except MUnknownToken:
            raise _not_registered(bridge) from None
        except MatrixRequestError as e:
            status = tracker.seen.get(txn_id)
            said = (e.message or str(e)).rstrip(". ")
            if status in (401, 403):
                raise StartupError(
                    "The homeserver reached the bridge but with a different hs_token: the "
                    "registration installed in the homeserver is not the one generated with "
                    "this config.yaml; install the current one and restart the homeserver.",
                    startup.EXIT_NOT_REGISTERED,
                ) from None
            if status is not None:
                # Synapse sometimes reports a ping as failed (502, AlreadyCalledError) although
                # it reached the bridge: not a configuration problem, try again.
                if attempt < PING_ATTEMPTS:
                    log.warning(
                        "The homeserver reported the ping as failed although it arrived (%s); "
                        "retrying in %.0f s",
                        said,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    delay *= 2
                    continue
                log.warning("The homeserver keeps reporting arrived pings as failed (%s)", said)
                return
            if e.errcode == "M_FORBIDDEN":
                raise StartupError(
                    f"The homeserver refused the ping ({said}): appservice.id "
                    f"({bridge.az.id}) must equal the id in the installed registration.",
                    startup.EXIT_NOT_REGISTERED,
                ) from None
            if e.errcode == "M_URL_NOT_SET":
                raise StartupError(
                    "The installed registration has no url: generate it again (-g) with "
                    "appservice.address set, install it and restart the homeserver.",
                    startup.EXIT_APPSERVICE_UNREACHABLE,
                ) from None
            if attempt < 2 and e.errcode != "M_BAD_STATUS":
                await asyncio.sleep(delay)
                delay *= 2
                continue
            listen = f"{bridge.config['appservice.hostname']}:{bridge.config['appservice.port']}"
            raise StartupError(
                f"The homeserver cannot reach the bridge at {address} (appservice.address; "
                f"the homeserver says: {said}).\nThe bridge listens on {listen} "
                "(appservice.hostname and port): set appservice.address to a URL the "
                "homeserver can reach that leads there, generate the registration again (-g) "
                "and install it in the homeserver.",
                startup.EXIT_APPSERVICE_UNREACHABLE,
            ) from None
        except (MatrixConnectionError, ClientError, OSError, TimeoutError) as e:
            problem, _ = _describe(e, str(bridge.config["homeserver.address"]))
            if attempt < PING_ATTEMPTS:
                log.warning("Ping request failed: %s; retrying in %.0f s", problem, delay)
                await asyncio.sleep(delay)
                delay *= 2
                continue
            raise StartupError(problem + ".", startup.EXIT_HOMESERVER) from None


async def connect(bridge: MSNBridge, tracker: PingTracker, wait: float) -> None:
    """Everything mautrix's ``wait_for_connection`` does, with errors that say what to do."""
    log.info("Connecting to the homeserver at %s", bridge.config["homeserver.address"])
    matrix = bridge.matrix
    matrix.versions = await _versions(bridge, wait)
    await matrix.check_versions()
    await _whoami(bridge)
    versions = matrix.versions
    if versions.supports("fi.mau.msc2659.stable") or versions.supports_at_least(SpecVersions.V17):
        await _ping(bridge, tracker)
    else:
        log.debug("The homeserver cannot check whether it reaches the bridge (no MSC2659)")
    try:
        matrix.media_config = await bridge.az.intent.get_media_repo_config()
    except Exception as e:
        log.warning("Could not fetch the homeserver's media limits: %s", e)
