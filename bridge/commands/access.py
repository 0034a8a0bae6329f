"""Who may run a command in a portal room: a command that acts on the portal needs the
portal's owner or a bridge admin.

A portal room may hold other Matrix users allowed to use the bridge (the owner invited them).
They must not run mautrix's built-in ``unbridge``, ``set-relay`` and the like on someone
else's conversation. Which commands act on the portal: ours say so with
``portal_owner_only=True``; of mautrix's, every one except those known to act only on the
sender (:data:`MAUTRIX_SENDER_ONLY`), so that a command a mautrix upgrade adds is guarded
until it is looked at.
"""

from __future__ import annotations

from typing import Any

from mautrix.bridge.commands import CommandHandler

__all__ = ["MAUTRIX_SENDER_ONLY", "acts_on_portal", "may_run"]

#: mautrix's commands that only show help or act on the sender's own account.
MAUTRIX_SENDER_ONLY = frozenset(
    {
        "help",
        "version",
        "cancel",
        "unknown-command",
        "login-matrix",
        "logout-matrix",
        "ping-matrix",
    }
)


def acts_on_portal(handler: Any) -> bool:
    """Whether ``handler`` (a command handler, or the ``next`` step of the sender's own
    command in progress) acts on the portal room it runs in."""
    if not isinstance(handler, CommandHandler):
        return False
    explicit = getattr(handler, "portal_owner_only", None)
    if explicit is not None:
        return bool(explicit)
    module = getattr(getattr(handler, "_handler", None), "__module__", "") or ""
    return module.startswith("mautrix.") and handler.name not in MAUTRIX_SENDER_ONLY


def may_run(handler: Any, sender_mxid: str, is_admin: bool, portal_owner: str | None) -> bool:
    """Whether the sender may run ``handler`` in a room that is the portal of
    ``portal_owner`` (None: not a portal room)."""
    if portal_owner is None or is_admin or sender_mxid == portal_owner:
        return True
    return not acts_on_portal(handler)
