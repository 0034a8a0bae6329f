"""The notification server (NS): login, contact list, presence and switchboard referrals."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final
from collections.abc import Awaitable, Callable
import asyncio
import hashlib
import logging
import secrets
import time

from . import challenge, circles, mbi, ns13, oim, presence
from .framing import ClientCommand, FramingError, LineConnection, decode_name, encode_name
from .protocol import STATUSES, cvr_reply, negotiate_version, syn_timestamp
from .state import AL, BL, FL, LIST_CODES, RL, Account, Group, ListError, ListFlag

if TYPE_CHECKING:
    from .server import MSNServer

__all__ = ["NotificationConnection"]

log = logging.getLogger("msn_server")

TWN_CHALLENGE: Final = "ct=1,rver=1,wp=FS_40SEC_0_COMPACT,lc=1,id=1"
SHIELDS_XML: Final = (
    b'<?xml version= "1.0" encoding="utf-8" ?><config><shield><cli maj="7" min="0" '
    b'minbld="0" maxbld="9999" deny=" " /></shield><block></block></config>'
)
#: the policies the NS sends as ``GCF 0`` before ``USR ... S`` from MSNP13 on
POLICIES_XML: Final = (
    b'<Policies><Policy type="SHIELDS"><config><shield><cli maj="7" min="0" minbld="0" '
    b'maxbld="9999" deny=" " /></shield><block></block></config></Policy>'
    b'<Policy type="ABCH"><policy><set id="push" service="ABCH" priority="200">'
    b'<r id="pushstorage" threshold="180000" /></set></policy></Policy></Policies>'
)
MAX_FRIENDLY_NAME: Final = 387
_LOGIN_COMMANDS: Final = frozenset({"VER", "CVR", "INF", "USR", "OUT", "PNG"})

Handler = Callable[["NotificationConnection", ClientCommand], Awaitable[None]]


class NotificationConnection:
    """One client connection to the NS."""

    def __init__(self, server: MSNServer, conn: LineConnection) -> None:
        self.server = server
        self.conn = conn
        self.version: int | None = None
        self.account: Account | None = None
        self.login_email: str | None = None
        self.login_method: str | None = None
        self.salt: str | None = None
        self.status: str | None = None  # None until the first CHG
        self.capabilities: str | None = None
        self.msn_object: str | None = None
        self.pending_challenge: str | None = None
        self.challenge_deadline: float = 0.0
        self.stall_until: float = 0.0
        self.closing = False
        self.replaced = False
        #: when this connection's login began (``USR I``), until it ends (see stats.py)
        self.login_started: float | None = None
        # MSNP13+ ---------------------------------------------------------------------
        self.nonce: str | None = None  # the SSO MBI_KEY_OLD nonce
        #: MSNP16+: this endpoint's machine GUID as the client sent it, e.g. "{1b2c...}"
        self.machine_guid: str | None = None
        self.uux_machine_guid: str | None = None  # <MachineGuid> of its UUX
        self.caps_ex: str = "0"  # MSNP16+ "caps:capsex" second half
        self.ep_name: str | None = None
        self.ep_idle: bool | None = None
        self.ep_client_type: str | None = None
        self.ep_state: str | None = None
        #: contacts (lower-case) this client put on FL with ADL: their presence is sent
        self.subscribed: set[str] = set()
        self.initial_adl = False
        self.initial_presence_sent = False
        self.status_changed_at = 0.0  # when this endpoint last sent CHG
        self.circle_authenticated = False  # MSNP18 USR SHA A
        self.circles: set[str] = set()  # ids of the circles this endpoint joined (ADL t=9)
        self._tasks: list[asyncio.Task[None]] = []

    # helpers ----------------------------------------------------------------------------
    @property
    def v(self) -> int:
        return self.version or 0

    @property
    def email(self) -> str:
        return self.account.email if self.account else (self.login_email or "?")

    @property
    def endpoint_id(self) -> str:
        """``email`` or, for an MSNP16+ endpoint, ``email;{machine-guid}``."""
        email = self.account.email if self.account else (self.login_email or "?")
        return f"{email};{self.machine_guid}" if self.machine_guid else email

    def sees_via_adl(self, key: str) -> bool:
        """MSNP13+ clients get presence only of the contacts they subscribed to with ADL
        (escargot_mode: of every FL contact, as Escargot does)."""
        return self.v < 13 or self.server.config.escargot_mode or key in self.subscribed

    @property
    def visible_status(self) -> str | None:
        """The status others see, or None when offline / hidden / not yet announced."""
        if self.closing or self.status is None or self.status == "HDN":
            return None
        return self.status

    def send(self, *parts: object, payload: bytes | None = None) -> None:
        self.conn.send(*parts, payload=payload)

    def error(self, code: int, trid: int | None) -> None:
        self.send(code, trid)

    async def close(self) -> None:
        self.closing = True
        await self.conn.drain()
        await self.conn.close()

    def end_login(self, *, ok: bool | None) -> None:
        """The login counted in progress on this connection is over (see stats.py)."""
        if self.login_started is not None:
            self.server.login_stats.end(self.login_started, ok=ok)
            self.login_started = None

    # main loop --------------------------------------------------------------------------
    async def run(self) -> None:
        try:
            while not self.conn.closed:
                try:
                    command = await self.conn.read_command()
                except FramingError as e:
                    log.info("NS %s: closing, %s", self.email, e)
                    break
                if command is None:
                    break
                now = time.monotonic()
                if self.stall_until > now:
                    await asyncio.sleep(self.stall_until - now)
                if self.conn.closed:
                    break
                trigger = self.server.close_during_login
                if trigger and command.name == trigger and self.status is None:
                    log.info("NS %s: closing on %s (close_during_login)", self.email, trigger)
                    self.conn.abort()
                    break
                await self.dispatch(command)
                await self.conn.drain()
        finally:
            for task in self._tasks:
                task.cancel()
            await self.server.ns_closed(self)
            await self.conn.close()

    async def dispatch(self, command: ClientCommand) -> None:
        if self.version is None and command.name != "VER":
            log.info("NS: %s before VER, closing", command.name)
            await self.close()
            return
        if self.account is None and command.name not in _LOGIN_COMMANDS:
            self.error(302, command.trid)
            return
        handler = _HANDLERS.get(command.name)
        if handler is None:
            if command.trid is None:
                await self.close()
            else:
                self.error(200, command.trid)
            return
        try:
            await handler(self, command)
        except ListError as e:
            self.error(e.code, command.trid)

    # login ------------------------------------------------------------------------------
    async def cmd_ver(self, command: ClientCommand) -> None:
        if self.version is not None:
            self.error(715, command.trid)
            return
        version = negotiate_version(self.conn, command, self.server.config.protocol_set)
        if version is None:
            await self.close()
            return
        self.version = version

    async def cmd_cvr(self, command: ClientCommand) -> None:
        cvr_reply(self.conn, command)

    async def cmd_inf(self, command: ClientCommand) -> None:
        if self.v >= 8:
            await self.close()  # MD5 is gone at MSNP8: the connection just drops
            return
        self.send("INF", command.trid, "MD5")

    async def cmd_usr(self, command: ClientCommand) -> None:
        if command.arg(0) == "SHA" and self.account is not None:
            await ns13.usr_sha(self, command)
            return
        if self.account is not None:
            self.error(207, command.trid)
            return
        method, stage = command.arg(0), command.arg(1)
        if method not in ("MD5", "TWN", "SSO") or stage not in ("I", "S") or len(command.args) < 3:
            self.error(201, command.trid)
            return
        if _scheme(self.v) != method:
            await self.close()  # the wrong scheme for this version: silent disconnect
            return
        if stage == "I":
            email = command.arg(2)
            if self.login_started is None:
                self.login_started = self.server.login_stats.begin()
            self.login_email = email
            self.login_method = method
            if method == "MD5":
                self.salt = f"{secrets.randbelow(10**10):010d}.{secrets.randbelow(10**9):09d}"
                self.send("USR", command.trid, "MD5", "S", self.salt)
                return
            if self.v >= 13:
                if "@" not in email:
                    await self.fail_login(command.trid)
                    return
                self.send("GCF", 0, payload=POLICIES_XML)
            if method == "SSO":
                self.nonce = mbi.new_nonce()
                self.send("USR", command.trid, "SSO", "S", "MBI_KEY_OLD", self.nonce)
            else:
                self.send("USR", command.trid, "TWN", "S", TWN_CHALLENGE)
            return
        if self.login_email is None or self.login_method != method:
            self.error(715, command.trid)
            return
        if method == "SSO":
            account = ns13.check_sso(self, command)
            if account is None:
                await self.fail_login(command.trid)
                return
            await self.login_ok(command, account, ticket=command.arg(2))
            return
        account = self.server.directory.get(self.login_email)
        secret = command.arg(2)
        if method == "MD5":
            ok = (
                account is not None
                and self.salt is not None
                and secrets.compare_digest(
                    hashlib.md5((self.salt + account.password).encode("utf-8")).hexdigest(),
                    secret.lower(),
                )
            )
        else:
            ok = account is not None and self.server.tickets.check(secret, account.email)
        if not ok or account is None:
            await self.fail_login(command.trid)
            return
        await self.login_ok(command, account, ticket=secret if method == "TWN" else None)

    async def fail_login(self, trid: int | None) -> None:
        log.info("NS: authentication failed for %s", self.login_email)
        self.end_login(ok=False)
        self.error(911, trid)
        await self.close()

    async def login_ok(self, command: ClientCommand, account: Account, ticket: str | None) -> None:
        self.account = account
        self.end_login(ok=True)
        await self.server.ns_logged_in(self)
        v = self.v
        name = encode_name(account.name)
        if v < 6:
            self.send("USR", command.trid, "OK", account.email, name)
        elif v < 8:
            self.send("USR", command.trid, "OK", account.email, name, 1)
        elif v < 10:
            self.send("USR", command.trid, "OK", account.email, name, 1, 0)
        else:
            self.send("USR", command.trid, "OK", account.email, 1, 0)
        if v >= 11:
            self.send("SBS", 0, "null")
        if v >= 8:
            self.send("MSG", "Hotmail", "Hotmail", payload=self._profile(ticket or ""))
        if v >= 16:
            self.send("UBX", *presence.ubx_args(v, account.email), payload=b"")
        if self.server.config.challenge_interval:
            self._tasks.append(asyncio.create_task(self._challenge_loop()))
        if self.server.drop_after_login is not None:
            self._tasks.append(asyncio.create_task(self._drop_later(self.server.drop_after_login)))

    async def _drop_later(self, seconds: float) -> None:
        """The drop_after_login fault: abort this session ``seconds`` after its login."""
        await asyncio.sleep(seconds)
        log.info("NS %s: dropping the session (drop_after_login)", self.email)
        self.conn.abort()

    def _profile(self, ticket: str) -> bytes:
        token = self.server.tickets.token_of(ticket)
        ip, port = self.conn.peer
        assert self.account is not None
        member = int(self.account.guid.replace("-", "")[:16], 16)
        lines = [
            "MIME-Version: 1.0",
            "Content-Type: text/x-msmsgsprofile; charset=UTF-8",
            f"LoginTime: {int(time.time())}",
            "EmailEnabled: 0",
            f"MemberIdHigh: {member >> 32}",
            f"MemberIdLow: {member & 0x7FFFFFFF}",
            "lang_preference: 1033",
            "preferredEmail: ",
            "country: ",
            "PostalCode: ",
            "Gender: ",
            "Kid: 0",
            "Age: ",
            "BDayPre: ",
            "Birthday: ",
            "Wallet: ",
            "Flags: 1027",
            "sid: 507",
            "kv: 7",
            f"MSPAuth: {token}Y6+H31sTUOFkqjNTDYqAAFLr5Ote7BMrMnUIzpg860jh084QMgs5djRQLLQP0T"
            "VOFkKdWDwAJdEWcfsI9YL8otN9kSfhTaPHR1njHmG0H98O2NE/Ck6zrog3UJFmYlCnHidZk1g3AzUNVXmjZ"
            "oyMSyVvoHLjQSzoGRpgHg3hHdi7zrFhcYKWD8XeNYdoz9wfA2YAAAgZIgF9kFvsy2AC0Fl/ezc/fSo6YgB9",
            f"ClientIP: {ip}",
            f"ClientPort: {port}",
            "ABCHMigrated: 1",
        ]
        if self.v >= 13:
            lines.append(f"MPOPEnabled: {1 if self.machine_guid else 0}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")

    # challenges -------------------------------------------------------------------------
    async def _challenge_loop(self) -> None:
        interval = self.server.config.challenge_interval or 0.0
        timeout = self.server.config.challenge_timeout
        while not self.conn.closed:
            await asyncio.sleep(interval)
            if self.pending_challenge is None:
                self.pending_challenge = challenge.make_challenge()
                self.challenge_deadline = time.monotonic() + timeout
                self.send("CHL", 0, self.pending_challenge)
                await self.conn.drain()
            elif time.monotonic() >= self.challenge_deadline:
                log.info("NS %s: no answer to the challenge in time, closing", self.email)
                await self.close()
                return

    async def cmd_qry(self, command: ClientCommand) -> None:
        if self.pending_challenge is None:
            if not self.server.config.escargot_mode:
                self.error(715, command.trid)
            return
        answer = (command.payload or b"").decode("ascii", errors="replace")
        if challenge.verify(self.pending_challenge, command.arg(0), answer, protocol=self.v):
            self.pending_challenge = None
            self.server.counters["challenges_answered"] += 1
            self.send("QRY", command.trid)
            return
        self.error(540, command.trid)
        await self.close()

    # keepalive / logout -----------------------------------------------------------------
    async def cmd_png(self, command: ClientCommand) -> None:
        self.server.counters["png"] += 1
        self.send("QNG", self.server.config.qng_seconds if self.v >= 9 else None)

    async def cmd_out(self, command: ClientCommand) -> None:
        await self.close()

    # contact list -----------------------------------------------------------------------
    async def cmd_syn(self, command: ClientCommand) -> None:
        account = self.account
        assert account is not None
        trid, v = command.trid, self.v
        if v >= 13:
            self.error(502, trid)  # the contact list lives in the address book (SOAP)
            return
        if v >= 10:
            self._syn_10(trid, account)
            return
        client_ser = command.arg(0)
        if client_ser.isdigit() and int(client_ser) == account.ser:
            self.send("SYN", trid, account.ser)
            return
        if v < 8:
            self._syn_2(trid, account)
        else:
            self._syn_8(trid, account)

    def _contact_name(self, email: str) -> str:
        contact = self.server.directory.get(email)
        return encode_name(contact.name if contact else email)

    def _syn_2(self, trid: int | None, account: Account) -> None:
        ser, v = account.ser, self.v
        self.send("SYN", trid, ser)
        self.send("GTC", trid, ser, account.gtc)
        self.send("BLP", trid, ser, account.blp)
        if v >= 7:
            groups = [("0", "Other%20Contacts")] + [
                (str(g.number), encode_name(g.name)) for g in account.groups.values()
            ]
            for i, (number, name) in enumerate(groups, 1):
                self.send("LSG", trid, ser, i, len(groups), number, name, 0)
        for code, flag in (("FL", FL), ("AL", AL), ("BL", BL), ("RL", RL)):
            entries = [e for e in account.contacts.values() if e.lists & flag]
            if not entries:
                self.send("LST", trid, code, ser, 0, 0)
                continue
            for i, entry in enumerate(entries, 1):
                groups_field = None
                if v >= 7 and flag == FL:
                    groups_field = ",".join(str(g) for g in entry.groups) or "0"
                self.send(
                    "LST", trid, code, ser, i, len(entries), entry.email,
                    self._contact_name(entry.email), groups_field,
                )  # fmt: skip

    def _syn_8(self, trid: int | None, account: Account) -> None:
        self.send("SYN", trid, account.ser, len(account.contacts), len(account.groups) + 1)
        self.send("GTC", account.gtc)
        self.send("BLP", account.blp)
        self.send("LSG", 0, "Other%20Contacts", 0)
        for group in account.groups.values():
            self.send("LSG", group.number, encode_name(group.name), 0)
        for entry in account.contacts.values():
            groups_field = None
            if entry.lists & FL:
                groups_field = ",".join(str(g) for g in entry.groups) or "0"
            self.send(
                "LST", entry.email, self._contact_name(entry.email), int(entry.lists),
                groups_field,
            )  # fmt: skip

    def _syn_10(self, trid: int | None, account: Account) -> None:
        stamp = syn_timestamp(account.changed_at)
        self.send("SYN", trid, stamp, stamp, len(account.contacts), len(account.groups))
        self.send("GTC", account.gtc)
        self.send("BLP", account.blp)
        self.send("PRP", "MFN", encode_name(account.name))
        for group in account.groups.values():
            self.send("LSG", encode_name(group.name), group.guid)
        for entry in account.contacts.values():
            contact = self.server.directory.require(entry.email)
            guids = ",".join(account.groups[n].guid for n in entry.groups) or None
            self.send(
                "LST", f"N={entry.email}", f"F={encode_name(contact.name)}",
                f"C={contact.guid}" if entry.lists & FL else None, int(entry.lists),
                1 if self.v >= 12 else None, guids,
            )  # fmt: skip

    def _list_flag(self, code: str) -> ListFlag:
        flag = LIST_CODES.get(code.upper())
        if flag is None:
            raise ListError(201)
        return flag

    def _resolve_contact(self, token: str) -> str:
        """The e-mail address meant by ``N=x``, ``C=guid``, an address or a GUID."""
        if token.startswith("N=") or token.startswith("C="):
            token = token[2:]
        if "@" in token:
            return token
        contact = self.server.directory.by_guid(token)
        if contact is None:
            raise ListError(216 if self.v >= 10 else 201)
        return contact.email

    def _group(self, group_id: str | None) -> Group | None:
        if group_id is None or group_id == "0":
            return None
        assert self.account is not None
        group = self.account.group_by_id(group_id)
        if group is None:
            raise ListError(224)
        return group

    def _group_token(self, group: Group) -> str:
        return group.guid if self.v >= 10 else str(group.number)

    async def cmd_add(self, command: ClientCommand) -> None:
        if self.v >= 10:
            self.error(502, command.trid)
            return
        account = self.account
        assert account is not None
        if len(command.args) < 2:
            raise ListError(201)
        flag = self._list_flag(command.arg(0))
        email = command.arg(1)
        if "@" not in email:
            raise ListError(201)
        group_arg = command.args[3] if len(command.args) > 3 else None
        group = self._group(group_arg) if flag == FL else None

        given_name = command.arg(2) or None  # echoed as the client sent it

        def reply(contact: Account) -> None:
            self.send(
                "ADD", command.trid, flag.name, account.ser, contact.email,
                given_name or encode_name(contact.name), group_arg if flag == FL else None,
            )  # fmt: skip

        await self._add(account, flag, email, group, reply)

    async def cmd_adc(self, command: ClientCommand) -> None:
        if self.v < 10:
            self.error(502, command.trid)
            return
        account = self.account
        assert account is not None
        flag = self._list_flag(command.arg(0))
        target = command.arg(1)
        if target.startswith("C="):
            if flag != FL or len(command.args) < 3:
                raise ListError(201)
            email = self._resolve_contact(target)
            if not account.on(email, FL):
                raise ListError(216)
            group = self._group(command.arg(2))
            await self._add(
                account,
                flag,
                email,
                group,
                lambda _: self.send("ADC", command.trid, "FL", target, command.arg(2)),
            )
            return
        if not target.startswith("N=") or "@" not in target:
            raise ListError(201)
        email = target[2:]
        group_arg = next((a for a in command.args[2:] if not a.startswith("F=")), None)
        group = self._group(group_arg) if flag == FL else None

        given_name = next((a for a in command.args[2:] if a.startswith("F=")), None)

        def reply(contact: Account) -> None:
            if flag == FL:
                self.send(
                    "ADC", command.trid, "FL", f"N={contact.email}",
                    given_name or f"F={encode_name(contact.name)}", f"C={contact.guid}",
                    group.guid if group else None,
                )  # fmt: skip
            else:
                self.send("ADC", command.trid, flag.name, f"N={contact.email}")

        await self._add(account, flag, email, group, reply)

    async def _add(
        self,
        account: Account,
        flag: ListFlag,
        email: str,
        group: Group | None,
        reply: Callable[[Account], None],
    ) -> None:
        """Apply a list addition, ``reply`` to it, then push what it changed to others."""
        server = self.server
        before = server.visibility_snapshot(account)
        seen_before = self._sees(email)
        contact, rl_added = server.directory.add_to_list(
            account, email, flag, group=group, allow_duplicate=server.config.escargot_mode
        )
        reply(contact)
        if flag == FL and self.v >= 13:
            self.subscribed.add(contact.key)
        if rl_added:
            for other in server.endpoints.get(contact.key, []):
                other.push_reverse_add(account, contact)
        server.apply_visibility_change(account, before)
        if flag == FL and not seen_before:
            self._send_presence_of(contact)

    async def cmd_rem(self, command: ClientCommand) -> None:
        account = self.account
        assert account is not None
        if len(command.args) < 2:
            raise ListError(201)
        flag = self._list_flag(command.arg(0))
        target = command.arg(1)
        email = self._resolve_contact(target)
        group_arg = command.args[2] if len(command.args) > 2 else None
        group = None
        if group_arg is not None:
            if flag != FL:
                raise ListError(201)
            group = self._group(group_arg)
            if group is None:  # group 0: nothing to remove the contact from
                raise ListError(224)
        before = self.server.visibility_snapshot(account)
        contact, rl_removed = self.server.directory.remove_from_list(
            account, email, flag, group=group
        )
        if self.v < 10:
            self.send("REM", command.trid, flag.name, account.ser, target, group_arg)
        else:
            self.send("REM", command.trid, flag.name, target, group_arg)
        if rl_removed:
            for other in self.server.endpoints.get(contact.key, []):
                other.push_reverse_remove(account, contact)
        self.server.apply_visibility_change(account, before)

    def push_reverse_add(self, adder: Account, me: Account) -> None:
        if self.account is None:
            return
        if self.v >= 13:
            ns13.push_list_change("ADL", self, adder, RL)
            return
        if self.v < 10:
            self.send("ADD", 0, "RL", me.ser, adder.email, encode_name(adder.name))
        else:
            self.send("ADC", 0, "RL", f"N={adder.email}", f"F={encode_name(adder.name)}")

    def push_reverse_remove(self, remover: Account, me: Account) -> None:
        if self.account is None:
            return
        if self.v >= 13:
            ns13.push_list_change("RML", self, remover, RL)
            return
        if self.v < 10:
            self.send("REM", 0, "RL", me.ser, remover.email)
        else:
            # real servers name the remover by bare address here (not N=..., unlike ADC)
            self.send("REM", 0, "RL", remover.email)

    async def cmd_adg(self, command: ClientCommand) -> None:
        account = self.account
        assert account is not None
        if not command.args:
            raise ListError(201)
        group = account.add_group(decode_name(command.arg(0)))
        if self.v < 10:
            self.send("ADG", command.trid, account.ser, encode_name(group.name), group.number, 0)
        else:
            self.send("ADG", command.trid, encode_name(group.name), group.guid)

    async def cmd_rmg(self, command: ClientCommand) -> None:
        account = self.account
        assert account is not None
        if not command.args:
            raise ListError(201)
        group = account.remove_group(command.arg(0))
        if self.v < 10:
            self.send("RMG", command.trid, account.ser, group.number)
        else:
            self.send("RMG", command.trid, group.guid)

    async def cmd_reg(self, command: ClientCommand) -> None:
        account = self.account
        assert account is not None
        if len(command.args) < 2:
            raise ListError(201)
        group = account.rename_group(command.arg(0), decode_name(command.arg(1)))
        self.send_reg(command.trid, group)

    def send_reg(self, trid: int | None, group: Group) -> None:
        """``REG``: the answer to a rename, or (trid 0) a rename made elsewhere."""
        account = self.account
        assert account is not None
        if self.v < 10:
            self.send("REG", trid, account.ser, group.number, encode_name(group.name), 0)
        else:
            self.send("REG", trid, group.guid, encode_name(group.name))

    async def _setting(self, command: ClientCommand, attribute: str, allowed: set[str]) -> None:
        account = self.account
        assert account is not None
        value = command.arg(0)
        if value not in allowed:
            raise ListError(201)
        before = self.server.visibility_snapshot(account)
        setattr(account, attribute, value)
        account.bump()
        if self.v < 10:
            self.send(command.name, command.trid, account.ser, value)
        else:
            self.send(command.name, command.trid, value)
        self.server.apply_visibility_change(account, before)

    async def cmd_blp(self, command: ClientCommand) -> None:
        await self._setting(command, "blp", {"AL", "BL"})

    async def cmd_gtc(self, command: ClientCommand) -> None:
        if self.v >= 13:
            await self.close()  # GTC is an address-book annotation from MSNP13 on
            return
        await self._setting(command, "gtc", {"A", "N"})

    # names and personal messages --------------------------------------------------------
    async def cmd_rea(self, command: ClientCommand) -> None:
        account = self.account
        assert account is not None
        if self.v >= 10:
            self.error(502, command.trid)
            return
        if len(command.args) < 2:
            raise ListError(201)
        email, raw_name = command.arg(0), command.arg(1)
        name = decode_name(raw_name)
        if len(raw_name) > MAX_FRIENDLY_NAME or not name.strip():
            raise ListError(209)
        if email.lower() == account.key:
            account.name = name
            account.bump()
            self.send("REA", command.trid, account.ser, account.email, encode_name(name))
            self.server.broadcast_presence(self)
            return
        entry = account.entry(email)
        if entry is None:
            raise ListError(216)
        entry.name = name
        account.bump()
        self.send("REA", command.trid, account.ser, entry.email, encode_name(name))

    async def cmd_prp(self, command: ClientCommand) -> None:
        account = self.account
        assert account is not None
        if not command.args:
            raise ListError(201)
        key, raw_value = command.arg(0), command.arg(1)
        if key == "MFN":
            name = decode_name(raw_value)
            if len(raw_value) > MAX_FRIENDLY_NAME or not name.strip():
                raise ListError(209)
            account.name = name
            raw_value = encode_name(name)
        account.bump()
        if self.v < 10:
            self.send("PRP", command.trid, account.ser, key, raw_value or None)
        else:
            self.send("PRP", command.trid, key, raw_value or None)
        if key == "MFN":
            self.server.broadcast_presence(self)

    async def cmd_uux(self, command: ClientCommand) -> None:
        account = self.account
        assert account is not None
        if self.v < 11:
            await self.close()
            return
        payload = command.payload or b""
        data = presence.parse_uux(payload)
        if self.v >= 13 and data is None:
            self.error(241, command.trid)  # not XML
            await self.close()
            return
        if self.v < 13 or (data is not None and (data.psm, data.current_media) != (None, None)):
            account.psm = payload
            if data is not None:
                account.psm_text = data.psm or ""
                account.current_media = data.current_media or ""
        if data is not None and self.v >= 13:
            self._apply_endpoint_data(data)
        self.send("UUX", command.trid, 0)
        if self.visible_status is not None:
            endpoints = self.server.endpoints_of(account)
            for watcher in self.server.watchers(account):
                if watcher.v >= 11:
                    watcher.send(
                        "UBX", *presence.ubx_args(watcher.v, account.email),
                        payload=presence.ubx_payload(watcher.v, endpoints, self_view=False),
                    )  # fmt: skip
        if self.v >= 16:
            self.server.notify_self(account, status_changed=False)

    def _apply_endpoint_data(self, data: presence.UUXData) -> None:
        if data.machine_guid is not None:
            self.uux_machine_guid = data.machine_guid
        if data.ep_name is not None:
            self.ep_name = data.ep_name
        if data.idle is not None:
            self.ep_idle = data.idle
        if data.client_type is not None:
            self.ep_client_type = data.client_type
        if data.state is not None and data.state in STATUSES:
            self.ep_state = data.state
        if data.capabilities is not None and ":" in data.capabilities:
            self.capabilities, self.caps_ex = data.capabilities.split(":", 1)

    async def cmd_gcf(self, command: ClientCommand) -> None:
        if self.v < 11:
            await self.close()
            return
        self.send("GCF", command.trid, command.arg(0, "Shields.xml"), payload=SHIELDS_XML)

    # presence ---------------------------------------------------------------------------
    async def cmd_chg(self, command: ClientCommand) -> None:
        account = self.account
        assert account is not None
        status = command.arg(0)
        if status not in STATUSES:
            raise ListError(201)
        caps = command.args[1] if len(command.args) > 1 else None
        if caps is None and self.v >= 8 and self.server.config.escargot_mode:
            return  # Escargot ignores a CHG without capabilities
        if caps is not None and self.v >= 8 and parse_caps(caps) is None:
            if self.server.config.escargot_mode:
                return  # Escargot ignores capabilities that are not a number, without a reply
            raise ListError(201)
        msn_object = command.args[2] if len(command.args) > 2 and self.v >= 9 else None
        first = self.status is None
        self.status = status
        self.status_changed_at = time.monotonic()
        if self.v >= 8:
            self.capabilities = caps or "0"
            if self.v >= 16 and caps and ":" in caps:
                self.capabilities, self.caps_ex = caps.split(":", 1)
            self.msn_object = msn_object
            account.msn_object = msn_object
        self.send("CHG", command.trid, status, caps if self.v >= 8 else None, msn_object)
        if first:
            self.send_initial_presence(command.trid)
            if self.v >= 13:
                oim.send_initial_mail_data(self)
        self.server.status_changed(self)

    @property
    def capability_bits(self) -> int:
        """The client capability number from the last CHG (0 before it, or below MSNP8)."""
        return parse_caps(self.capabilities or "0") or 0

    def _sees(self, email: str) -> bool:
        """Whether this client currently sees ``email`` online."""
        account = self.account
        other = self.server.ns_session(email)
        if account is None or other is None or other.account is None:
            return False
        if other.visible_status is None or not account.on(email, FL):
            return False
        if not self.sees_via_adl(other.account.key):
            return False
        return other.account.allows(account.email)

    def send_initial_presence(self, trid: int | None) -> None:
        """ILN (NLN at MSNP18) and UBX for every visible contact, once; at MSNP13+ only
        after both the first CHG and the initial ADL (escargot_mode: after the CHG)."""
        account = self.account
        assert account is not None
        if self.initial_presence_sent or self.status is None:
            return
        if self.v >= 13 and not (self.initial_adl or self.server.config.escargot_mode):
            return
        self.initial_presence_sent = True
        for entry in list(account.contacts.values()):
            if self._sees(entry.email):
                other = self.server.ns_session(entry.email)
                assert other is not None
                self.send_presence(other, trid, initial=True)

    def send_presence(
        self, other: NotificationConnection, trid: int | None, *, initial: bool = False
    ) -> None:
        """``other``'s presence: ILN (with ``trid``) or NLN, then UBX where it applies."""
        assert other.account is not None
        self._record_presence(other)
        if trid is not None and self.v < 18:
            self.send("ILN", trid, *presence.presence_args(self.v, other))
        else:
            self.send("NLN", *presence.presence_args(self.v, other))
        if self.v >= 13 or (self.v >= 11 and initial and other.account.psm):
            self.send(
                "UBX", *presence.ubx_args(self.v, other.account.email),
                payload=presence.ubx_payload(
                    self.v, self.server.endpoints_of(other.account), self_view=False
                ),
            )  # fmt: skip

    def _send_presence_of(self, contact: Account) -> None:
        if self.status is None or not self._sees(contact.email):
            return
        other = self.server.ns_session(contact.email)
        assert other is not None
        self._record_presence(other)
        self.send("NLN", *presence.presence_args(self.v, other))

    def notify_online(self, other: NotificationConnection) -> None:
        self._record_presence(other)
        self.send("NLN", *presence.presence_args(self.v, other))

    def _record_presence(self, other: NotificationConnection) -> None:
        """Keep what this client is told about ``other`` (``server.shown_as``)."""
        if self.account is not None and other.account is not None:
            self.server.presence_sent.append(
                (self.account.key, other.account.key, str(other.status or ""))
            )

    def notify_offline(self, email: str) -> None:
        self.send("FLN", *presence.fln_args(self.v, email))

    # switchboard ------------------------------------------------------------------------
    async def cmd_xfr(self, command: ClientCommand) -> None:
        account = self.account
        assert account is not None
        if command.arg(0) != "SB":
            raise ListError(201)
        if (self.status == "HDN" and self.v < 13) or (
            self.status is None and self.server.config.escargot_mode
        ):
            self.error(913, command.trid)
            return
        cookie = self.server.issue_sb_cookie(account, None, self)
        self.send(
            "XFR", command.trid, "SB", self.server.advertised_sb_address, "CKI", cookie,
            *(("U", "messenger.msn.com") if self.v >= 13 else ()), 1 if self.v >= 14 else None,
        )  # fmt: skip

    def ring(self, session_id: str, cookie: str, inviter: Account) -> None:
        self.send(
            "RNG", session_id, self.server.advertised_sb_address, "CKI", cookie, inviter.email,
            encode_name(inviter.name),
            *(("U", "messenger.hotmail.com") if self.v >= 13 else ()),
            1 if self.v >= 14 else None,
        )  # fmt: skip


