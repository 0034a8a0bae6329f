"""SOAP plumbing for the test server's web services: parsing requests, writing answers.

Requests are parsed with the standard library's expat-based ElementTree after refusing any
DOCTYPE (no entity tricks) and anything over ``MAX_BODY`` bytes; elements are found by local
name, whatever namespace prefix the client chose. Answers are SOAP 1.1 envelopes (the
address-book and OIM services) or SOAP 1.2 (RST2), written as text.
"""

from __future__ import annotations

from typing import Final
from xml.etree import ElementTree as ET
import datetime as dt
import re

from aiohttp import web

__all__ = [
    "MAX_BODY",
    "SoapError",
    "envelope",
    "esc",
    "fault",
    "find",
    "findall",
    "iso",
    "local",
    "parse",
    "parse_iso",
    "read_request",
    "text",
    "xml_response",
]

MAX_BODY: Final = 256 * 1024
SOAP11: Final = "http://schemas.xmlsoap.org/soap/envelope/"
XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"
XSD: Final = "http://www.w3.org/2001/XMLSchema"


class SoapError(Exception):
    """The request is not a SOAP envelope we can read."""


def parse(body: bytes) -> ET.Element:
    if len(body) > MAX_BODY:
        raise SoapError("request too large")
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise SoapError("DOCTYPE not allowed")
    try:
        return ET.fromstring(body)
    except ET.ParseError as e:
        raise SoapError(f"not XML: {e}") from None


async def read_request(request: web.Request) -> ET.Element:
    """The envelope of a POSTed SOAP request (raises SoapError)."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise SoapError("request too large")
    body = await request.content.read(MAX_BODY + 1)
    return parse(body)


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def findall(element: ET.Element | None, path: str) -> list[ET.Element]:
    """Descendants along ``a/b/c`` (local names, any namespace; ``.//`` prefix: anywhere)."""
    if element is None:
        return []
    anywhere = path.startswith(".//")
    steps = path[3:].split("/") if anywhere else path.split("/")
    current = [element]
    for i, step in enumerate(steps):
        found: list[ET.Element] = []
        for node in current:
            pool = node.iter() if anywhere and i == 0 else iter(node)
            found.extend(child for child in pool if child is not node and local(child.tag) == step)
        current = found
    return current


def find(element: ET.Element | None, path: str) -> ET.Element | None:
    matches = findall(element, path)
    return matches[0] if matches else None


def text(element: ET.Element | None, path: str, default: str | None = None) -> str | None:
    node = find(element, path)
    if node is None:
        return default
    return (node.text or "").strip()


#: characters XML 1.0 cannot carry at all (not even as references): a web service drops them
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def esc(value: object) -> str:
    """XML-escape text or an attribute value (without the characters XML cannot carry: a
    friendly name set over MSNP2-12 may hold them)."""
    return (
        _NOT_XML.sub("", str(value))
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
    )


def envelope(body: str, header: str = "") -> str:
    head = f"<soap:Header>{header}</soap:Header>" if header else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP11}" xmlns:xsi="{XSI}" xmlns:xsd="{XSD}">'
        f"{head}<soap:Body>{body}</soap:Body></soap:Envelope>"
    )


def fault(
    code: str, message: str, *, actor: str = "", detail: str = "", code_ns: str | None = None
) -> str:
    """A SOAP 1.1 fault; ``code_ns``: the namespace of the ``q0:`` prefix in ``code``."""
    actor_xml = f"<faultactor>{esc(actor)}</faultactor>" if actor else ""
    detail_xml = f"<detail>{detail}</detail>" if detail else ""
    declare = f' xmlns:q0="{esc(code_ns)}"' if code_ns else ""
    return envelope(
        f"<soap:Fault><faultcode{declare}>{code}</faultcode>"
        f"<faultstring>{esc(message)}</faultstring>{actor_xml}{detail_xml}</soap:Fault>"
    )


def xml_response(text_: str, status: int = 200) -> web.Response:
    return web.Response(status=status, text=text_, content_type="text/xml", charset="utf-8")


def iso(stamp_us: int) -> str:
    """An address-book timestamp: ``2009-05-01T10:20:30.1234560Z`` (exact to 1 µs)."""
    seconds, micro = divmod(stamp_us, 1_000_000)
    base = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{micro:06d}0Z"


_ISO: Final = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?(Z|[+-]\d{2}:\d{2})?$"
)


def parse_iso(value: str | None) -> int | None:
    """The microsecond stamp of an ISO timestamp as clients echo it; None if unreadable.

    ``0001-01-01T00:00:00`` (any offset) means "never" and gives 0.
    """
    if not value:
        return None
    match = _ISO.match(value.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    if year <= 1:
        return 0
    fraction = (match.group(7) or "").ljust(7, "0")
    offset = match.group(8) or "Z"
    try:
        when = dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)
    except ValueError:
        return None
    if offset != "Z":
        sign = 1 if offset[0] == "+" else -1
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        when -= sign * dt.timedelta(hours=hours, minutes=minutes)
    return int(when.timestamp()) * 1_000_000 + int(fraction) // 10
