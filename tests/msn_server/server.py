"""The MSN test server: DS, NS, SB and Passport HTTP on loopback, with test hooks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
import asyncio
import logging
import secrets
import time

from aiohttp import web

from .dispatch import handle_dispatch
from .framing import LineConnection
from .notification import NotificationConnection
from .passport import make_app
from .state import AL, FL, RL, Account, Directory, Group, ListFlag, TicketStore
from .switchboard import (
    DeliveredMessage,
    SwitchboardConnection,
    SwitchboardSession,
    new_session_id,
)

__all__ = ["MSNServer", "SBCookie", "ServerConfig"]

log = logging.getLogger("msn_server")

DAY = 24 * 3600.0


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    ns_port: int = 0
    ds_port: int = 0
    sb_port: int = 0
    http_port: int = 0
    #: run a dispatch server; None means "unless escargot_mode"
    dispatch: bool | None = None
    #: behave like the Escargot server (see /work/shared/escargot/README.md quirks)
    escargot_mode: bool = False
    #: send ``CHL`` this often (seconds); None: never
    challenge_interval: float | None = None
    challenge_timeout: float = 60.0
    sb_idle_timeout: float = 300.0
    max_sb_body: int = 1664
    protocols: Iterable[int] = range(2, 13)
    #: Passport ticket lifetime; None: 24 h (30 s in escargot_mode)
    ticket_lifetime: float | None = None
    #: scheme in the nexus' ``DALogin=`` (the real nexus sends none): None, "http", "https"
    nexus_dalogin_scheme: str | None = None
    qng_seconds: int = 50
    max_line: int = 16 * 1024
    #: fault injection: "host:port" written into XFR SB and RNG instead of the real SB address
    sb_advertise: str | None = None
    protocol_set: frozenset[int] = field(init=False)

    def __post_init__(self) -> None:
        self.protocol_set = frozenset(self.protocols)
        if self.dispatch is None:
            self.dispatch = not self.escargot_mode
        if self.ticket_lifetime is None:
            self.ticket_lifetime = 30.0 if self.escargot_mode else DAY
        if self.nexus_dalogin_scheme not in (None, "http", "https"):
            raise ValueError("nexus_dalogin_scheme must be None, 'http' or 'https'")


@dataclass(slots=True)
class SBCookie:
    account: Account
    session_id: str | None  # None: XFR SB (new session); else: RNG invitation
    expires: float


class MSNServer:
    """A protocol-faithful MSNP2-12 server for tests, demos and benchmarks."""

    def __init__(self, config: ServerConfig | None = None, **kwargs: object) -> None:
        if config is None:
            config = ServerConfig(**kwargs)  # type: ignore[arg-type]
        elif kwargs:
            raise TypeError("pass either a ServerConfig or keyword arguments")
        self.config = config
        self.directory = Directory()
        assert config.ticket_lifetime is not None
        self.tickets = TicketStore(config.ticket_lifetime)
        self.ns_sessions: dict[str, NotificationConnection] = {}
        self.ns_connections: set[NotificationConnection] = set()
        self.sb_sessions: dict[str, SwitchboardSession] = {}
        self.sb_connections: set[SwitchboardConnection] = set()
        self.sb_cookies: dict[str, SBCookie] = {}
        self.messages: list[DeliveredMessage] = []
        self.counters: Counter[str] = Counter()
        #: close the NS connection when this command arrives before the first CHG
        self.close_during_login: str | None = None
        #: messages from these accounts (lower-case) are not delivered and get NAK
        self.nak_senders: set[str] = set()
        self._servers: list[asyncio.Server] = []
        self._runner: web.AppRunner | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.ns_port = self.ds_port = self.sb_port = self.http_port = 0

    # setup ------------------------------------------------------------------------------
    def add_account(self, email: str, password: str, name: str | None = None) -> Account:
        return self.directory.add(email, password, name)

    def account(self, email: str) -> Account:
        return self.directory.require(email)

    def add_group(self, email: str, name: str) -> Group:
        account = self.account(email)
        return account.group_by_name(name) or account.add_group(name)

    def add_contact(
        self,
        owner: str,
        contact: str,
        lists: ListFlag | int = FL | AL,
        groups: Iterable[str] = (),
    ) -> None:
        """Put ``contact`` on ``owner``'s lists (FL also sets RL on the other side)."""
        account = self.account(owner)
        flags = ListFlag(lists)
        group_objs = [self.add_group(owner, name) for name in groups]
        for flag in (ListFlag.FL, ListFlag.AL, ListFlag.BL):
            if flags & flag:
                first = group_objs[0] if flag == FL and group_objs else None
                self.directory.add_to_list(account, contact, flag, group=first,
                                           allow_duplicate=True)  # fmt: skip
        for group in group_objs[1:]:
            self.directory.add_to_list(account, contact, FL, group=group, allow_duplicate=True)
        if flags & RL:
            other = self.account(contact)
            entry = account.contacts.get(other.key)
            if entry is not None:
                entry.lists |= RL
            account.bump()

    def make_mutual(self, a: str, b: str, group: str | None = None) -> None:
        """a and b on each other's FL+AL (thus RL): lists = 11 on both sides."""
        groups = [group] if group else []
        self.add_contact(a, b, FL | AL, groups)
        self.add_contact(b, a, FL | AL, groups)

    # lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        cfg = self.config
        limit = cfg.max_line + 2
        ns = await asyncio.start_server(self._on_ns, cfg.host, cfg.ns_port, limit=limit)
        sb = await asyncio.start_server(self._on_sb, cfg.host, cfg.sb_port, limit=limit)
        self._servers += [ns, sb]
        self.ns_port = ns.sockets[0].getsockname()[1]
        self.sb_port = sb.sockets[0].getsockname()[1]
        if cfg.dispatch:
            ds = await asyncio.start_server(self._on_ds, cfg.host, cfg.ds_port, limit=limit)
            self._servers.append(ds)
            self.ds_port = ds.sockets[0].getsockname()[1]
        self._runner = web.AppRunner(make_app(self), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, cfg.host, cfg.http_port)
        await site.start()
        self.http_port = int(self._runner.addresses[0][1])
        log.info(
            "MSN test server: DS %s NS %s SB %s HTTP %s", self.ds_address, self.ns_address,
            self.sb_address, self.http_base,
        )  # fmt: skip

    async def stop(self) -> None:
        for srv in self._servers:
            srv.close()
        for session in list(self.sb_sessions.values()):
            session.close_session()
        for conn in list(self.ns_connections):
            conn.conn.abort()
        for sb in list(self.sb_connections):
            sb.conn.abort()
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)
        for srv in self._servers:
            await srv.wait_closed()
        self._servers.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> MSNServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # addresses --------------------------------------------------------------------------
    @property
    def ns_address(self) -> str:
        return f"{self.config.host}:{self.ns_port}"

    @property
    def ds_address(self) -> str | None:
        return f"{self.config.host}:{self.ds_port}" if self.config.dispatch else None

    @property
    def server_address(self) -> str:
        """Where a client should connect first: the DS, or the NS without a DS."""
        return self.ds_address or self.ns_address

    @property
    def sb_address(self) -> str:
        return f"{self.config.host}:{self.sb_port}"

    @property
    def advertised_sb_address(self) -> str:
        """The SB address handed out in XFR SB / RNG (``sb_advertise`` when set)."""
        return self.config.sb_advertise or self.sb_address

    @property
    def http_base(self) -> str:
        return f"http://{self.config.host}:{self.http_port}"

    @property
    def passport_url(self) -> str:
        return f"{self.http_base}/login"

    @property
    def nexus_url(self) -> str:
        return f"{self.http_base}/rdr/pprdr.asp"

    # connection handling ----------------------------------------------------------------
    def _line_conn(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, label: str
    ) -> LineConnection:
        return LineConnection(reader, writer, label=label, max_line=self.config.max_line)

    async def _serve(self, kind: str, run: Callable[[], Awaitable[None]]) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await run()
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("%s handler crashed", kind)
        finally:
            self._handlers.discard(task)

    async def _on_ds(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counters["ds_connections"] += 1
        conn = self._line_conn(reader, writer, "DS")
        await self._serve("DS", lambda: handle_dispatch(self, conn))

    async def _on_ns(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counters["ns_connections"] += 1
        ns = NotificationConnection(self, self._line_conn(reader, writer, "NS"))
        self.ns_connections.add(ns)
        await self._serve("NS", ns.run)

    async def _on_sb(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counters["sb_connections"] += 1
        sb = SwitchboardConnection(self, self._line_conn(reader, writer, "SB"))
        try:
            await self._serve("SB", sb.run)
        finally:
            self.sb_connections.discard(sb)

    # NS registry and presence -----------------------------------------------------------
    async def ns_logged_in(self, conn: NotificationConnection) -> None:
        assert conn.account is not None
        self.counters["logins"] += 1
        conn.conn.label = f"NS[{conn.account.email}]"
        old = self.ns_sessions.get(conn.account.key)
        self.ns_sessions[conn.account.key] = conn
        if old is not None and old is not conn:
            old.replaced = True
            old.send("OUT", "OTH")
            await old.close()
            if old.status not in (None, "HDN"):
                self._fan_out_offline(old)

    async def ns_closed(self, conn: NotificationConnection) -> None:
        self.ns_connections.discard(conn)
        was_visible = conn.status not in (None, "HDN")
        conn.closing = True
        if conn.account is None:
            return
        if self.ns_sessions.get(conn.account.key) is conn:
            del self.ns_sessions[conn.account.key]
            if was_visible:
                self._fan_out_offline(conn)

    def _fan_out_offline(self, conn: NotificationConnection) -> None:
        account = conn.account
        assert account is not None
        for watcher in self.watchers(account, require_visible=False):
            watcher.notify_offline(account.email)

    def ns_session(self, email: str) -> NotificationConnection | None:
        conn = self.ns_sessions.get(email.lower())
        if conn is None or conn.closing:
            return None
        return conn

    def watchers(
        self, account: Account, *, require_visible: bool = True
    ) -> list[NotificationConnection]:
        """Online clients (past their first CHG) that have ``account`` on their FL and may
        see it."""
        result = []
        for key, conn in self.ns_sessions.items():
            if key == account.key or conn.closing or conn.status is None:
                continue
            watcher = conn.account
            if watcher is None or not watcher.on(account.email, FL):
                continue
            if require_visible and not account.allows(watcher.email):
                continue
            result.append(conn)
        return result

    def visibility_snapshot(self, account: Account) -> set[str]:
        """Keys of the clients that currently see ``account`` online."""
        conn = self.ns_session(account.email)
        if conn is None or conn.visible_status is None:
            return set()
        return {w.account.key for w in self.watchers(account) if w.account is not None}

    def apply_visibility_change(self, account: Account, before: set[str]) -> None:
        """After a list change, tell clients who started or stopped seeing ``account``."""
        after = self.visibility_snapshot(account)
        conn = self.ns_session(account.email)
        for key in after - before:
            watcher = self.ns_sessions.get(key)
            if watcher is not None and conn is not None:
                watcher.notify_online(conn)
        for key in before - after:
            watcher = self.ns_sessions.get(key)
            if watcher is not None:
                watcher.notify_offline(account.email)

    def broadcast_presence(self, conn: NotificationConnection) -> None:
        """Tell the watchers about ``conn``'s current status, name, caps."""
        account = conn.account
        assert account is not None
        if conn.visible_status is None:
            for watcher in self.watchers(account, require_visible=False):
                watcher.notify_offline(account.email)
            return
        for watcher in self.watchers(account):
            watcher.notify_online(conn)

    # switchboards -----------------------------------------------------------------------
    def issue_sb_cookie(self, account: Account, session_id: str | None) -> str:
        cookie = (
            f"{secrets.randbelow(10**10)}.{secrets.randbelow(10**10)}.{secrets.randbelow(10**6)}"
        )
        self.sb_cookies[cookie] = SBCookie(account, session_id, time.monotonic() + 120.0)
        return cookie

    def new_sb_session(self, creator: Account) -> SwitchboardSession:
        session_id = new_session_id()
        while session_id in self.sb_sessions:
            session_id = new_session_id()
        session = SwitchboardSession(self, session_id, creator.email)
        self.sb_sessions[session_id] = session
        self.counters["sb_sessions"] += 1
        return session

    # inspection -------------------------------------------------------------------------
    def online(self, email: str) -> str | None:
        """The user's status (``HDN`` included), "" before the first CHG, None if offline."""
        conn = self.ns_session(email)
        if conn is None:
            return None
        return conn.status or ""

    def messages_in(self, session_id: str) -> list[DeliveredMessage]:
        return [m for m in self.messages if m.session_id == session_id]

    def sessions_of(self, email: str) -> list[SwitchboardSession]:
        key = email.lower()
        return [s for s in self.sb_sessions.values() if key in s.participants]

    # fault injection --------------------------------------------------------------------
    def _require_session(self, email: str) -> NotificationConnection:
        conn = self.ns_session(email)
        if conn is None:
            raise KeyError(f"{email} is not connected to the NS")
        return conn

    async def drop(self, email: str) -> None:
        """Close the user's NS connection abruptly (no OUT)."""
        conn = self._require_session(email)
        conn.conn.abort()

    def stall(self, email: str, seconds: float) -> None:
        """Stop handling the user's NS commands (PNG included) for ``seconds``."""
        self._require_session(email).stall_until = time.monotonic() + seconds

    async def send_raw(self, email: str, data: bytes) -> None:
        conn = self._require_session(email)
        conn.conn.send_raw(data)
        await conn.conn.drain()

    async def rename_group_elsewhere(self, email: str, name: str, new_name: str) -> Group:
        """Rename a group as another client of the account would, pushing ``REG 0``."""
        account = self.account(email)
        group = account.group_by_name(name)
        if group is None:
            raise KeyError(f"{email} has no group {name!r}")
        account.rename_group(str(group.number), new_name)
        conn = self.ns_session(email)
        if conn is not None:
            conn.send_reg(0, group)
            await conn.conn.drain()
        return group

    async def kick_other_location(self, email: str) -> None:
        conn = self._require_session(email)
        conn.send("OUT", "OTH")
        await conn.close()

    async def shutdown_notice(self) -> None:
        """``OUT SSD`` to every NS client, then close their connections."""
        for conn in list(self.ns_connections):
            conn.send("OUT", "SSD")
            await conn.close()

    def nak_messages_from(self, email: str, enabled: bool = True) -> None:
        """Make the user's SB messages fail (NAK, not delivered)."""
        if enabled:
            self.nak_senders.add(email.lower())
        else:
            self.nak_senders.discard(email.lower())

    async def close_switchboards(self, email: str) -> None:
        """Close the user's SB connections abruptly (the others see BYE)."""
        for sb in list(self.sb_connections):
            if sb.session is not None and sb.account.key == email.lower():
                sb.conn.abort()
