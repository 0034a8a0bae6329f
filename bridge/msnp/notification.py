"""The notification server (DS/NS) session: login, list download, keepalive and own presence.

It also answers challenges and hands switchboard invitations on. Logging in is :mod:`.login`'s
job; the list and presence live in a :mod:`.roster`, which :mod:`.list_commands` feeds with the
server's commands (this session emits the events that returns) and :mod:`.list_editor` with the
user's own changes.
"""

from __future__ import annotations

from typing import Final
from collections.abc import Awaitable, Callable
from sys import intern
import asyncio
import logging

from . import ab_login, challenge as challenge_mod, list_commands, list_sync
from .burst import Tally
from .capabilities import OWN_EXTENDED
from .circle_session import FIRST_CIRCLE_VERSION, CircleSession, start_circles
from .circles import CIRCLE_PAYLOAD_LIMITS
from .codec import Command, encode_arg, limits
from .config import ClientConfig
from .connection import Connection
from .errors import ConnectionClosed, MSNPError, RemoteProtocolError, TransactionTimeout
from .events import Disconnected, Event, LoggedIn, OtherMessageReceived
from .flow import ReadGate
from .keepalive import Keepalive, qng_interval
from .list_editor import ListEditor
from .login import FIRST_MPOP_VERSION, Credentials, PassportService, log_in
from .message import PROFILE, parse_message
from .ns_commands import chg_args, parse_ring, sign_out_reason, switchboard_transfer
from .roster import Roster
from .sso import SecurityTokens
from .tasks import Tasks
from .tickets import TicketKeeper
from .ubx import build_endpoint_data, build_private_endpoint_data, build_user_data
from .values import DisconnectReason, ListCache, Ring, Status

__all__ = ["MAX_NS_MESSAGE", "NotificationSession"]

log = logging.getLogger("msnp.ns")

#: NS ``MSG`` payloads (profile, mail notifications) larger than this are dropped unread.
MAX_NS_MESSAGE: Final = 64 * 1024


