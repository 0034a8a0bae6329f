"""The whole stack for end-to-end tests.

``Stack`` starts, in this order: our MSN test server (in-process, tests.msn_server), the bridge
database (SQLite file or a PostgreSQL database from tests.support.pg), the bridge config (from
example-config.yaml) and its appservice registration (``python -m bridge -g``), Synapse with that
registration (tests.support.synapse), and finally the bridge as its own process (``python -m bridge``),
waiting until its ``/_matrix/mau/ready`` probe answers 200.  The bridge's output goes to
``bridge.log`` in the stack's directory; :meth:`Stack.failure_report` returns the log tails.

Tests share one stack per database backend (Synapse and the bridge are slow-ish to start), so
each test makes its own users with :meth:`Stack.new_pair` and never reuses names.

What tests do again and again is here once: :meth:`Stack.logged_in` (a Matrix user logged in to
MSN through the bot), :meth:`Stack.command` (a bot command and its reply), :meth:`Stack.open_dm`
(a contact writes first and the user joins the new room), :meth:`Stack.wait_msn_online`,
:meth:`Stack.ghost_presence` and :func:`poll`.
"""

from __future__ import annotations

from typing import Any, TypeVar
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
import asyncio
import contextlib
import itertools
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request

from ruamel.yaml import YAML

from bridge.ids import GhostIDs
from bridge.msnp.client import ClientConfig, MSNClient
from bridge.msnp.events import Event, TextMessageReceived
from tests.support.synapse import MatrixTestClient, SynapseServer, WaitTimeout, free_port

__all__ = ["REPO", "BridgeProcess", "MSNPeer", "Pair", "Stack", "poll", "redacts"]

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]


