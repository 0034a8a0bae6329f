"""The bridge configuration (config.yaml), built on mautrix's :class:`BaseBridgeConfig`."""

from __future__ import annotations

from typing import Any, NamedTuple
from pathlib import Path
import re

from mautrix.bridge.config import BaseBridgeConfig
from mautrix.util.config import ConfigUpdateHelper, ConfigValueError, ForbiddenDefault

from bridge import matrix_presence, msn_options, private_files
from bridge.config_doc import OptionError
from bridge.config_file import UserFileConfig
from bridge.credentials import CredentialCipher, InvalidCredentialKey, generate_key
from bridge.ids import GhostIDs
from bridge.limits import Limits
from bridge.msnp.config import ClientConfig
from bridge.web import settings as web_settings

__all__ = ["PERMISSION_LEVELS", "Config", "OptionError", "Permissions", "base_config_path"]

PLACEHOLDER_TOKEN = "This value is generated when generating the registration"
#: Permission levels, lowest first.
PERMISSION_LEVELS = ("none", "relay", "user", "admin")


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


class Config(BaseBridgeConfig, UserFileConfig):
    """config.yaml: mautrix's standard sections plus ``bridge.*`` and ``msn.*`` options."""

    generated_credential_key: bool = False
    _warned_security: bool = False

    # region validation

    @property
    def forbidden_defaults(self) -> list[ForbiddenDefault]:
        defaults = [
            ForbiddenDefault(
                "homeserver.address",
                example,
                f"it is still the example's {example}; set the URL the bridge reaches your "
                "homeserver at, e.g. http://127.0.0.1:8008",
            )
            for example in ("https://example.com", "https://matrix.example.com")
        ]
        defaults.append(
            ForbiddenDefault(
                "homeserver.domain",
                "example.com",
                "it is still the example's; set your server name (the part after ':' in "
                "Matrix IDs)",
            )
        )
        if self._check_tokens:
            defaults.append(
                ForbiddenDefault(
                    "appservice.as_token",
                    PLACEHOLDER_TOKEN,
                    "it and appservice.hs_token are still placeholders: generate the "
                    "registration, which writes both here",
                )
            )
        return defaults

    def problems(self) -> list[OptionError]:
        """Every placeholder ("not configured") and every invalid value, all at once."""
        found = [
            OptionError(default.key, default.error or "", invalid=False)
            for default in self.forbidden_defaults
            if default.check(self)
        ]
        return found + self.invalid_values()

    def check_default_values(self) -> None:
        """Refuse placeholder values (see :attr:`forbidden_defaults`) and invalid options."""
        problems = self.problems()
        if problems:
            raise problems[0]

    def invalid_values(self) -> list[OptionError]:
        """The bridge-specific checks of option values, one :class:`OptionError` each."""
        found: list[OptionError] = []
        for key in ("homeserver.address", "appservice.address"):
            url = str(self[key] or "")
            if not re.match(r"^https?://[^/\s]+", url):
                found.append(OptionError(key, f"{url!r} is not an http:// or https:// URL."))
        template = self["bridge.username_template"]
        if not isinstance(template, str) or template.count("{userid}") != 1:
            found.append(
                OptionError("bridge.username_template", "It must contain {userid} exactly once.")
            )
        for key, level in (self["bridge.permissions"] or {}).items():
            if level not in PERMISSION_LEVELS:
                found.append(
                    OptionError(
                        f"bridge.permissions[{key!r}]",
                        f"Unknown level {level!r}; use one of {', '.join(PERMISSION_LEVELS)}.",
                    )
                )
        found += msn_options.msn_problems(self)
        try:
            Limits.from_config(self)
        except ValueError as e:
            key, _, message = str(e).partition(": ")
            found.append(OptionError(key, message[:1].upper() + message[1:] + "."))
        found.extend(self._reconnect_problems())
        if self["msn.force_scheme"] not in (None, "http", "https"):
            found.append(OptionError("msn.force_scheme", "Use http, https or null."))
        try:
            web_settings.WebSettings.from_config(self)
        except OptionError as e:
            found.append(e)
        if not self["bridge.encryption.allow"]:
            for key in ("default", "require"):
                if self[f"bridge.encryption.{key}"]:
                    found.append(
                        OptionError(
                            f"bridge.encryption.{key}",
                            "It needs bridge.encryption.allow: true (the bridge cannot "
                            "encrypt without it).",
                        )
                    )
        found += self._double_puppet_problems()
        found += [OptionError(k, m) for k, m in matrix_presence.problems(self)]
        if self["bridge.credential_key"]:
            try:
                CredentialCipher(self["bridge.credential_key"])
            except InvalidCredentialKey as e:
                found.append(OptionError("bridge.credential_key", str(e)))
        return found

    def _reconnect_problems(self) -> list[OptionError]:
        """``bridge.reconnect`` and ``bridge.send_queue``: positive numbers in a sane order."""
        found: list[OptionError] = []
        numbers = {
            key: self[key]
            for key in (
                "bridge.reconnect.initial_delay",
                "bridge.reconnect.max_delay",
                "bridge.reconnect.stable_after",
                "bridge.reconnect.max_concurrent_logins",
                "bridge.send_queue.max_per_conversation",
                "bridge.send_queue.timeout",
                "bridge.offline_contacts.timeout",
            )
        }
        whole = (
            "bridge.reconnect.max_concurrent_logins",
            "bridge.send_queue.max_per_conversation",
        )
        for key, value in numbers.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                found.append(OptionError(key, f"It must be a positive number, got {value!r}."))
            elif key in whole and not isinstance(value, int):
                found.append(OptionError(key, f"It must be a whole number, got {value!r}."))
        low, high = (
            numbers["bridge.reconnect.initial_delay"],
            numbers["bridge.reconnect.max_delay"],
        )
        if not found and high < low:
            found.append(
                OptionError(
                    "bridge.reconnect.max_delay",
                    "It must not be below bridge.reconnect.initial_delay.",
                )
            )
        lag = self["bridge.reconnect.max_loop_lag"]
        if isinstance(lag, bool) or not isinstance(lag, int | float) or not 0 <= lag <= 10:
            found.append(
                OptionError(
                    "bridge.reconnect.max_loop_lag",
                    f"It must be a number of seconds from 0 (off) to 10, got {lag!r}.",
                )
            )
        return found

    def _double_puppet_problems(self) -> list[OptionError]:
        found = []
        for key in ("bridge.login_shared_secret_map", "bridge.double_puppet_server_map"):
            value = self[key] or {}
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                found.append(OptionError(key, "It must map server names to text."))
        for server, url in (self["bridge.double_puppet_server_map"] or {}).items():
            if isinstance(url, str) and not re.match(r"^https?://[^/\s]+", url):
                found.append(
                    OptionError(
                        f"bridge.double_puppet_server_map[{server!r}]",
                        f"{url!r} is not an http:// or https:// URL.",
                    )
                )
        return found

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
        copy("bridge.reconnect.stable_after")
        copy("bridge.reconnect.max_concurrent_logins")
        copy("bridge.reconnect.max_loop_lag")
        copy("bridge.send_queue.max_per_conversation")
        copy("bridge.send_queue.timeout")
        copy("bridge.offline_contacts.enabled")
        copy("bridge.offline_contacts.timeout")
        copy("bridge.matrix_presence.status")
        copy("bridge.matrix_presence.unavailable")
        copy("bridge.matrix_presence.offline")
        copy("bridge.matrix_presence.display_name")
        copy("bridge.gc.threshold")
        copy("bridge.gc.freeze_every")
        for key in (
            "event_queue",
            "group_rooms_per_contact",
            "group_rooms_window",
            "display_name_interval",
            "added_notice_interval",
        ):
            copy(f"bridge.limits.{key}")
        copy("bridge.message_status_events")
        copy("bridge.delivery_error_notices")
        copy("bridge.reactions_as_text")
        copy("bridge.relay.enabled")
        copy_dict("bridge.relay.message_formats")
        copy("bridge.sync_direct_chat_list")
        copy_dict("bridge.login_shared_secret_map")
        copy_dict("bridge.double_puppet_server_map")
        copy("bridge.double_puppet_allow_discovery")
        copy("bridge.federate_rooms")
        copy("bridge.private_chat_portal_meta")
        copy("bridge.public_media_url")
        copy("bridge.p2p.ghost_avatars")
        copy("bridge.p2p.own_avatar")
        copy("bridge.p2p.max_incoming_file")
        copy("bridge.p2p.max_outgoing_file")
        copy("bridge.p2p.offer_timeout")
        copy("bridge.p2p.msnftp")
        copy("bridge.p2p.msnftp_private_addresses")
        copy_dict("bridge.permissions")

        copy("msn.server")
        copy("msn.protocol_min")
        copy("msn.protocol_max")
        copy("msn.allow_md5_login")
        copy("msn.passport_url")
        copy("msn.nexus_url")
        copy("msn.sso_url")
        copy("msn.ab_url")
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
        copy("msn.max_switchboards")
        copy("msn.max_switchboards_per_inviter")
        copy("msn.switchboard_hosts")

        self._update_web(helper)

        if not base["bridge.credential_key"] and not self.env.get("BRIDGE_CREDENTIAL_KEY"):
            base["bridge.credential_key"] = generate_key()
            self.generated_credential_key = True

    def _update_web(self, helper: ConfigUpdateHelper) -> None:
        """The keys of :mod:`bridge.web`; a provisioning secret of "generate" is generated."""
        copy, _, base = helper
        copy("appservice.public.enabled")
        copy("appservice.public.prefix")
        copy("appservice.public.external")
        copy("bridge.provisioning.enabled")
        copy("bridge.provisioning.prefix")
        copy("bridge.provisioning.shared_secret")
        copy("bridge.login_page.enabled")
        copy("bridge.login_page.link_lifetime")
        if base["bridge.provisioning.shared_secret"] == web_settings.GENERATE:
            base["bridge.provisioning.shared_secret"] = web_settings.new_shared_secret()

    # endregion
    # region registration

    @property
    def namespaces(self) -> dict[str, list[dict[str, Any]]]:
        """User namespace for the ghosts: ``@<template with escaped passport>:<domain>``."""
        return {
            "users": [{"exclusive": True, "regex": self.ghost_ids.namespace_regex}],
            "aliases": [],
        }

    def save(self) -> None:
        """Save the config and the registration, which hold the appservice tokens (and the
        config the credential key): a new file is created 0600, an existing one every user can
        read loses that access first (see :mod:`bridge.private_files`)."""
        private_files.make_private(self.path, "The configuration file", private_files.log)
        registration, self._registration = self._registration, None
        try:
            super().save()
        finally:
            self._registration = registration
        if registration and self.registration_path:
            private_files.write_yaml(self.registration_path, registration)

    def generate_registration(self) -> None:
        """Make new tokens and the registration; the bridge needs ephemeral events."""
        super().generate_registration()
        assert self._registration is not None
        self["appservice.ephemeral_events"] = True
        # Synapse only pushes typing notifications and receipts to appservices with this.
        self._registration["receive_ephemeral"] = True
        self._registration["de.sorunome.msc2409.push_ephemeral"] = True
        self._registration["rate_limited"] = False
        if self["bridge.encryption.allow"] and self["bridge.encryption.appservice"]:
            # MSC3202: device lists and one-time key counts in the transactions (with
            # MSC2409's to-device events, which push_ephemeral above asks for).
            self._registration["org.matrix.msc3202"] = True

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
        """The :class:`bridge.msnp.client.ClientConfig` for the ``msn.*`` options (what
        exposes passwords is logged the first time)."""
        return msn_options.client_config(self, self._warn_insecure_login)

    def _warn_insecure_login(self, md5: bool) -> None:
        if not self._warned_security:
            self._warned_security = True
            msn_options.warn_insecure_login(self, md5)

    # endregion
