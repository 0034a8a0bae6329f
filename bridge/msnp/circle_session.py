"""MSNP18 circles of one login: fetched from the address book, joined on the notification
server, their messages and member changes turned into events, text sent to them.

The codec is :mod:`.circles`; this holds the state (the circles joined and their members) and
does the talking. It never fails the login: a server without circles, or an address book that
refuses the request, leaves the user without circles (logged).
"""

from __future__ import annotations

from typing import Final, Protocol, TypeVar
from collections.abc import Callable
import asyncio
import logging

from . import circles as codec
from .ab_login import THREAD_PARSE_BYTES
from .circles import CircleInfo, CircleMember, CircleMembersChanged, CirclesLoaded
from .codec import Command
from .config import ClientConfig
from .connection import Connection
from .errors import MSNPException, UnknownConversation
from .events import (
    Event,
    NudgeReceived,
    SwitchboardJoined,
    SwitchboardLeft,
    TextMessageReceived,
    TypingReceived,
)
from .passport import service_urls
from .soap import SoapRequest
from .sso import CONTACTS, SecurityTokens
from .tasks import Tasks
from .values import MessageFormat

__all__ = ["FIRST_CIRCLE_VERSION", "CircleSession", "start_circles"]

log = logging.getLogger("msnp.circles")

#: Circles exist from MSNP18 on.
FIRST_CIRCLE_VERSION: Final = 18


class Poster(Protocol):
    async def post(self, url: str, request: SoapRequest) -> bytes: ...


T = TypeVar("T")


async def _parse(data: bytes, parser: Callable[[bytes], T]) -> T:
    """Large answers are parsed off the event loop (as the login's address book is)."""
    if len(data) >= THREAD_PARSE_BYTES:
        return await asyncio.to_thread(parser, data)
    return parser(data)


class _Login(Protocol):
    @property
    def circles(self) -> CircleSession: ...
    @property
    def passport(self) -> str: ...
    @property
    def machine_guid(self) -> str | None: ...


async def start_circles(
    ns: _Login, web: Poster, config: ClientConfig, tokens: SecurityTokens
) -> None:
    """Fetch and join the circles of the login ``ns`` (see :meth:`CircleSession.start`)."""
    _, ab_base = service_urls(config)
    url = ab_base + "/abservice/abservice.asmx"
    await ns.circles.start(web, url, tokens.ticket(CONTACTS), ns.passport, ns.machine_guid or "")


