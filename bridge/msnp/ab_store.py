"""The MSNP13+ address-book cache as JSON text, kept between logins so they fetch only deltas.

:func:`dump_cache` writes an :class:`~.ab_login.AbCache` (address book and memberships, without
the service header: its cache key is the server's and is fetched again); :func:`load_cache`
reads it back, and returns None for anything it cannot trust (too large, not JSON, the wrong
shape), after which the login simply fetches everything.
"""

from __future__ import annotations

from typing import Any, Final
import json
import logging

from .ab_login import AbCache
from .abch import ServiceHeader
from .addressbook import AbContact, AbGroup, AddressBook
from .endpoints import NetworkId
from .sharing import Member, MemberKind, Memberships, Role

__all__ = ["MAX_STORED", "dump_cache", "load_cache"]

log = logging.getLogger("msnp.ab")

#: Stored caches larger than this are not read (8000 contacts are about 2 MB).
MAX_STORED: Final = 16 * 1024 * 1024
_FORMAT: Final = 1


def _contact(c: AbContact) -> dict[str, Any]:
    return {
        "id": c.contact_id,
        "email": c.email,
        "network": int(c.network),
        "name": c.display_name,
        "type": c.contact_type,
        "messenger": c.is_messenger_user,
        "groups": list(c.group_ids),
        "cid": c.cid,
        "changed": c.last_change,
        "annotations": dict(c.annotations),
    }


def _member(m: Member) -> dict[str, Any]:
    return {
        "role": m.role.value,
        "kind": m.kind.value,
        "address": m.address,
        "network": int(m.network),
        "id": m.membership_id,
        "name": m.display_name,
        "state": m.state,
        "changed": m.last_changed,
        "cid": m.cid,
    }


def dump_cache(cache: AbCache) -> str:
    """The cache as compact JSON text."""
    book, ms = cache.book, cache.memberships
    return json.dumps(
        {
            "format": _FORMAT,
            "book": {
                "contacts": [_contact(c) for c in book.contacts if not c.deleted],
                "groups": [
                    {"id": g.group_id, "name": g.name, "favorite": g.is_favorite}
                    for g in book.groups
                    if not g.deleted
                ],
                "me": _contact(book.me) if book.me is not None else None,
                "changed": book.last_change,
                "created": book.created,
            },
            "memberships": {
                "members": [_member(m) for m in ms.members if not m.deleted],
                "changed": ms.last_change,
            },
        },
        separators=(",", ":"),
    )


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _opt(value: Any) -> str | None:
    return None if value is None else _str(value)


def _load_contact(d: Any) -> AbContact:
    annotations = d.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise TypeError("annotations")
    return AbContact(
        contact_id=_str(d["id"]),
        email=_str(d["email"]),
        network=NetworkId.parse(d["network"]),
        display_name=_str(d["name"]),
        contact_type=_str(d["type"]),
        is_messenger_user=bool(d["messenger"]),
        group_ids=tuple(_str(g) for g in d["groups"]),
        cid=_opt(d.get("cid")),
        last_change=_opt(d.get("changed")),
        annotations={_str(k): _str(v) for k, v in annotations.items()},
    )


def _load_member(d: Any) -> Member:
    return Member(
        role=Role(_str(d["role"])),
        kind=MemberKind(_str(d["kind"])),
        address=_str(d["address"]),
        network=NetworkId.parse(d["network"]),
        membership_id=_opt(d.get("id")),
        display_name=_str(d["name"]),
        state=_str(d["state"]),
        last_changed=_opt(d.get("changed")),
        cid=_opt(d.get("cid")),
    )


def load_cache(text: str | None) -> AbCache | None:
    """The cache written by :func:`dump_cache`, or None (nothing stored or not usable)."""
    if not text:
        return None
    if len(text) > MAX_STORED:
        log.info("stored address book too large (%d characters); fetching it whole", len(text))
        return None
    try:
        data = json.loads(text)
        if data.get("format") != _FORMAT:
            return None
        b, m = data["book"], data["memberships"]
        book = AddressBook(
            contacts=tuple(_load_contact(c) for c in b["contacts"]),
            groups=tuple(
                AbGroup(_str(g["id"]), _str(g["name"]), bool(g["favorite"])) for g in b["groups"]
            ),
            me=_load_contact(b["me"]) if b.get("me") is not None else None,
            last_change=_opt(b.get("changed")),
            header=ServiceHeader(),
            created=_opt(b.get("created")),
        )
        memberships = Memberships(
            members=tuple(_load_member(x) for x in m["members"]),
            last_change=_opt(m.get("changed")),
            header=ServiceHeader(),
        )
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        log.info("stored address book not usable (%s); fetching it whole", type(e).__name__)
        return None
    return AbCache(book, memberships)
