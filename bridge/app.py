"""The bridge program: wires config, database, Matrix handler and MSN users together."""

from __future__ import annotations

from typing import Any
from importlib import metadata
from pathlib import Path
import asyncio
import signal
import sys
import tomllib

from mautrix.bridge import Bridge
from mautrix.types import RoomID, UserID
from mautrix.util.config import yaml

from bridge import db as bridge_db
from bridge.config import Config, base_config_path
from bridge.credentials import InvalidCredentialKey
from bridge.matrix import MatrixHandler
from bridge.portal import Portal
from bridge.puppet import Puppet
from bridge.spaces import SpaceManager
from bridge.state_store import CachedStateStore
from bridge.user import User

__all__ = ["MSNBridge", "package_version"]


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
    state_store_class = CachedStateStore  # the lookups before each sent event, from memory
    upgrade_table = bridge_db.upgrade_table

    config: Config
    matrix: MatrixHandler

    @property
    def base_config_path(self) -> str:
        return base_config_path()

    # region startup

    def prepare_config(self) -> None:
        super().prepare_config()
        if self.config.generated_credential_key and not self._credential_key_saved():
            print(
                "bridge.credential_key was empty and the newly generated key could not be saved "
                f"to {self.config.path} (read-only file, or --no-update). Stored passwords would "
                "become unreadable after a restart, so the bridge will not start. Generate a key "
                "with `python -m bridge.credentials` and put it in bridge.credential_key (or in the "
                "BRIDGE_BRIDGE_CREDENTIAL_KEY environment variable).",
                file=sys.stderr,
            )
            sys.exit(11)

    def _credential_key_saved(self) -> bool:
        try:
            with open(self.config.path) as stream:
                saved = yaml.load(stream)
            return bool(saved["bridge"]["credential_key"] == self.config["bridge.credential_key"])
        except (OSError, KeyError, TypeError):
            return False

    def prepare_db(self) -> None:
        super().prepare_db()
        try:
            cipher = self.config.credential_cipher()
        except InvalidCredentialKey as e:
            self.log.fatal("Configuration error: %s", e)
            sys.exit(11)
        bridge_db.init(self.db, cipher)

    def prepare_bridge(self) -> None:
        super().prepare_bridge()
        User.init_cls(self, self.config)
        Puppet.init_cls(self, self.config)
        Portal.init_cls(self, self.config)

    async def start(self) -> None:
        # Startup actions run after the database and the appservice are up.
        self.add_startup_actions(self._start_users())
        await super().start()
        # mautrix turns SIGTERM into a KeyboardInterrupt that can land inside any task; once
        # running, stop through the normal lifecycle instead.
        for signum in (signal.SIGINT, signal.SIGTERM):
            self.loop.add_signal_handler(signum, self._signal_stop)

    def _signal_stop(self) -> None:
        if not self._stop_task.done():
            self.log.debug("Stop signal received")
            self.manual_stop()

    async def _start_users(self) -> None:
        users = await User.all_logged_in()
        self.log.debug("Starting %d logged-in users", len(users))
        for user in users:
            try:
                user.ensure_started()
            except Exception:
                self.log.exception("Failed to start %s", user.mxid)

    async def stop(self) -> None:
        # MSN sessions and background work go first: they use the appservice's HTTP session
        # and the database, which mautrix closes in super().stop().
        if Puppet.presence is not None:
            Puppet.presence.stop()
        SpaceManager.stop_all()
        await asyncio.gather(*(user.stop() for user in list(User.by_mxid.values())))
        await super().stop()

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
        return len(await bridge_db.User.all_logged_in())

    async def manhole_global_namespace(self, user_id: UserID) -> dict[str, Any]:
        return {
            **await super().manhole_global_namespace(user_id),
            "User": User,
            "Portal": Portal,
            "Puppet": Puppet,
            "db": bridge_db,
        }

    # endregion
