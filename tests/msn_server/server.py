"""The MSN test server: DS, NS, SB and Passport HTTP on loopback, with test hooks."""

from __future__ import annotations

from typing import Any
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
import asyncio
import json
import logging
import os
import secrets
import time
import uuid

from aiohttp import web

from . import abservice, circles, ns13, oim, presence, rst
from .circles import Circle
from .dispatch import handle_dispatch
from .framing import LineConnection
from .notification import NotificationConnection
from .oim import OfflineMessage
from .passport import make_app
from .seed import SeedSpec, seed_accounts
from .state import AL, FL, RL, Account, Directory, Group, ListFlag, TicketStore
from .stats import LoginStats
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
    #: keep every switchboard MSG in ``messages`` (off for long benchmarks)
    record_messages: bool = True
    protocols: Iterable[int] = range(2, 19)
    #: Passport ticket lifetime; None: 24 h (30 s in escargot_mode)
    ticket_lifetime: float | None = None
    #: lifetime of the RST (MSNP13+) tokens, as their ``Expires`` says; an expired one is
    #: refused with a ``BadContextToken`` fault by the address book and the OIM service
    rst_token_lifetime: float = DAY
    #: scheme in the nexus' ``DALogin=`` (the real nexus sends none): None, "http", "https"
    nexus_dalogin_scheme: str | None = None
    qng_seconds: int = 50
    max_line: int = 16 * 1024
    #: fault injection: "host:port" written into XFR SB and RNG instead of the real SB address
    sb_advertise: str | None = None
    #: write :meth:`MSNServer.stats` as JSON to this file every ``stats_interval`` seconds
    #: (and at stop); None: no file (the stats are always at ``GET /_test/stats``)
    stats_file: str | None = None
    stats_interval: float = 1.0
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
    #: the NS connection (endpoint) it was issued to: its machine GUID names the SB side
    endpoint: NotificationConnection | None = None


