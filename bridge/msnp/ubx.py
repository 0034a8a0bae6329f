"""MSNP13+ presence payloads: what we send with ``UUX`` and read from ``UBX``.

``UUX`` sets the user's personal message (``PSM``), "now playing" (``CurrentMedia``) and
machine GUID as a ``<Data>`` document; from MSNP16 each endpoint also describes itself,
publicly with ``<EndpointData>`` (capabilities) and to the user's own other endpoints with
``<PrivateEndpointData>`` (a name such as "Matrix bridge", idle flag, client type, state).
``UBX`` brings a contact's ``<Data>``, with one ``EndpointData`` per signed-in endpoint and,
for the user's own account, their ``PrivateEndpointData``. Its first arguments name the
contact: ``email`` (MSNP13), ``email network`` (MSNP14-17) or ``network:email`` (MSNP18).

A contact's ``UBX`` payload reaches every user of a process who has them in their list, byte
for byte the same: :func:`parse_user_data` keeps the last :data:`PARSED_KEPT` results of
payloads up to :data:`PARSED_KEPT_BYTES` (the results are immutable, so they are shared).
"""

from __future__ import annotations

from typing import Final
from collections.abc import Sequence
from dataclasses import dataclass
import functools
import re
import uuid

from .endpoints import Address, NetworkId, format_guid, parse_address, parse_guid
from .errors import RemoteProtocolError
from .xmlsafe import Element, parse_xml, text

__all__ = [
    "ENDPOINT_NAME",
    "PARSED_KEPT",
    "PARSED_KEPT_BYTES",
    "Endpoint",
    "Media",
    "UserData",
    "build_endpoint_data",
    "build_private_endpoint_data",
    "build_user_data",
    "parse_media",
    "parse_user_data",
    "ubx_sender",
]

#: How the bridge's endpoint appears in the user's own Messenger ("signed in at ...").
ENDPOINT_NAME: Final = "Matrix bridge"
_MAX_PAYLOAD: Final = 64 << 10
_MAX_ELEMENTS: Final = 2000
_MAX_ENDPOINTS: Final = 64
_MAX_MEDIA_FIELDS: Final = 32
_MAX_MEDIA_TEXT: Final = 1024
_PLACEHOLDER: Final = re.compile(r"\{(\d{1,2})\}")
#: Parsed ``UBX`` payloads kept for reuse, and the largest payload kept: at most about 6 MiB
#: with the results, about 2 MiB for typical MSNP18 payloads (300 bytes, one endpoint).
PARSED_KEPT: Final = 2048
PARSED_KEPT_BYTES: Final = 1024


def build_user_data(
    personal_message: str,
    current_media: str = "",
    machine_guid: str | uuid.UUID | None = None,
    *,
    protocol: int = 15,
) -> bytes:
    """The ``UUX`` ``<Data>`` payload (MSNP16+ adds the empty elements Messenger 2009 sends)."""
    parts = [
        f"<Data><PSM>{text(personal_message)}</PSM>",
        f"<CurrentMedia>{text(current_media)}</CurrentMedia>",
    ]
    if machine_guid is not None:
        parts.append(f"<MachineGuid>{format_guid(machine_guid)}</MachineGuid>")
    if protocol >= 18:
        parts.append("<DDP></DDP>")
    if protocol >= 16:
        parts.append("<SignatureSound></SignatureSound>")
    if protocol >= 18:
        parts.append("<Scene></Scene><ColorScheme></ColorScheme>")
    parts.append("</Data>")
    return "".join(parts).encode("utf-8")


def build_endpoint_data(capabilities: int, capabilities_ex: int = 0) -> bytes:
    """The MSNP16+ ``UUX`` payload announcing this endpoint's capabilities."""
    return (
        f"<EndpointData><Capabilities>{int(capabilities)}:{int(capabilities_ex)}</Capabilities>"
        "</EndpointData>"
    ).encode("ascii")


def build_private_endpoint_data(
    name: str = ENDPOINT_NAME, *, idle: bool = False, client_type: int = 1, state: str = "NLN"
) -> bytes:
    """The MSNP16+ ``UUX`` payload naming this endpoint to the user's other endpoints."""
    return (
        f"<PrivateEndpointData><EpName>{text(name)}</EpName>"
        f"<Idle>{'true' if idle else 'false'}</Idle><ClientType>{int(client_type)}</ClientType>"
        f"<State>{text(state)}</State></PrivateEndpointData>"
    ).encode()


