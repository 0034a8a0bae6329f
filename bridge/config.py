"""The bridge configuration (config.yaml), built on mautrix's :class:`BaseBridgeConfig`."""

from __future__ import annotations

from typing import Any, NamedTuple
from pathlib import Path
import re

from mautrix.bridge.config import BaseBridgeConfig
from mautrix.util.config import ConfigUpdateHelper, ConfigValueError, ForbiddenDefault

from bridge.credentials import CredentialCipher, InvalidCredentialKey, generate_key
from bridge.ids import GhostIDs
from bridge.msnp.client import ClientConfig

__all__ = ["PERMISSION_LEVELS", "Config", "Permissions", "base_config_path"]

PLACEHOLDER_TOKEN = "This value is generated when generating the registration"
#: Permission levels, lowest first.
PERMISSION_LEVELS = ("none", "relay", "user", "admin")
_SERVER_RE = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[^:\s\[\]]+):(\d{1,5})$")


def base_config_path() -> str:
    """Where the example config (the base a user's config is updated against) lives.

    Packaged installs carry it inside the package (``bridge/example-config.yaml``, see the
    Dockerfile); a source checkout uses the one at the repository root.
    """
    here = Path(__file__).resolve().parent
    if (here / "example-config.yaml").is_file():
        return "pkg://bridge/example-config.yaml"
    return str(here.parent / "example-config.yaml")


class Permissions(NamedTuple):
    """What a Matrix user may do, from ``bridge.permissions``."""

    relay: bool
    user: bool
    admin: bool
    level: str