async def poll(
    probe: Callable[[], Awaitable[T | None]], timeout: float = 15.0, what: str = "condition"
) -> T:
    """Call ``probe`` until it returns something truthy (for state no event announces)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = await probe()
        if last:
            return last  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout} s waiting for {what} (last: {last!r})")
        await asyncio.sleep(0.2)


def redacts(evt: dict[str, Any]) -> str | None:
    """The event a redaction removes (room versions 11+ carry it in the content)."""
    return evt.get("redacts") or evt.get("content", {}).get("redacts")


def _tail(path: Path, lines: int = 80) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _http_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except (OSError, ValueError):
        return None


_LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ ")
_LOG_STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ", re.M)
_ERROR_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (ERROR|CRITICAL) ")


class BridgeStartError(RuntimeError):
    pass


class BridgeProcess:
    """``python -m bridge -c <config>`` with its output captured in ``log_path``."""

    def __init__(self, workdir: Path, config_path: Path, as_port: int) -> None:
        self.workdir = workdir
        self.config_path = config_path
        self.as_port = as_port
        self.log_path = workdir / "bridge.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0
        self.start_seconds = 0.0

    @staticmethod
    def env() -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        return env

    def generate_registration(self, registration: Path) -> None:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "bridge",
                "-g",
                "-c",
                str(self.config_path),
                "-r",
                str(registration),
            ],
            cwd=self.workdir,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if proc.returncode != 0 or not registration.exists():
            raise BridgeStartError(
                f"python -m bridge -g failed (exit {proc.returncode}):\n"
                f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
            )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def start(self, timeout: float = 60.0) -> None:
        # Synapse's spurious start-up ping failure (502, AlreadyCalledError) is retried by the
        # bridge itself (bridge/homeserver.py), so a start that fails here is a real failure.
        await self._start_once(timeout)

    async def _start_once(self, timeout: float) -> None:
        self.starts += 1
        started = time.monotonic()
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== bridge start #{self.starts} =====\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bridge", "-c", str(self.config_path)],
                cwd=self.workdir,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        ready = f"http://127.0.0.1:{self.as_port}/_matrix/mau/ready"
        while True:
            if self.proc.poll() is not None:
                raise BridgeStartError(
                    f"the bridge exited with code {self.proc.returncode}\n{self.log_tail()}"
                )
            if time.monotonic() - started > timeout:
                await self.stop()
                raise BridgeStartError(
                    f"the bridge was not ready in {timeout} s\n{self.log_tail()}"
                )
            if await asyncio.to_thread(_http_status, ready) == 200:
                break
            await asyncio.sleep(0.1)
        self.start_seconds = time.monotonic() - started
        print(
            f"bridge ready in {self.start_seconds:.2f} s (start #{self.starts})", file=sys.stderr
        )

    async def stop(self, timeout: float = 15.0) -> int | None:
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await asyncio.to_thread(proc.wait)
                with open(self.log_path, "ab") as log:
                    log.write(b"\n===== bridge killed: no exit after SIGTERM =====\n")
                self.kills += 1
                print(f"bridge did not exit {timeout} s after SIGTERM: killed", file=sys.stderr)
        return proc.returncode

    def log_mark(self) -> int:
        """The current size of the log, for :meth:`log_since`."""
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    async def wait_quiet(self, seconds: float, timeout: float = 10.0) -> None:
        """Wait until the bridge has logged nothing for ``seconds`` (at most ``timeout``)."""
        deadline = time.monotonic() + timeout
        size, since = self.log_mark(), time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            now_size = self.log_mark()
            if now_size != size:
                size, since = now_size, time.monotonic()
            elif time.monotonic() - since >= seconds:
                return

    def log_since(self, mark: int) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(mark)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def errors_since(self, mark: int) -> list[str]:
        """Each ERROR/CRITICAL log record and each traceback logged since ``mark`` (after a
        record of any level, or none), condensed to the record's line and the exception lines
        (the frames are left out)."""
        found: list[str] = []
        current: list[str] | None = None
        last_record = "(traceback outside a log record)"
        for line in self.log_since(mark).splitlines():
            is_record = bool(_LOG_RECORD.match(line)) or line.startswith("=====")
            if is_record:
                if current:
                    found.append("\n".join(current))
                current = [line] if _ERROR_RECORD.match(line) else None
                last_record = line
            elif line.startswith("Traceback"):
                current = current or [last_record]
            elif current is not None and line and not line.startswith((" ", "Traceback")):
                current.append(line)
        if current:
            found.append("\n".join(current))
        return found

    def log_tail(self, lines: int = 80) -> str:
        return f"--- bridge log ({self.log_path}) ---\n{_tail(self.log_path, lines)}"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


class MSNPeer:
    """An MSN user driven by the test (e.g. the contact "bob"), recording every event."""

    def __init__(self, config: ClientConfig, passport: str, password: str) -> None:
        self.passport = passport
        self.password = password
        self.events: list[Event] = []
        self._changed = asyncio.Event()
        self.client = MSNClient(config, self._handle)

    async def _handle(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()
        self._changed = asyncio.Event()

    async def login(self) -> MSNPeer:
        await self.client.login(self.passport, self.password)
        return self

    def mark(self) -> int:
        return len(self.events)

    async def wait_for(
        self,
        predicate: Callable[[Event], bool],
        timeout: float = 15.0,
        after: int = 0,
        what: str = "an event",
    ) -> Event:
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events[after:]:
                if predicate(event):
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                recent = "\n".join(repr(e) for e in self.events[after:][-15:])
                raise WaitTimeout(
                    f"{self.passport}: timed out after {timeout} s waiting for {what};"
                    f" events since mark:\n{recent}"
                )
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def wait_for_type(
        self, type_: type[T], predicate: Callable[[T], bool] | None = None, **kwargs: Any
    ) -> T:
        event = await self.wait_for(
            lambda e: isinstance(e, type_) and (predicate is None or predicate(e)),
            what=kwargs.pop("what", type_.__name__),
            **kwargs,
        )
        assert isinstance(event, type_)
        return event

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.close()


class Pair:
    """Fresh names for one test: a Matrix user + its MSN account, and one MSN contact."""

    def __init__(self, stack: Stack, n: int, contact_name: str | None = None) -> None:
        self.stack = stack
        self.localpart = f"user{n}"
        self.mxid = stack.synapse.mxid(self.localpart)
        self.passport = f"alice{n}@example.com"
        self.password = f"alice{n}pw"
        self.name = f"Alice {n}"
        self.contact = f"bob{n}@example.com"
        self.contact_password = f"bob{n}pw"
        self.contact_name = contact_name or f"Bob {n}"

    @property
    def contact_ghost(self) -> str:
        return self.stack.ghost_mxid(self.contact)


class Stack:
    """MSN server + Synapse + the bridge, for one bridge database backend."""

    SERVER_NAME = "msn.test"

    def __init__(
        self,
        workdir: Path,
        backend: str,
        pg: Any = None,
        configure: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """``configure`` may change the bridge config (the parsed YAML) before it is written."""
        if backend not in ("sqlite", "postgres"):
            raise ValueError(f"unknown backend {backend!r}")
        if backend == "postgres" and pg is None:
            raise ValueError("the postgres backend needs a tests.support.pg.PostgresServer")
        self.workdir = workdir
        self.backend = backend
        self.pg = pg
        self.configure = configure
        self.db_url = ""
        self.msn: Any = None
        # The port is fixed now: the bridge config names it before Synapse starts.
        self.synapse = SynapseServer(
            workdir=workdir / "synapse", server_name=self.SERVER_NAME, port=free_port()
        )
        self.config_path = workdir / "config.yaml"
        self.registration_path = workdir / "registration.yaml"
        self.as_port = free_port()
        self.bridge = BridgeProcess(workdir, self.config_path, self.as_port)
        self.config: dict[str, Any] = {}
        self.registration: dict[str, Any] = {}
        self._counter = itertools.count(1)
        self._closers: list[Any] = []
        #: more appservice registrations for Synapse (e.g. the double-puppet one)
        self.extra_registrations: list[Path] = []

    # --- setup / teardown -------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Stack]:
        """Started for the block and stopped after it; a failed start prints the failure
        report (the logs of every process) before it raises."""
        try:
            await self.start()
        except BaseException:
            print(self.failure_report())
            await self.stop()
            raise
        try:
            yield self
        finally:
            await self.stop()

    async def start(self) -> None:
        from tests.msn_server import MSNServer, ServerConfig

        self.workdir.mkdir(parents=True, exist_ok=True)
        self.msn = MSNServer(ServerConfig(host="127.0.0.1"))
        await self.msn.start()
        if self.backend == "sqlite":
            self.db_url = f"sqlite:{self.workdir / 'bridge.db'}"
        else:
            self.db_url = await asyncio.to_thread(self.pg.create_database)
        self.write_config()
        await asyncio.to_thread(self.bridge.generate_registration, self.registration_path)
        yaml = YAML(typ="safe")
        self.registration = yaml.load(self.registration_path.read_text())
        self.config = yaml.load(self.config_path.read_text())
        self.synapse.app_service_config_files = [self.registration_path, *self.extra_registrations]
        await self.synapse.start()
        await self.bridge.start()

    async def close_clients(self) -> None:
        """Close the Matrix and MSN clients made by :meth:`matrix_user` / :meth:`msn_peer`."""
        closers, self._closers = self._closers, []
        for closer in reversed(closers):
            with contextlib.suppress(Exception):
                await closer()

    async def stop(self) -> None:
        await self.close_clients()
        await self.bridge.stop()
        await self.synapse.stop()
        if self.msn is not None:
            with contextlib.suppress(Exception):
                await self.msn.stop()
        if self.backend == "postgres" and self.db_url:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.pg.drop_database, self.db_url.rsplit("/", 1)[1])

    async def restart_bridge(self) -> None:
        """Stop the bridge process and start it again on the same config and database."""
        await self.bridge.stop()
        await self.bridge.start()

    async def restart_bridge_with_log_levels(self, levels: dict[str, int | str]) -> None:
        """Restart the bridge with these logger levels (e.g. ``{"mau": 1}``) in its config."""
        yaml = YAML()
        config = yaml.load(self.config_path.read_text())
        for name, level in levels.items():
            if name == "":
                config["logging"]["root"]["level"] = level
            else:
                config["logging"]["loggers"].setdefault(name, {})["level"] = level
        with open(self.config_path, "w") as f:
            yaml.dump(config, f)
        await self.restart_bridge()

    async def db_values(self, sql: str) -> list[str | None]:
        """The first column of ``sql`` run on the bridge's database, as text."""
        if self.backend == "sqlite":
            path = self.db_url.removeprefix("sqlite:")

            def query() -> list[str | None]:
                with contextlib.closing(sqlite3.connect(path)) as conn:
                    rows = conn.execute(sql).fetchall()
                return [None if r[0] is None else str(r[0]) for r in rows]

            return await asyncio.to_thread(query)
        output = await asyncio.to_thread(self.pg.psql, sql, self.db_url.rsplit("/", 1)[1])
        return [line or None for line in output.splitlines()]

    async def restart_synapse(self, *, with_bridge: bool = True) -> None:
        """Restart Synapse (which numbers its transactions from 1 again); the bridge too
        unless ``with_bridge`` is False (then it keeps running through the restart)."""
        if not with_bridge:
            await self.synapse.restart()
            return
        await self.bridge.stop()
        await self.synapse.restart()
        await self.bridge.start()

    def write_config(self) -> None:
        yaml = YAML()
        config = yaml.load((REPO / "example-config.yaml").read_text())
        hs = config["homeserver"]
        hs["address"] = self.synapse.url
        hs["domain"] = self.SERVER_NAME
        hs["verify_ssl"] = False
        az = config["appservice"]
        az["address"] = f"http://127.0.0.1:{self.as_port}"
        az["hostname"] = "127.0.0.1"
        az["port"] = self.as_port
        az["database"] = self.db_url
        az["ephemeral_events"] = True
        msn = config["msn"]
        msn["server"] = self.msn.ds_address
        msn["passport_url"] = self.msn.passport_url
        msn["nexus_url"] = None
        msn["force_scheme"] = None
        msn["connect_timeout"] = 5
        msn["transaction_timeout"] = 10
        msn["switchboard_join_timeout"] = 10
        msn["ack_timeout"] = 10
        br = config["bridge"]
        br["permissions"] = {
            "*": "none",
            self.SERVER_NAME: "user",
            f"@admin:{self.SERVER_NAME}": "admin",
        }
        with contextlib.suppress(KeyError, TypeError):
            br["reconnect"]["initial_delay"] = 0.5
            br["reconnect"]["max_delay"] = 2
            br["reconnect"]["stable_after"] = 1
        with contextlib.suppress(KeyError, TypeError):
            br["limits"]["display_name_interval"] = 5  # tests of name churn wait less
        with contextlib.suppress(KeyError, TypeError):
            br["p2p"]["max_incoming_file"] = 4 * 1024 * 1024  # a 3 MB file passes, 5 MB do not
            br["p2p"]["offer_timeout"] = 5  # unanswered file offers time out soon
            br["p2p"]["msnftp_private_addresses"] = True  # the MSNFTP test sender is local
        with contextlib.suppress(KeyError, TypeError):
            # the shared stacks check today's immediate failure; test_bridge_offline_contacts
            # turns the (default) holding on in a stack of its own
            br["offline_contacts"]["enabled"] = False
        with contextlib.suppress(KeyError, TypeError):
            br["encryption"]["allow"] = False
            br["encryption"]["default"] = False
        config["logging"] = {
            "version": 1,
            "formatters": {
                "normal": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
            },
            "handlers": {
                "console": {
                    "class": "logging.StreamHandler",
                    "formatter": "normal",
                    "stream": "ext://sys.stdout",
                }
            },
            "loggers": {
                "mau": {"level": "DEBUG"},
                "msnp": {"level": "DEBUG"},
                "aiohttp": {"level": "INFO"},
            },
            "root": {"level": "DEBUG", "handlers": ["console"]},
        }
        if self.configure is not None:
            self.configure(config)
        with open(self.config_path, "w") as f:
            yaml.dump(config, f)

    def error_summary(self, limit: int = 20) -> str:
        """The distinct errors and tracebacks the bridge logged during the whole session."""
        errors = self.bridge.errors_since(0)
        if not errors:
            return f"bridge ({self.backend}): no errors or tracebacks logged"
        distinct: dict[str, int] = {}
        for error in errors:
            key = _LOG_STAMP.sub("", error)
            key = re.sub(r"![\w-]+|\$[\w-]+|@[\w=.-]+:[\w.]+", "<id>", key)
            distinct[key] = distinct.get(key, 0) + 1
        lines = [
            f"bridge ({self.backend}): {len(errors)} errors/tracebacks logged, "
            f"{len(distinct)} distinct (see {self.bridge.log_path}):"
        ]
        for key, count in list(distinct.items())[:limit]:
            lines.append(f"  [{count}x] " + key.replace("\n", "\n        "))
        return "\n".join(lines)

    def failure_report(self) -> str:
        return f"{self.bridge.log_tail(120)}\n{self.synapse.log_tail(40)}"

    # --- helpers for tests ------------------------------------------------------------------

    @property
    def bot_mxid(self) -> str:
        return f"@{self.config['appservice']['bot_username']}:{self.SERVER_NAME}"

    @property
    def command_prefix(self) -> str:
        return str(self.config["bridge"].get("command_prefix") or "!msn")

    def ghost_mxid(self, passport: str) -> str:
        return GhostIDs(self.config["bridge"]["username_template"], self.SERVER_NAME).mxid(
            passport
        )

    def unique(self, prefix: str) -> str:
        """A name never used before in this stack (Synapse keeps users across tests)."""
        return f"{prefix}{next(self._counter)}"

    def new_pair(self, mutual: bool = True, contact_name: str | None = None) -> Pair:
        """Fresh MSN accounts for the user and a contact, mutual contacts by default (in the
        user's group "Friends")."""
        pair = Pair(self, next(self._counter), contact_name)
        self.msn.add_account(pair.passport, pair.password, pair.name)
        self.msn.add_account(pair.contact, pair.contact_password, pair.contact_name)
        if mutual:
            self.msn.make_mutual(pair.passport, pair.contact, group="Friends")
        return pair

    async def matrix_user(self, localpart: str) -> MatrixTestClient:
        """Register a Matrix user and start its client (closed after the test)."""
        client = await self.synapse.client(localpart)
        self._closers.append(client.close)
        return client

    def client_config(self) -> ClientConfig:
        return ClientConfig(
            server=self.msn.ds_address,
            passport_url=self.msn.passport_url,
            connect_timeout=5,
            transaction_timeout=10,
            switchboard_join_timeout=10,
            ack_timeout=10,
        )

    async def msn_peer(self, passport: str, password: str) -> MSNPeer:
        """A logged-in MSN client in the test process (closed after the test)."""
        peer = MSNPeer(self.client_config(), passport, password)
        await peer.login()
        self._closers.append(peer.close)
        return peer

    async def as_request(
        self, method: str, path: str, user_id: str | None = None, body: Any = None
    ) -> tuple[int, dict[str, Any]]:
        """A Client-Server API request with the appservice token (optionally as ``user_id``)."""
        url = f"{self.synapse.url}{path}"
        if user_id:
            url += ("&" if "?" in url else "?") + "user_id=" + urllib.request.quote(user_id)
        return await self.synapse._http(method, url, body, token=self.registration["as_token"])

    # --- what the tests do again and again -------------------------------------------------

    async def management_room(self, user: MatrixTestClient, trusted: bool = True) -> str:
        """A direct chat of ``user`` with the bridge bot, once the bot has joined it (a
        ``trusted`` chat, as Element makes it, gives the bot the power to redact)."""
        room = await user.create_dm(self.bot_mxid, trusted=trusted)
        await user.wait_for_membership(room, self.bot_mxid, "join", timeout=20)
        return room

    async def command(
        self, user: MatrixTestClient, room: str, text: str, expect: str | re.Pattern[str]
    ) -> dict[str, Any]:
        """Send ``text`` to the bot in ``room``; the bot's reply containing ``expect`` (or, for
        a pattern, matching it).

        Synapse's appservice sender can lose a transaction when it failed to reach the bridge
        during a restart (it logs "Background process re-entered without a proc: as-sender"
        and skips that transaction's id): a command the bridge never received (its log does
        not name the event) is sent once more. One it saw and did not answer fails."""
        pattern = expect if isinstance(expect, re.Pattern) else re.compile(re.escape(expect))

        async def send() -> tuple[str, Awaitable[dict[str, Any]]]:
            mark = user.mark(room)
            event_id = await user.send_text(room, text)
            return event_id, user.wait_for_message(
                room, pattern, sender=self.bot_mxid, after=mark, timeout=20
            )

        event_id, reply = await send()
        try:
            return await reply
        except WaitTimeout:
            if event_id in self.bridge.log_text():
                raise
        print(f"the bridge never received {event_id} ({text!r}): sent again", file=sys.stderr)
        return await (await send())[1]

    async def logged_in(self, pair: Pair) -> tuple[MatrixTestClient, str]:
        """``pair``'s Matrix user, logged in to MSN with ``login <e-mail> <password>`` in a new
        management room; returns the client and that room. The bridge redacted the message
        with the password and said "Logged in as"."""
        user = await self.matrix_user(pair.localpart)
        room = await self.management_room(user)
        mark = user.mark(room)
        command = await user.send_text(room, f"login {pair.passport} {pair.password}")
        await user.wait_for_event(
            room,
            "m.room.redaction",
            predicate=lambda e: redacts(e) == command,
            timeout=20,
            what="redaction of the login command",
        )
        await user.wait_for_message(
            room, re.compile("Logged in as"), sender=self.bot_mxid, after=mark, timeout=30
        )
        return user, room

    async def open_dm(
        self, pair: Pair, user: MatrixTestClient, contact: MSNPeer, text: str
    ) -> tuple[str, dict[str, Any]]:
        """The contact writes ``text`` to the user: the bridge opens the DM portal, the user
        joins it; returns the room and the bridged message."""
        await contact.client.send_text(pair.passport, text)
        ghost = pair.contact_ghost
        room = await user.wait_for_invite(sender=ghost, timeout=20)
        await user.join(room)
        evt = await user.wait_for_message(room, text, sender=ghost, timeout=20)
        return room, evt

    async def wait_msn_online(self, passport: str, timeout: float = 20.0) -> None:
        """Wait until ``passport`` is online on the MSN test server."""

        async def online() -> bool:
            return self.msn.online(passport) is not None

        await poll(online, timeout, f"{passport} online on MSN")

    async def ghost_presence(self, ghost: str) -> str | None:
        """The ghost's presence as Synapse stores it (asked as the ghost, with the AS token)."""
        status, data = await self.as_request(
            "GET", f"/_matrix/client/v3/presence/{ghost}/status", user_id=ghost
        )
        presence = data.get("presence") if status == 200 else None
        return str(presence) if presence is not None else None

    @staticmethod
    def texts_after(peer: MSNPeer, mark: int) -> list[str]:
        """The texts ``peer`` received since ``mark``."""
        return [e.text for e in peer.events[mark:] if isinstance(e, TextMessageReceived)]