_HANDLERS: Final[dict[str, Handler]] = {
    "VER": NotificationConnection.cmd_ver,
    "CVR": NotificationConnection.cmd_cvr,
    "INF": NotificationConnection.cmd_inf,
    "USR": NotificationConnection.cmd_usr,
    "QRY": NotificationConnection.cmd_qry,
    "PNG": NotificationConnection.cmd_png,
    "OUT": NotificationConnection.cmd_out,
    "SYN": NotificationConnection.cmd_syn,
    "ADD": NotificationConnection.cmd_add,
    "ADC": NotificationConnection.cmd_adc,
    "REM": NotificationConnection.cmd_rem,
    "ADG": NotificationConnection.cmd_adg,
    "RMG": NotificationConnection.cmd_rmg,
    "REG": NotificationConnection.cmd_reg,
    "BLP": NotificationConnection.cmd_blp,
    "GTC": NotificationConnection.cmd_gtc,
    "REA": NotificationConnection.cmd_rea,
    "PRP": NotificationConnection.cmd_prp,
    "UUX": NotificationConnection.cmd_uux,
    "GCF": NotificationConnection.cmd_gcf,
    "CHG": NotificationConnection.cmd_chg,
    "XFR": NotificationConnection.cmd_xfr,
    # MSNP13+ (ns13.py) and MSNP18 circles (circles.py)
    "ADL": ns13.cmd_adl,
    "RML": ns13.cmd_rml,
    "FQY": ns13.cmd_fqy,
    "UUN": ns13.cmd_uun,
    "UUM": ns13.cmd_uum,
    "PUT": circles.cmd_put,
    "SDG": circles.cmd_sdg,
}


def _scheme(version: int) -> str:
    """The USR authentication scheme of a protocol version."""
    if version < 8:
        return "MD5"
    return "TWN" if version < 15 else "SSO"


def parse_caps(token: str) -> int | None:
    """A CHG capability argument as a number (MSNP16+: ``basic:extended``); None if invalid."""
    basic = token.split(":", 1)[0]
    if not (basic.isascii() and basic.isdigit()) or len(basic) > 10 or int(basic) > 0xFFFFFFFF:
        return None
    return int(basic)
