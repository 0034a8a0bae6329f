"""Which switchboards a client opens: hosts they may be on, and how many per account/inviter.

A switchboard address comes from the server (``XFR SB``) or from an invitation (``RNG``); only
addresses on the notification server's own host — the name the NS connection went to after
redirects, or the address it reached — or on an allow-listed host/network are used. A client
keeps at most ``max_total`` switchboards open (answering included) and answers at most
``max_per_inviter`` invitations from the same inviter at once; other rings are refused before
any socket is opened.
"""

from __future__ import annotations

from typing import Protocol, TypeVar
from collections.abc import Collection, Iterable
import functools
import ipaddress
import logging

from .burst import Tally
from .errors import SwitchboardLimitReached

__all__ = ["SwitchboardHosts", "SwitchboardLimits"]

log = logging.getLogger("msnp.admission")

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _normalize(host: str) -> str:
    host = host.strip().strip("[]").rstrip(".").lower()
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


class SwitchboardHosts:
    """The allow-list: host names, IP addresses and networks (``10.0.0.0/8``)."""

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        self._names: set[str] = set()
        self._networks: list[_Network] = []
        for entry in allowed:
            if not entry.strip():
                continue
            try:
                self._networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                self._names.add(_normalize(entry))

    @staticmethod
    @functools.lru_cache(maxsize=64)
    def shared(allowed: tuple[str, ...]) -> SwitchboardHosts:
        """One allow-list per configured value, shared by every client using it (it never
        changes once made)."""
        return SwitchboardHosts(allowed)

    def allows(self, host: str, server_hosts: Collection[str]) -> bool:
        """Whether a switchboard on ``host`` may be used; ``server_hosts`` are the NS's."""
        name = _normalize(host)
        if name in self._names or name in {_normalize(h) for h in server_hosts if h}:
            return True
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return False
        return any(address in network for network in self._networks)

    def check(
        self, host: str, server_hosts: Collection[str], tally: Tally, what: str, inviter: str = ""
    ) -> bool:
        """:meth:`allows`, counting and logging (once per burst) a refusal."""
        if self.allows(host, server_hosts):
            return True
        tally.hit(
            "switchboard_hosts_refused",
            "refused %s%s: switchboard on %s, which is neither the server's host (%s) nor in "
            "switchboard_hosts",
            what,
            f" from {inviter}" if inviter else "",
            host,
            next(iter(server_hosts), "?"),
        )
        return False


class _Switchboard(Protocol):
    key: str
    inviter: str
    busy: int
    answering: bool
    last_active: float

    async def leave(self) -> None: ...


S = TypeVar("S", bound=_Switchboard)


class SwitchboardLimits:
    def __init__(self, max_total: int, max_per_inviter: int) -> None:
        self.max_total = max(1, max_total)
        self.max_per_inviter = max(1, max_per_inviter)

    def ring_refusal(self, inviter: str, open_sbs: Collection[_Switchboard]) -> str | None:
        """Why an invitation from ``inviter`` must be refused now (None: answer it)."""
        if len(open_sbs) >= self.max_total:
            return f"{self.max_total} switchboards are open"
        key = inviter.lower()
        same = sum(1 for sb in open_sbs if sb.inviter.lower() == key)
        if same >= self.max_per_inviter:
            return f"{same} switchboards from this inviter are open"
        return None

    def admit_ring(self, inviter: str, open_sbs: Collection[_Switchboard], tally: Tally) -> bool:
        """Whether to answer an invitation now; a refusal is counted and logged per burst."""
        reason = self.ring_refusal(inviter, open_sbs)
        if reason is not None:
            tally.hit("rings_refused", "refused an invitation from %s: %s", inviter, reason)
        return reason is None

    async def make_room(self, open_sbs: Collection[_Switchboard], tally: Tally) -> None:
        """Below ``max_total`` again by closing the idle switchboard used longest ago;
        :class:`SwitchboardLimitReached` when every one is in use."""
        victim = self.to_evict(open_sbs)
        if victim is not None:
            log.debug("closing the idle switchboard %s to make room", victim.key)
            tally.counts["switchboards_evicted"] += 1
            await victim.leave()
        elif len(open_sbs) >= self.max_total:
            raise SwitchboardLimitReached(
                f"{self.max_total} conversations are open and busy (max_switchboards)"
            )

    def to_evict(self, open_sbs: Collection[S]) -> S | None:
        """At the limit, the idle switchboard used longest ago (None: below the limit, or
        every switchboard is in use)."""
        if len(open_sbs) < self.max_total:
            return None
        idle = [sb for sb in open_sbs if not sb.busy and not sb.answering]
        return min(idle, key=lambda sb: sb.last_active) if idle else None
