"""The notification server (DS/NS) session: login, contact list, presence and list changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from sys import intern
import asyncio
import logging

from . import challenge as challenge_mod
from .auth import md5_response
from .burst import Tally
from .codec import Command, decode_arg, encode_arg, limits
from .connection import Connection, parse_address
from .errors import AuthError, ConnectionClosed, MSNPError, ProtocolError, TransactionTimeout
from .events import (
    Contact,
    ContactAdded,
    ContactRemoved,
    Disconnected,
    DisconnectReason,
    Event,
    Group,
    GroupChanged,
    Lists,
    ListSynced,
    LoggedIn,
    OtherMessageReceived,
    PersonalMessageChanged,
    PresenceChanged,
    Status,
)
from .flow import ReadGate
from .message import PROFILE, parse_message
from .ubx import build_user_data, parse_user_data
from .versions import chosen_version, offered_versions

if TYPE_CHECKING:
    from .client import ClientConfig

__all__ = ["MAX_REDIRECTS", "NotificationSession", "Ring"]

log = logging.getLogger("msnp.ns")

MAX_REDIRECTS = 3
_ALL_LISTS = ("FL", "AL", "BL", "RL")
#: NS ``MSG`` payloads (profile, mail notifications) larger than this are dropped unread.
MAX_NS_MESSAGE: Final = 64 * 1024
#: Real clients send a few hundred bytes of personal-message XML (a 129-character PSM, the
#: media string, a machine GUID); larger ``UBX`` payloads are dropped unread.
MAX_UBX_PAYLOAD: Final = 8 * 1024
#: Contact groups kept; MSN servers allowed a few dozen.
MAX_GROUPS: Final = 1000
#: Groups kept per contact, and the longest friendly name / MSN object kept (MSN allowed 129
#: characters of name): a contact costs bounded memory whatever the server sends.
MAX_CONTACT_GROUPS: Final = 32
MAX_NAME: Final = 1024
MAX_MSN_OBJECT: Final = 4096

TicketFetcher = Callable[[str], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Ring:
    """A switchboard invitation (``RNG``)."""

    session_id: str
    host: str
    port: int
    cookie: str
    passport: str
    friendly_name: str


class _TicketRejected(Exception):
    pass


@dataclass(slots=True)
class _SyncState:
    lists_done: set[str] = field(default_factory=set)
    contacts_seen: int = 0
    groups_seen: int = 0
    progress: asyncio.Event = field(default_factory=asyncio.Event)


def _status(code: str) -> Status:
    try:
        return Status(code.upper())
    except ValueError:
        return Status.ONLINE


def _int(value: str, default: int = 0) -> int:
    try:
        return int(value)
    except ValueError:
        return default


#: one int object per capability value seen (bounded) instead of one per contact and session
_SHARED_INTS: dict[int, int] = {}


def _shared_int(value: int) -> int:
    kept = _SHARED_INTS.get(value)
    if kept is not None:
        return kept
    if len(_SHARED_INTS) < 1024:
        _SHARED_INTS[value] = value
    return value


class NotificationSession:
    """One login to the notification server.

    ``emit`` receives events (synchronously; the client queues them); ``on_ring`` gets
    switchboard invitations; ``on_disconnect`` is called once when the session ends after a
    successful login.
    """

    __slots__ = (
        "_awaiting_qng", "_disconnected", "_keepalive", "_keepalive_interval", "_out_detail",
        "_out_reason", "_qng_pauses", "_sync", "_tasks", "config", "conn", "contacts", "emit",
        "friendly_name", "gate", "groups", "logged_in", "on_disconnect", "on_ring", "passport",
        "personal_message", "privacy_allow_unlisted", "profile", "protocol", "server_hosts",
        "status", "tally",
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
        self.protocol: int | None = None
        self.passport = ""
        self.friendly_name = ""
        self.status = Status.OFFLINE
        self.personal_message = ""
        self.contacts: dict[str, Contact] = {}
        self.groups: dict[str, Group] = {}
        self.profile: dict[str, str] = {}
        self.privacy_allow_unlisted: bool | None = None
        self.logged_in = False
        #: the NS's host as we connected to it (after redirects) and the address reached
        self.server_hosts: tuple[str, ...] = ()
        self._sync: _SyncState | None = None
        self._out_reason: DisconnectReason | None = None
        self._out_detail = ""
        #: the next PNG, or while one is unanswered the moment to give up on it (a task only
        #: while the read gate is closed)
        self._keepalive: asyncio.TimerHandle | asyncio.Task[None] | None = None
        self._awaiting_qng = False
        self._qng_pauses = 0  # the read gate's pauses when the QNG wait began
        self._keepalive_interval = config.keepalive_interval
        self._tasks: set[asyncio.Task[None]] | None = None  # made when one is spawned
        self._disconnected = False

    # ------------------------------------------------------------------ login

    async def login(
        self,
        passport: str,
        password: str | None,
        ticket: str | None,
        fetch_ticket: Callable[[str, str, str], Awaitable[str]],
    ) -> str | None:
        """Log in, sync the list and go online; returns the Passport ticket used (if any).

        ``fetch_ticket(passport, password, challenge)`` performs the Passport 1.4 login.
        """
        self.passport = passport
        if ticket is not None:
            try:
                return await self._login_once(passport, password, ticket, fetch_ticket)
            except _TicketRejected:
                log.info("stored Passport ticket for %s rejected; logging in again", passport)
                if password is None:
                    raise AuthError(
                        "the Passport ticket was rejected and no password is known", 911
                    ) from None
        return await self._login_once(passport, password, None, fetch_ticket)

    async def _login_once(
        self,
        passport: str,
        password: str | None,
        ticket: str | None,
        fetch_ticket: Callable[[str, str, str], Awaitable[str]],
    ) -> str | None:
        offered_versions(self.config.protocols, self.config.allow_md5_login)  # raises if none
        host, port = parse_address(self.config.server)
        for _ in range(MAX_REDIRECTS + 1):
            conn = self._new_connection()
            self.conn = conn
            await conn.open(host, port, self.config.connect_timeout)
            self.server_hosts = (host, conn.peer_ip)
            try:
                redirect, used = await self._handshake(
                    conn, passport, password, ticket, fetch_ticket
                )
            except BaseException:
                await conn.close()
                raise
            if redirect is None:
                try:
                    await self._after_auth(conn)
                except BaseException:
                    await conn.close()
                    raise
                return used
            log.debug("redirected from %s:%s to %s", host, port, redirect)
            await conn.close()
            host, port = parse_address(redirect)
        raise ProtocolError(f"more than {MAX_REDIRECTS} XFR NS redirects")

    def _new_connection(self) -> Connection:
        return Connection(
            "NS",
            on_command=self._on_command,
            on_close=self._on_close,
            transaction_timeout=self.config.transaction_timeout,
            max_line=self.config.max_line,
            max_payload=self.config.max_payload,
            payload_limits=limits(UBX=self.config.max_ubx_payload, MSG=MAX_NS_MESSAGE),
            gate=self.gate,
            tally=self.tally,
        )

    async def _handshake(
        self,
        conn: Connection,
        passport: str,
        password: str | None,
        ticket: str | None,
        fetch_ticket: Callable[[str, str, str], Awaitable[str]],
    ) -> tuple[str | None, str | None]:
        """VER/CVR/USR; returns (redirect address or None, ticket used)."""
        conn.stage = "VER"
        configured, allow_md5 = self.config.protocols, self.config.allow_md5_login
        offered = offered_versions(configured, allow_md5)
        reply = await conn.transaction("VER", (*(f"MSNP{v}" for v in offered), "CVR0"))
        version = chosen_version(reply.args, offered, configured, allow_md5)
        self.protocol = version
        conn.version = version
        if version >= 8:
            conn.stage = "CVR"
            c = self.config
            await conn.transaction(
                "CVR",
                (
                    c.locale,
                    c.os_type,
                    c.os_version,
                    c.arch,
                    c.client_name,
                    c.client_version,
                    c.client_lib,
                    passport,
                ),
            )
        conn.stage = "USR"
        if version < 8:
            return await self._auth_md5(conn, passport, password), None
        return await self._auth_twn(conn, passport, password, ticket, fetch_ticket)

    async def _auth_md5(self, conn: Connection, passport: str, password: str | None) -> str | None:
        log.info("logging in with MD5 (MSNP%s), as allowed by allow_md5_login", self.protocol)
        conn.stage = "INF"
        await conn.transaction("INF")
        conn.stage = "USR"
        reply = await conn.transaction("USR", ("MD5", "I", passport), expect=("USR", "XFR"))
        if reply.name == "XFR":
            return self._redirect(reply)
        if password is None:
            raise AuthError("a password is needed to log in with MSNP2-7 (MD5)")
        salt = reply.arg(2)
        try:
            reply = await conn.transaction("USR", ("MD5", "S", md5_response(salt, password)))
        except MSNPError as e:
            if e.code == 911:
                raise AuthError("wrong e-mail address or password", 911) from e
            raise
        self._usr_ok(reply)
        return None

    async def _auth_twn(
        self,
        conn: Connection,
        passport: str,
        password: str | None,
        ticket: str | None,
        fetch_ticket: Callable[[str, str, str], Awaitable[str]],
    ) -> tuple[str | None, str | None]:
        reply = await conn.transaction("USR", ("TWN", "I", passport), expect=("USR", "XFR"))
        if reply.name == "XFR":
            return self._redirect(reply), None
        challenge = reply.arg(2)
        given = ticket is not None
        if ticket is None:
            if password is None:
                raise AuthError("a password or a Passport ticket is needed to log in")
            conn.stage = "Passport"
            ticket = await fetch_ticket(passport, password, challenge)
            if conn.closed:
                raise ConnectionClosed("Passport", "the server closed the connection")
            conn.stage = "USR"
        try:
            reply = await conn.transaction("USR", ("TWN", "S", ticket))
        except MSNPError as e:
            if e.code in (911, 928):
                if given:
                    raise _TicketRejected from e
                raise AuthError("the server rejected the Passport ticket", e.code) from e
            raise
        except ConnectionClosed:
            if given:
                raise _TicketRejected from None
            raise
        self._usr_ok(reply)
        return None, ticket

    def _redirect(self, reply: Command) -> str:
        if reply.arg(0) != "NS" or not reply.arg(1):
            raise ProtocolError(f"unexpected transfer {reply!r} during login")
        return reply.arg(1)

    def _usr_ok(self, reply: Command) -> None:
        if reply.arg(0) != "OK":
            raise ProtocolError(f"unexpected USR reply {reply!r}")
        self.passport = reply.arg(1) or self.passport
        if (self.protocol or 0) < 10 and len(reply.args) >= 3:
            self.friendly_name = decode_arg(reply.arg(2))

    async def _after_auth(self, conn: Connection) -> None:
        version = self.protocol or 0
        conn.stage = "SYN"
        self._sync = sync = _SyncState()
        reply = await conn.transaction("SYN", ("0", "0") if version >= 10 else ("0",))
        await self._wait_sync(sync, reply)
        self._sync = None
        self.logged_in = True
        self.emit(LoggedIn(self.passport, self.friendly_name, version, dict(self.profile)))
        self.emit(ListSynced(dict(self.contacts), dict(self.groups)))
        conn.stage = "CHG"
        await self._chg(self.config.initial_status)
        conn.stage = "session"
        self._start_keepalive()

    async def _wait_sync(self, sync: _SyncState, reply: Command) -> None:
        version = self.protocol or 0

        def done() -> bool:
            if version < 8:
                return sync.lists_done >= set(_ALL_LISTS)
            return sync.contacts_seen >= n_contacts and sync.groups_seen >= n_groups

        if version < 8:
            if reply.arg(0) == "0" and len(reply.args) == 1:
                return  # unchanged list version: nothing follows
            n_contacts = n_groups = 0
        else:
            if len(reply.args) < 3:
                return
            n_contacts, n_groups = _int(reply.args[-2]), _int(reply.args[-1])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.transaction_timeout
        while not done():
            sync.progress.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TransactionTimeout("the contact list (SYN) did not arrive completely")
            try:
                await asyncio.wait_for(sync.progress.wait(), remaining)
            except TimeoutError:
                continue
            if self.conn is None or self.conn.closed:
                raise ConnectionClosed("SYN", "connection closed during the list download")

    # -------------------------------------------------------------- commands

    def _on_command(self, cmd: Command) -> None:
        handler = getattr(self, f"_cmd_{cmd.name}", None)
        if handler is not None:
            handler(cmd)
        elif cmd.is_error:
            log.warning("server error %s (trid %s) %s", cmd.name, cmd.trid, cmd.args)
        else:
            log.debug("unhandled NS command %r", cmd)

    def _progress(self) -> None:
        if self._sync is not None:
            self._sync.progress.set()

    def _contact(self, passport: str, name: str | None = None) -> Contact:
        """The contact ``passport`` from a list command, created when new (up to
        ``max_contacts``; beyond that a contact is reported but not kept)."""
        key = passport.lower()
        contact = self.contacts.get(key)
        if name is not None:
            name = name[:MAX_NAME]
        if contact is None:
            # thousands of sessions in one process list the same people: their addresses and
            # names are interned (shared; freed with the last user)
            passport = intern(passport)
            key = passport if key == passport else intern(key)
            contact = Contact(passport=passport, friendly_name=intern(name) if name else passport)
            if len(self.contacts) < self.config.max_contacts:
                self.contacts[key] = contact
            else:
                self.tally.hit(
                    "contacts_not_kept",
                    "more than %d contacts: %s and later ones are not kept",
                    self.config.max_contacts,
                    passport,
                )
        elif name is not None and name != contact.friendly_name:
            contact.friendly_name = intern(name)
        return contact

    def _group_ids(self, text: str) -> list[str]:
        """The group ids of a comma-separated list, without repeats, at most
        MAX_CONTACT_GROUPS, as the groups' own id strings where known (one object per group,
        not one per contact in it)."""
        known = self.groups
        ids = list(dict.fromkeys(g for g in text.split(",") if g))[:MAX_CONTACT_GROUPS]
        return [group.id if (group := known.get(g)) else g for g in ids]

    def _cmd_LST(self, cmd: Command) -> None:
        version = self.protocol or 0
        args = cmd.args
        if version < 8:
            # LST trid FL ser i n passport name [groups]
            list_code = args[0].upper() if args else ""
            if len(args) >= 6:
                contact = self._contact(args[4], decode_arg(args[5]))
                try:
                    contact.lists |= Lists.from_code(list_code)
                except KeyError:
                    pass
                if list_code == "FL" and len(args) >= 7:
                    contact.groups = self._group_ids(args[6])
            complete = len(args) >= 4 and (args[2] == args[3] or args[3] == "0")
            if complete and self._sync is not None:
                self._sync.lists_done.add(list_code)
        elif version < 10:
            # LST passport name lists [groups]
            if len(args) >= 3:
                contact = self._contact(args[0], decode_arg(args[1]))
                contact.lists = Lists(_int(args[2]) & 0x1F)
                contact.groups = self._group_ids(args[3]) if len(args) >= 4 else []
            if self._sync is not None:
                self._sync.contacts_seen += 1
        else:
            # LST N=passport F=name C=guid lists [1] [groups]
            fields: dict[str, str] = {}
            rest: list[str] = []
            for token in args:
                key, sep, value = token.partition("=")
                if sep and key in ("N", "F", "C") and not rest:
                    fields[key] = value
                else:
                    rest.append(token)
            if "N" in fields:
                contact = self._contact(fields["N"], decode_arg(fields.get("F", fields["N"])))
                contact.guid = fields.get("C") or contact.guid
                contact.lists = Lists(_int(rest[0]) & 0x1F) if rest else Lists.NONE
                groups = [t for t in rest[1:] if "-" in t]
                contact.groups = self._group_ids(groups[-1]) if groups else []
            if self._sync is not None:
                self._sync.contacts_seen += 1
        self._progress()

    def _cmd_LSG(self, cmd: Command) -> None:
        version = self.protocol or 0
        args = cmd.args
        if version < 8:
            # LSG trid ser i n id name 0
            if len(args) >= 5:
                self._set_group(Group(args[3], decode_arg(args[4])))
        elif version < 10:
            if len(args) >= 2:
                self._set_group(Group(args[0], decode_arg(args[1])))
        elif len(args) >= 2:
            self._set_group(Group(args[1], decode_arg(args[0])))
        if self._sync is not None:
            self._sync.groups_seen += 1
        self._progress()

    def _set_group(self, group: Group) -> bool:
        """Keep ``group`` (False: a new group beyond :data:`MAX_GROUPS`, not kept)."""
        if group.id not in self.groups and len(self.groups) >= MAX_GROUPS:
            self.tally.hit(
                "groups_not_kept", "more than %d groups: %s not kept", MAX_GROUPS, group.id
            )
            return False
        self.groups[group.id] = group
        return True

    def _cmd_BLP(self, cmd: Command) -> None:
        if cmd.args:
            self.privacy_allow_unlisted = cmd.args[-1].upper() == "AL"

    def _cmd_PRP(self, cmd: Command) -> None:
        # PRP MFN name (own friendly name at MSNP10+; also PHH/PHW/PHM/MOB ... ignored)
        args = list(cmd.args)
        if args and args[0].isdigit():
            args.pop(0)
        if len(args) >= 2 and args[0] == "MFN":
            self.friendly_name = decode_arg(args[1])

    def _cmd_ILN(self, cmd: Command) -> None:
        self._presence(cmd.args, initial=True)

    def _cmd_NLN(self, cmd: Command) -> None:
        self._presence(cmd.args, initial=False)

    def _presence(self, args: tuple[str, ...], *, initial: bool) -> None:
        if len(args) < 2:
            return
        status = _status(args[0])
        name = decode_arg(args[2])[:MAX_NAME] if len(args) >= 3 else None
        caps = _shared_int(_int(args[3])) if len(args) >= 4 else 0
        msnobj = (
            decode_arg(args[4])[:MAX_MSN_OBJECT] if len(args) >= 5 and args[4] != "0" else None
        )
        # presence lines do not add contacts: only list commands (LST/ADD/ADC) do
        passport = args[1]
        contact = self.contacts.get(passport.lower())
        if contact is not None:
            if name is not None and name != contact.friendly_name:
                contact.friendly_name = intern(name)
            contact.status = status
            contact.capabilities = caps
            contact.msn_object = msnobj
            passport = contact.passport
        self.emit(PresenceChanged(passport, status, name, caps, msnobj, initial=initial))

    def _cmd_FLN(self, cmd: Command) -> None:
        if not cmd.args:
            return
        passport = cmd.args[0]
        contact = self.contacts.get(passport.lower())
        if contact is not None:
            contact.status = Status.OFFLINE
            passport = contact.passport
        self.emit(PresenceChanged(passport, Status.OFFLINE, None))

    def _cmd_UBX(self, cmd: Command) -> None:
        if not cmd.args:
            return
        try:
            data = parse_user_data(cmd.payload or b"")
        except ProtocolError as e:
            self.tally.hit(
                "ubx_unreadable",
                "personal message of %s not read: %s",
                cmd.args[0],
                e,
                level=logging.INFO,
            )
            return
        psm, media = data.personal_message, data.current_media
        passport = cmd.args[0]
        contact = self.contacts.get(passport.lower())
        if contact is not None:
            contact.personal_message = psm
            contact.current_media = media
            passport = contact.passport
        self.emit(PersonalMessageChanged(passport, psm, media))

    def _cmd_MSG(self, cmd: Command) -> None:
        message = parse_message(cmd.payload or b"")
        if message.content_type == PROFILE:
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
            client_id, digest = challenge_mod.answer(cmd.args[-1], self.protocol or 8)
        except ValueError as e:
            log.warning("cannot answer challenge: %s", e)
            return
        conn = self.conn
        trid = conn.next_trid()
        self._spawn(conn.send(Command("QRY", trid, (client_id,), digest.encode("ascii"))))

    def _cmd_QNG(self, cmd: Command) -> None:
        if cmd.args and (self.protocol or 0) >= 9:
            seconds = _int(cmd.args[0], 0)
            if seconds > 0:
                # compare as ints first: float() of a 400-digit number raises OverflowError
                seconds = min(seconds, 86400)
                self._keepalive_interval = min(self.config.keepalive_interval, float(seconds))
        if self._awaiting_qng:
            self._awaiting_qng = False
            self._set_timer(self._keepalive_interval, self._ping)

    def _cmd_OUT(self, cmd: Command) -> None:
        code = cmd.arg(0).upper()
        if code == "OTH":
            self._out_reason = DisconnectReason.OTHER_LOCATION
            self._out_detail = "logged in from another location"
        elif code == "SSD":
            self._out_reason = DisconnectReason.SERVER_SHUTDOWN
            self._out_detail = "the server is shutting down"
        else:
            self._out_reason = DisconnectReason.CONNECTION_LOST
            self._out_detail = f"signed out by the server ({code or 'OUT'})"
        if self.conn is not None:
            self.conn.abort(self._out_reason, self._out_detail)

    def _cmd_RNG(self, cmd: Command) -> None:
        # RNG sessid host:port CKI cookie passport name
        if len(cmd.args) < 5:
            log.warning("malformed RNG %r", cmd)
            return
        try:
            host, port = parse_address(cmd.args[1])
        except ProtocolError:
            log.warning("bad switchboard address in %r", cmd)
            return
        self.on_ring(
            Ring(
                cmd.args[0],
                host,
                port,
                cmd.args[3],
                cmd.args[4],
                decode_arg(cmd.arg(5, cmd.args[4])),
            )
        )

    def _list_args(self, cmd: Command) -> tuple[Lists | None, list[str]]:
        """Strip the list code and (MSNP<10) serial from ADD/ADC/REM arguments."""
        args = list(cmd.args)
        if not args:
            return None, []
        try:
            list_ = Lists.from_code(args.pop(0))
        except KeyError:
            return None, []
        if args and args[0].isdigit() and (self.protocol or 0) < 10:
            args.pop(0)
        return list_, args

    def _cmd_ADD(self, cmd: Command) -> None:
        list_, args = self._list_args(cmd)
        if list_ is None or not args:
            return
        name = decode_arg(args[1]) if len(args) >= 2 else args[0]
        contact = self._contact(args[0], name if list_ is Lists.FORWARD else None)
        contact.lists |= list_
        group = args[2] if len(args) >= 3 else None
        self.emit(ContactAdded(contact.passport, list_, name, contact.guid, group))

    def _cmd_ADC(self, cmd: Command) -> None:
        list_, args = self._list_args(cmd)
        if list_ is None:
            return
        fields = {k: v for k, _, v in (a.partition("=") for a in args) if k in ("N", "F", "C")}
        passport = fields.get("N")
        if passport is None:
            return
        name = decode_arg(fields.get("F", passport))
        contact = self._contact(passport)
        contact.lists |= list_
        contact.guid = fields.get("C") or contact.guid
        self.emit(ContactAdded(contact.passport, list_, name, contact.guid, None))

    def _cmd_REM(self, cmd: Command) -> None:
        list_, args = self._list_args(cmd)
        if list_ is None or not args:
            return
        target = args[0][2:] if args[0].startswith(("N=", "C=")) else args[0]
        contact = self._find(target)
        group = args[1] if len(args) >= 2 else None
        passport = contact.passport if contact else target
        if contact is not None:
            if group is None:
                contact.lists &= ~list_
            elif group in contact.groups:
                contact.groups.remove(group)
        self.emit(ContactRemoved(passport, list_, group))

    def _cmd_ADG(self, cmd: Command) -> None:
        group = self._parse_adg(cmd)
        if group is not None and self._set_group(group):
            self.emit(GroupChanged(group))

    def _cmd_RMG(self, cmd: Command) -> None:
        if cmd.args:
            group = self.groups.pop(cmd.args[-1], None)
            if group is not None:
                self.emit(GroupChanged(group, removed=True))

    def _cmd_REG(self, cmd: Command) -> None:
        # pushed rename: "REG 0 ser id name 0" (MSNP2-9) or "REG 0 guid name" (MSNP10+)
        args = cmd.args[1:] if (self.protocol or 0) < 10 else cmd.args
        if len(args) < 2 or args[0] not in self.groups:
            return
        group = Group(args[0], decode_arg(args[1]))
        self.groups[group.id] = group
        self.emit(GroupChanged(group))

    def _find(self, key: str) -> Contact | None:
        """A contact by passport or GUID."""
        contact = self.contacts.get(key.lower())
        if contact is not None:
            return contact
        for contact in self.contacts.values():
            if contact.guid and contact.guid.lower() == key.lower():
                return contact
        return None

    def _parse_adg(self, cmd: Command) -> Group | None:
        args = list(cmd.args)
        if (self.protocol or 0) < 10:
            # ADG trid ser name id 0
            if len(args) >= 3:
                return Group(args[2], decode_arg(args[1]))
            return None
        # ADG trid name guid (some servers put a serial first)
        if args and args[0].isdigit() and len(args) >= 3:
            args.pop(0)
        if len(args) >= 2:
            return Group(args[1], decode_arg(args[0]))
        return None

    # ------------------------------------------------------------ keepalive

    # One timer per session and no task: PNG every keepalive_interval (or what QNG asks for),
    # never while the read gate is closed; the session ends when a PNG has no QNG within
    # keepalive_timeout of reading time (while the gate is closed the QNG may be waiting
    # unread: the time starts afresh once reading resumes, as flow.reply_in_time does).

    def _start_keepalive(self) -> None:
        self._set_timer(self._keepalive_interval, self._ping)

    def _set_timer(self, delay: float, callback: Callable[[], None]) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
        self._keepalive = asyncio.get_running_loop().call_later(delay, callback)

    def _when_reading(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the read gate opens (it is closed: the handler is behind)."""
        assert self.gate is not None
        gate = self.gate

        async def wait() -> None:
            await gate.wait()
            self._keepalive = None
            callback()

        if self._keepalive is not None:
            self._keepalive.cancel()
        self._keepalive = asyncio.create_task(wait(), name="msnp-keepalive-gate")

    def _ping(self) -> None:
        self._keepalive = None
        conn = self.conn
        if conn is None or conn.closed:
            return
        if self.gate is not None and not self.gate.is_open:
            self._when_reading(self._ping)  # no ping while we are not reading
            return
        self._awaiting_qng = True
        self._qng_pauses = self.gate.pauses if self.gate is not None else 0
        self._set_timer(self.config.keepalive_timeout, self._no_qng)
        self._spawn(conn.send(Command("PNG")))

    def _no_qng(self) -> None:
        self._keepalive = None
        gate = self.gate
        if gate is not None and (not gate.is_open or gate.pauses != self._qng_pauses):
            self._when_reading(self._wait_qng_again)
            return
        if self.conn is not None:
            self.conn.abort(
                DisconnectReason.KEEPALIVE_TIMEOUT,
                f"no answer to PNG within {self.config.keepalive_timeout:g} s",
            )

    def _wait_qng_again(self) -> None:
        self._qng_pauses = self.gate.pauses if self.gate is not None else 0
        self._set_timer(self.config.keepalive_timeout, self._no_qng)

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await coro
            except (ConnectionClosed, MSNPError, TransactionTimeout) as e:
                log.debug("background NS task failed: %s", e)

        task = asyncio.create_task(run())
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_close(self, reason: DisconnectReason, detail: str) -> None:
        keepalive, self._keepalive = self._keepalive, None
        if keepalive is not None and keepalive is not asyncio.current_task():
            keepalive.cancel()
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
        args: tuple[str, ...] = (status.value,)
        if (self.protocol or 0) >= 8:
            args = (status.value, str(self.config.capabilities))
        await conn.transaction("CHG", args)
        self.status = status

    async def set_status(self, status: Status) -> None:
        if status is Status.OFFLINE:
            raise ValueError("use close() to go offline")
        self._live()
        await self._chg(status)

    async def set_friendly_name(self, name: str) -> None:
        conn = self._live()
        encoded = encode_arg(name)
        if (self.protocol or 0) >= 10:
            await conn.transaction("PRP", ("MFN", encoded))
        else:
            await conn.transaction("REA", (self.passport, encoded))
        self.friendly_name = name

    async def set_personal_message(self, text: str, current_media: str = "") -> None:
        conn = self._live()
        if (self.protocol or 0) < 11:
            self.personal_message = text
            return
        payload = build_user_data(text, current_media, protocol=self.protocol or 11)
        await conn.transaction("UUX", (), payload)
        self.personal_message = text

    async def add_contact(
        self, passport: str, list_: Lists, group: str | None, friendly_name: str | None
    ) -> None:
        conn = self._live()
        code = list_.code
        name = encode_arg(friendly_name or passport)
        contact = self.contacts.get(passport.lower())
        if (self.protocol or 0) < 10:
            args: tuple[str, ...] = (code, passport, name)
            if group is not None:
                args = (*args, group)
            await conn.transaction("ADD", args)
            guid = None
        else:
            guid = contact.guid if contact else None
            if list_ is not Lists.FORWARD:
                await conn.transaction("ADC", (code, f"N={passport}"))
            elif guid is None or not (contact and contact.lists & Lists.FORWARD):
                reply = await conn.transaction("ADC", (code, f"N={passport}", f"F={name}"))
                for token in reply.args:
                    if token.startswith("C="):
                        guid = token[2:]
            if group is not None and list_ is Lists.FORWARD:
                if guid is None:
                    raise ProtocolError("the server gave the new contact no GUID")
                await conn.transaction("ADC", (code, f"C={guid}", group))
        contact = self._contact(passport, friendly_name)
        contact.lists |= list_
        if guid:
            contact.guid = guid
        if group is not None and group not in contact.groups:
            contact.groups.append(group)

    async def remove_contact(self, passport: str, list_: Lists, group: str | None) -> None:
        conn = self._live()
        contact = self.contacts.get(passport.lower())
        target = passport
        if (self.protocol or 0) >= 10 and list_ is Lists.FORWARD:
            if contact is None or contact.guid is None:
                raise MSNPError(216, command="REM")
            target = contact.guid
        args: tuple[str, ...] = (list_.code, target)
        if group is not None:
            args = (*args, group)
        await conn.transaction("REM", args)
        if contact is not None:
            if group is None:
                contact.lists &= ~list_
                if list_ is Lists.FORWARD:
                    contact.groups.clear()
            elif group in contact.groups:
                contact.groups.remove(group)

    async def add_group(self, name: str) -> Group:
        conn = self._live()
        args: tuple[str, ...] = (encode_arg(name),)
        if (self.protocol or 0) < 10:
            args = (*args, "0")
        reply = await conn.transaction("ADG", args)
        group = self._parse_adg(reply)
        if group is None:
            raise ProtocolError(f"unexpected ADG reply {reply!r}")
        self.groups[group.id] = group
        return group

    async def remove_group(self, group_id: str) -> None:
        conn = self._live()
        await conn.transaction("RMG", (group_id,))
        self.groups.pop(group_id, None)
        for contact in self.contacts.values():
            if group_id in contact.groups:
                contact.groups.remove(group_id)

    async def rename_group(self, group_id: str, name: str) -> None:
        conn = self._live()
        args: tuple[str, ...] = (group_id, encode_arg(name))
        if (self.protocol or 0) < 10:
            args = (*args, "0")
        await conn.transaction("REG", args)
        self.groups[group_id] = Group(group_id, name)

    async def set_privacy(self, allow_unlisted: bool) -> None:
        conn = self._live()
        await conn.transaction("BLP", ("AL" if allow_unlisted else "BL",))
        self.privacy_allow_unlisted = allow_unlisted

    async def request_switchboard(self) -> tuple[str, int, str]:
        """``XFR SB``: (host, port, cookie) of a fresh switchboard session."""
        conn = self._live()
        reply = await conn.transaction("XFR", ("SB",))
        if reply.arg(0) != "SB" or len(reply.args) < 4:
            raise ProtocolError(f"unexpected XFR reply {reply!r}")
        host, port = parse_address(reply.args[1])
        return host, port, reply.args[3]
