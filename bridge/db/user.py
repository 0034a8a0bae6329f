"""``user``: one row per Matrix user of the bridge, with their MSN login."""

from __future__ import annotations

from typing import ClassVar
from collections.abc import Sequence
from dataclasses import dataclass, field
import logging

from .encrypted import EncryptedModel
from .model import quote

__all__ = ["User"]

log = logging.getLogger("mau.db.user")


@dataclass
class User(EncryptedModel, table="user", primary_key=("mxid",)):
    """A Matrix user and their MSN account.

    ``password`` and ``ticket`` are plain text in memory and encrypted in the database (see
    :mod:`bridge.db.encrypted`). If a stored value cannot be decrypted (the
    ``bridge.credential_key`` changed), the attribute reads as ``None`` and
    :attr:`credentials_lost` is ``True``, so the bridge asks the user to log in again.
    """

    _secret_columns: ClassVar[frozenset[str]] = frozenset({"password", "ticket"})
    #: columns of the table that are not fields: never read or written with the row
    separate_columns: ClassVar[frozenset[str]] = frozenset({"ab_cache"})

    mxid: str
    passport: str | None = None
    password: str | None = field(default=None, repr=False)
    ticket: str | None = field(default=None, repr=False)
    ticket_expiry: int | None = None  # unix seconds
    protocol: int | None = None  # MSNP version of the last successful login
    management_room: str | None = None
    space_room: str | None = None
    # v3: what the user chose to show MSN contacts (bridge.own_presence); None = no choice
    chosen_status: str | None = None  # an MSN status code, HDN for Appear Offline
    chosen_personal_message: str | None = None  # "" = chosen to be empty
    chosen_friendly_name: str | None = None
    # v9: the MSNP16+ endpoint's machine GUID (kept across logins). The table also keeps the
    # MSNP13+ address-book cache of the last login (``ab_cache``: JSON, bridge.msnp.ab_store),
    # so the next fetches only deltas; it is not held with the row (tens of KiB per user, for
    # the whole session) but read and written by the two methods below when a login needs it.
    machine_guid: str | None = None
    credentials_lost: bool = field(default=False, compare=False, metadata={"column": False})
    #: the ``ab_cache`` read for a page of users at start (:meth:`hand_ab_cache`), in a tuple
    _handed_ab_cache: tuple[str | None] | None = field(
        default=None, init=False, repr=False, compare=False, metadata={"column": False}
    )
    #: whether this row read or wrote its ``ab_cache`` itself (then nothing is handed to it)
    _ab_cache_used: bool = field(
        default=False, init=False, repr=False, compare=False, metadata={"column": False}
    )

    def _on_undecryptable(self, columns: list[str]) -> None:
        log.warning(
            "Stored %s of %s cannot be decrypted with bridge.credential_key; "
            "the user has to log in again",
            " and ".join(columns),
            self.mxid,
        )
        self.credentials_lost = True

    def hand_ab_cache(self, text: str | None) -> None:
        """What the ``ab_cache`` column held when the bridge started the user
        (:mod:`bridge.start_rows`, one statement for a page of users): the next
        :meth:`read_ab_cache` answers it without asking. Not taken once the row read or wrote
        the column itself (what was read for the page may be older)."""
        if not self._ab_cache_used:
            self._handed_ab_cache = (text,)

    async def read_ab_cache(self) -> str | None:
        """The address-book cache kept for this user (see the ``machine_guid`` comment)."""
        handed, self._handed_ab_cache = self._handed_ab_cache, None
        self._ab_cache_used = True
        if handed is not None:
            return handed[0]
        query = f"SELECT {quote('ab_cache')} FROM {quote(self._table)} WHERE {quote('mxid')}=$1"
        text = await self.db.fetchval(query, self.mxid)
        return str(text) if text else None

    async def write_ab_cache(self, text: str | None) -> None:
        """Keep ``text`` as this user's address-book cache (None: forget it)."""
        self._handed_ab_cache = None
        self._ab_cache_used = True
        query = f"UPDATE {quote(self._table)} SET {quote('ab_cache')}=$1 WHERE {quote('mxid')}=$2"
        await self.db.execute(query, text, self.mxid)

    @classmethod
    async def ab_caches_of(cls, mxids: Sequence[str]) -> dict[str, str]:
        """The address-book caches kept for ``mxids`` (users without one left out), in one
        statement."""
        if not mxids:
            return {}
        places = ", ".join(f"${i}" for i in range(1, len(mxids) + 1))
        rows = await cls.db.fetch(
            f"SELECT {quote('mxid')}, {quote('ab_cache')} FROM {quote(cls._table)}"
            f" WHERE {quote('ab_cache')} IS NOT NULL AND {quote('mxid')} IN ({places})",
            *mxids,
        )
        return {str(row["mxid"]): str(row["ab_cache"]) for row in rows if row["ab_cache"]}

    @classmethod
    async def get_by_mxid(cls, mxid: str) -> User | None:
        return await cls._get_one(f"{quote('mxid')}=$1", mxid)

    @classmethod
    async def all_logged_in(cls) -> list[User]:
        """Users with an MSN account set (whether or not their credentials still work)."""
        return await cls._get_all(f"{quote('passport')} IS NOT NULL", order_by=quote("mxid"))

    @classmethod
    async def count_logged_in(cls) -> int:
        """How many :meth:`all_logged_in` would return (without reading them)."""
        query = f"SELECT COUNT(*) FROM {quote(cls._table)} WHERE {quote('passport')} IS NOT NULL"
        return int(await cls.db.fetchval(query) or 0)

    @classmethod
    async def logged_in_page(cls, after: str, limit: int) -> list[User]:
        """Up to ``limit`` of :meth:`all_logged_in` whose ``mxid`` sorts after ``after``."""
        return await cls._get_all(
            f"{quote('passport')} IS NOT NULL AND {quote('mxid')}>$1",
            after,
            order_by=f"{quote('mxid')} LIMIT {int(limit)}",
        )
