"""Machine GUIDs, network ids and the address forms of MSNP13-18.

From MSNP14 presence and list commands carry a network id (1 for Windows Live / Passport, 32
for Yahoo!...); MSNP18 writes it in front of the address (``1:bob@example.com``). MSNP16 added
multiple points of presence: every signed-in client is an endpoint named by its machine GUID,
and the switchboard and UUN/UBN name one endpoint as ``bob@example.com;{guid}``. Circles
(MSNP18) add ``;via=9:{circle}@live.com``. :func:`parse_address` reads all of these;
:func:`format_address` writes the form a protocol version expects.
"""

from __future__ import annotations

from typing import Final
from dataclasses import dataclass
from enum import IntEnum
import uuid

__all__ = [
    "MAX_ADDRESS",
    "Address",
    "NetworkId",
    "format_address",
    "format_guid",
    "new_machine_guid",
    "parse_address",
    "parse_guid",
]

#: Longer "addresses" are refused before any work is done on them.
MAX_ADDRESS: Final = 512


class NetworkId(IntEnum):
    """The network of a contact (``t=`` in ``ADL``, the number in ``1:bob@example.com``)."""

    WINDOWS_LIVE = 1
    OFFICE_COMMUNICATOR = 2
    TELEPHONE = 4
    MOBILE_NETWORK_INTEROP = 8
    CIRCLE = 9
    TEMPORARY_GROUP = 10
    SMTP = 16
    YAHOO = 32

    @classmethod
    def parse(cls, value: str | int) -> NetworkId:
        """The network for a number (``"1"``, ``32``); :class:`ValueError` for others."""
        try:
            return cls(int(value))
        except (TypeError, ValueError) as e:
            raise ValueError(f"unknown network id {str(value)[:16]!r}") from e


def parse_guid(value: str) -> uuid.UUID:
    """A GUID written with or without braces, in any case; :class:`ValueError` otherwise."""
    text = value.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    if len(text) != 36 or text.count("-") != 4:
        raise ValueError(f"not a GUID: {value[:64]!r}")
    return uuid.UUID(text)


def format_guid(value: uuid.UUID | str) -> str:
    """``{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}`` (upper case, braces), the form Messenger
    sends in ``USR SSO S`` and ``<MachineGuid>``."""
    guid = value if isinstance(value, uuid.UUID) else parse_guid(value)
    return "{" + str(guid).upper() + "}"


def new_machine_guid() -> str:
    """A fresh random machine GUID, formatted; store it per user so every login of the bridge
    is the same endpoint."""
    return format_guid(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class Address:
    """A parsed address: the e-mail address (as sent, case kept), its network, the endpoint
    when one is named and the circle it is reached through (``via``) when there is one."""

    email: str
    network: NetworkId = NetworkId.WINDOWS_LIVE
    endpoint: uuid.UUID | None = None
    via: str | None = None

    @property
    def endpoint_id(self) -> str | None:
        return format_guid(self.endpoint) if self.endpoint is not None else None


def parse_address(value: str) -> Address:
    """Read ``[net:]email[;{guid}][;via=...]``. The network prefix is the MSNP18 form; without
    one the network is Windows Live. :class:`ValueError` for anything malformed."""
    if len(value) > MAX_ADDRESS:
        raise ValueError("address too long")
    head, *params = value.split(";")
    network = NetworkId.WINDOWS_LIVE
    number, colon, rest = head.partition(":")
    if colon and number.isascii() and number.isdigit():
        network = NetworkId.parse(number)
        head = rest
    if not _valid_email(head) and network is not NetworkId.CIRCLE:
        raise ValueError(f"not an e-mail address: {head[:64]!r}")
    endpoint: uuid.UUID | None = None
    via: str | None = None
    for param in params:
        if param.startswith("via="):
            if via is not None:
                raise ValueError("two via= parameters")
            via = param[4:]
        elif param.startswith("{") and endpoint is None:
            endpoint = parse_guid(param)
        else:
            raise ValueError(f"unexpected address parameter {param[:64]!r}")
    return Address(head, network, endpoint, via)


def _valid_email(value: str) -> bool:
    user, at, domain = value.partition("@")
    return bool(
        at
        and user
        and domain
        and "@" not in domain
        and not any(ch.isspace() or ch in ";:,<>\"'" or ord(ch) < 32 for ch in value)
    )


def format_address(
    email: str,
    protocol: int,
    *,
    network: NetworkId = NetworkId.WINDOWS_LIVE,
    endpoint: uuid.UUID | str | None = None,
) -> str:
    """The address as ``protocol`` writes it: ``1:email`` from MSNP18, ``email`` before; with
    ``;{guid}`` when an endpoint is named (MSNP16+ only)."""
    result = f"{int(network)}:{email}" if protocol >= 18 else email
    if endpoint is not None:
        if protocol < 16:
            raise ValueError("endpoints exist only from MSNP16")
        result += ";" + format_guid(endpoint)
    return result