class MSNServer:
    """A protocol-faithful MSNP2-18 server for tests, demos and benchmarks."""

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
        self.endpoints: dict[str, list[NotificationConnection]] = {}
        self.ns_connections: set[NotificationConnection] = set()
        self.sb_sessions: dict[str, SwitchboardSession] = {}
        self.sb_connections: set[SwitchboardConnection] = set()
        self.sb_cookies: dict[str, SBCookie] = {}
        self.messages: list[DeliveredMessage] = []
        #: MSNP13+: offline messages waiting, by recipient (lower-case), in arrival order
        self.oims: dict[str, list[OfflineMessage]] = {}
        self.oim_lock_challenges: dict[str, str] = {}
        self.oim_lockkeys: dict[str, str] = {}
        #: MSNP18 circles by id, and the SDG payloads relayed in them (circle id, sender, bytes)
        self.circles: dict[str, Circle] = {}
        self.circle_messages: list[tuple[str, str, bytes]] = []
        self.counters: Counter[str] = Counter()
        self.login_stats = LoginStats()
        #: close the NS connection when this command arrives before the first CHG
        self.close_during_login: str | None = None
        #: abort every NS session this many seconds after its login (a flapping server)
        self.drop_after_login: float | None = None
        #: messages from these accounts (lower-case) are not delivered and get NAK
        self.nak_senders: set[str] = set()
        #: every presence line (ILN/NLN) sent: (watcher, account shown, status), latest 100,000
        self.presence_sent: deque[tuple[str, str, str]] = deque(maxlen=100_000)
        self._servers: list[asyncio.Server] = []
        self._runner: web.AppRunner | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._stats_task: asyncio.Task[None] | None = None
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

    def seed_accounts(
        self, count: int, contacts: int = 20, groups: int = 2, **options: str
    ) -> list[Account]:
        """Create ``count`` accounts, each with ``contacts`` mutual contacts in ``groups``
        groups (see seed.py; ``options``: prefix, domain, password)."""
        return seed_accounts(self.directory, SeedSpec(count, contacts, groups, **options))

    def add_circle(self, name: str, owner: str, members: Iterable[str] = ()) -> Circle:
        """An MSNP18 circle owned (admin) by ``owner`` with ``members`` (all accepted)."""
        for email in (owner, *members):
            self.account(email)
        return circles.new_circle(self, name, owner, list(members))

    def change_circle_members(
        self, circle: Circle, add: Iterable[str] = (), remove: Iterable[str] = ()
    ) -> None:
        """Members added to or taken out of a circle by its admin (see circles.change_members)."""
        circles.change_members(self, circle, add, remove)

    def store_oim(
        self,
        sender: str,
        recipient: str,
        text: str,
        *,
        received: float | None = None,
        run_id: str | None = None,
        seq: int = 1,
    ) -> OfflineMessage:
        """File an offline message as if ``sender`` had sent it (at ``received``, a Unix
        time); signed-in MSNP13+ endpoints of the recipient are told at once."""
        source, target = self.account(sender), self.account(recipient)
        message = OfflineMessage(str(uuid.uuid4()).upper(), source.email, source.name,
                                 target.email, text, seq=seq)  # fmt: skip
        if received is not None:
            message.received = received
        if run_id is not None:
            message.run_id = run_id
        oim.store(self, message)
        return message

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
        app = make_app(self)
        rst.add_routes(app, self)
        abservice.add_routes(app, self)
        oim.add_routes(app, self)
        app.router.add_get("/_test/stats", self._http_stats)
        app.router.add_post("/_test/stats/reset", self._http_stats_reset)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, cfg.host, cfg.http_port)
        await site.start()
        self.http_port = int(self._runner.addresses[0][1])
        if cfg.stats_file:
            self._stats_task = asyncio.create_task(self._write_stats_loop(cfg.stats_file))
        log.info(
            "MSN test server: DS %s NS %s SB %s HTTP %s", self.ds_address, self.ns_address,
            self.sb_address, self.http_base,
        )  # fmt: skip

    async def stop(self) -> None:
        if self._stats_task is not None:
            self._stats_task.cancel()
            await asyncio.gather(self._stats_task, return_exceptions=True)
            self._stats_task = None
            assert self.config.stats_file is not None
            self.write_stats(self.config.stats_file)
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
    #
    # ``endpoints`` holds every signed-in NS connection of an account (several at MSNP16+,
    # one per machine GUID); ``ns_sessions`` the one whose status, capabilities and
    # msnobj the contacts see (the endpoint that sent the latest CHG).

    async def ns_logged_in(self, conn: NotificationConnection) -> None:
        assert conn.account is not None
        self.counters["logins"] += 1
        key = conn.account.key
        conn.conn.label = f"NS[{conn.endpoint_id}]"
        others = [c for c in self.endpoints.get(key, []) if c is not conn and not c.closing]
        kicked = self._kicked_by(conn, others)
        self.endpoints[key] = [c for c in others if c not in kicked] + [conn]
        before = self.ns_sessions.get(key)
        primary = self._best_endpoint(key)
        assert primary is not None
        self.ns_sessions[key] = primary
        was_visible = any(c.status not in (None, "HDN") for c in kicked)
        for old in kicked:
            old.replaced = True
            old.send("OUT", "OTH")
            await old.close()
        if was_visible and (before in kicked) and primary.visible_status is None:
            self._fan_out_offline(conn)

    def _kicked_by(
        self, conn: NotificationConnection, others: list[NotificationConnection]
    ) -> list[NotificationConnection]:
        """Who a new login signs out (``OUT OTH``): everyone below MSNP16 (one place to sign in
        from); at MSNP16+ only the endpoints below 16 and one with the same machine GUID (in
        escargot_mode a same-GUID login signs out every endpoint, as Escargot does)."""
        if conn.machine_guid is None:
            return others
        old = [c for c in others if c.machine_guid is None]
        same = [c for c in others if c.machine_guid == conn.machine_guid]
        if same and self.config.escargot_mode:
            return others
        return old + [c for c in same if c not in old]

    def _best_endpoint(self, key: str) -> NotificationConnection | None:
        """The endpoint that speaks for the account: the latest to send CHG, else the
        latest to sign in."""
        live = [c for c in self.endpoints.get(key, []) if not c.closing]
        if not live:
            return None
        announced = [c for c in live if c.status is not None]
        if announced:
            return max(announced, key=lambda c: c.status_changed_at)
        return live[-1]

    def endpoints_of(self, account: Account) -> list[NotificationConnection]:
        """The account's live endpoints, the one that speaks for it first."""
        primary = self.ns_session(account.email)
        rest = [
            c for c in self.endpoints.get(account.key, []) if c is not primary and not c.closing
        ]
        return ([primary] if primary is not None else []) + rest

    async def ns_closed(self, conn: NotificationConnection) -> None:
        self.ns_connections.discard(conn)
        conn.end_login(ok=None)
        was_status = conn.status if conn.status not in (None, "HDN") else None
        conn.closing = True
        if conn.account is None:
            return
        account = conn.account
        key = account.key
        remaining = [c for c in self.endpoints.get(key, []) if c is not conn]
        if remaining:
            self.endpoints[key] = remaining
        else:
            self.endpoints.pop(key, None)
        circles.left_ns(self, conn)
        if self.ns_sessions.get(key) is not conn:
            if conn.machine_guid and not conn.replaced:
                self.endpoints_changed(account)
            return
        successor = self._best_endpoint(key)
        if successor is None:
            del self.ns_sessions[key]
            if was_status is not None:
                self._fan_out_offline(conn)
            return
        self.ns_sessions[key] = successor
        if successor.visible_status != was_status:
            self.broadcast_presence(successor)
        self.endpoints_changed(account)

    def endpoints_changed(self, account: Account) -> None:
        """An MSNP16+ endpoint came or went: its contacts (16+) and its own endpoints get
        a UBX with the new endpoint list."""
        primary = self.ns_session(account.email)
        if primary is None or primary.visible_status is None:
            return
        endpoints = self.endpoints_of(account)
        for watcher in self.watchers(account):
            if watcher.v >= 16:
                watcher.send(
                    "UBX", *presence.ubx_args(watcher.v, account.email),
                    payload=presence.ubx_payload(watcher.v, endpoints, self_view=False),
                )  # fmt: skip
        self.notify_self(account, status_changed=False)

    def status_changed(self, conn: NotificationConnection) -> None:
        """``conn`` sent CHG: it now speaks for the account, whose other MSNP16+ endpoints
        share the status (one status per account, as Escargot keeps it)."""
        account = conn.account
        assert account is not None
        self.ns_sessions[account.key] = conn
        for other in self.endpoints.get(account.key, []):
            if other is not conn and other.status is not None:
                other.status = conn.status
        self.broadcast_presence(conn)
        if conn.v >= 16 or len(self.endpoints.get(account.key, [])) > 1:
            self.notify_self(account, status_changed=True)
        circles.status_changed(self, conn)

    def notify_self(self, account: Account, *, status_changed: bool) -> None:
        """MSNP16+: every signed-in endpoint of the account hears about the account itself
        (NLN on a status change, then UBX with the endpoints and their private data)."""
        endpoints = self.endpoints_of(account)
        if not endpoints:
            return
        primary = endpoints[0]
        for ep in endpoints:
            if ep.v < 16 or ep.status is None or ep.closing:
                continue
            if status_changed and primary.visible_status is not None:
                ep.send("NLN", *presence.presence_args(ep.v, primary))
            ep.send(
                "UBX", *presence.ubx_args(ep.v, account.email),
                payload=presence.ubx_payload(ep.v, endpoints, self_view=True),
            )  # fmt: skip

    def _fan_out_offline(self, conn: NotificationConnection) -> None:
        account = conn.account
        assert account is not None
        for watcher in self.watchers(account, require_visible=False):
            watcher.notify_offline(account.email)

    def ns_session(self, email: str) -> NotificationConnection | None:
        """The endpoint that speaks for the account (None when it is offline)."""
        conn = self.ns_sessions.get(email.lower())
        if conn is None or conn.closing:
            return None
        return conn

    def watchers(
        self, account: Account, *, require_visible: bool = True
    ) -> list[NotificationConnection]:
        """Online endpoints (past their first CHG) of the accounts that have ``account`` on
        their FL and may see it (at MSNP13+: that subscribed to it with ADL): found through
        the reverse index, in time proportional to their number."""
        result = []
        for key in account.watched_by:
            if key == account.key:
                continue
            for conn in self.endpoints.get(key, ()):
                if conn.closing or conn.status is None:
                    continue
                watcher = conn.account
                if watcher is None or not watcher.on(account.email, FL):
                    continue
                if require_visible and not account.allows(watcher.email):
                    continue
                if not conn.sees_via_adl(account.key):
                    continue
                result.append(conn)
        return result

    def visibility_snapshot(self, account: Account) -> set[NotificationConnection]:
        """The endpoints that currently see ``account`` online."""
        conn = self.ns_session(account.email)
        if conn is None or conn.visible_status is None:
            return set()
        return set(self.watchers(account))

    def apply_visibility_change(
        self, account: Account, before: set[NotificationConnection]
    ) -> None:
        """After a list change, tell clients who started or stopped seeing ``account``."""
        after = self.visibility_snapshot(account)
        conn = self.ns_session(account.email)
        for watcher in after - before:
            if conn is not None:
                watcher.notify_online(conn)
        for watcher in before - after:
            if not watcher.closing:
                watcher.notify_offline(account.email)

    def broadcast_presence(self, conn: NotificationConnection) -> None:
        """Tell the watchers about the account's current status, name, caps."""
        account = conn.account
        assert account is not None
        primary = self.ns_session(account.email) or conn
        if primary.visible_status is None:
            for watcher in self.watchers(account, require_visible=False):
                watcher.notify_offline(account.email)
            return
        for watcher in self.watchers(account):
            watcher.notify_online(primary)

    # list changes from the address book / ADL ---------------------------------------------
    def list_add(
        self, account: Account, email: str, flag: ListFlag, *, group: Group | None = None
    ) -> Account:
        """Put ``email`` on a list of ``account`` as the NS would (RL push to the contact,
        presence, the address-book notice); raises ListError."""
        before = self.visibility_snapshot(account)
        contact, rl_added = self.directory.add_to_list(
            account, email, flag, group=group, allow_duplicate=True
        )
        if rl_added:
            for other in self.endpoints.get(contact.key, []):
                other.push_reverse_add(account, contact)
        self.apply_visibility_change(account, before)
        if flag == FL:
            for endpoint in self.endpoints.get(account.key, []):
                endpoint._send_presence_of(contact)
        self.address_book_changed(account)
        return contact

    def list_remove(
        self, account: Account, email: str, flag: ListFlag, *, group: Group | None = None
    ) -> Account:
        before = self.visibility_snapshot(account)
        contact, rl_removed = self.directory.remove_from_list(account, email, flag, group=group)
        if flag == FL and group is None:
            for endpoint in self.endpoints.get(account.key, []):
                endpoint.subscribed.discard(contact.key)
        if rl_removed:
            for other in self.endpoints.get(contact.key, []):
                other.push_reverse_remove(account, contact)
        self.apply_visibility_change(account, before)
        self.address_book_changed(account)
        return contact

    def address_book_changed(self, account: Account) -> None:
        """The account's MSNP13+ endpoints get ``NOT``: their address book changed."""
        for endpoint in self.endpoints.get(account.key, []):
            if endpoint.v >= 13 and not endpoint.closing:
                ns13.notify_address_book(endpoint)

    # switchboards -----------------------------------------------------------------------
    def issue_sb_cookie(
        self,
        account: Account,
        session_id: str | None,
        endpoint: NotificationConnection | None = None,
    ) -> str:
        cookie = (
            f"{secrets.randbelow(10**10)}.{secrets.randbelow(10**10)}.{secrets.randbelow(10**6)}"
        )
        expires = time.monotonic() + 120.0
        self.sb_cookies[cookie] = SBCookie(account, session_id, expires, endpoint)
        if len(self.sb_cookies) > 4096 and len(self.sb_cookies) % 512 == 0:
            now = time.monotonic()  # unused cookies of clients that never came
            for key in [k for k, c in self.sb_cookies.items() if c.expires < now]:
                del self.sb_cookies[key]
        while len(self.sb_cookies) > 100_000:
            del self.sb_cookies[next(iter(self.sb_cookies))]
        return cookie

    def new_sb_session(self, creator: Account) -> SwitchboardSession:
        session_id = new_session_id()
        while session_id in self.sb_sessions:
            session_id = new_session_id()
        session = SwitchboardSession(self, session_id, creator.email)
        self.sb_sessions[session_id] = session
        self.counters["sb_sessions"] += 1
        return session

    # statistics -------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Login counters (see stats.py), process CPU and RSS, connection and account counts."""
        return self.login_stats.snapshot(
            online=len(self.ns_sessions),
            ns_connections_open=len(self.ns_connections),
            sb_sessions_open=len(self.sb_sessions),
            accounts=len(self.directory.accounts),
            counters=dict(self.counters),
        )

    def reset_stats(self) -> None:
        """Start a new measurement: zero the login counters, rates and CPU; the maximum of
        logins in progress restarts from the current count."""
        self.login_stats.reset()

    def write_stats(self, path: str) -> None:
        """Write :meth:`stats` to ``path`` atomically (a reader never sees half a file)."""
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.stats(), f)
        os.replace(tmp, path)

    async def _write_stats_loop(self, path: str) -> None:
        while True:
            try:
                self.write_stats(path)
            except OSError as e:
                log.warning("cannot write the stats file %s: %s", path, e)
            await asyncio.sleep(self.config.stats_interval)

    async def _http_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _http_stats_reset(self, request: web.Request) -> web.Response:
        self.reset_stats()
        return web.json_response(self.stats())

    # inspection -------------------------------------------------------------------------
    def shown_as(self, email: str, *, to: str | None = None) -> list[str]:
        """Every status ``email`` was shown with in an ILN/NLN line (to ``to`` only, if given),
        oldest first."""
        key, watcher = email.lower(), to.lower() if to else None
        return [
            status
            for seen_by, shown, status in self.presence_sent
            if shown == key and (watcher is None or seen_by == watcher)
        ]

    def online(self, email: str) -> str | None:
        """The user's status (``HDN`` included), "" before the first CHG, None if offline."""
        conn = self.ns_session(email)
        if conn is None:
            return None
        return conn.status or ""

    def capabilities_of(self, email: str) -> int | None:
        """The capability number ``email`` announced in CHG (None when not online)."""
        ns = self.ns_session(email)
        return ns.capability_bits if ns is not None else None

    def messages_in(self, session_id: str) -> list[DeliveredMessage]:
        return [m for m in self.messages if m.session_id == session_id]

    def sessions_of(self, email: str) -> list[SwitchboardSession]:
        key = email.lower()
        return [s for s in self.sb_sessions.values() if s.has_account(key)]

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
            if sb.session is not None and sb.account.key == email.lower():  # every endpoint
                sb.conn.abort()
