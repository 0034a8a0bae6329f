"""A real Synapse for tests, plus a small Matrix test client.

``SynapseServer`` writes a minimal homeserver.yaml into a temporary directory (SQLite, 127.0.0.1
only, no federation, rate limits out of the way), starts ``python -m synapse.app.homeserver`` from
the Synapse venv (see tests/install-test-deps.sh) and waits until ``/_matrix/client/versions``
answers.  Users are created with the shared-secret admin API.  ``MatrixTestClient`` runs a raw
``/sync`` loop that records everything per room so a test can ``wait_for`` what it expects.

Facts about this stack that tests have to live with:

* Synapse drops a ghost's presence to offline ~30 s after it was set.
* An appservice gets typing notifications and receipts only with ``receive_ephemeral: true``.
* Room version 12 room IDs carry no server name: never parse one out of them.
* Synapse on SQLite restarts appservice transaction ids at 1 after a restart; mautrix's
  in-memory de-duplication by ID alone would drop the new events (the bridge de-duplicates by
  content and event ID instead, see bridge/appservice.py).
"""

from __future__ import annotations

from typing import Any, TypeVar
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from mautrix.client import Client
from mautrix.types import EventType, PresenceState, RoomCreatePreset, RoomID, UserID

from tests.support.ports import free_port

__all__ = [
    "SYNAPSE_VENV",
    "MatrixTestClient",
    "SynapseServer",
    "free_port",
    "synapse_python",
]

T = TypeVar("T")

SYNAPSE_VENV = Path(
    os.environ.get("MSN_TEST_SYNAPSE_VENV")
    or Path.home() / ".cache" / "matrix-msn" / "synapse-venv"
)
SERVER_NAME = "msn.test"
HIGH_RATE = {"per_second": 100000, "burst_count": 100000}


def synapse_python() -> Path | None:
    """The interpreter of the Synapse venv, or None when Synapse is not installed."""
    python = SYNAPSE_VENV / "bin" / "python"
    if not python.exists():
        return None
    return python


def _tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _yaml_dump(data: dict[str, Any]) -> str:
    # JSON is valid YAML, and needs no YAML library in the test process.
    return json.dumps(data, indent=2)


class SynapseStartError(RuntimeError):
    pass


