"""The one HTTP call of MSN's SOAP services: POST an envelope, read a bounded answer.

Passport SSO (``RST.srf``/``RST2.srf``), the address book and sharing services and the
offline-message services all go through :func:`post_soap`; :mod:`.auth` keeps the older
Passport 1.4 logins. The caller hands in the :class:`aiohttp.ClientSession` (nothing here
keeps one), the URL and the :class:`~bridge.msnp.soap.SoapRequest`; the answer's bytes come
back for the service's own parser.

Errors are typed: :class:`~bridge.msnp.errors.SoapFault` when the service answered with a
fault (whatever the HTTP status), :class:`~bridge.msnp.errors.ServiceUnavailable` when it could
not be reached, timed out, redirected, answered too much or answered an HTTP error without a
fault. Request and response bodies (passwords, tickets) are never logged.

A server may close a kept-alive connection just as a request goes out on it; the request then
fails with no answer. A read (:attr:`~bridge.msnp.soap.SoapRequest.repeatable`) is then sent
once more; a change is not, since it may have been made.
"""

from __future__ import annotations

from typing import Final
from collections.abc import Mapping
import asyncio
import logging

from yarl import URL
import aiohttp

from .errors import ProtocolError, ServiceUnavailable
from .soap import SOAP_MAX_BYTES, SoapRequest, fault_from, parse_envelope

__all__ = ["DEFAULT_MAX_RESPONSE", "DEFAULT_TIMEOUT", "post_soap"]

log = logging.getLogger("msnp.soap")

#: An address book of a few thousand contacts is a few MB; nothing legitimate is larger.
DEFAULT_MAX_RESPONSE: Final = SOAP_MAX_BYTES
DEFAULT_TIMEOUT: Final = 30.0
_CHUNK: Final = 64 << 10


def _where(url: str) -> str:
    """The URL without query or credentials, for messages and logs."""
    try:
        parsed = URL(url)
        if not parsed.is_absolute():
            return "<invalid URL>"
        return str(parsed.with_query(None).with_fragment(None).with_user(None))
    except (ValueError, TypeError):
        return "<invalid URL>"


async def _read_bounded(resp: aiohttp.ClientResponse, max_bytes: int, where: str) -> bytes:
    length = resp.content_length
    if length is not None and length > max_bytes:
        raise ServiceUnavailable(
            f"{where} answered {length} bytes, more than the {max_bytes} allowed",
            status=resp.status,
        )
    chunks: list[bytes] = []
    total = 0
    async for chunk in resp.content.iter_chunked(_CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise ServiceUnavailable(
                f"{where} answered more than the {max_bytes} bytes allowed", status=resp.status
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def post_soap(
    http: aiohttp.ClientSession,
    url: str,
    request: SoapRequest,
    *,
    max_bytes: int = DEFAULT_MAX_RESPONSE,
    timeout: float = DEFAULT_TIMEOUT,
    verify_tls: bool = True,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """POST ``request`` to ``url`` and return the body of a 200 answer.

    A fault in an HTTP error answer is raised here; a fault in a 200 answer (Passport sends
    those) is raised by the service's parser, so a large answer is parsed once.
    ``verify_tls=False`` switches certificate checks off (test servers, self-signed revival
    servers). Redirects are not followed: a SOAP POST must not silently turn into a GET.
    """
    where = _where(url)
    send_headers = {"Content-Type": request.content_type, "Accept": "text/*"}
    if request.action is not None:
        send_headers["SOAPAction"] = request.action
    if headers:
        send_headers.update(headers)
    log.debug("SOAP %s to %s", request.action or "request", where)
    tries = 2 if request.repeatable else 1
    try:
        for attempt in range(1, tries + 1):
            try:
                async with http.post(
                    url,
                    data=request.body,
                    headers=send_headers,
                    allow_redirects=False,
                    ssl=verify_tls or not url.lower().startswith("https:"),
                    timeout=aiohttp.ClientTimeout(total=timeout),
                ) as resp:
                    status = resp.status
                    data = await _read_bounded(resp, max_bytes, where)
                break
            except aiohttp.ServerDisconnectedError:
                # The server closed the connection without an answer: typically a kept-alive
                # connection it had just closed when the request went out on it. A read is
                # asked once more (on a new connection); a change is not, it may have been made.
                # (Nor is anything when it was the client's own session that closed.)
                if attempt == tries or http.closed:
                    raise
                log.debug("%s closed the connection before answering: asking again", where)
    except ServiceUnavailable:
        raise
    except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as e:
        # TimeoutError is an OSError; ValueError covers an unusable URL
        reason = type(e).__name__ if isinstance(e, asyncio.TimeoutError) else str(e)
        raise ServiceUnavailable(f"{where} unreachable: {reason or type(e).__name__}") from e
    if status == 200:
        return data  # a fault inside a 200 answer is raised by the service's parser
    if b"Fault" in data:
        try:
            fault = fault_from(parse_envelope(data, max_bytes=max_bytes), status=status)
        except ProtocolError:
            fault = None
        if fault is not None:
            log.debug("SOAP fault %s from %s", fault.error_code or fault.code, where)
            raise fault
    if 300 <= status < 400:
        raise ServiceUnavailable(f"{where} redirected (HTTP {status})", status=status)
    raise ServiceUnavailable(f"{where} answered HTTP {status}", status=status)
