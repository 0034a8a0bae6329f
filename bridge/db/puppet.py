"""``puppet``: one global Matrix ghost per MSN account."""

from __future__ import annotations

from dataclasses import dataclass

from .model import Model, quote

__all__ = ["Puppet"]


@dataclass
class Puppet(Model, table="puppet", primary_key=("passport",)):
    passport: str  # lower case
    friendly_name: str | None = None
    name_set: bool = False  # the ghost's displayname has been set from friendly_name
    personal_message: str | None = None
    status: str | None = None  # MSN status code (NLN, BSY, ..., FLN)
    avatar_url: str | None = None  # mxc:// URI
    is_registered: bool = False  # the ghost exists on the homeserver (mautrix state store)
    # v2: double puppeting
    custom_mxid: str | None = None
    access_token: str | None = None
    next_batch: str | None = None
    base_url: str | None = None

    @classmethod
    async def get_by_passport(cls, passport: str) -> Puppet | None:
        return await cls._get_one(f"{quote('passport')}=$1", passport.lower())

    @classmethod
    async def get_by_custom_mxid(cls, mxid: str) -> Puppet | None:
        return await cls._get_one(f"{quote('custom_mxid')}=$1", mxid)
