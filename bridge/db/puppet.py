"""``puppet``: one global Matrix ghost per MSN account."""

from __future__ import annotations

from typing import ClassVar
from dataclasses import dataclass, field
import logging

from .encrypted import EncryptedModel
from .model import quote

__all__ = ["Puppet"]

log = logging.getLogger("mau.db.puppet")


@dataclass
class Puppet(EncryptedModel, table="puppet", primary_key=("passport",)):
    """One MSN account's ghost. ``access_token`` (double puppeting: the Matrix user's own
    access token) is encrypted in the database like passwords (see
    :mod:`bridge.db.encrypted`); undecryptable, it reads as ``None`` and the user has to use
    ``login-matrix`` again."""

    _secret_columns: ClassVar[frozenset[str]] = frozenset({"access_token"})

    passport: str  # lower case
    friendly_name: str | None = None
    name_set: bool = False  # the ghost's displayname has been set from friendly_name
    personal_message: str | None = None
    avatar_url: str | None = None  # mxc:// URI
    is_registered: bool = False  # the ghost exists on the homeserver (mautrix state store)
    # v2: double puppeting
    custom_mxid: str | None = None
    access_token: str | None = field(default=None, repr=False)
    next_batch: str | None = None
    base_url: str | None = None
    # v8: SHA1D of the MSN display picture behind avatar_url
    avatar_sha1d: str | None = None

    def _on_undecryptable(self, columns: list[str]) -> None:
        log.warning(
            "The stored double-puppeting token of %s cannot be decrypted with "
            "bridge.credential_key; double puppeting is off until `login-matrix` again",
            self.custom_mxid or self.passport,
        )

    @classmethod
    async def get_by_passport(cls, passport: str) -> Puppet | None:
        return await cls._get_one(f"{quote('passport')}=$1", passport.lower())

    @classmethod
    async def get_by_custom_mxid(cls, mxid: str) -> Puppet | None:
        return await cls._get_one(f"{quote('custom_mxid')}=$1", mxid)

    @classmethod
    async def all_double_puppets(cls) -> list[Puppet]:
        """The puppets of MSN accounts whose Matrix user enabled double puppeting."""
        return await cls._get_all(f"{quote('custom_mxid')} IS NOT NULL")