@dataclass
class SynapseServer:
    """One Synapse process. ``await start()`` / ``await stop()``, or ``async with``."""

    app_service_config_files: list[Path] = field(default_factory=list)
    server_name: str = SERVER_NAME
    workdir: Path | None = None
    start_timeout: float = 60.0
    port: int = 0
    shared_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    #: fixed by a caller whose data must outlive a restart with a new config (the demo)
    macaroon_secret_key: str = field(default_factory=lambda: secrets.token_hex(16))
    form_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    start_seconds: float = 0.0
    #: merged into homeserver.yaml last (e.g. ``experimental_features``)
    extra_config: dict[str, Any] = field(default_factory=dict)
    _proc: subprocess.Popen[bytes] | None = None
    _own_workdir: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "homeserver.log"

    @property
    def console_path(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "console.log"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        return (
            f"--- Synapse console ---\n{_tail(self.console_path, lines)}\n"
            f"--- Synapse log ---\n{_tail(self.log_path, lines)}"
        )

    def write_config(self) -> Path:
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="msn-synapse-"))
            self._own_workdir = True
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        wd = self.workdir
        log_config = wd / "log.yaml"
        log_config.write_text(
            _yaml_dump(
                {
                    "version": 1,
                    "formatters": {
                        "precise": {
                            "format": "%(asctime)s %(name)s %(levelname)s %(message)s",
                        }
                    },
                    "handlers": {
                        "file": {
                            "class": "logging.FileHandler",
                            "filename": str(self.log_path),
                            "formatter": "precise",
                        }
                    },
                    "root": {"level": "WARNING", "handlers": ["file"]},
                    "disable_existing_loggers": False,
                }
            )
        )
        config = {
            "server_name": self.server_name,
            "public_baseurl": self.url + "/",
            "pid_file": str(wd / "homeserver.pid"),
            "listeners": [
                {
                    "port": self.port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": {
                "name": "sqlite3",
                "args": {"database": str(wd / "homeserver.db")},
            },
            "log_config": str(log_config),
            "media_store_path": str(wd / "media_store"),
            "signing_key_path": str(wd / "signing.key"),
            "registration_shared_secret": self.shared_secret,
            "macaroon_secret_key": self.macaroon_secret_key,
            "form_secret": self.form_secret,
            "enable_registration": False,
            "report_stats": False,
            "enable_metrics": False,
            "url_preview_enabled": False,
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "federation_domain_whitelist": [],
            "app_service_config_files": [str(p) for p in self.app_service_config_files],
            "use_appservice_legacy_authorization": False,
            "presence": {"enabled": True},
            "user_directory": {"enabled": True, "search_all_users": True},
            "rc_message": HIGH_RATE,
            "rc_registration": HIGH_RATE,
            "rc_registration_token_validity": HIGH_RATE,
            "rc_login": {
                "address": HIGH_RATE,
                "account": HIGH_RATE,
                "failed_attempts": HIGH_RATE,
            },
            "rc_admin_redaction": HIGH_RATE,
            "rc_joins": {"local": HIGH_RATE, "remote": HIGH_RATE},
            "rc_joins_per_room": HIGH_RATE,
            "rc_3pid_validation": HIGH_RATE,
            "rc_invites": {
                "per_room": HIGH_RATE,
                "per_user": HIGH_RATE,
                "per_issuer": HIGH_RATE,
            },
            "rc_third_party_invite": HIGH_RATE,
            "rc_presence": {"per_user": HIGH_RATE},
            "rc_media_create": HIGH_RATE,
            "rc_delayed_event_mgmt": HIGH_RATE,
            "rc_reports": HIGH_RATE,
            "rc_room_creation": HIGH_RATE,
        }
        config.update(self.extra_config)
        path = wd / "homeserver.yaml"
        path.write_text(_yaml_dump(config))
        return path

    async def start(self) -> None:
        python = synapse_python()
        if python is None:
            raise SynapseStartError(
                f"Synapse is not installed in {SYNAPSE_VENV}: run tests/install-test-deps.sh"
            )
        config = self.write_config()
        assert self.workdir is not None
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        started = time.monotonic()
        with open(self.console_path, "ab") as console:
            self._proc = subprocess.Popen(
                [str(python), "-m", "synapse.app.homeserver", "-c", str(config)],
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        try:
            await self._wait_ready(started)
        except BaseException:
            await self.stop()
            raise
        self.start_seconds = time.monotonic() - started
        print(f"Synapse started in {self.start_seconds:.2f} s on {self.url}", file=sys.stderr)

    async def _wait_ready(self, started: float) -> None:
        url = f"{self.url}/_matrix/client/versions"
        while True:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise SynapseStartError(
                    f"Synapse exited with code {self._proc.returncode}\n{self.log_tail()}"
                )
            if time.monotonic() - started > self.start_timeout:
                raise SynapseStartError(
                    f"Synapse did not answer within {self.start_timeout} s\n{self.log_tail()}"
                )
            try:
                status, _ = await self._http("GET", url, timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 15
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await asyncio.to_thread(proc.wait)

    async def restart(self) -> None:
        """Stop and start again with the same config, database and port."""
        await self.stop()
        await self.start()

    def cleanup(self) -> None:
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    async def __aenter__(self) -> SynapseServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        self.cleanup()

    # --- HTTP -------------------------------------------------------------------------------

    @staticmethod
    async def _http(
        method: str,
        url: str,
        body: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        timeout: float = 10,
    ) -> tuple[int, dict[str, Any]]:
        def do() -> tuple[int, dict[str, Any]]:
            data = json.dumps(body).encode() if body is not None else None
            req = urllib.request.Request(url, data=data, method=method)
            req.add_header("Content-Type", "application/json")
            if token:
                req.add_header("Authorization", f"Bearer {token}")
            try:
                with urllib.request.urlopen(req, timeout=timeout) as resp:
                    raw = resp.read()
                    return resp.status, json.loads(raw) if raw else {}
            except urllib.error.HTTPError as e:
                raw = e.read()
                try:
                    return e.code, json.loads(raw)
                except ValueError:
                    return e.code, {"raw": raw.decode(errors="replace")}

        return await asyncio.to_thread(do)

    async def register_user(self, localpart: str, password: str, admin: bool = False) -> str:
        """Create a user with the shared-secret admin API; returns its access token."""
        url = f"{self.url}/_synapse/admin/v1/register"
        status, data = await self._http("GET", url)
        if status != 200:
            raise RuntimeError(f"register nonce: HTTP {status} {data}")
        nonce = data["nonce"]
        signed = "\x00".join((nonce, localpart, password, "admin" if admin else "notadmin"))
        mac = hmac.new(self.shared_secret.encode(), signed.encode(), hashlib.sha1)
        body = {
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": admin,
            "mac": mac.hexdigest(),
        }
        status, data = await self._http("POST", url, body)
        if status != 200:
            raise RuntimeError(f"register {localpart}: HTTP {status} {data}")
        return str(data["access_token"])

    def mxid(self, localpart: str) -> UserID:
        return UserID(f"@{localpart}:{self.server_name}")

    async def client(self, localpart: str, password: str | None = None) -> MatrixTestClient:
        """Register ``localpart`` and return a started :class:`MatrixTestClient` for it."""
        token = await self.register_user(localpart, password or secrets.token_hex(8))
        client = MatrixTestClient(self.url, self.mxid(localpart), token)
        await client.start()
        return client


class WaitTimeout(AssertionError):
    pass


class MatrixTestClient:
    """A Matrix user driven by a test: mautrix ``Client`` for requests, a raw /sync loop.

    Everything /sync returns is kept: ``timeline[room_id]`` (timeline events, state included, in
    order), ``state[room_id]``, ``ephemeral[room_id]`` (typing, receipts), ``invites[room_id]``
    (pending invites: stripped state), ``invite_history[room_id]`` (every invite ever seen),
    ``presence[user_id]`` (latest content), ``account_data``.
    """

    def __init__(self, base_url: str, mxid: UserID, token: str) -> None:
        self.mxid = mxid
        self.api = Client(mxid=mxid, base_url=base_url, token=token)
        self.timeline: dict[RoomID, list[dict[str, Any]]] = {}
        self.state: dict[RoomID, list[dict[str, Any]]] = {}
        self.ephemeral: dict[RoomID, list[dict[str, Any]]] = {}
        self.invites: dict[RoomID, list[dict[str, Any]]] = {}
        self.invite_history: dict[RoomID, list[dict[str, Any]]] = {}
        self.left: set[RoomID] = set()
        self.presence: dict[str, dict[str, Any]] = {}
        self.presence_events: list[dict[str, Any]] = []
        self.account_data: dict[str, dict[str, Any]] = {}
        self.next_batch: str | None = None
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self.sync_count = 0
        #: the presence each /sync reports (as a client does: online, or unavailable when idle)
        self.sync_presence = PresenceState.ONLINE

    # --- sync loop --------------------------------------------------------------------------

    async def start(self) -> None:
        filter_id = await self.api.create_filter(
            {"room": {"timeline": {"limit": 1000}, "state": {"lazy_load_members": False}}}
        )
        self._filter = filter_id
        await self._sync_once(timeout=0)
        self._task = asyncio.create_task(self._loop(), name=f"sync {self.mxid}")

    async def _sync_once(self, timeout: int) -> None:
        data = await self.api.sync(
            since=self.next_batch,
            timeout=timeout,
            filter_id=self._filter,
            set_presence=self.sync_presence,
        )
        self._ingest(data)

    async def _loop(self) -> None:
        failing_since: float | None = None
        while True:
            try:
                await self._sync_once(timeout=5000)
                failing_since = None
            except asyncio.CancelledError:
                raise
            except Exception as e:
                # Tolerates a Synapse restart; gives up after a minute of failures.
                now = time.monotonic()
                failing_since = failing_since or now
                if now - failing_since > 60:
                    self._error = e
                    self._notify()
                    return
                await asyncio.sleep(0.25)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _ingest(self, data: dict[str, Any]) -> None:
        self.next_batch = data.get("next_batch", self.next_batch)
        rooms = data.get("rooms", {})
        for room_id, room in rooms.get("join", {}).items():
            self.invites.pop(room_id, None)
            self.left.discard(room_id)
            self.state.setdefault(room_id, []).extend(room.get("state", {}).get("events", []))
            timeline = room.get("timeline", {}).get("events", [])
            for evt in timeline:
                evt.setdefault("room_id", room_id)
            self.timeline.setdefault(room_id, []).extend(timeline)
            self.state[room_id].extend(e for e in timeline if "state_key" in e)
            self.ephemeral.setdefault(room_id, []).extend(
                room.get("ephemeral", {}).get("events", [])
            )
        for room_id, room in rooms.get("invite", {}).items():
            self.invites[room_id] = room.get("invite_state", {}).get("events", [])
            self.invite_history.setdefault(room_id, []).extend(self.invites[room_id])
        for room_id in rooms.get("leave", {}):
            self.invites.pop(room_id, None)
            self.left.add(room_id)
        for evt in data.get("presence", {}).get("events", []):
            self.presence_events.append(evt)
            self.presence[evt["sender"]] = evt.get("content", {})
        for evt in data.get("account_data", {}).get("events", []):
            self.account_data[evt["type"]] = evt.get("content", {})
        self.sync_count += 1
        self._notify()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        await self.api.api.session.close()

    # --- waiting ----------------------------------------------------------------------------

    async def wait_for(
        self, predicate: Callable[[], T | None], timeout: float = 15.0, what: str = "condition"
    ) -> T:
        """Wait until ``predicate()`` returns something truthy (re-checked after every sync)."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if self._error is not None:
                raise RuntimeError(f"sync loop of {self.mxid} died") from self._error
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeout(f"{self.mxid}: timed out after {timeout} s waiting for {what}")
            event = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    async def wait_for_invite(
        self, sender: str | None = None, timeout: float = 15.0, exclude: Iterable[str] = ()
    ) -> RoomID:
        """A pending invite (optionally from ``sender``); returns its room ID."""
        skip = set(exclude)

        def find() -> RoomID | None:
            for room_id, events in self.invites.items():
                if room_id in skip:
                    continue
                for evt in events:
                    if (
                        evt.get("type") == "m.room.member"
                        and evt.get("state_key") == self.mxid
                        and evt.get("content", {}).get("membership") == "invite"
                        and (sender is None or evt.get("sender") == sender)
                    ):
                        return room_id
            return None

        return await self.wait_for(find, timeout, f"an invite from {sender or 'anyone'}")

    def events(
        self,
        room_id: RoomID,
        type: str | None = None,
        sender: str | None = None,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        return [
            evt
            for evt in self.timeline.get(room_id, [])
            if (type is None or evt.get("type") == type)
            and (sender is None or evt.get("sender") == sender)
            and (predicate is None or predicate(evt))
        ]

    async def wait_for_event(
        self,
        room_id: RoomID,
        type: str | None = None,
        sender: str | None = None,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 15.0,
        after: int = 0,
        what: str | None = None,
    ) -> dict[str, Any]:
        """The first matching timeline event at index >= ``after`` (see :meth:`mark`)."""

        def find() -> dict[str, Any] | None:
            for evt in self.timeline.get(room_id, [])[after:]:
                if (
                    (type is None or evt.get("type") == type)
                    and (sender is None or evt.get("sender") == sender)
                    and (predicate is None or predicate(evt))
                ):
                    return evt
            return None

        return await self.wait_for(
            find, timeout, what or f"event type={type} sender={sender} in {room_id}"
        )

    def mark(self, room_id: RoomID) -> int:
        """The current timeline length, to wait only for events that arrive later."""
        return len(self.timeline.get(room_id, []))

    async def wait_for_message(
        self,
        room_id: RoomID,
        body: str | re.Pattern[str] | Callable[[str], bool] | None = None,
        sender: str | None = None,
        msgtype: str | None = None,
        timeout: float = 15.0,
        after: int = 0,
    ) -> dict[str, Any]:
        """An ``m.room.message`` whose body equals / matches (regex, searched) ``body``."""

        def matches(evt: dict[str, Any]) -> bool:
            content = evt.get("content", {})
            if msgtype is not None and content.get("msgtype") != msgtype:
                return False
            text = content.get("body")
            if not isinstance(text, str):
                return False
            if body is None:
                return True
            if isinstance(body, str):
                return text == body
            if isinstance(body, re.Pattern):
                return body.search(text) is not None
            return bool(body(text))

        return await self.wait_for_event(
            room_id,
            "m.room.message",
            sender,
            matches,
            timeout,
            after,
            what=f"message {body!r} from {sender or 'anyone'} in {room_id}",
        )

    async def wait_for_typing(
        self, room_id: RoomID, user_id: str, typing: bool = True, timeout: float = 15.0
    ) -> None:
        """Wait until the latest ``m.typing`` of the room has ``user_id`` typing (or not)."""

        def check() -> bool:
            latest = None
            for evt in self.ephemeral.get(room_id, []):
                if evt.get("type") == "m.typing":
                    latest = evt.get("content", {}).get("user_ids", [])
            if latest is None:
                return not typing
            return (user_id in latest) == typing

        await self.wait_for(check, timeout, f"{user_id} typing={typing} in {room_id}")

    async def wait_for_presence(
        self, user_id: str, presence: str = "online", timeout: float = 15.0
    ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            content = self.presence.get(user_id)
            if content is not None and content.get("presence") == presence:
                return content
            return None

        return await self.wait_for(check, timeout, f"presence {presence} of {user_id}")

    async def wait_for_send_status(
        self, room_id: RoomID, event_id: str, status: str | None = None, timeout: float = 20.0
    ) -> dict[str, Any]:
        """A ``com.beeper.message_send_status`` event relating to ``event_id``."""

        def matches(evt: dict[str, Any]) -> bool:
            content = evt.get("content", {})
            rel = content.get("m.relates_to", {})
            return rel.get("event_id") == event_id and (
                status is None or content.get("status") == status
            )

        return await self.wait_for_event(
            room_id,
            "com.beeper.message_send_status",
            predicate=matches,
            timeout=timeout,
            what=f"send status {status or 'any'} for {event_id}",
        )

    async def wait_for_membership(
        self, room_id: RoomID, user_id: str, membership: str = "join", timeout: float = 15.0
    ) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            latest = None
            for evt in self.state.get(room_id, []):
                if evt.get("type") == "m.room.member" and evt.get("state_key") == user_id:
                    latest = evt
            if latest is not None and latest.get("content", {}).get("membership") == membership:
                return latest
            return None

        return await self.wait_for(find, timeout, f"{user_id} {membership} in {room_id}")

    def room_state(self, room_id: RoomID, type: str, state_key: str = "") -> dict[str, Any] | None:
        """The latest content of a state event seen by /sync (None if never seen)."""
        latest = None
        for evt in self.state.get(room_id, []):
            if evt.get("type") == type and evt.get("state_key") == state_key:
                latest = evt.get("content", {})
        return latest

    # --- actions ----------------------------------------------------------------------------

    async def join(self, room_id: RoomID) -> RoomID:
        joined = await self.api.join_room_by_id(room_id)
        await self.wait_for(lambda: room_id in self.timeline, 10, f"joining {room_id}")
        return joined

    async def send_text(self, room_id: RoomID, text: str, html: str | None = None) -> str:
        return str(await self.api.send_text(room_id, text, html=html))

    async def send_content(
        self, room_id: RoomID, content: dict[str, Any], type: str = "m.room.message"
    ) -> str:
        return str(await self.api.send_message_event(room_id, EventType.find(type), content))

    async def create_dm(self, other: UserID, trusted: bool = True) -> RoomID:
        """A DM as Element creates it: ``trusted_private_chat`` gives the invitee power 100."""
        preset = RoomCreatePreset.TRUSTED_PRIVATE if trusted else RoomCreatePreset.PRIVATE
        return await self.api.create_room(preset=preset, invitees=[other], is_direct=True)
