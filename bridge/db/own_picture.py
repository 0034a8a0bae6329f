"""``own_picture``: the display picture last made from each user's Matrix avatar, so that a
login can announce it in its first ``CHG`` without asking the homeserver first."""

from __future__ import annotations

from dataclasses import dataclass, field

from .model import Model, quote

__all__ = ["OwnPicture"]


@dataclass
class OwnPicture(Model, table="own_picture", primary_key=("mxid",)):
    mxid: str
    mxc: str | None = None  # the avatar it was made from (None: the user had no avatar)
    picture: bytes | None = field(default=None, repr=False)  # the 96x96 PNG (None: none)

    @classmethod
    async def get(cls, mxid: str) -> OwnPicture | None:
        return await cls._get_one(f"{quote('mxid')}=$1", mxid)

    async def store(self) -> None:
        """INSERT or replace this row."""
        await self.db.execute(
            f"{self._sql().insert} ON CONFLICT ({quote('mxid')}) DO UPDATE SET "
            f"{quote('mxc')}=excluded.{quote('mxc')}, "
            f"{quote('picture')}=excluded.{quote('picture')}",
            self.mxid,
            self.mxc,
            self.picture,
        )
