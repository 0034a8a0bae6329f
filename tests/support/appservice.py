"""mautrix appservice objects for tests and benchmarks that need no homeserver: an in-memory
state store, the bridge's appservice (adopted, not started) and a bare appservice API."""

from __future__ import annotations

import logging

from mautrix.appservice import AppService, AppServiceAPI
from mautrix.appservice.state_store import ASStateStore
from mautrix.client.state_store import MemoryStateStore
from mautrix.types import UserID

from bridge.appservice import MSNAppService, adopt

__all__ = ["MemoryASStateStore", "adopted_appservice", "appservice_api"]

#: Nothing listens there: whatever is sent fails at once.
NOWHERE = "http://127.0.0.1:9"


class MemoryASStateStore(ASStateStore, MemoryStateStore):
    """mautrix's appservice state store, kept in memory (mautrix has none that is both)."""

    def __init__(self) -> None:
        ASStateStore.__init__(self)
        MemoryStateStore.__init__(self)


def adopted_appservice(state_store: ASStateStore) -> MSNAppService:
    """The bridge's appservice as ``bridge.app`` makes it (``@msnbot:example.com``)."""
    return adopt(
        AppService(
            server=NOWHERE,
            domain="example.com",
            as_token="as",
            hs_token="hs",
            bot_localpart="msnbot",
            id="msn",
            state_store=state_store,
        )
    )


def appservice_api(cls: type[AppServiceAPI], bot_mxid: str) -> AppServiceAPI:
    """An appservice API of class ``cls`` with its bot intent made, on an in-memory state store
    and no HTTP session (the caller answers ``AppServiceAPI.request`` itself)."""
    api = cls(
        base_url=NOWHERE,  # type: ignore[arg-type]
        bot_mxid=UserID(bot_mxid),
        token="as",
        log=logging.getLogger("mau.test"),
        state_store=MemoryASStateStore(),
        client_session=object(),  # type: ignore[arg-type]
    )
    api.bot_intent()
    return api
