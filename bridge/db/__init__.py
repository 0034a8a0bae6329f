"""Database models (one per table) and migrations.

Call :func:`init` with the started-or-not :class:`mautrix.util.async_db.Database` before using
any model; :data:`upgrade_table` is what the bridge hands to ``Database.create``.
"""

from __future__ import annotations

from mautrix.util.async_db import Database

from bridge.credentials import CredentialCipher

from .contact import Contact, ContactGroup, ContactGroupMember, ContactListVersion
from .incoming import Incoming
from .message import Message
from .model import Model
from .outgoing import Outgoing
from .own_picture import OwnPicture
from .portal import Portal
from .puppet import Puppet
from .space import SpaceChild, SpaceState
from .upgrade import upgrade_table
from .user import User

__all__ = [
    "ALL_MODELS",
    "Contact",
    "ContactGroup",
    "ContactGroupMember",
    "ContactListVersion",
    "Incoming",
    "Message",
    "Model",
    "Outgoing",
    "OwnPicture",
    "Portal",
    "Puppet",
    "SpaceChild",
    "SpaceState",
    "User",
    "init",
    "upgrade_table",
]

ALL_MODELS: tuple[type[Model], ...] = (
    User,
    Puppet,
    Contact,
    ContactGroup,
    ContactGroupMember,
    ContactListVersion,
    Portal,
    Message,
    Outgoing,
    Incoming,
    SpaceState,
    SpaceChild,
    OwnPicture,
)


def init(db: Database, cipher: CredentialCipher | None = None) -> None:
    """Point every model at ``db``; ``cipher`` encrypts stored passwords, tickets and
    double-puppeting tokens."""
    for model in ALL_MODELS:
        model.db = db
    if cipher is not None:
        User.cipher = Puppet.cipher = cipher