class NotificationSession:
    """One login to the notification server.

    ``emit`` receives events (synchronously; the client queues them); ``on_ring`` gets
    switchboard invitations; ``on_disconnect`` is called once when the session ends after a
    successful login.
    """

    __slots__ = (
        "_cache", "_disconnected", "_keepalive", "_out_detail", "_out_reason", "_syncing",
        "_tasks", "_web", "ab_cache", "circles", "config", "conn", "emit", "endpoint_name", "gate",
        "lists", "logged_in", "machine_guid", "msn_object", "on_disconnect", "on_ring", "passport",
        "personal_message", "profile", "roster", "server_hosts", "status", "tally", "tickets",
        "tokens", "version",
    )  # fmt: skip

    def __init__(
        self,
        config: ClientConfig,
        emit: Callable[[Event], None],
        *,
        on_ring: Callable[[Ring], None],
        on_disconnect: Callable[[DisconnectReason, str], None],
        gate: ReadGate | None = None,
        tally: Tally | None = None,
    ) -> None:
        self.config = config
        self.gate = gate
        self.tally = tally if tally is not None else Tally(log)
        self.emit = emit
        self.on_ring = on_ring
        self.on_disconnect = on_disconnect
        self.conn: Connection | None = None
        #: the negotiated protocol version (0 until ``VER`` is answered)
        self.version = 0
        self.passport = ""
        self.status = Status.OFFLINE
        self.personal_message = ""
        #: our display picture's MSN object, announced with every CHG (MSNP9+)
        self.msn_object: str | None = None
        self.roster = Roster(max_contacts=config.max_contacts, tally=self.tally)
        self.lists = ListEditor(self.roster, self._live, emit)
        self.profile: dict[str, str] = {}
        self.logged_in = False
        #: the NS's host as we connected to it (after redirects) and the address reached
        self.server_hosts: tuple[str, ...] = ()
        self._syncing: asyncio.Event | None = None
        self._cache: ListCache | None = None  # the list kept from an earlier session
        self._out_reason: DisconnectReason | None = None
        self._out_detail = ""
        self._keepalive: Keepalive | None = None  # from the end of the login on
        self._tasks = Tasks()
        self._disconnected = False
        #: MSNP13+: the address-book cache of the previous login (in), of this one (out)
        self.ab_cache: ab_login.AbCache | None = None
        #: MSNP16+: this endpoint's machine GUID and the name the user's other endpoints see
        self.machine_guid: str | None = None
        self.endpoint_name = "Matrix bridge"
        self._web: PassportService | None = None
        self.tokens: SecurityTokens | None = None  # MSNP13+: tickets of the web services
        self.tickets: TicketKeeper | None = None  # MSNP13+: the same, renewed when they expire
        self.circles = CircleSession(emit, self._live)  # MSNP18

    @property
    def endpoint_address(self) -> str:
        """How this endpoint names itself on a switchboard (MSNP16+: ``passport;{guid}``)."""
        if self.version >= FIRST_MPOP_VERSION and self.machine_guid:
            return f"{self.passport};{self.machine_guid}"
        return self.passport

    @property
    def friendly_name(self) -> str:
        """The user's own friendly name as the server last reported or confirmed it."""
        return self.roster.own_name

    # ------------------------------------------------------------------ login

    async def login(
        self, credentials: Credentials, services: PassportService, cache: ListCache | None
    ) -> str | None:
        """Log in, download the list (MSNP2-12: unless ``cache`` is current; MSNP13+: from the
        address book), go online; returns the Passport ticket used (if any). ``services``: the
        Passport web services it may call."""
        self.passport = self.roster.own_passport = credentials.passport
        self.machine_guid = credentials.machine_guid
        self._web = services
        self._cache = cache
        auth = await log_in(
            self.config, credentials, self._new_connection, services, self._negotiated
        )
        self.conn = auth.conn
        self.server_hosts = (auth.host, auth.conn.peer_ip)
        self.passport = self.roster.own_passport = auth.passport
        if auth.tokens is not None:
            self.tickets = TicketKeeper(services, auth.passport, credentials.password, auth.tokens)
            self.tokens = self.tickets.tokens  # (those the session goes on using)
        if auth.friendly_name is not None:
            self.roster.own_name = auth.friendly_name
        try:
            await self._after_auth(auth.conn)
        except BaseException:
            await auth.conn.close()
            raise
        return auth.ticket

    def _new_connection(self) -> Connection:
        conn = Connection(
            "NS",
            on_command=self._on_command,
            on_close=self._on_close,
            transaction_timeout=self.config.transaction_timeout,
            max_line=self.config.max_line,
            max_payload=self.config.max_payload,
            payload_limits=limits(
                UBX=self.config.max_ubx_payload, MSG=MAX_NS_MESSAGE, **CIRCLE_PAYLOAD_LIMITS
            ),
            gate=self.gate,
            tally=self.tally,
        )
        # commands that arrive with the login's last reply (a CHL) need it at once
        self.conn = conn
        return conn

    def _negotiated(self, version: int) -> None:
        self.version = version
        self.roster.version = version

    async def _after_auth(self, conn: Connection) -> None:
        initial: list[bytes] = []
        version, current = "", False
        if self.version >= 13:
            conn.stage = "address book"
            if self._web is None or self.tickets is None:
                raise RemoteProtocolError("no address-book ticket after the MSNP13+ login")
            self.ab_cache, initial, self.lists = await ab_login.login_lists(
                self.roster, self._web, self.config, self.tickets, self.ab_cache, self._live,
                self.emit,
            )  # fmt: skip
            if conn.closed:
                raise ConnectionClosed("address book", "the server closed the connection")
        else:
            version, current = await self._syn(conn)
        self.logged_in = True
        self.emit(LoggedIn(self.passport, self.friendly_name, self.version, dict(self.profile)))
        self.emit(self.roster.snapshot(version, current))
        if initial:
            conn.stage = "ADL"
            for payload in initial:
                await conn.transaction("ADL", (), payload)
        conn.stage = "CHG"
        await self._chg(self.config.initial_status)
        if self.version >= FIRST_MPOP_VERSION:
            conn.stage = "UUX"
            await conn.transaction(
                "UUX", (), build_endpoint_data(self.config.capabilities, OWN_EXTENDED)
            )
            await conn.transaction("UUX", (), build_private_endpoint_data(self.endpoint_name))
        conn.stage = "session"
        self._start_keepalive()
        if self.version >= FIRST_CIRCLE_VERSION and self._web is not None and self.tokens:
            self._spawn(start_circles(self, self._web, self.config, self.tokens))

    async def _syn(self, conn: Connection) -> tuple[str, bool]:
        conn.stage = "SYN"
        self._syncing = asyncio.Event()
        try:
            return await list_sync.sync(
                conn, self.roster, self._cache, self._syncing, self.config.transaction_timeout,
                lambda: self.conn is None or self.conn.closed,
            )  # fmt: skip
        finally:
            self._syncing = None

    # -------------------------------------------------------------- commands

    def _on_command(self, cmd: Command) -> None:
        if list_commands.handles(cmd.name):
            event = list_commands.receive(self.roster, cmd)
            if event is not None:
                self.emit(event)
            if self._syncing is not None and cmd.name in ("LST", "LSG"):
                self._syncing.set()
            return
        handler = _HANDLERS.get(cmd.name)
        if handler is not None:
            handler(self, cmd)
        elif cmd.is_error:
            log.warning("server error %s (trid %s) %s", cmd.name, cmd.trid, cmd.args)
        else:
            log.debug("unhandled NS command %r", cmd)

    def _cmd_MSG(self, cmd: Command) -> None:
        message = parse_message(cmd.payload or b"")
        if message.content_type == PROFILE:
            if not self.logged_in:  # (it comes before the list; a late one would only be kept)
                self.profile = {
                    intern(k): v  # the same few names for every session
                    for k, v in message.headers.items()
                    if k.lower() not in ("mime-version", "content-type")
                }
            return
        self.emit(
            OtherMessageReceived(
                conversation="",
                sender=cmd.arg(0),
                content_type=message.content_type,
                headers=dict(message.headers),
                body=message.body,
                participants=(),
            )
        )

    def _cmd_CHL(self, cmd: Command) -> None:
        if not cmd.args or self.conn is None:
            return
        try:
            client_id, digest = challenge_mod.answer(cmd.args[-1], self.version)
        except ValueError as e:
            log.warning("cannot answer challenge: %s", e)
            return
        conn = self.conn
        trid = conn.next_trid()
        self._spawn(conn.send(Command("QRY", trid, (client_id,), digest.encode("ascii"))))

    def _cmd_QNG(self, cmd: Command) -> None:
        if self._keepalive is not None:
            self._keepalive.answered(
                qng_interval(cmd, self.version, self.config.keepalive_interval)
            )

    def _cmd_OUT(self, cmd: Command) -> None:
        self._out_reason, self._out_detail = sign_out_reason(cmd.arg(0).upper())
        if self.conn is not None:
            self.conn.abort(self._out_reason, self._out_detail)

    def _cmd_RNG(self, cmd: Command) -> None:
        ring = parse_ring(cmd)
        if ring is not None:
            self.on_ring(ring)

    # ------------------------------------------------------------ keepalive, tasks, end

    def _start_keepalive(self) -> None:
        conn = self.conn
        assert conn is not None
        self._keepalive = Keepalive(
            conn,
            self.gate,
            self._ping,
            interval=self.config.keepalive_interval,
            timeout=self.config.keepalive_timeout,
        )
        self._keepalive.start()

    def _ping(self) -> None:
        if self.conn is not None:
            self._spawn(self.conn.send(Command("PNG")))

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await coro
            except (ConnectionClosed, MSNPError, TransactionTimeout) as e:
                log.debug("background NS task failed: %s", e)

        self._tasks.spawn(run())

    def _on_close(self, reason: DisconnectReason, detail: str) -> None:
        self.circles.close()
        if self._keepalive is not None:
            self._keepalive.stop()
        if not self.logged_in or self._disconnected:
            return
        self._disconnected = True
        self.logged_in = False
        self.status = Status.OFFLINE
        if self._out_reason is not None and reason is not DisconnectReason.CLIENT:
            reason, detail = self._out_reason, self._out_detail
        self.emit(Disconnected(reason, detail))
        self.on_disconnect(reason, detail)

    async def close(self) -> None:
        if self.conn is not None and not self.conn.closed:
            try:
                await asyncio.wait_for(self.conn.send(Command("OUT")), 2)
            except (ConnectionClosed, TimeoutError):
                pass
            await self.conn.close(DisconnectReason.CLIENT, "closed by the client")

    # ------------------------------------------------------------ operations

    def _live(self) -> Connection:
        if self.conn is None or self.conn.closed or not self.logged_in:
            raise ConnectionClosed("session", "not connected")
        return self.conn

    async def _chg(self, status: Status) -> None:
        conn = self.conn
        assert conn is not None
        while True:
            picture = self.msn_object if self.version >= 9 else None
            args = chg_args(status, self.version, self.config.capabilities, picture)
            await conn.transaction("CHG", args)
            self.status = status
            if picture == (self.msn_object if self.version >= 9 else None):
                return  # (else the picture changed while this CHG was under way: again)

    async def set_msn_object(self, xml: str | None) -> None:
        """Our display picture's MSN object, announced now (if online) and with every CHG."""
        if xml == self.msn_object:
            return
        self.msn_object = xml
        if self.logged_in and self.status is not Status.OFFLINE and self.version >= 9:
            await self._chg(self.status)

    async def set_status(self, status: Status) -> None:
        if status is Status.OFFLINE:
            raise ValueError("use close() to go offline")
        self._live()
        await self._chg(status)

    async def set_friendly_name(self, name: str) -> None:
        conn = self._live()
        encoded = encode_arg(name)
        if self.version >= 10:
            await conn.transaction("PRP", ("MFN", encoded))
        else:
            await conn.transaction("REA", (self.passport, encoded))
        self.roster.own_name = name

    async def set_personal_message(self, text: str, current_media: str = "") -> None:
        conn = self._live()
        if self.version < 11:
            self.personal_message = text
            return
        guid = self.machine_guid if self.version >= 13 else None
        payload = build_user_data(text, current_media, guid, protocol=self.version)
        await conn.transaction("UUX", (), payload)
        self.personal_message = text

    async def request_switchboard(self) -> tuple[str, int, str]:
        """``XFR SB``: (host, port, cookie) of a fresh switchboard session."""
        conn = self._live()
        return switchboard_transfer(await conn.transaction("XFR", ("SB",)))


_HANDLERS: Final[dict[str, Callable[[NotificationSession, Command], None]]] = {
    "MSG": NotificationSession._cmd_MSG,
    "CHL": NotificationSession._cmd_CHL,
    "QNG": NotificationSession._cmd_QNG,
    "OUT": NotificationSession._cmd_OUT,
    "RNG": NotificationSession._cmd_RNG,
    "SDG": lambda ns, cmd: ns.circles.on_sdg(cmd),
    "NFY": lambda ns, cmd: ns.circles.on_nfy(cmd),
    "NOT": lambda ns, cmd: ns.circles.on_not(cmd),
}
