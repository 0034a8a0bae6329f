"""Lean intents (bridge/lean_intent.py) behave as mautrix's own, without a function per method
per object: the same requests in the same order, for the bot, ghosts and real users."""

from __future__ import annotations

from typing import Any
from collections.abc import Awaitable, Callable
import re
import tracemalloc

from mautrix.appservice import AppServiceAPI, IntentAPI
from mautrix.appservice.api.intent import ENSURE_JOINED_METHODS, ENSURE_REGISTERED_METHODS
from mautrix.types import EventType, RoomID, TextMessageEventContent, UserID
import pytest

from bridge.lean_intent import LeanAppServiceAPI, LeanIntentAPI, lean_bot_intent
from tests.support.appservice import MemoryASStateStore, adopted_appservice, appservice_api

ROOM = RoomID("!room:example.com")
GHOST = UserID("@msn_bob:example.com")


Requests = list[tuple[str, str, str]]
#: Every request's answer: enough of an event, a room and a state event for every call here.
ANSWER = {
    "room_id": str(ROOM),
    "event_id": "$event",
    "type": "m.room.power_levels",
    "sender": "@msnbot:example.com",
    "origin_server_ts": 1,
    "state_key": "",
    "content": {"users": {}},
}


@pytest.fixture
def requests(monkeypatch: pytest.MonkeyPatch) -> Requests:
    """Every request any appservice API makes (who, method, path), answered with a stand-in."""
    seen: Requests = []

    async def request(self: AppServiceAPI, method: Any, path: Any, *args: Any, **kw: Any) -> Any:
        txn = re.sub(r"/mautrix-python_[0-9_]+$", "/TXN", str(path))  # (random per call)
        seen.append((str(self.identity or "bot"), str(method), txn))
        return ANSWER

    monkeypatch.setattr(AppServiceAPI, "request", request)
    return seen


def _api(cls: type[AppServiceAPI]) -> AppServiceAPI:
    return appservice_api(cls, "@msnbot:example.com")


Call = Callable[[IntentAPI], Awaitable[Any]]
CALLS: dict[str, Call] = {
    "set_displayname": lambda i: i.set_displayname("Bob"),
    "send_message_event": lambda i: i.send_message_event(
        ROOM, EventType.ROOM_MESSAGE, TextMessageEventContent(body="hi")
    ),
    "send_message_event, room as keyword": lambda i: i.send_message_event(
        room_id=ROOM, event_type=EventType.ROOM_MESSAGE, content={"body": "hi"}
    ),
    "get_state_event without joining": lambda i: i.get_state_event(
        ROOM, EventType.ROOM_NAME, ensure_joined=False
    ),
    "invite_user": lambda i: i.invite_user(ROOM, UserID("@alice:example.com")),
    "join_room_by_id": lambda i: i.join_room_by_id(ROOM),
    "redact": lambda i: i.redact(ROOM, "$event"),  # type: ignore[arg-type]
    "set_presence (not wrapped)": lambda i: i.set_presence(),
}


async def _outcome(intent: IntentAPI, call: Call, requests: Requests) -> tuple[Requests, str]:
    requests.clear()
    try:
        result = repr(await call(intent))
    except Exception as e:  # the same failure counts as the same behaviour
        result = f"raised {type(e).__name__}"
    return list(requests), result


@pytest.mark.parametrize("name", list(CALLS))
async def test_the_same_requests_as_mautrix_intents(name: str, requests: Requests) -> None:
    call = CALLS[name]
    mautrix_way = await _outcome(_api(AppServiceAPI).intent(GHOST), call, requests)
    lean_way = await _outcome(_api(LeanAppServiceAPI).intent(GHOST), call, requests)
    assert lean_way == mautrix_way
    assert mautrix_way[0], "the call made no request at all: the comparison says nothing"


async def test_registered_once_then_joined_once(requests: Requests) -> None:
    intent = _api(LeanAppServiceAPI).intent(GHOST)
    await intent.send_message_event(ROOM, EventType.ROOM_MESSAGE, {"body": "1"})
    first = list(requests)
    requests.clear()
    await intent.send_message_event(ROOM, EventType.ROOM_MESSAGE, {"body": "2"})
    assert [r for r in first if "register" in r[2]], first
    assert [r for r in first if "/join" in r[2]], first
    assert [path for _, _, path in requests if "register" in path or "/join" in path] == []
    assert requests[-1][2].endswith("/send/m.room.message/TXN")


def test_every_checked_method_is_checked_on_the_class() -> None:
    for method in (*ENSURE_REGISTERED_METHODS, *ENSURE_JOINED_METHODS):
        lean = LeanIntentAPI.__dict__.get(method.__name__)
        assert lean is not None, method.__name__
        assert lean.__wrapped__ is not None  # (functools.wraps of the checked method)


def test_an_intent_keeps_no_function_of_its_own_and_is_small() -> None:
    api = _api(LeanAppServiceAPI)
    api.bot_intent()
    intent = api.intent(GHOST)
    assert not [k for k, v in vars(intent).items() if callable(v)]
    assert [k for k, v in vars(IntentAPI(GHOST, api.user(GHOST))).items() if callable(v)]

    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        kept = [api.intent(UserID(f"@msn_{i}:example.com")) for i in range(200)]
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    # mautrix's own: about 13 KiB per intent with its API object; lean: about 1 KiB
    assert grown / len(kept) < 3 * 1024


async def test_the_appservice_hands_out_lean_intents(requests: Requests) -> None:
    az = adopted_appservice(MemoryASStateStore())
    await az.start("127.0.0.1", 0)
    try:
        bot = az.intent
        assert type(bot) is LeanIntentAPI and bot.mxid == "@msnbot:example.com"
        ghost = bot.user(GHOST)
        assert type(ghost) is LeanIntentAPI and ghost.bot is bot
        real = bot.user(UserID("@alice:example.com"), "token")
        assert type(real) is LeanIntentAPI and real.api.is_real_user
        await ghost.set_displayname("Bob")
        assert "register" in requests[0][2] and requests[-1][2].endswith("/displayname")
        assert {who for who, _, _ in requests} == {GHOST}
    finally:
        await az.stop()


def test_lean_bot_intent_replaces_the_bot_of_a_plain_api() -> None:
    api = _api(AppServiceAPI)
    bot = lean_bot_intent(api.bot_intent())
    assert type(bot) is LeanIntentAPI and bot.api is api and api.bot_intent() is bot
