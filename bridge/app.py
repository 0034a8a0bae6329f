"""The bridge program: wires config, database, Matrix handler and MSN users together."""

from __future__ import annotations

from typing import Any
from importlib import metadata
from pathlib import Path
import argparse
import asyncio
import signal
import tomllib

from mautrix.bridge import Bridge
from mautrix.types import RoomID, UserID
from mautrix.util.async_db import Database
from yarl import URL

from bridge import (
    db as bridge_db,
    double_puppet,
    fd_limit,
    homeserver,
    log_failures,
    log_redaction,
    metrics,
    msn_http,
    private_files,
    start_rows,
    startup,
)
from bridge.appservice import adopt
from bridge.commands.auth import awaiting_password
from bridge.config import Config, base_config_path
from bridge.config_doc import ConfigFileError, reason
from bridge.db import batch, pg_pool
from bridge.gc_policy import policy as gc_policy
from bridge.matrix import MatrixHandler
from bridge.portal import Portal, outbox
from bridge.puppet import Puppet
from bridge.spaces import SpaceManager
from bridge.startup import StartupError
from bridge.state_store import StateStore
from bridge.user import User
from bridge.web.frontends import WebFrontends

__all__ = ["MSNBridge", "package_version"]

#: Users started between two yields to the event loop at start-up (a page of 200 held the
#: loop for 64 ms while the first logins were under way: bench/scale.py bridge).
START_CHUNK = 50
#: Users stopping at once at shutdown (each closes its MSN connections and finishes the MSN
#: event it is handling, up to 10 s; none waits for another). Stopping is mostly waiting, so
#: the bound is high: at 1,000, 10,000 users stopped in 10 waves and took 61 s.
STOP_CONCURRENCY = 10000
#: Seconds an interrupted start-up has to wind down before the process leaves regardless.
INTERRUPTED_START_GRACE = 5.0


def package_version() -> str:
    """The installed distribution's version, or pyproject.toml's in an uninstalled checkout."""
    try:
        return metadata.version("matrix-msn")
    except metadata.PackageNotFoundError:
        pass
    try:
        with open(Path(__file__).resolve().parent.parent / "pyproject.toml", "rb") as stream:
            return str(tomllib.load(stream)["project"]["version"]) + "+source"
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "0.0.0+unknown"


def _awaiting_password(sender: str, room_id: str) -> bool:
    return awaiting_password(User.by_mxid.get(UserID(sender)), room_id)


def _session_gauges() -> list[tuple[bool, int]]:
    """(connected, open switchboards) of each logged-in user, for :mod:`bridge.metrics`."""
    return [
        (user.connected, len(user.client.conversations()) if user.client else 0)
        for user in User.by_mxid.values()
        if user.passport
    ]


def _login_gauges() -> tuple[int, int, int]:
    """(in progress, waiting, allowed) of the login gate, for :mod:`bridge.metrics`."""
    gate = User.login_gate
    return gate.active, gate.waiting, gate.allowance


def _redact_url(url: str) -> str:
    try:
        parsed = URL(url)
    except ValueError:
        return "?"
    return str(parsed.with_password("***")) if parsed.password else url


async def _stop_all(users: list[User], concurrency: int) -> None:
    """Stop ``users``, ``concurrency`` at a time (thousands at shutdown)."""
    gate = asyncio.Semaphore(concurrency)

    async def stop(user: User) -> None:
        async with gate:
            try:
                await user.stop()
            except Exception:
                user.log.exception("Failed to stop the MSN session")

    await asyncio.gather(*(stop(user) for user in users))


