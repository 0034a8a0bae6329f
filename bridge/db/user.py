"""``user``: one row per Matrix user of the bridge, with their MSN login."""

from __future__ import annotations

from typing import Any, ClassVar, Self
from dataclasses import dataclass, field
import logging

from bridge.credentials import CredentialCipher, CredentialDecryptError

from .model import Model, quote

__all__ = ["User"]

log = logging.getLogger("mau.db.user")


@dataclass
class User(Model, table="user", primary_key=("mxid",)):
    """A Matrix user and their MSN account.

    ``password`` and ``ticket`` are plain text in memory and encrypted in the database with
    :attr:`cipher` (set by :func:`bridge.db.init`). If a stored value cannot be decrypted (the
    ``bridge.credential_key`` changed), the attribute reads as ``None`` and
    :attr:`credentials_lost` is ``True``, so the bridge asks the user to log in again. The
    undecryptable text is kept in the database until the attribute is assigned (a new login or a
    logout), so restoring the old key brings the credentials back.
    """

    cipher: ClassVar[CredentialCipher | None] = None
    _secret_columns: ClassVar[frozenset[str]] = frozenset({"password", "ticket"})

    mxid: str
    passport: str | None = None
    password: str | None = None
    ticket: str | None = None
    ticket_expiry: int | None = None  # unix seconds
    protocol: int | None = None  # MSNP version of the last successful login
    management_room: str | None = None
    space_room: str | None = None
    credentials_lost: bool = field(default=False, compare=False, metadata={"column": False})

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._secret_columns:
            kept = self.__dict__.get("_undecryptable")
            if kept:
                kept.pop(name, None)
        super().__setattr__(name, value)

    def _encode(self, column: str, value: Any) -> Any:
        if column in self._secret_columns:
            if value is None:
                return self.__dict__.get("_undecryptable", {}).get(column)
            if self.cipher is None:
                raise RuntimeError("bridge.db.User.cipher is not set: call bridge.db.init()")
            return self.cipher.encrypt(value)
        return super()._encode(column, value)

    @classmethod
    def from_row(cls, row: Any) -> Self:
        data = cls._decode(row)
        undecryptable: dict[str, str] = {}
        for column in cls._secret_columns:
            stored = data[column]
            if stored is None:
                continue
            if cls.cipher is None:
                raise RuntimeError("bridge.db.User.cipher is not set: call bridge.db.init()")
            try:
                data[column] = cls.cipher.decrypt(stored)
            except CredentialDecryptError:
                data[column] = None
                undecryptable[column] = stored
        user = cls(**data)
        if undecryptable:
            log.warning(
                "Stored %s of %s cannot be decrypted with bridge.credential_key; "
                "the user has to log in again",
                " and ".join(sorted(undecryptable)),
                user.mxid,
            )
            user.__dict__["_undecryptable"] = undecryptable
            user.credentials_lost = True
        return user

    @classmethod
    async def get_by_mxid(cls, mxid: str) -> User | None:
        return await cls._get_one(f"{quote('mxid')}=$1", mxid)

    @classmethod
    async def all_logged_in(cls) -> list[User]:
        """Users with an MSN account set (whether or not their credentials still work)."""
        return await cls._get_all(f"{quote('passport')} IS NOT NULL", order_by=quote("mxid"))
