"""Presence on the wire, per protocol version: ILN/NLN/FLN/UBX lines and UBX/UUX payloads.

| version | ILN / NLN | FLN | UBX |
| --- | --- | --- | --- |
| 8-13 | ``status email name caps [msnobj]`` | ``email`` | ``email`` (11+) |
| 14-15 | ``status email 1 name caps [msnobj]`` | ``email 1 0`` | ``email 1`` |
| 16-17 | ``status email 1 name caps:capsex [msnobj]`` | ``email 1 0:0`` | ``email 1`` |
| 18 | ``status 1:email name caps:capsex [msnobj]``, no ILN | ``1:email 0:0`` | ``1:email`` |

A member seen through a circle (MSNP18) is ``1:email;via=9:<circle>@live.com``. The msnobj
field is left out when the contact has none. UBX payloads up to MSNP12 are the contact's last
UUX as sent; from MSNP13 on they are built: ``<Data><PSM/><CurrentMedia/><MachineGuid/>`` and
from MSNP16 the endpoints (``<EndpointData id="{guid}"><Capabilities>c:ce</Capabilities>``),
plus, for the user's own endpoints only, ``<PrivateEndpointData id="{guid}">`` with ``EpName``,
``Idle``, ``ClientType`` and ``State``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from .framing import encode_name
from .soap import esc

if TYPE_CHECKING:
    from .notification import NotificationConnection

__all__ = [
    "UUXData",
    "fln_args",
    "handle",
    "parse_uux",
    "presence_args",
    "ubx_args",
    "ubx_payload",
]


def handle(viewer_v: int, email: str, via: str | None = None) -> tuple[str, ...]:
    """How a contact is named to a client: ``1:email[;via=...]`` at 18, ``email 1`` at 14-17."""
    if viewer_v >= 18:
        return (f"1:{email}" + (f";via={via}" if via else ""),)
    if viewer_v >= 14:
        return (email, "1")
    return (email,)


def caps_for(viewer_v: int, other: NotificationConnection) -> str:
    caps = other.capabilities or "0"
    if viewer_v >= 16:
        return f"{caps}:{other.caps_ex or '0'}"
    return caps


def presence_args(
    viewer_v: int, other: NotificationConnection, via: str | None = None
) -> tuple[object, ...]:
    """``status <handle> name [caps] [msnobj]`` as a client of ``viewer_v`` sees ``other``."""
    assert other.account is not None
    caps = caps_for(viewer_v, other) if viewer_v >= 8 else None
    msn_object = other.msn_object if viewer_v >= 9 and caps is not None else None
    return (
        other.visible_status,
        *handle(viewer_v, other.account.email, via),
        encode_name(other.account.name),
        caps,
        msn_object,
    )


def fln_args(viewer_v: int, email: str, via: str | None = None) -> tuple[str, ...]:
    if viewer_v >= 16:
        return (*handle(viewer_v, email, via), "0:0")
    if viewer_v >= 14:
        return (*handle(viewer_v, email), "0")
    return (email,)


def ubx_args(viewer_v: int, email: str, via: str | None = None) -> tuple[str, ...]:
    return handle(viewer_v, email, via)


@dataclass(slots=True)
class UUXData:
    psm: str | None = None
    current_media: str | None = None
    machine_guid: str | None = None
    ep_name: str | None = None
    idle: bool | None = None
    client_type: str | None = None
    state: str | None = None
    capabilities: str | None = None


def parse_uux(payload: bytes) -> UUXData | None:
    """The fields of a UUX payload (``<Data>...</Data>``); None if it is not XML."""
    if b"<!DOCTYPE" in payload or b"<!ENTITY" in payload:
        return None
    try:
        root = ET.fromstring(payload)
    except ET.ParseError:
        return None
    data = UUXData()

    def child(parent: ET.Element, name: str) -> ET.Element | None:
        return next((c for c in parent if c.tag.rsplit("}", 1)[-1] == name), None)

    for name, attr in (("PSM", "psm"), ("CurrentMedia", "current_media")):
        node = child(root, name)
        if node is not None:
            setattr(data, attr, node.text or "")
    guid = child(root, "MachineGuid")
    if guid is not None and guid.text:
        data.machine_guid = guid.text.strip()
    # WLM 2009 sends its endpoint data as a UUX of its own, <PrivateEndpointData> at the root
    private = root if root.tag == "PrivateEndpointData" else child(root, "PrivateEndpointData")
    if private is not None:
        for name, attr in (
            ("EpName", "ep_name"),
            ("ClientType", "client_type"),
            ("State", "state"),
        ):
            node = child(private, name)
            if node is not None:
                setattr(data, attr, (node.text or "").strip())
        idle = child(private, "Idle")
        if idle is not None:
            data.idle = (idle.text or "").strip().lower() == "true"
    endpoint = child(root, "EndpointData")
    if endpoint is not None:
        caps = child(endpoint, "Capabilities")
        if caps is not None and caps.text:
            data.capabilities = caps.text.strip()
    return data


def ubx_payload(
    viewer_v: int, endpoints: list[NotificationConnection], *, self_view: bool
) -> bytes:
    """The UBX payload about the account of ``endpoints`` (its first is the primary)."""
    primary = endpoints[0]
    account = primary.account
    assert account is not None
    if viewer_v < 13:
        return account.psm
    parts = [f"<Data><PSM>{esc(account.psm_text)}</PSM>"]
    parts.append(f"<CurrentMedia>{esc(account.current_media)}</CurrentMedia>")
    guid = primary.uux_machine_guid or primary.machine_guid
    if guid:
        parts.append(f"<MachineGuid>{esc(guid)}</MachineGuid>")
    if viewer_v >= 16:
        if viewer_v >= 18:
            parts.append("<DDP></DDP>")
        parts.append("<SignatureSound></SignatureSound>")
        if viewer_v >= 18:
            parts.append("<Scene></Scene><ColorScheme></ColorScheme>")
        mpop = [ep for ep in endpoints if ep.machine_guid]
        for ep in mpop:
            parts.append(
                f'<EndpointData id="{ep.machine_guid}"><Capabilities>{caps_for(16, ep)}'
                "</Capabilities></EndpointData>"
            )
        if self_view:
            for ep in mpop:
                parts.append(f'<PrivateEndpointData id="{ep.machine_guid}">{_private(ep)}'
                             "</PrivateEndpointData>")  # fmt: skip
    parts.append("</Data>")
    return "".join(parts).encode("utf-8")


def _private(ep: NotificationConnection) -> str:
    fields = []
    if ep.ep_name is not None:
        fields.append(f"<EpName>{esc(ep.ep_name)}</EpName>")
    if ep.ep_idle is not None:
        fields.append(f"<Idle>{'true' if ep.ep_idle else 'false'}</Idle>")
    if ep.ep_client_type is not None:
        fields.append(f"<ClientType>{esc(ep.ep_client_type)}</ClientType>")
    state = ep.ep_state or ep.status
    if state is not None:
        fields.append(f"<State>{esc(state)}</State>")
    return "".join(fields)
