"""One table of routes for every user: a user's session keeps no handler objects of its own,
the events no ``on()`` handler takes go to the user's :class:`EventRoutes`, and each event
type reaches the part of the user it did when every session registered its own handlers."""

from __future__ import annotations

from typing import Any
from types import SimpleNamespace
import logging

from mautrix.types import UserID
from mautrix.util.logging import TraceLogger

from bridge.event_routes import ROUTES, EventRoutes
from bridge.msnp.circles import CircleMembersChanged, CirclesLoaded
from bridge.msnp.events import (
    ContactAdded,
    ContactRemoved,
    Event,
    FileOffered,
    GroupChanged,
    ListSynced,
    LoggedIn,
    NudgeReceived,
    OfflineMessageReceived,
    OtherMessageReceived,
    PersonalMessageChanged,
    PresenceChanged,
    SwitchboardClosed,
    SwitchboardJoined,
    SwitchboardLeft,
    TextMessageReceived,
    TypingReceived,
)
from bridge.msnp.values import Lists
from bridge.session_events import SessionEvents

LOG = logging.getLogger("mau.test.event_routes")
assert isinstance(LOG, TraceLogger)


class Recorder:
    """Records which of its methods were called, with what."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        async def record(evt: Any) -> None:
            self.calls.append((name, evt))

        return record


def test_every_event_the_bridge_handles_has_a_route() -> None:
    assert set(ROUTES) == {
        TextMessageReceived, NudgeReceived, OtherMessageReceived, TypingReceived, FileOffered,
        OfflineMessageReceived, SwitchboardJoined, SwitchboardLeft, SwitchboardClosed, LoggedIn,
        ListSynced, ContactAdded, ContactRemoved, GroupChanged, PersonalMessageChanged,
        PresenceChanged, CirclesLoaded, CircleMembersChanged,
    }  # fmt: skip


async def test_contact_and_circle_events_reach_their_part_of_the_user() -> None:
    routes = SimpleNamespace(user=SimpleNamespace(contacts=Recorder()), circles=Recorder())
    added = ContactAdded("bob@example.com", Lists.FORWARD)
    circles = CirclesLoaded(())
    await EventRoutes.route(routes, added)  # type: ignore[arg-type, misc]
    await EventRoutes.route(routes, circles)  # type: ignore[arg-type, misc]
    assert routes.user.contacts.calls == [("on_contact_added", added)]
    assert routes.circles.calls == [("on_loaded", circles)]
    assert EventRoutes.route(routes, object()) is None  # type: ignore[arg-type]


async def test_a_session_hands_what_no_handler_takes_to_its_routes() -> None:
    async def on_disconnected(*_: object) -> None:
        pass

    events = SessionEvents(
        UserID("@alice:hs"), LOG, limit=10, current=lambda: None, on_disconnected=on_disconnected
    )
    routed: list[Event] = []

    class Routes:
        def route(self, evt: Event) -> Any:
            if isinstance(evt, SwitchboardClosed):
                return None  # (a type no route takes)

            async def handle() -> None:
                routed.append(evt)

            return handle()

    events.route_with(Routes())
    assert events._handlers is None  # no handler objects of the user's own
    closed = SwitchboardClosed("bob@example.com")
    left = SwitchboardLeft("c", "bob@example.com", False, ())
    joined = SwitchboardJoined("c", "bob@example.com", "Bob", ())
    await events._dispatch(closed)
    await events._dispatch(left)
    handled: list[Event] = []

    async def first(evt: SwitchboardJoined) -> None:
        handled.append(evt)

    events.on(SwitchboardJoined, first)  # an on() handler goes before the routes
    await events._dispatch(joined)
    assert routed == [left] and handled == [joined]
