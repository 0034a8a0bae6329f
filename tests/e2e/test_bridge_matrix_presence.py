"""End to end: ``bridge.matrix_presence`` (issue 10, bullet 6). The user's Matrix presence
(pushed by Synapse to the appservice as ephemeral ``m.presence``) and display name become
their MSN status and name, as a contact on MSN sees them; the bot's ``status`` / ``nick`` win
until ``status auto`` / ``nick auto``.

One stack of its own with the feature on (off by default)."""

from __future__ import annotations

from typing import Any
from collections.abc import AsyncIterator

from mautrix.types import PresenceState
import pytest
import pytest_asyncio

from bridge.msnp.events import PresenceChanged
from bridge.msnp.values import Status
from tests.support.harness import Stack, poll
from tests.support.synapse import synapse_python


def _configure(config: dict[str, Any]) -> None:
    config["bridge"]["matrix_presence"] = {
        "status": True,
        "unavailable": "idle",
        "offline": "invisible",
        "display_name": True,
    }


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    if synapse_python() is None:
        pytest.fail("Synapse is not installed: run tests/install-test-deps.sh", pytrace=False)
    stack = Stack(tmp_path_factory.mktemp("e2e-mxpresence"), "sqlite", configure=_configure)
    async with stack.running():
        yield stack


async def _status_is(stack: Stack, passport: str, status: Status) -> bool:
    return stack.msn.online(passport) == status.value


async def test_matrix_presence_drives_the_msn_status_until_a_status_is_chosen(
    stack: Stack,
) -> None:
    pair = stack.new_pair()
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    user, mgmt = await stack.logged_in(pair)
    passport = pair.passport

    def sees(status: Status) -> Any:
        return lambda e: e.passport == passport and e.status is status

    await poll(lambda: _status_is(stack, passport, Status.ONLINE), what="online on MSN")
    # idle in Matrix (as a client reports it: on its syncs and with PUT presence)
    mark = bob.mark()
    user.sync_presence = PresenceState.UNAVAILABLE
    await user.api.set_presence(PresenceState.UNAVAILABLE)
    await bob.wait_for_type(PresenceChanged, sees(Status.IDLE), after=mark, timeout=30)
    # the app closed: Appear Offline (offline: invisible)
    mark = bob.mark()
    user.sync_presence = PresenceState.OFFLINE
    await user.api.set_presence(PresenceState.OFFLINE)
    await bob.wait_for_type(PresenceChanged, sees(Status.OFFLINE), after=mark, timeout=30)
    await poll(lambda: _status_is(stack, passport, Status.HIDDEN), what="HDN on MSN")
    # back
    mark = bob.mark()
    user.sync_presence = PresenceState.ONLINE
    await user.api.set_presence(PresenceState.ONLINE)
    await bob.wait_for_type(PresenceChanged, sees(Status.ONLINE), after=mark, timeout=30)

    # a status chosen with the bot wins over Matrix presence ...
    mark = bob.mark()
    await stack.command(user, mgmt, "status busy", "Busy")
    await bob.wait_for_type(PresenceChanged, sees(Status.BUSY), after=mark, timeout=20)
    log_mark = stack.bridge.log_mark()
    user.sync_presence = PresenceState.UNAVAILABLE
    await user.api.set_presence(PresenceState.UNAVAILABLE)
    await poll(
        lambda: _logged(stack, log_mark, "Matrix presence unavailable not mirrored"),
        what="the presence change seen and not mirrored",
        timeout=30,
    )
    assert stack.msn.online(passport) == Status.BUSY.value
    # ... until `status auto`: Matrix presence drives it again (unavailable: Idle)
    mark = bob.mark()
    await stack.command(user, mgmt, "status auto", "follows your Matrix presence")
    await bob.wait_for_type(PresenceChanged, sees(Status.IDLE), after=mark, timeout=20)
    user.sync_presence = PresenceState.ONLINE
    await user.api.set_presence(PresenceState.ONLINE)
    await bob.wait_for_type(PresenceChanged, sees(Status.ONLINE), after=mark, timeout=30)


async def _logged(stack: Stack, mark: int, text: str) -> bool:
    return text in stack.bridge.log_since(mark)


async def test_matrix_display_name_drives_the_msn_name_until_a_nick_is_chosen(
    stack: Stack,
) -> None:
    pair = stack.new_pair()
    bob = await stack.msn_peer(pair.contact, pair.contact_password)
    user, mgmt = await stack.logged_in(pair)
    passport = pair.passport

    def named(name: str) -> Any:
        return lambda e: (
            isinstance(e, PresenceChanged) and e.passport == passport and e.friendly_name == name
        )

    mark = bob.mark()
    await user.api.set_displayname("Matrix Name")
    await bob.wait_for_type(PresenceChanged, named("Matrix Name"), after=mark, timeout=30)
    mark = bob.mark()
    await stack.command(user, mgmt, "nick Chosen Name", "Chosen Name")
    await bob.wait_for_type(PresenceChanged, named("Chosen Name"), after=mark, timeout=20)
    # the chosen name wins: a later Matrix name is not taken ...
    log_mark = stack.bridge.log_mark()
    await user.api.set_displayname("Second Matrix Name")
    await poll(
        lambda: _logged(stack, log_mark, "Matrix display name not mirrored"),
        what="the new display name seen by the bridge and not mirrored",
        timeout=30,
    )
    assert not [e for e in bob.events if named("Second Matrix Name")(e)]
    # ... until `nick auto`
    mark = bob.mark()
    await stack.command(user, mgmt, "nick auto", "follows your Matrix display name")
    await bob.wait_for_type(PresenceChanged, named("Second Matrix Name"), after=mark, timeout=20)