class Config(BaseBridgeConfig):
    """config.yaml: mautrix's standard sections plus ``bridge.*`` and ``msn.*`` options."""

    generated_credential_key: bool = False

    # region validation

    @property
    def forbidden_defaults(self) -> list[ForbiddenDefault]:
        regenerate = (
            "It is still the placeholder from example-config.yaml: generate the registration "
            "with `python -m bridge -g -c config.yaml -r registration.yaml` (this writes the "
            "tokens into the config) and add the registration file to the homeserver."
        )
        homeserver = (
            "It is still the example value: set it to your homeserver (see the comments in "
            "config.yaml)."
        )
        defaults = [
            ForbiddenDefault("homeserver.address", "https://example.com", homeserver),
            ForbiddenDefault("homeserver.address", "https://matrix.example.com", homeserver),
            ForbiddenDefault("homeserver.domain", "example.com", homeserver),
        ]
        if self._check_tokens:
            defaults += [
                ForbiddenDefault("appservice.as_token", PLACEHOLDER_TOKEN, regenerate),
                ForbiddenDefault("appservice.hs_token", PLACEHOLDER_TOKEN, regenerate),
            ]
        return defaults

    def check_default_values(self) -> None:
        """Refuse placeholder values (see :attr:`forbidden_defaults`) and invalid options."""
        super().check_default_values()
        self.validate()

    def validate(self) -> None:
        """Check the bridge-specific options; raises :class:`ConfigValueError` with a reason."""
        template = self["bridge.username_template"]
        if not isinstance(template, str) or template.count("{userid}") != 1:
            raise ConfigValueError(
                "bridge.username_template", "It must contain {userid} exactly once."
            )
        for key, level in (self["bridge.permissions"] or {}).items():
            if level not in PERMISSION_LEVELS:
                raise ConfigValueError(
                    f"bridge.permissions[{key!r}]",
                    f"Unknown level {level!r}; use one of {', '.join(PERMISSION_LEVELS)}.",
                )
        server = str(self["msn.server"] or "")
        match = _SERVER_RE.match(server)
        if not match or not 0 < int(match.group(2)) < 65536:
            raise ConfigValueError(
                "msn.server", f"{server!r} is not host:port (e.g. 127.0.0.1:1863)."
            )
        low, high = self["msn.protocol_min"], self["msn.protocol_max"]
        if not (isinstance(low, int) and isinstance(high, int) and 2 <= low <= high <= 12):
            raise ConfigValueError(
                "msn.protocol_min/protocol_max",
                f"Need 2 <= protocol_min <= protocol_max <= 12, got {low!r} and {high!r}.",
            )
        if self["msn.force_scheme"] not in (None, "http", "https"):
            raise ConfigValueError("msn.force_scheme", "Use http, https or null.")
        if self["bridge.credential_key"]:
            try:
                CredentialCipher(self["bridge.credential_key"])
            except InvalidCredentialKey as e:
                raise ConfigValueError("bridge.credential_key", str(e)) from e

    # endregion
    # region update

    def do_update(self, helper: ConfigUpdateHelper) -> None:
        super().do_update(helper)
        copy, copy_dict, base = helper

        copy("homeserver.async_media")
        copy("homeserver.public_address")

        copy("metrics.enabled")
        copy("metrics.hostname")
        copy("metrics.listen_port")

        copy("bridge.username_template")
        copy("bridge.displayname_template")
        copy("bridge.command_prefix")
        copy("bridge.credential_key")
        copy("bridge.presence.enabled")
        copy("bridge.presence.resend_interval")
        copy("bridge.presence.max_per_second")
        copy("bridge.reconnect.initial_delay")
        copy("bridge.reconnect.max_delay")
        copy("bridge.message_status_events")
        copy("bridge.delivery_error_notices")
        copy("bridge.sync_direct_chat_list")
        copy("bridge.federate_rooms")
        copy("bridge.private_chat_portal_meta")
        copy("bridge.public_media_url")
        copy_dict("bridge.permissions")

        copy("msn.server")
        copy("msn.protocol_min")
        copy("msn.protocol_max")
        copy("msn.passport_url")
        copy("msn.nexus_url")
        copy("msn.force_scheme")
        copy("msn.verify_tls")
        copy("msn.client_version.locale")
        copy("msn.client_version.os_type")
        copy("msn.client_version.os_version")
        copy("msn.client_version.arch")
        copy("msn.client_version.name")
        copy("msn.client_version.version")
        copy("msn.client_version.lib")
        copy("msn.keepalive_interval")
        copy("msn.keepalive_timeout")
        copy("msn.connect_timeout")
        copy("msn.transaction_timeout")
        copy("msn.switchboard_join_timeout")
        copy("msn.ack_timeout")

        if not base["bridge.credential_key"] and not self.env.get("BRIDGE_CREDENTIAL_KEY"):
            base["bridge.credential_key"] = generate_key()
            self.generated_credential_key = True

    # endregion
    # region registration

    @property
    def namespaces(self) -> dict[str, list[dict[str, Any]]]:
        """User namespace for the ghosts: ``@<template with escaped passport>:<domain>``."""
        return {
            "users": [{"exclusive": True, "regex": self.ghost_ids.namespace_regex}],
            "aliases": [],
        }

    def generate_registration(self) -> None:
        """Make new tokens and the registration; the bridge needs ephemeral events."""
        super().generate_registration()
        assert self._registration is not None
        self["appservice.ephemeral_events"] = True
        # Synapse only pushes typing notifications and receipts to appservices with this.
        self._registration["receive_ephemeral"] = True
        self._registration["de.sorunome.msc2409.push_ephemeral"] = True
        self._registration["rate_limited"] = False

    # endregion
    # region helpers

    def get_permissions(self, mxid: str) -> Permissions:
        """Permissions of ``mxid``: exact user ID, then its domain, then ``"*"``."""
        perms = self["bridge.permissions"] or {}
        domain = mxid.split(":", 1)[1] if ":" in mxid else ""
        level = perms.get(mxid) or (perms.get(domain) if domain else None) or perms.get("*")
        if level not in PERMISSION_LEVELS:
            level = "none"
        rank = PERMISSION_LEVELS.index(level)
        return Permissions(
            level=level,
            relay=rank >= PERMISSION_LEVELS.index("relay"),
            user=rank >= PERMISSION_LEVELS.index("user"),
            admin=rank >= PERMISSION_LEVELS.index("admin"),
        )

    def credential_cipher(self) -> CredentialCipher:
        """The cipher for stored passwords/tickets (``bridge.credential_key``)."""
        key = self["bridge.credential_key"]
        if not key:
            raise ConfigValueError("bridge.credential_key", "It is empty.")
        return CredentialCipher(key)

    @property
    def ghost_ids(self) -> GhostIDs:
        """The ghosts' Matrix IDs (``bridge.username_template`` on ``homeserver.domain``)."""
        return GhostIDs(self["bridge.username_template"], self["homeserver.domain"])

    def client_config(self) -> ClientConfig:
        """The :class:`bridge.msnp.client.ClientConfig` for the ``msn.*`` options."""
        version = self["msn.client_version"] or {}
        low, high = int(self["msn.protocol_min"]), int(self["msn.protocol_max"])
        return ClientConfig(
            server=str(self["msn.server"]),
            protocols=tuple(range(high, low - 1, -1)),
            passport_url=self["msn.passport_url"] or None,
            nexus_url=self["msn.nexus_url"] or None,
            force_scheme=self["msn.force_scheme"] or None,
            verify_tls=bool(self["msn.verify_tls"]),
            locale=str(version.get("locale", "0x0409")),
            os_type=str(version.get("os_type", "winnt")),
            os_version=str(version.get("os_version", "5.1")),
            arch=str(version.get("arch", "i386")),
            client_name=str(version.get("name", "MSNMSGR")),
            client_version=str(version.get("version", "7.0.0816")),
            client_lib=str(version.get("lib", "MSMSGS")),
            keepalive_interval=float(self["msn.keepalive_interval"]),
            keepalive_timeout=float(self["msn.keepalive_timeout"]),
            connect_timeout=float(self["msn.connect_timeout"]),
            transaction_timeout=float(self["msn.transaction_timeout"]),
            switchboard_join_timeout=float(self["msn.switchboard_join_timeout"]),
            ack_timeout=float(self["msn.ack_timeout"]),
        )

    # endregion
