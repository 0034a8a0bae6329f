"""Which commands act on a portal room (and so need its owner or an admin there)."""

from __future__ import annotations

from mautrix.bridge.commands.handler import command_handlers

from bridge.commands import access, auth

OWNER, OTHER = "@owner:hs", "@other:hs"


def test_mautrix_commands_acting_on_a_portal_are_guarded() -> None:
    guarded = {name for name, h in command_handlers.items() if access.acts_on_portal(h)}
    # the portal-acting commands mautrix brings, and ours that say so
    assert {"unbridge", "set-relay", "unset-relay", "delete-portal", "set-pl", "nudge"} <= guarded
    # every mautrix command is guarded unless known to act only on the sender
    for name, handler in command_handlers.items():
        from_mautrix = handler._handler.__module__.startswith("mautrix.")
        if from_mautrix and name not in access.MAUTRIX_SENDER_ONLY:
            assert name in guarded, name
    # the sender's own things stay open to anyone allowed to use the bridge
    assert not guarded & {"help", "cancel", "login", "logout", "ping", "status", "contacts", "pm"}


def test_only_the_owner_or_an_admin_may_run_them() -> None:
    unbridge, ping = command_handlers["unbridge"], command_handlers["ping"]
    assert not access.may_run(unbridge, OTHER, False, OWNER)
    assert access.may_run(unbridge, OWNER, False, OWNER)
    assert access.may_run(unbridge, OTHER, True, OWNER)  # a bridge admin
    assert access.may_run(unbridge, OTHER, False, None)  # not a portal room
    assert access.may_run(ping, OTHER, False, OWNER)
    # the next step of the sender's own command (the password prompt) is theirs
    assert access.may_run(auth.enter_password, OTHER, False, OWNER)
