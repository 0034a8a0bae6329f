"""What the address book (ABService) and sharing (SharingService) requests have in common.

Both services live at ``contacts.msn.com`` (the "ABCH"), take the ``contacts.msn.com`` ticket
in an ``ABAuthHeader``, name the calling application and scenario in an
``ABApplicationHeader`` (with the cache key of the previous answer, when there is one) and
answer with a ``ServiceHeader`` holding the next cache key and the host to use next
(``PreferredHostName``). Faults carry an ``<errorcode>`` such as ``FullSyncRequired``
(:data:`FULL_SYNC_REQUIRED`: ask again without deltas).
"""

from __future__ import annotations

from typing import Final
from dataclasses import dataclass, field

from .soap import SoapRequest, envelope
from .xmlsafe import Element, text

__all__ = [
    "ABCH_NS",
    "ABSERVICE_URL",
    "ANNOTATION_NICKNAME",
    "DEFAULT_AB_ID",
    "FULL_SYNC_REQUIRED",
    "SHARING_URL",
    "ServiceHeader",
    "ab_id_element",
    "abch_request",
    "parse_annotations",
    "parse_service_header",
]

ABCH_NS: Final = "http://www.msn.com/webservices/AddressBook"
ABSERVICE_URL: Final = "https://contacts.msn.com/abservice/abservice.asmx"
SHARING_URL: Final = "https://contacts.msn.com/abservice/SharingService.asmx"
#: The user's own address book.
DEFAULT_AB_ID: Final = "00000000-0000-0000-0000-000000000000"
#: Messenger's application id in ``ABApplicationHeader``.
APPLICATION_ID: Final = "CFE80F9D-180F-4399-82AB-413F33A1FA11"
FULL_SYNC_REQUIRED: Final = "FullSyncRequired"
ANNOTATION_NICKNAME: Final = "AB.NickName"
#: Annotations beyond this many on one contact are ignored.
_MAX_ANNOTATIONS: Final = 64


@dataclass(frozen=True, slots=True)
class ServiceHeader:
    """The ``ServiceHeader`` of an ABCH answer: send ``cache_key`` with the next request and
    use ``preferred_host`` (when set) for it."""

    cache_key: str | None = field(default=None, repr=False)
    cache_key_changed: bool = False
    preferred_host: str | None = None
    session_id: str | None = None
    version: str | None = None


def parse_service_header(root: Element) -> ServiceHeader:
    header = root.child("Header")
    node = header.child("ServiceHeader") if header is not None else None
    if node is None:
        return ServiceHeader()
    return ServiceHeader(
        cache_key=node.findtext("CacheKey").strip() or None,
        cache_key_changed=node.findtext("CacheKeyChanged").strip().lower() == "true",
        preferred_host=node.findtext("PreferredHostName").strip() or None,
        session_id=node.findtext("SessionId").strip() or None,
        version=node.findtext("Version").strip() or None,
    )


def ab_id_element(ab_id: str) -> str:
    """The ``<abId>`` element naming an address book."""
    return f"<abId>{text(ab_id)}</abId>"


def abch_request(
    action: str,
    body: str,
    ticket: str,
    *,
    scenario: str = "Initial",
    cache_key: str | None = None,
) -> SoapRequest:
    """An ABCH request: ``body`` is the action element's XML (already escaped)."""
    cache = f"<CacheKey>{text(cache_key)}</CacheKey>" if cache_key else ""
    header = (
        f'<ABApplicationHeader xmlns="{ABCH_NS}">'
        f"<ApplicationId>{APPLICATION_ID}</ApplicationId>"
        "<IsMigration>false</IsMigration>"
        f"<PartnerScenario>{text(scenario)}</PartnerScenario>{cache}"
        "</ABApplicationHeader>"
        f'<ABAuthHeader xmlns="{ABCH_NS}">'
        "<ManagedGroupRequest>false</ManagedGroupRequest>"
        f"<TicketToken>{text(ticket)}</TicketToken>"
        "</ABAuthHeader>"
    )
    return SoapRequest(f"{ABCH_NS}/{action}", envelope(header, body))


def parse_annotations(node: Element | None) -> dict[str, str]:
    """``<annotations><Annotation><Name/><Value/></Annotation>...`` as a dict (first wins)."""
    found: dict[str, str] = {}
    if node is None:
        return found
    for annotation in node.children_named("Annotation")[:_MAX_ANNOTATIONS]:
        name = annotation.findtext("Name").strip()
        if name and name not in found:
            found[name] = annotation.findtext("Value")
    return found
