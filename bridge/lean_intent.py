"""Matrix intents that cost one object, not one object and 27 functions.

mautrix's :class:`IntentAPI` checks, before 27 of its methods, that its user is registered (and,
for the 9 that act in a room, has joined it). It does so by making, in its constructor, a new
wrapper function for each of those methods and storing it on the object: about 12 KiB per
intent (``tracemalloc`` of 1,000 intents: 13.2 KiB each with the API object mautrix makes for the
user). The bridge keeps an intent for every ghost it has acted as (a presence, a name, a message)
and for every double-puppeted user, so with thousands of users and their contacts these
functions were among the largest items of the bridge's memory (nearly half a first start's
where users' contacts are their own: ``bench/scale.py bridge --spread 21``).

:class:`LeanIntentAPI` makes the same checks in methods defined once, on the class: the same
order (registered first, then joined), the same ``ensure_joined=False`` to skip the join, the same
methods underneath. :class:`LeanAppServiceAPI` hands out such intents for the bot, for ghosts and
for real users; :func:`lean_bot_intent` turns mautrix's appservice API into one after
:meth:`AppService.start` made it (as :func:`bridge.appservice.adopt` does for the appservice).
"""

from __future__ import annotations

from typing import Any, TypeVar
from collections.abc import Callable, Coroutine
from functools import wraps

from mautrix.appservice import AppServiceAPI, IntentAPI
from mautrix.appservice.api.intent import ENSURE_JOINED_METHODS, ENSURE_REGISTERED_METHODS
from mautrix.client import StoreUpdatingAPI
from mautrix.types import UserID

__all__ = ["LeanAppServiceAPI", "LeanIntentAPI", "lean_bot_intent"]

_T = TypeVar("_T")
_Method = Callable[..., Coroutine[Any, Any, _T]]


def _after_registering(method: _Method[_T]) -> _Method[_T]:
    @wraps(method)
    async def registered_first(self: IntentAPI, *args: Any, **kwargs: Any) -> _T:
        await self.ensure_registered()
        return await method(self, *args, **kwargs)

    return registered_first


def _after_joining(method: _Method[_T]) -> _Method[_T]:
    @wraps(method)
    async def joined_first(self: IntentAPI, *args: Any, **kwargs: Any) -> _T:
        if kwargs.pop("ensure_joined", True):
            await self.ensure_joined(kwargs.get("room_id") or args[0])
        return await method(self, *args, **kwargs)

    return joined_first


class LeanIntentAPI(IntentAPI):
    """An :class:`IntentAPI` whose checks live on the class (see the module docs)."""

    def __init__(
        self,
        mxid: UserID,
        api: AppServiceAPI,
        bot: IntentAPI | None = None,
        state_store: Any = None,
    ) -> None:
        # IntentAPI.__init__ without the wrappers it stores on the object
        StoreUpdatingAPI.__init__(self, mxid=mxid, api=api, state_store=state_store)
        self.bot = bot  # type: ignore[assignment]
        if bot is not None:
            self.versions_cache = bot.versions_cache
        self.log = api.base_log.getChild("intent")


def _install_checks() -> None:
    for name in (m.__name__ for m in ENSURE_REGISTERED_METHODS):
        setattr(LeanIntentAPI, name, _after_registering(getattr(IntentAPI, name)))
    for name in (m.__name__ for m in ENSURE_JOINED_METHODS):
        # (wraps what the class has by now, as IntentAPI wraps what the object has)
        setattr(LeanIntentAPI, name, _after_joining(getattr(LeanIntentAPI, name)))


_install_checks()


class LeanAppServiceAPI(AppServiceAPI):
    """The appservice's API, handing out :class:`LeanIntentAPI` objects."""

    def bot_intent(self) -> IntentAPI:
        if not self._bot_intent:
            self._bot_intent = LeanIntentAPI(self.bot_mxid, self, state_store=self.state_store)
        return self._bot_intent

    def intent(
        self,
        user: UserID | None = None,
        token: str | None = None,
        base_url: str | None = None,
        real_user_as_token: bool = False,
    ) -> IntentAPI:
        if self.is_real_user:
            raise ValueError("Can't get child intent of real user")
        mxid = UserID(user)  # type: ignore[arg-type]  # (None passes through, as in mautrix)
        api: AppServiceAPI
        if token:
            url: Any = base_url  # (mautrix types it URL here and str in intent())
            api = self.real_user(mxid, token, url, as_token=real_user_as_token)
        else:
            api = self.user(mxid)
        return LeanIntentAPI(mxid, api, self.bot_intent(), self.state_store)


def lean_bot_intent(bot: IntentAPI) -> IntentAPI:
    """The bot's intent on a :class:`LeanAppServiceAPI` (``bot`` is mautrix's, made by
    :meth:`AppService.start` before anything used it)."""
    api = bot.api
    api.__class__ = LeanAppServiceAPI
    api._bot_intent = None
    return api.bot_intent()