class MSNBridge(Bridge):
    name = "matrix-msn"
    module = "bridge"
    command = "python -m bridge"
    description = "A Matrix-MSN Messenger (MSNP) puppeting bridge."
    repo_url = "https://example.invalid/matrix-msn"
    version = package_version()
    markdown_version = version
    config_class = Config
    matrix_class = MatrixHandler
    upgrade_table = bridge_db.upgrade_table
    state_store_class = StateStore

    config: Config
    matrix: MatrixHandler
    web: WebFrontends
    metrics_server: metrics.MetricsServer | None = None
    ping_tracker: homeserver.PingTracker
    _listening: bool = False
    _start_interrupted: bool = False  # Ctrl-C or SIGTERM arrived during the start-up

    @property
    def base_config_path(self) -> str:
        return base_config_path()

    # region startup

    def run(self) -> None:
        startup.run(super().run)

    def prepare_arg_parser(self) -> None:
        super().prepare_arg_parser()
        self.parser.formatter_class = argparse.RawDescriptionHelpFormatter
        self.parser.epilog = "exit status:\n" + "\n".join(
            f"  {code:>3}  {meaning}" for code, meaning in startup.EXIT_CODES
        )
        self.parser.set_defaults(registration="registration-generated.yaml")
        for action in self.parser._actions:
            if action.dest == "registration":
                action.help = "where -g writes the registration (default: %(default)s)"
        self.parser.add_argument(
            "--wait-for-homeserver",
            type=float,
            default=60.0,
            metavar="<seconds>",
            help="how long to keep trying to reach the homeserver at start (default: 60)",
        )

    def prepare_config(self) -> None:
        self.config = self.config_class(
            self.args.config,
            self.args.registration,
            self.base_config_path,
            env_prefix=self.module.upper(),
        )
        if self.args.generate_registration:
            self.config._check_tokens = False
        # In memory only: the file is written once the start succeeded (or by -g).
        startup.load_config(self.config, create=True)

    def prepare_log(self) -> None:
        super().prepare_log()
        # before anything is received: mautrix logs received events (TRACE) and failed commands
        log_redaction.install(self.config["bridge.command_prefix"], awaiting=_awaiting_password)
        log_failures.install()
        for warning in self.config.unknown_options():
            self.log.warning("%s: %s", self.config.path, warning)

    def check_config(self) -> None:
        problem = startup.config_problems(self.config, self.args.generate_registration)
        if problem is not None:
            raise problem
        if not self.args.generate_registration:
            startup.check_can_save(self.config, self.args.no_update)

    def generate_registration(self) -> None:
        existed = Path(self.config.registration_path).exists()
        self.config.generate_registration()
        try:
            private_files.prepare_private(self.config.registration_path)
            self.config.save()
        except ConfigFileError as e:
            raise StartupError(str(e), startup.EXIT_CONFIG_FILE) from e
        except OSError as e:
            raise StartupError(
                f"Cannot write the registration to {self.config.registration_path}: "
                f"{reason(e)}",
                startup.EXIT_REGISTRATION_FILE,
            ) from e
        path = Path(self.config.registration_path).resolve()
        print(
            f"{'Replaced' if existed else 'Wrote'} the registration {path} (its tokens are also "
            f"in {self.config.path}).\nNext: add it to app_service_config_files in the "
            "homeserver's config (Synapse: homeserver.yaml; the file is readable by you only, "
            "so a homeserver running as another user needs read access), restart the "
            f"homeserver, then {startup.start_again(self.config.path).replace(' again', '')}.",
            flush=True,
        )

    def prepare_appservice(self) -> None:
        super().prepare_appservice()
        adopt(self.az)  # transactions de-duplicated by content and event ID (bridge/appservice.py)
        self.ping_tracker = homeserver.PingTracker()
        self.az.app.middlewares.append(self.ping_tracker.middleware)

    def prepare_db(self) -> None:
        self._protect_files()
        try:
            super().prepare_db()
        except Exception as e:
            raise StartupError(f"appservice.database is invalid: {e}", startup.EXIT_CONFIG) from e
        pg_pool.skip_reset_query(self.db)
        bridge_db.init(self.db, self.config.credential_cipher())

    def _log_db_error(self, e: Exception) -> None:
        explanation = getattr(e, "explanation", None) or ""
        raise StartupError(
            f"The database ({_redact_url(self.config['appservice.database'])}, "
            f"appservice.database) cannot be used: {e}. {explanation}".strip(),
            startup.EXIT_DATABASE,
        ) from e

    def _protect_files(self) -> None:
        """The config, the registration and a SQLite database are not for every user's eyes: a
        new database is created 0600, an existing file others can read is fixed (see
        :mod:`bridge.private_files`)."""
        private_files.make_private(self.config.path, "The configuration file", self.log)
        if self.config.registration_path:
            private_files.make_private(
                self.config.registration_path, "The appservice registration", self.log
            )
        url = URL(str(self.config["appservice.database"]))
        if url.scheme in ("sqlite", "sqlite3") and url.path not in ("", ":memory:"):
            if private_files.create_private(url.path):
                self.log.debug("Created the SQLite database %s with mode 0600", url.path)
            for path in private_files.sqlite_files(url.path):
                private_files.make_private(path, "The SQLite database file", self.log)

    def prepare_bridge(self) -> None:
        super().prepare_bridge()
        User.init_cls(self, self.config)
        Puppet.init_cls(self, self.config)
        double_puppet.configure(self.config)
        Portal.init_cls(self, self.config)
        gc_policy.configure(
            int(self.config["bridge.gc.threshold"]), int(self.config["bridge.gc.freeze_every"])
        )
        self.web = WebFrontends.for_bridge(self)

    def start_prometheus(self) -> None:
        """Not mautrix's threaded server: :mod:`bridge.metrics` serves on the event loop."""

    async def wait_for_homeserver(self) -> None:
        """Called by :meth:`MatrixHandler.wait_for_connection` once the appservice listens."""
        self._listening = True
        await homeserver.connect(self, self.ping_tracker, self.args.wait_for_homeserver)

    async def start(self) -> None:
        # Ctrl-C or SIGTERM during the start-up cancels it (see startup.run for the exit).
        task = asyncio.current_task()
        for signum in (signal.SIGINT, signal.SIGTERM):
            self.loop.add_signal_handler(signum, self._interrupt_start, task)
        # Startup actions run after the database and the appservice are up.
        self.add_startup_actions(self._start_users())
        try:
            await super().start()
            if not self.args.no_update:
                startup.save_config(self.config)
            self.metrics_server = await metrics.serve_from_config(
                self.config, _session_gauges, _login_gauges
            )
        except asyncio.CancelledError:
            raise startup.interrupted() from None
        except OSError as e:
            if self._listening:
                raise
            raise startup.listen_error(
                e, self.config["appservice.hostname"], self.config["appservice.port"]
            ) from None
        if self._start_interrupted:
            # The cancellation can be lost on the way: Python 3.11's asyncio.wait_for returns a
            # result that arrives together with it (seen: a Ctrl-C the bridge then ignored).
            raise startup.interrupted()
        # mautrix turns SIGTERM into a KeyboardInterrupt that can land inside any task; once
        # running, stop through the normal lifecycle instead.
        for signum in (signal.SIGINT, signal.SIGTERM):
            self.loop.add_signal_handler(signum, self._signal_stop)
        self.log.info("The bridge is running (bot: %s)", self.az.bot_mxid)

    def _interrupt_start(self, task: asyncio.Task[None] | None) -> None:
        if self._start_interrupted:
            self._leave_interrupted_start("interrupted again")
            return
        self._start_interrupted = True
        if task is not None and not task.done():
            task.cancel()
            # Some awaits hold on to a cancellation until what they wait for arrives (seen: a
            # homeserver request that had no answer for 60 s): the start ends soon regardless.
            self.loop.call_later(
                INTERRUPTED_START_GRACE,
                self._leave_interrupted_start,
                f"still starting {INTERRUPTED_START_GRACE:.0f} s after the interrupt",
            )

    def _leave_interrupted_start(self, why: str) -> None:
        self.log.warning("Leaving now: %s", why)
        startup.report(startup.interrupted())
        startup.leave_now(startup.EXIT_INTERRUPTED)

    def _signal_stop(self) -> None:
        if not self._stop_task.done():
            self.log.debug("Stop signal received")
            self.manual_stop()
        else:
            # a second Ctrl-C while stopping: leave now
            self.log.warning("Stopping immediately")
            startup.leave_now(startup.EXIT_INTERRUPTED)

    async def system_exit(self) -> None:
        # A start-up error: undo what was started before the database closes.
        await self._stop_msn()
        if getattr(self.az, "runner", None) is not None or getattr(self.az, "_http_session", None):
            await self.az.stop()
        await self._release_kept_connection()
        await super().system_exit()

    async def stop_db(self) -> None:
        await self._release_kept_connection()
        await super().stop_db()

    async def _release_kept_connection(self) -> None:
        """The message writes' PostgreSQL connection goes back before the pool closes (the
        pool waits for it)."""
        if isinstance(getattr(self, "db", None), Database):
            await batch.release(self.db)

    async def _start_users(self) -> None:
        msn_http.open_session()
        await double_puppet.start_all()
        # Messages received from MSN before the restart go to Matrix first, before anything
        # the new sessions receive.
        received: dict[str, list[bridge_db.Incoming]] = {}
        for row in await bridge_db.Incoming.all_in_order():
            received.setdefault(row.owner, []).append(row)
        for owner, rows in received.items():
            stored_for = await User.get_by_mxid(UserID(owner), create=False)
            if stored_for is not None:
                self.log.debug("Handing on %d stored MSN messages of %s", len(rows), owner)
                stored_for.session.replay(rows)
        count = await bridge_db.User.count_logged_in()
        self.log.debug("Starting %d logged-in users", count)
        fd_limit.ensure_open_files(count)
        # a page at a time, the event loop free in between: thousands of users take seconds
        # to set up, and the first ones connect meanwhile
        async for page in User.logged_in_pages(START_CHUNK):
            await start_rows.hand_over(page)
            for user in page:
                try:
                    user.ensure_started()
                except Exception:
                    self.log.exception("Failed to start %s", user.mxid)
        await self._resume_queues()

    async def _resume_queues(self) -> None:
        """Messages from Matrix still queued when the bridge stopped wait for their sessions."""
        for owner, conv_key in await bridge_db.Outgoing.conversations():
            user = await User.get_by_mxid(UserID(owner), create=False)
            portal = await Portal.get_by_key(owner, conv_key, create=False)
            if user is not None and portal is not None:
                await portal.from_matrix.resume(user)

    async def stop(self) -> None:
        # MSN sessions and background work go first: they use the appservice's HTTP session
        # and the database, which mautrix closes in super().stop().
        await self._stop_msn()
        await super().stop()

    async def _stop_msn(self) -> None:
        if Puppet.presence is not None:
            Puppet.presence.stop()
        # A message being written to MSN is finished (or it would fail for good at the next
        # start); the rest of the queues stays stored.
        await outbox.stop_all(float(self.config["msn.ack_timeout"]) + 5)
        gc_policy.stopping()
        await _stop_all(list(User.by_mxid.values()), STOP_CONCURRENCY)
        Puppet.stop_all()
        if User.login_pace is not None:
            await User.login_pace.close()
        await msn_http.close()
        SpaceManager.stop_all()  # after the sessions: their last handled events may start syncs
        if self.metrics_server is not None:
            await self.metrics_server.stop()

    # endregion
    # region lookups used by mautrix

    async def get_user(self, user_id: UserID, create: bool = True) -> User | None:
        return await User.get_by_mxid(user_id, create=create)

    async def get_portal(self, room_id: RoomID) -> Portal | None:
        return await Portal.get_by_mxid(room_id)

    async def get_puppet(self, user_id: UserID, create: bool = False) -> Puppet | None:
        return await Puppet.get_by_mxid(user_id, create=create)

    async def get_double_puppet(self, user_id: UserID) -> Puppet | None:
        return await Puppet.get_by_custom_mxid(user_id)

    def is_bridge_ghost(self, user_id: UserID) -> bool:
        return Puppet.ghost_ids.is_ghost(user_id)

    async def count_logged_in_users(self) -> int:
        return await bridge_db.User.count_logged_in()

    async def manhole_global_namespace(self, user_id: UserID) -> dict[str, Any]:
        return {
            **await super().manhole_global_namespace(user_id),
            "User": User,
            "Portal": Portal,
            "Puppet": Puppet,
            "db": bridge_db,
        }

    # endregion