@dataclass(frozen=True, slots=True)
class Media:
    """Parsed ``CurrentMedia``: ``\\0Music\\01\\0{0} - {1}\\0Title\\0Artist\\0``."""

    application: str
    kind: str
    enabled: bool
    template: str
    values: tuple[str, ...]

    @property
    def text(self) -> str:
        """The template filled in ("Title - Artist"), at most 1024 characters."""

        def fill(match: re.Match[str]) -> str:
            index = int(match.group(1))
            return self.values[index] if index < len(self.values) else ""

        return _PLACEHOLDER.sub(fill, self.template[:_MAX_MEDIA_TEXT])[:_MAX_MEDIA_TEXT]


def parse_media(value: str) -> Media | None:
    """``CurrentMedia`` fields (separated by the two characters ``\\0``), or None when empty
    or switched off."""
    if not value:
        return None
    fields = value.split("\\0", _MAX_MEDIA_FIELDS + 4)
    if len(fields) < 5:
        return None
    application, kind, enabled, template = fields[0:4]
    if enabled.strip() != "1":
        return None
    values = tuple(fields[4 : 4 + _MAX_MEDIA_FIELDS])
    while values and values[-1] == "":
        values = values[:-1]
    return Media(application, kind, True, template or "{0}", values)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One signed-in endpoint of a contact (or of the user: then ``name`` and ``state`` are
    known from ``PrivateEndpointData``)."""

    id: uuid.UUID
    capabilities: int = 0
    capabilities_ex: int = 0
    name: str | None = None
    idle: bool | None = None
    client_type: str | None = None
    state: str | None = None

    @property
    def endpoint_id(self) -> str:
        return format_guid(self.id)


@dataclass(frozen=True, slots=True)
class UserData:
    personal_message: str = ""
    current_media: str = ""
    machine_guid: str | None = None
    endpoints: tuple[Endpoint, ...] = ()

    @property
    def media(self) -> Media | None:
        return parse_media(self.current_media)


def _capabilities(value: str) -> tuple[int, int]:
    first, _, second = value.strip().partition(":")
    try:
        return int(first or 0) & 0xFFFFFFFF, int(second or 0) & 0xFFFFFFFF
    except ValueError:
        return 0, 0


def _endpoint_id(node: Element) -> uuid.UUID | None:
    try:
        return parse_guid(node.get("id"))
    except ValueError:
        return None


def parse_user_data(payload: bytes) -> UserData:
    """A ``UBX`` payload (an empty one means "nothing set"); raises
    :class:`~.errors.RemoteProtocolError` for one that is not readable (never kept)."""
    if len(payload) > PARSED_KEPT_BYTES:
        return _parse_user_data(payload)
    return _kept_user_data(payload)


def _parse_user_data(payload: bytes) -> UserData:
    if not payload.strip():
        return UserData()
    root = parse_xml(payload, max_bytes=_MAX_PAYLOAD, max_elements=_MAX_ELEMENTS)
    endpoints: dict[uuid.UUID, Endpoint] = {}
    for node in root.children_named("EndpointData"):
        guid = _endpoint_id(node)
        if guid is None or (guid not in endpoints and len(endpoints) >= _MAX_ENDPOINTS):
            continue
        caps, caps_ex = _capabilities(node.findtext("Capabilities"))
        endpoints[guid] = Endpoint(guid, caps, caps_ex)
    for node in root.children_named("PrivateEndpointData"):
        guid = _endpoint_id(node)
        if guid is None or (guid not in endpoints and len(endpoints) >= _MAX_ENDPOINTS):
            continue
        base = endpoints.get(guid, Endpoint(guid))
        idle = node.findtext("Idle").strip().lower()
        endpoints[guid] = Endpoint(
            guid,
            base.capabilities,
            base.capabilities_ex,
            name=node.findtext("EpName") or None,
            idle=(idle == "true") if idle else None,
            client_type=node.findtext("ClientType").strip() or None,
            state=node.findtext("State").strip() or None,
        )
    guid_text = root.findtext("MachineGuid").strip()
    return UserData(
        personal_message=root.findtext("PSM"),
        current_media=root.findtext("CurrentMedia"),
        machine_guid=guid_text or None,
        endpoints=tuple(endpoints.values()),
    )


_kept_user_data = functools.lru_cache(maxsize=PARSED_KEPT)(_parse_user_data)


def ubx_sender(args: Sequence[str], protocol: int) -> Address:
    """Who a ``UBX`` is about, from its arguments (the payload length already removed)."""
    if not args:
        raise RemoteProtocolError("UBX without an address")
    try:
        if protocol >= 18:
            return parse_address(args[0])
        address = parse_address(args[0])
        if len(args) > 1 and protocol >= 14:
            return Address(address.email, NetworkId.parse(args[1]), address.endpoint, address.via)
        return address
    except ValueError as e:
        raise RemoteProtocolError(f"bad UBX address: {e}") from e
