"""The client's configuration: servers, protocol versions, identity, timeouts and limits."""

from __future__ import annotations

from typing import Final
from dataclasses import dataclass, field

from . import codec
from .message import MAX_MSG_PAYLOAD
from .p2p_transfer import P2PLimits
from .values import Status

__all__ = ["MAX_UBX_PAYLOAD", "ClientConfig"]

#: Real clients send a few hundred bytes of personal-message XML (a 129-character PSM, the
#: media string, a machine GUID); larger ``UBX`` payloads are dropped unread.
MAX_UBX_PAYLOAD: Final = 8 * 1024


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """How a client connects, what it says about itself, and the limits on what it accepts.
    (Slotted: every connected user's client holds one, a dict of 34 fields was 1.6 KiB.)"""

    server: str = "messenger.hotmail.com:1863"
    protocols: tuple[int, ...] = (12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2)
    passport_url: str | None = None
    nexus_url: str | None = None
    #: The RST token service of MSNP13+ logins and the address-book host (None: found beside
    #: ``passport_url``/``nexus_url``, else Windows Live's; see :mod:`.passport`).
    sso_url: str | None = None
    ab_url: str | None = None
    force_scheme: str | None = None
    verify_tls: bool = True
    locale: str = "0x0409"
    os_type: str = "winnt"
    os_version: str = "5.1"
    arch: str = "i386"
    client_name: str = "MSNMSGR"
    client_version: str = "7.0.0816"
    client_lib: str = "MSMSGS"
    #: MSN client capability flags sent in CHG (MSNP8+): MSNC1 (P2P over the switchboard:
    #: MSN objects and files, :mod:`.p2p_session`) | multi-packet messages (:mod:`.multipacket`)
    #: | ink as GIF (an ``image/gif`` message, shown by the bridge): what is honoured; nothing
    #: more, or clients send what cannot be read.
    capabilities: int = 0x10000024
    keepalive_interval: float = 45.0
    keepalive_timeout: float = 30.0
    connect_timeout: float = 15.0
    transaction_timeout: float = 20.0
    switchboard_join_timeout: float = 30.0
    ack_timeout: float = 30.0
    initial_status: Status = Status.ONLINE
    max_line: int = codec.DEFAULT_MAX_LINE
    max_payload: int = codec.DEFAULT_MAX_PAYLOAD
    #: Log in with MSNP2-7 (MD5: ``md5(salt + password)`` on the wire, which lets anyone who
    #: sees the connection test password guesses offline). Off: only MSNP8+ is offered.
    allow_md5_login: bool = False
    #: Switchboards open at once (outgoing and answered); invitations beyond are refused.
    max_switchboards: int = 50
    #: Invitations answered at once from one inviter.
    max_switchboards_per_inviter: int = 4
    #: Hosts, IP addresses or networks (``10.0.0.0/8``) where switchboards may be besides the
    #: notification server's own host.
    switchboard_hosts: tuple[str, ...] = ()
    #: Events waiting for the handler before the connections stop reading (back-pressure).
    max_pending_events: int = 1000
    #: ``UBX`` (personal message) and switchboard ``MSG`` payloads above these are dropped.
    max_ubx_payload: int = MAX_UBX_PAYLOAD
    max_switchboard_payload: int = MAX_MSG_PAYLOAD
    #: Contacts kept from the server's lists (MSN allowed 1,000 on the forward list).
    max_contacts: int = 5000
    #: P2P sessions, sizes, buffers and timeouts (display pictures, emoticons, files).
    p2p: P2PLimits = field(default_factory=P2PLimits)
