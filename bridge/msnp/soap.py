"""SOAP envelopes for MSN's web services: building requests and reading answers and faults.

Pure functions: :mod:`.soap_http` posts the bytes built here and hands the answer back to the
parsers of each service (:mod:`.sso`, :mod:`.addressbook`, :mod:`.sharing`, :mod:`.oim`),
which all start with :func:`parse_response`: parse within limits, raise the fault if the
answer is one, return the first element of the body after checking its name.

Faults come in two shapes: SOAP 1.1 (``faultcode``/``faultstring``/``detail``, used by the
address book, OIM and ``RST.srf``) and SOAP 1.2 (``Code/Value``, ``Code/Subcode/Value``,
``Reason/Text``, ``Detail``, used by ``RST2.srf``). Passport's older answers put the fault
straight under the envelope instead of inside the body; both places are looked at.
"""

from __future__ import annotations

from typing import Final
from dataclasses import dataclass

from .errors import RemoteProtocolError, SoapFault
from .xmlsafe import Element, parse_xml

__all__ = [
    "SOAP11_NS",
    "SOAP12_NS",
    "SOAP_MAX_BYTES",
    "SOAP_MAX_ELEMENTS",
    "SoapRequest",
    "envelope",
    "fault_from",
    "parse_envelope",
    "parse_response",
    "soap_bool",
]

SOAP11_NS: Final = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS: Final = "http://www.w3.org/2003/05/soap-envelope"
_XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"
_XSD: Final = "http://www.w3.org/2001/XMLSchema"
_SOAPENC: Final = "http://schemas.xmlsoap.org/soap/encoding/"

#: Limits for a SOAP answer: an address book of a few thousand contacts stays well inside.
SOAP_MAX_BYTES: Final = 16 << 20
SOAP_MAX_ELEMENTS: Final = 250_000
#: At most this many detail entries are kept from a fault (a hostile fault may have many).
_MAX_DETAIL: Final = 32


#: Actions that only read (by the name after the namespace): asking twice changes nothing.
READ_ACTIONS: Final = frozenset(
    {"ABFindAll", "ABFindContactsPaged", "FindMembership", "GetMetadata", "GetMessage"}
)


@dataclass(frozen=True, slots=True)
class SoapRequest:
    """A request ready for :func:`bridge.msnp.soap_http.post_soap`: the ``SOAPAction`` (None
    for Passport's RST, which has none), the body and its content type."""

    action: str | None
    body: bytes
    content_type: str = "text/xml; charset=utf-8"

    @property
    def repeatable(self) -> bool:
        """Whether sending it again is harmless: a read (:data:`READ_ACTIONS`) or Passport's
        token request (it issues tickets and changes nothing)."""
        return self.action is None or self.action.rsplit("/", 1)[-1] in READ_ACTIONS

    def __repr__(self) -> str:  # the body may hold a password or a ticket
        return f"SoapRequest(action={self.action!r}, {len(self.body)} bytes)"


def envelope(header: str, body: str) -> bytes:
    """A SOAP 1.1 envelope around already-escaped header and body XML."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP11_NS}" xmlns:xsi="{_XSI}" xmlns:xsd="{_XSD}"'
        f' xmlns:soapenc="{_SOAPENC}">'
        f"<soap:Header>{header}</soap:Header>"
        f"<soap:Body>{body}</soap:Body>"
        "</soap:Envelope>"
    ).encode()


def soap_bool(value: str) -> bool:
    """``xsd:boolean`` (``true``/``false``/``1``/``0``); anything else reads as false."""
    return value.strip().lower() in ("true", "1")


def parse_envelope(
    data: bytes, *, max_bytes: int = SOAP_MAX_BYTES, skip: frozenset[str] = frozenset()
) -> Element:
    """Parse a SOAP answer and check it is an envelope (``skip``: see
    :func:`~.xmlsafe.parse_xml`)."""
    root = parse_xml(data, max_bytes=max_bytes, max_elements=SOAP_MAX_ELEMENTS, skip=skip)
    if root.name != "Envelope":
        raise RemoteProtocolError(f"expected a SOAP envelope, got <{root.name}>")
    return root


def _local(qname: str) -> str:
    return qname.strip().rpartition(":")[2]


def fault_from(root: Element, *, status: int | None = None) -> SoapFault | None:
    """The fault in an envelope as a :class:`SoapFault`, or None when it is not a fault."""
    body = root.child("Body")
    fault = (body.child("Fault") if body is not None else None) or root.child("Fault")
    if fault is None:
        return None
    code_node = fault.child("Code")
    if code_node is not None:  # SOAP 1.2
        code = _local(code_node.findtext("Subcode/Value") or code_node.findtext("Value"))
        reason = fault.child("Reason")
        text = (reason.findtext("Text") if reason is not None else "").strip()
        detail_node = fault.child("Detail")
    else:
        code = _local(fault.findtext("faultcode"))
        text = fault.findtext("faultstring").strip()
        detail_node = fault.child("detail")
    detail: dict[str, str] = {}
    error_code = ""
    if detail_node is not None:
        nodes = detail_node.iter()
        next(nodes)  # (the detail element itself)
        for node in nodes:
            if node.children:
                continue
            if node.name == "errorcode" and not error_code:
                error_code = node.text.strip()
            elif len(detail) < _MAX_DETAIL:
                detail.setdefault(node.name, node.text.strip())
    return SoapFault(code, text, error_code=error_code, detail=detail, status=status)


def parse_response(
    data: bytes,
    expected: str,
    *,
    max_bytes: int = SOAP_MAX_BYTES,
    skip: frozenset[str] = frozenset(),
) -> tuple[Element, Element]:
    """``(envelope, first body element)`` of a successful answer named ``expected``.

    Raises the :class:`SoapFault` when the answer is a fault and :class:`ProtocolError` when
    it is not XML, not an envelope, or its body holds something else. Elements named in
    ``skip`` are left out of the tree (:func:`~.xmlsafe.parse_xml`).
    """
    root = parse_envelope(data, max_bytes=max_bytes, skip=skip)
    fault = fault_from(root)
    if fault is not None:
        raise fault
    body = root.child("Body")
    children = body.children if body is not None else ()
    if not children:
        raise RemoteProtocolError(f"SOAP answer without a body (expected {expected})")
    first = children[0]
    if first.name != expected:
        raise RemoteProtocolError(f"expected {expected} in the SOAP body, got {first.name}")
    return root, first
