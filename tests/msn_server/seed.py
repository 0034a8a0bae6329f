"""Seed many accounts quickly: N accounts, each with K mutual contacts in G groups.

Account ``i`` (0 <= i < N) is ``{prefix}{i}@{domain}`` with the same password for all. Its
contacts are its ring neighbours ``i±1 … i±K/2`` (mod N; for an odd K also the account
opposite it on the ring, ``i+N/2``, when N is even), on FL+AL with RL (lists 11) on both
sides, spread round-robin over its groups ``Group 1 … Group G``. Used by the scale benchmarks
(``python -m tests.msn_server --seed N --seed-contacts K --seed-groups G``).
"""

from __future__ import annotations

from typing import Final
from dataclasses import dataclass
import time

from .state import AL, FL, RL, Account, ContactEntry, Directory, Group

__all__ = ["SeedSpec", "seed_accounts"]

_MUTUAL: Final = FL | AL | RL


@dataclass(frozen=True, slots=True)
class SeedSpec:
    count: int
    contacts: int = 20
    groups: int = 2
    prefix: str = "user"
    domain: str = "scale.example"
    password: str = "password"

    def email(self, i: int) -> str:
        return f"{self.prefix}{i}@{self.domain}"

    def offsets(self) -> list[int]:
        """The ring offsets of an account's contacts (each offset's opposite is included,
        so every relation is mutual)."""
        n, k = self.count, self.contacts
        half = min(k // 2, (n - 1) // 2)
        offsets = [d for step in range(1, half + 1) for d in (step, -step)]
        if len(offsets) < k and n % 2 == 0 and n // 2 > half:
            offsets.append(n // 2)
        return offsets


def seed_accounts(directory: Directory, spec: SeedSpec) -> list[Account]:
    """Create ``spec.count`` accounts with their contacts and groups; returns them in order.

    Goes around the list operations (which re-check every rule per call) since the result is
    consistent by construction (under a second for 10,000 accounts with 20 contacts).
    """
    if spec.count < 1 or spec.contacts < 0 or spec.groups < 0:
        raise ValueError("seed: count must be >= 1, contacts and groups >= 0")
    accounts = [
        directory.add(spec.email(i), spec.password, f"User {i}") for i in range(spec.count)
    ]
    offsets = spec.offsets()
    now = time.time()
    for i, account in enumerate(accounts):
        groups: list[Group] = [account.add_group(f"Group {g + 1}") for g in range(spec.groups)]
        contacts = account.contacts
        for position, offset in enumerate(offsets):
            other = accounts[(i + offset) % spec.count]
            numbers = [groups[position % len(groups)].number] if groups else []
            contacts[other.key] = ContactEntry(other.email, _MUTUAL, numbers, other.name)
            other.watched_by.add(account.key)
        account.ser += len(offsets) + 1
        account.changed_at = now
    return accounts