class CircleSession:
    """The circles of one notification-server login."""

    __slots__ = ("_emit", "_fetching", "_live", "_members", "_tasks", "_web", "ab_url",
                 "circles", "epid", "passport", "ticket")  # fmt: skip

    def __init__(self, emit: Callable[[Event], None], live: Callable[[], Connection]) -> None:
        self._emit = emit
        self._live = live
        #: joined circles by id
        self.circles: dict[str, CircleInfo] = {}
        self._members: dict[str, dict[str, CircleMember]] = {}
        self._fetching: dict[str, None] = {}  # (an ordered set: an empty dict is 64 bytes)
        self._tasks = Tasks()
        self._web: Poster | None = None
        self.ab_url = ""
        self.ticket = ""
        self.passport = ""
        self.epid = ""

    # -- login ---------------------------------------------------------------------------
    async def start(self, web: Poster, ab_url: str, ticket: str, passport: str, epid: str) -> None:
        """Fetch the circles and their members, authenticate and join them; emits
        :class:`CirclesLoaded` (also when there are none) and one
        :class:`CircleMembersChanged` per circle."""
        self._web, self.ab_url, self.ticket = web, ab_url, ticket
        self.passport, self.epid = passport.lower(), epid
        try:
            book = await _parse(await web.post(ab_url, codec.find_circles(ticket)),
                                codec.parse_circles)  # fmt: skip
            joinable = [c for c in book.circles if c.accepted]
            if joinable and book.ticket:
                conn = self._live()
                await conn.transaction("USR", ("SHA", "A", codec.ticket_argument(book.ticket)))
                for circle in joinable:
                    self._members[circle.circle_id] = {
                        m.email: m for m in await self._fetch_members(circle.circle_id)
                    }
                await conn.transaction("ADL", (), codec.join_ml([c.circle_id for c in joinable]))
                self.circles = {c.circle_id: c for c in joinable}
        except (TimeoutError, MSNPException, OSError) as e:
            log.warning("circles not available: %s", e)
            self.circles.clear()
        self._emit(CirclesLoaded(tuple(self.circles.values())))
        for circle in self.circles.values():
            self._emit_members(circle)

    async def _fetch_members(self, circle_id: str) -> tuple[CircleMember, ...]:
        assert self._web is not None
        data = await self._web.post(self.ab_url, codec.find_members(self.ticket, circle_id))
        return await _parse(data, codec.parse_members)

    def _emit_members(self, circle: CircleInfo) -> None:
        members = tuple(self._members.get(circle.circle_id, {}).values())
        self._emit(CircleMembersChanged(circle.key, circle, members))

    # -- the server's commands -------------------------------------------------------------
    def on_sdg(self, cmd: Command) -> None:
        message = codec.parse_sdg(cmd.payload or b"")
        circle = self.circles.get(message.circle_id) if message is not None else None
        if message is None or circle is None:
            return
        if message.sender == self.passport and message.epid.lower() == self.epid.lower():
            return  # our own
        key = circle.key
        others = self.participants(key)
        if message.kind == "Text" and message.text:
            name = self._name(circle.circle_id, message.sender)
            self._emit(TextMessageReceived(key, message.sender, name, message.text,
                                           MessageFormat(), others))  # fmt: skip
        elif message.kind == "Typing":
            self._emit(TypingReceived(key, message.sender, others))
        elif message.kind == "Nudge":
            self._emit(NudgeReceived(key, message.sender, others))

    def on_nfy(self, cmd: Command) -> None:
        notice = codec.parse_nfy(cmd.payload or b"")
        circle = self.circles.get(notice.circle_id) if notice is not None else None
        if notice is None or circle is None:
            return
        members = self._members.setdefault(circle.circle_id, {})
        if notice.left is not None and notice.left in members:
            del members[notice.left]
            self._emit(
                SwitchboardLeft(circle.key, notice.left, False, self.participants(circle.key))
            )
            self._emit_members(circle)
        for email in notice.roster or ():
            if email not in members and len(members) < codec.MAX_MEMBERS:
                members[email] = CircleMember(email)
                self._emit(SwitchboardJoined(circle.key, email, "", self.participants(circle.key)))
                self.refresh(circle.circle_id)  # (the address book has their details)

    def on_not(self, cmd: Command) -> None:
        """A ``NOT``: when it says a circle changed, its members are fetched again."""
        circle_id = codec.parse_circle_notice(cmd.payload or b"")
        if circle_id is not None:
            self.refresh(circle_id)

    def refresh(self, circle_id: str) -> None:
        """Fetch the members of a joined circle again (one fetch per circle at a time)."""
        if circle_id not in self.circles or circle_id in self._fetching or self._web is None:
            return
        self._fetching[circle_id] = None
        self._tasks.spawn(self._refresh(circle_id))

    async def _refresh(self, circle_id: str) -> None:
        try:
            fetched = {m.email: m for m in await self._fetch_members(circle_id)}
        except (TimeoutError, MSNPException, OSError) as e:
            log.warning("circle members not fetched: %s", e)
            return
        finally:
            self._fetching.pop(circle_id, None)
        circle = self.circles.get(circle_id)
        if circle is None:
            return
        old = self._members.get(circle_id, {})
        self._members[circle_id] = fetched
        key = circle.key
        for email in old.keys() - fetched.keys():
            self._emit(SwitchboardLeft(key, email, False, self.participants(key)))
        for email in fetched.keys() - old.keys():
            member = fetched[email]
            self._emit(SwitchboardJoined(key, email, member.name, self.participants(key)))
        if old != fetched:
            self._emit_members(circle)

    # -- what the client asks ----------------------------------------------------------------
    def _name(self, circle_id: str, email: str) -> str:
        member = self._members.get(circle_id, {}).get(email)
        return member.name if member is not None and member.name else email

    def _circle(self, key: str) -> CircleInfo:
        circle_id = codec.circle_of_key(key)
        circle = self.circles.get(circle_id) if circle_id is not None else None
        if circle is None:
            raise UnknownConversation(key)
        return circle

    def participants(self, key: str) -> tuple[str, ...]:
        """The members of the circle ``key`` other than the user (accepted ones)."""
        circle = self._circle(key)
        members = self._members.get(circle.circle_id, {}).values()
        return tuple(m.email for m in members if not m.pending and m.email != self.passport)

    def conversations(self) -> dict[str, tuple[str, ...]]:
        return {c.key: self.participants(c.key) for c in self.circles.values()}

    async def send_text(self, key: str, text: str) -> None:
        """Write ``text`` to the circle ``key`` (the server answers only a refusal, which is
        logged when it comes)."""
        circle = self._circle(key)
        conn = self._live()
        # (lower case: Escargot compares the epid with the machine GUID it lower-cased)
        epid = self.epid.lower()
        for payload in codec.build_sdg_text(circle.circle_id, self.passport, epid, text):
            await conn.send(Command("SDG", conn.next_trid(), (), payload))

    def close(self) -> None:
        self._tasks.cancel()
